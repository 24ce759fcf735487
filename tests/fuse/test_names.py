"""--names and --etc-netns (README "Beyond the original"): a namespace named with `ip netns` is
served <backing>/NAME.<ext> (or, with --etc-netns, DIR/NAME/<mountpoint's basename>, the file
`ip netns exec NAME` would bind-mount); unnamed namespaces keep the id rule; names are re-read
when the names directory changes; unsafe names are ignored with a warning."""
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess

import pytest

import fuseutil
from fuseutil import PYTHON, TIMEOUT, host_netns_id, new_workdir, run
from featutil import (named_netns, refused, sleeper, startup_layout,  # noqa: F401 (fixtures)
                      wait_stderr)

TEMPLATE = b"nameserver 192.0.2.53\n"
BY_ID = b"nameserver 10.1.1.1\n"
BY_NAME = b"nameserver 10.2.2.2\noptions ndots:3\n"
UNSAFE_WARNING = (r"resolvconffs: warning: ignoring namespace name '(?P<name>[^']*)' in "
                  r"(?P<dir>\S+): not a safe file name")


def cat(prefix, path):
    return run([*prefix, "cat", path], check=True).stdout


def write(prefix, path, data):
    run([*prefix, "sh", "-c", 'printf "%s" "$1" > "$2"', "sh", data.decode(), path], check=True)


# --- --names -----------------------------------------------------------------------------------

@pytest.mark.needs_real_root("ip netns add writes /run/netns")
def test_named_namespace_gets_its_name_unnamed_keeps_the_id(mount, named_netns, sleeper):
    m = mount(args=["--names"], template=TEMPLATE)
    host = f"{host_netns_id()}.conf"
    unnamed = sleeper("net")
    # The daemon has read the names directory before the name is added: the next request
    # sees the new name all the same.
    for prefix in (unnamed.cmd(), []):
        assert cat(prefix, m.mnt) == TEMPLATE
    named = named_netns()
    assert cat(named.cmd(), m.mnt) == TEMPLATE
    assert m.listing() == sorted([f"{named.name}.conf", f"{unnamed.id()}.conf", host])
    # Each writes its own file through the mount and reads it back; the others are untouched.
    write(named.cmd(), m.mnt, BY_NAME)
    write(unnamed.cmd(), m.mnt, BY_ID)
    assert cat(named.cmd(), m.mnt) == BY_NAME
    assert cat(unnamed.cmd(), m.mnt) == BY_ID
    assert cat([], m.mnt) == TEMPLATE
    assert m.read_backing(f"{named.name}.conf") == BY_NAME
    assert m.read_backing(f"{unnamed.id()}.conf") == BY_ID
    assert f"{named.id}.conf" not in m.listing(), "the named namespace got an id-named file too"
    # stat answers for the same file as read.
    r = run(named.cmd("stat", "-c", "%s %i", m.mnt), check=True)
    st = os.stat(m.path(f"{named.name}.conf"))
    assert r.stdout.decode().split() == [str(st.st_size), str(st.st_ino)]


@pytest.mark.needs_real_root("ip netns attach/del write /run/netns")
def test_a_name_added_or_deleted_is_seen_by_the_next_request(mount, sleeper, caller):
    """`ip netns attach NAME PID` names a running namespace, `ip netns del NAME` removes the
    name while the process keeps the namespace alive: each change decides the very next
    request, several times in a row (the names directory's mtime is what the daemon watches)."""
    ns = sleeper("net")
    m = mount(args=["--names"], files={f"{ns.id()}.conf": BY_ID})
    c = caller(ns.cmd(), name="in-ns")
    assert c.netns == f"net:[{ns.id()}]"
    assert c.read(m.mnt) == BY_ID
    names = []
    try:
        for i in range(5):
            name = f"rcfs-test-attach-{os.getpid()}-{i}"
            m.write_backing(f"{name}.conf", BY_NAME + b"# %d\n" % i)
            names.append(name)
            run(["ip", "netns", "attach", name, str(ns.pid)], check=True)
            assert c.read(m.mnt) == BY_NAME + b"# %d\n" % i, f"round {i}: added name not seen"
            assert c.stat(m.mnt)["size"] == len(BY_NAME + b"# %d\n" % i)
            run(["ip", "netns", "del", name], check=True)
            assert c.read(m.mnt) == BY_ID, f"round {i}: deleted name still served"
            assert c.stat(m.mnt)["size"] == len(BY_ID)
    finally:
        for name in names:
            if os.path.exists(f"/run/netns/{name}"):
                run(["ip", "netns", "del", name])
    assert m.read_backing(f"{ns.id()}.conf") == BY_ID





def test_unsafe_names_are_ignored_with_a_warning(mount, sleeper, names_dir):
    """In a names directory given with --names=DIR: '.hidden' (leading dot) and '12345' (all
    digits: it could stand for another namespace's id-named file) are ignored, each with a
    warning line; a good name next to them is served."""
    d, bind = names_dir
    hidden, digits, good = sleeper("net"), sleeper("net"), sleeper("net")
    bind(".hidden", hidden.pid)
    bind("12345", digits.pid)
    bind("good-name", good.pid)
    m = mount(args=[f"--names={d}"], template=TEMPLATE, stderr_ok=[UNSAFE_WARNING])
    write(hidden.cmd(), m.mnt, b"nameserver 10.0.0.1\n")
    write(digits.cmd(), m.mnt, b"nameserver 10.0.0.2\n")
    write(good.cmd(), m.mnt, b"nameserver 10.0.0.3\n")
    assert cat(hidden.cmd(), m.mnt) == b"nameserver 10.0.0.1\n"
    assert cat(digits.cmd(), m.mnt) == b"nameserver 10.0.0.2\n"
    assert cat(good.cmd(), m.mnt) == b"nameserver 10.0.0.3\n"
    assert m.listing() == sorted([f"{hidden.id()}.conf", f"{digits.id()}.conf", "good-name.conf"])
    hits = wait_stderr(m, UNSAFE_WARNING, count=2)
    assert {(h["name"], h["dir"]) for h in hits} == {(".hidden", d), ("12345", d)}, hits
    # The warnings come from scans of the directory, not from every request.
    assert len(hits) <= 4, f"a warning per request: {len(hits)} lines"


def test_a_name_too_long_for_a_backing_file_is_ignored(mount, sleeper, names_dir):
    """A name that is a valid file name in the names directory (ip netns allows up to 255
    bytes) but leaves no room for `.conf` is no usable backing file name: like the other unsafe
    names it must be ignored (the namespace keeps the id rule), not break every request of that
    namespace with ENAMETOOLONG."""
    d, bind = names_dir
    ns = sleeper("net")
    name = "rcfs-test-long-" + "n" * 237     # 252 bytes: NAME.conf would be 257
    bind(name, ns.pid)
    m = mount(args=[f"--names={d}"], template=TEMPLATE,
              stderr_ok=[r"resolvconffs: warning: .*" + re.escape(name) + ".*"])
    r = run(ns.cmd("cat", m.mnt))
    assert r.returncode == 0, (
        f"{r.stderr.decode().strip()}\nreproducer: N=rcfs-long-$(printf 'n%.0s' $(seq 242)); "
        f"ip netns add $N; {m.repro_binary} --names -d TEMPLATE BACKING MNT & sleep 1; "
        f"nsenter --net=/run/netns/$N cat MNT; ip netns del $N")
    assert r.stdout == TEMPLATE
    assert m.listing() == [f"{ns.id()}.conf"]


def test_a_stray_entry_does_not_make_every_request_rescan(mount, sleeper, tmp_path):
    """README: the name map is "rebuilt only when DIR changes (one stat of DIR per request)".
    A plain file in the names directory (say one left by an interrupted `ip netns add`, which
    creates the file before mounting on it) is no namespace: it must not make every request of
    an unnamed namespace rescan the directory, which shows here as the warning about an unsafe
    name repeated on every request instead of once per change of the directory."""
    d = tmp_path / "netns"
    d.mkdir()
    (d / ".hidden").write_bytes(b"")
    (d / "stray").write_bytes(b"")
    m = mount(args=[f"--names={d}"], template=TEMPLATE, stderr_ok=[UNSAFE_WARNING])
    ns = sleeper("net")
    for _ in range(10):
        assert cat([], m.mnt) == TEMPLATE
        assert cat(ns.cmd(), m.mnt) == TEMPLATE
    hits = wait_stderr(m, UNSAFE_WARNING)
    assert len(hits) <= 2, (f"{len(hits)} warnings for 20 cats: the directory was rescanned for "
                            f"every request\nreproducer: mkdir N; touch N/.hidden N/stray; "
                            f"{m.repro_binary} --names=$PWD/N -d TEMPLATE BACKING MNT & "
                            f"sleep 1; for i in $(seq 10); do cat MNT; done >/dev/null")


def test_names_directory_errors(rcfs_bin, repro_bin):
    """A relative names directory and a missing --etc-netns directory are refused at startup."""
    d = startup_layout()
    line = refused(rcfs_bin, ["--names=netns", "backing", "mnt"], d, repro_bin)
    assert "names directory" in line and "'netns'" in line and "absolute" in line, line
    line = refused(rcfs_bin, ["--etc-netns=nonexistent", "backing", "mnt"], d, repro_bin)
    assert "etc-netns" in line and "nonexistent" in line and "No such file" in line, line


# --- --etc-netns over a temporary file ---------------------------------------------------------

def test_etc_netns_file_first_then_name_then_id(mount, sleeper, names_dir):
    """With --etc-netns=DIR a named namespace is served DIR/NAME/<basename of the mountpoint>
    (here `mnt`) when it exists, reads and writes alike; another named namespace without that
    file gets NAME.conf, an unnamed one its id, and a file created in DIR later is seen by the
    next request. (Names from a names directory of bind mounts, as `ip netns` makes them.)"""
    d, bind = names_dir
    etc = os.path.join(new_workdir("etc"), "netns")
    os.mkdir(etc)
    with_file, without, unnamed = sleeper("net"), sleeper("net"), sleeper("net")
    bind("with-file", with_file.pid)
    bind("without", without.pid)
    os.mkdir(os.path.join(etc, "with-file"))
    etc_file = os.path.join(etc, "with-file", "mnt")
    with open(etc_file, "wb") as f:
        f.write(b"nameserver 198.51.100.1\n")
    m = mount(args=[f"--names={d}", f"--etc-netns={etc}"], template=TEMPLATE)
    wait_stderr(m, r"resolvconffs: serving .*; names: " + re.escape(f"{d}, then {etc}/<name>/mnt;")
                + ".*")
    assert cat(with_file.cmd(), m.mnt) == b"nameserver 198.51.100.1\n"
    assert cat(without.cmd(), m.mnt) == TEMPLATE
    assert cat(unnamed.cmd(), m.mnt) == TEMPLATE
    assert m.listing() == sorted(["without.conf", f"{unnamed.id()}.conf"])
    write(with_file.cmd(), m.mnt, b"nameserver 198.51.100.2\n")
    with open(etc_file, "rb") as f:
        assert f.read() == b"nameserver 198.51.100.2\n"
    assert "with-file.conf" not in m.listing()
    # A file appearing in DIR/NAME/ takes over from NAME.conf at the next request.
    os.mkdir(os.path.join(etc, "without"))
    with open(os.path.join(etc, "without", "mnt"), "wb") as f:
        f.write(b"nameserver 198.51.100.3\n")
    assert cat(without.cmd(), m.mnt) == b"nameserver 198.51.100.3\n"
    # And when it goes away, NAME.conf is back.
    os.unlink(os.path.join(etc, "without", "mnt"))
    assert cat(without.cmd(), m.mnt) == TEMPLATE


# --- --etc-netns on /etc/resolv.conf and /etc/hosts, in a private mount namespace --------------

PRIVATE_NS_SCRIPT = r'''
import json, os, signal, subprocess, sys, time
timeout = float(sys.argv[1])
binary, template, backing, target, stderr_path = sys.argv[2:7]
names = [a.split("=", 1) for a in sys.argv[7:]]      # NAME=PATH of its bind mount

def mounted():
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            if left.split(" ")[4] == target and right.split(" ")[0] == "fuse.resolvconffs":
                return True
    return False

def view(cmd):
    r = subprocess.run(cmd, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
    return {"rc": r.returncode, "out": r.stdout.decode("latin-1"),
            "err": r.stderr.decode("latin-1")}

out = {"views": {}, "error": None}
with open(stderr_path, "wb") as err:
    d = subprocess.Popen([binary, "--etc-netns", "-d", template, backing, target],
                         stdin=subprocess.DEVNULL, stdout=err, stderr=err)
try:
    deadline = time.monotonic() + timeout
    while not mounted():
        if d.poll() is not None:
            raise RuntimeError(f"the daemon exited {d.returncode} before mounting")
        if time.monotonic() > deadline:
            raise RuntimeError("the daemon did not mount in time")
        time.sleep(0.01)
    out["host"] = view(["cat", target])
    for n, path in names:
        out["views"][n] = {
            "ip netns exec": view(["ip", "netns", "exec", n, "cat", target]),
            "nsenter": view(["nsenter", f"--net={path}", "cat", target]),
        }
except Exception as e:
    out["error"] = repr(e)
finally:
    if d.poll() is None:
        d.send_signal(signal.SIGTERM)
    try:
        out["exit"] = d.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        d.kill()
        out["exit"] = d.wait()
    out["mounted_after"] = mounted()
print(json.dumps(out))
'''


@pytest.fixture
def etc_netns():
    """etc_netns(name, basename, content) creates /etc/netns/NAME/BASENAME (the real iproute2
    directory); at teardown every such directory is removed, and /etc/netns itself when this
    fixture created it and it is empty."""
    made, made_root = [], []

    def make(name, basename, content):
        if not os.path.isdir("/etc/netns"):
            os.mkdir("/etc/netns")
            made_root.append(True)
        d = f"/etc/netns/{name}"
        os.mkdir(d)
        made.append(d)
        with open(os.path.join(d, basename), "wb") as f:
            f.write(content)
        return os.path.join(d, basename)

    yield make
    for d in made:
        shutil.rmtree(d, ignore_errors=True)
    if made_root:
        with contextlib.suppress(OSError):
            os.rmdir("/etc/netns")


CASES = {
    "resolv.conf": (b"nameserver 192.0.2.1\nsearch host.example\n",
                    b"nameserver 198.51.100.53\nsearch ns.example\noptions ndots:2\n"),
    "hosts": (b"127.0.0.1 localhost\n192.0.2.10 host-only.example\n",
              b"127.0.0.1 localhost\n198.51.100.10 ns-only.example\n"),
}


@pytest.mark.needs_real_root("ip netns names, /etc/netns and mounts over /etc files")
@pytest.mark.parametrize("basename", sorted(CASES))
def test_ip_netns_exec_and_a_plain_process_see_the_same_file(basename, rcfs_bin, repro_bin,
                                                            named_netns, etc_netns):
    """The issue's end-to-end check: in a private mount namespace, resolvconffs --etc-netns is
    mounted on /etc/BASENAME. For a namespace NAME with /etc/netns/NAME/BASENAME,
    `ip netns exec NAME cat /etc/BASENAME` (which bind-mounts that file over the mount) and a
    plain process in NAME reading through the mount (nsenter --net) show identical bytes: that
    file's. A second named namespace without /etc/netns/NAME2 sees NAME2.<ext> made from the
    template both ways. The real /etc file is untouched."""
    host_content, ns_content = CASES[basename]
    target = f"/etc/{basename}"
    with open(target, "rb") as f:
        real_before = f.read()
    real_ino = os.stat(target).st_ino
    with_file, without = named_netns(), named_netns()
    etc_netns(with_file.name, basename, ns_content)
    work = new_workdir("etcnetns")
    backing = os.path.join(work, "backing")
    os.mkdir(backing)
    template = os.path.join(work, "template")
    with open(template, "wb") as f:
        f.write(host_content)
    stderr_path = os.path.join(work, "daemon.stderr")
    argv = ["unshare", "--mount", "--propagation", "private", PYTHON, "-c", PRIVATE_NS_SCRIPT,
            str(TIMEOUT), rcfs_bin, template, backing, target, stderr_path,
            f"{with_file.name}={with_file.path}", f"{without.name}={without.path}"]
    repro = (f"unshare --mount --propagation private sh -c '{repro_bin} --etc-netns -d "
             f"{template} {backing} {target} & sleep 1; ip netns exec {with_file.name} cat "
             f"{target}; nsenter --net={with_file.path} cat {target}; kill $!'")
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=6 * TIMEOUT)
    except subprocess.TimeoutExpired:
        # Everything (the daemon included) is in the new session: end it by its group id. The
        # private mount namespace, and the mount in it, go with its last process.
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"the private-namespace run hung\nreproducer: {repro}")
    assert proc.returncode == 0, f"{err.decode()}\nreproducer: {repro}"
    res = json.loads(out)
    with open(stderr_path) as f:
        daemon_err = f.read()
    assert res["error"] is None, f"{res['error']}; daemon stderr:\n{daemon_err}\nreproducer: {repro}"
    assert res["exit"] == 0, f"daemon exit {res['exit']}; stderr:\n{daemon_err}"
    assert not res["mounted_after"], "the daemon left its mount behind"
    assert all(ln.startswith("resolvconffs: serving ") for ln in daemon_err.splitlines()), daemon_err
    views = res["views"]
    a = views[with_file.name]
    assert a["ip netns exec"]["rc"] == 0, a
    assert a["nsenter"]["rc"] == 0, a
    assert a["ip netns exec"]["out"] == a["nsenter"]["out"], \
        f"ip netns exec and a plain process in the namespace disagree: {a}\nreproducer: {repro}"
    assert a["nsenter"]["out"].encode("latin-1") == ns_content
    b = views[without.name]
    assert b["ip netns exec"]["out"] == b["nsenter"]["out"] == host_content.decode(), b
    assert res["host"]["out"] == host_content.decode(), res["host"]
    assert sorted(os.listdir(backing)) == sorted([f"{without.name}.conf",
                                                   f"{host_netns_id()}.conf"])
    # Nothing leaked out of the private mount namespace.
    assert not fuseutil.rcfs_mounts(target)
    with open(target, "rb") as f:
        assert f.read() == real_before
    assert os.stat(target).st_ino == real_ino
    shutil.rmtree(work, ignore_errors=True)
