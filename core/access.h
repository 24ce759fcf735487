/* Permission decisions, made by the daemon in every mode: the kernel's own rules for a regular
 * file (generic_permission, setattr_prepare), decided against the attributes of the caller's own
 * backing file. The kernel cannot decide them: under default_permissions it checks the one
 * inode all namespaces share, whose attributes are whichever caller's GETATTR came last. This is
 * the decision layer only; the file operations (fileops.h) call it on the file they opened. */
#ifndef RCFS_ACCESS_H
#define RCFS_ACCESS_H

#include <sys/stat.h>

#include "context.h"
#include "key.h"

/* Which fields of struct rcfs_setattr to apply. */
enum {
	RCFS_SET_SIZE  = 1 << 0,
	RCFS_SET_MODE  = 1 << 1,
	RCFS_SET_UID   = 1 << 2,
	RCFS_SET_GID   = 1 << 3,
	RCFS_SET_ATIME = 1 << 4, /* tv_nsec may be UTIME_NOW */
	RCFS_SET_MTIME = 1 << 5, /* tv_nsec may be UTIME_NOW */
};

/* An attribute change, as setattr/truncate/chmod/chown/utimensat on the mount ask for it. */
struct rcfs_setattr {
	unsigned valid;
	off_t size;
	mode_t mode;
	uid_t uid;
	gid_t gid;
	struct timespec atime, mtime;
};

/* Whether the caller may access a file with attributes st for mask (R_OK, W_OK, X_OK bits):
 * owner, group (primary or supplementary) or other bits, then CAP_DAC_OVERRIDE and
 * CAP_DAC_READ_SEARCH of a caller in the daemon's user namespace. Returns 0 or -EACCES. */
int rcfs_access_check(const struct rcfs_ctx *ctx, const struct rcfs_caller *caller,
		      const struct stat *st, int mask);

/* The same for access(2), whose request carries the caller's real uid and gid: capabilities
 * count as the kernel grants them there (none unless the real uid is root, then the permitted
 * set; the effective set for faccessat(AT_EACCESS), whose request carries the effective ids). */
int rcfs_access_check_real(const struct rcfs_ctx *ctx, const struct rcfs_caller *caller,
			   const struct stat *st, int mask);

/* Whether the caller may apply sa to a file with attributes st, as chmod/chown/utimensat/
 * truncate would allow: owner or CAP_FOWNER for mode and explicit times, CAP_CHOWN (or the
 * owner moving to one of its groups) for ownership, write access for a size change by name
 * (with_fd: the caller's handle was opened for writing, which the kernel has checked) or for
 * setting both times to now. Returns 0, -EPERM or -EACCES. */
int rcfs_setattr_check(const struct rcfs_ctx *ctx, const struct rcfs_caller *caller, int with_fd,
		       const struct stat *st, const struct rcfs_setattr *sa);

#endif
