/* The size limit (--max-size) on writes and truncates (core/io.c: rcfs_write, rcfs_resize, and
 * through them rcfs_open's O_TRUNC, rcfs_truncate and rcfs_setattr), and names that lead onto
 * our own mount (core/statat.c: rcfs_statat gives -ELOOP for anything on ctx->mount_dev). */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../core/fileops.h"
#include "../../core/io.h"
#include "../../core/statat.h"
#include "helpers.h"
#include "helpers2.h"

TestSuite(io, .fini = h2_cleanup);
TestSuite(statat, .fini = h2_cleanup);

static struct th_env env;

static const char tmpl[] = "nameserver 192.0.2.1\n";

/* Fake procfs with pid 10 in net:[1], pid 20 in net:[2]; --max-size max_size (0: default). */
static void setup(long long max_size)
{
	struct rcfs_config cfg = { 0 };
	struct rcfs_init_error err = { 0 };
	int ret;

	th_env_setup(&env, NULL, tmpl, sizeof(tmpl) - 1, 0644);
	th_fake_ns(env.procfs, 10, "net:[1]");
	th_fake_ns(env.procfs, 20, "net:[2]");
	rcfs_ctx_fini(&env.ctx);
	cfg.procfs = env.procfs;
	cfg.backing_dir = env.backing;
	cfg.template_path = env.tmpl;
	cfg.max_size = max_size;
	ret = rcfs_ctx_init(&env.ctx, &cfg, &err);
	cr_assert_eq(ret, 0, "rcfs_ctx_init: %s: %s", err.what, strerror(-ret));
}

static struct rcfs_caller caller(pid_t pid)
{
	struct rcfs_caller c = { .pid = pid, .uid = getuid(), .gid = getgid() };

	return c;
}

static int open_as(pid_t pid, int flags)
{
	struct rcfs_caller c = caller(pid);
	int fd = rcfs_open(&env.ctx, &c, flags);

	cr_assert_geq(fd, 0, "rcfs_open(pid %d, %#o): %s", (int)pid, flags, strerror(-fd));
	return fd;
}

/* 1.conf with n bytes of fill. */
static void put_n(const char *name, size_t n, char fill)
{
	char path[PATH_MAX], *buf = malloc(n + 1);

	cr_assert_not_null(buf);
	memset(buf, fill, n);
	th_backing_path(&env, name, path);
	th_write_file(path, buf, n, 0644);
	free(buf);
}

/* name holds exactly n bytes, all fill except the last k, which are tail. */
static void expect_file(const char *name, size_t n, char fill, const char *tail)
{
	char path[PATH_MAX], *got;
	size_t len, k = tail ? strlen(tail) : 0;
	int ok = 1;

	th_backing_path(&env, name, path);
	got = th_read_file(path, &len);
	for (size_t i = 0; ok && i < len && i < n - k; i++)
		ok = got[i] == fill;
	if (ok && k && len == n)
		ok = !memcmp(got + n - k, tail, k);
	free(got);
	cr_assert_eq(len, n, "%s has %zu bytes, want %zu", name, len, n);
	cr_assert(ok, "%s has other content", name);
}

/* ----- rcfs_write --------------------------------------------------------------------------- */

Test(io, default_limit_is_one_mebibyte)
{
	setup(0);
	cr_expect_eq(env.ctx.max_size, 1048576);
	cr_expect_eq(RCFS_MAX_SIZE_DEFAULT, 1048576);
	th_env_teardown(&env);
}

Test(io, write_past_the_limit_changes_nothing)
{
	char big[128];
	int fd;

	memset(big, 'b', sizeof(big));
	setup(100);
	put_n("1.conf", 90, 'a');
	fd = open_as(10, O_WRONLY);
	/* Ending at 105, 101: refused whole, no byte written, no hole made. */
	cr_expect_eq(rcfs_write(&env.ctx, fd, "0123456789", 10, 95, 0), -EFBIG);
	cr_expect_eq(rcfs_write(&env.ctx, fd, "0123456789", 10, 91, 0), -EFBIG);
	cr_expect_eq(rcfs_write(&env.ctx, fd, "x", 1, 100, 0), -EFBIG);
	cr_expect_eq(rcfs_write(&env.ctx, fd, big, 101, 0, 0), -EFBIG);
	cr_expect_eq(rcfs_write(&env.ctx, fd, "x", 1, INT64_MAX, 0), -EFBIG);
	cr_expect_eq(rcfs_write(&env.ctx, fd, "x", 1, INT64_MAX - 5, 0), -EFBIG);
	/* A size that no buffer has: refused before anything is read from it. */
	cr_expect_eq(rcfs_write(&env.ctx, fd, "x", SIZE_MAX, 0, 0), -EFBIG);
	cr_expect_lt(rcfs_write(&env.ctx, fd, "x", 1, -1, 0), 0);
	expect_file("1.conf", 90, 'a', NULL);
	/* Ending exactly at the limit: written. */
	cr_expect_eq(rcfs_write(&env.ctx, fd, "0123456789", 10, 90, 0), 10);
	expect_file("1.conf", 100, 'a', "0123456789");
	cr_expect_eq(rcfs_write(&env.ctx, fd, "x", 1, 100, 0), -EFBIG);
	/* Overwriting within the limit still works, also a whole file of the limit's size. */
	cr_expect_eq(rcfs_write(&env.ctx, fd, "ABCDEFGHIJ", 10, 90, 0), 10);
	cr_expect_eq(rcfs_write(&env.ctx, fd, big, 100, 0, 0), 100);
	expect_file("1.conf", 100, 'b', NULL);
	cr_expect_eq(rcfs_write(&env.ctx, fd, "", 0, 100, 0), 0);
	rcfs_close(fd);
	th_env_teardown(&env);
}

Test(io, append_past_the_limit_changes_nothing)
{
	int fd;

	setup(100);
	put_n("1.conf", 95, 'a');
	fd = open_as(10, O_WRONLY | O_APPEND);
	/* The offset the kernel passes means nothing for an append (it may be another caller's
	 * size): the file's own end decides. At 0 the write would fit, at the end it does not. */
	cr_expect_eq(rcfs_write(&env.ctx, fd, "0123456789", 10, 0, 1), -EFBIG);
	cr_expect_eq(rcfs_write(&env.ctx, fd, "0123456789", 10, 95, 1), -EFBIG);
	expect_file("1.conf", 95, 'a', NULL);
	cr_expect_eq(rcfs_write(&env.ctx, fd, "01234", 5, 0, 1), 5);
	expect_file("1.conf", 100, 'a', "01234");
	cr_expect_eq(rcfs_write(&env.ctx, fd, "x", 1, 0, 1), -EFBIG);
	cr_expect_eq(rcfs_write(&env.ctx, fd, "", 0, 0, 1), 0);
	expect_file("1.conf", 100, 'a', "01234");
	rcfs_close(fd);
	/* The other namespace's file is its own: room there. */
	fd = open_as(20, O_WRONLY | O_APPEND);
	cr_expect_eq(rcfs_write(&env.ctx, fd, "y", 1, 100, 1), 1);
	rcfs_close(fd);
	th_env_teardown(&env);
}

/* ----- rcfs_resize and the truncates built on it ---------------------------------------------- */

Test(io, resize_past_the_limit_changes_nothing)
{
	struct rcfs_caller c = caller(10);
	struct rcfs_setattr sa = { .valid = RCFS_SET_SIZE };
	struct stat st;
	int fd, ro;

	setup(100);
	put_n("1.conf", 50, 'a');
	fd = open_as(10, O_RDWR);
	ro = open_as(10, O_RDONLY);
	cr_expect_eq(rcfs_resize(&env.ctx, fd, 1, 101), -EFBIG);
	cr_expect_eq(rcfs_resize(&env.ctx, ro, 0, 101), -EFBIG);
	cr_expect_eq(rcfs_resize(&env.ctx, fd, 1, INT64_MAX), -EFBIG);
	cr_expect_eq(rcfs_truncate(&env.ctx, &c, 101), -EFBIG);
	sa.size = 101;
	cr_expect_eq(rcfs_setattr(&env.ctx, &c, fd, &sa, &st), -EFBIG);
	cr_expect_eq(rcfs_setattr(&env.ctx, &c, -1, &sa, &st), -EFBIG);
	expect_file("1.conf", 50, 'a', NULL);
	/* Up to the limit: fine, by every path. */
	cr_expect_eq(rcfs_resize(&env.ctx, fd, 1, 100), 0);
	cr_assert_eq(rcfs_fstat(fd, &st), 0);
	cr_expect_eq(st.st_size, 100);
	cr_expect_eq(rcfs_truncate(&env.ctx, &c, 60), 0);
	cr_expect_eq(rcfs_resize(&env.ctx, ro, 0, 70), 0);
	sa.size = 80;
	cr_expect_eq(rcfs_setattr(&env.ctx, &c, fd, &sa, &st), 0);
	cr_expect_eq(st.st_size, 80);
	sa.size = 100;
	cr_expect_eq(rcfs_setattr(&env.ctx, &c, -1, &sa, &st), 0);
	cr_expect_eq(st.st_size, 100);
	/* Shrinking is always allowed, O_TRUNC too. */
	cr_expect_eq(rcfs_resize(&env.ctx, fd, 1, 0), 0);
	rcfs_close(fd);
	rcfs_close(ro);
	put_n("1.conf", 100, 'a');
	rcfs_close(open_as(10, O_WRONLY | O_TRUNC));
	expect_file("1.conf", 0, 'a', NULL);
	th_env_teardown(&env);
}

/* ----- concurrent appends near the limit ------------------------------------------------------ */

#define APPENDERS 8
#define CHUNK 7
#define LIMIT 4096
#define START 3600

struct appender {
	pthread_barrier_t *go;
	int id;
	int fd;
	int ok;        /* successful appends */
	int other_err; /* an error other than EFBIG */
};

static void *append_until_full(void *p)
{
	struct appender *a = p;
	char chunk[CHUNK];

	snprintf(chunk, sizeof(chunk), "t%d....", a->id);
	chunk[CHUNK - 1] = '\n';
	pthread_barrier_wait(a->go);
	for (;;) {
		ssize_t n = rcfs_write(&env.ctx, a->fd, chunk, CHUNK, 0, 1);

		if (n == -EFBIG)
			break; /* the file never shrinks here: it stays full */
		if (n != CHUNK) {
			a->other_err = n < 0 ? (int)-n : -1;
			break;
		}
		a->ok++;
	}
	return NULL;
}

struct watcher {
	int fd;
	volatile int stop;
	off_t max_seen;
};

static void *watch_size(void *p)
{
	struct watcher *w = p;
	struct stat st;

	while (!w->stop)
		if (fstat(w->fd, &st) == 0 && st.st_size > w->max_seen)
			w->max_seen = st.st_size;
	return NULL;
}

Test(io, concurrent_appends_never_pass_the_limit)
{
	struct appender a[APPENDERS];
	pthread_t t[APPENDERS], wt;
	pthread_barrier_t go;
	struct watcher w = { 0 };
	char path[PATH_MAX], *got;
	size_t len;
	int total = 0;

	setup(LIMIT);
	put_n("1.conf", START, '#');
	th_backing_path(&env, "1.conf", path);
	w.fd = open(path, O_RDONLY | O_CLOEXEC);
	cr_assert_geq(w.fd, 0);
	cr_assert_eq(pthread_create(&wt, NULL, watch_size, &w), 0);
	cr_assert_eq(pthread_barrier_init(&go, NULL, APPENDERS), 0);
	for (int i = 0; i < APPENDERS; i++) {
		/* Each its own open file, as each caller's FUSE handle. */
		a[i] = (struct appender){ .go = &go, .id = i, .fd = open_as(10, O_WRONLY | O_APPEND) };
		cr_assert_eq(pthread_create(&t[i], NULL, append_until_full, &a[i]), 0);
	}
	for (int i = 0; i < APPENDERS; i++)
		pthread_join(t[i], NULL);
	w.stop = 1;
	pthread_join(wt, NULL);
	pthread_barrier_destroy(&go);
	for (int i = 0; i < APPENDERS; i++) {
		cr_expect_eq(a[i].other_err, 0, "appender %d: %s", i, strerror(a[i].other_err));
		total += a[i].ok;
		rcfs_close(a[i].fd);
	}
	close(w.fd);
	got = th_read_file(path, &len);
	cr_expect_leq(w.max_seen, LIMIT, "the file was seen at %lld bytes", (long long)w.max_seen);
	cr_expect_leq(len, LIMIT);
	cr_expect_eq(len, (size_t)START + (size_t)total * CHUNK, "%d appends succeeded", total);
	cr_expect_gt(len, LIMIT - CHUNK, "the appenders stopped before the file was full");
	/* Whole chunks, never interleaved. */
	for (size_t off = START; off + CHUNK <= len; off += CHUNK)
		cr_expect(got[off] == 't' && got[off + 1] >= '0' && got[off + 1] < '0' + APPENDERS &&
				  !memcmp(got + off + 2, "....\n", 5),
			  "a torn chunk at %zu", off);
	free(got);
	th_env_teardown(&env);
}

/* ----- rcfs_statat ---------------------------------------------------------------------------- */

static void expect_same(const struct stat *a, const struct stat *b)
{
	cr_expect_eq(a->st_dev, b->st_dev);
	cr_expect_eq(a->st_ino, b->st_ino);
	cr_expect_eq(a->st_mode, b->st_mode);
	cr_expect_eq(a->st_nlink, b->st_nlink);
	cr_expect_eq(a->st_uid, b->st_uid);
	cr_expect_eq(a->st_gid, b->st_gid);
	cr_expect_eq(a->st_size, b->st_size);
	cr_expect_eq(a->st_mtim.tv_sec, b->st_mtim.tv_sec);
	cr_expect_eq(a->st_mtim.tv_nsec, b->st_mtim.tv_nsec);
	cr_expect_eq(a->st_ctim.tv_sec, b->st_ctim.tv_sec);
	cr_expect_eq(a->st_ctim.tv_nsec, b->st_ctim.tv_nsec);
}

Test(statat, reports_what_stat_reports)
{
	char path[PATH_MAX], link[PATH_MAX];
	struct stat got, want;

	setup(0);
	put_n("1.conf", 33, 'x');
	th_backing_path(&env, "1.conf", path);
	th_backing_path(&env, "link", link);
	cr_assert_eq(symlink("1.conf", link), 0);
	cr_assert_eq(stat(path, &want), 0);
	cr_assert_eq(rcfs_statat(&env.ctx, AT_FDCWD, path, &got), 0);
	expect_same(&got, &want);
	cr_assert_eq(rcfs_statat(&env.ctx, env.ctx.backing_fd, "1.conf", &got), 0);
	expect_same(&got, &want);
	/* Symlinks are followed. */
	cr_assert_eq(rcfs_statat(&env.ctx, env.ctx.backing_fd, "link", &got), 0);
	expect_same(&got, &want);
	cr_expect_eq(rcfs_statat(&env.ctx, env.ctx.backing_fd, "missing", &got), -ENOENT);
	cr_expect_eq(rcfs_statat(&env.ctx, env.ctx.backing_fd, "1.conf/x", &got), -ENOTDIR);
	th_env_teardown(&env);
}

Test(statat, names_on_our_own_mount_are_eloop)
{
	char path[PATH_MAX], link[PATH_MAX], fdpath[64];
	struct stat st, proc;
	int fd;

	setup(0);
	put_n("1.conf", 3, 'x');
	th_backing_path(&env, "1.conf", path);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(stat("/proc/self/status", &proc), 0);
	cr_assert_neq(proc.st_dev, st.st_dev, "procfs and the test directory share a device");
	/* "Our mount" is the device of the test directory. */
	env.ctx.mount_dev = st.st_dev;
	cr_expect_eq(rcfs_statat(&env.ctx, AT_FDCWD, path, &st), -ELOOP);
	cr_expect_eq(rcfs_statat(&env.ctx, env.ctx.backing_fd, "1.conf", &st), -ELOOP);
	/* Through a symlink elsewhere that leads onto it. */
	fd = open(path, O_RDONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", fd);
	cr_expect_eq(rcfs_statat(&env.ctx, AT_FDCWD, fdpath, &st), -ELOOP);
	close(fd);
	/* Names elsewhere are fine, also through a symlink on the mount's device that leads off it. */
	cr_expect_eq(rcfs_statat(&env.ctx, AT_FDCWD, "/proc/self/status", &st), 0);
	th_backing_path(&env, "to-proc", link);
	cr_assert_eq(symlink("/proc/self/status", link), 0);
	cr_expect_eq(rcfs_statat(&env.ctx, env.ctx.backing_fd, "to-proc", &st), 0);
	cr_expect_eq(st.st_dev, proc.st_dev);
	/* Missing names are still ENOENT. */
	cr_expect_eq(rcfs_statat(&env.ctx, env.ctx.backing_fd, "missing", &st), -ENOENT);
	/* Not mounted yet (0): nothing is ELOOP. */
	env.ctx.mount_dev = 0;
	cr_expect_eq(rcfs_statat(&env.ctx, AT_FDCWD, path, &st), 0);
	th_env_teardown(&env);
}

/* A backing file that is a symlink onto "our mount" (here: procfs, standing in for the FUSE
 * mount) is never opened, stated or created through: -ELOOP, only for that caller. */
Test(statat, request_path_never_calls_into_our_mount)
{
	struct rcfs_caller c = caller(10), other = caller(20);
	char link[PATH_MAX];
	struct stat st, proc;
	int fd;

	setup(0);
	cr_assert_eq(stat("/proc/self/status", &proc), 0);
	th_backing_path(&env, "1.conf", link);
	cr_assert_eq(symlink("/proc/self/status", link), 0);
	env.ctx.mount_dev = proc.st_dev;
	cr_expect_eq(rcfs_stat(&env.ctx, &c, &st), -ELOOP);
	cr_expect_eq(rcfs_open(&env.ctx, &c, O_RDONLY), -ELOOP);
	cr_expect_eq(rcfs_open(&env.ctx, &c, O_WRONLY | O_TRUNC), -ELOOP);
	cr_expect_eq(rcfs_access(&env.ctx, &c, F_OK), -ELOOP);
	cr_expect_eq(rcfs_truncate(&env.ctx, &c, 0), -ELOOP);
	/* The other namespace is served as ever. */
	fd = rcfs_open(&env.ctx, &other, O_RDONLY);
	cr_assert_geq(fd, 0, "rcfs_open: %s", strerror(-fd));
	rcfs_close(fd);
	cr_expect_eq(th_count_entries(env.backing, NULL), 2);
	th_env_teardown(&env);
}

/* A template that has come to lead onto our mount: no copy is made from it, nothing is left. */
Test(statat, template_onto_our_mount_makes_no_copy)
{
	struct rcfs_caller c = caller(10);
	struct stat st, t;

	setup(0);
	cr_assert_eq(stat(env.tmpl, &t), 0);
	env.ctx.mount_dev = t.st_dev; /* the backing directory shares it: a missing name is ENOENT */
	cr_assert_eq(rcfs_stat(&env.ctx, &c, &st), -ELOOP);
	cr_expect_eq(rcfs_open(&env.ctx, &c, O_RDONLY), -ELOOP);
	env.ctx.mount_dev = 0;
	cr_expect_eq(th_count_entries(env.backing, NULL), 0);
	th_env_teardown(&env);
}
