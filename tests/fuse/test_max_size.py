"""Bounded size (issue 11, point 5; README "Bounds"): `--max-size BYTES`, default 1 MiB. A write
or truncate through the mount that would make the caller's file larger fails with EFBIG and
changes nothing (content, size); up to the limit everything works. A template larger than the
limit, and a limit that is not a whole number of bytes from 1, are refused at startup: exit
status 2, one line on stderr, nothing mounted.

Whatever fails, the mount fixture stops the daemons by pid and removes their mounts; callers are
ended at teardown.
"""
import errno
import os

import pytest

from featutil import startup_layout, wait_stderr
from fuseutil import host_netns_id, run
from test_self_reference import refused_with_2

HOST = b"nameserver 10.0.0.1\noptions ndots:2\n"
TEMPLATE = b"nameserver 192.0.2.53\n"
LIMIT = 4096
MIB = 1 << 20


def host_name():
    return f"{host_netns_id()}.conf"


def snapshot(m, name):
    st = os.stat(m.path(name))
    return m.read_backing(name), st.st_size, st.st_ino, st.st_mtime_ns


@pytest.fixture
def limited(mount, caller):
    """A daemon with --max-size 4096 and the host's file HOST; a caller in the host namespace."""
    m = mount(template=TEMPLATE, args=["--max-size", str(LIMIT)], files={host_name(): HOST})
    wait_stderr(m, rf"resolvconffs: serving .*; max size: {LIMIT}; .*")
    return m, caller(name="host")


def assert_efbig_unchanged(m, c, op, *args):
    before = snapshot(m, host_name())
    assert c.errno_of(op, *args) == errno.EFBIG, (op, args, m.reproducer())
    assert snapshot(m, host_name()) == before, (op, args)
    assert c.read(m.mnt) == before[0]
    assert c.stat(m.mnt)["size"] == before[1]


def test_a_write_beyond_the_limit_fails_and_changes_nothing(limited):
    m, c = limited
    fd = c.open(m.mnt, "O_WRONLY")
    assert_efbig_unchanged(m, c, "write", fd, b"x" * 5000)
    assert_efbig_unchanged(m, c, "write", fd, b"y" * (LIMIT + 1))
    c.lseek(fd, LIMIT - 10)
    assert_efbig_unchanged(m, c, "write", fd, b"z" * 11)
    c.lseek(fd, 1 << 40)
    assert_efbig_unchanged(m, c, "write", fd, b"w")
    c.close(fd)
    fd = c.open(m.mnt, "O_RDWR")
    assert_efbig_unchanged(m, c, "write", fd, b"v" * (10 * LIMIT))
    c.close(fd)


def test_an_append_beyond_the_limit_fails_and_changes_nothing(limited):
    m, c = limited
    fd = c.open(m.mnt, "O_WRONLY", "O_APPEND")
    pad = b"#" * (LIMIT - 101 - len(HOST)) + b"\n"
    assert c.write(fd, pad) == len(pad)
    assert m.read_backing(host_name()) == HOST + pad
    assert_efbig_unchanged(m, c, "write", fd, b"a" * 101)
    assert_efbig_unchanged(m, c, "write", fd, b"b" * 5000)
    # Up to the limit exactly: fine; then not one byte more.
    assert c.write(fd, b"c" * 100) == 100
    assert os.path.getsize(m.path(host_name())) == LIMIT
    assert_efbig_unchanged(m, c, "write", fd, b"d")
    c.close(fd)
    # (/bin/echo: the builtin echo of dash reports any write error as "I/O error")
    r = run(["sh", "-c", f"/bin/echo more >> {m.mnt}"])
    assert r.returncode != 0 and b"File too large" in r.stderr, r
    assert os.path.getsize(m.path(host_name())) == LIMIT


def test_exactly_the_limit_is_allowed(limited):
    m, c = limited
    data = bytes(range(256)) * (LIMIT // 256)
    fd = c.open(m.mnt, "O_WRONLY", "O_TRUNC")
    assert c.write(fd, data) == LIMIT
    c.close(fd)
    assert m.read_backing(host_name()) == data
    assert c.read(m.mnt) == data and c.stat(m.mnt)["size"] == LIMIT
    c.truncate(m.mnt, 10)
    c.truncate(m.mnt, LIMIT)
    assert m.read_backing(host_name()) == data[:10] + b"\0" * (LIMIT - 10)


@pytest.mark.parametrize("size", [LIMIT + 1, 1 << 40, MIB])
def test_truncate_beyond_the_limit_fails_and_changes_nothing(limited, size):
    m, c = limited
    assert_efbig_unchanged(m, c, "truncate", m.mnt, size)
    r = run(["truncate", "-s", str(size), m.mnt])
    assert r.returncode != 0 and b"File too large" in r.stderr, r
    assert m.read_backing(host_name()) == HOST
    # ftruncate on an open descriptor: the same.
    fd = c.open(m.mnt, "O_RDWR")
    assert_efbig_unchanged(m, c, "ftruncate", fd, size)
    c.close(fd)
    fd = c.open(m.mnt, "O_WRONLY")
    assert_efbig_unchanged(m, c, "ftruncate", fd, size)
    c.ftruncate(fd, LIMIT)
    c.close(fd)
    assert m.read_backing(host_name()) == HOST + b"\0" * (LIMIT - len(HOST))


def test_truncate_1t_with_the_shell_tool(limited):
    m, c = limited
    for size in ("1T", "4097", "+4096"):
        r = run(["truncate", "-s", size, m.mnt])
        assert r.returncode != 0 and b"File too large" in r.stderr, (size, r)
        assert m.read_backing(host_name()) == HOST
    r = run(["truncate", "-s", "4096", m.mnt], check=True)
    assert os.path.getsize(m.path(host_name())) == LIMIT


def test_another_namespace_is_bounded_too(limited, netns):
    """A namespace's copy of the template is bounded like any other file."""
    m, _ = limited
    ns = netns()
    assert ns.run("cat", m.mnt, check=True).stdout == TEMPLATE
    r = ns.run("truncate", "-s", "4097", m.mnt)
    assert r.returncode != 0 and b"File too large" in r.stderr, r
    r = ns.run("sh", "-c", f"head -c 5000 /dev/zero > {m.mnt}")
    assert r.returncode != 0 and b"File too large" in r.stderr, r
    # `>` truncated the file first (allowed), then the write failed: empty, never beyond.
    assert os.path.getsize(m.path(f"{ns.id}.conf")) <= LIMIT
    ns.run("sh", "-c", f"head -c 4096 /dev/zero > {m.mnt}", check=True)
    assert os.path.getsize(m.path(f"{ns.id}.conf")) == LIMIT


def test_the_default_limit_is_one_mib(mount, caller):
    m = mount(template=TEMPLATE, files={host_name(): HOST})
    wait_stderr(m, rf"resolvconffs: serving .*; max size: {MIB}; .*")
    c = caller(name="host")
    assert_efbig_unchanged(m, c, "truncate", m.mnt, MIB + 1)
    c.truncate(m.mnt, MIB)
    assert os.path.getsize(m.path(host_name())) == MIB
    fd = c.open(m.mnt, "O_WRONLY", "O_APPEND")
    assert_efbig_unchanged(m, c, "write", fd, b"x")
    c.close(fd)
    c.truncate(m.mnt, MIB - 10)
    fd = c.open(m.mnt, "O_WRONLY")
    c.lseek(fd, MIB - 10)
    assert_efbig_unchanged(m, c, "write", fd, b"y" * 11)
    assert c.write(fd, b"z" * 10) == 10
    c.close(fd)
    assert os.path.getsize(m.path(host_name())) == MIB


def test_a_write_larger_than_one_request_never_passes_the_limit(mount, caller):
    """One write(2) of 1 MiB + 1 byte from offset 0 under the default limit. The kernel splits
    a write larger than FUSE's max_write (1 MiB at most) into several WRITE requests, and the
    daemon judges each on its own: the first ones fit, so write(2) returns a short count and
    only the next write(2) fails with EFBIG (as POSIX has it for RLIMIT_FSIZE: only as many
    bytes as there is room for are written). What holds whatever the split: write(2) never
    reports the whole write, and the file never grows past the limit. (README's "fails with
    EFBIG and changes nothing" holds for every write that is one request, i.e. up to
    max_write bytes.)"""
    m = mount(template=TEMPLATE, files={host_name(): HOST})
    c = caller(name="host")
    fd = c.open(m.mnt, "O_WRONLY", "O_TRUNC")
    try:
        n = c.write(fd, b"y" * (MIB + 1))
    except OSError as e:
        assert e.errno == errno.EFBIG, e
        assert os.path.getsize(m.path(host_name())) == 0
    else:
        assert 0 < n <= MIB, n
        assert m.read_backing(host_name()) == b"y" * n
        # The rest, written on, fails once it would pass the limit.
        rest = b"y" * (MIB + 1 - n)
        while True:
            try:
                k = c.write(fd, rest)
            except OSError as e:
                assert e.errno == errno.EFBIG, e
                break
            assert 0 < k < len(rest), k
            rest = rest[k:]
    c.close(fd)
    assert os.path.getsize(m.path(host_name())) <= MIB


# --- startup ---------------------------------------------------------------------------------

def test_a_template_larger_than_the_limit_is_refused(rcfs_bin, repro_bin, mount):
    d = startup_layout(template=b"#" * (LIMIT + 1))
    line = refused_with_2(rcfs_bin, ["--max-size", str(LIMIT), "-d", "template", "backing",
                                     "mnt"], d, repro_bin)
    assert line == "resolvconffs: default file 'template': File too large", line
    # The default limit too.
    d = startup_layout(template=b"#" * (MIB + 1))
    line = refused_with_2(rcfs_bin, ["-d", "template", "backing", "mnt"], d, repro_bin)
    assert line == "resolvconffs: default file 'template': File too large", line
    # A template of exactly the limit is fine, and is copied whole.
    m = mount(template=b"#" * LIMIT, args=["--max-size", str(LIMIT)])
    with open(m.mnt, "rb") as f:
        assert f.read() == b"#" * LIMIT


@pytest.mark.parametrize("value", ["0", "-1", "abc", "1K", "", "4096x", " 4096", "0x1000",
                                   "99999999999999999999999"])
def test_bad_max_size_values_are_refused(rcfs_bin, repro_bin, value):
    d = startup_layout()
    line = refused_with_2(rcfs_bin, ["--max-size", value, "-d", "template", "backing", "mnt"],
                          d, repro_bin)
    assert line == (f"resolvconffs: --max-size must be a number of bytes from 1, not "
                    f"'{value}' (see --help)"), line
    line = refused_with_2(rcfs_bin, [f"--max-size={value}", "-d", "template", "backing", "mnt"],
                          d, repro_bin)
    assert "--max-size" in line and f"'{value}'" in line, line
