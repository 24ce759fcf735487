"""Fixtures for the end-to-end FUSE suite: real mounts over temporary files, with real network
namespaces (tests/conftest.py provides build_dir and turns skips into failures under CI=true).

The suite runs as root: real root, or, for an ordinary user, root of a user namespace of its own
in private mount and network namespaces, where mount(2) of a FUSE filesystem over a file is
allowed and the mount is seen by this process directly. `make check` does that for an ordinary
user through tests/fuse/userns.sh (by hand: `tests/fuse/userns.sh python3 -m pytest tests/fuse`).
Tests that need other ids (callers of other uids and gids) or named namespaces (/run/netns,
/etc/netns) are marked needs_real_root: they run there when the user has a subordinate id range
(userns.sh maps it, and gives the namespace private /run/netns and /etc/netns), and skip, saying
how to add one, otherwise. What only the initial user namespace can do is marked
needs_init_userns (tests/conftest.py). When /dev/fuse cannot be opened, every test here skips
with exactly fuseutil.DEV_FUSE_UNUSABLE ("/dev/fuse is not usable by this user").
"""
import functools
import os
import shutil
import subprocess

import pytest

import fuseutil
from fuseutil import Caller, Daemon, Netns


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Remember each phase's report on the item, so fixtures can tell whether the test failed."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


def _test_failed(request):
    rep = getattr(request.node, "rep_call", None)
    return rep is not None and rep.failed


@functools.lru_cache(maxsize=None)
def _fuse_env_problem():
    """Why the FUSE suite cannot run here, or None."""
    if not fuseutil.dev_fuse_usable():
        return fuseutil.DEV_FUSE_UNUSABLE
    if os.geteuid() != 0:
        return ("the FUSE suite needs root: as an ordinary user run it as root of a user "
                "namespace of your own, `tests/fuse/userns.sh python3 -m pytest tests/fuse` "
                "(`make check` does)")
    missing = [tool for tool in ("fusermount3", "ip", "nsenter", "unshare", "setpriv", "umount")
               if not shutil.which(tool)]
    if missing:
        return "the FUSE suite needs " + ", ".join(missing)
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """Every test of this directory, whatever its fixtures and markers, skips with the same
    reason when the suite cannot run here (exactly DEV_FUSE_UNUSABLE for /dev/fuse)."""
    problem = _fuse_env_problem()
    if problem:
        pytest.skip(problem)


@pytest.fixture(scope="session")
def root_env():
    """Everything here runs as root (real, or of a user namespace of our own) with a usable
    /dev/fuse and the namespace tools (a skip is a failure under CI=true)."""
    problem = _fuse_env_problem()
    if problem:
        pytest.skip(problem)


@pytest.fixture(scope="session")
def rcfs_bin(build_dir, root_env):
    """A snapshot of build/resolvconffs, so that a `make` running meanwhile cannot swap or
    half-write the binary under a running test. Reproducers name the build path."""
    src = build_dir / "resolvconffs"
    if not src.is_file():
        pytest.fail(f"{src} is missing: run `make` first (or set RCFS_BUILD)")
    bindir = os.path.join(fuseutil.base_dir(), "bin")
    os.makedirs(bindir, exist_ok=True)
    os.chmod(bindir, 0o755)
    dst = os.path.join(bindir, "resolvconffs")

    def snapshot():
        shutil.copy2(src, dst + ".new")
        os.replace(dst + ".new", dst)
        r = subprocess.run([dst, "--version"], capture_output=True, timeout=fuseutil.TIMEOUT)
        return r.returncode == 0 and r.stdout.startswith(b"resolvconffs ")
    fuseutil.wait_for(snapshot, fuseutil.TIMEOUT, f"a working copy of {src}", interval=0.2)
    yield dst
    if fuseutil.KEPT:
        print(f"\nresolvconffs FUSE tests: kept {fuseutil.base_dir()} (failed tests' trees)")
    else:
        shutil.rmtree(fuseutil.base_dir(), ignore_errors=True)


@pytest.fixture(scope="session")
def repro_bin(build_dir):
    return str(build_dir / "resolvconffs")


@pytest.fixture
def mount(request, rcfs_bin, repro_bin):
    """mount(**kw) starts resolvconffs over a fresh temporary file (see fuseutil.Daemon for the
    keywords) and waits for the mount. Use it as a context manager (`with mount(...) as m:`) to
    get the teardown checks inside the test; any daemon not torn down by the test is torn down
    here, and its problems fail the test."""
    started = []

    def start(wait=True, **kw):
        d = Daemon(rcfs_bin, repro_binary=repro_bin, **kw)
        started.append(d)
        d.start()
        if wait:
            d.wait_mounted()
        return d

    yield start
    problems = []
    failed = _test_failed(request)
    for d in reversed(started):
        problems += d.teardown(keep=failed)
    if problems:
        pytest.fail("\n".join(problems))


@pytest.fixture
def netns(root_env):
    """netns() creates a network namespace rcfs-test-<random> (fuseutil.Netns: .id, .path, .cmd(),
    .run(), .lo_up()); all are deleted at teardown."""
    made = []

    def make(lo_up=False):
        ns = Netns()
        made.append(ns)
        if lo_up:
            ns.lo_up()
        return ns

    yield make
    for ns in made:
        ns.delete()


@pytest.fixture
def caller(root_env):
    """caller(prefix=(), name=...) starts a long-lived caller process; all are ended at
    teardown (by closing their stdin, then by pid)."""
    started = []

    def start(prefix=(), name="caller", **kw):
        c = Caller(prefix, name=name, **kw)
        started.append(c)
        return c

    yield start
    for c in started:
        c.kill()


@pytest.fixture
def names_dir():
    """A private names directory; bind(name, pid) bind-mounts /proc/PID/ns/net there as
    `ip netns` does in /run/netns. Every bind mount is removed at teardown."""
    d = os.path.join(fuseutil.new_workdir("names"), "netns")
    os.mkdir(d)
    made = []

    def bind(name, pid):
        path = os.path.join(d, name)
        open(path, "w").close()
        made.append(path)
        fuseutil.run(["mount", "--bind", f"/proc/{pid}/ns/net", path], check=True)
        return path

    yield d, bind
    log = []
    for path in made:
        fuseutil.unmount_all(path, log, fuse=False)
    if not fuseutil.any_mount_under(d):
        shutil.rmtree(os.path.dirname(d), ignore_errors=True)


@pytest.fixture
def tmpfs():
    """tmpfs(opts) mounts a fresh tmpfs at <workdir>/backing and returns the workdir; every
    such mount is removed at teardown (after the daemons of the test, which use it)."""
    mounted = []

    def make(opts):
        workdir = fuseutil.new_workdir("tmpfs")
        backing = os.path.join(workdir, "backing")
        os.mkdir(backing)
        fuseutil.run(["mount", "-t", "tmpfs", "-o", opts, "rcfs-test-tmpfs", backing], check=True)
        mounted.append(backing)
        return workdir
    yield make
    for path in mounted:
        fuseutil.run(["umount", "-l", path])
