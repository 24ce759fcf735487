"""The rootless-container case (README "Rootless: the daemon in a user namespace of your own"): the
daemon run by an ordinary user in a user and mount namespace of its own serves the processes in
the network namespaces that user made there, each its own file; a caller it cannot resolve gets an
error, never another namespace's file.

The README's example is run exactly as written: as uid 65534 (nobody) through setpriv when the
suite runs as real root, and directly when it runs as an ordinary user's root of its own user
namespace (the example's `unshare --user --map-root-user` then nests a user namespace in it, which
is the same thing one level down). Either way the example's user is not the suite's: the suite
stands outside the example's user namespace, which is what the unresolvable-caller checks use.
"""
import errno
import os
import pathlib
import re
import select
import shlex
import signal
import subprocess

import pytest

import fuseutil
from fuseutil import (TIMEOUT, find_descendant, host_netns_id, is_real_root, new_workdir,
                      pid_alive, run, wait_for)

README = pathlib.Path(__file__).resolve().parent.parent.parent / "README.md"
MARKER = "<!-- tests/fuse/test_rootless.py runs the next block exactly as written. -->"
NOBODY = 65534


def readme_example():
    """The indented code block that follows MARKER in README.md, unindented."""
    lines = README.read_text().splitlines()
    i = lines.index(MARKER) + 1
    while not lines[i].strip():
        i += 1
    block = []
    while i < len(lines) and (lines[i].startswith("    ") or not lines[i].strip()):
        block.append(lines[i][4:])
        i += 1
    text = "\n".join(block).strip("\n") + "\n"
    assert text.startswith("unshare --user --map-root-user --mount"), text[:200]
    return text


def as_user(bindir, tmpdir):
    """(argv prefix, env) that runs a command as the example's ordinary user: uid 65534 when we
    are real root, ourselves otherwise; resolvconffs on its PATH, TMPDIR a directory of its own."""
    env = dict(os.environ, PATH=f"{bindir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
               TMPDIR=tmpdir)
    if is_real_root():
        os.chown(tmpdir, NOBODY, NOBODY)
        env.update(HOME="/", USER="nobody", LOGNAME="nobody")
        return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"], env
    return [], env


@pytest.fixture
def user_can_use_fuse(rcfs_bin):
    """As real root, the example's user is nobody: it needs a /dev/fuse it may open."""
    if is_real_root():
        r = run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                 "sh", "-c", "exec 3<>/dev/fuse"])
        if r.returncode != 0:
            pytest.skip(f"/dev/fuse is not usable by uid {NOBODY}: the rootless example needs "
                        "it (chmod 0666 /dev/fuse, as distributions ship it)")
    return os.path.dirname(rcfs_bin)


def test_readme_example_by_the_letter(user_can_use_fuse):
    bindir = user_can_use_fuse
    tmpdir = new_workdir("rootless-example")
    prefix, env = as_user(bindir, tmpdir)
    script = readme_example()
    print(f"reproducer: {shlex.join([*prefix, 'sh', '-c', '<README block>'])} (TMPDIR={tmpdir}, "
          f"PATH={bindir}:...)")
    r = subprocess.run([*prefix, "sh", "-c", script], cwd=tmpdir, env=env,
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=6 * TIMEOUT)
    out, err = r.stdout.decode(), r.stderr.decode()
    assert r.returncode == 0, f"exit {r.returncode}\nstdout:\n{out}\nstderr:\n{err}"

    lines = out.splitlines()
    assert len(lines) == 6, lines
    red = re.fullmatch(r"red net:\[(\d+)\]: nameserver 10\.0\.0\.1", lines[0])
    blue = re.fullmatch(r"blue net:\[(\d+)\]: nameserver 10\.0\.0\.2", lines[1])
    mine = re.fullmatch(r"mine net:\[(\d+)\]: the host's resolv\.conf, copied from the template",
                        lines[2])
    assert red and blue and mine, lines
    ids = [int(red.group(1)), int(blue.group(1)), int(mine.group(1))]
    # The user namespace's shell is in the host's network namespace; red and blue are new ones.
    assert ids[2] == host_netns_id()
    assert len(set(ids)) == 3, ids
    assert lines[3:] == sorted(f"{i}.conf" for i in ids), lines

    err_lines = err.splitlines()
    assert len(err_lines) == 1, err_lines
    assert re.fullmatch(r"resolvconffs: serving /etc/resolv\.conf from \S+/backing/<net ns id>"
                        r"\.conf; default file: \S+/host\.conf; procfs: /proc; .*", err_lines[0])
    # It cleaned up after itself: its directory is gone, nothing stayed mounted here.
    assert os.listdir(tmpdir) == []
    assert not fuseutil.any_mount_under("/etc/resolv.conf")


# The daemon the README's way, kept running until its stdin closes; $1 is a directory of the
# user's. It prints "ready" once the mount is there and a process of the user namespace has
# been served.
SERVE = r'''
set -eu
resolvconffs -d "$1/host.conf" "$1/backing" /etc/resolv.conf 2>"$1/daemon.err" &
daemon=$!
until grep -q ' /etc/resolv.conf .* fuse.resolvconffs ' /proc/self/mountinfo; do sleep 0.05; done
cat /etc/resolv.conf >"$1/inside.out"
echo ready
read -r _ || true
kill "$daemon"
wait "$daemon"
'''


class Rootless:
    """The daemon over /etc/resolv.conf in a new user and mount namespace (plus `extra`
    namespaces) of the example's user."""

    def __init__(self, bindir, rcfs_bin, extra=()):
        self.dir = new_workdir("rootless")
        self.prefix, self.env = as_user(bindir, self.dir)
        with open("/etc/resolv.conf", "rb") as f:
            self.host_resolv = f.read()
        with open(os.path.join(self.dir, "host.conf"), "wb") as f:
            f.write(self.host_resolv)
        os.mkdir(os.path.join(self.dir, "backing"), 0o755)
        if self.prefix:
            for p in ("host.conf", "backing"):
                os.chown(os.path.join(self.dir, p), NOBODY, NOBODY)
        cmd = [*self.prefix, "unshare", "--user", "--map-root-user", "--mount",
               "--propagation", "private", *extra, "sh", "-c", SERVE, "sh", self.dir]
        print(f"reproducer: {shlex.join(cmd)}")
        self.proc = subprocess.Popen(cmd, env=self.env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        ready, _, _ = select.select([self.proc.stdout], [], [], 3 * TIMEOUT)
        line = self.proc.stdout.readline() if ready else b""
        if line != b"ready\n":
            self.stop()
            raise AssertionError(f"the rootless daemon did not start: {line!r}\n"
                                 f"{self.proc.stderr.read().decode()}\n{self.daemon_err()}")
        self.pid = wait_for(lambda: find_descendant(self.proc.pid, rcfs_bin), TIMEOUT,
                            "the daemon's pid")
        with open(os.path.join(self.dir, "inside.out"), "rb") as f:
            assert f.read() == self.host_resolv, "the user namespace's shell was not served"

    def daemon_err(self):
        try:
            with open(os.path.join(self.dir, "daemon.err")) as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        """Close its stdin: the script stops the daemon (SIGTERM) and waits for it."""
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=3 * TIMEOUT)
            except subprocess.TimeoutExpired:
                for pid in (getattr(self, "pid", None), self.proc.pid):
                    if pid and pid_alive(pid):
                        os.kill(pid, signal.SIGKILL)
                self.proc.wait(timeout=TIMEOUT)
        return self.proc.returncode


def test_a_process_outside_the_user_namespace_gets_eacces(user_can_use_fuse, rcfs_bin):
    """This suite is outside the example user's namespace (real root, or root of the namespace
    above it): through /proc/<daemon pid>/root it reaches the mount, and the kernel refuses
    every operation with EACCES before the daemon sees it."""
    d = Rootless(user_can_use_fuse, rcfs_bin)
    try:
        path = f"/proc/{d.pid}/root/etc/resolv.conf"
        assert any(e["mountpoint"] == "/etc/resolv.conf" and e["fstype"] == fuseutil.FSTYPE
                   for e in fuseutil.mountinfo(d.pid)), "the daemon's mount is not there"
        for attempt in (lambda: os.stat(path), lambda: open(path, "rb").read(),
                        lambda: open(path, "ab").write(b"x\n")):
            with pytest.raises(OSError) as e:
                attempt()
            assert e.value.errno == errno.EACCES, e.value
        r = run(["cat", path])
        assert r.returncode != 0 and b"Permission denied" in r.stderr, r.stderr
        backing = os.path.join(d.dir, "backing")
        assert os.listdir(backing) == [f"{host_netns_id()}.conf"], os.listdir(backing)
    finally:
        status = d.stop()
    assert status == 0, f"exit {status}: {d.proc.stderr.read().decode()}\n{d.daemon_err()}"
    lines = d.daemon_err().splitlines()
    assert len(lines) == 1 and lines[0].startswith("resolvconffs: serving "), lines


def test_a_caller_outside_the_daemons_pid_namespace_gets_esrch(user_can_use_fuse, rcfs_bin):
    """The daemon in a pid namespace of its own too (`--pid --fork --mount-proc`): a process of
    the same user namespace and mount namespace but outside that pid namespace has pid 0 for
    the daemon and gets ESRCH; the daemon goes on serving the others."""
    d = Rootless(user_can_use_fuse, rcfs_bin, extra=["--pid", "--fork", "--mount-proc"])
    try:
        outside = [*d.prefix, "nsenter", "--preserve-credentials", "--user", "--mount",
                   f"--target={d.pid}"]
        r = run([*outside, "cat", "/etc/resolv.conf"], env=d.env)
        assert r.returncode != 0 and b"No such process" in r.stderr, r
        r = run([*outside, "stat", "-c", "%s", "/etc/resolv.conf"], env=d.env)
        assert r.returncode != 0 and b"No such process" in r.stderr, r
        # Inside the pid namespace too, the same file is served.
        inside = [*outside, "--pid"]
        assert run([*inside, "cat", "/etc/resolv.conf"], env=d.env,
                   check=True).stdout == d.host_resolv
        backing = os.path.join(d.dir, "backing")
        assert os.listdir(backing) == [f"{host_netns_id()}.conf"], os.listdir(backing)
    finally:
        status = d.stop()
    assert status == 0, f"exit {status}: {d.proc.stderr.read().decode()}\n{d.daemon_err()}"
