/* Namespace flood for tests/fuse/test_tenant_disk.py: many network namespaces, one read each.
 *
 *   rcfs_nsflood MOUNT EXPECTED_FILE COUNT [keep]
 *
 * Reads EXPECTED_FILE (what every namespace must be served) first, then COUNT times: a new
 * network namespace (unshare(CLONE_NEWNET): the caller must hold CAP_SYS_ADMIN in its user
 * namespace, e.g. under `unshare --user --map-root-user`), a stat(2) of MOUNT, then a whole read
 * of it (open, read to EOF, close), compared byte for byte with EXPECTED_FILE and its size. With
 * `keep`, each namespace stays alive (a descriptor of its ns link is kept open) so that COUNT
 * distinct namespaces exist at the end; without it each one dies when the next replaces it.
 *
 * Prints one line on stdout:
 *   namespaces=N distinct=D ok=K mismatch=M bad_size=S errors=E first_error=ERRNO first_bad=I
 * (first_error and first_bad are 0 and -1 when there were none) and exits 0 when it could make
 * every namespace, 1 otherwise (unshare failed; the line says how far it got), 2 on bad usage.
 *
 * Built by the test with `cc -O2` into its work directory (not by the Makefile). Single-threaded,
 * so the thread the daemon looks at is the process itself.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_FILE (4 << 20)

static ssize_t read_all(int fd, char *buf, size_t size)
{
	ssize_t total = 0, n;

	while ((size_t)total < size && (n = read(fd, buf + total, size - (size_t)total)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		total += n;
	}
	return total;
}

static int cmp_u64(const void *a, const void *b)
{
	unsigned long long x = *(const unsigned long long *)a, y = *(const unsigned long long *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	static char expected[MAX_FILE], got[MAX_FILE + 1];
	long count, made = 0, ok = 0, mismatch = 0, bad_size = 0, errors = 0, first_bad = -1;
	int first_error = 0, keep, fd, rc = 0;
	unsigned long long *ids;
	ssize_t elen, n;
	struct stat st;
	long distinct = 0;

	if (argc < 4 || argc > 5 || (argc == 5 && strcmp(argv[4], "keep") != 0)) {
		fprintf(stderr, "usage: %s MOUNT EXPECTED_FILE COUNT [keep]\n", argv[0]);
		return 2;
	}
	count = strtol(argv[3], NULL, 10);
	keep = argc == 5;
	if (count <= 0 || !(ids = calloc((size_t)count, sizeof(*ids)))) {
		fprintf(stderr, "%s: bad COUNT '%s'\n", argv[0], argv[3]);
		return 2;
	}
	fd = open(argv[2], O_RDONLY | O_CLOEXEC);
	if (fd < 0 || (elen = read_all(fd, expected, sizeof(expected))) < 0) {
		fprintf(stderr, "%s: %s: %s\n", argv[0], argv[2], strerror(errno));
		return 2;
	}
	close(fd);
	if (keep) {
		struct rlimit rl;

		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)count + 64) {
			rl.rlim_cur = rl.rlim_max < (rlim_t)count + 64 ? rl.rlim_max : (rlim_t)count + 64;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
	}

	for (long i = 0; i < count; i++) {
		int err = 0;

		n = -1;
		if (unshare(CLONE_NEWNET) < 0) {
			fprintf(stderr, "%s: unshare(CLONE_NEWNET) #%ld: %s\n", argv[0], i, strerror(errno));
			rc = 1;
			break;
		}
		made++;
		fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &st) < 0) {
			fprintf(stderr, "%s: /proc/self/ns/net: %s\n", argv[0], strerror(errno));
			rc = 1;
			break;
		}
		ids[i] = (unsigned long long)st.st_ino;
		if (!keep)
			close(fd);

		if (stat(argv[1], &st) < 0)
			err = errno;
		else if (st.st_size != elen)
			bad_size++;
		fd = open(argv[1], O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			err = err ? err : errno;
		} else {
			n = read_all(fd, got, sizeof(got));
			if (n < 0)
				err = err ? err : errno;
			else if (n != elen || memcmp(got, expected, (size_t)n) != 0) {
				mismatch++;
				if (first_bad < 0)
					first_bad = i;
			}
			close(fd);
		}
		if (err) {
			errors++;
			if (!first_error) {
				first_error = err;
				fprintf(stderr, "%s: namespace #%ld (net:[%llu]): %s\n", argv[0], i, ids[i],
					strerror(err));
			}
		} else if (st.st_size == elen && n == elen && memcmp(got, expected, (size_t)n) == 0) {
			ok++;
		}
	}
	qsort(ids, (size_t)made, sizeof(*ids), cmp_u64);
	for (long i = 0; i < made; i++)
		distinct += i == 0 || ids[i] != ids[i - 1];
	printf("namespaces=%ld distinct=%ld ok=%ld mismatch=%ld bad_size=%ld errors=%ld "
	       "first_error=%d first_bad=%ld\n", made, distinct, ok, mismatch, bad_size, errors,
	       first_error, first_bad);
	return rc;
}
