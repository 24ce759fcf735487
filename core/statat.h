/* Stat and open a backing file by name without ever calling into our own mount. */
#ifndef RCFS_STATAT_H
#define RCFS_STATAT_H

#include <sys/stat.h>

#include "context.h"

/* Stat dirfd/name (following symlinks) from what the kernel has cached, never asking a FUSE
 * daemon: a name that leads onto our own mount (a symlink to the mountpoint, a namespace named
 * like the mounted file in its directory) fails with -ELOOP instead of sending the daemon a
 * request it would answer by calling itself again, until every thread waits on another.
 * Returns 0 or a negative errno. */
int rcfs_statat(const struct rcfs_ctx *ctx, int dirfd, const char *name, struct stat *st);

/* The same without following a final symlink. */
int rcfs_lstatat(const struct rcfs_ctx *ctx, int dirfd, const char *name, struct stat *st);

/* Whether st is the template's inode: the one recorded at startup, while the template path still
 * leads to it. A manager that replaces the template by rename frees that inode number, which
 * the file system may give to the next namespace's copy. Returns 1 or 0. */
int rcfs_is_template(const struct rcfs_ctx *ctx, const struct stat *st);

/* openat(dirfd, name, flags), never onto our own mount: -ELOOP there, as rcfs_statat. A name
 * that stays on its directory's mount (every plain backing file) costs the one openat2 call;
 * one that crosses a mount (a symlink to /run/..., or onto the mountpoint) is looked at first.
 * Returns the fd or a negative errno. */
int rcfs_openat(const struct rcfs_ctx *ctx, int dirfd, const char *name, int flags);

#endif
