/* Strict parser for namespace link texts such as `net:[4026532413]`. */
#ifndef RCFS_NSLINK_H
#define RCFS_NSLINK_H

#include <stddef.h>
#include <stdint.h>

/* Longest link text accepted: "cgroup:[" + 20 digits + "]" fits with room to spare. A readlink
 * that fills this buffer is treated as over-long and rejected. */
#define RCFS_NSLINK_MAX 64

/* Parse the len bytes at text (not NUL-terminated) as `<kind>:[<1-20 decimal digits>]` with
 * nothing before or after, the number fitting in 64 bits. Stores the number in *id and returns 0,
 * or returns -EINVAL for anything else; *id is untouched on error. */
int rcfs_nslink_parse(const char *text, size_t len, const char *kind, uint64_t *id);

#endif
