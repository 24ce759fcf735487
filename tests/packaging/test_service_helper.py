"""systemd/resolvconffs-helper, the unit's start-pre / start / wait-mounted / stop-post steps.

Its paths come from the environment, so every test points it at a temporary file standing in for
/etc/resolv.conf, a temporary backing directory, temporary template candidates (never the
machine's /run), a fake procfs (self/ns/net), a fake mount table with fake fusermount3/umount
commands that log their calls and remove the mount from the table, and a fake daemon that records
the command line `resolvconffs-helper start` execs. The last test runs the whole unit lifecycle for
real (daemon, crash, restart, stop) in a private mount namespace, over a temporary file. The
machine's /etc/resolv.conf is never used.
"""
import json
import os
import stat
import subprocess
import sys
import textwrap
import time

import pytest

from pkgtest import ROOT, clean_env
from testenv import is_real_root

HELPER = ROOT / "systemd/resolvconffs-helper"
HOST_ID = "4026531999"
HOST_CONTENT = "# host\nnameserver 192.0.2.1\nsearch example.org\n"
STUB = "nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch example.org\n"
UPSTREAM = "nameserver 192.0.2.53\nsearch example.org\n"

FAKE_UNMOUNT = textwrap.dedent("""\
    #!{python}
    # Fake {name}: log the call; unless RCFS_TEST_FAIL_{var} is set, remove the topmost mount on
    # the path (the last line of the fake mount table whose mount point field matches).
    import os, sys
    name, args = {name!r}, sys.argv[1:]
    with open(os.environ["RCFS_TEST_CALLS"], "a") as f:
        f.write(" ".join([name] + args) + "\\n")
    if os.environ.get("RCFS_TEST_FAIL_{var}"):
        sys.exit(1)
    path = args[-1]
    esc = path.replace("\\\\", "\\\\134").replace(" ", "\\\\040").replace("\\t", "\\\\011")
    table = os.environ["RCFS_MOUNTINFO"]
    lines = open(table).read().splitlines(True)
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].split(" ")[4] == esc:
            del lines[i]
            break
    else:
        sys.exit(1)
    open(table, "w").writelines(lines)
    """)

# Fake daemon: record its command line and pid (the helper must exec it in place).
FAKE_DAEMON = textwrap.dedent("""\
    #!{python}
    import json, os, sys
    with open(os.environ["RCFS_TEST_DAEMON_LOG"], "a") as f:
        f.write(json.dumps({{"argv": sys.argv[1:], "pid": os.getpid()}}) + "\\n")
    """)


def mountinfo_line(n, path, fstype, source="resolvconffs"):
    esc = path.replace("\\", "\\134").replace(" ", "\\040").replace("\t", "\\011")
    return (f"{n} 1 0:{n} / {esc} rw,nosuid,nodev,relatime shared:{n} - {fstype} {source} "
            "rw,user_id=0,group_id=0,default_permissions,allow_other\n")


class Env:
    """A temporary stand-in for the machine: target file, backing dir, template candidates,
    procfs, mount table, daemon."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.target = tmp / "etc" / "resolv.conf"
        self.target.parent.mkdir()
        self.target.write_text(HOST_CONTENT)
        self.backing = tmp / "run" / "resolvconffs"
        self.resolved = tmp / "run" / "systemd" / "resolve" / "resolv.conf"
        self.resolvconf = tmp / "run" / "resolvconf" / "resolv.conf"
        self.nm = tmp / "run" / "NetworkManager" / "resolv.conf"
        self.proc = tmp / "proc"
        (self.proc / "self" / "ns").mkdir(parents=True)
        self.set_ns_link(f"net:[{HOST_ID}]")
        self.mountinfo = tmp / "mountinfo"
        self.mountinfo.write_text(mountinfo_line(20, "/", "ext4", "/dev/vda1") +
                                  mountinfo_line(21, "/proc", "proc", "proc"))
        self.calls = tmp / "calls"
        self.calls.write_text("")
        self.daemon_log = tmp / "daemon.log"
        bindir = tmp / "bin"
        bindir.mkdir()
        for name, var in (("fusermount3", "FUSERMOUNT"), ("umount", "UMOUNT")):
            p = bindir / name
            p.write_text(FAKE_UNMOUNT.format(python=sys.executable, name=name, var=var))
            p.chmod(0o755)
        daemon = bindir / "resolvconffs"
        daemon.write_text(FAKE_DAEMON.format(python=sys.executable))
        daemon.chmod(0o755)
        self.vars = dict(RCFS_TARGET=str(self.target), RCFS_BACKING_DIR=str(self.backing),
                         RCFS_TEMPLATE_CANDIDATES=" ".join(map(str, (self.resolved,
                                                                     self.resolvconf, self.nm))),
                         RCFS_DAEMON=str(daemon), RCFS_GC_OPTIONS="--gc-interval 600",
                         RCFS_OPTIONS="",
                         RCFS_PROCFS=str(self.proc), RCFS_MOUNTINFO=str(self.mountinfo),
                         RCFS_FUSERMOUNT=str(bindir / "fusermount3"),
                         RCFS_UMOUNT=str(bindir / "umount"), RCFS_TEST_CALLS=str(self.calls),
                         RCFS_TEST_DAEMON_LOG=str(self.daemon_log))

    def set_ns_link(self, text):
        link = self.proc / "self" / "ns" / "net"
        if link.is_symlink():
            link.unlink()
        os.symlink(text, link)

    def add_mount(self, path, fstype="fuse.resolvconffs"):
        n = len(self.mountinfo.read_text().splitlines()) + 30
        with open(self.mountinfo, "a") as f:
            f.write(mountinfo_line(n, str(path), fstype))

    def mounts_on(self, path):
        return [line.split(" - ")[1].split()[0] for line in self.mountinfo.read_text().splitlines()
                if line.split(" ")[4] == str(path).replace(" ", "\\040")]

    def helper(self, *args, expect=0, **more):
        env = clean_env(**self.vars)
        env.update(more)
        p = subprocess.run([str(HELPER), *args], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=60, cwd=self.tmp)
        assert p.returncode == expect, \
            f"helper {args} exited {p.returncode}, not {expect}:\n{p.stdout}{p.stderr}"
        return p

    def start(self, expect=0, **more):
        """start-pre, then `start`: returns (the daemon's argv, the helper's stderr); the daemon
        must be the helper's own process, exec'd in place."""
        self.helper("start-pre", **more)
        env = clean_env(**self.vars)
        env.update(more)
        before = self.daemon_runs()
        proc = subprocess.Popen([str(HELPER), "start"], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, cwd=self.tmp)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == expect, f"start exited {proc.returncode}, not {expect}:\n{err}"
        runs = self.daemon_runs()[len(before):]
        if expect != 0:
            assert runs == [], "the daemon was run although start failed"
            return None, err
        assert len(runs) == 1, runs
        assert runs[0]["pid"] == proc.pid, "the daemon is not the helper's process (exec)"
        return runs[0]["argv"], err

    def daemon_runs(self):
        if not self.daemon_log.exists():
            return []
        return [json.loads(line) for line in self.daemon_log.read_text().splitlines()]

    def call_log(self):
        return self.calls.read_text().splitlines()

    @property
    def host_file(self):
        return self.backing / f"{HOST_ID}.conf"

    @property
    def template(self):
        return self.backing / "template.conf"

    def expected_argv(self, template, *extra):
        return ["--host-original", "-p", "conf", "-d", str(template), *extra,
                "--gc-interval", "600", str(self.backing), str(self.target)]

    def write(self, path, text):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


@pytest.fixture
def env(tmp_path):
    return Env(tmp_path)


def leftovers(d):
    return [p.name for p in d.iterdir() if p.name.startswith(".resolvconffs-helper.")]


def template_line(err):
    lines = [ln for ln in err.splitlines() if ln.startswith("resolvconffs-helper: template: ")]
    assert len(lines) == 1, err
    return lines[0]


# --- start-pre ---------------------------------------------------------------------------------

def test_start_pre_creates_the_backing_directory_and_copies_nothing(env):
    """The host is served its own file by the daemon (--host-original): nothing is copied."""
    env.helper("start-pre")
    assert stat.S_IMODE(env.backing.stat().st_mode) == 0o755
    assert list(env.backing.iterdir()) == []
    assert env.target.read_text() == HOST_CONTENT, "the target must not be modified"
    assert env.call_log() == []


def test_start_pre_keeps_an_existing_host_file_and_says_it_wins(env):
    env.backing.mkdir(parents=True)
    env.host_file.write_text("nameserver 198.51.100.7\n")
    p = env.helper("start-pre")
    assert env.host_file.read_text() == "nameserver 198.51.100.7\n"
    assert f"{env.host_file} exists and is what the host is served" in p.stderr


def test_start_pre_accepts_a_symlinked_target_mounted_over_the_link_itself(env, tmp_path):
    stub = tmp_path / "run" / "systemd" / "resolve" / "stub-resolv.conf"
    env.write(stub, STUB)
    env.target.unlink()
    env.target.symlink_to(os.path.relpath(stub, env.target.parent))
    # The daemon mounts over the symlink itself: a crashed daemon's mount is listed on the
    # link's path. One listed on the file it points to is not the unit's, and stays.
    env.add_mount(env.target)
    env.add_mount(stub)
    env.helper("start-pre")
    assert env.call_log() == [f"fusermount3 -u {env.target}"]
    assert env.mounts_on(env.target) == []
    assert env.mounts_on(stub) == ["fuse.resolvconffs"]
    assert env.target.is_symlink() and os.readlink(env.target) == os.path.relpath(
        stub, env.target.parent), "the target must not be modified"
    assert list(env.backing.iterdir()) == []


def test_mount_path_resolves_the_directory_but_not_the_last_component(env, tmp_path):
    """mountinfo lists a mount at the path given, its directory realpath'd."""
    (tmp_path / "etc-alias").symlink_to("etc")
    stub = tmp_path / "stub-resolv.conf"
    stub.write_text(STUB)
    env.target.unlink()
    env.target.symlink_to(stub)
    env.add_mount(env.target)
    env.helper("stop-post", RCFS_TARGET=str(tmp_path / "etc-alias" / "resolv.conf"))
    assert env.call_log() == [f"fusermount3 -u {env.target}"]


def test_a_dangling_symlinked_target_is_accepted_with_a_warning(env):
    env.target.unlink()
    env.target.symlink_to("../run/NetworkManager/resolv.conf")
    p = env.helper("start-pre")
    assert "does not exist (yet)" in p.stderr
    assert env.backing.is_dir()


@pytest.mark.parametrize("kind", ["missing", "directory", "symlink to a directory"])
def test_a_target_of_another_kind_is_refused_and_nothing_created(env, kind):
    env.target.unlink()
    if kind == "directory":
        env.target.mkdir()
    elif kind == "symlink to a directory":
        env.target.symlink_to(".")
    p = env.helper("start-pre", expect=1)
    assert ("something other than a regular file" if kind.startswith("symlink")
            else "not a regular file or a symlink") in p.stderr
    assert not env.backing.exists()


def test_start_pre_removes_a_stale_mount_first(env):
    env.add_mount(env.target)
    env.add_mount(str(env.target) + ".bak")         # another path: not ours to touch
    env.add_mount(env.tmp / "etc", "fuse.resolvconffs")
    env.helper("start-pre")
    assert env.call_log() == [f"fusermount3 -u {env.target}"]
    assert env.mounts_on(env.target) == []
    assert env.mounts_on(str(env.target) + ".bak") == ["fuse.resolvconffs"]
    assert env.backing.is_dir()


def test_stacked_stale_mounts_are_all_removed(env):
    env.add_mount(env.target)
    env.add_mount(env.target)
    env.helper("stop-post")
    assert env.call_log() == [f"fusermount3 -u {env.target}"] * 2
    assert env.mounts_on(env.target) == []


def test_umount_lazy_when_fusermount_fails(env):
    env.add_mount(env.target)
    env.helper("cleanup", RCFS_TEST_FAIL_FUSERMOUNT="1")
    assert env.call_log() == [f"fusermount3 -u {env.target}", f"umount -l {env.target}"]
    assert env.mounts_on(env.target) == []


def test_fails_when_the_mount_cannot_be_removed(env):
    env.add_mount(env.target)
    p = env.helper("start-pre", expect=1, RCFS_TEST_FAIL_FUSERMOUNT="1",
                   RCFS_TEST_FAIL_UMOUNT="1")
    assert "cannot unmount" in p.stderr
    assert not env.backing.exists(), "nothing may be made with a stale mount in place"


def test_other_mounts_are_left_alone(env):
    env.add_mount(env.target, "tmpfs")
    env.helper("stop-post")
    env.helper("start-pre")
    assert env.call_log() == []
    assert env.mounts_on(env.target) == ["tmpfs"]


def test_only_the_topmost_mount_is_considered(env):
    """A resolvconffs mount under someone else's mount cannot be unmounted without removing theirs
    first: leave both."""
    env.add_mount(env.target)
    env.add_mount(env.target, "ext4")
    env.helper("stop-post")
    assert env.call_log() == []


def test_mountinfo_escapes_are_understood(tmp_path):
    e = Env(tmp_path)
    spaced = tmp_path / "my etc" / "resolv.conf"
    spaced.parent.mkdir()
    spaced.write_text(HOST_CONTENT)
    e.vars["RCFS_TARGET"] = str(spaced)
    e.add_mount(spaced)
    e.helper("start-pre")
    assert e.call_log() == [f"fusermount3 -u {spaced}"]
    assert e.backing.is_dir()


def test_wait_mounted(env):
    env.add_mount(env.target)
    env.helper("wait-mounted")
    env.helper("cleanup")
    t = time.monotonic()
    p = env.helper("wait-mounted", expect=1, RCFS_WAIT_TIMEOUT="1")
    assert time.monotonic() - t < 10
    assert "no fuse.resolvconffs mount" in p.stderr


@pytest.mark.parametrize("link", ["net:[12ab]", "net:[]", "mnt:[4026531999]",
                                  "net:[4026531999]x", "net:[../../etc]"])
def test_a_malformed_namespace_link_is_refused(env, link):
    env.set_ns_link(link)
    env.helper("start-pre", expect=1)
    assert list(env.backing.iterdir()) == []


def test_host_id_of_the_real_procfs(env):
    env.vars.pop("RCFS_PROCFS")
    out = env.helper("host-id").stdout.strip()
    assert f"net:[{out}]" == os.readlink("/proc/self/ns/net")


def test_extension_with_a_slash_is_refused(env):
    env.helper("start-pre", expect=1, RCFS_EXTENSION="x/y")


def test_host_link(env, tmp_path):
    env.write(env.nm, "nameserver 192.0.2.99\n")
    env.helper("start-pre", RCFS_HOST_LINK=str(env.nm))
    assert env.host_file.is_symlink() and os.readlink(env.host_file) == str(env.nm)
    assert sorted(p.name for p in env.backing.iterdir()) == [f"{HOST_ID}.conf"]


def test_host_link_to_the_target_itself_is_refused(env, tmp_path):
    alias = tmp_path / "alias"
    alias.symlink_to(env.target)
    p = env.helper("start-pre", expect=1, RCFS_HOST_LINK=str(alias))
    assert "mounted file itself" in p.stderr
    assert not env.host_file.exists() and not env.host_file.is_symlink()


def test_host_link_to_the_file_a_symlinked_target_names_is_allowed(env, tmp_path):
    """Only a path through the mounted link reaches the mount; the manager's file does not."""
    env.write(env.nm, "nameserver 192.0.2.99\n")
    env.target.unlink()
    env.target.symlink_to(env.nm)
    env.helper("start-pre", RCFS_HOST_LINK=str(env.nm))
    assert os.readlink(env.host_file) == str(env.nm)


def test_usage(env):
    assert "usage" in env.helper(expect=2).stderr
    assert "start-pre|start|" in env.helper(expect=2).stderr
    env.helper("frobnicate", expect=2)


# --- start: the template and the daemon's command line ----------------------------------------

def test_start_execs_the_daemon_with_a_snapshot_template_for_a_regular_target(env):
    argv, err = env.start()
    assert argv == env.expected_argv(env.template)
    assert template_line(err) == (f"resolvconffs-helper: template: {env.template} (a copy of "
                                  f"{env.target} taken at this start), --filter-loopback: no")
    assert env.template.read_text() == HOST_CONTENT
    assert stat.S_IMODE(env.template.stat().st_mode) == 0o644
    assert leftovers(env.backing) == []
    assert not env.host_file.exists(), "nothing is copied for the host"


def test_the_snapshot_is_refreshed_at_every_start(env):
    env.start()
    first = env.template.stat().st_ino
    env.target.write_text("nameserver 198.51.100.9\n")
    env.start()
    assert env.template.read_text() == "nameserver 198.51.100.9\n"
    assert env.template.stat().st_ino != first, "replaced by rename, not rewritten in place"
    assert leftovers(env.backing) == []


@pytest.mark.parametrize("present,chosen,why", [
    (("resolved", "resolvconf", "nm"), "resolved", "systemd-resolved's upstream servers"),
    (("resolvconf", "nm"), "resolvconf", "resolvconf's generated file"),
    (("nm",), "nm", "NetworkManager's generated file"),
])
def test_the_first_candidate_wins_and_is_used_live(env, present, chosen, why):
    for name in present:
        env.write(getattr(env, name), UPSTREAM)
    argv, err = env.start()
    path = getattr(env, chosen)
    assert argv == env.expected_argv(path)
    assert template_line(err) == (f"resolvconffs-helper: template: {path} ({why}), "
                                  "--filter-loopback: no")
    assert not env.template.exists(), "a live template is not copied"


def test_empty_missing_and_self_referencing_candidates_are_skipped(env):
    env.write(env.resolved, "")                          # empty: resolved has not written it yet
    env.resolvconf.parent.mkdir(parents=True)
    env.resolvconf.symlink_to(env.target)                # leads to the mounted file itself
    env.write(env.nm, UPSTREAM)
    argv, _ = env.start()
    assert argv == env.expected_argv(env.nm)


def test_a_symlinked_target_without_candidates_serves_what_it_leads_to(env, tmp_path):
    stub = tmp_path / "run" / "systemd" / "resolve" / "stub-resolv.conf"
    env.write(stub, STUB)
    env.target.unlink()
    env.target.symlink_to(os.path.relpath(stub, env.target.parent))
    argv, err = env.start()
    assert argv == env.expected_argv(stub, "--filter-loopback")
    assert template_line(err).endswith(f"(the file {env.target} leads to, live), "
                                       "--filter-loopback: yes")


def test_a_dangling_target_without_candidates_needs_a_template(env):
    env.target.unlink()
    env.target.symlink_to("../run/nowhere/resolv.conf")
    _, err = env.start(expect=1)
    assert "set RCFS_TEMPLATE" in err


@pytest.mark.parametrize("line,loopback", [
    ("nameserver 127.0.0.53", True),
    ("nameserver 127.0.0.1", True),
    ("  nameserver\t127.1.2.3  # local", True),
    ("nameserver ::1", True),
    ("nameserver ::ffff:127.0.0.1", True),
    ("nameserver 0.0.0.0", True),
    ("nameserver 192.0.2.1", False),
    ("nameserver 10.127.0.1", False),
    ("nameserver 1270::1", False),
    ("# nameserver 127.0.0.1", False),
    ("search 127.0.0.1", False),
])
def test_filter_loopback_when_the_template_names_a_loopback_server(env, line, loopback):
    env.write(env.resolved, f"search example.org\n{line}\nnameserver 192.0.2.9\n")
    argv, err = env.start()
    assert ("--filter-loopback" in argv) == loopback, argv
    assert template_line(err).endswith("--filter-loopback: " + ("yes" if loopback else "no"))


def test_a_template_given_is_used_as_it_is(env, tmp_path):
    tmpl = tmp_path / "tmpl" / "default.conf"
    env.write(tmpl, STUB)
    env.write(env.resolved, UPSTREAM)
    argv, err = env.start(RCFS_TEMPLATE=str(tmpl))
    assert argv == env.expected_argv(tmpl, "--filter-loopback")
    assert "(RCFS_TEMPLATE)" in template_line(err)


def test_a_template_given_must_exist_and_not_be_the_target(env, tmp_path):
    _, err = env.start(expect=1, RCFS_TEMPLATE=str(tmp_path / "missing.conf"))
    assert "is not a regular file" in err
    _, err = env.start(expect=1, RCFS_TEMPLATE=str(env.target))
    assert "mounted file itself" in err


def test_option_variables_are_split_at_blanks_and_never_globbed(env):
    (env.tmp / "glob-me").write_text("")
    argv, _ = env.start(RCFS_OPTIONS="--log-level  warning -o *", RCFS_GC_OPTIONS="")
    assert argv == ["--host-original", "-p", "conf", "-d", str(env.template),
                    "--log-level", "warning", "-o", "*", str(env.backing), str(env.target)]


def test_empty_extension(env):
    argv, _ = env.start(RCFS_EXTENSION="")
    assert argv[:3] == ["--host-original", "-p", ""]


def test_start_refuses_while_a_mount_is_on_the_target(env):
    env.helper("start-pre")
    env.add_mount(env.target)
    p = env.helper("start", expect=1)
    assert "still a fuse.resolvconffs mount" in p.stderr
    assert env.daemon_runs() == []


def test_start_without_start_pre_says_so(env):
    p = env.helper("start", expect=1)
    assert "start-pre" in p.stderr
    assert env.daemon_runs() == []


# --- the unit's lifecycle, for real ----------------------------------------------------------

LIFECYCLE = r"""
set -euo pipefail
step() { echo "STEP $*"; }
mounted() { grep -q " $RCFS_TARGET .* - fuse.resolvconffs " /proc/self/mountinfo; }
start_daemon() {                                          # ExecStartPre, ExecStart, ExecStartPost
    "$HELPER" start-pre 2>>"$WORK/unit.log"
    "$HELPER" start 2>>"$WORK/unit.log" &
    pid=$!
    "$HELPER" wait-mounted 2>>"$WORK/unit.log"
}

start_daemon
step exe="$(readlink /proc/$pid/exe)"
step host="$(cat "$RCFS_TARGET" | tr '\n' '|')"
step other_netns="$(unshare --net cat "$RCFS_TARGET" | tr '\n' '|')"
echo 'nameserver 198.51.100.7' > "$RCFS_TARGET"          # the host writes its own file
step host_after_write="$(cat "$RCFS_TARGET" | tr '\n' '|')"

kill -KILL "$pid"; wait "$pid" || true                    # crash
if stat "$RCFS_TARGET" 2>"$WORK/stat.err"; then step crash_stat=ok
else step crash_stat="$(cat "$WORK/stat.err")"; fi

start_daemon                                              # Restart=on-failure: start-pre first
step restarted_host="$(cat "$RCFS_TARGET" | tr '\n' '|')"
step restarted_netns="$(unshare --net cat "$RCFS_TARGET" | tr '\n' '|')"
step mounts="$(grep -c " $RCFS_TARGET .* - fuse.resolvconffs " /proc/self/mountinfo)"

kill -TERM "$pid"; wait "$pid" || true                    # systemctl stop: SIGTERM ...
if mounted; then step after_term=mounted; else step after_term=unmounted; fi
"$HELPER" stop-post                                       # ... then ExecStopPost
step underlying="$(cat "$RCFS_TARGET" | tr '\n' '|')"

start_daemon
kill -KILL "$pid"; wait "$pid" || true                    # a crash, then stop: ExecStopPost
"$HELPER" stop-post
if mounted; then step after_crash_stop=mounted; else step after_crash_stop=unmounted; fi
step files="$(ls "$RCFS_BACKING_DIR" | tr '\n' ' ')"
"""


def test_unit_lifecycle_in_a_private_mount_namespace(tmp_path, pkg_build):
    """As real root in a private mount namespace; as anyone else, as root of a user namespace of
    one's own with a private mount namespace (what the FUSE suite does)."""
    if not os.access("/dev/fuse", os.R_OK | os.W_OK):
        pytest.skip("/dev/fuse is not usable by this user")
    tmp_path.chmod(0o755)
    target = tmp_path / "etc" / "resolv.conf"
    target.parent.mkdir()
    target.write_text(HOST_CONTENT)
    backing = tmp_path / "run" / "resolvconffs"
    script = tmp_path / "lifecycle.sh"
    script.write_text(LIFECYCLE)
    daemon = pkg_build / "resolvconffs"
    env = clean_env(RCFS_TARGET=str(target), RCFS_BACKING_DIR=str(backing),
                    RCFS_TEMPLATE_CANDIDATES=str(tmp_path / "no-candidate"),
                    RCFS_DAEMON=str(daemon), RCFS_GC_OPTIONS="--gc-interval 600",
                    HELPER=str(HELPER), WORK=str(tmp_path))
    unshare = ["unshare", "--mount", "--propagation", "private"]
    if not is_real_root():
        unshare[1:1] = ["--user", "--map-root-user"]
    p = subprocess.run([*unshare, "bash", str(script)], env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=120)
    log = (tmp_path / "unit.log").read_text() if (tmp_path / "unit.log").exists() else ""
    assert p.returncode == 0, f"lifecycle failed:\n{p.stdout}\n{p.stderr}\nunit:\n{log}"
    steps = dict(line[5:].split("=", 1) for line in p.stdout.splitlines()
                 if line.startswith("STEP "))
    host = HOST_CONTENT.replace("\n", "|")
    host_id = os.readlink("/proc/self/ns/net")[5:-1]
    assert steps["exe"] == str(daemon), "ExecStart's helper did not exec the daemon"
    assert steps["host"] == host
    assert steps["other_netns"] == host, "a new namespace starts from the template"
    assert steps["host_after_write"] == "nameserver 198.51.100.7|"
    assert "Transport endpoint is not connected" in steps["crash_stat"]
    assert steps["restarted_host"] == "nameserver 198.51.100.7|", \
        "after the crash and restart the host keeps what it wrote"
    assert steps["restarted_netns"] == "nameserver 198.51.100.7|", \
        "the restart took a new snapshot of the host's file as the template"
    assert steps["mounts"] == "1", "exactly one mount after the restart"
    assert steps["after_term"] == "unmounted"
    assert steps["underlying"] == "nameserver 198.51.100.7|", \
        "the host's writes went to its own file, the one under the mount"
    assert steps["after_crash_stop"] == "unmounted"
    files = steps["files"].split()
    assert "template.conf" in files
    assert f"{host_id}.conf" not in files, "a backing file was created for the host"
    assert target.read_text() == "nameserver 198.51.100.7\n"
    assert log.count("resolvconffs-helper: template: ") == 3, log
