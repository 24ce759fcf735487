"""The unit over each kind of host setup, with the DNS manager's own update emulated exactly as
the manager does it (docs/INSTALL.md, "Host setups"; issue 12 item 2).

For every setup a temporary tree is laid out like the real host (TREE/etc/resolv.conf as a file
or a symlink, TREE/run/<manager>/...), and the daemon is started in a private mount namespace
exactly as resolvconffs.service starts it (tests/fuse/unitutil.py: resolvconffs-helper start-pre,
then resolvconffs-helper start, which chooses the template and execs the daemon with
--host-original). Then the manager's update is replayed three times, as its source does it:

- systemd-resolved (src/resolve/resolved-resolv-conf.c, manager_write_resolv_conf): for
  resolv.conf and then stub-resolv.conf, a temporary `.#<name>XXXXXX` in /run/systemd/resolve
  (mkostemp: mode 0600), fchmod 0644, the content, rename(2) over the file;
- Debian's resolvconf (/etc/resolvconf/update.d/libc, resolvconf 1.91): `: > resolv.conf_new.$$`,
  appends, no change: remove it, else `mv -f` onto /run/resolvconf/resolv.conf, then the
  `[ -L /etc/resolv.conf ]` test that decides whether the update-libc.d hooks run;
- NetworkManager (src/core/dns/nm-dns-manager.c, update_dns/update_resolv_conf): no-stub-resolv.conf
  by g_file_set_contents; with rc-manager=file, or =symlink when readlink(/etc/resolv.conf)
  fails, g_file_set_contents on (the realpath of) /etc/resolv.conf, i.e. a temporary
  `resolv.conf.XXXXXX` beside it renamed over it (GLib 2.74, checked with strace), which the mount
  refuses with EBUSY and GLib then unlinks; then /run/NetworkManager/resolv.conf.tmp renamed over
  /run/NetworkManager/resolv.conf; with =symlink and a link to that file, the link is replaced
  by a new one renamed over /etc/resolv.conf;
- ifupdown's dhclient (Debian 12's /sbin/dhclient-script, isc-dhcp-client 4.4.3-P1-2,
  make_resolv_conf): /etc/resolv.conf.dhclient-new.$$ written, chown/chmod --reference, then
  `cat new > /etc/resolv.conf` (in place, through the mount) and rm;
- a static file edited by hand: `>` in place; `mv -f` and `sed -i` (rename onto it) get EBUSY;
- a link whose file NetworkManager has not written yet when the unit starts: the host gets ENOENT
  until it does, the template comes from another candidate.

After each update: the host (the daemon's own namespace) reads the manager's new content at once
and its stat changes (glibc's reload test), except where the manager cannot reach the host's file
(NetworkManager rc-manager=file: documented); a brand-new network namespace reads the template the
helper chose, filtered when it names a loopback server, and a live template's updates show in
namespaces that have no file yet. Stopping (SIGTERM to the daemon's pid, then ExecStopPost)
leaves the symlink or file as it was; nothing is ever created in the backing directory for the
host.
"""
import errno
import os
import pathlib
import random
import re
import shutil
import string
import subprocess

import pytest

from unitutil import Tree, Unit, helper_choice, host_read, netns_read, run_driver, stat_sig

ROUNDS = 3
DRIVER_TIMEOUT = 240


# --- the managers' update patterns -----------------------------------------------------------

def mkostemp(directory, prefix, mode=0o600):
    """glibc's mkostemp(PREFIXXXXXXX) in directory: six random characters, O_EXCL."""
    chars = string.ascii_letters + string.digits
    while True:
        path = os.path.join(directory, prefix + "".join(random.choice(chars) for _ in range(6)))
        try:
            return os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode), path
        except FileExistsError:
            continue


def resolved_write(tree, upstream, stub):
    """systemd-resolved's manager_write_resolv_conf()."""
    d = tree / "run/systemd/resolve"
    old = os.umask(0o077)
    try:
        f_up, t_up = mkostemp(d, ".#resolv.conf")
        os.fchmod(f_up, 0o644)
        f_stub, t_stub = mkostemp(d, ".#stub-resolv.conf")
        os.fchmod(f_stub, 0o644)
    finally:
        os.umask(old)
    for fd, tmp, name, content in ((f_up, t_up, "resolv.conf", upstream),
                                   (f_stub, t_stub, "stub-resolv.conf", stub)):
        os.write(fd, content.encode())
        os.close(fd)
        os.rename(tmp, d / name)


RESOLVCONF_LIBC = r'''
set -e
ETC=$1
DYNAMICRSLVCNFFILE=$2
TMPFILE="${DYNAMICRSLVCNFFILE}_new.$$"
resolv_conf_is_symlinked_to_dynamic_file() {
	[ -L ${ETC}/resolv.conf ] && [ "$(readlink -m ${ETC}/resolv.conf)" = "$DYNAMICRSLVCNFFILE" ]
}
resolv_conf_is_symlinked_to_dynamic_file || echo "warning: not a symbolic link" >&2
clean_up() { rm -f "$TMPFILE" ; }
trap clean_up EXIT
clean_up
: > "$TMPFILE"
for N in $3 ; do echo "nameserver $N" >> "$TMPFILE" ; done
[ "$4" ] && echo "search $4" >> "$TMPFILE"
if [ -f "$DYNAMICRSLVCNFFILE" ] && [ "$(cat $TMPFILE)" = "$(cat $DYNAMICRSLVCNFFILE)" ] ; then
	rm -f "$TMPFILE"
	echo unchanged
	exit 0
fi
mv -f "$TMPFILE" "$DYNAMICRSLVCNFFILE"
resolv_conf_is_symlinked_to_dynamic_file || { echo hooks-skipped; exit 0; }
echo hooks-run
'''


def resolvconf_update(tree, nameservers, search):
    """Debian resolvconf's /etc/resolvconf/update.d/libc (1.91): make the file, put it in
    place. Returns what it decided about the update-libc.d hooks."""
    p = subprocess.run(["sh", "-c", RESOLVCONF_LIBC, "libc", str(tree / "etc"),
                        str(tree / "run/resolvconf/resolv.conf"), nameservers, search],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, f"resolvconf's libc script failed: {p.stderr}"
    return p.stdout.strip()


def g_file_set_contents(path, content):
    """GLib 2.74's g_file_set_contents(): PATH.XXXXXX (O_RDWR|O_CREAT|O_EXCL, 0666), the content,
    rename over PATH; on failure the temporary file is unlinked. Returns 0 or the errno."""
    fd, tmp = mkostemp(os.path.dirname(path), os.path.basename(path) + ".", 0o666)
    try:
        os.write(fd, content.encode())
    finally:
        os.close(fd)
    try:
        os.rename(tmp, path)
    except OSError as e:
        os.unlink(tmp)
        return e.errno
    return 0


def read_link(path):
    try:
        return os.readlink(path)
    except OSError:
        return None


def nm_update(tree, content, rc_manager):
    """NetworkManager's update_dns() for rc-manager file, symlink or unmanaged. Returns the
    errno of its write to /etc/resolv.conf (0 when it wrote it, None when it did not try)."""
    etc = str(tree.target)
    run_nm = tree / "run/NetworkManager"
    my_resolv_conf = str(run_nm / "resolv.conf")
    assert g_file_set_contents(str(run_nm / "no-stub-resolv.conf"), content) == 0
    etc_result = None
    if rc_manager == "file" or (rc_manager == "symlink" and read_link(etc) is None):
        rc_path = etc
        if rc_manager == "file":
            rc_path = os.path.realpath(etc)
        etc_result = g_file_set_contents(rc_path, content)
    tmp = my_resolv_conf + ".tmp"
    with open(tmp, "w") as f:            # fopen(MY_RESOLV_CONF_TMP, "we")
        f.write(content)
    os.rename(tmp, my_resolv_conf)
    if rc_manager == "symlink" and read_link(etc) == my_resolv_conf:
        link_tmp = str(tree / "etc/.resolv.conf.NetworkManager")
        try:
            os.unlink(link_tmp)
        except FileNotFoundError:
            pass
        os.symlink(my_resolv_conf, link_tmp)
        try:
            os.rename(link_tmp, etc)
            etc_result = 0
        except OSError as e:
            etc_result = e.errno
    return etc_result


DHCLIENT_MAKE_RESOLV_CONF = r'''
set -e
ETC_RESOLV_CONF=$1
new_domain_name=$2
new_domain_search=$3
new_domain_name_servers=$4
# Debian 12's dhclient-script, make_resolv_conf, DHCPv4 branch (wait_for_rw without the fstab
# check: the tree is writable).
resolv_conf=$(readlink -f "$ETC_RESOLV_CONF" 2>/dev/null) || resolv_conf="$ETC_RESOLV_CONF"
new_resolv_conf="${resolv_conf}.dhclient-new.$$"
while ! { : >> "$new_resolv_conf"; } 2>/dev/null; do sleep 0.1; done
rm -f $new_resolv_conf
if [ -n "$new_domain_name" ]; then
    echo domain ${new_domain_name%% *} >>$new_resolv_conf
fi
if [ -n "$new_domain_search" ]; then
    echo "search ${new_domain_search}" >> $new_resolv_conf
elif [ -n "$new_domain_name" ]; then
    echo "search ${new_domain_name}" >> $new_resolv_conf
fi
for nameserver in $new_domain_name_servers; do
    echo nameserver $nameserver >>$new_resolv_conf
done
if [ -f $resolv_conf ]; then
    chown --reference=$resolv_conf $new_resolv_conf
    chmod --reference=$resolv_conf $new_resolv_conf
fi
# cat then rm to handle binds (e.g. ip netns exec)
cat $new_resolv_conf > $resolv_conf
rm -f $new_resolv_conf
echo "$resolv_conf"
'''


def dhclient_update(tree, domain, servers):
    p = subprocess.run(["sh", "-c", DHCLIENT_MAKE_RESOLV_CONF, "dhclient-script",
                        str(tree.target), domain, "", servers],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, f"dhclient's make_resolv_conf failed: {p.stderr}"
    return p.stdout.strip()


def rename_onto(target):
    """`mv -f` and `sed -i` onto the mounted path: both rename a new file over it."""
    d = os.path.dirname(target)
    with open(os.path.join(d, "resolv.conf.new"), "w") as f:
        f.write("nameserver 203.0.113.66\n")
    mv = subprocess.run(["mv", "-f", os.path.join(d, "resolv.conf.new"), target],
                        capture_output=True, text=True, timeout=30)
    os.unlink(os.path.join(d, "resolv.conf.new"))
    sed = subprocess.run(["sed", "-i", "s/^/#/", target], capture_output=True, text=True,
                         timeout=30)
    leftovers = [n for n in os.listdir(d) if n.startswith("sed")]
    return mv, sed, leftovers


# --- the setups ------------------------------------------------------------------------------

RESOLVED_HEAD = "# This file is managed by man:systemd-resolved(8). Do not edit.\n\n"


def upstream(i):
    return f"{RESOLVED_HEAD}nameserver 192.0.2.{10 + i}\nsearch v{i}.example\n"


def stub(i):
    return f"{RESOLVED_HEAD}nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch v{i}.example\n"


def nm_content(i):
    return f"# Generated by NetworkManager\nsearch v{i}.example\nnameserver 192.0.2.{20 + i}\n"


def resolvconf_content(i):
    # resolvconf with a local caching server (dnsmasq): 127.0.0.1, which no other namespace reaches.
    return f"nameserver 127.0.0.1\nsearch v{i}.example\n"


STATIC = "nameserver 192.0.2.1\nsearch example.org\n"
DHCP0 = "domain v0.example\nsearch v0.example\nnameserver 192.0.2.30\n"
NM_FILE0 = "# Generated by NetworkManager\nsearch v0.example\nnameserver 192.0.2.20\n"


class Setup:
    """One row of docs/INSTALL.md's table: the layout, the template the helper must choose, and
    the manager's update (round i: returns (what the host reads, what a new namespace reads))."""
    files = {}
    link = None              # the text of TREE/etc/resolv.conf when it is a symlink
    template = None          # relative to the tree, or "snapshot"
    filtered = False
    host_follows = True      # the manager's updates reach the host

    def __init__(self, root):
        self.root = root          # a pathlib.Path; self.tree is set once the tree is laid out
        self.tree = None

    def initial(self):
        """(host content, new namespace content) before any update."""
        raise NotImplementedError

    def update(self, i):
        raise NotImplementedError


class Static(Setup):
    files = {"etc/resolv.conf": STATIC}
    template = "snapshot"

    def initial(self):
        return STATIC, STATIC

    def update(self, i):
        content = f"nameserver 192.0.2.{40 + i}\n"
        with open(self.tree.target, "w") as f:       # `echo ... > /etc/resolv.conf`
            f.write(content)
        mv, sed, leftovers = rename_onto(str(self.tree.target))
        assert mv.returncode != 0 and "Device or resource busy" in mv.stderr, mv.stderr
        assert sed.returncode != 0 and "Device or resource busy" in sed.stderr, sed.stderr
        assert leftovers == [], f"sed -i left {leftovers}"
        return content, STATIC


class ResolvedStub(Setup):
    files = {"run/systemd/resolve/resolv.conf": upstream(0),
             "run/systemd/resolve/stub-resolv.conf": stub(0),
             "etc/resolv.conf": ("symlink", "../run/systemd/resolve/stub-resolv.conf")}
    link = "../run/systemd/resolve/stub-resolv.conf"
    template = "run/systemd/resolve/resolv.conf"

    def initial(self):
        return stub(0), upstream(0)

    def update(self, i):
        resolved_write(self.tree, upstream(i), stub(i))
        return stub(i), upstream(i)


class ResolvedUpstream(ResolvedStub):
    files = {**ResolvedStub.files,
             "etc/resolv.conf": ("symlink", "../run/systemd/resolve/resolv.conf")}
    link = "../run/systemd/resolve/resolv.conf"

    def initial(self):
        return upstream(0), upstream(0)

    def update(self, i):
        resolved_write(self.tree, upstream(i), stub(i))
        return upstream(i), upstream(i)


class Resolvconf(Setup):
    template = "run/resolvconf/resolv.conf"
    filtered = True

    @property
    def files(self):
        return {"run/resolvconf/resolv.conf": resolvconf_content(0),
                "etc/resolv.conf": ("symlink", self.link)}

    @property
    def link(self):
        return str(self.root / "run/resolvconf/resolv.conf")

    def initial(self):
        return resolvconf_content(0), resolvconf_content(0)

    def update(self, i):
        hooks = resolvconf_update(self.tree, "127.0.0.1", f"v{i}.example")
        # While mounted, `[ -L /etc/resolv.conf ]` sees the mount, not the link: the libc script
        # warns and skips the update-libc.d hooks (documented), the update itself is made.
        assert hooks == "hooks-skipped", hooks
        return resolvconf_content(i), resolvconf_content(i)


class NMSymlink(Setup):
    template = "run/NetworkManager/resolv.conf"
    rc_manager = "symlink"

    @property
    def files(self):
        return {"run/NetworkManager/resolv.conf": nm_content(0),
                "etc/resolv.conf": ("symlink", self.link)}

    @property
    def link(self):
        return str(self.root / "run/NetworkManager/resolv.conf")

    def initial(self):
        return nm_content(0), nm_content(0)

    def update(self, i):
        etc = nm_update(self.tree, nm_content(i), self.rc_manager)
        # readlink(/etc/resolv.conf) fails on the mount (EINVAL), so NetworkManager takes it for
        # a file and writes it with g_file_set_contents: EBUSY, logged as "could not commit DNS
        # changes" (documented); its own file is written all the same.
        assert etc == errno.EBUSY, etc
        return nm_content(i), nm_content(i)


class NMUnmanaged(NMSymlink):
    rc_manager = "unmanaged"

    def update(self, i):
        assert nm_update(self.tree, nm_content(i), self.rc_manager) is None
        return nm_content(i), nm_content(i)


class NMLinkNotWrittenYet(NMUnmanaged):
    """The link leads nowhere when the unit starts (NetworkManager has not written its file
    yet): the host gets ENOENT until it does; the template comes from another candidate."""

    @property
    def files(self):
        return {"run/systemd/resolve/resolv.conf": upstream(0),
                "run/NetworkManager/.keep": "",
                "etc/resolv.conf": ("symlink", self.link)}

    template = "run/systemd/resolve/resolv.conf"

    def initial(self):
        return None, upstream(0)

    def update(self, i):
        nm_update(self.tree, nm_content(i), "unmanaged")
        return nm_content(i), upstream(0)


class NMFile(Setup):
    files = {"etc/resolv.conf": NM_FILE0, "run/NetworkManager/resolv.conf": NM_FILE0}
    template = "run/NetworkManager/resolv.conf"
    host_follows = False

    def initial(self):
        return NM_FILE0, NM_FILE0

    def update(self, i):
        etc = nm_update(self.tree, nm_content(i), "file")
        # The rename onto /etc/resolv.conf itself is refused: the host keeps its file as it was
        # (documented: configure rc-manager=unmanaged and a symlink instead).
        assert etc == errno.EBUSY, etc
        return NM_FILE0, nm_content(i)


class Dhclient(Setup):
    files = {"etc/resolv.conf": DHCP0}
    template = "snapshot"

    def initial(self):
        return DHCP0, DHCP0

    def update(self, i):
        written = dhclient_update(self.tree, f"v{i}.example", f"192.0.2.{30 + i}")
        assert written == str(self.tree.target), written
        content = f"domain v{i}.example\nsearch v{i}.example\nnameserver 192.0.2.{30 + i}\n"
        # The template is the copy taken at start: new namespaces do not see the new lease
        # (documented).
        return content, DHCP0


SETUPS = {"static": Static, "resolved-stub": ResolvedStub,
          "resolved-upstream": ResolvedUpstream, "resolvconf": Resolvconf,
          "nm-symlink": NMSymlink, "nm-file": NMFile, "nm-unmanaged": NMUnmanaged,
          "nm-link-not-written-yet": NMLinkNotWrittenYet,
          "dhclient": Dhclient}


# --- the driver (run in a private mount namespace) -------------------------------------------

def is_loopback_line(line):
    parts = line.split()
    return len(parts) >= 2 and parts[0] == "nameserver" and (
        parts[1].startswith("127.") or parts[1] in ("::1", "0.0.0.0", "::"))


def check_namespace_view(view, expected, filtered):
    """A new namespace's copy: the template, less its loopback nameservers when filtered."""
    if not filtered:
        assert view == expected, f"new namespace read {view!r}, expected {expected!r}"
        return
    kept = [ln for ln in expected.splitlines() if not is_loopback_line(ln)]
    got = [ln for ln in view.splitlines() if not ln.startswith("#")]
    assert got == [ln for ln in kept if not ln.startswith("#")], \
        f"new namespace read {view!r}, expected {expected!r} without loopback nameservers"
    assert not any(is_loopback_line(ln) for ln in view.splitlines()), view


# The daemon's lines in a healthy run: its startup line, and the recycled-id notice (every
# `unshare --net` namespace is gone after its read, and the next one often gets its id back).
DAEMON_OK = re.compile(r"resolvconffs: (serving .*|warning: namespace id in \d+\.conf was reused "
                       r"\(unique id \d+, file made for \d+\): moved it aside as .*)")


DANGLING = re.compile(r"resolvconffs: warning: mountpoint '.*' is a symlink to '.*', which does "
                      r"not exist \(yet\)")


def daemon_lines_ok(log, dangling):
    bad = [ln for ln in log.splitlines()
           if ln.startswith("resolvconffs:") and not DAEMON_OK.fullmatch(ln)
           and not (dangling and DANGLING.fullmatch(ln))]
    assert not bad, f"unexpected daemon output: {bad}\n{log}"


def scenario_manager(setup, daemon, workdir):
    s = SETUPS[setup](pathlib.Path(workdir))
    tree = s.tree = Tree(workdir, s.files)
    unit = Unit(tree, daemon)
    host_id = os.readlink("/proc/self/ns/net")[5:-1]
    try:
        unit.start()
        assert os.readlink(f"/proc/{unit.proc.pid}/exe") == os.path.realpath(daemon), \
            "the helper did not exec the daemon in place (Type=simple main process)"
        path, why, filtered = helper_choice(unit.log())
        expected_tmpl = (str(tree.backing / "template.conf") if s.template == "snapshot"
                         else str(tree / s.template))
        assert path == expected_tmpl, f"template {path} ({why}), expected {expected_tmpl}"
        assert filtered == s.filtered, f"--filter-loopback: {filtered}, expected {s.filtered}"
        if s.link is not None:
            # The mount is on the symlink itself: lstat and readlink see the mount.
            assert not os.path.islink(tree.target)
            try:
                os.readlink(tree.target)
                raise AssertionError("readlink of the mounted symlink succeeded")
            except OSError as e:
                assert e.errno == errno.EINVAL, e
        host0, ns0 = s.initial()
        if host0 is None:
            try:
                host_read(tree.target)
                raise AssertionError("the host read a file that does not exist yet")
            except FileNotFoundError:
                pass
            before = None
        else:
            assert host_read(tree.target).decode() == host0
            before = stat_sig(tree.target)
        check_namespace_view(netns_read(tree.target).decode(), ns0, s.filtered)
        for i in range(1, ROUNDS + 1):
            host, ns = s.update(i)
            assert host_read(tree.target).decode() == host, f"round {i}: the host reads " \
                f"{host_read(tree.target)!r}, expected {host!r}"
            after = stat_sig(tree.target)
            if s.host_follows:
                assert after != before, f"round {i}: the host's stat did not change: {after}"
            else:
                assert after == before, f"round {i}: the host's file changed: {after}"
            before = after
            check_namespace_view(netns_read(tree.target).decode(), ns, s.filtered)
        assert not (tree.backing / f"{host_id}.conf").exists(), \
            "a backing file was created for the host"
        status = unit.stop()
        assert status == 0, f"the daemon exited {status} on SIGTERM; log:\n{unit.log()}"
        assert not unit.mounted(), "mounted after stop"
        if s.link is not None:
            assert os.readlink(tree.target) == s.link, "the symlink changed"
        else:
            assert tree.target.read_text() == host, "the host's file is not what it wrote"
        daemon_lines_ok(unit.log(), host0 is None)
        return {"template": path, "why": why, "filtered": filtered,
                "backing": sorted(os.listdir(tree.backing))}
    finally:
        unit.teardown()


# --- the tests -------------------------------------------------------------------------------

@pytest.mark.parametrize("setup", list(SETUPS))
def test_host_setup_with_its_manager(setup, rcfs_bin):
    import fuseutil    # here: run as a driver script, this module has no tests/ on its path
    workdir = fuseutil.new_workdir(f"hostmgr-{setup}")
    p, result = run_driver(__file__, "manager", {"setup": setup, "daemon": rcfs_bin,
                                                 "workdir": workdir}, timeout=DRIVER_TIMEOUT)
    log = ""
    if os.path.exists(os.path.join(workdir, "unit.log")):
        with open(os.path.join(workdir, "unit.log")) as f:
            log = f.read()
    if p.returncode != 0 or result is None:
        fuseutil.KEPT = True
        pytest.fail(f"driver for {setup} failed (exit {p.returncode}); kept {workdir}\n"
                    f"--- stdout\n{p.stdout}\n--- stderr\n{p.stderr}\n--- unit log\n{log}")
    print(f"{setup}: template {result['template']} ({result['why']}), "
          f"--filter-loopback: {'yes' if result['filtered'] else 'no'}")
    if not fuseutil.any_mount_under(workdir):
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    from unitutil import driver_main
    driver_main({"manager": scenario_manager})
