"""Fixtures for the packaging tests: installation, man pages, the systemd unit and its helper,
the dist tarball and the Debian package.

Every build here goes into a temporary build directory (make B=...), never into the tree's build/,
which `make check` is using at the same time.

Tests marked `packaging_slow` (the dist tarball's own `make check`, the .deb build) run only
with RCFS_PACKAGING_SLOW=1, and are deselected otherwise: `make check` runs every other test, also
inside the dist tarball, and must not recurse into itself; CI runs them once, separately.
"""
import os
import pathlib

import pytest

from pkgtest import ROOT, SLOW_ENV, make, makefile_version


def pytest_configure(config):
    config.addinivalue_line("markers",
                            "packaging_slow: runs only with RCFS_PACKAGING_SLOW=1 (minutes)")


def pytest_collection_modifyitems(config, items):
    """Without RCFS_PACKAGING_SLOW=1 the slow tests are deselected, not skipped: they are not part
    of `make check` at all (pytest's summary counts them as deselected), and a skip stays what it
    is everywhere else, a test that could not run here."""
    if os.environ.get(SLOW_ENV) == "1":
        return
    here = pathlib.Path(__file__).resolve().parent
    slow = [item for item in items if item.get_closest_marker("packaging_slow")
            and here in pathlib.Path(item.fspath).parents]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if item not in slow]


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
