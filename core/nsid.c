#include "nsid.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/xattr.h>
#include <unistd.h>

/* From linux/nsfs.h of 6.18; defined here so the build does not need the newest headers. */
#ifndef NS_GET_ID
#define NS_GET_ID _IOR(0xb7, 13, uint64_t)
#endif

int rcfs_nsid_of_fd(int fd, uint64_t *id)
{
	return ioctl(fd, NS_GET_ID, id) == 0 ? 0 : -errno;
}

int rcfs_nsid_supported(void)
{
	uint64_t id;
	int fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	int ret;

	if (fd < 0)
		return 0;
	ret = rcfs_nsid_of_fd(fd, &id);
	close(fd);
	return ret == 0;
}

int rcfs_nsid_of(const struct rcfs_ctx *ctx, const struct rcfs_caller *caller, uint64_t *id)
{
	char path[48];
	int fd, ret;

	if (caller->pid <= 0)
		return -ESRCH;
	snprintf(path, sizeof(path), "%d/ns/%s", (int)caller->pid, ctx->ns_kind);
	fd = openat(ctx->procfs_fd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ret = rcfs_nsid_of_fd(fd, id);
	close(fd);
	return ret;
}

void rcfs_nsid_record(int fd, uint64_t id)
{
	char text[24];
	int len = snprintf(text, sizeof(text), "%" PRIu64, id);

	(void)fsetxattr(fd, RCFS_NSID_XATTR, text, (size_t)len, 0);
}

int rcfs_nsid_recorded(int fd, uint64_t *id)
{
	char text[24];
	ssize_t len = fgetxattr(fd, RCFS_NSID_XATTR, text, sizeof(text) - 1);
	uint64_t v = 0;

	if (len < 0)
		return errno == ENOTSUP || errno == ERANGE ? -ENODATA : -errno; /* ERANGE: not ours */
	if (len == 0)
		return -ENODATA;
	for (ssize_t i = 0; i < len; i++) {
		unsigned d = (unsigned char)text[i] - '0';

		if (d > 9 || v > (UINT64_MAX - d) / 10)
			return -ENODATA; /* not ours: serve the file as it is */
		v = v * 10 + d;
	}
	*id = v;
	return 0;
}
