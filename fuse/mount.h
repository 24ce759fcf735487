/* Mounting on the mountpoint as given. mount(2) follows a symlink given as mountpoint and would
 * cover the file it points to, which its owner (a DNS manager) then can no longer replace; the
 * daemon mounts on the link itself instead (DESIGN.md, "Mounting over a symlink"). */
#ifndef RCFS_MOUNT_H
#define RCFS_MOUNT_H

#include <limits.h>

#include "ops.h" /* FUSE_USE_VERSION, fuse_lowlevel.h */

struct rcfs_mountpoint {
	int fd;                /* O_PATH|O_NOFOLLOW of the path as given, opened before mounting */
	int is_link;           /* the path is a symlink: mounted over with rcfs_mount_link */
	char link[PATH_MAX];   /* its text, for the startup line */
};

/* Open path without following a final symlink; a symlink's text is read into mp->link. A
 * mountpoint must be a regular file or a symlink that does not lead to a directory or special
 * file. Prints one line and returns -1 when it is not; *dangling is set for a symlink whose
 * target does not exist (yet). */
int rcfs_mountpoint_open(const char *path, struct rcfs_mountpoint *mp, int *dangling);

/* Close mp's descriptor; safe after a failed or no open. */
void rcfs_mountpoint_close(struct rcfs_mountpoint *mp);

/* Check that the comma-separated mount options opts can be honoured by rcfs_mount_link. Prints
 * one line and returns -1 when not. */
int rcfs_mount_link_check(const char *opts);

/* Mount se on the symlink mp itself with the comma-separated mount options opts (those
 * fuse_session_new accepted), then hand se the connection as an already mounted one. Prints
 * one line and returns -1 on failure, with nothing mounted. */
int rcfs_mount_link(struct fuse_session *se, const struct rcfs_mountpoint *mp, const char *path,
		    const char *opts);

#endif
