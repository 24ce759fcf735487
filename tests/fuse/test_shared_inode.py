"""What every namespace shares: the mount's one inode (issue 11, point 7; docs/RELIABILITY.md,
"What all namespaces share: the one inode").

The mount is a single file, so the kernel has one inode for it, whoever looks. Per-inode state
that the kernel keeps without asking the daemon is therefore shared by all namespaces, whatever
file the daemon serves each of them. Each test here shows one such behaviour on a real mount:

- the attribute cache: statx(AT_STATX_DONT_SYNC) returns the attributes of the last GETATTR
  answered, i.e. another namespace's size, inode number, mode and mtime (a plain stat(2) is
  asked of the daemon and is right);
- inotify: a watcher on the mount, in any namespace, sees the opens, reads and writes of every
  namespace;
- locks: flock(2) and fcntl(2) record locks taken in one namespace block the other namespaces,
  though each locks "its own" file.

They need no other uid, so they run as root of a user namespace too.
"""
import ctypes
import errno
import json
import os
import select
import struct
import subprocess

import pytest

from faultutil import NOBODY, finish, procs, py
from fuseutil import TIMEOUT, host_netns_id, run

__all__ = ["procs"]   # the fixture, imported from faultutil

HOST = b"nameserver 10.0.0.1\n"

# statx(2) through ctypes (Python has no os.statx): prints one JSON object per mode given
# ("nosync": AT_STATX_DONT_SYNC, the kernel's cached attributes; "sync": an ordinary stat).
STATX = r'''
import ctypes, json, os, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD, AT_STATX_DONT_SYNC, STATX_BASIC_STATS = -100, 0x4000, 0x7ff
path = sys.argv[1].encode()
for how in sys.argv[2:]:
    buf = ctypes.create_string_buffer(256)
    flags = AT_STATX_DONT_SYNC if how == "nosync" else 0
    if libc.statx(AT_FDCWD, path, flags, STATX_BASIC_STATS, buf) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    raw = buf.raw
    uid, gid, mode = struct.unpack_from("=IIH", raw, 20)
    ino, size = struct.unpack_from("=QQ", raw, 32)
    mtime_sec, mtime_nsec = struct.unpack_from("=qI", raw, 112)
    print(json.dumps({"how": how, "size": size, "ino": ino, "mode": mode, "uid": uid,
                      "mtime_ns": mtime_sec * 10**9 + mtime_nsec}))
'''


def as_statx(st):
    return {"size": st.st_size, "ino": st.st_ino, "mode": st.st_mode, "uid": st.st_uid,
            "mtime_ns": st.st_mtime_ns}


def test_statx_dont_sync_returns_the_last_callers_attributes(mount, netns):
    """A stat-s the mount (its file: 10 bytes, 0640, 2001); then B's statx(AT_STATX_DONT_SYNC)
    returns A's size, inode number, mode and mtime, not its own (30 bytes, 0644, 2002), while
    B's ordinary stat returns B's, and B's next DONT_SYNC then B's."""
    a, b = netns(), netns()
    m = mount(files={f"{host_netns_id()}.conf": HOST, f"{a.id}.conf": b"A" * 9 + b"\n",
                     f"{b.id}.conf": b"B" * 29 + b"\n"})
    os.chmod(m.path(f"{a.id}.conf"), 0o640)
    os.chmod(m.path(f"{b.id}.conf"), 0o644)
    os.utime(m.path(f"{a.id}.conf"), (978307200, 978307200))   # 2001-01-01
    os.utime(m.path(f"{b.id}.conf"), (1009843200, 1009843200))   # 2002-01-01
    want_a = as_statx(os.stat(m.path(f"{a.id}.conf")))
    want_b = as_statx(os.stat(m.path(f"{b.id}.conf")))
    assert want_a["size"] == 10 and want_b["size"] == 30 and want_a["ino"] != want_b["ino"]

    r = a.run(*py(STATX, m.mnt, "sync"), check=True)
    assert {**json.loads(r.stdout), "how": None} == {**want_a, "how": None}, "A's own stat"
    r = b.run(*py(STATX, m.mnt, "nosync", "sync", "nosync"), check=True)
    nosync, sync, nosync_after = (json.loads(ln) for ln in r.stdout.splitlines())
    for got in (nosync, sync, nosync_after):
        del got["how"]
    print(f"\nB's statx(AT_STATX_DONT_SYNC) after A's stat: {nosync}\nB's stat: {sync}")
    assert nosync == want_a, (
        f"B's statx(AT_STATX_DONT_SYNC) right after A's stat returned {nosync}, expected A's "
        f"cached attributes {want_a}: the kernel no longer serves the shared inode's cache "
        "here; update docs/RELIABILITY.md")
    assert sync == want_b, "an ordinary stat must be answered by the daemon, for B"
    assert nosync_after == want_b, "B's stat refilled the shared cache with B's attributes"


# inotify(7) through ctypes.
IN_ACCESS, IN_MODIFY, IN_CLOSE_WRITE, IN_CLOSE_NOWRITE, IN_OPEN = 0x1, 0x2, 0x8, 0x10, 0x20
EVENT_NAMES = {IN_ACCESS: "IN_ACCESS", IN_MODIFY: "IN_MODIFY", IN_CLOSE_WRITE: "IN_CLOSE_WRITE",
               IN_CLOSE_NOWRITE: "IN_CLOSE_NOWRITE", IN_OPEN: "IN_OPEN"}


class Inotify:
    def __init__(self, path, mask):
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self.libc.inotify_init1(os.O_CLOEXEC | os.O_NONBLOCK)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        if self.libc.inotify_add_watch(self.fd, os.fsencode(path), mask) < 0:
            e = ctypes.get_errno()
            os.close(self.fd)
            raise OSError(e, f"inotify_add_watch {path}")

    def events(self, until):
        """Event names in order, read until the event `until` has come (or TIMEOUT)."""
        names = []
        while EVENT_NAMES[until] not in names:
            ready, _, _ = select.select([self.fd], [], [], TIMEOUT)
            if not ready:
                break
            data = os.read(self.fd, 65536)
            off = 0
            while off < len(data):
                _, mask, _, length = struct.unpack_from("=iIII", data, off)
                names += [n for bit, n in EVENT_NAMES.items() if mask & bit]
                off += 16 + length
        return names

    def close(self):
        os.close(self.fd)


def test_inotify_watcher_sees_every_namespaces_opens_and_writes(mount, netns):
    """A watcher on the mount in the host namespace sees B open, write and close its own file,
    and A open, read and close its own: events of files that are not the watcher's."""
    a, b = netns(), netns()
    m = mount(files={f"{host_netns_id()}.conf": HOST, f"{a.id}.conf": b"# A\n",
                     f"{b.id}.conf": b"# B\n"})
    w = Inotify(m.mnt, IN_OPEN | IN_ACCESS | IN_MODIFY | IN_CLOSE_WRITE | IN_CLOSE_NOWRITE)
    try:
        b.run("sh", "-c", 'printf "nameserver 10.0.0.3\\n" >> "$1"', "sh", m.mnt, check=True)
        seen_b = w.events(until=IN_CLOSE_WRITE)
        assert a.run("cat", m.mnt, check=True).stdout == b"# A\n"
        seen_a = w.events(until=IN_CLOSE_NOWRITE)
    finally:
        w.close()
    print(f"\nhost watcher: B's append: {seen_b}; A's cat: {seen_a}")
    assert m.read_backing(f"{b.id}.conf") == b"# B\nnameserver 10.0.0.3\n"
    assert m.read_backing(f"{host_netns_id()}.conf") == HOST, "the watcher's own file is untouched"
    assert {"IN_OPEN", "IN_MODIFY", "IN_CLOSE_WRITE"} <= set(seen_b), (
        f"the host's watcher saw {seen_b} for B's append: inotify no longer reports other "
        "namespaces' writes; update docs/RELIABILITY.md")
    assert {"IN_OPEN", "IN_ACCESS", "IN_CLOSE_NOWRITE"} <= set(seen_a), seen_a


# A watcher as its own process: adds a watch on the mount, says "watching" (or the errno), then
# prints the event names it reads until IN_CLOSE_WRITE comes or 10 s pass.
WATCHER = r'''
import ctypes, json, os, select, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
fd = libc.inotify_init1(os.O_CLOEXEC)
if libc.inotify_add_watch(fd, os.fsencode(sys.argv[1]), 0x2 | 0x8 | 0x20) < 0:
    print(json.dumps({"errno": ctypes.get_errno()}), flush=True)
    sys.exit(0)
print("watching", flush=True)
names = []
while "IN_CLOSE_WRITE" not in names and select.select([fd], [], [], 10)[0]:
    data = os.read(fd, 65536)
    off = 0
    while off < len(data):
        _, mask, _, length = struct.unpack_from("=iIII", data, off)
        names += [n for bit, n in ((0x20, "IN_OPEN"), (0x2, "IN_MODIFY"),
                                   (0x8, "IN_CLOSE_WRITE")) if mask & bit]
        off += 16 + length
print(json.dumps({"events": names}), flush=True)
'''


@pytest.mark.needs_real_root("a caller of another real uid (65534)")
def test_a_caller_that_may_not_read_its_own_file_can_still_watch_the_mount(mount, netns, procs):
    """In daemon mode (the default) the kernel does not ask the daemon whether a caller may add
    an inotify watch (it asks only for access(2) and execute): uid 65534, whose own file is
    root's and 0600 and which it cannot open, watches the mount and sees B's write."""
    b = netns()
    host = f"{host_netns_id()}.conf"
    m = mount(files={host: HOST, f"{b.id}.conf": b"# B\n"})
    os.chmod(m.path(host), 0o600)
    assert run([*NOBODY, "cat", m.mnt]).returncode != 0, "uid 65534 must not read its file"
    watcher = procs.start([*NOBODY, *py(WATCHER, m.mnt)])
    ready, _, _ = select.select([watcher.stdout], [], [], TIMEOUT)
    line = watcher.stdout.readline().decode().strip() if ready else ""
    assert line == "watching", f"uid 65534 could not watch the mount: {line!r}"
    b.run("sh", "-c", 'printf "nameserver 10.0.0.3\\n" >> "$1"', "sh", m.mnt, check=True)
    out, _ = finish(watcher)
    seen = json.loads(out)["events"]
    print(f"\nuid 65534's watcher (its own file 0600 root) on B's append: {seen}")
    assert {"IN_OPEN", "IN_MODIFY", "IN_CLOSE_WRITE"} <= set(seen), seen


# Takes flock(LOCK_EX) and a POSIX write lock (fcntl F_SETLK, F_WRLCK) on the mount, says
# "locked", and holds both until its stdin closes.
HOLDER = r'''
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
print("locked", flush=True)
sys.stdin.read()
'''

# Tries flock(LOCK_EX|LOCK_NB) and fcntl(F_SETLK, F_RDLCK) on a read-only descriptor of the
# mount; prints the errno of each (0: got it) and what the descriptor reads.
TRY = r'''
import fcntl, json, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
out = {}
for name, call in (("flock", lambda: fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)),
                   ("fcntl", lambda: fcntl.lockf(fd, fcntl.LOCK_SH | fcntl.LOCK_NB))):
    try:
        call()
        out[name] = 0
    except OSError as e:
        out[name] = e.errno
out["content"] = os.read(fd, 4096).decode()
print(json.dumps(out))
'''


def test_flock_and_fcntl_locks_are_shared_between_namespaces(mount, netns, procs):
    """A holds flock(LOCK_EX) and an fcntl write lock on the mount (its own file); B, opening
    its own file through the same mount, cannot lock: EWOULDBLOCK for flock, EAGAIN for fcntl
    F_SETLK. Once A has let go, B can."""
    a, b = netns(), netns()
    m = mount(files={f"{host_netns_id()}.conf": HOST, f"{a.id}.conf": b"# A\n",
                     f"{b.id}.conf": b"# B\n"})
    holder = procs.start(a.cmd(*py(HOLDER, m.mnt)), stdin=subprocess.PIPE)
    ready, _, _ = select.select([holder.stdout], [], [], TIMEOUT)
    line = holder.stdout.readline().decode().strip() if ready else ""
    assert line == "locked", f"A's holder: {line!r} {holder.poll()} {holder.stderr.read1()}"

    blocked = json.loads(b.run(*py(TRY, m.mnt), check=True).stdout)
    print(f"\nB while A holds its locks: {blocked}")
    assert blocked["content"] == "# B\n", "B reads its own file all the same"
    assert blocked["flock"] == errno.EWOULDBLOCK, (
        f"B's flock(LOCK_EX|LOCK_NB) while A holds LOCK_EX: {blocked}; flock locks are no "
        "longer shared between namespaces; update docs/RELIABILITY.md")
    assert blocked["fcntl"] in (errno.EAGAIN, errno.EACCES), (
        f"B's fcntl(F_SETLK, F_RDLCK) while A holds F_WRLCK: {blocked}; update "
        "docs/RELIABILITY.md")

    finish(holder)   # closes its stdin: A lets go
    free = json.loads(b.run(*py(TRY, m.mnt), check=True).stdout)
    assert free == {"flock": 0, "fcntl": 0, "content": "# B\n"}, free
