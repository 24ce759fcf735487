#include "backing.h"
#include "filter.h"
#include "nsid.h"
#include "statat.h"

#include <errno.h>
#include <stdint.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

int rcfs_backing_name(const struct rcfs_ctx *ctx, uint64_t key, char *buf, size_t size)
{
	int n;

	if (ctx->ext[0])
		n = snprintf(buf, size, "%" PRIu64 ".%s", key, ctx->ext);
	else
		n = snprintf(buf, size, "%" PRIu64, key);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static int copy_fd(int in, int out, off_t max)
{
	char buf[16384];
	off_t total = 0;

	for (;;) {
		ssize_t n = read(in, buf, sizeof(buf));
		int ret;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return 0;
		/* The template may grow while it is copied: the copy never passes the limit. */
		total += n;
		if (total > max)
			return -EFBIG;
		ret = write_all(out, buf, (size_t)n);
		if (ret)
			return ret;
	}
}

int rcfs_read_all(int in, size_t max, char **buf, size_t *len)
{
	size_t cap = 4096;
	char *b = malloc(cap), *grown;
	ssize_t n;

	*len = 0;
	for (;;) {
		if (!b)
			return -ENOMEM;
		n = read(in, b + *len, cap - *len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		*len += (size_t)n;
		if (*len > max) {
			free(b);
			return -EFBIG;
		}
		if (*len == cap) {
			cap *= 2;
			grown = realloc(b, cap);
			if (!grown)
				free(b);
			b = grown;
		}
	}
	if (n < 0) {
		free(b);
		return -errno;
	}
	*buf = b;
	return 0;
}

static int copy_filtered(const struct rcfs_ctx *ctx, int in, int out)
{
	char *text = NULL, *filtered;
	size_t len, cap;
	long n;
	int ret;

	ret = rcfs_read_all(in, SIZE_MAX, &text, &len);
	if (ret)
		return ret;
	cap = rcfs_filter_bound(len, (const char *const *)ctx->fallbacks, ctx->n_fallbacks);
	filtered = malloc(cap);
	n = filtered ? rcfs_filter_loopback(text, len, filtered, cap,
					    (const char *const *)ctx->fallbacks, ctx->n_fallbacks) : -ENOMEM;
	if (n > (long)ctx->max_size)
		n = -EFBIG;
	ret = n < 0 ? (int)n : write_all(out, filtered, (size_t)n);
	free(filtered);
	free(text);
	return ret;
}

int rcfs_backing_fill(const struct rcfs_ctx *ctx, int fd, int filter, struct stat *st)
{
	int in, ret;

	/* The template may have been replaced since startup: never onto our own mount, never block
	 * on a FIFO, never copy anything but a regular file of at most the size limit. */
	ret = rcfs_statat(ctx, AT_FDCWD, ctx->template_path, st);
	if (ret)
		return ret;
	in = open(ctx->template_path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (in < 0)
		return -errno;
	if (fstat(in, st) < 0)
		ret = -errno;
	else if (!S_ISREG(st->st_mode))
		ret = S_ISDIR(st->st_mode) ? -EISDIR : -EINVAL;
	else if (st->st_size > ctx->max_size)
		ret = -EFBIG;
	else
		ret = filter ? copy_filtered(ctx, in, fd) : copy_fd(in, fd, ctx->max_size);
	close(in);
	/* Set explicitly, so the daemon's umask does not matter. */
	if (!ret && fchmod(fd, st->st_mode & 0777) < 0)
		ret = -errno;
	return ret;
}

/* Linking an O_TMPFILE by fd needs CAP_DAC_READ_SEARCH on older kernels; an unprivileged daemon
 * links it through its /proc/self/fd entry instead. */
int rcfs_link_unnamed(int fd, int dirfd, const char *name)
{
	char path[40];

	if (linkat(fd, "", dirfd, name, AT_EMPTY_PATH) == 0)
		return 0;
	if (errno != ENOENT && errno != EPERM)
		return -errno;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	return linkat(AT_FDCWD, path, dirfd, name, AT_SYMLINK_FOLLOW) == 0 ? 0 : -errno;
}

static int create_anonymous(const struct rcfs_ctx *ctx, const char *name, int filter, uint64_t nsid)
{
	struct stat st;
	int fd, ret;

	fd = openat(ctx->backing_fd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	ret = rcfs_backing_fill(ctx, fd, filter, &st);
	if (!ret && nsid)
		rcfs_nsid_record(fd, nsid);
	if (!ret)
		ret = rcfs_link_unnamed(fd, ctx->backing_fd, name);
	close(fd);
	return ret;
}

/* For file systems without O_TMPFILE: a hidden temporary name, linked into place and removed. */
static int create_named(const struct rcfs_ctx *ctx, const char *name, int filter, uint64_t nsid)
{
	char tmp[RCFS_NAME_SIZE + 40];
	unsigned long rnd = 0;
	struct stat st;
	int fd, ret;

	if (getrandom(&rnd, sizeof(rnd), 0) < 0)
		rnd = (unsigned long)getpid();
	snprintf(tmp, sizeof(tmp), ".%s.tmp%lx", name, rnd);
	fd = openat(ctx->backing_fd, tmp, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	ret = rcfs_backing_fill(ctx, fd, filter, &st);
	if (!ret && nsid)
		rcfs_nsid_record(fd, nsid);
	close(fd);
	if (!ret && linkat(ctx->backing_fd, tmp, ctx->backing_fd, name, 0) < 0)
		ret = -errno;
	unlinkat(ctx->backing_fd, tmp, 0);
	return ret;
}

int rcfs_backing_create(const struct rcfs_ctx *ctx, const char *name)
{
	return rcfs_backing_create_filtered(ctx, name, 0, 0);
}

int rcfs_backing_create_filtered(const struct rcfs_ctx *ctx, const char *name, int filter,
				 uint64_t nsid)
{
	int ret;

	if (!ctx->template_path)
		return -ENOENT;
	ret = create_anonymous(ctx, name, filter, nsid);
	if (ret == -EOPNOTSUPP || ret == -EISDIR)
		ret = create_named(ctx, name, filter, nsid);
	/* linkat never replaces: EEXIST means a concurrent caller created the file first. */
	return ret == -EEXIST ? 0 : ret;
}
