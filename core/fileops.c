#include "fileops.h"
#include "access.h"
#include "backing.h"
#include "nsid.h"
#include "target.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Flags passed through to the backing open. O_APPEND matters most: the kernel computes an append
 * offset from whatever size it last saw, which may be another caller's file; an O_APPEND backing
 * fd makes pwrite append to the caller's own file regardless of that offset. */
#define PASS_FLAGS (O_ACCMODE | O_APPEND | O_TRUNC | O_SYNC | O_DSYNC | O_NOATIME)

int rcfs_caller_name(const struct rcfs_ctx *ctx, const struct rcfs_caller *caller, char *buf)
{
	struct rcfs_target t;
	int ret = rcfs_target_resolve(ctx, caller, &t);
	size_t len = ret ? 0 : strlen(t.name);

	if (ret)
		return ret;
	if (len >= RCFS_NAME_SIZE) /* a NAME/file path in the /etc/netns layout */
		return -ENAMETOOLONG;
	memcpy(buf, t.name, len + 1);
	return 0;
}

/* After an operation on the target failed with err: a missing file that may be created from the
 * template is created (0: try again); anything else is returned as it is. */
static int create_missing(const struct rcfs_ctx *ctx, const struct rcfs_target *t, int err)
{
	uint64_t nsid = 0;

	if (err != -ENOENT || !t->creatable)
		return err;
	if (ctx->nsid && t->recyclable && rcfs_nsid_of(ctx, &t->caller, &nsid))
		nsid = 0;
	return rcfs_backing_create_filtered(ctx, t->name, t->filter, nsid);
}

/* Move the file at t aside as `<name>.stale-<recorded id>` (or `...-<current id>` if that is
 * taken), if it still is the inode fd has open: a concurrent request of the same namespace may
 * have done it already. Returns 0 when t is free for a fresh copy, or -errno: the file is then
 * neither served nor destroyed. */
static int move_aside(const struct rcfs_ctx *ctx, const struct rcfs_target *t, int fd,
		      uint64_t recorded, uint64_t current)
{
	char aside[RCFS_TARGET_SIZE + 48];
	struct stat open_st, named_st;
	int ret = 0;

	pthread_mutex_lock(ctx->stale_lock);
	if (fstat(fd, &open_st) == 0 && fstatat(t->dirfd, t->name, &named_st, 0) == 0 &&
	    open_st.st_ino == named_st.st_ino && open_st.st_dev == named_st.st_dev) {
		snprintf(aside, sizeof(aside), "%s" RCFS_STALE_INFIX "%" PRIu64, t->name, recorded);
		ret = renameat2(t->dirfd, t->name, t->dirfd, aside, RENAME_NOREPLACE) ? -errno : 0;
		if (ret == -EEXIST) {
			snprintf(aside, sizeof(aside), "%s" RCFS_STALE_INFIX "%" PRIu64 "-%" PRIu64,
				 t->name, recorded, current);
			ret = renameat2(t->dirfd, t->name, t->dirfd, aside, RENAME_NOREPLACE) ? -errno : 0;
		}
		if (ctx->warn && !ret)
			ctx->warn(ctx->warn_arg, "namespace id in %s was reused (unique id %" PRIu64
				  ", file made for %" PRIu64 "): moved it aside as %s",
				  t->name, current, recorded, aside);
		else if (ctx->warn)
			ctx->warn(ctx->warn_arg, "namespace id in %s was reused (unique id %" PRIu64
				  ", file made for %" PRIu64 "), but it cannot be moved aside: %s",
				  t->name, current, recorded, strerror(-ret));
	}
	pthread_mutex_unlock(ctx->stale_lock);
	return ret;
}

/* Empty the file open at fd, which may be open read-only (Linux truncates on O_RDONLY|O_TRUNC
 * too): then through a writable reopening of the same inode. */
static int truncate_open(int fd, int flags)
{
	char path[40];
	int wfd, ret;

	if ((flags & O_ACCMODE) != O_RDONLY)
		return ftruncate(fd, 0) == 0 ? 0 : -errno;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	wfd = open(path, O_WRONLY | O_CLOEXEC);
	if (wfd < 0)
		return -errno;
	ret = ftruncate(wfd, 0) == 0 ? 0 : -errno;
	close(wfd);
	return ret;
}

/* Whether the id-named file open at fd was made for an earlier namespace with the same
 * (recycled) id: its recorded unique id differs from the caller's. Files without a record,
 * and callers whose unique id cannot be read, are served as they are. */
static int is_stale(const struct rcfs_ctx *ctx, const struct rcfs_target *t, int fd,
		    uint64_t *recorded, uint64_t *current)
{
	return rcfs_nsid_recorded(fd, recorded) == 0 &&
	       rcfs_nsid_of(ctx, &t->caller, current) == 0 && *recorded != *current;
}

/* Only a regular file is served. The mount's root is one inode of type "regular file": if
 * getattr ever reported another type for one caller, the kernel would mark the inode bad and
 * fail every caller's requests with EIO. */
static int regular_only(const struct stat *st)
{
	if (S_ISREG(st->st_mode))
		return 0;
	return S_ISDIR(st->st_mode) ? -EISDIR : -ENXIO;
}

int rcfs_stat(const struct rcfs_ctx *ctx, const struct rcfs_caller *caller, struct stat *st)
{
	struct rcfs_target t;
	int ret;

	ret = rcfs_target_resolve(ctx, caller, &t);
	if (ret)
		return ret;
	if (fstatat(t.dirfd, t.name, st, 0) == 0)
		return regular_only(st);
	ret = create_missing(ctx, &t, -errno);
	if (ret)
		return ret;
	return fstatat(t.dirfd, t.name, st, 0) == 0 ? regular_only(st) : -errno;
}

static int open_backing(const struct rcfs_ctx *ctx, const struct rcfs_caller *caller, int flags)
{
	struct rcfs_target t;
	uint64_t recorded, current;
	int fd, ret, check, trunc;

	ret = rcfs_target_resolve(ctx, caller, &t);
	if (ret)
		return ret;
	/* A recycled id is checked at open only, not at stat, and before O_TRUNC can empty the
	 * file that is about to be kept aside for the admin. */
	check = ctx->nsid && t.recyclable;
	trunc = check && (flags & O_TRUNC);
	/* O_NONBLOCK changes nothing for a regular file, and keeps a FIFO put in its place from
	 * hanging the request thread. */
	flags = (flags & PASS_FLAGS & ~(trunc ? O_TRUNC : 0)) | O_CLOEXEC | O_NONBLOCK;
	fd = openat(t.dirfd, t.name, flags);
	if (fd >= 0 && check && is_stale(ctx, &t, fd, &recorded, &current)) {
		ret = move_aside(ctx, &t, fd, recorded, current);
		close(fd);
		if (ret)
			return ret;
		fd = -1;
		errno = ENOENT;
	}
	if (fd < 0) {
		ret = create_missing(ctx, &t, -errno);
		if (ret)
			return ret;
		fd = openat(t.dirfd, t.name, flags);
		if (fd < 0)
			return -errno;
	}
	ret = trunc ? truncate_open(fd, flags) : 0;
	if (ret) {
		close(fd);
		return ret;
	}
	return fd;
}

static int open_mask(int flags)
{
	int acc = flags & O_ACCMODE;
	int mask = acc == O_RDONLY ? R_OK : acc == O_WRONLY ? W_OK : R_OK | W_OK;

	return flags & O_TRUNC ? mask | W_OK : mask;
}

/* The check is made on the inode actually opened, so nothing can change between the check and
 * the use; O_TRUNC waits until the check has passed. */
static int open_checked(const struct rcfs_ctx *ctx, const struct rcfs_caller *caller, int flags)
{
	struct stat st;
	int fd, ret;

	fd = open_backing(ctx, caller, flags & ~O_TRUNC);
	if (fd < 0)
		return fd;
	ret = rcfs_fstat(fd, &st);
	if (!ret)
		ret = rcfs_access_check(ctx, caller, &st, open_mask(flags));
	if (!ret && (flags & O_TRUNC))
		ret = truncate_open(fd, flags);
	if (ret) {
		close(fd);
		return ret;
	}
	return fd;
}

int rcfs_open(const struct rcfs_ctx *ctx, const struct rcfs_caller *caller, int flags)
{
	return ctx->check_access ? open_checked(ctx, caller, flags) : open_backing(ctx, caller, flags);
}

int rcfs_truncate(const struct rcfs_ctx *ctx, const struct rcfs_caller *caller, off_t size)
{
	int fd, ret;

	/* truncate(2) has no *at form; an fd opened relative to the backing directory does it.
	 * Permission is the caller's business (rcfs_setattr checks it first when asked to). */
	fd = open_backing(ctx, caller, O_WRONLY);
	if (fd < 0)
		return fd;
	ret = rcfs_ftruncate(fd, size);
	close(fd);
	return ret;
}

static void change_times(const struct rcfs_setattr *sa, struct timespec ts[2])
{
	ts[0] = sa->valid & RCFS_SET_ATIME ? sa->atime : (struct timespec){ .tv_nsec = UTIME_OMIT };
	ts[1] = sa->valid & RCFS_SET_MTIME ? sa->mtime : (struct timespec){ .tv_nsec = UTIME_OMIT };
}

static uid_t change_uid(const struct rcfs_setattr *sa)
{
	return sa->valid & RCFS_SET_UID ? sa->uid : (uid_t)-1;
}

static gid_t change_gid(const struct rcfs_setattr *sa)
{
	return sa->valid & RCFS_SET_GID ? sa->gid : (gid_t)-1;
}

#define CHANGES_OWNER (RCFS_SET_UID | RCFS_SET_GID)
#define CHANGES_TIMES (RCFS_SET_ATIME | RCFS_SET_MTIME)

static int apply_by_fd(int fd, const struct rcfs_setattr *sa, struct stat *st)
{
	struct timespec ts[2];

	change_times(sa, ts);
	if ((sa->valid & RCFS_SET_SIZE) && ftruncate(fd, sa->size) < 0)
		return -errno;
	if ((sa->valid & RCFS_SET_MODE) && fchmod(fd, sa->mode & 07777) < 0)
		return -errno;
	if ((sa->valid & CHANGES_OWNER) && fchown(fd, change_uid(sa), change_gid(sa)) < 0)
		return -errno;
	if ((sa->valid & CHANGES_TIMES) && futimens(fd, ts) < 0)
		return -errno;
	return rcfs_fstat(fd, st);
}

/* Without a handle (truncate(1), chmod(1), touch(1)) the change goes by name: an fd would need an
 * access mode the caller may not have (chmod of a 0200 file), and the kernel has already checked
 * ownership against the caller's own file under default_permissions. */
static int apply_by_name(const struct rcfs_ctx *ctx, const struct rcfs_caller *caller,
			 const struct rcfs_setattr *sa, struct stat *st)
{
	struct rcfs_target t;
	struct timespec ts[2];
	const char *name = t.name;
	int dfd, ret;

	/* The size goes first and creates the file from the template if needed; every other change
	 * needs the file to exist, which stat makes sure of the same way. */
	ret = sa->valid & RCFS_SET_SIZE ? rcfs_truncate(ctx, caller, sa->size) : rcfs_stat(ctx, caller, st);
	if (!ret)
		ret = rcfs_target_resolve(ctx, caller, &t);
	if (ret)
		return ret;
	dfd = t.dirfd;
	change_times(sa, ts);
	if ((sa->valid & RCFS_SET_MODE) && fchmodat(dfd, name, sa->mode & 07777, 0) < 0)
		return -errno;
	if ((sa->valid & CHANGES_OWNER) && fchownat(dfd, name, change_uid(sa), change_gid(sa), 0) < 0)
		return -errno;
	if ((sa->valid & CHANGES_TIMES) && utimensat(dfd, name, ts, 0) < 0)
		return -errno;
	return fstatat(dfd, name, st, 0) == 0 ? regular_only(st) : -errno;
}

int rcfs_setattr(const struct rcfs_ctx *ctx, const struct rcfs_caller *caller, int fd,
		 const struct rcfs_setattr *sa, struct stat *st)
{
	int ret;

	if (ctx->check_access) {
		ret = fd >= 0 ? rcfs_fstat(fd, st) : rcfs_stat(ctx, caller, st);
		if (!ret)
			ret = rcfs_setattr_check(ctx, caller, fd >= 0, st, sa);
		if (ret)
			return ret;
	}
	return fd >= 0 ? apply_by_fd(fd, sa, st) : apply_by_name(ctx, caller, sa, st);
}

ssize_t rcfs_pread(int fd, void *buf, size_t size, off_t off)
{
	ssize_t n;

	/* One pread: on a regular file a short count already means end of file, and a second
	 * call to learn that costs a syscall per read. */
	do
		n = pread(fd, buf, size, off);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

ssize_t rcfs_pwrite(int fd, const void *buf, size_t size, off_t off)
{
	size_t done = 0;

	while (done < size) {
		ssize_t n = pwrite(fd, (const char *)buf + done, size - done, off + (off_t)done);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return done ? (ssize_t)done : -errno;
		}
		done += (size_t)n;
	}
	return (ssize_t)done;
}

int rcfs_fstat(int fd, struct stat *st)
{
	return fstat(fd, st) == 0 ? regular_only(st) : -errno;
}

int rcfs_ftruncate(int fd, off_t size)
{
	return ftruncate(fd, size) == 0 ? 0 : -errno;
}

int rcfs_fsync(int fd, int datasync)
{
	return (datasync ? fdatasync(fd) : fsync(fd)) == 0 ? 0 : -errno;
}

int rcfs_close(int fd)
{
	return close(fd) == 0 ? 0 : -errno;
}
