/* rcfs_ctx_init / rcfs_ctx_fini / rcfs_ctx_check_procfs. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../core/backing.h"
#include "../../core/context.h"
#include "../../core/nsid.h"
#include "helpers.h"

TestSuite(context, .fini = th_cleanup);

/* A temporary root with proc/, backing/ and template (a regular file). */
static char root[PATH_MAX], procfs[PATH_MAX], backing[PATH_MAX], tmpl[PATH_MAX];

static void make_tree(void)
{
	th_mkdtemp(root);
	th_join(procfs, root, "proc");
	th_join(backing, root, "backing");
	th_join(tmpl, root, "template");
	cr_assert_eq(mkdir(procfs, 0755), 0);
	cr_assert_eq(mkdir(backing, 0755), 0);
	th_write_file(tmpl, "nameserver 192.0.2.1\n", 21, 0644);
}

static struct rcfs_config config(void)
{
	struct rcfs_config cfg = {
		.procfs = procfs,
		.backing_dir = backing,
		.extension = NULL,
		.template_path = tmpl,
	};
	return cfg;
}

/* rcfs_ctx_init must fail with want, name what, leave the context with no fds and no template,
 * and leave no fd open in the process. */
static void expect_init_error(const struct rcfs_config *cfg, int want, const char *what,
			      const char *arg)
{
	struct rcfs_init_error err = { 0 };
	struct rcfs_ctx ctx;
	int before = th_count_fds();
	int ret;

	memset(&ctx, 0x5a, sizeof(ctx));
	ret = rcfs_ctx_init(&ctx, cfg, &err);
	cr_assert_eq(ret, want, "rcfs_ctx_init gave %d (%s), want %d (%s)", ret, strerror(-ret),
		     want, strerror(-want));
	cr_assert_not_null(err.what);
	cr_assert_str_eq(err.what, what);
	if (arg) {
		cr_assert_not_null(err.arg);
		cr_assert_str_eq(err.arg, arg);
	}
	cr_assert_eq(th_count_fds(), before, "rcfs_ctx_init left an fd open on error");
	cr_assert_eq(ctx.procfs_fd, -1);
	cr_assert_eq(ctx.backing_fd, -1);
	cr_assert_null(ctx.template_path);
	/* fini after a failed init is harmless */
	rcfs_ctx_fini(&ctx);
	cr_assert_eq(th_count_fds(), before);
}

Test(context, init_and_fini_success)
{
	struct rcfs_config cfg;
	struct rcfs_init_error err = { 0 };
	struct rcfs_ctx ctx;
	int before;

	make_tree();
	cfg = config();
	before = th_count_fds();
	cr_assert_eq(rcfs_ctx_init(&ctx, &cfg, &err), 0);
	cr_assert_eq(th_count_fds(), before + 2, "one procfs fd and one backing fd");
	cr_assert_geq(ctx.procfs_fd, 0);
	cr_assert_geq(ctx.backing_fd, 0);
	cr_assert_str_eq(ctx.ns_kind, "net");
	cr_assert_not_null(ctx.template_path);
	cr_assert_str_eq(ctx.template_path, tmpl);
	/* Both fds are close-on-exec: the daemon must not leak them to children. */
	cr_assert(fcntl(ctx.procfs_fd, F_GETFD) & FD_CLOEXEC);
	cr_assert(fcntl(ctx.backing_fd, F_GETFD) & FD_CLOEXEC);
	rcfs_ctx_fini(&ctx);
	cr_assert_eq(th_count_fds(), before);
	cr_assert_eq(ctx.procfs_fd, -1);
	cr_assert_eq(ctx.backing_fd, -1);
	cr_assert_null(ctx.template_path);
	/* A finished context can be finished again. */
	rcfs_ctx_fini(&ctx);
	cr_assert_eq(th_count_fds(), before);
}

Test(context, strings_are_copied)
{
	struct rcfs_config cfg;
	struct rcfs_ctx ctx;
	char ext[] = "conf", tpath[PATH_MAX];

	make_tree();
	strcpy(tpath, tmpl);
	cfg = config();
	cfg.extension = ext;
	cfg.template_path = tpath;
	cr_assert_eq(rcfs_ctx_init(&ctx, &cfg, NULL), 0);
	memset(ext, 'x', sizeof(ext) - 1);
	memset(tpath, 'x', sizeof(tpath) - 1);
	tpath[sizeof(tpath) - 1] = '\0';
	cr_assert_str_eq(ctx.ext, "conf");
	cr_assert_str_eq(ctx.template_path, tmpl);
	rcfs_ctx_fini(&ctx);
}

Test(context, default_extension_is_conf)
{
	struct rcfs_config cfg;
	struct rcfs_ctx ctx;
	char name[RCFS_NAME_SIZE];

	make_tree();
	cfg = config();
	cfg.extension = NULL;
	cr_assert_eq(rcfs_ctx_init(&ctx, &cfg, NULL), 0);
	cr_assert_str_eq(ctx.ext, "conf");
	cr_assert_eq(rcfs_backing_name(&ctx, 777, name, sizeof(name)), 0);
	cr_assert_str_eq(name, "777.conf");
	rcfs_ctx_fini(&ctx);
}

Test(context, empty_extension_allowed)
{
	struct rcfs_config cfg;
	struct rcfs_ctx ctx;

	make_tree();
	cfg = config();
	cfg.extension = "";
	cr_assert_eq(rcfs_ctx_init(&ctx, &cfg, NULL), 0);
	cr_assert_str_eq(ctx.ext, "");
	rcfs_ctx_fini(&ctx);
}

Test(context, longest_extension_allowed)
{
	struct rcfs_config cfg;
	struct rcfs_ctx ctx;
	char ext[RCFS_EXT_MAX + 1];

	make_tree();
	memset(ext, 'e', RCFS_EXT_MAX);
	ext[RCFS_EXT_MAX] = '\0';
	cfg = config();
	cfg.extension = ext;
	cr_assert_eq(rcfs_ctx_init(&ctx, &cfg, NULL), 0);
	cr_assert_str_eq(ctx.ext, ext);
	rcfs_ctx_fini(&ctx);
}

Test(context, extension_too_long)
{
	struct rcfs_config cfg;
	char ext[RCFS_EXT_MAX + 2];

	make_tree();
	memset(ext, 'e', RCFS_EXT_MAX + 1);
	ext[RCFS_EXT_MAX + 1] = '\0';
	cfg = config();
	cfg.extension = ext;
	expect_init_error(&cfg, -ENAMETOOLONG, "extension", ext);
}

Test(context, extension_with_slash)
{
	static const char *const bad[] = { "a/b", "/", "conf/", "/conf", "../../etc/passwd", "//" };
	struct rcfs_config cfg;

	make_tree();
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cfg = config();
		cfg.extension = bad[i];
		expect_init_error(&cfg, -EINVAL, "extension", bad[i]);
	}
}

Test(context, extension_error_without_err_pointer)
{
	struct rcfs_config cfg;
	struct rcfs_ctx ctx;
	int before;

	make_tree();
	cfg = config();
	cfg.extension = "x/y";
	before = th_count_fds();
	cr_assert_eq(rcfs_ctx_init(&ctx, &cfg, NULL), -EINVAL);
	cfg = config();
	cfg.backing_dir = "/nonexistent/rcfs-unit";
	cr_assert_eq(rcfs_ctx_init(&ctx, &cfg, NULL), -ENOENT);
	cr_assert_eq(th_count_fds(), before);
}

Test(context, backing_dir_missing)
{
	struct rcfs_config cfg;
	char missing[PATH_MAX];

	make_tree();
	th_join(missing, root, "no-such-dir");
	cfg = config();
	cfg.backing_dir = missing;
	expect_init_error(&cfg, -ENOENT, "backing directory", missing);
}

Test(context, backing_dir_null)
{
	struct rcfs_config cfg;

	make_tree();
	cfg = config();
	cfg.backing_dir = NULL;
	expect_init_error(&cfg, -EINVAL, "backing directory", NULL);
}

Test(context, backing_dir_is_regular_file)
{
	struct rcfs_config cfg;

	make_tree();
	cfg = config();
	cfg.backing_dir = tmpl;
	expect_init_error(&cfg, -ENOTDIR, "backing directory", tmpl);
}

Test(context, template_missing)
{
	struct rcfs_config cfg;
	char missing[PATH_MAX];

	make_tree();
	th_join(missing, root, "no-such-template");
	cfg = config();
	cfg.template_path = missing;
	expect_init_error(&cfg, -ENOENT, "default file", missing);
}

Test(context, template_is_directory)
{
	struct rcfs_config cfg;

	make_tree();
	cfg = config();
	cfg.template_path = backing;
	expect_init_error(&cfg, -EISDIR, "default file", backing);
}

Test(context, template_is_not_regular)
{
	struct rcfs_config cfg;

	/* A character device: readable, but not a file to copy. */
	make_tree();
	cfg = config();
	cfg.template_path = "/dev/null";
	expect_init_error(&cfg, -EINVAL, "default file", "/dev/null");
}

/* A FIFO as template: opening it for reading would wait for a writer forever. rcfs_ctx_init must
 * reject it (it is not a regular file) without blocking. */
static char fifo[PATH_MAX];

static int init_with_fifo_template(void *unused)
{
	struct rcfs_config cfg = config();
	struct rcfs_init_error err = { 0 };
	struct rcfs_ctx ctx;
	int ret;

	(void)unused;
	cfg.template_path = fifo;
	ret = rcfs_ctx_init(&ctx, &cfg, &err);
	if (ret == 0) {
		rcfs_ctx_fini(&ctx);
		return th_child_fail(1, "a FIFO template was accepted");
	}
	if (strcmp(err.what, "default file"))
		return th_child_fail(1, "error names '%s', not the default file", err.what);
	return 0;
}

Test(context, template_is_fifo_rejected_without_blocking)
{
	int blocked, code;

	make_tree();
	th_join(fifo, root, "fifo");
	cr_assert_eq(mkfifo(fifo, 0644), 0);
	code = th_run_child_fifo_watch(fifo, init_with_fifo_template, NULL, &blocked);
	cr_expect_not(blocked, "rcfs_ctx_init blocked opening a FIFO template (needs O_NONBLOCK)");
	cr_assert_eq(code, 0, "child failed (status %d), see its message above", code);
}

Test(context, template_symlink_to_regular_file_is_fine)
{
	struct rcfs_config cfg;
	struct rcfs_ctx ctx;
	char link[PATH_MAX];

	make_tree();
	th_join(link, root, "template-link");
	cr_assert_eq(symlink(tmpl, link), 0);
	cfg = config();
	cfg.template_path = link;
	cr_assert_eq(rcfs_ctx_init(&ctx, &cfg, NULL), 0);
	rcfs_ctx_fini(&ctx);
}

Test(context, template_relative_path_made_absolute)
{
	struct rcfs_config cfg;
	struct rcfs_ctx ctx;
	char oldcwd[PATH_MAX];

	make_tree();
	cr_assert_not_null(getcwd(oldcwd, sizeof(oldcwd)));
	cr_assert_eq(chdir(root), 0);
	cfg = config();
	cfg.template_path = "template";
	cr_assert_eq(rcfs_ctx_init(&ctx, &cfg, NULL), 0);
	cr_assert_eq(chdir("/"), 0);
	cr_assert_not_null(ctx.template_path);
	cr_assert_eq(ctx.template_path[0], '/');
	cr_assert_str_eq(ctx.template_path, tmpl);
	rcfs_ctx_fini(&ctx);
	cr_assert_eq(chdir(oldcwd), 0);
}

Test(context, no_template_is_allowed)
{
	struct rcfs_config cfg;
	struct rcfs_ctx ctx;

	make_tree();
	cfg = config();
	cfg.template_path = NULL;
	cr_assert_eq(rcfs_ctx_init(&ctx, &cfg, NULL), 0);
	cr_assert_null(ctx.template_path);
	rcfs_ctx_fini(&ctx);
}

Test(context, procfs_missing)
{
	struct rcfs_config cfg;
	char missing[PATH_MAX];

	make_tree();
	th_join(missing, root, "no-such-proc");
	cfg = config();
	cfg.procfs = missing;
	expect_init_error(&cfg, -ENOENT, "procfs", missing);
}

Test(context, procfs_is_regular_file)
{
	struct rcfs_config cfg;

	make_tree();
	cfg = config();
	cfg.procfs = tmpl;
	expect_init_error(&cfg, -ENOTDIR, "procfs", tmpl);
}

Test(context, default_procfs_is_proc)
{
	struct rcfs_config cfg;
	struct rcfs_ctx ctx;
	struct stat a, b;

	make_tree();
	cfg = config();
	cfg.procfs = NULL;
	cr_assert_eq(rcfs_ctx_init(&ctx, &cfg, NULL), 0);
	cr_assert_eq(fstat(ctx.procfs_fd, &a), 0);
	cr_assert_eq(stat("/proc", &b), 0);
	cr_assert_eq(a.st_dev, b.st_dev);
	cr_assert_eq(a.st_ino, b.st_ino);
	cr_assert_eq(rcfs_ctx_check_procfs(&ctx), 0);
	rcfs_ctx_fini(&ctx);
}

Test(context, every_error_leaves_no_fd_open)
{
	/* The later a step fails, the more has been opened before it: check each in turn. */
	struct rcfs_config cfg;
	char missing[PATH_MAX];

	make_tree();
	th_join(missing, root, "missing");

	cfg = config();
	cfg.extension = "/";
	expect_init_error(&cfg, -EINVAL, "extension", NULL);
	cfg = config();
	cfg.backing_dir = missing;
	expect_init_error(&cfg, -ENOENT, "backing directory", NULL);
	cfg = config();
	cfg.procfs = missing;
	expect_init_error(&cfg, -ENOENT, "procfs", NULL);
	cfg = config();
	cfg.template_path = missing;
	expect_init_error(&cfg, -ENOENT, "default file", NULL);
	cfg = config();
	cfg.template_path = backing;
	expect_init_error(&cfg, -EISDIR, "default file", NULL);
}

/* ----- rcfs_ctx_check_procfs -------------------------------------------------------------- */

static int init_with_procfs(struct rcfs_ctx *ctx, const char *proc)
{
	struct rcfs_config cfg = config();

	cfg.procfs = proc;
	cfg.template_path = NULL;
	return rcfs_ctx_init(ctx, &cfg, NULL);
}

Test(context, check_procfs_real_proc)
{
	struct rcfs_ctx ctx;

	make_tree();
	cr_assert_eq(init_with_procfs(&ctx, "/proc"), 0);
	cr_assert_eq(rcfs_ctx_check_procfs(&ctx), 0);
	rcfs_ctx_fini(&ctx);
}

Test(context, check_procfs_empty_fake_tree_is_a_layout)
{
	struct rcfs_ctx ctx;
	int before;

	make_tree();
	cr_assert_eq(init_with_procfs(&ctx, procfs), 0);
	before = th_count_fds();
	/* Filled as processes appear: no <pid> entry yet is not the same as unreadable ones. */
	cr_assert_eq(rcfs_ctx_check_procfs(&ctx), 1);
	cr_assert_eq(th_count_fds(), before, "rcfs_ctx_check_procfs left an fd open");
	rcfs_ctx_fini(&ctx);
}

Test(context, check_procfs_fake_tree_with_one_link)
{
	struct rcfs_ctx ctx;
	int before;

	make_tree();
	/* Not our own pid: any numeric entry with a readable link will do. */
	th_fake_ns(procfs, 4242, "net:[777]");
	cr_assert_eq(init_with_procfs(&ctx, procfs), 0);
	before = th_count_fds();
	cr_assert_eq(rcfs_ctx_check_procfs(&ctx), 0);
	cr_assert_eq(th_count_fds(), before, "rcfs_ctx_check_procfs left an fd open");
	rcfs_ctx_fini(&ctx);
}

Test(context, check_procfs_fake_tree_with_own_pid)
{
	struct rcfs_ctx ctx;

	make_tree();
	th_fake_ns(procfs, (long)getpid(), "net:[777]");
	cr_assert_eq(init_with_procfs(&ctx, procfs), 0);
	cr_assert_eq(rcfs_ctx_check_procfs(&ctx), 0);
	rcfs_ctx_fini(&ctx);
}

Test(context, check_procfs_ignores_non_numeric_and_non_links)
{
	struct rcfs_ctx ctx;
	char path[PATH_MAX];

	make_tree();
	/* "self/ns/net" is not a pid entry; "12/ns/net" is a regular file, not a link; "34" has no
	 * ns directory at all; a regular file named "56". */
	th_fake_ns(procfs, 1, "net:[1]");
	th_join(path, procfs, "1");
	{
		char self[PATH_MAX];

		th_join(self, procfs, "self");
		cr_assert_eq(rename(path, self), 0);
	}
	th_pathf(path, "%s/12", procfs);
	cr_assert_eq(mkdir(path, 0755), 0);
	th_pathf(path, "%s/12/ns", procfs);
	cr_assert_eq(mkdir(path, 0755), 0);
	th_pathf(path, "%s/12/ns/net", procfs);
	th_write_file(path, "net:[1]", 7, 0644);
	th_pathf(path, "%s/34", procfs);
	cr_assert_eq(mkdir(path, 0755), 0);
	th_pathf(path, "%s/56", procfs);
	th_write_file(path, "", 0, 0644);

	cr_assert_eq(init_with_procfs(&ctx, procfs), 0);
	cr_assert_eq(rcfs_ctx_check_procfs(&ctx), -ENOENT);
	/* One proper link makes it a procfs layout. */
	th_fake_ns(procfs, 99, "net:[5]");
	cr_assert_eq(rcfs_ctx_check_procfs(&ctx), 0);
	rcfs_ctx_fini(&ctx);
}

/* ----- key kinds, loopback filter, names, namespace ids: validation and clean failure ------ */

Test(context, key_kinds)
{
	static const char *const ns[] = { "net", "mnt", "uts", "ipc", "user", "pid", "cgroup", "time" };
	struct rcfs_config cfg;
	struct rcfs_ctx ctx;

	make_tree();
	cfg = config();
	cr_assert_eq(rcfs_ctx_init(&ctx, &cfg, NULL), 0);
	cr_assert_eq(ctx.key_source, RCFS_KEY_NS, "the default key is the network namespace");
	cr_assert_str_eq(ctx.ns_kind, "net");
	rcfs_ctx_fini(&ctx);
	for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
		cfg.key_kind = ns[i];
		cr_assert_eq(rcfs_ctx_init(&ctx, &cfg, NULL), 0, "key %s", ns[i]);
		cr_assert_eq(ctx.key_source, RCFS_KEY_NS);
		cr_assert_str_eq(ctx.ns_kind, ns[i]);
		rcfs_ctx_fini(&ctx);
	}
	cfg.key_kind = "uid";
	cr_assert_eq(rcfs_ctx_init(&ctx, &cfg, NULL), 0);
	cr_assert_eq(ctx.key_source, RCFS_KEY_UID);
	rcfs_ctx_fini(&ctx);
	cfg.key_kind = "gid";
	cr_assert_eq(rcfs_ctx_init(&ctx, &cfg, NULL), 0);
	cr_assert_eq(ctx.key_source, RCFS_KEY_GID);
	rcfs_ctx_fini(&ctx);
}

Test(context, bad_key_kind)
{
	static const char *const bad[] = { "", "NET", "network", "net ", "netx", "ne", "uid0",
					   "../net", "net/..", "mount" };
	struct rcfs_config cfg;

	make_tree();
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cfg = config();
		cfg.key_kind = bad[i];
		expect_init_error(&cfg, -EINVAL, "key", bad[i]);
	}
}

Test(context, loopback_filter_settings)
{
	static const char *const good[] = { "192.0.2.1", "2001:db8::1" };
	static const char *const bad_addr[] = { "192.0.2.1", "not-an-address" };
	struct rcfs_config cfg;
	struct rcfs_ctx ctx;

	make_tree();
	/* Fallbacks are copied and owned by the context. */
	cfg = config();
	cfg.filter_loopback = 1;
	cfg.fallbacks = good;
	cfg.n_fallbacks = 2;
	cr_assert_eq(rcfs_ctx_init(&ctx, &cfg, NULL), 0);
	cr_assert_eq(ctx.filter_loopback, 1);
	cr_assert_eq(ctx.n_fallbacks, 2);
	cr_assert_str_eq(ctx.fallbacks[0], "192.0.2.1");
	cr_assert_str_eq(ctx.fallbacks[1], "2001:db8::1");
	cr_assert_neq((const void *)ctx.fallbacks[0], (const void *)good[0]);
	rcfs_ctx_fini(&ctx);
	cr_assert_null(ctx.fallbacks);
	cr_assert_eq(ctx.n_fallbacks, 0);

	/* Each rejection comes after the fds are open and the template is copied: all released. */
	cfg = config();
	cfg.filter_loopback = 1;
	cfg.fallbacks = bad_addr;
	cfg.n_fallbacks = 2;
	expect_init_error(&cfg, -EINVAL, "fallback nameserver", "not-an-address");
	cfg = config();
	cfg.fallbacks = good;
	cfg.n_fallbacks = 1;
	expect_init_error(&cfg, -EINVAL, "fallback nameserver", "192.0.2.1");
	cfg = config();
	cfg.filter_loopback = 1;
	cfg.key_kind = "mnt";
	expect_init_error(&cfg, -EINVAL, "key", "mnt");
	cfg = config();
	cfg.filter_loopback = 1;
	cfg.key_kind = "uid";
	expect_init_error(&cfg, -EINVAL, "key", "uid");
}

Test(context, names_settings)
{
	struct rcfs_config cfg;
	struct rcfs_ctx ctx;
	char names[PATH_MAX];

	make_tree();
	th_join(names, root, "netns");
	cr_assert_eq(mkdir(names, 0755), 0);
	cfg = config();
	cfg.names_dir = names;
	cr_assert_eq(rcfs_ctx_init(&ctx, &cfg, NULL), 0);
	cr_assert_not_null(ctx.names);
	rcfs_ctx_fini(&ctx);
	cr_assert_null(ctx.names);

	cfg = config();
	cfg.names_dir = "run/netns";
	expect_init_error(&cfg, -EINVAL, "names directory", "run/netns");
	cfg = config();
	cfg.names_dir = names;
	cfg.key_kind = "uts";
	expect_init_error(&cfg, -EINVAL, "key", "uts");
	/* The /etc/netns layout needs a usable mountpoint basename and an existing directory. */
	cfg = config();
	cfg.names_dir = names;
	cfg.etc_netns_dir = names;
	cfg.mount_basename = NULL;
	expect_init_error(&cfg, -EINVAL, "mountpoint", NULL);
	cfg.mount_basename = "a/b";
	expect_init_error(&cfg, -EINVAL, "mountpoint", "a/b");
	cfg.mount_basename = ".hidden";
	expect_init_error(&cfg, -EINVAL, "mountpoint", ".hidden");
	cfg.mount_basename = "resolv.conf";
	cfg.etc_netns_dir = "/nonexistent/rcfs-unit-etc-netns";
	expect_init_error(&cfg, -ENOENT, "etc-netns directory", cfg.etc_netns_dir);
	cfg.etc_netns_dir = names;
	cr_assert_eq(rcfs_ctx_init(&ctx, &cfg, NULL), 0);
	cr_assert_geq(ctx.etc_fd, 0);
	cr_assert_str_eq(ctx.etc_base, "resolv.conf");
	rcfs_ctx_fini(&ctx);
	cr_assert_eq(ctx.etc_fd, -1);
}

Test(context, namespace_ids)
{
	struct rcfs_config cfg;
	struct rcfs_ctx ctx;

	make_tree();
	cfg = config();
	cr_assert_eq(rcfs_ctx_init(&ctx, &cfg, NULL), 0);
	cr_assert_eq(!!ctx.nsid, !!rcfs_nsid_supported());
	cr_assert_eq(ctx.nsid != 0, ctx.stale_lock != NULL);
	rcfs_ctx_fini(&ctx);
	cr_assert_null(ctx.stale_lock);
	cr_assert_eq(ctx.nsid, 0);
	cfg.no_nsid = 1;
	cr_assert_eq(rcfs_ctx_init(&ctx, &cfg, NULL), 0);
	cr_assert_eq(ctx.nsid, 0);
	rcfs_ctx_fini(&ctx);
	cfg.no_nsid = 0;
	cfg.key_kind = "uid"; /* ids only matter for namespace keys */
	cr_assert_eq(rcfs_ctx_init(&ctx, &cfg, NULL), 0);
	cr_assert_eq(ctx.nsid, 0);
	rcfs_ctx_fini(&ctx);
}

/* ----- the size limit, the template's identity, the daemon's own namespaces ------------------- */

Test(context, max_size_default_and_given)
{
	struct rcfs_config cfg;
	struct rcfs_ctx ctx;

	make_tree();
	cfg = config();
	cr_assert_eq(rcfs_ctx_init(&ctx, &cfg, NULL), 0);
	cr_expect_eq(ctx.max_size, 1048576);
	cr_expect_eq(RCFS_MAX_SIZE_DEFAULT, 1048576);
	cr_expect_not_null(ctx.size_lock);
	cr_expect_not_null(ctx.tview);
	rcfs_ctx_fini(&ctx);
	cr_expect_null(ctx.size_lock);
	cr_expect_null(ctx.tview);
	rcfs_ctx_fini(&ctx);
	cfg.max_size = -5; /* not a size: the default */
	cr_assert_eq(rcfs_ctx_init(&ctx, &cfg, NULL), 0);
	cr_expect_eq(ctx.max_size, 1048576);
	rcfs_ctx_fini(&ctx);
	cfg.max_size = 21; /* exactly the template's size */
	cr_assert_eq(rcfs_ctx_init(&ctx, &cfg, NULL), 0);
	cr_expect_eq(ctx.max_size, 21);
	rcfs_ctx_fini(&ctx);
	cfg.max_size = 8LL << 30; /* beyond 32 bits */
	cr_assert_eq(rcfs_ctx_init(&ctx, &cfg, NULL), 0);
	cr_expect_eq(ctx.max_size, (off_t)(8LL << 30));
	rcfs_ctx_fini(&ctx);
}

Test(context, template_larger_than_max_size_is_refused)
{
	struct rcfs_config cfg;
	char *big;

	make_tree();
	cfg = config();
	cfg.max_size = 20; /* the template has 21 bytes */
	expect_init_error(&cfg, -EFBIG, "default file", tmpl);
	/* Against the default limit: one byte over refused, exactly at it accepted. */
	big = calloc(1, 1048577);
	cr_assert_not_null(big);
	memset(big, '#', 1048577);
	th_write_file(tmpl, big, 1048577, 0644);
	cfg = config();
	expect_init_error(&cfg, -EFBIG, "default file", tmpl);
	th_write_file(tmpl, big, 1048576, 0644);
	free(big);
	{
		struct rcfs_ctx ctx;

		cr_assert_eq(rcfs_ctx_init(&ctx, &cfg, NULL), 0);
		rcfs_ctx_fini(&ctx);
	}
	/* Without a template, any limit is fine. */
	cfg.template_path = NULL;
	cfg.max_size = 1;
	{
		struct rcfs_ctx ctx;

		cr_assert_eq(rcfs_ctx_init(&ctx, &cfg, NULL), 0);
		cr_expect_eq(ctx.max_size, 1);
		rcfs_ctx_fini(&ctx);
	}
}

Test(context, template_identity_and_name_in_the_backing_directory)
{
	struct rcfs_config cfg;
	struct rcfs_ctx ctx;
	char inside[PATH_MAX];
	struct stat st;

	make_tree();
	cfg = config();
	cr_assert_eq(rcfs_ctx_init(&ctx, &cfg, NULL), 0);
	cr_assert_eq(stat(tmpl, &st), 0);
	cr_expect_eq(ctx.tmpl_dev, st.st_dev);
	cr_expect_eq(ctx.tmpl_ino, st.st_ino);
	cr_expect_str_eq(ctx.tmpl_base, "", "the template is not in the backing directory");
	rcfs_ctx_fini(&ctx);

	th_join(inside, backing, "template.conf");
	th_write_file(inside, "nameserver 192.0.2.1\n", 21, 0644);
	cfg.template_path = inside;
	cr_assert_eq(rcfs_ctx_init(&ctx, &cfg, NULL), 0);
	cr_expect_str_eq(ctx.tmpl_base, "template.conf");
	cr_assert_eq(stat(inside, &st), 0);
	cr_expect_eq(ctx.tmpl_ino, st.st_ino);
	rcfs_ctx_fini(&ctx);

	/* Without a template: no identity, no name. */
	cfg.template_path = NULL;
	cr_assert_eq(rcfs_ctx_init(&ctx, &cfg, NULL), 0);
	cr_expect_eq(ctx.tmpl_ino, 0);
	cr_expect_str_eq(ctx.tmpl_base, "");
	rcfs_ctx_fini(&ctx);
}

Test(context, own_namespaces_and_procfs_kind)
{
	struct rcfs_config cfg;
	struct rcfs_ctx ctx;
	struct stat user, net, uts;

	make_tree();
	cr_assert_eq(stat("/proc/self/ns/user", &user), 0);
	cr_assert_eq(stat("/proc/self/ns/net", &net), 0);
	cr_assert_eq(stat("/proc/self/ns/uts", &uts), 0);
	cfg = config();
	cr_assert_eq(rcfs_ctx_init(&ctx, &cfg, NULL), 0);
	cr_expect_eq(ctx.user_ns, (uint64_t)user.st_ino);
	cr_expect_eq(ctx.own_key_ns, (uint64_t)net.st_ino);
	cr_expect_eq(ctx.real_procfs, 0, "a plain directory is no procfs");
	cr_expect_eq(ctx.mount_dev, 0, "not mounted yet");
	rcfs_ctx_fini(&ctx);
	cfg.procfs = NULL;
	cfg.key_kind = "uts";
	cr_assert_eq(rcfs_ctx_init(&ctx, &cfg, NULL), 0);
	cr_expect_eq(ctx.real_procfs, 1);
	cr_expect_eq(ctx.own_key_ns, (uint64_t)uts.st_ino);
	rcfs_ctx_fini(&ctx);
	cfg.key_kind = "uid";
	cr_assert_eq(rcfs_ctx_init(&ctx, &cfg, NULL), 0);
	cr_expect_eq(ctx.own_key_ns, 0, "uid keys are no namespace");
	rcfs_ctx_fini(&ctx);
}
