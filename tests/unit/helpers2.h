/* More helpers for the unit tests of the newer core modules (names, inventory, nsid, target,
 * access): a private mount namespace for the test process, bind-mounted namespace files (the way
 * `ip netns add` names a namespace), fake procfs pieces beyond ns/net, children parked in a new
 * network namespace, and a warn-callback recorder.
 *
 * Everything made here is registered and undone by h2_cleanup (mounts first, then children, then
 * th_cleanup's temporary directories): use `.fini = h2_cleanup` in suites that call these. */
#ifndef RCFS_TEST_HELPERS2_H
#define RCFS_TEST_HELPERS2_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Move this test process into a private mount namespace (nothing propagates to the host; the
 * namespace and whatever is still mounted in it vanish when the test process exits). Skips the
 * test when that is impossible (not root). */
void h2_private_mounts(void);

/* Bind-mount src over dst (dst is created as an empty regular file if missing) and register
 * dst for h2_cleanup. */
void h2_bind(const char *src, const char *dst);

/* Unmount dst (registered by h2_bind or h2_new_netns) and forget it. */
void h2_umount(const char *dst);

/* Name a brand-new network namespace at dst, as `ip netns add` does: a forked child unshares
 * its network namespace and bind-mounts its /proc/self/ns/net over dst (created if missing).
 * Returns the namespace's inode number (the N of net:[N]). Needs h2_private_mounts first. */
uint64_t h2_new_netns(const char *dst);

/* Inode number of the namespace file at path (following symlinks): the N of net:[N]. */
uint64_t h2_ns_ino(const char *path);

/* NS_GET_ID of the namespace file at path (aborts the test if the ioctl fails). */
uint64_t h2_ns_unique_id(const char *path);

/* The text of /proc/self/ns/<kind>, e.g. "user:[4026531837]", into out (64 bytes). */
void h2_own_link(const char *kind, char *out);

/* In the fake procfs tree at procfs, make the symlink procfs/rel (creating the directories
 * before it) whose target text is text; an existing entry is replaced. */
void h2_fake_link(const char *procfs, const char *rel, const char *text);

/* Create procfs/rel (and the directories before it) with exactly the given text. */
void h2_fake_file(const char *procfs, const char *rel, const char *text);

/* A child parked in a new network namespace until h2_release_child (or h2_cleanup). Returns its
 * pid; -1 (with the test skipped by the caller) when unsharing is impossible. */
pid_t h2_child_in_new_netns(void);

/* A child parked in a user namespace of its own (no uid map written), and with new_net also
 * in a network namespace that user namespace owns, as `unshare -Urn` makes them without any
 * privilege, until h2_release_child (or h2_cleanup). Returns its pid; -1 (the caller skips the
 * test) when unsharing is impossible here. */
pid_t h2_child_in_new_userns(int new_net);

/* A child parked in the test's own namespaces without any capability (dropped to uid/gid 65534
 * when the test runs as root), until h2_release_child (or h2_cleanup): a caller pid whose real
 * /proc/<pid>/status shows no CapEff and no CapPrm. */
pid_t h2_child_without_caps(void);

/* Let a child made by h2_child_in_new_netns or h2_child_without_caps exit and reap it. */
void h2_release_child(pid_t pid);

/* Undo everything above, then th_cleanup. */
void h2_cleanup(void);

/* A thread-safe recorder for the core's warn callbacks. */
struct h2_warnings {
	int count;           /* atomic */
	char last[1024];     /* the last message (only meaningful single-threaded) */
};

/* Matches struct rcfs_config.warn; arg is a struct h2_warnings. */
void h2_warn(void *arg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Set an extended attribute with a raw value on path (aborts the test on failure). */
void h2_set_xattr(const char *path, const char *name, const void *value, size_t len);

/* Read the whole xattr as a string into out (size bytes); returns its length or -errno. */
long h2_get_xattr(const char *path, const char *name, char *out, size_t size);

/* Whether path exists (lstat). */
int h2_exists(const char *path);

#endif
