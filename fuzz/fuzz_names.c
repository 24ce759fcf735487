/* Fuzz rcfs_names_safe, which decides whether a name found in the names directory (default
 * /run/netns: anyone who may create files there chooses them) may become a backing file name.
 *
 * Input: the name; it is used up to its first NUL byte, as a directory entry would be.
 *
 * Invariants (abort on violation):
 *  - safe exactly when: not empty, no leading dot, no '/', no control byte (< 0x20, 0x7f);
 *  - so a safe name is a single path component other than "." and "..", and appending
 *    ".<extension>" keeps it one: it can never name a file outside the backing directory. */
#include "fuzz_common.h"

#include "../core/names.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *name = fuzz_strndup(data, size);
	int safe = rcfs_names_safe(name), want = name[0] != '\0' && name[0] != '.';

	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		if (*p == '/' || *p < 0x20 || *p == 0x7f)
			want = 0;
	FUZZ_CHECK(safe == 0 || safe == 1, "returns 0 or 1");
	FUZZ_CHECK(safe == want, "differs from: non-empty, no leading dot, no '/', no control byte");
	if (safe)
		FUZZ_CHECK(!strchr(name, '/') && strcmp(name, ".") && strcmp(name, "..") && name[0],
			   "a safe name is not a single path component");
	free(name);
	return 0;
}
