/* I/O on an open backing file (or template view): what a request does with the descriptor
 * rcfs_open returned. */
#ifndef RCFS_IO_H
#define RCFS_IO_H

#include <sys/stat.h>
#include <sys/types.h>

#include "context.h"

/* Only a regular file is served: 0, or -EISDIR (a directory) or -ENXIO (anything else). */
int rcfs_regular(const struct stat *st);

/* Read up to size bytes at off with one pread (retried on EINTR); returns the count (on a
 * regular file short only at end of file) or -errno. */
ssize_t rcfs_pread(int fd, void *buf, size_t size, off_t off);

/* Write size bytes at off, or at the end of the file when append is set (fd was opened with
 * O_APPEND, so pwrite appends whatever off says). A write that would take the file beyond
 * ctx->max_size fails with -EFBIG and writes nothing. Returns the count or -errno. */
ssize_t rcfs_write(const struct rcfs_ctx *ctx, int fd, const void *buf, size_t size, off_t off,
		   int append);

/* Stat an open backing file; a file that is not regular is an error (rcfs_regular). */
int rcfs_fstat(int fd, struct stat *st);

/* Set the size of the file open at fd, which may be open read-only (then through a writable
 * reopening of the same inode): -EFBIG beyond ctx->max_size. */
int rcfs_resize(const struct rcfs_ctx *ctx, int fd, int writable, off_t size);

/* Flush an open backing file to stable storage: data only when datasync is non-zero. */
int rcfs_fsync(int fd, int datasync);

/* Close an open backing file. */
int rcfs_close(int fd);

#endif
