/* resolvconffs: mount one file whose content depends on the caller's network namespace. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "gc.h"
#include "log.h"
#include "mount.h"
#include "mountinfo.h"
#include "ops.h"
#include "options.h"
#include "reporter.h"
#include "startup.h"
#include "../core/host.h"

/* Mount options every instance needs: all users read the file (allow_other). The daemon decides
 * every permission itself (core/access.h); --access-check=kernel adds the kernel's
 * default_permissions on top, which checks the one inode all namespaces share. */
static const char BASE_MOUNT_OPTS[] = "fsname=resolvconffs,subtype=resolvconffs,allow_other";
static const char KERNEL_CHECK_OPT[] = "default_permissions";

static const char *access_opt(const struct rcfs_options *o)
{
	return o->kernel_check ? KERNEL_CHECK_OPT : "";
}

static int build_fuse_args(struct fuse_args *args, const char *argv0, const struct rcfs_options *o)
{
	if (fuse_opt_add_arg(args, argv0) || fuse_opt_add_arg(args, "-o") ||
	    fuse_opt_add_arg(args, BASE_MOUNT_OPTS))
		return -1;
	if (o->kernel_check &&
	    (fuse_opt_add_arg(args, "-o") || fuse_opt_add_arg(args, KERNEL_CHECK_OPT)))
		return -1;
	for (size_t i = 0; i < o->n_fuse_opts; i++)
		if (fuse_opt_add_arg(args, "-o") || fuse_opt_add_arg(args, o->fuse_opts[i]))
			return -1;
	return 0;
}

/* The mount options as one comma list, for a mount made without libfuse (rcfs_mount_link). */
static char *mount_opts(const struct rcfs_options *o)
{
	size_t len = sizeof(BASE_MOUNT_OPTS) + sizeof(KERNEL_CHECK_OPT) + 1;
	char *s;

	for (size_t i = 0; i < o->n_fuse_opts; i++)
		len += strlen(o->fuse_opts[i]) + 1;
	s = malloc(len);
	if (!s)
		return NULL;
	strcpy(s, BASE_MOUNT_OPTS);
	if (o->kernel_check)
		strcat(strcat(s, ","), KERNEL_CHECK_OPT);
	for (size_t i = 0; i < o->n_fuse_opts; i++)
		strcat(strcat(s, ","), o->fuse_opts[i]);
	return s;
}

static int mount_session(struct fuse_session *se, const struct rcfs_options *o,
			 const struct rcfs_mountpoint *mp)
{
	char *opts;
	int ret;

	if (!mp->is_link)
		return fuse_session_mount(se, o->mountpoint);
	opts = mount_opts(o);
	if (!opts) {
		fprintf(stderr, "resolvconffs: out of memory\n");
		return -1;
	}
	ret = rcfs_mount_link(se, mp, o->mountpoint, opts);
	free(opts);
	return ret;
}

/* Mount options a mount over a symlink cannot honour are a configuration error, found before
 * anything is mounted. */
static int check_link_opts(const struct rcfs_options *o, const struct rcfs_mountpoint *mp)
{
	char *opts;
	int ret;

	if (!mp->is_link)
		return 0;
	opts = mount_opts(o);
	if (!opts) {
		fprintf(stderr, "resolvconffs: out of memory\n");
		return -1;
	}
	ret = rcfs_mount_link_check(opts);
	free(opts);
	return ret;
}

static void describe_mountpoint(const struct rcfs_options *o, const struct rcfs_mountpoint *mp,
				char *buf, size_t size)
{
	if (mp->is_link)
		snprintf(buf, size, "%s (a symlink to %s)", o->mountpoint, mp->link);
	else
		snprintf(buf, size, "%s", o->mountpoint);
}

static const char *describe_host(const struct rcfs_options *o, const struct rcfs_mountpoint *mp)
{
	if (!o->host_original)
		return "";
	return mp->is_link ? "; own namespace without a file: the file the link names, live" :
		"; own namespace without a file: the covered file, live";
}

static void log_startup(const struct rcfs_daemon *d, const struct rcfs_options *o,
			const struct rcfs_mountpoint *mp)
{
	const struct rcfs_ctx *ctx = &d->ctx;
	char extra[512] = "", key[32], names[PATH_MAX + 64] = "", gc[32] = "";
	char where[2 * PATH_MAX + 64];
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
	if (o->gc_interval)
		snprintf(gc, sizeof(gc), "; gc every %u s", o->gc_interval);
	describe_mountpoint(o, mp, where, sizeof(where));
	rcfs_log(d->log_level, RCFS_LOG_INFO,
		 "serving %s from %s/%s%s%s%s%s; default file: %s; procfs: %s; "
		 "access check: %s; recycled-id check: %s; max size: %jd; mount options: %s%s%s%s%s",
		 where, o->cfg.backing_dir, key, ctx->ext[0] ? "." : "", ctx->ext, names,
		 describe_host(o, mp),
		 o->cfg.template_path ? o->cfg.template_path : "none (missing files give ENOENT)",
		 o->cfg.procfs ? o->cfg.procfs : "/proc",
		 o->kernel_check ? "kernel and daemon" : "daemon", ctx->nsid ? "on (NS_GET_ID)" : "off",
		 (intmax_t)ctx->max_size, BASE_MOUNT_OPTS, o->kernel_check ? "," : "", access_opt(o), extra,
		 gc);
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

/* Whether the kernel still holds our connection: once our mount is gone (unmounted, or detached
 * by a --takeover and released), the session's descriptor polls POLLERR. A mount id cannot
 * tell: the kernel gives a released id to the next mount, the newcomer's. */
static int connected(struct fuse_session *se)
{
	struct pollfd p = { .fd = fuse_session_fd(se), .events = POLLIN };

	return poll(&p, 1, 0) >= 0 && !(p.revents & POLLERR);
}

/* Our own unmount of a mount made over a symlink (libfuse knows it only as /dev/fd/N): the path
 * leads onto the mount's root, never through the link beneath. */
static void unmount_link(const struct rcfs_daemon *d, const char *abs)
{
	if (umount2(abs, MNT_DETACH | UMOUNT_NOFOLLOW) < 0)
		rcfs_log(d->log_level, RCFS_LOG_WARNING, "cannot unmount %s: %s", abs,
			 strerror(errno));
}

static int serve(struct rcfs_daemon *d, const struct rcfs_options *o,
		 const struct rcfs_mountpoint *mp, const char *argv0)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct fuse_loop_config *loop;
	struct fuse_session *se;
	pthread_t reporter;
	struct rcfs_gc gc;
	char abs[PATH_MAX];
	int ret = 1, mount_id = -1, now, have_path;

	if (rcfs_reporter_start(d, &reporter))
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
	if (mount_session(se, o, mp))
		goto err_signals;
	mount_id = have_path ? rcfs_mount_id(abs) : -1;
	if (rcfs_startup_mount_dev(d, o->mountpoint))
		goto err_mount;
	log_startup(d, o, mp);
	if (rcfs_gc_start(&gc, d, o->gc_interval))
		goto err_mount;

	loop = fuse_loop_cfg_create();
	if (!loop)
		goto err_gc;
	/* The loop returns 0, -errno, or the number of the signal that ended it (fuse_lowlevel.h);
	 * SIGINT/SIGTERM/SIGHUP through fuse_set_signal_handlers are a clean shutdown. */
	ret = fuse_session_loop_mt(se, loop) < 0 ? 1 : 0;
	fuse_loop_cfg_destroy(loop);
err_gc:
	rcfs_gc_stop(&gc);
err_mount:
	/* libfuse unmounts by path: after another daemon took this mountpoint over (--takeover
	 * detached our mount), that would remove the newcomer's mount instead of ours. */
	now = have_path ? rcfs_mount_id(abs) : -1;
	if (mount_id >= 0 && now >= 0 && now != mount_id)
		rcfs_log(d->log_level, RCFS_LOG_INFO,
			 "%s was taken over by another mount: leaving it alone", o->mountpoint);
	else if (mp->is_link && now == mount_id && connected(se))
		unmount_link(d, abs);
	if (mp->is_link || (mount_id >= 0 && now != mount_id))
		sever_session_fd(se);
	fuse_session_unmount(se); /* frees the session's copy of the mountpoint in any case */
err_signals:
	fuse_remove_signal_handlers(se);
err_session:
	fuse_session_destroy(se);
err_args:
	fuse_opt_free_args(&args);
	rcfs_reporter_stop(d, reporter);
	if (d->log_level >= RCFS_LOG_DEBUG)
		rcfs_reporter_print(d);
	return ret;
}

int main(int argc, char **argv)
{
	struct rcfs_mountpoint mp = { .fd = -1 };
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
	if (rcfs_startup_mountpoint(opts.mountpoint, opts.takeover, &earlier) ||
	    rcfs_startup_context(&daemon, &opts.cfg))
		goto out_opts;
	if ((earlier && rcfs_startup_takeover(opts.mountpoint)) ||
	    rcfs_startup_cover(&daemon, &opts, &mp) || rcfs_startup_prepare(&daemon, &opts) ||
	    check_link_opts(&opts, &mp))
		goto out_ctx;
	ret = serve(&daemon, &opts, &mp, argv[0]);
out_ctx:
	rcfs_mountpoint_close(&mp);
	rcfs_ctx_fini(&daemon.ctx);
out_opts:
	rcfs_options_free(&opts);
	return ret;
}
