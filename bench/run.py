#!/usr/bin/python3
"""Benchmark resolvconffs against a minimal per-namespace FUSE file and a plain tmpfs file.

Needs root (network namespaces, mounts) and the built tools: `make bench-build`, or just `make bench`.

Three subjects are mounted side by side on a private tmpfs and loaded by build/bench-loadgen, whose
threads each join their own network namespace:
  plain         a regular file on the tmpfs: the no-FUSE ceiling
  floor         build/bench-floor: the same per-request namespace lookup, constant bytes, no files
  resolvconffs  build/resolvconffs, with one pre-created backing file per namespace (distinct
                content and size) and a -d template
Every answer is checked (bench-loadgen exits non-zero on any mismatch, and this run stops).
Rounds are interleaved: every subject runs once per round, in a rotating order, and the ratios are
medians of per-round ratios. Around each resolvconffs run the daemon's SIGUSR1 counters are read,
giving FUSE requests per operation. Nothing here asserts a speed.

By default two configurations are measured: everything pinned to one CPU with one client thread
(the whole cost of an operation, client + kernel + daemon, on one core) and unpinned with two
client threads. --scale instead measures 1,000 namespaces (client threads walking through all of
them) against 2, and the daemon's peak RSS.

Everything created is removed on exit, also on failure or Ctrl-C: daemons get SIGTERM by PID, FUSE
mounts are unmounted (fusermount3 -u, then umount -l), the tmpfs is unmounted and the namespaces
are deleted in one `ip -batch`.
"""
import argparse
import ctypes
import json
import os
import platform
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SUBJECTS = ("plain", "floor", "resolvconffs")
MODES = ("stat", "read", "resolv", "glibc", "write")
DEFAULT_MODES = ("stat", "read", "resolv", "write")
OPS = ("getattr", "setattr", "open", "read", "write", "flush", "fsync", "release")
CLONE_NEWNET = 0x40000000


class BenchError(Exception):
    pass


class Interrupted(BaseException):
    pass


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def floor_content(ns_id):
    """The bytes bench-floor serves to namespace ns_id (floor_content() in bench/floor.c)."""
    return ("# bench-floor: constant content for network namespace %d\n"
            "nameserver 10.%d.%d.%d\n"
            "options timeout:1 attempts:1\n"
            "search floor.invalid\n" % (ns_id, (ns_id >> 16) & 255, (ns_id >> 8) & 255, ns_id & 255))


def backing_content(i, name, ns_id):
    """A resolv.conf of about 200 bytes, different in content and size for every namespace."""
    text = ("# resolvconffs bench: namespace %s, net:[%d]\n"
            "nameserver 10.%d.%d.53\n"
            "nameserver 10.%d.%d.54\n"
            "options timeout:1 attempts:1 ndots:1\n"
            "search ns%d.bench.invalid bench.invalid\n" % (name, ns_id, (i >> 8) & 255, i & 255,
                                                          (i >> 8) & 255, i & 255, i))
    return text + "#" * (i % 37) + "\n"


def mounted(path):
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == path for line in f)


def run_quiet(cmd, timeout=60):
    return subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          timeout=timeout)


def median(xs):
    return statistics.median(xs) if xs else float("nan")


class Daemon:
    def __init__(self, name, proc, mountpoint, errpath, ready_ms):
        self.name, self.proc, self.mountpoint, self.errpath = name, proc, mountpoint, errpath
        self.ready_ms = ready_ms

    def status(self, field):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])  # kB
        raise BenchError("%s: no %s in /proc/%d/status" % (self.name, field, self.proc.pid))

    def stats_lines(self):
        with open(self.errpath) as f:
            # Only whole lines: the daemon may be writing the next one right now.
            return [l for l in f if l.startswith("resolvconffs: requests:") and l.endswith("\n")]

    def counts(self):
        """Ask for the request counts (SIGUSR1) and wait for the new stderr line."""
        before = len(self.stats_lines())
        os.kill(self.proc.pid, signal.SIGUSR1)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            lines = self.stats_lines()
            if len(lines) > before:
                fields = dict(kv.split("=") for kv in lines[-1].split(":", 2)[2].split())
                return {k: int(v) for k, v in fields.items()}
            time.sleep(0.002)
        raise BenchError("%s printed no request counts after SIGUSR1" % self.name)

    def settled_counts(self):
        """Counts once every RELEASE has arrived: close() does not wait for it."""
        c = self.counts()
        deadline = time.monotonic() + 2
        while c.get("release", 0) < c.get("open", 0) and time.monotonic() < deadline:
            time.sleep(0.005)
            c = self.counts()
        return c


class Bench:
    def __init__(self, args):
        self.args = args
        self.build = os.path.abspath(args.build)
        self.prefix = "bench-%06x" % random.getrandbits(24)
        self.created_ns = []  # names, recorded before `ip netns add` runs
        self.daemons = []
        self.fuse_mounts = []
        self.tmp = None
        self.tmpfs = False
        self.ns_ids = {}
        self.seeded = set()
        self.host_id = os.stat("/proc/self/ns/net").st_ino
        self.results = {"runs": [], "mount_ready_ms": {}, "config": {}}

    # ---- setup ----

    def tool(self, name):
        path = os.path.join(self.build, name)
        if not os.access(path, os.X_OK):
            raise BenchError("%s missing: run `make bench-build` first" % path)
        return path

    def setup_tmpfs(self):
        self.tmp = tempfile.mkdtemp(prefix="rcfs-bench-")
        r = run_quiet(["mount", "-t", "tmpfs", "-o", "size=64m,mode=0755", "rcfs-bench", self.tmp])
        if r.returncode:
            raise BenchError("mount tmpfs: " + r.stderr.strip())
        self.tmpfs = True
        for d in ("backing", "expect-rcfs", "expect-floor"):
            os.mkdir(self.p(d), 0o755)
        for f in ("mnt-resolvconffs", "mnt-floor"):
            open(self.p(f), "w").close()
        with open(self.p("template.conf"), "w") as f:
            f.write("# resolvconffs bench template\nnameserver 192.0.2.1\n")
        with open(self.p("plain.conf"), "w") as f:
            f.write(backing_content(0, "plain", 0))
        # The driver's own namespace (used to see the mount answer) gets a file too.
        with open(self.p("backing/%d.conf" % self.host_id), "w") as f:
            f.write(backing_content(999999, "host", self.host_id))

    def p(self, *parts):
        return os.path.join(self.tmp, *parts)

    def add_namespaces(self, count):
        start = len(self.created_ns)
        names = ["%s-%d" % (self.prefix, i) for i in range(start, count)]
        if not names:
            return
        self.created_ns.extend(names)
        batch = self.p("ns-add.batch")
        with open(batch, "w") as f:
            f.writelines("netns add %s\n" % n for n in names)
        t0 = time.monotonic()
        r = run_quiet(["ip", "-batch", batch], timeout=600)
        if r.returncode:
            raise BenchError("ip netns add: " + r.stderr.strip())
        log("created %d namespaces in %.2f s" % (len(names), time.monotonic() - t0))
        for i, n in enumerate(names, start):
            ns_id = os.stat("/run/netns/" + n).st_ino
            self.ns_ids[n] = ns_id
            if self.args.via_template:
                # Written through the mount once resolvconffs runs (seed_via_mount).
                with open(self.p("expect-rcfs", n), "w") as f:
                    f.write(backing_content(i, n, ns_id))
            else:
                with open(self.p("backing/%d.conf" % ns_id), "w") as f:
                    f.write(backing_content(i, n, ns_id))
                os.symlink("../backing/%d.conf" % ns_id, self.p("expect-rcfs", n))
            with open(self.p("expect-floor", n), "w") as f:
                f.write(floor_content(ns_id))
        if len(set(self.ns_ids.values())) != len(self.ns_ids):
            raise BenchError("namespace ids are not distinct")

    def seed_via_mount(self):
        """--via-template: from inside each namespace, write its content through the mount. The
        daemon creates the missing file from the template first (recording the namespace's
        unique id on it, where it does that), as for any namespace in production."""
        todo = [n for n in self.created_ns if n not in self.seeded]
        if not todo:
            return
        libc = ctypes.CDLL(None, use_errno=True)
        host = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        t0 = time.monotonic()
        try:
            for n in todo:
                fd = os.open("/run/netns/" + n, os.O_RDONLY | os.O_CLOEXEC)
                try:
                    if libc.setns(fd, CLONE_NEWNET) != 0:
                        raise BenchError("setns %s: %s" % (n, os.strerror(ctypes.get_errno())))
                finally:
                    os.close(fd)
                with open(self.p("expect-rcfs", n), "rb") as f:
                    data = f.read()
                with open(self.p("mnt-resolvconffs"), "wb") as f:
                    f.write(data)
                self.seeded.add(n)
        finally:
            if libc.setns(host, CLONE_NEWNET) != 0:
                raise BenchError("setns back to the host namespace failed: %s" %
                                 os.strerror(ctypes.get_errno()))
            os.close(host)
        made = [name for name in os.listdir(self.p("backing")) if not name.startswith(".")]
        log("created %d backing files through the mount in %.2f s (%d files now)" %
            (len(todo), time.monotonic() - t0, len(made)))

    def ns_file(self, count):
        path = self.p("ns-%d.list" % count)
        with open(path, "w") as f:
            f.writelines(n + "\n" for n in self.created_ns[:count])
        return path

    # ---- daemons ----

    def start(self, subject, pin):
        mnt = self.p("mnt-" + subject)
        if subject == "resolvconffs":
            cmd = [self.tool("resolvconffs")] + self.args.rcfs_arg + [
                "-d", self.p("template.conf"), self.p("backing"), mnt]
            want_size = os.stat(self.p("backing/%d.conf" % self.host_id)).st_size
        else:
            cmd = [self.tool("bench-floor"), mnt]
            want_size = len(floor_content(self.host_id))
        if pin is not None:
            cmd = ["taskset", "-c", str(pin)] + cmd
        dev = os.stat(mnt).st_dev
        errpath = self.p("%s.%d.stderr" % (subject, len(self.daemons)))
        self.fuse_mounts.append(mnt)
        with open(errpath, "w") as err:
            t0 = time.monotonic()
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=err, start_new_session=True)
        d = Daemon(subject, proc, mnt, errpath, None)
        self.daemons.append(d)
        # Mount ready: from exec to the first stat answered by the daemon (a different device,
        # and the size of what this namespace is served).
        while True:
            try:
                st = os.stat(mnt)
                if st.st_dev != dev and st.st_size == want_size:
                    break
            except OSError:
                pass
            if proc.poll() is not None:
                raise BenchError("%s exited with %d before mounting: %s" %
                                 (subject, proc.returncode, open(errpath).read().strip()))
            if time.monotonic() - t0 > 10:
                raise BenchError("%s: mount not ready after 10 s" % subject)
            time.sleep(0.0001)
        d.ready_ms = (time.monotonic() - t0) * 1000
        self.results["mount_ready_ms"].setdefault(subject, []).append(d.ready_ms)
        return d

    def stop(self, d):
        if d.proc.poll() is None:
            os.kill(d.proc.pid, signal.SIGTERM)
            try:
                d.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                log("%s (pid %d) ignored SIGTERM; killing it" % (d.name, d.proc.pid))
                os.kill(d.proc.pid, signal.SIGKILL)
                d.proc.wait(timeout=5)
        self.unmount(d.mountpoint)
        if d in self.daemons:
            self.daemons.remove(d)

    def unmount(self, path):
        if mounted(path):
            run_quiet(["fusermount3", "-u", path])
        if mounted(path):
            run_quiet(["umount", "-l", path])
        if mounted(path):
            log("warning: %s is still mounted" % path)
        elif path in self.fuse_mounts:
            self.fuse_mounts.remove(path)

    # ---- load ----

    def loadgen(self, subject, mode, threads, seconds, ns_count, pin, rotate=False):
        cmd = [self.tool("bench-loadgen"), "--mode", mode, "--threads", str(threads),
               "--seconds", str(seconds), "--netns-file", self.ns_file(ns_count),
               "--label", subject]
        if rotate:
            cmd.append("--rotate")
        if subject == "plain":
            cmd += ["--path", self.p("plain.conf"), "--expect", self.p("plain.conf")]
        elif subject == "floor":
            cmd += ["--path", self.p("mnt-floor"), "--expect-dir", self.p("expect-floor")]
        else:
            cmd += ["--path", self.p("mnt-resolvconffs"), "--expect-dir", self.p("expect-rcfs")]
        if pin is not None:
            cmd = ["taskset", "-c", str(pin)] + cmd
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=seconds + 120)
        if r.returncode:
            raise BenchError("bench-loadgen %s %s failed (exit %d): %s %s" %
                             (subject, mode, r.returncode, r.stdout.strip(), r.stderr.strip()))
        return json.loads(r.stdout.strip().splitlines()[-1])

    def check_alive(self):
        for d in self.daemons:
            if d.proc.poll() is not None:
                raise BenchError("%s died (exit %d): %s" % (d.name, d.proc.returncode,
                                                            open(d.errpath).read().strip()))

    def measured_run(self, subject, mode, threads, seconds, ns_count, pin, rcfs, rotate=False):
        before = rcfs.settled_counts() if subject == "resolvconffs" else None
        res = self.loadgen(subject, mode, threads, seconds, ns_count, pin, rotate)
        self.check_alive()
        if before is not None:
            after = rcfs.settled_counts()
            res["requests"] = {op: after.get(op, 0) - before.get(op, 0) for op in OPS}
        return res

    # ---- the runs ----

    def run_config(self, label, pin, threads, modes, subjects=SUBJECTS):
        a = self.args
        log("== %s ==" % label)
        daemons = {s: self.start(s, pin) for s in subjects if s != "plain"}
        rcfs = daemons.get("resolvconffs")
        if rcfs and self.args.via_template:
            self.seed_via_mount()
        for s in subjects:  # warm-up, not recorded
            self.loadgen(s, "resolv", threads, 0.2, a.namespaces, pin)
        runs = []
        for mode in modes:
            for r in range(a.rounds):
                k = r % len(subjects)
                for s in subjects[k:] + subjects[:k]:
                    res = self.measured_run(s, mode, threads, a.seconds, a.namespaces, pin, rcfs)
                    res.update(config=label, round=r, subject=s, pin=pin)
                    runs.append(res)
                    log("  %-6s round %d %-12s %10.0f ops/s  p50 %7.2f us  p99 %7.2f us" %
                        (mode, r, s, res["ops_per_s"], res["p50_us"], res["p99_us"]))
        for d in daemons.values():
            self.stop(d)
        self.results["runs"] += runs
        return runs

    def mount_cycles(self, n):
        for _ in range(n):
            for s in ("floor", "resolvconffs"):
                self.stop(self.start(s, None))

    def run_scale(self, modes):
        a = self.args
        big = a.scale_namespaces
        small = 2
        self.add_namespaces(big)
        threads = a.threads[0] if a.threads else 2
        # Pinned by default: unpinned FUSE throughput on a small machine swings by 2x from run to
        # run with where the scheduler puts the daemon's threads, which would drown the ratio.
        pin = None if a.unpinned else (a.pin if a.pin is not None else max(os.sched_getaffinity(0)))
        label = "scale: %d namespaces vs %d, %d client threads walking through them, %s, %d round%s x %g s" % (
            big, small, threads, "daemons and client on CPU %d" % pin if pin is not None else "unpinned",
            a.rounds, "s" if a.rounds > 1 else "", a.seconds)
        log("== %s ==" % label)
        rcfs = self.start("resolvconffs", pin)
        floor = self.start("floor", pin)
        if self.args.via_template:
            self.seed_via_mount()
        rss_start = {"resolvconffs": (rcfs.status("VmRSS"), rcfs.status("VmHWM")),
                     "floor": (floor.status("VmRSS"), floor.status("VmHWM"))}
        for s in ("floor", "resolvconffs"):
            self.loadgen(s, "resolv", threads, 0.2, big, pin, rotate=True)
        runs = []
        subjects = [("floor", small), ("resolvconffs", small), ("floor", big), ("resolvconffs", big)]
        for mode in modes:
            for r in range(a.rounds):
                k = r % len(subjects)
                for s, n in subjects[k:] + subjects[:k]:
                    res = self.measured_run(s, mode, threads, a.seconds, n, pin, rcfs,
                                            rotate=True)
                    res.update(config="scale", round=r, subject=s, pin=pin)
                    runs.append(res)
                    log("  %-6s round %d %-12s %5d ns %10.0f ops/s  p50 %7.2f us  p99 %7.2f us" %
                        (mode, r, s, n, res["ops_per_s"], res["p50_us"], res["p99_us"]))
        rss_end = {"resolvconffs": (rcfs.status("VmRSS"), rcfs.status("VmHWM")),
                   "floor": (floor.status("VmRSS"), floor.status("VmHWM"))}
        files = len(os.listdir(self.p("backing")))
        self.stop(rcfs)
        self.stop(floor)
        self.results["runs"] += runs
        self.results["scale"] = {"rss_kb_start": rss_start, "rss_kb_end": rss_end,
                                 "backing_files": files, "label": label}
        return label, runs, rss_start, rss_end, files

    # ---- teardown ----

    def teardown(self):
        # A second Ctrl-C must not cut the teardown short.
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(s, signal.SIG_IGN)
        try:
            for d in list(self.daemons):
                try:
                    self.stop(d)
                except Exception as e:  # keep tearing down
                    log("teardown: %s: %s" % (d.name, e))
            for m in list(self.fuse_mounts):
                self.unmount(m)
            if self.tmpfs:
                if run_quiet(["umount", self.tmp]).returncode:
                    run_quiet(["umount", "-l", self.tmp])
                self.tmpfs = mounted(self.tmp)
                if self.tmpfs:
                    log("warning: tmpfs %s is still mounted" % self.tmp)
            if self.tmp and not self.tmpfs:
                try:
                    os.rmdir(self.tmp)
                except OSError as e:
                    log("teardown: rmdir %s: %s" % (self.tmp, e))
        finally:
            self.delete_namespaces()

    def delete_namespaces(self):
        if not self.created_ns:
            return
        existing = set(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else set()
        names = [n for n in self.created_ns if n in existing]
        if names:
            with tempfile.NamedTemporaryFile("w", prefix="rcfs-bench-nsdel-", suffix=".batch") as f:
                f.writelines("netns del %s\n" % n for n in names)
                f.flush()
                run_quiet(["ip", "-force", "-batch", f.name], timeout=600)
        existing = set(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else set()
        left = [n for n in self.created_ns if n in existing]
        for n in left:
            run_quiet(["ip", "netns", "del", n])
        left = [n for n in left if os.path.exists("/run/netns/" + n)]
        if left:
            log("warning: could not delete namespaces: %s" % " ".join(left))
        else:
            self.created_ns = []


# ---- reporting ----

def fmt_ops(x):
    return "%.0f" % x


def table(rows, header):
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    out = ["  ".join(str(h).ljust(w) if i == 0 else str(h).rjust(w)
                     for i, (h, w) in enumerate(zip(header, widths)))]
    out.append("  ".join("-" * w for w in widths))
    for r in rows:
        out.append("  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                             for i, (c, w) in enumerate(zip(r, widths))))
    return "\n".join(out)


def report_config(label, runs, modes, threads):
    lines = ["", "### " + label, ""]
    rows = []
    for mode in modes:
        for s in SUBJECTS:
            rs = [r for r in runs if r["mode"] == mode and r["subject"] == s]
            if not rs:
                continue
            ops = [r["ops_per_s"] for r in rs]
            rows.append([mode, s, fmt_ops(median(ops)), "%s-%s" % (fmt_ops(min(ops)), fmt_ops(max(ops))),
                         "%.2f" % (threads * 1e6 / median(ops)),
                         "%.2f" % median([r["p50_us"] for r in rs]),
                         "%.2f" % median([r["p99_us"] for r in rs])])
    lines.append(table(rows, ["mode", "subject", "ops/s", "min-max", "us/op/thread", "p50 us", "p99 us"]))
    lines += ["", "same-run ratios (median of per-round ratios of ops/s; <1 = slower than the reference):", ""]
    rows = []
    for mode in modes:
        per_round = {}
        for r in runs:
            if r["mode"] == mode:
                per_round.setdefault(r["round"], {})[r["subject"]] = r["ops_per_s"]
        rf = [d["resolvconffs"] / d["floor"] for d in per_round.values() if "floor" in d]
        rp = [d["resolvconffs"] / d["plain"] for d in per_round.values() if "plain" in d]
        fp = [d["floor"] / d["plain"] for d in per_round.values() if "plain" in d and "floor" in d]
        extra = [threads * 1e6 * (1 / d["resolvconffs"] - 1 / d["floor"])
                 for d in per_round.values() if "floor" in d]
        rows.append([mode, "%.3f" % median(rf), "%.3f" % median(rp), "%.3f" % median(fp),
                     "%+.2f" % median(extra)])
    lines.append(table(rows, ["mode", "rcfs/floor", "rcfs/plain", "floor/plain", "rcfs-floor us/op"]))
    lines += ["", "resolvconffs FUSE requests per operation (median over rounds):", ""]
    rows = []
    for mode in modes:
        rs = [r for r in runs if r["mode"] == mode and r["subject"] == "resolvconffs"]
        per = {op: median([r["requests"][op] / r["ops"] for r in rs]) for op in OPS}
        rows.append([mode] + ["%.2f" % per[op] for op in OPS] + ["%.2f" % sum(per.values())])
    lines.append(table(rows, ["mode"] + list(OPS) + ["total"]))
    return "\n".join(lines)


def report_scale(label, runs, modes, rss_start, rss_end, files, big):
    lines = ["", "### " + label, ""]
    rows = []
    for mode in modes:
        for s in ("floor", "resolvconffs"):
            med = {}
            for n in (2, big):
                rs = [r for r in runs if r["mode"] == mode and r["subject"] == s and r["namespaces"] == n]
                med[n] = median([r["ops_per_s"] for r in rs])
            per_round = {}
            for r in runs:
                if r["mode"] == mode and r["subject"] == s:
                    per_round.setdefault(r["round"], {})[r["namespaces"]] = r["ops_per_s"]
            ratio = median([d[big] / d[2] for d in per_round.values() if 2 in d and big in d])
            p99 = median([r["p99_us"] for r in runs if r["mode"] == mode and r["subject"] == s
                          and r["namespaces"] == big])
            rows.append([mode, s, fmt_ops(med[2]), fmt_ops(med[big]), "%.3f" % ratio, "%.2f" % p99])
    lines.append(table(rows, ["mode", "subject", "ops/s 2 ns", "ops/s %d ns" % big,
                              "%d/2 ratio" % big, "p99 us (%d)" % big]))
    lines += ["", "resolvconffs requests per operation at %d namespaces:" % big, ""]
    rows = []
    for mode in modes:
        rs = [r for r in runs if r["mode"] == mode and r["subject"] == "resolvconffs"
              and r["namespaces"] == big]
        per = {op: median([r["requests"][op] / r["ops"] for r in rs]) for op in OPS}
        rows.append([mode] + ["%.2f" % per[op] for op in OPS] + ["%.2f" % sum(per.values())])
    lines.append(table(rows, ["mode"] + list(OPS) + ["total"]))
    lines += ["", "daemon memory (kB): VmRSS / VmHWM after mount+warm-up, and after the run:", ""]
    rows = [[s, "%d / %d" % rss_start[s], "%d / %d" % rss_end[s]] for s in ("resolvconffs", "floor")]
    lines.append(table(rows, ["daemon", "start", "end (VmHWM = peak)"]))
    lines.append("")
    lines.append("backing files after the run: %d (%d namespaces + the driver's own)" % (files, big))
    return "\n".join(lines)


def environment(build):
    def out(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.strip()
        except OSError:
            return "?"
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    head = out(["git", "-C", os.path.dirname(HERE), "rev-parse", "--short", "HEAD"])
    dirty = out(["git", "-C", os.path.dirname(HERE), "status", "--porcelain", "--untracked-files=no"])
    return ("kernel %s, %d CPUs (%s), libfuse %s; binaries from %s; source tree at %s%s" %
            (platform.release(), os.cpu_count(), cpu, out(["pkg-config", "--modversion", "fuse3"]),
             build, head, " + uncommitted changes" if dirty else ""))


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(os.path.dirname(HERE), "build"),
                    help="directory with resolvconffs, bench-floor, bench-loadgen (default: build)")
    ap.add_argument("--seconds", type=float, help="seconds per run (default 2; --quick: 1)")
    ap.add_argument("--rounds", type=int, help="interleaved rounds (default 5; --quick: 1)")
    ap.add_argument("--threads", help="client thread counts, comma-separated (default: see --pin)")
    ap.add_argument("--namespaces", type=int, default=2,
                    help="namespaces the client threads are spread over (default 2)")
    ap.add_argument("--modes", help="comma-separated, of %s (default %s; --scale: stat,resolv)" %
                    (",".join(MODES), ",".join(DEFAULT_MODES)))
    ap.add_argument("--pin", type=int, metavar="CPU",
                    help="run daemons and client under taskset -c CPU (default: one pinned "
                    "1-thread run on the last CPU and one unpinned 2-thread run)")
    ap.add_argument("--scale", action="store_true",
                    help="only the scale run: 1,000 namespaces against 2, and daemon RSS")
    ap.add_argument("--unpinned", action="store_true",
                    help="with --scale: do not pin (default: pinned to --pin or the last CPU)")
    ap.add_argument("--scale-namespaces", type=int, default=1000, help=argparse.SUPPRESS)
    ap.add_argument("--mount-cycles", type=int, help="extra start/stop cycles for the mount-ready "
                    "time (default 5; --quick: 2)")
    ap.add_argument("--via-template", action="store_true",
                    help="let resolvconffs create each backing file from its -d template (then "
                    "write the namespace's content through the mount), as in production, "
                    "instead of writing the files directly into the backing directory")
    ap.add_argument("--rcfs-arg", action="append", default=[], metavar="ARG",
                    help="extra resolvconffs argument (repeatable), e.g. "
                    "--rcfs-arg=--access-check=daemon")
    ap.add_argument("--quick", action="store_true", help="smoke run: 1 round of ~1 s per subject")
    ap.add_argument("--json", metavar="FILE", help="also write every run's raw result here")
    a = ap.parse_args(argv)
    a.seconds = a.seconds or (1.0 if a.quick else 2.0)
    a.rounds = a.rounds or (1 if a.quick else 5)
    a.mount_cycles = a.mount_cycles if a.mount_cycles is not None else (2 if a.quick else 5)
    a.threads = [int(t) for t in a.threads.split(",")] if a.threads else None
    modes = a.modes.split(",") if a.modes else list(("stat", "resolv") if a.scale else DEFAULT_MODES)
    for m in modes:
        if m not in MODES:
            ap.error("unknown mode %s" % m)
    a.modes = modes
    if a.namespaces < 1 or a.rounds < 1 or a.seconds <= 0 or (a.threads and min(a.threads) < 1):
        ap.error("--namespaces, --rounds, --seconds and --threads must be positive")
    if a.pin is not None and a.pin not in os.sched_getaffinity(0):
        ap.error("CPU %d is not available" % a.pin)
    return a


def main(argv):
    a = parse_args(argv)
    if os.geteuid() != 0:
        log("bench/run.py needs root (network namespaces and mounts)")
        return 2

    def interrupt(signum, frame):
        raise Interrupted(signal.Signals(signum).name)
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, interrupt)

    b = Bench(a)
    out = []
    started = time.monotonic()
    load0 = os.getloadavg()[0]
    try:
        for t in ("bench-loadgen", "bench-floor", "resolvconffs"):
            b.tool(t)
        b.setup_tmpfs()
        b.add_namespaces(a.namespaces)
        env = environment(b.build)
        out += ["# resolvconffs benchmark", "", env,
                "command: bench/run.py " + " ".join(argv), ""]
        out.append("subjects: plain = file on tmpfs (no FUSE); floor = bench-floor (same ns "
                   "lookup, constant bytes); resolvconffs = resolvconffs%s over per-namespace "
                   "backing files on tmpfs, %s" % ("".join(" " + x for x in a.rcfs_arg),
                   "created by the daemon from its template (--via-template)" if a.via_template
                   else "written directly into the backing directory"))
        if a.scale:
            label, runs, rs, re_, files = b.run_scale(a.modes)
            out.append(report_scale(label, runs, a.modes, rs, re_, files, a.scale_namespaces))
        else:
            configs = []
            if a.pin is not None:
                configs = [(a.pin, t) for t in (a.threads or [1])]
            elif a.threads:
                configs = [(None, t) for t in a.threads]
            else:
                configs = [(max(os.sched_getaffinity(0)), 1), (None, 2)]
            for pin, threads in configs:
                label = "%s, %d client thread%s over %d namespace%s, %d round%s x %g s" % (
                    "pinned: daemons and client on CPU %d" % pin if pin is not None else "unpinned",
                    threads, "s" if threads > 1 else "", a.namespaces, "s" if a.namespaces > 1 else "",
                    a.rounds, "s" if a.rounds > 1 else "", a.seconds)
                runs = b.run_config(label, pin, threads, a.modes)
                out.append(report_config(label, runs, a.modes, threads))
            if a.mount_cycles:
                b.mount_cycles(a.mount_cycles)
            mr = b.results["mount_ready_ms"]
            out += ["", "### mount ready (exec of the daemon to the first stat it answers), ms", ""]
            out.append(table([[s, len(v), "%.2f" % median(v), "%.2f" % min(v), "%.2f" % max(v)]
                              for s, v in sorted(mr.items())],
                             ["daemon", "starts", "median", "min", "max"]))
        out += ["", "total time %.0f s; load average at start %.2f, at end %.2f (other work on the "
                "machine disturbs the numbers)" % (time.monotonic() - started, load0, os.getloadavg()[0])]
        print("\n".join(out), flush=True)
        if a.json:
            b.results["config"] = {k: v for k, v in vars(a).items()}
            b.results["environment"] = env
            with open(a.json, "w") as f:
                json.dump(b.results, f, indent=1)
        return 0
    except BenchError as e:
        log("bench: FAILED: %s" % e)
        return 1
    except Interrupted as e:
        log("bench: interrupted (%s); tearing down" % e)
        return 130
    finally:
        b.teardown()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
