"""Callers the daemon cannot tie to a namespace get an error, never another namespace's file, and
the daemon goes on serving everyone else (DESIGN.md "Who is calling", "Parsing the link")."""
import errno
import os

import pytest

from fuseutil import TIMEOUT, host_netns_id, new_workdir, run, wait_for

HOST = b"nameserver 10.0.0.1\n"
NS_A = b"nameserver 10.0.0.2\n"
FAKE = b"nameserver 10.7.7.7\n"
TEMPLATE = b"nameserver 192.0.2.99\n"


def make_link(procfs, pid, target):
    """Point <procfs>/<pid>/ns/net at target (replaced atomically if it exists)."""
    d = os.path.join(procfs, str(pid), "ns")
    os.makedirs(d, exist_ok=True)
    tmp = os.path.join(d, ".net.new")
    os.symlink(target, tmp)
    os.replace(tmp, os.path.join(d, "net"))


# --- pid 0: a caller outside the daemon's pid namespace --------------------------------------

def test_callers_outside_the_daemons_pid_namespace(mount, netns):
    """The daemon runs as pid 1 of a new pid namespace, with that namespace's own procfs mounted
    for it (-P). Host processes are invisible there: the kernel reports pid 0 and they get ESRCH.
    Processes inside its pid namespace are served their own namespace's file."""
    a = netns()
    workdir = new_workdir("pidns")
    procdir = os.path.join(workdir, "proc")
    os.mkdir(procdir)
    # The proc mount is made by the new pid namespace's first process in our mount namespace,
    # so it shows that pid namespace; the daemon's teardown unmounts it.
    wrapper = ["unshare", "--pid", "--fork", "--kill-child", "sh", "-c",
               'mount -t proc proc "$1" && shift && exec "$@"', "sh", procdir]
    m = mount(workdir=workdir, wrapper=wrapper, procfs=procdir, extra_unmounts=[procdir],
              files={f"{host_netns_id()}.conf": HOST, f"{a.id}.conf": NS_A},
              template=TEMPLATE)
    assert m.pid != m.proc.pid, "did not find the daemon below unshare"
    with open(f"/proc/{m.pid}/status") as f:
        nspid = [ln.split()[1:] for ln in f if ln.startswith("NSpid:")][0]
    assert nspid[-1] == "1", f"the daemon is not pid 1 of its namespace: NSpid {nspid}"
    before = m.listing()

    for _ in range(3):
        for cmd in (["cat", m.mnt], ["stat", "-c", "%s", m.mnt], ["sh", "-c", f": >> {m.mnt}"]):
            r = run(cmd)
            assert r.returncode != 0, f"host {cmd} succeeded: {r.stdout!r}"
            assert b"No such process" in r.stderr, (cmd, r.stderr)
        # Inside the daemon's pid namespace: the host's network namespace, and A's.
        inside = ["nsenter", f"--target={m.pid}", "--pid", "--"]
        assert run([*inside, "cat", m.mnt], check=True).stdout == HOST
        assert run(["nsenter", f"--target={m.pid}", "--pid", f"--net={a.path}", "--",
                    "cat", m.mnt], check=True).stdout == NS_A
        r = run(a.cmd("cat", m.mnt))
        assert r.returncode != 0 and b"No such process" in r.stderr, r.stderr
    assert m.listing() == before, "an unresolvable caller created a file"


def test_child_pid_namespace_with_the_hosts_proc_never_serves_another_file(mount, netns):
    """The same daemon in a child pid namespace but left with the host's /proc: request pids
    are numbered in the daemon's pid namespace, /proc numbers another one, so pid N there is an
    unrelated process. The daemon must refuse that procfs at startup, or at least never serve a
    caller another namespace's file through it."""
    a = netns()
    d = mount(wrapper=["unshare", "--pid", "--fork", "--kill-child"], wait=False,
              files={f"{host_netns_id()}.conf": HOST, f"{a.id}.conf": NS_A},
              stderr_ok=[r"resolvconffs: procfs .*"])   # a refusal names the procfs
    state = wait_for(lambda: "exited" if d.proc.poll() is not None else
                     "mounted" if d.mounted() else None, TIMEOUT, "the daemon to mount or refuse")
    if state == "exited":
        lines = d.stderr_lines()
        assert d.proc.returncode != 0 and len(lines) == 1 and "procfs" in lines[0], lines
        assert not d.mounted()
        return
    d.wait_mounted()
    # Callers in the daemon's pid namespace have small pids there (2, 3, ...): in the host's
    # /proc those are other processes, in the host's network namespace.
    for _ in range(5):
        r = run(["nsenter", f"--target={d.pid}", "--pid", f"--net={a.path}", "--", "cat", d.mnt])
        assert r.stdout != HOST, (
            "a caller in namespace A was served the host's file through a procfs of another pid "
            f"namespace\nreproducer: {d.reproducer()}")
        assert r.returncode != 0 or r.stdout == NS_A, r


def test_daemon_serves_normally_after_esrch(mount, caller):
    """Without the pid namespace the same host caller is served: the error above was only about
    visibility."""
    m = mount(files={f"{host_netns_id()}.conf": HOST})
    assert caller(name="host").read(m.mnt) == HOST


# --- a fake procfs given with -P --------------------------------------------------------------

GARBLED = [
    "net:[../../etc/shadow]",
    "net:[]",
    "net:[12a]",
    "net:[-1]",
    "net:[+1]",
    "net:[ 12]",
    "net:[12] ",
    "net:[12]]",
    "net:[12",
    "net:12",
    "net[12]",
    ":[12]",
    "mnt:[12]",
    "NET:[12]",
    "net:[18446744073709551616]",     # 2**64
    "net:[99999999999999999999]",
    "net:[0x10]",
    "net:[1/2]",
    "net:[12]/x",
    "xnet:[12]",
    "net:[" + "1" * 100 + "]",
    "net:[" + "0" * 21 + "1]",
]


@pytest.fixture
def fake(mount, caller):
    """Three long-lived callers: `good` mapped to net:[777], `garbled` to a malformed link, and
    `absent` not in the fake tree at all; the daemon has a template, so any accepted id would
    create a file."""
    good, garbled, absent = caller(name="good"), caller(name="garbled"), caller(name="absent")
    workdir = new_workdir("fakeproc")
    procfs = os.path.join(workdir, "proc")
    os.mkdir(procfs)
    make_link(procfs, good.pid, "net:[777]")
    make_link(procfs, garbled.pid, "net:[../../etc/shadow]")
    m = mount(workdir=workdir, procfs=procfs, template=TEMPLATE, files={"777.conf": FAKE})
    return m, procfs, good, garbled, absent


def test_fake_procfs_maps_pid_to_777(fake):
    m, procfs, good, garbled, absent = fake
    assert good.read(m.mnt) == FAKE
    assert good.stat(m.mnt)["size"] == len(FAKE)
    assert good.stat(m.mnt)["ino"] == os.stat(m.path("777.conf")).st_ino
    # A thread id resolves like a pid: the caller's main thread id is its pid.
    assert m.listing() == ["777.conf"]


def test_fake_procfs_garbled_link_is_einval(fake):
    m, procfs, good, garbled, absent = fake
    assert garbled.errno_of("read", m.mnt) == errno.EINVAL
    assert garbled.errno_of("stat", m.mnt) == errno.EINVAL
    assert garbled.errno_of("open", m.mnt, "O_WRONLY") == errno.EINVAL
    assert garbled.errno_of("truncate", m.mnt, 0) == errno.EINVAL
    r = run(["cat", m.mnt])   # not in the tree either
    assert b"No such process" in r.stderr
    assert good.read(m.mnt) == FAKE, "the daemon stopped serving after an EINVAL"
    assert m.listing() == ["777.conf"]


def test_fake_procfs_every_malformed_link_is_rejected(fake):
    m, procfs, good, garbled, absent = fake
    for target in GARBLED:
        make_link(procfs, garbled.pid, target)
        assert garbled.errno_of("read", m.mnt) == errno.EINVAL, target
        assert garbled.errno_of("stat", m.mnt) == errno.EINVAL, target
        assert m.listing() == ["777.conf"], f"{target!r} created a file"
        assert good.read(m.mnt) == FAKE
    # The largest 64-bit id is accepted: the link is re-read at every request.
    make_link(procfs, garbled.pid, "net:[18446744073709551615]")
    assert garbled.read(m.mnt) == TEMPLATE
    assert m.listing() == ["18446744073709551615.conf", "777.conf"]
    assert m.read_backing("777.conf") == FAKE


def test_fake_procfs_absent_pid_is_esrch(fake):
    m, procfs, good, garbled, absent = fake
    assert absent.errno_of("read", m.mnt) == errno.ESRCH
    assert absent.errno_of("stat", m.mnt) == errno.ESRCH
    r = run(["cat", m.mnt])
    assert r.returncode != 0 and b"No such process" in r.stderr, r.stderr
    # A pid that was in the tree and is gone (its process exited) is also ESRCH.
    os.remove(os.path.join(procfs, str(good.pid), "ns", "net"))
    assert good.errno_of("read", m.mnt) == errno.ESRCH
    make_link(procfs, good.pid, "net:[777]")
    assert good.read(m.mnt) == FAKE, "the daemon stopped serving after an ESRCH"
    assert m.listing() == ["777.conf"]


def test_fake_procfs_unreadable_link_is_eacces(mount, caller):
    """A link the daemon may not read gives EACCES. Root is held to permission bits once
    CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH are dropped from its bounding set; the caller's
    ns directory is mode 0."""
    good, locked = caller(name="good"), caller(name="locked")
    workdir = new_workdir("fakeproc-eacces")
    procfs = os.path.join(workdir, "proc")
    os.mkdir(procfs)
    make_link(procfs, good.pid, "net:[777]")
    make_link(procfs, locked.pid, "net:[778]")
    os.chmod(os.path.join(procfs, str(locked.pid), "ns"), 0)
    m = mount(workdir=workdir, procfs=procfs,
              wrapper=["setpriv", "--bounding-set", "-dac_override,-dac_read_search"],
              files={"777.conf": FAKE, "778.conf": b"must not be served\n"})
    assert locked.errno_of("read", m.mnt) == errno.EACCES
    assert locked.errno_of("stat", m.mnt) == errno.EACCES
    assert good.read(m.mnt) == FAKE
    assert m.listing() == ["777.conf", "778.conf"]
