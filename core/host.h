/* --host-original: the daemon's own namespace, when it has no backing file, is served the file
 * the mount covers, live. For a symlinked mountpoint (/etc/resolv.conf -> a DNS manager's file)
 * that is whatever the link's text names at the time of each request, so the manager's renames
 * are followed; for a regular file, the covered file itself, held open from before the mount. */
#ifndef RCFS_HOST_H
#define RCFS_HOST_H

#include "context.h"
#include "target.h"

/* Remember what the mountpoint path covers, before anything is mounted on it: mnt_fd is an
 * O_PATH|O_NOFOLLOW descriptor of the mountpoint itself (kept, duplicated), path its name, for
 * the directory a relative link text is resolved against. Only a namespace key can tell the
 * daemon's own namespace apart: -EINVAL for uid/gid keys; -ENAMETOOLONG for a link text longer
 * than a target name; -EINVAL for anything but a regular file or a symlink. Returns 0 or a
 * negative errno, with nothing kept on error. */
int rcfs_host_init(struct rcfs_ctx *ctx, int mnt_fd, const char *path);

/* Close what rcfs_host_init kept; safe to call when it was never called or failed. */
void rcfs_host_fini(struct rcfs_ctx *ctx);

/* Point t (already resolved to the id-named backing file of key) at the host original when the
 * option is on, key is the daemon's own namespace and that backing file does not exist (an
 * existing one wins, whatever it is). Returns 0 or a negative errno. */
int rcfs_host_target(const struct rcfs_ctx *ctx, uint64_t key, struct rcfs_target *t);

#endif
