"""Shutdown is part of correctness (DESIGN.md "glibc's resolver"): SIGINT and SIGTERM unmount
cleanly and the daemon exits 0; the mountpoint is the plain file again, never a dead mount."""
import errno
import os
import signal

import pytest

from fuseutil import TIMEOUT, Daemon, host_netns_id, rcfs_mounts, run

HOST = b"nameserver 10.0.0.1\n"


def assert_plain_again(m):
    assert not rcfs_mounts(m.mnt), "the mountinfo entry is still there"
    st = os.stat(m.mnt)   # raises ENOTCONN on a dead mount
    assert st.st_ino == m.plain_ino
    with open(m.mnt, "rb") as f:
        assert f.read() == Daemon.PLAIN
    r = run(["stat", "-c", "%s", m.mnt])
    assert r.returncode == 0 and b"Transport endpoint is not connected" not in r.stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_unmounts_cleanly(mount, sig):
    m = mount(files={f"{host_netns_id()}.conf": HOST})
    with open(m.mnt, "rb") as f:
        assert f.read() == HOST
    status = m.stop(sig)
    assert status == 0, f"daemon exited {status} after {sig.name}\nreproducer: {m.reproducer()}"
    assert_plain_again(m)
    assert m.read_backing(f"{host_netns_id()}.conf") == HOST


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_with_the_file_held_open(mount, netns, caller, sig):
    """A caller with an open descriptor (and one in another namespace mid-way through appends)
    does not keep the daemon from unmounting."""
    a = netns()
    m = mount(files={f"{host_netns_id()}.conf": HOST, f"{a.id}.conf": HOST})
    ca = caller(a.cmd(), name="A")
    fd = ca.open(m.mnt, "O_WRONLY", "O_APPEND")
    ca.write(fd, b"options x\n")
    status = m.stop(sig)
    assert status == 0, f"daemon exited {status} after {sig.name}\nreproducer: {m.reproducer()}"
    assert_plain_again(m)
    # The old descriptor now fails instead of reaching any file.
    assert ca.errno_of("write", fd, b"y\n") in (errno.ENOTCONN, errno.EIO, errno.ENODEV)
    assert m.read_backing(f"{a.id}.conf") == HOST + b"options x\n"
    with open(m.mnt, "rb") as f:
        assert f.read() == Daemon.PLAIN


def test_killed_daemon_leaves_a_dead_mount_that_fusermount_removes(mount):
    """What the teardown (and the README's recovery advice) relies on: after SIGKILL every stat
    fails with ENOTCONN until `fusermount3 -u`, after which the plain file is back."""
    m = mount(files={f"{host_netns_id()}.conf": HOST}, expect_exit=-signal.SIGKILL)
    os.kill(m.pid, signal.SIGKILL)
    m.proc.wait(timeout=TIMEOUT)
    assert rcfs_mounts(m.mnt), "the kernel removed the mount by itself"
    r = run(["stat", m.mnt])
    assert r.returncode != 0 and b"Transport endpoint is not connected" in r.stderr, r.stderr
    run(["fusermount3", "-u", m.mnt], check=True)
    assert_plain_again(m)
