"""The simulator's line protocol against fake procfs trees.

Layout used throughout: pids 101 and 102 live in namespace 777, pid 201 in 888, pid 301 in 999
(`net:[N]` symlinks under tmp_path/proc). The backing directory is tmp_path/backing.
"""
import os
import stat
import subprocess

import pytest

from simutil import listing, tree

A1, A2, B, C = 101, 102, 201, 301
NS = {A1: 777, A2: 777, B: 888, C: 999}
VERBS_ON_FILE = ["read {pid}", "stat {pid}", "write {pid} x", "append {pid} x", "truncate {pid} 0"]


@pytest.fixture
def proc(fakeproc):
    for pid, ns in NS.items():
        fakeproc.add(pid, ns)
    return fakeproc


@pytest.fixture
def template(tmp_path):
    t = tmp_path / "template"
    t.write_bytes(b"nameserver 192.0.2.53\noptions edns0\n")
    t.chmod(0o640)
    return t


def put(backing, ns, content, name=None, mode=0o644):
    p = backing / (name or f"{ns}.conf")
    p.write_bytes(content)
    p.chmod(mode)
    return p


# --- key ------------------------------------------------------------------------------------------

def test_key_resolves_each_namespace_and_creates_nothing(proc, backing, template, make_sim):
    with make_sim(default_file=template) as s:
        for pid, ns in NS.items():
            assert s.key(pid) == f"ok {ns}"
        # repeated, interleaved: answers do not depend on history
        assert s.key(B) == "ok 888"
        assert s.key(A2) == "ok 777"
    assert listing(backing) == []


def test_key_max_u64_id(fakeproc, backing, make_sim):
    fakeproc.add(5, "net:[18446744073709551615]")
    fakeproc.add(6, "net:[0]")
    with make_sim() as s:
        assert s.key(5) == "ok 18446744073709551615"
        assert s.key(6) == "ok 0"
    assert listing(backing) == []


# --- isolation and sharing -------------------------------------------------------------------------

def test_content_isolated_between_namespaces(proc, backing, template, make_sim):
    with make_sim(default_file=template) as s:
        assert s.write(A1, "ns seven") == "ok 9"
        assert s.write(B, "namespace eight, longer") == "ok 24"
        assert s.write(C, "9") == "ok 2"
        r = s.read(A1)
        assert (r.line, r.data) == ("ok 9", b"ns seven\n")
        r = s.read(B)
        assert (r.line, r.data) == ("ok 24", b"namespace eight, longer\n")
        r = s.read(C)
        assert (r.line, r.data) == ("ok 2", b"9\n")
        # a change in one namespace leaves the others alone
        assert s.truncate(B, 0) == "ok"
        assert s.read(A1).data == b"ns seven\n"
        assert s.read(C).data == b"9\n"
        assert s.stat(B).line.startswith("ok size=0 ")
        assert s.stat(A1).line.startswith("ok size=9 ")
    assert listing(backing) == ["777.conf", "888.conf", "999.conf"]
    assert (backing / "777.conf").read_bytes() == b"ns seven\n"
    assert (backing / "888.conf").read_bytes() == b""
    assert (backing / "999.conf").read_bytes() == b"9\n"


def test_pids_sharing_a_namespace_share_one_file(proc, backing, template, make_sim):
    with make_sim(default_file=template) as s:
        assert s.write(A1, "shared") == "ok 7"
        r = s.read(A2)
        assert (r.line, r.data) == ("ok 7", b"shared\n")
        assert s.append(A2, "more") == "ok 5"
        assert s.read(A1).data == b"shared\nmore\n"
        assert s.stat(A1) == s.stat(A2)
    assert listing(backing) == ["777.conf"]
    assert (backing / "777.conf").read_bytes() == b"shared\nmore\n"


# --- naming ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("ext, names", [
    (None, ["777.conf", "888.conf"]),
    ("resolv", ["777.resolv", "888.resolv"]),
    ("a.b", ["777.a.b", "888.a.b"]),
    ("", ["777", "888"]),
])
def test_extension_naming_on_disk(proc, backing, make_sim, ext, names):
    with make_sim(extension=ext) as s:
        assert s.write(A1, "x") == "err ENOENT"  # no file, no template: nothing is created
        assert listing(backing) == []
    for n in names:
        put(backing, None, f"content of {n}\n".encode(), name=n)
    # files named by the other schemes are decoys that must never be picked up
    decoys = [d for d in ("777.conf", "777", "777.resolv", "777.a.b") if d not in names]
    for d in decoys:
        put(backing, None, b"decoy\n", name=d)
    with make_sim(extension=ext) as s:
        assert s.read(A1).data == f"content of {names[0]}\n".encode()
        assert s.read(B).data == f"content of {names[1]}\n".encode()
        assert s.write(B, "new") == "ok 4"
    assert (backing / names[1]).read_bytes() == b"new\n"
    for d in decoys:
        assert (backing / d).read_bytes() == b"decoy\n"
    assert listing(backing) == sorted(names + decoys)


def test_extension_naming_via_template(proc, backing, template, make_sim):
    for ext, expect in (("", "777"), ("resolv", "777.resolv")):
        for f in os.listdir(backing):
            os.unlink(backing / f)
        with make_sim(extension=ext, default_file=template) as s:
            assert s.stat(A1).ok
        assert listing(backing) == [expect]


# --- template -------------------------------------------------------------------------------------

@pytest.mark.parametrize("first", VERBS_ON_FILE)
def test_template_creates_missing_file(proc, backing, template, make_sim, first):
    tcontent = template.read_bytes()
    # umask 077 must not matter: the copy gets the template's permission bits
    with make_sim(default_file=template, umask=0o077) as s:
        r = s.cmd(first.format(pid=C))
        assert r.ok, r
        assert listing(backing) == ["999.conf"]
        st = os.stat(backing / "999.conf")
        assert stat.S_IMODE(st.st_mode) == 0o640
        assert stat.S_ISREG(st.st_mode)
        assert s.stat(C).line.startswith("ok ") and " mode=640 " in s.stat(C).line
    data = (backing / "999.conf").read_bytes()
    verb = first.split()[0]
    if verb in ("read", "stat"):
        assert data == tcontent
        if verb == "read":
            assert r.line == f"ok {len(tcontent)}" and r.data == tcontent
        else:
            assert r.line.startswith(f"ok size={len(tcontent)} mode=640 ")
    elif verb == "write":
        assert data == b"x\n"
    elif verb == "append":
        assert data == tcontent + b"x\n"
    else:
        assert data == b""
    assert template.read_bytes() == tcontent
    assert stat.S_IMODE(template.stat().st_mode) == 0o640


@pytest.mark.parametrize("mode", [0o600, 0o644, 0o664, 0o666])
def test_template_mode_preserved(proc, backing, tmp_path, make_sim, mode):
    t = tmp_path / "t"
    t.write_bytes(b"")
    t.chmod(mode)
    with make_sim(default_file=t, umask=0o027) as s:
        r = s.stat(B)
        assert r.line.startswith(f"ok size=0 mode={mode:o} "), r
    assert listing(backing) == ["888.conf"]
    assert stat.S_IMODE(os.stat(backing / "888.conf").st_mode) == mode


def test_template_exactly_one_file_and_existing_file_kept(proc, backing, template, make_sim):
    put(backing, 888, b"mine\n", mode=0o600)
    with make_sim(default_file=template) as s:
        for _ in range(3):
            assert s.read(A1).data == template.read_bytes()
            assert s.read(A2).data == template.read_bytes()
        assert s.read(B).data == b"mine\n"  # existing file is never replaced by the template
        assert " mode=600 " in s.stat(B).line
    assert listing(backing) == ["777.conf", "888.conf"]  # no temporary files left behind


def test_template_changes_are_not_retroactive(proc, backing, template, make_sim):
    with make_sim(default_file=template) as s:
        assert s.read(A1).data == template.read_bytes()
        template.write_bytes(b"changed\n")
        assert s.read(A1).data == b"nameserver 192.0.2.53\noptions edns0\n"


@pytest.mark.parametrize("cmd", VERBS_ON_FILE)
def test_no_template_missing_file_is_enoent(proc, backing, make_sim, cmd):
    with make_sim() as s:
        assert s.cmd(cmd.format(pid=A1)) == "err ENOENT"
        assert s.key(A1) == "ok 777"
        assert s.cmd(cmd.format(pid=B)) == "err ENOENT"
    assert listing(backing) == []


# --- stat -----------------------------------------------------------------------------------------

def test_stat_reports_the_callers_file(proc, backing, make_sim):
    put(backing, 777, b"12345", mode=0o640)
    put(backing, 888, b"", mode=0o600)
    put(backing, 999, b"x" * 70000, mode=0o444)
    if os.geteuid() == 0:
        os.chown(backing / "888.conf", 4321, 8765)
    ids = {ns: os.stat(backing / f"{ns}.conf") for ns in (777, 888, 999)}
    with make_sim() as s:
        for pid, size, mode in ((A1, 5, "640"), (B, 0, "600"), (C, 70000, "444")):
            st = ids[NS[pid]]
            assert s.stat(pid) == f"ok size={size} mode={mode} uid={st.st_uid} gid={st.st_gid}"
        assert s.stat(A2) == s.stat(A1)
        (backing / "777.conf").chmod(0o4755)
        assert s.stat(A1) == f"ok size=5 mode=4755 uid={ids[777].st_uid} gid={ids[777].st_gid}"


# --- write / append / truncate --------------------------------------------------------------------

def test_write_replaces_and_counts(proc, backing, make_sim):
    put(backing, 777, b"a much longer original content\n")
    with make_sim() as s:
        assert s.write(A1, "short") == "ok 6"
        assert (backing / "777.conf").read_bytes() == b"short\n"
        assert s.write(A1, "") == "ok 1"  # `write PID ` = `echo > file`
        assert (backing / "777.conf").read_bytes() == b"\n"
        assert s.write(A1, "x" * 10000) == "ok 10001"
        assert (backing / "777.conf").read_bytes() == b"x" * 10000 + b"\n"


def test_append_counts_and_accumulates(proc, backing, make_sim):
    put(backing, 888, b"no newline at end")
    put(backing, 777, b"0123456789" * 100)  # a bigger file in another namespace
    with make_sim() as s:
        assert s.append(B, "one") == "ok 4"
        assert s.append(B, "two words") == "ok 10"
        assert s.append(B, "") == "ok 1"
        r = s.read(B)
        assert r.line == "ok 32"
        assert r.data == b"no newline at endone\ntwo words\n\n"
    assert (backing / "888.conf").read_bytes() == b"no newline at endone\ntwo words\n\n"
    assert (backing / "777.conf").read_bytes() == b"0123456789" * 100


def test_truncate_shrinks_extends_and_empties(proc, backing, make_sim):
    put(backing, 999, b"abcdefghij")
    with make_sim() as s:
        assert s.truncate(C, 4) == "ok"
        assert (backing / "999.conf").read_bytes() == b"abcd"
        assert s.truncate(C, 8) == "ok"
        r = s.read(C)
        assert (r.line, r.data) == ("ok 8", b"abcd\0\0\0\0")
        assert s.truncate(C, 8) == "ok"
        assert s.truncate(C, 0) == "ok"
        r = s.read(C)
        assert (r.line, r.data) == ("ok 0", b"")
        assert s.stat(C).line.startswith("ok size=0 ")
    assert (backing / "999.conf").read_bytes() == b""


def test_read_empty_file_is_ok0_and_empty_line(proc, backing, sim_bin, fakeproc):
    # checked on the raw byte stream, not through the helper's framing
    put(backing, 888, b"")
    out = subprocess.run([str(sim_bin), "-P", str(fakeproc.root), str(backing)],
                         input=b"read 201\nkey 201\n", capture_output=True, timeout=30)
    assert out.returncode == 0
    assert out.stdout == b"ok 0\n\nok 888\n"
    assert out.stderr == b""


def test_read_binary_content(proc, backing, make_sim):
    blob = bytes(range(256)) * 3 + b"\nok 5\nerr EINVAL\n\r\n\0"
    put(backing, 777, blob)
    put(backing, 888, b"\n")
    put(backing, 999, b"no trailing newline")
    with make_sim() as s:
        r = s.read(A1)
        assert (r.line, r.data) == (f"ok {len(blob)}", blob)
        r = s.read(B)
        assert (r.line, r.data) == ("ok 1", b"\n")
        r = s.read(C)
        assert (r.line, r.data) == ("ok 19", b"no trailing newline")
        assert s.key(A1) == "ok 777"  # framing intact after binary payloads


def test_read_large_file(proc, backing, make_sim):
    blob = os.urandom(300_000)
    put(backing, 777, blob)
    with make_sim() as s:
        r = s.read(A2)
        assert r.line == f"ok {len(blob)}"
        assert r.data == blob
        assert s.key(A2) == "ok 777"


@pytest.mark.parametrize("text", [
    "two  spaces  inside",
    "  leading spaces",
    "trailing spaces   ",
    " ",
    "tab\there and\tthere",
    "nameserver 192.0.2.1 # ünïcödé ✓",
    "write 101 looks like a command",
    "ok 3",
])
def test_text_kept_verbatim(proc, backing, make_sim, text):
    put(backing, 777, b"old\n")
    raw = text.encode()
    with make_sim() as s:
        assert s.write(A1, raw) == f"ok {len(raw) + 1}"
        assert (backing / "777.conf").read_bytes() == raw + b"\n"
        assert s.append(A1, raw) == f"ok {len(raw) + 1}"
        r = s.read(A1)
        assert r.data == raw + b"\n" + raw + b"\n"


def test_text_with_nul_byte_is_not_silently_truncated(proc, backing, make_sim):
    """TEXT is the rest of the line: either it is written verbatim (NUL included) or the line is
    rejected as malformed; reporting success for a shortened TEXT loses data silently."""
    put(backing, 777, b"old\n")
    with make_sim() as s:
        r = s.cmd(b"write 101 a\0b")
        data = (backing / "777.conf").read_bytes()
        assert (r.line, data) in (("ok 4", b"a\0b\n"), ("err EINVAL", b"old\n")), (r, data)


def test_line_with_nul_byte_is_malformed(proc, backing, make_sim):
    """`key 101<NUL> extra` is `key PID` followed by junk, like `key 101 extra`: not a valid line."""
    with make_sim() as s:
        r = s.cmd(b"key 101\0 extra")
        assert r == "err EINVAL", r
        assert s.key(B) == "ok 888"


# --- errors ---------------------------------------------------------------------------------------

ALL_VERBS = ["key {pid}"] + VERBS_ON_FILE


@pytest.mark.parametrize("cmd", ALL_VERBS)
def test_pid_zero_and_absent_pid_are_esrch(proc, backing, template, make_sim, cmd):
    with make_sim(default_file=template) as s:
        for pid in (0, 103, 999999, 2147483647):
            assert s.cmd(cmd.format(pid=pid)) == "err ESRCH", pid
        assert s.key(A1) == "ok 777"
    assert listing(backing) == []


def test_pid_dir_without_ns_link_is_esrch(fakeproc, backing, template, make_sim):
    (fakeproc.root / "55" / "ns").mkdir(parents=True)
    (fakeproc.root / "56").mkdir()
    with make_sim(default_file=template) as s:
        assert s.key(55) == "err ESRCH"
        assert s.read(56) == "err ESRCH"
    assert listing(backing) == []


GARBLED = [
    "net:[../../etc/shadow]",  # path traversal
    "net:[1/2]",
    "net:[..]",
    "mnt:[5]",                 # another namespace kind
    "user:[5]",
    "netx:[5]",
    "xnet:[5]",
    "Net:[5]",
    "net:[18446744073709551616]",   # 2^64: overflow
    "net:[99999999999999999999]",
    "net:[184467440737095516150]",
    "net:[]",                  # no digits
    "net:[-5]",                # sign
    "net:[+5]",
    "net:[ 5]",                # whitespace
    "net:[5 ]",
    "net:[0x1f]",              # other bases/letters
    "net:[5a]",
    "net:[5]x",                # trailing junk
    "net:[5]]",
    "net:[5]\n",
    " net:[5]",                # leading junk
    "net:[5",                  # unterminated
    "net:5",
    "net[5]",
    "net:",
    "net",
    "5",
    "net:[" + "1" * 80 + "]",  # longer than any real link
    "net:[5]" + "/" * 100,
]


@pytest.mark.parametrize("target", GARBLED)
def test_garbled_link_is_einval(fakeproc, backing, template, make_sim, target):
    fakeproc.add(7, target)
    fakeproc.add(8, 4242)
    with make_sim(default_file=template) as s:
        for cmd in ALL_VERBS:
            assert s.cmd(cmd.format(pid=7)) == "err EINVAL", (cmd, target)
            assert s.key(8) == "ok 4242"
    assert listing(backing) == []
    assert not (fakeproc.root.parent / "etc").exists()


def test_ns_entry_that_is_not_a_symlink_is_rejected(fakeproc, backing, template, make_sim):
    (fakeproc.root / "9" / "ns").mkdir(parents=True)
    (fakeproc.root / "9" / "ns" / "net").write_text("net:[5]")
    with make_sim(default_file=template) as s:
        r = s.key(9)
        assert r.line.startswith("err "), r
        assert s.read(9).line.startswith("err ")
    assert listing(backing) == []


MALFORMED = [
    b"",
    b" ",
    b"key",
    b"key ",
    b"read",
    b"write",
    b"truncate",
    b"frobnicate 101",
    b"KEY 101",
    b"Read 101",
    b"keys 101",
    b"ke 101",
    b" key 101",
    b"key  101",
    b"key\t101",
    b"key 101 extra",
    b"key 101 ",
    b"read 101 extra",
    b"stat 101 x",
    b"key -101",
    b"key +101",
    b"key 10a1",
    b"key abc",
    b"key 0x65",
    b"key 1e2",
    b"key 101\r",
    b"key 4294967397",           # 2^32 + 101: must not wrap onto pid 101
    b"key 99999999999999999999999",
    b"read -1",
    b"write 101",
    b"write -101 text",
    b"append 101",
    b"append x101 text",
    b"truncate 101",
    b"truncate 101 ",
    b"truncate 101 -5",
    b"truncate 101 +5",
    b"truncate 101 abc",
    b"truncate 101 5 6",
    b"truncate 101 5x",
    b"truncate 101 0x10",
    b"truncate 101 99999999999999999999999",
    b"truncate abc 5",
]


def test_malformed_lines_answer_einval_and_go_on(proc, backing, template, make_sim):
    put(backing, 777, b"keep me\n")
    with make_sim(default_file=template) as s:
        for line in MALFORMED:
            r = s.cmd(line)
            assert r == "err EINVAL", (line, r)
            assert s.key(B) == "ok 888", line  # still answering, framing intact
    assert (backing / "777.conf").read_bytes() == b"keep me\n"
    assert listing(backing) == ["777.conf"]


def test_errors_do_not_disturb_following_commands(proc, backing, fakeproc, make_sim):
    fakeproc.add(66, "net:[../../x]")
    put(backing, 777, b"a\n")
    with make_sim() as s:
        seq = [
            ("key 0", "err ESRCH"), ("read 101", "ok 2"),
            ("bogus", "err EINVAL"), ("stat 101", None),
            ("key 66", "err EINVAL"), ("append 101 b", "ok 2"),
            ("read 201", "err ENOENT"), ("read 101", "ok 4"),
            ("truncate 101 abc", "err EINVAL"), ("truncate 101 1", "ok"),
            ("", "err EINVAL"), ("read 102", "ok 1"),
        ]
        for line, want in seq:
            r = s.cmd(line)
            if want is None:
                assert r.line.startswith("ok size=2 "), (line, r)
            else:
                assert r == want, (line, r)
        assert s.read(A1).data == b"a"


# --- process lifecycle ----------------------------------------------------------------------------

def test_eof_exits_zero(proc, backing, make_sim):
    s = make_sim()
    rc, leftover, err = s.close()
    assert (rc, leftover, err) == (0, b"", "")


def test_eof_after_errors_and_unterminated_last_line(proc, backing, make_sim):
    put(backing, 888, b"z\n")
    s = make_sim()
    assert s.cmd("nope") == "err EINVAL"
    assert s.key(0) == "err ESRCH"
    s.send_raw(b"read 201")  # no newline: still a command, answered at EOF
    s.proc.stdin.close()
    r = s.read_reply(b"read")
    assert (r.line, r.data) == ("ok 2", b"z\n")
    rc, leftover, err = s.close()
    assert (rc, leftover, err) == (0, b"", "")


def test_one_reply_per_line_in_a_batch(proc, backing, sim_bin, fakeproc):
    """Pipelined input: each line gets exactly one reply, in order."""
    put(backing, 777, b"hi\n")
    lines = [b"key 101", b"", b"read 101", b"key 0", b"x", b"stat 999", b"write 201 q",
             b"truncate 101 1", b"read 102"] * 50
    out = subprocess.run([str(sim_bin), "-P", str(fakeproc.root), str(backing)],
                         input=b"\n".join(lines) + b"\n", capture_output=True, timeout=60)
    assert out.returncode == 0 and out.stderr == b""
    first = (b"ok 777\nerr EINVAL\nok 3\nhi\n\nerr ESRCH\nerr EINVAL\nerr ESRCH\nerr ENOENT\n"
             b"ok\nok 1\nh\n")
    rest = (b"ok 777\nerr EINVAL\nok 1\nh\nerr ESRCH\nerr EINVAL\nerr ESRCH\nerr ENOENT\n"
            b"ok\nok 1\nh\n")
    assert out.stdout == first + rest * 49


def test_replies_are_flushed_per_command(proc, backing, make_sim):
    """A reply arrives while stdin stays open (no buffering until EOF)."""
    put(backing, 777, b"x\n")
    s = make_sim()
    for _ in range(20):
        assert s.key(A1) == "ok 777"
        assert s.read(A2).data == b"x\n"
    rc, leftover, _ = s.close()
    assert rc == 0 and leftover == b""


def test_fake_procfs_untouched(proc, backing, template, make_sim, fakeproc):
    before = tree(fakeproc.root)
    with make_sim(default_file=template) as s:
        for pid in NS:
            s.read(pid)
            s.write(pid, "x")
    assert tree(fakeproc.root) == before
