"""Shared pytest configuration for every integration suite.

In CI (CI=true) a skipped test is a failure: the FUSE and namespace tests exist to run on a real
kernel, and a silent skip would let a broken environment pass. A test that may legitimately skip
in CI marks itself with @pytest.mark.ci_may_skip and says why.

Tests that need root with other ids (callers of other uids and gids, files owned by them, named
namespaces under /run/netns and /etc/netns) mark themselves @pytest.mark.needs_real_root("why").
Despite the name, real root is not required: they run as real root, and as root of a user
namespace that maps other ids, which tests/fuse/userns.sh makes for an ordinary user with a
subordinate id range (testenv.can_act_as_root). Where it cannot (no range in /etc/subuid and
/etc/subgid, no newuidmap) they skip, saying how to add a range, and under CI=true that skip is a
failure: CI gives its unprivileged user a range.

What no user namespace can do (a kernel rule that looks at the initial user namespace) is marked
@pytest.mark.needs_init_userns("the kernel rule"): it runs only as real root, and is the only
skip allowed under CI=true in an ordinary user's run besides ci_may_skip.
"""
import os
import pathlib

import pytest

from testenv import can_act_as_root, is_real_root, multi_id_reason

BUILD = pathlib.Path(os.environ.get("RCFS_BUILD", pathlib.Path(__file__).resolve().parent.parent / "build"))


def pytest_configure(config):
    config.addinivalue_line("markers", "ci_may_skip(reason): a skip that is allowed under CI=true")
    config.addinivalue_line("markers", "needs_real_root(reason): needs root with other ids: runs "
                            "as real root or as root of a user namespace with a subordinate id "
                            "range (tests/fuse/userns.sh); skipped, saying how to add a range, "
                            "elsewhere")
    config.addinivalue_line("markers", "needs_init_userns(kernel rule): runs only as real root; "
                            "the reason names the kernel rule no user namespace can satisfy")


def _why(marker, default):
    return marker.args[0] if marker and marker.args else default


def pytest_runtest_setup(item):
    init = item.get_closest_marker("needs_init_userns")
    if init and not is_real_root():
        pytest.skip(f"needs the initial user namespace: {_why(init, 'a kernel rule')}")
    marker = item.get_closest_marker("needs_real_root")
    if marker and not can_act_as_root():
        pytest.skip(f"{multi_id_reason()} (needed for: {_why(marker, 'other ids')})")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    # A needs_init_userns test may skip only when not run by real root: as real root its skip
    # (say, for a missing /dev/fuse) is as much a failure as any other. A needs_real_root skip is
    # a failure too: CI gives its ordinary user the subordinate ids that make it run.
    allowed = item.get_closest_marker("ci_may_skip") or (
        item.get_closest_marker("needs_init_userns") and not is_real_root())
    if os.environ.get("CI") == "true" and report.skipped and not allowed:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, which is a failure: {reason}"


@pytest.fixture(scope="session")
def build_dir():
    return BUILD
