/* Reading /proc/self/mountinfo, for the daemon (an earlier mount on its mountpoint) and for
 * resolvconffs-ctl (the mount that hides what --host-original serves). */
#ifndef RCFS_MOUNTTAB_H
#define RCFS_MOUNTTAB_H

#include <limits.h>

/* The file system type of every resolvconffs mount. */
#define RCFS_FSTYPE "fuse.resolvconffs"

/* The absolute path of path as mountinfo lists a mount on it: its directory resolved, the last
 * component as given (a symlink there is mounted over itself, never followed; a dead mount there
 * is never touched). Returns 0 or a negative errno. */
int rcfs_mounttab_path(const char *path, char abs[PATH_MAX]);

/* Split one mountinfo line in place: *id is the mount id, *mnt the mount point (unescaped),
 * *type the file system type. Returns 0, or -EINVAL for a line without those fields. */
int rcfs_mounttab_fields(char *line, int *id, char **mnt, char **type);

#endif
