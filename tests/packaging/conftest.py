"""Fixtures for the packaging tests: installation, man pages, the systemd unit and its helper,
the dist tarball and the Debian package.

Every build here goes into a temporary build directory (make B=...), never into the tree's build/,
which `make check` is using at the same time.

Tests marked `packaging_slow` (the dist tarball's own `make check`, the .deb build) run only
with RCFS_PACKAGING_SLOW=1: `make check` runs every test, also inside the dist tarball, and must
not recurse into itself; CI runs them once, separately. Their skip is a ci_may_skip one.
"""
import os
import pathlib

import pytest

from pkgtest import ROOT, SLOW_ENV, make, makefile_version


def pytest_configure(config):
    config.addinivalue_line("markers",
                            "packaging_slow: runs only with RCFS_PACKAGING_SLOW=1 (minutes)")


def pytest_collection_modifyitems(config, items):
    if os.environ.get(SLOW_ENV) == "1":
        return
    reason = (f"slow packaging test: runs with {SLOW_ENV}=1 (CI runs it once, "
              "not inside every `make check`)")
    here = pathlib.Path(__file__).resolve().parent
    for item in items:
        if item.get_closest_marker("packaging_slow") and here in pathlib.Path(item.fspath).parents:
            item.add_marker(pytest.mark.ci_may_skip(reason))
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def root():
    return ROOT


@pytest.fixture(scope="session")
def version():
    return makefile_version()


@pytest.fixture(scope="session")
def pkg_build(tmp_path_factory):
    """A build directory of its own with everything `make install` needs."""
    b = tmp_path_factory.mktemp("pkg-build") / "build"
    make("installable", b=b)
    return b
