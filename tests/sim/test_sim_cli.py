"""Command-line handling: every bad argument exits 2 with one line on stderr and creates nothing."""
import os
import shutil
import subprocess

import pytest

from simutil import FakeProc, Sim, listing, shared_tmpdir, tree, unprivileged_prefix

PROBE = b"key 42\nread 42\nwrite 42 x\n"  # must never be answered when the arguments are bad


@pytest.fixture
def env(tmp_path):
    """A valid setup in tmp_path: backing dir with one file, template, fake procfs, a plain file."""
    proc = FakeProc(tmp_path / "proc")
    proc.add(42, 4242)
    (tmp_path / "backing").mkdir()
    (tmp_path / "backing" / "1.conf").write_text("existing\n")
    (tmp_path / "template").write_text("nameserver 192.0.2.1\n")
    (tmp_path / "plainfile").write_text("not a directory\n")
    (tmp_path / "tdir").mkdir()
    return tmp_path


def run_sim(sim_bin, args, cwd, prefix=()):
    return subprocess.run(list(prefix) + [str(sim_bin)] + list(args), input=PROBE,
                          capture_output=True, cwd=cwd, timeout=30)


def assert_rejected(out, needles):
    assert out.returncode == 2, (out.returncode, out.stdout, out.stderr)
    assert out.stdout == b"", out.stdout
    err = out.stderr.decode(errors="replace")
    assert err.endswith("\n") and err.count("\n") == 1 and err.strip(), repr(err)
    for needle in needles:
        assert needle in err, (needle, err)


# Each case: (id, argument list with {t} for tmp_path, substrings the message must contain).
CASES = [
    ("no-arguments", [], ["BACKING_DIRECTORY"]),
    ("only-options", ["-P", "{t}/proc"], ["BACKING_DIRECTORY"]),
    ("two-backing-dirs", ["-P", "{t}/proc", "{t}/backing", "{t}/backing"], ["BACKING_DIRECTORY"]),
    ("backing-missing", ["-P", "{t}/proc", "{t}/nonexistent"], ["{t}/nonexistent", "backing"]),
    ("backing-missing-nested", ["-P", "{t}/proc", "{t}/no/such/dir"], ["{t}/no/such/dir"]),
    ("backing-is-file", ["-P", "{t}/proc", "{t}/plainfile"], ["{t}/plainfile", "backing"]),
    ("backing-empty-string", ["-P", "{t}/proc", ""], ["backing"]),
    ("default-missing", ["-P", "{t}/proc", "-d", "{t}/nope", "{t}/backing"],
     ["{t}/nope", "default"]),
    ("default-is-dir", ["-P", "{t}/proc", "-d", "{t}/tdir", "{t}/backing"], ["{t}/tdir"]),
    ("default-is-dev-null", ["-P", "{t}/proc", "-d", "/dev/null", "{t}/backing"], ["/dev/null"]),
    ("default-in-missing-dir", ["-P", "{t}/proc", "-d", "{t}/x/y", "{t}/backing"], ["{t}/x/y"]),
    ("extension-slash", ["-P", "{t}/proc", "-p", "a/b", "{t}/backing"], ["a/b", "extension"]),
    ("extension-only-slash", ["-P", "{t}/proc", "-p", "/", "{t}/backing"], ["extension"]),
    ("extension-traversal", ["-P", "{t}/proc", "-p", "conf/../../x", "{t}/backing"],
     ["conf/../../x"]),
    ("extension-too-long", ["-P", "{t}/proc", "-p", "e" * 300, "{t}/backing"], ["extension"]),
    ("procfs-missing", ["-P", "{t}/noproc", "{t}/backing"], ["{t}/noproc", "procfs"]),
    ("procfs-is-file", ["-P", "{t}/plainfile", "{t}/backing"], ["{t}/plainfile", "procfs"]),
    ("unknown-option", ["-x", "{t}/backing"], ["x"]),
    ("unknown-long-option", ["--bogus", "{t}/backing"], ["bogus"]),
    ("trailing-option-after-backing-dir", ["{t}/backing", "-p"], []),
    ("extension-missing-value", ["-p"], ["p"]),
    ("procfs-missing-value", ["-P"], ["P"]),
]


@pytest.mark.parametrize("args, needles", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_argument_exits_2_one_line_nothing_created(sim_bin, env, args, needles):
    t = str(env)
    backing_before = listing(env / "backing")
    content_before = (env / "backing" / "1.conf").read_bytes()
    before = tree(env)
    out = run_sim(sim_bin, [a.format(t=t) for a in args], cwd=env)
    assert_rejected(out, [n.format(t=t) for n in needles])
    assert tree(env) == before
    assert listing(env / "backing") == backing_before
    assert (env / "backing" / "1.conf").read_bytes() == content_before


def test_unreadable_default_file(sim_bin):
    """A template the simulator cannot read is refused at startup. Root reads anything, so when we
    are root the simulator runs as 65534 (setpriv) in a /tmp directory it can traverse."""
    prefix, uid, gid = unprivileged_prefix()
    d = shared_tmpdir("rcfs-cli-")
    try:
        backing = d / "backing"
        backing.mkdir()
        os.chown(backing, uid, gid)
        proc = FakeProc(d / "proc")
        proc.add(42, 4242)
        t = d / "secret-template"
        t.write_text("nameserver 192.0.2.1\n")
        t.chmod(0o000)
        before = tree(d)
        out = run_sim(sim_bin, ["-P", str(d / "proc"), "-d", str(t), str(backing)], cwd=d,
                      prefix=prefix)
        assert_rejected(out, [str(t), "default"])
        assert tree(d) == before
        # the same setup with a readable template starts fine (so it was the template)
        t.chmod(0o644)
        out = run_sim(sim_bin, ["-P", str(d / "proc"), "-d", str(t), str(backing)], cwd=d,
                      prefix=prefix)
        assert out.returncode == 0, out
        assert out.stdout == b"ok 4242\nok 21\nnameserver 192.0.2.1\n\nok 2\n"
        assert listing(backing) == ["4242.conf"]
        assert os.stat(backing / "4242.conf").st_uid == uid
    finally:
        shutil.rmtree(d)


def test_valid_arguments_start_and_exit_0(sim_bin, env):
    t = str(env)
    for args in (["-P", f"{t}/proc", f"{t}/backing"],
                 ["-p", "", "-d", f"{t}/template", "-P", f"{t}/proc", f"{t}/backing"],
                 ["--extension", "resolv", "--default-file", f"{t}/template",
                  "--procfs", f"{t}/proc", f"{t}/backing"],
                 ["-P", f"{t}/proc", "-d", "template", "backing"]):  # relative paths
        out = subprocess.run([str(sim_bin)] + args, input=b"", capture_output=True, cwd=env,
                             timeout=30)
        assert (out.returncode, out.stdout, out.stderr) == (0, b"", b""), args
    assert listing(env / "backing") == ["1.conf"]


def test_relative_template_used_after_start(sim_bin, env):
    with Sim(sim_bin, "backing", default_file="template", procfs="proc", cwd=env) as s:
        r = s.read(42)
        assert (r.line, r.data) == ("ok 21", b"nameserver 192.0.2.1\n")
    assert listing(env / "backing") == ["1.conf", "4242.conf"]
