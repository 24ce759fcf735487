"""Helpers shared by the tests of the newer daemon options (test_names, test_keys, test_filter,
test_ctl, test_gc, test_recycle, test_access_modes, test_takeover).

- Sleeper: a process left in new namespaces of the given kinds (`unshare --net sleep`, with
  --fork for the pid and time kinds, whose new namespace only the children enter); it is ended by
  pid, never by name.
- named_netns: a real `ip netns add` name (only for tests marked needs_real_root); deleted at
  teardown even when the test fails.
- refused(): run the daemon expecting a startup refusal: exit status non-zero, one stderr line,
  nothing mounted, the tree unchanged; a daemon that starts instead is stopped by pid and its
  mount removed.
"""
import contextlib
import os
import re
import secrets
import signal
import subprocess
import time

import pytest

import fuseutil
from fuseutil import TIMEOUT, any_mount_under, run, tree, wait_for

NS_KINDS = ("net", "mnt", "uts", "ipc", "user", "pid", "cgroup", "time")
# Kinds whose new namespace only the children of the unsharing process enter.
FORK_KINDS = ("pid", "time")
# unshare(1) and nsenter(1) spell the mount namespace --mount.
OPTION = {k: "mount" if k == "mnt" else k for k in NS_KINDS}


def ns_id(pid, kind="net"):
    """The N of <kind>:[N] in /proc/<pid>/ns/<kind>."""
    link = os.readlink(f"/proc/{pid}/ns/{kind}")
    return int(re.fullmatch(rf"{kind}:\[(\d+)\]", link).group(1))


def own_ns_id(kind="net"):
    return ns_id("self", kind)


# NS_GET_ID (linux/nsfs.h, 6.18): _IOR(0xb7, 13, __u64)
NS_GET_ID = (2 << 30) | (8 << 16) | (0xb7 << 8) | 13


def unique_ns_id(pid, kind="net"):
    """The namespace's never-reused 64-bit id (NS_GET_ID), as the daemon records it."""
    import fcntl
    import struct
    fd = os.open(f"/proc/{pid}/ns/{kind}", os.O_RDONLY)
    try:
        buf = fcntl.ioctl(fd, NS_GET_ID, b"\0" * 8)
    finally:
        os.close(fd)
    return struct.unpack("Q", buf)[0]


class Sleeper:
    """`unshare --KIND... sleep` whose sleeping process is in new namespaces of those kinds."""

    def __init__(self, *kinds, extra=()):
        self.kinds = kinds or ("net",)
        fork = any(k in FORK_KINDS for k in self.kinds)
        argv = ["unshare", *(f"--{OPTION[k]}" for k in self.kinds), *(["--fork"] if fork else []),
                *extra, "sleep", "600"]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL)
        self.pid = None
        try:
            self.pid = wait_for(lambda: self._sleeping(fork), TIMEOUT,
                                f"{' '.join(argv)} to enter its namespaces")
        except BaseException:
            self.kill()
            raise

    def _sleeping(self, fork):
        if self.proc.poll() is not None:
            raise AssertionError(f"unshare exited {self.proc.returncode}")
        pid = self.proc.pid
        if fork:
            kids = fuseutil.children(pid)
            if not kids:
                return None
            pid = kids[0]
        try:
            if os.readlink(f"/proc/{pid}/exe").endswith("/sleep") and all(
                    ns_id(pid, k) != own_ns_id(k) for k in self.kinds):
                return pid
        except OSError:
            pass
        return None

    def id(self, kind=None):
        return ns_id(self.pid, kind or self.kinds[0])

    def cmd(self, *cmd, kinds=None):
        """Run cmd in the sleeper's namespaces (nsenter, which execs: its pid is the command's)."""
        opts = [f"--{OPTION[k]}=/proc/{self.pid}/ns/{k}"
                for k in (kinds or self.kinds)]
        return ["nsenter", *opts, *map(str, cmd)]

    def kill(self):
        for pid in {self.pid, self.proc.pid} - {None}:
            if fuseutil.pid_alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=TIMEOUT)

    def __repr__(self):
        return f"Sleeper({','.join(self.kinds)}, pid={self.pid})"


@pytest.fixture
def sleeper():
    """sleeper(*kinds) starts a Sleeper; all are killed (by pid) at teardown."""
    made = []

    def make(*kinds, **kw):
        s = Sleeper(*kinds, **kw)
        made.append(s)
        return s

    yield make
    for s in made:
        s.kill()


class NamedNetns:
    """A namespace named with `ip netns add` (needs real root: /run/netns)."""

    def __init__(self, tag="rcfs-test"):
        self.name = f"{tag}-{secrets.token_hex(5)}"
        self.path = f"/run/netns/{self.name}"
        run(["ip", "netns", "add", self.name], check=True)
        self.id = os.stat(self.path).st_ino

    def cmd(self, *cmd):
        return ["nsenter", f"--net={self.path}", *map(str, cmd)]

    def run(self, *cmd, **kw):
        return run(self.cmd(*cmd), **kw)

    def delete(self):
        if os.path.exists(self.path):
            run(["ip", "netns", "delete", self.name])

    def __repr__(self):
        return f"NamedNetns({self.name}, id={self.id})"


@pytest.fixture
def named_netns():
    """named_netns() makes an `ip netns add` namespace; every one is deleted at teardown."""
    made = []

    def make(tag="rcfs-test"):
        ns = NamedNetns(tag)
        made.append(ns)
        return ns

    yield make
    for ns in made:
        ns.delete()


def refused(binary, argv, cwd, repro_binary=None, wrapper=()):
    """Run the daemon with argv in cwd expecting it to refuse to start. Returns its single stderr
    line; fails the test (after stopping it by pid and unmounting) if it started, and when it
    exited 0, printed more or less than one line, or left anything mounted or created."""
    before = tree(cwd)
    repro = f"cd {cwd} && {subprocess.list2cmdline([*wrapper, repro_binary or binary, *argv])}"
    proc = subprocess.Popen([*wrapper, binary, *argv], cwd=cwd, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            out, err = proc.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            out, err = proc.communicate(timeout=TIMEOUT)
        log = []
        for e in any_mount_under(cwd):
            fuseutil.unmount_all(e["mountpoint"], log)
        pytest.fail(f"the daemon started instead of refusing; stderr: {err!r}\nreproducer: {repro}")
    text = err.decode(errors="replace")
    lines = text.splitlines()
    assert proc.returncode != 0, f"exit status 0; stderr: {text!r}\nreproducer: {repro}"
    assert len(lines) == 1, f"expected exactly one stderr line, got {lines!r}\nreproducer: {repro}"
    assert out == b"", f"unexpected stdout {out!r}\nreproducer: {repro}"
    assert not any_mount_under(cwd), f"something is mounted under {cwd}\nreproducer: {repro}"
    assert tree(cwd) == before, f"the directory tree changed\nreproducer: {repro}"
    return lines[0]


def startup_layout(template=b"nameserver 192.0.2.1\n"):
    """A workdir with a mountpoint file `mnt`, an empty `backing` directory and a `template`."""
    d = fuseutil.new_workdir("refuse")
    with open(os.path.join(d, "mnt"), "wb") as f:
        f.write(b"plain\n")
    os.mkdir(os.path.join(d, "backing"))
    with open(os.path.join(d, "template"), "wb") as f:
        f.write(template)
    return d


def wait_stderr(daemon, pattern, count=1, timeout=TIMEOUT):
    """Wait until count lines of the daemon's stderr match pattern; return all matches."""
    rx = re.compile(pattern)

    def found():
        hits = [m for m in map(rx.fullmatch, daemon.stderr_lines()) if m]
        return hits if len(hits) >= count else None
    return wait_for(found, timeout, f"{count} stderr line(s) matching {pattern!r}; stderr so far:\n"
                    f"{daemon.stderr_text()}")


def poll_until(pred, timeout=TIMEOUT, interval=0.01):
    """Like wait_for, but returns the last value instead of failing."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)

def held_by_a_process(ns_id):
    """Whether any process's thread is in network namespace ns_id (ids are recycled: another
    process on the machine may have been given it meanwhile)."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            for tid in os.listdir(f"/proc/{pid}/task"):
                if os.readlink(f"/proc/{pid}/task/{tid}/ns/net") == f"net:[{ns_id}]":
                    return True
        except OSError:
            continue
    return False
