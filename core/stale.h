/* Recycled namespace ids: an id-named file made for an earlier namespace whose id the kernel has
 * reused is moved aside, never served to the new namespace and never destroyed. */
#ifndef RCFS_STALE_H
#define RCFS_STALE_H

#include "context.h"
#include "target.h"

/* Whether the id-named file open at fd was made for another namespace than t's caller is in:
 * its recorded unique id (nsid.h) differs from the caller's. If so, move it aside as
 * `<name>.stale-<recorded id>` (or `...-<current id>` when that is taken), if it still is the
 * inode fd has open. Returns 0 when the file is the caller's (or carries no record, or no check
 * applies), 1 when it was moved aside (t is free for a fresh copy), or -errno: the file is then
 * neither served nor destroyed. */
int rcfs_stale_check(const struct rcfs_ctx *ctx, const struct rcfs_target *t, int fd);

#endif
