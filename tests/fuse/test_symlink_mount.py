"""The mount sits on the path it was given (issue 12, item 1; DESIGN.md "Mounting over a
symlink"). A symlinked mountpoint, as /etc/resolv.conf is on hosts whose DNS manager owns the
file (systemd-resolved, resolvconf, NetworkManager), is covered itself, never the file it points
to: the manager keeps replacing its own file by rename, while a rename or `ln -sf` onto the
mounted path fails with EBUSY. The startup line names the path and the link's text. Every way of
unmounting (SIGTERM, `fusermount3 -u`, `umount`, --takeover) works on such a mount and leaves
the symlink as it was. A regular-file mountpoint behaves as before.

Every test runs in a private mount namespace of its own (featutil.private_mounts) over a
temporary tree laid out like a real host (featutil.HostTree), never the machine's own /etc."""
import errno
import os
import stat

import pytest

import fuseutil
from featutil import (HOST_LAYOUTS, HostTree, mount_on, private_mounts,  # noqa: F401
                      refused_with, serving_line, sleeper, wait_stderr)
from fuseutil import TIMEOUT, host_netns_id, mountinfo, rcfs_mounts, run, wait_for

pytestmark = pytest.mark.usefixtures("private_mounts")

LAYOUTS = list(HOST_LAYOUTS)
MANAGER = b"nameserver 127.0.0.53\noptions edns0 trust-ad\n"   # the manager's own file
MINE = b"nameserver 10.0.0.1\n"                                  # the host's backing file
NEW = b"nameserver 10.0.0.2\n"
TEMPLATE = b"nameserver 192.0.2.1\n"
HOST = f"{host_netns_id()}.conf"


def start(mount_on, h, files=None, **kw):
    """The daemon over h's link, with a backing directory and a template of its own."""
    return mount_on(h.link, template=TEMPLATE,
                    files={HOST: MINE} if files is None else files, **kw)


def mounts_at(path):
    """Every mountinfo entry (of any type) on path itself, its last component not followed."""
    path = fuseutil.abspath_nofollow(path)
    return [e for e in mountinfo() if e["mountpoint"] == path]


def assert_link_intact(h, content=MANAGER):
    """Nothing mounted anywhere in h's tree; the link, its text and its target as they were."""
    assert not fuseutil.any_mount_under(h.root), fuseutil.any_mount_under(h.root)
    assert stat.S_ISLNK(os.lstat(h.link).st_mode), "the mountpoint is no longer a symlink"
    assert os.readlink(h.link) == h.text
    assert h.read_target() == content
    with open(h.link, "rb") as f:
        assert f.read() == content, "the link no longer leads to the manager's file"


@pytest.mark.parametrize("layout", LAYOUTS)
def test_the_mount_sits_on_the_link_not_its_target(mount_on, layout):
    h = HostTree(layout, MANAGER)
    m = start(mount_on, h)
    (entry,) = rcfs_mounts(h.link)
    assert entry["mountpoint"] == h.link and entry["source"] == fuseutil.FSNAME, entry
    assert mounts_at(h.target) == [], f"the link's target {h.target} is a mountpoint"
    assert fuseutil.any_mount_under(os.path.join(h.root, "run")) == []
    # Through the link: the mount; the manager's file itself: untouched, on its own file system.
    with open(h.link, "rb") as f:
        assert f.read() == MINE
    assert h.read_target() == MANAGER
    assert os.stat(h.link).st_dev != os.stat(h.target).st_dev
    line = serving_line(m)
    assert line.startswith(f"resolvconffs: serving {h.link} (a symlink to {h.text}) from "
                           f"{m.backing}/<net ns id>.conf; "), line
    assert len(m.stderr_lines()) == 1, m.stderr_text()


def test_a_relative_mountpoint_path(mount_on):
    """The link named relative to the daemon's working directory (../host-.../etc/resolv.conf):
    the mount is on the link all the same, and the startup line names the path as given."""
    h = HostTree("systemd-resolved", MANAGER)
    workdir = fuseutil.new_workdir("relative")
    rel = os.path.relpath(h.link, workdir)
    m = mount_on(h.link, arg=rel, workdir=workdir, files={HOST: MINE})
    (entry,) = rcfs_mounts(h.link)
    assert entry["mountpoint"] == h.link
    assert mounts_at(h.target) == []
    with open(h.link, "rb") as f:
        assert f.read() == MINE
    assert serving_line(m).startswith(
        f"resolvconffs: serving {rel} (a symlink to {h.text}) from "), serving_line(m)
    assert m.stop() == 0
    assert m.teardown() == []
    assert_link_intact(h)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_the_managers_rename_updates_go_through_while_mounted(mount_on, layout):
    """Exactly what the managers do, many times: a new file beside their own, renamed over it."""
    h = HostTree(layout, MANAGER)
    start(mount_on, h)
    target_dir = os.path.dirname(h.target)
    prev = os.stat(h.target).st_ino
    for i in range(200):
        content = b"nameserver 127.0.0.%d\n" % (i % 250 + 1)
        with open(os.path.join(target_dir, ".tmp"), "wb") as f:
            f.write(content)
        os.replace(os.path.join(target_dir, ".tmp"), h.target)
        st = os.stat(h.target)
        assert st.st_ino != prev, "the rename did not put a new file in place"
        prev = st.st_ino
        assert h.read_target() == content
        if i % 20 == 0:
            with open(h.link, "rb") as f:
                assert f.read() == MINE, f"update {i}: the mount stopped serving"
    assert len(rcfs_mounts(h.link)) == 1
    assert mounts_at(h.target) == []
    assert os.listdir(target_dir) == [os.path.basename(h.target)]


def fails_busy(cmd):
    r = run(cmd)
    assert r.returncode != 0, f"{' '.join(cmd)} succeeded on the mounted link"
    assert b"Device or resource busy" in r.stderr, r.stderr


@pytest.mark.parametrize("layout", LAYOUTS)
def test_renames_onto_the_mounted_link_fail_with_ebusy(mount_on, layout):
    h = HostTree(layout, MANAGER)
    m = start(mount_on, h)
    other = os.path.join(h.root, "other.conf")
    with open(other, "wb") as f:
        f.write(b"nameserver 203.0.113.1\n")
    fails_busy(["mv", other, h.link])
    fails_busy(["ln", "-sf", other, h.link])
    fails_busy(["ln", "-sfn", "../run/elsewhere.conf", h.link])
    for op in (os.replace, os.rename):
        with pytest.raises(OSError) as e:
            op(other, h.link)
        assert e.value.errno == errno.EBUSY, e.value
    # A new symlink renamed over the link (how a tool swaps a link atomically).
    newlink = os.path.join(h.root, "etc", ".resolv.conf.new")
    os.symlink(other, newlink)
    with pytest.raises(OSError) as e:
        os.replace(newlink, h.link)
    assert e.value.errno == errno.EBUSY, e.value
    os.unlink(newlink)
    with pytest.raises(OSError) as e:
        os.unlink(h.link)
    assert e.value.errno == errno.EBUSY, e.value
    # Nothing moved: the mount serves on, the file that was to replace it is where it was.
    assert len(rcfs_mounts(h.link)) == 1
    with open(h.link, "rb") as f:
        assert f.read() == MINE
    assert os.path.isfile(other)
    assert m.teardown() == []
    assert_link_intact(h)


def unmount_by(how, m, h, mount_on):
    """Unmount m (over h.link) the way named; returns the daemons that were started."""
    if how == "sigterm":
        assert m.stop() == 0, m.stderr_text()
        return [m]
    if how in ("fusermount3-u", "umount"):
        cmd = ["fusermount3", "-u", h.link] if how == "fusermount3-u" else ["umount", h.link]
        r = run(cmd)
        assert r.returncode == 0, r.stderr
        wait_for(lambda: m.proc.poll() is not None, TIMEOUT, "the daemon to exit after " + how)
        assert m.proc.returncode == 0, m.stderr_text()
        return [m]
    # --takeover: a second daemon (its own backing directory) detaches the first and mounts on
    # the link in its place; the first, left with nothing, exits; then the second is stopped.
    d = mount_on(h.link, wait=False, args=["--takeover"], files={HOST: NEW})
    wait_stderr(d, r"resolvconffs: serving .*")
    wait_for(lambda: m.proc.poll() is not None, TIMEOUT, "the detached daemon to exit")
    assert m.proc.returncode == 0, m.stderr_text()
    mounts = rcfs_mounts(h.link)
    assert len(mounts) == 1, (f"expected the newcomer's mount alone on the link, found {mounts}; "
                              f"newcomer's stderr: {d.stderr_text()}")
    assert d.proc.poll() is None, f"the newcomer exited: {d.stderr_text()}"
    assert mounts_at(h.target) == []
    with open(h.link, "rb") as f:
        assert f.read() == NEW
    assert serving_line(d).startswith(f"resolvconffs: serving {h.link} (a symlink to {h.text})")
    assert d.stop() == 0, d.stderr_text()
    return [m, d]


@pytest.mark.parametrize("how", ["sigterm", "fusermount3-u", "umount", "takeover"])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_unmount_leaves_the_link_as_it_was(mount_on, layout, how):
    h = HostTree(layout, MANAGER)
    m = start(mount_on, h)
    for d in unmount_by(how, m, h, mount_on):
        assert d.teardown() == [], f"{how}: the teardown found a problem"
    assert rcfs_mounts(h.link) == []
    assert_link_intact(h)
    # And the link can be mounted over again.
    m = start(mount_on, h)
    with open(h.link, "rb") as f:
        assert f.read() == MINE
    assert m.teardown() == []
    assert_link_intact(h)


@pytest.mark.parametrize("how", ["sigterm", "fusermount3-u", "umount"])
def test_a_regular_file_mountpoint_behaves_as_before(mount_on, how):
    """/etc/resolv.conf as a plain file: the mount covers it, and the file is back untouched."""
    h = HostTree("resolvconf", content=None)
    os.unlink(h.link)                  # a host without a DNS manager: the file itself
    with open(h.link, "wb") as f:
        f.write(MANAGER)
    ino = os.stat(h.link).st_ino
    m = start(mount_on, h)
    (entry,) = rcfs_mounts(h.link)
    assert entry["mountpoint"] == h.link
    with open(h.link, "rb") as f:
        assert f.read() == MINE
    assert os.stat(h.link).st_size == len(MINE)
    line = serving_line(m)
    assert line.startswith(f"resolvconffs: serving {h.link} from {m.backing}/<net ns id>.conf; "), \
        line
    assert "symlink" not in line, line
    if how == "sigterm":
        assert m.stop() == 0, m.stderr_text()
    else:
        r = run(["fusermount3", "-u", h.link] if how == "fusermount3-u" else ["umount", h.link])
        assert r.returncode == 0, r.stderr
        wait_for(lambda: m.proc.poll() is not None, TIMEOUT, "the daemon to exit")
        assert m.proc.returncode == 0, m.stderr_text()
    assert m.teardown() == []
    assert rcfs_mounts(h.link) == []
    st = os.lstat(h.link)
    assert stat.S_ISREG(st.st_mode) and st.st_ino == ino
    with open(h.link, "rb") as f:
        assert f.read() == MANAGER


def test_alternating_namespaces_through_a_symlink_mount(mount_on, sleeper, caller):
    """DESIGN.md's test for the mount made with mount(2) on the link: reads and `stat -c %s`
    alternate between two namespaces whose files differ in size, many times; each sees its own
    content and size, never the other's."""
    h = HostTree("systemd-resolved", MANAGER)
    other = sleeper("net")
    theirs = b"nameserver 10.9.8.7\nsearch a-much-longer-search-list.example\n"
    assert len(theirs) != len(MINE)
    m = start(mount_on, h, files={HOST: MINE, f"{other.id()}.conf": theirs})
    a = caller(name="host")
    b = caller(other.cmd(kinds=("net",)), name="other")
    for i in range(500):
        assert a.read(h.link) == MINE, i
        assert b.read(h.link) == theirs, i
        assert a.stat(h.link)["size"] == len(MINE), i
        assert b.stat(h.link)["size"] == len(theirs), i
        if i % 5 == 0:
            assert run(["stat", "-c", "%s", h.link], check=True).stdout == b"%d\n" % len(MINE)
            r = run(other.cmd("stat", "-c", "%s", h.link, kinds=("net",)), check=True)
            assert r.stdout == b"%d\n" % len(theirs), i
    assert sorted(m.listing()) == sorted([HOST, f"{other.id()}.conf"])


def test_a_dangling_link_is_mounted_over_with_a_warning(mount_on, sleeper, caller):
    """A link whose target does not exist yet (the manager has not started): accepted with a
    warning; namespaces are served as usual; afterwards the link is as it was."""
    h = HostTree("systemd-resolved", content=None)
    m = start(mount_on, h, files={}, stderr_ok=[r"resolvconffs: warning: mountpoint .*"])
    assert m.stderr_lines()[0] == (f"resolvconffs: warning: mountpoint '{h.link}' is a symlink "
                                   f"to '{h.text}', which does not exist (yet)")
    assert serving_line(m).startswith(f"resolvconffs: serving {h.link} (a symlink to {h.text})")
    other = sleeper("net")
    b = caller(other.cmd(kinds=("net",)), name="other")
    assert b.read(h.link) == TEMPLATE
    with open(h.link, "rb") as f:
        assert f.read() == TEMPLATE    # without --host-original the host gets a copy too
    assert not os.path.exists(h.target)
    h.update(MANAGER)                  # the manager starts: its file appears beneath
    assert m.teardown() == []
    assert_link_intact(h)


@pytest.mark.parametrize("kind", ["directory", "device", "directory-through-a-chain"])
def test_a_link_to_a_directory_or_device_is_refused(rcfs_bin, repro_bin, kind):
    h = HostTree("systemd-resolved", MANAGER)
    os.mkdir(os.path.join(h.root, "backing"))
    os.unlink(h.link)
    if kind == "directory":
        os.symlink("../run", h.link)
    elif kind == "device":
        os.symlink("/dev/null", h.link)
    else:
        os.symlink("../run/dirlink", h.link)
        os.symlink("systemd", os.path.join(h.root, "run", "dirlink"))
    line = refused_with(rcfs_bin, ["backing", h.link], h.root, status=2, repro_binary=repro_bin)
    what = "a special file" if kind == "device" else "a directory"
    assert line == f"resolvconffs: mountpoint '{h.link}' leads to {what}, not a regular file", line
    assert not fuseutil.any_mount_under(h.root)


def test_without_cap_sys_admin_a_link_is_refused_in_one_line(rcfs_bin, repro_bin):
    """mount(2) over the link needs CAP_SYS_ADMIN (fusermount3 would cover the target): a daemon
    without it says so in one line and mounts nothing, neither the link nor its target."""
    h = HostTree("systemd-resolved", MANAGER)
    os.mkdir(os.path.join(h.root, "backing"))
    nocaps = ["setpriv", "--inh-caps=-all", "--bounding-set=-all"]
    line = refused_with(rcfs_bin, ["backing", h.link], h.root, status=1, repro_binary=repro_bin,
                        wrapper=nocaps)
    assert line.startswith(f"resolvconffs: cannot mount over the symlink '{h.link}' (that needs "
                           "CAP_SYS_ADMIN"), line
    assert line.endswith(": Operation not permitted"), line
    assert_link_intact(h)
