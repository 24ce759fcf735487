#include "names.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct entry {
	uint64_t ino; /* 0 marks a free slot: nsfs never uses inode 0 */
	size_t name;  /* offset into the table's string arena */
};

struct rcfs_names_table {
	size_t mask;  /* slots - 1, slots a power of two at least twice the entries */
	struct entry *slots;
	char *arena;
};

static size_t slot_of(uint64_t ino, size_t mask)
{
	return (size_t)(ino * 0x9e3779b97f4a7c15ull >> 17) & mask;
}

static void table_free(struct rcfs_names_table *t)
{
	if (!t)
		return;
	free(t->slots);
	free(t->arena);
	free(t);
}

int rcfs_names_safe(const char *name)
{
	if (!name[0] || name[0] == '.')
		return 0;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		if (*p == '/' || *p < 0x20 || *p == 0x7f)
			return 0;
	return 1;
}

int rcfs_names_usable(const char *name)
{
	return rcfs_names_safe(name) && strspn(name, "0123456789") != strlen(name);
}

/* Growable buffer for the scan: pairs of (inode, name) before they are hashed. */
struct scan {
	struct entry *entries;
	size_t count, cap;
	char *arena;
	size_t used, arena_cap;
};

static int scan_add(struct scan *s, uint64_t ino, const char *name)
{
	size_t len = strlen(name) + 1;

	if (s->count == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		struct entry *e = realloc(s->entries, cap * sizeof(*e));

		if (!e)
			return -ENOMEM;
		s->entries = e;
		s->cap = cap;
	}
	if (s->used + len > s->arena_cap) {
		size_t cap = s->arena_cap ? s->arena_cap * 2 : 1024;
		char *a;

		while (cap < s->used + len)
			cap *= 2;
		a = realloc(s->arena, cap);
		if (!a)
			return -ENOMEM;
		s->arena = a;
		s->arena_cap = cap;
	}
	memcpy(s->arena + s->used, name, len);
	s->entries[s->count++] = (struct entry){ .ino = ino, .name = s->used };
	s->used += len;
	return 0;
}

static struct rcfs_names_table *scan_to_table(struct scan *s)
{
	struct rcfs_names_table *t = calloc(1, sizeof(*t));
	size_t slots = 16;

	if (!t)
		return NULL;
	while (slots < 2 * s->count)
		slots *= 2;
	t->mask = slots - 1;
	t->slots = calloc(slots, sizeof(*t->slots));
	if (!t->slots) {
		free(t);
		return NULL;
	}
	for (size_t i = 0; i < s->count; i++) {
		size_t j = slot_of(s->entries[i].ino, t->mask);

		while (t->slots[j].ino && t->slots[j].ino != s->entries[i].ino)
			j = (j + 1) & t->mask;
		t->slots[j] = s->entries[i]; /* two names for one namespace: the later one wins */
	}
	t->arena = s->arena;
	s->arena = NULL;
	return t;
}

/* Read dir into a new table. Entries that are not namespace bind mounts yet (ip netns add
 * creates the file, then mounts on it) set *pending so the next miss looks again. */
static int scan_dir(struct rcfs_names *n, struct rcfs_names_table **out, int *pending,
		    struct scan *p, int quiet)
{
	struct scan s = { 0 };
	struct dirent *de;
	char path[PATH_MAX];
	struct stat st;
	int ret = 0;
	DIR *d;

	*pending = 0;
	d = opendir(n->dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while (!ret && (de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (!rcfs_names_usable(de->d_name)) {
			if (n->warn && !quiet)
				n->warn(n->warn_arg, n->dir, de->d_name);
			continue;
		}
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", n->dir, de->d_name) >= sizeof(path))
			continue;
		if (stat(path, &st) < 0 || st.st_dev != n->nsfs_dev) {
			*pending = 1;
			ret = scan_add(p, 0, de->d_name);
			continue;
		}
		ret = scan_add(&s, (uint64_t)st.st_ino, de->d_name);
	}
	closedir(d);
	if (!ret) {
		*out = scan_to_table(&s);
		if (!*out)
			ret = -ENOMEM;
	}
	free(s.entries);
	free(s.arena);
	return ret;
}

int rcfs_names_init(struct rcfs_names *n, const char *dir, rcfs_names_warn_fn *warn, void *arg)
{
	struct stat st;
	int err;

	memset(n, 0, sizeof(*n));
	if (stat("/proc/self/ns/net", &st) < 0)
		return -errno;
	n->nsfs_dev = st.st_dev;
	n->dir = strdup(dir);
	if (!n->dir)
		return -ENOMEM;
	n->warn = warn;
	n->warn_arg = arg;
	n->mtime.tv_sec = -1; /* never matches: the first lookup scans */
	err = pthread_rwlock_init(&n->lock, NULL);
	if (err) {
		free(n->dir);
		n->dir = NULL;
		return -err;
	}
	return 0;
}

void rcfs_names_fini(struct rcfs_names *n)
{
	if (!n->dir)
		return;
	table_free(n->table);
	pthread_rwlock_destroy(&n->lock);
	free(n->dir);
	free(n->pending_names);
	n->dir = NULL;
}

static int find(const struct rcfs_names_table *t, uint64_t ino, char *buf, size_t size)
{
	size_t j, len;

	if (!t || !ino)
		return -ENOENT;
	for (j = slot_of(ino, t->mask); t->slots[j].ino; j = (j + 1) & t->mask) {
		if (t->slots[j].ino != ino)
			continue;
		len = strlen(t->arena + t->slots[j].name);
		if (len >= size)
			return -ENAMETOOLONG;
		memcpy(buf, t->arena + t->slots[j].name, len + 1);
		return 0;
	}
	return -ENOENT;
}

static int same_time(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

/* A directory's mtime shows a change only when the change comes a clock tick after the one
 * before: file times come from the kernel's coarse clock (a tick, up to 10 ms, behind), and
 * tmpfs sets the directory's mtime on unlink to the file's ctime, which a file created in the
 * same tick still has (`ip netns add x; ip netns del x` leaves /run/netns's mtime as it was).
 * So an mtime less than this much older than the scan that read it proves nothing later. */
#define RACY_NS 100000000

/* Whether changes after a scan that started at start will all change mtime. */
static int settled(const struct timespec *mtime, const struct timespec *start)
{
	int64_t m = (int64_t)mtime->tv_sec * 1000000000 + mtime->tv_nsec;
	int64_t s = (int64_t)start->tv_sec * 1000000000 + start->tv_nsec;

	return m + RACY_NS < s;
}

/* Rebuild the table if dir changed since the last scan (or an entry was still being set up
 * and this lookup missed). Only the thread that rescans takes the write lock. */
static void refresh(struct rcfs_names *n, const struct timespec *now, int missed)
{
	struct rcfs_names_table *t = NULL, *old;
	struct scan p = { 0 };
	struct timespec start;
	int pending, stale, quiet;

	pthread_rwlock_wrlock(&n->lock);
	quiet = same_time(&n->mtime, now); /* a pending or racy rescan: warnings were given */
	stale = !quiet || n->racy || (missed && n->pending);
	/* The clock is read before the directory, so the scan is at least as new as start. */
	if (clock_gettime(CLOCK_REALTIME, &start) < 0)
		start.tv_sec = 0; /* cannot fail with this clock; if it did: racy, always rescan */
	if (stale && scan_dir(n, &t, &pending, &p, quiet) == 0) {
		old = n->table;
		n->table = t;
		n->mtime = *now;
		n->racy = !settled(now, &start);
		n->pending = pending;
		free(n->pending_names);
		n->pending_names = p.arena;
		n->pending_len = p.used;
		p.arena = NULL;
		table_free(old);
	}
	free(p.entries);
	free(p.arena);
	pthread_rwlock_unlock(&n->lock);
}

/* Whether an entry that was no namespace at the last scan is one now (ip netns add creates the
 * file, then mounts on it: the directory does not change again). Called with the read lock. */
static int pending_ready(const struct rcfs_names *n)
{
	char path[PATH_MAX];
	struct stat st;

	for (size_t off = 0; off < n->pending_len; off += strlen(n->pending_names + off) + 1)
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", n->dir, n->pending_names + off) <
		    sizeof(path) && stat(path, &st) == 0 && st.st_dev == n->nsfs_dev)
			return 1;
	return 0;
}

int rcfs_names_lookup(struct rcfs_names *n, uint64_t ino, char *buf, size_t size)
{
	struct timespec now = { .tv_sec = -2 }; /* a missing dir: differs from -1, stays empty */
	struct stat st;
	int ret, changed, pending;

	if (stat(n->dir, &st) == 0)
		now = st.st_mtim;
	pthread_rwlock_rdlock(&n->lock);
	changed = !same_time(&n->mtime, &now) || n->racy;
	ret = changed ? -ENOENT : find(n->table, ino, buf, size);
	pending = n->pending && ret == -ENOENT && !changed && pending_ready(n);
	pthread_rwlock_unlock(&n->lock);
	if (!changed && !pending)
		return ret;

	refresh(n, &now, ret == -ENOENT);
	pthread_rwlock_rdlock(&n->lock);
	ret = find(n->table, ino, buf, size);
	pthread_rwlock_unlock(&n->lock);
	return ret;
}
