"""Attacks on a real mount: no path through the mount gives a caller another namespace's content
(reopening through /proc/*/fd, threads that setns after opening, a forged procfs), unprivileged
callers cannot write or create beyond the template rule, files made from the template carry its
permission bits and the daemon's ownership whatever the daemon's umask, the daemon warns about
writable configuration, a non-root daemon serves only its own user's processes. Also the
kernel-decided limits (mmap, descriptors) that docs/RELIABILITY.md records."""
import errno
import json
import os
import re
import resource
import select
import stat
import subprocess
import textwrap

import pytest

from faultutil import NOBODY, procs, py
from fuseutil import (TIMEOUT, host_netns_id, is_real_root, new_workdir, rcfs_mounts, run,
                      wait_for)

HOST = b"nameserver 10.0.0.1\n"
NS_A = b"nameserver 10.0.0.2\noptions ndots:2\n"
NS_B = b"# B\nnameserver 10.0.0.3\nsearch b.example\n"
TEMPLATE = b"nameserver 192.0.2.53\n"

__all__ = ["procs"]   # a fixture, imported from faultutil


def host_name():
    return f"{host_netns_id()}.conf"


def real_root():
    try:
        with open("/proc/self/uid_map") as f:
            return os.geteuid() == 0 and f.read().split() == ["0", "0", "4294967295"]
    except OSError:
        return False


@pytest.fixture
def ab(mount, netns):
    """A mount without template where the host, A and B have files of different sizes."""
    a, b = netns(), netns()
    m = mount(files={host_name(): HOST, f"{a.id}.conf": NS_A, f"{b.id}.conf": NS_B})
    return m, a, b


# --- reopening an open descriptor ------------------------------------------------------------

def test_reopen_through_proc_self_fd_is_a_new_open_in_the_callers_namespace(ab, caller):
    """/proc/self/fd/N is reopened like the path: a new OPEN, resolved for the namespace the
    caller is in at that moment. The descriptor N itself keeps its file."""
    m, a, b = ab
    c = caller(a.cmd(), name="A then B")
    fd = c.open(m.mnt)
    assert c.read(f"/proc/self/fd/{fd}") == NS_A
    c.call("setns", path=b.path)
    assert c.read(f"/proc/self/fd/{fd}") == NS_B, "a reopen served the descriptor's namespace"
    assert c.stat(f"/proc/self/fd/{fd}")["size"] == len(NS_B)
    assert c.readall(fd) == NS_A


def test_reopen_through_another_processes_fd_gets_the_openers_own_file(ab, caller):
    """A process in B opening /proc/<pid>/fd/N of a process in A (root may: ptrace access)
    gets B's file, never A's; A's descriptor still reads A's file."""
    m, a, b = ab
    ca, cb = caller(a.cmd(), name="A"), caller(b.cmd(), name="B")
    fd = ca.open(m.mnt)
    assert ca.readall(fd) == NS_A
    for _ in range(3):
        assert cb.read(f"/proc/{ca.pid}/fd/{fd}") == NS_B
        assert cb.stat(f"/proc/{ca.pid}/fd/{fd}")["size"] == len(NS_B)
        assert ca.readall(fd) == NS_A
    assert run(["cat", f"/proc/{ca.pid}/fd/{fd}"], check=True).stdout == HOST


PASS_FD = textwrap.dedent(r'''
    import ctypes, json, os, socket, sys
    libc = ctypes.CDLL(None, use_errno=True)
    mnt, other = sys.argv[1], sys.argv[2]

    def readall(fd):
        os.lseek(fd, 0, 0)
        return b"".join(iter(lambda: os.read(fd, 65536), b"")).decode()

    left, right = socket.socketpair()
    pid = os.fork()
    if pid == 0:
        fd = os.open(other, os.O_RDONLY)
        if libc.setns(fd, 0x40000000) != 0:
            os._exit(3)
        msg, fds, _, _ = socket.recv_fds(right, 16, 1)
        with open(mnt) as f:
            own = f.read()
        right.sendall(json.dumps({"passed": readall(fds[0]), "own": own,
                                  "netns": os.readlink("/proc/self/ns/net")}).encode())
        os._exit(0)
    fd = os.open(mnt, os.O_RDONLY)
    socket.send_fds(left, [b"x"], [fd])
    res = json.loads(left.recv(65536))
    os.waitpid(pid, 0)
    res["sender"] = readall(fd)
    json.dump(res, sys.stdout)
''')


def test_descriptor_passed_to_another_namespace_keeps_its_file(ab):
    """A descriptor is a capability: passed with SCM_RIGHTS (or inherited) into another
    namespace it still reads the file it was opened on: the sender chose to share it. A fresh
    open by the receiver gets the receiver's own file."""
    m, a, b = ab
    r = run(a.cmd(*py(PASS_FD, m.mnt, b.path)), check=True)
    res = json.loads(r.stdout)
    assert res["netns"] == f"net:[{b.id}]"
    assert res["passed"] == NS_A.decode() and res["sender"] == NS_A.decode()
    assert res["own"] == NS_B.decode()


THREAD_SETNS = textwrap.dedent(r'''
    import ctypes, json, os, sys, threading
    libc = ctypes.CDLL(None, use_errno=True)
    mnt, other = sys.argv[1], sys.argv[2]
    out = {}

    def readall(fd):
        os.lseek(fd, 0, 0)
        return b"".join(iter(lambda: os.read(fd, 65536), b"")).decode()

    def worker():
        fd = os.open(mnt, os.O_RDONLY)
        out["fd"] = fd
        out["before"] = readall(fd)
        nsfd = os.open(other, os.O_RDONLY)
        assert libc.setns(nsfd, 0x40000000) == 0
        os.close(nsfd)
        out["netns"] = os.readlink("/proc/thread-self/ns/net")
        out["old_fd"] = readall(fd)
        out["old_fd_seek_end"] = os.lseek(fd, 0, os.SEEK_END)
        out["old_fd_fstat"] = os.fstat(fd).st_size
        with open(f"/proc/thread-self/fd/{fd}") as f:
            out["reopen"] = f.read()
        with open(mnt) as f:
            out["new_open"] = f.read()
        out["stat"] = os.stat(mnt).st_size

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    out["main_netns"] = os.readlink("/proc/thread-self/ns/net")
    out["main_old_fd"] = readall(out["fd"])
    with open(mnt) as f:
        out["main_open"] = f.read()
    out["main_stat"] = os.stat(mnt).st_size
    json.dump(out, sys.stdout)
''')


def test_thread_that_setns_after_opening(ab):
    """A thread opens in A, then setns'es to B: its descriptor still reads A's file (and
    lseek(SEEK_END) sees A's size), while every new open and stat by that thread, reopens
    through /proc included, get B's. fstat(2) of the old descriptor is answered for B: the
    kernel sends fstat's GETATTR without the file handle. The other thread stays in A."""
    m, a, b = ab
    r = run(a.cmd(*py(THREAD_SETNS, m.mnt, b.path)), check=True)
    out = json.loads(r.stdout)
    assert out["netns"] == f"net:[{b.id}]" and out["main_netns"] == f"net:[{a.id}]"
    assert out["before"] == out["old_fd"] == out["main_old_fd"] == NS_A.decode()
    assert out["old_fd_seek_end"] == len(NS_A)
    assert out["reopen"] == out["new_open"] == NS_B.decode()
    assert out["stat"] == len(NS_B) and out["old_fd_fstat"] == len(NS_B)
    assert out["main_open"] == NS_A.decode() and out["main_stat"] == len(NS_A)


# --- a forged procfs -------------------------------------------------------------------------

def tree(root):
    """Every path below root but the mountpoint `mnt` (stat-ing it would be a request) and the
    daemon's own output files."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            if dirpath == root and name in ("mnt", "daemon.stderr", "daemon.stdout"):
                continue
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            out[os.path.relpath(p, root)] = (st.st_mode, st.st_size, st.st_mtime_ns)
    return out


def _link(target):
    def make(d):
        os.symlink(target, os.path.join(d, "net"))
    return make


def _regular_file(d):
    with open(os.path.join(d, "net"), "w") as f:
        f.write("net:[777]")


def _directory(d):
    os.mkdir(os.path.join(d, "net"))


def _two_hops(d):
    os.symlink("net:[777]", os.path.join(d, "hop"))
    os.symlink("hop", os.path.join(d, "net"))


FORGED = {
    "traversal": _link("net:[../../etc/shadow]"),
    "traversal-after": _link("net:[1]/../../../etc/shadow"),
    "absolute-path": _link("/etc/shadow"),
    "real-ns-path": _link("/proc/1/ns/net"),
    "newline": _link("net:[777]\n"),
    "del-char": _link("net:[777]\x7f"),
    "fullwidth-digits": _link("net:[\uff17\uff17\uff17]"),
    "arabic-digits": _link("net:[\u0667\u0667\u0667]"),
    "2**64": _link("net:[18446744073709551616]"),
    "2**70": _link("net:[1180591620717411303424]"),
    "4000-digits": _link("net:[" + "7" * 4000 + "]"),
    "mnt-type": _link("mnt:[4026531841]"),
    "user-type": _link("user:[4026531837]"),
    "uts-type": _link("uts:[4026531838]"),
    "cgroup-type": _link("cgroup:[4026531835]"),
    "time-type": _link("time:[4026531834]"),
    "regular-file": _regular_file,
    "directory": _directory,
    "symlink-to-symlink": _two_hops,
}


@pytest.mark.parametrize("forgery", list(FORGED))
def test_forged_procfs_entry_is_rejected(mount, caller, forgery):
    """Garbage in a fake procfs (-P) as the caller's ns link: EINVAL for read, stat and open,
    nothing created or touched anywhere (the daemon has a template, so an accepted id would
    make a file), the good caller served throughout. Only the link *text* is read: a link that
    resolves somewhere, or a file holding good text, counts for nothing."""
    good, bad = caller(name="good"), caller(name="forged")
    workdir = new_workdir("forged")
    procfs = os.path.join(workdir, "proc")
    for pid in (good.pid, bad.pid):
        os.makedirs(os.path.join(procfs, str(pid), "ns"))
    os.symlink("net:[777]", os.path.join(procfs, str(good.pid), "ns", "net"))
    FORGED[forgery](os.path.join(procfs, str(bad.pid), "ns"))
    m = mount(workdir=workdir, procfs=procfs, template=TEMPLATE,
              files={"777.conf": b"nameserver 10.7.7.7\n"})
    before = tree(workdir)
    shadow = os.stat("/etc/shadow")
    for op, args in (("read", (m.mnt,)), ("stat", (m.mnt,)), ("open", (m.mnt, "O_WRONLY")),
                     ("truncate", (m.mnt, 0))):
        assert bad.errno_of(op, *args) == errno.EINVAL, op
        assert good.read(m.mnt) == b"nameserver 10.7.7.7\n"
    assert tree(workdir) == before, "something was created or changed"
    assert m.listing() == ["777.conf"]
    after = os.stat("/etc/shadow")
    assert (after.st_mtime_ns, after.st_size) == (shadow.st_mtime_ns, shadow.st_size)


@pytest.mark.parametrize("kind,good_link,bad_link", [
    ("uts", "uts:[888]", "net:[888]"),
    ("mnt", "mnt:[888]", "mnt:[888]x"),
    ("user", "user:[888]", "usr:[888]"),
    ("cgroup", "cgroup:[888]", "cgroup:[-888]"),
])
def test_forged_procfs_other_key_kinds(mount, caller, kind, good_link, bad_link):
    """With -k KIND the link must be exactly `KIND:[N]`; another type's link is rejected."""
    good, bad = caller(name="good"), caller(name="forged")
    workdir = new_workdir("forged-kind")
    procfs = os.path.join(workdir, "proc")
    for pid, link in ((good.pid, good_link), (bad.pid, bad_link)):
        os.makedirs(os.path.join(procfs, str(pid), "ns"))
        os.symlink(link, os.path.join(procfs, str(pid), "ns", kind))
    m = mount(workdir=workdir, procfs=procfs, template=TEMPLATE, args=["-k", kind],
              files={"888.conf": b"nameserver 10.8.8.8\n"})
    assert good.read(m.mnt) == b"nameserver 10.8.8.8\n"
    assert bad.errno_of("read", m.mnt) == errno.EINVAL
    assert bad.errno_of("stat", m.mnt) == errno.EINVAL
    assert m.listing() == ["888.conf"]


# --- unprivileged callers --------------------------------------------------------------------

@pytest.mark.needs_real_root("callers of another real uid (setpriv to 65534)")
@pytest.mark.parametrize("access_check", ["kernel", "daemon"])
def test_unprivileged_caller_cannot_write_or_create(mount, netns, caller, access_check):
    """uid 65534, also as "root" of its own user namespace, may read but not write a root-owned
    0644 file, nor change its mode, owner or times, in any namespace; the only files it can make
    appear are template copies for namespaces root made, root-owned with the template's mode,
    which it then cannot write either. A network namespace it makes in a user namespace of its
    own gets the template and no file at all; writing there is EROFS."""
    a, b, c = netns(), netns(), netns()
    m = mount(template=TEMPLATE, args=["--access-check", access_check],
              files={host_name(): HOST, f"{a.id}.conf": NS_A})
    for name in (host_name(), f"{a.id}.conf"):
        os.chmod(m.path(name), 0o644)
    callers = [caller(NOBODY, name="nobody"), caller(a.cmd(*NOBODY), name="nobody in A"),
               caller(b.cmd(*NOBODY), name="nobody in B (no file)"),
               caller([*NOBODY, "unshare", "--user", "--map-root-user", "--net"],
                      name="userns root, own netns")]
    assert callers[3].uid == 0 and callers[3].netns not in (f"net:[{host_netns_id()}]",)
    for c_ in callers:
        assert c_.read(m.mnt) in (HOST, NS_A, TEMPLATE)
        # The template view is read-only (EROFS), unless the kernel's own check, under
        # --access-check=kernel, refuses first.
        denied = ({errno.EROFS} if access_check == "daemon" else {errno.EROFS, errno.EACCES}) \
            if c_ is callers[3] else {errno.EACCES}
        for flags in (("O_WRONLY",), ("O_RDWR",), ("O_WRONLY", "O_APPEND"),
                      ("O_WRONLY", "O_TRUNC"), ("O_WRONLY", "O_CREAT"),
                      ("O_WRONLY", "O_CREAT", "O_TRUNC")):
            assert c_.errno_of("open", m.mnt, *flags) in denied, (c_.name, flags)
        assert c_.errno_of("truncate", m.mnt, 0) in denied, c_.name
        # O_CREAT|O_EXCL on the one existing file: the kernel says EEXIST.
        assert c_.errno_of("open", m.mnt, "O_WRONLY", "O_CREAT", "O_EXCL") == errno.EEXIST
    prefixes = [NOBODY, a.cmd(*NOBODY), c.cmd(*NOBODY),
                [*NOBODY, "unshare", "--user", "--map-root-user", "--net"]]
    for prefix in prefixes:
        for cmd in (["chmod", "666", m.mnt], ["chown", "65534", m.mnt],
                    ["touch", "-d", "2001-01-01", m.mnt], ["sh", "-c", f"echo x > {m.mnt}"]):
            r = run([*prefix, *cmd])
            assert r.returncode != 0, f"{prefix} {cmd} succeeded"
    # B and C got template copies; the user namespaces' network namespaces (one for the
    # long-lived caller, one per command above) got none; nothing else exists.
    names = m.listing()
    assert host_name() in names and f"{a.id}.conf" in names
    assert f"{b.id}.conf" in names and f"{c.id}.conf" in names
    assert len(names) == 4, names
    for name in names:
        st = os.stat(m.path(name))
        assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (0, 0, 0o644), name
        assert re.fullmatch(r"\d+\.conf", name)
    assert m.read_backing(host_name()) == HOST and m.read_backing(f"{a.id}.conf") == NS_A
    for name in names:
        if name not in (host_name(), f"{a.id}.conf"):
            assert m.read_backing(name) == TEMPLATE


@pytest.mark.parametrize("umask", ["077", "000"])
def test_template_copies_get_the_templates_mode_and_the_daemons_owner(mount, netns, umask):
    """Whatever the daemon's umask, a copy gets exactly the template's permission bits (never
    setuid, setgid or sticky bits) and belongs to the daemon, not to the template's owner."""
    m = mount(template=TEMPLATE, wrapper=["sh", "-c", 'umask "$0" && exec "$@"', umask])
    with open(f"/proc/{m.pid}/status") as f:
        assert f"Umask:\t0{umask}\n" in f.read()
    if real_root():
        os.chown(m.template, 65534, 65534)
    for mode in (0o644, 0o600, 0o640, 0o444, 0o400, 0o4755, 0o2750, 0o1644):
        os.chmod(m.template, mode)
        ns = netns()
        assert ns.run("cat", m.mnt, check=True).stdout == TEMPLATE
        st = os.stat(m.path(f"{ns.id}.conf"))
        assert stat.S_IMODE(st.st_mode) == mode & 0o777, \
            f"template {oct(mode)}: copy {oct(st.st_mode)}"
        assert (st.st_uid, st.st_gid) == (os.geteuid(), os.getegid())
        r = ns.run("stat", "-c", "%a %u %g", m.mnt, check=True)
        assert r.stdout.decode().split() == [f"{mode & 0o777:o}", str(os.geteuid()),
                                             str(os.getegid())]


@pytest.mark.parametrize("dir_mode,template_mode,warned", [
    (0o755, 0o644, []),
    (0o750, 0o600, []),
    (0o775, 0o644, ["backing directory"]),
    (0o757, 0o644, ["backing directory"]),
    (0o1777, 0o644, ["backing directory"]),
    (0o755, 0o664, ["default file"]),
    (0o755, 0o646, ["default file"]),
    (0o777, 0o666, ["backing directory", "default file"]),
], ids=lambda v: oct(v) if isinstance(v, int) else "+".join(w.split()[0] for w in v) or "none")
def test_startup_warns_when_group_or_others_can_write(mount, dir_mode, template_mode, warned):
    m = mount(template=TEMPLATE, template_mode=template_mode, backing_mode=dir_mode,
              files={host_name(): HOST}, stderr_ok=[r"resolvconffs: warning: .*"])
    assert run(["cat", m.mnt], check=True).stdout == HOST
    warnings = [ln for ln in m.stderr_lines() if ln.startswith("resolvconffs: warning:")]
    assert len(warnings) == len(warned), warnings
    for what, line in zip(warned, warnings):
        path, mode = ((m.backing, dir_mode) if what == "backing directory" else
                      (m.template, template_mode))
        assert what in line and path in line and f"{mode:o}" in line and "writable" in line, line
    assert len([ln for ln in m.stderr_lines() if "warning" in ln]) == len(warned)


# --- a daemon that is not root ---------------------------------------------------------------

def owned_layout(tag, uid=65534):
    """A workdir whose mountpoint file and backing directory belong to uid."""
    workdir = new_workdir(tag)
    backing = os.path.join(workdir, "backing")
    os.mkdir(backing)
    with open(os.path.join(workdir, "mnt"), "wb"):
        pass
    os.chown(backing, uid, uid)
    os.chown(os.path.join(workdir, "mnt"), uid, uid)
    return workdir


def fuse_node(workdir):
    """A character device node for /dev/fuse that anyone may open, to bind over /dev/fuse in a
    private mount namespace: a new one as real root, else the machine's own when it is 0666."""
    st = os.stat("/dev/fuse")
    if not is_real_root() and stat.S_IMODE(st.st_mode) & 0o666 == 0o666:
        # mknod of a device needs CAP_MKNOD in the initial user namespace; the machine's own
        # node will do, anyone may open it already.
        return "/dev/fuse"
    node = os.path.join(workdir, "fuse-node")
    os.mknod(node, 0o666 | stat.S_IFCHR, st.st_rdev)
    os.chmod(node, 0o666)
    return node


def _mounted_in(d):
    try:
        return rcfs_mounts(d.mnt, pid=d.pid)
    except OSError:   # its /proc entry is in the middle of an exec
        return False


def wait_private_mount(d):
    """Wait for a daemon whose mount lives in a mount namespace of its own."""
    d.pid = d.proc.pid   # every wrapper execs: the daemon keeps the pid we started
    wait_for(lambda: d.proc.poll() is not None or _mounted_in(d), TIMEOUT,
             f"the mount in pid {d.pid}'s mount namespace")
    assert d.proc.poll() is None, f"daemon exited {d.proc.returncode}: {d.stderr_text()}"
    assert not rcfs_mounts(d.mnt), "the mount leaked into the test's mount namespace"


def requests_logged(d):
    """Requests the daemon logged (-v), but releases: the kernel sends those asynchronously,
    after the caller has gone."""
    return len([ln for ln in d.stderr_lines()
                if re.match(r"resolvconffs: (?!release )\w+ pid=", ln)])


@pytest.mark.needs_init_userns(
    "fusermount3 mounts for a daemon that is not root by being set-user-ID root, and execve(2) "
    "ignores a set-user-ID bit whose owner the user namespace does not map (real root is not "
    "mapped in a user's namespace)")
def test_non_root_daemon_serves_only_its_own_users_processes(mount, netns):
    """uid 65534 runs the daemon; fusermount3 mounts for it (allow_other needs
    user_allow_other, given here in a private mount namespace's /etc/fuse.conf, not the
    machine's). Its own user's processes are served, in any network namespace; the daemon may
    not read the ns link of root's or another user's processes and answers EACCES, creating
    nothing."""
    a = netns()
    workdir = owned_layout("nonroot")
    fuse_conf = os.path.join(workdir, "fuse.conf")
    with open(fuse_conf, "w") as f:
        f.write("user_allow_other\n")
    # libfuse opens /dev/fuse itself before it falls back to fusermount3, and gives up when it
    # may not (mode 0600 here; Debian's udev rule makes it 0666): a 0666 node is bound over it
    # in the same private mount namespace, the machine's is left as it is.
    node = fuse_node(workdir)
    wrapper = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
               'mount --bind "$0" /etc/fuse.conf && mount --bind "$1" /dev/fuse && shift && '
               'exec "$@"', fuse_conf, node, *NOBODY]
    m = mount(workdir=workdir, backing_exists=True, template=TEMPLATE, wrapper=wrapper,
              args=["-v"], wait=False)
    wait_private_mount(m)
    enter = ["nsenter", f"--mount=/proc/{m.pid}/ns/mnt"]
    other = [*enter, "setpriv", "--reuid=65533", "--regid=65533", "--clear-groups"]

    assert run([*enter, *NOBODY, "cat", m.mnt], check=True).stdout == TEMPLATE
    assert run([*enter, f"--net={a.path}", *NOBODY, "cat", m.mnt], check=True).stdout == TEMPLATE
    names = sorted([host_name(), f"{a.id}.conf"])
    assert m.listing() == names
    for name in names:
        st = os.stat(m.path(name))
        assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (65534, 65534, 0o644)
    served = requests_logged(m)
    for prefix in (enter, [*enter, f"--net={a.path}"], other):
        for cmd in (["cat", m.mnt], ["stat", m.mnt]):
            r = run([*prefix, *cmd])
            assert r.returncode != 0 and b"Permission denied" in r.stderr, (prefix, cmd, r)
    lines = m.stderr_lines()
    refused = [ln for ln in lines if re.search(r"pid=\d+ uid=(0|65533): Permission denied", ln)]
    assert refused and requests_logged(m) > served, "the kernel, not the daemon, refused"
    assert m.listing() == names
    assert m.stop() == 0


@pytest.mark.needs_real_root("a user namespace of uid 65534")
def test_daemon_in_a_user_namespace_serves_only_that_namespace(mount, netns):
    """uid 65534 runs the daemon as "root" of its own user and mount namespace (the only /dev/fuse
    it can open is a 0666 node bound over /dev/fuse in a private mount namespace: the machine's
    is left as it is). It serves its own user's processes in any network namespace. The kernel
    refuses everyone outside that user namespace (allow_other on such a mount covers only
    processes inside it) with EACCES before the daemon hears of them, and a process inside
    whose uid the namespace does not map with EOVERFLOW."""
    a = netns()
    workdir = owned_layout("userns")
    node = fuse_node(workdir)
    wrapper = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
               'mount --bind "$0" /dev/fuse && exec "$@"', node, *NOBODY,
               "unshare", "--user", "--map-root-user", "--mount"]
    m = mount(workdir=workdir, backing_exists=True, template=TEMPLATE, wrapper=wrapper,
              args=["-v"], wait=False)
    wait_private_mount(m)
    inside = ["nsenter", "-t", str(m.pid), "--user", "--mount"]
    assert run([*inside, "cat", m.mnt], check=True).stdout == TEMPLATE
    assert run([*inside, f"--net={a.path}", "cat", m.mnt], check=True).stdout == TEMPLATE
    assert run([*inside, "unshare", "--net", "cat", m.mnt], check=True).stdout == TEMPLATE
    # Files only for the daemon's own network namespace and the one made inside its user
    # namespace; A belongs to the initial user namespace, not the daemon's: the template, no file.
    names = m.listing()
    assert len(names) == 2 and host_name() in names and f"{a.id}.conf" not in names, names
    for name in names:
        st = os.stat(m.path(name))
        assert (st.st_uid, st.st_gid) == (65534, 65534)
    served = requests_logged(m)
    mount_only = ["nsenter", "-t", str(m.pid), "--mount"]
    for prefix, err in ((mount_only, b"Permission denied"),
                        ([*mount_only, *NOBODY], b"Permission denied"),
                        ([*mount_only, "setpriv", "--reuid=65533", "--regid=65533",
                          "--clear-groups"], b"Permission denied"),
                        ([*inside, "--preserve-credentials"], b"Value too large")):
        r = run([*prefix, "cat", m.mnt])
        assert r.returncode != 0 and err in r.stderr, (prefix, r)
    assert requests_logged(m) == served, "these requests reached the daemon"
    assert m.listing() == names
    assert m.stop() == 0


# --- descriptors: the daemon holds one per open of the mount ---------------------------------

HOLD = textwrap.dedent(r'''
    import os, sys
    fds = []
    for _ in range(int(sys.argv[2])):
        try:
            fds.append(os.open(sys.argv[1], os.O_RDONLY))
        except OSError as e:
            print("failed", len(fds), e.errno, flush=True)
            break
    else:
        print("held", len(fds), flush=True)
    sys.stdin.read()
''')


@pytest.mark.needs_real_root("callers of another real uid (setpriv to 65534)")
def test_descriptors_held_by_an_unprivileged_user_do_not_deny_others(mount, procs):
    """Every open of the mount holds a descriptor in the daemon until it is closed. Two
    processes of uid 65534 holding 600 opens each must not make the host's own lookups fail
    (with systemd's default soft limit of 1024 descriptors, they would: EMFILE for everyone)."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    infinite = hard == resource.RLIM_INFINITY
    soft, hard_text = (1024, "unlimited") if infinite else (min(1024, hard), str(hard))
    m = mount(files={host_name(): HOST}, wrapper=["prlimit", f"--nofile={soft}:{hard_text}"])
    holders = [procs.start([*NOBODY, *py(HOLD, m.mnt, 600)], stdin=subprocess.PIPE)
               for _ in range(2)]
    said = []
    for p in holders:
        ready, _, _ = select.select([p.stdout], [], [], TIMEOUT)
        assert ready, "a holder did not answer"
        said.append(p.stdout.readline().decode().split())
    r = run(["cat", m.mnt])
    assert r.returncode == 0 and r.stdout == HOST, (
        f"with {said} the host's read fails: {r.stderr.decode().strip()}\n"
        f"reproducer: {m.reproducer()}")
    assert all(s[:2] == ["held", "600"] for s in said), said


# --- mmap: the kernel's page cache is shared between callers ---------------------------------

MAPPER = textwrap.dedent(r'''
    import mmap, os, sys
    fd = os.open(sys.argv[1], os.O_RDONLY)
    maps = []
    for line in sys.stdin:
        cmd = line.split()
        try:
            if cmd[0] == "map":
                maps.append(mmap.mmap(fd, int(cmd[1]), mmap.MAP_PRIVATE, mmap.PROT_READ))
                out = "ok"
            elif cmd[0] == "mapshared":
                maps.append(mmap.mmap(fd, int(cmd[1]), mmap.MAP_SHARED, mmap.PROT_READ))
                out = "ok"
            elif cmd[0] == "peek":
                out = maps[-1][int(cmd[1]):int(cmd[1]) + 1].decode()
            elif cmd[0] == "pread":
                out = os.pread(fd, 1, int(cmd[1])).decode()
        except OSError as e:
            out = "errno %d" % e.errno
        print(out, flush=True)
''')


class Mapper:
    def __init__(self, procs_, prefix, mnt):
        self.p = procs_.start([*prefix, *py(MAPPER, mnt)], stdin=subprocess.PIPE)

    def __call__(self, *cmd):
        self.p.stdin.write((" ".join(map(str, cmd)) + "\n").encode())
        self.p.stdin.flush()
        ready, _, _ = select.select([self.p.stdout], [], [], TIMEOUT)
        assert ready, f"no answer to {cmd}"
        return self.p.stdout.readline().decode().strip()


def test_mmap_private_pages_are_shared_between_namespaces(mount, netns, procs):
    """The documented caveat, verified: a MAP_PRIVATE mapping of the mount is filled through the
    inode's page cache, which the kernel keeps per inode, not per caller: once B has mapped and
    touched the file, A's mapping shows B's bytes. read(2) is unaffected (direct I/O), and
    MAP_SHARED is refused (ENODEV). No resolver maps resolv.conf."""
    a, b = netns(), netns()
    size = 8192
    m = mount(files={host_name(): HOST, f"{a.id}.conf": b"A" * size, f"{b.id}.conf": b"B" * size})
    ma, mb = Mapper(procs, a.cmd(), m.mnt), Mapper(procs, b.cmd(), m.mnt)
    assert ma("mapshared", size) == f"errno {errno.ENODEV}"
    assert ma("pread", 0) == "A" and ma("map", size) == "ok" and ma("peek", 0) == "A"
    assert mb("map", size) == "ok" and mb("peek", 0) == "B" and mb("peek", 4096) == "B"
    seen = (ma("peek", 0), ma("peek", 4096))
    assert ma("pread", 0) == "A" and mb("pread", 0) == "B", "read(2) must stay per namespace"
    print(f"A's private mapping after B mapped: {seen}")
    assert seen == ("B", "B"), (
        f"A's mapping shows {seen}: the kernel no longer shares the mapping's pages between "
        "namespaces here; update the mmap caveat in docs/RELIABILITY.md")
