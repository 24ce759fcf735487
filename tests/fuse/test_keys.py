"""-k/--key (README "Other keys"): files keyed by the caller's uid or gid, or by the id of another
kind of namespace (/proc/<tid>/ns/KIND) instead of the network namespace."""
import os
import re

import pytest

from fuseutil import host_netns_id, run
from featutil import (FORK_KINDS, OPTION, own_ns_id, refused, sleeper,  # noqa: F401 (fixture)
                      startup_layout, wait_stderr)

TEMPLATE = b"nameserver 192.0.2.53\n"


def as_user(uid, gid=None, groups=()):
    gid = uid if gid is None else gid
    return ["setpriv", f"--reuid={uid}", f"--regid={gid}",
            f"--groups={','.join(map(str, groups))}" if groups else "--clear-groups"]


# --- uid and gid -------------------------------------------------------------------------------

@pytest.mark.needs_real_root("callers of other real uids (setpriv)")
def test_key_uid(mount, caller):
    """Two users get <uid>.conf each, root 0.conf; one user's file may exist beforehand, the
    other's is made from the template. The network namespace plays no part."""
    m = mount(args=["-k", "uid"], template=TEMPLATE,
              files={"20001.conf": b"nameserver 10.0.0.1\n"})
    wait_stderr(m, re.escape(f"resolvconffs: serving {m.mnt} from {m.backing}/<uid>.conf;") + ".*")
    assert run([*as_user(20001), "cat", m.mnt], check=True).stdout == b"nameserver 10.0.0.1\n"
    assert run([*as_user(20002), "cat", m.mnt], check=True).stdout == TEMPLATE
    # The gid does not matter with -k uid.
    assert run([*as_user(20001, 777), "cat", m.mnt], check=True).stdout == b"nameserver 10.0.0.1\n"
    assert run(["cat", m.mnt], check=True).stdout == TEMPLATE
    assert m.listing() == ["0.conf", "20001.conf", "20002.conf"]
    # Long-lived callers alternating: each always sees its own.
    a, b = caller(as_user(20001), name="u20001"), caller(as_user(20002), name="u20002")
    os.chmod(m.path("20002.conf"), 0o666)
    fd = b.open(m.mnt, "O_WRONLY", "O_TRUNC")
    b.write(fd, b"nameserver 10.0.0.2\n")
    b.close(fd)
    for _ in range(20):
        assert a.read(m.mnt) == b"nameserver 10.0.0.1\n"
        assert b.read(m.mnt) == b"nameserver 10.0.0.2\n"
        assert a.stat(m.mnt)["size"] == len(b"nameserver 10.0.0.1\n")
    # The same uid in another network namespace still gets its uid's file.
    r = run(["unshare", "--net", *as_user(20001), "cat", m.mnt], check=True)
    assert r.stdout == b"nameserver 10.0.0.1\n"


@pytest.mark.needs_real_root("callers of other real gids (setpriv)")
def test_key_gid(mount):
    m = mount(args=["--key=gid"], template=TEMPLATE, files={"30001.conf": b"nameserver 10.0.0.3\n"})
    assert run([*as_user(20001, 30001), "cat", m.mnt], check=True).stdout == b"nameserver 10.0.0.3\n"
    assert run([*as_user(20002, 30001), "cat", m.mnt], check=True).stdout == b"nameserver 10.0.0.3\n"
    # Supplementary groups are not the key: the primary gid is.
    r = run([*as_user(20001, 30002, groups=[30001]), "cat", m.mnt], check=True)
    assert r.stdout == TEMPLATE
    assert m.listing() == ["30001.conf", "30002.conf"]


# --- namespace kinds ---------------------------------------------------------------------------

SCRIPT = 'readlink /proc/self/ns/"$1" && cat "$2" && printf "nameserver 10.9.9.9\\n" > "$2" && cat "$2"'


@pytest.mark.parametrize("kind", ["uts", "ipc", "mnt", "cgroup", "pid", "time", "user"])
def test_key_namespace_kind(mount, kind):
    """A process in a new namespace of KIND (unshare) gets <N>.conf where N is the number in its
    /proc/<pid>/ns/KIND, made from the template, and writes go there; the daemon's own
    namespace of that kind keeps its own file; the network namespace plays no part."""
    m = mount(args=["-k", kind], template=TEMPLATE)
    wait_stderr(m, re.escape(f"resolvconffs: serving {m.mnt} from {m.backing}/<{kind} ns id>.conf;")
                + ".*")
    fork = ["--fork"] if kind in FORK_KINDS else []
    r = run(["unshare", f"--{OPTION[kind]}", *fork, "sh", "-c", SCRIPT, "sh", kind, m.mnt],
            check=True)
    link, rest = r.stdout.split(b"\n", 1)
    key = int(link.decode().removeprefix(f"{kind}:[").removesuffix("]"))
    assert key != own_ns_id(kind), f"unshare --{OPTION[kind]} did not make a new {kind} namespace"
    assert rest == TEMPLATE + b"nameserver 10.9.9.9\n"
    assert m.read_backing(f"{key}.conf") == b"nameserver 10.9.9.9\n"
    # Ours (the daemon's) is separate and untouched.
    assert run(["cat", m.mnt], check=True).stdout == TEMPLATE
    assert m.listing() == sorted([f"{key}.conf", f"{own_ns_id(kind)}.conf"])
    # A new network namespace alone does not change the key.
    assert run(["unshare", "--net", "cat", m.mnt], check=True).stdout == TEMPLATE
    assert len(m.listing()) == 2


def test_key_mnt_with_a_long_lived_namespace(mount, sleeper, caller):
    """Two processes in the same new mount namespace share one file; the key is stable across
    requests."""
    m = mount(args=["-k", "mnt"], template=TEMPLATE)
    s = sleeper("mnt")
    c1, c2 = caller(s.cmd(), name="mnt1"), caller(s.cmd(), name="mnt2")
    fd = c1.open(m.mnt, "O_WRONLY", "O_APPEND")
    c1.write(fd, b"options ndots:4\n")
    c1.close(fd)
    assert c2.read(m.mnt) == TEMPLATE + b"options ndots:4\n"
    assert m.read_backing(f"{s.id('mnt')}.conf") == TEMPLATE + b"options ndots:4\n"
    assert run(["cat", m.mnt], check=True).stdout == TEMPLATE


# --- bad values --------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["bogus", "NET", "", "net ", "uid,gid", "netns"])
def test_bad_key_is_refused(rcfs_bin, repro_bin, value):
    d = startup_layout()
    line = refused(rcfs_bin, ["-k", value, "-d", "template", "backing", "mnt"], d, repro_bin)
    assert line.startswith("resolvconffs: key"), line
    assert f"'{value}'" in line, line
    assert "net, mnt, uts, ipc, user, pid, cgroup, time, uid, gid" in line, line


@pytest.mark.parametrize("args,expect", [
    (["--names", "-k", "mnt"], "network namespaces only"),
    (["--etc-netns", "-k", "uid"], "network namespaces only"),
    (["--filter-loopback", "-k", "uts"], "network namespace keys only"),
    (["--gc-on-start", "-k", "gid"], "--gc-on-start needs a namespace key"),
], ids=["names-mnt", "etc-netns-uid", "filter-uts", "gc-gid"])
def test_key_combinations_refused(rcfs_bin, repro_bin, args, expect):
    """Names (ip netns) and loopback filtering only make sense for network namespace keys,
    --gc-on-start only for namespace keys."""
    d = startup_layout()
    line = refused(rcfs_bin, [*args, "-d", "template", "backing", "mnt"], d, repro_bin)
    assert expect in line, line


def test_key_uid_needs_no_procfs_links(mount, tmp_path):
    """-k uid reads no ns links: an empty directory as -P is accepted and the host's uid is
    served."""
    empty = tmp_path / "emptyproc"
    empty.mkdir()
    m = mount(args=["-k", "uid", "-P", str(empty)], template=TEMPLATE)
    assert run(["cat", m.mnt], check=True).stdout == TEMPLATE
    assert m.listing() == [f"{os.getuid()}.conf"]
    assert f"{host_netns_id()}.conf" not in m.listing()
