/* I/O forwarding: every operation on the mounted file, applied to the caller's backing file. */
#ifndef RCFS_FILEOPS_H
#define RCFS_FILEOPS_H

#include <sys/stat.h>
#include <sys/types.h>

#include "context.h"
#include "key.h"

/* Resolve the caller and write the name of the file it is served (relative to the backing or
 * the /etc/netns directory) into buf (RCFS_NAME_SIZE bytes). */
int rcfs_caller_name(const struct rcfs_ctx *ctx, const struct rcfs_caller *caller, char *buf);

/* Stat the caller's backing file (following symlinks), creating it from the template if missing.
 * A file that is not regular gives -EISDIR (a directory) or -ENXIO (anything else). */
int rcfs_stat(const struct rcfs_ctx *ctx, const struct rcfs_caller *caller, struct stat *st);

/* Open the caller's backing file with the caller's open flags (access mode, O_APPEND, O_TRUNC,
 * O_SYNC/O_DSYNC; O_CREAT and O_EXCL are ignored: only the template creates files). With
 * check_access, the caller's permission for those flags is checked on the opened file first
 * (-EACCES). Returns the fd, or a negative errno. */
int rcfs_open(const struct rcfs_ctx *ctx, const struct rcfs_caller *caller, int flags);

/* Truncate the caller's backing file by name to size (no permission check: see rcfs_setattr). */
int rcfs_truncate(const struct rcfs_ctx *ctx, const struct rcfs_caller *caller, off_t size);

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

/* Apply the fields of sa selected by sa->valid to the caller's backing file: through fd when
 * fd >= 0 (the file the caller has open), otherwise by name. Then stat the file into *st. With
 * check_access, first check the caller may make the change (-EPERM or -EACCES). */
int rcfs_setattr(const struct rcfs_ctx *ctx, const struct rcfs_caller *caller, int fd,
		 const struct rcfs_setattr *sa, struct stat *st);

/* Read up to size bytes at off with one pread (retried on EINTR); returns the count (on a
 * regular file short only at end of file) or -errno. */
ssize_t rcfs_pread(int fd, void *buf, size_t size, off_t off);

/* Write size bytes at off (at the end of the file when fd was opened with O_APPEND, whatever
 * off says); returns the count or -errno. */
ssize_t rcfs_pwrite(int fd, const void *buf, size_t size, off_t off);

/* Stat an open backing file; as rcfs_stat, a file that is not regular is an error. */
int rcfs_fstat(int fd, struct stat *st);

/* Truncate an open backing file to size. */
int rcfs_ftruncate(int fd, off_t size);

/* Flush an open backing file to stable storage: data only when datasync is non-zero. */
int rcfs_fsync(int fd, int datasync);

/* Close an open backing file. */
int rcfs_close(int fd);

#endif
