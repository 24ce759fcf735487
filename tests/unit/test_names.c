/* ip-netns names: rcfs_names_safe and rcfs_names_lookup against a real names directory, whose
 * entries are namespace files bind-mounted the way `ip netns add` does it. Every test that mounts
 * runs in a private mount namespace of its own, so nothing it leaves reaches the host. */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../core/names.h"
#include "helpers.h"
#include "helpers2.h"

TestSuite(names, .fini = h2_cleanup);

static char root[PATH_MAX], dir[PATH_MAX];
static struct rcfs_names names;

/* Skipped names seen by the warn callback. */
struct warned {
	pthread_mutex_t lock;
	int count;
	char names[16][NAME_MAX + 1];
	int n;
	char dir[PATH_MAX];
};

static void on_warn(void *arg, const char *d, const char *name)
{
	struct warned *w = arg;

	pthread_mutex_lock(&w->lock);
	w->count++;
	snprintf(w->dir, sizeof(w->dir), "%s", d);
	for (int i = 0; i < w->n; i++)
		if (!strcmp(w->names[i], name))
			goto out;
	if (w->n < 16)
		snprintf(w->names[w->n++], NAME_MAX + 1, "%s", name);
out:
	pthread_mutex_unlock(&w->lock);
}

static int was_warned(const struct warned *w, const char *name)
{
	for (int i = 0; i < w->n; i++)
		if (!strcmp(w->names[i], name))
			return 1;
	return 0;
}

/* Private mounts, a temporary root and dir = root/netns (made when mkdir_names is set). */
static void setup(int mkdir_names)
{
	h2_private_mounts();
	th_mkdtemp(root);
	th_join(dir, root, "netns");
	if (mkdir_names)
		cr_assert_eq(mkdir(dir, 0755), 0);
}

static void in_dir(char *out, const char *name)
{
	th_join(out, dir, name);
}

/* `ip netns add NAME`: a new namespace named NAME; returns its inode number. */
static uint64_t add_new(const char *name)
{
	char path[PATH_MAX];

	in_dir(path, name);
	return h2_new_netns(path);
}

/* `ip netns del NAME`. */
static void del(const char *name)
{
	char path[PATH_MAX];

	in_dir(path, name);
	h2_umount(path);
	cr_assert_eq(unlink(path), 0, "unlink %s: %s", path, strerror(errno));
}

static void expect_name(uint64_t ino, const char *want)
{
	char buf[NAME_MAX + 1];
	int ret;

	memset(buf, 0, sizeof(buf));
	ret = rcfs_names_lookup(&names, ino, buf, sizeof(buf));
	cr_assert_eq(ret, 0, "lookup %llu: %d (%s), want '%s'", (unsigned long long)ino, ret,
		     strerror(-ret), want);
	cr_assert_str_eq(buf, want);
}

static void expect_unnamed(uint64_t ino)
{
	char buf[NAME_MAX + 1] = "untouched";
	int ret = rcfs_names_lookup(&names, ino, buf, sizeof(buf));

	cr_assert_eq(ret, -ENOENT, "lookup %llu: %d, want -ENOENT (got name '%s')",
		     (unsigned long long)ino, ret, buf);
}

Test(names, safe)
{
	static const char *const good[] = {
		"blue", "a", "a.b", "a..b", "ns-1_x", "with space", "trailing.", "\xc3\xa9t\xc3\xa9",
		"12345", "-x", "~", "a b\xff",
	};
	static const char *const bad[] = {
		"", ".", "..", ".hidden", "a/b", "/", "a\nb", "a\tb", "a\x01", "\x1f", "x\x7f", "\x7f",
	};

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		cr_expect(rcfs_names_safe(good[i]), "'%s' rejected", good[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect(!rcfs_names_safe(bad[i]), "'%s' accepted", bad[i]);
}

Test(names, init_and_double_fini)
{
	th_mkdtemp(root);
	cr_assert_eq(rcfs_names_init(&names, root, NULL, NULL), 0);
	cr_assert_str_eq(names.dir, root);
	cr_assert_null(names.table);
	rcfs_names_fini(&names);
	cr_assert_null(names.dir);
	rcfs_names_fini(&names);
}

Test(names, empty_dir_and_unnamed_namespaces)
{
	th_mkdtemp(root);
	cr_assert_eq(rcfs_names_init(&names, root, NULL, NULL), 0);
	expect_unnamed(h2_ns_ino("/proc/self/ns/net"));
	expect_unnamed(0);
	expect_unnamed(1);
	expect_unnamed(UINT64_MAX);
	rcfs_names_fini(&names);
}

Test(names, added_name_appears_and_removed_name_disappears)
{
	uint64_t self = h2_ns_ino("/proc/self/ns/net"), blue, red;
	char path[PATH_MAX];

	setup(1);
	cr_assert_eq(rcfs_names_init(&names, dir, NULL, NULL), 0);
	expect_unnamed(self);

	blue = add_new("blue");
	cr_assert_neq(blue, self);
	expect_name(blue, "blue");
	expect_unnamed(self);

	red = add_new("red");
	expect_name(red, "red");
	expect_name(blue, "blue");

	/* Our own namespace gets a name too (ip netns attach). */
	in_dir(path, "host");
	h2_bind("/proc/self/ns/net", path);
	expect_name(self, "host");

	del("blue");
	expect_unnamed(blue);
	expect_name(red, "red");
	expect_name(self, "host");

	del("red");
	del("host");
	expect_unnamed(red);
	expect_unnamed(self);

	/* The same name again, for another namespace. */
	blue = add_new("blue");
	expect_name(blue, "blue");
	rcfs_names_fini(&names);
}

/* /run/netns is a tmpfs on most hosts, where `ip netns del` soon after `ip netns add` leaves the
 * directory's mtime as it was (an unlink sets it to the file's ctime, unchanged within the
 * tick it was created in): the name must go all the same, every time. */
Test(names, name_deleted_right_after_it_was_added_on_tmpfs_disappears)
{
	uint64_t ino;

	setup(1);
	cr_assert_eq(mount("rcfs-unit", dir, "tmpfs", 0, "mode=0755"), 0, "mount tmpfs on %s: %s",
		     dir, strerror(errno));
	cr_assert_eq(rcfs_names_init(&names, dir, NULL, NULL), 0);
	for (int i = 0; i < 50; i++) {
		ino = add_new("quick");
		expect_name(ino, "quick");
		del("quick");
		expect_unnamed(ino);
	}
	rcfs_names_fini(&names);
	cr_assert_eq(umount2(dir, MNT_DETACH), 0, "umount %s: %s", dir, strerror(errno));
}

Test(names, plain_file_is_not_a_name_until_a_namespace_is_mounted_on_it)
{
	char path[PATH_MAX];
	uint64_t plain_ino, self = h2_ns_ino("/proc/self/ns/net");

	setup(1);
	cr_assert_eq(rcfs_names_init(&names, dir, NULL, NULL), 0);
	/* ip netns add creates the file first and mounts on it after: in between it is a plain
	 * file, whose inode number means nothing. */
	in_dir(path, "half");
	th_write_file(path, "", 0, 0644);
	plain_ino = h2_ns_ino(path);
	expect_unnamed(plain_ino);
	expect_unnamed(self);

	/* Mounting does not change the directory's mtime: the name must still be found. */
	h2_bind("/proc/self/ns/net", path);
	expect_name(self, "half");

	/* A directory is not a name either. */
	in_dir(path, "adir");
	cr_assert_eq(mkdir(path, 0755), 0);
	expect_unnamed(h2_ns_ino(path));
	expect_name(self, "half");
	rcfs_names_fini(&names);
}

Test(names, unsafe_names_are_skipped_with_a_warning)
{
	static const char *const unsafe[] = { ".hidden", "12345", "0", "bad\x01name", "tab\tname",
					      "del\x7f" };
	uint64_t ino[6], good;
	struct warned w = { .lock = PTHREAD_MUTEX_INITIALIZER };

	setup(1);
	for (size_t i = 0; i < 6; i++)
		ino[i] = add_new(unsafe[i]);
	good = add_new("good");
	cr_assert_eq(rcfs_names_init(&names, dir, on_warn, &w), 0);
	expect_name(good, "good");
	for (size_t i = 0; i < 6; i++) {
		expect_unnamed(ino[i]);
		cr_expect(was_warned(&w, unsafe[i]), "no warning for '%s'", unsafe[i]);
	}
	cr_expect(!was_warned(&w, "good"));
	cr_expect(!was_warned(&w, ".") && !was_warned(&w, ".."));
	cr_expect_eq(w.n, 6);
	cr_expect_str_eq(w.dir, dir);
	rcfs_names_fini(&names);
}

Test(names, small_buffer_is_enametoolong)
{
	uint64_t ino;
	char buf[16];

	setup(1);
	ino = add_new("abcdefgh");
	cr_assert_eq(rcfs_names_init(&names, dir, NULL, NULL), 0);
	memset(buf, 'x', sizeof(buf));
	cr_assert_eq(rcfs_names_lookup(&names, ino, buf, 8), -ENAMETOOLONG);
	cr_assert_eq(rcfs_names_lookup(&names, ino, buf, 1), -ENAMETOOLONG);
	cr_assert_eq(rcfs_names_lookup(&names, ino, buf, 9), 0);
	cr_assert_str_eq(buf, "abcdefgh");
	rcfs_names_fini(&names);
}

Test(names, longest_name)
{
	char name[NAME_MAX + 1], buf[NAME_MAX + 1];
	uint64_t ino;

	setup(1);
	memset(name, 'n', NAME_MAX);
	name[NAME_MAX] = '\0';
	ino = add_new(name);
	cr_assert_eq(rcfs_names_init(&names, dir, NULL, NULL), 0);
	cr_assert_eq(rcfs_names_lookup(&names, ino, buf, sizeof(buf)), 0);
	cr_assert_str_eq(buf, name);
	cr_assert_eq(rcfs_names_lookup(&names, ino, buf, NAME_MAX), -ENAMETOOLONG);
	rcfs_names_fini(&names);
}

Test(names, missing_dir_then_created_then_removed)
{
	uint64_t self = h2_ns_ino("/proc/self/ns/net"), blue;

	setup(0);
	cr_assert_eq(rcfs_names_init(&names, dir, NULL, NULL), 0);
	expect_unnamed(self);
	expect_unnamed(self);

	cr_assert_eq(mkdir(dir, 0755), 0);
	expect_unnamed(self);
	blue = add_new("blue");
	expect_name(blue, "blue");

	del("blue");
	cr_assert_eq(rmdir(dir), 0);
	expect_unnamed(blue);

	/* Created again, with a name already in it when first seen. */
	cr_assert_eq(mkdir(dir, 0755), 0);
	blue = add_new("blue");
	expect_name(blue, "blue");
	rcfs_names_fini(&names);
}

Test(names, many_names)
{
	char name[32];
	uint64_t ino[40];

	setup(1);
	cr_assert_eq(rcfs_names_init(&names, dir, NULL, NULL), 0);
	/* More entries than the initial hash table has slots: it grows and probes. */
	for (int i = 0; i < 40; i++) {
		char path[PATH_MAX], hold[PATH_MAX];

		snprintf(name, sizeof(name), "ns%02d", i);
		if (i < 4) {
			ino[i] = add_new(name);
			continue;
		}
		/* Reuse four namespaces under more names: the later name of a namespace wins
		 * one way or the other, but it is always one of its own names. */
		in_dir(hold, i % 4 == 0 ? "ns00" : i % 4 == 1 ? "ns01" : i % 4 == 2 ? "ns02" : "ns03");
		in_dir(path, name);
		h2_bind(hold, path);
		ino[i] = ino[i % 4];
	}
	for (int i = 0; i < 4; i++) {
		char buf[NAME_MAX + 1];
		int k;

		cr_assert_eq(rcfs_names_lookup(&names, ino[i], buf, sizeof(buf)), 0);
		cr_assert_eq(sscanf(buf, "ns%d", &k), 1, "unexpected name %s", buf);
		cr_assert_eq(k % 4, i, "namespace %d got the name %s of another", i, buf);
	}
	rcfs_names_fini(&names);
}

/* Many threads look up while names come and go. Every answer is either -ENOENT or the right name
 * for that namespace (never another namespace's name); after the last change, every lookup is
 * exact. */
#define NS 4
#define THREADS 8

struct race {
	uint64_t ino[NS + 1]; /* the last one is never named */
	volatile int stop;
	int wrong, found, lookups;
};

static void *lookup_loop(void *p)
{
	struct race *r = p;
	char buf[NAME_MAX + 1], want[16];
	unsigned i = 0;

	while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
		unsigned k = i++ % (NS + 1);
		int ret = rcfs_names_lookup(&names, r->ino[k], buf, sizeof(buf));

		snprintf(want, sizeof(want), "name%u", k);
		if (ret == 0 && k < NS && !strcmp(buf, want))
			__atomic_fetch_add(&r->found, 1, __ATOMIC_RELAXED);
		else if (ret != -ENOENT)
			__atomic_fetch_add(&r->wrong, 1, __ATOMIC_RELAXED);
		__atomic_fetch_add(&r->lookups, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

Test(names, concurrent_lookups_while_names_change)
{
	char hold_dir[PATH_MAX], hold[NS][PATH_MAX], path[PATH_MAX], name[16];
	static struct race r;
	pthread_t t[THREADS];
	int named[NS] = { 0 };

	setup(1);
	th_join(hold_dir, root, "hold");
	cr_assert_eq(mkdir(hold_dir, 0755), 0);
	for (int k = 0; k < NS; k++) {
		snprintf(name, sizeof(name), "ns%d", k);
		th_join(hold[k], hold_dir, name);
		r.ino[k] = h2_new_netns(hold[k]);
	}
	r.ino[NS] = h2_ns_ino("/proc/self/ns/net");
	cr_assert_eq(rcfs_names_init(&names, dir, NULL, NULL), 0);
	for (int i = 0; i < THREADS; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, lookup_loop, &r), 0);

	/* A fixed pseudo-random sequence of adds and removes (no timing in the outcome). */
	for (unsigned step = 0, x = 12345; step < 400; step++) {
		unsigned k;

		x = x * 1103515245u + 12345u;
		k = (x >> 16) % NS;
		snprintf(name, sizeof(name), "name%u", k);
		in_dir(path, name);
		if (named[k]) {
			h2_umount(path);
			cr_assert_eq(unlink(path), 0);
		} else {
			h2_bind(hold[k], path);
		}
		named[k] = !named[k];
	}
	__atomic_store_n(&r.stop, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);

	cr_assert_eq(r.wrong, 0, "%d of %d lookups gave a wrong answer", r.wrong, r.lookups);
	cr_assert_gt(r.lookups, 0);
	for (int k = 0; k < NS; k++) {
		if (named[k]) {
			snprintf(name, sizeof(name), "name%d", k);
			expect_name(r.ino[k], name);
		} else {
			expect_unnamed(r.ino[k]);
		}
	}
	expect_unnamed(r.ino[NS]);
	rcfs_names_fini(&names);
}
