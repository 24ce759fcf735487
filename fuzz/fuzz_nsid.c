/* Fuzz rcfs_nsid_recorded, which reads back the unique namespace id recorded on a backing
 * file as the extended attribute user.resolvconffs.nsid: whoever may write the file may set
 * it to anything, and the value decides whether the file is moved aside as stale.
 *
 * Input: the attribute value (at most 64 bytes are used). It is set on a scratch file, then
 * read back; afterwards an id derived from the input is recorded with rcfs_nsid_record and read
 * back.
 *
 * Invariants (abort on violation):
 *  - returns 0 or a negative errno; 0 exactly when the value is ASCII decimal digits only,
 *    short enough for its 23-byte buffer, and their value (leading zeros allowed) fits in 64
 *    bits; the id is then that value; *id is untouched otherwise;
 *  - an empty value is "none" (-ENODATA);
 *  - rcfs_nsid_record then rcfs_nsid_recorded gives the id back. */
#include "fuzz_common.h"

#include <sys/xattr.h>

#include "../core/nsid.h"

static int fd = -1;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char path[PATH_MAX];

	(void)argc;
	(void)argv;
	fuzz_path(path, sizeof(path), "%s/%s", fuzz_scratch("nsid"), "file");
	fuzz_write_file(path, "", 0);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		fuzz_setup_die("open", path);
	if (fsetxattr(fd, RCFS_NSID_XATTR, "1", 1, 0) < 0)
		fuzz_setup_die("fsetxattr (the scratch file system needs user xattrs)", path);
	return 0;
}

/* Digits only, at most 23 of them (the reader's buffer), value < 2^64. */
static int ref_value(const uint8_t *s, size_t len, uint64_t *v)
{
	size_t z = 0;

	if (len == 0 || len > 23)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	while (z < len - 1 && s[z] == '0')
		z++;
	return fuzz_ref_u64((const char *)s + z, len - z, v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint64_t sentinel = 0xa5a5a5a5a5a5a5a5ull;
	uint64_t id = sentinel, want = 0, rec = 0;
	int ret, ok;

	if (size > 64)
		size = 64;
	if (fsetxattr(fd, RCFS_NSID_XATTR, data, size, 0) < 0)
		fuzz_setup_die("fsetxattr", RCFS_NSID_XATTR);
	ret = rcfs_nsid_recorded(fd, &id);
	ok = ref_value(data, size, &want);
	FUZZ_CHECK(ret <= 0 && ret > -4096, "returns 0 or a negative errno");
	FUZZ_CHECK(!(ret == 0 && !ok), "accepted a value that is not a 64-bit decimal number");
	FUZZ_CHECK(!(ret != 0 && ok), "rejected a well-formed recorded id");
	FUZZ_CHECK(ret != 0 || id == want, "recorded id differs from the value's number");
	FUZZ_CHECK(ret == 0 || id == sentinel, "*id written on error");
	FUZZ_CHECK(size != 0 || ret == -ENODATA, "an empty value is not -ENODATA");

	for (size_t i = 0; i < size && i < 8; i++)
		rec = rec << 8 | data[i];
	rcfs_nsid_record(fd, rec);
	id = sentinel;
	FUZZ_CHECK(rcfs_nsid_recorded(fd, &id) == 0 && id == rec, "record/recorded round trip");
	return 0;
}
