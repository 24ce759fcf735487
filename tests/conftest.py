"""Shared pytest configuration for every integration suite.

In CI (CI=true) a skipped test is a failure: the FUSE and namespace tests exist to run on a real
kernel, and a silent skip would let a broken environment pass. A test that may legitimately skip
in CI marks itself with @pytest.mark.ci_may_skip and says why.
"""
import os
import pathlib

import pytest

BUILD = pathlib.Path(os.environ.get("RCFS_BUILD", pathlib.Path(__file__).resolve().parent.parent / "build"))


def pytest_configure(config):
    config.addinivalue_line("markers", "ci_may_skip(reason): a skip that is allowed under CI=true")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") == "true" and report.skipped and not item.get_closest_marker("ci_may_skip"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, which is a failure: {reason}"


@pytest.fixture(scope="session")
def build_dir():
    return BUILD
