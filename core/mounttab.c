#include "mounttab.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int rcfs_mounttab_path(const char *path, char abs[PATH_MAX])
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
	if ((size_t)snprintf(abs, PATH_MAX, "%s/%s", strcmp(real, "/") ? real : "", base) >= PATH_MAX)
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

/* Fields: 1st the mount id, 5th the mount point, the one after " - " the type. */
int rcfs_mounttab_fields(char *line, int *id, char **mnt, char **type)
{
	char *tok, *save = NULL;
	int field = 0, after_sep = 0;

	*mnt = *type = NULL;
	for (tok = strtok_r(line, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save)) {
		field++;
		if (field == 1)
			*id = atoi(tok);
		if (field == 5)
			*mnt = tok;
		if (after_sep) {
			*type = tok;
			break;
		}
		if (field > 6 && !strcmp(tok, "-"))
			after_sep = 1;
	}
	if (!*mnt || !*type)
		return -EINVAL;
	unescape(*mnt);
	return 0;
}
