/* I/O forwarding: every operation applied to the caller's own backing file, errno passed
 * through unchanged. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <inttypes.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "../../core/backing.h"
#include "../../core/fileops.h"
#include "../../core/io.h"
#include "../../core/key.h"
#include "../../core/nsid.h"
#include "helpers.h"
#include "helpers2.h"

TestSuite(fileops, .fini = th_cleanup);

static struct th_env env;

static const char tmpl[] = "nameserver 192.0.2.1\n";

static struct rcfs_caller caller(pid_t pid)
{
	struct rcfs_caller c = { .pid = pid, .uid = getuid(), .gid = getgid() };

	return c;
}

/* Environment with a template and two namespaces: pid 10 in net:[1], pid 20 in net:[2]. */
static void setup(void)
{
	th_env_setup(&env, NULL, tmpl, sizeof(tmpl) - 1, 0644);
	th_fake_ns(env.procfs, 10, "net:[1]");
	th_fake_ns(env.procfs, 20, "net:[2]");
}

/* As setup, with another --max-size. */
static void setup_max(long long max_size)
{
	struct rcfs_config cfg = { 0 };
	struct rcfs_init_error err = { 0 };
	int ret;

	setup();
	rcfs_ctx_fini(&env.ctx);
	cfg.procfs = env.procfs;
	cfg.backing_dir = env.backing;
	cfg.template_path = env.tmpl;
	cfg.max_size = max_size;
	ret = rcfs_ctx_init(&env.ctx, &cfg, &err);
	cr_assert_eq(ret, 0, "rcfs_ctx_init: %s: %s", err.what, strerror(-ret));
	cr_assert_eq(env.ctx.max_size, (off_t)max_size);
}

static void put(const char *name, const void *data, size_t len, mode_t mode)
{
	char path[PATH_MAX];

	th_backing_path(&env, name, path);
	th_write_file(path, data, len, mode);
}

static void assert_backing(const char *name, const void *want, size_t len)
{
	char path[PATH_MAX];
	size_t got_len;
	char *got;

	int same;

	th_backing_path(&env, name, path);
	got = th_read_file(path, &got_len);
	same = got_len == len && memcmp(got, want, len) == 0;
	free(got); /* before asserting: a failed assertion leaves the test at once */
	cr_assert_eq(got_len, len, "%s has %zu bytes, want %zu", name, got_len, len);
	cr_assert(same, "%s has other content", name);
}

/* rcfs_write as the frontends call it: append when the handle was opened with O_APPEND. */
static ssize_t wr(int fd, const void *buf, size_t size, off_t off)
{
	int fl = fcntl(fd, F_GETFL);

	return rcfs_write(&env.ctx, fd, buf, size, off, fl >= 0 && (fl & O_APPEND));
}

static int open_as(pid_t pid, int flags)
{
	struct rcfs_caller c = caller(pid);
	int fd = rcfs_open(&env.ctx, &c, flags);

	cr_assert_geq(fd, 0, "rcfs_open(pid %d, %#o): %s", (int)pid, flags, strerror(-fd));
	return fd;
}

Test(fileops, caller_name)
{
	struct rcfs_caller c = caller(10), zero = caller(0), gone = caller(30);
	char name[RCFS_NAME_SIZE];

	setup();
	cr_assert_eq(rcfs_caller_name(&env.ctx, &c, name), 0);
	cr_assert_str_eq(name, "1.conf");
	cr_assert_eq(rcfs_caller_name(&env.ctx, &zero, name), -ESRCH);
	cr_assert_eq(rcfs_caller_name(&env.ctx, &gone, name), -ESRCH);
	th_env_teardown(&env);
}

Test(fileops, unresolvable_callers_touch_nothing)
{
	struct rcfs_caller zero = caller(0), gone = caller(30), bad = caller(40);
	struct stat st;

	setup();
	th_fake_ns(env.procfs, 40, "net:[../../x]");
	cr_assert_eq(rcfs_open(&env.ctx, &zero, O_RDONLY), -ESRCH);
	cr_assert_eq(rcfs_open(&env.ctx, &gone, O_RDWR), -ESRCH);
	cr_assert_eq(rcfs_open(&env.ctx, &bad, O_RDONLY), -EINVAL);
	cr_assert_eq(rcfs_stat(&env.ctx, &zero, &st), -ESRCH);
	cr_assert_eq(rcfs_stat(&env.ctx, &bad, &st), -EINVAL);
	cr_assert_eq(rcfs_truncate(&env.ctx, &gone, 0), -ESRCH);
	cr_assert_eq(rcfs_truncate(&env.ctx, &bad, 0), -EINVAL);
	cr_assert_eq(th_count_entries(env.backing, NULL), 0);
	th_env_teardown(&env);
}

Test(fileops, two_namespaces_two_files)
{
	static const char a[] = "nameserver 10.0.0.1\n", b[] = "nameserver 10.0.0.2\nsearch b\n";
	int fa, fb;
	size_t len;
	char *got;

	setup();
	fa = open_as(10, O_WRONLY | O_TRUNC);
	fb = open_as(20, O_WRONLY | O_TRUNC);
	cr_assert_eq(wr(fa, a, sizeof(a) - 1, 0), (ssize_t)sizeof(a) - 1);
	cr_assert_eq(wr(fb, b, sizeof(b) - 1, 0), (ssize_t)sizeof(b) - 1);
	cr_assert_eq(rcfs_close(fa), 0);
	cr_assert_eq(rcfs_close(fb), 0);

	fa = open_as(10, O_RDONLY);
	got = th_read_fd(fa, &len);
	cr_assert_eq(len, sizeof(a) - 1);
	cr_assert_arr_eq(got, a, len);
	free(got);
	rcfs_close(fa);
	fb = open_as(20, O_RDONLY);
	got = th_read_fd(fb, &len);
	cr_assert_eq(len, sizeof(b) - 1);
	cr_assert_arr_eq(got, b, len);
	free(got);
	rcfs_close(fb);

	assert_backing("1.conf", a, sizeof(a) - 1);
	assert_backing("2.conf", b, sizeof(b) - 1);
	cr_assert_eq(th_count_entries(env.backing, NULL), 2);
	th_env_teardown(&env);
}

Test(fileops, two_pids_one_namespace_share_a_file)
{
	static const char text[] = "shared\n";
	int fd;
	size_t len;
	char *got;

	setup();
	th_fake_ns(env.procfs, 11, "net:[1]");
	fd = open_as(10, O_WRONLY | O_TRUNC);
	cr_assert_eq(wr(fd, text, sizeof(text) - 1, 0), (ssize_t)sizeof(text) - 1);
	rcfs_close(fd);
	fd = open_as(11, O_RDONLY);
	got = th_read_fd(fd, &len);
	rcfs_close(fd);
	cr_assert_eq(len, sizeof(text) - 1);
	cr_assert_arr_eq(got, text, len);
	free(got);
	cr_assert_eq(th_count_entries(env.backing, NULL), 1);
	th_env_teardown(&env);
}

Test(fileops, o_trunc_empties_the_file)
{
	struct stat st;
	int fd;

	setup();
	put("1.conf", "0123456789", 10, 0644);
	fd = open_as(10, O_WRONLY | O_TRUNC);
	cr_assert_eq(rcfs_fstat(fd, &st), 0);
	cr_assert_eq(st.st_size, 0);
	rcfs_close(fd);
	assert_backing("1.conf", "", 0);
	/* The other namespace's file is untouched. */
	put("2.conf", "abc", 3, 0644);
	fd = open_as(10, O_RDWR | O_TRUNC);
	rcfs_close(fd);
	assert_backing("2.conf", "abc", 3);
	th_env_teardown(&env);
}

Test(fileops, o_trunc_on_missing_file_creates_then_empties)
{
	int fd;

	setup();
	fd = open_as(10, O_WRONLY | O_TRUNC);
	rcfs_close(fd);
	assert_backing("1.conf", "", 0);
	cr_assert_eq(th_count_entries(env.backing, NULL), 1);
	th_env_teardown(&env);
}

Test(fileops, append_goes_to_the_end_of_the_callers_own_file)
{
	/* Namespace 1's file is bigger; namespace 2 appends with the offset the kernel would
	 * compute from namespace 1's size, and with offset 0: both land at the end of 2's file. */
	char big[100];
	int fd;

	setup();
	memset(big, 'A', sizeof(big));
	put("1.conf", big, sizeof(big), 0644);
	put("2.conf", "0123456789", 10, 0644);
	fd = open_as(20, O_WRONLY | O_APPEND);
	cr_assert_eq(wr(fd, "xyz", 3, 100), 3);
	cr_assert_eq(wr(fd, "uvw", 3, 0), 3);
	cr_assert_eq(wr(fd, "rst", 3, 5), 3);
	rcfs_close(fd);
	assert_backing("2.conf", "0123456789xyzuvwrst", 19);
	assert_backing("1.conf", big, sizeof(big));
	th_env_teardown(&env);
}

Test(fileops, append_with_rdwr)
{
	int fd;
	char buf[32];

	setup();
	put("1.conf", "abc", 3, 0644);
	fd = open_as(10, O_RDWR | O_APPEND);
	cr_assert_eq(wr(fd, "def", 3, 0), 3);
	cr_assert_eq(rcfs_pread(fd, buf, sizeof(buf), 0), 6);
	cr_assert_arr_eq(buf, "abcdef", 6);
	rcfs_close(fd);
	th_env_teardown(&env);
}

Test(fileops, pwrite_without_append_honours_offset)
{
	int fd;

	setup();
	put("1.conf", "0123456789", 10, 0644);
	fd = open_as(10, O_WRONLY);
	cr_assert_eq(wr(fd, "ab", 2, 3), 2);
	cr_assert_eq(wr(fd, "Z", 1, 12), 1); /* leaves a hole of zeros */
	cr_assert_eq(wr(fd, "", 0, 0), 0);
	rcfs_close(fd);
	assert_backing("1.conf", "012ab56789\0\0Z", 13);
	th_env_teardown(&env);
}

Test(fileops, large_pwrite_and_pread)
{
	size_t size = 3 * 1024 * 1024 + 17, len;
	char *data = malloc(size), *back = malloc(size), *got;
	int fd;

	cr_assert_not_null(data);
	cr_assert_not_null(back);
	th_pattern(data, size, 99);
	/* Beyond the default 1 MiB limit: raised, as --max-size would. */
	setup_max(4 * 1024 * 1024);
	fd = open_as(10, O_RDWR | O_TRUNC);
	cr_assert_eq(wr(fd, data, size, 0), (ssize_t)size);
	cr_assert_eq(rcfs_pread(fd, back, size, 0), (ssize_t)size);
	cr_assert_arr_eq(back, data, size);
	rcfs_close(fd);
	fd = open_as(10, O_RDONLY);
	got = th_read_fd(fd, &len);
	rcfs_close(fd);
	cr_assert_eq(len, size);
	cr_assert_arr_eq(got, data, size);
	free(got);
	free(back);
	free(data);
	th_env_teardown(&env);
}

Test(fileops, pread_is_short_only_at_eof)
{
	char data[10000], buf[20000];
	int fd;

	th_pattern(data, sizeof(data), 3);
	setup();
	put("1.conf", data, sizeof(data), 0644);
	fd = open_as(10, O_RDONLY);
	cr_assert_eq(rcfs_pread(fd, buf, 4096, 0), 4096);
	cr_assert_arr_eq(buf, data, 4096);
	cr_assert_eq(rcfs_pread(fd, buf, 4096, 4096), 4096);
	cr_assert_arr_eq(buf, data + 4096, 4096);
	cr_assert_eq(rcfs_pread(fd, buf, 4096, 8192), 10000 - 8192);
	cr_assert_arr_eq(buf, data + 8192, 10000 - 8192);
	cr_assert_eq(rcfs_pread(fd, buf, sizeof(buf), 0), 10000);
	cr_assert_arr_eq(buf, data, 10000);
	cr_assert_eq(rcfs_pread(fd, buf, 1, 9999), 1);
	cr_assert_eq(rcfs_pread(fd, buf, 1, 10000), 0);
	cr_assert_eq(rcfs_pread(fd, buf, 100, 50000), 0);
	cr_assert_eq(rcfs_pread(fd, buf, 0, 0), 0);
	rcfs_close(fd);
	th_env_teardown(&env);
}

Test(fileops, truncate_by_name)
{
	struct rcfs_caller c = caller(10);
	struct stat st;

	setup();
	put("1.conf", "0123456789", 10, 0644);
	put("2.conf", "abcdefghij", 10, 0644);
	cr_assert_eq(rcfs_truncate(&env.ctx, &c, 4), 0);
	assert_backing("1.conf", "0123", 4);
	cr_assert_eq(rcfs_truncate(&env.ctx, &c, 6), 0);
	assert_backing("1.conf", "0123\0\0", 6);
	cr_assert_eq(rcfs_truncate(&env.ctx, &c, 0), 0);
	assert_backing("1.conf", "", 0);
	cr_assert_eq(rcfs_stat(&env.ctx, &c, &st), 0);
	cr_assert_eq(st.st_size, 0);
	cr_assert_eq(rcfs_truncate(&env.ctx, &c, -1), -EINVAL);
	assert_backing("2.conf", "abcdefghij", 10);
	th_env_teardown(&env);
}

Test(fileops, truncate_by_name_creates_missing_file_first)
{
	struct rcfs_caller c = caller(10);

	setup();
	cr_assert_eq(rcfs_truncate(&env.ctx, &c, 10), 0);
	assert_backing("1.conf", tmpl, 10);
	th_env_teardown(&env);
}

Test(fileops, resize_by_fd)
{
	struct stat st;
	int fd, ro;

	setup();
	put("1.conf", "0123456789", 10, 0644);
	fd = open_as(10, O_RDWR);
	cr_assert_eq(rcfs_resize(&env.ctx, fd, 1, 3), 0);
	cr_assert_eq(rcfs_fstat(fd, &st), 0);
	cr_assert_eq(st.st_size, 3);
	cr_assert_eq(rcfs_resize(&env.ctx, fd, 1, 5), 0);
	cr_assert_eq(rcfs_resize(&env.ctx, fd, 1, -1), -EINVAL);
	rcfs_close(fd);
	assert_backing("1.conf", "012\0\0", 5);
	/* A handle said to be writable must be: ftruncate of a read-only fd is EINVAL. */
	ro = open_as(10, O_RDONLY);
	cr_assert_eq(rcfs_resize(&env.ctx, ro, 1, 0), -EINVAL);
	assert_backing("1.conf", "012\0\0", 5);
	/* Not writable (truncate by name, decided on a read-only open): the same inode is
	 * reopened for writing. */
	cr_assert_eq(rcfs_resize(&env.ctx, ro, 0, 2), 0);
	cr_assert_eq(rcfs_resize(&env.ctx, ro, 0, -1), -EINVAL);
	rcfs_close(ro);
	assert_backing("1.conf", "01", 2);
	th_env_teardown(&env);
}

Test(fileops, fsync_both_modes)
{
	int fd;

	setup();
	fd = open_as(10, O_RDWR);
	cr_assert_eq(wr(fd, "x", 1, 0), 1);
	cr_assert_eq(rcfs_fsync(fd, 0), 0);
	cr_assert_eq(rcfs_fsync(fd, 1), 0);
	rcfs_close(fd);
	fd = open_as(10, O_RDONLY);
	cr_assert_eq(rcfs_fsync(fd, 0), 0);
	cr_assert_eq(rcfs_fsync(fd, 1), 0);
	rcfs_close(fd);
	th_env_teardown(&env);
}

Test(fileops, fstat_and_stat_report_the_backing_file_faithfully)
{
	/* glibc's resolver compares size, inode, mtime and ctime (with nanoseconds). */
	struct rcfs_caller c = caller(10);
	struct stat viafd, viastat, direct;
	char path[PATH_MAX];
	int fd;

	setup();
	put("1.conf", "0123456789", 10, 0640);
	th_backing_path(&env, "1.conf", path);
	fd = open_as(10, O_RDWR);
	cr_assert_eq(wr(fd, "more", 4, 10), 4);
	cr_assert_eq(rcfs_fstat(fd, &viafd), 0);
	cr_assert_eq(rcfs_stat(&env.ctx, &c, &viastat), 0);
	cr_assert_eq(stat(path, &direct), 0);
	for (int i = 0; i < 2; i++) {
		const struct stat *s = i ? &viastat : &viafd;

		cr_assert_eq(s->st_dev, direct.st_dev);
		cr_assert_eq(s->st_ino, direct.st_ino);
		cr_assert_eq(s->st_size, 14);
		cr_assert_eq(s->st_mode, direct.st_mode);
		cr_assert_eq(s->st_uid, direct.st_uid);
		cr_assert_eq(s->st_gid, direct.st_gid);
		cr_assert_eq(s->st_nlink, direct.st_nlink);
		cr_assert_eq(s->st_mtim.tv_sec, direct.st_mtim.tv_sec);
		cr_assert_eq(s->st_mtim.tv_nsec, direct.st_mtim.tv_nsec);
		cr_assert_eq(s->st_ctim.tv_sec, direct.st_ctim.tv_sec);
		cr_assert_eq(s->st_ctim.tv_nsec, direct.st_ctim.tv_nsec);
	}
	rcfs_close(fd);
	/* Each namespace sees its own file's inode. */
	{
		struct rcfs_caller other = caller(20);
		struct stat s2;

		cr_assert_eq(rcfs_stat(&env.ctx, &other, &s2), 0);
		cr_assert_neq(s2.st_ino, direct.st_ino);
		cr_assert_eq(s2.st_size, (off_t)sizeof(tmpl) - 1);
	}
	th_env_teardown(&env);
}

Test(fileops, open_flags_passed_through)
{
	int fd, fl;

	setup();
	put("1.conf", "x", 1, 0644);
	fd = open_as(10, O_RDONLY);
	fl = fcntl(fd, F_GETFL);
	cr_assert_eq(fl & O_ACCMODE, O_RDONLY);
	cr_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC, "backing fds must be close-on-exec");
	rcfs_close(fd);
	fd = open_as(10, O_WRONLY | O_APPEND);
	fl = fcntl(fd, F_GETFL);
	cr_assert_eq(fl & O_ACCMODE, O_WRONLY);
	cr_assert(fl & O_APPEND);
	rcfs_close(fd);
	fd = open_as(10, O_RDWR | O_SYNC);
	fl = fcntl(fd, F_GETFL);
	cr_assert_eq(fl & O_ACCMODE, O_RDWR);
	cr_assert_eq(fl & O_SYNC, O_SYNC);
	rcfs_close(fd);
	fd = open_as(10, O_WRONLY | O_DSYNC);
	fl = fcntl(fd, F_GETFL);
	cr_assert_eq(fl & O_DSYNC, O_DSYNC);
	rcfs_close(fd);
	th_env_teardown(&env);
}

Test(fileops, o_creat_and_o_excl_are_ignored)
{
	int fd;

	setup();
	put("1.conf", "keep", 4, 0644);
	fd = open_as(10, O_RDWR | O_CREAT | O_EXCL);
	rcfs_close(fd);
	assert_backing("1.conf", "keep", 4);
	th_env_teardown(&env);
}

Test(fileops, read_only_fd_cannot_write)
{
	int fd;

	setup();
	put("1.conf", "keep", 4, 0644);
	fd = open_as(10, O_RDONLY);
	cr_assert_eq(wr(fd, "x", 1, 0), -EBADF);
	rcfs_close(fd);
	fd = open_as(10, O_WRONLY);
	{
		char c;

		cr_assert_eq(rcfs_pread(fd, &c, 1, 0), -EBADF);
	}
	rcfs_close(fd);
	assert_backing("1.conf", "keep", 4);
	th_env_teardown(&env);
}

/* ----- errno pass-through ------------------------------------------------------------------- */

Test(fileops, backing_file_is_a_directory)
{
	struct rcfs_caller c = caller(10);
	struct stat st;
	char path[PATH_MAX], buf[8];
	int fd;

	setup();
	th_backing_path(&env, "1.conf", path);
	cr_assert_eq(mkdir(path, 0755), 0);
	cr_assert_eq(rcfs_open(&env.ctx, &c, O_WRONLY), -EISDIR);
	cr_assert_eq(rcfs_open(&env.ctx, &c, O_RDWR), -EISDIR);
	cr_assert_eq(rcfs_open(&env.ctx, &c, O_WRONLY | O_TRUNC), -EISDIR);
	cr_assert_eq(rcfs_truncate(&env.ctx, &c, 0), -EISDIR);
	/* A read-only open of a directory may succeed; reading and fstat then fail with EISDIR. */
	fd = rcfs_open(&env.ctx, &c, O_RDONLY);
	cr_assert(fd >= 0 || fd == -EISDIR, "O_RDONLY gave %d", fd);
	if (fd >= 0) {
		cr_assert_eq(rcfs_pread(fd, buf, sizeof(buf), 0), -EISDIR);
		cr_assert_eq(rcfs_fstat(fd, &st), -EISDIR);
		rcfs_close(fd);
	}
	/* fileops.h: only regular files are served; a directory stats as -EISDIR (the mount's
	 * one inode must never change type for a caller). */
	cr_assert_eq(rcfs_stat(&env.ctx, &c, &st), -EISDIR);
	th_env_teardown(&env);
}

/* A FIFO in place of a backing file must neither hang a request thread nor be served. */
static int use_fifo_backing(void *unused)
{
	struct rcfs_caller c = caller(10);
	struct stat st;
	char buf[8];
	int fd, ret;

	(void)unused;
	fd = rcfs_open(&env.ctx, &c, O_RDONLY);
	if (fd >= 0) {
		ssize_t n = rcfs_pread(fd, buf, sizeof(buf), 0);

		if (n > 0)
			return th_child_fail(1, "read %zd bytes from a FIFO", n);
		if ((ret = rcfs_fstat(fd, &st)) != -ENXIO)
			return th_child_fail(1, "rcfs_fstat of a FIFO gave %d, want -ENXIO", ret);
		rcfs_close(fd);
	}
	if ((ret = rcfs_stat(&env.ctx, &c, &st)) != -ENXIO)
		return th_child_fail(1, "rcfs_stat of a FIFO gave %d, want -ENXIO", ret);
	if ((ret = rcfs_open(&env.ctx, &c, O_WRONLY)) >= 0)
		return th_child_fail(1, "a FIFO without reader was opened for writing");
	if ((ret = rcfs_truncate(&env.ctx, &c, 0)) == 0)
		return th_child_fail(1, "a FIFO was truncated");
	return 0;
}

Test(fileops, backing_file_is_a_fifo)
{
	char path[PATH_MAX];
	int blocked, code;

	setup();
	th_backing_path(&env, "1.conf", path);
	cr_assert_eq(mkfifo(path, 0644), 0);
	code = th_run_child_fifo_watch(path, use_fifo_backing, NULL, &blocked);
	cr_expect_not(blocked, "a request blocked opening a FIFO backing file");
	cr_assert_eq(code, 0, "child failed (status %d), see its message above", code);
	th_env_teardown(&env);
}

Test(fileops, symlink_loop_is_eloop)
{
	struct rcfs_caller c = caller(10);
	struct stat st;
	char path[PATH_MAX];

	setup();
	th_backing_path(&env, "1.conf", path);
	cr_assert_eq(symlink("1.conf", path), 0);
	cr_assert_eq(rcfs_open(&env.ctx, &c, O_RDONLY), -ELOOP);
	cr_assert_eq(rcfs_open(&env.ctx, &c, O_WRONLY | O_TRUNC), -ELOOP);
	cr_assert_eq(rcfs_stat(&env.ctx, &c, &st), -ELOOP);
	cr_assert_eq(rcfs_truncate(&env.ctx, &c, 0), -ELOOP);
	/* Nothing replaced the loop. */
	cr_assert_eq(lstat(path, &st), 0);
	cr_assert(S_ISLNK(st.st_mode));
	cr_assert_eq(th_count_entries(env.backing, NULL), 1);
	th_env_teardown(&env);
}

Test(fileops, bad_fds_are_ebadf)
{
	struct stat st;
	char buf[4] = "abc";
	int fd;

	setup();
	fd = open_as(10, O_RDWR);
	cr_assert_eq(rcfs_close(fd), 0);
	cr_assert_eq(rcfs_pread(fd, buf, sizeof(buf), 0), -EBADF);
	cr_assert_eq(wr(fd, buf, sizeof(buf), 0), -EBADF);
	cr_assert_eq(rcfs_fsync(fd, 0), -EBADF);
	cr_assert_eq(rcfs_fsync(fd, 1), -EBADF);
	cr_assert_eq(rcfs_fstat(fd, &st), -EBADF);
	cr_assert_eq(rcfs_resize(&env.ctx, fd, 1, 0), -EBADF);
	cr_assert_eq(rcfs_close(fd), -EBADF);
	cr_assert_eq(rcfs_fsync(-1, 0), -EBADF);
	cr_assert_eq(rcfs_pread(-1, buf, 1, 0), -EBADF);
	cr_assert_eq(rcfs_close(-1), -EBADF);
	th_env_teardown(&env);
}

Test(fileops, not_a_regular_file_errors)
{
	int fds[2];
	char buf[4] = "abc";

	/* pread/pwrite on a pipe: ESPIPE passes through. */
	setup();
	cr_assert_eq(pipe(fds), 0);
	cr_assert_eq(rcfs_pread(fds[0], buf, 1, 0), -ESPIPE);
	cr_assert_eq(wr(fds[1], "x", 1, 0), -ESPIPE);
	close(fds[0]);
	close(fds[1]);
	th_env_teardown(&env);
}

/* Permission checks are the daemon's, made on the caller's own file: a caller without
 * capabilities (the child drops to nobody if root) cannot open a mode 0444 file for writing or
 * truncate it, only read it. The daemon here is that child too, so the kernel would agree. */
static int write_readonly_file(void *unused)
{
	struct rcfs_caller c = caller(10);
	int fd, ret;

	(void)unused;
	if (geteuid() == 0 && th_drop_to_nobody())
		return th_child_fail(1, "cannot drop privileges");
	c.uid = geteuid();
	c.gid = getegid();
	if ((ret = rcfs_open(&env.ctx, &c, O_WRONLY)) != -EACCES)
		return th_child_fail(1, "O_WRONLY gave %d, want -EACCES", ret);
	if ((ret = rcfs_open(&env.ctx, &c, O_RDWR | O_APPEND)) != -EACCES)
		return th_child_fail(1, "O_RDWR gave %d, want -EACCES", ret);
	if ((ret = rcfs_truncate(&env.ctx, &c, 0)) != -EACCES)
		return th_child_fail(1, "truncate gave %d, want -EACCES", ret);
	fd = rcfs_open(&env.ctx, &c, O_RDONLY);
	if (fd < 0)
		return th_child_fail(1, "O_RDONLY gave %d", fd);
	rcfs_close(fd);
	return 0;
}

Test(fileops, permission_denied_passes_through)
{
	int code;

	setup();
	cr_assert_eq(chmod(env.root, 0755), 0);
	put("1.conf", "ro", 2, 0444);
	code = th_run_child(0, write_readonly_file, NULL);
	cr_assert_eq(code, 0, "child failed (status %d), see its message above", code);
	assert_backing("1.conf", "ro", 2);
	th_env_teardown(&env);
}

/* ----- rcfs_setattr ------------------------------------------------------------------------- */

static struct rcfs_setattr no_change(void)
{
	struct rcfs_setattr sa;

	memset(&sa, 0, sizeof(sa));
	return sa;
}

/* No mode without the daemon's checks: a caller without capabilities (fake procfs: no status)
 * of another uid than the file's owner gets EACCES for writing, truncating and chmod, although
 * the daemon (root in the privileged run) could open and change the file itself. */
Test(fileops, the_daemon_decides_for_the_caller)
{
	struct rcfs_caller c = caller(10);
	struct rcfs_setattr sa = no_change();
	char path[PATH_MAX];
	struct stat st;
	int fd;

	setup();
	put("1.conf", "keep\n", 5, 0644);
	th_backing_path(&env, "1.conf", path);
	cr_assert_eq(stat(path, &st), 0);
	c.uid = st.st_uid == 65534 ? 65533 : 65534;
	c.gid = c.uid;
	cr_expect_eq(rcfs_open(&env.ctx, &c, O_WRONLY), -EACCES);
	cr_expect_eq(rcfs_open(&env.ctx, &c, O_RDWR | O_APPEND), -EACCES);
	cr_expect_eq(rcfs_open(&env.ctx, &c, O_RDONLY | O_TRUNC), -EACCES);
	cr_expect_eq(rcfs_truncate(&env.ctx, &c, 0), -EACCES);
	cr_expect_eq(rcfs_access(&env.ctx, &c, W_OK), -EACCES);
	sa.valid = RCFS_SET_MODE;
	sa.mode = 0666;
	cr_expect_eq(rcfs_setattr(&env.ctx, &c, -1, &sa, &st), -EPERM);
	assert_backing("1.conf", "keep\n", 5);
	cr_assert_eq(stat(path, &st), 0);
	cr_expect_eq(st.st_mode & 07777, 0644);
	/* Reading is what "other" may do. */
	fd = rcfs_open(&env.ctx, &c, O_RDONLY);
	cr_assert_geq(fd, 0, "rcfs_open: %s", strerror(-fd));
	rcfs_close(fd);
	cr_expect_eq(rcfs_access(&env.ctx, &c, R_OK), 0);
	th_env_teardown(&env);
}

Test(fileops, setattr_by_fd)
{
	struct rcfs_caller c = caller(10);
	struct rcfs_setattr sa = no_change();
	struct stat st, direct;
	char path[PATH_MAX];
	int fd;

	setup();
	put("1.conf", "0123456789", 10, 0644);
	put("2.conf", "abcdefghij", 10, 0644);
	th_backing_path(&env, "1.conf", path);
	fd = open_as(10, O_RDWR);
	sa.valid = RCFS_SET_SIZE | RCFS_SET_MODE | RCFS_SET_ATIME | RCFS_SET_MTIME;
	sa.size = 4;
	sa.mode = S_IFREG | 0600; /* only the permission bits are applied */
	sa.atime = (struct timespec){ 1000000000, 123456789 };
	sa.mtime = (struct timespec){ 1200000000, 987654321 };
	cr_assert_eq(rcfs_setattr(&env.ctx, &c, fd, &sa, &st), 0);
	cr_assert_eq(stat(path, &direct), 0);
	cr_assert_eq(st.st_ino, direct.st_ino);
	cr_assert_eq(st.st_size, 4);
	cr_assert_eq(st.st_mode & 07777, 0600);
	cr_assert_eq(st.st_atim.tv_sec, 1000000000);
	cr_assert_eq(st.st_atim.tv_nsec, 123456789);
	cr_assert_eq(st.st_mtim.tv_sec, 1200000000);
	cr_assert_eq(st.st_mtim.tv_nsec, 987654321);
	cr_assert_eq(direct.st_mtim.tv_nsec, 987654321);
	rcfs_close(fd);
	assert_backing("1.conf", "0123", 4);
	assert_backing("2.conf", "abcdefghij", 10);
	th_env_teardown(&env);
}

/* Every tmpfs file (the backing directory is on /run in the shipped unit) carries the seal
 * F_SEAL_SEAL: only the template view's write seal may refuse a change through a handle. */
Test(fileops, setattr_by_fd_on_tmpfs)
{
	struct rcfs_caller c = caller(10);
	struct rcfs_setattr sa = no_change();
	struct stat st;
	int fd;

	setenv("TMPDIR", "/dev/shm", 1); /* each Criterion test runs in a process of its own */
	setup();
	put("1.conf", "0123456789", 10, 0644);
	fd = open_as(10, O_RDWR);
	cr_assert_gt(fcntl(fd, F_GET_SEALS), 0, "not a tmpfs file: is /dev/shm a tmpfs?");
	sa.valid = RCFS_SET_SIZE;
	sa.size = 4;
	cr_assert_eq(rcfs_setattr(&env.ctx, &c, fd, &sa, &st), 0);
	cr_assert_eq(st.st_size, 4);
	rcfs_close(fd);
	assert_backing("1.conf", "0123", 4);
	th_env_teardown(&env);
}

Test(fileops, setattr_by_name)
{
	struct rcfs_caller c = caller(20);
	struct rcfs_setattr sa = no_change();
	struct stat st;

	setup();
	/* A size change by name creates the missing file from the template first. */
	sa.valid = RCFS_SET_SIZE;
	sa.size = 10;
	cr_assert_eq(rcfs_setattr(&env.ctx, &c, -1, &sa, &st), 0);
	cr_assert_eq(st.st_size, 10);
	assert_backing("2.conf", tmpl, 10);

	sa.valid = RCFS_SET_MODE | RCFS_SET_MTIME;
	sa.mode = 0640;
	sa.mtime = (struct timespec){ 1300000000, 5 };
	cr_assert_eq(rcfs_setattr(&env.ctx, &c, -1, &sa, &st), 0);
	cr_assert_eq(st.st_mode & 07777, 0640);
	cr_assert_eq(st.st_mtim.tv_sec, 1300000000);
	cr_assert_eq(st.st_mtim.tv_nsec, 5);

	/* Giving the file away needs CAP_CHOWN, which the daemon reads from the caller's status
	 * (and counts only in its own user namespace); without it, EPERM and nothing changes. */
	sa.valid = RCFS_SET_UID | RCFS_SET_GID;
	sa.uid = geteuid() == 0 ? 65534 : geteuid();
	sa.gid = geteuid() == 0 ? 65534 : getegid();
	if (geteuid() == 0) {
		char own[64];

		cr_assert_eq(rcfs_setattr(&env.ctx, &c, -1, &sa, &st), -EPERM);
		cr_assert_eq(rcfs_stat(&env.ctx, &c, &st), 0);
		cr_assert_eq(st.st_uid, 0);
		h2_own_link("user", own);
		h2_fake_link(env.procfs, "20/ns/user", own);
		h2_fake_file(env.procfs, "20/status", "Uid:\t0\t0\t0\t0\nCapEff:\t0000000000000001\n");
	}
	cr_assert_eq(rcfs_setattr(&env.ctx, &c, -1, &sa, &st), 0);
	cr_assert_eq(st.st_uid, sa.uid);
	cr_assert_eq(st.st_gid, sa.gid);

	/* Other changes on a missing file: it is made from the template, then changed. */
	{
		struct rcfs_caller other = caller(10);

		sa.valid = RCFS_SET_MODE;
		sa.mode = 0604;
		cr_assert_eq(rcfs_setattr(&env.ctx, &other, -1, &sa, &st), 0);
		cr_assert_eq(st.st_mode & 07777, 0604);
		assert_backing("1.conf", tmpl, sizeof(tmpl) - 1);
	}
	th_env_teardown(&env);
}

Test(fileops, setattr_times_now)
{
	struct rcfs_caller c = caller(10);
	struct rcfs_setattr sa = no_change();
	struct timespec before;
	struct stat st;

	setup();
	put("1.conf", "x", 1, 0644);
	sa.valid = RCFS_SET_MTIME | RCFS_SET_ATIME;
	sa.mtime = (struct timespec){ 1, 0 };
	sa.atime = (struct timespec){ 1, 0 };
	cr_assert_eq(rcfs_setattr(&env.ctx, &c, -1, &sa, &st), 0);
	cr_assert_eq(st.st_mtim.tv_sec, 1);
	clock_gettime(CLOCK_REALTIME, &before);
	sa.mtime.tv_nsec = UTIME_NOW;
	sa.atime.tv_nsec = UTIME_NOW;
	cr_assert_eq(rcfs_setattr(&env.ctx, &c, -1, &sa, &st), 0);
	/* "now" is after the clock reading above (file times may be coarser: compare seconds). */
	cr_assert_geq(st.st_mtim.tv_sec, before.tv_sec - 1);
	th_env_teardown(&env);
}

Test(fileops, setattr_errors)
{
	struct rcfs_caller c = caller(10), gone = caller(30);
	struct rcfs_setattr sa = no_change();
	struct stat st;
	int fd;

	setup();
	sa.valid = RCFS_SET_SIZE;
	sa.size = 0;
	cr_assert_eq(rcfs_setattr(&env.ctx, &gone, -1, &sa, &st), -ESRCH);
	cr_assert_eq(th_count_entries(env.backing, NULL), 0);
	sa.size = -1;
	cr_assert_eq(rcfs_setattr(&env.ctx, &c, -1, &sa, &st), -EINVAL);
	fd = open_as(10, O_RDONLY);
	sa.size = 0;
	cr_assert_eq(rcfs_setattr(&env.ctx, &c, fd, &sa, &st), -EINVAL, "ftruncate of a read-only fd");
	rcfs_close(fd);
	assert_backing("1.conf", tmpl, sizeof(tmpl) - 1);
	th_env_teardown(&env);
}

/* ----- permission checks by the daemon, on the real /proc ------------------------------------ */

/* A caller process without capabilities: forked, dropped to nobody when we are root, and kept
 * waiting until the test closes its pipe (or exits). */
struct caller_proc {
	pid_t pid;
	uid_t uid;
	gid_t gid;
	int hold;
};

static void start_caller(struct caller_proc *p)
{
	int ready[2], hold[2];
	char b;

	cr_assert_eq(pipe(ready), 0);
	cr_assert_eq(pipe(hold), 0);
	p->pid = fork();
	cr_assert_geq(p->pid, 0);
	if (p->pid == 0) {
		close(ready[0]);
		close(hold[1]);
		if (geteuid() == 0 && th_drop_to_nobody())
			_exit(1);
		if (write(ready[1], "r", 1) != 1)
			_exit(1);
		while (read(hold[0], &b, 1) > 0)
			;
		_exit(0);
	}
	close(ready[1]);
	close(hold[0]);
	cr_assert_eq(read(ready[0], &b, 1), 1, "the caller process did not start");
	close(ready[0]);
	p->hold = hold[1];
	p->uid = geteuid() == 0 ? 65534 : geteuid();
	p->gid = geteuid() == 0 ? 65534 : getegid();
}

static void stop_caller(struct caller_proc *p)
{
	close(p->hold);
	waitpid(p->pid, NULL, 0);
}

/* A context on the real /proc (the caller's credentials are read there); the daemon checks
 * every open itself, there is no mode without its checks any more. */
static void setup_checked(char *name)
{
	struct rcfs_config cfg = { 0 };
	uint64_t key;
	struct rcfs_caller self = caller(getpid());

	th_env_setup(&env, NULL, tmpl, sizeof(tmpl) - 1, 0644);
	rcfs_ctx_fini(&env.ctx);
	cfg.procfs = "/proc";
	cfg.backing_dir = env.backing;
	cfg.template_path = env.tmpl;
	cr_assert_eq(rcfs_ctx_init(&env.ctx, &cfg, NULL), 0);
	cr_assert_eq(rcfs_key_resolve(&env.ctx, &self, &key), 0);
	cr_assert_eq(rcfs_backing_name(&env.ctx, key, name, RCFS_NAME_SIZE), 0);
}

Test(fileops, daemon_check_uses_the_callers_credentials)
{
	struct caller_proc p;
	struct rcfs_caller c;
	char name[RCFS_NAME_SIZE], path[PATH_MAX];
	int fd;

	setup_checked(name);
	th_backing_path(&env, name, path);
	th_write_file(path, "0123456789", 10, 0400);
	start_caller(&p);
	c = (struct rcfs_caller){ .pid = p.pid, .uid = p.uid, .gid = p.gid };
	cr_assert_eq(chown(path, p.uid, p.gid), 0);

	/* Owner with r--: read yes, write no, and O_TRUNC must not empty the file before the
	 * check has failed. */
	fd = rcfs_open(&env.ctx, &c, O_RDONLY);
	cr_assert_geq(fd, 0, "O_RDONLY on 0400: %s", strerror(-fd));
	rcfs_close(fd);
	cr_assert_eq(rcfs_open(&env.ctx, &c, O_WRONLY), -EACCES);
	cr_assert_eq(rcfs_open(&env.ctx, &c, O_RDWR), -EACCES);
	cr_assert_eq(rcfs_open(&env.ctx, &c, O_RDONLY | O_TRUNC), -EACCES);
	cr_assert_eq(rcfs_open(&env.ctx, &c, O_WRONLY | O_TRUNC), -EACCES);
	assert_backing(name, "0123456789", 10);

	/* Owner with -w-: write (and truncate) yes, read no. */
	cr_assert_eq(chmod(path, 0200), 0);
	cr_assert_eq(rcfs_open(&env.ctx, &c, O_RDONLY), -EACCES);
	fd = rcfs_open(&env.ctx, &c, O_WRONLY | O_TRUNC);
	cr_assert_geq(fd, 0, "O_WRONLY|O_TRUNC on 0200: %s", strerror(-fd));
	rcfs_close(fd);
	cr_assert_eq(chmod(path, 0600), 0);
	assert_backing(name, "", 0);

	/* The owner class decides even when "other" would allow more. */
	cr_assert_eq(chmod(path, 0066), 0);
	cr_assert_eq(rcfs_open(&env.ctx, &c, O_RDONLY), -EACCES);
	stop_caller(&p);
	th_env_teardown(&env);
}

Test(fileops, daemon_check_not_owner)
{
	struct caller_proc p;
	struct rcfs_caller c;
	char name[RCFS_NAME_SIZE], path[PATH_MAX];
	int fd;

	if (geteuid() != 0)
		cr_skip_test("needs a file owned by someone else than the caller: run as root");
	setup_checked(name);
	th_backing_path(&env, name, path);
	th_write_file(path, "data", 4, 0644);
	start_caller(&p);
	c = (struct rcfs_caller){ .pid = p.pid, .uid = p.uid, .gid = p.gid };
	/* root-owned 0644: others read only. */
	fd = rcfs_open(&env.ctx, &c, O_RDONLY);
	cr_assert_geq(fd, 0);
	rcfs_close(fd);
	cr_assert_eq(rcfs_open(&env.ctx, &c, O_WRONLY), -EACCES);
	cr_assert_eq(rcfs_open(&env.ctx, &c, O_RDONLY | O_TRUNC), -EACCES);
	cr_assert_eq(chmod(path, 0640), 0);
	cr_assert_eq(rcfs_open(&env.ctx, &c, O_RDONLY), -EACCES);
	assert_backing(name, "data", 4);
	/* A caller with capabilities (ourselves, root) may open a 0000 file. */
	cr_assert_eq(chmod(path, 0), 0);
	{
		struct rcfs_caller self = caller(getpid());

		fd = rcfs_open(&env.ctx, &self, O_RDWR);
		cr_assert_geq(fd, 0, "root caller on 0000: %s", strerror(-fd));
		rcfs_close(fd);
	}
	stop_caller(&p);
	th_env_teardown(&env);
}

/* ----- recycled namespace ids (NS_GET_ID recorded on created files) --------------------------- */

TestSuite(recycled, .fini = th_cleanup);

#define NSID_XATTR "user.resolvconffs.nsid"
#define GET_NS_ID _IOR(0xb7, 13, uint64_t)

/* Our network namespace's unique id, straight from the kernel. */
static uint64_t own_unique_id(void)
{
	uint64_t id = 0;
	int fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);

	cr_assert_geq(fd, 0);
	cr_assert_eq(ioctl(fd, GET_NS_ID, &id), 0, "NS_GET_ID: %s", strerror(errno));
	close(fd);
	return id;
}

/* Context on the real /proc (namespace files must be openable) serving our own namespace. */
static void setup_real(char *name, int no_nsid)
{
	struct rcfs_config cfg = { 0 };
	struct rcfs_caller self = caller(getpid());
	uint64_t key;

	if (!rcfs_nsid_supported())
		cr_skip_test("this kernel has no NS_GET_ID");
	th_env_setup(&env, NULL, tmpl, sizeof(tmpl) - 1, 0644);
	rcfs_ctx_fini(&env.ctx);
	cfg.procfs = "/proc";
	cfg.backing_dir = env.backing;
	cfg.template_path = env.tmpl;
	cfg.no_nsid = no_nsid;
	cr_assert_eq(rcfs_ctx_init(&env.ctx, &cfg, NULL), 0);
	cr_assert_eq(env.ctx.nsid, !no_nsid);
	cr_assert_eq(rcfs_key_resolve(&env.ctx, &self, &key), 0);
	cr_assert_eq(rcfs_backing_name(&env.ctx, key, name, RCFS_NAME_SIZE), 0);
}

/* Write a backing file by hand, with a recorded id (or none when text is NULL). */
static void put_recorded(const char *name, const char *content, const char *text)
{
	char path[PATH_MAX];

	th_backing_path(&env, name, path);
	th_write_file(path, content, strlen(content), 0644);
	if (text)
		cr_assert_eq(setxattr(path, NSID_XATTR, text, strlen(text), 0), 0, "setxattr: %s",
			     strerror(errno));
}

static uint64_t recorded_id(const char *name)
{
	char path[PATH_MAX], text[32];
	ssize_t n;

	th_backing_path(&env, name, path);
	n = getxattr(path, NSID_XATTR, text, sizeof(text) - 1);
	cr_assert_gt(n, 0, "%s carries no recorded id", name);
	text[n] = '\0';
	return strtoull(text, NULL, 10);
}

static char *read_as_self(void)
{
	struct rcfs_caller self = caller(getpid());
	size_t len;
	char *got;
	int fd = rcfs_open(&env.ctx, &self, O_RDONLY);

	cr_assert_geq(fd, 0, "rcfs_open: %s", strerror(-fd));
	got = th_read_fd(fd, &len);
	rcfs_close(fd);
	return got;
}

Test(recycled, created_file_records_the_unique_id)
{
	char name[RCFS_NAME_SIZE], *got;

	setup_real(name, 0);
	got = read_as_self();
	cr_assert_str_eq(got, tmpl);
	free(got);
	cr_assert_eq(recorded_id(name), own_unique_id());
	th_env_teardown(&env);
}

Test(recycled, file_of_an_earlier_namespace_is_moved_aside)
{
	char name[RCFS_NAME_SIZE], aside[RCFS_NAME_SIZE + 64], *got;
	uint64_t other = own_unique_id() + 1000;
	char text[32];

	setup_real(name, 0);
	snprintf(text, sizeof(text), "%" PRIu64, other);
	put_recorded(name, "old namespace\n", text);
	got = read_as_self();
	cr_assert_str_eq(got, tmpl, "the caller must get a fresh copy, not the old file");
	free(got);
	cr_assert_eq(recorded_id(name), own_unique_id());
	snprintf(aside, sizeof(aside), "%s.stale-%s", name, text);
	assert_backing(aside, "old namespace\n", 14);
	cr_assert_eq(th_count_entries(env.backing, NULL), 2);
	/* Once replaced, the fresh file is served as it is. */
	got = read_as_self();
	cr_assert_str_eq(got, tmpl);
	free(got);
	cr_assert_eq(th_count_entries(env.backing, NULL), 2);
	th_env_teardown(&env);
}

Test(recycled, o_trunc_does_not_empty_the_file_kept_aside)
{
	struct rcfs_caller self = caller(getpid());
	char name[RCFS_NAME_SIZE], aside[RCFS_NAME_SIZE + 64];
	struct stat st;
	int fd;

	setup_real(name, 0);
	put_recorded(name, "keep me\n", "1");
	fd = rcfs_open(&env.ctx, &self, O_WRONLY | O_TRUNC);
	cr_assert_geq(fd, 0);
	cr_assert_eq(rcfs_fstat(fd, &st), 0);
	cr_assert_eq(st.st_size, 0);
	rcfs_close(fd);
	snprintf(aside, sizeof(aside), "%s.stale-1", name);
	assert_backing(aside, "keep me\n", 8);
	assert_backing(name, "", 0);
	th_env_teardown(&env);
}

Test(recycled, o_rdonly_o_trunc_does_not_empty_the_file_kept_aside)
{
	/* Linux truncates on O_RDONLY|O_TRUNC too (given write permission), and the FUSE frontend
	 * asks for atomic O_TRUNC, so such an open reaches rcfs_open as it is. The old namespace's
	 * file must still be kept aside intact; the caller gets an emptied fresh copy. */
	struct rcfs_caller self = caller(getpid());
	char name[RCFS_NAME_SIZE], aside[RCFS_NAME_SIZE + 64];
	struct stat st;
	int fd;

	setup_real(name, 0);
	put_recorded(name, "keep me\n", "1");
	fd = rcfs_open(&env.ctx, &self, O_RDONLY | O_TRUNC);
	cr_assert_geq(fd, 0, "rcfs_open: %s", strerror(-fd));
	cr_assert_eq(rcfs_fstat(fd, &st), 0);
	rcfs_close(fd);
	snprintf(aside, sizeof(aside), "%s.stale-1", name);
	assert_backing(aside, "keep me\n", 8);
	cr_assert_eq(st.st_size, 0);
	th_env_teardown(&env);
}

Test(recycled, o_trunc_on_a_current_file_still_truncates)
{
	struct rcfs_caller self = caller(getpid());
	char name[RCFS_NAME_SIZE], text[32];
	int fd;

	setup_real(name, 0);
	snprintf(text, sizeof(text), "%" PRIu64, own_unique_id());
	put_recorded(name, "current\n", text);
	fd = rcfs_open(&env.ctx, &self, O_RDWR | O_TRUNC);
	cr_assert_geq(fd, 0);
	rcfs_close(fd);
	assert_backing(name, "", 0);
	cr_assert_eq(th_count_entries(env.backing, NULL), 1);
	/* O_RDONLY|O_TRUNC on a current file: passed through like any other flag. */
	th_env_teardown(&env);
}

Test(recycled, files_without_a_usable_record_are_served_as_they_are)
{
	static const char *const records[] = { NULL, "", "abc", "12x", "-1",
					       "99999999999999999999999" };
	char name[RCFS_NAME_SIZE], text[32], *got;

	setup_real(name, 0);
	for (size_t i = 0; i < sizeof(records) / sizeof(records[0]); i++) {
		char path[PATH_MAX];

		th_backing_path(&env, name, path);
		unlink(path);
		if (records[i] && !records[i][0]) {
			put_recorded(name, "by hand\n", NULL);
			cr_assert_eq(setxattr(path, NSID_XATTR, "", 0, 0), 0);
		} else {
			put_recorded(name, "by hand\n", records[i]);
		}
		got = read_as_self();
		cr_assert_str_eq(got, "by hand\n", "record '%s'", records[i] ? records[i] : "(none)");
		free(got);
		cr_assert_eq(th_count_entries(env.backing, NULL), 1);
	}
	/* And a matching record, of course. */
	{
		char path[PATH_MAX];

		th_backing_path(&env, name, path);
		cr_assert_eq(unlink(path), 0);
	}
	snprintf(text, sizeof(text), "%" PRIu64, own_unique_id());
	put_recorded(name, "mine\n", text);
	got = read_as_self();
	cr_assert_str_eq(got, "mine\n");
	free(got);
	th_env_teardown(&env);
}

Test(recycled, an_older_copy_aside_is_kept)
{
	char name[RCFS_NAME_SIZE], aside[RCFS_NAME_SIZE + 64], *got;

	setup_real(name, 0);
	snprintf(aside, sizeof(aside), "%s.stale-7", name);
	put_recorded(aside, "oldest\n", NULL);
	put_recorded(name, "older\n", "7");
	got = read_as_self();
	cr_assert_str_eq(got, tmpl);
	free(got);
	assert_backing(aside, "oldest\n", 7);
	/* the newer stale copy went to <name>.stale-7-<our id>: nothing is destroyed */
	cr_assert_eq(th_count_entries(env.backing, NULL), 3);
	th_env_teardown(&env);
}

Test(recycled, stat_does_not_move_files)
{
	struct rcfs_caller self = caller(getpid());
	char name[RCFS_NAME_SIZE];
	struct stat st;

	setup_real(name, 0);
	put_recorded(name, "older\n", "7");
	cr_assert_eq(rcfs_stat(&env.ctx, &self, &st), 0);
	cr_assert_eq(st.st_size, 6);
	cr_assert_eq(th_count_entries(env.backing, NULL), 1);
	th_env_teardown(&env);
}

Test(recycled, without_nsid_nothing_is_recorded_or_moved)
{
	char name[RCFS_NAME_SIZE], path[PATH_MAX], text[8], *got;

	setup_real(name, 1);
	got = read_as_self();
	cr_assert_str_eq(got, tmpl);
	free(got);
	th_backing_path(&env, name, path);
	cr_assert_eq(getxattr(path, NSID_XATTR, text, sizeof(text)), -1);
	cr_assert_eq(errno, ENODATA);
	cr_assert_eq(unlink(path), 0);
	put_recorded(name, "older\n", "7");
	got = read_as_self();
	cr_assert_str_eq(got, "older\n");
	free(got);
	cr_assert_eq(th_count_entries(env.backing, NULL), 1);
	th_env_teardown(&env);
}

#define STALE_THREADS 16

struct stale_reader {
	pthread_barrier_t *start;
	int ret;
	int fresh;
};

static void *read_stale(void *p)
{
	struct stale_reader *r = p;
	struct rcfs_caller self = caller(getpid());
	char buf[256];
	ssize_t n;
	int fd;

	pthread_barrier_wait(r->start);
	fd = rcfs_open(&env.ctx, &self, O_RDONLY);
	if (fd < 0) {
		r->ret = fd;
		return NULL;
	}
	n = rcfs_pread(fd, buf, sizeof(buf), 0);
	rcfs_close(fd);
	r->fresh = n == (ssize_t)sizeof(tmpl) - 1 && memcmp(buf, tmpl, (size_t)n) == 0;
	return NULL;
}

Test(recycled, concurrent_opens_of_a_stale_file)
{
	struct stale_reader readers[STALE_THREADS];
	pthread_t threads[STALE_THREADS];
	pthread_barrier_t start;
	char name[RCFS_NAME_SIZE], aside[RCFS_NAME_SIZE + 64];

	setup_real(name, 0);
	put_recorded(name, "older\n", "7");
	cr_assert_eq(pthread_barrier_init(&start, NULL, STALE_THREADS), 0);
	for (int i = 0; i < STALE_THREADS; i++) {
		readers[i] = (struct stale_reader){ .start = &start };
		cr_assert_eq(pthread_create(&threads[i], NULL, read_stale, &readers[i]), 0);
	}
	for (int i = 0; i < STALE_THREADS; i++)
		pthread_join(threads[i], NULL);
	pthread_barrier_destroy(&start);
	for (int i = 0; i < STALE_THREADS; i++) {
		cr_assert_eq(readers[i].ret, 0, "thread %d: %s", i, strerror(-readers[i].ret));
		cr_assert(readers[i].fresh, "thread %d was served the old namespace's file", i);
	}
	snprintf(aside, sizeof(aside), "%s.stale-7", name);
	assert_backing(aside, "older\n", 6);
	assert_backing(name, tmpl, sizeof(tmpl) - 1);
	cr_assert_eq(th_count_entries(env.backing, NULL), 2);
	th_env_teardown(&env);
}

/* ----- ip-netns names and the /etc/netns layout: rcfs_caller_name's buffer ------------------- */

/* Our own network namespace gets an ip-netns style name (a bind mount of /proc/self/ns/net in a
 * private mount namespace), and /etc/netns/NAME/BASENAME exists, with NAME and BASENAME long:
 * the target `NAME/BASENAME` is longer than RCFS_NAME_SIZE. rcfs_caller_name promises a name
 * in a RCFS_NAME_SIZE buffer: it must either fit, NUL-terminated, or fail. */
static char long_name[201], long_base[201];

static int etc_netns_child(void *unused)
{
	struct rcfs_config cfg = { 0 };
	struct rcfs_caller self = caller(getpid());
	char names[PATH_MAX], etc[PATH_MAX], path[PATH_MAX], buf[RCFS_NAME_SIZE];
	size_t len;
	char *got;
	int ret, fd, ok;

	(void)unused;
	th_join(names, env.root, "netns");
	th_join(etc, env.root, "etc");
	th_pathf(path, "%s/%s", names, long_name);
	if (mount("/proc/self/ns/net", path, "none", MS_BIND, NULL) < 0)
		return th_child_fail(TH_CHILD_SKIP, "bind mount of a namespace: %s", strerror(errno));
	rcfs_ctx_fini(&env.ctx);
	cfg.procfs = "/proc";
	cfg.backing_dir = env.backing;
	cfg.template_path = env.tmpl;
	cfg.names_dir = names;
	cfg.etc_netns_dir = etc;
	cfg.mount_basename = long_base;
	ret = rcfs_ctx_init(&env.ctx, &cfg, NULL);
	if (ret)
		return th_child_fail(1, "rcfs_ctx_init: %s", strerror(-ret));

	/* The layout works: the caller is served /etc/netns/NAME/BASENAME. */
	fd = rcfs_open(&env.ctx, &self, O_RDONLY);
	if (fd < 0)
		return th_child_fail(1, "rcfs_open: %s", strerror(-fd));
	got = th_read_fd(fd, &len);
	rcfs_close(fd);
	ok = len == 11 && !memcmp(got, "etc layout\n", 11);
	free(got);
	if (!ok)
		return th_child_fail(1, "not served the /etc/netns file");

	memset(buf, 'X', sizeof(buf));
	ret = rcfs_caller_name(&env.ctx, &self, buf);
	if (ret == 0 && !memchr(buf, '\0', sizeof(buf)))
		return th_child_fail(2, "rcfs_caller_name returned 0 but left its %d-byte buffer "
				     "without a terminating NUL (target is %zu bytes)", RCFS_NAME_SIZE,
				     strlen(long_name) + 1 + strlen(long_base));
	rcfs_ctx_fini(&env.ctx);
	return 0;
}

Test(fileops, caller_name_of_a_long_etc_netns_target)
{
	char dir[PATH_MAX], path[PATH_MAX];
	int code;

	memset(long_name, 'n', sizeof(long_name) - 1);
	memset(long_base, 'b', sizeof(long_base) - 1);
	setup();
	th_join(dir, env.root, "netns");
	cr_assert_eq(mkdir(dir, 0755), 0);
	th_pathf(path, "%s/%s", dir, long_name);
	th_write_file(path, "", 0, 0644);
	th_join(dir, env.root, "etc");
	cr_assert_eq(mkdir(dir, 0755), 0);
	th_pathf(path, "%s/%s", dir, long_name);
	cr_assert_eq(mkdir(path, 0755), 0);
	th_pathf(path, "%s/%s/%s", dir, long_name, long_base);
	th_write_file(path, "etc layout\n", 11, 0644);
	code = th_run_child(1, etc_netns_child, NULL);
	if (code == TH_CHILD_SKIP)
		cr_skip_test("cannot name a namespace in a private mount namespace here");
	cr_assert_eq(code, 0, "child failed (status %d), see its message above", code);
	th_env_teardown(&env);
}
