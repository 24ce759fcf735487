"""Logging: one startup line; no per-request lines at the default level; per-request lines with
-v (or --log-level debug)."""
import re

import pytest

from fuseutil import TIMEOUT, host_netns_id, rcfs_mounts, run, wait_for

HOST = b"nameserver 10.0.0.1\n"
REQUEST = re.compile(r"resolvconffs: (getattr|setattr|open|read|write|flush|fsync|release|access) "
                     r"pid=(-?\d+) uid=(\d+): (.*)")


def exercise(m, ns, caller):
    """Some requests of every kind, from the host, a namespace and a helper process."""
    c = caller(ns.cmd(), name="ns")
    run(["cat", m.mnt], check=True)
    run(["stat", m.mnt], check=True)
    ns.run("sh", "-c", f"echo 'options x' >> {m.mnt}", check=True)
    ns.run("truncate", "-s", "3", m.mnt, check=True)
    c.read(m.mnt)
    c.stat(m.mnt)
    return c


def startup_lines(lines):
    return [ln for ln in lines if ln.startswith("resolvconffs: serving ")]


def test_default_level_prints_only_the_startup_line(mount, netns, caller):
    ns = netns()
    m = mount(files={f"{host_netns_id()}.conf": HOST}, template=HOST)
    exercise(m, ns, caller)
    m.stop()
    lines = m.stderr_lines()
    assert len(lines) == 1, lines
    line = lines[0]
    assert line.startswith("resolvconffs: serving ")
    # It names the mountpoint and the backing directory it serves from.
    assert m.mnt in line and m.backing in line


@pytest.mark.parametrize("opts", [["-v"], ["--verbose"], ["--log-level", "debug"],
                                  ["--log-level=debug"]], ids=lambda o: " ".join(o))
def test_verbose_logs_every_request(mount, netns, caller, opts):
    ns = netns()
    m = mount(files={f"{host_netns_id()}.conf": HOST}, template=HOST, args=opts)
    c = exercise(m, ns, caller)
    m.stop()
    lines = m.stderr_lines()
    assert len(startup_lines(lines)) == 1, lines
    reqs = [REQUEST.fullmatch(ln) for ln in lines]
    reqs = [r for r in reqs if r]
    ops = {r.group(1) for r in reqs}
    assert {"getattr", "open", "read", "write", "setattr", "release"} <= ops, ops
    # The caller's pid (the thread id of its request) is in its lines.
    assert any(int(r.group(2)) == c.pid for r in reqs), f"no line for pid {c.pid}"
    assert all(r.group(4) == "ok" for r in reqs), [r.group(0) for r in reqs if r.group(4) != "ok"]


def test_verbose_logs_failed_requests_with_their_errno(mount, netns):
    m = mount(args=["-v"])   # no template, no files: every caller gets ENOENT
    ns = netns()
    r = ns.run("cat", m.mnt)
    assert b"No such file or directory" in r.stderr
    m.stop()
    lines = m.stderr_lines()
    fails = [REQUEST.fullmatch(ln) for ln in lines]
    assert any(f and f.group(4) == "No such file or directory" for f in fails), lines


def test_info_level_is_the_default(mount, netns, caller):
    ns = netns()
    m = mount(files={f"{host_netns_id()}.conf": HOST}, template=HOST, args=["--log-level", "info"])
    exercise(m, ns, caller)
    m.stop()
    lines = m.stderr_lines()
    assert len(lines) == 1 and lines[0].startswith("resolvconffs: serving "), lines


def test_startup_line_comes_after_the_mount(mount):
    """The line says the file is served: by the time it is written the mount is there."""
    m = mount(files={f"{host_netns_id()}.conf": HOST}, wait=False)
    wait_for(lambda: startup_lines(m.stderr_lines()) or m.proc.poll() is not None, TIMEOUT,
             "the startup line")
    assert rcfs_mounts(m.mnt), "the startup line was printed before the mount existed"
    # It stays in the foreground: the process we started is the daemon itself.
    assert m.proc.poll() is None
    m.wait_mounted()
    assert m.pid == m.proc.pid


def test_warns_about_a_backing_directory_others_can_write(mount):
    """DESIGN.md: the directory should not be writable by others, and the daemon says so."""
    m = mount(files={f"{host_netns_id()}.conf": HOST}, backing_mode=0o777,
              stderr_ok=[r"resolvconffs: warning: backing directory .*"])
    assert run(["cat", m.mnt], check=True).stdout == HOST
    m.stop()
    warnings = [ln for ln in m.stderr_lines() if ln.startswith("resolvconffs: warning: ")]
    assert len(warnings) == 1 and m.backing in warnings[0] and "777" in warnings[0], warnings
