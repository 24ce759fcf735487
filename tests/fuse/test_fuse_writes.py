"""Writes through the mount reach the caller's own backing file only: `>`, `>>`, truncate by path
and by descriptor, O_TRUNC, fsync (DESIGN.md "Writes"). Every test checks the other namespaces'
files byte for byte."""
import errno
import os

import pytest

from fuseutil import host_netns_id

SHORT = b"nameserver 10.1.0.1\n"
LONG = b"# a long file\n" + b"".join(b"nameserver 10.2.0.%d\n" % i for i in range(1, 200))
HOST = b"nameserver 10.0.0.1\nsearch host.example\n"


# The daemon opens backing files on two paths: with its recycled-id check (the default where the
# kernel has NS_GET_ID) it applies O_TRUNC itself after checking; without it O_TRUNC is passed to
# the backing open. Every write test runs on both.
@pytest.fixture(params=[[], ["--no-recycle-check"]], ids=["default", "no-recycle-check"])
def env(request, mount, netns):
    """Namespace A has a short file, B a long one, the host a third."""
    a, b = netns(), netns()
    files = {f"{host_netns_id()}.conf": HOST, f"{a.id}.conf": SHORT, f"{b.id}.conf": LONG}
    m = mount(files=files, args=request.param)

    def check(**want):
        """Assert every backing file's content: want maps 'host', 'a', 'b' to bytes; the ones
        not given must be unchanged."""
        names = {"host": f"{host_netns_id()}.conf", "a": f"{a.id}.conf", "b": f"{b.id}.conf"}
        orig = {"host": HOST, "a": SHORT, "b": LONG}
        for key, name in names.items():
            got = m.read_backing(name)
            expected = want.get(key, orig[key])
            assert got == expected, (f"{key}'s file {name}: {len(got)} bytes, expected "
                                     f"{len(expected)}: {got[:80]!r}...")
        assert m.listing() == sorted(names.values()), "files appeared in the backing directory"
    return m, a, b, check


def test_redirect_truncates_and_writes(env):
    m, a, b, check = env
    a.run("sh", "-c", f"printf 'nameserver 10.9.9.9\\n' > {m.mnt}", check=True)
    check(a=b"nameserver 10.9.9.9\n")
    # Shorter than before in B (long file): the old tail must be gone.
    b.run("sh", "-c", f"printf 'x\\n' > {m.mnt}", check=True)
    check(a=b"nameserver 10.9.9.9\n", b=b"x\n")
    assert int(b.run("stat", "-c", "%s", m.mnt, check=True).stdout) == 2


def test_shell_appends_interleaved_with_other_namespaces(env):
    m, a, b, check = env
    want_a, want_b = SHORT, LONG
    for i in range(20):
        # The other namespace stats just before, so the kernel's idea of the size is its file's.
        b.run("stat", "-c", "%s", m.mnt, check=True)
        a.run("sh", "-c", f"echo 'options a{i}' >> {m.mnt}", check=True)
        want_a += b"options a%d\n" % i
        a.run("stat", "-c", "%s", m.mnt, check=True)
        b.run("sh", "-c", f"echo 'options b{i}' >> {m.mnt}", check=True)
        want_b += b"options b%d\n" % i
    check(a=want_a, b=want_b)


@pytest.mark.parametrize("writer", ["short", "long"])
def test_append_with_kernel_size_from_another_namespace(env, caller, writer):
    """DESIGN.md's append case, made deterministic: the writer holds an O_APPEND descriptor, the
    other namespace stats the mount (the kernel now believes the other file's size), then the
    writer writes. The data must land at the end of the writer's own file, with no hole when
    the other file is longer and without overwriting when it is shorter."""
    m, a, b, check = env
    wns, ons = (a, b) if writer == "short" else (b, a)
    w = caller(wns.cmd(), name=f"writer in {wns.name}")
    o = caller(ons.cmd(), name=f"other in {ons.name}")
    h = caller(name="host")
    fd = w.open(m.mnt, "O_WRONLY", "O_APPEND")
    want = SHORT if writer == "short" else LONG
    for i in range(30):
        (o if i % 2 else h).stat(m.mnt)
        data = b"options w%d\n" % i
        assert w.write(fd, data) == len(data)
        want += data
    w.close(fd)
    if writer == "short":
        check(a=want)
    else:
        check(b=want)
    assert w.stat(m.mnt)["size"] == len(want)


def test_coreutils_truncate(env):
    m, a, b, check = env
    a.run("truncate", "-s", "7", m.mnt, check=True)
    check(a=SHORT[:7])
    a.run("truncate", "-s", "12", m.mnt, check=True)   # grows with zeros
    check(a=SHORT[:7] + b"\0" * 5)
    b.run("truncate", "-s", "0", m.mnt, check=True)
    check(a=SHORT[:7] + b"\0" * 5, b=b"")


def test_truncate_by_path_and_by_descriptor(env, caller):
    """truncate(2) arrives as a SETATTR without a file handle, ftruncate(2) with one."""
    m, a, b, check = env
    ca, cb = caller(a.cmd(), name="A"), caller(b.cmd(), name="B")
    ca.truncate(m.mnt, 5)
    check(a=SHORT[:5])
    fd = cb.open(m.mnt, "O_RDWR")
    cb.ftruncate(fd, 100)
    assert cb.fstat(fd)["size"] == 100
    # Another caller's path-based request in between must not redirect B's descriptor.
    ca.truncate(m.mnt, 3)
    cb.ftruncate(fd, 10)
    cb.close(fd)
    check(a=SHORT[:3], b=LONG[:10])


def test_open_with_o_trunc(env, caller):
    m, a, b, check = env
    cb = caller(b.cmd(), name="B")
    fd = cb.open(m.mnt, "O_WRONLY", "O_TRUNC")
    assert cb.write(fd, b"nameserver 10.3.3.3\n") == 20
    cb.close(fd)
    check(b=b"nameserver 10.3.3.3\n")


def test_fsync_and_fdatasync(env, caller):
    m, a, b, check = env
    ca = caller(a.cmd(), name="A")
    fd = ca.open(m.mnt, "O_RDWR")
    assert ca.write(fd, b"NAMESERVER") == 10
    ca.fsync(fd)
    ca.fdatasync(fd)
    assert ca.readall(fd) == b"NAMESERVER" + SHORT[10:]
    ca.close(fd)
    check(a=b"NAMESERVER" + SHORT[10:])
    # python's own os.fsync on a file object of the mount, from the host.
    with open(m.mnt, "r+b") as f:
        f.write(b"#")
        f.flush()
        os.fsync(f.fileno())
    check(a=b"NAMESERVER" + SHORT[10:], host=b"#" + HOST[1:])


def test_descriptor_keeps_its_file_across_setns(env, caller):
    """A descriptor opened in A writes to (and truncates) A's file even after its thread moved
    to B: the open file is fixed at open, like any file."""
    m, a, b, check = env
    c = caller(a.cmd(), name="A then B")
    fd = c.open(m.mnt, "O_WRONLY", "O_APPEND")
    c.call("setns", path=b.path)
    assert c.call("info")["netns"] == f"net:[{b.id}]"
    c.write(fd, b"options late\n")
    c.ftruncate(fd, len(SHORT) + 7)     # a SETATTR with the handle: A's file too
    c.close(fd)
    assert c.read(m.mnt) == LONG
    check(a=SHORT + b"options")


def test_read_only_open_cannot_write(env, caller):
    m, a, b, check = env
    ca = caller(a.cmd(), name="A")
    fd = ca.open(m.mnt, "O_RDONLY")
    assert ca.errno_of("write", fd, b"x") == errno.EBADF
    ca.close(fd)
    check()
