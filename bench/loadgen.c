/* bench-loadgen: load one path from many network namespaces at once and check every answer.
 *
 * T client threads loop for S seconds on PATH. Thread i first joins namespace i mod K of the K
 * given with --netns (setns on /run/netns/NAME; network namespace membership is per thread), so
 * one process asks the mount from many namespaces at once. With --rotate thread i walks through
 * all K namespaces, starting at i mod K and moving to the next one after every operation (a setns
 * even when K is 1, so runs with different K cost the client the same; the setns is outside the
 * timed operation but inside the wall-clock throughput).
 *
 * Modes, one operation each:
 *   stat    stat(2)
 *   read    open O_RDONLY, read to EOF (4 KiB reads, like stdio), close
 *   resolv  what glibc's resolver does when the file changed: stat, then open + read + close
 *   glibc   the whole glibc 2.36 sequence (checked with strace on getent): stat, open, fstat
 *           (stdio sizes its buffer), read to EOF, fstat (change detection), close
 *   write   open O_WRONLY|O_TRUNC, write the expected content (about 200 bytes), close
 *
 * What a thread must see is explicit: with --expect-dir DIR a thread in namespace NAME must read
 * exactly the bytes of DIR/NAME, with --expect FILE every thread must read FILE's bytes (both read
 * once, at startup, before any thread starts). stat checks st_size against the expected length,
 * reads check length and bytes; write mode writes the expected bytes back, so the content stays
 * what every other mode expects. A wrong answer is a mismatch, a failing call an error: the run
 * stops at the first error, and any mismatch or error makes the exit status 1.
 *
 * Output: one JSON line on stdout. Latency is clock_gettime(CLOCK_MONOTONIC) around each operation
 * into a per-thread log-linear histogram (1/32 relative resolution); nothing is allocated in the
 * loop. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* setns, strndup */
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum mode { MODE_STAT, MODE_READ, MODE_RESOLV, MODE_GLIBC, MODE_WRITE };
static const char *const mode_names[] = { "stat", "read", "resolv", "glibc", "write" };

#define MAX_THREADS 1024
#define MAX_NAMESPACES 100000
#define MAX_CONTENT 65536
#define READ_CHUNK 4096

/* Histogram: values below 64 ns exactly, above that 32 sub-buckets per power of two. */
#define SUB_BITS 5
#define SUB (1u << SUB_BITS)
#define LINEAR 64u
#define NBUCKETS (LINEAR + (64u - 6u) * SUB)

struct expect {
	const char *name; /* namespace name, or NULL for --expect FILE */
	char *data;
	size_t len;
};

struct thread {
	_Alignas(64) pthread_t tid; /* threads' counters on separate cache lines */
	unsigned idx;
	uint64_t ops, mismatches, errors;
	int err_errno;
	const char *err_what;
	uint64_t hist[NBUCKETS];
	char buf[MAX_CONTENT + READ_CHUNK];
};

static struct {
	enum mode mode;
	const char *path;
	unsigned threads;
	double seconds;
	int rotate;
	size_t n_ns;
	const char **ns_names;
	int *ns_fds;
	struct expect *expects; /* one per namespace, or one in total with --expect */
	size_t n_expects;
	pthread_barrier_t start;
	atomic_int stop;
	struct thread *t;
} g;

static uint64_t now_ns(void)
{
	struct timespec ts;

	/* CLOCK_MONOTONIC cannot fail with a valid pointer; checked anyway. */
	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) {
		perror("bench-loadgen: clock_gettime");
		exit(2);
	}
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static unsigned bucket_of(uint64_t v)
{
	unsigned msb;

	if (v < LINEAR)
		return (unsigned)v;
	msb = 63u - (unsigned)__builtin_clzll(v); /* >= 6 */
	return LINEAR + (msb - 6u) * SUB + (unsigned)((v >> (msb - SUB_BITS)) & (SUB - 1));
}

/* The middle of bucket b, in ns. */
static double bucket_mid(unsigned b)
{
	unsigned msb, sub;
	double lo, width;

	if (b < LINEAR)
		return b;
	msb = (b - LINEAR) / SUB + 6u;
	sub = (b - LINEAR) % SUB;
	lo = (double)((uint64_t)(SUB + sub) << (msb - SUB_BITS));
	width = (double)((uint64_t)1 << (msb - SUB_BITS));
	return lo + width / 2;
}

static void fail_op(struct thread *t, const char *what)
{
	t->errors++;
	t->err_errno = errno;
	t->err_what = what;
	atomic_store_explicit(&g.stop, 1, memory_order_relaxed);
}

static const struct expect *expect_for(size_t ns)
{
	return g.n_ns && g.n_expects > 1 ? &g.expects[ns] : &g.expects[0];
}

static int do_stat(struct thread *t, const struct expect *e)
{
	struct stat st;

	if (stat(g.path, &st) != 0) {
		fail_op(t, "stat");
		return -1;
	}
	if ((size_t)st.st_size != e->len)
		t->mismatches++;
	return 0;
}

static int do_fstat(struct thread *t, int fd, const struct expect *e)
{
	struct stat st;

	if (fstat(fd, &st) != 0) {
		fail_op(t, "fstat");
		return -1;
	}
	if ((size_t)st.st_size != e->len)
		t->mismatches++;
	return 0;
}

/* Read fd to EOF in READ_CHUNK pieces and compare with the expected bytes. */
static int read_check(struct thread *t, int fd, const struct expect *e)
{
	size_t len = 0;

	for (;;) {
		size_t room = sizeof(t->buf) - len;
		ssize_t n;

		if (room > READ_CHUNK)
			room = READ_CHUNK;
		if (room == 0) { /* longer than any expected content: surely wrong */
			t->mismatches++;
			return 0;
		}
		n = read(fd, t->buf + len, room);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fail_op(t, "read");
			return -1;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len != e->len || memcmp(t->buf, e->data, len) != 0)
		t->mismatches++;
	return 0;
}

static int close_checked(struct thread *t, int fd)
{
	if (close(fd) != 0) {
		fail_op(t, "close");
		return -1;
	}
	return 0;
}

/* open, read to EOF, close; with glibc set, the two fstats glibc adds: one before reading (stdio
 * sizes its buffer) and one after (the resolver records the file's identity). */
static int do_read(struct thread *t, const struct expect *e, int glibc)
{
	int fd = open(g.path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		fail_op(t, "open");
		return -1;
	}
	if ((glibc && do_fstat(t, fd, e)) || read_check(t, fd, e) || (glibc && do_fstat(t, fd, e))) {
		close(fd);
		return -1;
	}
	return close_checked(t, fd);
}

static int do_write(struct thread *t, const struct expect *e)
{
	size_t done = 0;
	int fd = open(g.path, O_WRONLY | O_TRUNC | O_CLOEXEC);

	if (fd < 0) {
		fail_op(t, "open");
		return -1;
	}
	while (done < e->len) {
		ssize_t n = write(fd, e->data + done, e->len - done);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			fail_op(t, "write");
			close(fd);
			return -1;
		}
		if (n == 0) { /* a write that makes no progress would loop forever */
			t->mismatches++;
			break;
		}
		done += (size_t)n;
	}
	return close_checked(t, fd);
}

static int one_op(struct thread *t, const struct expect *e)
{
	switch (g.mode) {
	case MODE_STAT:
		return do_stat(t, e);
	case MODE_READ:
		return do_read(t, e, 0);
	case MODE_RESOLV:
		return do_stat(t, e) ? -1 : do_read(t, e, 0);
	case MODE_GLIBC:
		return do_stat(t, e) ? -1 : do_read(t, e, 1);
	case MODE_WRITE:
		return do_write(t, e);
	}
	return -1;
}

static int join_ns(struct thread *t, size_t ns)
{
	if (setns(g.ns_fds[ns], CLONE_NEWNET) != 0) {
		fail_op(t, "setns");
		return -1;
	}
	return 0;
}

static void *worker(void *arg)
{
	struct thread *t = arg;
	size_t ns = g.n_ns ? t->idx % g.n_ns : 0;
	int rotate = g.rotate && g.n_ns;
	int ok = !g.n_ns || join_ns(t, ns) == 0;
	int ret = pthread_barrier_wait(&g.start);

	if (ret != 0 && ret != PTHREAD_BARRIER_SERIAL_THREAD) {
		errno = ret;
		fail_op(t, "pthread_barrier_wait");
		return NULL;
	}
	while (ok && !atomic_load_explicit(&g.stop, memory_order_relaxed)) {
		const struct expect *e = expect_for(ns);
		uint64_t t0 = now_ns(), dt;

		if (one_op(t, e))
			break;
		dt = now_ns() - t0;
		t->hist[bucket_of(dt)]++;
		t->ops++;
		if (rotate) {
			ns = ns + 1 < g.n_ns ? ns + 1 : 0;
			if (join_ns(t, ns))
				break;
		}
	}
	return NULL;
}

/* ---- setup ---- */

static void usage(FILE *f)
{
	fputs("usage: bench-loadgen --mode stat|read|resolv|glibc|write --path PATH\n"
	      "         [--threads T] [--seconds S] [--netns NAME[,NAME...]]... [--netns-file FILE]\n"
	      "         [--rotate] (--expect FILE | --expect-dir DIR) [--label TEXT]\n"
	      "  --netns: names under /run/netns (or paths containing '/'); thread i joins i mod K\n"
	      "  --rotate: after every operation, move to the next namespace in the list\n"
	      "  --expect-dir DIR: a thread in namespace NAME must see the bytes of DIR/NAME\n"
	      "  --expect FILE: every thread must see the bytes of FILE\n",
	      f);
}

static char *read_file(const char *path, size_t *len)
{
	char *data = malloc(MAX_CONTENT + 1);
	size_t n = 0;
	int fd;

	if (!data) {
		perror("bench-loadgen: malloc");
		return NULL;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "bench-loadgen: %s: %s\n", path, strerror(errno));
		free(data);
		return NULL;
	}
	for (;;) {
		ssize_t r = read(fd, data + n, MAX_CONTENT + 1 - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			fprintf(stderr, "bench-loadgen: %s: %s\n", path, strerror(errno));
			goto err;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > MAX_CONTENT) {
			fprintf(stderr, "bench-loadgen: %s: longer than %d bytes\n", path, MAX_CONTENT);
			goto err;
		}
	}
	if (close(fd) != 0) {
		fprintf(stderr, "bench-loadgen: close %s: %s\n", path, strerror(errno));
		free(data);
		return NULL;
	}
	*len = n;
	return data;
err:
	close(fd);
	free(data);
	return NULL;
}

static int add_ns(const char *name, size_t len)
{
	char *copy;

	if (len == 0)
		return 0;
	if (g.n_ns >= MAX_NAMESPACES) {
		fprintf(stderr, "bench-loadgen: more than %d namespaces\n", MAX_NAMESPACES);
		return -1;
	}
	copy = strndup(name, len);
	if (!copy) {
		perror("bench-loadgen: strndup");
		return -1;
	}
	g.ns_names[g.n_ns++] = copy;
	return 0;
}

static int add_ns_list(const char *list)
{
	const char *p = list;

	for (;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);

		if (add_ns(p, len))
			return -1;
		if (!comma)
			return 0;
		p = comma + 1;
	}
}

static int add_ns_file(const char *path)
{
	char line[PATH_MAX];
	FILE *f = fopen(path, "re");
	int ret = 0;

	if (!f) {
		fprintf(stderr, "bench-loadgen: %s: %s\n", path, strerror(errno));
		return -1;
	}
	while (!ret && fgets(line, sizeof(line), f))
		ret = add_ns(line, strcspn(line, "\r\n"));
	if (!ret && ferror(f)) {
		fprintf(stderr, "bench-loadgen: %s: read error\n", path);
		ret = -1;
	}
	if (fclose(f) != 0 && !ret) {
		fprintf(stderr, "bench-loadgen: %s: %s\n", path, strerror(errno));
		ret = -1;
	}
	return ret;
}

static int open_namespaces(void)
{
	char path[PATH_MAX];

	g.ns_fds = calloc(g.n_ns ? g.n_ns : 1, sizeof(*g.ns_fds));
	if (!g.ns_fds) {
		perror("bench-loadgen: calloc");
		return -1;
	}
	for (size_t i = 0; i < g.n_ns; i++) {
		const char *n = g.ns_names[i];
		int len = strchr(n, '/') ? snprintf(path, sizeof(path), "%s", n)
					  : snprintf(path, sizeof(path), "/run/netns/%s", n);

		if (len < 0 || (size_t)len >= sizeof(path)) {
			fprintf(stderr, "bench-loadgen: namespace name too long: %s\n", n);
			return -1;
		}
		g.ns_fds[i] = open(path, O_RDONLY | O_CLOEXEC);
		if (g.ns_fds[i] < 0) {
			fprintf(stderr, "bench-loadgen: %s: %s\n", path, strerror(errno));
			return -1;
		}
	}
	return 0;
}

static int load_expects(const char *file, const char *dir)
{
	char path[PATH_MAX];

	if (!!file == !!dir) {
		fputs("bench-loadgen: give exactly one of --expect and --expect-dir\n", stderr);
		return -1;
	}
	if (dir && !g.n_ns) {
		fputs("bench-loadgen: --expect-dir needs --netns\n", stderr);
		return -1;
	}
	g.n_expects = dir ? g.n_ns : 1;
	g.expects = calloc(g.n_expects, sizeof(*g.expects));
	if (!g.expects) {
		perror("bench-loadgen: calloc");
		return -1;
	}
	for (size_t i = 0; i < g.n_expects; i++) {
		const char *base;
		int len;

		if (file) {
			len = snprintf(path, sizeof(path), "%s", file);
		} else {
			base = strrchr(g.ns_names[i], '/');
			base = base ? base + 1 : g.ns_names[i];
			g.expects[i].name = base;
			len = snprintf(path, sizeof(path), "%s/%s", dir, base);
		}
		if (len < 0 || (size_t)len >= sizeof(path)) {
			fputs("bench-loadgen: expected-content path too long\n", stderr);
			return -1;
		}
		g.expects[i].data = read_file(path, &g.expects[i].len);
		if (!g.expects[i].data)
			return -1;
	}
	return 0;
}

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v == 0 || v > max)
		return -1;
	*out = v;
	return 0;
}

static double percentile(const uint64_t *hist, uint64_t total, double q)
{
	uint64_t rank = (uint64_t)(q * (double)total), seen = 0;

	if (rank >= total)
		rank = total ? total - 1 : 0;
	for (unsigned b = 0; b < NBUCKETS; b++) {
		seen += hist[b];
		if (seen > rank)
			return bucket_mid(b);
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *expect_file = NULL, *expect_dir = NULL, *label = "";
	const char *mode = NULL;
	unsigned long threads = 1;
	static uint64_t hist[NBUCKETS];
	uint64_t ops = 0, mismatches = 0, errors = 0, t_start, t_end, sum_hist = 0;
	double mean_ns = 0, max_ns = 0;
	int ret;

	g.seconds = 1.0;
	g.ns_names = calloc(MAX_NAMESPACES, sizeof(*g.ns_names));
	if (!g.ns_names) {
		perror("bench-loadgen: calloc");
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		int has_value = 1;

		if (!strcmp(a, "--rotate")) {
			g.rotate = 1;
			has_value = 0;
		} else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 0;
		} else if (!v) {
			fprintf(stderr, "bench-loadgen: %s needs a value\n", a);
			usage(stderr);
			return 2;
		} else if (!strcmp(a, "--mode")) {
			mode = v;
		} else if (!strcmp(a, "--path")) {
			g.path = v;
		} else if (!strcmp(a, "--threads")) {
			if (parse_uint(v, MAX_THREADS, &threads)) {
				fprintf(stderr, "bench-loadgen: --threads: 1..%d\n", MAX_THREADS);
				return 2;
			}
		} else if (!strcmp(a, "--seconds")) {
			char *end;

			errno = 0;
			g.seconds = strtod(v, &end);
			if (errno || end == v || *end || !(g.seconds > 0 && g.seconds < 86400)) {
				fputs("bench-loadgen: --seconds: a positive number\n", stderr);
				return 2;
			}
		} else if (!strcmp(a, "--netns")) {
			if (add_ns_list(v))
				return 2;
		} else if (!strcmp(a, "--netns-file")) {
			if (add_ns_file(v))
				return 2;
		} else if (!strcmp(a, "--expect")) {
			expect_file = v;
		} else if (!strcmp(a, "--expect-dir")) {
			expect_dir = v;
		} else if (!strcmp(a, "--label")) {
			label = v;
		} else {
			fprintf(stderr, "bench-loadgen: unknown argument %s\n", a);
			usage(stderr);
			return 2;
		}
		i += has_value;
	}
	if (!mode || !g.path) {
		usage(stderr);
		return 2;
	}
	for (g.mode = MODE_STAT; g.mode <= MODE_WRITE; g.mode++)
		if (!strcmp(mode, mode_names[g.mode]))
			break;
	if (g.mode > MODE_WRITE) {
		fprintf(stderr, "bench-loadgen: unknown mode %s\n", mode);
		return 2;
	}
	if (strchr(label, '"') || strchr(label, '\\')) {
		fputs("bench-loadgen: --label must not contain '\"' or '\\'\n", stderr);
		return 2;
	}
	g.threads = (unsigned)threads;
	if (open_namespaces() || load_expects(expect_file, expect_dir))
		return 2;

	g.t = aligned_alloc(64, sizeof(*g.t) * g.threads);
	if (!g.t) {
		perror("bench-loadgen: aligned_alloc");
		return 2;
	}
	memset(g.t, 0, sizeof(*g.t) * g.threads);
	ret = pthread_barrier_init(&g.start, NULL, g.threads + 1);
	if (ret) {
		fprintf(stderr, "bench-loadgen: pthread_barrier_init: %s\n", strerror(ret));
		return 2;
	}
	for (unsigned i = 0; i < g.threads; i++) {
		g.t[i].idx = i;
		ret = pthread_create(&g.t[i].tid, NULL, worker, &g.t[i]);
		if (ret) {
			fprintf(stderr, "bench-loadgen: pthread_create: %s\n", strerror(ret));
			return 2;
		}
	}
	ret = pthread_barrier_wait(&g.start);
	if (ret != 0 && ret != PTHREAD_BARRIER_SERIAL_THREAD) {
		fprintf(stderr, "bench-loadgen: pthread_barrier_wait: %s\n", strerror(ret));
		return 2;
	}
	t_start = now_ns();
	/* Sleep in 50 ms slices so that a thread's error ends the run early. */
	for (uint64_t end = t_start + (uint64_t)(g.seconds * 1e9), now = t_start;
	     now < end && !atomic_load_explicit(&g.stop, memory_order_relaxed); now = now_ns()) {
		uint64_t left = end - now < 50000000u ? end - now : 50000000u;
		struct timespec sl = { .tv_sec = 0, .tv_nsec = (long)left };

		ret = clock_nanosleep(CLOCK_MONOTONIC, 0, &sl, NULL);
		if (ret && ret != EINTR) {
			fprintf(stderr, "bench-loadgen: clock_nanosleep: %s\n", strerror(ret));
			return 2;
		}
	}
	atomic_store_explicit(&g.stop, 1, memory_order_relaxed);
	for (unsigned i = 0; i < g.threads; i++) {
		ret = pthread_join(g.t[i].tid, NULL);
		if (ret) {
			fprintf(stderr, "bench-loadgen: pthread_join: %s\n", strerror(ret));
			return 2;
		}
	}
	t_end = now_ns();

	for (unsigned i = 0; i < g.threads; i++) {
		struct thread *t = &g.t[i];

		ops += t->ops;
		mismatches += t->mismatches;
		errors += t->errors;
		for (unsigned b = 0; b < NBUCKETS; b++)
			hist[b] += t->hist[b];
		if (t->errors)
			fprintf(stderr, "bench-loadgen: thread %u (%s): %s failed: %s\n", i,
				g.n_ns ? g.ns_names[t->idx % g.n_ns] : "no netns", t->err_what,
				strerror(t->err_errno));
	}
	for (unsigned b = 0; b < NBUCKETS; b++) {
		sum_hist += hist[b];
		mean_ns += bucket_mid(b) * (double)hist[b];
		if (hist[b])
			max_ns = bucket_mid(b);
	}
	if (sum_hist)
		mean_ns /= (double)sum_hist;
	printf("{\"label\":\"%s\",\"mode\":\"%s\",\"threads\":%u,\"namespaces\":%zu,\"rotate\":%s,"
	       "\"seconds\":%.6f,\"ops\":%llu,\"ops_per_s\":%.1f,\"mean_us\":%.3f,\"p50_us\":%.3f,"
	       "\"p99_us\":%.3f,\"p999_us\":%.3f,\"max_us\":%.3f,\"mismatches\":%llu,\"errors\":%llu}\n",
	       label, mode_names[g.mode], g.threads, g.n_ns, g.rotate ? "true" : "false",
	       (double)(t_end - t_start) / 1e9, (unsigned long long)ops,
	       (double)ops * 1e9 / (double)(t_end - t_start), mean_ns / 1e3,
	       percentile(hist, sum_hist, 0.50) / 1e3, percentile(hist, sum_hist, 0.99) / 1e3,
	       percentile(hist, sum_hist, 0.999) / 1e3, max_ns / 1e3,
	       (unsigned long long)mismatches, (unsigned long long)errors);
	if (fflush(stdout) != 0) {
		perror("bench-loadgen: stdout");
		return 2;
	}
	if (mismatches)
		fprintf(stderr, "bench-loadgen: %llu mismatching answers\n",
			(unsigned long long)mismatches);
	return mismatches || errors ? 1 : 0;
}
