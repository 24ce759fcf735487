/* Request accounting on demand: SIGUSR1 prints the daemon's request counts. */
#ifndef RCFS_REPORTER_H
#define RCFS_REPORTER_H

#include <pthread.h>

#include "ops.h"

/* Print one line "resolvconffs: requests: ..." with d's counts to stderr. */
void rcfs_reporter_print(struct rcfs_daemon *d);

/* Block SIGUSR1 (threads created later inherit the mask) and start the thread that takes it.
 * Returns 0 or an errno value. */
int rcfs_reporter_start(struct rcfs_daemon *d, pthread_t *thread);

/* Stop the thread started by rcfs_reporter_start. */
void rcfs_reporter_stop(struct rcfs_daemon *d, pthread_t thread);

#endif
