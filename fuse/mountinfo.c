#include "mountinfo.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

/* Absolute path of path's directory plus its last component as given: realpath on the whole
 * path would fail with ENOTCONN on a dead mount. */
static int absolute(const char *path, char *out, size_t size)
{
	char dir[PATH_MAX], real[PATH_MAX];
	const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
	size_t dlen = slash ? (size_t)(slash - path) : 0;

	if (dlen >= sizeof(dir))
		return -ENAMETOOLONG;
	if (slash) {
		memcpy(dir, path, dlen ? dlen : 1); /* "/x": the directory is "/" */
		dir[dlen ? dlen : 1] = '\0';
	} else {
		strcpy(dir, ".");
	}
	if (!realpath(dir, real))
		return -errno;
	if ((size_t)snprintf(out, size, "%s/%s", strcmp(real, "/") ? real : "", base) >= size)
		return -ENAMETOOLONG;
	return 0;
}

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void unescape(char *s)
{
	char *w = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*w++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*w++ = *s;
		}
	}
	*w = '\0';
}

/* Fields of one mountinfo line: 1st is the mount id, 5th the mount point, the one after " - "
 * the type. Returns the mount id of a resolvconffs mount at path, or -1. */
static int line_matches(char *line, const char *path)
{
	char *mnt = NULL, *type = NULL, *tok, *save = NULL;
	int field = 0, after_sep = 0, id = -1;

	for (tok = strtok_r(line, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		field++;
		if (field == 1)
			id = atoi(tok);
		if (field == 5)
			mnt = tok;
		if (after_sep) {
			type = tok;
			break;
		}
		if (field > 6 && !strcmp(tok, "-"))
			after_sep = 1;
	}
	if (!mnt || !type)
		return -1;
	unescape(mnt);
	return !strcmp(mnt, path) && !strcmp(type, "fuse.resolvconffs") ? id : -1;
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
		if (absolute(cur, here, sizeof(here)) == 0 && !strcmp(here, abs))
			return 1;
		ret = next_hop(cur);
	}
	return ret < 0 ? ret : 0;
}

int rcfs_mount_path(const char *path, char abs[PATH_MAX])
{
	return absolute(path, abs, PATH_MAX);
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
