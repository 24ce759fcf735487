#include "owner.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/nsfs.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

/* A user namespace's owner is its parent; that one being ours only says the child was made by
 * one of our users, any of them, so the creator must also have been root. */
static int user_ns_allowed(const struct rcfs_ctx *ctx, int nsfd, int parentfd)
{
	struct stat st;
	uid_t creator;

	if (fstat(parentfd, &st) < 0 || (uint64_t)st.st_ino != ctx->user_ns)
		return 0;
	return ioctl(nsfd, NS_GET_OWNER_UID, &creator) == 0 && creator == 0;
}

int rcfs_owner_may_create(const struct rcfs_ctx *ctx, const struct rcfs_caller *caller,
			  uint64_t key)
{
	char path[48];
	struct stat st;
	int nsfd, userfd, ret;

	if (ctx->key_source != RCFS_KEY_NS || key == ctx->own_key_ns || !ctx->real_procfs)
		return 1;
	snprintf(path, sizeof(path), "%d/ns/%s", (int)caller->pid, ctx->ns_kind);
	nsfd = openat(ctx->procfs_fd, path, O_RDONLY | O_CLOEXEC);
	if (nsfd < 0)
		return 0;
	/* The thread may have moved since its key was read: judge the namespace of the key. */
	if (fstat(nsfd, &st) < 0 || (uint64_t)st.st_ino != key) {
		close(nsfd);
		return 0;
	}
	userfd = ioctl(nsfd, NS_GET_USERNS);
	if (userfd < 0) {
		/* ENOTTY: a kernel older than 4.9 cannot tell, and the original behaviour stands.
		 * EPERM: the owner lies outside our user namespace, so it is not ours. */
		ret = errno == ENOTTY;
	} else if (!strcmp(ctx->ns_kind, "user")) {
		ret = user_ns_allowed(ctx, nsfd, userfd);
	} else {
		ret = fstat(userfd, &st) == 0 && (uint64_t)st.st_ino == ctx->user_ns;
	}
	if (userfd >= 0)
		close(userfd);
	close(nsfd);
	return ret;
}
