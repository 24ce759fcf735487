#include "key.h"
#include "nslink.h"

#include <errno.h>
#include <stdio.h>
#include <unistd.h>

int rcfs_key_resolve(const struct rcfs_ctx *ctx, const struct rcfs_caller *caller, uint64_t *key)
{
	char path[48], link[RCFS_NSLINK_MAX];
	ssize_t len;

	if (ctx->key_source == RCFS_KEY_UID) {
		*key = caller->uid;
		return 0;
	}
	if (ctx->key_source == RCFS_KEY_GID) {
		*key = caller->gid;
		return 0;
	}
	/* pid 0 means the kernel could not translate the caller into our pid namespace; falling
	 * back to any other process's namespace would serve someone else's file. */
	if (caller->pid <= 0)
		return -ESRCH;
	snprintf(path, sizeof(path), "%d/ns/%s", (int)caller->pid, ctx->ns_kind);
	len = readlinkat(ctx->procfs_fd, path, link, sizeof(link));
	if (len < 0)
		/* ENOENT here means the process exited; keep it apart from a missing backing file. */
		return errno == ENOENT ? -ESRCH : -errno;
	if ((size_t)len >= sizeof(link))
		return -EINVAL;
	return rcfs_nslink_parse(link, (size_t)len, ctx->ns_kind, key);
}
