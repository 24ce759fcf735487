/* Backing files: rcfs_backing_name, and template propagation through rcfs_backing_create,
 * rcfs_open and rcfs_stat (atomicity, permission bits, failure paths). */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/capability.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Under valgrind the threads of the race tests run one at a time and slowly: fewer rounds there
 * (the memory checking is what matters then; the race itself is exercised natively). */
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

#include "../../core/backing.h"
#include "../../core/fileops.h"
#include "../../core/io.h"
#include "../../core/key.h"
#include "helpers.h"

TestSuite(backing, .fini = th_cleanup);
TestSuite(propagation, .fini = th_cleanup);

static struct th_env env;

static const char small_tmpl[] = "# template\nnameserver 192.0.2.53\nsearch example.org\n";

static struct rcfs_caller caller(pid_t pid)
{
	struct rcfs_caller c = { .pid = pid, .uid = getuid(), .gid = getgid() };

	return c;
}

/* The backing file must hold exactly want (len bytes). */
static void assert_content(const char *path, const void *want, size_t len)
{
	size_t got_len;
	char *got = th_read_file(path, &got_len);
	int same = got_len == len && memcmp(got, want, len) == 0;

	free(got); /* before asserting: a failed assertion leaves the test at once */
	cr_assert_eq(got_len, len, "%s has %zu bytes, want %zu", path, got_len, len);
	cr_assert(same, "%s differs from the template", path);
}

static void assert_only_entry(const char *dir, const char *name)
{
	char found[NAME_MAX + 1];
	int n = th_count_entries(dir, found);

	cr_assert_eq(n, 1, "%s has %d entries, want only %s", dir, n, name);
	cr_assert_str_eq(found, name);
}

static void assert_empty_dir(const char *dir)
{
	int n = th_count_entries(dir, NULL);

	cr_assert_eq(n, 0, "%s has %d entries, want none", dir, n);
}

/* ----- rcfs_backing_name ------------------------------------------------------------------ */

Test(backing, name_default_extension)
{
	char buf[RCFS_NAME_SIZE];

	th_env_setup(&env, NULL, NULL, 0, 0);
	cr_assert_eq(rcfs_backing_name(&env.ctx, 777, buf, sizeof(buf)), 0);
	cr_assert_str_eq(buf, "777.conf");
	cr_assert_eq(rcfs_backing_name(&env.ctx, 0, buf, sizeof(buf)), 0);
	cr_assert_str_eq(buf, "0.conf");
	cr_assert_eq(rcfs_backing_name(&env.ctx, UINT64_MAX, buf, sizeof(buf)), 0);
	cr_assert_str_eq(buf, "18446744073709551615.conf");
	th_env_teardown(&env);
}

Test(backing, name_empty_extension)
{
	char buf[RCFS_NAME_SIZE];

	th_env_setup(&env, "", NULL, 0, 0);
	cr_assert_eq(rcfs_backing_name(&env.ctx, 777, buf, sizeof(buf)), 0);
	cr_assert_str_eq(buf, "777");
	th_env_teardown(&env);
}

Test(backing, name_custom_extension)
{
	char buf[RCFS_NAME_SIZE];

	th_env_setup(&env, "resolv", NULL, 0, 0);
	cr_assert_eq(rcfs_backing_name(&env.ctx, 4026532413u, buf, sizeof(buf)), 0);
	cr_assert_str_eq(buf, "4026532413.resolv");
	th_env_teardown(&env);
	th_env_setup(&env, "conf.d.x", NULL, 0, 0);
	cr_assert_eq(rcfs_backing_name(&env.ctx, 1, buf, sizeof(buf)), 0);
	cr_assert_str_eq(buf, "1.conf.d.x");
	th_env_teardown(&env);
}

Test(backing, name_buffer_too_small)
{
	char buf[16];

	th_env_setup(&env, NULL, NULL, 0, 0);
	/* "777.conf" needs 9 bytes with its NUL. */
	cr_assert_eq(rcfs_backing_name(&env.ctx, 777, buf, 9), 0);
	cr_assert_str_eq(buf, "777.conf");
	cr_assert_eq(rcfs_backing_name(&env.ctx, 777, buf, 8), -ENAMETOOLONG);
	cr_assert_eq(rcfs_backing_name(&env.ctx, 777, buf, 1), -ENAMETOOLONG);
	cr_assert_eq(rcfs_backing_name(&env.ctx, 777, NULL, 0), -ENAMETOOLONG);
	cr_assert_eq(rcfs_backing_name(&env.ctx, UINT64_MAX, buf, sizeof(buf)), -ENAMETOOLONG);
	th_env_teardown(&env);
	th_env_setup(&env, "", NULL, 0, 0);
	cr_assert_eq(rcfs_backing_name(&env.ctx, 777, buf, 3), -ENAMETOOLONG);
	cr_assert_eq(rcfs_backing_name(&env.ctx, 777, buf, 4), 0);
	cr_assert_str_eq(buf, "777");
	th_env_teardown(&env);
}

Test(backing, longest_name_fits_and_is_created)
{
	/* The largest id with the longest extension is the longest backing name (NAME_MAX less the
	 * room kept for a `.stale-<id>-<id>` suffix): it must name a real file, and the propagation
	 * path must cope with it. */
	char ext[RCFS_EXT_MAX + 1], buf[RCFS_NAME_SIZE], path[PATH_MAX];
	struct rcfs_caller c = caller(9);
	int fd;

	memset(ext, 'x', RCFS_EXT_MAX);
	ext[RCFS_EXT_MAX] = '\0';
	th_env_setup(&env, ext, small_tmpl, sizeof(small_tmpl) - 1, 0644);
	cr_assert_eq(rcfs_backing_name(&env.ctx, UINT64_MAX, buf, sizeof(buf)), 0);
	cr_assert_eq(strlen(buf), 20 + 1 + RCFS_EXT_MAX);
	th_fake_ns(env.procfs, 9, "net:[18446744073709551615]");
	fd = rcfs_open(&env.ctx, &c, O_RDONLY);
	cr_assert_geq(fd, 0, "rcfs_open: %s", strerror(-fd));
	rcfs_close(fd);
	th_backing_path(&env, buf, path);
	assert_content(path, small_tmpl, sizeof(small_tmpl) - 1);
	assert_only_entry(env.backing, buf);
	th_env_teardown(&env);
}

/* ----- propagation: no template ------------------------------------------------------------ */

Test(propagation, missing_file_without_template_is_enoent)
{
	struct rcfs_caller c = caller(10);
	struct stat st;

	th_env_setup(&env, NULL, NULL, 0, 0);
	th_fake_ns(env.procfs, 10, "net:[777]");
	cr_assert_eq(rcfs_backing_create(&env.ctx, "777.conf"), -ENOENT);
	cr_assert_eq(rcfs_open(&env.ctx, &c, O_RDONLY), -ENOENT);
	cr_assert_eq(rcfs_open(&env.ctx, &c, O_RDWR | O_CREAT), -ENOENT, "O_CREAT must not create");
	cr_assert_eq(rcfs_open(&env.ctx, &c, O_WRONLY | O_CREAT | O_EXCL | O_TRUNC), -ENOENT);
	cr_assert_eq(rcfs_stat(&env.ctx, &c, &st), -ENOENT);
	cr_assert_eq(rcfs_truncate(&env.ctx, &c, 0), -ENOENT);
	assert_empty_dir(env.backing);
	th_env_teardown(&env);
}

/* ----- propagation: content and permission bits -------------------------------------------- */

Test(propagation, create_copies_content)
{
	char path[PATH_MAX];
	struct stat st;

	th_env_setup(&env, NULL, small_tmpl, sizeof(small_tmpl) - 1, 0644);
	cr_assert_eq(rcfs_backing_create(&env.ctx, "777.conf"), 0);
	th_backing_path(&env, "777.conf", path);
	assert_content(path, small_tmpl, sizeof(small_tmpl) - 1);
	cr_assert_eq(lstat(path, &st), 0);
	cr_assert(S_ISREG(st.st_mode));
	cr_assert_eq(st.st_nlink, 1);
	cr_assert_eq(st.st_uid, geteuid());
	assert_only_entry(env.backing, "777.conf");
	th_env_teardown(&env);
}

Test(propagation, empty_template_gives_empty_file)
{
	char path[PATH_MAX];
	struct rcfs_caller c = caller(10);
	struct stat st;

	th_env_setup(&env, NULL, "", 0, 0640);
	th_fake_ns(env.procfs, 10, "net:[5]");
	cr_assert_eq(rcfs_stat(&env.ctx, &c, &st), 0);
	cr_assert_eq(st.st_size, 0);
	cr_assert_eq(st.st_mode & 07777, 0640);
	th_backing_path(&env, "5.conf", path);
	assert_content(path, "", 0);
	th_env_teardown(&env);
}

Test(propagation, open_and_stat_create_from_template)
{
	char path[PATH_MAX], *tmpl = malloc(100000);
	struct rcfs_caller a = caller(10), b = caller(20);
	struct stat st, direct;
	size_t len;
	char *got;
	int fd;

	cr_assert_not_null(tmpl);
	th_pattern(tmpl, 100000, 1);
	th_env_setup(&env, NULL, tmpl, 100000, 0644);
	th_fake_ns(env.procfs, 10, "net:[100]");
	th_fake_ns(env.procfs, 20, "net:[200]");

	fd = rcfs_open(&env.ctx, &a, O_RDONLY);
	cr_assert_geq(fd, 0, "rcfs_open: %s", strerror(-fd));
	got = th_read_fd(fd, &len);
	cr_assert_eq(len, 100000);
	cr_assert_arr_eq(got, tmpl, len);
	free(got);
	rcfs_close(fd);

	cr_assert_eq(rcfs_stat(&env.ctx, &b, &st), 0);
	th_backing_path(&env, "200.conf", path);
	cr_assert_eq(stat(path, &direct), 0);
	cr_assert_eq(st.st_ino, direct.st_ino);
	cr_assert_eq(st.st_size, 100000);
	assert_content(path, tmpl, 100000);
	cr_assert_eq(th_count_entries(env.backing, NULL), 2);
	free(tmpl);
	th_env_teardown(&env);
}

/* Create one file per (template mode, umask) pair and check the copy's permission bits. */
Test(propagation, permission_bits_follow_template_whatever_the_umask)
{
	static const mode_t modes[] = { 0640, 0604, 0600, 0644, 0664, 0755, 0444, 0400, 0666, 0777,
					0000, 0060, 0006 };
	static const mode_t umasks[] = { 077, 0, 022, 0777, 0177 };
	uint64_t key = 1000;

	th_env_setup(&env, NULL, small_tmpl, sizeof(small_tmpl) - 1, 0644);
	for (size_t u = 0; u < sizeof(umasks) / sizeof(umasks[0]); u++) {
		for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
			char name[RCFS_NAME_SIZE], path[PATH_MAX];
			struct stat st;
			mode_t old;
			int ret;

			cr_assert_eq(chmod(env.tmpl, modes[m]), 0);
			cr_assert_eq(rcfs_backing_name(&env.ctx, ++key, name, sizeof(name)), 0);
			old = umask(umasks[u]);
			ret = rcfs_backing_create(&env.ctx, name);
			umask(old);
			/* As an ordinary user an unreadable template cannot be copied. */
			if (geteuid() != 0 && !(modes[m] & 0400)) {
				cr_assert_eq(ret, -EACCES);
				continue;
			}
			cr_assert_eq(ret, 0, "mode %04o umask %04o: %s", modes[m], umasks[u],
				     strerror(-ret));
			th_backing_path(&env, name, path);
			cr_assert_eq(lstat(path, &st), 0);
			cr_assert_eq(st.st_mode & 07777, modes[m], "mode %04o umask %04o gave %04o",
				     modes[m], umasks[u], st.st_mode & 07777);
		}
	}
	th_env_teardown(&env);
}

Test(propagation, open_and_stat_paths_preserve_mode_0640_and_0604)
{
	struct rcfs_caller a = caller(10), b = caller(20);
	char path[PATH_MAX];
	struct stat st;
	mode_t old;
	int fd;

	th_env_setup(&env, NULL, small_tmpl, sizeof(small_tmpl) - 1, 0640);
	th_fake_ns(env.procfs, 10, "net:[1]");
	th_fake_ns(env.procfs, 20, "net:[2]");

	old = umask(077);
	fd = rcfs_open(&env.ctx, &a, O_RDWR);
	umask(old);
	cr_assert_geq(fd, 0);
	cr_assert_eq(rcfs_fstat(fd, &st), 0);
	cr_assert_eq(st.st_mode & 07777, 0640);
	rcfs_close(fd);

	cr_assert_eq(chmod(env.tmpl, 0604), 0);
	old = umask(0);
	cr_assert_eq(rcfs_stat(&env.ctx, &b, &st), 0);
	umask(old);
	cr_assert_eq(st.st_mode & 07777, 0604);
	th_backing_path(&env, "2.conf", path);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_mode & 07777, 0604);
	th_env_teardown(&env);
}

Test(propagation, special_bits_are_not_copied)
{
	char path[PATH_MAX];
	struct stat st;

	th_env_setup(&env, NULL, small_tmpl, sizeof(small_tmpl) - 1, 0644);
	cr_assert_eq(chmod(env.tmpl, 06755 | S_ISVTX), 0);
	cr_assert_eq(rcfs_backing_create(&env.ctx, "3.conf"), 0);
	th_backing_path(&env, "3.conf", path);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_mode & 07777, 0755, "got %04o", st.st_mode & 07777);
	th_env_teardown(&env);
}

Test(propagation, template_changes_apply_without_restart)
{
	static const char v2[] = "nameserver 198.51.100.7\n";
	char path[PATH_MAX];

	th_env_setup(&env, NULL, small_tmpl, sizeof(small_tmpl) - 1, 0644);
	cr_assert_eq(rcfs_backing_create(&env.ctx, "1.conf"), 0);
	th_write_file(env.tmpl, v2, sizeof(v2) - 1, 0600);
	cr_assert_eq(rcfs_backing_create(&env.ctx, "2.conf"), 0);
	th_backing_path(&env, "1.conf", path);
	assert_content(path, small_tmpl, sizeof(small_tmpl) - 1);
	th_backing_path(&env, "2.conf", path);
	assert_content(path, v2, sizeof(v2) - 1);
	th_env_teardown(&env);
}

/* ----- propagation: an existing file is never replaced ------------------------------------- */

Test(propagation, existing_file_is_never_replaced)
{
	static const char mine[] = "nameserver 203.0.113.9\n";
	struct rcfs_caller c = caller(10);
	char path[PATH_MAX];
	struct stat before, after, st;
	int fd;

	th_env_setup(&env, NULL, small_tmpl, sizeof(small_tmpl) - 1, 0644);
	th_fake_ns(env.procfs, 10, "net:[777]");
	th_backing_path(&env, "777.conf", path);
	th_write_file(path, mine, sizeof(mine) - 1, 0600);
	cr_assert_eq(stat(path, &before), 0);

	cr_assert_eq(rcfs_backing_create(&env.ctx, "777.conf"), 0);
	fd = rcfs_open(&env.ctx, &c, O_RDONLY);
	cr_assert_geq(fd, 0);
	rcfs_close(fd);
	cr_assert_eq(rcfs_stat(&env.ctx, &c, &st), 0);
	cr_assert_eq(st.st_ino, before.st_ino);

	cr_assert_eq(stat(path, &after), 0);
	cr_assert_eq(after.st_ino, before.st_ino);
	cr_assert_eq(after.st_mode, before.st_mode);
	assert_content(path, mine, sizeof(mine) - 1);
	assert_only_entry(env.backing, "777.conf");
	th_env_teardown(&env);
}

Test(propagation, existing_empty_file_is_not_refilled)
{
	struct rcfs_caller c = caller(10);
	char path[PATH_MAX];
	struct stat st;

	th_env_setup(&env, NULL, small_tmpl, sizeof(small_tmpl) - 1, 0644);
	th_fake_ns(env.procfs, 10, "net:[777]");
	th_backing_path(&env, "777.conf", path);
	th_write_file(path, "", 0, 0644);
	cr_assert_eq(rcfs_stat(&env.ctx, &c, &st), 0);
	cr_assert_eq(st.st_size, 0);
	cr_assert_eq(rcfs_backing_create(&env.ctx, "777.conf"), 0);
	assert_content(path, "", 0);
	th_env_teardown(&env);
}

Test(propagation, dangling_symlink_is_not_replaced)
{
	/* Symlinks are the administrator's business: one whose target is missing stays, and the
	 * caller gets ENOENT rather than a fresh copy in its place. */
	struct rcfs_caller c = caller(10);
	char path[PATH_MAX], target[PATH_MAX], text[PATH_MAX];
	struct stat st;
	ssize_t n;

	th_env_setup(&env, NULL, small_tmpl, sizeof(small_tmpl) - 1, 0644);
	th_fake_ns(env.procfs, 10, "net:[777]");
	th_backing_path(&env, "777.conf", path);
	th_join(target, env.root, "nowhere");
	cr_assert_eq(symlink(target, path), 0);
	cr_assert_eq(rcfs_backing_create(&env.ctx, "777.conf"), 0);
	cr_assert_eq(rcfs_open(&env.ctx, &c, O_RDONLY), -ENOENT);
	cr_assert_eq(rcfs_stat(&env.ctx, &c, &st), -ENOENT);
	cr_assert_eq(lstat(path, &st), 0);
	cr_assert(S_ISLNK(st.st_mode));
	n = readlink(path, text, sizeof(text) - 1);
	cr_assert_gt(n, 0);
	text[n] = '\0';
	cr_assert_str_eq(text, target);
	cr_assert_eq(access(target, F_OK), -1, "the symlink target was created");
	assert_only_entry(env.backing, "777.conf");
	th_env_teardown(&env);
}

Test(propagation, symlink_to_file_elsewhere_is_served)
{
	static const char host[] = "nameserver 127.0.0.53\n";
	struct rcfs_caller c = caller(10);
	char path[PATH_MAX], target[PATH_MAX];
	struct stat st, tst;
	size_t len;
	char *got;
	int fd;

	th_env_setup(&env, NULL, small_tmpl, sizeof(small_tmpl) - 1, 0644);
	th_fake_ns(env.procfs, 10, "net:[777]");
	th_join(target, env.root, "host-resolv.conf");
	th_write_file(target, host, sizeof(host) - 1, 0644);
	th_backing_path(&env, "777.conf", path);
	cr_assert_eq(symlink(target, path), 0);
	fd = rcfs_open(&env.ctx, &c, O_RDONLY);
	cr_assert_geq(fd, 0);
	got = th_read_fd(fd, &len);
	cr_assert_eq(len, sizeof(host) - 1);
	cr_assert_arr_eq(got, host, len);
	free(got);
	rcfs_close(fd);
	cr_assert_eq(rcfs_stat(&env.ctx, &c, &st), 0);
	cr_assert_eq(stat(target, &tst), 0);
	cr_assert_eq(st.st_ino, tst.st_ino, "rcfs_stat must follow the symlink");
	th_env_teardown(&env);
}

/* ----- propagation: concurrent first readers ------------------------------------------------ */

#define RACE_THREADS 32
#define RACE_ROUNDS 8
#define RACE_SIZE (64 * 1024)

struct racer {
	pthread_barrier_t *start;
	pid_t pid;
	int use_stat;
	int ret;            /* 0, or the negative errno of the failing call */
	size_t got;         /* bytes read, or st_size seen */
	int same;           /* content equals the template */
	const char *tmpl;
	char *buf;
};

static void *race(void *p)
{
	struct racer *r = p;
	struct rcfs_caller c = caller(r->pid);

	pthread_barrier_wait(r->start);
	if (r->use_stat) {
		struct stat st;

		r->ret = rcfs_stat(&env.ctx, &c, &st);
		r->got = r->ret ? 0 : (size_t)st.st_size;
		r->same = 1;
	} else {
		int fd = rcfs_open(&env.ctx, &c, O_RDONLY);
		ssize_t n;

		if (fd < 0) {
			r->ret = fd;
			return NULL;
		}
		/* One more byte than the template: a complete file reads short exactly there. */
		n = rcfs_pread(fd, r->buf, RACE_SIZE + 1, 0);
		rcfs_close(fd);
		if (n < 0) {
			r->ret = (int)n;
			return NULL;
		}
		r->got = (size_t)n;
		r->same = n == RACE_SIZE && memcmp(r->buf, r->tmpl, RACE_SIZE) == 0;
	}
	return NULL;
}

static void run_race(int mixed)
{
	static struct racer racers[RACE_THREADS];
	pthread_t threads[RACE_THREADS];
	pthread_barrier_t start;
	char *tmpl = malloc(RACE_SIZE);

	cr_assert_not_null(tmpl);
	th_pattern(tmpl, RACE_SIZE, 42);
	th_env_setup(&env, NULL, tmpl, RACE_SIZE, 0644);
	for (int round = 0; round < (RUNNING_ON_VALGRIND ? 2 : RACE_ROUNDS); round++) {
		char text[32], name[RCFS_NAME_SIZE];
		pid_t pid = 100 + round;

		snprintf(text, sizeof(text), "net:[%d]", 5000 + round);
		th_fake_ns(env.procfs, pid, text);
		cr_assert_eq(pthread_barrier_init(&start, NULL, RACE_THREADS), 0);
		for (int i = 0; i < RACE_THREADS; i++) {
			racers[i] = (struct racer){ .start = &start, .pid = pid, .tmpl = tmpl,
						    .use_stat = mixed && i % 2 };
			racers[i].buf = malloc(RACE_SIZE + 1);
			cr_assert_not_null(racers[i].buf);
			cr_assert_eq(pthread_create(&threads[i], NULL, race, &racers[i]), 0);
		}
		for (int i = 0; i < RACE_THREADS; i++)
			pthread_join(threads[i], NULL);
		pthread_barrier_destroy(&start);
		for (int i = 0; i < RACE_THREADS; i++) {
			free(racers[i].buf);
			cr_assert_eq(racers[i].ret, 0, "round %d thread %d: %s", round, i,
				     strerror(-racers[i].ret));
			cr_assert_eq(racers[i].got, RACE_SIZE, "round %d thread %d saw %zu bytes",
				     round, i, racers[i].got);
			cr_assert(racers[i].same, "round %d thread %d read other content", round, i);
		}
		/* Exactly one file per round so far, and no temporary files. */
		cr_assert_eq(th_count_entries(env.backing, NULL), round + 1, "round %d: %d entries",
			     round, th_count_entries(env.backing, NULL));
		snprintf(name, sizeof(name), "%d.conf", 5000 + round);
		{
			char path[PATH_MAX];
			struct stat st;

			th_backing_path(&env, name, path);
			cr_assert_eq(lstat(path, &st), 0);
			cr_assert(S_ISREG(st.st_mode));
			cr_assert_eq(st.st_nlink, 1);
			assert_content(path, tmpl, RACE_SIZE);
		}
	}
	free(tmpl);
	th_env_teardown(&env);
}

Test(propagation, concurrent_first_opens_see_whole_file)
{
	run_race(0);
}

Test(propagation, concurrent_first_opens_and_stats_see_whole_file)
{
	run_race(1);
}

/* ----- propagation: failures leave nothing behind ------------------------------------------- */

Test(propagation, template_deleted_after_init)
{
	struct rcfs_caller c = caller(10);
	struct stat st;
	char path[PATH_MAX];
	int fd;

	th_env_setup(&env, NULL, small_tmpl, sizeof(small_tmpl) - 1, 0644);
	th_fake_ns(env.procfs, 10, "net:[777]");
	cr_assert_eq(unlink(env.tmpl), 0);
	cr_assert_eq(rcfs_backing_create(&env.ctx, "777.conf"), -ENOENT);
	cr_assert_eq(rcfs_open(&env.ctx, &c, O_RDONLY), -ENOENT);
	cr_assert_eq(rcfs_stat(&env.ctx, &c, &st), -ENOENT);
	cr_assert_eq(rcfs_truncate(&env.ctx, &c, 0), -ENOENT);
	assert_empty_dir(env.backing);
	/* Restoring the template makes it work again, without a restart. */
	th_write_file(env.tmpl, small_tmpl, sizeof(small_tmpl) - 1, 0644);
	fd = rcfs_open(&env.ctx, &c, O_RDONLY);
	cr_assert_geq(fd, 0);
	rcfs_close(fd);
	th_backing_path(&env, "777.conf", path);
	assert_content(path, small_tmpl, sizeof(small_tmpl) - 1);
	assert_only_entry(env.backing, "777.conf");
	th_env_teardown(&env);
}

Test(propagation, template_replaced_by_directory)
{
	struct rcfs_caller c = caller(10);
	int ret;

	th_env_setup(&env, NULL, small_tmpl, sizeof(small_tmpl) - 1, 0644);
	th_fake_ns(env.procfs, 10, "net:[777]");
	cr_assert_eq(unlink(env.tmpl), 0);
	cr_assert_eq(mkdir(env.tmpl, 0755), 0);
	ret = rcfs_backing_create(&env.ctx, "777.conf");
	cr_assert_lt(ret, 0, "a directory template was copied");
	cr_assert_eq(rcfs_open(&env.ctx, &c, O_RDONLY), ret);
	assert_empty_dir(env.backing);
	th_env_teardown(&env);
}

static int create_from_fifo(void *unused)
{
	int ret;

	(void)unused;
	ret = rcfs_backing_create(&env.ctx, "777.conf");
	if (ret == 0)
		return th_child_fail(1, "a FIFO template was copied");
	if (th_count_entries(env.backing, NULL) != 0)
		return th_child_fail(1, "a failed creation left a file behind");
	return 0;
}

Test(propagation, template_replaced_by_fifo_fails_without_blocking)
{
	/* A request thread must never hang on the template: a FIFO is not a regular file. */
	int blocked, code;

	th_env_setup(&env, NULL, small_tmpl, sizeof(small_tmpl) - 1, 0644);
	cr_assert_eq(unlink(env.tmpl), 0);
	cr_assert_eq(mkfifo(env.tmpl, 0644), 0);
	code = th_run_child_fifo_watch(env.tmpl, create_from_fifo, NULL, &blocked);
	cr_expect_not(blocked, "rcfs_backing_create blocked opening a FIFO template");
	cr_assert_eq(code, 0, "child failed (status %d), see its message above", code);
	th_env_teardown(&env);
}

static int create_unreadable(void *unused)
{
	int ret;

	(void)unused;
	if (geteuid() == 0 && th_drop_to_nobody())
		return th_child_fail(1, "cannot drop privileges");
	ret = rcfs_backing_create(&env.ctx, "777.conf");
	if (ret != -EACCES)
		return th_child_fail(1, "unreadable template gave %d (%s), want -EACCES", ret,
				     strerror(-ret));
	if (th_count_entries(env.backing, NULL) != 0)
		return th_child_fail(1, "a failed creation left a file behind");
	return 0;
}

Test(propagation, unreadable_template_leaves_nothing)
{
	int code;

	th_env_setup(&env, NULL, small_tmpl, sizeof(small_tmpl) - 1, 0644);
	/* The daemon (dropped to nobody if we are root) may write the directory but not read the
	 * template. */
	cr_assert_eq(chmod(env.root, 0755), 0);
	cr_assert_eq(chmod(env.backing, 0777), 0);
	cr_assert_eq(chmod(env.tmpl, 0), 0);
	code = th_run_child(0, create_unreadable, NULL);
	cr_assert_eq(code, 0, "child failed (status %d), see its message above", code);
	assert_empty_dir(env.backing);
	th_env_teardown(&env);
}

/* Without CAP_DAC_READ_SEARCH, linkat(AT_EMPTY_PATH) of the O_TMPFILE fails with ENOENT and
 * the core links through /proc/self/fd instead: an unprivileged daemon must still propagate. */
static int drop_dac_read_search(void)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	unsigned idx = CAP_DAC_READ_SEARCH / 32, bit = 1u << (CAP_DAC_READ_SEARCH % 32);

	if (syscall(SYS_capget, &h, d) < 0)
		return -errno;
	d[idx].effective &= ~bit;
	d[idx].permitted &= ~bit;
	d[idx].inheritable &= ~bit;
	return syscall(SYS_capset, &h, d) < 0 ? -errno : 0;
}

static int create_without_cap(void *unused)
{
	char path[PATH_MAX];
	size_t len;
	char *got;
	int ret;

	(void)unused;
	if (geteuid() == 0 && drop_dac_read_search())
		return th_child_fail(1, "cannot drop CAP_DAC_READ_SEARCH");
	ret = rcfs_backing_create(&env.ctx, "777.conf");
	if (ret)
		return th_child_fail(1, "rcfs_backing_create: %s", strerror(-ret));
	th_backing_path(&env, "777.conf", path);
	got = th_read_file(path, &len);
	ret = len == sizeof(small_tmpl) - 1 && memcmp(got, small_tmpl, len) == 0;
	free(got);
	if (!ret)
		return th_child_fail(1, "wrong content");
	if (th_count_entries(env.backing, NULL) != 1)
		return th_child_fail(1, "not exactly one file");
	return 0;
}

Test(propagation, create_without_cap_dac_read_search)
{
	int code;

	th_env_setup(&env, NULL, small_tmpl, sizeof(small_tmpl) - 1, 0644);
	code = th_run_child(0, create_without_cap, NULL);
	cr_assert_eq(code, 0, "child failed (status %d), see its message above", code);
	th_env_teardown(&env);
}

/* ----- propagation: backing directory full (a small tmpfs in a private mount namespace) ------ */

#define BIG_TMPL (1024 * 1024)

static char *big_tmpl;

static void setup_big_template(void)
{
	big_tmpl = malloc(BIG_TMPL);
	cr_assert_not_null(big_tmpl);
	th_pattern(big_tmpl, BIG_TMPL, 7);
	th_env_setup(&env, NULL, big_tmpl, BIG_TMPL, 0640);
	th_fake_ns(env.procfs, 10, "net:[777]");
}

static int mount_tmpfs(const char *size)
{
	char opts[64];
	int ret;

	snprintf(opts, sizeof(opts), "size=%s,mode=0755", size);
	if (mount("tmpfs", env.backing, "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0)
		return th_child_fail(1, "mount tmpfs on %s: %s", env.backing, strerror(errno));
	/* The parent's context has the underlying directory open: start again on the tmpfs. */
	rcfs_ctx_fini(&env.ctx);
	ret = th_env_init_ctx(&env, NULL, 1, NULL);
	if (ret)
		return th_child_fail(1, "rcfs_ctx_init: %s", strerror(-ret));
	return 0;
}

static int expect_enospc_everywhere(void)
{
	struct rcfs_caller c = caller(10);
	struct stat st;
	int ret;

	if ((ret = rcfs_backing_create(&env.ctx, "777.conf")) != -ENOSPC)
		return th_child_fail(1, "rcfs_backing_create gave %d, want -ENOSPC", ret);
	if ((ret = rcfs_open(&env.ctx, &c, O_RDONLY)) != -ENOSPC)
		return th_child_fail(1, "rcfs_open gave %d, want -ENOSPC", ret);
	if ((ret = rcfs_stat(&env.ctx, &c, &st)) != -ENOSPC)
		return th_child_fail(1, "rcfs_stat gave %d, want -ENOSPC", ret);
	if ((ret = rcfs_truncate(&env.ctx, &c, 0)) != -ENOSPC)
		return th_child_fail(1, "rcfs_truncate gave %d, want -ENOSPC", ret);
	if (fstatat(env.ctx.backing_fd, "777.conf", &st, AT_SYMLINK_NOFOLLOW) == 0)
		return th_child_fail(1, "a partial 777.conf was left behind");
	return 0;
}

static int nospace_small_tmpfs(void *unused)
{
	struct statvfs sv;
	int ret;

	(void)unused;
	if ((ret = mount_tmpfs("64k")))
		return ret;
	if ((ret = expect_enospc_everywhere()))
		return ret;
	if (th_count_entries(env.backing, NULL) != 0)
		return th_child_fail(1, "the backing directory is not empty after ENOSPC");
	/* No anonymous copy still holds space either. */
	if (statvfs(env.backing, &sv) < 0)
		return th_child_fail(1, "statvfs: %s", strerror(errno));
	if (sv.f_bfree != sv.f_blocks)
		return th_child_fail(1, "%lu of %lu blocks still in use", sv.f_blocks - sv.f_bfree,
				     sv.f_blocks);
	rcfs_ctx_fini(&env.ctx);
	return 0;
}

Test(propagation, backing_dir_full_leaves_nothing)
{
	int code;

	setup_big_template();
	code = th_run_child(1, nospace_small_tmpfs, NULL);
	if (code == TH_CHILD_SKIP)
		cr_skip_test("cannot mount a tmpfs in a private mount namespace here");
	cr_assert_eq(code, 0, "child failed (status %d), see its message above", code);
	/* The tmpfs lived in the child's mount namespace only. */
	assert_empty_dir(env.backing);
	free(big_tmpl);
	th_env_teardown(&env);
}

static int nospace_then_freed(void *unused)
{
	struct rcfs_caller c = caller(10);
	char filler[PATH_MAX], path[PATH_MAX], *buf, *got;
	struct stat st;
	size_t len;
	int ret, fd;

	(void)unused;
	/* 1.5 MiB, of which a filler takes 768 KiB: the 1 MiB template no longer fits. */
	if ((ret = mount_tmpfs("1536k")))
		return ret;
	buf = calloc(1, 768 * 1024);
	if (!buf)
		return th_child_fail(1, "out of memory");
	th_join(filler, env.backing, "filler");
	th_write_file(filler, buf, 768 * 1024, 0600);
	free(buf);
	if ((ret = expect_enospc_everywhere()))
		return ret;
	if (th_count_entries(env.backing, NULL) != 1)
		return th_child_fail(1, "something besides the filler was left behind");

	if (unlink(filler) < 0)
		return th_child_fail(1, "unlink filler: %s", strerror(errno));
	fd = rcfs_open(&env.ctx, &c, O_RDONLY);
	if (fd < 0)
		return th_child_fail(1, "rcfs_open after freeing space: %s", strerror(-fd));
	got = th_read_fd(fd, &len);
	rcfs_close(fd);
	ret = len == BIG_TMPL && memcmp(got, big_tmpl, BIG_TMPL) == 0;
	free(got);
	if (!ret)
		return th_child_fail(1, "read %zu bytes, not the whole template", len);
	th_backing_path(&env, "777.conf", path);
	if (stat(path, &st) < 0 || st.st_size != BIG_TMPL || (st.st_mode & 07777) != 0640)
		return th_child_fail(1, "777.conf is not a full copy with mode 0640");
	if (th_count_entries(env.backing, NULL) != 1)
		return th_child_fail(1, "not exactly one file after success");
	rcfs_ctx_fini(&env.ctx);
	return 0;
}

Test(propagation, backing_dir_full_then_freed)
{
	int code;

	setup_big_template();
	code = th_run_child(1, nospace_then_freed, NULL);
	if (code == TH_CHILD_SKIP)
		cr_skip_test("cannot mount a tmpfs in a private mount namespace here");
	cr_assert_eq(code, 0, "child failed (status %d), see its message above", code);
	assert_empty_dir(env.backing);
	free(big_tmpl);
	th_env_teardown(&env);
}
