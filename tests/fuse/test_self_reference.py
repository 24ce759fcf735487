"""No self-reference, no foreign backing directory (issue 11, point 4; README "Bounds").

At startup, with exit status 2, exactly one line on stderr, nothing mounted and nothing written:
a template that is, or resolves to, the mountpoint; a backing directory owned by a uid other than
root or the daemon's. A backing directory writable by group or others only draws a warning.

At request time, a backing file, a name or an /etc/netns file that leads onto the mount itself
fails with ELOOP — promptly: the old daemon called into its own mount from a request thread and
every process touching the mount hung in D state — and the daemon goes on serving everyone
else. The template file is never served or written as a namespace's file, whatever the
namespace is named (a namespace named `template` beside template.conf is served by its id; a
link to the template is refused with EPERM).

Named namespaces come from a names directory of the test's own (bind mounts of
/proc/PID/ns/net, as `ip netns` makes them in /run/netns), so nothing here needs real root except
a directory owned by uid 65534 where that uid is mapped. Every probe of the mount runs in a
subprocess with a deadline; whatever fails, the daemons are stopped by pid (which also releases a
probe stuck on the mount), the bind mounts are removed, the sleepers killed by pid.
"""
import contextlib
import errno
import json
import os
import re
import subprocess

import pytest

import fuseutil
from featutil import refused, sleeper, startup_layout, wait_stderr  # noqa: F401 (fixture)
from fuseutil import PYTHON, TIMEOUT, Daemon, host_netns_id, new_workdir, run, tree
from testenv import is_real_root

TEMPLATE = b"nameserver 192.0.2.53\noptions ndots:1\n"
HOST = b"nameserver 10.0.0.1\n"
WRITABLE_WARNING = (r"resolvconffs: warning: backing directory '(?P<dir>[^']*)' is writable by "
                    r"group or others \(mode (?P<mode>[0-7]+)\)")


def host_name():
    return f"{host_netns_id()}.conf"


# --- startup refusals ------------------------------------------------------------------------

def refused_with_2(binary, argv, cwd, repro_binary, watch=()):
    """Run the daemon expecting a refusal: exit status 2, one stderr line, no stdout, nothing
    mounted under cwd (nor on any path in watch), the trees of cwd and watch unchanged. Returns
    the line."""
    return refused(binary, argv, cwd, repro_binary, status=2, watch=watch)


@pytest.mark.parametrize("spelling", ["relative", "absolute", "dotted"])
def test_template_that_is_the_mountpoint_is_refused(rcfs_bin, repro_bin, spelling):
    d = startup_layout()
    mnt = {"relative": "mnt", "absolute": os.path.join(d, "mnt"),
           "dotted": "./backing/../mnt"}[spelling]
    line = refused_with_2(rcfs_bin, ["-d", mnt, "backing", "mnt"], d, repro_bin)
    assert re.fullmatch(rf"resolvconffs: default file '{re.escape(mnt)}' is the mountpoint "
                        rf"'mnt' itself: .*", line), line


@pytest.mark.parametrize("link", ["relative", "absolute", "chain"])
def test_template_that_resolves_to_the_mountpoint_is_refused(rcfs_bin, repro_bin, link):
    """-d LINK, LINK a symlink to the mountpoint (directly, by absolute path, or through a
    second link and a linked directory)."""
    d = startup_layout()
    if link == "relative":
        os.symlink("mnt", os.path.join(d, "link"))
    elif link == "absolute":
        os.symlink(os.path.join(d, "mnt"), os.path.join(d, "link"))
    else:
        os.symlink(d, os.path.join(d, "dirlink"))
        os.symlink("dirlink/mnt", os.path.join(d, "link2"))
        os.symlink("link2", os.path.join(d, "link"))
    line = refused_with_2(rcfs_bin, ["-d", "link", "backing", "mnt"], d, repro_bin)
    assert line.startswith("resolvconffs: default file 'link' is the mountpoint 'mnt' itself"), \
        line
    # A symlinked mountpoint is covered itself (not the file it names): a template that is that
    # link, or leads through it, would be read through the mount.
    os.symlink("link", os.path.join(d, "via"))
    for tmpl in ("link", "via", os.path.join(d, "link")):
        line = refused_with_2(rcfs_bin, ["-d", tmpl, "backing", "link"], d, repro_bin)
        assert f"default file '{tmpl}' is the mountpoint 'link' itself" in line, line


def foreign_owned_backing(d):
    """A backing directory owned by a uid that is neither root's nor the daemon's: as real root,
    a fresh directory given to 65534; as root of a user namespace, a directory of the real root
    (unmapped there, so it shows as the overflow uid), which nothing here can write anyway."""
    if is_real_root():
        path = os.path.join(d, "backing-65534")
        os.mkdir(path)
        os.chown(path, 65534, 65534)
        os.chmod(path, 0o755)
        return path
    for path in ("/usr/share", "/usr", "/etc"):
        st = os.stat(path)
        if st.st_uid not in (0, os.geteuid()):
            return path
    pytest.fail("no directory owned by an unmapped uid found in this user namespace")


def test_backing_directory_owned_by_another_uid_is_refused(rcfs_bin, repro_bin):
    d = startup_layout()
    backing = foreign_owned_backing(d)
    uid = os.stat(backing).st_uid
    watch = (backing,) if backing.startswith(d) else ()
    line = refused_with_2(rcfs_bin, ["-d", "template", backing, "mnt"], d, repro_bin, watch)
    assert re.fullmatch(rf"resolvconffs: backing directory '{re.escape(backing)}' is owned by uid "
                        rf"{uid}, not by root or the daemon's uid {os.geteuid()}: .*", line), line


@pytest.mark.parametrize("mode", [0o777, 0o775, 0o1777])
def test_backing_directory_writable_by_others_is_a_warning(mount, mode):
    """Root-owned but writable by group or others: the daemon starts, with one warning line."""
    m = mount(template=TEMPLATE, backing_mode=mode, stderr_ok=[WRITABLE_WARNING])
    with open(m.mnt, "rb") as f:
        assert f.read() == TEMPLATE
    hits = wait_stderr(m, WRITABLE_WARNING)
    assert len(hits) == 1, m.stderr_text()
    assert hits[0]["dir"] == m.backing and int(hits[0]["mode"], 8) & 0o7777 == mode, \
        m.stderr_text()


# --- request time: ELOOP, promptly -----------------------------------------------------------

PROBE = r"""
import ctypes, json, os, sys
libc = ctypes.CDLL(None, use_errno=True)
path = sys.argv[1]

def errno_of(fn):
    try:
        fn()
        return 0
    except OSError as e:
        return e.errno

def access(mask):
    if libc.access(path.encode(), mask) != 0:
        e = ctypes.get_errno(); raise OSError(e, os.strerror(e))

def read():
    with open(path, "rb") as f:
        f.read()

out = {"read": errno_of(read), "stat": errno_of(lambda: os.stat(path)),
       "access_r": errno_of(lambda: access(os.R_OK)),
       "open_w": errno_of(lambda: os.close(os.open(path, os.O_WRONLY))),
       "truncate": errno_of(lambda: os.truncate(path, 0)),
       "chmod": errno_of(lambda: os.chmod(path, 0o600))}
print(json.dumps(out))
"""

ALL_ELOOP = {k: errno.ELOOP for k in ("read", "stat", "access_r", "open_w", "truncate", "chmod")}


def abort_connection(mnt):
    """Abort the FUSE connection of the mount on mnt (fusectl's abort file), so that processes
    stuck on a daemon that waits on its own mount are released with ENOTCONN. Where fusectl is
    not mounted, real root mounts it for the moment; root of a user namespace cannot, and then
    the stuck processes stay (the test has failed already). Returns what was done."""
    entries = fuseutil.rcfs_mounts(mnt)
    if not entries:
        return "no mount to abort"
    minor = entries[-1]["line"].split(" ")[2].split(":")[1]
    conns = "/sys/fs/fuse/connections"
    mounted_here = False
    if not os.path.exists(os.path.join(conns, minor)) and is_real_root():
        mounted_here = run(["mount", "-t", "fusectl", "fusectl", conns]).returncode == 0
    try:
        with open(os.path.join(conns, minor, "abort"), "w") as f:
            f.write("1")
        return f"aborted FUSE connection {minor}"
    except OSError as e:
        return f"could not abort FUSE connection {minor}: {e}"
    finally:
        if mounted_here:
            run(["umount", conns])


def bounded(argv, mnt, repro=""):
    """Run argv, which touches the mount on mnt, with a deadline: (exit status, stdout, stderr).
    Nothing in this test process itself touches a mount that may lead onto itself: a daemon
    that recursed into its own mount would leave the caller in D state forever. A command that
    does not finish in time fails the test, after the mount's FUSE connection is aborted."""
    argv = [*map(str, argv)]
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        state = state_of(proc.pid)
        proc.kill()
        what = abort_connection(mnt)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.communicate(timeout=TIMEOUT)
        pytest.fail(f"{subprocess.list2cmdline(argv)} hung on the mount (process {proc.pid}, "
                    f"state {state}; {what})\nreproducer: {repro}")
    return proc.returncode, out, err


def probe(prefix, path, repro=""):
    """Every operation of PROBE on path, run in a subprocess (through prefix) with a deadline:
    {op: errno or 0}."""
    rc, out, err = bounded([*prefix, PYTHON, "-c", PROBE, path], path, repro)
    assert rc == 0, (err.decode(errors="replace"), repro)
    return json.loads(out)


def cat(prefix, path, repro=""):
    """What cat(1) run through prefix reads from path (the mount), with a deadline."""
    rc, out, err = bounded([*prefix, "cat", path], path, repro)
    assert rc == 0, (err.decode(errors="replace"), repro)
    return out


def state_of(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


def assert_loop(prefix, path, repro):
    got = probe(prefix, path, repro)
    assert got == ALL_ELOOP, f"{got}\nreproducer: {repro}"
    # cat(1) says it in words.
    rc, _, err = bounded([*prefix, "cat", path], path, repro)
    assert rc != 0 and b"Too many levels of symbolic links" in err, (rc, err, repro)


@pytest.fixture
def bind_mounts():
    """bind(src, dst) bind-mounts src on dst (a file it creates); all are removed at teardown
    (umount -l: the source may be a FUSE mount whose daemon is gone by then)."""
    made = []

    def bind(src, dst):
        open(dst, "w").close()
        made.append(dst)
        run(["mount", "--bind", src, dst], check=True)
        return dst
    yield bind
    log = []
    for path in reversed(made):
        fuseutil.unmount_all(path, log, fuse=False)


@pytest.mark.parametrize("target", ["absolute", "relative", "chain", "bind-mount"])
def test_host_backing_file_leading_onto_the_mount_is_eloop(mount, netns, bind_mounts, target):
    """The daemon's own (host) backing file is a symlink to the mountpoint (by absolute or
    relative path, through a second link, or to a bind mount of the mount elsewhere): every
    operation on the mount from the host fails with ELOOP at once, again and again; another
    namespace is served all along, and the host too once its file is a file again."""
    m = mount(template=TEMPLATE)
    link = m.path(host_name())
    # (Listings by name only from here on: os.walk would follow the link onto the mount.)
    before = set(m.listing())
    if target == "absolute":
        os.symlink(m.mnt, link)
    elif target == "relative":
        os.symlink("../mnt", link)
    elif target == "chain":
        os.symlink(m.mnt, m.path("hop"))
        os.symlink("hop", link)
    else:
        os.symlink(bind_mounts(m.mnt, os.path.join(new_workdir("bind"), "elsewhere")), link)
    made = {os.path.basename(link), "hop"} & set(m.listing())
    repro = (f"ln -s {'../mnt' if target == 'relative' else m.mnt} BACKING/{host_name()}; "
             f"{m.reproducer()} & cat {m.mnt}")
    for _ in range(3):
        assert_loop([], m.mnt, repro)
    ns = netns()
    assert cat(ns.cmd(), m.mnt, repro) == TEMPLATE
    assert_loop([], m.mnt, repro)
    assert cat(ns.cmd(), m.mnt, repro) == TEMPLATE
    assert set(m.listing()) == before | made | {f"{ns.id}.conf"}, m.listing()
    assert os.path.islink(link)
    os.unlink(link)
    m.write_backing(host_name(), HOST)
    assert cat([], m.mnt, repro) == HOST


def test_template_leading_onto_the_mount_at_request_time_is_eloop(mount, netns):
    """The template is replaced, after startup, by a symlink to the mountpoint: a namespace
    that needs a copy (root-made) and one served the template view (of a foreign user namespace)
    get ELOOP at once, no file is created; with the template back, both are served again."""
    m = mount(template=TEMPLATE, files={host_name(): HOST})
    os.rename(m.template, m.template + ".away")
    os.symlink(m.mnt, m.template)
    repro = (f"{m.reproducer()} & ln -sf {m.mnt} {m.template}; "
             f"unshare --net cat {m.mnt}; unshare --user --map-root-user --net cat {m.mnt}")
    ns = netns()
    for prefix in (ns.cmd(), ["unshare", "--user", "--map-root-user", "--net"]):
        got = probe(prefix, m.mnt, repro)
        assert got["read"] == errno.ELOOP and got["stat"] == errno.ELOOP, (prefix, got, repro)
        assert all(e in (errno.ELOOP, errno.EROFS) for e in got.values()), (prefix, got, repro)
    assert m.listing() == [host_name()]
    assert cat([], m.mnt, repro) == HOST
    os.unlink(m.template)
    os.rename(m.template + ".away", m.template)
    assert cat(ns.cmd(), m.mnt, repro) == TEMPLATE
    assert cat(["unshare", "--user", "--map-root-user", "--net"], m.mnt, repro) == TEMPLATE
    assert m.listing() == sorted([host_name(), f"{ns.id}.conf"])





def daemon_over(binary, repro_binary, workdir, mnt_name, backing, args, template=TEMPLATE):
    """A fuseutil.Daemon whose mountpoint is workdir/mnt_name and whose backing directory is
    backing (say workdir itself: the mountpoint's own directory), not the usual layout. Not
    started; use it as a context manager for its teardown."""
    d = Daemon(binary, repro_binary=repro_binary, workdir=workdir, template=template, args=args)
    d.mnt = os.path.join(workdir, mnt_name)
    with open(d.mnt, "wb") as f:
        f.write(Daemon.PLAIN)
    d.plain_ino = os.stat(d.mnt).st_ino
    d.backing = backing
    d.args[-2:] = [backing, d.mnt]
    return d


def test_name_leading_onto_the_mount_is_eloop(rcfs_bin, repro_bin, sleeper, names_dir):
    """--names with a namespace named `resolv`, the backing directory the mountpoint's own
    directory and the mountpoint named resolv.conf: resolv's file IS the mountpoint. A process in
    that namespace gets ELOOP; the host and an unnamed namespace are served their copies."""
    names, bind = names_dir
    resolv, other = sleeper("net"), sleeper("net")
    bind("resolv", resolv.pid)
    workdir = new_workdir("self-name")
    d = daemon_over(rcfs_bin, repro_bin, workdir, "resolv.conf", workdir, [f"--names={names}"])
    with d:
        d.start()
        d.wait_mounted()
        repro = (f"mount --bind /proc/<pid in ns>/ns/net {names}/resolv; {d.reproducer()} & "
                 f"nsenter --net={names}/resolv cat {d.mnt}")
        assert_loop(resolv.cmd(), d.mnt, repro)
        assert cat(other.cmd(), d.mnt, repro) == TEMPLATE
        assert cat([], d.mnt, repro) == TEMPLATE
        assert_loop(resolv.cmd(), d.mnt, repro)
        assert os.path.exists(os.path.join(workdir, host_name()))
        assert os.path.exists(os.path.join(workdir, f"{other.id()}.conf"))
        assert not os.path.exists(os.path.join(workdir, f"{resolv.id()}.conf"))
        assert d.mounted()


def test_etc_netns_file_leading_onto_the_mount_is_eloop(mount, sleeper, names_dir):
    """--etc-netns=DIR with DIR/NAME/mnt a symlink to the mountpoint: ELOOP for NAME's
    processes; another named namespace (file in DIR/NAME2/mnt) and the host are served."""
    names, bind = names_dir
    looped, fine = sleeper("net"), sleeper("net")
    bind("looped", looped.pid)
    bind("fine", fine.pid)
    etc = os.path.join(new_workdir("etc"), "netns")
    for name in ("looped", "fine"):
        os.makedirs(os.path.join(etc, name))
    with open(os.path.join(etc, "fine", "mnt"), "wb") as f:
        f.write(b"nameserver 198.51.100.1\n")
    m = mount(args=[f"--names={names}", f"--etc-netns={etc}"], template=TEMPLATE)
    os.symlink(m.mnt, os.path.join(etc, "looped", "mnt"))
    repro = (f"ln -s {m.mnt} {etc}/looped/mnt; {m.reproducer()} & "
             f"nsenter --net={names}/looped cat {m.mnt}")
    assert_loop(looped.cmd(), m.mnt, repro)
    assert cat(fine.cmd(), m.mnt, repro) == b"nameserver 198.51.100.1\n"
    assert cat([], m.mnt, repro) == TEMPLATE
    assert_loop(looped.cmd(), m.mnt, repro)
    assert m.listing() == [host_name()], "no file was made for the looped namespace"


# --- the template is never a namespace's file ------------------------------------------------

def test_a_namespace_named_like_the_template_gets_its_id(rcfs_bin, repro_bin, sleeper,
                                                        names_dir):
    """The template is template.conf inside the backing directory, and a namespace is named
    `template` (--names): that namespace is served its own id-named copy, not the template
    through its name; what it writes goes to its copy, and template.conf stays as it was."""
    names, bind = names_dir
    ns = sleeper("net")
    bind("template", ns.pid)
    workdir = new_workdir("tmpl-name")
    d = Daemon(rcfs_bin, repro_binary=repro_bin, workdir=workdir,
               args=[f"--names={names}", "-d", os.path.join(workdir, "backing", "template.conf")],
               files={"template.conf": TEMPLATE})
    with d:
        d.start()
        d.wait_mounted()
        tmpl = d.path("template.conf")
        st_before = os.stat(tmpl)
        assert run(ns.cmd("cat", d.mnt), check=True).stdout == TEMPLATE
        assert sorted(d.listing()) == sorted(["template.conf", f"{ns.id()}.conf"])
        run(ns.cmd("sh", "-c", f"echo 'nameserver 10.9.9.9' > {d.mnt}"), check=True)
        assert run(ns.cmd("cat", d.mnt), check=True).stdout == b"nameserver 10.9.9.9\n"
        assert d.read_backing(f"{ns.id()}.conf") == b"nameserver 10.9.9.9\n"
        run(ns.cmd("sh", "-c", f"echo 'options ndots:9' >> {d.mnt}"), check=True)
        run(ns.cmd("truncate", "-s", "5", d.mnt), check=True)
        run(ns.cmd("chmod", "600", d.mnt), check=True)
        assert d.read_backing(f"{ns.id()}.conf") == b"names"
        st_after = os.stat(tmpl)
        assert d.read_backing("template.conf") == TEMPLATE
        assert (st_after.st_ino, st_after.st_mode, st_after.st_size, st_after.st_mtime_ns) == \
            (st_before.st_ino, st_before.st_mode, st_before.st_size, st_before.st_mtime_ns)
        # The host is served its own copy, not the template.
        with open(d.mnt, "rb") as f:
            assert f.read() == TEMPLATE
        assert host_name() in d.listing()


@pytest.mark.parametrize("link", ["hard", "symlink"])
def test_a_link_to_the_template_is_never_served(mount, netns, link):
    """A namespace's backing file that is the template itself (a hard link to it, or a symlink)
    is refused with EPERM, for reading and writing alike; the template is unchanged and the
    namespace gets no other file."""
    m = mount(template=TEMPLATE)
    ns = netns()
    name = m.path(f"{ns.id}.conf")
    if link == "hard":
        os.link(m.template, name)
    else:
        os.symlink(m.template, name)
    before = tree(m.backing)
    got = probe(ns.cmd(), m.mnt, m.reproducer())
    assert got == {k: errno.EPERM for k in ALL_ELOOP}, got
    r = ns.run("sh", "-c", f"echo 'nameserver 10.6.6.6' > {m.mnt}")
    assert r.returncode != 0 and b"Operation not permitted" in r.stderr, r
    with open(m.template, "rb") as f:
        assert f.read() == TEMPLATE
    assert tree(m.backing) == before
    with open(m.mnt, "rb") as f:
        assert f.read() == TEMPLATE
