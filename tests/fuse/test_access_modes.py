"""--access-check=kernel (default_permissions) and --access-check=daemon must decide every access
the same way (README "Access checks in the daemon"): owner, primary group, supplementary group,
other, root with and without capabilities; read, write, O_TRUNC (a denied one truncates nothing),
access(2), chmod, truncate and touch. Daemon mode saves one GETATTR per open."""
import os
import re
import signal
import time

import pytest

from fuseutil import host_netns_id, rcfs_mounts, run, wait_for

MODES = ["kernel", "daemon"]
CONTENT = b"nameserver 10.0.0.1\n"
OWNER_UID, FILE_GID = 4242, 4343
OTHER_UID, OTHER_GID = 4250, 4251

IDENTITIES = {
    "owner": ["setpriv", f"--reuid={OWNER_UID}", f"--regid={OTHER_GID}", "--clear-groups"],
    "group": ["setpriv", f"--reuid={OTHER_UID}", f"--regid={FILE_GID}", "--clear-groups"],
    "supplementary": ["setpriv", f"--reuid={OTHER_UID}", f"--regid={OTHER_GID}",
                      f"--groups={FILE_GID}"],
    "other": ["setpriv", f"--reuid={OTHER_UID}", f"--regid={OTHER_GID}", "--clear-groups"],
    "root": [],
    "root-no-caps": ["setpriv", "--inh-caps=-all", "--bounding-set=-all"],
}

PERL_OPEN = ('use Fcntl; sysopen(my $f, $ARGV[0], O_RDONLY|O_TRUNC) or die "$!\\n"')
PERL_TRUNCATE = 'truncate($ARGV[0], 0) or die "$!\\n"'   # truncate(2): by path, no handle
OLD_TIME = 978307200  # 2001-01-01T00:00:00Z

# Each operation: (argv after the identity prefix, what it changes when it succeeds). The
# file is reset before every operation.
OPS = {
    "read": ["cat", "{mnt}"],
    "append": ["sh", "-c", 'printf "options x\\n" >> "$1"', "sh", "{mnt}"],
    "trunc-write": ["sh", "-c", 'printf "nameserver 6.6.6.6\\n" > "$1"', "sh", "{mnt}"],
    "rdonly-trunc": ["perl", "-e", PERL_OPEN, "{mnt}"],
    "test-r": ["env", "test", "-r", "{mnt}"],
    "test-w": ["env", "test", "-w", "{mnt}"],
    "test-x": ["env", "test", "-x", "{mnt}"],
    "chmod": ["chmod", "0604", "{mnt}"],
    "truncate-s": ["truncate", "-s", "0", "{mnt}"],
    "truncate-path": ["perl", "-e", PERL_TRUNCATE, "{mnt}"],
    "touch": ["touch", "{mnt}"],
    "touch-d": ["touch", "-d", "@%d" % OLD_TIME, "{mnt}"],
    "chgrp": ["chgrp", str(OTHER_GID), "{mnt}"],   # the owner's own (primary) group
    "chown": ["chown", str(OTHER_UID), "{mnt}"],
    "chown-same": ["chown", str(OWNER_UID), "{mnt}"],   # a no-op change of the owner
}

# (identity, file mode) -> the set of operations that succeed; every other one is denied.
W = {"append", "trunc-write", "test-w", "truncate-s", "truncate-path", "touch"}
R = {"read", "test-r"}
ALL = set(OPS)
OWNS = {"chmod", "touch-d", "chgrp", "chown-same"}  # what ownership allows whatever the bits say
CASES = {
    ("owner", 0o600): ALL - {"chown", "test-x"},
    ("owner", 0o700): ALL - {"chown"},
    ("owner", 0o100): OWNS | {"touch", "test-x"},
    ("owner", 0o400): R | OWNS | {"touch"},
    ("owner", 0o200): W | OWNS,
    ("owner", 0o066): OWNS | {"touch"},                       # the owner triad decides
    ("group", 0o640): R,
    ("group", 0o606): set(),                                 # the group triad decides
    ("group", 0o660): R | W | {"rdonly-trunc"},
    ("supplementary", 0o640): R,
    ("supplementary", 0o604): set(),
    ("supplementary", 0o620): W,
    ("other", 0o604): R,
    ("other", 0o640): set(),
    ("other", 0o606): R | W | {"rdonly-trunc"},
    ("other", 0o001): {"test-x"},
    ("group", 0o010): {"test-x"},
    ("group", 0o001): set(),
    ("root", 0o600): ALL - {"test-x"},       # DAC override grants execute only with an x bit
    ("root", 0o000): ALL - {"test-x"},
    ("root", 0o010): ALL,
    ("root-no-caps", 0o600): set(),
    ("root-no-caps", 0o644): R,
    ("root-no-caps", 0o601): {"test-x"},
}


@pytest.fixture(params=MODES)
def mode(request):
    return request.param


@pytest.fixture
def mounted(mount, mode):
    host = f"{host_netns_id()}.conf"
    m = mount(args=["--access-check", mode], files={host: CONTENT})
    return m, host


def reset(m, host, filemode):
    path = m.path(host)
    with open(path, "wb") as f:
        f.write(CONTENT)
    os.chown(path, OWNER_UID, FILE_GID)
    os.chmod(path, filemode)
    os.utime(path, (1_600_000_000, 1_600_000_000))


def effect(m, host):
    st = os.stat(m.path(host))
    return m.read_backing(host), st.st_mode & 0o7777, st.st_mtime, st.st_uid, st.st_gid


@pytest.mark.needs_real_root("callers of other real uids and gids (setpriv)")
@pytest.mark.parametrize("who,filemode", sorted(CASES), ids=[f"{w}-{m:04o}" for w, m in
                                                             sorted(CASES)])
def test_outcome(mounted, mode, who, filemode):
    m, host = mounted
    allowed = CASES[(who, filemode)]
    wrong = []
    for op, argv in OPS.items():
        reset(m, host, filemode)
        before = effect(m, host)
        cmd = [*IDENTITIES[who], *(a.replace("{mnt}", m.mnt) for a in argv)]
        r = run(cmd)
        ok = r.returncode == 0
        if op == "read" and ok:
            assert r.stdout == CONTENT
        if ok != (op in allowed):
            wrong.append(f"{op}: {'allowed' if ok else 'denied'} ({r.stderr.decode().strip()}), "
                         f"expected {'allowed' if op in allowed else 'denied'}; "
                         f"`{' '.join(cmd)}`")
        if not ok and effect(m, host) != before:
            wrong.append(f"{op}: denied, yet the file changed: {before} -> {effect(m, host)}")
        if ok and op in ("trunc-write", "rdonly-trunc", "truncate-s", "truncate-path"):
            want = b"nameserver 6.6.6.6\n" if op == "trunc-write" else b""
            assert m.read_backing(host) == want, op
    assert not wrong, (f"--access-check={mode}, {who} on a {filemode:04o} file owned by "
                       f"{OWNER_UID}:{FILE_GID}:\n  " + "\n  ".join(wrong)
                       + f"\nreproducer: {m.reproducer()}")


@pytest.mark.needs_real_root("a caller of another real uid (setpriv)")
def test_denied_o_trunc_truncates_nothing_with_a_long_lived_caller(mounted, caller):
    m, host = mounted
    reset(m, host, 0o644)
    c = caller(IDENTITIES["other"], name="other")
    for flags in (["O_WRONLY", "O_TRUNC"], ["O_RDWR", "O_TRUNC"], ["O_RDONLY", "O_TRUNC"]):
        assert c.errno_of("open", m.mnt, *flags) == 13, flags   # EACCES
        assert m.read_backing(host) == CONTENT, flags
    assert c.read(m.mnt) == CONTENT


def test_mount_options(mounted, mode):
    m, host = mounted
    (entry,) = rcfs_mounts(m.mnt)
    opts = entry["options"].split(",")
    assert "allow_other" in opts
    assert ("default_permissions" in opts) == (mode == "kernel"), entry["line"]


REQUESTS = r"resolvconffs: requests: (?P<counts>(\w+=\d+ ?)+)"


def counts(m, n):
    """Send SIGUSR1 and return the counts of the n-th requests line."""
    os.kill(m.pid, signal.SIGUSR1)
    rx = re.compile(REQUESTS)

    def nth():
        hits = [mt for mt in map(rx.fullmatch, m.stderr_lines()) if mt]
        return hits[n - 1] if len(hits) >= n else None
    hit = wait_for(nth, 10, f"requests line {n} on SIGUSR1")
    return {k: int(v) for k, v in (kv.split("=") for kv in hit["counts"].split())}


def test_daemon_mode_saves_one_getattr_per_open(mount):
    """`cat` on the mount: with default_permissions the kernel asks for the attributes once to
    check the open and once for cat's fstat; in daemon mode only the fstat remains. Counted with
    -v (SIGUSR1 prints the counts, as does the exit)."""
    n = 20
    per_cat = {}
    for mode in MODES:
        m = mount(args=["-v", "--access-check", mode], files={f"{host_netns_id()}.conf": CONTENT})
        assert run(["cat", m.mnt], check=True).stdout == CONTENT
        before = counts(m, 1)
        for _ in range(n):
            assert run(["cat", m.mnt], check=True).stdout == CONTENT
        # RELEASE is sent after close(2) has returned (asynchronously): cat may have exited
        # before the daemon counted its last one. Ask again until it is in.
        for line in range(2, 52):
            after = counts(m, line)
            diff = {k: after[k] - before[k] for k in after}
            if diff["release"] >= n:
                break
            time.sleep(0.1)
        assert diff["open"] == n and diff["release"] == n, diff
        assert diff["access"] == 0, diff
        per_cat[mode] = diff["getattr"]
        m.stop()
        # At exit the counts are printed once more and cover everything.
        final = [ln for ln in m.stderr_lines() if re.fullmatch(REQUESTS, ln)]
        assert len(final) == line + 1, m.stderr_text()
        assert m.teardown() == []
    assert per_cat["kernel"] - per_cat["daemon"] == n, per_cat


def test_without_v_no_counts_at_exit(mount):
    m = mount(files={f"{host_netns_id()}.conf": CONTENT})
    run(["cat", m.mnt], check=True)
    assert m.stop() == 0
    assert not [ln for ln in m.stderr_lines() if "requests:" in ln]


@pytest.mark.needs_real_root("files owned by another uid; the caller maps root to real root")
def test_capabilities_in_a_child_user_namespace(mounted, mode):
    """A process that is root in a user namespace of its own (`unshare --user --map-root-user`,
    kernel uid 0) has no capabilities over a file whose owner that namespace does not map: both
    modes deny. README: in daemon mode capabilities count only for callers in the daemon's own
    user namespace, so there a root-owned 0000 file is denied too (the kernel, which also
    honours capabilities over ids a child namespace maps, allows that one: see the report)."""
    m, host = mounted
    userns = ["unshare", "--user", "--map-root-user"]
    reset(m, host, 0o600)
    r = run([*userns, "cat", m.mnt])
    assert r.returncode != 0 and b"Permission denied" in r.stderr, r
    r = run([*userns, "sh", "-c", f": >> {m.mnt}"])
    assert r.returncode != 0, r
    assert m.read_backing(host) == CONTENT
    if mode == "daemon":
        reset(m, host, 0o000)
        os.chown(m.path(host), 0, 0)
        r = run([*userns, "cat", m.mnt])
        assert r.returncode != 0 and b"Permission denied" in r.stderr, r
