#include "mountinfo.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>

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

/* Fields of one mountinfo line: 5th is the mount point, the one after " - " the type. */
static int line_matches(char *line, const char *path)
{
	char *mnt = NULL, *type = NULL, *tok, *save = NULL;
	int field = 0, after_sep = 0;

	for (tok = strtok_r(line, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		field++;
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
		return 0;
	unescape(mnt);
	return !strcmp(mnt, path) && !strcmp(type, "fuse.resolvconffs");
}

int rcfs_mount_state(const char *path)
{
	char abs[PATH_MAX], *line = NULL;
	size_t cap = 0;
	struct stat st;
	int found = 0, ret;
	FILE *f;

	ret = absolute(path, abs, sizeof(abs));
	if (ret)
		return ret;
	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return -errno;
	while (getline(&line, &cap, f) > 0)
		found |= line_matches(line, abs);
	free(line);
	fclose(f);
	if (!found)
		return RCFS_MOUNT_NONE;
	return stat(abs, &st) < 0 && errno == ENOTCONN ? RCFS_MOUNT_STALE : RCFS_MOUNT_LIVE;
}

int rcfs_mount_detach(const char *path)
{
	return umount2(path, MNT_DETACH) == 0 ? 0 : -errno;
}
