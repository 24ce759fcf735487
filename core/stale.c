#include "stale.h"
#include "backing.h"
#include "nsid.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static int move_aside(const struct rcfs_ctx *ctx, const struct rcfs_target *t, int fd,
		      uint64_t recorded, uint64_t current)
{
	char aside[RCFS_TARGET_SIZE + 48];
	struct stat open_st, named_st;
	int ret = 1;

	/* A concurrent request of the same namespace may have moved it already. */
	pthread_mutex_lock(ctx->stale_lock);
	if (fstat(fd, &open_st) == 0 && fstatat(t->dirfd, t->name, &named_st, 0) == 0 &&
	    open_st.st_ino == named_st.st_ino && open_st.st_dev == named_st.st_dev) {
		snprintf(aside, sizeof(aside), "%s" RCFS_STALE_INFIX "%" PRIu64, t->name, recorded);
		ret = renameat2(t->dirfd, t->name, t->dirfd, aside, RENAME_NOREPLACE) ? -errno : 1;
		if (ret == -EEXIST) {
			snprintf(aside, sizeof(aside), "%s" RCFS_STALE_INFIX "%" PRIu64 "-%" PRIu64,
				 t->name, recorded, current);
			ret = renameat2(t->dirfd, t->name, t->dirfd, aside, RENAME_NOREPLACE) ? -errno : 1;
		}
		if (ctx->warn && ret == 1)
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

int rcfs_stale_check(const struct rcfs_ctx *ctx, const struct rcfs_target *t, int fd)
{
	uint64_t recorded, current;

	/* Files without a record (made by hand), and callers whose unique id cannot be read, are
	 * served as they are. */
	if (!ctx->nsid || !t->recyclable || rcfs_nsid_recorded(fd, &recorded) != 0 ||
	    rcfs_nsid_of(ctx, &t->caller, &current) != 0 || recorded == current)
		return 0;
	return move_aside(ctx, t, fd, recorded, current);
}
