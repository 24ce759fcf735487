/* Finding an earlier resolvconffs mount on the mountpoint, before mounting over it again. */
#ifndef RCFS_MOUNTINFO_H
#define RCFS_MOUNTINFO_H

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

/* Detach the resolvconffs mount at path (umount2 with MNT_DETACH). Returns 0 or -errno. */
int rcfs_mount_detach(const char *path);

#endif
