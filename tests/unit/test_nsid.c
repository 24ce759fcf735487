/* Unique namespace ids (NS_GET_ID, Linux 6.18): rcfs_nsid_supported, rcfs_nsid_of, and the
 * xattr that records the id on a file (rcfs_nsid_record / rcfs_nsid_recorded). */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "../../core/nsid.h"
#include "helpers.h"
#include "helpers2.h"

TestSuite(nsid, .fini = h2_cleanup);

static struct rcfs_ctx ctx;
static char root[PATH_MAX], path[PATH_MAX];

static void init(const char *procfs, const char *key)
{
	struct rcfs_config cfg = { 0 };

	th_mkdtemp(root);
	cfg.procfs = procfs;
	cfg.backing_dir = root;
	cfg.key_kind = key;
	cr_assert_eq(rcfs_ctx_init(&ctx, &cfg, NULL), 0);
}

static struct rcfs_caller caller(pid_t pid)
{
	struct rcfs_caller c = { .pid = pid, .uid = getuid(), .gid = getgid() };

	return c;
}

Test(nsid, supported_on_this_kernel)
{
	cr_assert(rcfs_nsid_supported(), "NS_GET_ID not answered: this kernel is expected to have it");
	/* Asked once more: the same answer, no fd left behind. */
	{
		int before = th_count_fds();

		cr_assert(rcfs_nsid_supported());
		cr_assert_eq(th_count_fds(), before);
	}
}

Test(nsid, context_enables_it_for_namespace_keys_only)
{
	struct rcfs_config cfg = { 0 };
	struct rcfs_ctx c;

	th_mkdtemp(root);
	cfg.backing_dir = root;
	cr_assert_eq(rcfs_ctx_init(&c, &cfg, NULL), 0);
	cr_expect_eq(c.nsid, 1);
	cr_expect_not_null(c.stale_lock);
	rcfs_ctx_fini(&c);
	cr_expect_eq(c.nsid, 0);
	cr_expect_null(c.stale_lock);

	cfg.no_nsid = 1;
	cr_assert_eq(rcfs_ctx_init(&c, &cfg, NULL), 0);
	cr_expect_eq(c.nsid, 0);
	rcfs_ctx_fini(&c);

	cfg.no_nsid = 0;
	cfg.key_kind = "uid";
	cr_assert_eq(rcfs_ctx_init(&c, &cfg, NULL), 0);
	cr_expect_eq(c.nsid, 0);
	rcfs_ctx_fini(&c);

	cfg.key_kind = "uts";
	cr_assert_eq(rcfs_ctx_init(&c, &cfg, NULL), 0);
	cr_expect_eq(c.nsid, 1);
	rcfs_ctx_fini(&c);
}

struct thread_arg {
	pid_t tid;
	int ret;
	uint64_t id;
};

static void *in_thread(void *p)
{
	struct thread_arg *a = p;
	struct rcfs_caller c = caller(gettid());

	a->tid = c.pid;
	a->ret = rcfs_nsid_of(&ctx, &c, &a->id);
	return NULL;
}

Test(nsid, of_our_own_process_and_thread)
{
	struct rcfs_caller c = caller(getpid());
	uint64_t id = 0, want = h2_ns_unique_id("/proc/self/ns/net");
	int before;

	init("/proc", NULL);
	before = th_count_fds();
	cr_assert_eq(rcfs_nsid_of(&ctx, &c, &id), 0);
	cr_assert_eq(id, want, "%" PRIu64 " != %" PRIu64, id, want);
	cr_assert_eq(th_count_fds(), before, "rcfs_nsid_of left an fd open");
	/* The unique id is not the inode number. */
	cr_expect_neq(id, h2_ns_ino("/proc/self/ns/net"));
	/* Another thread's id resolves the same. */
	{
		struct thread_arg a = { 0 };
		pthread_t t;

		cr_assert_eq(pthread_create(&t, NULL, in_thread, &a), 0);
		pthread_join(t, NULL);
		cr_assert_neq(a.tid, getpid());
		cr_assert_eq(a.ret, 0);
		cr_assert_eq(a.id, want);
	}
	rcfs_ctx_fini(&ctx);
}

Test(nsid, of_other_namespace_kinds)
{
	struct rcfs_caller c = caller(getpid());
	uint64_t id = 0;

	init("/proc", "uts");
	cr_assert_eq(rcfs_nsid_of(&ctx, &c, &id), 0);
	cr_assert_eq(id, h2_ns_unique_id("/proc/self/ns/uts"));
	cr_expect_neq(id, h2_ns_unique_id("/proc/self/ns/net"));
	rcfs_ctx_fini(&ctx);
}

Test(nsid, differs_for_a_child_in_a_new_netns)
{
	uint64_t mine = 0, child = 0, again = 0;
	struct rcfs_caller c = caller(getpid());
	char link[64];
	pid_t pid;

	/* Before init, which makes a temporary directory: a skipped test runs no .fini. */
	pid = h2_child_in_new_netns();
	if (pid < 0)
		cr_skip_test("cannot create a network namespace here");
	init("/proc", NULL);
	cr_assert_eq(rcfs_nsid_of(&ctx, &c, &mine), 0);
	c.pid = pid;
	cr_assert_eq(rcfs_nsid_of(&ctx, &c, &child), 0);
	cr_assert_neq(child, mine);
	snprintf(link, sizeof(link), "/proc/%d/ns/net", (int)pid);
	cr_assert_eq(child, h2_ns_unique_id(link));
	/* Stable while the namespace lives. */
	cr_assert_eq(rcfs_nsid_of(&ctx, &c, &again), 0);
	cr_assert_eq(again, child);
	h2_release_child(pid);
	/* Gone: the pid no longer resolves (it could only be reused by a process we did not make,
	 * which would then be in another namespace anyway). */
	if (rcfs_nsid_of(&ctx, &c, &again) == 0)
		cr_expect_neq(again, child, "a dead namespace's unique id came back");
	rcfs_ctx_fini(&ctx);
}

Test(nsid, errors)
{
	char procfs[PATH_MAX];
	struct rcfs_caller c = caller(0);
	uint64_t id = 42;
	struct rcfs_config cfg = { 0 };

	cr_assert_eq(rcfs_nsid_supported(), 1);
	th_mkdtemp(root);
	th_join(procfs, root, "proc");
	cr_assert_eq(mkdir(procfs, 0755), 0);
	/* A fake procfs: its links are text and point nowhere. */
	th_fake_ns(procfs, 10, "net:[4026531840]");
	cfg.procfs = procfs;
	cfg.backing_dir = root;
	cr_assert_eq(rcfs_ctx_init(&ctx, &cfg, NULL), 0);
	cr_assert_eq(rcfs_nsid_of(&ctx, &c, &id), -ESRCH);
	c.pid = -5;
	cr_assert_eq(rcfs_nsid_of(&ctx, &c, &id), -ESRCH);
	c.pid = 10;
	cr_assert_eq(rcfs_nsid_of(&ctx, &c, &id), -ENOENT);
	c.pid = 11;
	cr_assert_eq(rcfs_nsid_of(&ctx, &c, &id), -ENOENT);
	cr_assert_eq(id, 42, "id changed on error");
	/* A regular file where the link should be: not a namespace. */
	h2_fake_file(procfs, "12/ns/net", "net:[1]");
	c.pid = 12;
	cr_assert_eq(rcfs_nsid_of(&ctx, &c, &id), -ENOTTY);
	cr_assert_eq(id, 42);
	rcfs_ctx_fini(&ctx);
}

/* ----- the recorded id ------------------------------------------------------------------------ */

static int temp_file(void)
{
	int fd;

	th_mkdtemp(root);
	th_join(path, root, "file");
	th_write_file(path, "x", 1, 0644);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	return fd;
}

Test(nsid, record_and_read_back)
{
	static const uint64_t ids[] = { 1, 42, 4026531840ull, 1ull << 32, UINT64_MAX, 0 };
	char raw[64], want[32];
	int fd = temp_file();

	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		uint64_t got = 7;

		rcfs_nsid_record(fd, ids[i]);
		cr_assert_eq(rcfs_nsid_recorded(fd, &got), 0);
		cr_assert_eq(got, ids[i]);
		/* Stored as decimal text, nothing else. */
		snprintf(want, sizeof(want), "%" PRIu64, ids[i]);
		cr_assert_eq(h2_get_xattr(path, RCFS_NSID_XATTR, raw, sizeof(raw)), (long)strlen(want));
		cr_assert_str_eq(raw, want);
	}
	close(fd);
	/* Also through an fd opened for writing only. */
	fd = open(path, O_WRONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	rcfs_nsid_record(fd, 99);
	{
		uint64_t got = 0;

		cr_assert_eq(rcfs_nsid_recorded(fd, &got), 0);
		cr_assert_eq(got, 99);
	}
	close(fd);
}

Test(nsid, no_xattr_is_enodata)
{
	uint64_t id = 5;
	int fd = temp_file();

	cr_assert_eq(rcfs_nsid_recorded(fd, &id), -ENODATA);
	cr_assert_eq(id, 5);
	close(fd);
}

Test(nsid, garbage_is_enodata)
{
	static const char *const garbage[] = {
		"abc", "12a", "-1", "+1", " 1", "1 ", "1\n", "0x10", "1.5", "18446744073709551616",
		"99999999999999999999", "\xff",
	};
	int fd = temp_file();

	for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
		uint64_t id = 5;

		h2_set_xattr(path, RCFS_NSID_XATTR, garbage[i], strlen(garbage[i]));
		cr_expect_eq(rcfs_nsid_recorded(fd, &id), -ENODATA, "'%s'", garbage[i]);
		cr_expect_eq(id, 5, "'%s' changed the id", garbage[i]);
	}
	/* An empty value and a value with a NUL byte. */
	h2_set_xattr(path, RCFS_NSID_XATTR, "", 0);
	{
		uint64_t id = 5;

		cr_expect_eq(rcfs_nsid_recorded(fd, &id), -ENODATA);
		h2_set_xattr(path, RCFS_NSID_XATTR, "12\0" "3", 4);
		cr_expect_eq(rcfs_nsid_recorded(fd, &id), -ENODATA);
		cr_expect_eq(id, 5);
	}
	close(fd);
}

/* A value longer than any id (someone else's data under the name): not ours either, so the same
 * answer as for other garbage, not a read error. */
Test(nsid, long_garbage_is_enodata)
{
	static const char lg[] = "this is not a namespace id at all, just text";
	uint64_t id = 5;
	int fd = temp_file();

	h2_set_xattr(path, RCFS_NSID_XATTR, lg, sizeof(lg) - 1);
	cr_expect_eq(rcfs_nsid_recorded(fd, &id), -ENODATA);
	cr_expect_eq(id, 5);
	h2_set_xattr(path, RCFS_NSID_XATTR, "000000000000000000000001", 24);
	cr_expect_eq(rcfs_nsid_recorded(fd, &id), -ENODATA, "24 digits");
	close(fd);
}

Test(nsid, file_systems_without_user_xattrs)
{
	uint64_t id = 5;
	int fd = open("/proc/self/comm", O_RDONLY | O_CLOEXEC);

	cr_assert_geq(fd, 0);
	rcfs_nsid_record(fd, 12); /* best effort: no crash, no error */
	cr_assert_eq(rcfs_nsid_recorded(fd, &id), -ENODATA);
	cr_assert_eq(id, 5);
	close(fd);
}
