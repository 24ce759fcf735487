#include "stats.h"

#include <stdio.h>

static const char *const op_names[RCFS_OP_COUNT] = {
	[RCFS_OP_GETATTR] = "getattr", [RCFS_OP_SETATTR] = "setattr", [RCFS_OP_OPEN] = "open",
	[RCFS_OP_READ] = "read",       [RCFS_OP_WRITE] = "write",     [RCFS_OP_FLUSH] = "flush",
	[RCFS_OP_FSYNC] = "fsync",     [RCFS_OP_RELEASE] = "release", [RCFS_OP_ACCESS] = "access",
};

void rcfs_stats_format(struct rcfs_stats *s, char *buf, size_t size)
{
	size_t len = (size_t)snprintf(buf, size, "requests:");

	for (int op = 0; op < RCFS_OP_COUNT && len < size; op++)
		len += (size_t)snprintf(buf + len, size - len, " %s=%lu", op_names[op],
					atomic_load_explicit(&s->count[op], memory_order_relaxed));
}
