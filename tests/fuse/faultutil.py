"""Helpers shared by test_faults.py and test_security.py (fault injection and attacks on a real
mount). They build on fuseutil and the fixtures of conftest.py; nothing here edits those.

- Procs: every helper process a test starts, killed by pid (or by the process group it was
  started as the leader of) when the test ends, whatever happened.
- Raw: a second daemon started over a mountpoint that already carries a mount, where
  fuseutil.Daemon cannot be used (it writes its mountpoint file first: through a live mount that
  would write a namespace's file, on a stale one it fails with ENOTCONN). The `raw` fixture stops
  every Raw daemon by pid at teardown and removes a mount it left.
- Scripts run as separate processes (readers, writers) and the version generator they share with
  the tests.
"""
import contextlib
import os
import re
import shlex
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from fuseutil import TIMEOUT, pid_alive, rcfs_mounts, run, unmount_all, wait_for

TOOLS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools")

# Without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH (dropped from the bounding set before exec) a
# root daemon is held to permission bits, as an ordinary user's would be.
NO_DAC = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"]
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]

SAN = os.environ.get("SAN") == "1"


# --- helper processes ------------------------------------------------------------------------

class Procs:
    """Popen wrapper list; start() records each process, close() kills what still runs (by pid,
    or by process group for those started with group=True) and reaps everything."""

    def __init__(self):
        self.items = []

    def start(self, cmd, group=False, **kw):
        kw.setdefault("stdin", subprocess.DEVNULL)
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        p = subprocess.Popen([str(c) for c in cmd], start_new_session=group, **kw)
        self.items.append((p, group))
        return p

    def kill(self, p, group=False):
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                if group:
                    os.killpg(p.pid, signal.SIGKILL)   # the group p leads: only what p started
                else:
                    p.kill()
        elif group:
            # The leader is gone; members may still run under its group id.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            p.wait(timeout=TIMEOUT)

    def close(self):
        for p, group in self.items:
            self.kill(p, group)
            for f in (p.stdout, p.stderr, p.stdin):
                if f:
                    with contextlib.suppress(OSError):
                        f.close()


@pytest.fixture
def procs():
    """procs.start(cmd, group=False, **popen_kw): helper processes killed at teardown."""
    ps = Procs()
    yield ps
    ps.close()


def finish(p, timeout=6 * TIMEOUT):
    """Wait for a helper started with stdout/stderr pipes; return (stdout, stderr) as text and
    fail with both when it exits non-zero."""
    out, err = p.communicate(timeout=timeout)
    out, err = out.decode(errors="replace"), err.decode(errors="replace")
    assert p.returncode == 0, f"{shlex.join(map(str, p.args))} exited {p.returncode}:\n{err}"
    return out, err


# --- /proc figures ---------------------------------------------------------------------------

def proc_status(pid):
    """VmHWM, VmRSS (kB), Threads and the number of open descriptors of pid."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmHWM", "VmRSS", "Threads"):
                out[key] = int(value.split()[0])
    out["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
    return out


# --- a second daemon over an existing mount --------------------------------------------------

class Raw:
    def __init__(self, binary, args, workdir, name="second"):
        self.cmd = [str(binary), *map(str, args)]
        self.workdir = workdir
        self.name = name
        self.stderr_path = os.path.join(workdir, f"{name}.stderr")
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(self.cmd, cwd=workdir, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=err)
        self.pid = self.proc.pid
        print(f"reproducer ({name}): cd {shlex.quote(workdir)} && {shlex.join(self.cmd)}")

    def stderr_lines(self):
        with open(self.stderr_path, errors="replace") as f:
            return f.read().splitlines()

    def wait_exit(self, timeout=TIMEOUT):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def wait_serving(self, path, content):
        """Wait until reading path (from the host namespace) gives content."""
        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited {self.proc.returncode}: "
                                     f"{self.stderr_lines()}")
            try:
                with open(path, "rb") as f:
                    return f.read() == content
            except OSError:
                return False
        wait_for(ready, TIMEOUT, f"{self.name} to serve {path}")

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            os.kill(self.pid, sig)
        return self.wait_exit()


@pytest.fixture
def raw(rcfs_bin):
    """raw(args, workdir, name=..., mnt=...) starts a second daemon (see Raw). At teardown each
    is stopped by pid (SIGTERM, then SIGKILL) and a resolvconffs mount left at mnt is removed;
    both fail the test."""
    started = []

    def start(args, workdir, name="second", mnt=None):
        r = Raw(rcfs_bin, args, workdir, name)
        started.append((r, mnt))
        return r

    yield start
    problems = []
    for r, mnt in reversed(started):
        if r.proc.poll() is None:
            if r.stop() is None:
                problems.append(f"{r.name} (pid {r.pid}) ignored SIGTERM; killed")
                if pid_alive(r.pid):
                    os.kill(r.pid, signal.SIGKILL)
                r.wait_exit()
        if mnt and rcfs_mounts(mnt):
            log = []
            unmount_all(mnt, log)
            problems.append(f"{r.name} left its mount at {mnt}: {log}")
    if problems:
        pytest.fail("\n".join(problems))


# --- versions of a file, and the processes that write and read them --------------------------

VERSION_SRC = r'''
def version(i):
    """Version i of a namespace's file: 1 to 40 resolver lines between a header and a trailer
    that name i, so a torn mix of two versions can never look complete."""
    body = "".join("nameserver 10.%d.%d.%d\n" % (i % 200, j, i % 250) for j in range(1 + i % 40))
    return ("# version %d\n%s# end %d\n" % (i, body, i)).encode()


def classify(data):
    """'empty', 'complete' or 'torn'."""
    if not data:
        return "empty"
    head = data.split(b"\n", 1)[0]
    if head.startswith(b"# version ") and head[10:].isdigit():
        if data == version(int(head[10:])):
            return "complete"
    return "torn"
'''
exec(VERSION_SRC)   # defines version() and classify() here, from the text the scripts also run

# Reads the mount in a loop for SECONDS from START (a time.time() value), CHUNK bytes per read(2)
# (0: one read(2) of 64 KiB per open, nothing more), and prints the counts of empty, complete and
# torn contents, and samples of the torn ones. With EXPECT (a file), every read must equal it.
VERSION_READER = VERSION_SRC + textwrap.dedent(r'''
    import json, os, sys, time
    mnt, start, seconds = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
    chunk = int(sys.argv[4])
    expect = open(sys.argv[5], "rb").read() if len(sys.argv) > 5 else None
    counts = {"empty": 0, "complete": 0, "torn": 0, "other": 0, "errors": {}}
    torn = []
    time.sleep(max(0.0, start - time.time()))
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            fd = os.open(mnt, os.O_RDONLY)
            try:
                if chunk:
                    parts = []
                    while True:
                        b = os.read(fd, chunk)
                        if not b:
                            break
                        parts.append(b)
                    data = b"".join(parts)
                else:
                    data = os.read(fd, 65536)
            finally:
                os.close(fd)
        except OSError as e:
            counts["errors"][e.errno] = counts["errors"].get(e.errno, 0) + 1
            continue
        if expect is not None:
            kind = "complete" if data == expect else "other"
        else:
            kind = classify(data)
        counts[kind] += 1
        if kind in ("torn", "other") and len(torn) < 5:
            torn.append(data[:200].decode(errors="replace"))
    counts["samples"] = torn
    json.dump(counts, sys.stdout)
''')

# Replaces the mount's content through the mount, `>` style (open O_WRONLY|O_TRUNC, one write(2),
# close), with version 1, 2, ... for SECONDS from START; prints the last version written.
TRUNC_WRITER = VERSION_SRC + textwrap.dedent(r'''
    import os, sys, time
    mnt, start, seconds = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
    time.sleep(max(0.0, start - time.time()))
    deadline = time.monotonic() + seconds
    i = 0
    while time.monotonic() < deadline:
        i += 1
        data = version(i)
        fd = os.open(mnt, os.O_WRONLY | os.O_TRUNC)
        try:
            assert os.write(fd, data) == len(data)
        finally:
            os.close(fd)
    print(i)
''')

# Appends "TAG N\n" lines through one O_APPEND descriptor of the mount until a write fails (the
# daemon went away) or SECONDS pass; counts only writes that returned the full length. Prints
# {"acked": count, "errno": errno of the failure or null}. "ready" goes to stderr after the first
# acknowledged write.
APPENDER = textwrap.dedent(r'''
    import json, os, sys, time
    mnt, tag, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    fd = os.open(mnt, os.O_WRONLY | os.O_APPEND)
    acked, err = 0, None
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        line = ("%s %d\n" % (tag, acked)).encode()
        try:
            n = os.write(fd, line)
        except OSError as e:
            err = e.errno
            break
        if n != len(line):
            err = "short write %d" % n
            break
        acked += 1
        if acked == 1:
            sys.stderr.write("ready\n")
            sys.stderr.flush()
    json.dump({"acked": acked, "errno": err}, sys.stdout)
''')

# Reads and stats the mount in a loop until killed or SECONDS pass, ignoring errors (load only).
READ_LOOP = textwrap.dedent(r'''
    import os, sys, time
    mnt, seconds = sys.argv[1], float(sys.argv[2])
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with open(mnt, "rb") as f:
                while f.read(4096):
                    pass
            os.stat(mnt)
        except OSError:
            time.sleep(0.001)
''')


def lines_of(data, tag):
    """The numbers N of the "TAG N" lines in data, in file order."""
    pat = re.compile(rb"^" + re.escape(tag.encode()) + rb" (\d+)$")
    out = []
    for line in data.split(b"\n"):
        mm = pat.match(line)
        if mm:
            out.append(int(mm.group(1)))
    return out


def compile_c(src, workdir):
    """Compile tests/tools/SRC into workdir with the system compiler; return the binary path."""
    out = os.path.join(workdir, os.path.splitext(os.path.basename(src))[0])
    r = run(["cc", "-O2", "-std=c11", "-Wall", "-Wextra", "-Werror", "-o", out,
             os.path.join(TOOLS, src)], timeout=60)
    assert r.returncode == 0, r.stderr.decode()
    return out


def py(script, *args):
    """argv to run a python script given as text."""
    return [sys.executable, "-c", script, *map(str, args)]


def now_plus(seconds):
    return time.time() + seconds
