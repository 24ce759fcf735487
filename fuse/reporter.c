/* The request counts on demand: SIGUSR1 prints them, from a thread of their own. */
#include "reporter.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

void rcfs_reporter_print(struct rcfs_daemon *d)
{
	char line[256];

	rcfs_stats_format(&d->stats, line, sizeof(line));
	fprintf(stderr, "resolvconffs: %s\n", line);
}

/* SIGUSR1 prints the request counts. It is blocked in every thread (the request threads inherit
 * the mask) and taken by this one with sigwait, so nothing runs in signal context. */
static void *stats_reporter(void *arg)
{
	struct rcfs_daemon *d = arg;
	sigset_t set;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	while (sigwait(&set, &sig) == 0 && !atomic_load(&d->reporter_stop))
		rcfs_reporter_print(d);
	return NULL;
}

int rcfs_reporter_start(struct rcfs_daemon *d, pthread_t *thread)
{
	sigset_t set;
	int err;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	err = pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (!err)
		err = pthread_create(thread, NULL, stats_reporter, d);
	if (err)
		fprintf(stderr, "resolvconffs: cannot start the statistics thread: %s\n", strerror(err));
	return err;
}

/* Woken by a signal of its own rather than cancelled: a cancelled thread's frames are never
 * left normally, which sanitizers (rightly) distrust. */
void rcfs_reporter_stop(struct rcfs_daemon *d, pthread_t thread)
{
	atomic_store(&d->reporter_stop, 1);
	pthread_kill(thread, SIGUSR1);
	pthread_join(thread, NULL);
}

