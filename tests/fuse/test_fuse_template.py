"""Template propagation through the mount (DESIGN.md "Backing files"): concurrent first readers of
a fresh namespace all see the whole template, exactly one backing file results, nothing temporary
is left; without -d a namespace with no file gets ENOENT and nothing is created."""
import errno
import hashlib
import json
import os
import stat
import subprocess
import sys
import textwrap
import threading

import pytest

from fuseutil import TIMEOUT, host_netns_id, new_workdir, run

# 64 KiB of resolver-looking lines, each distinct, so a torn copy cannot look complete.
TEMPLATE = b"".join(b"# line %05d of the template, padded to a fixed width.......\n" % i
                    for i in range(1093))[:65536]
assert len(TEMPLATE) == 65536

READERS = textwrap.dedent(r'''
    import hashlib, json, multiprocessing as mp, os, sys
    mnt, n = sys.argv[1], int(sys.argv[2])

    def reader(barrier, q):
        barrier.wait()
        try:
            with open(mnt, "rb") as f:
                data = f.read()
            q.put((os.getpid(), len(data), hashlib.sha256(data).hexdigest(), None))
        except OSError as e:
            q.put((os.getpid(), -1, None, e.errno))

    ctx = mp.get_context("fork")
    barrier, q = ctx.Barrier(n), ctx.Queue()
    procs = [ctx.Process(target=reader, args=(barrier, q)) for _ in range(n)]
    for p in procs:
        p.start()
    results = [q.get(timeout=60) for _ in range(n)]
    for p in procs:
        p.join()
    json.dump(results, sys.stdout)
''')


# An 8 MiB template widens the window in which a non-atomic copy would be visible half-written
# (a few readers suffice there; the watcher below does the looking).
BIG = TEMPLATE * 128


class Watcher(threading.Thread):
    """Polls the backing file's name while readers race: with an atomic link it is either
    absent or complete; any smaller size seen means the copy was visible half-written."""

    def __init__(self, path, size):
        super().__init__(daemon=True)
        self.path, self.size = path, size
        self.stop = threading.Event()
        self.partial = []
        self.polls = 0

    def run(self):
        while not self.stop.is_set():
            self.polls += 1
            try:
                n = os.stat(self.path).st_size
            except FileNotFoundError:
                continue
            if n != self.size and len(self.partial) < 10:
                self.partial.append(n)


@pytest.mark.parametrize("template,readers,rounds", [(TEMPLATE, 40, 3), (BIG, 4, 3)],
                         ids=["64KiB-40-readers", "8MiB-4-readers"])
def test_concurrent_first_readers_get_the_whole_template(mount, netns, template, readers, rounds):
    # --max-size: the 8 MiB template is beyond the default limit of 1 MiB.
    m = mount(template=template, template_mode=0o640, args=["--max-size", str(16 << 20)])
    digest = hashlib.sha256(template).hexdigest()
    expected_files = []
    for round_ in range(rounds):
        ns = netns()
        watcher = Watcher(m.path(f"{ns.id}.conf"), len(template))
        watcher.start()
        try:
            r = subprocess.run(ns.cmd(sys.executable, "-c", READERS, m.mnt, str(readers)),
                               capture_output=True, timeout=6 * TIMEOUT)
        finally:
            watcher.stop.set()
            watcher.join()
        assert r.returncode == 0, r.stderr.decode()
        assert not watcher.partial, \
            f"round {round_}: the backing file was visible with sizes {watcher.partial}"
        results = json.loads(r.stdout)
        assert len(results) == readers and len({pid for pid, *_ in results}) == readers
        bad = [res for res in results if res[1:3] != [len(template), digest]]
        assert not bad, f"round {round_}: {len(bad)} readers got something else: {bad[:3]}"
        expected_files.append(f"{ns.id}.conf")
        # Exactly one file per namespace, nothing temporary (no dot files, no stray names).
        assert m.listing() == sorted(expected_files), f"round {round_}"
        name = f"{ns.id}.conf"
        assert m.read_backing(name) == template
        st = os.stat(m.path(name))
        assert stat.S_IMODE(st.st_mode) == 0o640 and st.st_nlink == 1
    # The daemon's own namespace had no file either, and the host never read.
    assert f"{host_netns_id()}.conf" not in m.listing()


def test_concurrent_stat_and_read_of_a_fresh_namespace(mount, netns):
    """stat(1) creates the file too: racing stats and cats still leave exactly one copy."""
    m = mount(template=TEMPLATE)
    ns = netns()
    cmds = [ns.cmd("stat", "-c", "%s", m.mnt) if i % 2 else ns.cmd("cat", m.mnt)
            for i in range(20)]
    procs = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for c in cmds]
    for i, p in enumerate(procs):
        out, err = p.communicate(timeout=TIMEOUT)
        assert p.returncode == 0, err
        assert out == (b"%d\n" % len(TEMPLATE) if i % 2 else TEMPLATE)
    assert m.listing() == [f"{ns.id}.conf"]


def test_template_changes_apply_to_new_namespaces_only(mount, netns):
    m = mount(template=b"nameserver 192.0.2.1\n")
    a = netns()
    assert a.run("cat", m.mnt, check=True).stdout == b"nameserver 192.0.2.1\n"
    with open(m.template, "wb") as f:
        f.write(b"nameserver 192.0.2.2\n")
    b = netns()
    assert b.run("cat", m.mnt, check=True).stdout == b"nameserver 192.0.2.2\n"
    assert a.run("cat", m.mnt, check=True).stdout == b"nameserver 192.0.2.1\n"


def test_without_template_missing_file_is_enoent(mount, netns, caller):
    host = f"{host_netns_id()}.conf"
    m = mount(files={host: b"nameserver 10.0.0.1\n"})
    ns = netns()
    for cmd in (["cat", m.mnt], ["stat", "-c", "%s", m.mnt], ["sh", "-c", f"echo x >> {m.mnt}"]):
        r = ns.run(*cmd)
        assert r.returncode != 0, cmd
        # dash words ENOENT from open(O_CREAT) as "Directory nonexistent".
        assert (b"No such file or directory" in r.stderr
                or b"Directory nonexistent" in r.stderr), (cmd, r.stderr)
    c = caller(ns.cmd(), name="fresh")
    assert c.errno_of("read", m.mnt) == errno.ENOENT
    assert c.errno_of("stat", m.mnt) == errno.ENOENT
    assert c.errno_of("truncate", m.mnt, 0) == errno.ENOENT
    assert c.errno_of("open", m.mnt, "O_WRONLY", "O_CREAT") == errno.ENOENT
    assert m.listing() == [host], "something was created"
    # The failure is that namespace's only: the host is still served, and a file put in place
    # by the administrator is served at once.
    assert run(["cat", m.mnt], check=True).stdout == b"nameserver 10.0.0.1\n"
    m.write_backing(f"{ns.id}.conf", b"nameserver 10.0.0.9\n")
    assert c.read(m.mnt) == b"nameserver 10.0.0.9\n"


def test_template_gone_at_runtime_creates_nothing(mount, netns):
    """The template is re-read at each copy: when it has disappeared the first reader of a new
    namespace gets an error and nothing (not even an empty file) is created; when it is back,
    copying works again."""
    m = mount(template=b"nameserver 192.0.2.1\n")
    os.rename(m.template, m.template + ".away")
    ns = netns()
    r = ns.run("cat", m.mnt)
    assert r.returncode != 0 and r.stdout == b"", r
    assert m.listing() == []
    os.rename(m.template + ".away", m.template)
    assert ns.run("cat", m.mnt, check=True).stdout == b"nameserver 192.0.2.1\n"
    assert m.listing() == [f"{ns.id}.conf"]


def test_enospc_while_copying_leaves_no_partial_file(mount, netns):
    """A backing directory on a 256 KiB tmpfs and a 1 MiB template: the copy fails with ENOSPC,
    the caller gets the error, and no partial file (nor temporary one) is left behind."""
    workdir = new_workdir("enospc")
    backing = os.path.join(workdir, "backing")
    os.mkdir(backing)
    run(["mount", "-t", "tmpfs", "-o", "size=256k,mode=0755", "rcfs-test-tmpfs", backing],
        check=True)
    try:
        m = mount(workdir=workdir, template=b"x" * (1 << 20), extra_unmounts=[backing],
                  backing_exists=True)
        ns = netns()
        r = ns.run("cat", m.mnt)
        assert r.returncode != 0 and b"No space left on device" in r.stderr, r.stderr
        assert os.listdir(backing) == [], os.listdir(backing)
        st = os.statvfs(backing)
        assert st.f_bfree == st.f_blocks, "the failed copy still holds space"
    finally:
        run(["umount", "-l", backing])
