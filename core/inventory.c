#include "inventory.h"
#include "backing.h"
#include "names.h"
#include "nslink.h"
#include "statat.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int is_number(const char *s, size_t len, uint64_t *v)
{
	uint64_t n = 0;

	if (len == 0 || len > 20)
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned d = (unsigned char)s[i] - '0';

		if (d > 9 || n > (UINT64_MAX - d) / 10)
			return 0;
		n = n * 10 + d;
	}
	*v = n;
	return 1;
}

/* A directory stream for dirfd/path; NULL with *err set to -errno on failure. */
static DIR *open_dir(int dirfd, const char *path, int *err)
{
	int fd = openat(dirfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);

	if (!d) {
		*err = -errno;
		if (fd >= 0)
			close(fd);
	}
	return d;
}

/* Sorted by id, so lookups are binary searches. */
static struct rcfs_live_ns *live_find(struct rcfs_inventory *inv, uint64_t id, size_t *pos)
{
	size_t lo = 0, hi = inv->n_live;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (inv->live[mid].id == id)
			return &inv->live[mid];
		if (inv->live[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	*pos = lo;
	return NULL;
}

static struct rcfs_live_ns *live_get(struct rcfs_inventory *inv, uint64_t id, size_t *cap)
{
	struct rcfs_live_ns *ns;
	size_t pos;

	ns = live_find(inv, id, &pos);
	if (ns)
		return ns;
	if (inv->n_live == *cap) {
		size_t n = *cap ? *cap * 2 : 64;
		struct rcfs_live_ns *grown = realloc(inv->live, n * sizeof(*grown));

		if (!grown)
			return NULL;
		inv->live = grown;
		*cap = n;
	}
	memmove(&inv->live[pos + 1], &inv->live[pos], (inv->n_live - pos) * sizeof(*inv->live));
	inv->n_live++;
	ns = &inv->live[pos];
	memset(ns, 0, sizeof(*ns));
	ns->id = id;
	return ns;
}

static int read_ns(const struct rcfs_ctx *ctx, const char *path, uint64_t *id)
{
	char link[RCFS_NSLINK_MAX];
	ssize_t len = readlinkat(ctx->procfs_fd, path, link, sizeof(link));

	return len > 0 && (size_t)len < sizeof(link) &&
	       rcfs_nslink_parse(link, (size_t)len, ctx->ns_kind, id) == 0;
}

/* Every namespace one process's threads are in (a fake tree may have no task directory: then
 * the process's own link stands for all of them). Ids are counted once per process. */
static int scan_process(const struct rcfs_ctx *ctx, const char *pid, struct rcfs_inventory *inv,
			size_t *cap)
{
	char path[96];
	uint64_t seen[8], id;
	size_t nseen = 0;
	struct dirent *de;
	DIR *d;
	int ret;

	snprintf(path, sizeof(path), "%s/task", pid);
	d = open_dir(ctx->procfs_fd, path, &ret);
	if (!d) {
		snprintf(path, sizeof(path), "%s/ns/%s", pid, ctx->ns_kind);
		if (!read_ns(ctx, path, &id))
			return 0;
		struct rcfs_live_ns *ns = live_get(inv, id, cap);

		return ns ? (ns->procs++, 0) : -ENOMEM;
	}
	while ((de = readdir(d))) {
		size_t i;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/task/%.20s/ns/%s", pid, de->d_name, ctx->ns_kind);
		if (!read_ns(ctx, path, &id))
			continue;
		for (i = 0; i < nseen && seen[i] != id; i++)
			;
		if (i < nseen)
			continue;
		if (nseen < sizeof(seen) / sizeof(seen[0]))
			seen[nseen++] = id;
		struct rcfs_live_ns *ns = live_get(inv, id, cap);

		if (!ns) {
			closedir(d);
			return -ENOMEM;
		}
		ns->procs++;
	}
	closedir(d);
	return 0;
}

static int scan_procfs(const struct rcfs_ctx *ctx, struct rcfs_inventory *inv, size_t *cap)
{
	struct dirent *de;
	uint64_t pid;
	int ret = 0;
	DIR *d;

	d = open_dir(ctx->procfs_fd, ".", &ret);
	if (!d)
		return ret;
	while (!ret && (de = readdir(d)))
		if (is_number(de->d_name, strlen(de->d_name), &pid))
			ret = scan_process(ctx, de->d_name, inv, cap);
	closedir(d);
	return ret;
}

/* Entries are looked at from the kernel's cache (statat.h): the daemon's own mount may lie in
 * these directories, and its gc thread must never send it a request (at shutdown nobody would
 * answer). */
static int scan_names(const struct rcfs_ctx *ctx, const char *dir, struct rcfs_inventory *inv,
		      size_t *cap)
{
	char path[PATH_MAX];
	struct dirent *de;
	struct stat nsfs, st;
	DIR *d;

	if (!dir || stat("/proc/self/ns/net", &nsfs) < 0)
		return 0;
	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		struct rcfs_live_ns *ns;

		if (!rcfs_names_usable(de->d_name) ||
		    (size_t)snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= sizeof(path) ||
		    rcfs_statat(ctx, AT_FDCWD, path, &st) < 0 || st.st_dev != nsfs.st_dev)
			continue;
		ns = live_get(inv, (uint64_t)st.st_ino, cap);
		if (!ns) {
			closedir(d);
			return -ENOMEM;
		}
		snprintf(ns->name, sizeof(ns->name), "%s", de->d_name);
	}
	closedir(d);
	return 0;
}

/* Whether the first *len bytes of name end in .<ext> (always, with an empty extension); if so,
 * *len becomes the length before it. */
static int strip_ext(const struct rcfs_ctx *ctx, const char *name, size_t *len)
{
	size_t elen = strlen(ctx->ext);

	if (!elen)
		return 1;
	if (*len <= elen + 1 || name[*len - elen - 1] != '.' ||
	    memcmp(name + *len - elen, ctx->ext, elen))
		return 0;
	*len -= elen + 1;
	return 1;
}

/* Whether the first len bytes of name are an id-named file's name, <id>.<ext> (just <id> with an
 * empty extension); the id goes to *id. */
static int id_file(const struct rcfs_ctx *ctx, const char *name, size_t len, uint64_t *id)
{
	return strip_ext(ctx, name, &len) && is_number(name, len, id);
}

/* Whether name is what core/stale.c makes of an id-named file it moves aside:
 * <id>.<ext>.stale-<n> or <id>.<ext>.stale-<n>-<n>; the id goes to *id. Anything else with the
 * infix in it is not ours to remove (an admin's "notes.stale-backup"). */
static int stale_copy(const struct rcfs_ctx *ctx, const char *name, uint64_t *id)
{
	const size_t ilen = strlen(RCFS_STALE_INFIX);
	const char *p, *tail, *dash;
	uint64_t n;

	for (p = strstr(name, RCFS_STALE_INFIX); p; p = strstr(p + 1, RCFS_STALE_INFIX)) {
		tail = p + ilen;
		dash = strchr(tail, '-');
		if (!id_file(ctx, name, (size_t)(p - name), id))
			continue;
		if (dash ? is_number(tail, (size_t)(dash - tail), &n) &&
			   is_number(dash + 1, strlen(dash + 1), &n) :
			   is_number(tail, strlen(tail), &n))
			return 1;
	}
	return 0;
}

static void classify(const struct rcfs_ctx *ctx, struct rcfs_file *f)
{
	size_t len = strlen(f->file);

	f->kind = RCFS_FILE_OTHER;
	if (strstr(f->file, RCFS_STALE_INFIX)) {
		if (stale_copy(ctx, f->file, &f->id))
			f->kind = RCFS_FILE_STALE;
		return;
	}
	if (!strip_ext(ctx, f->file, &len))
		return;
	if (is_number(f->file, len, &f->id)) {
		f->kind = RCFS_FILE_ID;
		return;
	}
	memcpy(f->name, f->file, len);
	f->name[len] = '\0';
	if (rcfs_names_safe(f->name))
		f->kind = RCFS_FILE_NAMED;
}

/* The template may lie in the backing directory (the shipped unit's template.conf), under any
 * name, even an id-like one such as 0.conf: never a namespace's file, never garbage. Known by
 * its inode from startup, and by its name, which a template replaced since still has. */
static int is_template(const struct rcfs_ctx *ctx, const char *name, const struct stat *st)
{
	/* The inode known at startup, even once replaced: a hard link to it is left alone. */
	return (ctx->tmpl_ino && st->st_ino == ctx->tmpl_ino && st->st_dev == ctx->tmpl_dev) ||
	       (ctx->tmpl_base[0] && !strcmp(name, ctx->tmpl_base));
}

static int scan_files(const struct rcfs_ctx *ctx, struct rcfs_inventory *inv)
{
	size_t cap = 0;
	struct dirent *de;
	struct stat st;
	int ret;
	DIR *d;

	d = open_dir(ctx->backing_fd, ".", &ret);
	if (!d)
		return ret;
	while ((de = readdir(d))) {
		struct rcfs_file *f;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
		    rcfs_lstatat(ctx, ctx->backing_fd, de->d_name, &st) < 0 || S_ISDIR(st.st_mode))
			continue; /* also our own mount (the mountpoint in this directory): -ELOOP */
		if (inv->n_files == cap) {
			size_t n = cap ? cap * 2 : 64;
			struct rcfs_file *grown = realloc(inv->files, n * sizeof(*grown));

			if (!grown) {
				closedir(d);
				return -ENOMEM;
			}
			inv->files = grown;
			cap = n;
		}
		f = &inv->files[inv->n_files++];
		memset(f, 0, sizeof(*f));
		snprintf(f->file, sizeof(f->file), "%s", de->d_name);
		f->size = st.st_size;
		f->mtime = st.st_mtim;
		f->dev = st.st_dev;
		f->ino = st.st_ino;
		classify(ctx, f);
		if (is_template(ctx, f->file, &st))
			f->kind = RCFS_FILE_OTHER;
	}
	closedir(d);
	return 0;
}

static int by_file(const void *a, const void *b)
{
	return strcmp(((const struct rcfs_file *)a)->file, ((const struct rcfs_file *)b)->file);
}

int rcfs_inventory_scan(const struct rcfs_ctx *ctx, const char *names_dir, struct rcfs_inventory *inv)
{
	size_t cap = 0;
	int ret;

	memset(inv, 0, sizeof(*inv));
	/* Files first, namespaces second. A file is only made for a namespace that exists, so a
	 * file listed here belongs to a namespace born before the scans that follow: they see it
	 * alive, unless it died meanwhile, and then it is rightly dead. Scanning the namespaces
	 * first would miss one born between the scans whose file was made before the file scan:
	 * it would be judged dead and its brand-new file removed. */
	ret = scan_files(ctx, inv);
	if (!ret)
		ret = scan_procfs(ctx, inv, &cap);
	if (!ret)
		ret = scan_names(ctx, names_dir, inv, &cap);
	if (ret) {
		rcfs_inventory_free(inv);
		return ret;
	}
	if (inv->n_files) /* qsort's array may not be NULL, even when empty */
		qsort(inv->files, inv->n_files, sizeof(*inv->files), by_file);
	return 0;
}

void rcfs_inventory_free(struct rcfs_inventory *inv)
{
	free(inv->live);
	free(inv->files);
	memset(inv, 0, sizeof(*inv));
}

const struct rcfs_live_ns *rcfs_inventory_live(const struct rcfs_inventory *inv, uint64_t id)
{
	size_t pos;

	return live_find((struct rcfs_inventory *)inv, id, &pos);
}

const struct rcfs_live_ns *rcfs_inventory_named(const struct rcfs_inventory *inv, const char *name)
{
	for (size_t i = 0; i < inv->n_live; i++)
		if (inv->live[i].name[0] && !strcmp(inv->live[i].name, name))
			return &inv->live[i];
	return NULL;
}

int rcfs_inventory_has_file(const struct rcfs_inventory *inv, const struct rcfs_live_ns *ns)
{
	for (size_t i = 0; i < inv->n_files; i++) {
		const struct rcfs_file *f = &inv->files[i];

		if ((f->kind == RCFS_FILE_ID && f->id == ns->id) ||
		    (f->kind == RCFS_FILE_NAMED && ns->name[0] && !strcmp(f->name, ns->name)))
			return 1;
	}
	return 0;
}

/* Unlink f if its name still leads to the inode scanned: a file made under the same name since
 * (a fresh copy for a namespace that got the id after the scan, once the old file was moved
 * aside) is not the one judged. Returns 0, 1 when replaced, or -errno. */
static int remove_file(const struct rcfs_ctx *ctx, const struct rcfs_file *f)
{
	struct stat st;

	if (rcfs_lstatat(ctx, ctx->backing_fd, f->file, &st) < 0)
		return -errno;
	if (st.st_dev != f->dev || st.st_ino != f->ino)
		return 1;
	return unlinkat(ctx->backing_fd, f->file, 0) < 0 ? -errno : 0;
}

size_t rcfs_inventory_gc(const struct rcfs_ctx *ctx, const struct rcfs_inventory *inv, int delete,
			 void (*fn)(void *arg, const struct rcfs_file *f, int result), void *arg)
{
	size_t found = 0;

	for (size_t i = 0; i < inv->n_files; i++) {
		const struct rcfs_file *f = &inv->files[i];
		int result = 0;

		if (f->kind != RCFS_FILE_STALE &&
		    (f->kind != RCFS_FILE_ID || rcfs_inventory_live(inv, f->id)))
			continue;
		if (delete && (result = remove_file(ctx, f)) == 1)
			continue;
		found++;
		fn(arg, f, result);
	}
	return found;
}
