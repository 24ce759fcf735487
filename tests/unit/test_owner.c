/* Who may make the daemon use the disk (core/owner.c, rcfs_owner_may_create), and what a caller
 * that may not gets through the request path: the template view (core/tview.c), read-only, with
 * no file created. On the real /proc: a namespace of a user namespace of a forked child
 * (unshare(CLONE_NEWUSER|CLONE_NEWNET), what `unshare -Urn` does without privilege) is foreign;
 * the daemon's own namespaces, root-made ones, uid/gid keys and fake procfs trees are not. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../core/backing.h"
#include "../../core/fileops.h"
#include "../../core/filter.h"
#include "../../core/io.h"
#include "../../core/key.h"
#include "../../core/owner.h"
#include "helpers.h"
#include "helpers2.h"

/* Valgrind (3.19) does not know the ioctl NS_GET_OWNER_UID, which fills in a user namespace's
 * creator: to memcheck an answer built on it looks uninitialised. Tell it the value is defined
 * (a no-op outside valgrind). */
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define DEFINED(x) VALGRIND_MAKE_MEM_DEFINED(&(x), sizeof(x))
#else
#define DEFINED(x) ((void)0)
#endif

TestSuite(owner, .fini = h2_cleanup);
TestSuite(template_view, .fini = h2_cleanup);

static char root[PATH_MAX], procfs[PATH_MAX], backing[PATH_MAX], tmpl_path[PATH_MAX];
static struct rcfs_ctx ctx;

static const char tmpl[] = "# from the host\nnameserver 127.0.0.53\nnameserver 192.0.2.1\n";
static const char *const fallbacks[] = { "192.0.2.53" };

static void make_tree(void)
{
	th_mkdtemp(root);
	th_join(procfs, root, "proc");
	th_join(backing, root, "backing");
	th_join(tmpl_path, root, "template");
	cr_assert_eq(mkdir(procfs, 0755), 0);
	cr_assert_eq(mkdir(backing, 0755), 0);
	th_write_file(tmpl_path, tmpl, sizeof(tmpl) - 1, 0640);
}

/* A context on the real /proc (NULL) or the fake tree, keyed by kind (NULL: net). */
static void init(const char *proc, const char *kind, int with_template, int filter)
{
	struct rcfs_config cfg = { 0 };
	struct rcfs_init_error err = { 0 };
	int ret;

	cfg.procfs = proc;
	cfg.backing_dir = backing;
	cfg.template_path = with_template ? tmpl_path : NULL;
	cfg.key_kind = kind;
	cfg.filter_loopback = filter;
	cfg.fallbacks = filter ? fallbacks : NULL;
	cfg.n_fallbacks = filter ? 1 : 0;
	ret = rcfs_ctx_init(&ctx, &cfg, &err);
	cr_assert_eq(ret, 0, "rcfs_ctx_init: %s '%s': %s", err.what, err.arg,
		     err.why ? err.why : strerror(-ret));
}

static struct rcfs_caller caller(pid_t pid)
{
	struct rcfs_caller c = { .pid = pid, .uid = getuid(), .gid = getgid() };

	return c;
}

static uint64_t key_of(pid_t pid)
{
	struct rcfs_caller c = caller(pid);
	uint64_t key = 0;
	int ret = rcfs_key_resolve(&ctx, &c, &key);

	cr_assert_eq(ret, 0, "rcfs_key_resolve(pid %d): %s", (int)pid, strerror(-ret));
	return key;
}

static int may_create(pid_t pid)
{
	struct rcfs_caller c = caller(pid);

	return rcfs_owner_may_create(&ctx, &c, key_of(pid));
}

/* A child in a user and network namespace of its own; the test is skipped where unprivileged
 * user namespaces are off (called before make_tree: a skipped test runs no .fini). */
static pid_t foreign_child(void)
{
	pid_t pid = h2_child_in_new_userns(1);

	if (pid < 0)
		cr_skip_test("cannot unshare(CLONE_NEWUSER|CLONE_NEWNET) here");
	return pid;
}

/* ----- rcfs_owner_may_create ------------------------------------------------------------------ */

Test(owner, fake_procfs_always_creates)
{
	struct rcfs_caller c = caller(10);

	make_tree();
	th_fake_ns(procfs, 10, "net:[1]");
	init(procfs, NULL, 1, 0);
	cr_assert_eq(ctx.real_procfs, 0);
	/* The administrator's own mapping: whatever the link says. */
	cr_expect_eq(rcfs_owner_may_create(&ctx, &c, 1), 1);
	cr_expect_eq(rcfs_owner_may_create(&ctx, &c, 4026599999ull), 1);
	rcfs_ctx_fini(&ctx);
}

Test(owner, uid_and_gid_keys_always_create)
{
	static const char *const kinds[] = { "uid", "gid" };
	struct rcfs_caller nobody = { .pid = 0, .uid = 65534, .gid = 65534 };
	pid_t pid;

	pid = foreign_child();
	make_tree();
	for (size_t i = 0; i < 2; i++) {
		struct rcfs_caller c = caller(pid);

		init(NULL, kinds[i], 1, 0);
		cr_assert_eq(ctx.real_procfs, 1);
		cr_expect_eq(rcfs_owner_may_create(&ctx, &nobody, 65534), 1, "%s", kinds[i]);
		/* Even a caller in a foreign namespace: the key is no namespace. */
		cr_expect_eq(rcfs_owner_may_create(&ctx, &c, 1000), 1, "%s", kinds[i]);
		rcfs_ctx_fini(&ctx);
	}
}

Test(owner, the_daemons_own_namespace)
{
	pid_t same;

	make_tree();
	init(NULL, NULL, 1, 0);
	cr_assert_eq(ctx.real_procfs, 1);
	cr_assert_eq(key_of(getpid()), h2_ns_ino("/proc/self/ns/net"));
	cr_expect_eq(may_create(getpid()), 1);
	/* Another process in it (without capabilities, another uid when we are root). */
	same = h2_child_without_caps();
	cr_expect_eq(may_create(same), 1);
	rcfs_ctx_fini(&ctx);
}

Test(owner, namespaces_our_user_namespace_owns)
{
	pid_t pid;

	/* Only root makes a network namespace without a user namespace of its own. */
	pid = h2_child_in_new_netns();
	if (pid < 0)
		cr_skip_test("cannot unshare(CLONE_NEWNET) without a user namespace (needs root)");
	make_tree();
	init(NULL, NULL, 1, 0);
	cr_assert_neq(key_of(pid), h2_ns_ino("/proc/self/ns/net"));
	cr_expect_eq(may_create(pid), 1);
	rcfs_ctx_fini(&ctx);
}

Test(owner, namespace_of_a_child_user_namespace)
{
	struct rcfs_caller c;
	uint64_t key;
	pid_t pid;

	pid = foreign_child();
	make_tree();
	init(NULL, NULL, 1, 0);
	c = caller(pid);
	key = key_of(pid);
	cr_assert_neq(key, h2_ns_ino("/proc/self/ns/net"));
	cr_expect_eq(rcfs_owner_may_create(&ctx, &c, key), 0);
	/* The namespace judged is the key's: a thread seen in another one than its key says is
	 * not given the benefit of the doubt. */
	c.pid = getpid();
	cr_expect_eq(rcfs_owner_may_create(&ctx, &c, key), 0);
	/* A caller that is gone: the owner cannot be learnt. */
	c.pid = 2147483646;
	cr_expect_eq(rcfs_owner_may_create(&ctx, &c, key), 0);
	rcfs_ctx_fini(&ctx);
}

/* -k user: a child user namespace counts as ours when made by uid 0 of our user namespace. */
Test(owner, user_keys_count_roots_children_only)
{
	pid_t pid;
	int child;

	pid = h2_child_in_new_userns(0);
	if (pid < 0)
		cr_skip_test("cannot unshare(CLONE_NEWUSER) here");
	make_tree();
	init(NULL, "user", 1, 0);
	cr_expect_eq(may_create(getpid()), 1, "our own user namespace");
	child = may_create(pid);
	DEFINED(child);
	cr_expect_eq(child, geteuid() == 0, "a child user namespace made by uid %u",
		     (unsigned)geteuid());
	rcfs_ctx_fini(&ctx);
}

/* ----- the template view through the request path --------------------------------------------- */

static char *read_all(int fd)
{
	size_t len;

	return th_read_fd(fd, &len);
}

/* What a copy of the template holds for another network namespace. */
static char *filtered_template(void)
{
	size_t cap = rcfs_filter_bound(sizeof(tmpl) - 1, fallbacks, 1);
	char *out = malloc(cap + 1);
	long n;

	cr_assert_not_null(out);
	n = rcfs_filter_loopback(tmpl, sizeof(tmpl) - 1, out, cap, fallbacks, 1);
	cr_assert_geq(n, 0);
	out[n] = '\0';
	return out;
}

static void expect_view(const struct rcfs_caller *c, const char *want)
{
	struct stat st, t;
	char *got;
	int fd;

	cr_assert_eq(stat(tmpl_path, &t), 0);
	cr_assert_eq(rcfs_stat(&ctx, c, &st), 0);
	cr_expect(S_ISREG(st.st_mode));
	cr_expect_eq(st.st_mode & 07777, 0640, "the template's mode, not %o", st.st_mode & 07777);
	cr_expect_eq(st.st_uid, t.st_uid);
	cr_expect_eq(st.st_gid, t.st_gid);
	cr_expect_eq(st.st_mtim.tv_sec, t.st_mtim.tv_sec);
	cr_expect_eq(st.st_mtim.tv_nsec, t.st_mtim.tv_nsec);
	cr_expect_eq(st.st_size, (off_t)strlen(want), "the copy's size");

	fd = rcfs_open(&ctx, c, O_RDONLY);
	cr_assert_geq(fd, 0, "rcfs_open: %s", strerror(-fd));
	got = read_all(fd);
	cr_expect_str_eq(got, want);
	free(got);
	/* Nothing written through the descriptor reaches anything. */
	cr_expect_lt(write(fd, "x", 1), 0);
	cr_expect_lt(rcfs_write(&ctx, fd, "x", 1, 0, 0), 0);
	got = read_all(fd);
	cr_expect_str_eq(got, want);
	free(got);
	rcfs_close(fd);
}

static void expect_read_only(const struct rcfs_caller *c)
{
	static const int writes[] = { O_WRONLY, O_RDWR, O_RDONLY | O_TRUNC, O_WRONLY | O_TRUNC,
				      O_WRONLY | O_APPEND, O_RDWR | O_APPEND };
	struct rcfs_setattr sa = { .valid = RCFS_SET_MODE, .mode = 0666 };
	struct stat st;

	for (size_t i = 0; i < sizeof(writes) / sizeof(writes[0]); i++)
		cr_expect_eq(rcfs_open(&ctx, c, writes[i]), -EROFS, "flags %#o", writes[i]);
	cr_expect_eq(rcfs_access(&ctx, c, F_OK), 0);
	cr_expect_eq(rcfs_access(&ctx, c, R_OK), 0);
	cr_expect_eq(rcfs_access(&ctx, c, W_OK), -EROFS);
	cr_expect_eq(rcfs_access(&ctx, c, R_OK | W_OK), -EROFS);
	cr_expect_eq(rcfs_truncate(&ctx, c, 0), -EROFS);
	cr_expect_eq(rcfs_setattr(&ctx, c, -1, &sa, &st), -EROFS);
	sa.valid = RCFS_SET_ATIME | RCFS_SET_MTIME;
	sa.atime.tv_nsec = sa.mtime.tv_nsec = UTIME_NOW;
	cr_expect_eq(rcfs_setattr(&ctx, c, -1, &sa, &st), -EROFS);
}

Test(template_view, foreign_namespace_gets_the_template_and_no_file)
{
	struct rcfs_caller c;
	char name[RCFS_NAME_SIZE];
	struct stat before;

	c = caller(foreign_child());
	make_tree();
	init(NULL, NULL, 1, 0);
	cr_assert_eq(stat(tmpl_path, &before), 0);
	expect_view(&c, tmpl);
	expect_read_only(&c);
	cr_expect_eq(th_count_entries(backing, NULL), 0, "a file was created for a foreign namespace");
	/* The template itself is untouched. */
	{
		size_t len;
		char *got = th_read_file(tmpl_path, &len);
		struct stat after;

		cr_expect_str_eq(got, tmpl);
		free(got);
		cr_assert_eq(stat(tmpl_path, &after), 0);
		cr_expect_eq(after.st_mode, before.st_mode);
		cr_expect_eq(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
	}
	/* The name it would have is still the id rule's: nothing else changes. */
	cr_assert_eq(rcfs_caller_name(&ctx, &c, name), 0);
	cr_expect_eq(strtoull(name, NULL, 10), key_of(c.pid));
	rcfs_ctx_fini(&ctx);
}

Test(template_view, filtered_like_a_copy)
{
	struct rcfs_caller c;
	char *want;

	c = caller(foreign_child());
	make_tree();
	init(NULL, NULL, 1, 1);
	want = filtered_template();
	cr_assert(strcmp(want, tmpl) != 0, "the filter changes nothing: a useless test");
	expect_view(&c, want);
	free(want);
	cr_expect_eq(th_count_entries(backing, NULL), 0);
	rcfs_ctx_fini(&ctx);
}

Test(template_view, a_file_of_its_own_is_served)
{
	struct rcfs_caller c;
	char name[RCFS_NAME_SIZE], path[PATH_MAX], *got;
	int fd;

	c = caller(foreign_child());
	make_tree();
	init(NULL, NULL, 1, 0);
	/* Put there by the administrator: served, and writable as any file. */
	cr_assert_eq(rcfs_backing_name(&ctx, key_of(c.pid), name, sizeof(name)), 0);
	th_join(path, backing, name);
	th_write_file(path, "nameserver 10.9.9.9\n", 20, 0644);
	fd = rcfs_open(&ctx, &c, O_RDONLY);
	cr_assert_geq(fd, 0, "rcfs_open: %s", strerror(-fd));
	got = read_all(fd);
	cr_expect_str_eq(got, "nameserver 10.9.9.9\n");
	free(got);
	rcfs_close(fd);
	fd = rcfs_open(&ctx, &c, O_WRONLY | O_APPEND);
	cr_assert_geq(fd, 0, "rcfs_open for writing: %s", strerror(-fd));
	cr_expect_eq(rcfs_write(&ctx, fd, "x\n", 2, 0, 1), 2);
	rcfs_close(fd);
	cr_expect_eq(rcfs_access(&ctx, &c, W_OK), 0);
	cr_expect_eq(th_count_entries(backing, NULL), 1);
	rcfs_ctx_fini(&ctx);
}

Test(template_view, without_a_template_enoent)
{
	struct rcfs_caller c;
	struct stat st;

	c = caller(foreign_child());
	make_tree();
	init(NULL, NULL, 0, 0);
	cr_expect_eq(rcfs_stat(&ctx, &c, &st), -ENOENT);
	cr_expect_eq(rcfs_open(&ctx, &c, O_RDONLY), -ENOENT);
	cr_expect_eq(rcfs_access(&ctx, &c, F_OK), -ENOENT);
	cr_expect_eq(th_count_entries(backing, NULL), 0);
	rcfs_ctx_fini(&ctx);
}

Test(template_view, own_and_root_made_namespaces_still_get_a_copy)
{
	struct rcfs_caller self = caller(getpid());
	pid_t pid;
	int fd;

	make_tree();
	init(NULL, NULL, 1, 0);
	fd = rcfs_open(&ctx, &self, O_RDWR);
	cr_assert_geq(fd, 0, "rcfs_open: %s", strerror(-fd));
	rcfs_close(fd);
	cr_expect_eq(th_count_entries(backing, NULL), 1);
	pid = h2_child_in_new_netns();
	if (pid >= 0) {
		struct rcfs_caller c = caller(pid);

		fd = rcfs_open(&ctx, &c, O_RDWR);
		cr_assert_geq(fd, 0, "rcfs_open: %s", strerror(-fd));
		rcfs_close(fd);
		cr_expect_eq(th_count_entries(backing, NULL), 2);
	}
	rcfs_ctx_fini(&ctx);
}

/* A fake procfs keeps the old behaviour whatever its links say: a copy is created. */
Test(template_view, fake_procfs_gets_a_copy)
{
	struct rcfs_caller c = caller(10);
	struct stat st;

	make_tree();
	/* An id that is none of our namespaces: the tree says so, and it is not asked further. */
	th_fake_ns(procfs, 10, "net:[4026599999]");
	init(procfs, NULL, 1, 0);
	cr_assert_eq(rcfs_stat(&ctx, &c, &st), 0);
	cr_expect_eq(th_count_entries(backing, NULL), 1);
	rcfs_ctx_fini(&ctx);
}

/* Attribute changes through a handle of the view (fchmod, fchown, futimens on the open file:
 * FUSE sends every setattr of an open file with its handle) are write access to the template
 * view too: EROFS, and the view every foreign namespace shares keeps the template's attributes
 * (its seals stop writes and size changes, not attribute changes). */
Test(template_view, no_attribute_change_through_a_handle)
{
	struct rcfs_setattr sa = { .valid = RCFS_SET_MODE, .mode = 0600 };
	struct rcfs_caller c;
	struct stat st, after;
	int fd;

	c = caller(foreign_child());
	make_tree();
	init(NULL, NULL, 1, 0);
	cr_assert_eq(stat(tmpl_path, &st), 0);
	/* The template's owner, as the caller: what the owner rule alone would allow. */
	c.uid = st.st_uid;
	c.gid = st.st_gid;
	fd = rcfs_open(&ctx, &c, O_RDONLY);
	cr_assert_geq(fd, 0, "rcfs_open: %s", strerror(-fd));
	cr_expect_eq(rcfs_setattr(&ctx, &c, fd, &sa, &after), -EROFS, "chmod through a handle");
	sa.valid = RCFS_SET_ATIME | RCFS_SET_MTIME;
	sa.atime = (struct timespec){ 1, 0 };
	sa.mtime = (struct timespec){ 1, 0 };
	cr_expect_eq(rcfs_setattr(&ctx, &c, fd, &sa, &after), -EROFS, "utimensat through a handle");
	sa.valid = RCFS_SET_GID;
	sa.gid = st.st_gid;
	cr_expect_eq(rcfs_setattr(&ctx, &c, fd, &sa, &after), -EROFS, "chgrp through a handle");
	cr_assert_eq(fstat(fd, &after), 0);
	cr_expect_eq(after.st_mode & 07777, 0640, "the shared view's mode changed");
	cr_expect_eq(after.st_mtim.tv_sec, st.st_mtim.tv_sec, "the shared view's mtime changed");
	rcfs_close(fd);
	rcfs_ctx_fini(&ctx);
}
