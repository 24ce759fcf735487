#include "mountinfo.h"
#include "../core/mounttab.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

/* A line's mount id when it is a resolvconffs mount at path, or -1. */
static int line_matches(char *line, const char *path)
{
	char *mnt, *type;
	int id;

	if (rcfs_mounttab_fields(line, &id, &mnt, &type))
		return -1;
	return !strcmp(mnt, path) && !strcmp(type, RCFS_FSTYPE) ? id : -1;
}

/* The next path in a chain of final symlinks: the link's text, relative to the link's directory.
 * Only links are read, never a target itself (it may be a dead mount). Returns 1 when cur was a
 * link and now holds its target, 0 when it is not a link, or a negative errno. */
static int next_hop(char cur[PATH_MAX])
{
	char link[PATH_MAX], dir[PATH_MAX];
	const char *slash = strrchr(cur, '/');
	struct stat st;
	ssize_t n;

	if (lstat(cur, &st) < 0 || !S_ISLNK(st.st_mode))
		return 0;
	n = readlink(cur, link, sizeof(link) - 1);
	if (n < 0)
		return -errno;
	link[n] = '\0';
	if (link[0] == '/' || !slash)
		return (size_t)snprintf(cur, PATH_MAX, "%s", link) >= PATH_MAX ? -ENAMETOOLONG : 1;
	snprintf(dir, sizeof(dir), "%.*s", (int)(slash - cur), cur);
	return (size_t)snprintf(cur, PATH_MAX, "%s/%s", dir, link) >= PATH_MAX ? -ENAMETOOLONG : 1;
}

int rcfs_path_reaches(const char *path, const char *abs)
{
	char cur[PATH_MAX], here[PATH_MAX];
	int ret = 1;

	if ((size_t)snprintf(cur, sizeof(cur), "%s", path) >= sizeof(cur))
		return -ENAMETOOLONG;
	for (int hops = 0; hops < 40 && ret == 1; hops++) {
		if (rcfs_mounttab_path(cur, here) == 0 && !strcmp(here, abs))
			return 1;
		ret = next_hop(cur);
	}
	return ret < 0 ? ret : 0;
}

int rcfs_mount_path(const char *path, char abs[PATH_MAX])
{
	return rcfs_mounttab_path(path, abs);
}

int rcfs_mount_id(const char *abs)
{
	char *line = NULL;
	size_t cap = 0;
	int id = -ENOENT;
	FILE *f;

	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return -errno;
	/* Later lines are mounted later: the last match is the topmost mount. */
	while (getline(&line, &cap, f) > 0) {
		int found = line_matches(line, abs);

		if (found >= 0)
			id = found;
	}
	free(line);
	fclose(f);
	return id;
}

int rcfs_mount_state(const char *path)
{
	char abs[PATH_MAX];
	struct stat st;
	int id = rcfs_mount_path(path, abs);

	if (!id)
		id = rcfs_mount_id(abs);
	if (id == -ENOENT)
		return RCFS_MOUNT_NONE;
	if (id < 0)
		return id;
	return stat(abs, &st) < 0 && errno == ENOTCONN ? RCFS_MOUNT_STALE : RCFS_MOUNT_LIVE;
}

int rcfs_mount_detach(const char *path)
{
	return umount2(path, MNT_DETACH) == 0 ? 0 : -errno;
}
