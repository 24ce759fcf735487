"""Fake procfs trees may start empty (issue 12, item 5). A -P directory that is not a procfs and
has no entries yet (an administrator's mapping, filled as processes appear) is accepted
with a one-line warning; callers get ESRCH until their <pid>/ns/net appears, and are served
their file from then on. A fake tree that has entries but no readable link is still refused, and
a real procfs keeps today's checks.

Every test runs in a private mount namespace of its own (featutil.private_mounts), mounted over
a temporary tree laid out like a real host (featutil.HostTree)."""
import errno
import os

import pytest

import fuseutil
from featutil import (HostTree, mount_on, private_mounts, refused_with,  # noqa: F401
                      serving_line, sleeper)
from fuseutil import host_netns_id

pytestmark = pytest.mark.usefixtures("private_mounts")

FAKE = b"nameserver 10.7.7.7\n"
TEMPLATE = b"nameserver 192.0.2.1\n"
MANAGER = b"nameserver 127.0.0.53\n"


def warning(procfs):
    return (f"resolvconffs: warning: procfs '{procfs}' is not a procfs and has no entries "
            "yet: callers get ESRCH until their <pid>/ns/net appears")


def make_link(procfs, pid, text):
    """Point <procfs>/<pid>/ns/net at text (replaced atomically if it exists), as a tool filling
    the tree would; the link need not lead anywhere (DESIGN.md "Who is calling")."""
    d = os.path.join(procfs, str(pid), "ns")
    os.makedirs(d, exist_ok=True)
    os.symlink(text, os.path.join(d, ".net.new"))
    os.replace(os.path.join(d, ".net.new"), os.path.join(d, "net"))


def fake_tree(tag="fakeproc"):
    procfs = os.path.join(fuseutil.new_workdir(tag), "proc")
    os.mkdir(procfs)
    return procfs


def test_an_empty_fake_tree_starts_with_a_warning_and_fills_in(mount_on, caller):
    h = HostTree("systemd-resolved", MANAGER)
    procfs = fake_tree()
    m = mount_on(h.link, procfs=procfs, template=TEMPLATE, files={"777.conf": FAKE},
                 stderr_ok=[r"resolvconffs: warning: procfs .*"])
    assert f"; procfs: {procfs}; " in serving_line(m)
    lines = m.stderr_lines()
    assert lines[0] == warning(procfs), lines
    assert len(lines) == 2 and lines[1].startswith("resolvconffs: serving "), lines
    early, late = caller(name="early"), caller(name="late")
    # Not in the tree yet: ESRCH (errno 3), for every operation, and nothing is created.
    for c in (early, late):
        assert c.errno_of("read", h.link) == errno.ESRCH == 3
        assert c.errno_of("stat", h.link) == errno.ESRCH
        assert c.errno_of("open", h.link, "O_WRONLY") == errno.ESRCH
    r = fuseutil.run(["cat", h.link])
    assert r.returncode != 0 and b"No such process" in r.stderr, r.stderr
    # A directory for the pid without its link yet is still "not there".
    os.makedirs(os.path.join(procfs, str(early.pid), "ns"))
    assert early.errno_of("read", h.link) == errno.ESRCH
    assert m.listing() == ["777.conf"]
    # The entry appears: served at once, from the file its id names.
    make_link(procfs, early.pid, "net:[777]")
    assert early.read(h.link) == FAKE
    assert early.stat(h.link)["ino"] == os.stat(m.path("777.conf")).st_ino
    assert late.errno_of("read", h.link) == errno.ESRCH
    # Another id: a copy of the template, as for any namespace.
    make_link(procfs, late.pid, "net:[778]")
    assert late.read(h.link) == TEMPLATE
    assert m.listing() == ["777.conf", "778.conf"]
    # An entry removed again (its process gone): ESRCH again.
    os.unlink(os.path.join(procfs, str(early.pid), "ns", "net"))
    assert early.errno_of("read", h.link) == errno.ESRCH
    assert late.read(h.link) == TEMPLATE
    assert m.teardown() == []
    assert os.readlink(h.link) == h.text


@pytest.mark.parametrize("layout", ["pid-with-empty-ns", "pid-without-ns", "dangling-ns-dir"])
def test_a_fake_tree_with_entries_but_no_links_is_still_refused(rcfs_bin, repro_bin, layout):
    h = HostTree("systemd-resolved", MANAGER)
    os.mkdir(os.path.join(h.root, "backing"))
    procfs = os.path.join(h.root, "proc")
    if layout == "pid-with-empty-ns":
        os.makedirs(os.path.join(procfs, "123", "ns"))
    elif layout == "pid-without-ns":
        os.makedirs(os.path.join(procfs, "123"))
    else:
        os.makedirs(os.path.join(procfs, "123"))
        os.symlink("nowhere", os.path.join(procfs, "123", "ns"))
    line = refused_with(rcfs_bin, ["-P", "proc", "backing", h.link], h.root, status=2,
                        repro_binary=repro_bin)
    assert line == "resolvconffs: procfs 'proc': no readable <pid>/ns/net links", line
    assert os.readlink(h.link) == h.text


def test_the_real_proc_is_unchanged(mount_on, caller, sleeper):
    """-P /proc: no warning, served as before."""
    h = HostTree("systemd-resolved", MANAGER)
    mine = b"nameserver 10.0.0.1\n"
    m = mount_on(h.link, procfs="/proc", template=TEMPLATE,
                 files={f"{host_netns_id()}.conf": mine})
    assert "; procfs: /proc; " in serving_line(m)
    assert len(m.stderr_lines()) == 1, m.stderr_text()
    assert caller(name="host").read(h.link) == mine
    other = sleeper("net")
    assert caller(other.cmd(kinds=("net",)), name="other").read(h.link) == TEMPLATE
    assert m.teardown() == []


def test_a_real_procfs_of_another_pid_namespace_is_still_refused(rcfs_bin, repro_bin):
    """Today's check on a real procfs: the daemon in a pid namespace of its own, given the
    test's /proc (whose pid numbers are not its own), refuses in one line."""
    h = HostTree("systemd-resolved", MANAGER)
    os.mkdir(os.path.join(h.root, "backing"))
    line = refused_with(rcfs_bin, ["-P", "/proc", "backing", h.link], h.root, status=2,
                        repro_binary=repro_bin,
                        wrapper=["unshare", "--pid", "--fork", "--kill-child"])
    assert line == ("resolvconffs: procfs '/proc' belongs to another pid namespace than the "
                    "daemon's; give -P a procfs mounted from inside it"), line
