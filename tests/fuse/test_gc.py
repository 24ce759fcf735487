"""The daemon's own clean-up of the backing directory (README "Stale files and the admin view"):
--gc-on-start once before mounting, --gc-interval SECONDS every SECONDS while serving. Each pass
removes the id-named files whose namespace is dead and the stale copies (FILE.stale-N), logging
each removal, exactly as `resolvconffs-ctl gc --delete` would; named files, unparsable names,
live namespaces' files and the template (even under an id-like name) stay."""
import os
import re

import pytest

from fuseutil import host_netns_id, new_workdir, run
from featutil import (held_by_a_process, named_netns, refused, sleeper, startup_layout,  # noqa: F401 (fixtures)
                      wait_stderr)

SERVING = r"resolvconffs: serving .*"
REMOVED = r"resolvconffs: gc: removed (?P<file>\S+) \(its namespace is gone\)"
REMOVED_STALE = r"resolvconffs: gc: removed stale copy (?P<file>\S+)"
GC_LINES = [REMOVED, REMOVED_STALE]
HOST = b"nameserver 10.0.0.1\n"
TEMPLATE = b"nameserver 192.0.2.53\n"
# nsfs inode numbers start at 0xF0000000: these ids can never belong to a live namespace.
DEAD = ["123.conf", "4567.conf"]
STALE = ["123.conf.stale-99", "4567.conf.stale-5-6"]


def removed_files(m, pattern=REMOVED):
    rx = re.compile(pattern)
    return [mt["file"] for mt in map(rx.fullmatch, m.stderr_lines()) if mt]


def removed_stale(m):
    return removed_files(m, REMOVED_STALE)


def test_gc_on_start_removes_dead_id_named_files_and_stale_copies(mount, sleeper):
    live = sleeper("net")
    keep = {f"{host_netns_id()}.conf": HOST, f"{live.id()}.conf": b"nameserver 10.0.0.2\n",
            "somename.conf": b"named\n", "notes.stale-1": b"not a stale copy\n",
            "notes.txt": b"notes\n", ".123.conf.tmp1": b"temp\n", "4567.hosts": b"other ext\n"}
    files = {**keep, **{name: b"nameserver 10.6.6.6\n" for name in DEAD},
             **{name: b"stale copy\n" for name in STALE}}
    m = mount(args=["--gc-on-start"], files=files, stderr_ok=GC_LINES)
    wait_stderr(m, SERVING)
    assert sorted(removed_files(m)) == sorted(DEAD)
    assert sorted(removed_stale(m)) == sorted(STALE)
    assert m.listing() == sorted(keep)
    for name, data in keep.items():
        assert m.read_backing(name) == data, name
    # The removals are logged before the mount is announced: they happen before mounting.
    lines = m.stderr_lines()
    serving = [i for i, ln in enumerate(lines) if ln.startswith("resolvconffs: serving ")]
    removals = [i for i, ln in enumerate(lines) if ln.startswith("resolvconffs: gc: removed ")]
    assert serving and len(removals) == 4 and max(removals) < serving[0], lines
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
              stderr_ok=GC_LINES)
    assert sorted(removed_files(m)) == ["1003.hosts", "1004.hosts"]
    assert m.listing() == ["1001.hosts", "1002.hosts", "1004.conf"]


@pytest.mark.needs_real_root("ip netns add writes /run/netns")
def test_gc_on_start_keeps_namespaces_held_by_a_name(mount, named_netns):
    """A namespace with no process in it, held only by its /run/netns name, is alive (--names
    or not); its NAME.conf is never touched either."""
    ns = named_netns()
    files = {f"{ns.id}.conf": b"by id\n", f"{ns.name}.conf": b"by name\n", DEAD[0]: b"dead\n",
             f"{host_netns_id()}.conf": HOST}
    m = mount(args=["--gc-on-start"], files=files, stderr_ok=GC_LINES)
    assert removed_files(m) == [DEAD[0]]
    assert m.listing() == sorted([f"{ns.id}.conf", f"{ns.name}.conf", f"{host_netns_id()}.conf"])
    assert m.teardown() == []
    # After `ip netns del` its id-named file is dead (unless another namespace got the id
    # meanwhile: ids are recycled); the named file is still never removed.
    ns.delete()
    m2 = mount(args=["--gc-on-start", "--names"], workdir=new_workdir("gc2"),
               files={f"{ns.id}.conf": b"by id\n", f"{ns.name}.conf": b"by name\n"},
               stderr_ok=GC_LINES)
    assert set(removed_files(m2)) <= {f"{ns.id}.conf"}
    assert sorted(removed_files(m2) + m2.listing()) == sorted([f"{ns.id}.conf", f"{ns.name}.conf"])
    assert m2.read_backing(f"{ns.name}.conf") == b"by name\n"


# --- --gc-interval -----------------------------------------------------------------------------

def test_gc_interval_removes_garbage_while_serving(mount, sleeper):
    """--gc-interval 1, with a template in the backing directory under an id-like name (no
    namespace has id 0): the dead namespace's file and the stale copies go, each logged, again
    and again as new ones appear; the live namespaces' files, the named file, the other files and
    the template stay, and the daemon keeps serving and exits 0 on SIGTERM."""
    live = sleeper("net")
    workdir = new_workdir("gcint")
    tmpl = os.path.join(workdir, "backing", "0.conf")
    keep = {f"{host_netns_id()}.conf": HOST, f"{live.id()}.conf": b"nameserver 10.0.0.2\n",
            "somename.conf": b"named\n", "notes.txt": b"notes\n", "0.conf": TEMPLATE}
    files = {**keep, DEAD[0]: b"nameserver 10.6.6.6\n", STALE[0]: b"stale copy\n"}
    m = mount(args=["--gc-interval", "1", "-d", tmpl], workdir=workdir, files=files,
              stderr_ok=GC_LINES, expect_exit=0)
    assert re.fullmatch(r"resolvconffs: serving .*; gc every 1 s", wait_stderr(m, SERVING)[0][0])
    wait_stderr(m, REMOVED)
    wait_stderr(m, REMOVED_STALE)
    assert removed_files(m) == [DEAD[0]] and removed_stale(m) == [STALE[0]]
    assert m.listing() == sorted(keep)
    for name, data in keep.items():
        assert m.read_backing(name) == data, name

    # Not once only: garbage that appears later goes in a later pass.
    m.write_backing(DEAD[1], b"nameserver 10.6.6.7\n")
    m.write_backing(STALE[1], b"another stale copy\n")
    wait_stderr(m, REMOVED, count=2)
    wait_stderr(m, REMOVED_STALE, count=2)
    assert sorted(removed_files(m)) == sorted(DEAD)
    assert sorted(removed_stale(m)) == sorted(STALE)
    assert m.listing() == sorted(keep)

    # Serving went on all along: the host and the live namespace read their own files, a new
    # namespace gets the template (its new file is alive, so it stays).
    assert run(["cat", m.mnt], check=True).stdout == HOST
    assert run(live.cmd("cat", m.mnt), check=True).stdout == b"nameserver 10.0.0.2\n"
    other = sleeper("net")
    assert run(other.cmd("cat", m.mnt), check=True).stdout == TEMPLATE
    assert f"{other.id()}.conf" in m.listing()
    assert m.stop() == 0
    assert not m.mounted()



def test_gc_interval_removes_the_file_of_a_namespace_that_died(mount, sleeper):
    """A namespace gets its copy through the mount; once its last process is gone, a later pass
    removes the file and says why."""
    m = mount(args=["--gc-interval", "1"], template=TEMPLATE,
              files={f"{host_netns_id()}.conf": HOST}, stderr_ok=GC_LINES)
    for attempt in range(3):
        s = sleeper("net")
        ns = s.id()
        assert run(s.cmd("cat", m.mnt), check=True).stdout == TEMPLATE
        assert f"{ns}.conf" in m.listing()
        s.kill()
        try:
            wait_stderr(m, rf"resolvconffs: gc: removed {ns}\.conf \(its namespace is gone\)")
        except AssertionError:
            if held_by_a_process(ns):
                os.unlink(m.path(f"{ns}.conf"))     # the id went to another namespace: again
                continue
            raise
        assert m.listing() == [f"{host_netns_id()}.conf"]
        return
    pytest.fail("the dead namespace's id was reused by another process three times")


def test_gc_interval_stops_at_once_on_sigterm(mount):
    """The gc thread sleeps for an hour here: SIGTERM must wake it, not wait for it. (A thread
    that slept on would keep the daemon past the teardown's deadline, which fails the test.)"""
    m = mount(args=["--gc-interval", "3600"], files={f"{host_netns_id()}.conf": HOST},
              expect_exit=0)
    assert wait_stderr(m, SERVING)[0][0].endswith("; gc every 3600 s")
    assert run(["cat", m.mnt], check=True).stdout == HOST
    assert m.stop() == 0
    assert removed_files(m) == [] and removed_stale(m) == []


def test_gc_interval_needs_a_namespace_key(rcfs_bin, repro_bin):
    d = startup_layout()
    line = refused(rcfs_bin, ["--gc-interval", "60", "-k", "uid", "-d", "template", "backing",
                              "mnt"], d, repro_bin)
    assert line == "resolvconffs: --gc-interval needs a namespace key", line
