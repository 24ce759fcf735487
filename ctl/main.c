/* resolvconffs-ctl: the admin's view of a backing directory (list), its clean-up (gc), replacing
 * one namespace's file (set) and finding the file a process is served (which). */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

static const char usage[] =
	"Usage: resolvconffs-ctl list [OPTIONS] BACKING_DIRECTORY\n"
	"       resolvconffs-ctl gc [--delete] [OPTIONS] BACKING_DIRECTORY\n"
	"       resolvconffs-ctl set (--pid PID | --netns NAME | --id ID) [OPTIONS]\n"
	"                            BACKING_DIRECTORY\n"
	"       resolvconffs-ctl which --pid PID [OPTIONS] BACKING_DIRECTORY\n"
	"\n"
	"list   one row per backing file: key, ip-netns name, whether its namespace is alive (held\n"
	"       by a process's or thread's ns link, or by an ip-netns name), how many processes are\n"
	"       in it, size, modification time; then the live namespaces that have no file yet.\n"
	"gc     show the id-named files whose namespace is dead (\"dead FILE\") and the stale\n"
	"       copies the daemon moved aside when an id was reused (\"stale FILE.stale-N\");\n"
	"       remove both with --delete (\"removed FILE\"). Named files and files whose names\n"
	"       do not parse are never touched. Limit: a namespace kept alive only by an open fd\n"
	"       or a bind mount outside the names directory looks dead.\n"
	"set    replace the file of one namespace with what stdin holds, atomically: readers see\n"
	"       the old or the new content, never a mix. The namespace is that of process or\n"
	"       thread PID, the one named NAME with `ip netns`, or the key ID itself. The file is\n"
	"       <key>.<extension> in BACKING_DIRECTORY (NAME.<extension> with --names for a named\n"
	"       namespace); it keeps the owner and mode of the file it replaces, a new one is\n"
	"       root's with the mode of -d FILE, else 0644. A symlink or anything but a regular\n"
	"       file in its place is refused. Prints nothing unless -v.\n"
	"which  print the one file the daemon serves process or thread PID, given the daemon's\n"
	"       mapping options: its backing file (or NAME.<extension>), its /etc/netns file, or\n"
	"       the file beneath the mount (--host-original). A missing file: the path it will be\n"
	"       created at, or the template (-d) when the namespace is served the template view;\n"
	"       without -d the path, with exit status 1 (the process gets ENOENT).\n"
	"\n"
	"  -p, --extension EXTENSION  backing file extension (default: conf)\n"
	"  -P, --procfs PROCFS        where to read <pid>/task/<tid>/ns/KIND (default: /proc)\n"
	"  -k, --key KIND             namespace type the files are keyed by (default: net); set\n"
	"                             and which also take uid and gid\n"
	"      --names[=DIR]          where ip-netns names live (default: /run/netns); set and\n"
	"                             which: a named namespace's file is NAME.<extension>\n"
	"      --delete               gc: remove the dead files and stale copies\n"
	"      --pid PID              set, which: the namespace of process or thread PID\n"
	"      --netns NAME           set: the namespace named NAME in the --names directory, or\n"
	"                             in /run/netns\n"
	"      --id ID                set: the key itself, a decimal number\n"
	"  -d, --default-file FILE    set: a new file gets FILE's mode; which: the daemon's template\n"
	"      --etc-netns[=DIR]      which: as the daemon's (DIR default /etc/netns; implies\n"
	"                             --names); the file name is MOUNTPOINT's, see below\n"
	"      --host-original[=MOUNTPOINT]\n"
	"                             which: as the daemon's, mounted on MOUNTPOINT (default\n"
	"                             /etc/resolv.conf); what the mount covers is looked at in\n"
	"                             a private mount namespace (needs CAP_SYS_ADMIN)\n"
	"  -v, --verbose              set: print the file's path; which: say why, on stderr\n"
	"  -h, --help                 show this help\n";

enum { OPT_NAMES = 256, OPT_DELETE, OPT_PID, OPT_NETNS, OPT_ID, OPT_ETC_NETNS,
       OPT_HOST_ORIGINAL };

static const struct option longopts[] = {
	{ "extension", required_argument, NULL, 'p' },
	{ "procfs", required_argument, NULL, 'P' },
	{ "key", required_argument, NULL, 'k' },
	{ "names", optional_argument, NULL, OPT_NAMES },
	{ "delete", no_argument, NULL, OPT_DELETE },
	{ "pid", required_argument, NULL, OPT_PID },
	{ "netns", required_argument, NULL, OPT_NETNS },
	{ "id", required_argument, NULL, OPT_ID },
	{ "default-file", required_argument, NULL, 'd' },
	{ "etc-netns", optional_argument, NULL, OPT_ETC_NETNS },
	{ "host-original", optional_argument, NULL, OPT_HOST_ORIGINAL },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* Which commands each option belongs to; the rest (-p, -P, -k, --names) belong to all. */
static const struct {
	int opt;
	const char *name;
	int commands;
} scoped[] = {
	{ OPT_DELETE, "--delete", CTL_GC },
	{ OPT_PID, "--pid", CTL_SET | CTL_WHICH },
	{ OPT_NETNS, "--netns", CTL_SET },
	{ OPT_ID, "--id", CTL_SET },
	{ 'd', "-d/--default-file", CTL_SET | CTL_WHICH },
	{ OPT_ETC_NETNS, "--etc-netns", CTL_WHICH },
	{ OPT_HOST_ORIGINAL, "--host-original", CTL_WHICH },
	{ 'v', "-v/--verbose", CTL_SET | CTL_WHICH },
};

#define N_SCOPED (sizeof(scoped) / sizeof(scoped[0]))

int ctl_fail(int status, const char *fmt, ...)
{
	va_list ap;

	fputs("resolvconffs-ctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return status;
}

int ctl_ctx_init(struct rcfs_ctx *ctx, const struct rcfs_config *cfg)
{
	struct rcfs_init_error err = { 0 };
	int ret = rcfs_ctx_init(ctx, cfg, &err);

	if (!ret)
		return 0;
	return ctl_fail(CTL_USAGE, "%s '%s': %s", err.what, err.arg ? err.arg : "",
			err.why ? err.why : strerror(-ret));
}

static const struct {
	const char *name;
	enum ctl_command command;
} commands[] = {
	{ "list", CTL_LIST }, { "gc", CTL_GC }, { "set", CTL_SET }, { "which", CTL_WHICH },
};

static int set_command(struct ctl_opts *o, const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (!strcmp(name, commands[i].name)) {
			o->command = commands[i].command;
			return 0;
		}
	}
	return -1;
}

static int option(struct ctl_opts *o, int c, int seen[N_SCOPED])
{
	for (size_t i = 0; i < N_SCOPED; i++)
		if (scoped[i].opt == c)
			seen[i] = 1;
	switch (c) {
	case 'p': o->cfg.extension = optarg; break;
	case 'P': o->cfg.procfs = optarg; break;
	case 'k': o->cfg.key_kind = optarg; break;
	case 'd': o->cfg.template_path = optarg; break;
	case 'v': o->verbose = 1; break;
	case OPT_NAMES: o->names_dir = o->cfg.names_dir = optarg ? optarg : "/run/netns"; break;
	case OPT_DELETE: o->delete = 1; break;
	case OPT_PID: o->pid = optarg; break;
	case OPT_NETNS: o->netns = optarg; break;
	case OPT_ID: o->id = optarg; break;
	case OPT_ETC_NETNS: o->cfg.etc_netns_dir = optarg ? optarg : "/etc/netns"; break;
	case OPT_HOST_ORIGINAL: o->host_mountpoint = optarg ? optarg : "/etc/resolv.conf"; break;
	case 'h': fputs(usage, stdout); exit(0);
	default: return -1;
	}
	return 0;
}

/* Whether the options given suit the command: each belongs where it has a meaning. */
static int check_scope(const struct ctl_opts *o, const char *command, const int seen[N_SCOPED])
{
	int selectors = !!o->pid + !!o->netns + !!o->id;

	for (size_t i = 0; i < N_SCOPED; i++)
		if (seen[i] && !(scoped[i].commands & o->command))
			return ctl_fail(CTL_USAGE, "%s does not apply to %s (see --help)",
					scoped[i].name, command);
	if (o->command == CTL_SET && selectors != 1)
		return ctl_fail(CTL_USAGE, "set takes exactly one of --pid, --netns, --id (see --help)");
	if (o->command == CTL_WHICH && !o->pid)
		return ctl_fail(CTL_USAGE, "which needs --pid PID (see --help)");
	return 0;
}

static int parse(int argc, char **argv, struct ctl_opts *o)
{
	int seen[N_SCOPED] = { 0 };
	int c;

	o->names_dir = "/run/netns";
	while ((c = getopt_long(argc, argv, "p:P:k:d:vh", longopts, NULL)) != -1)
		if (option(o, c, seen))
			return CTL_USAGE; /* getopt said why */
	if (argc - optind != 2 || set_command(o, argv[optind]))
		return ctl_fail(CTL_USAGE, "expected 'list', 'gc', 'set' or 'which' and a "
				"BACKING_DIRECTORY (see --help)");
	o->cfg.backing_dir = argv[optind + 1];
	return check_scope(o, argv[optind], seen);
}

int main(int argc, char **argv)
{
	struct ctl_opts o = { 0 };
	int ret = parse(argc, argv, &o);

	if (ret)
		return ret;
	switch (o.command) {
	case CTL_SET:
		return ctl_set(&o);
	case CTL_WHICH:
		return ctl_which(&o);
	default:
		return ctl_list(&o);
	}
}
