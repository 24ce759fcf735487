"""Real network namespaces, no root: the simulator with `-P /proc` serves each real namespace its
own backing file, and the files are created by an unprivileged user.

Arrangement. Everything runs as one unprivileged uid U: 65534 via `setpriv --reuid=65534
--regid=65534 --clear-groups` when the suite runs as root, the current user otherwise.
- The "owner" is `unshare --user --map-root-user sleep 60` started as U: a user namespace of U's.
  setpriv and unshare exec, so the Popen pid is the process's own pid.
- Each "sleeper" is `nsenter --preserve-credentials --user --target OWNER unshare --net sleep 60`:
  a new network namespace owned by the owner's user namespace (U owns that user namespace, so it
  may enter it; --preserve-credentials because setgroups is denied there).
- A second process in an existing sleeper's namespaces is `nsenter --preserve-credentials --user
  --net --target PID sleep 60`, also as U.
- The simulator runs as U in the owner's user namespace (as its root) and the initial network
  namespace, with -P /proc. A file is created only for a namespace that the simulator's own user
  namespace owns (or its own namespace): one made in a user namespace of its own by anybody would
  otherwise let any user fill the backing directory. `outside=True` runs the simulator in the
  initial user namespace instead, where the sleepers' namespaces get the template, and no file.

Why the simulator may read the sleepers' `/proc/PID/ns/net`: the link needs ptrace-read access
(PTRACE_MODE_READ_FSCREDS). The kernel compares kernel uids, and a sleeper's credentials are kuid U
(it is "root" only inside its own user namespace), the same as the simulator's fsuid; the sleeper is
dumpable because `sleep` is an ordinary readable binary exec'd without a privilege change. So the
check passes without CAP_SYS_PTRACE and no namespace nesting is needed. The converse holds too: as U
the simulator may not read the link of another user's process (checked below when one exists).
"""
import os
import pathlib
import shutil
import subprocess

import pytest

from simutil import Sim, listing, shared_tmpdir, unprivileged_prefix, wait_for

UNSHARE = ["unshare", "--user", "--map-root-user", "--net"]


def ns_id(pid):
    text = os.readlink(f"/proc/{pid}/ns/net")
    assert text.startswith("net:[") and text.endswith("]"), text
    return int(text[5:-1])


class Realns:
    def __init__(self):
        self.prefix, self.uid, self.gid = unprivileged_prefix()
        self.procs = []
        self.owner = None
        self.dir = shared_tmpdir("rcfs-realns-")
        self.backing = self.dir / "backing"
        self.backing.mkdir(mode=0o755)
        os.chown(self.backing, self.uid, self.gid)
        self.template = self.dir / "template"
        self.template.write_text("# from template\n")
        self.template.chmod(0o644)

    def _start(self, argv):
        p = subprocess.Popen(self.prefix + argv, stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=self.dir)
        self.procs.append(p)

        def ready():
            if p.poll() is not None:
                raise AssertionError(f"{argv} exited {p.returncode}: "
                                     f"{p.stderr.read().decode(errors='replace')}")
            try:
                return pathlib.Path(f"/proc/{p.pid}/comm").read_text() == "sleep\n"
            except FileNotFoundError:
                return False

        # setpriv, unshare and nsenter all exec: once the pid runs `sleep`, its namespaces are set.
        wait_for(ready, timeout=15, what=f"{argv} to reach sleep")
        return p.pid

    def in_owner(self):
        """The argv prefix that enters the owner's user namespace (started on first use)."""
        if self.owner is None:
            self.owner = self._start(["unshare", "--user", "--map-root-user", "sleep", "60"])
        return ["nsenter", "--preserve-credentials", "--user", f"--target={self.owner}"]

    def sleeper(self):
        """A process as U in a new network namespace owned by the owner's user namespace."""
        return self._start(self.in_owner() + ["unshare", "--net", "sleep", "60"])

    def foreign_sleeper(self):
        """A process as U in a new user namespace with its own new network namespace."""
        return self._start(UNSHARE + ["sleep", "60"])

    def joiner(self, target):
        """A second process as U in target's user and network namespaces."""
        return self._start(["nsenter", "--preserve-credentials", "--user", "--net",
                            f"--target={target}", "sleep", "60"])

    def sim(self, sim_bin, outside=False):
        # A copy U can execute wherever the checkout lies (a mktemp -d clone is mode 0700).
        copy = self.dir / "resolvconffs-sim"
        if not copy.exists():
            shutil.copy2(sim_bin, copy)
        prefix = self.prefix + ([] if outside else self.in_owner())
        return Sim(copy, self.backing, procfs="/proc", default_file=self.template,
                   prefix=prefix, cwd=self.dir)

    def stop(self, pid):
        for p in self.procs:
            if p.pid == pid and p.poll() is None:
                p.kill()
                p.wait(timeout=15)

    def cleanup(self):
        for p in self.procs:  # only what we started, by pid
            if p.poll() is None:
                p.kill()
            try:
                p.wait(timeout=15)
            finally:
                p.stderr.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def realns():
    prefix, _, _ = unprivileged_prefix()
    if prefix and shutil.which("setpriv") is None:
        pytest.skip("setpriv is not installed")
    probe = subprocess.run(prefix + UNSHARE + ["true"], capture_output=True, timeout=30)
    if probe.returncode != 0:
        pytest.skip("unprivileged user+net namespaces unavailable: "
                    + probe.stderr.decode(errors="replace").strip())
    env = Realns()
    try:
        yield env
    finally:
        env.cleanup()


def test_two_real_namespaces_get_two_backing_files(sim_bin, realns):
    pid_a = realns.sleeper()
    pid_b = realns.sleeper()
    id_a, id_b, id_host = ns_id(pid_a), ns_id(pid_b), ns_id(os.getpid())
    assert len({id_a, id_b, id_host}) == 3

    with realns.sim(sim_bin) as s:
        # The simulator itself lives in the test's network namespace.
        assert s.key(s.proc.pid) == f"ok {id_host}"
        assert s.key(pid_a) == f"ok {id_a}"
        assert s.key(pid_b) == f"ok {id_b}"
        assert listing(realns.backing) == []  # key touches nothing

        assert s.write(pid_a, "a") == "ok 2"
        assert s.write(pid_b, "b") == "ok 2"
        r = s.read(pid_a)
        assert (r.line, r.data) == ("ok 2", b"a\n")
        r = s.read(pid_b)
        assert (r.line, r.data) == ("ok 2", b"b\n")
        assert s.append(pid_b, "bb") == "ok 3"
        assert s.read(pid_a).data == b"a\n"
        assert s.read(pid_b).data == b"b\nbb\n"
        # U is root inside the owner's user namespace, where the simulator looks from.
        assert s.stat(pid_a) == "ok size=2 mode=644 uid=0 gid=0"
        assert s.stat(pid_b) == "ok size=5 mode=644 uid=0 gid=0"

    assert listing(realns.backing) == sorted([f"{id_a}.conf", f"{id_b}.conf"])
    assert (realns.backing / f"{id_a}.conf").read_bytes() == b"a\n"
    assert (realns.backing / f"{id_b}.conf").read_bytes() == b"b\nbb\n"
    for ident in (id_a, id_b):
        st = os.stat(realns.backing / f"{ident}.conf")
        assert (st.st_uid, st.st_gid) == (realns.uid, realns.gid)  # made by the unprivileged user


def test_processes_in_one_real_namespace_share_a_file(sim_bin, realns):
    pid_a = realns.sleeper()
    pid_a2 = realns.joiner(pid_a)
    pid_b = realns.sleeper()
    assert ns_id(pid_a) == ns_id(pid_a2) != ns_id(pid_b)
    with realns.sim(sim_bin) as s:
        assert s.key(pid_a2) == f"ok {ns_id(pid_a)}"
        assert s.write(pid_a, "shared") == "ok 7"
        assert s.read(pid_a2).data == b"shared\n"
        r = s.read(pid_b)  # created from the template, not the neighbour's file
        assert (r.line, r.data) == ("ok 16", b"# from template\n")
    assert listing(realns.backing) == sorted([f"{ns_id(pid_a)}.conf", f"{ns_id(pid_b)}.conf"])


def test_exited_process_is_esrch(sim_bin, realns):
    pid = realns.sleeper()
    ident = ns_id(pid)
    with realns.sim(sim_bin) as s:
        assert s.key(pid) == f"ok {ident}"
        realns.stop(pid)  # killed and reaped: /proc/<pid> is gone
        assert not os.path.exists(f"/proc/{pid}")
        assert s.key(pid) == "err ESRCH"
        assert s.read(pid) == "err ESRCH"
    assert listing(realns.backing) == []


def test_namespaces_of_a_foreign_user_namespace_get_the_template_and_no_file(sim_bin, realns):
    """Anybody can make namespaces by the thousand in a user namespace of their own: those are
    served the template as a copy would hold it, but never make the simulator create a file."""
    pid = realns.foreign_sleeper()
    with realns.sim(sim_bin, outside=True) as s:
        assert s.key(pid) == f"ok {ns_id(pid)}"
        r = s.read(pid)
        assert (r.line, r.data) == ("ok 16", b"# from template\n")
        tmpl = os.stat(realns.template)  # the template's attributes
        assert s.stat(pid) == f"ok size=16 mode=644 uid={tmpl.st_uid} gid={tmpl.st_gid}"
        assert s.write(pid, "x") == "err EROFS"
        assert s.append(pid, "x") == "err EROFS"
        assert s.truncate(pid, 0) == "err EROFS"
        assert s.read(pid).data == b"# from template\n"
    assert listing(realns.backing) == []


@pytest.mark.ci_may_skip("needs a process owned by another user than the simulator's")
def test_other_users_process_is_refused(sim_bin, realns):
    """As U the simulator must not resolve (let alone serve) another user's process."""
    target = os.getpid() if realns.prefix else 1
    if os.stat(f"/proc/{target}").st_uid == realns.uid:
        pytest.skip(f"pid {target} belongs to uid {realns.uid} too")
    with realns.sim(sim_bin) as s:
        assert s.key(target) == "err EACCES"
        assert s.read(target) == "err EACCES"
        assert s.write(target, "x") == "err EACCES"
    assert listing(realns.backing) == []
