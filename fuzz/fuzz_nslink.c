/* Fuzz rcfs_nslink_parse, the security boundary between procfs link text and backing-file names.
 *
 * Input: the link text as readlink would return it (not NUL-terminated, up to any length; the
 * real callers cap it at RCFS_NSLINK_MAX - 1, the fuzzer does not). It is parsed once for every
 * namespace kind the daemon can be keyed by.
 *
 * Invariants (abort on violation):
 *  - accepted  => text is exactly KIND ":[" DIGITS "]", 1..20 ASCII digits, and the id equals
 *                 strtoull(DIGITS) without overflow;
 *  - that form => accepted (the kernel's own text must always parse);
 *  - rejected  => returns -EINVAL and leaves *id untouched;
 *  - at most one kind accepts a given text.
 * Reads outside [text, text + len) are caught by ASan: the bytes are copied into a buffer of
 * exactly len bytes. */
#include "fuzz_common.h"

#include "../core/nslink.h"

static const char *const kinds[] = { "net", "mnt", "uts", "ipc", "user", "pid", "cgroup", "time" };

/* The reference: what the kernel prints (`%s:[%u]`, widened to 64 bits). */
static int ref_parse(const char *text, size_t len, const char *kind, uint64_t *id)
{
	size_t klen = strlen(kind);

	if (len < klen + 4 || memcmp(text, kind, klen) != 0 || text[klen] != ':' ||
	    text[klen + 1] != '[' || text[len - 1] != ']')
		return 0;
	return fuzz_ref_u64(text + klen + 2, len - klen - 3, id);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* An exact-size copy, so a read one past the end is a heap overflow even for size 0. */
	char *text = malloc(size ? size : 1);
	int accepted = 0;

	if (!text)
		return 0;
	memcpy(text, data, size);
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		const uint64_t sentinel = 0x5a5a5a5a5a5a5a5aull;
		uint64_t id = sentinel, want = 0;
		int ret = rcfs_nslink_parse(text, size, kinds[k], &id);
		int ok = ref_parse(text, size, kinds[k], &want);

		FUZZ_CHECK(ret == 0 || ret == -EINVAL, "returns 0 or -EINVAL only");
		FUZZ_CHECK(!(ret == 0 && !ok), "accepted a text that is not KIND:[DIGITS] within 64 bits");
		FUZZ_CHECK(!(ret != 0 && ok), "rejected a well-formed namespace link");
		FUZZ_CHECK(ret != 0 || id == want, "accepted id differs from strtoull of the digits");
		FUZZ_CHECK(ret == 0 || id == sentinel, "*id written on error");
		accepted += ret == 0;
	}
	FUZZ_CHECK(accepted <= 1, "one text accepted for two namespace kinds");
	free(text);
	return 0;
}
