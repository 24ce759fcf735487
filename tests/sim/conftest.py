"""Fixtures for the simulator suites (tests/conftest.py provides build_dir)."""
import pytest

from simutil import FakeProc, Sim, sim_path


@pytest.fixture(scope="session")
def sim_bin(build_dir):
    path = sim_path(build_dir)
    if not path.is_file():
        pytest.fail(f"{path} is missing: run `make` first (or set RCFS_BUILD)")
    return path


@pytest.fixture
def fakeproc(tmp_path):
    return FakeProc(tmp_path / "proc")


@pytest.fixture
def backing(tmp_path):
    d = tmp_path / "backing"
    d.mkdir()
    return d


@pytest.fixture
def make_sim(sim_bin, backing, fakeproc):
    """Start a simulator on `backing` with the fake procfs; every one started is killed at teardown
    if the test did not close it."""
    started = []

    def start(backing_dir=None, **kw):
        kw.setdefault("procfs", fakeproc.root)
        s = Sim(sim_bin, backing_dir if backing_dir is not None else backing, **kw)
        started.append(s)
        return s

    yield start
    for s in started:
        s.kill()
