/* Permission checks made by the daemon itself, for mounts without the kernel's
 * default_permissions (--access-check=daemon): the same rules as the kernel's generic_permission
 * for a regular file, decided against the caller's own backing file. */
#ifndef RCFS_ACCESS_H
#define RCFS_ACCESS_H

#include <sys/stat.h>

#include "context.h"
#include "fileops.h"
#include "key.h"

/* Whether the caller may access a file with attributes st for mask (R_OK, W_OK, X_OK bits):
 * owner, group (primary or supplementary) or other bits, then CAP_DAC_OVERRIDE and
 * CAP_DAC_READ_SEARCH of a caller in the daemon's user namespace. Returns 0 or -EACCES. */
int rcfs_access_check(const struct rcfs_ctx *ctx, const struct rcfs_caller *caller,
		      const struct stat *st, int mask);

/* access(2) on the mount: F_OK, or the check above against the caller's backing file (which is
 * created from the template if missing, as for stat). */
int rcfs_access(const struct rcfs_ctx *ctx, const struct rcfs_caller *caller, int mask);

/* Whether the caller may apply sa to a file with attributes st, as chmod/chown/utimensat/
 * truncate would allow: owner or CAP_FOWNER for mode and explicit times, CAP_CHOWN (or the
 * owner moving to one of its groups) for ownership, write access for a size change by name
 * (with_fd: the caller's handle was opened for writing, which the kernel has checked) or for
 * setting both times to now. Returns 0, -EPERM or -EACCES. */
int rcfs_setattr_check(const struct rcfs_ctx *ctx, const struct rcfs_caller *caller, int with_fd,
		       const struct stat *st, const struct rcfs_setattr *sa);

#endif
