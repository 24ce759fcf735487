"""resolvconffs --gc-on-start (README "Stale files and the admin view"): before mounting, the
daemon removes the id-named backing files whose namespace is dead, logging each removal, exactly
as `resolvconffs-ctl gc --delete` would; named files, stale copies, unparsable names and live
namespaces' files stay."""
import os
import re

import pytest

from fuseutil import host_netns_id, new_workdir, run
from featutil import named_netns, sleeper, wait_stderr  # noqa: F401 (fixtures)

SERVING = r"resolvconffs: serving .*"
REMOVED = r"resolvconffs: gc: removed (?P<file>\S+) \(its namespace is gone\)"
HOST = b"nameserver 10.0.0.1\n"
# nsfs inode numbers start at 0xF0000000: these ids can never belong to a live namespace.
DEAD = ["123.conf", "4567.conf"]


def removed_files(m):
    rx = re.compile(REMOVED)
    return [mt["file"] for mt in map(rx.fullmatch, m.stderr_lines()) if mt]


def test_gc_on_start_removes_dead_id_named_files(mount, sleeper):
    live = sleeper("net")
    keep = {f"{host_netns_id()}.conf": HOST, f"{live.id()}.conf": b"nameserver 10.0.0.2\n",
            "somename.conf": b"named\n", "123.conf.stale-99": b"stale copy\n",
            "notes.txt": b"notes\n", ".123.conf.tmp1": b"temp\n", "4567.hosts": b"other ext\n"}
    files = {**keep, **{name: b"nameserver 10.6.6.6\n" for name in DEAD}}
    m = mount(args=["--gc-on-start"], files=files, stderr_ok=[REMOVED])
    wait_stderr(m, SERVING)
    assert sorted(removed_files(m)) == sorted(DEAD)
    assert m.listing() == sorted(keep)
    for name, data in keep.items():
        assert m.read_backing(name) == data, name
    # The removals are logged before the mount is announced: they happen before mounting.
    lines = m.stderr_lines()
    serving = [i for i, ln in enumerate(lines) if ln.startswith("resolvconffs: serving ")]
    removals = [i for i, ln in enumerate(lines) if ln.startswith("resolvconffs: gc: removed ")]
    assert serving and removals and max(removals) < serving[0], lines
    # And then it serves as usual.
    assert run(["cat", m.mnt], check=True).stdout == HOST
    assert run(live.cmd("cat", m.mnt), check=True).stdout == b"nameserver 10.0.0.2\n"


def test_gc_on_start_with_nothing_to_do_logs_nothing(mount):
    m = mount(args=["--gc-on-start"], files={f"{host_netns_id()}.conf": HOST})
    wait_stderr(m, SERVING)
    assert removed_files(m) == []
    assert [ln for ln in m.stderr_lines() if "gc" in ln] == []
    assert m.listing() == [f"{host_netns_id()}.conf"]


def test_gc_on_start_with_a_fake_procfs_extension_and_key(mount):
    """-P, -p and -k mean what they mean for the rest of the daemon: the fake tree's namespaces
    are the live ones, only files with the extension are id-named, uts ids are read from the
    uts links."""
    d = new_workdir("gcproc")
    proc = os.path.join(d, "proc")
    for pid, kind, target in ((100, "uts", "uts:[1001]"), (200, "uts", "uts:[1002]"),
                              (300, "net", "net:[1003]")):
        os.makedirs(os.path.join(proc, str(pid), "ns"), exist_ok=True)
        os.symlink(target, os.path.join(proc, str(pid), "ns", kind))
    files = {"1001.hosts": b"a\n", "1002.hosts": b"b\n", "1003.hosts": b"net id\n",
             "1004.hosts": b"dead\n", "1004.conf": b"wrong ext\n"}
    m = mount(args=["--gc-on-start", "-p", "hosts", "-k", "uts"], procfs=proc, files=files,
              stderr_ok=[REMOVED])
    assert sorted(removed_files(m)) == ["1003.hosts", "1004.hosts"]
    assert m.listing() == ["1001.hosts", "1002.hosts", "1004.conf"]


@pytest.mark.needs_real_root("ip netns add writes /run/netns")
def test_gc_on_start_keeps_namespaces_held_by_a_name(mount, named_netns):
    """A namespace with no process in it, held only by its /run/netns name, is alive (--names
    or not); its NAME.conf is never touched either."""
    ns = named_netns()
    files = {f"{ns.id}.conf": b"by id\n", f"{ns.name}.conf": b"by name\n", DEAD[0]: b"dead\n",
             f"{host_netns_id()}.conf": HOST}
    m = mount(args=["--gc-on-start"], files=files, stderr_ok=[REMOVED])
    assert removed_files(m) == [DEAD[0]]
    assert m.listing() == sorted([f"{ns.id}.conf", f"{ns.name}.conf", f"{host_netns_id()}.conf"])
    assert m.teardown() == []
    # After `ip netns del` its id-named file is dead (unless another namespace got the id
    # meanwhile: ids are recycled); the named file is still never removed.
    ns.delete()
    m2 = mount(args=["--gc-on-start", "--names"], workdir=new_workdir("gc2"),
               files={f"{ns.id}.conf": b"by id\n", f"{ns.name}.conf": b"by name\n"},
               stderr_ok=[REMOVED])
    assert set(removed_files(m2)) <= {f"{ns.id}.conf"}
    assert sorted(removed_files(m2) + m2.listing()) == sorted([f"{ns.id}.conf", f"{ns.name}.conf"])
    assert m2.read_backing(f"{ns.name}.conf") == b"by name\n"
