"""Permissions: the daemon checks every caller against its own backing file, in both modes (by
default alone; with --access-check=kernel the kernel's default_permissions check comes on top,
which sees only the one inode all namespaces share: DESIGN.md "One inode, many views")."""
import errno
import os

import pytest

from fuseutil import FSNAME, host_netns_id, rcfs_mounts, run

NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
# Root held to the permission bits: CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH dropped from the
# bounding set before exec (this works as root of a user namespace too).
NO_DAC = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"]
OTHER_UID = "a caller of a different uid (a user's own namespace maps others only from a range)"
HOST = b"nameserver 10.0.0.1\n"
NS_A = b"nameserver 10.0.0.2\n"


@pytest.fixture(params=[[], ["--access-check=kernel"]], ids=["default", "kernel"])
def env(request, mount, netns):
    a = netns()
    host = f"{host_netns_id()}.conf"
    m = mount(files={host: HOST, f"{a.id}.conf": NS_A}, args=request.param)
    os.chmod(m.path(host), 0o644)            # root-owned, read-only for others
    os.chmod(m.path(f"{a.id}.conf"), 0o666)  # A's file: writable by anyone
    return m, a, host


def test_mount_options(env):
    m, a, host = env
    (entry,) = rcfs_mounts(m.mnt)
    assert entry["source"] == FSNAME
    opts = entry["options"].split(",")
    assert "allow_other" in opts
    assert ("default_permissions" in opts) == ("--access-check=kernel" in m.args)


@pytest.mark.needs_real_root(OTHER_UID)
def test_non_root_can_read_but_not_write_a_root_owned_0644_file(env):
    m, a, host = env
    r = run([*NOBODY, "cat", m.mnt])
    assert r.returncode == 0, r.stderr
    assert r.stdout == HOST
    r = run([*NOBODY, "sh", "-c", f"echo 'nameserver 6.6.6.6' >> {m.mnt}"])
    assert r.returncode != 0
    assert b"Permission denied" in r.stderr, r.stderr
    r = run([*NOBODY, "sh", "-c", f"echo 'nameserver 6.6.6.6' > {m.mnt}"])
    assert r.returncode != 0 and b"Permission denied" in r.stderr, r.stderr
    r = run([*NOBODY, "truncate", "-s", "0", m.mnt])
    assert r.returncode != 0 and b"Permission denied" in r.stderr, r.stderr
    r = run([*NOBODY, "touch", "-d", "2001-01-01", m.mnt])
    assert r.returncode != 0, "a non-owner set the times of root's file"
    r = run([*NOBODY, "chmod", "666", m.mnt])
    assert r.returncode != 0, "a non-owner changed the mode of root's file"
    assert m.read_backing(host) == HOST
    assert oct(os.stat(m.path(host)).st_mode & 0o777) == oct(0o644)


@pytest.mark.needs_real_root(OTHER_UID)
def test_the_check_uses_the_callers_own_file(env):
    """The same unprivileged user may write in namespace A, whose file is 0666, and still not on
    the host: the permission check follows the caller's file, not whoever asked before."""
    m, a, host = env
    for i in range(5):
        r = run([*a.cmd(), *NOBODY, "sh", "-c", f"echo 'options a{i}' >> {m.mnt}"])
        assert r.returncode == 0, r.stderr
        r = run([*NOBODY, "sh", "-c", f"echo 'options host{i}' >> {m.mnt}"])
        assert r.returncode != 0 and b"Permission denied" in r.stderr, r.stderr
    assert m.read_backing(host) == HOST
    assert m.read_backing(f"{a.id}.conf") == NS_A + b"".join(b"options a%d\n" % i for i in range(5))
    # And the other way round: A's file made private to root denies reading in A only.
    os.chmod(m.path(f"{a.id}.conf"), 0o600)
    r = run([*a.cmd(), *NOBODY, "cat", m.mnt])
    assert r.returncode != 0 and b"Permission denied" in r.stderr, r.stderr
    assert run([*NOBODY, "cat", m.mnt], check=True).stdout == HOST


@pytest.mark.needs_real_root(OTHER_UID)
def test_non_root_caller_as_a_long_lived_process(env, caller):
    m, a, host = env
    c = caller(NOBODY, name="nobody")
    assert c.uid == 65534
    assert c.read(m.mnt) == HOST
    assert c.errno_of("open", m.mnt, "O_WRONLY") == errno.EACCES
    assert c.errno_of("open", m.mnt, "O_RDWR") == errno.EACCES
    assert c.errno_of("truncate", m.mnt, 0) == errno.EACCES
    assert m.read_backing(host) == HOST


def test_caller_without_dac_override_is_held_to_its_own_files_mode(env, caller):
    """The same check with the owner instead of another uid, so that it runs in a user's own
    namespace too: a root caller without CAP_DAC_OVERRIDE may append in A (0666) but not on the
    host, whose file is made 0444; A's file made 0000 denies it reading in A only."""
    m, a, host = env
    os.chmod(m.path(host), 0o444)
    for i in range(3):
        r = run([*a.cmd(), *NO_DAC, "sh", "-c", f"echo 'options a{i}' >> {m.mnt}"])
        assert r.returncode == 0, r.stderr
        r = run([*NO_DAC, "sh", "-c", f"echo 'options host{i}' >> {m.mnt}"])
        assert r.returncode != 0 and b"Permission denied" in r.stderr, r.stderr
    assert m.read_backing(host) == HOST
    assert m.read_backing(f"{a.id}.conf") == NS_A + b"options a0\noptions a1\noptions a2\n"
    c = caller(NO_DAC, name="root without DAC override")
    assert c.read(m.mnt) == HOST
    assert c.errno_of("open", m.mnt, "O_WRONLY") == errno.EACCES
    assert c.errno_of("truncate", m.mnt, 0) == errno.EACCES
    os.chmod(m.path(f"{a.id}.conf"), 0)
    r = run([*a.cmd(), *NO_DAC, "cat", m.mnt])
    assert r.returncode != 0 and b"Permission denied" in r.stderr, r.stderr
    assert run([*NO_DAC, "cat", m.mnt], check=True).stdout == HOST
