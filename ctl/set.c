/* resolvconffs-ctl set: replace one namespace's file with what stdin holds. The new content is
 * written to an unnamed file in the backing directory, synced, and renamed over the old name:
 * the daemon opens the backing file once per open(2) of the mount and reads through that
 * descriptor, so a reader sees the whole old file or the whole new one, never a mix. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl.h"
#include "../core/backing.h"
#include "../core/nsid.h"
#include "../core/target.h"

/* The temporary name a replacement has between link and rename: hidden, and never an id. */
#define TMP_PREFIX ".resolvconffs-ctl."
#define TMP_SIZE (sizeof(TMP_PREFIX) + 6)

/* What the new file gets: the replaced file's owner and mode, or root's and the template's. */
struct new_file {
	uid_t uid;
	gid_t gid;
	int chown;      /* give it uid and gid (not when a non-root ctl makes a new file) */
	mode_t mode;
	uint64_t nsid;  /* recorded on it (nsid.h), as the daemon does on its copies; 0: none */
};

/* The key and, when the namespace itself is known (--pid, --netns), its unique id. */
static int resolve_key(const struct ctl_opts *o, const struct rcfs_ctx *ctx, uint64_t *key,
		       uint64_t *nsid)
{
	int fd;

	*nsid = 0;
	if (o->id)
		return ctl_parse_u64(o->id, key) ?
		       ctl_fail(CTL_USAGE, "--id '%s': not a key (decimal digits only)", o->id) : 0;
	if (!o->netns) {
		struct rcfs_caller caller;
		int ret = ctl_resolve_pid(ctx, o->pid, &caller, key);

		if (!ret)
			*nsid = ctl_nsid_of_pid(ctx, caller.pid, *key);
		return ret;
	}
	fd = ctl_open_named_ns(ctx, o->cfg.names_dir ? o->cfg.names_dir : "/run/netns", o->netns,
			       key);
	if (fd < 0)
		return -fd;
	*nsid = ctl_nsid_of_fd(ctx, fd);
	close(fd);
	return 0;
}

/* The owner and mode the new file gets from the file it replaces, or for a file that does not
 * exist yet root's (the caller's own when not root) and the template's mode, else 0644. */
static int old_file(const struct rcfs_ctx *ctx, const struct rcfs_target *t, const char *shown,
		    struct new_file *nf)
{
	struct stat st;

	if (fstatat(t->dirfd, t->name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (S_ISLNK(st.st_mode))
			return ctl_fail(CTL_FAILED, "%s is a symlink: not replaced", shown);
		if (!S_ISREG(st.st_mode))
			return ctl_fail(CTL_FAILED, "%s is not a regular file: not replaced", shown);
		if (ctx->tmpl_ino && st.st_ino == ctx->tmpl_ino && st.st_dev == ctx->tmpl_dev)
			return ctl_fail(CTL_FAILED, "%s is the template (-d): not replaced", shown);
		*nf = (struct new_file){ .uid = st.st_uid, .gid = st.st_gid, .chown = 1,
					 .mode = st.st_mode & 07777, .nsid = nf->nsid };
		return 0;
	}
	if (errno != ENOENT)
		return ctl_fail(CTL_FAILED, "%s: %s", shown, strerror(errno));
	*nf = (struct new_file){ .chown = geteuid() == 0, .mode = 0644, .nsid = nf->nsid };
	if (ctx->template_path) {
		if (stat(ctx->template_path, &st) < 0)
			return ctl_fail(CTL_FAILED, "default file '%s': %s", ctx->template_path,
					strerror(errno));
		nf->mode = st.st_mode & 0777; /* as the daemon's copies of it */
	}
	return 0;
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Content, owner, mode and namespace record, all on disk before the file gets a name. */
static int fill(int fd, const char *buf, size_t len, const struct new_file *nf)
{
	struct stat st;
	int ret = write_all(fd, buf, len);

	if (!ret && fstat(fd, &st) < 0)
		ret = -errno;
	if (!ret && nf->chown && (st.st_uid != nf->uid || st.st_gid != nf->gid) &&
	    fchown(fd, nf->uid, nf->gid) < 0)
		ret = -errno;
	/* After fchown, which may clear set-id bits. */
	if (!ret && fchmod(fd, nf->mode) < 0)
		ret = -errno;
	if (!ret && nf->nsid)
		rcfs_nsid_record(fd, nf->nsid);
	if (!ret && fsync(fd) < 0)
		ret = -errno;
	return ret;
}

static void temp_name(char tmp[TMP_SIZE])
{
	static const char chars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	unsigned char rnd[6] = { 0 };

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		for (size_t i = 0; i < sizeof(rnd); i++)
			rnd[i] = (unsigned char)(getpid() >> i);
	memcpy(tmp, TMP_PREFIX, sizeof(TMP_PREFIX) - 1);
	for (size_t i = 0; i < sizeof(rnd); i++)
		tmp[sizeof(TMP_PREFIX) - 1 + i] = chars[rnd[i] % (sizeof(chars) - 1)];
	tmp[TMP_SIZE - 1] = '\0';
}

/* Give the unnamed file fd a temporary name. */
static int link_temp(int fd, int dirfd, char tmp[TMP_SIZE])
{
	int ret = -EEXIST;

	for (int tries = 0; tries < 8 && ret == -EEXIST; tries++) {
		temp_name(tmp);
		ret = rcfs_link_unnamed(fd, dirfd, tmp);
	}
	return ret;
}

/* For file systems without O_TMPFILE: the file is made under its temporary name. */
static int create_temp(int dirfd, char tmp[TMP_SIZE])
{
	int fd = -EEXIST;

	for (int tries = 0; tries < 8 && fd == -EEXIST; tries++) {
		temp_name(tmp);
		fd = openat(dirfd, tmp, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
		if (fd < 0)
			fd = -errno;
	}
	return fd;
}

/* While the new file has a temporary name, the signals that end a command line tool are held
 * back, so that no temporary name outlives an interrupted run; they are delivered afterwards. */
static void hold_signals(sigset_t *old)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGPIPE);
	sigaddset(&set, SIGQUIT);
	(void)sigprocmask(SIG_BLOCK, &set, old); /* fails only for a bad `how` */
}

/* Write the new file and rename it over dirfd/name; on any error nothing is left behind. */
static int replace(int dirfd, const char *name, const char *buf, size_t len,
		   const struct new_file *nf)
{
	char tmp[TMP_SIZE];
	sigset_t old;
	int fd, ret, named = 0;

	fd = openat(dirfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
	if (fd < 0 && errno != EOPNOTSUPP && errno != EISDIR)
		return -errno;
	if (fd >= 0) {
		ret = fill(fd, buf, len, nf);
		hold_signals(&old);
		if (!ret)
			ret = link_temp(fd, dirfd, tmp);
		named = !ret;
	} else {
		hold_signals(&old);
		fd = create_temp(dirfd, tmp);
		named = fd >= 0;
		ret = fd < 0 ? fd : fill(fd, buf, len, nf);
	}
	if (fd >= 0)
		close(fd);
	if (!ret && renameat(dirfd, tmp, dirfd, name) < 0)
		ret = -errno;
	if (ret && named)
		unlinkat(dirfd, tmp, 0);
	/* The rename itself is durable once the directory is synced. */
	if (!ret && fsync(dirfd) < 0)
		ret = -errno;
	(void)sigprocmask(SIG_SETMASK, &old, NULL);
	return ret;
}

static int set_file(const struct ctl_opts *o, const struct rcfs_ctx *ctx)
{
	struct new_file nf = { 0 };
	struct rcfs_target t;
	char dir[PATH_MAX], shown[PATH_MAX], *buf = NULL;
	uint64_t key;
	size_t len;
	int ret = resolve_key(o, ctx, &key, &nf.nsid);

	if (ret)
		return ret;
	ret = rcfs_target_of_key(ctx, key, NULL, &t);
	if (ret)
		return ctl_fail(CTL_FAILED, "no file name for key %" PRIu64 ": %s", key,
				strerror(-ret));
	if (!t.recyclable)
		nf.nsid = 0; /* as the daemon: only id-named files can be recycled */
	ctl_real_dir(o->cfg.backing_dir, dir);
	ctl_join(dir, t.name, shown);
	ret = rcfs_read_all(STDIN_FILENO, (size_t)ctx->max_size, &buf, &len);
	if (ret == -EFBIG)
		return ctl_fail(CTL_FAILED, "the new content is larger than %lld bytes: %s not "
				"replaced", (long long)ctx->max_size, shown);
	if (ret)
		return ctl_fail(CTL_FAILED, "reading stdin: %s", strerror(-ret));
	ret = old_file(ctx, &t, shown, &nf);
	if (!ret) {
		int err = replace(t.dirfd, t.name, buf, len, &nf);

		if (err == -EPERM && nf.chown)
			ret = ctl_fail(CTL_FAILED, "%s: cannot give the new file owner %u:%u: %s",
				       shown, (unsigned)nf.uid, (unsigned)nf.gid, strerror(-err));
		else if (err)
			ret = ctl_fail(CTL_FAILED, "%s: %s", shown, strerror(-err));
	}
	free(buf);
	if (!ret && o->verbose)
		printf("%s\n", shown);
	return ret;
}

int ctl_set(const struct ctl_opts *o)
{
	struct rcfs_ctx ctx;
	int ret = ctl_ctx_init(&ctx, &o->cfg);

	if (ret)
		return ret;
	ret = set_file(o, &ctx);
	rcfs_ctx_fini(&ctx);
	return ret;
}
