/* The simulator's line protocol: one command in, exactly one reply out. */
#ifndef RCFS_SIM_PROTOCOL_H
#define RCFS_SIM_PROTOCOL_H

#include <stdio.h>

#include "../core/context.h"

/* Execute one command line of len bytes (without its newline, NUL-terminated) against ctx on
 * behalf of the process whose credentials are uid/gid, and write its reply to out. Malformed
 * lines, including any with a NUL byte inside, answer `err EINVAL`. */
void sim_execute(const struct rcfs_ctx *ctx, const char *line, size_t len, unsigned uid,
		 unsigned gid, FILE *out);

#endif
