/* The request path: every operation on the mounted file that names no open handle, applied to
 * the caller's own file (target.h), with the permission decided by the daemon on the very file
 * it opened (access.h). A namespace that may not make the daemon use the disk (owner.h) and has
 * no file is served the template view (tview.h), read-only: writes to it give -EROFS. */
#ifndef RCFS_FILEOPS_H
#define RCFS_FILEOPS_H

#include <sys/stat.h>
#include <sys/types.h>

#include "context.h"
#include "access.h"
#include "key.h"

/* Resolve the caller and write the name of the file it is served (relative to the backing or
 * the /etc/netns directory) into buf (RCFS_NAME_SIZE bytes). */
int rcfs_caller_name(const struct rcfs_ctx *ctx, const struct rcfs_caller *caller, char *buf);

/* Stat the caller's backing file (following symlinks), creating it from the template if missing
 * (or the template view's attributes). A file that is not regular gives -EISDIR (a directory) or
 * -ENXIO (anything else); the template itself -EPERM; a name onto our own mount -ELOOP. */
int rcfs_stat(const struct rcfs_ctx *ctx, const struct rcfs_caller *caller, struct stat *st);

/* Open the caller's backing file with the caller's open flags (access mode, O_APPEND, O_TRUNC,
 * O_SYNC/O_DSYNC; O_CREAT and O_EXCL are ignored: only the template creates files). The caller's
 * permission for those flags is checked on the opened file (-EACCES) before O_TRUNC empties it.
 * Returns the fd, or a negative errno. */
int rcfs_open(const struct rcfs_ctx *ctx, const struct rcfs_caller *caller, int flags);

/* access(2) on the mount: F_OK, or rcfs_access_check_real against the caller's file (created
 * from the template if missing, as for stat); -EROFS for W_OK on the template view. */
int rcfs_access(const struct rcfs_ctx *ctx, const struct rcfs_caller *caller, int mask);

/* rcfs_setattr of the size alone, by name: truncate(2) of the caller's file. */
int rcfs_truncate(const struct rcfs_ctx *ctx, const struct rcfs_caller *caller, off_t size);

/* Apply the fields of sa selected by sa->valid to the caller's backing file: through fd when
 * fd >= 0 (the file the caller has open), otherwise through a descriptor of the file its name
 * leads to. The caller's right to the change is checked on that file first (-EPERM, -EACCES; a
 * size beyond the limit -EFBIG); then *st gets the file's attributes. */
int rcfs_setattr(const struct rcfs_ctx *ctx, const struct rcfs_caller *caller, int fd,
		 const struct rcfs_setattr *sa, struct stat *st);

#endif
