/* Backing files: naming them and creating a missing one atomically from the template. */
#ifndef RCFS_BACKING_H
#define RCFS_BACKING_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "context.h"

/* A file moved aside because its namespace id was recycled: `<file>.stale-<old unique id>`, or
 * `<file>.stale-<old unique id>-<new unique id>` when the first name is taken. */
#define RCFS_STALE_INFIX ".stale-"

/* Enough for any name rcfs_backing_name produces: NAME_MAX plus the terminating NUL. */
#define RCFS_NAME_SIZE (NAME_MAX + 1)

/* Write `<key>.<extension>` (or `<key>` with an empty extension) into buf. Returns 0, or
 * -ENAMETOOLONG when size is too small. */
int rcfs_backing_name(const struct rcfs_ctx *ctx, uint64_t key, char *buf, size_t size);

/* Create the backing file name from the template unless it already exists. The copy is written
 * to an unnamed (or temporary) file in the backing directory and linked into place without
 * replacing, so concurrent callers see no file or the whole file and exactly one copy survives;
 * it gets the template's permission bits. Returns 0 when the file exists afterwards (made here
 * or by a concurrent caller), -ENOENT without a template, or the errno of the step that failed,
 * leaving nothing behind. */
int rcfs_backing_create(const struct rcfs_ctx *ctx, const char *name);

/* As rcfs_backing_create; with filter set, the copy goes through rcfs_filter_loopback (the file
 * is for a network namespace other than the daemon's own, under --filter-loopback); a non-zero
 * nsid is recorded on the file (see nsid.h) before it appears. */
int rcfs_backing_create_filtered(const struct rcfs_ctx *ctx, const char *name, int filter,
				 uint64_t nsid);

/* Give the unnamed (O_TMPFILE) file fd the name dirfd/name, never replacing one (-EEXIST):
 * through its /proc/self/fd entry where linking by descriptor needs CAP_DAC_READ_SEARCH (older
 * kernels). Returns 0 or a negative errno. */
int rcfs_link_unnamed(int fd, int dirfd, const char *name);

/* Read all of fd into a new buffer (*buf, *len; the caller frees it): when creating a filtered
 * copy, or what resolvconffs-ctl set is given, never per request. Returns 0, -EFBIG past max
 * bytes, or a negative errno. */
int rcfs_read_all(int fd, size_t max, char **buf, size_t *len);

/* Fill fd (an empty file open for writing) with exactly what a copy of the template holds, through
 * rcfs_filter_loopback when filter is set, and give it the template's permission bits; *st gets
 * the template's attributes. -ELOOP for a template that leads onto our own mount, -EFBIG for one
 * beyond the size limit, or the errno of the step that failed. */
int rcfs_backing_fill(const struct rcfs_ctx *ctx, int fd, int filter, struct stat *st);

#endif
