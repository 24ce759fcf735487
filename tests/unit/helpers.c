#include "helpers.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Set in a child made by th_run_child: a failed helper must not report to Criterion from there
 * (the child is a copy of the test process), it prints and exits instead. */
static int in_child;

__attribute__((format(printf, 1, 2))) static void die(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (in_child) {
		fprintf(stderr, "test child: %s\n", msg);
		fflush(stderr);
		_exit(1);
	}
	cr_assert_fail("%s", msg);
	abort(); /* not reached */
}

#define MAX_TEMPS 16
static char temps[MAX_TEMPS][PATH_MAX];
static int ntemps;

void th_mkdtemp(char *out)
{
	const char *tmp = getenv("TMPDIR");
	char path[PATH_MAX];

	if (!tmp || tmp[0] != '/')
		tmp = "/tmp";
	if (ntemps == MAX_TEMPS)
		die("too many temporary directories");
	if ((size_t)snprintf(path, sizeof(path), "%s/rcfs-unit-XXXXXX", tmp) >= sizeof(path))
		die("TMPDIR too long");
	if (!mkdtemp(path))
		die("mkdtemp in %s: %s", tmp, strerror(errno));
	strcpy(temps[ntemps++], path);
	strcpy(out, path);
}

void th_cleanup(void)
{
	if (in_child)
		return;
	while (ntemps > 0)
		th_rmtree(temps[--ntemps]);
}

static int rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (type == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

void th_rmtree(const char *path)
{
	/* A test may have left a directory unsearchable (mode changes in the privilege tests). */
	chmod(path, 0700);
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

void th_join(char *out, const char *dir, const char *name)
{
	if ((size_t)snprintf(out, PATH_MAX, "%s/%s", dir, name) >= PATH_MAX)
		die("path too long: %s/%s", dir, name);
}

void th_pathf(char *out, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, PATH_MAX, fmt, ap);
	va_end(ap);
	if (n < 0 || n >= PATH_MAX)
		die("path too long");
}

void th_write_file(const char *path, const void *data, size_t len, mode_t mode)
{
	const char *p = data;
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		die("open %s: %s", path, strerror(errno));
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("write %s: %s", path, strerror(errno));
		}
		p += n;
		len -= (size_t)n;
	}
	if (fchmod(fd, mode) < 0)
		die("fchmod %s: %s", path, strerror(errno));
	close(fd);
}

char *th_read_fd(int fd, size_t *len)
{
	size_t cap = 4096, done = 0;
	char *buf = malloc(cap + 1);

	if (!buf)
		die("out of memory");
	for (;;) {
		ssize_t n = pread(fd, buf + done, cap - done, (off_t)done);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			free(buf);
			die("pread: %s", strerror(errno));
		}
		if (n == 0)
			break;
		done += (size_t)n;
		if (done == cap) {
			char *grown = realloc(buf, cap * 2 + 1);

			if (!grown) {
				free(buf);
				die("out of memory");
			}
			buf = grown;
			cap *= 2;
		}
	}
	buf[done] = '\0';
	*len = done;
	return buf;
}

char *th_read_file(const char *path, size_t *len)
{
	char *buf;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die("open %s: %s", path, strerror(errno));
	buf = th_read_fd(fd, len);
	close(fd);
	return buf;
}

void th_pattern(void *buf, size_t len, uint32_t seed)
{
	uint32_t x = seed * 2654435761u + 0x9e3779b9u;
	unsigned char *p = buf;

	if (!x)
		x = 1;
	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (unsigned char)(x >> 7);
	}
}

void th_fake_ns(const char *procfs, long pid, const char *text)
{
	char path[PATH_MAX];

	th_pathf(path, "%s/%ld", procfs, pid);
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		die("mkdir %s: %s", path, strerror(errno));
	th_pathf(path, "%s/%ld/ns", procfs, pid);
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		die("mkdir %s: %s", path, strerror(errno));
	th_pathf(path, "%s/%ld/ns/net", procfs, pid);
	if (unlink(path) < 0 && errno != ENOENT)
		die("unlink %s: %s", path, strerror(errno));
	if (symlink(text, path) < 0)
		die("symlink %s: %s", path, strerror(errno));
}

int th_count_fds(void)
{
	struct dirent *de;
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	if (!d)
		die("opendir /proc/self/fd: %s", strerror(errno));
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

int th_count_entries(const char *dir, char *name)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	int n = 0;

	if (!d)
		die("opendir %s: %s", dir, strerror(errno));
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (n++ == 0 && name)
			snprintf(name, NAME_MAX + 1, "%s", de->d_name);
	}
	closedir(d);
	if (n != 1 && name)
		name[0] = '\0';
	return n;
}

int th_env_init_ctx(struct th_env *e, const char *ext, int with_template,
		    struct rcfs_init_error *err)
{
	struct rcfs_config cfg = { 0 };

	cfg.procfs = e->procfs;
	cfg.backing_dir = e->backing;
	cfg.extension = ext;
	cfg.template_path = with_template ? e->tmpl : NULL;
	return rcfs_ctx_init(&e->ctx, &cfg, err);
}

void th_env_setup(struct th_env *e, const char *ext, const void *tmpl_data, size_t tmpl_len,
		  mode_t tmpl_mode)
{
	struct rcfs_init_error err = { 0 };
	int ret;

	memset(e, 0, sizeof(*e));
	e->ctx.procfs_fd = -1;
	e->ctx.backing_fd = -1;
	th_mkdtemp(e->root);
	th_join(e->procfs, e->root, "proc");
	th_join(e->backing, e->root, "backing");
	th_join(e->tmpl, e->root, "template");
	if (mkdir(e->procfs, 0755) < 0 || mkdir(e->backing, 0755) < 0)
		die("mkdir in %s: %s", e->root, strerror(errno));
	if (tmpl_data)
		th_write_file(e->tmpl, tmpl_data, tmpl_len, tmpl_mode);
	ret = th_env_init_ctx(e, ext, tmpl_data != NULL, &err);
	if (ret)
		die("rcfs_ctx_init: %s '%s': %s", err.what, err.arg, strerror(-ret));
}

void th_env_teardown(struct th_env *e)
{
	rcfs_ctx_fini(&e->ctx);
}

void th_backing_path(const struct th_env *e, const char *name, char *out)
{
	th_join(out, e->backing, name);
}

static int write_text(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t len = (ssize_t)strlen(text);
	int ok;

	if (fd < 0)
		return -errno;
	ok = write(fd, text, (size_t)len) == len;
	close(fd);
	return ok ? 0 : -EIO;
}

/* Enter a private mount namespace; as an ordinary user, inside a new user namespace first.
 * Returns 0, or TH_CHILD_SKIP when the system does not allow it for this user. */
static int enter_private_mount_ns(void)
{
	uid_t uid = geteuid();
	gid_t gid = getegid();
	char map[64];

	if (uid == 0 && unshare(CLONE_NEWNS) == 0)
		goto private;
	if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0) {
		fprintf(stderr, "test child: unshare(CLONE_NEWUSER|CLONE_NEWNS): %s\n",
			strerror(errno));
		return TH_CHILD_SKIP;
	}
	snprintf(map, sizeof(map), "0 %u 1\n", (unsigned)uid);
	if (write_text("/proc/self/setgroups", "deny") || write_text("/proc/self/uid_map", map))
		return th_child_fail(TH_CHILD_SKIP, "cannot write uid_map");
	snprintf(map, sizeof(map), "0 %u 1\n", (unsigned)gid);
	if (write_text("/proc/self/gid_map", map))
		return th_child_fail(TH_CHILD_SKIP, "cannot write gid_map");
private:
	/* Nothing mounted from here on may propagate to the host's mount namespace. */
	/* (source and type are ignored here; named anyway, valgrind checks them as strings) */
	if (mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) < 0)
		return th_child_fail(1, "mount --make-rprivate /: %s", strerror(errno));
	return 0;
}

static pid_t spawn_child(int isolate, int (*fn)(void *), void *arg)
{
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		int code = 0;

		in_child = 1;
		if (isolate)
			code = enter_private_mount_ns();
		if (code == 0)
			code = fn(arg);
		fflush(stdout);
		fflush(stderr);
		_exit(code & 0xff);
	}
	return pid;
}

static int exit_code(int status)
{
	if (WIFSIGNALED(status))
		return -1;
	return WEXITSTATUS(status);
}

int th_run_child(int isolate, int (*fn)(void *), void *arg)
{
	pid_t pid = spawn_child(isolate, fn, arg);
	int status;

	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			die("waitpid: %s", strerror(errno));
	return exit_code(status);
}

/* Whether the process is asleep in the kernel waiting for the other end of a FIFO. */
static int blocked_on_fifo(pid_t pid)
{
	char path[64], wchan[64] = "";
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/wchan", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, wchan, sizeof(wchan) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	wchan[n] = '\0';
	return strcmp(wchan, "wait_for_partner") == 0;
}

int th_run_child_fifo_watch(const char *fifo, int (*fn)(void *), void *arg, int *blocked)
{
	const struct timespec pause = { 0, 1000000 };
	pid_t pid = spawn_child(0, fn, arg);
	int status;

	*blocked = 0;
	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid)
			return exit_code(status);
		if (r < 0 && errno != EINTR)
			die("waitpid: %s", strerror(errno));
		if (blocked_on_fifo(pid)) {
			/* Release it: a writer that comes and goes lets the open return; reads then
			 * see end of file. */
			int fd = open(fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);

			*blocked = 1;
			if (fd >= 0)
				close(fd);
		}
		nanosleep(&pause, NULL);
	}
}

int th_child_fail(int code, const char *fmt, ...)
{
	va_list ap;

	fputs("test child: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
	return code;
}

int th_drop_to_nobody(void)
{
	if (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
	    setresuid(65534, 65534, 65534) < 0)
		return -errno;
	return 0;
}
