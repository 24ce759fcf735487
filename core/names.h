/* Names of network namespaces as `ip netns` keeps them: a map from namespace inode number to
 * name, built from the bind mounts in a directory (default /run/netns) and rebuilt only when
 * that directory changes. Lookups are O(1) and safe from many threads. */
#ifndef RCFS_NAMES_H
#define RCFS_NAMES_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

/* Called for each name that is skipped because it is not a safe file name (or is all digits,
 * which would stand for another namespace's id-named file). */
typedef void rcfs_names_warn_fn(void *arg, const char *dir, const char *name);

struct rcfs_names_table;

struct rcfs_names {
	char *dir;                      /* absolute path: walked by path so bind mounts are seen */
	dev_t nsfs_dev;                 /* device of namespace files; other entries are not names */
	pthread_rwlock_t lock;
	struct rcfs_names_table *table; /* current map, replaced whole on refresh */
	struct timespec mtime;          /* dir's mtime when table was built */
	int racy;                       /* mtime was too recent then to show later changes */
	int pending;                    /* an entry was not a namespace yet: look again on a miss */
	char *pending_names;            /* those entries, NUL-separated, pending_len bytes */
	size_t pending_len;
	rcfs_names_warn_fn *warn;
	void *warn_arg;
};

/* Set up an empty map for dir (which need not exist yet). Returns 0 or a negative errno. */
int rcfs_names_init(struct rcfs_names *n, const char *dir, rcfs_names_warn_fn *warn, void *arg);

/* Free the map. */
void rcfs_names_fini(struct rcfs_names *n);

/* Copy the name of the namespace with inode number ino into buf (size bytes), refreshing the map
 * first if dir changed. Returns 0, -ENOENT when the namespace has no name, or -ENAMETOOLONG. */
int rcfs_names_lookup(struct rcfs_names *n, uint64_t ino, char *buf, size_t size);

/* Whether name is usable as a file name: not empty, no leading dot, no '/', no control bytes. */
int rcfs_names_safe(const char *name);

/* Whether an ip-netns name is served by name: safe, and not all digits (which would stand for
 * another namespace's id-named file). */
int rcfs_names_usable(const char *name);

#endif
