#include "nslink.h"

#include <errno.h>
#include <string.h>

/* The id ends up in a file name inside the backing directory, so this parser is the boundary
 * between procfs content (possibly a fake tree) and the file system: accept only what the kernel
 * prints (`%s:[%u]`) and reject everything else outright. */
int rcfs_nslink_parse(const char *text, size_t len, const char *kind, uint64_t *id)
{
	size_t klen = strlen(kind);
	size_t i, ndigits;
	uint64_t v = 0;

	if (len < klen + 4 || memcmp(text, kind, klen) != 0 || text[klen] != ':' ||
	    text[klen + 1] != '[' || text[len - 1] != ']')
		return -EINVAL;
	ndigits = len - klen - 3;
	if (ndigits > 20)
		return -EINVAL;
	for (i = klen + 2; i < len - 1; i++) {
		unsigned d = (unsigned char)text[i] - '0';

		if (d > 9 || v > (UINT64_MAX - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	*id = v;
	return 0;
}
