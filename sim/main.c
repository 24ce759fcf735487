/* resolvconffs-sim: drive the core from a line protocol on stdin, without FUSE or root. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/context.h"
#include "protocol.h"

static const char usage[] =
	"Usage: resolvconffs-sim [-p EXTENSION] [-d DEFAULT-FILE] [-P PROCFS] [-k KIND] [--names[=DIR]]\n"
	"                        [--filter-loopback [--fallback-nameserver ADDR]...] BACKING_DIRECTORY\n"
	"\n"
	"Reads commands from stdin, one per line, and answers each with one line\n"
	"beginning `ok` or `err ERRNO-NAME`:\n"
	"  key PID              resolve PID's namespace id only\n"
	"  read PID             ok N, a newline, N bytes of the caller's file, a newline\n"
	"  stat PID             ok size=N mode=OCTAL uid=U gid=G\n"
	"  write PID TEXT       replace the file with TEXT and a newline\n"
	"  append PID TEXT      append TEXT and a newline\n"
	"  truncate PID SIZE    truncate the file to SIZE bytes\n"
	"\n"
	"  -p, --extension EXTENSION    backing file extension (default: conf; empty: none)\n"
	"  -d, --default-file FILE      copy FILE to a missing backing file instead of ENOENT\n"
	"  -P, --procfs PROCFS          where to read <pid>/ns/net (default: /proc)\n"
	"  -k, --key KIND               net (default), mnt, uts, ipc, user, pid, cgroup, time,\n"
	"                               uid or gid (the simulator's own credentials)\n"
	"      --names[=DIR]            serve ip-netns names from DIR (default /run/netns)\n"
	"      --filter-loopback        drop loopback nameservers from copies for other netns\n"
	"      --fallback-nameserver ADDR  add it when no nameserver remains (repeatable)\n"
	"  -h, --help                   show this help\n";

static int parse_args(int argc, char **argv, struct rcfs_config *cfg, const char **fallbacks)
{
	static const struct option longopts[] = {
		{ "extension", required_argument, NULL, 'p' },
		{ "default-file", required_argument, NULL, 'd' },
		{ "procfs", required_argument, NULL, 'P' },
		{ "key", required_argument, NULL, 'k' },
		{ "names", optional_argument, NULL, 'N' },
		{ "filter-loopback", no_argument, NULL, 'F' },
		{ "fallback-nameserver", required_argument, NULL, 'A' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "+p:d:P:k:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'p': cfg->extension = optarg; break;
		case 'd': cfg->template_path = optarg; break;
		case 'P': cfg->procfs = optarg; break;
		case 'k': cfg->key_kind = optarg; break;
		case 'N': cfg->names_dir = optarg ? optarg : "/run/netns"; break;
		case 'F': cfg->filter_loopback = 1; break;
		case 'A': fallbacks[cfg->n_fallbacks++] = optarg; break;
		case 'h': fputs(usage, stdout); exit(0);
		default: return -1; /* getopt already printed the one-line reason */
		}
	}
	if (argc - optind != 1) {
		fprintf(stderr, "resolvconffs-sim: expected exactly one BACKING_DIRECTORY (see --help)\n");
		return -1;
	}
	cfg->backing_dir = argv[optind];
	return 0;
}

int main(int argc, char **argv)
{
	struct rcfs_config cfg = { 0 };
	struct rcfs_init_error err = { 0 };
	struct rcfs_ctx ctx;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int ret;

	const char **fallbacks = calloc((size_t)argc + 1, sizeof(*fallbacks));

	cfg.fallbacks = fallbacks;
	if (!fallbacks || parse_args(argc, argv, &cfg, fallbacks)) {
		free(fallbacks);
		return 2;
	}
	ret = rcfs_ctx_init(&ctx, &cfg, &err);
	free(fallbacks); /* the context keeps copies */
	if (ret) {
		fprintf(stderr, "resolvconffs-sim: %s '%s': %s\n", err.what, err.arg,
			err.why ? err.why : strerror(-ret));
		return 2;
	}
	while ((len = getline(&line, &cap, stdin)) >= 0) {
		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		sim_execute(&ctx, line, (size_t)len, (unsigned)getuid(), (unsigned)getgid(), stdout);
	}
	free(line);
	rcfs_ctx_fini(&ctx);
	return 0;
}
