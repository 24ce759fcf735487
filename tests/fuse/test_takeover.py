"""Starting over an earlier resolvconffs mount (README, --help "--takeover"; DESIGN.md "glibc's
resolver": crash recovery and restart are part of correctness). Without --takeover the daemon
refuses, in one line, both a live mount (which keeps serving) and a stale one left by a killed
daemon (naming the recovery); with --takeover it detaches either and mounts in its place. After
a SIGKILL, `fusermount3 -u` or `umount -l` and a plain restart work too."""
import errno
import os
import signal
import subprocess

import pytest

from fuseutil import TIMEOUT, Daemon, host_netns_id, new_workdir, rcfs_mounts, run, wait_for

OLD = b"nameserver 10.0.0.1\n"
NEW = b"nameserver 10.0.0.2\n"
SERVING = "resolvconffs: serving "


class Over(Daemon):
    """A daemon with its own workdir, backing directory and template, mounted over another
    daemon's mountpoint (Daemon would write its plain content into the mountpoint itself)."""

    def __init__(self, binary, target, **kw):
        super().__init__(binary, **kw)
        self.mnt = target
        self.args = [*self.args[:-1], target]

    def mounted(self):
        # The earlier mount's entry is no sign of this daemon's (a detached mount's id may even
        # be reused): its startup line, logged right after mounting, is.
        return bool(rcfs_mounts(self.mnt)) and any(
            ln.startswith(SERVING) for ln in self.stderr_lines())


@pytest.fixture
def over(rcfs_bin, repro_bin):
    """over(target, args=(), wait=True, **kw) starts an Over daemon; any not torn down by the
    test is torn down (before the first daemon, which the mount fixture owns)."""
    started = []

    def start(target, args=(), wait=True, **kw):
        d = Over(rcfs_bin, target, repro_binary=repro_bin, args=args,
                 files={f"{host_netns_id()}.conf": NEW}, **kw)
        started.append(d)
        d.start()
        if wait:
            d.wait_mounted()
        return d

    yield start
    problems = []
    for d in reversed(started):
        problems += d.teardown()
    if problems:
        pytest.fail("\n".join(problems))


def refused_over(rcfs_bin, target, args=(), repro_bin=None):
    """Start a second daemon over target expecting a refusal; returns its one stderr line. One
    that starts serving instead (its startup line appears) is stopped by pid at once."""
    d = Over(rcfs_bin, target, args=args, repro_binary=repro_bin)
    with open(d.stderr_path, "wb") as err, open(d.stdout_path, "wb") as out:
        proc = subprocess.Popen(d.cmdline(), cwd=d.workdir, stdin=subprocess.DEVNULL,
                                stdout=out, stderr=err)
    try:
        wait_for(lambda: proc.poll() is not None or any(
            ln.startswith(SERVING) for ln in d.stderr_lines()), TIMEOUT, "a refusal")
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)   # it unmounts what it mounted
            proc.wait(timeout=TIMEOUT)
            pytest.fail(f"the second daemon did not refuse but served: {d.stderr_text()}"
                        f"\nreproducer: {d.reproducer()}")
    lines = d.stderr_lines()
    assert proc.returncode != 0, f"exit 0; stderr {lines}\nreproducer: {d.reproducer()}"
    assert len(lines) == 1, f"expected one stderr line: {lines}\nreproducer: {d.reproducer()}"
    with open(d.stdout_path, "rb") as f:
        assert f.read() == b""
    assert os.listdir(d.backing) == [], "the refused daemon created a backing file"
    return lines[0]


def kill_hard(m):
    os.kill(m.pid, signal.SIGKILL)
    m.proc.wait(timeout=TIMEOUT)
    with pytest.raises(OSError) as e:
        os.stat(m.mnt)
    assert e.value.errno == errno.ENOTCONN


def test_refuses_a_live_mount_which_keeps_serving(mount, rcfs_bin, repro_bin):
    m = mount(files={f"{host_netns_id()}.conf": OLD})
    line = refused_over(rcfs_bin, m.mnt, repro_bin=repro_bin)
    assert m.mnt in line or os.path.basename(m.mnt) in line, line
    assert "already a resolvconffs mount" in line and "live" in line, line
    assert "--takeover" in line, line
    assert len(rcfs_mounts(m.mnt)) == 1, "a second mount was stacked"
    assert m.proc.poll() is None, "the live daemon exited"
    for _ in range(3):
        assert run(["cat", m.mnt], check=True).stdout == OLD


def test_refuses_a_stale_mount_naming_the_recovery(mount, rcfs_bin, repro_bin):
    m = mount(files={f"{host_netns_id()}.conf": OLD}, expect_exit=-signal.SIGKILL)
    kill_hard(m)
    line = refused_over(rcfs_bin, m.mnt, repro_bin=repro_bin)
    assert "stale" in line and "fusermount3 -u" in line and "--takeover" in line, line
    assert len(rcfs_mounts(m.mnt)) == 1, "the refusal changed the stale mount"
    # The recovery it names works (and leaves nothing for the teardown to complain about).
    run(["fusermount3", "-u", m.mnt], check=True)
    assert not rcfs_mounts(m.mnt)


def test_takeover_of_a_live_mount(mount, over, caller):
    """The old mount is detached: a descriptor opened before keeps reading the old daemon's
    file, every new open is the new daemon's; once that descriptor is closed, the old daemon
    has nothing left and exits."""
    m = mount(files={f"{host_netns_id()}.conf": OLD})
    c = caller(name="holder")
    fd = c.open(m.mnt)
    d = over(m.mnt, args=["--takeover"])
    (entry,) = rcfs_mounts(m.mnt)
    assert run(["cat", m.mnt], check=True).stdout == NEW
    assert c.readall(fd) == OLD, "the descriptor opened before the takeover lost its file"
    c.close(fd)
    wait_for(lambda: m.proc.poll() is not None, TIMEOUT, "the detached daemon to exit")
    assert m.proc.returncode == 0, m.stderr_text()
    assert run(["cat", m.mnt], check=True).stdout == NEW
    assert d.teardown() == []
    with open(m.mnt, "rb") as f:
        assert f.read() == Daemon.PLAIN
    assert m.teardown() == []


def test_takeover_of_a_stale_mount(mount, over):
    m = mount(files={f"{host_netns_id()}.conf": OLD}, expect_exit=-signal.SIGKILL)
    kill_hard(m)
    d = over(m.mnt, args=["--takeover"])
    assert len(rcfs_mounts(m.mnt)) == 1, "the stale mount is still stacked under the new one"
    assert run(["cat", m.mnt], check=True).stdout == NEW
    assert run(["stat", "-c", "%s", m.mnt], check=True).stdout == b"%d\n" % len(NEW)
    assert d.teardown() == []
    assert not rcfs_mounts(m.mnt)
    with open(m.mnt, "rb") as f:
        assert f.read() == Daemon.PLAIN
    assert m.teardown() == []


def test_takeover_without_an_earlier_mount_just_mounts(mount, over, tmp_path):
    target = tmp_path / "plainfile"
    target.write_bytes(b"plain\n")
    os.chmod(tmp_path, 0o755)
    d = over(str(target), args=["--takeover"])
    assert run(["cat", str(target)], check=True).stdout == NEW
    assert d.teardown() == []
    assert target.read_bytes() == b"plain\n"


@pytest.mark.parametrize("cleanup", [["fusermount3", "-u"], ["umount", "-l"]],
                         ids=["fusermount3-u", "umount-l"])
def test_restart_after_sigkill_and_manual_cleanup(mount, over, cleanup):
    """The README's recovery: after SIGKILL every stat fails with ENOTCONN; `fusermount3 -u`
    (or `umount -l`) brings the plain file back, and a plain restart (no --takeover) serves."""
    m = mount(files={f"{host_netns_id()}.conf": OLD}, expect_exit=-signal.SIGKILL)
    kill_hard(m)
    r = run([*cleanup, m.mnt])
    assert r.returncode == 0, r.stderr
    assert not rcfs_mounts(m.mnt)
    with open(m.mnt, "rb") as f:
        assert f.read() == Daemon.PLAIN
    d = over(m.mnt)
    assert run(["cat", m.mnt], check=True).stdout == NEW
    assert d.teardown() == []
    assert m.teardown() == []


@pytest.mark.parametrize("args", [["-k", "bogus"], ["--fallback-nameserver", "192.0.2.1"],
                                  ["--access-check", "both"]],
                         ids=["bad-key", "fallback-without-filter", "bad-access-check"])
def test_takeover_with_a_configuration_error_leaves_the_live_mount(mount, rcfs_bin, repro_bin,
                                                                  args):
    """A --takeover that is refused for a configuration error must refuse before touching the
    mount it would replace: the live daemon keeps serving. (A refusal detected in option parsing
    already does; one detected while setting up the context must too.)"""
    m = mount(files={f"{host_netns_id()}.conf": OLD})
    line = refused_over(rcfs_bin, m.mnt, args=["--takeover", *args], repro_bin=repro_bin)
    assert "resolvconffs:" in line, line
    assert rcfs_mounts(m.mnt), (f"the refused --takeover detached the live mount ({line!r})\n"
                                f"reproducer: {m.reproducer()} & sleep 1; "
                                f"{repro_bin} --takeover {' '.join(args)} BACKING2 {m.mnt}")
    assert m.proc.poll() is None, "the live daemon is gone"
    assert run(["cat", m.mnt], check=True).stdout == OLD


# --- a mountpoint given through a symlink ------------------------------------------------------
# On a host whose DNS manager owns the file, /etc/resolv.conf is a symlink
# (../run/systemd/resolve/stub-resolv.conf). The daemon mounts on the symlink itself, never on its
# target (mount(2) on its O_PATH descriptor): an earlier mount is looked for on the link, and a
# mount on the link's target is another file's. These run in a private mount namespace each.
import stat  # noqa: E402 (this section's own)

from featutil import mount_on, private_mounts  # noqa: E402,F401


def symlink_to(target):
    d = new_workdir("link")
    link = os.path.join(d, "resolv.conf")
    os.symlink(target, link)
    return link


def link_intact(link, target):
    assert not rcfs_mounts(link), "a mount is left on the link"
    assert stat.S_ISLNK(os.lstat(link).st_mode) and os.readlink(link) == target


def cat(path):
    return run(["cat", path], check=True).stdout


@pytest.mark.usefixtures("private_mounts")
def test_symlink_to_a_live_mount_is_mounted_over_itself(mount, over):
    """The link leads to another daemon's mountpoint: that is no earlier mount on the link.
    The second daemon mounts on the link itself; both serve, each on its own path."""
    m = mount(files={f"{host_netns_id()}.conf": OLD})
    link = symlink_to(m.mnt)
    d = over(link)
    (entry,) = rcfs_mounts(link)
    assert len(rcfs_mounts(m.mnt)) == 1, "the link's target got a second mount"
    assert cat(link) == NEW
    assert cat(m.mnt) == OLD
    assert d.teardown() == []
    link_intact(link, m.mnt)
    assert cat(link) == OLD, "the link no longer leads to the first mount"
    assert m.proc.poll() is None, "the first daemon exited"
    assert m.teardown() == []


@pytest.mark.usefixtures("private_mounts")
def test_symlinked_mountpoint_live_mount_is_refused(mount_on, rcfs_bin, repro_bin):
    target = new_workdir("target") + "/stub-resolv.conf"
    with open(target, "wb") as f:
        f.write(b"the manager's file\n")
    link = symlink_to(target)
    m = mount_on(link, files={f"{host_netns_id()}.conf": OLD})
    line = refused_over(rcfs_bin, link, repro_bin=repro_bin)
    assert link in line and "already a resolvconffs mount" in line and "live" in line, line
    assert "--takeover" in line, line
    assert len(rcfs_mounts(link)) == 1 and not rcfs_mounts(target)
    assert m.proc.poll() is None, "the live daemon exited"
    assert cat(link) == OLD
    assert m.teardown() == []
    link_intact(link, target)


@pytest.mark.usefixtures("private_mounts")
def test_symlinked_mountpoint_stale_mount_names_the_recovery(mount_on, rcfs_bin, repro_bin):
    target = new_workdir("target") + "/stub-resolv.conf"
    with open(target, "wb") as f:
        f.write(b"the manager's file\n")
    link = symlink_to(target)
    m = mount_on(link, files={f"{host_netns_id()}.conf": OLD}, expect_exit=-signal.SIGKILL)
    kill_hard(m)
    line = refused_over(rcfs_bin, link, repro_bin=repro_bin)
    assert link in line and "stale" in line and "fusermount3 -u" in line, line
    assert "--takeover" in line, line
    assert len(rcfs_mounts(link)) == 1, "the refusal changed the stale mount"
    # The recovery it names works on the link, and leaves the link as it was.
    run(["fusermount3", "-u", link], check=True)
    link_intact(link, target)
    assert m.teardown() == []


@pytest.mark.parametrize("earlier", ["live", "stale"])
@pytest.mark.usefixtures("private_mounts")
def test_symlinked_mountpoint_takeover(mount_on, over, earlier):
    target = new_workdir("target") + "/stub-resolv.conf"
    with open(target, "wb") as f:
        f.write(b"the manager's file\n")
    link = symlink_to(target)
    m = mount_on(link, files={f"{host_netns_id()}.conf": OLD},
                 expect_exit=-signal.SIGKILL if earlier == "stale" else None)
    if earlier == "stale":
        kill_hard(m)
    d = over(link, args=["--takeover"])
    if earlier == "live":
        wait_for(lambda: m.proc.poll() is not None, TIMEOUT, "the detached daemon to exit")
        assert m.proc.returncode == 0, m.stderr_text()
    mounts = rcfs_mounts(link)
    assert len(mounts) == 1, (f"expected the newcomer's mount alone on the link: {mounts}; "
                              f"newcomer's stderr: {d.stderr_text()}")
    assert not rcfs_mounts(target)
    assert d.proc.poll() is None, f"the newcomer exited: {d.stderr_text()}"
    assert cat(link) == NEW
    assert d.teardown() == []
    link_intact(link, target)
    assert cat(link) == b"the manager's file\n"
    assert m.teardown() == []
