#include "io.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

int rcfs_regular(const struct stat *st)
{
	/* The mount's root is one inode of type "regular file": if getattr ever reported another
	 * type for one caller, the kernel would mark the inode bad and fail every caller with EIO. */
	if (S_ISREG(st->st_mode))
		return 0;
	return S_ISDIR(st->st_mode) ? -EISDIR : -ENXIO;
}

ssize_t rcfs_pread(int fd, void *buf, size_t size, off_t off)
{
	ssize_t n;

	/* One pread: on a regular file a short count already means end of file, and a second
	 * call to learn that costs a syscall per read. */
	do
		n = pread(fd, buf, size, off);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

static ssize_t pwrite_all(int fd, const void *buf, size_t size, off_t off)
{
	size_t done = 0;

	while (done < size) {
		ssize_t n = pwrite(fd, (const char *)buf + done, size - done, off + (off_t)done);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return done ? (ssize_t)done : -errno;
		}
		done += (size_t)n;
	}
	return (ssize_t)done;
}

/* Under size_lock: where the write would end. An append ends past the current end of file. */
static int within_limit(const struct rcfs_ctx *ctx, int fd, size_t size, off_t off, int append)
{
	struct stat st;

	if (append) {
		if (fstat(fd, &st) < 0)
			return -errno;
		off = st.st_size;
	}
	return off < 0 || size > (size_t)ctx->max_size || off > ctx->max_size - (off_t)size ?
	       -EFBIG : 0;
}

ssize_t rcfs_write(const struct rcfs_ctx *ctx, int fd, const void *buf, size_t size, off_t off,
		   int append)
{
	ssize_t ret;

	/* Checked and written under one lock, so two appends (or an append and a truncate) cannot
	 * both pass the check and together pass the limit. */
	pthread_mutex_lock(ctx->size_lock);
	ret = within_limit(ctx, fd, size, off, append);
	if (!ret)
		ret = pwrite_all(fd, buf, size, off);
	pthread_mutex_unlock(ctx->size_lock);
	return ret;
}

int rcfs_fstat(int fd, struct stat *st)
{
	return fstat(fd, st) == 0 ? rcfs_regular(st) : -errno;
}

int rcfs_resize(const struct rcfs_ctx *ctx, int fd, int writable, off_t size)
{
	char path[40];
	int wfd = fd, ret;

	if (size < 0)
		return -EINVAL;
	if (size > ctx->max_size)
		return -EFBIG;
	if (!writable) {
		/* The same inode, never the name again: it may have been replaced meanwhile. */
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		wfd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
		if (wfd < 0)
			return -errno;
	}
	pthread_mutex_lock(ctx->size_lock);
	ret = ftruncate(wfd, size) == 0 ? 0 : -errno;
	pthread_mutex_unlock(ctx->size_lock);
	if (wfd != fd)
		close(wfd);
	return ret;
}

int rcfs_fsync(int fd, int datasync)
{
	return (datasync ? fdatasync(fd) : fsync(fd)) == 0 ? 0 : -errno;
}

int rcfs_close(int fd)
{
	return close(fd) == 0 ? 0 : -errno;
}
