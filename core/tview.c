#include "tview.h"
#include "backing.h"
#include "statat.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

struct rcfs_tview {
	pthread_mutex_t lock;
	int fd;           /* sealed memfd, or -1 before the first use */
	struct stat src;  /* the template as it was when fd was filled */
	struct stat st;   /* what is reported for fd */
};

int rcfs_tview_init(struct rcfs_ctx *ctx)
{
	struct rcfs_tview *tv = calloc(1, sizeof(*tv));
	int err;

	if (!tv)
		return -ENOMEM;
	err = pthread_mutex_init(&tv->lock, NULL);
	if (err) {
		free(tv);
		return -err;
	}
	tv->fd = -1;
	ctx->tview = tv;
	return 0;
}

void rcfs_tview_fini(struct rcfs_ctx *ctx)
{
	struct rcfs_tview *tv = ctx->tview;

	if (!tv)
		return;
	if (tv->fd >= 0)
		close(tv->fd);
	pthread_mutex_destroy(&tv->lock);
	free(tv);
	ctx->tview = NULL;
}

static int same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec &&
	       a->st_mode == b->st_mode && a->st_uid == b->st_uid && a->st_gid == b->st_gid;
}

/* A fresh memfd with the copy, dressed as the template (mode, owner, times) and sealed: nothing
 * written through any descriptor of it can ever change it. */
static int build(const struct rcfs_ctx *ctx, struct rcfs_tview *tv)
{
	int fd, ret;
	struct stat src;

	fd = memfd_create("resolvconffs-template", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	ret = rcfs_backing_fill(ctx, fd, ctx->filter_loopback, &src);
	if (!ret) {
		/* Best effort: a daemon in a user namespace may not give away a file (the reported
		 * owner is the template's either way, below). */
		if (fchown(fd, src.st_uid, src.st_gid) < 0 && errno != EPERM && errno != EINVAL)
			ret = -errno;
		else if (futimens(fd, (struct timespec[2]){ src.st_atim, src.st_mtim }) < 0 ||
		    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0 ||
		    fstat(fd, &tv->st) < 0)
			ret = -errno;
	}
	if (ret) {
		close(fd);
		return ret;
	}
	/* Reported as the template's even where the chown could not be made. */
	tv->st.st_uid = src.st_uid;
	tv->st.st_gid = src.st_gid;
	if (tv->fd >= 0)
		close(tv->fd);
	tv->fd = fd;
	tv->src = src;
	return 0;
}

/* Under tv->lock: make sure the view matches the template as it is now. */
static int refresh(const struct rcfs_ctx *ctx, struct rcfs_tview *tv)
{
	struct stat now;
	int ret = rcfs_statat(ctx, AT_FDCWD, ctx->template_path, &now);

	if (ret)
		return ret;
	if (tv->fd >= 0 && same_file(&now, &tv->src))
		return 0;
	return build(ctx, tv);
}

/* The view's attributes into *st, and with dup set a new descriptor of it (returned). */
static int current(const struct rcfs_ctx *ctx, struct stat *st, int dup)
{
	struct rcfs_tview *tv = ctx->tview;
	int ret;

	if (!ctx->template_path)
		return -ENOENT;
	pthread_mutex_lock(&tv->lock);
	ret = refresh(ctx, tv);
	if (!ret) {
		*st = tv->st;
		/* Reads use pread, so the descriptors may share one file offset. */
		if (dup) {
			ret = fcntl(tv->fd, F_DUPFD_CLOEXEC, 0);
			if (ret < 0)
				ret = -errno;
		}
	}
	pthread_mutex_unlock(&tv->lock);
	return ret;
}

int rcfs_tview_stat(const struct rcfs_ctx *ctx, struct stat *st)
{
	return current(ctx, st, 0);
}

int rcfs_tview_open(const struct rcfs_ctx *ctx, struct stat *st)
{
	return current(ctx, st, 1);
}
