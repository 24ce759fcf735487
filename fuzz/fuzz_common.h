/* Helpers shared by the libFuzzer targets in fuzz/: invariant checks that abort (so libFuzzer
 * saves the input), and scratch files for the targets that need a fake procfs or a backing
 * directory. Everything here is static: each fuzz_<name>.c is its own program. */
#ifndef RCFS_FUZZ_COMMON_H
#define RCFS_FUZZ_COMMON_H

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A violated invariant: say which, then abort so libFuzzer records the input as a crash. */
#define FUZZ_CHECK(cond, msg)                                                                  \
	do {                                                                                   \
		if (!(cond)) {                                                                 \
			fprintf(stderr, "\nfuzz invariant violated at %s:%d: %s\n  check: %s\n",      \
				__FILE__, __LINE__, msg, #cond);                                       \
			abort();                                                               \
		}                                                                              \
	} while (0)

/* Set-up failures are the harness's, not the code under test's: exit loudly, not abort. */
static inline void fuzz_setup_die(const char *what, const char *arg)
{
	fprintf(stderr, "fuzz harness set-up failed: %s %s: %s\n", what, arg ? arg : "",
		strerror(errno));
	exit(2);
}

/* A NUL-terminated heap copy of data[0..size), for APIs that take C strings. */
static inline char *fuzz_strndup(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (!s)
		fuzz_setup_die("malloc", NULL);
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

static char fuzz_root[PATH_MAX];

static inline int fuzz_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

static inline void fuzz_rm_rf(const char *path)
{
	nftw(path, fuzz_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static inline void fuzz_cleanup_root(void)
{
	if (fuzz_root[0])
		fuzz_rm_rf(fuzz_root);
}

/* One scratch directory per process under $TMPDIR (make fuzz points it into build/fuzz/),
 * removed at exit; returns its absolute path. */
static inline const char *fuzz_scratch(const char *tag)
{
	const char *tmp = getenv("TMPDIR");
	char templ[PATH_MAX];

	if (fuzz_root[0])
		return fuzz_root;
	if (!tmp || !*tmp)
		tmp = "/tmp";
	snprintf(templ, sizeof(templ), "%s/rcfs-fuzz-%s-XXXXXX", tmp, tag);
	if (!mkdtemp(templ))
		fuzz_setup_die("mkdtemp", templ);
	if (!realpath(templ, fuzz_root))
		fuzz_setup_die("realpath", templ);
	atexit(fuzz_cleanup_root);
	return fuzz_root;
}

static inline void fuzz_path(char *buf, size_t size, const char *fmt, const char *a, const char *b)
{
	if ((size_t)snprintf(buf, size, fmt, a, b) >= size)
		fuzz_setup_die("path too long", a);
}

static inline void fuzz_mkdir(const char *path)
{
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		fuzz_setup_die("mkdir", path);
}

static inline void fuzz_symlink(const char *target, const char *path)
{
	if (symlink(target, path) < 0)
		fuzz_setup_die("symlink", path);
}

/* Replace path's content with data (truncating), or die. */
static inline void fuzz_write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	const char *p = data;

	if (fd < 0)
		fuzz_setup_die("open", path);
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			fuzz_setup_die("write", path);
		}
		p += n;
		len -= (size_t)n;
	}
	close(fd);
}

/* The link text the kernel would print for our own namespace of this kind, e.g. "user:[4026531837]". */
static inline void fuzz_own_nslink(const char *kind, char *buf, size_t size)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/ns/%s", kind);
	n = readlink(path, buf, size - 1);
	if (n < 0)
		fuzz_setup_die("readlink", path);
	buf[n] = '\0';
}

/* Strict reference for `<digits>` as a uint64: 1..20 ASCII digits, value fits. Independent of
 * the project's parsers: strtoull with its own overflow report. */
static inline int fuzz_ref_u64(const char *s, size_t len, uint64_t *v)
{
	char buf[32];
	char *end;
	unsigned long long n;

	if (len == 0 || len > 20)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	memcpy(buf, s, len);
	buf[len] = '\0';
	errno = 0;
	n = strtoull(buf, &end, 10);
	if (errno == ERANGE || *end)
		return 0;
	*v = (uint64_t)n;
	return 1;
}

#endif
