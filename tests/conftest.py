"""Shared pytest configuration for every integration suite.

In CI (CI=true) a skipped test is a failure: the FUSE and namespace tests exist to run on a real
kernel, and a silent skip would let a broken environment pass. A test that may legitimately skip
in CI marks itself with @pytest.mark.ci_may_skip and says why.

Tests that genuinely need real root (named namespaces under /run/netns, a caller of a different
real uid, installing packages) mark themselves @pytest.mark.needs_real_root("why"): run by an
ordinary user — also as "root" inside a user namespace it owns — they skip with that reason,
and that skip is allowed in CI.
"""
import os
import pathlib

import pytest

from testenv import is_real_root

BUILD = pathlib.Path(os.environ.get("RCFS_BUILD", pathlib.Path(__file__).resolve().parent.parent / "build"))


def pytest_configure(config):
    config.addinivalue_line("markers", "ci_may_skip(reason): a skip that is allowed under CI=true")
    config.addinivalue_line("markers", "needs_real_root(reason): skipped, with the reason, unless "
                            "run by real root")


def pytest_runtest_setup(item):
    marker = item.get_closest_marker("needs_real_root")
    if marker and not is_real_root():
        reason = marker.args[0] if marker.args else "needs real root"
        pytest.skip(f"needs real root: {reason}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    # A needs_real_root test may skip only when not run by real root: as real root its skip
    # (say, for a missing /dev/fuse) is as much a failure as any other.
    allowed = item.get_closest_marker("ci_may_skip") or (
        item.get_closest_marker("needs_real_root") and not is_real_root())
    if os.environ.get("CI") == "true" and report.skipped and not allowed:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, which is a failure: {reason}"


@pytest.fixture(scope="session")
def build_dir():
    return BUILD
