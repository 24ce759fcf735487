/* The template view (core/tview.c): what a namespace without a file of its own is served. Its
 * content is exactly a copy's (filtered under --filter-loopback), its attributes the template's
 * with the copy's size, it is rebuilt (a new inode number) only when the template changes, and
 * it is sealed: nothing written through any descriptor of it changes it. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../core/filter.h"
#include "../../core/tview.h"
#include "helpers.h"
#include "helpers2.h"

TestSuite(tview, .fini = h2_cleanup);

static struct th_env env;

static const char tmpl_a[] = "nameserver 127.0.0.1\nnameserver 192.0.2.1\nsearch a.example\n";
static const char tmpl_b[] = "nameserver 198.51.100.7\noptions ndots:2\nsearch b.example c.example\n";
static const char *const fallbacks[] = { "192.0.2.53" };

/* Context on a fake procfs (the view needs none), --max-size max (0: default), filtered. */
static void setup(int filter, long long max_size)
{
	struct rcfs_config cfg = { 0 };
	struct rcfs_init_error err = { 0 };
	int ret;

	th_env_setup(&env, NULL, tmpl_a, sizeof(tmpl_a) - 1, 0640);
	rcfs_ctx_fini(&env.ctx);
	cfg.procfs = env.procfs;
	cfg.backing_dir = env.backing;
	cfg.template_path = env.tmpl;
	cfg.max_size = max_size;
	cfg.filter_loopback = filter;
	cfg.fallbacks = filter ? fallbacks : NULL;
	cfg.n_fallbacks = filter ? 1 : 0;
	ret = rcfs_ctx_init(&env.ctx, &cfg, &err);
	cr_assert_eq(ret, 0, "rcfs_ctx_init: %s: %s", err.what, strerror(-ret));
	cr_assert_not_null(env.ctx.tview);
}

static char *contents(int fd, size_t *len)
{
	return th_read_fd(fd, len);
}

/* Replace the template atomically (a new inode): readers see the old or the new one whole. */
static void replace_template(const char *text, mode_t mode)
{
	char tmp[PATH_MAX];

	th_pathf(tmp, "%s.new", env.tmpl);
	th_write_file(tmp, text, strlen(text), mode);
	cr_assert_eq(rename(tmp, env.tmpl), 0);
}

static char *filtered(const char *text)
{
	size_t cap = rcfs_filter_bound(strlen(text), fallbacks, 1);
	char *out = malloc(cap + 1);
	long n;

	cr_assert_not_null(out);
	n = rcfs_filter_loopback(text, strlen(text), out, cap, fallbacks, 1);
	cr_assert_geq(n, 0);
	out[n] = '\0';
	return out;
}

Test(tview, content_and_attributes_are_the_templates)
{
	struct stat st, st2, t;
	size_t len;
	char *got;
	int fd;

	setup(0, 0);
	cr_assert_eq(stat(env.tmpl, &t), 0);
	fd = rcfs_tview_open(&env.ctx, &st);
	cr_assert_geq(fd, 0, "rcfs_tview_open: %s", strerror(-fd));
	got = contents(fd, &len);
	cr_expect_eq(len, sizeof(tmpl_a) - 1);
	cr_expect_str_eq(got, tmpl_a);
	free(got);
	cr_expect(S_ISREG(st.st_mode));
	cr_expect_eq(st.st_mode & 07777, 0640);
	cr_expect_eq(st.st_uid, t.st_uid);
	cr_expect_eq(st.st_gid, t.st_gid);
	cr_expect_eq(st.st_size, t.st_size);
	cr_expect_eq(st.st_mtim.tv_sec, t.st_mtim.tv_sec);
	cr_expect_eq(st.st_mtim.tv_nsec, t.st_mtim.tv_nsec);
	cr_expect(fcntl(fd, F_GETFD) & FD_CLOEXEC, "the view's descriptors must be close-on-exec");
	cr_assert_eq(rcfs_tview_stat(&env.ctx, &st2), 0);
	cr_expect_eq(st2.st_ino, st.st_ino);
	cr_expect_eq(st2.st_size, st.st_size);
	close(fd);
	/* Nothing of it lives in the backing directory. */
	cr_expect_eq(th_count_entries(env.backing, NULL), 0);
	th_env_teardown(&env);
}

Test(tview, filtered_under_filter_loopback)
{
	char *want, *got;
	struct stat st;
	size_t len;
	int fd;

	setup(1, 0);
	want = filtered(tmpl_a);
	cr_assert(strcmp(want, tmpl_a) != 0, "the filter changes nothing: a useless test");
	fd = rcfs_tview_open(&env.ctx, &st);
	cr_assert_geq(fd, 0, "rcfs_tview_open: %s", strerror(-fd));
	got = contents(fd, &len);
	cr_expect_str_eq(got, want);
	cr_expect_eq(st.st_size, (off_t)strlen(want), "the size of the filtered copy");
	free(got);
	free(want);
	close(fd);
	th_env_teardown(&env);
}

Test(tview, rebuilt_only_when_the_template_changes)
{
	struct stat s1, s2, s3, s4;
	size_t len;
	char *got;
	int old, fd;

	setup(0, 0);
	cr_assert_eq(rcfs_tview_stat(&env.ctx, &s1), 0);
	old = rcfs_tview_open(&env.ctx, &s2);
	cr_assert_geq(old, 0);
	cr_expect_eq(s2.st_ino, s1.st_ino, "rebuilt though the template did not change");

	replace_template(tmpl_b, 0644);
	cr_assert_eq(rcfs_tview_stat(&env.ctx, &s3), 0);
	cr_expect_neq(s3.st_ino, s1.st_ino, "the inode number must change with the content");
	cr_expect_eq(s3.st_size, (off_t)sizeof(tmpl_b) - 1);
	cr_expect_eq(s3.st_mode & 07777, 0644);
	fd = rcfs_tview_open(&env.ctx, &s4);
	cr_assert_geq(fd, 0);
	cr_expect_eq(s4.st_ino, s3.st_ino);
	got = contents(fd, &len);
	cr_expect_str_eq(got, tmpl_b);
	free(got);
	close(fd);
	/* A descriptor of the old view keeps the old content. */
	got = contents(old, &len);
	cr_expect_str_eq(got, tmpl_a);
	free(got);
	close(old);

	/* Edited in place (same inode, new size and times): rebuilt too. */
	th_write_file(env.tmpl, tmpl_a, sizeof(tmpl_a) - 1, 0644);
	cr_assert_eq(rcfs_tview_stat(&env.ctx, &s1), 0);
	cr_expect_neq(s1.st_ino, s3.st_ino);
	cr_expect_eq(s1.st_size, (off_t)sizeof(tmpl_a) - 1);
	/* Only the mode changed: reported at once. */
	cr_assert_eq(chmod(env.tmpl, 0604), 0);
	cr_assert_eq(rcfs_tview_stat(&env.ctx, &s2), 0);
	cr_expect_eq(s2.st_mode & 07777, 0604);
	cr_expect_eq(th_count_entries(env.backing, NULL), 0);
	th_env_teardown(&env);
}

Test(tview, sealed)
{
	char path[64], *got;
	struct stat st;
	size_t len;
	void *map;
	int fd, rw, seals;

	setup(0, 0);
	fd = rcfs_tview_open(&env.ctx, &st);
	cr_assert_geq(fd, 0);
	seals = fcntl(fd, F_GET_SEALS);
	cr_assert_geq(seals, 0, "F_GET_SEALS: %s", strerror(errno));
	cr_expect_eq(seals & (F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL),
		     F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL, "seals %#x", seals);
	cr_expect_lt(write(fd, "x", 1), 0);
	cr_expect_lt(pwrite(fd, "x", 1, 0), 0);
	cr_expect_lt(pwrite(fd, "x", 1, st.st_size), 0);
	cr_expect_lt(ftruncate(fd, 0), 0);
	cr_expect_lt(ftruncate(fd, st.st_size + 1), 0);
	cr_expect_lt(fcntl(fd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE), 0, "the seals themselves are sealed");
	map = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	cr_expect_eq(map, MAP_FAILED, "a writable shared mapping of the view");
	if (map != MAP_FAILED)
		munmap(map, 4096);
	/* A new open of the same file, for writing: still sealed. */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	rw = open(path, O_RDWR | O_CLOEXEC);
	if (rw >= 0) {
		cr_expect_lt(write(rw, "x", 1), 0);
		cr_expect_lt(ftruncate(rw, 0), 0);
		close(rw);
	}
	got = contents(fd, &len);
	cr_expect_str_eq(got, tmpl_a);
	free(got);
	close(fd);
	/* And the next descriptor still reads the template. */
	fd = rcfs_tview_open(&env.ctx, &st);
	cr_assert_geq(fd, 0);
	got = contents(fd, &len);
	cr_expect_str_eq(got, tmpl_a);
	free(got);
	close(fd);
	th_env_teardown(&env);
}

Test(tview, errors_of_the_template)
{
	struct stat st;
	char big[200];
	int fd;

	setup(0, 100);
	cr_assert_eq(rcfs_tview_stat(&env.ctx, &st), 0);
	/* Grown beyond --max-size since startup. */
	memset(big, 'x', sizeof(big));
	th_write_file(env.tmpl, big, sizeof(big), 0644);
	cr_expect_eq(rcfs_tview_stat(&env.ctx, &st), -EFBIG);
	cr_expect_eq(rcfs_tview_open(&env.ctx, &st), -EFBIG);
	/* Gone. */
	cr_assert_eq(unlink(env.tmpl), 0);
	cr_expect_eq(rcfs_tview_stat(&env.ctx, &st), -ENOENT);
	cr_expect_eq(rcfs_tview_open(&env.ctx, &st), -ENOENT);
	/* A directory, a FIFO (which must not block). */
	cr_assert_eq(mkdir(env.tmpl, 0755), 0);
	cr_expect_eq(rcfs_tview_open(&env.ctx, &st), -EISDIR);
	cr_assert_eq(rmdir(env.tmpl), 0);
	cr_assert_eq(mkfifo(env.tmpl, 0644), 0);
	cr_expect_eq(rcfs_tview_open(&env.ctx, &st), -EINVAL);
	cr_assert_eq(unlink(env.tmpl), 0);
	/* Restored: served again. */
	th_write_file(env.tmpl, "nameserver 192.0.2.9\n", 21, 0644);
	fd = rcfs_tview_open(&env.ctx, &st);
	cr_assert_geq(fd, 0, "rcfs_tview_open: %s", strerror(-fd));
	cr_expect_eq(st.st_size, 21);
	close(fd);
	/* On our own mount: never read. */
	{
		struct stat t;

		cr_assert_eq(stat(env.tmpl, &t), 0);
		env.ctx.mount_dev = t.st_dev;
		th_write_file(env.tmpl, "nameserver 192.0.2.10\n", 22, 0644);
		cr_expect_eq(rcfs_tview_stat(&env.ctx, &st), -ELOOP);
		env.ctx.mount_dev = 0;
	}
	cr_expect_eq(th_count_entries(env.backing, NULL), 0);
	th_env_teardown(&env);
}

Test(tview, without_a_template)
{
	struct stat st;
	int ret;

	th_env_setup(&env, NULL, NULL, 0, 0);
	cr_expect_eq(rcfs_tview_stat(&env.ctx, &st), -ENOENT);
	ret = rcfs_tview_open(&env.ctx, &st);
	cr_expect_eq(ret, -ENOENT);
	th_env_teardown(&env);
}

Test(tview, fini_is_idempotent)
{
	struct stat st;
	int fd;

	setup(0, 0);
	fd = rcfs_tview_open(&env.ctx, &st);
	cr_assert_geq(fd, 0);
	rcfs_tview_fini(&env.ctx);
	cr_expect_null(env.ctx.tview);
	rcfs_tview_fini(&env.ctx);
	/* The caller's descriptor outlives the view. */
	cr_expect_eq(fstat(fd, &st), 0);
	close(fd);
	th_env_teardown(&env);
}

/* Readers while the template is replaced: every open gets one whole version, and attributes
 * that belong to it (the size is that of what the descriptor reads). */
#define READERS 8
#define ROUNDS 200

struct reader {
	int bad;
	int seen_a, seen_b;
	char msg[128];
};

static void *read_views(void *p)
{
	struct reader *r = p;

	for (int i = 0; i < ROUNDS && !r->bad; i++) {
		struct stat st;
		size_t len;
		char *got;
		int fd = rcfs_tview_open(&env.ctx, &st);

		if (fd < 0) {
			r->bad = 1;
			snprintf(r->msg, sizeof(r->msg), "rcfs_tview_open: %s", strerror(-fd));
			break;
		}
		got = th_read_fd(fd, &len);
		close(fd);
		if (!strcmp(got, tmpl_a))
			r->seen_a++;
		else if (!strcmp(got, tmpl_b))
			r->seen_b++;
		else {
			r->bad = 1;
			snprintf(r->msg, sizeof(r->msg), "read %zu bytes of neither version", len);
		}
		if (!r->bad && st.st_size != (off_t)len) {
			r->bad = 1;
			snprintf(r->msg, sizeof(r->msg), "size %lld for %zu bytes read",
				 (long long)st.st_size, len);
		}
		free(got);
	}
	return NULL;
}

Test(tview, concurrent_opens_while_the_template_changes)
{
	struct reader r[READERS];
	pthread_t t[READERS];

	setup(0, 0);
	memset(r, 0, sizeof(r));
	for (int i = 0; i < READERS; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, read_views, &r[i]), 0);
	for (int i = 0; i < 50; i++)
		replace_template(i % 2 ? tmpl_a : tmpl_b, 0644);
	for (int i = 0; i < READERS; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < READERS; i++)
		cr_expect_not(r[i].bad, "reader %d: %s", i, r[i].msg);
	th_env_teardown(&env);
}
