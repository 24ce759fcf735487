"""The original tool's documented example, `resolvconffs -d TEMPLATE BACKING MOUNTPOINT &`, run
as written by a shell in the background (over a temporary file instead of /etc/resolv.conf)."""
import os
import shlex
import stat

from fuseutil import TIMEOUT, Daemon, child_subreaper, exe_of, host_netns_id, run

TEMPLATE = b"# saved host resolv.conf\nnameserver 192.0.2.53\nsearch example.test\n"


def test_documented_example_in_background(rcfs_bin, repro_bin):
    d = Daemon(rcfs_bin, repro_binary=repro_bin, template=TEMPLATE, template_mode=0o640)
    failed = True
    with child_subreaper():
        try:
            # The shell returns at once; the daemon stays in the foreground of its own job and is
            # re-parented to us (the child subreaper) when the shell exits.
            script = (f"{shlex.join([rcfs_bin, *d.args])} >{shlex.quote(d.stdout_path)} "
                      f"2>{shlex.quote(d.stderr_path)} &\n"
                      "echo $!\n")
            sh = run(["sh", "-c", script], cwd=d.workdir, timeout=TIMEOUT)
            assert sh.returncode == 0, sh.stderr
            d.adopt(int(sh.stdout))
            d.wait_mounted()
            # It stays in the foreground of its job: $! is the daemon itself, still running.
            assert d.pid == d.proc.pid and exe_of(d.pid) == rcfs_bin

            with open(d.mnt, "rb") as f:
                assert f.read() == TEMPLATE
            host_file = f"{host_netns_id()}.conf"
            assert d.listing() == [host_file]
            assert d.read_backing(host_file) == TEMPLATE
            assert stat.S_IMODE(os.stat(d.path(host_file)).st_mode) == 0o640
            assert os.stat(d.mnt).st_size == len(TEMPLATE)
            # The file name is what `readlink /proc/self/ns/net` says, as a shell would see it.
            link = run(["readlink", "/proc/self/ns/net"], check=True).stdout.decode().strip()
            assert host_file == link.removeprefix("net:[").removesuffix("]") + ".conf"
            lines = d.stderr_lines()
            assert len(lines) == 1 and lines[0].startswith("resolvconffs: serving "), lines
            failed = False
        finally:
            problems = d.teardown(keep=failed)
    assert not problems, "\n".join(problems)
