/* The template as served to a namespace that gets no file of its own (see owner.h): exactly what a
 * copy would hold, loopback filter included, kept in one sealed memory file and rebuilt only when
 * the template changes. It never touches the backing directory. */
#ifndef RCFS_TVIEW_H
#define RCFS_TVIEW_H

#include <sys/stat.h>

#include "context.h"

/* Allocate an empty view in ctx->tview. Returns 0 or a negative errno. */
int rcfs_tview_init(struct rcfs_ctx *ctx);

/* Free the view; safe when none was allocated. */
void rcfs_tview_fini(struct rcfs_ctx *ctx);

/* The view's attributes: the template's mode, owner and times, the size of what a copy holds,
 * and an inode number that changes with every rebuild (glibc's reload check sees each template
 * change). Returns 0 or a negative errno (the template's, as creating a copy would give it). */
int rcfs_tview_stat(const struct rcfs_ctx *ctx, struct stat *st);

/* A new read-only descriptor of the view, its attributes in *st. Returns the fd or -errno. */
int rcfs_tview_open(const struct rcfs_ctx *ctx, struct stat *st);

#endif
