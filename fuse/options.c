#include "options.h"
#include "log.h"

#include <getopt.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The first part is the original tool's help, word for word, so existing docs stay true. */
static const char usage[] =
	"Usage: resolvconffs [OPTIONS] backing_directory mountpoint_file\n"
	"\n"
	"Special FUSE filesystem that maps its sole file to other files based on network namespace of process that queries the file.\n"
	"\n"
	"Positional arguments:\n"
	"  backing_directory          Directory where to look for resolv.conf-like files for each netns.\n"
	"  mountpoint_file\n"
	"\n"
	"Optional arguments:\n"
	"  -h, --help\n"
	"  -p, --extension EXTENSION  Filename extension. resolvconffs maps its file to <backing_directory>/<netns_identifier><postfix> (default: conf)\n"
	"  -d, --default-file DEFAULT-FILE\n"
	"                             In case of target file does not exist, copy this file to target instead of returning ENOENT.\n"
	"  -P, --procfs PROCFS        Directory where to look up network namespace IDs based on PIDs. (default: /proc)\n"
	"  -o, --fuse-opt OTHER-FUSE-OPTS\n"
	"                             Extra FUSE mount options (repeatable, comma lists allowed).\n"
	"  -V, --version              Print the version and the libfuse version, then exit.\n"
	"  -v, --verbose              More log output (repeatable): -v logs every request.\n"
	"      --log-level LEVEL      error, warning, info (default) or debug (every request).\n"
	"  -k, --key KIND             What the file is keyed by: net (default), mnt, uts, ipc, user,\n"
	"                             pid, cgroup, time (the caller's /proc/<pid>/ns/KIND), or uid,\n"
	"                             gid (the caller's credentials; no procfs needed).\n"
	"      --names[=DIR]          Serve a namespace named by `ip netns add NAME` (a bind mount in\n"
	"                             DIR, default /run/netns) <backing_directory>/NAME.<extension>\n"
	"                             instead of its id; unnamed namespaces keep the id rule.\n"
	"      --etc-netns[=DIR]      For a named namespace, serve DIR/NAME/<mountpoint's file name>\n"
	"                             (DIR default /etc/netns) when it exists, as `ip netns exec`\n"
	"                             would; otherwise the rules above. Implies --names.\n"
	"      --filter-loopback      When copying DEFAULT-FILE for a network namespace other than the\n"
	"                             daemon's own, drop nameserver lines on 127.0.0.0/8 or ::1,\n"
	"                             which that namespace cannot reach.\n"
	"      --fallback-nameserver ADDR\n"
	"                             With --filter-loopback: add `nameserver ADDR` when no\n"
	"                             nameserver remains (repeatable; IPv4 or IPv6).\n"
	"      --gc-on-start          Before mounting, remove id-named backing files whose namespace\n"
	"                             is dead (ids are recycled) and stale copies (FILE.stale-*),\n"
	"                             logging each; as `resolvconffs-ctl gc --delete`.\n"
	"      --no-recycle-check     Do not record the namespace's unique id (NS_GET_ID) on files\n"
	"                             the daemon creates, nor check it at open. By default, where\n"
	"                             the kernel has NS_GET_ID, an id-named file made for an earlier\n"
	"                             namespace whose id was reused is moved aside as\n"
	"                             FILE.stale-<unique id> and the caller gets a fresh template.\n"
	"      --takeover             If mountpoint_file already carries a resolvconffs mount (a\n"
	"                             live one, or a stale one left by a daemon that was killed),\n"
	"                             detach it and mount in its place; without this, refuse.\n"
	"      --access-check WHO     daemon (default): the daemon decides every open, access(2),\n"
	"                             chmod, chown, utimensat and truncate against the caller's own\n"
	"                             file, with the kernel's rules; kernel: the kernel's\n"
	"                             default_permissions check on top of the daemon's (one more\n"
	"                             GETATTR per open; access(2) is then answered by the kernel\n"
	"                             alone, from attributes all namespaces share).\n"
	"      --max-size BYTES       Largest backing file a write or truncate through the mount may\n"
	"                             make (default 1048576); beyond it EFBIG, nothing changed.\n"
	"      --gc-interval SECONDS  Every SECONDS, remove id-named backing files of dead namespaces\n"
	"                             and stale copies (FILE.stale-*), logging each; named files and\n"
	"                             the template are never touched.\n"
"      --host-original        The daemon's own namespace, while it has no file of its own in\n"
"                             backing_directory, is served the file the mount covers, live:\n"
"                             for a symlink, the file it points to (followed at each request,\n"
"                             so its manager's renames are seen), else the covered file itself.\n"
"                             No backing file is created for it.\n"
	"\n"
	"Runs in the foreground until unmounted or sent SIGINT/SIGTERM, which unmount cleanly.\n"
"A mountpoint_file that is a symlink is mounted over itself, not over the file it points to\n"
"(which its owner, e.g. a DNS manager, keeps replacing by rename); renaming onto the mounted\n"
"path then fails with EBUSY. Mounting over a symlink needs CAP_SYS_ADMIN.\n"
	"A caller whose network namespace cannot be determined gets ESRCH (process not visible from\n"
	"the daemon's pid namespace, or already gone), EINVAL (malformed ns link) or EACCES (the\n"
	"daemon may not read the caller's ns link) and is never served another namespace's file.\n";

/* Every long option has its own value >= 256, those with a short form too: getopt then sets
 * optopt to that value for a rejected long option (0 when unknown), to the letter for a short
 * one, and option_name can tell them apart. */
enum { OPT_LOG_LEVEL = 256, OPT_ACCESS_CHECK, OPT_NAMES, OPT_ETC_NETNS, OPT_FILTER, OPT_FALLBACK,
       OPT_GC_ON_START, OPT_NO_RECYCLE_CHECK, OPT_TAKEOVER, OPT_HELP, OPT_EXTENSION,
       OPT_DEFAULT_FILE, OPT_PROCFS, OPT_FUSE_OPT, OPT_VERSION, OPT_VERBOSE, OPT_KEY, OPT_MAX_SIZE,
       OPT_GC_INTERVAL, OPT_HOST_ORIGINAL };

static const struct option longopts[] = {
	{ "help", no_argument, NULL, OPT_HELP },
	{ "extension", required_argument, NULL, OPT_EXTENSION },
	{ "default-file", required_argument, NULL, OPT_DEFAULT_FILE },
	{ "procfs", required_argument, NULL, OPT_PROCFS },
	{ "fuse-opt", required_argument, NULL, OPT_FUSE_OPT },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ "verbose", no_argument, NULL, OPT_VERBOSE },
	{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
	{ "access-check", required_argument, NULL, OPT_ACCESS_CHECK },
	{ "key", required_argument, NULL, OPT_KEY },
	{ "names", optional_argument, NULL, OPT_NAMES },
	{ "etc-netns", optional_argument, NULL, OPT_ETC_NETNS },
	{ "filter-loopback", no_argument, NULL, OPT_FILTER },
	{ "fallback-nameserver", required_argument, NULL, OPT_FALLBACK },
	{ "gc-on-start", no_argument, NULL, OPT_GC_ON_START },
	{ "no-recycle-check", no_argument, NULL, OPT_NO_RECYCLE_CHECK },
	{ "takeover", no_argument, NULL, OPT_TAKEOVER },
	{ "max-size", required_argument, NULL, OPT_MAX_SIZE },
	{ "gc-interval", required_argument, NULL, OPT_GC_INTERVAL },
	{ "host-original", no_argument, NULL, OPT_HOST_ORIGINAL },
	{ NULL, 0, NULL, 0 },
};

static enum rcfs_parse_result error(FILE *err, const char *fmt, const char *arg)
{
	fputs("resolvconffs: ", err);
	fprintf(err, fmt, arg);
	fputs(" (see --help)\n", err);
	return RCFS_PARSE_ERROR;
}

/* A positive decimal number no larger than max: digits only (no sign, no blanks, no suffix). */
static int parse_count(const char *s, unsigned long long max, unsigned long long *out)
{
	unsigned long long v = 0;

	if (!*s)
		return -1;
	for (; *s; s++) {
		unsigned d = (unsigned char)*s - '0';

		if (d > 9 || v > (max - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	if (!v)
		return -1;
	*out = v;
	return 0;
}

/* Name the option getopt rejected: "-x" for a short one, the argument itself for a long one. */
static const char *option_name(char **argv, char buf[3])
{
	if (optopt && optopt < 256) {
		buf[0] = '-';
		buf[1] = (char)optopt;
		buf[2] = '\0';
		return buf;
	}
	return argv[optind - 1];
}

enum rcfs_parse_result rcfs_options_parse(int argc, char **argv, struct rcfs_options *opts,
					  FILE *out, FILE *err)
{
	unsigned long long n;
	int c, version = 0;
	char optname[3];

	memset(opts, 0, sizeof(*opts));
	opts->log_level = RCFS_LOG_INFO;
	opts->fuse_opts = calloc((size_t)argc + 1, sizeof(*opts->fuse_opts));
	opts->fallbacks = calloc((size_t)argc + 1, sizeof(*opts->fallbacks));
	if (!opts->fuse_opts || !opts->fallbacks)
		return error(err, "%s", "out of memory");
	opts->cfg.fallbacks = opts->fallbacks;

	optind = 0; /* full reset, so the parser can run more than once (tests, fuzzing) */
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":hp:d:P:o:Vvk:", longopts, NULL)) != -1) {
		switch (c) {
		case 'h': case OPT_HELP:
			fputs(usage, out);
			return RCFS_PARSE_HELP;
		case 'p': case OPT_EXTENSION: opts->cfg.extension = optarg; break;
		case 'd': case OPT_DEFAULT_FILE: opts->cfg.template_path = optarg; break;
		case 'P': case OPT_PROCFS: opts->cfg.procfs = optarg; break;
		case 'o': case OPT_FUSE_OPT: opts->fuse_opts[opts->n_fuse_opts++] = optarg; break;
		case 'V': case OPT_VERSION: version = 1; break;
		case 'v': case OPT_VERBOSE:
			if (opts->log_level < RCFS_LOG_DEBUG)
				opts->log_level++;
			break;
		case OPT_LOG_LEVEL:
			opts->log_level = rcfs_log_level_parse(optarg);
			if (opts->log_level < 0)
				return error(err, "unknown log level '%s'", optarg);
			break;
		case 'k': case OPT_KEY: opts->cfg.key_kind = optarg; break;
		case OPT_NAMES: opts->cfg.names_dir = optarg ? optarg : "/run/netns"; break;
		case OPT_ETC_NETNS: opts->cfg.etc_netns_dir = optarg ? optarg : "/etc/netns"; break;
		case OPT_FILTER: opts->cfg.filter_loopback = 1; break;
		case OPT_GC_ON_START: opts->gc_on_start = 1; break;
		case OPT_NO_RECYCLE_CHECK: opts->cfg.no_nsid = 1; break;
		case OPT_TAKEOVER: opts->takeover = 1; break;
		case OPT_FALLBACK: opts->fallbacks[opts->cfg.n_fallbacks++] = optarg; break;
		case OPT_ACCESS_CHECK:
			if (strcmp(optarg, "kernel") != 0 && strcmp(optarg, "daemon") != 0)
				return error(err, "--access-check must be 'kernel' or 'daemon', not '%s'", optarg);
			opts->kernel_check = optarg[0] == 'k';
			break;
		case OPT_MAX_SIZE:
			if (parse_count(optarg, (unsigned long long)INT64_MAX, &n))
				return error(err, "--max-size must be a number of bytes from 1, not '%s'", optarg);
			opts->cfg.max_size = (long long)n;
			break;
		case OPT_GC_INTERVAL:
			if (parse_count(optarg, UINT_MAX, &n))
				return error(err, "--gc-interval must be a number of seconds from 1, not '%s'",
					     optarg);
			opts->gc_interval = (unsigned)n;
			break;
		case OPT_HOST_ORIGINAL:
			opts->host_original = 1;
			break;
		case ':':
			return error(err, "option '%s' needs an argument", option_name(argv, optname));
		default:
			return error(err, "unknown option '%s'", option_name(argv, optname));
		}
	}
	if (version)
		return RCFS_PARSE_VERSION;
	if (argc - optind != 2)
		return error(err, "%s", argc - optind < 2 ?
			     "expected backing_directory and mountpoint_file" :
			     "too many arguments: expected backing_directory and mountpoint_file");
	opts->cfg.backing_dir = argv[optind];
	opts->mountpoint = argv[optind + 1];
	opts->cfg.mount_basename = strrchr(opts->mountpoint, '/') ? strrchr(opts->mountpoint, '/') + 1 :
				   opts->mountpoint;
	return RCFS_PARSE_RUN;
}

void rcfs_options_free(struct rcfs_options *opts)
{
	free(opts->fuse_opts);
	free(opts->fallbacks);
	opts->fuse_opts = NULL;
	opts->fallbacks = NULL;
}
