/* resolvconffs: mount one file whose content depends on the caller's network namespace. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <linux/magic.h>

#include "../core/inventory.h"
#include "log.h"
#include "mountinfo.h"
#include "ops.h"
#include "options.h"

/* Mount options every instance needs: all users read the file (allow_other), and by default the
 * kernel checks permissions against the attributes we report, i.e. against the caller's own
 * backing file. --access-check=daemon drops default_permissions: the core checks instead. */
static const char BASE_MOUNT_OPTS[] = "fsname=resolvconffs,subtype=resolvconffs,allow_other";
static const char KERNEL_CHECK_OPT[] = "default_permissions";

static const char *access_opt(const struct rcfs_options *o)
{
	return o->cfg.check_access ? "" : KERNEL_CHECK_OPT;
}

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
	struct stat st;

	if (stat(path, &st) < 0) {
		fprintf(stderr, "resolvconffs: mountpoint '%s': %s\n", path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		fprintf(stderr, "resolvconffs: mountpoint '%s' is %s, not a regular file\n", path,
			S_ISDIR(st.st_mode) ? "a directory" : "a special file");
		return -1;
	}
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

static int init_context(struct rcfs_daemon *d, struct rcfs_config *cfg)
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
	if (ctx->key_source == RCFS_KEY_NS && rcfs_ctx_check_procfs(ctx)) {
		fprintf(stderr, "resolvconffs: procfs '%s': no readable <pid>/ns/%s links\n",
			cfg->procfs ? cfg->procfs : "/proc", ctx->ns_kind);
		rcfs_ctx_fini(ctx);
		return -1;
	}
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

static void log_removal(void *arg, const struct rcfs_file *f, int result)
{
	const struct rcfs_daemon *d = arg;

	if (result)
		rcfs_log(d->log_level, RCFS_LOG_WARNING, "gc: cannot remove %s: %s", f->file,
			 strerror(-result));
	else
		rcfs_log(d->log_level, RCFS_LOG_INFO, "gc: removed %s (its namespace is gone)", f->file);
}

/* --gc-on-start: ids are recycled, so a file left by a dead namespace would be served to an
 * unrelated new one. */
static int gc_on_start(struct rcfs_daemon *d)
{
	struct rcfs_inventory inv;
	int ret;

	if (d->ctx.key_source != RCFS_KEY_NS) {
		fprintf(stderr, "resolvconffs: --gc-on-start needs a namespace key\n");
		return -1;
	}
	ret = rcfs_inventory_scan(&d->ctx, d->ctx.names ? d->ctx.names->dir :
				  strcmp(d->ctx.ns_kind, "net") ? NULL : "/run/netns", &inv);
	if (ret) {
		fprintf(stderr, "resolvconffs: --gc-on-start: %s\n", strerror(-ret));
		return -1;
	}
	rcfs_inventory_gc(&d->ctx, &inv, 1, log_removal, d);
	rcfs_inventory_free(&inv);
	return 0;
}

static int build_fuse_args(struct fuse_args *args, const char *argv0, const struct rcfs_options *o)
{
	if (fuse_opt_add_arg(args, argv0) || fuse_opt_add_arg(args, "-o") ||
	    fuse_opt_add_arg(args, BASE_MOUNT_OPTS))
		return -1;
	if (!o->cfg.check_access &&
	    (fuse_opt_add_arg(args, "-o") || fuse_opt_add_arg(args, KERNEL_CHECK_OPT)))
		return -1;
	for (size_t i = 0; i < o->n_fuse_opts; i++)
		if (fuse_opt_add_arg(args, "-o") || fuse_opt_add_arg(args, o->fuse_opts[i]))
			return -1;
	return 0;
}

static void log_startup(const struct rcfs_daemon *d, const struct rcfs_options *o)
{
	const struct rcfs_ctx *ctx = &d->ctx;
	char extra[512] = "", key[32], names[PATH_MAX + 64] = "";
	size_t len = 0;

	for (size_t i = 0; i < o->n_fuse_opts && len < sizeof(extra); i++)
		len += (size_t)snprintf(extra + len, sizeof(extra) - len, ",%s", o->fuse_opts[i]);
	if (ctx->key_source == RCFS_KEY_NS)
		snprintf(key, sizeof(key), "<%s ns id>", ctx->ns_kind);
	else
		snprintf(key, sizeof(key), "<%s>", ctx->key_source == RCFS_KEY_UID ? "uid" : "gid");
	if (o->cfg.etc_netns_dir)
		snprintf(names, sizeof(names), "; names: %s, then %s/<name>/%s", ctx->names->dir,
			 o->cfg.etc_netns_dir, ctx->etc_base);
	else if (ctx->names)
		snprintf(names, sizeof(names), "; names: %s", ctx->names->dir);
	rcfs_log(d->log_level, RCFS_LOG_INFO,
		 "serving %s from %s/%s%s%s%s; default file: %s; procfs: %s; "
		 "access check: %s; recycled-id check: %s; mount options: %s%s%s%s",
		 o->mountpoint, o->cfg.backing_dir, key, ctx->ext[0] ? "." : "", ctx->ext, names,
		 o->cfg.template_path ? o->cfg.template_path : "none (missing files give ENOENT)",
		 o->cfg.procfs ? o->cfg.procfs : "/proc", o->cfg.check_access ? "daemon" : "kernel",
		 ctx->nsid ? "on (NS_GET_ID)" : "off",
		 BASE_MOUNT_OPTS, o->cfg.check_access ? "" : ",", access_opt(o), extra);
}

static void print_stats(struct rcfs_daemon *d)
{
	char line[256];

	rcfs_stats_format(&d->stats, line, sizeof(line));
	fprintf(stderr, "resolvconffs: %s\n", line);
}

/* SIGUSR1 prints the request counts. It is blocked in every thread (the request threads inherit
 * the mask) and taken by this one with sigwait, so nothing runs in signal context. */
static void *stats_reporter(void *arg)
{
	sigset_t set;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	while (sigwait(&set, &sig) == 0)
		print_stats(arg);
	return NULL;
}

static int start_reporter(struct rcfs_daemon *d, pthread_t *thread)
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

static void stop_reporter(pthread_t thread)
{
	pthread_cancel(thread); /* sigwait is a cancellation point */
	pthread_join(thread, NULL);
}

/* libfuse unmounts nothing when the session's descriptor polls POLLERR (a severed connection):
 * put a pipe without reader, which does, in the place of /dev/fuse. That also closes our
 * connection, as fuse_session_unmount would have. */
static void sever_session_fd(struct fuse_session *se)
{
	int p[2];

	if (pipe2(p, O_CLOEXEC) < 0)
		return;
	close(p[0]);
	dup2(p[1], fuse_session_fd(se));
	close(p[1]);
}

static int serve(struct rcfs_daemon *d, const struct rcfs_options *o, const char *argv0)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct fuse_loop_config *loop;
	struct fuse_session *se;
	pthread_t reporter;
	char abs[PATH_MAX];
	int ret = 1, mount_id = -1, have_path;

	if (start_reporter(d, &reporter))
		return 1;
	if (build_fuse_args(&args, argv0, o)) {
		fprintf(stderr, "resolvconffs: out of memory\n");
		goto err_args;
	}
	se = fuse_session_new(&args, &rcfs_ops, sizeof(rcfs_ops), d);
	if (!se)
		goto err_args; /* libfuse printed why, e.g. an unknown -o option */
	if (fuse_set_signal_handlers(se))
		goto err_session;
	/* Resolved before mounting: afterwards the path leads into our own file system. */
	have_path = rcfs_mount_path(o->mountpoint, abs) == 0;
	if (fuse_session_mount(se, o->mountpoint))
		goto err_signals;
	mount_id = have_path ? rcfs_mount_id(abs) : -1;
	log_startup(d, o);

	loop = fuse_loop_cfg_create();
	if (!loop)
		goto err_mount;
	/* The loop returns 0, -errno, or the number of the signal that ended it (fuse_lowlevel.h);
	 * SIGINT/SIGTERM/SIGHUP through fuse_set_signal_handlers are a clean shutdown. */
	ret = fuse_session_loop_mt(se, loop) < 0 ? 1 : 0;
	fuse_loop_cfg_destroy(loop);
err_mount:
	/* libfuse unmounts by path: after another daemon took this mountpoint over (--takeover
	 * detached our mount), that would remove the newcomer's mount instead of ours. */
	if (mount_id >= 0 && rcfs_mount_id(abs) != mount_id) {
		rcfs_log(d->log_level, RCFS_LOG_INFO,
			 "%s was taken over by another mount: leaving it alone", o->mountpoint);
		sever_session_fd(se);
	}
	fuse_session_unmount(se); /* frees the session's copy of the mountpoint in any case */
err_signals:
	fuse_remove_signal_handlers(se);
err_session:
	fuse_session_destroy(se);
err_args:
	fuse_opt_free_args(&args);
	stop_reporter(reporter);
	if (d->log_level >= RCFS_LOG_DEBUG)
		print_stats(d);
	return ret;
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

int main(int argc, char **argv)
{
	struct rcfs_options opts;
	struct rcfs_daemon daemon;
	int ret = 2, earlier;

	switch (rcfs_options_parse(argc, argv, &opts, stdout, stderr)) {
	case RCFS_PARSE_RUN:
		break;
	case RCFS_PARSE_HELP:
		ret = 0;
		goto out_opts;
	case RCFS_PARSE_VERSION:
		printf("resolvconffs %s (libfuse %s)\n", RCFS_VERSION, fuse_pkgversion());
		ret = 0;
		goto out_opts;
	case RCFS_PARSE_ERROR:
		goto out_opts;
	}
	memset(&daemon, 0, sizeof(daemon));
	daemon.log_level = opts.log_level;
	if (check_earlier_mount(opts.mountpoint, opts.takeover, &earlier) ||
	    (!earlier && check_mountpoint(opts.mountpoint)) || init_context(&daemon, &opts.cfg))
		goto out_opts;
	if (earlier && (detach_earlier_mount(opts.mountpoint) || check_mountpoint(opts.mountpoint))) {
		rcfs_ctx_fini(&daemon.ctx);
		goto out_opts;
	}
	warn_writable(&daemon, &opts.cfg);
	raise_fd_limit();
	if (opts.gc_on_start && gc_on_start(&daemon))
		ret = 2;
	else
		ret = serve(&daemon, &opts, argv[0]);
	rcfs_ctx_fini(&daemon.ctx);
out_opts:
	rcfs_options_free(&opts);
	return ret;
}
