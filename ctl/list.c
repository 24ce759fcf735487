/* resolvconffs-ctl list and gc: the admin's view of a backing directory and its clean-up. */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "../core/inventory.h"

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

int ctl_list(const struct ctl_opts *o)
{
	struct rcfs_config cfg = o->cfg;
	struct rcfs_inventory inv;
	struct rcfs_ctx ctx;
	int delete = o->delete, ret;

	/* The names directory is scanned for liveness here, for any key kind: not served by name. */
	cfg.names_dir = NULL;
	ret = ctl_ctx_init(&ctx, &cfg);
	if (ret)
		return ret;
	if (ctx.key_source != RCFS_KEY_NS) {
		rcfs_ctx_fini(&ctx);
		return ctl_fail(CTL_USAGE, "key '%s': only namespace keys can be alive or dead",
				o->cfg.key_kind);
	}
	ret = rcfs_inventory_scan(&ctx, strcmp(ctx.ns_kind, "net") ? NULL : o->names_dir, &inv);
	if (ret) {
		rcfs_ctx_fini(&ctx);
		return ctl_fail(CTL_FAILED, "scanning: %s", strerror(-ret));
	}
	if (o->command == CTL_LIST)
		list(&inv);
	else
		rcfs_inventory_gc(&ctx, &inv, delete, report_gc, &delete);
	rcfs_inventory_free(&inv);
	rcfs_ctx_fini(&ctx);
	return 0;
}
