#include "context.h"
#include "filter.h"
#include "nslink.h"
#include "nsid.h"
#include "host.h"
#include "tview.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include <unistd.h>

static int fail_why(struct rcfs_init_error *err, const char *what, const char *arg, const char *why,
		    int ret)
{
	if (err) {
		err->what = what;
		err->arg = arg;
		err->why = why;
	}
	return ret;
}

static int fail(struct rcfs_init_error *err, const char *what, const char *arg, int ret)
{
	return fail_why(err, what, arg, NULL, ret);
}

static int set_extension(struct rcfs_ctx *ctx, const char *ext)
{
	size_t len = strlen(ext);

	/* The extension becomes part of a file name: a slash would escape the backing directory. */
	if (strchr(ext, '/'))
		return -EINVAL;
	if (len > RCFS_EXT_MAX)
		return -ENAMETOOLONG;
	memcpy(ctx->ext, ext, len + 1);
	return 0;
}

/* When the template lies in the backing directory (the shipped unit's template.conf), remember
 * its name there: no namespace name may make that its file. */
static void template_base(struct rcfs_ctx *ctx)
{
	const char *slash = strrchr(ctx->template_path, '/');
	char dir[PATH_MAX];
	struct stat d, b;

	if ((size_t)(slash - ctx->template_path) >= sizeof(dir) || strlen(slash + 1) > NAME_MAX)
		return;
	memcpy(dir, ctx->template_path, (size_t)(slash - ctx->template_path));
	dir[slash - ctx->template_path] = '\0';
	if (stat(dir[0] ? dir : "/", &d) == 0 && fstat(ctx->backing_fd, &b) == 0 &&
	    d.st_dev == b.st_dev && d.st_ino == b.st_ino)
		strcpy(ctx->tmpl_base, slash + 1);
}

/* The template is re-opened by path whenever a file is created, so that replacing or restoring
 * it takes effect without a restart; store it absolute so a later chdir cannot change it. */
static int set_template(struct rcfs_ctx *ctx, const char *path)
{
	struct stat st;
	char cwd[PATH_MAX];
	int fd, ret = 0;

	/* O_NONBLOCK: a FIFO in the template's place must not hang startup. */
	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		ret = -errno;
	else if (S_ISDIR(st.st_mode))
		ret = -EISDIR;
	else if (!S_ISREG(st.st_mode))
		ret = -EINVAL;
	else if (st.st_size > ctx->max_size)
		ret = -EFBIG;
	close(fd);
	if (ret)
		return ret;

	ctx->tmpl_dev = st.st_dev;
	ctx->tmpl_ino = st.st_ino;
	if (path[0] == '/') {
		ctx->template_path = strdup(path);
	} else {
		if (!getcwd(cwd, sizeof(cwd)))
			return -errno;
		if (asprintf(&ctx->template_path, "%s/%s", cwd, path) < 0)
			ctx->template_path = NULL;
	}
	if (!ctx->template_path)
		return -ENOMEM;
	template_base(ctx);
	return 0;
}

/* One of our own namespace ids; 0 (matching no caller) if unknown. */
static uint64_t own_ns(const char *kind)
{
	char path[32], link[RCFS_NSLINK_MAX];
	ssize_t len;
	uint64_t id = 0;

	snprintf(path, sizeof(path), "/proc/self/ns/%s", kind);
	len = readlink(path, link, sizeof(link));
	if (len > 0 && (size_t)len < sizeof(link))
		rcfs_nslink_parse(link, (size_t)len, kind, &id);
	return id;
}

static int set_filter(struct rcfs_ctx *ctx, const struct rcfs_config *cfg, struct rcfs_init_error *err)
{
	for (size_t i = 0; i < cfg->n_fallbacks; i++)
		if (!rcfs_filter_valid_address(cfg->fallbacks[i]))
			return fail_why(err, "fallback nameserver", cfg->fallbacks[i],
					"not an IPv4 or IPv6 address", -EINVAL);
	if (!cfg->filter_loopback)
		return cfg->n_fallbacks ?
		       fail_why(err, "fallback nameserver", cfg->fallbacks[0],
				"only used with --filter-loopback", -EINVAL) : 0;
	if (ctx->key_source != RCFS_KEY_NS || strcmp(ctx->ns_kind, "net"))
		return fail_why(err, "key", cfg->key_kind,
				"--filter-loopback applies to network namespace keys only", -EINVAL);
	ctx->fallbacks = calloc(cfg->n_fallbacks + 1, sizeof(*ctx->fallbacks));
	if (!ctx->fallbacks)
		return fail(err, "fallback nameserver", "", -ENOMEM);
	for (size_t i = 0; i < cfg->n_fallbacks; i++) {
		ctx->fallbacks[i] = strdup(cfg->fallbacks[i]);
		if (!ctx->fallbacks[i])
			return fail(err, "fallback nameserver", cfg->fallbacks[i], -ENOMEM);
		ctx->n_fallbacks++;
	}
	ctx->filter_loopback = 1;
	ctx->own_net_ns = own_ns("net");
	return 0;
}

static const char *const ns_kinds[] = { "net", "mnt", "uts", "ipc", "user", "pid", "cgroup", "time" };

static int set_key_kind(struct rcfs_ctx *ctx, const char *kind)
{
	if (!strcmp(kind, "uid") || !strcmp(kind, "gid")) {
		ctx->key_source = kind[0] == 'u' ? RCFS_KEY_UID : RCFS_KEY_GID;
		ctx->ns_kind = "net"; /* still what the procfs check looks for */
		return 0;
	}
	for (size_t i = 0; i < sizeof(ns_kinds) / sizeof(ns_kinds[0]); i++) {
		if (!strcmp(kind, ns_kinds[i])) {
			ctx->key_source = RCFS_KEY_NS;
			ctx->ns_kind = ns_kinds[i];
			return 0;
		}
	}
	return -EINVAL;
}

static void names_warning(void *arg, const char *dir, const char *name)
{
	struct rcfs_ctx *ctx = arg;

	if (ctx->warn)
		ctx->warn(ctx->warn_arg, "ignoring namespace name '%s' in %s: not a safe file name",
			  name, dir);
}

/* Names and the /etc/netns layout: both need the name map; the layout also its own directory
 * and the file name to look for there. */
static int set_names(struct rcfs_ctx *ctx, const struct rcfs_config *cfg, struct rcfs_init_error *err)
{
	const char *dir = cfg->names_dir ? cfg->names_dir : "/run/netns";
	int ret;

	if (!cfg->names_dir && !cfg->etc_netns_dir)
		return 0;
	if (ctx->key_source != RCFS_KEY_NS || strcmp(ctx->ns_kind, "net"))
		return fail_why(err, "key", cfg->key_kind, "names (ip netns) exist for network namespaces only",
				-EINVAL);
	if (dir[0] != '/')
		return fail_why(err, "names directory", dir, "must be an absolute path", -EINVAL);
	ctx->names = malloc(sizeof(*ctx->names));
	if (!ctx->names)
		return fail(err, "names directory", dir, -ENOMEM);
	ret = rcfs_names_init(ctx->names, dir, names_warning, ctx);
	if (ret) {
		free(ctx->names);
		ctx->names = NULL;
		return fail(err, "names directory", dir, ret);
	}
	if (!cfg->etc_netns_dir)
		return 0;
	if (!cfg->mount_basename || !rcfs_names_safe(cfg->mount_basename) ||
	    strlen(cfg->mount_basename) > NAME_MAX)
		return fail_why(err, "mountpoint", cfg->mount_basename ? cfg->mount_basename : "",
				"has no usable file name for the /etc/netns layout", -EINVAL);
	strcpy(ctx->etc_base, cfg->mount_basename);
	ctx->etc_fd = open(cfg->etc_netns_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (ctx->etc_fd < 0)
		return fail(err, "etc-netns directory", cfg->etc_netns_dir, -errno);
	return 0;
}

static int is_procfs(int fd)
{
	struct statfs sfs;

	return fstatfs(fd, &sfs) == 0 && sfs.f_type == PROC_SUPER_MAGIC;
}

/* The template view and the size lock, which every request path may need. */
static int set_locks(struct rcfs_ctx *ctx, struct rcfs_init_error *err)
{
	int e = rcfs_tview_init(ctx);

	if (e)
		return fail(err, "default file", "", e);
	ctx->size_lock = malloc(sizeof(*ctx->size_lock));
	if (!ctx->size_lock)
		return fail(err, "size limit", "", -ENOMEM);
	e = pthread_mutex_init(ctx->size_lock, NULL);
	if (e) {
		free(ctx->size_lock);
		ctx->size_lock = NULL;
		return fail(err, "size limit", "", -e);
	}
	return 0;
}

/* Unique ids only matter for namespace keys; probe the kernel once. */
static int set_nsid(struct rcfs_ctx *ctx, const struct rcfs_config *cfg, struct rcfs_init_error *err)
{
	int e;

	if (cfg->no_nsid || ctx->key_source != RCFS_KEY_NS || !rcfs_nsid_supported())
		return 0;
	ctx->stale_lock = malloc(sizeof(*ctx->stale_lock));
	if (!ctx->stale_lock)
		return fail(err, "namespace ids", "", -ENOMEM);
	e = pthread_mutex_init(ctx->stale_lock, NULL);
	if (e) {
		free(ctx->stale_lock);
		ctx->stale_lock = NULL;
		return fail(err, "namespace ids", "", -e);
	}
	ctx->nsid = 1;
	return 0;
}

int rcfs_ctx_init(struct rcfs_ctx *ctx, const struct rcfs_config *cfg, struct rcfs_init_error *err)
{
	const char *procfs = cfg->procfs ? cfg->procfs : "/proc";
	const char *ext = cfg->extension ? cfg->extension : "conf";
	int ret;

	memset(ctx, 0, sizeof(*ctx));
	ctx->procfs_fd = -1;
	ctx->backing_fd = -1;
	ctx->etc_fd = -1;
	ctx->host_fd = -1;
	ctx->host_dirfd = -1;
	ctx->max_size = cfg->max_size > 0 ? (off_t)cfg->max_size : RCFS_MAX_SIZE_DEFAULT;
	ctx->user_ns = own_ns("user");
	ctx->warn = cfg->warn;
	ctx->warn_arg = cfg->warn_arg;

	ret = set_extension(ctx, ext);
	if (ret)
		return fail_why(err, "extension", ext, ret == -EINVAL ? "must not contain '/'" : NULL, ret);
	if (set_key_kind(ctx, cfg->key_kind ? cfg->key_kind : "net"))
		return fail_why(err, "key", cfg->key_kind,
				"must be one of net, mnt, uts, ipc, user, pid, cgroup, time, uid, gid", -EINVAL);
	if (!cfg->backing_dir)
		return fail(err, "backing directory", "", -EINVAL);
	ctx->backing_fd = open(cfg->backing_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ctx->backing_fd < 0)
		return fail(err, "backing directory", cfg->backing_dir, -errno);
	ctx->procfs_fd = open(procfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (ctx->procfs_fd < 0) {
		ret = fail(err, "procfs", procfs, -errno);
		goto out_backing;
	}
	ctx->real_procfs = is_procfs(ctx->procfs_fd);
	ctx->own_key_ns = ctx->key_source == RCFS_KEY_NS ? own_ns(ctx->ns_kind) : 0;
	if (cfg->template_path) {
		ret = set_template(ctx, cfg->template_path);
		if (ret) {
			fail(err, "default file", cfg->template_path, ret);
			goto out_procfs;
		}
	}
	ret = set_names(ctx, cfg, err);
	if (!ret)
		ret = set_filter(ctx, cfg, err);
	if (!ret)
		ret = set_nsid(ctx, cfg, err);
	if (!ret)
		ret = set_locks(ctx, err);
	if (ret)
		goto out_names;
	return 0;

out_names:
	rcfs_ctx_fini(ctx);
	return ret;
out_procfs:
	close(ctx->procfs_fd);
	ctx->procfs_fd = -1;
out_backing:
	close(ctx->backing_fd);
	ctx->backing_fd = -1;
	return ret;
}

void rcfs_ctx_fini(struct rcfs_ctx *ctx)
{
	rcfs_host_fini(ctx);
	rcfs_tview_fini(ctx);
	if (ctx->size_lock) {
		pthread_mutex_destroy(ctx->size_lock);
		free(ctx->size_lock);
		ctx->size_lock = NULL;
	}
	if (ctx->names) {
		rcfs_names_fini(ctx->names);
		free(ctx->names);
		ctx->names = NULL;
	}
	if (ctx->stale_lock) {
		pthread_mutex_destroy(ctx->stale_lock);
		free(ctx->stale_lock);
		ctx->stale_lock = NULL;
		ctx->nsid = 0;
	}
	for (size_t i = 0; i < ctx->n_fallbacks; i++)
		free(ctx->fallbacks[i]);
	free(ctx->fallbacks);
	ctx->fallbacks = NULL;
	ctx->n_fallbacks = 0;
	if (ctx->etc_fd >= 0)
		close(ctx->etc_fd);
	ctx->etc_fd = -1;
	if (ctx->procfs_fd >= 0)
		close(ctx->procfs_fd);
	if (ctx->backing_fd >= 0)
		close(ctx->backing_fd);
	free(ctx->template_path);
	ctx->procfs_fd = -1;
	ctx->backing_fd = -1;
	ctx->template_path = NULL;
}

static int has_nslink(const struct rcfs_ctx *ctx, const char *pid)
{
	char path[64], link[RCFS_NSLINK_MAX];

	if ((size_t)snprintf(path, sizeof(path), "%s/ns/%s", pid, ctx->ns_kind) >= sizeof(path))
		return 0;
	return readlinkat(ctx->procfs_fd, path, link, sizeof(link)) > 0;
}

static int is_pid_name(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return 0;
	return 1;
}

int rcfs_ctx_check_procfs(const struct rcfs_ctx *ctx)
{
	char self[24];
	struct dirent *de;
	DIR *dir;
	int fd, found = 0, entries = 0;

	snprintf(self, sizeof(self), "%ld", (long)getpid());
	if (has_nslink(ctx, self))
		return 0;

	/* A fake tree need not contain our own pid: any readable link shows it is a procfs layout. */
	fd = openat(ctx->procfs_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	dir = fdopendir(fd);
	if (!dir) {
		close(fd);
		return -errno;
	}
	while (!found && (de = readdir(dir))) {
		entries += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
		found = is_pid_name(de->d_name) && has_nslink(ctx, de->d_name);
	}
	closedir(dir);
	if (found)
		return 0;
	/* A fake tree may be filled as processes appear: empty at start is a layout, not a fault. */
	return entries || ctx->real_procfs ? -ENOENT : 1;
}
