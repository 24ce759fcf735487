/* Shared helpers for the unit tests: temporary directories, fake procfs trees, file contents,
 * fd counting, forked children that run in their own (user and) mount namespace.
 *
 * Criterion runs every test in its own process, so helpers keep per-process state (the list of
 * temporary directories to remove) in globals; every suite that creates files uses
 * `.fini = th_cleanup`, which Criterion also runs after a failed assertion. */
#ifndef RCFS_TEST_HELPERS_H
#define RCFS_TEST_HELPERS_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "../../core/context.h"

/* A test environment: <root>/proc (fake procfs), <root>/backing, <root>/template. */
struct th_env {
	char root[PATH_MAX];
	char procfs[PATH_MAX];
	char backing[PATH_MAX];
	char tmpl[PATH_MAX];
	struct rcfs_ctx ctx;
};

/* Make a directory $TMPDIR/rcfs-unit-XXXXXX ($TMPDIR defaults to /tmp), registered for
 * th_cleanup, and copy its path into out (PATH_MAX bytes). Aborts the test on failure. */
void th_mkdtemp(char *out);

/* Remove every directory th_mkdtemp made in this process (and everything below). */
void th_cleanup(void);

/* Remove path and everything below it, never following symlinks. */
void th_rmtree(const char *path);

/* out = dir "/" name, aborting the test if it does not fit in PATH_MAX. */
void th_join(char *out, const char *dir, const char *name);

/* out = the formatted path, aborting the test if it does not fit in PATH_MAX. */
void th_pathf(char *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Create (or replace) path with len bytes of data and exactly the permission bits mode. */
void th_write_file(const char *path, const void *data, size_t len, mode_t mode);

/* Read a whole file / the rest of an fd from offset 0 with pread; returns a malloc'd buffer
 * (NUL-terminated for convenience), its length in *len. Abort the test on error. */
char *th_read_file(const char *path, size_t *len);
char *th_read_fd(int fd, size_t *len);

/* Deterministic pseudo-random bytes (xorshift), different for each seed. */
void th_pattern(void *buf, size_t len, uint32_t seed);

/* In the fake procfs tree at procfs: make <pid>/ns/net a symlink whose target text is text. */
void th_fake_ns(const char *procfs, long pid, const char *text);

/* Number of entries in /proc/self/fd (the same way before and after: compare only). */
int th_count_fds(void);

/* Number of entries in dir other than . and ..; if exactly one and name is not NULL, copy its
 * name into name (NAME_MAX + 1 bytes). */
int th_count_entries(const char *dir, char *name);

/* Set up e: temporary root, an empty fake procfs, an empty backing dir and, when tmpl_data is
 * not NULL, a template with that content and mode; then rcfs_ctx_init with the given extension
 * (NULL: default) and template (only if tmpl_data). Aborts the test on any failure. */
void th_env_setup(struct th_env *e, const char *ext, const void *tmpl_data, size_t tmpl_len,
		  mode_t tmpl_mode);
void th_env_teardown(struct th_env *e);

/* (Re-)initialise e->ctx from e's paths (for a child that mounted something over e->backing);
 * returns what rcfs_ctx_init returned. */
int th_env_init_ctx(struct th_env *e, const char *ext, int with_template,
		    struct rcfs_init_error *err);

/* Path of the backing file name inside e's backing directory. */
void th_backing_path(const struct th_env *e, const char *name, char *out);

/* Run fn(arg) in a forked child and return what it returned (the child's exit status, 0-255),
 * or -1 if the child died from a signal. When isolate is set, the child first enters a private
 * mount namespace: with unshare(CLONE_NEWNS) as root, and with a new user namespace mapping
 * the caller's uid and gid to root as an ordinary user; the whole tree is made MS_PRIVATE so
 * nothing propagates back to the host. When that is impossible the child exits with
 * TH_CHILD_SKIP. The child never returns into Criterion: it leaves with _exit. */
#define TH_CHILD_SKIP 77
int th_run_child(int isolate, int (*fn)(void *), void *arg);

/* Like th_run_child (without isolation), for code that opens fifo and must not block there: if
 * the child is seen asleep waiting for a FIFO writer (its wchan is wait_for_partner, which a
 * non-blocking open never is), *blocked is set and the child is released by briefly opening the
 * FIFO for writing. Returns the child's exit status. Polls, but the outcome does not depend on
 * timing: a child that blocks stays blocked until released. */
int th_run_child_fifo_watch(const char *fifo, int (*fn)(void *), void *arg, int *blocked);

/* In a child made by th_run_child: print a message to stderr and return code (for `return
 * th_child_fail(...)`). */
int th_child_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Drop to uid/gid 65534 (nobody) with no supplementary groups; for use in a forked child that
 * runs as root. Returns 0 or -errno. */
int th_drop_to_nobody(void);

#endif
