/* What a resolvconffs mount covers, seen from resolvconffs-ctl: the daemon's --host-original
 * serves its own namespace the file beneath its mount, which the mount itself hides. In a mount
 * namespace of our own, with every mount private, the mount can be detached without anyone
 * else noticing; then the mountpoint is what the daemon saw before it mounted. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "ctl.h"
#include "../core/mounttab.h"

/* Whether a mountinfo line is a resolvconffs mount at abs. */
static int is_ours(char *line, const char *abs)
{
	char *mnt, *type;
	int id;

	return rcfs_mounttab_fields(line, &id, &mnt, &type) == 0 && !strcmp(mnt, abs) &&
	       !strcmp(type, RCFS_FSTYPE);
}

/* How many resolvconffs mounts are stacked at abs, or a negative errno. */
static int count_ours(const char *abs)
{
	char *line = NULL;
	size_t cap = 0;
	int n = 0;
	FILE *f = fopen("/proc/self/mountinfo", "re");

	if (!f)
		return -errno;
	while (getline(&line, &cap, f) > 0)
		n += is_ours(line, abs);
	free(line);
	fclose(f);
	return n;
}

/* Detach every resolvconffs mount at abs, in a private mount namespace of this process only. */
static int uncover(const char *path, const char *abs)
{
	int n;

	if (unshare(CLONE_NEWNS) < 0)
		return -ctl_fail(CTL_FAILED, "--host-original: %s carries a resolvconffs mount; looking "
				 "beneath it takes a mount namespace of our own (CAP_SYS_ADMIN): "
				 "unshare: %s", path, strerror(errno));
	/* Private first: a detach must not propagate back to the namespace we came from. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return -ctl_fail(CTL_FAILED, "--host-original: making our mounts private: %s",
				 strerror(errno));
	for (int tries = 0; tries < 16; tries++) {
		n = count_ours(abs);
		if (n <= 0)
			break;
		if (umount2(abs, MNT_DETACH | UMOUNT_NOFOLLOW) < 0)
			return -ctl_fail(CTL_FAILED, "--host-original: detaching the mount on %s in our "
					 "own mount namespace: %s", path, strerror(errno));
	}
	if (n != 0)
		return -ctl_fail(CTL_FAILED, "--host-original: %s: %s", path,
				 n < 0 ? strerror(-n) : "the resolvconffs mounts do not go away");
	return 0;
}

int ctl_open_beneath(const char *path, char abs[PATH_MAX])
{
	int n = rcfs_mounttab_path(path, abs), fd;

	if (n)
		return -ctl_fail(CTL_FAILED, "--host-original: %s: %s", path, strerror(-n));
	n = count_ours(abs);
	if (n < 0)
		return -ctl_fail(CTL_FAILED, "reading /proc/self/mountinfo: %s", strerror(-n));
	if (n > 0) {
		n = uncover(path, abs);
		if (n)
			return n;
	}
	fd = open(abs, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -ctl_fail(CTL_FAILED, "--host-original: %s: %s", path, strerror(errno));
	return fd;
}
