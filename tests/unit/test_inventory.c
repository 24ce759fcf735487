/* The admin's view of a backing directory: rcfs_inventory_scan (files classified by name, then
 * live namespaces from a procfs tree and a names directory), the lookups, and rcfs_inventory_gc
 * (dead id-named files and stale copies; never named files, unparsable names or the template). */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../core/inventory.h"
#include "helpers.h"
#include "helpers2.h"

TestSuite(inventory, .fini = h2_cleanup);

static char root[PATH_MAX], procfs[PATH_MAX], backing[PATH_MAX];
static struct rcfs_ctx ctx;
static struct rcfs_inventory inv;

static void make_tree(void)
{
	th_mkdtemp(root);
	th_join(procfs, root, "proc");
	th_join(backing, root, "backing");
	cr_assert_eq(mkdir(procfs, 0755), 0);
	cr_assert_eq(mkdir(backing, 0755), 0);
}

static void init_template(const char *key, const char *ext, const char *proc, const char *tmpl)
{
	struct rcfs_config cfg = { 0 };
	struct rcfs_init_error err = { 0 };
	int ret;

	cfg.procfs = proc ? proc : procfs;
	cfg.backing_dir = backing;
	cfg.extension = ext;
	cfg.key_kind = key;
	cfg.template_path = tmpl;
	ret = rcfs_ctx_init(&ctx, &cfg, &err);
	cr_assert_eq(ret, 0, "rcfs_ctx_init: %s: %s", err.what, strerror(-ret));
}

static void init(const char *key, const char *ext, const char *proc)
{
	init_template(key, ext, proc, NULL);
}

static void done(void)
{
	rcfs_inventory_free(&inv);
	cr_assert_null(inv.live);
	cr_assert_null(inv.files);
	rcfs_ctx_fini(&ctx);
}

static void link_(const char *rel, const char *text)
{
	h2_fake_link(procfs, rel, text);
}

static void put(const char *name, const char *text)
{
	char path[PATH_MAX];

	th_join(path, backing, name);
	th_write_file(path, text, strlen(text), 0644);
}

static int exists(const char *name)
{
	char path[PATH_MAX];

	th_join(path, backing, name);
	return h2_exists(path);
}

static const struct rcfs_file *find_file(const char *name)
{
	for (size_t i = 0; i < inv.n_files; i++)
		if (!strcmp(inv.files[i].file, name))
			return &inv.files[i];
	return NULL;
}

static void expect_kind(const char *name, enum rcfs_file_kind kind)
{
	const struct rcfs_file *f = find_file(name);

	cr_assert_not_null(f, "%s not listed", name);
	cr_expect_eq(f->kind, kind, "%s: kind %d, want %d", name, f->kind, kind);
}

static void expect_id(const char *name, uint64_t id)
{
	const struct rcfs_file *f = find_file(name);

	expect_kind(name, RCFS_FILE_ID);
	cr_expect_eq(f->id, id, "%s: id %llu", name, (unsigned long long)f->id);
}

static void expect_named(const char *name, const char *ns_name)
{
	const struct rcfs_file *f = find_file(name);

	expect_kind(name, RCFS_FILE_NAMED);
	cr_expect_str_eq(f->name, ns_name, "%s", name);
}

static void expect_live(uint64_t id, unsigned procs)
{
	const struct rcfs_live_ns *ns = rcfs_inventory_live(&inv, id);

	cr_assert_not_null(ns, "namespace %llu not live", (unsigned long long)id);
	cr_expect_eq(ns->id, id);
	cr_expect_eq(ns->procs, procs, "namespace %llu: %u processes, want %u",
		     (unsigned long long)id, ns->procs, procs);
}

/* What rcfs_inventory_gc reported. */
struct gc_log {
	int n;
	char file[16][NAME_MAX + 1];
	int result[16];
	uint64_t id[16];
	enum rcfs_file_kind kind[16];
};

static void log_gc(void *arg, const struct rcfs_file *f, int result)
{
	struct gc_log *g = arg;

	cr_assert_lt(g->n, 16);
	cr_assert(f->kind == RCFS_FILE_ID || f->kind == RCFS_FILE_STALE,
		  "gc reported %s, neither an id-named file nor a stale copy", f->file);
	snprintf(g->file[g->n], NAME_MAX + 1, "%s", f->file);
	g->id[g->n] = f->id;
	g->kind[g->n] = f->kind;
	g->result[g->n++] = result;
}

static int logged(const struct gc_log *g, const char *file, int *result)
{
	for (int i = 0; i < g->n; i++) {
		if (!strcmp(g->file[i], file)) {
			if (result)
				*result = g->result[i];
			return 1;
		}
	}
	return 0;
}

/* Whether file was reported as that kind (a dead id-named file or a stale copy). */
static int logged_as(const struct gc_log *g, const char *file, enum rcfs_file_kind kind)
{
	for (int i = 0; i < g->n; i++)
		if (!strcmp(g->file[i], file))
			return g->kind[i] == kind;
	return 0;
}

/* A procfs tree with processes with and without task/ directories:
 *   10 (no task/): net:[100]
 *   20: threads 20 and 21 both in net:[200]        -> 200 counts 20 once
 *   30: thread 30 in net:[200], thread 31 in [300] -> 200 and 300 count 30 once each
 *   40 (no task/): garbled link; 50: empty task/; 60: task/ with a garbled thread
 *   self: not numeric, ignored */
static void make_procs(void)
{
	char path[PATH_MAX];

	link_("10/ns/net", "net:[100]");
	link_("10/ns/uts", "uts:[910]");
	link_("20/ns/net", "net:[200]");
	link_("20/task/20/ns/net", "net:[200]");
	link_("20/task/21/ns/net", "net:[200]");
	link_("30/ns/net", "net:[200]");
	link_("30/task/30/ns/net", "net:[200]");
	link_("30/task/31/ns/net", "net:[300]");
	link_("30/task/30/ns/uts", "uts:[920]");
	link_("30/task/31/ns/uts", "uts:[920]");
	link_("40/ns/net", "net:[x]");
	link_("50/ns/net", "net:[500]"); /* hidden behind its empty task/ directory */
	th_pathf(path, "%s/50/task", procfs);
	cr_assert_eq(mkdir(path, 0755), 0, "mkdir %s: %s", path, strerror(errno));
	link_("60/task/60/ns/net", "net:[600]junk");
	link_("60/task/61/ns/net", "net:[600]");
	link_("self/ns/net", "net:[700]");
	link_("0x10/ns/net", "net:[800]");
}

static void make_files(const char *ext)
{
	static const char *const bases[] = { "100", "200", "999", "998", "blue" };
	char name[NAME_MAX + 1], dot[2] = ".";

	if (!ext[0])
		dot[0] = '\0';
	for (size_t i = 0; i < sizeof(bases) / sizeof(bases[0]); i++) {
		snprintf(name, sizeof(name), "%s%s%s", bases[i], dot, ext);
		put(name, bases[i]);
	}
	snprintf(name, sizeof(name), "300%s%s.stale-5", dot, ext);
	put(name, "stale of a live id");
	snprintf(name, sizeof(name), "999%s%s.stale-7", dot, ext);
	put(name, "stale of a dead id");
	snprintf(name, sizeof(name), ".999%s%s.tmp1a2b", dot, ext);
	put(name, "temporary");
	put("README", "other");
}

Test(inventory, classification_and_live_namespaces)
{
	char path[PATH_MAX];

	make_tree();
	make_procs();
	make_files("conf");
	put("x.txt", "other");
	put("12a.conf", "named, oddly");
	put(".hidden.conf", "other");
	put(".conf", "other");
	put("100.conf.bak", "other");
	put("100.confx", "other");
	th_join(path, backing, "777.conf");
	cr_assert_eq(mkdir(path, 0755), 0); /* directories are not listed */
	th_join(path, backing, "888.conf");
	cr_assert_eq(symlink("../elsewhere", path), 0);
	init(NULL, NULL, NULL);
	cr_assert_eq(rcfs_inventory_scan(&ctx, NULL, &inv), 0);

	/* Live: 100 (pid 10), 200 (pids 20 and 30, each once), 300 (pid 30), 600 (pid 60's good
	 * thread). Not 500 (empty task/), not the garbled or non-numeric ones. */
	cr_expect_eq(inv.n_live, 4, "%zu live namespaces", inv.n_live);
	expect_live(100, 1);
	expect_live(200, 2);
	expect_live(300, 1);
	expect_live(600, 1);
	cr_expect_null(rcfs_inventory_live(&inv, 500));
	cr_expect_null(rcfs_inventory_live(&inv, 700));
	cr_expect_null(rcfs_inventory_live(&inv, 800));
	cr_expect_null(rcfs_inventory_live(&inv, 999));
	cr_expect_null(rcfs_inventory_named(&inv, "blue"));
	for (size_t i = 1; i < inv.n_live; i++)
		cr_expect_lt(inv.live[i - 1].id, inv.live[i].id, "live list not sorted");
	for (size_t i = 0; i < inv.n_live; i++)
		cr_expect_str_eq(inv.live[i].name, "");

	/* Files, sorted by name. */
	cr_expect_eq(inv.n_files, 16, "%zu files", inv.n_files);
	for (size_t i = 1; i < inv.n_files; i++)
		cr_expect_lt(strcmp(inv.files[i - 1].file, inv.files[i].file), 0, "files not sorted");
	expect_id("100.conf", 100);
	expect_id("200.conf", 200);
	expect_id("999.conf", 999);
	expect_id("998.conf", 998);
	expect_id("888.conf", 888);
	expect_named("blue.conf", "blue");
	expect_named("12a.conf", "12a");
	expect_kind("300.conf.stale-5", RCFS_FILE_STALE);
	expect_kind("999.conf.stale-7", RCFS_FILE_STALE);
	expect_kind(".999.conf.tmp1a2b", RCFS_FILE_OTHER);
	expect_kind("README", RCFS_FILE_OTHER);
	expect_kind("x.txt", RCFS_FILE_OTHER);
	expect_kind(".hidden.conf", RCFS_FILE_OTHER);
	expect_kind(".conf", RCFS_FILE_OTHER);
	expect_kind("100.conf.bak", RCFS_FILE_OTHER);
	expect_kind("100.confx", RCFS_FILE_OTHER);
	cr_expect_null(find_file("777.conf"));
	cr_expect_eq(find_file("100.conf")->size, 3);
	cr_expect_eq(find_file("blue.conf")->size, 4);

	/* has_file: by id for unnamed namespaces; a stale copy does not count. */
	cr_expect(rcfs_inventory_has_file(&inv, rcfs_inventory_live(&inv, 100)));
	cr_expect(rcfs_inventory_has_file(&inv, rcfs_inventory_live(&inv, 200)));
	cr_expect(!rcfs_inventory_has_file(&inv, rcfs_inventory_live(&inv, 300)));
	cr_expect(!rcfs_inventory_has_file(&inv, rcfs_inventory_live(&inv, 600)));
	done();
}

Test(inventory, gc_reports_without_deleting)
{
	struct gc_log g = { 0 };
	int result = 1;

	make_tree();
	make_procs();
	make_files("conf");
	init(NULL, NULL, NULL);
	cr_assert_eq(rcfs_inventory_scan(&ctx, NULL, &inv), 0);
	cr_assert_eq(rcfs_inventory_gc(&ctx, &inv, 0, log_gc, &g), 4);
	cr_assert_eq(g.n, 4);
	cr_expect(logged(&g, "999.conf", &result));
	cr_expect_eq(result, 0);
	cr_expect(logged(&g, "998.conf", &result));
	cr_expect_eq(result, 0);
	/* Each report says which kind it is: a dead namespace's file, or a stale copy (also of a
	 * live id: the copy was made for the namespace that had the id before). */
	cr_expect(logged_as(&g, "999.conf", RCFS_FILE_ID));
	cr_expect(logged_as(&g, "998.conf", RCFS_FILE_ID));
	cr_expect(logged_as(&g, "300.conf.stale-5", RCFS_FILE_STALE));
	cr_expect(logged_as(&g, "999.conf.stale-7", RCFS_FILE_STALE));
	/* In name order. */
	for (int i = 1; i < g.n; i++)
		cr_expect_lt(strcmp(g.file[i - 1], g.file[i]), 0, "reports not in name order");
	for (size_t i = 0; i < inv.n_files; i++)
		cr_expect(exists(inv.files[i].file), "%s removed by a report-only gc", inv.files[i].file);
	done();
}

Test(inventory, gc_removes_dead_id_named_files_and_stale_copies)
{
	struct gc_log g = { 0 };
	int result = 1;
	char outside[PATH_MAX], path[PATH_MAX];

	make_tree();
	make_procs();
	make_files("conf");
	/* A dead id-named symlink: the link goes, never what it points to. */
	th_join(outside, root, "outside");
	th_write_file(outside, "target", 6, 0644);
	th_join(path, backing, "888.conf");
	cr_assert_eq(symlink(outside, path), 0);
	init(NULL, NULL, NULL);
	cr_assert_eq(rcfs_inventory_scan(&ctx, NULL, &inv), 0);
	cr_assert_eq(rcfs_inventory_gc(&ctx, &inv, 1, log_gc, &g), 5);
	cr_expect(logged(&g, "999.conf", &result) && result == 0);
	cr_expect(logged(&g, "998.conf", &result) && result == 0);
	cr_expect(logged(&g, "888.conf", &result) && result == 0);
	cr_expect(logged(&g, "300.conf.stale-5", &result) && result == 0);
	cr_expect(logged(&g, "999.conf.stale-7", &result) && result == 0);
	cr_expect(logged_as(&g, "888.conf", RCFS_FILE_ID));
	cr_expect(logged_as(&g, "300.conf.stale-5", RCFS_FILE_STALE));
	cr_expect(!exists("999.conf"));
	cr_expect(!exists("998.conf"));
	cr_expect(!exists("888.conf"));
	cr_expect(!exists("300.conf.stale-5"));
	cr_expect(!exists("999.conf.stale-7"));
	cr_expect(h2_exists(outside));
	/* Everything else stays: live id files, named, temporary and other files. */
	cr_expect(exists("100.conf"));
	cr_expect(exists("200.conf"));
	cr_expect(exists("blue.conf"));
	cr_expect(exists(".999.conf.tmp1a2b"));
	cr_expect(exists("README"));
	rcfs_inventory_free(&inv);

	/* A second pass finds nothing. */
	memset(&g, 0, sizeof(g));
	cr_assert_eq(rcfs_inventory_scan(&ctx, NULL, &inv), 0);
	cr_assert_eq(rcfs_inventory_gc(&ctx, &inv, 1, log_gc, &g), 0);
	cr_assert_eq(g.n, 0);
	done();
}

Test(inventory, gc_reports_unlink_errors)
{
	struct gc_log g = { 0 };
	int result = 0;
	char path[PATH_MAX];

	make_tree();
	make_procs();
	make_files("conf");
	init(NULL, NULL, NULL);
	cr_assert_eq(rcfs_inventory_scan(&ctx, NULL, &inv), 0);
	/* Removed behind the inventory's back. */
	th_join(path, backing, "999.conf");
	cr_assert_eq(unlink(path), 0);
	cr_assert_eq(rcfs_inventory_gc(&ctx, &inv, 1, log_gc, &g), 4);
	cr_expect(logged(&g, "999.conf", &result));
	cr_expect_eq(result, -ENOENT);
	cr_expect(logged(&g, "998.conf", &result));
	cr_expect_eq(result, 0);
	done();
}

Test(inventory, empty_extension)
{
	struct gc_log g = { 0 };

	make_tree();
	make_procs();
	make_files("");
	put("x.conf", "named x.conf");
	init(NULL, "", NULL);
	cr_assert_eq(rcfs_inventory_scan(&ctx, NULL, &inv), 0);
	expect_id("100", 100);
	expect_id("999", 999);
	expect_named("blue", "blue");
	expect_named("x.conf", "x.conf");
	expect_named("README", "README");
	expect_kind("300.stale-5", RCFS_FILE_STALE);
	expect_kind("999.stale-7", RCFS_FILE_STALE);
	expect_kind(".999.tmp1a2b", RCFS_FILE_OTHER);
	cr_expect(rcfs_inventory_has_file(&inv, rcfs_inventory_live(&inv, 100)));
	cr_assert_eq(rcfs_inventory_gc(&ctx, &inv, 1, log_gc, &g), 4);
	cr_expect(!exists("999") && !exists("998") && !exists("999.stale-7") &&
		  !exists("300.stale-5"));
	cr_expect(exists("100") && exists("200") && exists("blue") && exists(".999.tmp1a2b") &&
		  exists("README") && exists("x.conf"));
	done();
}

Test(inventory, dotted_extension)
{
	make_tree();
	make_procs();
	put("100.resolv.conf", "x");
	put("999.resolv.conf", "x");
	put("100.conf", "x");
	put("blue.resolv.conf", "x");
	init(NULL, "resolv.conf", NULL);
	cr_assert_eq(rcfs_inventory_scan(&ctx, NULL, &inv), 0);
	expect_id("100.resolv.conf", 100);
	expect_id("999.resolv.conf", 999);
	expect_named("blue.resolv.conf", "blue");
	expect_kind("100.conf", RCFS_FILE_OTHER);
	done();
}

Test(inventory, other_key_kind_reads_its_own_links)
{
	struct gc_log g = { 0 };

	make_tree();
	make_procs();
	put("910.conf", "x");
	put("920.conf", "x");
	put("100.conf", "a net id: dead for uts keys");
	init("uts", NULL, NULL);
	cr_assert_eq(rcfs_inventory_scan(&ctx, NULL, &inv), 0);
	cr_expect_eq(inv.n_live, 2, "%zu live", inv.n_live);
	expect_live(910, 1);
	expect_live(920, 1); /* two threads of pid 30 */
	cr_expect_null(rcfs_inventory_live(&inv, 100));
	cr_assert_eq(rcfs_inventory_gc(&ctx, &inv, 0, log_gc, &g), 1);
	cr_expect(logged(&g, "100.conf", NULL));
	done();
}

Test(inventory, empty_procfs_everything_is_dead)
{
	struct gc_log g = { 0 };

	make_tree();
	make_files("conf");
	init(NULL, NULL, NULL);
	cr_assert_eq(rcfs_inventory_scan(&ctx, NULL, &inv), 0);
	cr_expect_eq(inv.n_live, 0);
	cr_assert_eq(rcfs_inventory_gc(&ctx, &inv, 0, log_gc, &g), 6);
	done();
}

Test(inventory, real_proc_sees_our_namespace)
{
	uint64_t self = h2_ns_ino("/proc/self/ns/net");
	const struct rcfs_live_ns *ns;
	char name[64];

	make_tree();
	snprintf(name, sizeof(name), "%llu.conf", (unsigned long long)self);
	put(name, "ours");
	init(NULL, NULL, "/proc");
	cr_assert_eq(rcfs_inventory_scan(&ctx, NULL, &inv), 0);
	ns = rcfs_inventory_live(&inv, self);
	cr_assert_not_null(ns);
	cr_expect_geq(ns->procs, 1);
	cr_expect(rcfs_inventory_has_file(&inv, ns));
	expect_id(name, self);
	done();
}

Test(inventory, names_directory)
{
	uint64_t self = h2_ns_ino("/proc/self/ns/net"), blue;
	char names_dir[PATH_MAX], path[PATH_MAX], selfname[64];
	const struct rcfs_live_ns *ns;
	struct gc_log g = { 0 };

	h2_private_mounts();
	make_tree();
	th_join(names_dir, root, "netns");
	cr_assert_eq(mkdir(names_dir, 0755), 0);
	th_join(path, names_dir, "blue");
	blue = h2_new_netns(path);
	th_join(path, names_dir, "host");
	h2_bind("/proc/self/ns/net", path);
	th_join(path, names_dir, ".hidden");
	h2_new_netns(path);
	th_join(path, names_dir, "plain");
	th_write_file(path, "", 0, 0644);

	/* The fake procfs holds our own namespace (as pid 10); blue is held by its name only. */
	snprintf(selfname, sizeof(selfname), "net:[%llu]", (unsigned long long)self);
	link_("10/ns/net", selfname);
	put("blue.conf", "named");
	put("host.conf", "named");
	put("green.conf", "named, no such namespace");
	snprintf(path, sizeof(path), "%llu.conf", (unsigned long long)blue);
	put(path, "id file of a named namespace");
	init(NULL, NULL, NULL);
	cr_assert_eq(rcfs_inventory_scan(&ctx, names_dir, &inv), 0);

	cr_expect_eq(inv.n_live, 2, "%zu live", inv.n_live);
	ns = rcfs_inventory_named(&inv, "blue");
	cr_assert_not_null(ns);
	cr_expect_eq(ns->id, blue);
	cr_expect_eq(ns->procs, 0);
	cr_expect(rcfs_inventory_has_file(&inv, ns));
	ns = rcfs_inventory_named(&inv, "host");
	cr_assert_not_null(ns);
	cr_expect_eq(ns->id, self);
	cr_expect_eq(ns->procs, 1);
	cr_expect_eq(rcfs_inventory_live(&inv, self), ns);
	cr_expect_null(rcfs_inventory_named(&inv, ".hidden"));
	cr_expect_null(rcfs_inventory_named(&inv, "plain"));
	cr_expect_null(rcfs_inventory_named(&inv, "green"));
	expect_named("green.conf", "green");
	/* gc never touches named files, even of a namespace that does not exist; the id file of
	 * a live (named) namespace is not dead. */
	cr_assert_eq(rcfs_inventory_gc(&ctx, &inv, 1, log_gc, &g), 0);
	cr_expect(exists("green.conf") && exists("blue.conf") && exists(path));
	rcfs_inventory_free(&inv);

	/* Without a names directory, blue is dead: its id file is garbage, its named file not. */
	cr_assert_eq(rcfs_inventory_scan(&ctx, NULL, &inv), 0);
	cr_expect_null(rcfs_inventory_named(&inv, "blue"));
	cr_assert_eq(rcfs_inventory_gc(&ctx, &inv, 0, log_gc, &g), 1);
	cr_expect(logged(&g, path, NULL));
	rcfs_inventory_free(&inv);

	/* A missing names directory is no error. */
	th_join(path, root, "no-such-dir");
	cr_assert_eq(rcfs_inventory_scan(&ctx, path, &inv), 0);
	done();
}

/* A stale copy is exactly what core/stale.c makes of an id-named file: <id>.<ext>.stale-<n> or
 * <id>.<ext>.stale-<n>-<n>. Anything else carrying the infix is not ours to remove. */
Test(inventory, stale_copies_are_named_exactly)
{
	struct gc_log g = { 0 };
	static const char *const stale[] = {
		"1.conf.stale-2", "1.conf.stale-2-3",
		"18446744073709551615.conf.stale-18446744073709551615",
	};
	static const char *const other[] = {
		"blue.conf.stale-5", "notes.stale-1", "1.conf.stale-", "1.conf.stale-x",
		"1.conf.stale-5-", "1.conf.stale--5", "1.conf.stale-5-6-7", ".1.conf.stale-5",
		"1.hosts.stale-5", "1.stale-5", "1.conf.stale-5.bak",
		"1.conf.stale-18446744073709551616", "1.conf.stale-2.stale-3",
	};
	make_tree();
	for (size_t i = 0; i < sizeof(stale) / sizeof(stale[0]); i++)
		put(stale[i], "stale");
	for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++)
		put(other[i], "other");
	init(NULL, NULL, NULL);
	cr_assert_eq(rcfs_inventory_scan(&ctx, NULL, &inv), 0);
	for (size_t i = 0; i < sizeof(stale) / sizeof(stale[0]); i++)
		expect_kind(stale[i], RCFS_FILE_STALE);
	cr_expect_eq(find_file("1.conf.stale-2-3")->id, 1);
	for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++)
		expect_kind(other[i], RCFS_FILE_OTHER);
	cr_assert_eq(rcfs_inventory_gc(&ctx, &inv, 1, log_gc, &g), 3);
	for (size_t i = 0; i < sizeof(stale) / sizeof(stale[0]); i++)
		cr_expect(!exists(stale[i]), "%s kept", stale[i]);
	for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++)
		cr_expect(exists(other[i]), "%s removed", other[i]);
	done();
}

/* The template in the backing directory is never a namespace's file, whatever its name: not
 * under an id-like name (0.conf: no namespace has id 0, so it would be dead), not through a
 * hard link under another name, and still not after it was replaced by a new file. */
Test(inventory, the_template_is_never_touched)
{
	struct gc_log g = { 0 };
	char tmpl[PATH_MAX], path[PATH_MAX], hard[PATH_MAX], *text;
	size_t len;

	make_tree();
	make_procs();
	put("0.conf", "nameserver 192.0.2.1\n");
	put("998.conf", "dead");
	put("blue.conf", "named");
	th_join(tmpl, backing, "0.conf");
	th_join(hard, backing, "997.conf.stale-1");
	cr_assert_eq(link(tmpl, hard), 0, "link: %s", strerror(errno));
	th_join(path, backing, "996.conf");
	cr_assert_eq(link(tmpl, path), 0, "link: %s", strerror(errno));
	init_template(NULL, NULL, NULL, tmpl);
	cr_assert_eq(rcfs_inventory_scan(&ctx, NULL, &inv), 0);
	expect_kind("0.conf", RCFS_FILE_OTHER);
	expect_kind("996.conf", RCFS_FILE_OTHER);
	expect_kind("997.conf.stale-1", RCFS_FILE_OTHER);
	expect_named("blue.conf", "blue");
	cr_assert_eq(rcfs_inventory_gc(&ctx, &inv, 1, log_gc, &g), 1);
	cr_expect(logged(&g, "998.conf", NULL));
	cr_expect(!exists("998.conf"));
	cr_expect(exists("0.conf") && exists("996.conf") && exists("997.conf.stale-1") &&
		  exists("blue.conf"));
	rcfs_inventory_free(&inv);

	/* Replaced (the admin edits it with an editor that renames a new file over it): its name
	 * still marks it, and the inode known at startup stays untouched under any name. */
	th_join(path, root, "new-template");
	th_write_file(path, "nameserver 192.0.2.2\n", 21, 0644);
	cr_assert_eq(rename(path, tmpl), 0);
	memset(&g, 0, sizeof(g));
	cr_assert_eq(rcfs_inventory_scan(&ctx, NULL, &inv), 0);
	expect_kind("0.conf", RCFS_FILE_OTHER);
	cr_assert_eq(rcfs_inventory_gc(&ctx, &inv, 1, log_gc, &g), 0);
	cr_expect(exists("0.conf") && exists("996.conf") && exists("997.conf.stale-1"));
	text = th_read_file(tmpl, &len);
	cr_expect_str_eq(text, "nameserver 192.0.2.2\n");
	free(text);
	done();
}

/* A template outside the backing directory protects nothing in it by name: a backing file that
 * merely shares the template's name is an ordinary one. */
Test(inventory, a_template_elsewhere_protects_no_name)
{
	struct gc_log g = { 0 };
	char tmpl[PATH_MAX];

	make_tree();
	th_join(tmpl, root, "0.conf");
	th_write_file(tmpl, "nameserver 192.0.2.1\n", 21, 0644);
	put("0.conf", "dead, not the template");
	init_template(NULL, NULL, NULL, tmpl);
	cr_assert_eq(rcfs_inventory_scan(&ctx, NULL, &inv), 0);
	expect_id("0.conf", 0);
	cr_assert_eq(rcfs_inventory_gc(&ctx, &inv, 1, log_gc, &g), 1);
	cr_expect(!exists("0.conf"));
	cr_expect(h2_exists(tmpl));
	done();
}

/* A file made under a judged name after the scan (the daemon moved a recycled id's file aside
 * and gave the namespace that now has the id a fresh copy) is not the file judged: gc leaves it
 * and does not report it. */
Test(inventory, gc_leaves_files_replaced_since_the_scan)
{
	struct gc_log g = { 0 };
	char path[PATH_MAX], fresh[PATH_MAX];

	make_tree();
	make_procs();
	make_files("conf");
	init(NULL, NULL, NULL);
	cr_assert_eq(rcfs_inventory_scan(&ctx, NULL, &inv), 0);
	th_join(path, backing, "999.conf");
	th_join(fresh, root, "fresh");
	th_write_file(fresh, "fresh copy", 10, 0644);
	cr_assert_eq(rename(fresh, path), 0);
	th_join(path, backing, "300.conf.stale-5");
	th_write_file(fresh, "newer stale copy", 16, 0644);
	cr_assert_eq(rename(fresh, path), 0);
	cr_assert_eq(rcfs_inventory_gc(&ctx, &inv, 1, log_gc, &g), 2);
	cr_expect(!logged(&g, "999.conf", NULL));
	cr_expect(!logged(&g, "300.conf.stale-5", NULL));
	cr_expect(logged(&g, "998.conf", NULL) && logged(&g, "999.conf.stale-7", NULL));
	cr_expect(exists("999.conf") && exists("300.conf.stale-5"));
	cr_expect(!exists("998.conf") && !exists("999.conf.stale-7"));
	done();
}

/* The daemon's own mount may lie in the backing directory: what is on its device is not listed
 * (and not asked for its attributes). Stood in for by the backing directory's own device. */
Test(inventory, files_on_our_own_mount_are_not_listed)
{
	struct stat st;

	make_tree();
	make_files("conf");
	init(NULL, NULL, NULL);
	cr_assert_eq(stat(backing, &st), 0);
	ctx.mount_dev = st.st_dev;
	cr_assert_eq(rcfs_inventory_scan(&ctx, NULL, &inv), 0);
	cr_expect_eq(inv.n_files, 0, "%zu files listed", inv.n_files);
	done();
}

/* The backing directory is read before procfs and the names directory: a namespace born
 * between the scans cannot have a file listed without being seen alive. The order shows in the
 * IN_OPEN events one inotify instance queues for the three directories. */
Test(inventory, the_backing_directory_is_scanned_first)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	char names_dir[PATH_MAX];
	int ifd, wd_backing, wd_proc, wd_names, order[3], n = 0;
	ssize_t len;

	make_tree();
	make_procs();
	make_files("conf");
	th_join(names_dir, root, "netns");
	cr_assert_eq(mkdir(names_dir, 0755), 0);
	init(NULL, NULL, NULL);
	ifd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	cr_assert_geq(ifd, 0, "inotify_init1: %s", strerror(errno));
	wd_backing = inotify_add_watch(ifd, backing, IN_OPEN | IN_ONLYDIR);
	wd_proc = inotify_add_watch(ifd, procfs, IN_OPEN | IN_ONLYDIR);
	wd_names = inotify_add_watch(ifd, names_dir, IN_OPEN | IN_ONLYDIR);
	cr_assert(wd_backing >= 0 && wd_proc >= 0 && wd_names >= 0, "inotify_add_watch: %s",
		  strerror(errno));
	cr_assert_eq(rcfs_inventory_scan(&ctx, names_dir, &inv), 0);
	len = read(ifd, buf, sizeof(buf));
	cr_assert_gt(len, 0, "no inotify events: %s", strerror(errno));
	for (char *p = buf; p < buf + len && n < 3;) {
		const struct inotify_event *ev = (const struct inotify_event *)p;
		int seen = 0;

		/* The first open of each watched directory itself (not of an entry in it). */
		for (int i = 0; i < n; i++)
			seen |= order[i] == ev->wd;
		if ((ev->mask & IN_OPEN) && ev->len == 0 && !seen)
			order[n++] = ev->wd;
		p += sizeof(*ev) + ev->len;
	}
	close(ifd);
	cr_assert_eq(n, 3, "%d of the 3 directories opened", n);
	cr_expect_eq(order[0], wd_backing, "the backing directory was not scanned first");
	cr_expect_eq(order[1], wd_proc);
	cr_expect_eq(order[2], wd_names);
	done();
}

Test(inventory, free_twice_and_lookups_on_empty)
{
	memset(&inv, 0, sizeof(inv));
	rcfs_inventory_free(&inv);
	rcfs_inventory_free(&inv);
	cr_expect_null(rcfs_inventory_live(&inv, 1));
	cr_expect_null(rcfs_inventory_named(&inv, "x"));
}
