/* Request accounting: how many FUSE requests of each kind reached the daemon. */
#ifndef RCFS_STATS_H
#define RCFS_STATS_H

#include <stdatomic.h>
#include <stddef.h>

enum rcfs_op {
	RCFS_OP_GETATTR,
	RCFS_OP_SETATTR,
	RCFS_OP_OPEN,
	RCFS_OP_READ,
	RCFS_OP_WRITE,
	RCFS_OP_FLUSH,
	RCFS_OP_FSYNC,
	RCFS_OP_RELEASE,
	RCFS_OP_ACCESS,
	RCFS_OP_COUNT,
};

struct rcfs_stats {
	atomic_ulong count[RCFS_OP_COUNT];
};

/* Count one request of kind op; relaxed, since only totals are ever read. */
static inline void rcfs_stats_count(struct rcfs_stats *s, enum rcfs_op op)
{
	atomic_fetch_add_explicit(&s->count[op], 1, memory_order_relaxed);
}

/* Format "requests: getattr=N setattr=N ..." into buf (always NUL-terminated). */
void rcfs_stats_format(struct rcfs_stats *s, char *buf, size_t size);

#endif
