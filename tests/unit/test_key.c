/* rcfs_key_resolve: which namespace a caller is in, from <procfs>/<pid>/ns/net. */
#include <criterion/criterion.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../core/key.h"
#include "../../core/nslink.h"
#include "helpers.h"

TestSuite(key, .fini = th_cleanup);

#define SENTINEL UINT64_C(0x1122334455667788)

static struct th_env env;

static int resolve(const struct rcfs_ctx *ctx, pid_t pid, uint64_t *key)
{
	struct rcfs_caller c = { .pid = pid, .uid = getuid(), .gid = getgid() };

	*key = SENTINEL;
	return rcfs_key_resolve(ctx, &c, key);
}

/* The id in `net:[N]` read from a real procfs link, parsed independently of the core. */
static uint64_t real_ns_id(const char *path)
{
	char buf[128];
	unsigned long long id;
	ssize_t n = readlink(path, buf, sizeof(buf) - 1);
	char tail;

	cr_assert_gt(n, 0, "readlink %s: %s", path, strerror(errno));
	buf[n] = '\0';
	cr_assert_eq(sscanf(buf, "net:[%llu]%c", &id, &tail), 1, "odd link text '%s'", buf);
	return (uint64_t)id;
}

Test(key, resolves_fake_link)
{
	uint64_t key;

	th_env_setup(&env, NULL, NULL, 0, 0);
	th_fake_ns(env.procfs, 100, "net:[777]");
	th_fake_ns(env.procfs, 200, "net:[4026532413]");
	th_fake_ns(env.procfs, 300, "net:[18446744073709551615]");
	cr_assert_eq(resolve(&env.ctx, 100, &key), 0);
	cr_assert_eq(key, 777);
	cr_assert_eq(resolve(&env.ctx, 200, &key), 0);
	cr_assert_eq(key, UINT64_C(4026532413));
	cr_assert_eq(resolve(&env.ctx, 300, &key), 0);
	cr_assert_eq(key, UINT64_MAX);
	th_env_teardown(&env);
}

Test(key, largest_pid)
{
	uint64_t key;

	th_env_setup(&env, NULL, NULL, 0, 0);
	th_fake_ns(env.procfs, INT_MAX, "net:[5]");
	cr_assert_eq(resolve(&env.ctx, INT_MAX, &key), 0);
	cr_assert_eq(key, 5);
	th_env_teardown(&env);
}

Test(key, link_is_read_not_followed)
{
	/* The link target need not exist; only its text counts. */
	uint64_t key;
	char path[PATH_MAX];
	struct stat st;

	th_env_setup(&env, NULL, NULL, 0, 0);
	th_fake_ns(env.procfs, 1, "net:[42]");
	th_pathf(path, "%s/1/ns/net", env.procfs);
	cr_assert_eq(stat(path, &st), -1);
	cr_assert_eq(resolve(&env.ctx, 1, &key), 0);
	cr_assert_eq(key, 42);
	th_env_teardown(&env);
}

Test(key, pid_zero_is_esrch)
{
	uint64_t key;

	th_env_setup(&env, NULL, NULL, 0, 0);
	/* Even if the tree had an entry "0": pid 0 means the caller is invisible to us. */
	th_fake_ns(env.procfs, 0, "net:[777]");
	cr_assert_eq(resolve(&env.ctx, 0, &key), -ESRCH);
	cr_assert_eq(key, SENTINEL);
	th_env_teardown(&env);
}

Test(key, negative_pid_is_esrch)
{
	uint64_t key;

	th_env_setup(&env, NULL, NULL, 0, 0);
	th_fake_ns(env.procfs, 1, "net:[777]");
	cr_assert_eq(resolve(&env.ctx, -1, &key), -ESRCH);
	cr_assert_eq(resolve(&env.ctx, INT_MIN, &key), -ESRCH);
	cr_assert_eq(key, SENTINEL);
	th_env_teardown(&env);
}

Test(key, pid_not_in_tree_is_esrch)
{
	uint64_t key;
	char path[PATH_MAX];

	th_env_setup(&env, NULL, NULL, 0, 0);
	th_fake_ns(env.procfs, 100, "net:[777]");
	cr_assert_eq(resolve(&env.ctx, 101, &key), -ESRCH);
	cr_assert_eq(resolve(&env.ctx, 10, &key), -ESRCH);
	cr_assert_eq(resolve(&env.ctx, 1000, &key), -ESRCH);
	/* A pid directory without ns/net: the process is as good as gone. */
	th_pathf(path, "%s/102", env.procfs);
	cr_assert_eq(mkdir(path, 0755), 0);
	cr_assert_eq(resolve(&env.ctx, 102, &key), -ESRCH);
	th_pathf(path, "%s/102/ns", env.procfs);
	cr_assert_eq(mkdir(path, 0755), 0);
	cr_assert_eq(resolve(&env.ctx, 102, &key), -ESRCH);
	cr_assert_eq(key, SENTINEL);
	th_env_teardown(&env);
}

Test(key, process_exits_between_requests)
{
	uint64_t key;
	char path[PATH_MAX];

	th_env_setup(&env, NULL, NULL, 0, 0);
	th_fake_ns(env.procfs, 100, "net:[777]");
	cr_assert_eq(resolve(&env.ctx, 100, &key), 0);
	th_pathf(path, "%s/100/ns/net", env.procfs);
	cr_assert_eq(unlink(path), 0);
	cr_assert_eq(resolve(&env.ctx, 100, &key), -ESRCH);
	th_env_teardown(&env);
}

Test(key, garbled_links_are_einval)
{
	static const char *const bad[] = {
		"net:[]", "net:[abc]", "mnt:[777]", "net:[-1]", "net:[+1]", "net:[ 1]",
		"net:[18446744073709551616]", "net:[0x10]", "net:[../../etc/shadow]", "net:[1]x",
		"/proc/1/ns/net", "net", "net:[1", "anon_inode:[eventfd]", "socket:[12345]",
	};
	uint64_t key;

	th_env_setup(&env, NULL, NULL, 0, 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		th_fake_ns(env.procfs, 100, bad[i]);
		cr_assert_eq(resolve(&env.ctx, 100, &key), -EINVAL, "link '%s'", bad[i]);
		cr_assert_eq(key, SENTINEL, "link '%s' changed the key", bad[i]);
	}
	th_env_teardown(&env);
}

Test(key, over_long_link_is_einval)
{
	char text[512];
	uint64_t key;

	th_env_setup(&env, NULL, NULL, 0, 0);
	/* Exactly the buffer size (truncation cannot be told apart) and much longer. */
	snprintf(text, sizeof(text), "net:[%0*d]", RCFS_NSLINK_MAX - 6, 7);
	cr_assert_eq(strlen(text), RCFS_NSLINK_MAX);
	th_fake_ns(env.procfs, 100, text);
	cr_assert_eq(resolve(&env.ctx, 100, &key), -EINVAL);
	snprintf(text, sizeof(text), "net:[%0*d]", 400, 7);
	th_fake_ns(env.procfs, 100, text);
	cr_assert_eq(resolve(&env.ctx, 100, &key), -EINVAL);
	/* A prefix that would parse if truncated at the buffer size. */
	snprintf(text, sizeof(text), "net:[7]%0*d", RCFS_NSLINK_MAX, 0);
	th_fake_ns(env.procfs, 100, text);
	cr_assert_eq(resolve(&env.ctx, 100, &key), -EINVAL);
	cr_assert_eq(key, SENTINEL);
	th_env_teardown(&env);
}

Test(key, ns_entry_not_a_symlink_is_einval)
{
	char path[PATH_MAX];
	uint64_t key;

	th_env_setup(&env, NULL, NULL, 0, 0);
	th_pathf(path, "%s/100", env.procfs);
	cr_assert_eq(mkdir(path, 0755), 0);
	th_pathf(path, "%s/100/ns", env.procfs);
	cr_assert_eq(mkdir(path, 0755), 0);
	th_pathf(path, "%s/100/ns/net", env.procfs);
	th_write_file(path, "net:[777]", 9, 0644);
	cr_assert_eq(resolve(&env.ctx, 100, &key), -EINVAL);
	cr_assert_eq(key, SENTINEL);
	th_env_teardown(&env);
}

/* ----- real procfs --------------------------------------------------------------------------- */

static void init_real_proc(void)
{
	struct rcfs_config cfg = { 0 };
	char backing[PATH_MAX];

	memset(&env, 0, sizeof(env));
	th_mkdtemp(backing);
	cfg.procfs = "/proc";
	cfg.backing_dir = backing;
	cr_assert_eq(rcfs_ctx_init(&env.ctx, &cfg, NULL), 0);
}

Test(key, real_proc_own_pid)
{
	uint64_t key;

	init_real_proc();
	cr_assert_eq(resolve(&env.ctx, getpid(), &key), 0);
	cr_assert_eq(key, real_ns_id("/proc/self/ns/net"));
	th_env_teardown(&env);
}

struct thread_arg {
	pthread_barrier_t *ready, *done;
	pid_t tid;
};

static void *report_tid(void *p)
{
	struct thread_arg *a = p;

	a->tid = gettid();
	pthread_barrier_wait(a->ready);
	pthread_barrier_wait(a->done);
	return NULL;
}

Test(key, real_proc_thread_id)
{
	/* FUSE reports the calling thread's id; /proc/<tid> resolves although /proc does not list
	 * threads. */
	pthread_barrier_t ready, done;
	struct thread_arg a = { &ready, &done, 0 };
	pthread_t t;
	uint64_t key;

	init_real_proc();
	cr_assert_eq(pthread_barrier_init(&ready, NULL, 2), 0);
	cr_assert_eq(pthread_barrier_init(&done, NULL, 2), 0);
	cr_assert_eq(pthread_create(&t, NULL, report_tid, &a), 0);
	pthread_barrier_wait(&ready);
	cr_assert_neq(a.tid, getpid());
	cr_expect_eq(resolve(&env.ctx, a.tid, &key), 0);
	cr_expect_eq(key, real_ns_id("/proc/self/ns/net"));
	pthread_barrier_wait(&done);
	pthread_join(t, NULL);
	pthread_barrier_destroy(&ready);
	pthread_barrier_destroy(&done);
	th_env_teardown(&env);
}

/* A thread that moves itself into a new network namespace: namespace membership is per thread,
 * so two threads of one process must resolve to two different keys. Runs in a forked child
 * (which, as an ordinary user, first enters a user namespace to be allowed to do it). */
struct ns_thread {
	pthread_barrier_t ready, done;
	pid_t tid;
	int err;
};

static void *unshare_net(void *p)
{
	struct ns_thread *a = p;

	a->tid = gettid();
	if (unshare(CLONE_NEWNET) < 0)
		a->err = errno;
	pthread_barrier_wait(&a->ready);
	pthread_barrier_wait(&a->done);
	return NULL;
}

static int threads_in_two_namespaces(void *unused)
{
	struct rcfs_config cfg = { .procfs = "/proc", .backing_dir = "/" };
	struct rcfs_ctx ctx;
	struct rcfs_caller c = { 0 };
	struct ns_thread a = { .tid = 0, .err = 0 };
	uint64_t main_key = 0, thread_key = 0;
	char path[64], buf[64];
	pthread_t t;
	int ret, rt, code = 0;
	ssize_t n;

	(void)unused;
	if (rcfs_ctx_init(&ctx, &cfg, NULL))
		return th_child_fail(1, "rcfs_ctx_init failed");
	pthread_barrier_init(&a.ready, NULL, 2);
	pthread_barrier_init(&a.done, NULL, 2);
	if (pthread_create(&t, NULL, unshare_net, &a))
		return th_child_fail(1, "pthread_create failed");
	pthread_barrier_wait(&a.ready);
	if (a.err) {
		code = th_child_fail(TH_CHILD_SKIP, "unshare(CLONE_NEWNET): %s", strerror(a.err));
		goto out;
	}
	c.pid = getpid();
	ret = rcfs_key_resolve(&ctx, &c, &main_key);
	c.pid = a.tid;
	rt = rcfs_key_resolve(&ctx, &c, &thread_key);
	if (ret || rt) {
		code = th_child_fail(1, "resolve: main %d, thread %d", ret, rt);
		goto out;
	}
	if (main_key == thread_key) {
		code = th_child_fail(1, "both threads resolved to %" PRIu64, main_key);
		goto out;
	}
	snprintf(path, sizeof(path), "/proc/self/task/%d/ns/net", (int)a.tid);
	n = readlink(path, buf, sizeof(buf) - 1);
	if (n <= 0) {
		code = th_child_fail(1, "readlink %s failed", path);
		goto out;
	}
	buf[n] = '\0';
	snprintf(path, sizeof(path), "net:[%" PRIu64 "]", thread_key);
	if (strcmp(buf, path))
		code = th_child_fail(1, "thread key %" PRIu64 " but its link is %s", thread_key, buf);
out:
	pthread_barrier_wait(&a.done);
	pthread_join(t, NULL);
	rcfs_ctx_fini(&ctx);
	return code;
}

Test(key, threads_in_different_namespaces_resolve_differently)
{
	int code = th_run_child(geteuid() != 0, threads_in_two_namespaces, NULL);

	if (code == TH_CHILD_SKIP)
		cr_skip_test("cannot create a network namespace here");
	cr_assert_eq(code, 0, "child failed (status %d), see its message above", code);
}

/* Reading another user's ns link needs ptrace-read access: an unprivileged daemon gets EACCES
 * (not ESRCH, and certainly not someone else's key). */
static int resolve_parent_as_nobody(void *arg)
{
	const pid_t *target = arg;
	struct rcfs_config cfg = { .procfs = "/proc", .backing_dir = "/" };
	struct rcfs_caller c = { .pid = *target };
	struct rcfs_ctx ctx;
	uint64_t key = SENTINEL;
	int ret;

	if (geteuid() == 0 && th_drop_to_nobody())
		return th_child_fail(1, "cannot drop privileges");
	if (rcfs_ctx_init(&ctx, &cfg, NULL))
		return th_child_fail(1, "rcfs_ctx_init failed");
	ret = rcfs_key_resolve(&ctx, &c, &key);
	rcfs_ctx_fini(&ctx);
	if (ret != -EACCES || key != SENTINEL)
		return th_child_fail(1, "resolve pid %d gave %d (%s), want -EACCES", (int)c.pid, ret,
				     strerror(-ret));
	return 0;
}

Test(key, other_users_process_is_eacces)
{
	pid_t target = getpid();
	int code;

	if (geteuid() != 0) {
		/* As an ordinary user, pid 1 is another user's process on a normal system. */
		struct stat st;

		if (stat("/proc/1", &st) < 0 || st.st_uid == geteuid())
			cr_skip_test("no other user's process to try");
		target = 1;
	}
	code = th_run_child(0, resolve_parent_as_nobody, &target);
	cr_assert_eq(code, 0, "child failed (status %d), see its message above", code);
}

/* ----- other key kinds ------------------------------------------------------------------------ */

static void init_kind(const char *kind)
{
	struct rcfs_config cfg = { 0 };
	int ret;

	th_env_setup(&env, NULL, NULL, 0, 0);
	rcfs_ctx_fini(&env.ctx);
	cfg.procfs = env.procfs;
	cfg.backing_dir = env.backing;
	cfg.key_kind = kind;
	ret = rcfs_ctx_init(&env.ctx, &cfg, NULL);
	cr_assert_eq(ret, 0, "rcfs_ctx_init with key %s: %d", kind, ret);
}

Test(key, uid_and_gid_keys_come_from_the_request)
{
	struct rcfs_caller c = { .pid = 0, .uid = 1234, .gid = 5678 };
	uint64_t key = SENTINEL;

	init_kind("uid");
	/* No procfs lookup at all: even pid 0 and a missing process resolve. */
	cr_assert_eq(rcfs_key_resolve(&env.ctx, &c, &key), 0);
	cr_assert_eq(key, 1234);
	c.pid = 999;
	c.uid = 0;
	cr_assert_eq(rcfs_key_resolve(&env.ctx, &c, &key), 0);
	cr_assert_eq(key, 0);
	th_env_teardown(&env);

	init_kind("gid");
	cr_assert_eq(rcfs_key_resolve(&env.ctx, &c, &key), 0);
	cr_assert_eq(key, 5678);
	c.gid = (gid_t)-2;
	cr_assert_eq(rcfs_key_resolve(&env.ctx, &c, &key), 0);
	cr_assert_eq(key, (uint64_t)(gid_t)-2);
	th_env_teardown(&env);
}

static void fake_link(const char *procfs, long pid, const char *kind, const char *text)
{
	char path[PATH_MAX];

	th_pathf(path, "%s/%ld", procfs, pid);
	cr_assert(mkdir(path, 0755) == 0 || errno == EEXIST);
	th_pathf(path, "%s/%ld/ns", procfs, pid);
	cr_assert(mkdir(path, 0755) == 0 || errno == EEXIST);
	th_pathf(path, "%s/%ld/ns/%s", procfs, pid, kind);
	cr_assert_eq(symlink(text, path), 0);
}

Test(key, other_namespace_kinds_read_their_own_link)
{
	uint64_t key;

	init_kind("mnt");
	fake_link(env.procfs, 100, "net", "net:[1]");
	fake_link(env.procfs, 100, "mnt", "mnt:[2]");
	fake_link(env.procfs, 200, "net", "net:[3]");      /* no mnt link: gone for this key */
	fake_link(env.procfs, 300, "mnt", "net:[4]");      /* wrong kind in the text */
	cr_assert_eq(resolve(&env.ctx, 100, &key), 0);
	cr_assert_eq(key, 2);
	cr_assert_eq(resolve(&env.ctx, 200, &key), -ESRCH);
	cr_assert_eq(resolve(&env.ctx, 300, &key), -EINVAL);
	cr_assert_eq(key, SENTINEL);
	th_env_teardown(&env);

	init_kind("cgroup");
	fake_link(env.procfs, 100, "cgroup", "cgroup:[18446744073709551615]");
	cr_assert_eq(resolve(&env.ctx, 100, &key), 0);
	cr_assert_eq(key, UINT64_MAX);
	th_env_teardown(&env);
}

Test(key, real_proc_other_kinds)
{
	static const char *const kinds[] = { "mnt", "uts", "ipc", "user", "pid", "cgroup", "time" };
	uint64_t key;

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		struct rcfs_config cfg = { .procfs = "/proc", .backing_dir = "/", .key_kind = kinds[i] };
		char path[64], buf[128], want[128];
		ssize_t n;

		th_pathf(path, "/proc/self/ns/%s", kinds[i]);
		n = readlink(path, buf, sizeof(buf) - 1);
		if (n <= 0)
			continue; /* kernel without that namespace type */
		buf[n] = '\0';
		cr_assert_eq(rcfs_ctx_init(&env.ctx, &cfg, NULL), 0);
		cr_assert_eq(resolve(&env.ctx, getpid(), &key), 0, "kind %s", kinds[i]);
		snprintf(want, sizeof(want), "%s:[%" PRIu64 "]", kinds[i], key);
		cr_assert_str_eq(want, buf);
		rcfs_ctx_fini(&env.ctx);
	}
}
