"""resolvconffs-ctl set (issue 12, item 3; README "VPN up-script"): `set (--pid PID | --netns NAME
| --id ID) [-p EXT] [-k KIND] [--names[=DIR]] [-d FILE] [-v] BACKING_DIR` reads the new content
on stdin and replaces that namespace's file atomically: written to an unnamed file in
BACKING_DIR, synced, linked under a temporary name and renamed into place. The new file keeps the
replaced file's owner and mode (else root's, with -d FILE's mode or 0644); the unique namespace
id is recorded on an id-named file when the namespace is known (--pid, --netns), as the daemon
does on its copies. Readers through the mount see the old or the new content, never a mix, also
with many 1-byte reads; a file open before set keeps reading the old content. Bad input exits
non-zero with one stderr line and changes nothing, and no temporary file is ever left behind."""
import errno
import json
import fcntl
import functools
import os
import pathlib
import signal
import stat
import struct
import subprocess
import textwrap
import time

import pytest

import fuseutil
from featutil import (NS_GET_ID, InNamespaceThread, named_netns, sleeper,  # noqa: F401
                      unique_ns_id)
from fuseutil import PYTHON, TIMEOUT, host_netns_id, new_workdir, run, wait_for

XATTR = "user.resolvconffs.nsid"
OLD = b"nameserver 10.0.0.1\n"
NEW = b"nameserver 10.8.0.1\nsearch vpn.example\n"
TMP_PREFIX = ".resolvconffs-ctl."


@pytest.fixture(scope="module")
def ctl_bin(build_dir):
    path = build_dir / "resolvconffs-ctl"
    if not path.is_file():
        pytest.fail(f"{path} is missing: run `make` first (or set RCFS_BUILD)")
    return str(path)


def ctl(ctl_bin, *args, input=b"", expect=0, wrapper=()):
    """Run resolvconffs-ctl with input on stdin; the exit status must be expect (None: any)."""
    argv = [*wrapper, ctl_bin, *map(str, args)]
    r = subprocess.run(argv, input=input, capture_output=True, timeout=TIMEOUT)
    repro = subprocess.list2cmdline(argv)
    if expect is not None:
        assert r.returncode == expect, (f"exit {r.returncode}, expected {expect}; stderr: "
                                        f"{r.stderr.decode()}\nreproducer: {repro}")
    return r


def state(d):
    """Every entry of d, hidden ones included: name -> (mode, uid, gid, inode, content)."""
    out = {}
    for name in os.listdir(d):
        st = os.lstat(os.path.join(d, name))
        content = None
        if stat.S_ISREG(st.st_mode):
            with open(os.path.join(d, name), "rb") as f:
                content = f.read()
        elif stat.S_ISLNK(st.st_mode):
            content = os.readlink(os.path.join(d, name))
        out[name] = (st.st_mode, st.st_uid, st.st_gid, st.st_ino, content)
    return out


def no_temp(d):
    left = [n for n in os.listdir(d) if n.startswith(".")]
    assert left == [], f"temporary files left in {d}: {left}"


def read(path):
    with open(path, "rb") as f:
        return f.read()


def recorded(path):
    try:
        return int(os.getxattr(path, XATTR))
    except OSError as e:
        if e.errno == errno.ENODATA:
            return None
        raise


def backing_dir(files=None):
    d = os.path.join(new_workdir("ctl-set"), "backing")
    os.mkdir(d)
    for name, (content, mode) in (files or {}).items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(content)
        os.chmod(os.path.join(d, name), mode)
    return d


def unique_id_of(path):
    """NS_GET_ID of the namespace file at path."""
    fd = os.open(path, os.O_RDONLY)
    try:
        return struct.unpack("Q", fcntl.ioctl(fd, NS_GET_ID, b"\0" * 8))[0]
    finally:
        os.close(fd)


def dead_pid():
    """The pid of a process that has exited and been reaped."""
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


# --- which file, and what it becomes -----------------------------------------------------------

def test_by_pid_replaces_the_namespaces_file_by_rename(ctl_bin, sleeper):
    ns = sleeper("net")
    name = f"{ns.id()}.conf"
    d = backing_dir({name: (OLD, 0o640), "other.conf": (b"x\n", 0o644)})
    before = os.stat(os.path.join(d, name))
    r = ctl(ctl_bin, "set", "--pid", ns.pid, d, input=NEW)
    assert (r.stdout, r.stderr) == (b"", b"")
    after = os.stat(os.path.join(d, name))
    assert read(os.path.join(d, name)) == NEW
    assert after.st_ino != before.st_ino, "written in place, not renamed into place"
    assert stat.S_IMODE(after.st_mode) == 0o640, "the replaced file's mode was not kept"
    assert (after.st_uid, after.st_gid) == (before.st_uid, before.st_gid)
    assert recorded(os.path.join(d, name)) == unique_ns_id(ns.pid), \
        "the namespace's unique id is not recorded, as the daemon records it on its copies"
    assert sorted(os.listdir(d)) == sorted([name, "other.conf"])
    assert read(os.path.join(d, "other.conf")) == b"x\n"


def test_by_id_with_extensions(ctl_bin):
    d = backing_dir({"12345.conf": (OLD, 0o600)})
    ctl(ctl_bin, "set", "--id", "12345", d, input=NEW)
    assert read(os.path.join(d, "12345.conf")) == NEW
    assert stat.S_IMODE(os.stat(os.path.join(d, "12345.conf")).st_mode) == 0o600
    assert recorded(os.path.join(d, "12345.conf")) is None, "a bare id names no namespace"
    ctl(ctl_bin, "set", "--id", "12345", "-p", "hosts", d, input=b"127.0.0.1 a\n")
    ctl(ctl_bin, "set", "--id", "18446744073709551615", "-p", "", d, input=b"max\n")
    assert read(os.path.join(d, "12345.hosts")) == b"127.0.0.1 a\n"
    assert read(os.path.join(d, "18446744073709551615")) == b"max\n"
    assert read(os.path.join(d, "12345.conf")) == NEW
    ctl(ctl_bin, "set", "--id", "1000", "-k", "uid", d, input=b"uid\n")
    assert read(os.path.join(d, "1000.conf")) == b"uid\n"
    no_temp(d)


def test_by_a_thread_id(ctl_bin, netns):
    """--pid takes a thread id: the namespace of that thread, not of its process."""
    ns = netns()
    d = backing_dir()
    with InNamespaceThread(ns.path) as t:
        ctl(ctl_bin, "set", "--pid", t.tid, d, input=NEW)
        ctl(ctl_bin, "set", "--pid", t.pid, d, input=OLD)
    assert read(os.path.join(d, f"{ns.id}.conf")) == NEW
    assert read(os.path.join(d, f"{host_netns_id()}.conf")) == OLD


def test_by_netns_in_a_names_directory(ctl_bin, sleeper, names_dir):
    """--netns NAME with --names=DIR: the namespace bound at DIR/NAME, served NAME.<ext>."""
    dirpath, bind = names_dir
    ns = sleeper("net")
    bind("vpn", ns.pid)
    d = backing_dir({"vpn.conf": (OLD, 0o604)})
    r = ctl(ctl_bin, "set", "--netns", "vpn", f"--names={dirpath}", "-v", d, input=NEW)
    assert r.stdout.decode() == os.path.join(os.path.realpath(d), "vpn.conf") + "\n"
    assert read(os.path.join(d, "vpn.conf")) == NEW
    assert stat.S_IMODE(os.stat(os.path.join(d, "vpn.conf")).st_mode) == 0o604
    assert sorted(os.listdir(d)) == ["vpn.conf"], "an id-named file was written too"
    # --pid of a process in that namespace, with --names, writes the same file.
    ctl(ctl_bin, "set", "--pid", ns.pid, f"--names={dirpath}", d, input=OLD)
    assert read(os.path.join(d, "vpn.conf")) == OLD
    # Without --names the same process's namespace gets its id-named file.
    ctl(ctl_bin, "set", "--pid", ns.pid, d, input=NEW)
    assert read(os.path.join(d, f"{ns.id()}.conf")) == NEW
    assert sorted(os.listdir(d)) == sorted(["vpn.conf", f"{ns.id()}.conf"])


@pytest.mark.needs_real_root("ip netns add writes /run/netns")
def test_by_netns_in_run_netns(ctl_bin, named_netns):
    """--netns NAME without --names: /run/netns/NAME, the id-named file (with the unique id
    recorded); with --names, NAME.<ext>."""
    ns = named_netns()
    d = backing_dir()
    ctl(ctl_bin, "set", "--netns", ns.name, d, input=NEW)
    assert read(os.path.join(d, f"{ns.id}.conf")) == NEW
    assert recorded(os.path.join(d, f"{ns.id}.conf")) == unique_id_of(ns.path)
    ctl(ctl_bin, "set", "--netns", ns.name, "--names", d, input=OLD)
    assert read(os.path.join(d, f"{ns.name}.conf")) == OLD
    assert sorted(os.listdir(d)) == sorted([f"{ns.id}.conf", f"{ns.name}.conf"])


def test_a_new_file_is_roots_with_0644_or_the_templates_mode(ctl_bin, tmp_path):
    """Whatever the caller's umask: 0644, or -d FILE's permission bits; owner uid 0, gid 0."""
    d = backing_dir()
    umask077 = ["sh", "-c", 'umask 077; exec "$@"', "sh"]
    ctl(ctl_bin, "set", "--id", "1", d, input=NEW, wrapper=umask077)
    st = os.stat(os.path.join(d, "1.conf"))
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o644, 0, 0)
    template = tmp_path / "template"
    template.write_bytes(b"nameserver 192.0.2.1\n")
    template.chmod(0o640)
    ctl(ctl_bin, "set", "--id", "2", "-d", template, d, input=NEW, wrapper=umask077)
    st = os.stat(os.path.join(d, "2.conf"))
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o640, 0, 0)
    assert read(os.path.join(d, "2.conf")) == NEW, "the template's content was used"
    ctl(ctl_bin, "set", "--id", "3", d, input=b"")
    assert read(os.path.join(d, "3.conf")) == b"", "empty input makes an empty file"
    no_temp(d)


@pytest.mark.needs_real_root("files of another real uid and gid (65534)")
def test_the_replaced_files_owner_and_mode_are_kept(ctl_bin, tmp_path):
    d = backing_dir({"7.conf": (OLD, 0o604)})
    os.chown(os.path.join(d, "7.conf"), 65534, 65533)
    os.chmod(os.path.join(d, "7.conf"), 0o604)
    template = tmp_path / "template"
    template.write_bytes(b"t\n")
    template.chmod(0o600)
    ctl(ctl_bin, "set", "--id", "7", "-d", template, d, input=NEW)
    st = os.stat(os.path.join(d, "7.conf"))
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o604, 65534, 65533)
    assert read(os.path.join(d, "7.conf")) == NEW


# --- refusals: one line, nothing changed --------------------------------------------------------

@pytest.fixture
def refusal_setup(sleeper, names_dir, tmp_path):
    """A backing directory holding what set must not touch, and a names directory with `good`
    (a network namespace), `plain` (a regular file) and `uts` (a UTS namespace)."""
    names, bind = names_dir
    ns = sleeper("net")
    bind("good", ns.pid)
    with open(os.path.join(names, "plain"), "w") as f:
        f.write("not a namespace\n")
    uts = sleeper("uts")
    uts_path = os.path.join(names, "uts")
    open(uts_path, "w").close()
    run(["mount", "--bind", f"/proc/{uts.pid}/ns/uts", uts_path], check=True)
    template = tmp_path / "template"
    template.write_bytes(b"nameserver 192.0.2.1\n")
    d = backing_dir({"good.conf": (OLD, 0o644), f"{ns.id()}.conf": (OLD, 0o644),
                     ".hidden": (b"h\n", 0o600)})
    os.symlink("/etc/hostname", os.path.join(d, "5.conf"))
    os.mkdir(os.path.join(d, "6.conf"))
    os.link(template, os.path.join(d, "8.conf"))
    yield {"d": d, "n": names, "t": str(template)}
    fuseutil.unmount_all(uts_path, [], fuse=False)
    os.unlink(uts_path)


# argv after `set`: {d} the backing directory, {n} the names directory, {t} a template, {dead}
# a pid that has exited; the exit status expected (1: runtime failure, 2: bad arguments).
BAD_INPUT = {
    "unknown-name": (["--netns", "nope", "--names={n}", "{d}"], 1),
    "unknown-name-in-run-netns": (["--netns", "rcfs-test-no-such-name", "{d}"], 1),
    "name-of-a-plain-file": (["--netns", "plain", "--names={n}", "{d}"], 1),
    "name-of-a-uts-namespace": (["--netns", "uts", "--names={n}", "{d}"], 1),
    "name-with-a-slash": (["--netns", "../x", "--names={n}", "{d}"], 2),
    "empty-name": (["--netns", "", "--names={n}", "{d}"], 2),
    "dead-pid": (["--pid", "{dead}", "{d}"], 1),
    "pid-12x": (["--pid", "12x", "{d}"], 2),
    "pid-zero": (["--pid", "0", "{d}"], 2),
    "pid-negative": (["--pid=-5", "{d}"], 2),
    "id-12x": (["--id", "12x", "{d}"], 2),
    "id-empty": (["--id", "", "{d}"], 2),
    "id-signed": (["--id", "+12", "{d}"], 2),
    "id-blank": (["--id", " 12", "{d}"], 2),
    "id-hex": (["--id", "0x10", "{d}"], 2),
    "id-too-big": (["--id", "18446744073709551616", "{d}"], 2),
    "two-selectors": (["--id", "1", "--pid", "1", "{d}"], 2),
    "id-and-netns": (["--id", "1", "--netns", "good", "--names={n}", "{d}"], 2),
    "no-selector": (["{d}"], 2),
    "no-directory": (["--id", "1"], 2),
    "missing-directory": (["--id", "1", "{d}/nope"], 2),
    "which-only-option": (["--id", "1", "--host-original", "{d}"], 2),
    "gc-only-option": (["--id", "1", "--delete", "{d}"], 2),
    "netns-with-a-uid-key": (["--netns", "good", "--names={n}", "-k", "uid", "{d}"], 2),
    "bad-key-kind": (["--id", "1", "-k", "bogus", "{d}"], 2),
    "file-is-a-symlink": (["--id", "5", "{d}"], 1),
    "file-is-a-directory": (["--id", "6", "{d}"], 1),
    "file-is-the-template": (["--id", "8", "-d", "{t}", "{d}"], 1),
}


@pytest.mark.parametrize("case", BAD_INPUT)
def test_bad_input_changes_nothing(ctl_bin, refusal_setup, case):
    argv, status = BAD_INPUT[case]
    s = refusal_setup
    argv = [a.format(dead=dead_pid(), **s) for a in argv]
    before = state(s["d"])
    r = ctl(ctl_bin, "set", *argv, input=NEW, expect=status)
    lines = r.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("resolvconffs-ctl: "), lines
    assert r.stdout == b""
    assert state(s["d"]) == before, "the backing directory changed"


def test_input_beyond_one_mebibyte_changes_nothing(ctl_bin):
    d = backing_dir({"1.conf": (OLD, 0o644)})
    before = state(d)
    r = ctl(ctl_bin, "set", "--id", "1", d, input=b"#" * (1024 * 1024 + 1), expect=1)
    assert len(r.stderr.splitlines()) == 1, r.stderr
    assert state(d) == before
    ctl(ctl_bin, "set", "--id", "1", d, input=b"#" * (1024 * 1024))
    assert len(read(os.path.join(d, "1.conf"))) == 1024 * 1024


def test_a_full_file_system_changes_nothing(ctl_bin, tmpfs):
    """ENOSPC while writing the new content: the old file stays, no temporary file."""
    d = os.path.join(tmpfs("size=64k,mode=0755"), "backing")
    with open(os.path.join(d, "1.conf"), "wb") as f:
        f.write(OLD)
    fd = os.open(os.path.join(d, "filler"), os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        with pytest.raises(OSError) as e:
            while True:
                os.write(fd, b"\0" * 4096)
    finally:
        os.close(fd)
    assert e.value.errno == errno.ENOSPC
    before = state(d)
    r = ctl(ctl_bin, "set", "--id", "1", d, input=NEW * 1000, expect=1)
    assert len(r.stderr.splitlines()) == 1 and b"No space left" in r.stderr, r.stderr
    assert state(d) == before


def test_interrupted_while_reading_stdin_leaves_nothing(ctl_bin, sleeper):
    ns = sleeper("net")
    d = backing_dir({f"{ns.id()}.conf": (OLD, 0o644)})
    before = state(d)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        # The signal's default action, whatever this test inherited (nohup ignores SIGHUP, and
        # an ignored signal stays ignored across execve).
        p = subprocess.Popen([ctl_bin, "set", "--pid", str(ns.pid), d], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             preexec_fn=functools.partial(signal.signal, sig, signal.SIG_DFL))
        p.stdin.write(b"nameserver 10.9.9.9\n")
        p.stdin.flush()
        wait_for(lambda: read_stat_state(p.pid) == "S", TIMEOUT, "set to wait for more input")
        p.send_signal(sig)
        p.communicate(timeout=TIMEOUT)
        assert p.returncode == -sig
        assert state(d) == before


def read_stat_state(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


# --- error paths, through an LD_PRELOAD shim ----------------------------------------------------

SHIM = textwrap.dedent(r"""
    #define _GNU_SOURCE
    #include <errno.h>
    #include <fcntl.h>
    #include <stdarg.h>
    #include <stdio.h>
    #include <stdlib.h>
    #include <string.h>
    #include <sys/stat.h>
    #include <sys/syscall.h>
    #include <unistd.h>

    /* SHIM_FAIL lists the operations to fail: tmpfile (O_TMPFILE: EOPNOTSUPP, as on a file
     * system without it), fsync (of a regular file: EIO), rename (EIO). SHIM_LOG gets one
     * line per name created, linked or renamed. */
    static int failing(const char *op)
    {
        const char *f = getenv("SHIM_FAIL");
        return f && strstr(f, op);
    }

    static void note(const char *what, const char *name)
    {
        const char *log = getenv("SHIM_LOG");
        FILE *f = log ? fopen(log, "a") : NULL;
        if (f) {
            fprintf(f, "%s %s\n", what, name);
            fclose(f);
        }
    }

    static int shim_openat(int dirfd, const char *path, int flags, va_list ap)
    {
        mode_t mode = (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ?
                      va_arg(ap, mode_t) : 0;
        if ((flags & O_TMPFILE) == O_TMPFILE && failing("tmpfile")) {
            errno = EOPNOTSUPP;
            return -1;
        }
        if (flags & O_CREAT)
            note("create", path);
        return (int)syscall(SYS_openat, dirfd, path, flags, mode);
    }

    int openat(int dirfd, const char *path, int flags, ...)
    {
        va_list ap;
        va_start(ap, flags);
        int fd = shim_openat(dirfd, path, flags, ap);
        va_end(ap);
        return fd;
    }

    int openat64(int dirfd, const char *path, int flags, ...)
    {
        va_list ap;
        va_start(ap, flags);
        int fd = shim_openat(dirfd, path, flags, ap);
        va_end(ap);
        return fd;
    }

    int linkat(int olddirfd, const char *old, int newdirfd, const char *new, int flags)
    {
        note("link", new);
        return (int)syscall(SYS_linkat, olddirfd, old, newdirfd, new, flags);
    }

    int renameat(int olddirfd, const char *old, int newdirfd, const char *new)
    {
        note("rename", old);
        if (failing("rename")) {
            errno = EIO;
            return -1;
        }
        return (int)syscall(SYS_renameat, olddirfd, old, newdirfd, new);
    }

    int fsync(int fd)
    {
        struct stat st;
        if (failing("fsync") && fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
            errno = EIO;
            return -1;
        }
        return (int)syscall(SYS_fsync, fd);
    }
""")


@pytest.fixture(scope="module")
def shim():
    d = new_workdir("shim")
    src, lib = os.path.join(d, "shim.c"), os.path.join(d, "shim.so")
    with open(src, "w") as f:
        f.write(SHIM)
    r = run(["cc", "-shared", "-fPIC", "-O2", "-Wall", "-Werror", "-o", lib, src], timeout=60)
    assert r.returncode == 0, r.stderr.decode()
    return lib


@pytest.mark.parametrize("fail, status", [
    ("tmpfile", 0), ("tmpfile,fsync", 1), ("tmpfile,rename", 1), ("rename", 1), ("fsync", 1),
])
def test_no_temporary_name_survives_a_failure(ctl_bin, shim, fail, status):
    """Without O_TMPFILE the new file is made under its temporary name and renamed; a failed
    fsync or rename, with or without O_TMPFILE, removes the temporary name again."""
    d = backing_dir({"1.conf": (OLD, 0o640)})
    log = os.path.join(os.path.dirname(d), "shim.log")
    before = state(d)
    # Under SAN=1 the AddressSanitizer runtime is linked in: the shim goes first all the same.
    env = {"LD_PRELOAD": shim, "SHIM_FAIL": fail, "SHIM_LOG": log,
           "ASAN_OPTIONS": "verify_asan_link_order=0"}
    r = ctl(ctl_bin, "set", "--id", "1", d, input=NEW, expect=status,
            wrapper=["env", *(f"{k}={v}" for k, v in env.items())])
    names = []
    if os.path.exists(log):
        with open(log) as f:
            names = [line.split(" ", 1) for line in f.read().splitlines()]
    temps = {n for _, n in names if n.startswith(TMP_PREFIX)}
    if "rename" in fail or fail == "tmpfile":
        assert temps, f"no temporary name was made: {names}"
    if fail == "fsync":
        assert names == [], "an unnamed file that failed to sync got a name"
    if "tmpfile" in fail:
        assert ("create", sorted(temps)[0]) in [(w, n) for w, n in names], names
    no_temp(d)
    if status:
        assert len(r.stderr.splitlines()) == 1, r.stderr
        assert state(d) == before
    else:
        assert read(os.path.join(d, "1.conf")) == NEW
        assert stat.S_IMODE(os.stat(os.path.join(d, "1.conf")).st_mode) == 0o640


# --- readers through a live mount -------------------------------------------------------------

SIZE = 4096
READER = textwrap.dedent(r'''
    import json, os, sys
    path, progress, stop = sys.argv[1:4]
    seen = {"a": 0, "b": 0, "mixed": 0, "passes": 0}
    while not os.path.exists(stop):
        fd = os.open(path, os.O_RDONLY)
        data = b"".join(iter(lambda: os.read(fd, 1), b""))
        os.close(fd)
        kinds = set(data)
        if len(data) == 4096 and kinds == {ord("a")}:
            seen["a"] += 1
        elif len(data) == 4096 and kinds == {ord("b")}:
            seen["b"] += 1
        else:
            seen["mixed"] += 1
            print("mixed:", len(data), sorted(kinds), flush=True)
        seen["passes"] += 1
        with open(progress + ".new", "w") as f:
            json.dump(seen, f)
        os.replace(progress + ".new", progress)
    print(json.dumps(seen), flush=True)
''')


def test_readers_through_the_mount_never_see_a_mix(ctl_bin, mount, sleeper, caller):
    """A reader in the namespace reads the mount one byte per read(2) (4096 FUSE reads per
    pass) while set replaces its file, alternating all-'a' and all-'b' content: every pass sees
    one or the other whole. A file opened before a set keeps reading the old content."""
    ns = sleeper("net")
    m = mount()
    ctl(ctl_bin, "set", "--pid", ns.pid, m.backing, input=b"a" * SIZE)
    work = new_workdir("reader")
    progress, stop = os.path.join(work, "progress"), os.path.join(work, "stop")
    reader = subprocess.Popen(ns.cmd(PYTHON, "-c", READER, m.mnt, progress, stop),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def seen():
        try:
            with open(progress) as f:
                return json.load(f)
        except (OSError, ValueError):
            return {"a": 0, "b": 0, "mixed": 0, "passes": 0}
    try:
        sets, deadline = 0, time.monotonic() + 6 * TIMEOUT
        # At least 100 replacements, and until the reader has seen each content a few times.
        while sets < 100 or min(seen()["a"], seen()["b"]) < 3:
            assert reader.poll() is None, reader.communicate()
            assert time.monotonic() < deadline, f"the reader made no progress: {seen()}"
            ctl(ctl_bin, "set", "--pid", ns.pid, m.backing, input=b"ba"[sets % 2:][:1] * SIZE)
            sets += 1
            assert seen()["mixed"] == 0, seen()
    finally:
        open(stop, "w").close()
        out, err = reader.communicate(timeout=6 * TIMEOUT)
    final = json.loads(out.decode().splitlines()[-1])
    print(f"{sets} replacements; the reader saw {final}")
    assert reader.returncode == 0, err
    assert final["mixed"] == 0, out.decode()
    assert final["a"] > 0 and final["b"] > 0, final
    assert sorted(os.listdir(m.backing)) == [f"{ns.id()}.conf"], "a temporary file is left"

    # An open file keeps its content across a set; the next open sees the new one.
    c = caller(ns.cmd(), name="in-ns")
    ctl(ctl_bin, "set", "--pid", ns.pid, m.backing, input=OLD)
    fd = c.open(m.mnt)
    ctl(ctl_bin, "set", "--pid", ns.pid, m.backing, input=NEW)
    assert c.readall(fd) == OLD
    assert c.read(m.mnt) == NEW
    c.close(fd)
    st = os.stat(m.path(f"{ns.id()}.conf"))
    seen_st = c.stat(m.mnt)
    assert (seen_st["ino"], seen_st["size"]) == (st.st_ino, st.st_size)


def test_the_daemon_serves_what_set_wrote_without_moving_it_aside(ctl_bin, mount, sleeper,
                                                                   caller):
    """The recorded unique id is the namespace's own: the daemon's recycled-id check at open
    keeps the file (a file recorded for another namespace would be moved aside)."""
    ns = sleeper("net")
    m = mount(template=b"nameserver 192.0.2.1\n")
    ctl(ctl_bin, "set", "--pid", ns.pid, m.backing, input=NEW)
    c = caller(ns.cmd(), name="in-ns")
    assert c.read(m.mnt) == NEW
    assert m.listing() == [f"{ns.id()}.conf"]
    assert m.stderr_lines()[1:] == [], m.stderr_text()


# --- the documented up-scripts ----------------------------------------------------------------

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
README_MARKER = "<!-- tests/fuse/test_ctl_set.py runs the next block"


def readme_up_script():
    """The indented block after README_MARKER, as a script."""
    text = (ROOT / "README.md").read_text()
    rest = text[text.index(README_MARKER):]
    rest = rest[rest.index("-->") + 3:].lstrip("\n")
    block = []
    for line in rest.split("\n"):
        if line and not line.startswith("    "):
            break
        block.append(line[4:])
    return "\n".join(block).strip("\n") + "\n"


def man_up_script():
    """The man page's up-script example (the .EX block after "A VPN up-script"), unescaped."""
    text = (ROOT / "man" / "resolvconffs-ctl.8").read_text()
    rest = text[text.index("A VPN up-script"):]
    rest = rest[rest.index(".EX\n") + 4:]
    block = rest[:rest.index(".EE\n")]
    return block.replace("\\(aq", "'").replace("\\-", "-").replace("\\e", "\\")


def substitute(script, old, new):
    assert script.count(old) == 1, f"{old!r} is not in the script once:\n{script}"
    return script.replace(old, new)


@pytest.mark.needs_real_root("ip netns add writes /run/netns")
@pytest.mark.parametrize("doc", ["README", "man"])
def test_the_documented_vpn_up_script(ctl_bin, mount, named_netns, caller, doc):
    """The up-script runs in the namespace (as `ip netns exec vpn openvpn` runs it) with the
    options OpenVPN would pass; a process of that namespace then reads the pushed servers
    through the mount, and which's log names the file."""
    ns = named_netns("rcfs-test-vpn")
    m = mount()
    if doc == "README":
        script = readme_up_script()
        script = substitute(script, "netns=vpn\n", f"netns={ns.name}\n")
        script = substitute(script, "backing=/run/resolvconffs\n", f"backing={m.backing}\n")
        expected = b"nameserver 10.8.0.1\nsearch vpn.example\nnameserver 10.8.0.2\n"
    else:
        script = man_up_script()
        script = substitute(script, "--netns vpn ", f"--netns {ns.name} ")
        script = script.replace("/run/resolvconffs", m.backing)
        expected = b"nameserver 10.8.0.1\n"
    path = os.path.join(new_workdir("up-script"), "vpn-up.sh")
    with open(path, "w") as f:
        f.write(script)
    env = {"PATH": f"{os.path.dirname(ctl_bin)}:{os.environ['PATH']}", "dev": "tun0",
           "foreign_option_1": "dhcp-option DNS 10.8.0.1",
           "foreign_option_2": "dhcp-option DOMAIN vpn.example",
           "foreign_option_3": "dhcp-option DNS 10.8.0.2",
           "foreign_option_4": "dhcp-option DISABLE-NBT"}
    r = run(ns.cmd("env", "-i", *(f"{k}={v}" for k, v in env.items()), "sh", path))
    assert r.returncode == 0, (r.stderr.decode(), script)
    file = os.path.join(m.backing, f"{ns.id}.conf")
    assert r.stdout.decode() == file + "\n"
    assert r.stderr.decode().splitlines() == [f"key: net:[{ns.id}]", f"file: {file} (exists)"]
    assert m.listing() == [f"{ns.id}.conf"]
    assert caller(ns.cmd(), name="in-vpn").read(m.mnt) == expected
