/* Naming a namespace on resolvconffs-ctl's command line: by a process or thread, by an ip-netns
 * name, or by its key; and its unique id, recorded on the files set makes. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <linux/magic.h>
#include <linux/nsfs.h>

#include "ctl.h"
#include "../core/nsid.h"

int ctl_parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		unsigned d = (unsigned char)*s - '0';

		if (d > 9 || v > (UINT64_MAX - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

/* The 4th field (filesystem id) of the "Uid:" or "Gid:" line: what FUSE reports for a request. */
static int status_id(const char *text, const char *field, unsigned long *id)
{
	const char *line = strstr(text, field);
	unsigned long real, eff, saved;

	if (!line || sscanf(line + strlen(field), "%lu %lu %lu %lu", &real, &eff, &saved, id) != 4)
		return -EINVAL;
	return 0;
}

static int read_credentials(const struct rcfs_ctx *ctx, struct rcfs_caller *caller)
{
	char path[48], text[4096];
	unsigned long uid, gid;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%d/status", (int)caller->pid);
	fd = openat(ctx->procfs_fd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n < 0)
		return errno == ESRCH ? -ESRCH : -EIO;
	text[n] = '\0';
	if (status_id(text, "\nUid:", &uid) || status_id(text, "\nGid:", &gid))
		return -EINVAL;
	caller->uid = (uid_t)uid;
	caller->gid = (gid_t)gid;
	return 0;
}

/* The caller as FUSE would report it: pid, and for uid and gid keys its filesystem ids. Returns
 * 0, -EINVAL for text that is no pid (caller->pid stays 0), -ESRCH, or another negative errno. */
static int ctl_caller(const struct rcfs_ctx *ctx, const char *pid, struct rcfs_caller *caller)
{
	uint64_t v;

	memset(caller, 0, sizeof(*caller));
	if (ctl_parse_u64(pid, &v) || v == 0 || v > INT_MAX)
		return -EINVAL;
	caller->pid = (pid_t)v;
	return ctx->key_source == RCFS_KEY_NS ? 0 : read_credentials(ctx, caller);
}

int ctl_resolve_pid(const struct rcfs_ctx *ctx, const char *pid, struct rcfs_caller *caller,
		    uint64_t *key)
{
	int ret = ctl_caller(ctx, pid, caller);

	if (ret == -EINVAL && !caller->pid)
		return ctl_fail(CTL_USAGE, "--pid '%s': not a process id", pid);
	if (!ret)
		ret = rcfs_key_resolve(ctx, caller, key);
	if (ret == -ESRCH)
		return ctl_fail(CTL_FAILED, "--pid %s: no such process or thread", pid);
	if (ret == -EINVAL)
		return ctl_fail(CTL_FAILED, "--pid %s: its %s link is not a namespace link", pid,
				ctx->ns_kind);
	return ret ? ctl_fail(CTL_FAILED, "--pid %s: %s", pid, strerror(-ret)) : 0;
}

const char *ctl_key_text(const struct rcfs_ctx *ctx, uint64_t key, char *buf, size_t size)
{
	if (ctx->key_source == RCFS_KEY_NS)
		snprintf(buf, size, "%s:[%" PRIu64 "]", ctx->ns_kind, key);
	else
		snprintf(buf, size, "%s %" PRIu64, ctx->key_source == RCFS_KEY_UID ? "uid" : "gid",
			 key);
	return buf;
}

uint64_t ctl_nsid_of_fd(const struct rcfs_ctx *ctx, int fd)
{
	uint64_t id;

	return ctx->nsid && rcfs_nsid_of_fd(fd, &id) == 0 ? id : 0;
}

uint64_t ctl_nsid_of_pid(const struct rcfs_ctx *ctx, pid_t pid, uint64_t key)
{
	char path[48];
	struct stat st;
	uint64_t id = 0;
	int fd;

	if (!ctx->nsid)
		return 0;
	snprintf(path, sizeof(path), "%d/ns/%s", (int)pid, ctx->ns_kind);
	fd = openat(ctx->procfs_fd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0; /* a fake procfs: its links point nowhere */
	if (fstat(fd, &st) == 0 && (uint64_t)st.st_ino == key)
		id = ctl_nsid_of_fd(ctx, fd);
	close(fd);
	return id;
}

static const struct {
	const char *kind;
	int type;
} ns_types[] = {
	{ "net", CLONE_NEWNET }, { "mnt", CLONE_NEWNS }, { "uts", CLONE_NEWUTS },
	{ "ipc", CLONE_NEWIPC }, { "user", CLONE_NEWUSER }, { "pid", CLONE_NEWPID },
	{ "cgroup", CLONE_NEWCGROUP }, { "time", CLONE_NEWTIME },
};

static const char *kind_of_type(int type)
{
	for (size_t i = 0; i < sizeof(ns_types) / sizeof(ns_types[0]); i++)
		if (ns_types[i].type == type)
			return ns_types[i].kind;
	return "unknown";
}

/* Whether fd is a namespace file of ctx's kind: on nsfs, and NS_GET_NSTYPE says that kind. */
static int check_ns_kind(const struct rcfs_ctx *ctx, int fd, const char *path)
{
	struct statfs sfs;
	int type;

	if (fstatfs(fd, &sfs) < 0)
		return -ctl_fail(CTL_FAILED, "--netns: %s: %s", path, strerror(errno));
	if (sfs.f_type != NSFS_MAGIC)
		return -ctl_fail(CTL_FAILED, "--netns: %s is not a namespace (no ip netns name)", path);
	type = ioctl(fd, NS_GET_NSTYPE);
	if (type < 0)
		return -ctl_fail(CTL_FAILED, "--netns: %s: NS_GET_NSTYPE: %s", path, strerror(errno));
	if (strcmp(kind_of_type(type), ctx->ns_kind))
		return -ctl_fail(CTL_FAILED, "--netns: %s is a %s namespace, not %s (-k)", path,
				 kind_of_type(type), ctx->ns_kind);
	return 0;
}

int ctl_open_named_ns(const struct rcfs_ctx *ctx, const char *dir, const char *name,
		      uint64_t *key)
{
	char path[PATH_MAX];
	struct stat st;
	int fd, ret;

	if (ctx->key_source != RCFS_KEY_NS)
		return -ctl_fail(CTL_USAGE, "--netns needs a namespace key (-k), not %s",
				 ctx->key_source == RCFS_KEY_UID ? "uid" : "gid");
	if (!*name || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, ".."))
		return -ctl_fail(CTL_USAGE, "--netns '%s': not a namespace name", name);
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
		return -ctl_fail(CTL_USAGE, "--netns '%s': name too long", name);
	/* Namespace files are regular files of nsfs: anything else (a FIFO, a device) is never
	 * opened, so naming one cannot block or disturb it. */
	if (stat(path, &st) < 0)
		return -ctl_fail(CTL_FAILED, "--netns: %s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return -ctl_fail(CTL_FAILED, "--netns: %s is not a namespace (no ip netns name)", path);
	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -ctl_fail(CTL_FAILED, "--netns: %s: %s", path, strerror(errno));
	ret = check_ns_kind(ctx, fd, path);
	if (!ret && fstat(fd, &st) < 0)
		ret = -ctl_fail(CTL_FAILED, "--netns: %s: %s", path, strerror(errno));
	if (ret) {
		close(fd);
		return ret;
	}
	*key = (uint64_t)st.st_ino;
	return fd;
}

void ctl_real_dir(const char *dir, char out[PATH_MAX])
{
	if (!realpath(dir, out))
		snprintf(out, PATH_MAX, "%s", dir);
}

void ctl_join(const char *dir, const char *name, char out[PATH_MAX])
{
	if (name[0] == '/')
		snprintf(out, PATH_MAX, "%s", name);
	else
		snprintf(out, PATH_MAX, "%s%s%s", dir, strcmp(dir, "/") ? "/" : "", name);
}
