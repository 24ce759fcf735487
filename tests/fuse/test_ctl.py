"""resolvconffs-ctl list and gc (README "Stale files and the admin view"): one row per backing file
with key, ip-netns name, alive/dead/stale, process count, size, mtime and file name, then the live
namespaces without a file; gc names the id-named files of dead namespaces ("dead FILE") and the
stale copies ("stale FILE.stale-N") and removes both only with --delete ("removed FILE"), never
touching named files or unparsable names."""
import calendar
import os
import subprocess

import pytest

from fuseutil import host_netns_id, new_workdir, run
from featutil import (InNamespaceThread, held_by_a_process, named_netns, sleeper,  # noqa: F401
                      tree)

MTIME = calendar.timegm((2001, 2, 3, 4, 5, 6))
MTIME_TEXT = "2001-02-03T04:05:06Z"
HEADER = ["KEY", "NAME", "STATE", "PROCS", "SIZE", "MODIFIED", "FILE"]


@pytest.fixture(scope="module")
def ctl_bin(build_dir):
    path = build_dir / "resolvconffs-ctl"
    if not path.is_file():
        pytest.fail(f"{path} is missing: run `make` first (or set RCFS_BUILD)")
    return str(path)


def ctl(ctl_bin, *args, expect=0):
    r = run([ctl_bin, *map(str, args)])
    repro = subprocess.list2cmdline([ctl_bin, *map(str, args)])
    assert r.returncode == expect, (f"exit {r.returncode}, expected {expect}; stderr: "
                                    f"{r.stderr.decode()}\nreproducer: {repro}")
    return r


def rows(out):
    """The list output as {file: row dict} plus the '(no file)' rows as {key: row dict}."""
    lines = out.decode().splitlines()
    assert lines[0].split() == HEADER, lines[0]
    files, nofile = {}, {}
    for line in lines[1:]:
        f = line.split(None, 6)
        assert len(f) == 7, line
        row = dict(zip(["key", "name", "state", "procs", "size", "mtime", "file"], f))
        row["procs"] = int(row["procs"])
        if row["file"] == "(no file)":
            assert row["key"] not in nofile, f"two (no file) rows for {row['key']}"
            nofile[row["key"]] = row
        else:
            assert row["file"] not in files
            files[row["file"]] = row
    return files, nofile


def make_link(procfs, path, target):
    d = os.path.join(procfs, os.path.dirname(path))
    os.makedirs(d, exist_ok=True)
    os.symlink(target, os.path.join(procfs, path))


@pytest.fixture
def fake():
    """A backing directory, an empty names directory and a fake procfs:
    pid 100 and 101 in net 1001 (no task directories: the process link counts), pid 200 in
    1002, pid 300 with thread 300 in 1003 and thread 301 in 1004, pid 400 with a garbled link;
    uts links for pid 100 (2001)."""
    d = new_workdir("ctl")
    proc, backing, names = (os.path.join(d, x) for x in ("proc", "backing", "names"))
    for x in (proc, backing, names):
        os.mkdir(x)
    make_link(proc, "100/ns/net", "net:[1001]")
    make_link(proc, "100/ns/uts", "uts:[2001]")
    make_link(proc, "101/ns/net", "net:[1001]")
    make_link(proc, "200/ns/net", "net:[1002]")
    make_link(proc, "300/task/300/ns/net", "net:[1003]")
    make_link(proc, "300/task/301/ns/net", "net:[1004]")
    make_link(proc, "400/ns/net", "net:[../1005]")
    files = {"1001.conf": b"nameserver 10.0.0.1\n", "1004.conf": b"x\n" * 7,
             "9999.conf": b"nameserver 10.0.0.9\n", "8888.conf": b"",
             "2001.conf": b"uts\n", "foo.conf": b"named\n", "1001.conf.stale-77": b"old\n",
             "9999.conf.stale-5-6": b"older\n", "foo.conf.stale-3": b"no stale copy\n",
             "notes.txt": b"notes\n", ".hidden.conf": b"h\n", "12.conf.bak": b"b\n",
             "1002.hosts": b"hosts\n", "1003": b"bare\n"}
    for name, data in files.items():
        with open(os.path.join(backing, name), "wb") as f:
            f.write(data)
        os.utime(os.path.join(backing, name), (MTIME, MTIME))
    os.mkdir(os.path.join(backing, "subdir"))
    return {"dir": d, "proc": proc, "backing": backing, "names": names, "files": files,
            "args": ["-P", proc, f"--names={names}"]}


def test_list_with_a_fake_procfs(ctl_bin, fake):
    before = tree(fake["dir"])
    files, nofile = rows(ctl(ctl_bin, "list", *fake["args"], fake["backing"]).stdout)
    assert set(files) == set(fake["files"]), "every file except the directory has a row"
    for name, data in fake["files"].items():
        assert files[name]["size"] == str(len(data)), name
        assert files[name]["mtime"] == MTIME_TEXT, name

    def cols(name):
        r = files[name]
        return r["key"], r["name"], r["state"], r["procs"]
    assert cols("1001.conf") == ("1001", "-", "alive", 2)
    assert cols("1004.conf") == ("1004", "-", "alive", 1), "a thread's namespace is alive"
    assert cols("9999.conf") == ("9999", "-", "dead", 0)
    assert cols("8888.conf") == ("8888", "-", "dead", 0)
    assert cols("2001.conf") == ("2001", "-", "dead", 0), "a uts id is no net namespace"
    assert cols("foo.conf") == ("-", "foo", "dead", 0)
    assert cols("1001.conf.stale-77")[2] == "stale"
    assert cols("9999.conf.stale-5-6")[2] == "stale"
    for other in ("notes.txt", ".hidden.conf", "12.conf.bak", "1002.hosts", "1003",
                  "foo.conf.stale-3"):
        assert cols(other)[0] == "-" and cols(other)[2] == "-", files[other]
    # Live namespaces without a file, each once, with its process count.
    assert {k: (r["state"], r["procs"], r["size"], r["mtime"]) for k, r in nofile.items()} == {
        "1002": ("alive", 1, "-", "-"), "1003": ("alive", 1, "-", "-")}
    assert tree(fake["dir"]) == before, "list changed something"


def test_list_extension_and_key_options(ctl_bin, fake):
    files, nofile = rows(ctl(ctl_bin, "list", "-p", "hosts", *fake["args"], fake["backing"]).stdout)
    assert (files["1002.hosts"]["key"], files["1002.hosts"]["state"]) == ("1002", "alive")
    assert files["1001.conf"]["state"] == "-", "with -p hosts a .conf file is no id-named file"
    assert "1002" not in nofile and "1001" in nofile
    files, _ = rows(ctl(ctl_bin, "list", "-p", "", *fake["args"], fake["backing"]).stdout)
    assert (files["1003"]["key"], files["1003"]["state"], files["1003"]["procs"]) == \
        ("1003", "alive", 1)
    files, nofile = rows(ctl(ctl_bin, "list", "-k", "uts", *fake["args"], fake["backing"]).stdout)
    assert (files["2001.conf"]["state"], files["2001.conf"]["procs"]) == ("alive", 1)
    assert files["1001.conf"]["state"] == "dead", "with -k uts the net ids are dead"
    assert set(nofile) == set()


def test_gc_lists_and_deletes_dead_id_named_files_and_stale_copies(ctl_bin, fake):
    before = tree(fake["dir"])
    r = ctl(ctl_bin, "gc", *fake["args"], fake["backing"])
    assert r.stdout.decode().splitlines() == [
        "stale 1001.conf.stale-77", "dead 2001.conf", "dead 8888.conf", "dead 9999.conf",
        "stale 9999.conf.stale-5-6"]
    assert r.stderr == b""
    assert tree(fake["dir"]) == before, "gc without --delete removed something"
    r = ctl(ctl_bin, "gc", "--delete", *fake["args"], fake["backing"])
    gone = ["1001.conf.stale-77", "2001.conf", "8888.conf", "9999.conf", "9999.conf.stale-5-6"]
    assert r.stdout.decode().splitlines() == [f"removed {name}" for name in gone]
    assert r.stderr == b""
    left = sorted(os.listdir(fake["backing"]))
    assert left == sorted(set(fake["files"]) - set(gone) | {"subdir"})
    # Named files, unparsable names (also one with the stale infix) and live namespaces' files
    # are all kept.
    for name in ("foo.conf", "foo.conf.stale-3", "notes.txt", ".hidden.conf", "1001.conf",
                 "1004.conf", "1003", "1002.hosts", "12.conf.bak"):
        with open(os.path.join(fake["backing"], name), "rb") as f:
            assert f.read() == fake["files"][name], name
    # A second run has nothing left to do.
    assert ctl(ctl_bin, "gc", "--delete", *fake["args"], fake["backing"]).stdout == b""


def test_gc_stale_copies_with_other_extensions(ctl_bin, fake):
    """-p decides what a stale copy is, as it decides what an id-named file is: with -p hosts
    only <id>.hosts.stale-N copies are stale; with -p '' <id>.stale-N."""
    extra = {"1002.hosts.stale-9": b"h\n", "1003.stale-8": b"bare\n"}
    for name, data in extra.items():
        with open(os.path.join(fake["backing"], name), "wb") as f:
            f.write(data)
    out = ctl(ctl_bin, "gc", "-p", "hosts", *fake["args"], fake["backing"]).stdout
    assert "stale 1002.hosts.stale-9" in out.decode().splitlines()
    assert b"1001.conf.stale-77" not in out and b"1003.stale-8" not in out
    out = ctl(ctl_bin, "gc", "--delete", "-p", "", *fake["args"], fake["backing"]).stdout
    assert "removed 1003.stale-8" in out.decode().splitlines()
    assert b"1002.hosts.stale-9" not in out and b"1001.conf.stale-77" not in out
    assert os.path.exists(os.path.join(fake["backing"], "1002.hosts.stale-9"))
    assert not os.path.exists(os.path.join(fake["backing"], "1003.stale-8"))


def test_gc_escapes_the_names_it_prints(ctl_bin, fake):
    """What gc prints is the admin's to read, not the terminal's to obey: with an extension
    holding an escape sequence, a newline and a backslash, the dead file and the stale copy are
    reported with those bytes as \\xNN, in the listing and in the removal report alike."""
    ext = "x\x1b[2J\n\\"
    shown = "x\\x1b[2J\\x0a\\x5c"
    for name in (f"9998.{ext}", f"9998.{ext}.stale-1"):
        with open(os.path.join(fake["backing"].encode(), name.encode()), "wb") as f:
            f.write(b"x\n")
    r = ctl(ctl_bin, "gc", "-p", ext, *fake["args"], fake["backing"])
    assert r.stdout.decode().splitlines() == [f"dead 9998.{shown}", f"stale 9998.{shown}.stale-1"]
    r = ctl(ctl_bin, "gc", "--delete", "-p", ext, *fake["args"], fake["backing"])
    assert r.stdout.decode().splitlines() == [f"removed 9998.{shown}",
                                              f"removed 9998.{shown}.stale-1"]
    assert not any(ext in name for name in os.listdir(fake["backing"]))


@pytest.mark.parametrize("args", [
    [], ["list"], ["gc"], ["frob", "BACKING"], ["list", "BACKING", "extra"],
    ["list", "--delete", "BACKING"], ["--bogus", "list", "BACKING"], ["list", "-x", "BACKING"],
    ["list", "-p"], ["list", "NONEXISTENT"], ["list", "-k", "uid", "BACKING"],
    ["gc", "-k", "bogus", "BACKING"], ["list", "-P", "NONEXISTENT", "BACKING"],
    ["list", "-p", "a/b", "BACKING"], ["gc", "--delete", "-k", "gid", "BACKING"],
], ids=lambda a: " ".join(a) or "none")
def test_bad_arguments_exit_2(ctl_bin, fake, args):
    args = [a.replace("BACKING", fake["backing"]).replace("NONEXISTENT", fake["dir"] + "/nope")
            for a in args]
    before = tree(fake["dir"])
    r = ctl(ctl_bin, *args, expect=2)
    assert r.stdout == b"", r.stdout
    lines = r.stderr.decode().splitlines()
    assert len(lines) == 1 and "resolvconffs-ctl" in lines[0], lines
    assert tree(fake["dir"]) == before


def test_help(ctl_bin):
    r = ctl(ctl_bin, "--help")
    assert r.stdout.decode().startswith("Usage: resolvconffs-ctl list")
    assert r.stderr == b""


# --- real namespaces ---------------------------------------------------------------------------


def test_list_and_gc_with_real_namespaces(ctl_bin, sleeper, tmp_path):
    """A sleeper's network namespace: alive with one process while it runs (with and without a
    file), dead after it is killed; gc --delete then removes exactly its file."""
    backing = tmp_path / "backing"
    backing.mkdir()
    names = tmp_path / "names"
    names.mkdir()
    host = f"{host_netns_id()}.conf"
    (backing / host).write_bytes(b"nameserver 10.0.0.1\n")
    args = [f"--names={names}", backing]
    for attempt in range(3):
        a, b = sleeper("net"), sleeper("net")
        (backing / f"{a.id()}.conf").write_bytes(b"nameserver 10.0.0.1\n")
        files, nofile = rows(ctl(ctl_bin, "list", *args).stdout)
        assert (files[f"{a.id()}.conf"]["state"], files[f"{a.id()}.conf"]["procs"]) == \
            ("alive", 1)
        assert files[host]["state"] == "alive" and files[host]["procs"] >= 2
        assert (nofile[str(b.id())]["state"], nofile[str(b.id())]["procs"]) == ("alive", 1)
        assert str(a.id()) not in nofile and str(host_netns_id()) not in nofile
        assert ctl(ctl_bin, "gc", *args).stdout == b""
        a_id = a.id()
        a.kill()
        b.kill()
        # The sleeper's pid is gone from /proc at once; so is its namespace, for ctl.
        listed = rows(ctl(ctl_bin, "list", *args).stdout)[0][f"{a_id}.conf"]
        gc = ctl(ctl_bin, "gc", *args).stdout.decode().splitlines()
        if held_by_a_process(a_id):
            (backing / f"{a_id}.conf").unlink()     # recycled by someone else: try again
            continue
        assert listed["state"] == "dead", listed
        assert gc == [f"dead {a_id}.conf"]
        assert ctl(ctl_bin, "gc", "--delete", *args).stdout.decode().splitlines() == \
            [f"removed {a_id}.conf"]
        assert sorted(os.listdir(backing)) == [host]
        return
    pytest.fail("the dead namespace's id was reused by another process three times")


def test_a_namespace_held_only_by_a_thread_is_alive(ctl_bin, sleeper, tmp_path):
    """One thread of a process enters the sleeper's namespace; the sleeper is killed: the
    namespace lives on in that thread, and list and gc must see it there."""
    backing = tmp_path / "backing"
    backing.mkdir()
    s = sleeper("net")
    ns = s.id()
    with InNamespaceThread(f"/proc/{s.pid}/ns/net") as holder:
        assert holder.netns == f"net:[{ns}]"
        s.kill()
        (backing / f"{ns}.conf").write_bytes(b"nameserver 10.0.0.1\n")
        files, _ = rows(ctl(ctl_bin, "list", f"--names={tmp_path}", backing).stdout)
        assert (files[f"{ns}.conf"]["state"], files[f"{ns}.conf"]["procs"]) == ("alive", 1)
        assert ctl(ctl_bin, "gc", "--delete", f"--names={tmp_path}", backing).stdout == b""
        assert (backing / f"{ns}.conf").exists()


@pytest.mark.needs_real_root("ip netns add writes /run/netns")
def test_named_namespaces(ctl_bin, named_netns, tmp_path):
    """A namespace held only by its ip-netns name is alive with 0 processes; its NAME.conf row
    carries the id and the name, and an id-named file of it shows the name too. After
    `ip netns del` NAME.conf is dead, but gc never touches it."""
    backing = tmp_path / "backing"
    backing.mkdir()
    a, b = named_netns(), named_netns()
    (backing / f"{a.name}.conf").write_bytes(b"nameserver 10.0.0.1\n")
    (backing / f"{b.id}.conf").write_bytes(b"nameserver 10.0.0.2\n")
    files, nofile = rows(ctl(ctl_bin, "list", backing).stdout)
    ra = files[f"{a.name}.conf"]
    assert (ra["key"], ra["name"], ra["state"], ra["procs"]) == (str(a.id), a.name, "alive", 0)
    rb = files[f"{b.id}.conf"]
    assert (rb["key"], rb["name"], rb["state"], rb["procs"]) == (str(b.id), b.name, "alive", 0)
    assert str(a.id) not in nofile and str(b.id) not in nofile
    # With another names directory, the names are unknown: the id-named file's namespace
    # looks dead (the documented limit), NAME.conf has no key.
    files, _ = rows(ctl(ctl_bin, "list", f"--names={tmp_path}", backing).stdout)
    assert (files[f"{a.name}.conf"]["key"], files[f"{a.name}.conf"]["state"]) == ("-", "dead")
    assert files[f"{b.id}.conf"]["state"] == "dead"
    a_id = a.id
    a.delete()
    files, nofile = rows(ctl(ctl_bin, "list", backing).stdout)
    assert (files[f"{a.name}.conf"]["key"], files[f"{a.name}.conf"]["state"]) == ("-", "dead")
    assert str(a_id) not in nofile
    assert ctl(ctl_bin, "gc", "--delete", backing).stdout == b""
    assert sorted(os.listdir(backing)) == sorted([f"{a.name}.conf", f"{b.id}.conf"])
