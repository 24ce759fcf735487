/* The admin's view of a backing directory: which files belong to which namespaces, and which
 * namespaces are alive. Used by resolvconffs-ctl and the daemon's --gc-on-start and
 * --gc-interval; never on the request path. */
#ifndef RCFS_INVENTORY_H
#define RCFS_INVENTORY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "context.h"

/* A live namespace: held by some process's (or thread's) ns link, or by an ip-netns name. */
struct rcfs_live_ns {
	uint64_t id;
	unsigned procs;      /* processes with at least one thread in it */
	char name[NAME_MAX + 1]; /* ip-netns name, or "" */
};

/* What a file in the backing directory is. */
enum rcfs_file_kind {
	RCFS_FILE_ID,      /* <id>.<ext>: keyed by a namespace id */
	RCFS_FILE_NAMED,   /* <name>.<ext>: keyed by an ip-netns name */
	RCFS_FILE_STALE,   /* <id>.<ext>.stale-<n>[-<n>]: moved aside, its id was recycled */
	RCFS_FILE_OTHER,   /* anything else, and the template: never touched */
};

struct rcfs_file {
	char file[NAME_MAX + 1];
	enum rcfs_file_kind kind;
	uint64_t id;                /* RCFS_FILE_ID, RCFS_FILE_STALE: the id in the name */
	char name[NAME_MAX + 1];    /* RCFS_FILE_NAMED: the name */
	off_t size;
	struct timespec mtime;
	dev_t dev;                  /* the file itself (not what a symlink points to), as scanned */
	ino_t ino;
};

struct rcfs_inventory {
	struct rcfs_live_ns *live;
	size_t n_live;
	struct rcfs_file *files;
	size_t n_files;
};

/* Scan ctx's backing directory for files, then ctx's procfs (every thread of every process) and
 * names directory (NULL: none) for live namespaces of ctx's kind. The template (ctx->tmpl_*),
 * when it lies in the backing directory, is an RCFS_FILE_OTHER whatever its name. Returns 0 or
 * -errno. */
int rcfs_inventory_scan(const struct rcfs_ctx *ctx, const char *names_dir, struct rcfs_inventory *inv);

/* Free what rcfs_inventory_scan allocated. */
void rcfs_inventory_free(struct rcfs_inventory *inv);

/* The live namespace with this id, or NULL. */
const struct rcfs_live_ns *rcfs_inventory_live(const struct rcfs_inventory *inv, uint64_t id);

/* The live namespace with this ip-netns name, or NULL. */
const struct rcfs_live_ns *rcfs_inventory_named(const struct rcfs_inventory *inv, const char *name);

/* Whether the backing directory has a file keyed by this live namespace (id or name). */
int rcfs_inventory_has_file(const struct rcfs_inventory *inv, const struct rcfs_live_ns *ns);

/* The garbage: the id-named files whose namespace is dead (f->kind RCFS_FILE_ID) and the stale
 * copies (RCFS_FILE_STALE), one call of fn each, in name order; removes them too when delete is
 * set (fn then gets the unlink result: 0 or -errno). A file replaced since the scan (another
 * inode under the name) is no longer the one judged: it is left alone and not reported. Named
 * files, the template and files whose names do not parse are never touched. Returns the number
 * of files reported. */
size_t rcfs_inventory_gc(const struct rcfs_ctx *ctx, const struct rcfs_inventory *inv, int delete,
			 void (*fn)(void *arg, const struct rcfs_file *f, int result), void *arg);

#endif
