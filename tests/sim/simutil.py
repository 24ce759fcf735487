"""Helpers for driving build/resolvconffs-sim from pytest.

Sim starts the simulator, sends one command line at a time and reads back exactly one reply: the
reply line, plus for a successful `read` the announced N bytes and the trailing newline. Every read
from the pipe has a deadline, so a simulator that hangs (or never answers) fails the test instead of
blocking the run. FakeProc builds a fake procfs tree of `<pid>/ns/net` symlinks.
"""
import os
import pathlib
import re
import select
import subprocess
import tempfile
import time

REPLY_TIMEOUT = float(os.environ.get("RCFS_SIM_TIMEOUT", "10"))

_READ_OK = re.compile(rb"ok (\d+)")


def sim_path(build_dir):
    return pathlib.Path(build_dir) / "resolvconffs-sim"


class SimError(AssertionError):
    pass


class Reply:
    """One reply: `line` is the reply line without its newline (str); `data` is the payload bytes
    of a successful `read` (None otherwise)."""

    def __init__(self, line, data=None):
        self.line = line
        self.data = data

    @property
    def ok(self):
        return self.line == "ok" or self.line.startswith("ok ")

    def __eq__(self, other):
        if isinstance(other, str):
            return self.line == other
        if isinstance(other, Reply):
            return (self.line, self.data) == (other.line, other.data)
        return NotImplemented

    __hash__ = None

    def __repr__(self):
        return f"Reply({self.line!r}, data={self.data!r})"


class Sim:
    """A running simulator. Use as a context manager, or call close() to send EOF and get the exit
    status. `prefix` is prepended to the command line (e.g. setpriv ...)."""

    def __init__(self, binary, backing_dir, *, extension=None, default_file=None, procfs=None,
                 extra_args=(), prefix=(), cwd=None, umask=-1, timeout=REPLY_TIMEOUT):
        argv = list(prefix) + [str(binary)]
        if extension is not None:
            argv += ["-p", extension]
        if default_file is not None:
            argv += ["-d", str(default_file)]
        if procfs is not None:
            argv += ["-P", str(procfs)]
        argv += list(extra_args)
        argv.append(str(backing_dir))
        self.argv = argv
        self.timeout = timeout
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, cwd=cwd, umask=umask)
        self._buf = b""
        self._closed = False

    # -- low level -----------------------------------------------------------------------------
    def send_raw(self, data):
        try:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
        except BrokenPipeError as e:
            raise SimError(f"simulator closed its stdin (exit {self.proc.poll()}): "
                           f"{self._stderr_now()}") from e

    def _fill(self, deadline):
        """Read whatever is available into the buffer, waiting at most until deadline."""
        fd = self.proc.stdout.fileno()
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            self._hang()
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            self._hang()
        chunk = os.read(fd, 65536)
        if not chunk:
            raise SimError(f"simulator closed stdout (exit {self.proc.poll()}) with "
                           f"{self._buf!r} unread; stderr: {self._stderr_now()}")
        self._buf += chunk

    def _hang(self):
        self.proc.kill()
        self.proc.wait()
        raise SimError(f"no complete reply within {self.timeout}s; partial output {self._buf!r}; "
                       f"stderr: {self._stderr_now()}")

    def _stderr_now(self):
        if self.proc.poll() is None:
            return "(still running)"
        return self.proc.stderr.read().decode(errors="replace")

    def read_line(self, deadline=None):
        deadline = deadline or time.monotonic() + self.timeout
        while b"\n" not in self._buf:
            self._fill(deadline)
        line, self._buf = self._buf.split(b"\n", 1)
        return line

    def read_exact(self, n, deadline=None):
        deadline = deadline or time.monotonic() + self.timeout
        while len(self._buf) < n:
            self._fill(deadline)
        data, self._buf = self._buf[:n], self._buf[n:]
        return data

    def read_reply(self, verb):
        """Read one reply to a command whose verb was `verb`."""
        deadline = time.monotonic() + self.timeout
        line = self.read_line(deadline)
        data = None
        if verb == b"read":
            m = _READ_OK.fullmatch(line)
            if m:
                n = int(m.group(1))
                payload = self.read_exact(n + 1, deadline)
                if payload[-1:] != b"\n":
                    raise SimError(f"read payload of {n} bytes not followed by a newline: "
                                   f"{payload!r}")
                data = payload[:-1]
        try:
            text = line.decode("ascii")
        except UnicodeDecodeError as e:
            raise SimError(f"reply line is not ASCII: {line!r}") from e
        if not (text == "ok" or text.startswith("ok ") or re.fullmatch(r"err E[A-Z0-9]+", text)):
            raise SimError(f"reply neither `ok ...` nor `err ERRNO-NAME`: {line!r}")
        return Reply(text, data)

    # -- commands ------------------------------------------------------------------------------
    def cmd(self, line):
        """Send one command line (str or bytes, without newline) and return its Reply."""
        if isinstance(line, str):
            line = line.encode()
        assert b"\n" not in line, "one command per call"
        self.send_raw(line + b"\n")
        return self.read_reply(line.split(b" ", 1)[0])

    def key(self, pid):
        return self.cmd(f"key {pid}")

    def read(self, pid):
        return self.cmd(f"read {pid}")

    def stat(self, pid):
        return self.cmd(f"stat {pid}")

    def write(self, pid, text):
        return self.cmd(b"write %d " % pid + _b(text))

    def append(self, pid, text):
        return self.cmd(b"append %d " % pid + _b(text))

    def truncate(self, pid, size):
        return self.cmd(f"truncate {pid} {size}")

    # -- shutdown ------------------------------------------------------------------------------
    def close(self):
        """Send EOF; return (exit status, leftover stdout, stderr). Leftover stdout is whatever
        the simulator wrote that no command's reply accounted for (should be empty)."""
        if self._closed:
            return self._result
        self._closed = True
        try:
            self.proc.stdin.close()
        except BrokenPipeError:
            pass
        # Drain stdout and stderr to EOF (select, with a deadline), then reap.
        deadline = time.monotonic() + self.timeout
        out, err = [self._buf], []
        self._buf = b""
        fds = {self.proc.stdout.fileno(): out, self.proc.stderr.fileno(): err}
        while fds:
            remaining = deadline - time.monotonic()
            ready = select.select(list(fds), [], [], max(remaining, 0))[0] if remaining > 0 else []
            if not ready:
                self.proc.kill()
                self.proc.wait()
                raise SimError(f"simulator did not exit within {self.timeout}s of EOF")
            for fd in ready:
                chunk = os.read(fd, 65536)
                if chunk:
                    fds[fd].append(chunk)
                else:
                    del fds[fd]
        try:
            self.proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise SimError(f"simulator closed its output but did not exit within {self.timeout}s")
        out, err = b"".join(out), b"".join(err)
        self.proc.stdout.close()
        self.proc.stderr.close()
        self._result = (self.proc.returncode, out, err.decode(errors="replace"))
        return self._result

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                f.close()
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            rc, leftover, err = self.close()
            assert leftover == b"", f"output beyond one reply per command: {leftover!r}"
            assert rc == 0, f"simulator exited {rc} at EOF; stderr: {err}"
        else:
            self.kill()
        return False


def _b(text):
    return text.encode() if isinstance(text, str) else text


class FakeProc:
    """A fake procfs tree: `<root>/<pid>/ns/net` symlinks whose target text is arbitrary."""

    def __init__(self, root):
        self.root = pathlib.Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def add(self, pid, target):
        """Give pid the link text `target`, or `net:[target]` when target is an int."""
        if isinstance(target, int):
            target = f"net:[{target}]"
        ns = self.root / str(pid) / "ns"
        ns.mkdir(parents=True, exist_ok=True)
        link = ns / "net"
        if link.is_symlink():
            link.unlink()
        os.symlink(target, link)
        return pid


def tree(path):
    """Every path under `path` (relative, sorted), to compare before/after snapshots."""
    path = pathlib.Path(path)
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


def listing(path):
    return sorted(os.listdir(path))


def wait_for(predicate, timeout=10.0, interval=0.01, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


NOBODY = 65534


def unprivileged_prefix():
    """(argv prefix, uid, gid) that runs a command as an unprivileged user: setpriv to 65534 when
    we are root, nothing when we already are an ordinary user."""
    if os.geteuid() == 0:
        return (["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"],
                NOBODY, NOBODY)
    return [], os.getuid(), os.getgid()


def shared_tmpdir(prefix):
    """A fresh directory under /tmp (mode 0755) that another uid can traverse; tmp_path cannot be
    used for that (pytest makes it 0700). Its subdirectories are the caller's to chown."""
    d = pathlib.Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    d.chmod(0o755)
    return d
