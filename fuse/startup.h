/* Start-up of the daemon: the checks and preparations made before mounting, each failure one
 * line on stderr. */
#ifndef RCFS_STARTUP_H
#define RCFS_STARTUP_H

#include "mount.h"
#include "ops.h"
#include "options.h"

/* Refuse (-1) a mountpoint that is not a regular file or that already carries a resolvconffs
 * mount. With takeover such a mount is accepted and *earlier set: rcfs_startup_takeover then
 * detaches it, once the rest of the configuration has been checked. */
int rcfs_startup_mountpoint(const char *path, int takeover, int *earlier);

/* Detach the earlier resolvconffs mount on path and check the file beneath it. */
int rcfs_startup_takeover(const char *path);

/* Set up d->ctx from cfg (core warnings go to d's log) and check that its procfs can name
 * callers: readable ns links, and, for a real procfs, the daemon's own pid namespace. */
int rcfs_startup_context(struct rcfs_daemon *d, struct rcfs_config *cfg);

/* Refuse a template that is the mountpoint and a backing directory owned by another user than
 * root or the daemon's; warn about a backing directory or template others can write, raise the
 * descriptor limit, and with --gc-on-start remove the files of dead namespaces and stale copies.
 * Returns 0 or -1. */
int rcfs_startup_prepare(struct rcfs_daemon *d, const struct rcfs_options *o);

/* Open the mountpoint as it is before mounting (mount.h), and with --host-original keep what it
 * covers for the daemon's own namespace (core/host.h). Returns 0 or -1 after one line. */
int rcfs_startup_cover(struct rcfs_daemon *d, const struct rcfs_options *o,
		       struct rcfs_mountpoint *mp);

/* Learn the device of our new mount on path (without asking the daemon), so that no request
 * calls into it (core/statat.h). Returns 0 or -1. */
int rcfs_startup_mount_dev(struct rcfs_daemon *d, const char *path);

#endif
