/* Race attacker and stat loop for tests/fuse/test_tenant_races.py.
 *
 *   rcfs_attack OP PATH
 *
 * Attacker ops (each loops for RCFS_RACE_SECONDS seconds, default 3, doing only that one
 * operation on PATH, counting every success and every failure; it never stops at a success):
 *
 *   chmod        chmod(PATH, 0666)
 *   chown        chown(PATH, getuid(), -1): to its own uid (a no-op chown is still EPERM for a
 *                caller that does not own the file)
 *   utimes       utimensat(PATH, {1 s, 1 s}): explicit times, which only the owner may set
 *   truncate     truncate(PATH, 0)
 *   open-append  open(O_WRONLY|O_APPEND)
 *   open-rdwr    open(O_RDWR)
 *   open-trunc   open(O_WRONLY|O_TRUNC)
 *   access-w     access(W_OK); after each success, at once open(O_WRONLY) (the "followup"),
 *                which shows whether the access(2) answer was worth anything
 *   read         open(O_RDONLY) and read(2): the reader case
 *
 * Every 16th try it also samples the attributes the kernel holds for PATH's inode without
 * asking the file system (statx with AT_STATX_DONT_SYNC) and counts the samples whose owner is
 * its own uid: the proof that the race was on, i.e. that the one inode of the mount carried
 * another namespace's attributes (owned by the attacker) while it attacked.
 *
 * At the end it prints one line on stdout:
 *
 *   tries=N successes=M samples=S cached_self=C followups=F followup_successes=G
 *   errnos=E:n,... followup_errnos=E:n,...
 *
 * (errnos as numbers). It exits 0 whatever it counted; 2 for a usage error.
 *
 *   stat         stat(2) in a tight loop until SIGTERM or SIGINT; prints "ready" once its
 *                first stat succeeded, then at the end "tries=N successes=M ...".
 *
 * Built by the test with `cc -O2 -o DIR/rcfs_attack tests/tools/rcfs_attack.c` (not by the
 * Makefile). An alarm ends it should the test that started it vanish.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_ERRNO 160
#define SAMPLE_EVERY 16

enum op {
	OP_CHMOD, OP_CHOWN, OP_UTIMES, OP_TRUNCATE, OP_OPEN_APPEND, OP_OPEN_RDWR, OP_OPEN_TRUNC,
	OP_ACCESS_W, OP_READ, OP_STAT,
};

static const char *const OP_NAMES[] = {
	"chmod", "chown", "utimes", "truncate", "open-append", "open-rdwr", "open-trunc",
	"access-w", "read", "stat",
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void count_errno(long *errs, int e)
{
	errs[e > 0 && e < MAX_ERRNO ? e : 0]++;
}

static void print_errnos(const char *name, const long *errs)
{
	int first = 1;

	printf(" %s=", name);
	for (int e = 0; e < MAX_ERRNO; e++) {
		if (errs[e]) {
			printf("%s%d:%ld", first ? "" : ",", e, errs[e]);
			first = 0;
		}
	}
}

/* One try: 0 on success, else the errno. */
static int attempt(enum op op, const char *path)
{
	static const struct timespec times[2] = { { 1, 0 }, { 1, 0 } };
	char buf[4096];
	int fd, ret = 0;

	switch (op) {
	case OP_CHMOD:
		return chmod(path, 0666) ? errno : 0;
	case OP_CHOWN:
		return chown(path, getuid(), (gid_t)-1) ? errno : 0;
	case OP_UTIMES:
		return utimensat(AT_FDCWD, path, times, 0) ? errno : 0;
	case OP_TRUNCATE:
		return truncate(path, 0) ? errno : 0;
	case OP_OPEN_APPEND:
	case OP_OPEN_RDWR:
	case OP_OPEN_TRUNC:
		fd = open(path, O_CLOEXEC | (op == OP_OPEN_APPEND ? O_WRONLY | O_APPEND :
					    op == OP_OPEN_RDWR ? O_RDWR : O_WRONLY | O_TRUNC));
		if (fd < 0)
			return errno;
		close(fd);
		return 0;
	case OP_ACCESS_W:
		return access(path, W_OK) ? errno : 0;
	case OP_READ:
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return errno;
		if (read(fd, buf, sizeof(buf)) < 0)
			ret = errno;
		close(fd);
		return ret;
	case OP_STAT: {
		struct stat st;

		return stat(path, &st) ? errno : 0;
	}
	}
	return EINVAL;
}

int main(int argc, char **argv)
{
	static long errs[MAX_ERRNO], followup_errs[MAX_ERRNO];
	long tries = 0, successes = 0, samples = 0, cached_self = 0, followups = 0,
	     followup_successes = 0;
	const char *env = getenv("RCFS_RACE_SECONDS");
	double seconds = env && *env ? atof(env) : 3.0, deadline;
	struct sigaction sa;
	enum op op = OP_STAT;
	const char *path;
	size_t i;

	if (argc != 3)
		goto usage;
	for (i = 0; i < sizeof(OP_NAMES) / sizeof(OP_NAMES[0]); i++)
		if (strcmp(argv[1], OP_NAMES[i]) == 0)
			break;
	if (i == sizeof(OP_NAMES) / sizeof(OP_NAMES[0]) || seconds <= 0)
		goto usage;
	op = (enum op)i;
	path = argv[2];

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	alarm(op == OP_STAT ? 600 : (unsigned)seconds + 60);

	deadline = op == OP_STAT ? 0 : now() + seconds;
	while (!stop && (op == OP_STAT || now() < deadline)) {
		int e = attempt(op, path);

		tries++;
		if (e == 0) {
			successes++;
			if (op == OP_STAT && successes == 1) {
				printf("ready\n");
				fflush(stdout);
			}
		} else {
			count_errno(errs, e);
		}
		if (op == OP_ACCESS_W && e == 0) {
			/* Right after a yes from access(2): what is the answer worth? */
			int fd = open(path, O_WRONLY | O_CLOEXEC);

			followups++;
			if (fd >= 0) {
				followup_successes++;
				close(fd);
			} else {
				count_errno(followup_errs, errno);
			}
		}
		if (op != OP_STAT && tries % SAMPLE_EVERY == 1) {
			struct statx sx;

			if (statx(AT_FDCWD, path, AT_STATX_DONT_SYNC, STATX_UID, &sx) == 0) {
				samples++;
				if (sx.stx_uid == getuid())
					cached_self++;
			}
		}
	}
	printf("tries=%ld successes=%ld samples=%ld cached_self=%ld followups=%ld "
	       "followup_successes=%ld", tries, successes, samples, cached_self, followups,
	       followup_successes);
	print_errnos("errnos", errs);
	print_errnos("followup_errnos", followup_errs);
	printf("\n");
	return 0;

usage:
	fprintf(stderr, "usage: rcfs_attack chmod|chown|utimes|truncate|open-append|open-rdwr|"
		"open-trunc|access-w|read|stat PATH (RCFS_RACE_SECONDS, default 3)\n");
	return 2;
}
