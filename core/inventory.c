#include "inventory.h"
#include "backing.h"
#include "names.h"
#include "nslink.h"

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

static int scan_names(const char *dir, struct rcfs_inventory *inv, size_t *cap)
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
		    stat(path, &st) < 0 || st.st_dev != nsfs.st_dev)
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

static void classify(const struct rcfs_ctx *ctx, struct rcfs_file *f)
{
	size_t len = strlen(f->file), elen = strlen(ctx->ext);

	f->kind = RCFS_FILE_OTHER;
	if (strstr(f->file, RCFS_STALE_INFIX)) {
		f->kind = f->file[0] != '.' ? RCFS_FILE_STALE : RCFS_FILE_OTHER;
		return;
	}
	if (elen) {
		if (len <= elen + 1 || f->file[len - elen - 1] != '.' || strcmp(f->file + len - elen, ctx->ext))
			return;
		len -= elen + 1;
	}
	if (is_number(f->file, len, &f->id)) {
		f->kind = RCFS_FILE_ID;
		return;
	}
	memcpy(f->name, f->file, len);
	f->name[len] = '\0';
	if (rcfs_names_safe(f->name))
		f->kind = RCFS_FILE_NAMED;
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
		    fstatat(ctx->backing_fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    S_ISDIR(st.st_mode))
			continue;
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
		classify(ctx, f);
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
	ret = scan_procfs(ctx, inv, &cap);
	if (!ret)
		ret = scan_names(names_dir, inv, &cap);
	if (!ret)
		ret = scan_files(ctx, inv);
	if (ret) {
		rcfs_inventory_free(inv);
		return ret;
	}
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

size_t rcfs_inventory_gc(const struct rcfs_ctx *ctx, const struct rcfs_inventory *inv, int delete,
			 void (*fn)(void *arg, const struct rcfs_file *f, int result), void *arg)
{
	size_t dead = 0;

	for (size_t i = 0; i < inv->n_files; i++) {
		const struct rcfs_file *f = &inv->files[i];
		int result = 0;

		if (f->kind != RCFS_FILE_ID || rcfs_inventory_live(inv, f->id))
			continue;
		dead++;
		if (delete && unlinkat(ctx->backing_fd, f->file, 0) < 0)
			result = -errno;
		fn(arg, f, result);
	}
	return dead;
}
