"""Startup: --help, --version, and every configuration error refused before anything is mounted
or created: exit status non-zero, exactly one line on stderr naming the problem, mountinfo
unchanged, the directory tree unchanged."""
import os
import re
import signal
import subprocess

import pytest

import fuseutil
from fuseutil import TIMEOUT, any_mount_under, new_workdir, rcfs_mounts, tree

USAGE = "Usage: resolvconffs [OPTIONS] backing_directory mountpoint_file"


@pytest.fixture
def layout():
    """A workdir with a mountpoint file, a backing directory, a template, a plain file, an
    empty directory and an empty fake procfs."""
    d = new_workdir("startup")
    with open(os.path.join(d, "mnt"), "w") as f:
        f.write("plain\n")
    for sub in ("backing", "emptydir", "emptyproc", "proc-nolinks/123/ns"):
        os.makedirs(os.path.join(d, sub))
    with open(os.path.join(d, "template"), "w") as f:
        f.write("nameserver 192.0.2.1\n")
    with open(os.path.join(d, "unreadable"), "w") as f:
        f.write("nameserver 192.0.2.2\n")
    os.chmod(os.path.join(d, "unreadable"), 0)
    with open(os.path.join(d, "afile"), "w") as f:
        f.write("not a directory\n")
    yield d


# Without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH (dropped from the bounding set before exec)
# root is held to the permission bits, so a mode-0 template is unreadable to the daemon.
NO_DAC = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"]

# (id, wrapper, argv after the binary, regexes the single stderr line must match)
CASES = [
    ("missing-mountpoint", [], ["backing", "nonexistent"],
     [r"mountpoint", r"nonexistent", r"No such file or directory"]),
    ("mountpoint-is-directory", [], ["backing", "emptydir"],
     [r"mountpoint", r"emptydir", r"directory"]),
    ("missing-backing-directory", [], ["nonexistent", "mnt"],
     [r"backing directory", r"nonexistent", r"No such file or directory"]),
    ("backing-directory-is-a-file", [], ["afile", "mnt"],
     [r"backing directory", r"afile", r"Not a directory"]),
    ("missing-default-file", [], ["-d", "nonexistent", "backing", "mnt"],
     [r"default file", r"nonexistent", r"No such file or directory"]),
    ("unreadable-default-file", NO_DAC, ["-d", "unreadable", "backing", "mnt"],
     [r"default file", r"unreadable", r"Permission denied"]),
    ("default-file-is-directory", [], ["-d", "emptydir", "backing", "mnt"],
     [r"default file", r"emptydir"]),
    ("extension-with-slash", [], ["-p", "../x", "backing", "mnt"],
     [r"extension", r"\.\./x", r"/"]),
    ("extension-only-slash", [], ["--extension=/", "backing", "mnt"],
     [r"extension", r"/"]),
    ("procfs-without-links", [], ["-P", "proc-nolinks", "backing", "mnt"],
     [r"procfs", r"proc-nolinks"]),
    ("procfs-missing", [], ["-P", "nonexistent", "backing", "mnt"],
     [r"procfs", r"nonexistent"]),
    ("unknown-long-option", [], ["--bogus-option", "backing", "mnt"],
     [r"unknown option", r"--bogus-option"]),
    ("unknown-short-option", [], ["-x", "backing", "mnt"],
     [r"unknown option", r"-x"]),
    ("option-without-argument", [], ["backing", "mnt", "-d"],
     [r"-d", r"argument"]),
    ("unknown-fuse-option", [], ["-o", "no_such_fuse_option", "backing", "mnt"],
     [r"no_such_fuse_option"]),
    ("unknown-log-level", [], ["--log-level", "loud", "backing", "mnt"],
     [r"log level", r"loud"]),
    ("missing-arguments", [], ["backing"],
     [r"backing_directory and mountpoint_file"]),
    ("too-many-arguments", [], ["backing", "mnt", "extra"],
     [r"too many arguments"]),
]


@pytest.mark.parametrize("wrapper,argv,expect", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_startup_error(rcfs_bin, repro_bin, layout, wrapper, argv, expect):
    before_tree = tree(layout)
    # Every path the daemon is given lies in layout, so "mountinfo unchanged" means: nothing
    # mounted at or below layout (other mounts on the machine may come and go meanwhile).
    assert not any_mount_under(layout)
    repro = f"cd {layout} && {' '.join(wrapper + [repro_bin] + argv)}"
    proc = subprocess.Popen(wrapper + [rcfs_bin] + argv, cwd=layout, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        # It is serving although it should have refused: stop it by pid and clean up.
        os.kill(proc.pid, signal.SIGTERM)
        out, err = proc.communicate(timeout=TIMEOUT)
        log = []
        fuseutil.unmount_all(os.path.join(layout, "mnt"), log)
        pytest.fail(f"the daemon started instead of refusing; stderr: {err!r}\nreproducer: {repro}")
    err_text = err.decode(errors="replace")
    lines = err_text.splitlines()
    assert proc.returncode != 0, f"exit status 0; stderr: {err_text!r}\nreproducer: {repro}"
    assert len(lines) == 1, f"expected exactly one stderr line, got {lines!r}\nreproducer: {repro}"
    for pattern in expect:
        assert re.search(pattern, lines[0]), \
            f"stderr line {lines[0]!r} does not match {pattern!r}\nreproducer: {repro}"
    assert out == b"", f"unexpected stdout {out!r}"
    assert not any_mount_under(layout), f"something is mounted under {layout}"
    assert tree(layout) == before_tree, f"the directory tree changed\nreproducer: {repro}"
    with open(os.path.join(layout, "mnt")) as f:
        assert f.read() == "plain\n"


def test_help(rcfs_bin):
    r = fuseutil.run([rcfs_bin, "--help"])
    assert r.returncode == 0
    assert USAGE in r.stdout.decode()
    assert r.stderr == b""
    r2 = fuseutil.run([rcfs_bin, "-h"])
    assert r2.returncode == 0 and r2.stdout == r.stdout
    # Every option of the command line is documented there.
    for opt in ("--extension", "--default-file", "--procfs", "--fuse-opt", "--version",
                "--log-level", "-v"):
        assert opt in r.stdout.decode(), opt


def test_help_wins_over_errors(rcfs_bin, layout):
    """--help prints usage and mounts nothing, even with otherwise complete arguments."""
    r = fuseutil.run([rcfs_bin, "--help", "backing", "mnt"], cwd=layout)
    assert r.returncode == 0 and USAGE in r.stdout.decode()
    assert not rcfs_mounts(os.path.join(layout, "mnt"))


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version(rcfs_bin, flag):
    r = fuseutil.run([rcfs_bin, flag])
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode()
    assert re.fullmatch(r"resolvconffs \d+\.\d+\.\d+\S* \(libfuse \d+\.\d+(\.\d+)?\S*\)\n", out), out
    assert r.stderr == b""
