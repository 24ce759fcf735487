/* The daemon's clean-up of its backing directory: ids are recycled, so a file left by a dead
 * namespace would be served to an unrelated new one; stale copies pile up as ids are reused. */
#include "gc.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../core/inventory.h"
#include "log.h"

/* Where ip-netns names keep namespaces alive: the --names directory, else the default one for
 * network namespaces (a namespace held only by its name is alive with or without --names). */
static const char *names_dir(const struct rcfs_ctx *ctx)
{
	if (ctx->names)
		return ctx->names->dir;
	return strcmp(ctx->ns_kind, "net") ? NULL : "/run/netns";
}

static void log_removal(void *arg, const struct rcfs_file *f, int result)
{
	const struct rcfs_daemon *d = arg;

	if (result)
		rcfs_log(d->log_level, RCFS_LOG_WARNING, "gc: cannot remove %s: %s", f->file,
			 strerror(-result));
	else if (f->kind == RCFS_FILE_STALE)
		rcfs_log(d->log_level, RCFS_LOG_INFO, "gc: removed stale copy %s", f->file);
	else
		rcfs_log(d->log_level, RCFS_LOG_INFO, "gc: removed %s (its namespace is gone)",
			 f->file);
}

int rcfs_gc_pass(struct rcfs_daemon *d)
{
	struct rcfs_inventory inv;
	int ret;

	ret = rcfs_inventory_scan(&d->ctx, names_dir(&d->ctx), &inv);
	if (ret)
		return ret;
	rcfs_inventory_gc(&d->ctx, &inv, 1, log_removal, d);
	rcfs_inventory_free(&inv);
	return 0;
}

/* Sleeps on a condition variable rather than in sleep(3), so that rcfs_gc_stop wakes it at
 * once; the deadline is on CLOCK_MONOTONIC, which a change of the wall clock does not move. */
static void *gc_thread(void *arg)
{
	struct rcfs_gc *gc = arg;
	struct timespec deadline;
	int stop, ret;

	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &deadline);
		deadline.tv_sec += gc->interval;
		pthread_mutex_lock(&gc->lock);
		while (!gc->stop && pthread_cond_timedwait(&gc->wake, &gc->lock, &deadline) == 0)
			;
		stop = gc->stop;
		pthread_mutex_unlock(&gc->lock);
		if (stop)
			return NULL;
		ret = rcfs_gc_pass(gc->d);
		if (ret)
			rcfs_log(gc->d->log_level, RCFS_LOG_WARNING, "gc: cannot scan: %s",
				 strerror(-ret));
	}
}

int rcfs_gc_start(struct rcfs_gc *gc, struct rcfs_daemon *d, unsigned interval)
{
	pthread_condattr_t attr;
	sigset_t all, old;
	int err;

	memset(gc, 0, sizeof(*gc));
	if (!interval)
		return 0;
	gc->d = d;
	err = pthread_condattr_init(&attr);
	if (!err) {
		err = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
		if (!err)
			err = pthread_cond_init(&gc->wake, &attr);
		pthread_condattr_destroy(&attr);
	}
	if (err)
		goto fail;
	err = pthread_mutex_init(&gc->lock, NULL);
	if (err) {
		pthread_cond_destroy(&gc->wake);
		goto fail;
	}
	/* The thread takes no signals. libfuse's SIGTERM/SIGINT handler only raises a flag, which
	 * the session loop's threads see when the signal interrupts their wait; taken by this
	 * thread, it would go unnoticed until the next request. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	gc->interval = interval;
	err = pthread_create(&gc->thread, NULL, gc_thread, gc);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!err)
		return 0;
	gc->interval = 0;
	pthread_mutex_destroy(&gc->lock);
	pthread_cond_destroy(&gc->wake);
fail:
	fprintf(stderr, "resolvconffs: cannot start the gc thread: %s\n", strerror(err));
	return -1;
}

/* Woken through its condition variable rather than cancelled: a cancelled thread's frames are
 * never left normally (see reporter.c), and a pass cut short could leave the scan's memory. */
void rcfs_gc_stop(struct rcfs_gc *gc)
{
	if (!gc->interval)
		return;
	pthread_mutex_lock(&gc->lock);
	gc->stop = 1;
	pthread_cond_signal(&gc->wake);
	pthread_mutex_unlock(&gc->lock);
	pthread_join(gc->thread, NULL);
	pthread_mutex_destroy(&gc->lock);
	pthread_cond_destroy(&gc->wake);
	gc->interval = 0;
}
