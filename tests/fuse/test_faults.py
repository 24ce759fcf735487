"""Fault injection on a real mount: a full backing file system, a template that breaks after
startup, backing files deleted or replaced under open descriptors, callers killed mid-request,
1,000 processes at once, concurrent writers, and the daemon signalled or killed under load, then
restarted (docs/RELIABILITY.md has the table of what happens and which test proves it).

Whatever fails, each test leaves nothing behind: the mount fixture stops its daemons, the procs
and raw fixtures (faultutil.py) kill helper processes and second daemons by pid, the tmpfs
fixture unmounts its file systems, the netns fixture deletes the namespaces."""
import errno
import json
import os
import random
import re
import resource
import select
import shutil
import signal
import subprocess
import time

import pytest

from faultutil import (APPENDER, NO_DAC, READ_LOOP, SAN, TRUNC_WRITER, VERSION_READER,
                       compile_c, finish, lines_of, now_plus, proc_status, procs, py, raw,
                       version)
from fuseutil import (TIMEOUT, VALGRIND_TIMEOUT, Daemon, host_netns_id, new_workdir, rcfs_mounts,
                      run, wait_for)

HOST = b"nameserver 10.0.0.1\n"
NS_A = b"nameserver 10.0.0.2\noptions ndots:2\n"
NS_B = b"# B\nnameserver 10.0.0.3\nsearch b.example\n"
TEMPLATE = b"".join(b"nameserver 192.0.2.%d # template line, padded to width.....\n" % (i % 250)
                    for i in range(4096))   # 256 KiB: several 64 KiB writes in the copy

__all__ = ["procs", "raw"]   # fixtures used below, imported from faultutil


def host_name():
    return f"{host_netns_id()}.conf"





# --- the backing file system is full ---------------------------------------------------------

def fill(path, chunk=b"\0" * 4096):
    """Write to path until ENOSPC; return the size written."""
    size = 0
    with open(path, "wb", buffering=0) as f:
        while True:
            try:
                n = f.write(chunk)
            except OSError as e:
                assert e.errno == errno.ENOSPC, e
                return size
            size += n


@pytest.mark.parametrize("exhausted", ["blocks", "inodes"])
def test_enospc_while_copying_then_space_freed(tmpfs, mount, netns, caller, exhausted):
    """The backing directory's file system is full when a namespace's file is created from the
    template: that reader gets ENOSPC, nothing partial or temporary stays, the space is given
    back, everyone else is served; once space is freed the next read gets the whole template."""
    # tmpfs comes first among the fixtures: it is torn down (unmounted) after the daemon.
    workdir = tmpfs("size=1m,mode=0755" if exhausted == "blocks" else
                    "size=4m,nr_inodes=6,mode=0755")
    backing = os.path.join(workdir, "backing")
    m = mount(workdir=workdir, backing_exists=True, template=TEMPLATE, files={host_name(): HOST})
    a = netns()
    host, ca = caller(name="host"), caller(a.cmd(), name="A")
    fillers = []
    if exhausted == "blocks":
        fillers.append(os.path.join(backing, "filler"))
        fill(fillers[0])
        # Writes through the mount on the full file system fail with ENOSPC, not EIO (the
        # first may still fill the host file's last page: a short write).
        fd = host.open(m.mnt, "O_WRONLY", "O_APPEND")
        for _ in range(3):
            try:
                host.write(fd, b"# padding\n" * 6554)
            except OSError as e:
                assert e.errno == errno.ENOSPC, e
                break
        else:
            pytest.fail("writes through the mount on a full file system did not fail")
        host.close(fd)
        os.truncate(m.path(host_name()), len(HOST))
        # Free 64 KiB: less than the 256 KiB template.
        os.truncate(fillers[0], os.path.getsize(fillers[0]) - 65536)
    else:
        for i in range(100):
            path = os.path.join(backing, f"filler{i}")
            try:
                open(path, "wb").close()
            except OSError as e:
                assert e.errno == errno.ENOSPC, e
                break
            fillers.append(path)
        else:
            pytest.fail("nr_inodes did not limit the tmpfs")
    before = sorted(os.listdir(backing))
    free_before = os.statvfs(backing)

    for op, args in (("read", (m.mnt,)), ("stat", (m.mnt,)), ("open", (m.mnt, "O_WRONLY")),
                     ("read", (m.mnt,))):
        assert ca.errno_of(op, *args) == errno.ENOSPC, op
    r = a.run("cat", m.mnt)
    assert r.returncode != 0 and b"No space left on device" in r.stderr, r.stderr

    assert sorted(os.listdir(backing)) == before, "a partial or temporary file was left"
    free_after = os.statvfs(backing)
    assert (free_after.f_bfree, free_after.f_ffree) == (free_before.f_bfree, free_before.f_ffree), \
        "the failed copies still hold space"
    assert host.read(m.mnt) == HOST, "the host's file is no longer served"

    os.remove(fillers[-1])
    assert ca.read(m.mnt) == TEMPLATE
    assert ca.stat(m.mnt)["size"] == len(TEMPLATE)
    assert m.read_backing(f"{a.id}.conf") == TEMPLATE
    assert sorted(os.listdir(backing)) == sorted(set(before) - {os.path.basename(fillers[-1])}
                                                 | {f"{a.id}.conf"})
    assert m.proc.poll() is None


# --- the template breaks after startup -------------------------------------------------------

def _delete(path):
    os.remove(path)


def _directory(path):
    os.remove(path)
    os.mkdir(path)


def _fifo(path):
    os.remove(path)
    os.mkfifo(path)


def _unreadable(path):
    os.chmod(path, 0)


def _dangling(path):
    os.remove(path)
    os.symlink(path + ".nowhere", path)


# (breakage, errno the namespace without a file gets, daemon wrapper)
BREAKAGES = {
    "deleted": (_delete, errno.ENOENT, []),
    "dangling-symlink": (_dangling, errno.ENOENT, []),
    "directory": (_directory, errno.EISDIR, []),
    "fifo": (_fifo, errno.EINVAL, []),
    # root ignores mode bits: the daemon runs without CAP_DAC_OVERRIDE/READ_SEARCH here.
    "unreadable": (_unreadable, errno.EACCES, NO_DAC),
}


def _restore(path, content):
    if os.path.isdir(path) and not os.path.islink(path):
        os.rmdir(path)
    elif os.path.lexists(path):
        os.remove(path)
    with open(path + ".new", "wb") as f:
        f.write(content)
    os.replace(path + ".new", path)


@pytest.mark.parametrize("breakage", list(BREAKAGES))
def test_template_broken_after_startup(mount, netns, caller, breakage):
    """Only a namespace without a file gets an error (the same one for read, stat and open,
    quickly, also for a FIFO); nothing is created; the host and a namespace with a file are
    served and can write; restoring the template restores service without a restart."""
    breaker, want_errno, wrapper = BREAKAGES[breakage]
    a, b = netns(), netns()
    m = mount(template=b"nameserver 192.0.2.1\n", wrapper=wrapper,
              files={host_name(): HOST, f"{a.id}.conf": NS_A})
    host, ca, cb = caller(name="host"), caller(a.cmd(), name="A"), caller(b.cmd(), name="B")
    breaker(m.template)
    before = m.listing()

    for _ in range(3):
        t0 = time.monotonic()
        assert cb.errno_of("read", m.mnt) == want_errno
        assert cb.errno_of("stat", m.mnt) == want_errno
        assert cb.errno_of("open", m.mnt, "O_WRONLY", "O_APPEND") == want_errno
        assert cb.errno_of("truncate", m.mnt, 0) == want_errno
        assert time.monotonic() - t0 < TIMEOUT / 2, "the failing requests were slow"
        assert host.read(m.mnt) == HOST
        assert ca.read(m.mnt) == NS_A
        assert ca.stat(m.mnt)["size"] == len(NS_A)
    fd = ca.open(m.mnt, "O_WRONLY", "O_APPEND")
    ca.write(fd, b"options a\n")
    ca.close(fd)
    assert m.read_backing(f"{a.id}.conf") == NS_A + b"options a\n"
    assert m.listing() == before, "a file (or a temporary one) was created"
    assert not [n for n in os.listdir(m.backing) if n.startswith(".")]

    _restore(m.template, b"nameserver 192.0.2.2\n")
    os.chmod(m.template, 0o644)
    assert cb.read(m.mnt) == b"nameserver 192.0.2.2\n"
    assert m.listing() == sorted(before + [f"{b.id}.conf"])
    assert m.proc.poll() is None, "the daemon is not the one that started"


# --- backing files deleted or replaced under an open descriptor ------------------------------

@pytest.mark.parametrize("change,template", [("delete", True), ("delete", False),
                                             ("rename-over", False)])
def test_backing_file_changed_while_open(mount, netns, caller, change, template):
    """A descriptor keeps the file it opened: it reads (and writes) the old content after the
    backing file is deleted or replaced; the next open gets the template, ENOENT without one,
    or the replacement; other namespaces are not affected.

    fstat(2) of that descriptor is another matter: the kernel sends its GETATTR without the file
    handle, so it is answered for the namespace's *current* file (creating it from the template,
    or ENOENT), like stat(2) of the path. lseek(SEEK_END) does send the handle."""
    a = netns()
    m = mount(template=TEMPLATE if template else None,
              files={host_name(): HOST, f"{a.id}.conf": NS_A})
    ca, host = caller(a.cmd(), name="A"), caller(name="host")
    fd = ca.open(m.mnt, "O_RDWR")
    assert ca.readall(fd) == NS_A
    name = f"{a.id}.conf"
    if change == "delete":
        os.remove(m.path(name))
    else:
        m.write_backing(name + ".new", b"nameserver 10.9.9.9\n")
        os.replace(m.path(name + ".new"), m.path(name))

    assert ca.readall(fd) == NS_A, "the open descriptor lost its file"
    assert host.stat(m.mnt)["size"] == len(HOST)      # the shared inode is fine for others
    new = None if change == "delete" and not template else \
        TEMPLATE if change == "delete" else b"nameserver 10.9.9.9\n"
    if new is None:
        assert ca.errno_of("fstat", fd) == errno.ENOENT
        assert ca.errno_of("read", m.mnt) == errno.ENOENT
        assert ca.errno_of("stat", m.mnt) == errno.ENOENT
        assert m.listing() == [host_name()]
    else:
        assert ca.fstat(fd)["size"] == len(new)
        assert ca.read(m.mnt) == new
        assert ca.stat(m.mnt)["size"] == len(new)
    # SEEK_END asks with the handle: the old file's end. Writes through the old descriptor go
    # to the old file, not to its successor.
    assert ca.lseek(fd, 0, os.SEEK_END) == len(NS_A)
    ca.write(fd, b"options old\n")
    assert ca.readall(fd) == NS_A + b"options old\n"
    ca.close(fd)
    if new is not None:
        assert m.read_backing(name) == new
    assert host.read(m.mnt) == HOST


# --- a namespace's backing file is not a regular file ----------------------------------------

def _dir(path):
    os.mkdir(path)


def _fifo_file(path):
    os.mkfifo(path)


def _devnull_link(path):
    os.symlink("/dev/null", path)


@pytest.mark.parametrize("kind", ["directory", "fifo", "symlink-to-dev-null"])
def test_non_regular_backing_file_fails_only_its_namespace(mount, netns, caller, procs, kind):
    """An administrator's mistake in one namespace's backing file (a directory, a FIFO, a
    symlink to a device) must cost that namespace only: it gets an error, quickly, and every
    other caller is still served. The kernel marks the mount's only inode bad for good when a
    GETATTR reply changes its file type, so the daemon must never report one."""
    a = netns()
    m = mount(files={host_name(): HOST})
    {"directory": _dir, "fifo": _fifo_file, "symlink-to-dev-null": _devnull_link}[kind](
        m.path(f"{a.id}.conf"))
    host = caller(name="host")
    assert host.read(m.mnt) == HOST
    # A's attempts run as separate processes: with a FIFO an open may block in the daemon.
    attempts = [procs.start(a.cmd("cat", m.mnt)) for _ in range(3)]
    attempts += [procs.start(a.cmd("stat", "-c", "%F", m.mnt))]
    deadline = time.monotonic() + TIMEOUT
    for p in attempts:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
    hung = [p.args for p in attempts if p.poll() is None]
    try:
        got = host.read(m.mnt)
        host_errno = None
    except OSError as e:
        got, host_errno = None, e.errno
    assert host_errno is None and got == HOST, (
        f"after namespace A's backing file became a {kind}, the host gets "
        f"{os.strerror(host_errno) if host_errno else got!r}: one namespace's file broke the "
        f"mount for everyone\nreproducer: {m.reproducer()}")
    assert host.stat(m.mnt)["size"] == len(HOST)
    assert not hung, f"namespace A's requests hung in the daemon: {hung}"
    assert all(p.returncode != 0 for p in attempts)


# --- callers killed in the middle of requests ------------------------------------------------

def test_callers_killed_mid_request(mount, netns, procs):
    """Rounds of looping readers (4 KiB reads of 256 KiB files, and stats) from three
    namespaces, SIGKILLed at random moments: the daemon goes on, serves everyone their own file,
    and holds no more descriptors than before once the kernel has sent the releases."""
    a, b = netns(), netns()
    content = {"host": TEMPLATE, "a": TEMPLATE.replace(b"192.0.2.", b"10.0.2.."),
               "b": TEMPLATE.replace(b"192.0.2.", b"10.0.3..")}
    m = mount(files={host_name(): content["host"], f"{a.id}.conf": content["a"],
                     f"{b.id}.conf": content["b"]})
    base = proc_status(m.pid)
    loop = ("while :; do dd if=\"$0\" of=/dev/null bs=4k 2>/dev/null; "
            "stat -c %s \"$0\" >/dev/null; done")
    prefixes = [[], a.cmd(), b.cmd()]
    rng = random.Random(1234)
    for _ in range(8):
        group = [procs.start([*prefixes[i % 3], "sh", "-c", loop, m.mnt], group=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                 for i in range(12)]
        time.sleep(0.15 + rng.random() * 0.35)
        for p in group:
            procs.kill(p, group=True)
    assert m.proc.poll() is None, "the daemon died"
    for prefix, want in zip(prefixes, content.values()):
        r = run([*prefix, "cat", m.mnt], check=True)
        assert r.stdout == want
    wait_for(lambda: proc_status(m.pid)["fds"] <= base["fds"], TIMEOUT,
             f"the daemon's descriptors to return to {base['fds']} "
             f"(now {proc_status(m.pid)['fds']})")


# --- 1,000 processes in 20 namespaces --------------------------------------------------------

def test_load_1000_processes_20_namespaces(mount, netns, procs):
    """1,000 processes (a small C loop each, tests/tools/rcfs_load.c) in 20 namespaces read
    and stat the mount for 10 s: not one error, never another namespace's content, size or
    inode, and the daemon's memory does not grow. The daemon runs with systemd's default
    descriptor limit (soft 1024), as the packaged service would."""
    loadgen = compile_c("rcfs_load.c", new_workdir("loadgen"))
    nss = [netns() for _ in range(20)]
    files = {host_name(): HOST}
    for i, ns in enumerate(nss):
        # Distinct sizes and contents that name the namespace.
        files[f"{ns.id}.conf"] = (b"# namespace %d\n" % ns.id +
                                  b"nameserver 10.%d.0.1\n" % i * (1 + i))
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    hard_text = "unlimited" if hard == resource.RLIM_INFINITY else str(hard)
    soft = 1024 if hard == resource.RLIM_INFINITY else min(1024, hard)
    m = mount(files=files, wrapper=["prlimit", f"--nofile={soft}:{hard_text}"])
    # Warm up (threads, first copies), then measure.
    for ns in nss[:3]:
        ns.run("cat", m.mnt, check=True)
    before = proc_status(m.pid)
    seconds = 10
    p = procs.start([loadgen, m.mnt, seconds, 1000,
                     *[f"{ns.path}={m.path(f'{ns.id}.conf')}" for ns in nss]])
    samples, deadline = [], time.monotonic() + seconds + 6 * TIMEOUT
    while p.poll() is None:
        if time.monotonic() > deadline:
            procs.kill(p)
            pytest.fail(f"the load generator did not finish\nreproducer: {m.reproducer()}")
        samples.append(proc_status(m.pid))
        time.sleep(0.25)
    out, err = p.communicate(timeout=TIMEOUT)
    after = proc_status(m.pid)
    res = json.loads(out)
    figures = (f"daemon before: VmHWM {before['VmHWM']} kB, VmRSS {before['VmRSS']} kB, "
               f"{before['Threads']} threads, {before['fds']} fds; "
               f"after: VmHWM {after['VmHWM']} kB, "
               f"VmRSS {after['VmRSS']} kB, {after['Threads']} threads, {after['fds']} fds; "
               f"peak during load: VmRSS {max(s['VmRSS'] for s in samples)} kB, "
               f"{max(s['fds'] for s in samples)} fds; load: {res}")
    print(figures)
    assert res["started"] == res["reported"] == 1000 and res["exited_bad"] == 0, (res, err)
    assert res["reads"] > 2000 and res["stats"] > 2000, f"too little load: {res}"
    assert res["bad_content"] == 0 and res["bad_stat"] == 0, \
        f"a caller was served another namespace's file: {res}\n{err}"
    named = {os.strerror(int(e)): n for e, n in res["errors"].items()}
    assert not named, f"errors under load: {named}\n{figures}\nreproducer: {m.reproducer()}"
    assert m.proc.poll() is None
    # Memory: what the load added stays put; no growth over the second half of the run.
    steady = [s["VmRSS"] for s in samples[len(samples) // 2:]]
    if not SAN:   # ASan's quarantine grows by design
        assert after["VmRSS"] - before["VmRSS"] < 8192, figures
        assert max(steady) - min(steady) < 2048, figures
    wait_for(lambda: proc_status(m.pid)["fds"] <= before["fds"], TIMEOUT,
             "the daemon's descriptors to return to their number before the load")


# --- writers and readers at once -------------------------------------------------------------

def test_readers_see_only_complete_versions_when_renamed_into_place(mount, netns, procs):
    """The documented way to replace a file atomically: write a temporary file in the backing
    directory and rename it over the namespace's file. Readers through the mount, even ones that
    read 7 bytes per read(2), then only ever see a whole version (their descriptor keeps the
    inode it opened), never an empty file; another namespace sees only its own file."""
    a, b = netns(), netns()
    name = f"{a.id}.conf"
    m = mount(files={host_name(): HOST, name: version(0), f"{b.id}.conf": NS_B})
    expect_b = os.path.join(m.workdir, "expect-b")
    with open(expect_b, "wb") as f:
        f.write(NS_B)
    start, seconds = now_plus(1.0), 2.5
    readers = [procs.start(a.cmd(*py(VERSION_READER, m.mnt, start, seconds, chunk)))
               for chunk in (7, 7, 4096, 0)]
    readers.append(procs.start(b.cmd(*py(VERSION_READER, m.mnt, start, seconds, 0, expect_b))))
    time.sleep(max(0.0, start - time.time()))
    deadline, i = time.monotonic() + seconds, 0
    tmp = m.path(".writer.tmp")
    while time.monotonic() < deadline:
        i += 1
        with open(tmp, "wb") as f:
            f.write(version(i))
        os.replace(tmp, m.path(name))
    results = [json.loads(finish(p)[0]) for p in readers]
    print(f"{i} versions renamed into place; readers: {results}")
    for res in results[:-1]:
        assert res["torn"] == 0 and res["empty"] == 0 and not res["errors"], res
        assert res["complete"] > 10, res
    assert results[-1]["other"] == 0 and not results[-1]["errors"], results[-1]
    assert m.read_backing(name) == version(i)


def test_redirect_writers_readers_see_empty_or_complete(mount, netns, procs):
    """`>` through the mount is truncate-then-write: a reader can see the empty file in
    between, but (for versions written with one write(2) and read with one read(2)) never a
    torn mix of two versions; another namespace is never affected."""
    a, b = netns(), netns()
    m = mount(files={host_name(): HOST, f"{a.id}.conf": version(0), f"{b.id}.conf": NS_B})
    expect_b = os.path.join(m.workdir, "expect-b")
    with open(expect_b, "wb") as f:
        f.write(NS_B)
    start, seconds = now_plus(1.0), 2.5
    writer = procs.start(a.cmd(*py(TRUNC_WRITER, m.mnt, start, seconds)))
    readers = [procs.start(a.cmd(*py(VERSION_READER, m.mnt, start, seconds, 0)))
               for _ in range(3)]
    readers.append(procs.start(b.cmd(*py(VERSION_READER, m.mnt, start, seconds, 0, expect_b))))
    # Not asserted, only shown (pytest -s): a reader that needs several read(2) calls (7 bytes
    # each here; stdio's second read to find the end counts too) can join the head of one
    # version to the tail of a later, longer one. docs/RELIABILITY.md records the figures.
    multi = procs.start(a.cmd(*py(VERSION_READER, m.mnt, start, seconds, 7)))
    last = int(finish(writer)[0])
    results = [json.loads(finish(p)[0]) for p in readers]
    shown = json.loads(finish(multi)[0])
    shown["samples"] = shown["samples"][:1]
    print(f"{last} versions written with `>`; one-read readers: {results}; "
          f"7-byte reader (not asserted): {shown}")
    for res in results[:-1]:
        assert res["torn"] == 0 and not res["errors"], res
        assert res["complete"] > 10, res
    assert results[-1]["other"] == 0 and not results[-1]["errors"], results[-1]
    assert m.read_backing(f"{a.id}.conf") == version(last)
    assert m.read_backing(host_name()) == HOST


# --- signals under load ----------------------------------------------------------------------

def start_load(procs, m, nss, appenders_per_ns=2, readers=6):
    """Appenders (one O_APPEND descriptor each) in every namespace of nss (None: the host) and
    looping readers; returns the appenders as (process, namespace, tag) once each has written."""
    apps = []
    for k, ns in enumerate(nss):
        for j in range(appenders_per_ns):
            tag = f"w{k}.{j}"
            cmd = py(APPENDER, m.mnt, tag, 60)
            apps.append((procs.start(ns.cmd(*cmd) if ns else cmd), ns, tag))
    for k in range(readers):
        ns = nss[k % len(nss)]
        cmd = py(READ_LOOP, m.mnt, 60)
        procs.start(ns.cmd(*cmd) if ns else cmd, stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL)
    for p, _, tag in apps:
        ready, _, _ = select.select([p.stderr], [], [], TIMEOUT)
        line = p.stderr.readline() if ready else b"(nothing)"
        assert line == b"ready\n", (f"appender {tag}: {line!r} within {TIMEOUT:.0f}s, exit "
                                     f"{p.poll()}\nreproducer: {m.reproducer()}")
    return apps


def check_acknowledged(m, apps, ok_errnos):
    """Every write an appender saw return is in its namespace's file, in order, once; at most
    one more (in flight when the daemon went) may follow."""
    report = []
    for p, ns, tag in apps:
        res = json.loads(finish(p, timeout=TIMEOUT)[0])
        name = f"{ns.id}.conf" if ns else host_name()
        got = lines_of(m.read_backing(name), tag)
        report.append((tag, res["acked"], len(got), res["errno"]))
        assert res["errno"] in ok_errnos, (tag, res)
        assert got[:res["acked"]] == list(range(res["acked"])), \
            f"{tag}: acknowledged writes missing from {name}"
        assert len(got) in (res["acked"], res["acked"] + 1), (tag, res, len(got))
    return report


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_under_load_unmounts_fast_and_keeps_acknowledged_writes(mount, netns, procs, sig):
    a, b = netns(), netns()
    m = mount(template=b"nameserver 192.0.2.1\n", files={host_name(): HOST})
    apps = start_load(procs, m, [None, a, b])
    time.sleep(1.0)
    t0 = time.monotonic()
    os.kill(m.pid, sig)
    status = m.proc.wait(timeout=TIMEOUT)
    took = time.monotonic() - t0
    print(f"{sig.name} under load: exit {status} after {took:.3f} s")
    assert status == 0, f"exit status {status}\nreproducer: {m.reproducer()}"
    assert took < (4.0 if SAN else 2.0), f"shutdown took {took:.2f} s"
    assert not rcfs_mounts(m.mnt)
    with open(m.mnt, "rb") as f:
        assert f.read() == Daemon.PLAIN
    report = check_acknowledged(m, apps, {errno.ECONNABORTED, errno.ENOTCONN, errno.ENODEV})
    print("appenders (tag, acknowledged, lines in file, errno):", report)


@pytest.mark.parametrize("recovery", ["fusermount3 -u", "umount -l", "--takeover"])
def test_sigkill_under_load_then_recovery(mount, netns, procs, raw, recovery):
    """SIGKILL leaves the mount disconnected (ENOTCONN for everyone) with every acknowledged
    write in place; a restart is refused with a message naming the remedy; after
    `fusermount3 -u` or `umount -l`, or with --takeover, a new daemon over the same mountpoint
    serves every namespace its file again."""
    a = netns()
    m = mount(template=b"nameserver 192.0.2.1\n", files={host_name(): HOST},
              expect_exit=-signal.SIGKILL)
    apps = start_load(procs, m, [None, a])
    time.sleep(0.7)
    os.kill(m.pid, signal.SIGKILL)
    m.proc.wait(timeout=TIMEOUT)
    check_acknowledged(m, apps, {errno.ENOTCONN, errno.ECONNABORTED})
    assert rcfs_mounts(m.mnt), "the kernel removed the mount by itself"
    r = run(["stat", m.mnt])
    assert r.returncode != 0 and b"Transport endpoint is not connected" in r.stderr, r.stderr
    r = a.run("cat", m.mnt)
    assert r.returncode != 0 and b"Transport endpoint is not connected" in r.stderr, r.stderr

    refused = raw(["-d", m.template, m.backing, m.mnt], m.workdir, name="refused")
    assert refused.wait_exit() not in (None, 0)
    lines = refused.stderr_lines()
    assert len(lines) == 1 and "already a resolvconffs mount (stale" in lines[0] \
        and "fusermount3 -u" in lines[0] and "--takeover" in lines[0], lines
    host_now = m.read_backing(host_name())
    if recovery == "--takeover":
        again = raw(["--takeover", "-d", m.template, m.backing, m.mnt], m.workdir,
                    name="takeover", mnt=m.mnt)
        again.wait_serving(m.mnt, host_now)
        mnt, stop = m.mnt, again.stop
    else:
        run([*recovery.split(), m.mnt], check=True)
        assert not rcfs_mounts(m.mnt)
        again = mount(workdir=m.workdir, backing_exists=True, template=b"nameserver 192.0.2.1\n")
        mnt, stop = again.mnt, again.stop
    assert len(rcfs_mounts(mnt)) == 1
    assert run(["cat", mnt], check=True).stdout == host_now
    assert a.run("cat", mnt, check=True).stdout == m.read_backing(f"{a.id}.conf")
    assert stop() == 0
    assert not rcfs_mounts(mnt)


# --- startup over an existing resolvconffs mount ---------------------------------------------

def test_start_over_a_live_mount_is_refused(mount, raw):
    m = mount(files={host_name(): HOST})
    second = raw([m.backing, m.mnt], m.workdir)
    status = second.wait_exit()
    assert status == 2, f"second daemon: {status}"
    lines = second.stderr_lines()
    assert len(lines) == 1 and lines[0] == (
        f"resolvconffs: mountpoint '{m.mnt}' is already a resolvconffs mount (live); "
        "stop that daemon first or use --takeover"), lines
    assert len(rcfs_mounts(m.mnt)) == 1
    assert run(["cat", m.mnt], check=True).stdout == HOST


# What the daemon that was taken over may say when it leaves the successor's mount alone.
TAKEN_OVER = r"resolvconffs: .* taken over .*"


def test_takeover_of_a_live_mount(mount, raw):
    """--takeover over a live mount: the new daemon serves; the old one, whose mount is now
    detached and unused, exits by itself with status 0."""
    m = mount(files={host_name(): HOST}, stderr_ok=[TAKEN_OVER])
    other = new_workdir("takeover")
    os.mkdir(os.path.join(other, "backing"))
    with open(os.path.join(other, "backing", host_name()), "wb") as f:
        f.write(b"nameserver 10.5.5.5\n")
    new = raw(["--takeover", os.path.join(other, "backing"), m.mnt], other, mnt=m.mnt)
    new.wait_serving(m.mnt, b"nameserver 10.5.5.5\n")
    assert m.proc.wait(timeout=TIMEOUT) == 0, "the old daemon did not exit cleanly"
    assert len(rcfs_mounts(m.mnt)) == 1
    assert new.stop() == 0
    assert not rcfs_mounts(m.mnt)


def test_takeover_then_stopping_the_old_daemon_keeps_the_new_mount(mount, caller, raw):
    """A process still holds the old mount open, so the old daemon lives on after --takeover.
    Stopping it (SIGTERM, as a service manager would) must not unmount its successor."""
    m = mount(files={host_name(): HOST}, stderr_ok=[TAKEN_OVER])
    holder = caller(name="holder")
    fd = holder.open(m.mnt)
    other = new_workdir("takeover")
    os.mkdir(os.path.join(other, "backing"))
    with open(os.path.join(other, "backing", host_name()), "wb") as f:
        f.write(b"nameserver 10.5.5.5\n")
    new = raw(["--takeover", os.path.join(other, "backing"), m.mnt], other, mnt=m.mnt)
    new.wait_serving(m.mnt, b"nameserver 10.5.5.5\n")
    assert holder.readall(fd) == HOST          # the old descriptor is still served by the old
    assert m.proc.poll() is None
    assert m.stop() == 0
    try:
        assert rcfs_mounts(m.mnt), (
            "stopping the old daemon unmounted the new daemon's mount (libfuse unmounts by "
            f"path at exit)\nold: {m.reproducer()}\nnew: cd {other} && {' '.join(new.cmd)}")
        assert run(["cat", m.mnt], check=True).stdout == b"nameserver 10.5.5.5\n"
        assert new.proc.poll() is None, f"the new daemon exited {new.proc.returncode}"
    finally:
        holder.kill()


# --- the fault paths under valgrind ----------------------------------------------------------

@pytest.mark.ci_may_skip("the sanitizer build (SAN=1) does not run under valgrind")
def test_fault_paths_under_valgrind(tmpfs, mount, netns, caller, procs, tmp_path):
    """memcheck over the error paths above: a copy failing with ENOSPC, a template that became
    a directory or a FIFO, callers killed in the middle of requests, then SIGTERM. No error, no
    definite leak, exit status 0."""
    if SAN:
        pytest.skip("SAN=1: AddressSanitizer and valgrind do not mix")
    assert shutil.which("valgrind"), "valgrind is not installed"
    log = tmp_path / "valgrind.log"
    workdir = tmpfs("size=1m,mode=0755")
    backing = os.path.join(workdir, "backing")
    m = mount(workdir=workdir, backing_exists=True, template=TEMPLATE, files={host_name(): HOST},
              wrapper=["valgrind", "--error-exitcode=99", "--leak-check=full",
                       "--errors-for-leak-kinds=definite", f"--log-file={log}"],
              daemon_exe="", mount_timeout=VALGRIND_TIMEOUT, stop_timeout=VALGRIND_TIMEOUT)
    a, b = netns(), netns()
    ca = caller(a.cmd(), name="A", timeout=VALGRIND_TIMEOUT)
    cb = caller(b.cmd(), name="B", timeout=VALGRIND_TIMEOUT)
    filler = os.path.join(backing, "filler")
    fill(filler)
    os.truncate(filler, os.path.getsize(filler) - 65536)
    assert ca.errno_of("read", m.mnt) == errno.ENOSPC
    os.remove(filler)
    assert ca.read(m.mnt) == TEMPLATE
    for breaker, want in ((_directory, errno.EISDIR), (_fifo, errno.EINVAL)):
        breaker(m.template)
        assert cb.errno_of("read", m.mnt) == want
        _restore(m.template, b"nameserver 192.0.2.2\n")
    loop = "while :; do cat \"$0\" >/dev/null; stat \"$0\" >/dev/null; done"
    for _ in range(3):
        group = [procs.start([*prefix, "sh", "-c", loop, m.mnt], group=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                 for prefix in ([], a.cmd(), b.cmd())]
        time.sleep(0.5)
        for p in group:
            procs.kill(p, group=True)
    assert cb.read(m.mnt) == b"nameserver 192.0.2.2\n"
    assert run(["cat", m.mnt], check=True, timeout=VALGRIND_TIMEOUT).stdout == HOST
    status = m.stop()
    text = log.read_text()
    print("\n".join(ln for ln in text.splitlines() if "SUMMARY" in ln or "lost:" in ln))
    summaries = re.findall(r"ERROR SUMMARY: (\d+) errors", text)
    assert summaries and all(s == "0" for s in summaries), text[-3000:]
    assert "definitely lost: 0 bytes" in text or "All heap blocks were freed" in text, text[-3000:]
    assert status == 0, f"exit status {status} after SIGTERM (99 would be memcheck's)"
