/* The resolvconffs context: every piece of state the core needs, set up once at startup. */
#ifndef RCFS_CONTEXT_H
#define RCFS_CONTEXT_H

#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "names.h"

/* The default --max-size: resolv.conf files are a few hundred bytes. */
#define RCFS_MAX_SIZE_DEFAULT (1024 * 1024)

struct rcfs_tview;

/* The longest extension that leaves room in NAME_MAX for a 20-digit id and the dot, and for
 * the `.stale-<id>-<id>` suffix of a file moved aside (see backing.h). */
#define RCFS_EXT_MAX (NAME_MAX - 21 - 48)

/* What the frontends hand to rcfs_ctx_init; strings are only read during the call. */
struct rcfs_config {
	const char *procfs;        /* procfs root; NULL means "/proc" */
	const char *backing_dir;   /* directory holding <id>.<extension> files */
	const char *extension;     /* NULL means "conf"; "" means no dot */
	const char *template_path; /* copied to a missing backing file; NULL: ENOENT instead */
	long long max_size;        /* largest backing file a write or truncate may make; 0: 1 MiB */
	const char *key_kind;      /* NULL or "net" (default), mnt, uts, ipc, user, pid, cgroup,
				    * time (namespace links), uid or gid (request credentials) */
	const char *names_dir;     /* serve ip-netns names from here (e.g. /run/netns); NULL: off */
	const char *etc_netns_dir; /* serve DIR/NAME/<mount_basename> when it exists; NULL: off */
	const char *mount_basename;/* basename of the mountpoint, for etc_netns_dir */
	int filter_loopback;       /* drop loopback nameservers from templates for other netns */
	const char *const *fallbacks; /* nameservers to add when none remains after filtering */
	size_t n_fallbacks;
	int no_nsid;               /* do not record or check NS_GET_ID ids even where supported */
	void (*warn)(void *arg, const char *fmt, ...); /* warnings while serving; may be NULL */
	void *warn_arg;
};

/* Where a key comes from. */
enum rcfs_key_source {
	RCFS_KEY_NS,  /* the id in <procfs>/<pid>/ns/<ns_kind> */
	RCFS_KEY_UID, /* the request's uid */
	RCFS_KEY_GID, /* the request's gid */
};

/* Which setting rcfs_ctx_init rejected, for a one-line error message. */
struct rcfs_init_error {
	const char *what; /* e.g. "backing directory" */
	const char *arg;  /* the offending value, as given */
	const char *why;  /* what is wrong with it, when strerror would not say; or NULL */
};

struct rcfs_ctx {
	int procfs_fd;                /* O_PATH directory fd of the procfs root */
	int backing_fd;               /* directory fd all backing files are opened relative to */
	enum rcfs_key_source key_source;
	const char *ns_kind;          /* namespace type the key is read from, e.g. "net" */
	char ext[RCFS_EXT_MAX + 1];   /* extension without the dot */
	char *template_path;          /* absolute path, or NULL */
	off_t max_size;               /* see struct rcfs_config */
	uint64_t user_ns;             /* our user namespace id: only its callers' capabilities count */
	uint64_t own_key_ns;          /* our own namespace of the key's kind: always gets a file */
	int real_procfs;              /* procfs_fd is a procfs (not an administrator's fake tree) */
	dev_t mount_dev;              /* device of our own mount once mounted, else 0: a name that
				       * resolves onto it would make the daemon call itself */
	dev_t tmpl_dev;               /* the template's identity at startup: never a namespace's file */
	ino_t tmpl_ino;
	char tmpl_base[NAME_MAX + 1]; /* the template's name when it lies in the backing directory */
	struct rcfs_tview *tview;     /* the template as served to namespaces without a file */
	pthread_mutex_t *size_lock;   /* serialises size checks with the writes they allow */
	struct rcfs_names *names;     /* ip-netns names, or NULL */
	int filter_loopback;          /* see struct rcfs_config */
	char **fallbacks;             /* owned copies */
	size_t n_fallbacks;
	uint64_t own_net_ns;          /* the daemon's network namespace: its copies stay unfiltered */
	int nsid;                     /* NS_GET_ID works: record and check unique namespace ids */
	pthread_mutex_t *stale_lock;  /* serialises moving recycled-id files aside */
	int etc_fd;                   /* the /etc/netns directory, or -1 */
	char etc_base[NAME_MAX + 1];  /* file served from etc_fd/NAME/ */
	int host_original;            /* see host.h; the fields below are set when it is on */
	int host_fd;                  /* O_PATH: the mountpoint as it was before the mount, or -1 */
	int host_dirfd;               /* host_name is relative to it: a symlink's directory, or
				       * AT_FDCWD for a regular file's /proc/self/fd/N; else -1 */
	char host_name[2 * (NAME_MAX + 1)];
	void (*warn)(void *arg, const char *fmt, ...);
	void *warn_arg;
};

/* Validate cfg, open the procfs root and the backing directory and check the template is a
 * readable regular file. Returns 0, or a negative errno with *err naming the bad setting; on
 * error nothing is left open. */
int rcfs_ctx_init(struct rcfs_ctx *ctx, const struct rcfs_config *cfg, struct rcfs_init_error *err);

/* Close and free everything rcfs_ctx_init set up; safe to call again, and after a failed init
 * (which leaves nothing to free). */
void rcfs_ctx_fini(struct rcfs_ctx *ctx);

/* Check that the procfs root has at least one readable `<pid>/ns/<kind>` link (its own pid's, or
 * any numeric entry's in a fake tree). Returns 0; 1 for a fake tree (not a procfs) that is still
 * empty; or -ENOENT when none of its entries has a readable link. */
int rcfs_ctx_check_procfs(const struct rcfs_ctx *ctx);

#endif
