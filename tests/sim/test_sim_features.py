"""The simulator's newer options (README "The simulator", `resolvconffs-sim --help`): -k uid/gid
(the simulator's own credentials), -k for other namespace kinds, --filter-loopback and
--fallback-nameserver (its own network namespace's copy stays unfiltered), and the refusal of bad
values (--names, keys, fallback addresses) with exit status 2 and one line on stderr."""
import os
import re
import shutil
import subprocess

import pytest

from simutil import Sim, listing, shared_tmpdir, tree, wait_for

TEMPLATE = (b"# host resolver\n"
            b"nameserver 127.0.0.53\n"
            b"  nameserver ::1\n"
            b"nameserver 192.0.2.53\n"
            b"options edns0\n")
FILTERED_REST = b"# host resolver\nnameserver 192.0.2.53\noptions edns0\n"
ONLY_LOOPBACK = b"nameserver 127.0.0.1\nsearch example.com\n"
OTHER_NS = 4026999999


def own_net_id():
    return int(re.fullmatch(r"net:\[(\d+)\]", os.readlink("/proc/self/ns/net")).group(1))


@pytest.fixture
def template(tmp_path):
    t = tmp_path / "template"
    t.write_bytes(TEMPLATE)
    return t


# --- -k uid / gid ------------------------------------------------------------------------------

@pytest.mark.parametrize("kind,expect", [("uid", os.getuid), ("gid", os.getgid)])
def test_key_is_the_simulators_own_credential(make_sim, backing, template, fakeproc, kind, expect):
    """With -k uid/gid the key is the simulator's own uid/gid, whatever pid is named and whether
    or not the procfs knows it."""
    fakeproc.add(100, 4026531111)
    with make_sim(default_file=template, extra_args=["-k", kind]) as s:
        assert s.key(100) == f"ok {expect()}"
        assert s.key(424242) == f"ok {expect()}"
        assert listing(backing) == []
        r = s.read(424242)
        assert r.ok and r.data == TEMPLATE
        assert s.write(100, "nameserver 10.0.0.1") == "ok 20"
        assert s.read(1).data == b"nameserver 10.0.0.1\n"
    assert listing(backing) == [f"{expect()}.conf"]


@pytest.mark.needs_real_root("runs the simulator as another uid and gid (setpriv)")
def test_key_uid_and_gid_of_another_user(sim_bin):
    d = shared_tmpdir("rcfs-simkey-")
    try:
        backing = d / "backing"
        backing.mkdir()
        os.chown(backing, 1234, 5678)
        (d / "template").write_bytes(b"nameserver 192.0.2.1\n")
        prefix = ["setpriv", "--reuid=1234", "--regid=5678", "--clear-groups"]
        for kind, want in (("uid", 1234), ("gid", 5678)):
            with Sim(sim_bin, backing, default_file=d / "template", procfs="/proc",
                     extra_args=["-k", kind], prefix=prefix) as s:
                assert s.key(os.getpid()) == f"ok {want}"
                assert s.read(1).data == b"nameserver 192.0.2.1\n"
                assert s.stat(1) == "ok size=21 mode=644 uid=1234 gid=5678"
        assert listing(backing) == ["1234.conf", "5678.conf"]
    finally:
        shutil.rmtree(d, ignore_errors=True)


# --- -k for other namespace kinds --------------------------------------------------------------

def test_key_other_namespace_kind_reads_that_link(make_sim, backing, fakeproc):
    """-k uts reads <pid>/ns/uts: a pid with only a net link has no uts key (ESRCH), a uts link
    of another kind's text is malformed (EINVAL)."""
    fakeproc.add(100, 4026531111)
    (fakeproc.root / "100" / "ns" / "uts").symlink_to("uts:[4026532222]")
    fakeproc.add(200, 4026531112)
    fakeproc.add(300, 4026531113)
    (fakeproc.root / "300" / "ns" / "uts").symlink_to("net:[4026532223]")
    with make_sim(extra_args=["-k", "uts"]) as s:
        assert s.key(100) == "ok 4026532222"
        assert s.key(200) == "err ESRCH"
        assert s.key(300) == "err EINVAL"
    assert listing(backing) == []


# --- --filter-loopback / --fallback-nameserver -------------------------------------------------

def split_comment(data, removed):
    added = [ln for ln in data.splitlines(keepends=True) if ln.startswith(b"#") and b"removed" in ln]
    assert len(added) == 1, data
    for addr in removed:
        assert addr in added[0], (addr, added[0])
    return data.replace(added[0], b"", 1)


def test_filter_with_a_fake_procfs(make_sim, backing, template, fakeproc):
    """The simulator's own pid, linked to its real network namespace, gets an exact copy; a pid
    in another namespace a filtered one."""
    with make_sim(default_file=template, extra_args=["--filter-loopback"]) as s:
        fakeproc.add(s.proc.pid, own_net_id())
        fakeproc.add(200, OTHER_NS)
        assert s.read(s.proc.pid).data == TEMPLATE
        got = s.read(200).data
        assert split_comment(got, [b"127.0.0.53", b"::1"]) == FILTERED_REST
    assert (backing / f"{own_net_id()}.conf").read_bytes() == TEMPLATE
    assert (backing / f"{OTHER_NS}.conf").read_bytes() == got


def test_fallbacks_with_a_fake_procfs(make_sim, backing, tmp_path, fakeproc):
    t = tmp_path / "only-loopback"
    t.write_bytes(ONLY_LOOPBACK)
    with make_sim(default_file=t, extra_args=["--filter-loopback", "--fallback-nameserver",
                                              "192.0.2.1", "--fallback-nameserver=2001:db8::1"]) as s:
        fakeproc.add(s.proc.pid, own_net_id())
        fakeproc.add(200, OTHER_NS)
        assert s.read(s.proc.pid).data == ONLY_LOOPBACK
        got = s.read(200).data
        assert got.endswith(b"nameserver 192.0.2.1\nnameserver 2001:db8::1\n"), got
        rest = got[:-len(b"nameserver 192.0.2.1\nnameserver 2001:db8::1\n")]
        assert split_comment(rest, [b"127.0.0.1"]) == b"search example.com\n"


def test_filter_with_the_real_procfs(sim_bin, tmp_path, template):
    """-P /proc: the simulator's own pid versus a process in a new network namespace (a user
    namespace of our own, so no privilege is needed)."""
    backing = tmp_path / "backing"
    backing.mkdir()
    p = subprocess.Popen(["unshare", "--user", "--map-root-user", "--net", "sleep", "60"],
                         stdin=subprocess.DEVNULL)
    try:
        def ns_of_sleeper():
            try:
                if open(f"/proc/{p.pid}/comm").read() == "sleep\n":
                    return os.readlink(f"/proc/{p.pid}/ns/net")
            except OSError:
                return None
        other = wait_for(ns_of_sleeper, what="the sleeper to be in its namespace")
        assert other != f"net:[{own_net_id()}]"
        with Sim(sim_bin, backing, default_file=template, procfs="/proc",
                 extra_args=["--filter-loopback"]) as s:
            assert s.read(s.proc.pid).data == TEMPLATE
            assert split_comment(s.read(p.pid).data, [b"127.0.0.53"]) == FILTERED_REST
    finally:
        p.kill()
        p.wait(timeout=15)


# --- bad values --------------------------------------------------------------------------------

PROBE = b"key 1\nread 1\n"


@pytest.mark.parametrize("args,needles", [
    (["--names=relative/dir"], ["names directory", "relative/dir", "absolute"]),
    (["--names="], ["names directory", "absolute"]),
    (["--names", "-k", "mnt"], ["network namespaces only"]),
    (["--names", "-k", "uid"], ["network namespaces only"]),
    (["-k", "bogus"], ["key", "bogus"]),
    (["-k", ""], ["key"]),
    (["--filter-loopback", "--fallback-nameserver", "nonsense"], ["nonsense", "not an IPv4"]),
    (["--fallback-nameserver", "192.0.2.1"], ["--filter-loopback"]),
    (["--filter-loopback", "-k", "gid"], ["network namespace keys only"]),
    (["--filter-loopback", "-k", "uts"], ["network namespace keys only"]),
], ids=["names-relative", "names-empty", "names-mnt", "names-uid", "key-bogus", "key-empty",
        "fallback-invalid", "fallback-without-filter", "filter-gid", "filter-uts"])
def test_bad_values_exit_2_with_one_line(sim_bin, tmp_path, fakeproc, args, needles):
    fakeproc.add(1, 4026531111)
    backing = tmp_path / "backing"
    backing.mkdir()
    before = tree(tmp_path)
    r = subprocess.run([str(sim_bin), "-P", str(fakeproc.root), *args, str(backing)],
                       input=PROBE, capture_output=True, timeout=30)
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert r.stdout == b""
    err = r.stderr.decode()
    assert err.count("\n") == 1 and err.endswith("\n"), repr(err)
    for n in needles:
        assert n in err, (n, err)
    assert tree(tmp_path) == before


def test_names_with_a_missing_or_empty_directory_keeps_ids(make_sim, backing, tmp_path, fakeproc,
                                                           template):
    fakeproc.add(100, 4026531111)
    empty = tmp_path / "names"
    empty.mkdir()
    for d in (empty, tmp_path / "absent"):
        with make_sim(default_file=template, extra_args=[f"--names={d}"]) as s:
            assert s.key(100) == "ok 4026531111"
            assert s.write(100, "x") == "ok 2"
    assert listing(backing) == ["4026531111.conf"]


def test_help_usage_line_matches_the_readme(sim_bin):
    """README's synopsis names -k, --names, --filter-loopback and --fallback-nameserver; the
    help's Usage line should too (the options are listed below it)."""
    r = subprocess.run([str(sim_bin), "--help"], capture_output=True, timeout=30)
    assert r.returncode == 0
    usage = r.stdout.decode().split("\n\n")[0]
    for opt in ("-k KIND", "--names", "--filter-loopback", "--fallback-nameserver"):
        assert opt in usage, f"{opt} missing from the Usage line: {usage!r}"
