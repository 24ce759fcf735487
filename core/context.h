/* The resolvconffs context: every piece of state the core needs, set up once at startup. */
#ifndef RCFS_CONTEXT_H
#define RCFS_CONTEXT_H

#include <limits.h>
#include <stdint.h>

/* The longest extension that still leaves room for a 20-digit id and the dot in NAME_MAX. */
#define RCFS_EXT_MAX (NAME_MAX - 21)

/* What the frontends hand to rcfs_ctx_init; strings are only read during the call. */
struct rcfs_config {
	const char *procfs;        /* procfs root; NULL means "/proc" */
	const char *backing_dir;   /* directory holding <id>.<extension> files */
	const char *extension;     /* NULL means "conf"; "" means no dot */
	const char *template_path; /* copied to a missing backing file; NULL: ENOENT instead */
	int check_access;          /* the daemon checks permissions (no kernel default_permissions) */
};

/* Which setting rcfs_ctx_init rejected, for a one-line error message. */
struct rcfs_init_error {
	const char *what; /* e.g. "backing directory" */
	const char *arg;  /* the offending value, as given */
};

struct rcfs_ctx {
	int procfs_fd;                /* O_PATH directory fd of the procfs root */
	int backing_fd;               /* directory fd all backing files are opened relative to */
	const char *ns_kind;          /* namespace type the key is read from: "net" */
	char ext[RCFS_EXT_MAX + 1];   /* extension without the dot */
	char *template_path;          /* absolute path, or NULL */
	int check_access;             /* open and setattr check permissions themselves */
	uint64_t user_ns;             /* our user namespace id: only its callers' capabilities count */
};

/* Validate cfg, open the procfs root and the backing directory and check the template is a
 * readable regular file. Returns 0, or a negative errno with *err naming the bad setting; on
 * error nothing is left open. */
int rcfs_ctx_init(struct rcfs_ctx *ctx, const struct rcfs_config *cfg, struct rcfs_init_error *err);

/* Close and free everything rcfs_ctx_init set up; safe on a zeroed or finished context. */
void rcfs_ctx_fini(struct rcfs_ctx *ctx);

/* Check that the procfs root has at least one readable `<pid>/ns/<kind>` link (its own pid's, or
 * any numeric entry's in a fake tree). Returns 0, or -ENOENT when none is found. */
int rcfs_ctx_check_procfs(const struct rcfs_ctx *ctx);

#endif
