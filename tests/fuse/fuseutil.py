"""Helpers for driving the real resolvconffs FUSE daemon from pytest, as root: real root, or an
ordinary user's root of a user namespace it owns, in private mount and network namespaces
(tests/fuse/userns.sh, which `make check` uses when run by an ordinary user; with a subordinate id
range other uids and gids exist there too).

In the manner of libfuse's former test/util.py:

- Daemon starts build/resolvconffs over a temporary file (mountpoint, backing directory and an
  optional template in a fresh directory), waits for its mountinfo entry with a deadline, and on
  teardown ALWAYS sends SIGTERM to the daemon by its pid, waits, and if the mount is still there
  runs `fusermount3 -u`, then `umount -l`. The teardown fails the test when the daemon hung, died
  of a signal (or did not exit with expect_exit), left its mount behind, or wrote an unexpected
  line on stderr; every failure message carries a reproducer command line.
- Netns is a network namespace named rcfs-test-<random>, held by a bind mount at Netns.path: as
  real root `ip netns add` (the path is /run/netns/NAME); as root of a user namespace, where
  /run/netns belongs to the real root, `unshare --net=PATH true` on a file of this session (the
  bind mount lives in the suite's private mount namespace and dies with it). Commands are run in it
  with `nsenter --net=PATH` (not `ip netns exec`, which also changes mounts); setns(2) takes PATH.
- Caller is a long-lived python process (optionally started through nsenter/setpriv) that performs
  one file operation per command and answers with the result or the errno, so a test can
  interleave requests of several callers precisely and reuse open file descriptors.

Every wait polls with a deadline; nothing sleeps a fixed time to synchronise. Only processes
started here are signalled, always by pid.
"""
import base64
import contextlib
import ctypes
import json
import os
import re
import secrets
import select
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from testenv import is_real_root  # noqa: F401 (re-exported to the tests)

FSTYPE = "fuse.resolvconffs"
FSNAME = "resolvconffs"    # the mount source in mountinfo
PYTHON = sys.executable or "/usr/bin/python3"

# Deadlines (seconds). RCFS_FUSE_TIMEOUT scales the ordinary ones for slow machines.
TIMEOUT = float(os.environ.get("RCFS_FUSE_TIMEOUT", "10"))
VALGRIND_TIMEOUT = max(60.0, 6 * TIMEOUT)

PR_SET_CHILD_SUBREAPER = 36

# Lines the daemon may print on stderr in a healthy run: the startup line, per-request trace lines
# (-v / --log-level debug) and the request counts printed at exit with -v.
DEFAULT_STDERR_OK = (
    r"resolvconffs: serving .*",
    r"resolvconffs: (getattr|setattr|open|read|write|flush|fsync|release|access) "
    r"pid=-?\d+ uid=\d+: .*",
    r"resolvconffs: requests:( \w+=\d+)+",
    r"resolvconffs: .* was taken over by another mount: leaving it alone",
)

# The exact reason every FUSE test skips with when /dev/fuse cannot be opened.
DEV_FUSE_UNUSABLE = "/dev/fuse is not usable by this user"


def dev_fuse_usable():
    """Whether this process may open /dev/fuse for reading and writing (what mounting needs)."""
    try:
        os.close(os.open("/dev/fuse", os.O_RDWR | os.O_CLOEXEC))
        return True
    except OSError:
        return False


# Set when a failed test's tree was kept: the session then leaves base_dir() in place.
KEPT = False

# Where every temporary tree of this suite lives: one directory per session under /tmp, mode
# 0755 (unlike pytest's tmp_path) so that an unprivileged caller can reach a mountpoint in it.
_BASE = None


def base_dir():
    global _BASE
    if _BASE is None:
        _BASE = tempfile.mkdtemp(prefix="rcfs-fuse-", dir="/tmp")
        os.chmod(_BASE, 0o755)
    return _BASE


def new_workdir(tag="t"):
    d = tempfile.mkdtemp(prefix=re.sub(r"[^\w.-]", "_", tag)[:40] + "-", dir=base_dir())
    os.chmod(d, 0o755)
    return d


def tree(root):
    """Every path below root with its type, size and inode: what "nothing created" is checked
    against."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            out[os.path.relpath(p, root)] = (st.st_mode, st.st_size, st.st_ino)
    return out


def wait_for(pred, timeout, what, interval=0.005):
    """Poll pred() until it returns something truthy; return that, or fail after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)
        interval = min(interval * 2, 0.1)


def run(cmd, timeout=TIMEOUT, check=False, **kw):
    """subprocess.run with captured bytes output and a deadline."""
    kw.setdefault("stdin", subprocess.DEVNULL)
    res = subprocess.run(cmd, capture_output=True, timeout=timeout, **kw)
    if check and res.returncode != 0:
        raise AssertionError(f"{shlex.join(map(str, cmd))} exited {res.returncode}: "
                             f"{res.stderr.decode(errors='replace').strip()}")
    return res


# --- mountinfo -------------------------------------------------------------------------------

def _unescape(field):
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def mountinfo(pid="self"):
    """Entries of /proc/PID/mountinfo as dicts: id, mountpoint, fstype, source, options."""
    entries = []
    with open(f"/proc/{pid}/mountinfo") as f:
        for line in f:
            left, _, right = line.rstrip("\n").partition(" - ")
            lf, rf = left.split(" "), right.split(" ")
            entries.append({"id": int(lf[0]), "mountpoint": _unescape(lf[4]), "fstype": rf[0],
                            "source": _unescape(rf[1]) if len(rf) > 1 else "",
                            "options": rf[2] if len(rf) > 2 else "", "line": line.rstrip("\n")})
    return entries


def abspath_nofollow(path):
    """Absolute path of path with its directory resolved but not its last component (a dead FUSE
    mount cannot be stat'ed)."""
    path = os.path.abspath(path)
    return os.path.join(os.path.realpath(os.path.dirname(path)), os.path.basename(path))


def rcfs_mounts(path, pid="self"):
    path = abspath_nofollow(path)
    return [e for e in mountinfo(pid) if e["mountpoint"] == path and e["fstype"] == FSTYPE]


def any_mount_under(directory, pid="self"):
    """mountinfo entries at or below directory (nothing of ours should be left there)."""
    directory = os.path.realpath(directory)
    return [e for e in mountinfo(pid)
            if e["mountpoint"] == directory or e["mountpoint"].startswith(directory + "/")]


def unmount_all(path, log, fuse=True):
    """Remove every mount stacked on path: fusermount3 -u (for FUSE mounts), then umount -l.
    Returns whether any was there."""
    had = False
    for _ in range(8):
        if not any(e["mountpoint"] == abspath_nofollow(path) for e in mountinfo()):
            return had
        had = True
        if fuse:
            r = run(["fusermount3", "-u", path])
            log.append(f"fusermount3 -u {path}: exit {r.returncode} {r.stderr.decode().strip()}")
        if any(e["mountpoint"] == abspath_nofollow(path) for e in mountinfo()):
            r = run(["umount", "-l", path])
            log.append(f"umount -l {path}: exit {r.returncode} {r.stderr.decode().strip()}")
    return had


# --- processes -------------------------------------------------------------------------------

def children(pid):
    kids = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                kids += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return kids


def exe_of(pid):
    try:
        return os.readlink(f"/proc/{pid}/exe").removesuffix(" (deleted)")
    except OSError:
        return None


def find_descendant(pid, exe):
    """The first process at or below pid whose executable is exe (breadth first), or None."""
    todo = [pid]
    while todo:
        p = todo.pop(0)
        if exe_of(p) == exe:
            return p
        todo += children(p)
    return None


def pid_alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except OSError:
        return False


class Adopted:
    """A Popen-like handle for a process that is not our child by birth but was re-parented to
    us (we are its child subreaper): poll()/wait() reap it with waitpid."""

    def __init__(self, pid):
        self.pid = pid
        self.returncode = None

    def poll(self):
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                # Not our child (the subreaper was not in place): we can only watch it go, and
                # its status is lost; report it as 0 rather than invent a failure.
                if not pid_alive(self.pid):
                    self.returncode = 0
                return self.returncode
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout=None):
        wait_for(lambda: self.poll() is not None, timeout or TIMEOUT, f"pid {self.pid} to exit")
        return self.returncode


_libc = ctypes.CDLL(None, use_errno=True)


def prctl(option, arg):
    if _libc.prctl(option, ctypes.c_ulong(arg), 0, 0, 0) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


@contextlib.contextmanager
def child_subreaper():
    """Make this process the child subreaper for the duration, so that a daemon started with
    `sh -c 'daemon &'` is re-parented to us when the shell exits and we can reap its status."""
    prctl(PR_SET_CHILD_SUBREAPER, 1)
    try:
        yield
    finally:
        prctl(PR_SET_CHILD_SUBREAPER, 0)


# --- the daemon ------------------------------------------------------------------------------

class Daemon:
    """One resolvconffs instance over a temporary file.

    Layout in workdir: `mnt` (the mountpoint file, content PLAIN), `backing/` (mode 0755) and,
    when template is given, `template` (mode template_mode). files maps backing file names to
    their content, created before the daemon starts.

    Teardown fails the test when the daemon hangs, dies of a signal, leaves its mount behind or
    prints an unexpected stderr line. Its exit status after SIGTERM is checked only when
    expect_exit is given: test_fuse_signals.py (and the valgrind test) own that requirement, so
    that one defect there does not fail every other test.
    """

    PLAIN = b"the plain file under the mount\n"

    def __init__(self, binary, *, repro_binary=None, workdir=None, template=None,
                 template_mode=0o644, files=None, args=(), extension=None, procfs=None,
                 wrapper=(), stderr_ok=(), expect_exit=None, mount_timeout=TIMEOUT,
                 stop_timeout=TIMEOUT, daemon_exe=None, extra_unmounts=(),
                 backing_exists=False, backing_mode=0o755):
        self.binary = str(binary)
        self.repro_binary = str(repro_binary or binary)
        self.workdir = workdir or new_workdir("mount")
        self.mnt = os.path.join(self.workdir, "mnt")
        self.backing = os.path.join(self.workdir, "backing")
        self.template = os.path.join(self.workdir, "template") if template is not None else None
        self.stderr_path = os.path.join(self.workdir, "daemon.stderr")
        self.stdout_path = os.path.join(self.workdir, "daemon.stdout")
        self.wrapper = [str(w) for w in wrapper]
        self.stderr_ok = [re.compile(p) for p in (*DEFAULT_STDERR_OK, *stderr_ok)]
        self.expect_exit = expect_exit
        self.mount_timeout = mount_timeout
        self.stop_timeout = stop_timeout
        self.daemon_exe = daemon_exe if daemon_exe is not None else self.binary
        self.extra_unmounts = list(extra_unmounts)
        self.proc = None
        self.pid = None          # the daemon itself (below any wrapper), found after mounting
        self.exit_status = None
        self.torn_down = False
        self.cleanup_log = []

        with open(self.mnt, "wb") as f:
            f.write(self.PLAIN)
        if not backing_exists:
            os.mkdir(self.backing)
        os.chmod(self.backing, backing_mode)
        if template is not None:
            with open(self.template, "wb") as f:
                f.write(template)
            os.chmod(self.template, template_mode)
        for name, content in (files or {}).items():
            self.write_backing(name, content)
        self.plain_ino = os.stat(self.mnt).st_ino

        opts = []
        if extension is not None:
            opts += ["-p", extension]
        if self.template:
            opts += ["-d", self.template]
        if procfs is not None:
            opts += ["-P", str(procfs)]
        self.args = [*opts, *map(str, args), self.backing, self.mnt]

    # -- paths and backing files
    def cmdline(self, binary=None):
        return [*self.wrapper, binary or self.binary, *self.args]

    def reproducer(self):
        return (f"cd {shlex.quote(self.workdir)} && "
                f"{shlex.join(self.cmdline(self.repro_binary))}")

    def path(self, name):
        return os.path.join(self.backing, name)

    def name_for(self, ns_id, extension="conf"):
        return f"{ns_id}.{extension}" if extension else str(ns_id)

    def write_backing(self, name, content, mode=None):
        with open(self.path(name), "wb") as f:
            f.write(content)
        if mode is not None:
            os.chmod(self.path(name), mode)

    def read_backing(self, name):
        with open(self.path(name), "rb") as f:
            return f.read()

    def listing(self):
        return sorted(os.listdir(self.backing))

    def stderr_text(self):
        try:
            with open(self.stderr_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stderr_lines(self):
        return self.stderr_text().splitlines()

    # -- lifecycle
    def start(self):
        print(f"reproducer: {self.reproducer()}")
        with open(self.stderr_path, "wb") as err, open(self.stdout_path, "wb") as out:
            self.proc = subprocess.Popen(self.cmdline(), cwd=self.workdir, stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=err)
        return self

    def adopt(self, pid):
        """Take over a daemon started elsewhere (e.g. with `sh -c '... &'`)."""
        print(f"reproducer: {self.reproducer()} &")
        self.proc = Adopted(pid)
        return self

    def mounted(self):
        return bool(rcfs_mounts(self.mnt))

    def wait_mounted(self):
        def ready():
            if self.mounted():
                return True
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"daemon exited {self.proc.returncode} before mounting; stderr:\n"
                    f"{self.stderr_text()}\nreproducer: {self.reproducer()}")
            return False
        wait_for(ready, self.mount_timeout, f"the {FSTYPE} mount at {self.mnt}\n"
                 f"stderr so far:\n{self.stderr_text()}\nreproducer: {self.reproducer()}")
        self.pid = find_descendant(self.proc.pid, self.daemon_exe) or self.proc.pid
        return self

    def stop(self, sig=signal.SIGTERM, timeout=None):
        """Signal the daemon by pid and wait for it (and any wrapper) to exit; returns the exit
        status, or None when it did not exit in time."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            target = self.pid or self.proc.pid
            if pid_alive(target):
                os.kill(target, sig)
            try:
                self.exit_status = self.proc.wait(timeout=timeout or self.stop_timeout)
            except (subprocess.TimeoutExpired, AssertionError):
                return None
        self.exit_status = self.proc.returncode
        return self.exit_status

    def teardown(self, check=True, keep=False):
        """Stop the daemon, make sure nothing stays mounted, and return a list of problems. The
        workdir is removed unless there were problems or keep is set (a failed test)."""
        if self.torn_down:
            return []
        self.torn_down = True
        problems = []
        if self.proc is not None:
            status = self.stop()
            if status is None:
                problems.append(f"daemon pid {self.pid or self.proc.pid} did not exit within "
                                f"{self.stop_timeout:.0f}s of SIGTERM; killed")
                for p in {self.pid, self.proc.pid} - {None}:
                    if pid_alive(p):
                        os.kill(p, signal.SIGKILL)
                with contextlib.suppress(Exception):
                    self.proc.wait(timeout=TIMEOUT)
            elif check and self.expect_exit is not None:
                if status != self.expect_exit:
                    problems.append(f"daemon exited with status {status}, expected "
                                    f"{self.expect_exit}")
            elif check and status < 0:
                problems.append(f"daemon died of signal {-status}")
        if unmount_all(self.mnt, self.cleanup_log):
            problems.append("the mount was still there after the daemon exited: "
                            + "; ".join(self.cleanup_log))
        for path in self.extra_unmounts:
            unmount_all(path, self.cleanup_log, fuse=False)
        if check:
            bad = [ln for ln in self.stderr_lines()
                   if not any(p.fullmatch(ln) for p in self.stderr_ok)]
            if bad:
                problems.append("unexpected line(s) on the daemon's stderr:\n  " + "\n  ".join(bad))
        if problems:
            problems.append(f"daemon stderr:\n{self.stderr_text()}")
            problems.append(f"reproducer: {self.reproducer()}")
        if problems or keep:
            global KEPT
            KEPT = True
            print(f"kept {self.workdir} for inspection")
        elif not any_mount_under(self.workdir):
            shutil.rmtree(self.workdir, ignore_errors=True)
        return problems

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        problems = self.teardown(check=exc_type is None)
        if problems and exc_type is None:
            raise AssertionError("\n".join(problems))
        if problems:
            print("\n".join(problems))
        return False


# --- network namespaces ----------------------------------------------------------------------

class Netns:
    """A network namespace held by a bind mount at .path (see the module's docstring); .id is
    the N of its net:[N]. Same API in both arrangements: cmd(), run(), lo_up(), delete()."""

    def __init__(self):
        self.name = f"rcfs-test-{secrets.token_hex(5)}"
        self.named = is_real_root()
        if self.named:
            self.path = f"/run/netns/{self.name}"
            run(["ip", "netns", "add", self.name], check=True)
        else:
            d = os.path.join(base_dir(), "netns")
            os.makedirs(d, mode=0o755, exist_ok=True)
            self.path = os.path.join(d, self.name)
            with open(self.path, "x"):
                pass
            try:
                run(["unshare", f"--net={self.path}", "true"], check=True)
            except BaseException:
                os.unlink(self.path)
                raise
        # The namespace id (the N of net:[N]) is the nsfs inode the bind mount shows.
        self.id = os.stat(self.path).st_ino

    def cmd(self, *cmd):
        return ["nsenter", f"--net={self.path}", *map(str, cmd)]

    def run(self, *cmd, **kw):
        return run(self.cmd(*cmd), **kw)

    def lo_up(self):
        self.run("ip", "link", "set", "lo", "up", check=True)

    def delete(self):
        if self.named:
            if os.path.exists(self.path):
                run(["ip", "netns", "delete", self.name])
            return
        if any(e["mountpoint"] == abspath_nofollow(self.path) for e in mountinfo()):
            run(["umount", self.path], check=True)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    def __repr__(self):
        return f"Netns({self.name}, id={self.id})"


def host_netns_id():
    return int(re.fullmatch(r"net:\[(\d+)\]", os.readlink("/proc/self/ns/net")).group(1))


# --- long-lived callers ----------------------------------------------------------------------

CALLER_SCRIPT = r'''
import base64, ctypes, errno, json, os, sys, threading

libc = ctypes.CDLL(None, use_errno=True)
FLAGS = {name: getattr(os, name) for name in dir(os) if name.startswith("O_")}

def st(s):
    return {"size": s.st_size, "ino": s.st_ino, "mode": s.st_mode, "uid": s.st_uid,
            "gid": s.st_gid, "mtime_ns": s.st_mtime_ns, "ctime_ns": s.st_ctime_ns,
            "dev": s.st_dev, "nlink": s.st_nlink}

def handle(r):
    op = r["op"]
    if op == "info":
        return {"pid": os.getpid(), "tid": threading.get_native_id(),
                "netns": os.readlink("/proc/thread-self/ns/net"), "uid": os.getuid()}
    if op == "read":
        with open(r["path"], "rb") as f:
            return {"data": base64.b64encode(f.read()).decode()}
    if op == "stat":
        return st(os.stat(r["path"]))
    if op == "fstat":
        return st(os.fstat(r["fd"]))
    if op == "open":
        flags = 0
        for name in r["flags"]:
            flags |= FLAGS[name]
        return {"fd": os.open(r["path"], flags, 0o644)}
    if op == "write":
        return {"n": os.write(r["fd"], base64.b64decode(r["data"]))}
    if op == "pread":
        return {"data": base64.b64encode(os.pread(r["fd"], r["size"], r["offset"])).decode()}
    if op == "readall":
        os.lseek(r["fd"], 0, os.SEEK_SET)
        chunks = []
        while True:
            b = os.read(r["fd"], 65536)
            if not b:
                break
            chunks.append(b)
        return {"data": base64.b64encode(b"".join(chunks)).decode()}
    if op == "lseek":
        return {"pos": os.lseek(r["fd"], r["pos"], r["whence"])}
    if op == "close":
        os.close(r["fd"]); return {}
    if op == "fsync":
        os.fsync(r["fd"]); return {}
    if op == "fdatasync":
        os.fdatasync(r["fd"]); return {}
    if op == "ftruncate":
        os.ftruncate(r["fd"], r["size"]); return {}
    if op == "truncate":
        os.truncate(r["path"], r["size"]); return {}
    if op == "setns":
        fd = os.open(r["path"], os.O_RDONLY)
        try:
            if libc.setns(fd, 0x40000000) != 0:
                e = ctypes.get_errno(); raise OSError(e, os.strerror(e))
        finally:
            os.close(fd)
        return {}
    raise OSError(errno.EINVAL, "unknown op " + op)

for line in sys.stdin:
    req = json.loads(line)
    try:
        out = {"ok": True, **handle(req)}
    except OSError as e:
        out = {"ok": False, "errno": e.errno, "strerror": e.strerror}
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()
'''


class CallerError(AssertionError):
    pass


class Caller:
    """A python process that performs file operations on command. prefix runs it through other
    commands that exec (nsenter, setpriv), so its pid is the pid the daemon sees."""

    def __init__(self, prefix=(), name="caller", timeout=TIMEOUT):
        self.name = name
        self.timeout = timeout
        self.proc = subprocess.Popen([*map(str, prefix), PYTHON, "-c", CALLER_SCRIPT],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
        self._buf = b""
        info = self.call("info")
        self.pid = info["pid"]
        self.netns = info["netns"]
        self.uid = info["uid"]
        if self.pid != self.proc.pid:
            raise CallerError(f"{name}: pid {self.pid} is not the started process {self.proc.pid}")

    def _readline(self):
        deadline = time.monotonic() + self.timeout
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise CallerError(f"{self.name} (pid {self.proc.pid}): no reply within "
                                  f"{self.timeout:.0f}s")
            ready, _, _ = select.select([self.proc.stdout], [], [], left)
            if ready:
                chunk = os.read(self.proc.stdout.fileno(), 65536)
                if not chunk:
                    raise CallerError(f"{self.name} (pid {self.proc.pid}) exited "
                                      f"({self.proc.poll()})")
                self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return line

    def call(self, op, **args):
        self.proc.stdin.write((json.dumps({"op": op, **args}) + "\n").encode())
        reply = json.loads(self._readline())
        if not reply.pop("ok"):
            raise OSError(reply["errno"], reply["strerror"])
        return reply

    # Convenience wrappers; failures raise OSError with the caller's errno.
    def read(self, path):
        return base64.b64decode(self.call("read", path=str(path))["data"])

    def stat(self, path):
        return self.call("stat", path=str(path))

    def fstat(self, fd):
        return self.call("fstat", fd=fd)

    def open(self, path, *flags):
        return self.call("open", path=str(path), flags=list(flags) or ["O_RDONLY"])["fd"]

    def write(self, fd, data):
        return self.call("write", fd=fd, data=base64.b64encode(data).decode())["n"]

    def readall(self, fd):
        return base64.b64decode(self.call("readall", fd=fd)["data"])

    def lseek(self, fd, pos, whence=os.SEEK_SET):
        return self.call("lseek", fd=fd, pos=pos, whence=whence)["pos"]

    def close(self, fd):
        self.call("close", fd=fd)

    def fsync(self, fd):
        self.call("fsync", fd=fd)

    def fdatasync(self, fd):
        self.call("fdatasync", fd=fd)

    def ftruncate(self, fd, size):
        self.call("ftruncate", fd=fd, size=size)

    def truncate(self, path, size):
        self.call("truncate", path=str(path), size=size)

    def errno_of(self, op, *args, **kw):
        """Run op expecting failure; return the errno (fails the test if it succeeds)."""
        try:
            getattr(self, op)(*args, **kw)
        except OSError as e:
            return e.errno
        raise AssertionError(f"{self.name}: {op}{args} succeeded, expected an error")

    def kill(self):
        if self.proc.poll() is None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
            try:
                self.proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=TIMEOUT)
