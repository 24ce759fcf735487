/* Which file a caller is served: the one place that turns a key into a file. */
#ifndef RCFS_TARGET_H
#define RCFS_TARGET_H

#include "context.h"
#include "key.h"

/* A NAME/file path below the /etc/netns directory is the longest name served. */
#define RCFS_TARGET_SIZE (2 * (NAME_MAX + 1))

struct rcfs_target {
	int dirfd;                    /* the backing directory, or the /etc/netns directory */
	char name[RCFS_TARGET_SIZE];  /* relative to dirfd */
	int creatable;                /* a missing file may be created from the template */
	int filter;                   /* ...through the loopback filter (another netns's file) */
	int recyclable;               /* named by a namespace id, which the kernel may reuse */
	int host;                     /* the host original (host.h), not a file of the daemon's */
	uint64_t key;                 /* the caller's key */
	struct rcfs_caller caller;    /* whom it was resolved for */
};

/* Resolve the caller to its file: `DIR/NAME/<mount basename>` in the /etc/netns layout when
 * the caller's namespace has an ip-netns name and that file exists; otherwise
 * `<NAME>.<ext>` in the backing directory for a named namespace, `<key>.<ext>` for the rest.
 * A name whose file would be the template itself is not used (the id rule applies), and an
 * /etc/netns file that leads onto our own mount gives -ELOOP. */
int rcfs_target_resolve(const struct rcfs_ctx *ctx, const struct rcfs_caller *caller,
			struct rcfs_target *t);

/* The same for a key already known (resolvconffs-ctl's --id, --netns); caller may be NULL when
 * nothing will be created for it. With --host-original, the daemon's own namespace without an
 * id-named file is pointed at the host original (host.h). */
int rcfs_target_of_key(const struct rcfs_ctx *ctx, uint64_t key, const struct rcfs_caller *caller,
		       struct rcfs_target *t);

#endif
