"""The end-to-end proof (DESIGN.md "glibc's resolver"): resolvconffs mounted on /etc/resolv.conf
itself, inside a private mount namespace, and `getent ahostsv4 NAME` in two network namespaces,
each with its own DNS server on loopback answering the same name differently, gets each
namespace's own answer. The servers are dnsmasq as real root; in a user's own namespace, where
dnsmasq refuses to start (it insists on setgroups), tests/tools/dns_responder.py. A long-lived
process also sees glibc reload the file when only its mtime/ctime change (same size, same inode),
which needs getattr to pass both times through faithfully.

The driver script runs under `unshare -m --propagation private`: the mount over /etc/resolv.conf
exists only in that mount namespace and dies with it. The host's /etc/resolv.conf is checked to
be untouched."""
import json
import os
import pathlib
import signal
import subprocess
import textwrap

import pytest

from fuseutil import (PYTHON, TIMEOUT, exe_of, is_real_root, mountinfo, new_workdir, pid_alive,
                      wait_for)

NAME = "rcfs-test.example"
RESPONDER = pathlib.Path(__file__).resolve().parent.parent / "tools" / "dns_responder.py"

DRIVER = textwrap.dedent(r'''
    import ctypes, json, os, signal, subprocess, sys, time
    cfg = json.loads(sys.argv[1])
    RESOLV = "/etc/resolv.conf"
    out = {"lookups": {}, "cat": {}}

    def mounted():
        with open("/proc/self/mountinfo") as f:
            for line in f:
                left, _, right = line.partition(" - ")
                if left.split()[4] == RESOLV and right.split()[0] == "fuse.resolvconffs":
                    return True
        return False

    def wait(pred, timeout, what):
        deadline = time.monotonic() + timeout
        while not pred():
            if time.monotonic() > deadline:
                raise SystemExit("timed out waiting for " + what)
            time.sleep(0.01)

    def pdeathsig():
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)   # PR_SET_PDEATHSIG: die with the driver

    err = open(cfg["stderr"], "wb")
    daemon = subprocess.Popen([cfg["bin"], cfg["backing"], RESOLV], stdin=subprocess.DEVNULL,
                              stdout=err, stderr=err, preexec_fn=pdeathsig)
    with open(cfg["pidfile"], "w") as f:
        f.write(str(daemon.pid))
    try:
        wait(lambda: mounted() or daemon.poll() is not None, cfg["timeout"], "the mount")
        if daemon.poll() is not None:
            raise SystemExit("daemon exited %s before mounting" % daemon.returncode)
        for ns in cfg["namespaces"]:
            nsenter = ["nsenter", "--net=" + ns]
            r = subprocess.run(nsenter + ["cat", RESOLV], capture_output=True, timeout=cfg["timeout"])
            out["cat"][ns] = r.stdout.decode()
            r = subprocess.run(nsenter + ["getent", "ahostsv4", cfg["name"]], capture_output=True,
                               timeout=cfg["timeout"])
            out["lookups"][ns] = {"rc": r.returncode, "stdout": r.stdout.decode(),
                                  "stderr": r.stderr.decode()}

        # glibc reloads resolv.conf when its stat changes: a same-size, same-inode rewrite of
        # A's file with a new mtime must be noticed by a process that already resolved once.
        rl = cfg["reload"]
        p = subprocess.Popen(["nsenter", "--net=" + rl["ns"], cfg["python"], "-c", rl["script"],
                              cfg["name"]], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        first = p.stdout.readline().decode()
        st = os.stat(rl["file"])
        with open(rl["file"], "r+b") as f:          # in place: same inode, same size
            f.write(rl["content"].encode())
        os.utime(rl["file"], ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
        new = os.stat(rl["file"])
        p.stdin.write(b"again\n")
        p.stdin.flush()
        second = p.stdout.readline().decode()
        p.wait(timeout=cfg["timeout"])
        out["reload"] = {"first": json.loads(first or "null"), "second": json.loads(second or "null"),
                         "same_ino": st.st_ino == new.st_ino, "same_size": st.st_size == new.st_size}
    finally:
        if daemon.poll() is None:
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(timeout=cfg["timeout"])
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait()
        out["daemon_exit"] = daemon.returncode
        out["mounted_after"] = mounted()
        if out["mounted_after"]:
            subprocess.run(["umount", "-l", RESOLV])
        print(json.dumps(out))
''')

RELOAD = textwrap.dedent(r'''
    import json, socket, sys
    def resolve():
        try:
            return sorted({ai[4][0] for ai in socket.getaddrinfo(sys.argv[1], None, socket.AF_INET)})
        except socket.gaierror as e:
            return ["error: %s" % e]
    print(json.dumps(resolve()), flush=True)
    sys.stdin.readline()
    print(json.dumps(resolve()), flush=True)
''')


def udp_listening(pid, addr, port=53):
    """Whether the process's network namespace has a UDP socket bound to addr:port."""
    a, b, c, d = (int(x) for x in addr.split("."))
    want = f"{d:02X}{c:02X}{b:02X}{a:02X}:{port:04X}"
    try:
        with open(f"/proc/{pid}/net/udp") as f:
            return any(line.split()[1] == want for line in f.readlines()[1:])
    except OSError:
        return False


class DnsServer:
    """A DNS server in namespace ns on addr:53 that answers NAME with answer: dnsmasq as real
    root, tests/tools/dns_responder.py otherwise. nsenter execs it: the pid is the server's."""

    def __init__(self, ns, addr, answer, workdir):
        tag = f"{ns.name}-{addr}"
        self.log = os.path.join(workdir, f"dns-{tag}.log")
        if is_real_root():
            self.cmd = ns.cmd("dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null",
                              "--no-resolv", "--no-hosts", f"--listen-address={addr}",
                              "--bind-interfaces", f"--address=/{NAME}/{answer}",
                              f"--pid-file={os.path.join(workdir, f'dnsmasq-{tag}.pid')}",
                              "--port=53", "--log-queries", f"--log-facility={self.log}")
        else:
            self.cmd = ns.cmd(PYTHON, RESPONDER, f"--listen={addr}", "--port=53",
                              f"--record={NAME}={answer}")
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.cmd[2]} exited {self.proc.returncode}: "
                                     f"{self.proc.stderr.read().decode()}")
            return udp_listening(self.proc.pid, addr)
        wait_for(ready, TIMEOUT, f"{self.cmd[2]} on {addr}:53 in {ns.name}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=TIMEOUT)


@pytest.fixture
def dns(netns):
    servers = []

    def start(ns, addr, answer, workdir):
        s = DnsServer(ns, addr, answer, workdir)
        servers.append(s)
        return s
    yield start
    for s in servers:
        s.stop()


def stop_leftover(pidfile, exe):
    """The daemon dies with the driver (PR_SET_PDEATHSIG); make sure of it, by its pid."""
    try:
        with open(pidfile) as f:
            pid = int(f.read())
    except (OSError, ValueError):
        return
    if not pid_alive(pid) or exe_of(pid) != exe:
        return
    os.kill(pid, signal.SIGTERM)
    try:
        wait_for(lambda: not pid_alive(pid), TIMEOUT, f"daemon pid {pid} to exit")
    except AssertionError:
        os.kill(pid, signal.SIGKILL)
        raise


def addresses(getent_stdout):
    return sorted({line.split()[0] for line in getent_stdout.splitlines() if line.strip()})


def test_getent_in_two_namespaces_through_etc_resolv_conf(rcfs_bin, netns, dns):
    with open("/etc/resolv.conf", "rb") as f:
        host_resolv = f.read()
    host_mounts = [e["line"] for e in mountinfo() if e["mountpoint"] == "/etc/resolv.conf"]

    a, b = netns(lo_up=True), netns(lo_up=True)
    # 127.0.0.0/8 is local on lo as soon as it is up, so a server could bind 127.0.0.2 without
    # more. But getent ahostsv4 asks getaddrinfo for AI_ADDRCONFIG, and glibc then answers only
    # if the namespace has an IPv4 address other than 127.0.0.1: so the servers' addresses are
    # added to lo explicitly.
    routes = a.run("ip", "-4", "route", "show", "table", "local", check=True).stdout.decode()
    assert "local 127.0.0.0/8 dev lo" in routes, routes
    for ns, addrs in ((a, ["127.0.0.2", "127.0.0.4"]), (b, ["127.0.0.3"])):
        for addr in addrs:
            ns.run("ip", "addr", "add", f"{addr}/8", "dev", "lo", check=True)
    workdir = new_workdir("resolver")
    backing = os.path.join(workdir, "backing")
    os.mkdir(backing, 0o755)
    files = {a: "nameserver 127.0.0.2\noptions timeout:2 attempts:2\n",
             b: "nameserver 127.0.0.3\noptions timeout:2 attempts:2\n"}
    for ns, content in files.items():
        with open(os.path.join(backing, f"{ns.id}.conf"), "w") as f:
            f.write(content)
    dns(a, "127.0.0.2", "10.11.12.13", workdir)
    dns(a, "127.0.0.4", "10.11.12.15", workdir)
    dns(b, "127.0.0.3", "10.11.12.14", workdir)

    cfg = {"bin": rcfs_bin, "backing": backing, "name": NAME, "timeout": TIMEOUT,
           "stderr": os.path.join(workdir, "daemon.stderr"),
           "pidfile": os.path.join(workdir, "daemon.pid"), "python": PYTHON,
           "namespaces": [a.path, b.path],
           "reload": {"ns": a.path, "file": os.path.join(backing, f"{a.id}.conf"),
                      "content": "nameserver 127.0.0.4\n", "script": RELOAD}}
    cmd = ["unshare", "-m", "--propagation", "private", PYTHON, "-c", DRIVER, json.dumps(cfg)]
    print(f"reproducer (driver): {' '.join(cmd[:5])} <DRIVER> '{json.dumps(cfg)}'")
    try:
        r = subprocess.run(cmd, capture_output=True, timeout=6 * TIMEOUT)
    finally:
        stop_leftover(cfg["pidfile"], rcfs_bin)
        with open(cfg["stderr"], errors="replace") as f:
            daemon_stderr = f.read()
    assert r.returncode == 0, f"driver failed: {r.stderr.decode()}\ndaemon: {daemon_stderr}"
    out = json.loads(r.stdout)

    assert out["cat"][a.path] == files[a]
    assert out["cat"][b.path] == files[b]
    la, lb = out["lookups"][a.path], out["lookups"][b.path]
    assert la["rc"] == 0, la
    assert lb["rc"] == 0, lb
    assert addresses(la["stdout"]) == ["10.11.12.13"], la
    assert addresses(lb["stdout"]) == ["10.11.12.14"], lb

    rl = out["reload"]
    assert rl["same_ino"] and rl["same_size"]
    assert rl["first"] == ["10.11.12.13"], rl
    assert rl["second"] == ["10.11.12.15"], f"glibc did not notice the changed file: {rl}"

    assert not out["mounted_after"], "the daemon left /etc/resolv.conf mounted"
    assert out["daemon_exit"] is not None and out["daemon_exit"] >= 0, out["daemon_exit"]
    assert daemon_stderr.startswith("resolvconffs: serving /etc/resolv.conf "), daemon_stderr
    assert len(daemon_stderr.splitlines()) == 1, daemon_stderr
    # The host never saw any of it.
    with open("/etc/resolv.conf", "rb") as f:
        assert f.read() == host_resolv
    assert [e["line"] for e in mountinfo() if e["mountpoint"] == "/etc/resolv.conf"] == host_mounts
