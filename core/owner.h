/* Who may make the daemon use the disk: a file is created from the template only for a namespace
 * that the daemon's own user namespace owns, not for one that any user can make by the thousand
 * in a user namespace of their own (`unshare -Urn` needs no privilege). */
#ifndef RCFS_OWNER_H
#define RCFS_OWNER_H

#include <stdint.h>

#include "context.h"
#include "key.h"

/* Whether a copy of the template may be created for the caller, whose key is key: 1 for a key
 * that is no namespace (uid, gid), the daemon's own namespace, a namespace owned by the daemon's
 * user namespace (for -k user: a child user namespace created by uid 0 there), and any entry of
 * a fake procfs tree (the administrator's own mapping); 0 for every other namespace, also when
 * the owner cannot be learnt (the process is gone), and on kernels without NS_GET_USERNS 1. */
int rcfs_owner_may_create(const struct rcfs_ctx *ctx, const struct rcfs_caller *caller,
			  uint64_t key);

#endif
