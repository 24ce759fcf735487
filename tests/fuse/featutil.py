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
import textwrap
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
    """A namespace named with `ip netns add` (needs_real_root: a /run/netns root may write, as
    real root or in tests/fuse/userns.sh's namespace)."""

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


def refused(binary, argv, cwd, repro_binary=None, wrapper=(), status=None, watch=()):
    """Run the daemon with argv in cwd expecting it to refuse to start. Returns its single stderr
    line; fails the test (after stopping it by pid and unmounting) if it started, and when it
    exited 0 (or, given status, with another status), printed more or less than one line, or left
    anything mounted or created under cwd or any path in watch."""
    trees = {p: tree(p) for p in (cwd, *watch)}
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
    assert status is None or proc.returncode == status, (
        f"exit status {proc.returncode}, expected {status}; {lines!r}\nreproducer: {repro}")
    assert len(lines) == 1, f"expected exactly one stderr line, got {lines!r}\nreproducer: {repro}"
    assert out == b"", f"unexpected stdout {out!r}\nreproducer: {repro}"
    for p in (cwd, *watch):
        assert not any_mount_under(p), f"something is mounted under {p}\nreproducer: {repro}"
        assert tree(p) == trees[p], f"{p} changed\nreproducer: {repro}"
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


# --- private mount namespaces and symlinked mountpoints -------------------------------------
# (test_symlink_mount, test_host_original, test_empty_procfs, test_takeover's symlink tests)
import shlex  # noqa: E402 (this section is appended)

CLONE_NEWNS = 0x00020000
MS_BIND, MS_REC, MS_PRIVATE = 0x1000, 0x4000, 0x40000


def _check(ret, what):
    if ret != 0:
        e = fuseutil.ctypes.get_errno()
        raise OSError(e, f"{what}: {os.strerror(e)}")


@contextlib.contextmanager
def private_mount_namespace():
    """Run the body with this (single-threaded) test process in a mount namespace of its own,
    every mount in it private: daemons and callers started meanwhile inherit it, so their mounts
    are seen by the test and by nobody outside. Afterwards the process goes back to its former
    namespace (and directory); the private one dies with the last process left in it."""
    libc = fuseutil._libc
    home = os.open("/proc/self/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
    cwd = os.getcwd()
    try:
        _check(libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
        _check(libc.mount(b"none", b"/", None, fuseutil.ctypes.c_ulong(MS_REC | MS_PRIVATE), None),
               "mount --make-rprivate /")
        yield
    finally:
        _check(libc.setns(home, CLONE_NEWNS), "setns back to the test's mount namespace")
        os.close(home)
        os.chdir(cwd)


@pytest.fixture
def private_mounts(root_env):
    """The test runs in a private mount namespace (private_mount_namespace). Request it before
    any fixture that starts daemons (`@pytest.mark.usefixtures("private_mounts")`, or as an
    autouse fixture of the module), so that those are torn down inside it."""
    with private_mount_namespace():
        yield


def bind_nofollow(src, dst):
    """Bind-mount src over dst, neither followed when it is a symlink (mount(2) on O_PATH
    descriptors' /proc/self/fd paths): a symlink can be put in place of a file."""
    fds = [os.open(p, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC) for p in (src, dst)]
    try:
        _check(fuseutil._libc.mount(f"/proc/self/fd/{fds[0]}".encode(),
                                    f"/proc/self/fd/{fds[1]}".encode(), None,
                                    fuseutil.ctypes.c_ulong(MS_BIND), None),
               f"bind {src} over {dst}")
    finally:
        for fd in fds:
            os.close(fd)


# Where each DNS manager keeps the file /etc/resolv.conf links to, and how the link is written:
# (file under the tree, link text relative to etc/ or None for an absolute link).
HOST_LAYOUTS = {
    "systemd-resolved": ("run/systemd/resolve/stub-resolv.conf",
                         "../run/systemd/resolve/stub-resolv.conf"),
    "resolvconf": ("run/resolvconf/resolv.conf", None),
    "NetworkManager": ("run/NetworkManager/resolv.conf", None),
}


class HostTree:
    """A temporary tree laid out like a host whose /etc/resolv.conf is a DNS manager's symlink:
    ROOT/etc/resolv.conf -> the manager's file (HOST_LAYOUTS). (A daemon keeps its backing
    directory in a workdir of its own, which its teardown removes.) update() replaces the
    manager's file the way the managers do: a new file written in the same directory, renamed
    over the old one."""

    def __init__(self, layout="systemd-resolved", content=b"nameserver 127.0.0.53\n", root=None):
        self.layout = layout
        self.root = root or fuseutil.new_workdir(f"host-{layout}")
        rel, text = HOST_LAYOUTS[layout]
        self.target = os.path.join(self.root, rel)
        self.link = os.path.join(self.root, "etc", "resolv.conf")
        self.text = text or self.target
        for d in (os.path.dirname(self.target), os.path.dirname(self.link)):
            os.makedirs(d, mode=0o755, exist_ok=True)
        if content is not None:
            self.update(content)
        os.symlink(self.text, self.link)

    def update(self, content, tmpname=".tmp"):
        """Write content to a temporary file beside the manager's file and rename it over it;
        returns the new file's os.stat."""
        tmp = os.path.join(os.path.dirname(self.target), tmpname)
        with open(tmp, "wb") as f:
            f.write(content)
        os.chmod(tmp, 0o644)
        os.replace(tmp, self.target)
        return os.stat(self.target)

    def read_target(self):
        with open(self.target, "rb") as f:
            return f.read()


class MountedOn(fuseutil.Daemon):
    """A daemon over a mountpoint of the test's choosing (a symlink, or a file in a HostTree),
    rather than the fresh `mnt` file Daemon makes (and writes into). Reproducers run it in a
    private mount namespace, as the tests do. arg, when given, is what the command line names
    instead of the (absolute) mountpoint, e.g. a path relative to the workdir it runs in."""

    def __init__(self, binary, mountpoint, arg=None, **kw):
        super().__init__(binary, **kw)
        self.mnt = mountpoint
        self.args = [*self.args[:-1], arg or mountpoint]

    def reproducer(self):
        return ("unshare -m --propagation private sh -c "
                + shlex.quote(f"cd {shlex.quote(self.workdir)} && "
                              f"{shlex.join(self.cmdline(self.repro_binary))}"))


@pytest.fixture
def mount_on(request, rcfs_bin, repro_bin):
    """mount_on(mountpoint, wait=True, **kw) starts a MountedOn daemon (fuseutil.Daemon's
    keywords); each is torn down at
    the end of the test, and its problems fail the test."""
    started = []

    def start(mountpoint, wait=True, **kw):
        d = MountedOn(rcfs_bin, mountpoint, repro_binary=repro_bin, **kw)
        started.append(d)
        d.start()
        if wait:
            d.wait_mounted()
        return d

    yield start
    rep = getattr(request.node, "rep_call", None)
    problems = []
    for d in reversed(started):
        problems += d.teardown(keep=rep is not None and rep.failed)
    if problems:
        pytest.fail("\n".join(problems))


def serving_line(daemon):
    """The daemon's startup line. It is logged once the mount is in place, so it may come a
    little after the mount shows in mountinfo: wait for it."""
    wait_stderr(daemon, r"resolvconffs: serving .*")
    lines = [ln for ln in daemon.stderr_lines() if ln.startswith("resolvconffs: serving ")]
    assert len(lines) == 1, daemon.stderr_text()
    return lines[0]


def refused_with(binary, argv, cwd, status=2, repro_binary=None, wrapper=()):
    """As refused(), and the exit status must be status. Returns the one stderr line."""
    return refused(binary, argv, cwd, repro_binary, wrapper, status=status)


def umount_nofollow(path):
    """umount2(path, UMOUNT_NOFOLLOW): remove the mount on a symlink itself (umount(8) would
    follow it once nothing covers it; a bind_nofollow of a symlink, say)."""
    _check(fuseutil._libc.umount2(os.fsencode(path), 8), f"umount2({path}, UMOUNT_NOFOLLOW)")


class InNamespaceThread:
    """A python process whose second thread has entered the network namespace at path (setns),
    and alone holds it there (no descriptor is kept): .pid is the process (in our namespace),
    .tid the thread (in the other), .netns the thread's ns link. Closing it (or leaving the
    `with` block) ends the process."""

    SCRIPT = textwrap.dedent(r'''
        import ctypes, os, sys, threading
        libc = ctypes.CDLL(None, use_errno=True)
        def run():
            fd = os.open(sys.argv[1], os.O_RDONLY)
            if libc.setns(fd, 0x40000000) != 0:
                raise OSError(ctypes.get_errno(), "setns")
            os.close(fd)
            print(os.getpid(), threading.get_native_id(),
                  os.readlink("/proc/thread-self/ns/net"), flush=True)
            sys.stdin.read()
        t = threading.Thread(target=run)
        t.start()
        t.join()
    ''')

    def __init__(self, path):
        self.proc = subprocess.Popen([fuseutil.PYTHON, "-c", self.SCRIPT, path], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE)
        line = self.proc.stdout.readline().decode().split()
        if len(line) != 3:
            self.close()
            raise AssertionError(f"the thread did not enter {path}")
        self.pid, self.tid, self.netns = int(line[0]), int(line[1]), line[2]

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=TIMEOUT)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
