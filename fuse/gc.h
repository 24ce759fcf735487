/* Garbage collection of the backing directory by the daemon: the files of dead namespaces and
 * the stale copies, once before mounting (--gc-on-start) and every few seconds while serving
 * (--gc-interval), logging each removal. */
#ifndef RCFS_GC_H
#define RCFS_GC_H

#include <pthread.h>

#include "ops.h"

/* The periodic clean-up's thread; owned by whoever starts it (serve()). */
struct rcfs_gc {
	struct rcfs_daemon *d;
	unsigned interval;      /* seconds between passes; 0: no thread was started */
	pthread_t thread;
	pthread_mutex_t lock;   /* guards stop */
	pthread_cond_t wake;    /* signalled at stop; waited on with CLOCK_MONOTONIC deadlines */
	int stop;
};

/* One pass: scan d's backing directory, procfs and names directory (the --names directory, else
 * /run/netns for net keys) and remove the id-named files of dead namespaces and the stale
 * copies, logging each removal at info level and each failure at warning level. Needs a
 * namespace key. Returns 0, or -errno when the scan failed (then nothing was removed). */
int rcfs_gc_pass(struct rcfs_daemon *d);

/* Start a thread that runs rcfs_gc_pass every interval seconds, the first one interval seconds
 * from now; with interval 0 start nothing. Returns 0, or -1 with the reason on stderr. */
int rcfs_gc_start(struct rcfs_gc *gc, struct rcfs_daemon *d, unsigned interval);

/* Stop and join the thread started by rcfs_gc_start (a pass under way is finished first);
 * nothing to do when none was started. */
void rcfs_gc_stop(struct rcfs_gc *gc);

#endif
