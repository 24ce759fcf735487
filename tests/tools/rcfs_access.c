/* access(2) and faccessat(AT_EACCESS) probe for tests/fuse/test_access_real_uid.py.
 *
 *   rcfs_access [--drop-effective] MASK PATH...
 *
 * MASK is made of the letters r, w, x (or f for F_OK). Installed setuid (chown root, chmod
 * 4755, or another owner) it shows what access(2) — real uid and gid, and capabilities only as
 * the kernel's access_override_creds grants them — and faccessat(AT_EACCESS) — effective
 * credentials — answer. --drop-effective first removes CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH
 * from the effective set while keeping them permitted (capset(2), no libcap needed).
 *
 * Prints one line of credentials, then one line per PATH:
 *   ruid=R euid=E capeff=HEX capprm=HEX
 *   PATH access=ERRNO eaccess=ERRNO
 * where ERRNO is 0 for success. Exit status 0, or 2 on bad usage or when capset fails.
 *
 * Built by the test with `cc -O2` into its work directory (not by the Makefile).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static int caps(struct __user_cap_data_struct data[2], int set)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };

	return (int)syscall(set ? SYS_capset : SYS_capget, &hdr, data);
}

int main(int argc, char **argv)
{
	struct __user_cap_data_struct data[2];
	int drop = 0, mask = 0, i = 1;

	if (argc > 1 && strcmp(argv[1], "--drop-effective") == 0) {
		drop = 1;
		i++;
	}
	if (argc - i < 2) {
		fprintf(stderr, "usage: %s [--drop-effective] MASK PATH...\n", argv[0]);
		return 2;
	}
	for (const char *p = argv[i]; *p; p++) {
		switch (*p) {
		case 'r': mask |= R_OK; break;
		case 'w': mask |= W_OK; break;
		case 'x': mask |= X_OK; break;
		case 'f': break;
		default:
			fprintf(stderr, "%s: bad MASK '%s'\n", argv[0], argv[i]);
			return 2;
		}
	}
	i++;
	memset(data, 0, sizeof(data));
	if (caps(data, 0) < 0) {
		perror("capget");
		return 2;
	}
	if (drop) {
		data[0].effective &= ~((1u << CAP_DAC_OVERRIDE) | (1u << CAP_DAC_READ_SEARCH));
		if (caps(data, 1) < 0 || caps(data, 0) < 0) {
			perror("capset");
			return 2;
		}
	}
	printf("ruid=%u euid=%u capeff=%08x%08x capprm=%08x%08x\n", (unsigned)getuid(),
	       (unsigned)geteuid(), data[1].effective, data[0].effective, data[1].permitted,
	       data[0].permitted);
	for (; i < argc; i++) {
		int a = access(argv[i], mask) == 0 ? 0 : errno;
		int e = faccessat(AT_FDCWD, argv[i], mask, AT_EACCESS) == 0 ? 0 : errno;

		printf("%s access=%d eaccess=%d\n", argv[i], a, e);
	}
	return 0;
}
