/* Namespace ids that are never reused: NS_GET_ID (Linux 6.18) on an open namespace file gives a
 * 64-bit id unique for the life of the system, unlike the inode number in `net:[N]`, which the
 * kernel recycles once a namespace is gone. */
#ifndef RCFS_NSID_H
#define RCFS_NSID_H

#include <stdint.h>

#include "context.h"
#include "key.h"

/* The extended attribute holding the unique id of the namespace a file was created for. */
#define RCFS_NSID_XATTR "user.resolvconffs.nsid"

/* Whether this kernel answers NS_GET_ID (asked once, at startup). */
int rcfs_nsid_supported(void);

/* The unique id of the caller's namespace of ctx's kind. Returns 0 or a negative errno (e.g.
 * -ENOTTY without NS_GET_ID, -ENOENT in a fake procfs whose links point nowhere). */
int rcfs_nsid_of(const struct rcfs_ctx *ctx, const struct rcfs_caller *caller, uint64_t *id);

/* The unique id of the namespace open as fd. Returns 0 or a negative errno (-ENOTTY without
 * NS_GET_ID). */
int rcfs_nsid_of_fd(int fd, uint64_t *id);

/* Record id on the open file fd (best effort: file systems without user xattrs keep none). */
void rcfs_nsid_record(int fd, uint64_t id);

/* The id recorded on fd. Returns 0, or -ENODATA when the file carries none (made by hand). */
int rcfs_nsid_recorded(int fd, uint64_t *id);

#endif
