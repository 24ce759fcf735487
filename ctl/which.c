/* resolvconffs-ctl which: the one file the daemon serves a process or thread, decided by the
 * same core functions the daemon calls for a request of that caller (target.h, owner.h,
 * host.h), so the answer cannot drift from what the daemon does. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl.h"
#include "../core/host.h"
#include "../core/io.h"
#include "../core/nsid.h"
#include "../core/owner.h"
#include "../core/statat.h"
#include "../core/target.h"

struct which {
	const struct ctl_opts *o;
	struct rcfs_ctx ctx;
	struct rcfs_caller caller;
	uint64_t key;
	struct rcfs_target t;
	char backing[PATH_MAX];  /* the backing directory, resolved */
	char mnt[PATH_MAX];      /* --host-original's mountpoint as mounted, once looked at */
};

/* One fact of -v's explanation, on stderr. */
static void __attribute__((format(printf, 2, 3))) say(const struct which *w, const char *fmt, ...)
{
	va_list ap;

	if (!w->o->verbose)
		return;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static int resolve_caller(struct which *w)
{
	char text[48];
	int ret = ctl_resolve_pid(&w->ctx, w->o->pid, &w->caller, &w->key);

	if (!ret)
		say(w, "key: %s", ctl_key_text(&w->ctx, w->key, text, sizeof(text)));
	return ret;
}

static void say_name(const struct which *w)
{
	char name[NAME_MAX + 1];

	if (w->ctx.names && rcfs_names_lookup(w->ctx.names, w->key, name, sizeof(name)) == 0)
		say(w, "name: %s", name);
}

/* --host-original applies as in the daemon (host.h): to its own namespace (taken to be ours)
 * while that has no id-named file. Only then is the mount looked beneath. */
static int host_original(struct which *w, char id_path[PATH_MAX])
{
	struct stat st;
	int fd, ret;

	if (!w->o->host_mountpoint || w->key != w->ctx.own_key_ns || !w->t.recyclable ||
	    rcfs_lstatat(&w->ctx, w->t.dirfd, w->t.name, &st) != -ENOENT)
		return 0;
	ctl_join(w->backing, w->t.name, id_path);
	fd = ctl_open_beneath(w->o->host_mountpoint, w->mnt);
	if (fd < 0)
		return -fd;
	ret = rcfs_host_init(&w->ctx, fd, w->mnt);
	close(fd);
	if (!ret)
		ret = rcfs_target_of_key(&w->ctx, w->key, &w->caller, &w->t);
	return ret ? ctl_fail(CTL_FAILED, "--host-original: %s: %s", w->o->host_mountpoint,
			      strerror(-ret)) : 0;
}

/* A path whose file is missing (a link to a file its manager has not written yet): its
 * directory resolved where it exists, else the path as it is. */
static void resolve_dir(const char *path, char out[PATH_MAX])
{
	char dir[PATH_MAX], real[PATH_MAX];
	const char *slash = strrchr(path, '/');

	snprintf(out, PATH_MAX, "%s", path);
	if (!slash || slash == path)
		return;
	snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	if (realpath(dir, real))
		ctl_join(real, slash + 1, out);
}

/* The file beneath the mount: for a symlink, the file its text leads to now, resolved. */
static int report_host(const struct which *w, const char *id_path)
{
	char dir[PATH_MAX], path[PATH_MAX], real[PATH_MAX];
	struct stat st;
	int ret;

	if (w->ctx.host_dirfd == AT_FDCWD) {
		snprintf(path, sizeof(path), "%s", w->mnt);
	} else {
		snprintf(dir, sizeof(dir), "%s", w->mnt);
		*(strrchr(dir, '/') == dir ? dir + 1 : strrchr(dir, '/')) = '\0';
		ctl_join(dir, w->ctx.host_name, real);
		if (!realpath(real, path))
			resolve_dir(real, path);
	}
	say(w, "file: %s (missing: the host original is served)", id_path);
	say(w, "host original: %s -> %s", w->mnt, path);
	puts(path);
	ret = rcfs_statat(&w->ctx, w->t.dirfd, w->t.name, &st);
	if (!ret)
		ret = rcfs_regular(&st);
	if (ret == -ENOENT)
		return ctl_fail(CTL_FAILED, "%s does not exist: the process gets ENOENT", path);
	if (ret)
		return ctl_fail(CTL_FAILED, "%s cannot be served: the process gets %s", path,
				strerrorname_np(-ret));
	return 0;
}

/* A recycled id: a file recorded for an earlier namespace is moved aside at the next open
 * (stale.h) and the process is served what a missing file gives. */
static int stale(const struct which *w, const char *path)
{
	uint64_t recorded, current;
	int fd, ret = 0;

	if (!w->ctx.nsid || !w->t.recyclable)
		return 0;
	fd = rcfs_openat(&w->ctx, w->t.dirfd, w->t.name, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return 0;
	if (rcfs_nsid_recorded(fd, &recorded) == 0 &&
	    rcfs_nsid_of(&w->ctx, &w->caller, &current) == 0 && recorded != current) {
		say(w, "stale: %s was made for an earlier namespace with this id (unique id %" PRIu64
		    ", this one's %" PRIu64 "): the daemon moves it aside at the next open",
		    path, recorded, current);
		ret = 1;
	}
	close(fd);
	return ret;
}

static int report_missing(const struct which *w, const char *path)
{
	const char *tmpl = w->ctx.template_path;

	if (!w->t.creatable) {
		say(w, "file: %s (missing)", path);
		puts(path);
		return ctl_fail(CTL_FAILED, "%s does not exist: the process gets ENOENT", path);
	}
	if (!tmpl) {
		say(w, "file: %s (missing: no template)", path);
		puts(path);
		return ctl_fail(CTL_FAILED, "%s does not exist and no template (-d) given: the process "
				"gets ENOENT", path);
	}
	if (rcfs_owner_may_create(&w->ctx, &w->caller, w->key) > 0) {
		say(w, "file: %s (missing: created from %s on first access)", path, tmpl);
		puts(path);
	} else {
		say(w, "file: %s (missing: template view, read-only)", path);
		puts(tmpl);
	}
	return 0;
}

static int report(const struct which *w)
{
	char path[PATH_MAX], etc[PATH_MAX];
	struct stat st;
	int ret;

	if (w->t.dirfd == w->ctx.etc_fd) {
		ctl_real_dir(w->o->cfg.etc_netns_dir, etc);
		ctl_join(etc, w->t.name, path);
		say(w, "/etc/netns file: %s", path);
	} else {
		ctl_join(w->backing, w->t.name, path);
	}
	ret = rcfs_statat(&w->ctx, w->t.dirfd, w->t.name, &st);
	if (ret == -ENOENT && rcfs_lstatat(&w->ctx, w->t.dirfd, w->t.name, &st) == 0) {
		say(w, "file: %s (a symlink to a missing file)", path);
		puts(path);
		return ctl_fail(CTL_FAILED, "%s is a symlink to a missing file: the process gets ENOENT",
				path);
	}
	if (ret == -ENOENT || (!ret && stale(w, path)))
		return report_missing(w, path);
	if (!ret)
		ret = rcfs_regular(&st);
	if (!ret && w->ctx.tmpl_ino && st.st_ino == w->ctx.tmpl_ino && st.st_dev == w->ctx.tmpl_dev)
		ret = -EPERM; /* the template is never a namespace's file */
	say(w, "file: %s (%s)", path, ret ? "exists, cannot be served" : "exists");
	puts(path);
	return ret ? ctl_fail(CTL_FAILED, "%s cannot be served: the process gets %s", path,
			      strerrorname_np(-ret)) : 0;
}

static int which(struct which *w)
{
	char id_path[PATH_MAX];
	int ret = resolve_caller(w);

	if (ret)
		return ret;
	say_name(w);
	ret = rcfs_target_of_key(&w->ctx, w->key, &w->caller, &w->t);
	if (ret)
		return ctl_fail(CTL_FAILED, "--pid %s: %s", w->o->pid, strerror(-ret));
	ret = host_original(w, id_path);
	if (ret)
		return ret;
	return w->t.host ? report_host(w, id_path) : report(w);
}

int ctl_which(const struct ctl_opts *o)
{
	struct which w = { .o = o };
	struct rcfs_config cfg = o->cfg;
	const char *mnt = o->host_mountpoint ? o->host_mountpoint : "/etc/resolv.conf";
	int ret;

	/* --etc-netns looks for DIR/NAME/<the mountpoint's file name>, as the daemon does. */
	cfg.mount_basename = strrchr(mnt, '/') ? strrchr(mnt, '/') + 1 : mnt;
	ret = ctl_ctx_init(&w.ctx, &cfg);
	if (ret)
		return ret;
	if (o->host_mountpoint && w.ctx.key_source != RCFS_KEY_NS)
		ret = ctl_fail(CTL_USAGE, "--host-original needs a namespace key (-k), to know the "
			       "daemon's own namespace");
	if (!ret) {
		ctl_real_dir(o->cfg.backing_dir, w.backing);
		ret = which(&w);
	}
	rcfs_ctx_fini(&w.ctx);
	return ret;
}
