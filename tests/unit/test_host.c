/* --host-original (core/host.h): what rcfs_host_init keeps of a mountpoint (a symlink's text and
 * directory, a regular file's /proc/self/fd path), rcfs_target_of_key pointing the daemon's own
 * namespace at it while it has no id-named file, and the request path (rcfs_stat, rcfs_open)
 * reading, stat-ing and writing the manager's file through it, following the manager's renames,
 * creating nothing in the backing directory.
 *
 * The tree is laid out like a systemd-resolved host: ROOT/etc/resolv.conf ->
 * ../run/systemd/resolve/stub-resolv.conf. Callers are fake procfs entries: OWN_PID's link names
 * the test's own network namespace (the daemon's "host"), OTHER_PID's net:[777]. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../core/fileops.h"
#include "../../core/host.h"
#include "../../core/io.h"
#include "../../core/target.h"
#include "helpers.h"
#include "helpers2.h"

TestSuite(host, .fini = h2_cleanup);

#define OWN_PID 10
#define OTHER_PID 20
#define LINK_TEXT "../run/systemd/resolve/stub-resolv.conf"

static const char manager[] = "nameserver 127.0.0.53\noptions edns0 trust-ad\n";
static const char tmpl[] = "nameserver 192.0.2.1\n";

static char root[PATH_MAX], procfs[PATH_MAX], backing[PATH_MAX], tmpl_path[PATH_MAX];
static char etc[PATH_MAX], link_path[PATH_MAX], target[PATH_MAX], target_dir[PATH_MAX];
static struct rcfs_ctx ctx;

static void make_tree(void)
{
	char own[64];

	th_mkdtemp(root);
	th_join(procfs, root, "proc");
	th_join(backing, root, "backing");
	th_join(tmpl_path, root, "template");
	th_join(etc, root, "etc");
	th_pathf(target_dir, "%s/run/systemd/resolve", root);
	th_join(target, target_dir, "stub-resolv.conf");
	th_join(link_path, etc, "resolv.conf");
	cr_assert_eq(mkdir(procfs, 0755), 0);
	cr_assert_eq(mkdir(backing, 0755), 0);
	cr_assert_eq(mkdir(etc, 0755), 0);
	th_pathf(own, "%s/run", root);
	cr_assert_eq(mkdir(own, 0755), 0);
	th_pathf(own, "%s/run/systemd", root);
	cr_assert_eq(mkdir(own, 0755), 0);
	cr_assert_eq(mkdir(target_dir, 0755), 0);
	th_write_file(tmpl_path, tmpl, strlen(tmpl), 0644);
	th_write_file(target, manager, strlen(manager), 0644);
	cr_assert_eq(symlink(LINK_TEXT, link_path), 0);
	h2_own_link("net", own);
	th_fake_ns(procfs, OWN_PID, own);
	th_fake_ns(procfs, OTHER_PID, "net:[777]");
}

static void init_key(const char *key_kind, const char *template_path)
{
	struct rcfs_config cfg = { 0 };
	struct rcfs_init_error err = { 0 };
	int ret;

	cfg.procfs = procfs;
	cfg.backing_dir = backing;
	cfg.template_path = template_path;
	cfg.key_kind = key_kind;
	ret = rcfs_ctx_init(&ctx, &cfg, &err);
	cr_assert_eq(ret, 0, "rcfs_ctx_init: %s '%s': %s", err.what, err.arg,
		     err.why ? err.why : strerror(-ret));
	cr_assert_eq(ctx.host_original, 0);
	cr_assert_eq(ctx.host_fd, -1);
	cr_assert_eq(ctx.host_dirfd, -1);
}

static void init(void)
{
	init_key(NULL, tmpl_path);
}

static int open_nofollow(const char *path)
{
	int fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);

	cr_assert_geq(fd, 0, "open %s: %s", path, strerror(errno));
	return fd;
}

/* rcfs_host_init on the mountpoint path, with its own O_PATH descriptor closed again. */
static void host_on(const char *path)
{
	int fd = open_nofollow(path);
	int ret = rcfs_host_init(&ctx, fd, path);

	close(fd);
	cr_assert_eq(ret, 0, "rcfs_host_init %s: %s", path, strerror(-ret));
}

static void expect_same_file(int fd, const char *path)
{
	struct stat a, b;

	cr_assert_eq(fstat(fd, &a), 0, "fstat: %s", strerror(errno));
	cr_assert_eq(stat(path, &b), 0, "stat %s: %s", path, strerror(errno));
	cr_expect(a.st_dev == b.st_dev && a.st_ino == b.st_ino, "fd %d is not %s", fd, path);
}

static void expect_cloexec(int fd)
{
	int flags = fcntl(fd, F_GETFD);

	cr_expect(flags >= 0 && (flags & FD_CLOEXEC), "fd %d lacks FD_CLOEXEC", fd);
}

static void expect_nothing_kept(void)
{
	cr_expect_eq(ctx.host_original, 0);
	cr_expect_eq(ctx.host_fd, -1);
	cr_expect_eq(ctx.host_dirfd, -1);
}

/* What a DNS manager does: a new file beside its own, renamed over it. */
static void manager_update(const char *content)
{
	char tmp[PATH_MAX];

	th_join(tmp, target_dir, ".tmp");
	th_write_file(tmp, content, strlen(content), 0644);
	cr_assert_eq(rename(tmp, target), 0, "rename: %s", strerror(errno));
}

static struct rcfs_caller caller(pid_t pid)
{
	struct rcfs_caller c = { .pid = pid, .uid = getuid(), .gid = getgid() };

	return c;
}

static char *open_and_read(pid_t pid, int flags)
{
	struct rcfs_caller c = caller(pid);
	int fd = rcfs_open(&ctx, &c, flags);
	size_t len;
	char *got;

	cr_assert_geq(fd, 0, "rcfs_open pid %d: %s", (int)pid, strerror(-fd));
	got = th_read_fd(fd, &len);
	rcfs_close(fd);
	return got;
}

static void expect_reads(pid_t pid, const char *want)
{
	char *got = open_and_read(pid, O_RDONLY);

	cr_expect_str_eq(got, want, "pid %d", (int)pid);
	free(got);
}

static void expect_stat_is(pid_t pid, const char *path)
{
	struct rcfs_caller c = caller(pid);
	struct stat got, want;
	int ret = rcfs_stat(&ctx, &c, &got);

	cr_assert_eq(ret, 0, "rcfs_stat pid %d: %s", (int)pid, strerror(-ret));
	cr_assert_eq(stat(path, &want), 0);
	cr_expect_eq(got.st_ino, want.st_ino, "pid %d: not %s", (int)pid, path);
	cr_expect_eq(got.st_size, want.st_size);
	cr_expect(got.st_mtim.tv_sec == want.st_mtim.tv_sec &&
		  got.st_mtim.tv_nsec == want.st_mtim.tv_nsec, "mtime differs");
	cr_expect(got.st_ctim.tv_sec == want.st_ctim.tv_sec &&
		  got.st_ctim.tv_nsec == want.st_ctim.tv_nsec, "ctime differs");
}

static void expect_content(const char *path, const char *want)
{
	size_t len;
	char *got = th_read_file(path, &len);

	cr_expect_str_eq(got, want, "%s", path);
	free(got);
}

static void own_name(char *out, size_t size)
{
	snprintf(out, size, "%" PRIu64 ".conf", ctx.own_key_ns);
}

/* ----- rcfs_host_init / rcfs_host_fini ------------------------------------------------------ */

Test(host, init_on_a_symlink_keeps_its_text_and_directory)
{
	int before, fd;
	struct stat st;

	make_tree();
	init();
	before = th_count_fds();
	fd = open_nofollow(link_path);
	cr_assert_eq(rcfs_host_init(&ctx, fd, link_path), 0);
	cr_expect_eq(th_count_fds(), before + 3, "a descriptor and a directory are kept");
	cr_expect_eq(ctx.host_original, 1);
	cr_expect_str_eq(ctx.host_name, LINK_TEXT);
	cr_assert_geq(ctx.host_dirfd, 0);
	expect_same_file(ctx.host_dirfd, etc);
	cr_assert_geq(ctx.host_fd, 0);
	cr_expect_neq(ctx.host_fd, fd, "the caller's descriptor is duplicated, not taken");
	cr_assert_eq(fstatat(ctx.host_fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW), 0);
	cr_expect(S_ISLNK(st.st_mode), "host_fd is not the link itself");
	expect_cloexec(ctx.host_fd);
	expect_cloexec(ctx.host_dirfd);
	close(fd);
	rcfs_host_fini(&ctx);
	expect_nothing_kept();
	cr_expect_eq(th_count_fds(), before, "rcfs_host_fini left a descriptor open");
	rcfs_ctx_fini(&ctx);
}

Test(host, init_on_a_symlink_named_without_a_directory)
{
	make_tree();
	init();
	cr_assert_eq(chdir(etc), 0);
	host_on("resolv.conf");
	cr_expect_str_eq(ctx.host_name, LINK_TEXT);
	expect_same_file(ctx.host_dirfd, etc);
	cr_assert_eq(chdir("/"), 0);    /* the directory is held, not named */
	expect_reads(OWN_PID, manager);
	rcfs_ctx_fini(&ctx);
}

Test(host, init_on_a_symlink_with_an_absolute_text)
{
	make_tree();
	cr_assert_eq(unlink(link_path), 0);
	cr_assert_eq(symlink(target, link_path), 0);
	init();
	host_on(link_path);
	cr_expect_str_eq(ctx.host_name, target);
	expect_same_file(ctx.host_dirfd, etc);
	expect_reads(OWN_PID, manager);
	rcfs_ctx_fini(&ctx);
}

Test(host, init_on_a_regular_file_keeps_its_proc_fd_path)
{
	char plain[PATH_MAX], want[64];
	int before, fd;
	size_t len;
	char *got;

	make_tree();
	th_join(plain, etc, "plain.conf");
	th_write_file(plain, manager, strlen(manager), 0644);
	init();
	before = th_count_fds();
	fd = open_nofollow(plain);
	cr_assert_eq(rcfs_host_init(&ctx, fd, plain), 0);
	cr_expect_eq(th_count_fds(), before + 2, "one descriptor is kept");
	cr_expect_eq(ctx.host_original, 1);
	cr_expect_eq(ctx.host_dirfd, AT_FDCWD);
	cr_assert_geq(ctx.host_fd, 0);
	cr_expect_neq(ctx.host_fd, fd);
	expect_cloexec(ctx.host_fd);
	snprintf(want, sizeof(want), "/proc/self/fd/%d", ctx.host_fd);
	cr_expect_str_eq(ctx.host_name, want);
	got = th_read_file(ctx.host_name, &len);
	cr_expect_str_eq(got, manager);
	free(got);
	close(fd);
	rcfs_host_fini(&ctx);
	expect_nothing_kept();
	cr_expect_eq(th_count_fds(), before);
	rcfs_ctx_fini(&ctx);
}

Test(host, init_refuses_anything_but_a_file_or_symlink)
{
	const char *paths[3] = { etc, "/dev/null", NULL };
	char fifo[PATH_MAX];
	int before;

	make_tree();
	th_join(fifo, root, "fifo");
	cr_assert_eq(mkfifo(fifo, 0644), 0);
	paths[2] = fifo;
	init();
	before = th_count_fds();
	for (size_t i = 0; i < 3; i++) {
		int fd = open_nofollow(paths[i]);

		cr_expect_eq(rcfs_host_init(&ctx, fd, paths[i]), -EINVAL, "%s", paths[i]);
		close(fd);
		expect_nothing_kept();
		cr_expect_eq(th_count_fds(), before, "%s: a descriptor was left open", paths[i]);
	}
	rcfs_ctx_fini(&ctx);
}

Test(host, init_needs_a_namespace_key)
{
	const char *keys[] = { "uid", "gid" };
	int before;

	make_tree();
	for (size_t i = 0; i < 2; i++) {
		int fd;

		init_key(keys[i], tmpl_path);
		before = th_count_fds();
		fd = open_nofollow(link_path);
		cr_expect_eq(rcfs_host_init(&ctx, fd, link_path), -EINVAL, "-k %s", keys[i]);
		close(fd);
		expect_nothing_kept();
		cr_expect_eq(th_count_fds(), before);
		rcfs_ctx_fini(&ctx);
	}
	/* Any namespace kind names the daemon's own namespace. */
	init_key("mnt", tmpl_path);
	host_on(link_path);
	cr_expect_eq(ctx.host_original, 1);
	rcfs_ctx_fini(&ctx);
}

Test(host, init_twice_is_refused_and_keeps_the_first)
{
	char plain[PATH_MAX];
	int before, fd;

	make_tree();
	th_join(plain, etc, "plain.conf");
	th_write_file(plain, "x\n", 2, 0644);
	init();
	host_on(link_path);
	before = th_count_fds();
	fd = open_nofollow(plain);
	cr_expect_eq(rcfs_host_init(&ctx, fd, plain), -EINVAL);
	close(fd);
	cr_expect_eq(th_count_fds(), before);
	cr_expect_eq(ctx.host_original, 1);
	cr_expect_str_eq(ctx.host_name, LINK_TEXT);
	expect_same_file(ctx.host_dirfd, etc);
	expect_reads(OWN_PID, manager);
	rcfs_ctx_fini(&ctx);
}

Test(host, fini_is_idempotent)
{
	int before;

	make_tree();
	init();
	before = th_count_fds();
	rcfs_host_fini(&ctx);              /* never initialised */
	expect_nothing_kept();
	cr_expect_eq(th_count_fds(), before);
	host_on(link_path);
	rcfs_host_fini(&ctx);
	rcfs_host_fini(&ctx);
	expect_nothing_kept();
	cr_expect_eq(th_count_fds(), before);
	host_on(link_path);                /* and may be set up again */
	cr_expect_eq(ctx.host_original, 1);
	rcfs_ctx_fini(&ctx);               /* which closes it too */
	rcfs_host_fini(&ctx);
	expect_nothing_kept();
}

Test(host, link_text_as_long_as_a_target_name)
{
	char text[RCFS_TARGET_SIZE + 1];
	struct rcfs_target t;
	int before, fd;

	make_tree();
	init();
	before = th_count_fds();
	/* RCFS_TARGET_SIZE - 1 characters fit (with the NUL); one more does not. */
	memset(text, 'a', sizeof(text));
	text[RCFS_TARGET_SIZE - 1] = '\0';
	cr_assert_eq(unlink(link_path), 0);
	cr_assert_eq(symlink(text, link_path), 0);
	host_on(link_path);
	cr_expect_str_eq(ctx.host_name, text);
	cr_assert_eq(rcfs_target_of_key(&ctx, ctx.own_key_ns, NULL, &t), 0);
	cr_expect_str_eq(t.name, text);
	rcfs_host_fini(&ctx);

	text[RCFS_TARGET_SIZE - 1] = 'a';
	text[RCFS_TARGET_SIZE] = '\0';
	cr_assert_eq(unlink(link_path), 0);
	cr_assert_eq(symlink(text, link_path), 0);
	fd = open_nofollow(link_path);
	cr_expect_eq(rcfs_host_init(&ctx, fd, link_path), -ENAMETOOLONG);
	close(fd);
	expect_nothing_kept();
	cr_expect_eq(th_count_fds(), before);
	rcfs_ctx_fini(&ctx);
}

/* ----- rcfs_target_of_key ------------------------------------------------------------------ */

Test(host, own_namespace_without_a_file_is_the_host_original)
{
	struct rcfs_caller c = caller(OWN_PID);
	struct rcfs_target t;

	make_tree();
	init();
	host_on(link_path);
	memset(&t, 0x5a, sizeof(t));
	cr_assert_eq(rcfs_target_of_key(&ctx, ctx.own_key_ns, NULL, &t), 0);
	cr_expect_eq(t.host, 1);
	cr_expect_str_eq(t.name, LINK_TEXT);
	cr_expect_eq(t.dirfd, ctx.host_dirfd);
	cr_expect_eq(t.creatable, 0, "nothing may be created for the host");
	cr_expect_eq(t.filter, 0);
	cr_expect_eq(t.recyclable, 0);
	cr_expect_eq(t.key, ctx.own_key_ns);
	cr_expect_eq(t.caller.pid, 0, "no caller given: none recorded");
	/* The same through the caller's procfs entry. */
	memset(&t, 0x5a, sizeof(t));
	cr_assert_eq(rcfs_target_resolve(&ctx, &c, &t), 0);
	cr_expect_eq(t.host, 1);
	cr_expect_str_eq(t.name, LINK_TEXT);
	cr_expect_eq(t.caller.pid, OWN_PID);
	cr_expect_eq(th_count_entries(backing, NULL), 0);
	rcfs_ctx_fini(&ctx);
}

Test(host, an_existing_own_file_wins)
{
	char name[64], path[PATH_MAX];
	struct rcfs_target t;

	make_tree();
	init();
	host_on(link_path);
	own_name(name, sizeof(name));
	th_join(path, backing, name);
	th_write_file(path, "mine\n", 5, 0644);
	cr_assert_eq(rcfs_target_of_key(&ctx, ctx.own_key_ns, NULL, &t), 0);
	cr_expect_eq(t.host, 0);
	cr_expect_str_eq(t.name, name);
	cr_expect_eq(t.dirfd, ctx.backing_fd);
	cr_expect_eq(t.creatable, 1);
	expect_reads(OWN_PID, "mine\n");
	/* Whatever it is: a dangling symlink of the administrator's wins too (and gives ENOENT). */
	cr_assert_eq(unlink(path), 0);
	cr_assert_eq(symlink("nowhere", path), 0);
	cr_assert_eq(rcfs_target_of_key(&ctx, ctx.own_key_ns, NULL, &t), 0);
	cr_expect_eq(t.host, 0);
	cr_expect_str_eq(t.name, name);
	/* Gone: the host original again, at the next resolution. */
	cr_assert_eq(unlink(path), 0);
	cr_assert_eq(rcfs_target_of_key(&ctx, ctx.own_key_ns, NULL, &t), 0);
	cr_expect_eq(t.host, 1);
	expect_reads(OWN_PID, manager);
	rcfs_ctx_fini(&ctx);
}

Test(host, other_keys_keep_their_backing_names)
{
	struct rcfs_target t;

	make_tree();
	init();
	host_on(link_path);
	cr_assert_eq(rcfs_target_of_key(&ctx, 777, NULL, &t), 0);
	cr_expect_eq(t.host, 0);
	cr_expect_str_eq(t.name, "777.conf");
	cr_expect_eq(t.dirfd, ctx.backing_fd);
	cr_expect_eq(t.creatable, 1);
	cr_expect_eq(t.recyclable, 1);
	expect_reads(OTHER_PID, tmpl);
	cr_expect_eq(th_count_entries(backing, NULL), 1);
	rcfs_ctx_fini(&ctx);
}

Test(host, without_the_option_the_own_namespace_gets_a_file)
{
	char name[64];
	struct rcfs_target t;

	make_tree();
	init();
	own_name(name, sizeof(name));
	cr_assert_eq(rcfs_target_of_key(&ctx, ctx.own_key_ns, NULL, &t), 0);
	cr_expect_eq(t.host, 0);
	cr_expect_str_eq(t.name, name);
	expect_reads(OWN_PID, tmpl);
	cr_expect_eq(th_count_entries(backing, NULL), 1);
	rcfs_ctx_fini(&ctx);
}

/* ----- the request path -------------------------------------------------------------------- */

Test(host, stat_and_open_follow_the_managers_renames)
{
	static const char *updates[] = {
		"nameserver 127.0.0.54\n",
		"nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch lan\n",
		"nameserver 127.0.0.55\noptions edns0 trust-ad\nsearch lan\n",
	};
	struct rcfs_caller c = caller(OWN_PID);
	struct stat before, after;

	make_tree();
	init();
	host_on(link_path);
	expect_stat_is(OWN_PID, target);
	expect_reads(OWN_PID, manager);
	for (size_t i = 0; i < sizeof(updates) / sizeof(updates[0]); i++) {
		cr_assert_eq(rcfs_stat(&ctx, &c, &before), 0);
		manager_update(updates[i]);
		cr_assert_eq(rcfs_stat(&ctx, &c, &after), 0);
		cr_expect_neq(after.st_ino, before.st_ino, "update %zu not seen by stat", i);
		expect_stat_is(OWN_PID, target);
		expect_reads(OWN_PID, updates[i]);
		cr_expect_eq(rcfs_access(&ctx, &c, R_OK | W_OK), 0);
	}
	cr_expect_eq(th_count_entries(backing, NULL), 0, "a file was made for the host");
	rcfs_ctx_fini(&ctx);
}

Test(host, writes_and_appends_land_in_the_managers_file)
{
	static const char first[] = "nameserver 198.51.100.1\n", more[] = "options ndots:2\n";
	struct rcfs_caller c = caller(OWN_PID);
	struct stat st;
	ino_t ino;
	int fd;

	make_tree();
	init();
	host_on(link_path);
	cr_assert_eq(stat(target, &st), 0);
	ino = st.st_ino;
	fd = rcfs_open(&ctx, &c, O_WRONLY | O_TRUNC);
	cr_assert_geq(fd, 0, "rcfs_open: %s", strerror(-fd));
	cr_assert_eq(write(fd, first, strlen(first)), (ssize_t)strlen(first));
	rcfs_close(fd);
	expect_content(target, first);
	fd = rcfs_open(&ctx, &c, O_WRONLY | O_APPEND);
	cr_assert_geq(fd, 0, "rcfs_open: %s", strerror(-fd));
	cr_assert_eq(write(fd, more, strlen(more)), (ssize_t)strlen(more));
	rcfs_close(fd);
	expect_content(target, "nameserver 198.51.100.1\noptions ndots:2\n");
	cr_assert_eq(stat(target, &st), 0);
	cr_expect_eq(st.st_ino, ino, "not written in place");
	cr_expect_eq(rcfs_truncate(&ctx, &c, 0), 0);
	expect_content(target, "");
	cr_expect_eq(th_count_entries(backing, NULL), 0);
	cr_expect_eq(th_count_entries(target_dir, NULL), 1, "something beside the manager's file");
	rcfs_ctx_fini(&ctx);
}

Test(host, a_dangling_link_gives_enoent_and_creates_nothing)
{
	struct rcfs_caller c = caller(OWN_PID);
	struct stat st;

	make_tree();
	cr_assert_eq(unlink(target), 0);
	init();
	host_on(link_path);
	cr_expect_eq(rcfs_stat(&ctx, &c, &st), -ENOENT);
	cr_expect_eq(rcfs_open(&ctx, &c, O_RDONLY), -ENOENT);
	cr_expect_eq(rcfs_open(&ctx, &c, O_WRONLY | O_TRUNC), -ENOENT);
	cr_expect_eq(th_count_entries(backing, NULL), 0, "the template was copied for the host");
	cr_expect_eq(th_count_entries(target_dir, NULL), 0, "the manager's file was created");
	manager_update(manager);
	expect_reads(OWN_PID, manager);
	expect_stat_is(OWN_PID, target);
	rcfs_ctx_fini(&ctx);
}

Test(host, the_template_may_be_the_managers_file)
{
	char path[PATH_MAX];

	make_tree();
	init_key(NULL, target);
	host_on(link_path);
	/* The template is never a namespace's file (-EPERM), except as the host's own original. */
	expect_stat_is(OWN_PID, target);
	expect_reads(OWN_PID, manager);
	expect_reads(OTHER_PID, manager);
	th_join(path, backing, "777.conf");
	expect_content(path, manager);
	cr_expect_eq(th_count_entries(backing, NULL), 1);
	rcfs_ctx_fini(&ctx);
}

/* Cover path (not followed) with a bind mount of src, as the daemon's mount covers it. */
static void cover(const char *src, const char *path)
{
	char where[64];
	int fd = open_nofollow(path);

	snprintf(where, sizeof(where), "/proc/self/fd/%d", fd);
	cr_assert_eq(mount(src, where, "none", MS_BIND, NULL), 0, "bind over %s: %s", path,
		     strerror(errno));
	close(fd);
}

Test(host, a_covered_symlink_is_still_followed_by_its_text)
{
	char decoy[PATH_MAX];

	make_tree();
	h2_private_mounts();
	th_join(decoy, root, "decoy");
	th_write_file(decoy, "covered\n", 8, 0644);
	init();
	host_on(link_path);
	cover(decoy, link_path);
	expect_content(link_path, "covered\n");      /* the path leads onto the mount now */
	expect_reads(OWN_PID, manager);
	manager_update("nameserver 127.0.0.54\n");
	expect_reads(OWN_PID, "nameserver 127.0.0.54\n");
	expect_stat_is(OWN_PID, target);
	cr_expect_eq(umount2(link_path, MNT_DETACH | UMOUNT_NOFOLLOW), 0, "%s", strerror(errno));
	rcfs_ctx_fini(&ctx);
}

Test(host, a_covered_regular_file_is_reached_through_its_descriptor)
{
	static const char written[] = "nameserver 198.51.100.1\n";
	struct rcfs_caller c = caller(OWN_PID);
	char plain[PATH_MAX], decoy[PATH_MAX];
	struct stat covered, st;
	int fd;

	make_tree();
	h2_private_mounts();
	th_join(plain, etc, "plain.conf");
	th_write_file(plain, manager, strlen(manager), 0644);
	th_join(decoy, root, "decoy");
	th_write_file(decoy, "covered\n", 8, 0644);
	cr_assert_eq(stat(plain, &covered), 0);
	init();
	host_on(plain);
	cover(decoy, plain);
	expect_content(plain, "covered\n");
	expect_reads(OWN_PID, manager);
	cr_assert_eq(rcfs_stat(&ctx, &c, &st), 0);
	cr_expect_eq(st.st_ino, covered.st_ino, "not the covered file");
	fd = rcfs_open(&ctx, &c, O_WRONLY | O_TRUNC);
	cr_assert_geq(fd, 0, "rcfs_open: %s", strerror(-fd));
	cr_assert_eq(write(fd, written, strlen(written)), (ssize_t)strlen(written));
	rcfs_close(fd);
	expect_content(decoy, "covered\n");
	cr_expect_eq(th_count_entries(backing, NULL), 0);
	cr_assert_eq(umount2(plain, MNT_DETACH), 0, "%s", strerror(errno));
	expect_content(plain, written);
	rcfs_ctx_fini(&ctx);
}
