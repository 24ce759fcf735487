/* Which file a caller is served (rcfs_target_resolve: id-named, ip-netns-named, /etc/netns
 * layout, uid/gid keys), and recycled namespace ids through rcfs_open: files record the unique id
 * (NS_GET_ID) of the namespace they were made for, and a file whose record differs from the
 * caller's is moved aside as `<name>.stale-<recorded id>` before the caller gets a fresh copy. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../core/backing.h"
#include "../../core/fileops.h"
#include "../../core/io.h"
#include "../../core/nsid.h"
#include "../../core/target.h"
#include "helpers.h"
#include "helpers2.h"

TestSuite(target, .fini = h2_cleanup);
TestSuite(recycle, .fini = h2_cleanup);

static char root[PATH_MAX], procfs[PATH_MAX], backing[PATH_MAX], tmpl_path[PATH_MAX];
static char names_dir[PATH_MAX], etc_dir[PATH_MAX];
static struct rcfs_ctx ctx;
static struct h2_warnings warnings;

static const char tmpl[] = "nameserver 192.0.2.1\nsearch example.org\n";

static void make_tree(void)
{
	th_mkdtemp(root);
	th_join(procfs, root, "proc");
	th_join(backing, root, "backing");
	th_join(tmpl_path, root, "template");
	th_join(names_dir, root, "netns");
	th_join(etc_dir, root, "etc-netns");
	cr_assert_eq(mkdir(procfs, 0755), 0);
	cr_assert_eq(mkdir(backing, 0755), 0);
	th_write_file(tmpl_path, tmpl, sizeof(tmpl) - 1, 0644);
}

static struct rcfs_config base_config(void)
{
	struct rcfs_config cfg = { 0 };

	cfg.procfs = procfs;
	cfg.backing_dir = backing;
	cfg.template_path = tmpl_path;
	cfg.warn = h2_warn;
	cfg.warn_arg = &warnings;
	return cfg;
}

static void init(const struct rcfs_config *cfg)
{
	struct rcfs_init_error err = { 0 };
	int ret = rcfs_ctx_init(&ctx, cfg, &err);

	cr_assert_eq(ret, 0, "rcfs_ctx_init: %s '%s': %s", err.what, err.arg,
		     err.why ? err.why : strerror(-ret));
}

static struct rcfs_caller caller(pid_t pid)
{
	struct rcfs_caller c = { .pid = pid, .uid = getuid(), .gid = getgid() };

	return c;
}

static struct rcfs_target resolve(pid_t pid)
{
	struct rcfs_caller c = caller(pid);
	struct rcfs_target t;
	int ret;

	memset(&t, 0x5a, sizeof(t));
	ret = rcfs_target_resolve(&ctx, &c, &t);
	cr_assert_eq(ret, 0, "resolve pid %d: %s", (int)pid, strerror(-ret));
	cr_assert_eq(t.caller.pid, pid);
	return t;
}

static void expect_backing_target(pid_t pid, const char *name, int recyclable)
{
	struct rcfs_target t = resolve(pid);

	cr_expect_str_eq(t.name, name, "pid %d", (int)pid);
	cr_expect_eq(t.dirfd, ctx.backing_fd);
	cr_expect_eq(t.creatable, 1);
	cr_expect_eq(t.recyclable, recyclable, "pid %d: recyclable %d", (int)pid, t.recyclable);
}

static char *read_fd_str(int fd)
{
	size_t len;

	return th_read_fd(fd, &len);
}

static void expect_open_reads(pid_t pid, const char *want)
{
	struct rcfs_caller c = caller(pid);
	int fd = rcfs_open(&ctx, &c, O_RDONLY);
	char *got;

	cr_assert_geq(fd, 0, "rcfs_open pid %d: %s", (int)pid, strerror(-fd));
	got = read_fd_str(fd);
	cr_expect_str_eq(got, want, "pid %d", (int)pid);
	free(got);
	rcfs_close(fd);
}

static void in_backing(char *out, const char *name)
{
	th_join(out, backing, name);
}

static void put(const char *dir, const char *name, const char *text)
{
	char path[PATH_MAX];

	th_join(path, dir, name);
	th_write_file(path, text, strlen(text), 0644);
}

static void expect_content(const char *path, const char *want)
{
	size_t len;
	char *got = th_read_file(path, &len);

	cr_expect_str_eq(got, want, "%s", path);
	free(got);
}

/* ----- target ---------------------------------------------------------------------------------- */

Test(target, id_named)
{
	struct rcfs_config cfg;
	struct rcfs_target t;

	make_tree();
	th_fake_ns(procfs, 10, "net:[1]");
	th_fake_ns(procfs, 20, "net:[4026532413]");
	cfg = base_config();
	init(&cfg);
	expect_backing_target(10, "1.conf", 1);
	expect_backing_target(20, "4026532413.conf", 1);
	t = resolve(10);
	cr_expect_eq(t.filter, 0);
	cr_expect_eq(t.caller.uid, getuid());
	rcfs_ctx_fini(&ctx);

	cfg.extension = "";
	init(&cfg);
	expect_backing_target(10, "1", 1);
	rcfs_ctx_fini(&ctx);

	cfg.extension = "resolv.conf";
	init(&cfg);
	expect_backing_target(10, "1.resolv.conf", 1);
	rcfs_ctx_fini(&ctx);
}

Test(target, unresolvable_callers)
{
	struct rcfs_config cfg;
	struct rcfs_caller c = caller(0);
	struct rcfs_target t;

	make_tree();
	th_fake_ns(procfs, 10, "net:[../1]");
	cfg = base_config();
	init(&cfg);
	cr_expect_eq(rcfs_target_resolve(&ctx, &c, &t), -ESRCH);
	c.pid = 10;
	cr_expect_eq(rcfs_target_resolve(&ctx, &c, &t), -EINVAL);
	c.pid = 11;
	cr_expect_eq(rcfs_target_resolve(&ctx, &c, &t), -ESRCH);
	rcfs_ctx_fini(&ctx);
}

Test(target, uid_and_gid_keys)
{
	struct rcfs_config cfg;
	struct rcfs_caller c = { .pid = 0, .uid = 1000, .gid = 2000 };
	struct rcfs_target t;

	make_tree();
	cfg = base_config();
	cfg.key_kind = "uid";
	init(&cfg);
	cr_expect_eq(ctx.nsid, 0, "uid keys are never recycled ids");
	cr_assert_eq(rcfs_target_resolve(&ctx, &c, &t), 0); /* pid 0 is fine: no procfs needed */
	cr_expect_str_eq(t.name, "1000.conf");
	cr_expect_eq(t.dirfd, ctx.backing_fd);
	cr_expect_eq(t.recyclable, 0);
	cr_expect_eq(t.creatable, 1);
	c.uid = 0;
	cr_assert_eq(rcfs_target_resolve(&ctx, &c, &t), 0);
	cr_expect_str_eq(t.name, "0.conf");
	rcfs_ctx_fini(&ctx);

	cfg.key_kind = "gid";
	cfg.extension = "";
	init(&cfg);
	cr_assert_eq(rcfs_target_resolve(&ctx, &c, &t), 0);
	cr_expect_str_eq(t.name, "2000");
	cr_expect_eq(t.recyclable, 0);
	rcfs_ctx_fini(&ctx);
}

Test(target, other_namespace_kinds)
{
	struct rcfs_config cfg;

	make_tree();
	h2_fake_link(procfs, "10/ns/uts", "uts:[5]");
	h2_fake_link(procfs, "10/ns/net", "net:[6]");
	cfg = base_config();
	cfg.key_kind = "uts";
	init(&cfg);
	expect_backing_target(10, "5.conf", 1);
	rcfs_ctx_fini(&ctx);
}

Test(target, filter_flag_for_other_network_namespaces)
{
	struct rcfs_config cfg;
	char own[64];

	make_tree();
	h2_own_link("net", own);
	th_fake_ns(procfs, 10, "net:[1]");
	th_fake_ns(procfs, 11, own);
	cfg = base_config();
	cfg.filter_loopback = 1;
	init(&cfg);
	cr_expect_eq(resolve(10).filter, 1);
	cr_expect_eq(resolve(11).filter, 0, "the daemon's own namespace is not filtered");
	rcfs_ctx_fini(&ctx);
}

static void expect_rejected(const struct rcfs_config *cfg, int want, const char *what)
{
	struct rcfs_init_error err = { 0 };
	struct rcfs_ctx c;
	int before = th_count_fds();
	int ret = rcfs_ctx_init(&c, cfg, &err);

	cr_expect_eq(ret, want, "rcfs_ctx_init gave %d, want %d", ret, want);
	cr_assert_not_null(err.what);
	cr_expect_str_eq(err.what, what);
	cr_expect_eq(th_count_fds(), before, "an fd left open");
	if (!ret)
		rcfs_ctx_fini(&c);
}

Test(target, names_need_network_namespace_keys)
{
	static const char *const kinds[] = { "uid", "gid", "uts", "mnt", "user", "pid", "ipc",
					     "cgroup", "time" };
	struct rcfs_config cfg;
	char file[PATH_MAX];

	make_tree();
	cr_assert_eq(mkdir(names_dir, 0755), 0);
	cr_assert_eq(mkdir(etc_dir, 0755), 0);
	cfg = base_config();
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		cfg.key_kind = kinds[i];
		cfg.names_dir = names_dir;
		cfg.etc_netns_dir = NULL;
		expect_rejected(&cfg, -EINVAL, "key");
		cfg.names_dir = NULL;
		cfg.etc_netns_dir = etc_dir;
		cfg.mount_basename = "resolv.conf";
		expect_rejected(&cfg, -EINVAL, "key");
	}
	/* net (explicit or default) is accepted. */
	cfg.key_kind = "net";
	cfg.names_dir = names_dir;
	init(&cfg);
	cr_expect_not_null(ctx.names);
	cr_expect_geq(ctx.etc_fd, 0);
	cr_expect_str_eq(ctx.etc_base, "resolv.conf");
	rcfs_ctx_fini(&ctx);
	cr_expect_eq(ctx.etc_fd, -1);
	cr_expect_null(ctx.names);

	/* Other settings of the layout. */
	cfg.key_kind = NULL;
	cfg.names_dir = "run/netns";
	expect_rejected(&cfg, -EINVAL, "names directory");
	cfg.names_dir = names_dir;
	cfg.mount_basename = NULL;
	expect_rejected(&cfg, -EINVAL, "mountpoint");
	cfg.mount_basename = ".hidden";
	expect_rejected(&cfg, -EINVAL, "mountpoint");
	cfg.mount_basename = "a/b";
	expect_rejected(&cfg, -EINVAL, "mountpoint");
	cfg.mount_basename = "resolv.conf";
	th_join(file, root, "missing");
	cfg.etc_netns_dir = file;
	expect_rejected(&cfg, -ENOENT, "etc-netns directory");
	cfg.etc_netns_dir = tmpl_path;
	expect_rejected(&cfg, -ENOTDIR, "etc-netns directory");
	/* The layout alone (no names dir given) uses /run/netns for names. */
	cfg.names_dir = NULL;
	cfg.etc_netns_dir = etc_dir;
	init(&cfg);
	cr_assert_not_null(ctx.names);
	cr_expect_str_eq(ctx.names->dir, "/run/netns");
	rcfs_ctx_fini(&ctx);
}

/* A names directory with "blue" naming a new namespace; fake procfs: pid 10 in blue, pid 20 in
 * net:[1], pid 30 in our own (unnamed) namespace. Returns blue's inode number. */
static uint64_t named_setup(void)
{
	char path[PATH_MAX], link[64];
	uint64_t blue;

	h2_private_mounts();
	make_tree();
	cr_assert_eq(mkdir(names_dir, 0755), 0);
	th_join(path, names_dir, "blue");
	blue = h2_new_netns(path);
	snprintf(link, sizeof(link), "net:[%" PRIu64 "]", blue);
	th_fake_ns(procfs, 10, link);
	th_fake_ns(procfs, 20, "net:[1]");
	h2_own_link("net", link);
	th_fake_ns(procfs, 30, link);
	return blue;
}

Test(target, ip_netns_named)
{
	struct rcfs_config cfg;
	struct rcfs_caller c = caller(10);
	char name[RCFS_NAME_SIZE], path[PATH_MAX], raw[32];

	named_setup();
	cfg = base_config();
	cfg.names_dir = names_dir;
	init(&cfg);
	expect_backing_target(10, "blue.conf", 0);
	expect_backing_target(20, "1.conf", 1);
	cr_assert_eq(rcfs_caller_name(&ctx, &c, name), 0);
	cr_expect_str_eq(name, "blue.conf");
	/* Served and created under its name, from the template, without a recorded id. */
	expect_open_reads(10, tmpl);
	in_backing(path, "blue.conf");
	cr_expect(h2_exists(path));
	cr_expect_eq(h2_get_xattr(path, RCFS_NSID_XATTR, raw, sizeof(raw)), -ENODATA);
	rcfs_ctx_fini(&ctx);

	cfg.extension = "";
	init(&cfg);
	expect_backing_target(10, "blue", 0);
	rcfs_ctx_fini(&ctx);
}

Test(target, name_too_long_for_a_file)
{
	struct rcfs_config cfg;
	struct rcfs_caller c = caller(40);
	struct rcfs_target t;
	char name[NAME_MAX + 1], path[PATH_MAX], link[64];
	uint64_t ino;

	named_setup();
	memset(name, 'n', 251);
	name[251] = '\0';
	th_join(path, names_dir, name);
	ino = h2_new_netns(path);
	snprintf(link, sizeof(link), "net:[%" PRIu64 "]", ino);
	th_fake_ns(procfs, 40, link);
	cfg = base_config();
	cfg.names_dir = names_dir;
	init(&cfg);
	/* 251 + ".conf" does not fit in NAME_MAX: the name is unusable, the id rule applies. */
	cr_expect_eq(rcfs_target_resolve(&ctx, &c, &t), 0);
	snprintf(path, sizeof(path), "%" PRIu64 ".conf", ino);
	cr_expect_str_eq(t.name, path);
	rcfs_ctx_fini(&ctx);
	/* Without the extension it does. */
	cfg.extension = "";
	init(&cfg);
	cr_assert_eq(rcfs_target_resolve(&ctx, &c, &t), 0);
	cr_expect_str_eq(t.name, name);
	rcfs_ctx_fini(&ctx);
}

Test(target, etc_netns_layout)
{
	struct rcfs_config cfg;
	struct rcfs_target t;
	struct rcfs_caller c = caller(10);
	char path[PATH_MAX], blue_dir[PATH_MAX], one_dir[PATH_MAX];
	struct stat st, direct;

	named_setup();
	cr_assert_eq(mkdir(etc_dir, 0755), 0);
	th_join(blue_dir, etc_dir, "blue");
	th_join(one_dir, etc_dir, "1");
	cr_assert_eq(mkdir(blue_dir, 0755), 0);
	cr_assert_eq(mkdir(one_dir, 0755), 0);
	put(one_dir, "resolv.conf", "not for an unnamed namespace\n");
	put(blue_dir, "hosts", "another file of the layout\n");
	cfg = base_config();
	cfg.names_dir = names_dir;
	cfg.etc_netns_dir = etc_dir;
	cfg.mount_basename = "resolv.conf";
	init(&cfg);

	/* No etc/netns/blue/resolv.conf: the named backing file. */
	expect_backing_target(10, "blue.conf", 0);
	/* An unnamed namespace never uses the layout. */
	expect_backing_target(20, "1.conf", 1);

	/* With the file: served from there, never created, never recycled. */
	put(blue_dir, "resolv.conf", "nameserver 198.51.100.1\n");
	t = resolve(10);
	cr_expect_eq(t.dirfd, ctx.etc_fd);
	cr_expect_str_eq(t.name, "blue/resolv.conf");
	cr_expect_eq(t.creatable, 0);
	cr_expect_eq(t.recyclable, 0);
	expect_open_reads(10, "nameserver 198.51.100.1\n");
	cr_assert_eq(rcfs_stat(&ctx, &c, &st), 0);
	th_join(path, blue_dir, "resolv.conf");
	cr_assert_eq(stat(path, &direct), 0);
	cr_expect_eq(st.st_ino, direct.st_ino);
	expect_backing_target(20, "1.conf", 1);

	/* A dangling symlink there does not count. */
	cr_assert_eq(unlink(path), 0);
	cr_assert_eq(symlink("nowhere", path), 0);
	expect_backing_target(10, "blue.conf", 0);
	/* Removed: back to the backing directory (created from the template there). */
	cr_assert_eq(unlink(path), 0);
	expect_backing_target(10, "blue.conf", 0);
	expect_open_reads(10, tmpl);
	cr_expect_eq(th_count_entries(blue_dir, NULL), 1, "a file was created in /etc/netns/blue");
	rcfs_ctx_fini(&ctx);

	/* Another mount basename picks another file of the layout. */
	cfg.mount_basename = "hosts";
	init(&cfg);
	t = resolve(10);
	cr_expect_eq(t.dirfd, ctx.etc_fd);
	cr_expect_str_eq(t.name, "blue/hosts");
	rcfs_ctx_fini(&ctx);
}

/* An /etc/netns file that leads onto our own mount (here procfs stands in for it) is never
 * stated or served: -ELOOP, not the rules below it. */
Test(target, etc_netns_file_onto_our_mount_is_eloop)
{
	struct rcfs_config cfg;
	struct rcfs_caller c = caller(10);
	struct rcfs_target t;
	char blue_dir[PATH_MAX], path[PATH_MAX];
	struct stat st, proc;

	named_setup();
	cr_assert_eq(mkdir(etc_dir, 0755), 0);
	th_join(blue_dir, etc_dir, "blue");
	cr_assert_eq(mkdir(blue_dir, 0755), 0);
	th_join(path, blue_dir, "resolv.conf");
	cr_assert_eq(symlink("/proc/self/status", path), 0);
	cr_assert_eq(stat("/proc/self/status", &proc), 0);
	cfg = base_config();
	cfg.names_dir = names_dir;
	cfg.etc_netns_dir = etc_dir;
	cfg.mount_basename = "resolv.conf";
	init(&cfg);
	/* Not mounted yet: an ordinary /etc/netns file. */
	t = resolve(10);
	cr_expect_eq(t.dirfd, ctx.etc_fd);
	ctx.mount_dev = proc.st_dev;
	cr_expect_eq(rcfs_target_resolve(&ctx, &c, &t), -ELOOP);
	cr_expect_eq(rcfs_stat(&ctx, &c, &st), -ELOOP);
	cr_expect_eq(rcfs_open(&ctx, &c, O_RDONLY), -ELOOP);
	/* Others are served as ever. */
	expect_backing_target(20, "1.conf", 1);
	cr_expect_eq(th_count_entries(backing, NULL), 0);
	rcfs_ctx_fini(&ctx);
}

/* A namespace named like the template's own file in the backing directory (the shipped unit's
 * template.conf, and `ip netns add template`): NAME.<ext> would be the template itself, so the
 * namespace is served its id-named file, and the template is never anyone's file. */
static void template_in_backing(const char *base, const char *ext, const char *ns_name,
				char *id_name)
{
	struct rcfs_config cfg;
	char path[PATH_MAX], link[64];
	uint64_t ino;

	h2_private_mounts();
	make_tree();
	cr_assert_eq(mkdir(names_dir, 0755), 0);
	th_join(tmpl_path, backing, base);
	th_write_file(tmpl_path, tmpl, sizeof(tmpl) - 1, 0644);
	th_join(path, names_dir, ns_name);
	ino = h2_new_netns(path);
	snprintf(link, sizeof(link), "net:[%" PRIu64 "]", ino);
	th_fake_ns(procfs, 10, link);
	cfg = base_config();
	cfg.names_dir = names_dir;
	cfg.extension = ext;
	init(&cfg);
	cr_expect_str_eq(ctx.tmpl_base, base);
	snprintf(id_name, RCFS_NAME_SIZE, "%" PRIu64 "%s%s", ino, ext[0] ? "." : "", ext);
}

static void expect_template_intact(void)
{
	expect_content(tmpl_path, tmpl);
}

Test(target, namespace_named_like_the_template_is_served_by_id)
{
	char id_name[RCFS_NAME_SIZE];

	template_in_backing("template.conf", "conf", "template", id_name);
	expect_backing_target(10, id_name, 1);
	/* Missing: made from the template under the id. */
	expect_open_reads(10, tmpl);
	{
		char path[PATH_MAX];

		in_backing(path, id_name);
		cr_expect(h2_exists(path));
		th_write_file(path, "the id file\n", 12, 0644);
	}
	expect_open_reads(10, "the id file\n");
	expect_template_intact();
	rcfs_ctx_fini(&ctx);
}

Test(target, names_whose_file_is_the_template_without_extension)
{
	char id_name[RCFS_NAME_SIZE];

	template_in_backing("template", "", "template", id_name);
	expect_backing_target(10, id_name, 1);
	{
		struct rcfs_caller c = caller(10);
		int fd = rcfs_open(&ctx, &c, O_WRONLY | O_TRUNC);

		cr_assert_geq(fd, 0, "rcfs_open: %s", strerror(-fd));
		rcfs_close(fd);
	}
	expect_template_intact();
	rcfs_ctx_fini(&ctx);
}

Test(target, other_names_beside_the_template_are_served_by_name)
{
	char id_name[RCFS_NAME_SIZE];

	/* "resolv" + ".conf" is not the template's "template.conf". */
	template_in_backing("template.conf", "conf", "resolv", id_name);
	expect_backing_target(10, "resolv.conf", 0);
	expect_open_reads(10, tmpl);
	expect_template_intact();
	rcfs_ctx_fini(&ctx);
}

Test(target, template_outside_the_backing_directory_takes_no_name)
{
	struct rcfs_config cfg;
	char path[PATH_MAX], link[64];
	uint64_t ino;

	h2_private_mounts();
	make_tree();
	cr_assert_eq(mkdir(names_dir, 0755), 0);
	/* The template is <root>/template.conf, the backing directory <root>/backing. */
	th_join(tmpl_path, root, "template.conf");
	th_write_file(tmpl_path, tmpl, sizeof(tmpl) - 1, 0644);
	th_join(path, names_dir, "template");
	ino = h2_new_netns(path);
	snprintf(link, sizeof(link), "net:[%" PRIu64 "]", ino);
	th_fake_ns(procfs, 10, link);
	cfg = base_config();
	cfg.names_dir = names_dir;
	init(&cfg);
	cr_expect_str_eq(ctx.tmpl_base, "");
	expect_backing_target(10, "template.conf", 0);
	rcfs_ctx_fini(&ctx);
}

/* A backing file that is the template's inode (a symlink or hard link to it) is never served,
 * never truncated: EPERM. */
Test(target, the_templates_inode_is_never_served)
{
	struct rcfs_config cfg;
	struct rcfs_caller c1 = caller(10), c2 = caller(20), c3 = caller(30);
	char path[PATH_MAX];
	struct stat st;
	int fd;

	make_tree();
	th_fake_ns(procfs, 10, "net:[1]");
	th_fake_ns(procfs, 20, "net:[2]");
	th_fake_ns(procfs, 30, "net:[3]");
	in_backing(path, "1.conf");
	cr_assert_eq(symlink(tmpl_path, path), 0);
	in_backing(path, "2.conf");
	cr_assert_eq(link(tmpl_path, path), 0);
	cfg = base_config();
	init(&cfg);
	for (int i = 0; i < 2; i++) {
		struct rcfs_caller *c = i ? &c2 : &c1;

		cr_expect_eq(rcfs_stat(&ctx, c, &st), -EPERM, "pid %d", (int)c->pid);
		cr_expect_eq(rcfs_open(&ctx, c, O_RDONLY), -EPERM, "pid %d", (int)c->pid);
		cr_expect_eq(rcfs_open(&ctx, c, O_WRONLY | O_TRUNC), -EPERM, "pid %d", (int)c->pid);
		cr_expect_eq(rcfs_open(&ctx, c, O_WRONLY | O_APPEND), -EPERM, "pid %d", (int)c->pid);
		cr_expect_eq(rcfs_truncate(&ctx, c, 0), -EPERM, "pid %d", (int)c->pid);
		cr_expect_eq(rcfs_access(&ctx, c, F_OK), -EPERM, "pid %d", (int)c->pid);
	}
	expect_content(tmpl_path, tmpl);
	/* A copy of it is another inode, served as usual. */
	fd = rcfs_open(&ctx, &c3, O_WRONLY | O_TRUNC);
	cr_assert_geq(fd, 0, "rcfs_open: %s", strerror(-fd));
	rcfs_close(fd);
	expect_content(tmpl_path, tmpl);
	rcfs_ctx_fini(&ctx);
}

/* A manager replaces a live template by rename; the file system may give the old inode number to
 * the next namespace's copy. The inode that was the template (here kept by a hard link, as a
 * reused number would look) is then an ordinary file, served as usual. */
Test(target, an_inode_the_template_no_longer_has_is_served)
{
	struct rcfs_config cfg;
	struct rcfs_caller c = caller(10);
	char path[PATH_MAX], tmp[PATH_MAX];
	struct stat st;
	int fd;

	make_tree();
	th_fake_ns(procfs, 10, "net:[1]");
	in_backing(path, "1.conf");
	cr_assert_eq(link(tmpl_path, path), 0);
	cfg = base_config();
	init(&cfg);
	cr_expect_eq(rcfs_stat(&ctx, &c, &st), -EPERM);
	th_pathf(tmp, "%s.new", tmpl_path);
	th_write_file(tmp, "nameserver 192.0.2.99\n", 22, 0644);
	cr_assert_eq(rename(tmp, tmpl_path), 0);
	cr_expect_eq(rcfs_stat(&ctx, &c, &st), 0);
	fd = rcfs_open(&ctx, &c, O_RDONLY);
	cr_expect_geq(fd, 0, "rcfs_open: %s", strerror(-fd));
	if (fd >= 0)
		rcfs_close(fd);
	rcfs_ctx_fini(&ctx);
}

/* ----- recycled ids through rcfs_open ---------------------------------------------------------- */

static uint64_t self_ino, self_id;
static char self_name[RCFS_NAME_SIZE], self_path[PATH_MAX];

/* Real /proc, the caller is this process. */
static void real_setup(int no_nsid, const char *ext)
{
	struct rcfs_config cfg;

	make_tree();
	cfg = base_config();
	cfg.procfs = NULL;
	cfg.no_nsid = no_nsid;
	cfg.extension = ext;
	init(&cfg);
	cr_assert_eq(ctx.nsid, !no_nsid, "NS_GET_ID expected on this kernel");
	self_ino = h2_ns_ino("/proc/self/ns/net");
	self_id = h2_ns_unique_id("/proc/self/ns/net");
	cr_assert_eq(rcfs_backing_name(&ctx, self_ino, self_name, sizeof(self_name)), 0);
	in_backing(self_path, self_name);
	memset(&warnings, 0, sizeof(warnings));
}

static int open_self(int flags)
{
	struct rcfs_caller c = caller(getpid());
	int fd = rcfs_open(&ctx, &c, flags);

	cr_assert_geq(fd, 0, "rcfs_open(%#o): %s", flags, strerror(-fd));
	return fd;
}

static uint64_t recorded(const char *path)
{
	char raw[32];
	long n = h2_get_xattr(path, RCFS_NSID_XATTR, raw, sizeof(raw));

	cr_assert_gt(n, 0, "%s has no %s: %s", path, RCFS_NSID_XATTR, n < 0 ? strerror((int)-n) : "empty");
	return strtoull(raw, NULL, 10);
}

static void set_recorded(const char *path, uint64_t id)
{
	char raw[32];

	snprintf(raw, sizeof(raw), "%" PRIu64, id);
	h2_set_xattr(path, RCFS_NSID_XATTR, raw, strlen(raw));
}

/* Our file, made by rcfs_open, then given old content and a foreign recorded id. */
static uint64_t make_recycled(const char *old)
{
	uint64_t foreign = self_id + 1000;

	close(open_self(O_RDONLY));
	th_write_file(self_path, old, strlen(old), 0644); /* keeps the inode and its xattr */
	cr_assert_eq(recorded(self_path), self_id);
	set_recorded(self_path, foreign);
	warnings.count = 0;
	return foreign;
}

static void aside_path(char *out, uint64_t id)
{
	char name[PATH_MAX];

	snprintf(name, sizeof(name), "%s" RCFS_STALE_INFIX "%" PRIu64, self_name, id);
	in_backing(out, name);
}

Test(recycle, created_files_record_the_unique_id)
{
	struct rcfs_caller c = caller(getpid());
	struct stat st;

	real_setup(0, NULL);
	close(open_self(O_RDONLY));
	expect_content(self_path, tmpl);
	cr_expect_eq(recorded(self_path), self_id);
	cr_expect_eq(warnings.count, 0);
	/* A stat that creates the file records it too. */
	cr_assert_eq(unlink(self_path), 0);
	cr_assert_eq(rcfs_stat(&ctx, &c, &st), 0);
	cr_expect_eq(recorded(self_path), self_id);
	cr_expect_eq(th_count_entries(backing, NULL), 1);
	rcfs_ctx_fini(&ctx);
}

Test(recycle, matching_record_is_served_as_is)
{
	int fd;
	char *got;

	real_setup(0, NULL);
	close(open_self(O_RDONLY));
	th_write_file(self_path, "edited\n", 7, 0644);
	fd = open_self(O_RDONLY);
	got = read_fd_str(fd);
	cr_expect_str_eq(got, "edited\n");
	free(got);
	close(fd);
	cr_expect_eq(warnings.count, 0);
	cr_expect_eq(th_count_entries(backing, NULL), 1);
	rcfs_ctx_fini(&ctx);
}

static void check_moved_aside(int flags, const char *want_served)
{
	char aside[PATH_MAX], *got;
	uint64_t foreign;
	int fd;

	real_setup(0, NULL);
	foreign = make_recycled("old namespace's file\n");
	fd = open_self(flags);
	if ((flags & O_ACCMODE) != O_WRONLY) {
		got = read_fd_str(fd);
		cr_expect_str_eq(got, want_served, "flags %#o: the caller got the old file", flags);
		free(got);
	}
	close(fd);
	expect_content(self_path, want_served);
	cr_expect_eq(recorded(self_path), self_id, "the fresh copy records our id");
	aside_path(aside, foreign);
	cr_assert(h2_exists(aside), "flags %#o: no %s", flags, aside);
	expect_content(aside, "old namespace's file\n");
	cr_expect_eq(recorded(aside), foreign);
	cr_expect_eq(warnings.count, 1, "flags %#o: %d warnings", flags, warnings.count);
	cr_expect(strstr(warnings.last, aside + strlen(backing) + 1) != NULL,
		  "the warning does not name the aside file: %s", warnings.last);
	cr_expect_eq(th_count_entries(backing, NULL), 2);

	/* From now on the fresh file is ours: no more moves. */
	close(open_self(O_RDONLY));
	cr_expect_eq(warnings.count, 1);
	cr_expect_eq(th_count_entries(backing, NULL), 2);
	rcfs_ctx_fini(&ctx);
}

Test(recycle, moved_aside_on_open_for_reading)
{
	check_moved_aside(O_RDONLY, tmpl);
}

Test(recycle, moved_aside_with_content_on_o_trunc)
{
	check_moved_aside(O_WRONLY | O_TRUNC, "");
}

Test(recycle, moved_aside_with_content_on_o_rdwr_trunc)
{
	check_moved_aside(O_RDWR | O_TRUNC, "");
}

Test(recycle, moved_aside_on_append)
{
	char aside[PATH_MAX], want[256];
	uint64_t foreign;
	int fd;

	real_setup(0, NULL);
	foreign = make_recycled("old\n");
	fd = open_self(O_WRONLY | O_APPEND);
	cr_assert_eq(rcfs_write(&ctx, fd, "appended\n", 9, 0, 1), 9);
	close(fd);
	snprintf(want, sizeof(want), "%sappended\n", tmpl);
	expect_content(self_path, want);
	aside_path(aside, foreign);
	expect_content(aside, "old\n");
	rcfs_ctx_fini(&ctx);
}

/* Linux truncates on open(O_RDONLY | O_TRUNC) too (with write permission), and FUSE passes
 * O_TRUNC through with atomic_o_trunc: the aside copy must keep its content here as well. */
Test(recycle, moved_aside_with_content_on_o_rdonly_trunc)
{
	check_moved_aside(O_RDONLY | O_TRUNC, "");
}

/* The daemon always checks the open, and on the file it serves: the fresh copy (from a 0666
 * template), not the old file it moved aside, which this caller (another uid, no capabilities)
 * may not write. */
Test(recycle, moved_aside_then_checked_on_the_fresh_copy)
{
	struct rcfs_caller c = { .pid = 0, .uid = 12345, .gid = 12345 };
	char aside[PATH_MAX];
	uint64_t foreign;
	int fd;

	real_setup(0, NULL);
	cr_assert_eq(chmod(tmpl_path, 0666), 0);
	c.pid = h2_child_without_caps();
	/* Control: the same file, still ours, is checked and denied. */
	close(open_self(O_RDONLY));
	cr_assert_eq(chmod(self_path, 0600), 0);
	cr_assert_eq(rcfs_open(&ctx, &c, O_WRONLY | O_TRUNC), -EACCES);
	foreign = make_recycled("old\n");
	cr_assert_eq(chmod(self_path, 0600), 0);
	fd = rcfs_open(&ctx, &c, O_WRONLY | O_TRUNC);
	cr_assert_geq(fd, 0, "rcfs_open: %s", strerror(-fd));
	close(fd);
	expect_content(self_path, "");
	aside_path(aside, foreign);
	expect_content(aside, "old\n");
	cr_expect_eq(warnings.count, 1);
	rcfs_ctx_fini(&ctx);
}

Test(recycle, stat_does_not_check)
{
	struct rcfs_caller c = caller(getpid());
	struct stat st;

	real_setup(0, NULL);
	make_recycled("old\n");
	cr_assert_eq(rcfs_stat(&ctx, &c, &st), 0);
	cr_expect_eq(st.st_size, 4);
	cr_expect_eq(warnings.count, 0);
	cr_expect_eq(th_count_entries(backing, NULL), 1);
	rcfs_ctx_fini(&ctx);
}

Test(recycle, files_without_a_usable_record_are_served_as_they_are)
{
	static const char *const garbage[] = { "", "abc", "-1", "18446744073709551616" };
	int fd;
	char *got;

	real_setup(0, NULL);
	/* Made by hand: no xattr. */
	th_write_file(self_path, "by hand\n", 8, 0644);
	fd = open_self(O_RDONLY);
	got = read_fd_str(fd);
	cr_expect_str_eq(got, "by hand\n");
	free(got);
	close(fd);
	for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
		h2_set_xattr(self_path, RCFS_NSID_XATTR, garbage[i], strlen(garbage[i]));
		close(open_self(O_WRONLY | O_TRUNC));
		cr_expect_eq(th_count_entries(backing, NULL), 1, "'%s': moved", garbage[i]);
		th_write_file(self_path, "by hand\n", 8, 0644);
	}
	cr_expect_eq(warnings.count, 0);
	expect_content(self_path, "by hand\n");
	rcfs_ctx_fini(&ctx);
}

Test(recycle, fake_procfs_serves_files_as_they_are)
{
	struct rcfs_config cfg;
	struct rcfs_caller c = caller(10);
	char path[PATH_MAX], raw[32];
	int fd;

	make_tree();
	th_fake_ns(procfs, 10, "net:[1]");
	th_fake_ns(procfs, 20, "net:[2]");
	cfg = base_config();
	init(&cfg);
	cr_assert_eq(ctx.nsid, 1);
	memset(&warnings, 0, sizeof(warnings));
	/* 1.conf records some other id: the caller's unique id cannot be read, so it stays. */
	put(backing, "1.conf", "kept\n");
	in_backing(path, "1.conf");
	set_recorded(path, 123456);
	fd = rcfs_open(&ctx, &c, O_RDWR | O_TRUNC);
	cr_assert_geq(fd, 0);
	close(fd);
	cr_expect_eq(th_count_entries(backing, NULL), 1);
	cr_expect_eq(warnings.count, 0);
	cr_expect_eq(recorded(path), 123456);
	/* A new file records nothing. */
	c.pid = 20;
	fd = rcfs_open(&ctx, &c, O_RDONLY);
	cr_assert_geq(fd, 0);
	close(fd);
	in_backing(path, "2.conf");
	expect_content(path, tmpl);
	cr_expect_eq(h2_get_xattr(path, RCFS_NSID_XATTR, raw, sizeof(raw)), -ENODATA);
	rcfs_ctx_fini(&ctx);
}

Test(recycle, no_nsid_records_and_checks_nothing)
{
	char raw[32];
	int fd;
	char *got;

	real_setup(1, NULL);
	close(open_self(O_RDONLY));
	cr_expect_eq(h2_get_xattr(self_path, RCFS_NSID_XATTR, raw, sizeof(raw)), -ENODATA);
	th_write_file(self_path, "old\n", 4, 0644);
	set_recorded(self_path, self_id + 1000);
	fd = open_self(O_RDONLY);
	got = read_fd_str(fd);
	cr_expect_str_eq(got, "old\n");
	free(got);
	close(fd);
	close(open_self(O_WRONLY | O_TRUNC));
	cr_expect_eq(th_count_entries(backing, NULL), 1);
	cr_expect_eq(warnings.count, 0);
	rcfs_ctx_fini(&ctx);
}

Test(recycle, uid_keys_are_not_recyclable)
{
	struct rcfs_config cfg;
	struct rcfs_caller c = caller(getpid());
	char path[PATH_MAX], name[64];
	int fd;
	char *got;

	make_tree();
	cfg = base_config();
	cfg.procfs = NULL;
	cfg.key_kind = "uid";
	init(&cfg);
	memset(&warnings, 0, sizeof(warnings));
	snprintf(name, sizeof(name), "%u.conf", (unsigned)c.uid);
	put(backing, name, "mine\n");
	in_backing(path, name);
	set_recorded(path, 1);
	fd = rcfs_open(&ctx, &c, O_RDONLY);
	cr_assert_geq(fd, 0);
	got = read_fd_str(fd);
	cr_expect_str_eq(got, "mine\n");
	free(got);
	close(fd);
	cr_expect_eq(warnings.count, 0);
	rcfs_ctx_fini(&ctx);
}

Test(recycle, named_files_are_not_recyclable)
{
	struct rcfs_config cfg;
	struct rcfs_caller c = caller(getpid());
	char path[PATH_MAX];
	int fd;
	char *got;

	h2_private_mounts();
	make_tree();
	cr_assert_eq(mkdir(names_dir, 0755), 0);
	th_join(path, names_dir, "here");
	h2_bind("/proc/self/ns/net", path);
	cfg = base_config();
	cfg.procfs = NULL;
	cfg.names_dir = names_dir;
	init(&cfg);
	memset(&warnings, 0, sizeof(warnings));
	put(backing, "here.conf", "named\n");
	in_backing(path, "here.conf");
	set_recorded(path, 1);
	fd = rcfs_open(&ctx, &c, O_RDONLY);
	cr_assert_geq(fd, 0);
	got = read_fd_str(fd);
	cr_expect_str_eq(got, "named\n");
	free(got);
	close(fd);
	cr_expect_eq(warnings.count, 0);
	cr_expect_eq(th_count_entries(backing, NULL), 1);
	rcfs_ctx_fini(&ctx);
}

Test(recycle, an_existing_aside_copy_is_kept)
{
	char aside[PATH_MAX];
	uint64_t foreign;

	real_setup(0, NULL);
	foreign = make_recycled("newer\n");
	aside_path(aside, foreign);
	th_write_file(aside, "older\n", 6, 0644);
	close(open_self(O_RDONLY));
	expect_content(aside, "older\n");
	expect_content(self_path, tmpl);
	cr_expect_eq(recorded(self_path), self_id);
	/* the newer stale copy went to <aside>-<our id>: nothing is destroyed */
	cr_expect_eq(th_count_entries(backing, NULL), 3);
	rcfs_ctx_fini(&ctx);
}

/* The longest extension rcfs_ctx_init accepts leaves no room for ".stale-<id>" in NAME_MAX: the
 * recycled file must still not be destroyed (nor served to the new namespace). */
Test(recycle, long_extension_keeps_the_old_content)
{
	char ext[RCFS_EXT_MAX + 1], *got;
	uint64_t foreign;
	int fd, found = 0;
	DIR *d;
	struct dirent *de;

	memset(ext, 'e', RCFS_EXT_MAX);
	ext[RCFS_EXT_MAX] = '\0';
	real_setup(0, ext);
	foreign = make_recycled("old namespace's file\n");
	cr_assert_geq(foreign, 1000); /* at least 4 digits: 10 + 1 + 234 + 7 + 4 > NAME_MAX */
	fd = open_self(O_RDONLY);
	got = read_fd_str(fd);
	cr_expect_str_eq(got, tmpl, "the new namespace got the old namespace's file");
	free(got);
	close(fd);
	d = opendir(backing);
	cr_assert_not_null(d);
	while ((de = readdir(d))) {
		char path[PATH_MAX];
		size_t len;
		char *text;

		if (de->d_name[0] == '.' || !strcmp(de->d_name, self_name))
			continue;
		in_backing(path, de->d_name);
		text = th_read_file(path, &len);
		found |= !strcmp(text, "old namespace's file\n");
		free(text);
	}
	closedir(d);
	cr_expect(found, "the recycled file's content is gone (warning: %s)", warnings.last);
	rcfs_ctx_fini(&ctx);
}

/* Many first requests of the new namespace at once: one move, one warning, everyone gets the
 * fresh copy. */
#define RACERS 8

struct racer {
	pthread_barrier_t *go;
	int fd;
	char *content;
};

static void *race_open(void *p)
{
	struct racer *r = p;
	struct rcfs_caller c = caller(getpid());
	size_t len;

	pthread_barrier_wait(r->go);
	r->fd = rcfs_open(&ctx, &c, O_RDONLY);
	if (r->fd >= 0) {
		r->content = th_read_fd(r->fd, &len);
		close(r->fd);
	}
	return NULL;
}

Test(recycle, concurrent_opens_move_once)
{
	pthread_barrier_t go;
	struct racer r[RACERS];
	pthread_t t[RACERS];
	char aside[PATH_MAX];
	uint64_t foreign;

	real_setup(0, NULL);
	for (int round = 0; round < 20; round++) {
		if (round)
			cr_assert_eq(unlink(aside), 0);
		foreign = make_recycled("old\n");
		aside_path(aside, foreign);
		cr_assert_eq(pthread_barrier_init(&go, NULL, RACERS), 0);
		for (int i = 0; i < RACERS; i++) {
			r[i] = (struct racer){ .go = &go, .fd = -1 };
			cr_assert_eq(pthread_create(&t[i], NULL, race_open, &r[i]), 0);
		}
		for (int i = 0; i < RACERS; i++)
			pthread_join(t[i], NULL);
		pthread_barrier_destroy(&go);
		for (int i = 0; i < RACERS; i++) {
			cr_expect_geq(r[i].fd, 0, "round %d: open failed: %s", round, strerror(-r[i].fd));
			if (r[i].content)
				cr_expect_str_eq(r[i].content, tmpl, "round %d: a racer got the old file", round);
			free(r[i].content);
		}
		cr_expect_eq(warnings.count, 1, "round %d: %d warnings", round, warnings.count);
		expect_content(aside, "old\n");
		expect_content(self_path, tmpl);
		cr_expect_eq(th_count_entries(backing, NULL), 2, "round %d", round);
	}
	rcfs_ctx_fini(&ctx);
}
