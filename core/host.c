#include "host.h"
#include "statat.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The directory a relative link text is resolved against, as the kernel resolves it: the one
 * holding the link. */
static int open_parent(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	int fd;

	if (!slash)
		return open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if ((size_t)(slash - path) >= sizeof(dir))
		return -ENAMETOOLONG;
	snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 : (int)(slash - path), path);
	fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

static int init_link(struct rcfs_ctx *ctx, int fd, const char *path)
{
	ssize_t n = readlinkat(fd, "", ctx->host_name, sizeof(ctx->host_name));

	if (n < 0)
		return -errno;
	if ((size_t)n >= sizeof(ctx->host_name))
		return -ENAMETOOLONG;
	ctx->host_name[n] = '\0';
	ctx->host_dirfd = open_parent(path);
	return ctx->host_dirfd < 0 ? ctx->host_dirfd : 0;
}

/* The covered file is reached through its descriptor's /proc magic link, which leads to the
 * inode itself, never through the (covered) name. */
static int init_file(struct rcfs_ctx *ctx, int fd)
{
	int n = snprintf(ctx->host_name, sizeof(ctx->host_name), "/proc/self/fd/%d", fd);

	if (n < 0 || (size_t)n >= sizeof(ctx->host_name))
		return -ENAMETOOLONG;
	ctx->host_dirfd = AT_FDCWD;
	return 0;
}

int rcfs_host_init(struct rcfs_ctx *ctx, int mnt_fd, const char *path)
{
	struct stat st;
	int fd, ret;

	if (ctx->key_source != RCFS_KEY_NS || !ctx->own_key_ns || ctx->host_original)
		return -EINVAL;
	if (fstatat(mnt_fd, "", &st, AT_EMPTY_PATH) < 0)
		return -errno;
	if (!S_ISLNK(st.st_mode) && !S_ISREG(st.st_mode))
		return -EINVAL;
	fd = fcntl(mnt_fd, F_DUPFD_CLOEXEC, 3);
	if (fd < 0)
		return -errno;
	ret = S_ISLNK(st.st_mode) ? init_link(ctx, fd, path) : init_file(ctx, fd);
	if (ret) {
		close(fd);
		ctx->host_dirfd = -1;
		return ret;
	}
	ctx->host_fd = fd;
	ctx->host_original = 1;
	return 0;
}

void rcfs_host_fini(struct rcfs_ctx *ctx)
{
	if (!ctx->host_original)
		return;
	if (ctx->host_dirfd >= 0)
		close(ctx->host_dirfd);
	close(ctx->host_fd);
	ctx->host_dirfd = -1;
	ctx->host_fd = -1;
	ctx->host_original = 0;
}

int rcfs_host_target(const struct rcfs_ctx *ctx, uint64_t key, struct rcfs_target *t)
{
	struct stat st;
	int ret;

	if (!ctx->host_original || key != ctx->own_key_ns)
		return 0;
	ret = rcfs_lstatat(ctx, ctx->backing_fd, t->name, &st);
	if (ret != -ENOENT)
		return 0; /* the host's own backing file wins, whatever it is */
	if (strlen(ctx->host_name) >= sizeof(t->name))
		return -ENAMETOOLONG;
	strcpy(t->name, ctx->host_name);
	t->dirfd = ctx->host_dirfd;
	t->creatable = 0;
	t->filter = 0;
	t->recyclable = 0;
	t->host = 1;
	return 0;
}
