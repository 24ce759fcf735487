"""systemd/resolvconffs-helper, the unit's start-pre / wait-mounted / stop-post steps.

Its paths come from the environment, so every test points it at a temporary file standing in for
/etc/resolv.conf, a temporary backing directory, a fake procfs (self/ns/net) and a fake mount
table with fake fusermount3/umount commands that log their calls and remove the mount from the
table. The last test runs the whole unit lifecycle for real (daemon, crash, restart, stop) in a
private mount namespace, over a temporary file. The machine's /etc/resolv.conf is never used.
"""
import os
import shutil
import stat
import subprocess
import sys
import textwrap
import time

import pytest

from pkgtest import ROOT, clean_env

HELPER = ROOT / "systemd/resolvconffs-helper"
HOST_ID = "4026531999"
HOST_CONTENT = "# host\nnameserver 192.0.2.1\nsearch example.org\n"

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


def mountinfo_line(n, path, fstype, source="resolvconffs"):
    esc = path.replace("\\", "\\134").replace(" ", "\\040").replace("\t", "\\011")
    return (f"{n} 1 0:{n} / {esc} rw,nosuid,nodev,relatime shared:{n} - {fstype} {source} "
            "rw,user_id=0,group_id=0,default_permissions,allow_other\n")


class Env:
    """A temporary stand-in for the machine: target file, backing dir, procfs, mount table."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.target = tmp / "etc" / "resolv.conf"
        self.target.parent.mkdir()
        self.target.write_text(HOST_CONTENT)
        self.backing = tmp / "run" / "resolvconffs"
        self.proc = tmp / "proc"
        (self.proc / "self" / "ns").mkdir(parents=True)
        self.set_ns_link(f"net:[{HOST_ID}]")
        self.mountinfo = tmp / "mountinfo"
        self.mountinfo.write_text(mountinfo_line(20, "/", "ext4", "/dev/vda1") +
                                  mountinfo_line(21, "/proc", "proc", "proc"))
        self.calls = tmp / "calls"
        self.calls.write_text("")
        bindir = tmp / "bin"
        bindir.mkdir()
        for name, var in (("fusermount3", "FUSERMOUNT"), ("umount", "UMOUNT")):
            p = bindir / name
            p.write_text(FAKE_UNMOUNT.format(python=sys.executable, name=name, var=var))
            p.chmod(0o755)
        self.vars = dict(RCFS_TARGET=str(self.target), RCFS_BACKING_DIR=str(self.backing),
                         RCFS_PROCFS=str(self.proc), RCFS_MOUNTINFO=str(self.mountinfo),
                         RCFS_FUSERMOUNT=str(bindir / "fusermount3"),
                         RCFS_UMOUNT=str(bindir / "umount"), RCFS_TEST_CALLS=str(self.calls))

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
                           stderr=subprocess.PIPE, text=True, timeout=60)
        assert p.returncode == expect, \
            f"helper {args} exited {p.returncode}, not {expect}:\n{p.stdout}{p.stderr}"
        return p

    def call_log(self):
        return self.calls.read_text().splitlines()

    @property
    def host_file(self):
        return self.backing / f"{HOST_ID}.conf"

    @property
    def template(self):
        return self.backing / "template.conf"


@pytest.fixture
def env(tmp_path):
    return Env(tmp_path)


def leftovers(d):
    return [p.name for p in d.iterdir() if p.name.startswith(".resolvconffs-helper.")]


def test_start_pre_preserves_the_host_content(env):
    env.helper("start-pre")
    assert env.host_file.read_text() == HOST_CONTENT
    assert env.template.read_text() == HOST_CONTENT
    for p in (env.host_file, env.template):
        assert stat.S_IMODE(p.stat().st_mode) == 0o644
    assert stat.S_IMODE(env.backing.stat().st_mode) == 0o755
    assert sorted(p.name for p in env.backing.iterdir()) == [f"{HOST_ID}.conf", "template.conf"]
    assert env.target.read_text() == HOST_CONTENT, "the target must not be modified"
    assert env.call_log() == []


def test_start_pre_keeps_files_that_exist(env):
    """After a crash or restart the host keeps what it wrote through the mount."""
    env.backing.mkdir(parents=True)
    env.host_file.write_text("nameserver 198.51.100.7\n")
    env.template.write_text("nameserver 203.0.113.9\n")
    env.helper("start-pre")
    assert env.host_file.read_text() == "nameserver 198.51.100.7\n"
    assert env.template.read_text() == "nameserver 203.0.113.9\n"
    assert leftovers(env.backing) == []


def test_start_pre_follows_a_symlinked_target(env, tmp_path):
    stub = tmp_path / "run" / "systemd" / "resolve" / "stub-resolv.conf"
    stub.parent.mkdir(parents=True)
    stub.write_text("nameserver 127.0.0.53\noptions edns0 trust-ad\n")
    env.target.unlink()
    env.target.symlink_to(os.path.relpath(stub, env.target.parent))
    # mount(2) follows the link, so a crashed daemon's mount is listed on the stub file.
    env.add_mount(stub)
    env.helper("start-pre")
    assert env.call_log() == [f"fusermount3 -u {stub}"]
    assert env.mounts_on(stub) == []
    assert env.host_file.read_text() == stub.read_text()
    assert env.target.is_symlink(), "the target must not be modified"


def test_start_pre_removes_a_stale_mount_first(env):
    env.add_mount(env.target)
    env.add_mount(str(env.target) + ".bak")         # another path: not ours to touch
    env.add_mount(env.tmp / "etc", "fuse.resolvconffs")
    env.helper("start-pre")
    assert env.call_log() == [f"fusermount3 -u {env.target}"]
    assert env.mounts_on(env.target) == []
    assert env.mounts_on(str(env.target) + ".bak") == ["fuse.resolvconffs"]
    assert env.host_file.read_text() == HOST_CONTENT


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
    assert not env.backing.exists(), "nothing may be copied through a stale mount"


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
    assert e.host_file.read_text() == HOST_CONTENT


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
    assert not any(p.name != "template.conf" for p in env.backing.iterdir())


def test_host_id_of_the_real_procfs(env):
    env.vars.pop("RCFS_PROCFS")
    out = env.helper("host-id").stdout.strip()
    assert f"net:[{out}]" == os.readlink("/proc/self/ns/net")


def test_missing_target_fails_and_creates_nothing(env):
    env.target.unlink()
    p = env.helper("start-pre", expect=1)
    assert "not a regular file" in p.stderr
    assert not env.backing.exists()


def test_empty_extension(env):
    env.helper("start-pre", RCFS_EXTENSION="")
    assert (env.backing / HOST_ID).read_text() == HOST_CONTENT


def test_extension_with_a_slash_is_refused(env):
    env.helper("start-pre", expect=1, RCFS_EXTENSION="x/y")


def test_template_source_and_path(env, tmp_path):
    upstream = tmp_path / "upstream.conf"
    upstream.write_text("nameserver 198.51.100.53\n")
    tmpl = tmp_path / "tmpl" / "default.conf"
    tmpl.parent.mkdir()
    env.helper("start-pre", RCFS_TEMPLATE_SOURCE=str(upstream), RCFS_TEMPLATE=str(tmpl))
    assert tmpl.read_text() == "nameserver 198.51.100.53\n"
    assert env.host_file.read_text() == HOST_CONTENT
    assert not env.template.exists()


def test_host_link(env, tmp_path):
    nm = tmp_path / "NetworkManager" / "resolv.conf"
    nm.parent.mkdir()
    nm.write_text("nameserver 192.0.2.99\n")
    env.helper("start-pre", RCFS_HOST_LINK=str(nm))
    assert env.host_file.is_symlink() and os.readlink(env.host_file) == str(nm)
    assert env.template.read_text() == HOST_CONTENT


def test_host_link_to_the_target_itself_is_refused(env, tmp_path):
    alias = tmp_path / "alias"
    alias.symlink_to(env.target)
    p = env.helper("start-pre", expect=1, RCFS_HOST_LINK=str(alias))
    assert "mounted file itself" in p.stderr
    assert not env.host_file.exists() and not env.host_file.is_symlink()


def test_usage(env):
    assert "usage" in env.helper(expect=2).stderr
    env.helper("frobnicate", expect=2)


# --- the unit's lifecycle, for real ----------------------------------------------------------

LIFECYCLE = r"""
set -euo pipefail
step() { echo "STEP $*"; }
mounted() { grep -q " $RCFS_TARGET .* - fuse.resolvconffs " /proc/self/mountinfo; }
start_daemon() {
    "$HELPER" start-pre
    "$DAEMON" -p conf -d "$RCFS_TEMPLATE" "$RCFS_BACKING_DIR" "$RCFS_TARGET" 2>>"$WORK/daemon.log" &
    pid=$!
    "$HELPER" wait-mounted
}

start_daemon
step host="$(cat "$RCFS_TARGET" | tr '\n' '|')"
step other_netns="$(unshare --net cat "$RCFS_TARGET" | tr '\n' '|')"
echo 'nameserver 198.51.100.7' > "$RCFS_TARGET"          # the host writes through the mount

kill -KILL "$pid"; wait "$pid" || true                    # crash
if stat "$RCFS_TARGET" 2>"$WORK/stat.err"; then step crash_stat=ok
else step crash_stat="$(cat "$WORK/stat.err")"; fi

start_daemon                                              # Restart=on-failure: start-pre first
step restarted_host="$(cat "$RCFS_TARGET" | tr '\n' '|')"
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


@pytest.mark.needs_real_root("the unit's helper mounts over a root-owned file as root does")
def test_unit_lifecycle_in_a_private_mount_namespace(tmp_path, pkg_build):
    if os.geteuid() != 0:
        pytest.skip("needs root: FUSE mounts in a private mount namespace")
    if not os.path.exists("/dev/fuse") or shutil.which("fusermount3") is None:
        pytest.skip("needs /dev/fuse and fusermount3 (apt-get install fuse3)")
    target = tmp_path / "etc" / "resolv.conf"
    target.parent.mkdir()
    target.write_text(HOST_CONTENT)
    backing = tmp_path / "run" / "resolvconffs"
    script = tmp_path / "lifecycle.sh"
    script.write_text(LIFECYCLE)
    env = clean_env(RCFS_TARGET=str(target), RCFS_BACKING_DIR=str(backing),
                    RCFS_TEMPLATE=str(backing / "template.conf"), HELPER=str(HELPER),
                    DAEMON=str(pkg_build / "resolvconffs"), WORK=str(tmp_path))
    p = subprocess.run(["unshare", "--mount", "--propagation", "private", "bash", str(script)],
                       env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=120)
    log = (tmp_path / "daemon.log").read_text() if (tmp_path / "daemon.log").exists() else ""
    assert p.returncode == 0, f"lifecycle failed:\n{p.stdout}\n{p.stderr}\ndaemon:\n{log}"
    steps = dict(line[5:].split("=", 1) for line in p.stdout.splitlines()
                 if line.startswith("STEP "))
    host = HOST_CONTENT.replace("\n", "|")
    host_id = os.readlink("/proc/self/ns/net")[5:-1]
    assert steps["host"] == host
    assert steps["other_netns"] == host, "a new namespace starts from the template"
    assert "Transport endpoint is not connected" in steps["crash_stat"]
    assert steps["restarted_host"] == "nameserver 198.51.100.7|", \
        "after the crash and restart the host keeps what it wrote"
    assert steps["mounts"] == "1", "exactly one mount after the restart"
    assert steps["after_term"] == "unmounted"
    assert steps["underlying"] == host, "the file underneath reappears unchanged"
    assert steps["after_crash_stop"] == "unmounted"
    files = steps["files"].split()
    assert f"{host_id}.conf" in files and "template.conf" in files
    assert target.read_text() == HOST_CONTENT
