#include "helpers2.h"
#include "helpers.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#ifndef NS_GET_ID
#define NS_GET_ID _IOR(0xb7, 13, uint64_t)
#endif

#define MAX_MOUNTS 64
static char mounts[MAX_MOUNTS][PATH_MAX];
static int nmounts;

#define MAX_CHILDREN 8
static pid_t children[MAX_CHILDREN];
static int child_release[MAX_CHILDREN];
static int nchildren;

void h2_private_mounts(void)
{
	if (unshare(CLONE_NEWNS) < 0) {
		int err = errno;

		/* A skipped test's suite .fini does not run: remove its temporary trees first. */
		h2_cleanup();
		cr_skip_test("unshare(CLONE_NEWNS): %s (needs root)", strerror(err));
	}
	/* Nothing mounted from here on may propagate back to the host's mount namespace. */
	cr_assert_eq(mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL), 0,
		     "mount --make-rprivate /: %s", strerror(errno));
}

static void make_file(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);

	cr_assert_geq(fd, 0, "create %s: %s", path, strerror(errno));
	close(fd);
}

static void register_mount(const char *dst)
{
	cr_assert_lt(nmounts, MAX_MOUNTS, "too many mounts");
	snprintf(mounts[nmounts++], PATH_MAX, "%s", dst);
}

void h2_bind(const char *src, const char *dst)
{
	if (!h2_exists(dst))
		make_file(dst);
	cr_assert_eq(mount(src, dst, "none", MS_BIND, NULL), 0, "mount --bind %s %s: %s", src, dst,
		     strerror(errno));
	register_mount(dst);
}

void h2_umount(const char *dst)
{
	for (int i = nmounts - 1; i >= 0; i--) {
		if (strcmp(mounts[i], dst))
			continue;
		cr_assert_eq(umount2(dst, MNT_DETACH), 0, "umount %s: %s", dst, strerror(errno));
		memmove(mounts[i], mounts[i + 1], (size_t)(nmounts - i - 1) * sizeof(mounts[0]));
		nmounts--;
		return;
	}
	cr_assert_fail("%s was not mounted here", dst);
}

uint64_t h2_new_netns(const char *dst)
{
	pid_t pid;
	int status;

	if (!h2_exists(dst))
		make_file(dst);
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		if (unshare(CLONE_NEWNET) < 0)
			_exit(2);
		if (mount("/proc/self/ns/net", dst, "none", MS_BIND, NULL) < 0)
			_exit(3);
		_exit(0);
	}
	while (waitpid(pid, &status, 0) < 0)
		cr_assert_eq(errno, EINTR, "waitpid: %s", strerror(errno));
	/* Registered whatever the status says: the mount may exist even if the child then failed
	 * (under valgrind, an error elsewhere changes its exit code), and a mount left on dst
	 * would keep th_cleanup from removing it. */
	register_mount(dst);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "child naming a new netns at %s failed (status %#x)", dst, status);
	return h2_ns_ino(dst);
}

uint64_t h2_ns_ino(const char *path)
{
	struct stat st;

	cr_assert_eq(stat(path, &st), 0, "stat %s: %s", path, strerror(errno));
	return (uint64_t)st.st_ino;
}

uint64_t h2_ns_unique_id(const char *path)
{
	uint64_t id = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	cr_assert_geq(fd, 0, "open %s: %s", path, strerror(errno));
	cr_assert_eq(ioctl(fd, NS_GET_ID, &id), 0, "NS_GET_ID on %s: %s", path, strerror(errno));
	close(fd);
	return id;
}

void h2_own_link(const char *kind, char *out)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/ns/%s", kind);
	n = readlink(path, out, 63);
	cr_assert_gt(n, 0, "readlink %s: %s", path, strerror(errno));
	out[n] = '\0';
}

/* mkdir -p of every directory before the last component of procfs/rel. */
static void make_parents(const char *procfs, const char *rel, char *full)
{
	char dir[PATH_MAX];

	th_join(full, procfs, rel);
	snprintf(dir, sizeof(dir), "%s", full);
	for (char *p = dir + strlen(procfs) + 1; (p = strchr(p, '/')); p++) {
		*p = '\0';
		if (mkdir(dir, 0755) < 0)
			cr_assert_eq(errno, EEXIST, "mkdir %s: %s", dir, strerror(errno));
		*p = '/';
	}
}

void h2_fake_link(const char *procfs, const char *rel, const char *text)
{
	char path[PATH_MAX];

	make_parents(procfs, rel, path);
	if (unlink(path) < 0)
		cr_assert_eq(errno, ENOENT, "unlink %s: %s", path, strerror(errno));
	cr_assert_eq(symlink(text, path), 0, "symlink %s: %s", path, strerror(errno));
}

void h2_fake_file(const char *procfs, const char *rel, const char *text)
{
	char path[PATH_MAX];

	make_parents(procfs, rel, path);
	th_write_file(path, text, strlen(text), 0644);
}

/* Fork a child that runs setup (returning whether it worked) and then waits until released. */
static pid_t park_child(int (*setup)(void))
{
	int ready[2], release[2];
	char c = 0;
	pid_t pid;

	cr_assert_lt(nchildren, MAX_CHILDREN, "too many children");
	cr_assert_eq(pipe2(ready, O_CLOEXEC), 0);
	cr_assert_eq(pipe2(release, O_CLOEXEC), 0);
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		char ok = setup() ? 'y' : 'n';

		close(ready[0]);
		close(release[1]);
		if (write(ready[1], &ok, 1) != 1)
			_exit(1);
		/* Parked until the parent closes its end (or dies). */
		while (read(release[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	close(ready[1]);
	close(release[0]);
	children[nchildren] = pid;
	child_release[nchildren++] = release[1];
	while (read(ready[0], &c, 1) < 0 && errno == EINTR)
		;
	close(ready[0]);
	if (c != 'y') {
		h2_release_child(pid);
		return -1;
	}
	return pid;
}

static int unshare_net(void)
{
	return unshare(CLONE_NEWNET) == 0;
}

pid_t h2_child_in_new_netns(void)
{
	return park_child(unshare_net);
}

static int unshare_user(void)
{
	return unshare(CLONE_NEWUSER) == 0;
}

static int unshare_user_net(void)
{
	return unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0;
}

pid_t h2_child_in_new_userns(int new_net)
{
	return park_child(new_net ? unshare_user_net : unshare_user);
}

static int drop_caps(void)
{
	return geteuid() != 0 || th_drop_to_nobody() == 0;
}

pid_t h2_child_without_caps(void)
{
	pid_t pid = park_child(drop_caps);

	cr_assert_gt(pid, 0, "cannot start a child without capabilities");
	return pid;
}

static void reap(int i)
{
	int status;

	/* The child leaves as soon as its end of the pipe reads end of file. */
	close(child_release[i]);
	while (waitpid(children[i], &status, 0) < 0 && errno == EINTR)
		;
	children[i] = children[nchildren - 1];
	child_release[i] = child_release[nchildren - 1];
	nchildren--;
}

void h2_release_child(pid_t pid)
{
	for (int i = 0; i < nchildren; i++) {
		if (children[i] == pid) {
			reap(i);
			return;
		}
	}
}

void h2_cleanup(void)
{
	while (nmounts > 0) {
		nmounts--;
		umount2(mounts[nmounts], MNT_DETACH);
	}
	while (nchildren > 0)
		reap(nchildren - 1);
	th_cleanup();
}

static pthread_mutex_t warn_lock = PTHREAD_MUTEX_INITIALIZER;

void h2_warn(void *arg, const char *fmt, ...)
{
	struct h2_warnings *w = arg;
	va_list ap;

	pthread_mutex_lock(&warn_lock);
	w->count++;
	va_start(ap, fmt);
	vsnprintf(w->last, sizeof(w->last), fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&warn_lock);
}

void h2_set_xattr(const char *path, const char *name, const void *value, size_t len)
{
	cr_assert_eq(setxattr(path, name, value, len, 0), 0, "setxattr %s %s: %s", path, name,
		     strerror(errno));
}

long h2_get_xattr(const char *path, const char *name, char *out, size_t size)
{
	ssize_t n = getxattr(path, name, out, size - 1);

	if (n < 0)
		return -errno;
	out[n] = '\0';
	return (long)n;
}

int h2_exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}
