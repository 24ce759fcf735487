/* resolvconffs-ctl: the admin's view of a backing directory (list) and its clean-up (gc). */
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/context.h"
#include "../core/inventory.h"

static const char usage[] =
	"Usage: resolvconffs-ctl list [OPTIONS] BACKING_DIRECTORY\n"
	"       resolvconffs-ctl gc [--delete] [OPTIONS] BACKING_DIRECTORY\n"
	"\n"
	"list  one row per backing file: key, ip-netns name, whether its namespace is alive (held\n"
	"      by a process's or thread's ns link, or by an ip-netns name), how many processes are\n"
	"      in it, size, modification time; then the live namespaces that have no file yet.\n"
	"gc    show the id-named files whose namespace is dead (\"dead FILE\") and the stale\n"
	"      copies the daemon moved aside when an id was reused (\"stale FILE.stale-N\");\n"
	"      remove both with --delete (\"removed FILE\"). Named files and files whose names\n"
	"      do not parse are never touched. Limit: a namespace kept alive only by an open fd\n"
	"      or a bind mount outside the names directory looks dead.\n"
	"\n"
	"  -p, --extension EXTENSION  backing file extension (default: conf)\n"
	"  -P, --procfs PROCFS        where to read <pid>/task/<tid>/ns/KIND (default: /proc)\n"
	"  -k, --key KIND             namespace type the files are keyed by (default: net)\n"
	"      --names[=DIR]          where ip-netns names live (default: /run/netns)\n"
	"      --delete               gc: remove the dead files and stale copies\n"
	"  -h, --help                 show this help\n";

struct ctl_opts {
	struct rcfs_config cfg;
	const char *names_dir;
	const char *command;
	int delete;
};

static int parse(int argc, char **argv, struct ctl_opts *o)
{
	static const struct option longopts[] = {
		{ "extension", required_argument, NULL, 'p' },
		{ "procfs", required_argument, NULL, 'P' },
		{ "key", required_argument, NULL, 'k' },
		{ "names", optional_argument, NULL, 'N' },
		{ "delete", no_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	o->names_dir = "/run/netns";
	while ((c = getopt_long(argc, argv, "p:P:k:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'p': o->cfg.extension = optarg; break;
		case 'P': o->cfg.procfs = optarg; break;
		case 'k': o->cfg.key_kind = optarg; break;
		case 'N': o->names_dir = optarg ? optarg : "/run/netns"; break;
		case 'D': o->delete = 1; break;
		case 'h': fputs(usage, stdout); exit(0);
		default: return -1;
		}
	}
	if (argc - optind != 2 || (strcmp(argv[optind], "list") && strcmp(argv[optind], "gc"))) {
		fprintf(stderr, "resolvconffs-ctl: expected 'list' or 'gc' and a BACKING_DIRECTORY (see --help)\n");
		return -1;
	}
	if (o->delete && strcmp(argv[optind], "gc")) {
		fprintf(stderr, "resolvconffs-ctl: --delete belongs to gc\n");
		return -1;
	}
	o->command = argv[optind];
	o->cfg.backing_dir = argv[optind + 1];
	return 0;
}

static void format_time(const struct timespec *ts, char *buf, size_t size)
{
	struct tm tm;

	if (!gmtime_r(&ts->tv_sec, &tm) || !strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, size, "-");
}

/* Room for a file or namespace name with every byte escaped. */
#define ESC_SIZE (NAME_MAX * 4 + 1)

/* Copy name into buf with every control byte, DEL and backslash written as \xNN, and return
 * buf. Names come from the backing directory and /run/netns, where any byte but '/' and NUL is
 * allowed: a newline would forge a row of the report, an escape sequence would drive the
 * admin's terminal. The backslash is escaped too, so an escape cannot be faked by the name
 * itself. A name longer than NAME_MAX is cut before an escape that does not fit whole. */
static const char *esc(const char *name, char buf[ESC_SIZE])
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	for (; *name; name++) {
		unsigned char c = (unsigned char)*name;
		int ctl = c < 0x20 || c == 0x7f || c == '\\';

		if (ESC_SIZE - o < (ctl ? 5u : 2u))
			break;
		if (ctl) {
			buf[o++] = '\\';
			buf[o++] = 'x';
			buf[o++] = hex[c >> 4];
			buf[o++] = hex[c & 0xf];
		} else {
			buf[o++] = (char)c;
		}
	}
	buf[o] = '\0';
	return buf;
}

static void list_file(const struct rcfs_inventory *inv, const struct rcfs_file *f)
{
	const struct rcfs_live_ns *ns = NULL;
	char key[24] = "-", when[32], ename[ESC_SIZE], efile[ESC_SIZE];
	const char *name = "-", *state;

	if (f->kind == RCFS_FILE_ID) {
		ns = rcfs_inventory_live(inv, f->id);
		snprintf(key, sizeof(key), "%" PRIu64, f->id);
		if (ns && ns->name[0])
			name = ns->name;
	} else if (f->kind == RCFS_FILE_NAMED) {
		ns = rcfs_inventory_named(inv, f->name);
		name = f->name;
		if (ns)
			snprintf(key, sizeof(key), "%" PRIu64, ns->id);
	}
	state = f->kind == RCFS_FILE_STALE ? "stale" : f->kind == RCFS_FILE_OTHER ? "-" :
		ns ? "alive" : "dead";
	format_time(&f->mtime, when, sizeof(when));
	printf("%-20s %-16s %-6s %5u %8jd %-20s %s\n", key, esc(name, ename), state,
	       ns ? ns->procs : 0, (intmax_t)f->size, when, esc(f->file, efile));
}

static void list(const struct rcfs_inventory *inv)
{
	printf("%-20s %-16s %-6s %5s %8s %-20s %s\n", "KEY", "NAME", "STATE", "PROCS", "SIZE",
	       "MODIFIED", "FILE");
	for (size_t i = 0; i < inv->n_files; i++)
		list_file(inv, &inv->files[i]);
	for (size_t i = 0; i < inv->n_live; i++) {
		const struct rcfs_live_ns *ns = &inv->live[i];
		char ename[ESC_SIZE];

		if (!rcfs_inventory_has_file(inv, ns))
			printf("%-20" PRIu64 " %-16s %-6s %5u %8s %-20s %s\n", ns->id,
			       ns->name[0] ? esc(ns->name, ename) : "-", "alive", ns->procs, "-", "-",
			       "(no file)");
	}
}

static void report_gc(void *arg, const struct rcfs_file *f, int result)
{
	const int *delete = arg;
	char efile[ESC_SIZE];

	if (!*delete)
		printf("%s %s\n", f->kind == RCFS_FILE_STALE ? "stale" : "dead", esc(f->file, efile));
	else if (result == 0)
		printf("removed %s\n", esc(f->file, efile));
	else
		fprintf(stderr, "resolvconffs-ctl: cannot remove %s: %s\n", esc(f->file, efile),
			strerror(-result));
}

int main(int argc, char **argv)
{
	struct ctl_opts o = { 0 };
	struct rcfs_init_error err = { 0 };
	struct rcfs_inventory inv;
	struct rcfs_ctx ctx;
	int ret;

	if (parse(argc, argv, &o))
		return 2;
	ret = rcfs_ctx_init(&ctx, &o.cfg, &err);
	if (!ret && ctx.key_source != RCFS_KEY_NS) {
		rcfs_ctx_fini(&ctx);
		fprintf(stderr, "resolvconffs-ctl: key '%s': only namespace keys can be alive or dead\n",
			o.cfg.key_kind);
		return 2;
	}
	if (ret) {
		fprintf(stderr, "resolvconffs-ctl: %s '%s': %s\n", err.what, err.arg,
			err.why ? err.why : strerror(-ret));
		return 2;
	}
	ret = rcfs_inventory_scan(&ctx, strcmp(ctx.ns_kind, "net") ? NULL : o.names_dir, &inv);
	if (ret) {
		fprintf(stderr, "resolvconffs-ctl: scanning: %s\n", strerror(-ret));
		rcfs_ctx_fini(&ctx);
		return 1;
	}
	if (!strcmp(o.command, "list"))
		list(&inv);
	else
		rcfs_inventory_gc(&ctx, &inv, o.delete, report_gc, &o.delete);
	rcfs_inventory_free(&inv);
	rcfs_ctx_fini(&ctx);
	return 0;
}
