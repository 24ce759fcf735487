"""resolvconffs started as resolvconffs.service starts it, over a temporary tree laid out like a
host's /etc and /run (tests/fuse/test_host_managers.py, tests/fuse/test_crash_recovery.py).

Each scenario runs as a driver: the test module itself, run as a script by run_driver() inside
`unshare --mount --propagation private`, so that its mounts are seen by nobody else and vanish
with it. The daemon is started by the unit's own helper exactly as the unit does it:
`resolvconffs-helper start-pre` (ExecStartPre), `resolvconffs-helper start`, which chooses the
template and execs the daemon (ExecStart, the unit's main process), then
`resolvconffs-helper wait-mounted` (ExecStartPost); stopped with SIGTERM to that pid and
`resolvconffs-helper stop-post` (ExecStopPost). The helper's settings point into the tree:
RCFS_TARGET=TREE/etc/resolv.conf, RCFS_BACKING_DIR=TREE/run/resolvconffs and
RCFS_TEMPLATE_CANDIDATES=TREE/run/systemd/resolve/resolv.conf TREE/run/resolvconf/resolv.conf
TREE/run/NetworkManager/resolv.conf. Every process a driver starts gets PR_SET_PDEATHSIG (through
`setpriv --pdeathsig KILL`), so nothing outlives a driver that dies; it signals only its own
children, by pid.
"""
import json
import os
import pathlib
import re
import signal
import subprocess
import sys

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
# A driver runs as a script, without pytest's conftest to put tests/ (testenv) on the path.
if str(HERE.parent) not in sys.path:
    sys.path.insert(0, str(HERE.parent))
# wait_for is re-exported to the drivers.
from fuseutil import PYTHON, TIMEOUT, rcfs_mounts, wait_for  # noqa: E402,F401

HELPER = ROOT / "systemd" / "resolvconffs-helper"
RESULT = "RESULT "          # a driver's last stdout line: RESULT <json>


def run_driver(script, scenario, args, timeout=240):
    """Run `python3 SCRIPT SCENARIO ARGS-JSON` in a private mount namespace; returns the
    CompletedProcess and the driver's RESULT (None when it printed none). A driver that fails
    prints its traceback on stderr and exits non-zero."""
    cmd = ["unshare", "--mount", "--propagation", "private", PYTHON, str(script), scenario,
           json.dumps(args)]
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=timeout)
    result = None
    for line in p.stdout.splitlines():
        if line.startswith(RESULT):
            result = json.loads(line[len(RESULT):])
    return p, result


def driver_main(scenarios):
    """Entry point of a test module run as a driver: call scenarios[argv[1]](**json(argv[2]))
    and print what it returns as the RESULT line."""
    name, args = sys.argv[1], json.loads(sys.argv[2])
    result = scenarios[name](**args)
    print(RESULT + json.dumps(result), flush=True)


def pdeathsig(cmd):
    """cmd, killed by the kernel when the thread that started it exits."""
    return ["setpriv", "--pdeathsig", "KILL", "--", *map(str, cmd)]


class Tree:
    """TREE/etc and TREE/run/... as on a host; files maps paths relative to TREE to content
    (bytes) or to ("symlink", text). TREE/run is a tmpfs of the driver's mount namespace, as /run
    is: the managers' files and the backing directory share it, as they do on a host."""

    CANDIDATES = ("run/systemd/resolve/resolv.conf", "run/resolvconf/resolv.conf",
                  "run/NetworkManager/resolv.conf")

    def __init__(self, root, files):
        self.root = pathlib.Path(root)
        (self.root / "etc").mkdir(exist_ok=True)
        (self.root / "run").mkdir(exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755", "rcfs-test-run",
                        str(self.root / "run")], check=True, timeout=TIMEOUT,
                       stdin=subprocess.DEVNULL)
        for rel, content in files.items():
            p = self.root / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, (tuple, list)):
                os.symlink(content[1], p)
            else:
                p.write_bytes(content.encode() if isinstance(content, str) else content)
                p.chmod(0o644)

    def __truediv__(self, rel):
        return self.root / rel

    @property
    def target(self):
        return self.root / "etc" / "resolv.conf"

    @property
    def backing(self):
        return self.root / "run" / "resolvconffs"

    def candidates(self):
        return " ".join(str(self.root / c) for c in self.CANDIDATES)


class Unit:
    """resolvconffs.service over a Tree: start() / stop() / kill() as systemd would run them."""

    def __init__(self, tree, daemon, gc_options="--gc-interval 600", options=""):
        self.tree = tree
        self.log_path = tree.root / "unit.log"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("RCFS_")}
        self.env.update(RCFS_TARGET=str(tree.target), RCFS_BACKING_DIR=str(tree.backing),
                        RCFS_EXTENSION="conf", RCFS_TEMPLATE="",
                        RCFS_TEMPLATE_CANDIDATES=tree.candidates(), RCFS_DAEMON=str(daemon),
                        RCFS_GC_OPTIONS=gc_options, RCFS_OPTIONS=options)
        self.proc = None

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def helper(self, *args, check=True):
        with open(self.log_path, "a") as log:
            p = subprocess.run(pdeathsig([HELPER, *args]), env=self.env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=log, text=True,
                               timeout=TIMEOUT * 3)
        if check and p.returncode != 0:
            raise AssertionError(f"resolvconffs-helper {' '.join(args)} exited "
                                 f"{p.returncode}; log:\n{self.log()}")
        return p

    def start_pre(self):
        return self.helper("start-pre")

    def start_main(self):
        """ExecStart: the helper, which becomes the daemon (same pid) by exec."""
        with open(self.log_path, "a") as log:
            self.proc = subprocess.Popen(pdeathsig([HELPER, "start"]), env=self.env,
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        return self.proc

    def wait_mounted(self):
        self.helper("wait-mounted")
        if self.proc.poll() is not None:
            raise AssertionError(f"the daemon exited {self.proc.returncode}; log:\n{self.log()}")

    def start(self):
        self.start_pre()
        self.start_main()
        self.wait_mounted()
        return self

    def mounted(self):
        return bool(rcfs_mounts(self.tree.target))

    def daemon_exe(self):
        return os.readlink(f"/proc/{self.proc.pid}/exe")

    def stop(self):
        """systemctl stop: SIGTERM to the main pid, then ExecStopPost. Returns the exit status."""
        status = None
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                status = self.proc.wait(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=TIMEOUT)
                raise AssertionError(f"the daemon did not exit within {TIMEOUT:.0f}s of SIGTERM")
        elif self.proc is not None:
            status = self.proc.returncode
        self.helper("stop-post")
        return status

    def kill(self):
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=TIMEOUT)

    def teardown(self):
        """Whatever happened: stop the daemon, remove any mount left on the target."""
        try:
            if self.proc is not None and self.proc.poll() is None:
                os.kill(self.proc.pid, signal.SIGTERM)
                try:
                    self.proc.wait(timeout=TIMEOUT)
                except subprocess.TimeoutExpired:
                    os.kill(self.proc.pid, signal.SIGKILL)
                    self.proc.wait(timeout=TIMEOUT)
        finally:
            for _ in range(8):
                if not self.mounted():
                    break
                subprocess.run(["fusermount3", "-u", str(self.tree.target)], timeout=TIMEOUT,
                               stdin=subprocess.DEVNULL, capture_output=True)
                if self.mounted():
                    subprocess.run(["umount", "-l", str(self.tree.target)], timeout=TIMEOUT,
                                   stdin=subprocess.DEVNULL, capture_output=True)


def host_read(path):
    with open(path, "rb") as f:
        return f.read()


def netns_read(path):
    """What a process in a brand-new network namespace reads (it has no file yet)."""
    p = subprocess.run(pdeathsig(["unshare", "--net", "cat", path]), stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=TIMEOUT)
    if p.returncode != 0:
        raise AssertionError(f"unshare --net cat {path}: exit {p.returncode}: "
                             f"{p.stderr.decode(errors='replace')}")
    return p.stdout


def stat_sig(path):
    """What glibc's resolver compares to decide to reload /etc/resolv.conf."""
    st = os.stat(path)
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def helper_choice(log):
    """The helper's `template: PATH (WHY), --filter-loopback: yes|no` line, parsed."""
    m = re.findall(r"^resolvconffs-helper: template: (.*) \((.*)\), --filter-loopback: (yes|no)$",
                   log, re.M)
    assert m, f"no template line in the unit's log:\n{log}"
    path, why, filtered = m[-1]
    return path, why, filtered == "yes"
