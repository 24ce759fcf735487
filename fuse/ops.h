/* The FUSE low-level operations: thin glue from requests to the core. */
#ifndef RCFS_OPS_H
#define RCFS_OPS_H

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include "../core/context.h"
#include "stats.h"

#include <stdatomic.h>

/* Everything a request handler needs; lives in main and is handed to libfuse as userdata. */
struct rcfs_daemon {
	struct rcfs_ctx ctx;
	int log_level;
	struct rcfs_stats stats;
	atomic_int reporter_stop;  /* tells the SIGUSR1 reporter thread to end */
};

/* The operations table; only what the file supports is registered, so the kernel or libfuse
 * answers everything else without waking a handler. */
extern const struct fuse_lowlevel_ops rcfs_ops;

#endif
