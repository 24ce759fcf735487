#include "statat.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <linux/openat2.h>

/* AT_STATX_DONT_SYNC: a FUSE file system answers from its cache instead of sending GETATTR, and
 * a local one (where backing files live) has nothing else to answer from. */
static int statat(const struct rcfs_ctx *ctx, int dirfd, const char *name, int flags,
		  struct stat *st)
{
	struct statx sx;

	if (statx(dirfd, name, flags | AT_STATX_DONT_SYNC, STATX_BASIC_STATS, &sx) < 0)
		return -errno;
	memset(st, 0, sizeof(*st));
	st->st_dev = makedev(sx.stx_dev_major, sx.stx_dev_minor);
	if (ctx->mount_dev && st->st_dev == ctx->mount_dev)
		return -ELOOP;
	st->st_ino = sx.stx_ino;
	st->st_mode = sx.stx_mode;
	st->st_nlink = sx.stx_nlink;
	st->st_uid = sx.stx_uid;
	st->st_gid = sx.stx_gid;
	st->st_rdev = makedev(sx.stx_rdev_major, sx.stx_rdev_minor);
	st->st_size = (off_t)sx.stx_size;
	st->st_blksize = (blksize_t)sx.stx_blksize;
	st->st_blocks = (blkcnt_t)sx.stx_blocks;
	st->st_atim = (struct timespec){ sx.stx_atime.tv_sec, sx.stx_atime.tv_nsec };
	st->st_mtim = (struct timespec){ sx.stx_mtime.tv_sec, sx.stx_mtime.tv_nsec };
	st->st_ctim = (struct timespec){ sx.stx_ctime.tv_sec, sx.stx_ctime.tv_nsec };
	return 0;
}

int rcfs_statat(const struct rcfs_ctx *ctx, int dirfd, const char *name, struct stat *st)
{
	return statat(ctx, dirfd, name, 0, st);
}

int rcfs_lstatat(const struct rcfs_ctx *ctx, int dirfd, const char *name, struct stat *st)
{
	return statat(ctx, dirfd, name, AT_SYMLINK_NOFOLLOW, st);
}

int rcfs_is_template(const struct rcfs_ctx *ctx, const struct stat *st)
{
	struct stat now;

	if (!ctx->tmpl_ino || st->st_ino != ctx->tmpl_ino || st->st_dev != ctx->tmpl_dev)
		return 0;
	/* Only on a match, which is rare: the common request costs nothing more. */
	return rcfs_statat(ctx, AT_FDCWD, ctx->template_path, &now) != 0 ||
	       (now.st_ino == ctx->tmpl_ino && now.st_dev == ctx->tmpl_dev);
}

int rcfs_openat(const struct rcfs_ctx *ctx, int dirfd, const char *name, int flags)
{
	struct open_how how = { .flags = (uint64_t)flags, .resolve = RESOLVE_NO_XDEV };
	struct stat st;
	int fd, ret;

	fd = (int)syscall(SYS_openat2, dirfd, name, &how, sizeof(how));
	if (fd >= 0)
		return fd;
	/* EXDEV: the name crosses a mount; ENOSYS: a kernel older than 5.6 has no openat2. */
	if (errno != EXDEV && errno != ENOSYS)
		return -errno;
	ret = rcfs_statat(ctx, dirfd, name, &st);
	if (ret)
		return ret;
	fd = openat(dirfd, name, flags);
	return fd < 0 ? -errno : fd;
}
