#include "mount.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

int rcfs_mountpoint_open(const char *path, struct rcfs_mountpoint *mp, int *dangling)
{
	struct stat st;
	ssize_t n;

	mp->is_link = 0;
	mp->link[0] = '\0';
	*dangling = 0;
	mp->fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (mp->fd < 0 || fstatat(mp->fd, "", &st, AT_EMPTY_PATH) < 0) {
		fprintf(stderr, "resolvconffs: mountpoint '%s': %s\n", path, strerror(errno));
		rcfs_mountpoint_close(mp);
		return -1;
	}
	if (S_ISLNK(st.st_mode)) {
		mp->is_link = 1;
		n = readlinkat(mp->fd, "", mp->link, sizeof(mp->link) - 1);
		if (n < 0) {
			fprintf(stderr, "resolvconffs: mountpoint '%s': %s\n", path, strerror(errno));
			rcfs_mountpoint_close(mp);
			return -1;
		}
		mp->link[n] = '\0';
		/* What the link leads to decides only whether it may be covered. */
		if (stat(path, &st) < 0) {
			*dangling = errno == ENOENT;
			st.st_mode = S_IFREG;
		}
	}
	if (!S_ISREG(st.st_mode)) {
		fprintf(stderr, "resolvconffs: mountpoint '%s' %s, not a regular file\n", path,
			S_ISDIR(st.st_mode) ? (mp->is_link ? "leads to a directory" : "is a directory") :
			(mp->is_link ? "leads to a special file" : "is a special file"));
		rcfs_mountpoint_close(mp);
		return -1;
	}
	return 0;
}

void rcfs_mountpoint_close(struct rcfs_mountpoint *mp)
{
	if (mp->fd >= 0)
		close(mp->fd);
	mp->fd = -1;
}

/* The generic mount options libfuse turns into mount(2) flags; the rest go to the kernel's FUSE
 * parser as they are. */
static const struct {
	const char *name;
	unsigned long set, clear;
} flag_opts[] = {
	{ "rw", 0, MS_RDONLY },         { "ro", MS_RDONLY, 0 },
	{ "suid", 0, MS_NOSUID },       { "nosuid", MS_NOSUID, 0 },
	{ "dev", 0, MS_NODEV },         { "nodev", MS_NODEV, 0 },
	{ "exec", 0, MS_NOEXEC },       { "noexec", MS_NOEXEC, 0 },
	{ "async", 0, MS_SYNCHRONOUS }, { "sync", MS_SYNCHRONOUS, 0 },
	{ "atime", 0, MS_NOATIME },     { "noatime", MS_NOATIME, 0 },
	{ "diratime", 0, MS_NODIRATIME }, { "nodiratime", MS_NODIRATIME, 0 },
	{ "lazytime", MS_LAZYTIME, 0 }, { "nolazytime", 0, MS_LAZYTIME },
	{ "relatime", MS_RELATIME, 0 }, { "norelatime", 0, MS_RELATIME },
	{ "strictatime", MS_STRICTATIME, 0 }, { "dirsync", MS_DIRSYNC, 0 },
};

/* Options that only fusermount3 or libfuse's own mount code can honour. */
static const char *const unsupported[] = { "auto_unmount", "allow_root", "blkdev", "nonempty" };

struct mount_args {
	unsigned long flags;
	char source[256];
	char type[256];
	char data[1024];
};

static int add_data(struct mount_args *a, const char *opt)
{
	size_t len = strlen(a->data);
	int n = snprintf(a->data + len, sizeof(a->data) - len, ",%s", opt);

	return n < 0 || (size_t)n >= sizeof(a->data) - len ? -1 : 0;
}

static int add_option(struct mount_args *a, const char *opt)
{
	for (size_t i = 0; i < sizeof(flag_opts) / sizeof(flag_opts[0]); i++)
		if (!strcmp(opt, flag_opts[i].name)) {
			a->flags = (a->flags & ~flag_opts[i].clear) | flag_opts[i].set;
			return 0;
		}
	for (size_t i = 0; i < sizeof(unsupported) / sizeof(unsupported[0]); i++)
		if (!strcmp(opt, unsupported[i])) {
			fprintf(stderr, "resolvconffs: mount option '%s' needs fusermount3, which cannot "
				"mount over a symlink\n", opt);
			return -1;
		}
	if (!strncmp(opt, "fsname=", 7))
		return snprintf(a->source, sizeof(a->source), "%s", opt + 7) >= (int)sizeof(a->source);
	if (!strncmp(opt, "subtype=", 8))
		return snprintf(a->type, sizeof(a->type), "fuse.%s", opt + 8) >= (int)sizeof(a->type);
	if (!strncmp(opt, "x-", 2) || !*opt)
		return 0; /* for mount helpers and fstab, not for the kernel */
	return add_data(a, opt);
}

static int build_args(struct mount_args *a, int fuse_fd, const char *opts)
{
	char *list = strdup(opts), *save = NULL;
	int ret = 0;

	if (!list)
		return -1;
	a->flags = MS_NOSUID | MS_NODEV; /* libfuse's defaults */
	snprintf(a->source, sizeof(a->source), "resolvconffs");
	snprintf(a->type, sizeof(a->type), "fuse");
	snprintf(a->data, sizeof(a->data), "fd=%d,rootmode=%o,user_id=%u,group_id=%u", fuse_fd,
		 (unsigned)S_IFREG, (unsigned)getuid(), (unsigned)getgid());
	for (char *o = strtok_r(list, ",", &save); o && !ret; o = strtok_r(NULL, ",", &save))
		ret = add_option(a, o);
	free(list);
	return ret;
}

int rcfs_mount_link_check(const char *opts)
{
	struct mount_args a;

	return build_args(&a, -1, opts);
}

int rcfs_mount_link(struct fuse_session *se, const struct rcfs_mountpoint *mp, const char *path,
		    const char *opts)
{
	struct mount_args a;
	char target[32], dev[32];
	int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		fprintf(stderr, "resolvconffs: /dev/fuse: %s\n", strerror(errno));
		return -1;
	}
	if (build_args(&a, fd, opts)) {
		close(fd);
		return -1;
	}
	snprintf(target, sizeof(target), "/proc/self/fd/%d", mp->fd);
	if (mount(a.source, target, a.type, a.flags, a.data) < 0) {
		int e = errno;

		fprintf(stderr, "resolvconffs: cannot mount over the symlink '%s'%s: %s\n", path,
			e == EPERM ? " (that needs CAP_SYS_ADMIN: fusermount3 would cover the file it "
			"points to instead, which its owner then cannot replace; give that file as "
			"the mountpoint to do so)" : "", strerror(e));
		close(fd);
		return -1;
	}
	/* libfuse takes a /dev/fd/N "mountpoint" as a connection that is already mounted. */
	snprintf(dev, sizeof(dev), "/dev/fd/%d", fd);
	if (fuse_session_mount(se, dev)) {
		umount2(target, MNT_DETACH);
		close(fd);
		return -1;
	}
	return 0;
}
