"""Helpers shared by the packaging tests (a module of its own: every test directory has a
conftest.py, and `from conftest import ...` would get whichever was imported first)."""
import os
import pathlib
import re
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
SLOW_ENV = "RCFS_PACKAGING_SLOW"


def clean_env(**extra):
    """The environment for a nested make or package build: no make jobserver or command-line
    variables of an outer make, no sanitizer build, no outer build directory, no recursion into
    the slow tests."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "SAN", "RCFS_BUILD",
                        SLOW_ENV, "DESTDIR", "PREFIX", "BINDIR", "LIBEXECDIR", "MANDIR",
                        "SYSTEMDUNITDIR", "B")}
    env.setdefault("LC_ALL", "C.UTF-8")
    env.update(extra)
    return env


def run(cmd, cwd=ROOT, env=None, timeout=600, check=True):
    """Run cmd (a list), capture its output, and fail with all of it on a bad exit status."""
    p = subprocess.run(cmd, cwd=cwd, env=env if env is not None else clean_env(),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout)
    if check and p.returncode != 0:
        pytest.fail(f"{' '.join(map(str, cmd))} exited {p.returncode}\n"
                    f"--- stdout\n{p.stdout[-6000:]}\n--- stderr\n{p.stderr[-6000:]}")
    return p


def make(*args, b, cwd=ROOT, **kw):
    return run(["make", "--no-print-directory", f"B={b}", *args], cwd=cwd, **kw)


def makefile_version(root=ROOT):
    m = re.search(r"^VERSION\s*:?=\s*(\S+)\s*$", (root / "Makefile").read_text(), re.M)
    assert m, "no VERSION := ... line in the Makefile"
    return m.group(1)


def require_tool(name, package):
    if shutil.which(name) is None:
        pytest.skip(f"{name} is missing: apt-get install {package}")
