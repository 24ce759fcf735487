/* Finding an earlier resolvconffs mount on the mountpoint, before mounting over it again. */
#ifndef RCFS_MOUNTINFO_H
#define RCFS_MOUNTINFO_H

#include <limits.h>
#include <stddef.h>

/* The state of the topmost resolvconffs mount at a path. */
enum rcfs_mount_state {
	RCFS_MOUNT_NONE,  /* no resolvconffs mount there */
	RCFS_MOUNT_LIVE,  /* one whose daemon still answers */
	RCFS_MOUNT_STALE, /* one whose daemon is gone: every access fails with ENOTCONN */
};

/* Look for a fuse.resolvconffs mount at path (made absolute without touching its last
 * component, which may be a dead mount) in /proc/self/mountinfo. Returns the state, or a
 * negative errno when the table cannot be read. */
int rcfs_mount_state(const char *path);

/* The absolute path the daemon mounts on for path, as mountinfo lists it: the directory
 * resolved, the last component as given (a symlink there is covered itself, never followed).
 * Returns 0 or -errno. */
int rcfs_mount_path(const char *path, char abs[PATH_MAX]);

/* Whether path, or a file its chain of final symlinks passes through, is the absolute path abs
 * (from rcfs_mount_path). Only links are read. Returns 1, 0, or a negative errno. */
int rcfs_path_reaches(const char *path, const char *abs);

/* The mount id of the topmost resolvconffs mount at the absolute path abs (from
 * rcfs_mount_path), read from /proc/self/mountinfo alone, never touching the mount itself; or a
 * negative errno (-ENOENT: none). Safe on our own mount at any time. */
int rcfs_mount_id(const char *abs);

/* Detach the resolvconffs mount at path (umount2 with MNT_DETACH). Returns 0 or -errno. */
int rcfs_mount_detach(const char *path);

#endif
