/* Key resolution: which backing file a caller is served, from its namespace link in procfs. */
#ifndef RCFS_KEY_H
#define RCFS_KEY_H

#include <stdint.h>
#include <sys/types.h>

#include "context.h"

/* The caller of one request, as the frontend sees it. pid is whatever the kernel reported for the
 * request: for FUSE it is the calling thread's id, which procfs resolves like a pid. */
struct rcfs_caller {
	pid_t pid;
	uid_t uid;
	gid_t gid;
};

/* The caller's key: its uid or gid when the context is keyed by those, otherwise the id read
 * from `<procfs>/<pid>/ns/<kind>`. Returns 0, or -ESRCH when pid is 0
 * (the caller is in a pid namespace we cannot see) or the process is gone, -EINVAL when the link
 * is not a well-formed namespace link, or the readlinkat errno (e.g. -EACCES) otherwise. */
int rcfs_key_resolve(const struct rcfs_ctx *ctx, const struct rcfs_caller *caller, uint64_t *key);

#endif
