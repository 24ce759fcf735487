#include "fileops.h"
#include "backing.h"
#include "io.h"
#include "nsid.h"
#include "owner.h"
#include "stale.h"
#include "statat.h"
#include "target.h"
#include "tview.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

/* Flags passed through to the backing open. O_APPEND matters most: the kernel computes an append
 * offset from whatever size it last saw, which may be another caller's file; an O_APPEND backing
 * fd makes pwrite append to the caller's own file regardless of that offset. O_TRUNC is applied
 * only once the caller's permission is checked. O_NONBLOCK changes nothing for a regular file,
 * and keeps a FIFO put in its place from hanging the request thread. */
#define PASS_FLAGS (O_ACCMODE | O_APPEND | O_SYNC | O_DSYNC)

/* A missing file that may not be created is served as the template view instead. */
#define SERVE_VIEW 1

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

/* After an operation on t failed with err: a missing file that may be created from the template
 * is created (0: try again), or the caller is served the template view (SERVE_VIEW: its
 * namespace may not make the daemon use the disk); anything else is returned as it is. */
static int create_missing(const struct rcfs_ctx *ctx, const struct rcfs_target *t, int err)
{
	uint64_t nsid = 0;
	int ret;

	if (err != -ENOENT || !t->creatable)
		return err;
	ret = rcfs_owner_may_create(ctx, &t->caller, t->key);
	if (ret <= 0)
		return ret ? ret : SERVE_VIEW;
	if (ctx->nsid && t->recyclable && rcfs_nsid_of(ctx, &t->caller, &nsid))
		nsid = 0;
	return rcfs_backing_create_filtered(ctx, t->name, t->filter, nsid);
}

/* The template is never any namespace's file, whatever links lead to it; the host original may
 * be the very file the template follows (a DNS manager's), and is the host's own. */
static int served(const struct rcfs_ctx *ctx, const struct rcfs_target *t, const struct stat *st)
{
	int ret = rcfs_regular(st);

	if (!ret && !t->host && rcfs_is_template(ctx, st))
		return -EPERM;
	return ret;
}

static int stat_target(const struct rcfs_ctx *ctx, const struct rcfs_target *t, struct stat *st)
{
	int ret = rcfs_statat(ctx, t->dirfd, t->name, st);

	return ret ? ret : served(ctx, t, st);
}

/* Stat t's file, creating it when missing; SERVE_VIEW with *st the template view's attributes. */
static int stat_or_create(const struct rcfs_ctx *ctx, const struct rcfs_target *t, struct stat *st)
{
	int ret = stat_target(ctx, t, st);

	if (ret != -ENOENT)
		return ret;
	ret = create_missing(ctx, t, ret);
	if (ret == SERVE_VIEW) {
		ret = rcfs_tview_stat(ctx, st);
		return ret ? ret : SERVE_VIEW;
	}
	return ret ? ret : stat_target(ctx, t, st);
}

int rcfs_stat(const struct rcfs_ctx *ctx, const struct rcfs_caller *caller, struct stat *st)
{
	struct rcfs_target t;
	int ret = rcfs_target_resolve(ctx, caller, &t);

	if (!ret)
		ret = stat_or_create(ctx, &t, st);
	return ret == SERVE_VIEW ? 0 : ret;
}

/* Open t's file (never its name onto our own mount) and stat it into *st; missing, it is created
 * from the template first, or SERVE_VIEW is returned. */
static int open_target(const struct rcfs_ctx *ctx, const struct rcfs_target *t, int flags,
		       struct stat *st)
{
	int fd, ret;

	for (int tries = 0;; tries++) {
		fd = rcfs_openat(ctx, t->dirfd, t->name, flags | O_CLOEXEC | O_NONBLOCK);
		if (fd >= 0) {
			/* A file made for a namespace whose id was recycled is moved aside: once. */
			ret = tries ? 0 : rcfs_stale_check(ctx, t, fd);
			if (ret == 0)
				break;
			close(fd);
			if (ret < 0)
				return ret;
			fd = -ENOENT;
		}
		ret = tries ? fd : create_missing(ctx, t, fd);
		if (ret)
			return ret;
	}
	ret = rcfs_fstat(fd, st);
	if (!ret)
		ret = served(ctx, t, st);
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

/* The view is the template itself, never a file of the caller's: nothing is written to it. */
static int open_view(const struct rcfs_ctx *ctx, const struct rcfs_caller *caller, int mask)
{
	struct stat st;
	int fd, ret;

	if (mask & W_OK)
		return -EROFS;
	fd = rcfs_tview_open(ctx, &st);
	if (fd < 0)
		return fd;
	ret = rcfs_access_check(ctx, caller, &st, mask);
	if (ret) {
		close(fd);
		return ret;
	}
	return fd;
}

/* The permission is decided on the inode actually opened, so nothing can change between the
 * check and the use; O_TRUNC waits until the check has passed. */
int rcfs_open(const struct rcfs_ctx *ctx, const struct rcfs_caller *caller, int flags)
{
	struct rcfs_target t;
	struct stat st;
	int fd, ret, mask = open_mask(flags);

	ret = rcfs_target_resolve(ctx, caller, &t);
	if (ret)
		return ret;
	fd = open_target(ctx, &t, flags & PASS_FLAGS, &st);
	if (fd == SERVE_VIEW)
		return open_view(ctx, caller, mask);
	if (fd < 0)
		return fd;
	ret = rcfs_access_check(ctx, caller, &st, mask);
	if (!ret && (flags & O_TRUNC))
		ret = rcfs_resize(ctx, fd, (flags & O_ACCMODE) != O_RDONLY, 0);
	if (ret) {
		close(fd);
		return ret;
	}
	return fd;
}

int rcfs_access(const struct rcfs_ctx *ctx, const struct rcfs_caller *caller, int mask)
{
	struct rcfs_target t;
	struct stat st;
	int ret = rcfs_target_resolve(ctx, caller, &t);

	if (!ret)
		ret = stat_or_create(ctx, &t, &st);
	if (ret == SERVE_VIEW && (mask & W_OK))
		return -EROFS;
	if (ret < 0 || mask == F_OK)
		return ret < 0 ? ret : 0;
	return rcfs_access_check_real(ctx, caller, &st, mask);
}

#define CHANGES_OWNER (RCFS_SET_UID | RCFS_SET_GID)
#define CHANGES_TIMES (RCFS_SET_ATIME | RCFS_SET_MTIME)

/* Apply sa through fd, the file the check was made on. */
static int apply(const struct rcfs_ctx *ctx, int fd, int writable, const struct rcfs_setattr *sa,
		 struct stat *st)
{
	struct timespec ts[2] = {
		sa->valid & RCFS_SET_ATIME ? sa->atime : (struct timespec){ .tv_nsec = UTIME_OMIT },
		sa->valid & RCFS_SET_MTIME ? sa->mtime : (struct timespec){ .tv_nsec = UTIME_OMIT },
	};
	int ret;

	if (sa->valid & RCFS_SET_SIZE) {
		ret = rcfs_resize(ctx, fd, writable, sa->size);
		if (ret)
			return ret;
	}
	if ((sa->valid & RCFS_SET_MODE) && fchmod(fd, sa->mode & 07777) < 0)
		return -errno;
	if ((sa->valid & CHANGES_OWNER) &&
	    fchown(fd, sa->valid & RCFS_SET_UID ? sa->uid : (uid_t)-1,
		   sa->valid & RCFS_SET_GID ? sa->gid : (gid_t)-1) < 0)
		return -errno;
	if ((sa->valid & CHANGES_TIMES) && futimens(fd, ts) < 0)
		return -errno;
	return rcfs_fstat(fd, st);
}

/* Without a handle (truncate(1), chmod(1), touch(1)) the file is opened read-only for the change:
 * the decision and the change both concern that inode, never the name a second time. */
static int setattr_by_name(const struct rcfs_ctx *ctx, const struct rcfs_caller *caller,
			   const struct rcfs_setattr *sa, struct stat *st)
{
	struct rcfs_target t;
	int fd, ret;

	ret = rcfs_target_resolve(ctx, caller, &t);
	if (ret)
		return ret;
	fd = open_target(ctx, &t, O_RDONLY, st);
	if (fd == SERVE_VIEW)
		return -EROFS;
	if (fd < 0)
		return fd;
	ret = rcfs_setattr_check(ctx, caller, 0, st, sa);
	if (!ret)
		ret = apply(ctx, fd, 0, sa, st);
	close(fd);
	return ret;
}

int rcfs_setattr(const struct rcfs_ctx *ctx, const struct rcfs_caller *caller, int fd,
		 const struct rcfs_setattr *sa, struct stat *st)
{
	int ret, seals;

	if (fd < 0)
		return setattr_by_name(ctx, caller, sa, st);
	/* The template view's memfd is sealed against writes, not against fchmod or futimens: it is
	 * every foreign namespace's, and no caller changes anything of it. */
	seals = fcntl(fd, F_GET_SEALS);

	/* Only the write seal: every tmpfs file carries F_SEAL_SEAL. */
	if (seals > 0 && (seals & F_SEAL_WRITE))
		return -EROFS;
	/* With a handle (ftruncate), which the kernel has checked was opened for writing. */
	ret = rcfs_fstat(fd, st);
	if (!ret)
		ret = rcfs_setattr_check(ctx, caller, 1, st, sa);
	return ret ? ret : apply(ctx, fd, 1, sa, st);
}

int rcfs_truncate(const struct rcfs_ctx *ctx, const struct rcfs_caller *caller, off_t size)
{
	struct rcfs_setattr sa = { .valid = RCFS_SET_SIZE, .size = size };
	struct stat st;

	return rcfs_setattr(ctx, caller, -1, &sa, &st);
}
