"""One inode, many views: every caller always gets its own namespace's file, whatever the caller
before it saw (DESIGN.md "One inode, many views" and "Who is calling")."""
import json
import os
import stat
import subprocess
import sys
import textwrap

import pytest

from fuseutil import TIMEOUT, host_netns_id, new_workdir, run
from testenv import can_act_as_root

HOST = b"nameserver 10.0.0.1\n"
NS_A = b"nameserver 10.0.0.2\noptions ndots:2 timeout:1\n"
NS_B = b"# B\nnameserver 10.0.0.3\nsearch b.example\nsearch-more b2.example\n"


@pytest.fixture
def three(mount, netns):
    """A mount without template where the host and two namespaces each have a file of a
    different size."""
    a, b = netns(), netns()
    m = mount(files={f"{host_netns_id()}.conf": HOST, f"{a.id}.conf": NS_A, f"{b.id}.conf": NS_B})
    assert len({len(HOST), len(NS_A), len(NS_B)}) == 3
    return m, a, b


def test_netns_id_is_what_the_link_says(netns):
    """The fixture's notion of a namespace id (the nsfs inode) is the N of net:[N]."""
    ns = netns()
    link = ns.run("readlink", "/proc/self/ns/net", check=True).stdout.decode().strip()
    assert link == f"net:[{ns.id}]"


def test_alternating_callers_500_times(three, caller):
    m, a, b = three
    callers = [(caller(name="host"), HOST), (caller(a.cmd(), name="A"), NS_A),
               (caller(b.cmd(), name="B"), NS_B)]
    assert callers[1][0].netns == f"net:[{a.id}]"
    for i in range(500):
        # Vary the order so each caller follows each other caller, and keep each caller's stat
        # away from its own read (a short read alone tells the kernel that caller's size).
        order = callers[i % 3:] + callers[:i % 3]
        if i % 2:
            order.reverse()
        for c, want in order:
            assert c.stat(m.mnt)["size"] == len(want), f"round {i}: {c.name} stat size"
        for c, want in order:
            assert c.read(m.mnt) == want, f"round {i}: {c.name} read another namespace's file"
    assert m.listing() == sorted([f"{host_netns_id()}.conf", f"{a.id}.conf", f"{b.id}.conf"])


def test_alternating_cat_and_stat_commands(three):
    """The same with the ordinary tools, each a new process: `cat` and `stat -c %s`."""
    m, a, b = three
    views = [([], HOST), (a.cmd(), NS_A), (b.cmd(), NS_B)]
    for i in range(100):
        order = views if i % 2 else views[::-1]
        for prefix, want in order:
            r = run([*prefix, "stat", "-c", "%s", m.mnt], check=True)
            assert int(r.stdout) == len(want), f"round {i}: {prefix} stat -c %s"
        for prefix, want in order:
            r = run([*prefix, "cat", m.mnt], check=True)
            assert r.stdout == want, f"round {i}: {prefix} cat"


def test_same_size_and_mtime_different_content(mount, netns, caller):
    """Files that differ only in content: attributes that look unchanged must not let the kernel
    serve one caller's data from a page cache another caller filled."""
    a, b = netns(), netns()
    da, db = b"nameserver 10.0.0.2\n" * 50, b"nameserver 10.0.0.3\n" * 50
    m = mount(files={f"{host_netns_id()}.conf": db, f"{a.id}.conf": da, f"{b.id}.conf": db})
    t = 1_650_000_000_000_000_000
    for name in m.listing():
        os.utime(m.path(name), ns=(t, t))
    ca, cb, ch = caller(a.cmd(), name="A"), caller(b.cmd(), name="B"), caller(name="host")
    for i in range(200):
        assert ca.read(m.mnt) == da, f"round {i}: A"
        assert cb.read(m.mnt) == db, f"round {i}: B"
        assert ch.read(m.mnt) == db, f"round {i}: host"
    # Also with descriptors kept open across the other caller's reads.
    fa, fb = ca.open(m.mnt), cb.open(m.mnt)
    for i in range(50):
        assert ca.readall(fa) == da and cb.readall(fb) == db, f"round {i}"
    ca.close(fa)
    cb.close(fb)


def test_stat_follows_the_callers_file(three, caller):
    """Mode bits, owner, group, inode number and times are the caller's own file's. (Owners
    other than root exist as real root and in a user namespace with a subordinate id range; one
    that maps the user's own ids alone has uid and gid 0 only.)"""
    m, a, b = three
    host = f"{host_netns_id()}.conf"
    owner_a, owner_b = ((1234, 2345), (0, 4321)) if can_act_as_root() else ((0, 0), (0, 0))
    os.chmod(m.path(host), 0o644)
    os.chmod(m.path(f"{a.id}.conf"), 0o600)
    os.chown(m.path(f"{a.id}.conf"), *owner_a)
    os.chmod(m.path(f"{b.id}.conf"), 0o640)
    os.chown(m.path(f"{b.id}.conf"), *owner_b)
    # Distinct times with nanoseconds, as glibc's resolver compares them.
    os.utime(m.path(host), ns=(1_600_000_000_111_111_111, 1_600_000_000_123_456_789))
    os.utime(m.path(f"{a.id}.conf"), ns=(1_700_000_000_222_222_222, 1_700_000_000_987_654_321))
    views = [([], host, "644 0 0"), (a.cmd(), f"{a.id}.conf", "600 %d %d" % owner_a),
             (b.cmd(), f"{b.id}.conf", "640 %d %d" % owner_b)]
    for i in range(5):
        for prefix, name, want in views:
            r = run([*prefix, "stat", "-c", "%a %u %g", m.mnt], check=True)
            assert r.stdout.decode().strip() == want, f"round {i}: {name}"

    cs = {name: caller(prefix, name=name) for prefix, name, _ in views}
    for i in range(20):
        for name, c in cs.items():
            got = c.stat(m.mnt)
            real = os.stat(m.path(name))
            assert got["ino"] == real.st_ino, f"{name}: st_ino"
            assert got["size"] == real.st_size, f"{name}: size"
            assert got["mode"] == real.st_mode, f"{name}: mode"
            assert (got["uid"], got["gid"]) == (real.st_uid, real.st_gid), f"{name}: owner"
            assert got["mtime_ns"] == real.st_mtime_ns, f"{name}: mtime"
            assert got["ctime_ns"] == real.st_ctime_ns, f"{name}: ctime"
            assert got["nlink"] == real.st_nlink, f"{name}: nlink"
            assert stat.S_ISREG(got["mode"])
    # The mount's own device, but the backing file's inode: not the FUSE node id 1.
    assert cs[host].stat(m.mnt)["dev"] != os.stat(m.path(host)).st_dev
    assert cs[host].stat(m.mnt)["ino"] != 1


def test_lseek_end_uses_the_descriptors_file(three, caller):
    """lseek(SEEK_END) makes the kernel ask for the size with the file handle: it must be the
    open file's size, not the size of whoever stat'ed last."""
    m, a, b = three
    ca, cb = caller(a.cmd(), name="A"), caller(b.cmd(), name="B")
    fd = ca.open(m.mnt)
    for i in range(20):
        cb.stat(m.mnt)
        assert ca.lseek(fd, 0, os.SEEK_END) == len(NS_A), f"round {i}"
    ca.close(fd)


def test_symlinked_backing_file_is_followed(mount, netns, caller):
    """A backing file may be a symlink the administrator made (e.g. to systemd-resolved's file):
    reads and stat follow it."""
    target_dir = new_workdir("symlink-target")
    target = os.path.join(target_dir, "resolv.conf")
    with open(target, "wb") as f:
        f.write(NS_A)
    a = netns()
    m = mount(files={f"{a.id}.conf": NS_B})
    os.symlink(target, m.path(f"{host_netns_id()}.conf"))
    assert run(["cat", m.mnt], check=True).stdout == NS_A
    st = caller(name="host").stat(m.mnt)
    assert st["ino"] == os.stat(target).st_ino and stat.S_ISREG(st["mode"])
    assert a.run("cat", m.mnt, check=True).stdout == NS_B


THREADS = textwrap.dedent(r'''
    import ctypes, json, os, sys, threading
    mnt, rounds, nspaths = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    libc = ctypes.CDLL(None, use_errno=True)
    CLONE_NEWNET = 0x40000000
    barrier = threading.Barrier(len(nspaths) + 1)
    results = {}

    def work(key, nspath):
        res = results[key] = {"contents": {}, "sizes": {}}
        try:
            if nspath:
                fd = os.open(nspath, os.O_RDONLY)
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns")
                os.close(fd)
            res["tid"] = threading.get_native_id()
            res["netns"] = os.readlink("/proc/thread-self/ns/net")
        finally:
            barrier.wait()
        for _ in range(rounds):
            with open(mnt, "rb") as f:
                data = f.read().decode()
            res["contents"][data] = res["contents"].get(data, 0) + 1
            size = str(os.stat(mnt).st_size)
            res["sizes"][size] = res["sizes"].get(size, 0) + 1

    threads = [threading.Thread(target=work, args=(p, p)) for p in nspaths]
    for t in threads:
        t.start()
    work("main", None)
    for t in threads:
        t.join()
    results["pid"] = os.getpid()
    json.dump(results, sys.stdout)
''')


def test_threads_of_one_process_in_two_namespaces(three):
    """Namespace membership is per thread and the request carries the thread id: two threads
    of one process, setns'd into different namespaces, each read their own file, concurrently
    with the main thread (host namespace)."""
    m, a, b = three
    rounds = 300
    r = subprocess.run([sys.executable, "-c", THREADS, m.mnt, str(rounds), a.path, b.path],
                       capture_output=True, timeout=6 * TIMEOUT)
    assert r.returncode == 0, r.stderr.decode()
    res = json.loads(r.stdout)
    want = {"main": (HOST, f"net:[{host_netns_id()}]"), a.path: (NS_A, f"net:[{a.id}]"),
            b.path: (NS_B, f"net:[{b.id}]")}
    tids = {res[k]["tid"] for k in want}
    assert len(tids) == 3 and res["pid"] in tids
    for key, (content, link) in want.items():
        assert res[key]["netns"] == link, f"{key}: setns did not take effect"
        assert res[key]["contents"] == {content.decode(): rounds}, f"{key} read other files"
        assert res[key]["sizes"] == {str(len(content)): rounds}, f"{key} saw other sizes"
