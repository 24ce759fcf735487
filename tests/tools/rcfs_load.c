/* Load generator for tests/fuse/test_faults.py::test_load_1000_processes_20_namespaces.
 *
 *   rcfs_load MOUNT SECONDS NPROC NSPATH=BACKING_FILE...
 *
 * Forks NPROC children; child k enters the network namespace NSPATH of pair k % npairs (setns)
 * after reading that pair's BACKING_FILE (what it must be served) and noting its inode. Once all
 * children exist, each loops for SECONDS, alternating a whole read of MOUNT (open, read to EOF,
 * close) with a stat(2) of it, and counts reads, stats, wrong content, wrong size or inode, and
 * errors by errno. The parent prints one JSON object with the totals on stdout and exits 0 when
 * every child reported; a child that saw something wrong prints one line on stderr.
 *
 * Built by the test with `cc -O2 -o DIR/rcfs_load tests/tools/rcfs_load.c` (not by the Makefile).
 * Every child dies with the parent (PR_SET_PDEATHSIG) and by an alarm, so nothing outlives a
 * killed run.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_FILE 65536
#define MAX_ERRNO 160

struct result {
	int child;
	int ok;               /* the child got as far as the loop */
	long reads, stats, bad_content, bad_stat;
	long errors[MAX_ERRNO];
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static ssize_t read_file(const char *path, char *buf, size_t size, int *err)
{
	ssize_t total = 0, n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		*err = errno;
		return -1;
	}
	while ((n = read(fd, buf + total, size - (size_t)total)) > 0) {
		total += n;
		if ((size_t)total == size)
			break;
	}
	if (n < 0) {
		*err = errno;
		close(fd);
		return -1;
	}
	close(fd);
	return total;
}

static void count_error(struct result *r, int err)
{
	r->errors[err > 0 && err < MAX_ERRNO ? err : 0]++;
}

static void child(int k, const char *mnt, double seconds, const char *nspath, const char *backing,
		  int start_fd, int result_fd)
{
	static char want[MAX_FILE], got[MAX_FILE];
	struct result r;
	struct stat want_st, st;
	ssize_t want_len, n;
	double deadline;
	char c;
	int fd, err = 0;

	memset(&r, 0, sizeof(r));
	r.child = k;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	alarm((unsigned)seconds + 60);
	want_len = read_file(backing, want, sizeof(want), &err);
	fd = open(nspath, O_RDONLY | O_CLOEXEC);
	if (want_len < 0 || stat(backing, &want_st) < 0 || fd < 0 || setns(fd, CLONE_NEWNET) < 0) {
		fprintf(stderr, "rcfs_load: child %d: cannot set up (%s, %s): %s\n", k, nspath,
			backing, strerror(errno ? errno : err));
		(void)!write(result_fd, &r, sizeof(r));
		_exit(1);
	}
	close(fd);
	/* Wait until the parent has forked everyone, so the load starts at once. */
	(void)!read(start_fd, &c, 1);
	r.ok = 1;
	deadline = now() + seconds;
	for (long i = 0; now() < deadline; i++) {
		if (i % 2 == 0) {
			n = read_file(mnt, got, sizeof(got), &err);
			r.reads++;
			if (n < 0) {
				count_error(&r, err);
			} else if (n != want_len || memcmp(got, want, (size_t)n) != 0) {
				if (r.bad_content++ == 0)
					fprintf(stderr, "rcfs_load: child %d (%s): read %zd bytes, expected "
						"%zd: %.60s\n", k, nspath, n, want_len, got);
			}
		} else {
			r.stats++;
			if (stat(mnt, &st) < 0) {
				count_error(&r, errno);
			} else if (st.st_size != want_st.st_size || st.st_ino != want_st.st_ino) {
				if (r.bad_stat++ == 0)
					fprintf(stderr, "rcfs_load: child %d (%s): stat size %lld ino %llu, "
						"expected %lld %llu\n", k, nspath, (long long)st.st_size,
						(unsigned long long)st.st_ino, (long long)want_st.st_size,
						(unsigned long long)want_st.st_ino);
			}
		}
	}
	(void)!write(result_fd, &r, sizeof(r));
	_exit(0);
}

int main(int argc, char **argv)
{
	int start[2], results[2], nproc, npairs, started = 0, reported = 0, exited_bad = 0, status;
	long reads = 0, stats = 0, bad_content = 0, bad_stat = 0, errors[MAX_ERRNO] = { 0 };
	double seconds, t0;
	struct result r;
	const char *mnt;
	char *pairs[256][2];
	pid_t pid;

	if (argc < 5) {
		fprintf(stderr, "usage: rcfs_load MOUNT SECONDS NPROC NSPATH=BACKING_FILE...\n");
		return 2;
	}
	mnt = argv[1];
	seconds = atof(argv[2]);
	nproc = atoi(argv[3]);
	npairs = argc - 4;
	if (npairs > 256 || nproc < 1)
		return 2;
	for (int i = 0; i < npairs; i++) {
		char *eq = strchr(argv[4 + i], '=');

		if (!eq)
			return 2;
		*eq = '\0';
		pairs[i][0] = argv[4 + i];
		pairs[i][1] = eq + 1;
	}
	/* The result records are smaller than PIPE_BUF, so concurrent writes do not interleave;
	 * the pipe is made big enough that no child blocks on it while the parent still forks. */
	if (pipe(start) < 0 || pipe2(results, O_CLOEXEC) < 0)
		return 1;
	fcntl(results[0], F_SETPIPE_SZ, 1 << 20);
	alarm((unsigned)seconds + 120);
	t0 = now();
	for (int k = 0; k < nproc; k++) {
		pid = fork();
		if (pid < 0) {
			fprintf(stderr, "rcfs_load: fork %d: %s\n", k, strerror(errno));
			break;
		}
		if (pid == 0) {
			close(start[1]);
			close(results[0]);
			child(k, mnt, seconds, pairs[k % npairs][0], pairs[k % npairs][1], start[0],
			      results[1]);
		}
		started++;
	}
	close(start[0]);
	close(start[1]); /* go */
	close(results[1]);
	while (reported < started && read(results[0], &r, sizeof(r)) == (ssize_t)sizeof(r)) {
		reported++;
		if (!r.ok)
			continue;
		reads += r.reads;
		stats += r.stats;
		bad_content += r.bad_content;
		bad_stat += r.bad_stat;
		for (int e = 0; e < MAX_ERRNO; e++)
			errors[e] += r.errors[e];
	}
	while ((pid = wait(&status)) > 0)
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			exited_bad++;
	printf("{\"started\": %d, \"reported\": %d, \"exited_bad\": %d, \"seconds\": %.2f, "
	       "\"reads\": %ld, \"stats\": %ld, \"bad_content\": %ld, \"bad_stat\": %ld, \"errors\": {",
	       started, reported, exited_bad, now() - t0, reads, stats, bad_content, bad_stat);
	for (int e = 0, first = 1; e < MAX_ERRNO; e++) {
		if (errors[e]) {
			printf("%s\"%d\": %ld", first ? "" : ", ", e, errors[e]);
			first = 0;
		}
	}
	printf("}}\n");
	return started == nproc && reported == nproc && !exited_bad ? 0 : 1;
}
