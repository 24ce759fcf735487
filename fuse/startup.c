/* Everything the daemon checks and prepares before it mounts. */
#include "startup.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <linux/magic.h>

#include "gc.h"
#include "log.h"
#include "mountinfo.h"
#include "../core/host.h"

/* An earlier resolvconffs mount on the same file: mounting again would stack a second daemon on
 * it (live), or fail on ENOTCONN (stale). Refuse unless told to take it over; the detaching
 * itself waits until the configuration has been checked (detach_earlier_mount). */
static int check_earlier_mount(const char *path, int takeover, int *earlier)
{
	int state = rcfs_mount_state(path);

	*earlier = 0;
	if (state == RCFS_MOUNT_NONE || state < 0)
		return 0; /* an unreadable table is not a reason to refuse */
	if (!takeover) {
		fprintf(stderr, "resolvconffs: mountpoint '%s' is already a resolvconffs mount (%s); %s\n",
			path, state == RCFS_MOUNT_STALE ? "stale: its daemon is gone" : "live",
			state == RCFS_MOUNT_STALE ? "run 'fusermount3 -u' on it or use --takeover" :
			"stop that daemon first or use --takeover");
		return -1;
	}
	*earlier = 1;
	return 0;
}

static int detach_earlier_mount(const char *path)
{
	int ret = rcfs_mount_detach(path);

	if (ret) {
		fprintf(stderr, "resolvconffs: cannot detach the earlier mount on '%s': %s\n", path,
			strerror(-ret));
		return -1;
	}
	return 0;
}

static int check_mountpoint(const char *path)
{
	struct rcfs_mountpoint mp;
	int dangling;

	if (rcfs_mountpoint_open(path, &mp, &dangling))
		return -1;
	rcfs_mountpoint_close(&mp);
	return 0;
}

/* Warnings the core gives while serving (e.g. an unusable ip-netns name). */
static void core_warning(void *arg, const char *fmt, ...)
{
	struct rcfs_daemon *d = arg;
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	rcfs_log(d->log_level, RCFS_LOG_WARNING, "%s", line);
}

/* The kernel numbers request pids in the daemon's pid namespace. A real procfs of another pid
 * namespace (the host's /proc seen from a child pid namespace) numbers other processes: pid N
 * there is an unrelated process, whose namespace would decide the caller's file. A fake tree
 * (not a procfs) is the administrator's mapping and is taken as it is. */
static int check_procfs_pid_ns(const struct rcfs_ctx *ctx, const char *procfs)
{
	char self[24];
	struct statfs sfs;
	ssize_t n;

	if (fstatfs(ctx->procfs_fd, &sfs) < 0 || sfs.f_type != PROC_SUPER_MAGIC)
		return 0;
	n = readlinkat(ctx->procfs_fd, "self", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		if (strtol(self, NULL, 10) == (long)getpid())
			return 0;
	}
	fprintf(stderr, "resolvconffs: procfs '%s' belongs to another pid namespace than the "
		"daemon's; give -P a procfs mounted from inside it\n", procfs ? procfs : "/proc");
	return -1;
}

int rcfs_startup_context(struct rcfs_daemon *d, struct rcfs_config *cfg)
{
	struct rcfs_init_error err = { 0 };
	struct rcfs_ctx *ctx = &d->ctx;
	int ret;

	cfg->warn = core_warning;
	cfg->warn_arg = d;
	ret = rcfs_ctx_init(ctx, cfg, &err);
	if (ret) {
		fprintf(stderr, "resolvconffs: %s '%s': %s\n", err.what, err.arg,
			err.why ? err.why : strerror(-ret));
		return -1;
	}
	ret = ctx->key_source == RCFS_KEY_NS ? rcfs_ctx_check_procfs(ctx) : 0;
	if (ret < 0) {
		fprintf(stderr, "resolvconffs: procfs '%s': no readable <pid>/ns/%s links\n",
			cfg->procfs ? cfg->procfs : "/proc", ctx->ns_kind);
		rcfs_ctx_fini(ctx);
		return -1;
	}
	if (ret > 0)
		rcfs_log(d->log_level, RCFS_LOG_WARNING, "procfs '%s' is not a procfs and has no "
			 "entries yet: callers get ESRCH until their <pid>/ns/%s appears",
			 cfg->procfs, ctx->ns_kind);
	if (ctx->key_source == RCFS_KEY_NS && check_procfs_pid_ns(ctx, cfg->procfs)) {
		rcfs_ctx_fini(ctx);
		return -1;
	}
	return 0;
}

/* A backing directory or template others can write lets them choose what every namespace
 * reads as its resolver configuration. */
static void warn_writable(const struct rcfs_daemon *d, const struct rcfs_config *cfg)
{
	struct stat st;

	if (fstat(d->ctx.backing_fd, &st) == 0 && (st.st_mode & 022))
		rcfs_log(d->log_level, RCFS_LOG_WARNING,
			 "backing directory '%s' is writable by group or others (mode %o)",
			 cfg->backing_dir, (unsigned)(st.st_mode & 07777));
	if (cfg->template_path && stat(d->ctx.template_path, &st) == 0 && (st.st_mode & 022))
		rcfs_log(d->log_level, RCFS_LOG_WARNING,
			 "default file '%s' is writable by group or others (mode %o)",
			 cfg->template_path, (unsigned)(st.st_mode & 07777));
}

/* --gc-on-start: ids are recycled, so a file left by a dead namespace would be served to an
 * unrelated new one. --gc-interval needs the same namespace key: refused here, before mounting. */
static int gc_on_start(struct rcfs_daemon *d, const struct rcfs_options *o)
{
	int ret;

	if ((o->gc_on_start || o->gc_interval) && d->ctx.key_source != RCFS_KEY_NS) {
		fprintf(stderr, "resolvconffs: %s needs a namespace key\n",
			o->gc_on_start ? "--gc-on-start" : "--gc-interval");
		return -1;
	}
	if (!o->gc_on_start)
		return 0;
	ret = rcfs_gc_pass(d);
	if (ret) {
		fprintf(stderr, "resolvconffs: --gc-on-start: %s\n", strerror(-ret));
		return -1;
	}
	return 0;
}

/* Every open request holds a backing fd until its release: a thousand callers with the file
 * open at once must not run into the default soft limit of 1024. */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int rcfs_startup_mountpoint(const char *path, int takeover, int *earlier)
{
	if (check_earlier_mount(path, takeover, earlier))
		return -1;
	/* A mount to be taken over hides the file beneath: that is checked after the detach. */
	return *earlier ? 0 : check_mountpoint(path);
}

int rcfs_startup_takeover(const char *path)
{
	return detach_earlier_mount(path) || check_mountpoint(path) ? -1 : 0;
}

/* A template that is the mountpoint would be read through our own mount, by a request thread,
 * while a request waits for it: every thread ends up waiting on another, unkillably. */
static int check_template(const struct rcfs_options *o)
{
	char mnt[PATH_MAX];

	if (!o->cfg.template_path || rcfs_mount_path(o->mountpoint, mnt) ||
	    rcfs_path_reaches(o->cfg.template_path, mnt) != 1)
		return 0;
	fprintf(stderr, "resolvconffs: default file '%s' is the mountpoint '%s' itself: copy it "
		"first (cp %s %s.bak) and give the copy\n", o->cfg.template_path, o->mountpoint,
		o->mountpoint, o->mountpoint);
	return -1;
}

/* Whoever owns the backing directory chooses every namespace's resolver (they can create the
 * host's file before anyone else): only root or the daemon's own user may. */
static int check_backing_owner(const struct rcfs_daemon *d, const struct rcfs_config *cfg)
{
	struct stat st;

	if (fstat(d->ctx.backing_fd, &st) < 0 || st.st_uid == 0 || st.st_uid == geteuid())
		return 0;
	fprintf(stderr, "resolvconffs: backing directory '%s' is owned by uid %u, not by root or the "
		"daemon's uid %u: that user could choose every namespace's resolver\n",
		cfg->backing_dir, (unsigned)st.st_uid, (unsigned)geteuid());
	return -1;
}

int rcfs_startup_mount_dev(struct rcfs_daemon *d, const char *path)
{
	struct statx sx;

	/* From the kernel's cache: a GETATTR would wait for a session loop not yet running. */
	if (statx(AT_FDCWD, path, AT_STATX_DONT_SYNC, STATX_INO, &sx) < 0) {
		fprintf(stderr, "resolvconffs: cannot stat the new mount on '%s': %s\n", path,
			strerror(errno));
		return -1;
	}
	d->ctx.mount_dev = makedev(sx.stx_dev_major, sx.stx_dev_minor);
	return 0;
}

int rcfs_startup_cover(struct rcfs_daemon *d, const struct rcfs_options *o,
		       struct rcfs_mountpoint *mp)
{
	int dangling, ret;

	if (rcfs_mountpoint_open(o->mountpoint, mp, &dangling))
		return -1;
	if (dangling)
		rcfs_log(d->log_level, RCFS_LOG_WARNING, "mountpoint '%s' is a symlink to '%s', "
			 "which does not exist (yet)", o->mountpoint, mp->link);
	if (!o->host_original)
		return 0;
	ret = rcfs_host_init(&d->ctx, mp->fd, o->mountpoint);
	if (ret) {
		fprintf(stderr, "resolvconffs: --host-original: %s\n", ret == -EINVAL ?
			"needs a namespace key (-k), to know the daemon's own namespace" :
			strerror(-ret));
		return -1;
	}
	return 0;
}

int rcfs_startup_prepare(struct rcfs_daemon *d, const struct rcfs_options *o)
{
	if (check_template(o) || check_backing_owner(d, &o->cfg))
		return -1;
	warn_writable(d, &o->cfg);
	raise_fd_limit();
	return gc_on_start(d, o);
}
