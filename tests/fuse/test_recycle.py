"""Recycled namespace ids (README "Recycled ids, caught where the kernel can tell"; DESIGN.md
"Namespace ids are recycled"): every file the daemon creates records the namespace's NS_GET_ID
in user.resolvconffs.nsid; at open, an id-named file recorded for another namespace is moved
aside as FILE.stale-<recorded id> and the caller gets a fresh template copy, with a warning.
--no-recycle-check turns this off."""
import errno
import os
import re
import time

import pytest

from fuseutil import host_netns_id, run
from featutil import Sleeper, sleeper, unique_ns_id, wait_stderr  # noqa: F401 (fixture)

XATTR = "user.resolvconffs.nsid"
TEMPLATE = b"nameserver 192.0.2.53\n"
OLD = b"nameserver 10.0.0.1\noptions old-namespace\n"
REUSED = (r"resolvconffs: warning: namespace id in (?P<file>\S+) was reused \(unique id "
          r"(?P<current>\d+), file made for (?P<recorded>\d+)\): moved it aside as (?P<aside>\S+)")
MAX_TRIES = 200
DEADLINE = 30.0


def recorded(path):
    try:
        return os.getxattr(path, XATTR).decode()
    except OSError as e:
        if e.errno == errno.ENODATA:
            return None
        raise


def same_id_again(old_id, made):
    """Create network namespaces until one gets old_id again.

    Namespace ids are proc inode numbers: the kernel hands out the lowest free one, frees a dead
    network namespace's asynchronously (a busy machine may take seconds), and every new network
    namespace also takes some seventy more for its /proc/net entries. So a free hole below
    old_id would take the next network namespace, and its entries could spill onto old_id.
    Holes are therefore first filled with UTS namespaces (one number each, freed at once): one
    that gets a lower id is kept; one that gets a higher id means old_id is not free yet (it is
    deleted again, and we wait a little longer each time); one that gets old_id itself proves
    everything below is taken: it is deleted and a network namespace made at once. Bounded by
    MAX_TRIES namespaces and DEADLINE seconds; every namespace made is killed at teardown."""
    deadline = time.monotonic() + DEADLINE
    pause = 0.002
    for _ in range(MAX_TRIES):
        if time.monotonic() > deadline:
            break
        u = Sleeper("uts")
        made.append(u)
        got = u.id("uts")
        if got < old_id:
            continue
        u.kill()
        if got > old_id:
            time.sleep(pause)
            pause = min(pause * 1.5, 0.1)
            continue
        s = Sleeper("net")
        made.append(s)
        if s.id() == old_id:
            return s
        s.kill()
    pytest.fail(f"no new network namespace got id {old_id} again within {MAX_TRIES} namespaces "
                f"and {DEADLINE:.0f}s")


@pytest.fixture
def recycled():
    """recycled(old_id) -> a Sleeper in a new namespace with that id; all killed at teardown."""
    made = []
    yield lambda old_id: same_id_again(old_id, made)
    for s in made:
        s.kill()


def reused_lines(m):
    rx = re.compile(REUSED)
    return [mt for mt in map(rx.fullmatch, m.stderr_lines()) if mt]


def test_a_recycled_id_gets_a_fresh_copy_and_the_old_file_is_kept(mount, sleeper, recycled,
                                                                  build_dir):
    m = mount(template=TEMPLATE, stderr_ok=[REUSED])
    wait_stderr(m, r"resolvconffs: serving .*; recycled-id check: on \(NS_GET_ID\); .*")
    a = sleeper("net")
    old_id, old_unique = a.id(), unique_ns_id(a.pid)
    name = f"{old_id}.conf"
    assert run(a.cmd("cat", m.mnt), check=True).stdout == TEMPLATE
    assert recorded(m.path(name)) == str(old_unique)
    run(a.cmd("sh", "-c", f"printf '{OLD.decode()}' > {m.mnt}"), check=True)
    assert m.read_backing(name) == OLD
    a.kill()

    b = recycled(old_id)
    new_unique = unique_ns_id(b.pid)
    assert new_unique != old_unique
    assert run(b.cmd("cat", m.mnt), check=True).stdout == TEMPLATE, \
        "a new namespace with a recycled id was served the old namespace's file"
    aside = f"{name}.stale-{old_unique}"
    assert m.listing() == sorted([name, aside])
    assert m.read_backing(aside) == OLD
    assert m.read_backing(name) == TEMPLATE
    assert recorded(m.path(name)) == str(new_unique)
    assert recorded(m.path(aside)) == str(old_unique)
    (line,) = reused_lines(m)
    assert line.groupdict() == {"file": name, "current": str(new_unique),
                                "recorded": str(old_unique), "aside": aside}
    # From now on B's file is B's: no further warnings, its writes stay.
    run(b.cmd("sh", "-c", f"echo 'nameserver 10.0.0.2' >> {m.mnt}"), check=True)
    assert run(b.cmd("cat", m.mnt), check=True).stdout == TEMPLATE + b"nameserver 10.0.0.2\n"
    assert len(reused_lines(m)) == 1
    # The admin view shows the copy as stale.
    r = run([str(build_dir / "resolvconffs-ctl"), "list", m.backing], check=True)
    row = [ln.split() for ln in r.stdout.decode().splitlines() if ln.endswith(" " + aside)]
    assert row and row[0][2] == "stale", r.stdout.decode()


def test_no_recycle_check_serves_the_old_file(mount, sleeper, recycled):
    m = mount(template=TEMPLATE, args=["--no-recycle-check"])
    wait_stderr(m, r"resolvconffs: serving .*; recycled-id check: off; .*")
    a = sleeper("net")
    old_id = a.id()
    name = f"{old_id}.conf"
    assert run(a.cmd("cat", m.mnt), check=True).stdout == TEMPLATE
    assert recorded(m.path(name)) is None, "--no-recycle-check still records the unique id"
    run(a.cmd("sh", "-c", f"printf '{OLD.decode()}' > {m.mnt}"), check=True)
    a.kill()
    b = recycled(old_id)
    assert run(b.cmd("cat", m.mnt), check=True).stdout == OLD
    assert m.listing() == [name]


# --- the same decision without waiting for the kernel: a foreign record on a live file ---------

def test_a_file_recorded_for_another_namespace_is_moved_aside(mount, sleeper):
    """An id-named file whose record names another unique id is stale whatever made it; the
    move happens before O_TRUNC can empty it."""
    s = sleeper("net")
    name = f"{s.id()}.conf"
    m = mount(template=TEMPLATE, files={name: OLD}, stderr_ok=[REUSED])
    os.setxattr(m.path(name), XATTR, b"12345")
    # The first request is an O_TRUNC write (`>`): the stale file must be kept whole.
    run(s.cmd("sh", "-c", f"echo 'nameserver 10.0.0.3' > {m.mnt}"), check=True)
    assert m.read_backing(f"{name}.stale-12345") == OLD
    assert m.read_backing(name) == b"nameserver 10.0.0.3\n"
    assert recorded(m.path(name)) == str(unique_ns_id(s.pid))
    assert [ln["aside"] for ln in reused_lines(m)] == [f"{name}.stale-12345"]


@pytest.mark.parametrize("record", [None, b"not-a-number", b"", b"99999999999999999999999"],
                         ids=["none", "garbage", "empty", "overflow"])
def test_files_without_a_valid_record_are_served_as_they_are(mount, sleeper, record):
    """Hand-made files (no record, or one that is not a number the daemon wrote) are served."""
    s = sleeper("net")
    name = f"{s.id()}.conf"
    m = mount(template=TEMPLATE, files={name: OLD})
    if record is not None:
        os.setxattr(m.path(name), XATTR, record)
    assert run(s.cmd("cat", m.mnt), check=True).stdout == OLD
    assert m.listing() == [name]


def test_the_daemons_own_and_named_files_are_recorded_correctly(mount):
    """The host's file made by the daemon carries the host namespace's unique id, and serving it
    again raises no warning."""
    m = mount(template=TEMPLATE)
    for _ in range(3):
        assert run(["cat", m.mnt], check=True).stdout == TEMPLATE
    assert recorded(m.path(f"{host_netns_id()}.conf")) == str(unique_ns_id("self"))
    assert m.listing() == [f"{host_netns_id()}.conf"]
