/* resolvconffs-ctl: what its commands share. Each command returns the process's exit status:
 * 0, CTL_FAILED for a runtime failure, CTL_USAGE for bad arguments. */
#ifndef RCFS_CTL_H
#define RCFS_CTL_H

#include <limits.h>
#include <stdint.h>
#include <sys/types.h>

#include "../core/context.h"
#include "../core/key.h"

#define CTL_FAILED 1
#define CTL_USAGE  2

enum ctl_command { CTL_LIST = 1, CTL_GC = 2, CTL_SET = 4, CTL_WHICH = 8 };

struct ctl_opts {
	struct rcfs_config cfg;       /* cfg.names_dir only when --names was given */
	enum ctl_command command;
	const char *names_dir;        /* list, gc: where ip-netns names live (default /run/netns) */
	int delete;                   /* gc --delete */
	int verbose;                  /* set, which: -v */
	const char *pid;              /* set, which: --pid, as given */
	const char *netns;            /* set: --netns */
	const char *id;               /* set: --id */
	const char *host_mountpoint;  /* which: --host-original[=MOUNTPOINT], or NULL */
};

/* Print `resolvconffs-ctl: MESSAGE` on stderr, one line, and return status. */
int ctl_fail(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Set up ctx from cfg; on a bad setting say which (one line) and return CTL_USAGE. */
int ctl_ctx_init(struct rcfs_ctx *ctx, const struct rcfs_config *cfg);

/* A strict decimal number: digits only, no sign, no blanks, fitting in 64 bits. 0 or -EINVAL. */
int ctl_parse_u64(const char *s, uint64_t *out);

/* The caller the daemon would see for process or thread pid (text as given; for uid and gid
 * keys with its filesystem uid and gid, from <procfs>/<pid>/status) and its key (key.h).
 * Returns 0, or the exit status after saying why: CTL_USAGE for text that is no pid,
 * CTL_FAILED for a process that is gone or a link that does not parse. */
int ctl_resolve_pid(const struct rcfs_ctx *ctx, const char *pid, struct rcfs_caller *caller,
		    uint64_t *key);

/* "net:[N]", "uid N" or "gid N" for key into buf. */
const char *ctl_key_text(const struct rcfs_ctx *ctx, uint64_t key, char *buf, size_t size);

/* The unique id (NS_GET_ID) of the namespace of ctx's kind that pid is in, checked to be the one
 * whose key is key (the thread may have moved since): 0 when unknown or not recorded by ctx. */
uint64_t ctl_nsid_of_pid(const struct rcfs_ctx *ctx, pid_t pid, uint64_t key);

/* Open DIR/NAME, an ip-netns style bind mount of a namespace of ctx's kind. Returns the fd (and
 * *key, its inode number), or minus the exit status after saying why: CTL_USAGE for a name that
 * cannot be one, CTL_FAILED for one that is missing or no namespace of that kind. */
int ctl_open_named_ns(const struct rcfs_ctx *ctx, const char *dir, const char *name,
		      uint64_t *key);

/* The unique id of the namespace open at fd, or 0 when unknown or not recorded by ctx. */
uint64_t ctl_nsid_of_fd(const struct rcfs_ctx *ctx, int fd);

/* dir's absolute path, symlinks resolved (realpath), or dir itself when that fails. */
void ctl_real_dir(const char *dir, char out[PATH_MAX]);

/* "dir/name" into out (PATH_MAX); a name that is absolute is taken as it is. */
void ctl_join(const char *dir, const char *name, char out[PATH_MAX]);

/* Open path (O_PATH, its last component not followed) as it is without the resolvconffs mounts
 * stacked on it: when there are any, this process moves to a private mount namespace of its
 * own and detaches them there (nobody else sees a change). abs gets the path as mountinfo
 * lists it. Returns the fd, or minus an exit status after saying why. */
int ctl_open_beneath(const char *path, char abs[PATH_MAX]);

int ctl_list(const struct ctl_opts *o);
int ctl_set(const struct ctl_opts *o);
int ctl_which(const struct ctl_opts *o);

#endif
