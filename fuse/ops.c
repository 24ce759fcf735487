#include "ops.h"
#include "log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../core/access.h"
#include "../core/fileops.h"
#include "../core/io.h"

/* Every caller sees the same inode with different content, so the kernel may cache nothing that
 * one caller's request filled: attributes expire at once, and open replies with direct I/O and
 * without keep-cache (below), so every stat, permission check and read reaches us. */
static const double ATTR_TIMEOUT = 0.0;

static struct rcfs_daemon *daemon_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* The request's pid is the calling thread's id as seen from our pid namespace (0 when it is not
 * visible there); network namespace membership is per thread, so the tid is what we resolve. */
static struct rcfs_caller caller_of(fuse_req_t req)
{
	const struct fuse_ctx *fc = fuse_req_ctx(req);

	return (struct rcfs_caller){ .pid = fc->pid, .uid = fc->uid, .gid = fc->gid };
}

static void count(fuse_req_t req, enum rcfs_op op)
{
	rcfs_stats_count(&daemon_of(req)->stats, op);
}

/* Per-request lines only at debug level; below it this costs one comparison per request. */
static void trace(fuse_req_t req, const char *op, int ret)
{
	const struct fuse_ctx *fc;

	if (daemon_of(req)->log_level < RCFS_LOG_DEBUG)
		return;
	fc = fuse_req_ctx(req);
	rcfs_log(RCFS_LOG_DEBUG, RCFS_LOG_DEBUG, "%s pid=%d uid=%u: %s", op, (int)fc->pid,
		 (unsigned)fc->uid, ret < 0 ? strerror(-ret) : "ok");
}

static void reply_err(fuse_req_t req, const char *op, int ret)
{
	trace(req, op, ret);
	fuse_reply_err(req, -ret);
}

static void rcfs_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	/* A writeback cache would merge one caller's writes into pages another caller reads. */
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	/* O_TRUNC arrives with OPEN instead of as a separate SETATTR round trip. */
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	/* RELEASE is a background request, and the kernel lets only max_background (12 by
	 * default) of those wait for us: with opens arriving faster, closed files would keep their
	 * backing fds open here by the thousand, until open fails with EMFILE for everyone. */
	conn->max_background = UINT16_MAX;
	conn->congestion_threshold = UINT16_MAX;
}

static void rcfs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct rcfs_daemon *d = daemon_of(req);
	struct rcfs_caller c = caller_of(req);
	struct stat st;
	int ret;

	(void)ino;
	count(req, RCFS_OP_GETATTR);
	/* A handle comes only where the kernel passes one (FUSE_GETATTR_FH): fstat(2) arrives
	 * without it and is answered, like stat, for the caller's current namespace. */
	ret = fi ? rcfs_fstat((int)fi->fh, &st) : rcfs_stat(&d->ctx, &c, &st);
	if (ret) {
		reply_err(req, "getattr", ret);
		return;
	}
	trace(req, "getattr", 0);
	/* st_ino is passed through: glibc's resolver compares it to notice a changed file. */
	fuse_reply_attr(req, &st, ATTR_TIMEOUT);
}

static void rcfs_setattr_op(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
			    struct fuse_file_info *fi)
{
	struct rcfs_daemon *d = daemon_of(req);
	struct rcfs_caller c = caller_of(req);
	struct rcfs_setattr sa = { .size = attr->st_size, .mode = attr->st_mode, .uid = attr->st_uid,
				   .gid = attr->st_gid, .atime = attr->st_atim, .mtime = attr->st_mtim };
	struct stat st;
	int ret;

	(void)ino;
	count(req, RCFS_OP_SETATTR);
	sa.valid = (to_set & FUSE_SET_ATTR_SIZE ? RCFS_SET_SIZE : 0) |
		   (to_set & FUSE_SET_ATTR_MODE ? RCFS_SET_MODE : 0) |
		   (to_set & FUSE_SET_ATTR_UID ? RCFS_SET_UID : 0) |
		   (to_set & FUSE_SET_ATTR_GID ? RCFS_SET_GID : 0) |
		   (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_ATIME_NOW) ? RCFS_SET_ATIME : 0) |
		   (to_set & (FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW) ? RCFS_SET_MTIME : 0);
	if (to_set & FUSE_SET_ATTR_ATIME_NOW)
		sa.atime.tv_nsec = UTIME_NOW;
	if (to_set & FUSE_SET_ATTR_MTIME_NOW)
		sa.mtime.tv_nsec = UTIME_NOW;
	ret = rcfs_setattr(&d->ctx, &c, fi ? (int)fi->fh : -1, &sa, &st);
	if (ret) {
		reply_err(req, "setattr", ret);
		return;
	}
	trace(req, "setattr", 0);
	fuse_reply_attr(req, &st, ATTR_TIMEOUT);
}

static void rcfs_open_op(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct rcfs_daemon *d = daemon_of(req);
	struct rcfs_caller c = caller_of(req);
	int fd;

	(void)ino;
	count(req, RCFS_OP_OPEN);
	fd = rcfs_open(&d->ctx, &c, fi->flags);
	if (fd < 0) {
		reply_err(req, "open", fd);
		return;
	}
	fi->fh = (uint64_t)fd;
	fi->direct_io = 1;
	fi->keep_cache = 0;
	/* Writes are synchronous under direct I/O and we keep no per-open state: close needs no
	 * FLUSH round trip. */
	fi->noflush = 1;
	trace(req, "open", 0);
	if (fuse_reply_open(req, fi) == -ENOENT)
		rcfs_close(fd); /* the opener was interrupted: no RELEASE will come */
}

/* Reads are answered from a stack buffer: backing files are small, and resolv.conf readers ask
 * for far more than the file holds (cat asks for 128 KiB). Only a file that fills the buffer
 * takes the heap, so a short reply never stands for anything but the end of the file. */
#define READ_STACK_SIZE 65536

static void rcfs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		      struct fuse_file_info *fi)
{
	char stack[READ_STACK_SIZE], *buf = stack;
	ssize_t n;

	(void)ino;
	count(req, RCFS_OP_READ);
	n = rcfs_pread((int)fi->fh, stack, size < sizeof(stack) ? size : sizeof(stack), off);
	if (n == (ssize_t)sizeof(stack) && size > sizeof(stack)) {
		buf = malloc(size);
		if (!buf) {
			reply_err(req, "read", -ENOMEM);
			return;
		}
		memcpy(buf, stack, sizeof(stack));
		n = rcfs_pread((int)fi->fh, buf + sizeof(stack), size - sizeof(stack),
			       off + (off_t)sizeof(stack));
		n = n < 0 ? n : n + (ssize_t)sizeof(stack);
	}
	if (n < 0) {
		reply_err(req, "read", (int)n);
	} else {
		trace(req, "read", 0);
		fuse_reply_buf(req, buf, (size_t)n);
	}
	if (buf != stack)
		free(buf);
}

static void rcfs_write_op(fuse_req_t req, fuse_ino_t ino, const char *data, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	ssize_t n;

	(void)ino;
	count(req, RCFS_OP_WRITE);
	/* For an O_APPEND handle the kernel's offset may come from another caller's file size;
	 * the backing fd was opened with O_APPEND, so pwrite ignores it and appends. */
	n = rcfs_write(&daemon_of(req)->ctx, (int)fi->fh, data, size, off, fi->flags & O_APPEND);
	if (n < 0) {
		reply_err(req, "write", (int)n);
		return;
	}
	trace(req, "write", 0);
	fuse_reply_write(req, (size_t)n);
}

static void rcfs_fsync_op(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	(void)ino;
	count(req, RCFS_OP_FSYNC);
	reply_err(req, "fsync", rcfs_fsync((int)fi->fh, datasync));
}

/* Sent only without default_permissions (--access-check=daemon, the default): answer access(2)
 * from the caller's own file, so `test -w` agrees with what open will do. */
static void rcfs_access_op(fuse_req_t req, fuse_ino_t ino, int mask)
{
	struct rcfs_daemon *d = daemon_of(req);
	struct rcfs_caller c = caller_of(req);

	(void)ino;
	count(req, RCFS_OP_ACCESS);
	reply_err(req, "access", rcfs_access(&d->ctx, &c, mask));
}

/* open sets noflush, so the kernel sends no FLUSH; one that still arrives (a kernel without
 * FOPEN_NOFLUSH) is counted and needs nothing done: there is no per-open state to flush. */
static void rcfs_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	count(req, RCFS_OP_FLUSH);
	reply_err(req, "flush", 0);
}

static void rcfs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	count(req, RCFS_OP_RELEASE);
	reply_err(req, "release", rcfs_close((int)fi->fh));
}

/* No lookup, readdir or create: the mount's root is the file itself, so there is nothing below
 * it to look up. */
const struct fuse_lowlevel_ops rcfs_ops = {
	.init    = rcfs_init,
	.getattr = rcfs_getattr,
	.setattr = rcfs_setattr_op,
	.open    = rcfs_open_op,
	.read    = rcfs_read,
	.write   = rcfs_write_op,
	.flush   = rcfs_flush,
	.fsync   = rcfs_fsync_op,
	.release = rcfs_release,
	.access  = rcfs_access_op,
};
