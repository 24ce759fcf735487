"""The daemon under valgrind memcheck, end to end: mount, reads, writes, stats, template copies and
failing requests from the host and two namespaces, then SIGTERM. Memcheck must report no error
and no definite leak, and the daemon must exit 0."""
import os
import re
import shutil

import pytest

from fuseutil import VALGRIND_TIMEOUT, host_netns_id, is_real_root, run

HOST = b"nameserver 10.0.0.1\n"
TEMPLATE = b"nameserver 192.0.2.1\n" * 4000   # larger than the daemon's 64 KiB read buffer


@pytest.mark.ci_may_skip("the sanitizer build (SAN=1) does not run under valgrind")
def test_daemon_under_valgrind(mount, netns, caller, tmp_path):
    if os.environ.get("SAN") == "1":
        pytest.skip("SAN=1: AddressSanitizer and valgrind do not mix")
    assert shutil.which("valgrind"), "valgrind is not installed"
    log = tmp_path / "valgrind.log"
    a, b = netns(), netns()
    m = mount(wrapper=["valgrind", "--vgdb=no", "--error-exitcode=99", "--leak-check=full",
                       "--errors-for-leak-kinds=definite", "--track-fds=no",
                       f"--log-file={log}"],
              files={f"{host_netns_id()}.conf": HOST}, template=TEMPLATE,
              daemon_exe="",  # valgrind runs the daemon in its own process: signal that pid
              mount_timeout=VALGRIND_TIMEOUT, stop_timeout=VALGRIND_TIMEOUT,
              args=["-v"])
    ca, cb, host = caller(a.cmd(), name="A"), caller(b.cmd(), name="B"), caller(name="host")
    for _ in range(3):
        assert host.read(m.mnt) == HOST
        assert ca.read(m.mnt) == TEMPLATE          # copied from the template the first time
        assert cb.stat(m.mnt)["size"] == len(TEMPLATE)
    fd = ca.open(m.mnt, "O_WRONLY", "O_APPEND")
    cb.stat(m.mnt)
    ca.write(fd, b"options a\n")
    ca.fsync(fd)
    ca.ftruncate(fd, 30)
    ca.close(fd)
    cb.truncate(m.mnt, 5)
    b.run("sh", "-c", f"echo 'nameserver 10.0.0.3' > {m.mnt}", check=True)
    assert ca.read(m.mnt) == TEMPLATE[:30]
    assert cb.read(m.mnt) == b"nameserver 10.0.0.3\n"
    # A failing request too: nobody may not write root's 0644 file (as real root); in a user's
    # own namespace, where only uid 0 exists, root without CAP_DAC_OVERRIDE may not write its
    # 0444 file.
    if is_real_root():
        r = run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                 "sh", "-c", f": >> {m.mnt}"])
    else:
        os.chmod(m.path(f"{host_netns_id()}.conf"), 0o444)
        r = run(["setpriv", "--bounding-set", "-dac_override,-dac_read_search",
                 "sh", "-c", f": >> {m.mnt}"])
    assert r.returncode != 0 and b"Permission denied" in r.stderr, r.stderr

    status = m.stop()
    text = log.read_text()
    print(text)
    summaries = re.findall(r"ERROR SUMMARY: (\d+) errors", text)
    assert summaries and all(s == "0" for s in summaries), text[-3000:]
    assert "definitely lost: 0 bytes" in text or "All heap blocks were freed" in text, text[-3000:]
    assert status == 0, f"exit status {status} after SIGTERM (99 would be memcheck's)"
