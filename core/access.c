#include "access.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "nslink.h"

/* Capability bits as numbered in linux/capability.h. */
#define CAP_CHOWN           0
#define CAP_DAC_OVERRIDE    1
#define CAP_DAC_READ_SEARCH 2
#define CAP_FOWNER          3

/* What the caller's /proc/<tid>/status says about its credentials: whether it is in group
 * `want` (supplementary list), its real uid, and its effective and permitted capabilities. */
struct creds {
	gid_t want;
	int in_group;
	uint64_t ruid;    /* UINT64_MAX until read */
	uint64_t capeff;
	uint64_t capprm;
};

enum scan_state { LINE_START, KEY, GROUPS, UID, UID_DONE, CAPEFF, CAPPRM, SKIP };

struct scanner {
	enum scan_state state;
	char key[8];
	size_t klen;
	uint64_t num;
	int digits;
};

static void end_group(struct scanner *s, struct creds *cr)
{
	if (s->digits && s->num == (uint64_t)cr->want)
		cr->in_group = 1;
	s->num = 0;
	s->digits = 0;
}

/* One byte of the status file. Streaming, so a caller with thousands of groups needs no more
 * than a small stack buffer. */
static void scan_byte(struct scanner *s, struct creds *cr, char ch)
{
	switch (s->state) {
	case LINE_START:
		s->klen = 0;
		s->state = KEY;
		/* fall through */
	case KEY:
		if (ch == ':') {
			s->state = s->klen == 6 && !memcmp(s->key, "Groups", 6) ? GROUPS :
				   s->klen == 3 && !memcmp(s->key, "Uid", 3) ? UID :
				   s->klen == 6 && !memcmp(s->key, "CapEff", 6) ? CAPEFF :
				   s->klen == 6 && !memcmp(s->key, "CapPrm", 6) ? CAPPRM : SKIP;
			s->num = 0;
			s->digits = 0;
		} else if (ch == '\n') {
			s->state = LINE_START;
		} else if (s->klen < sizeof(s->key)) {
			s->key[s->klen++] = ch;
		} else {
			s->state = SKIP;
		}
		break;
	case GROUPS:
		if (ch >= '0' && ch <= '9') {
			/* gids are 32-bit: past that the number only has to stay no gid, not wrap
			 * (18446744073709552616 = 2^64 + 1000 must not read as 1000). */
			if (s->num <= UINT32_MAX)
				s->num = s->num * 10 + (uint64_t)(ch - '0');
			s->digits++;
		} else {
			end_group(s, cr);
		}
		if (ch == '\n')
			s->state = LINE_START;
		break;
	case UID:
		/* The first of "real effective saved fs". */
		if (ch >= '0' && ch <= '9') {
			if (s->num <= UINT32_MAX)
				s->num = s->num * 10 + (uint64_t)(ch - '0');
			s->digits++;
		} else if (s->digits) {
			cr->ruid = s->num <= UINT32_MAX ? s->num : UINT64_MAX;
			s->state = ch == '\n' ? LINE_START : UID_DONE;
		} else if (ch == '\n') {
			s->state = LINE_START;
		}
		break;
	case CAPEFF:
	case CAPPRM: {
		uint64_t *cap = s->state == CAPEFF ? &cr->capeff : &cr->capprm;

		if (ch >= '0' && ch <= '9')
			*cap = *cap << 4 | (uint64_t)(ch - '0');
		else if (ch >= 'a' && ch <= 'f')
			*cap = *cap << 4 | (uint64_t)(ch - 'a' + 10);
		else if (ch == '\n')
			s->state = LINE_START;
		break;
	}
	case UID_DONE:
	case SKIP:
		if (ch == '\n')
			s->state = LINE_START;
		break;
	}
}

/* Capabilities count only for a caller in the daemon's own user namespace: a root in a child
 * user namespace has them over that namespace's ids alone, and denying is the safe side. */
static int same_userns(const struct rcfs_ctx *ctx, pid_t pid)
{
	char path[48], link[RCFS_NSLINK_MAX];
	uint64_t id;
	ssize_t len;

	snprintf(path, sizeof(path), "%d/ns/user", (int)pid);
	len = readlinkat(ctx->procfs_fd, path, link, sizeof(link));
	return len > 0 && (size_t)len < sizeof(link) &&
	       rcfs_nslink_parse(link, (size_t)len, "user", &id) == 0 && id == ctx->user_ns;
}

/* Read the caller's credentials. Anything unreadable (a process gone, a fake procfs) leaves
 * no groups and no capabilities: the check then denies rather than guesses. */
static void read_creds(const struct rcfs_ctx *ctx, pid_t pid, struct creds *cr)
{
	struct scanner s = { .state = LINE_START };
	char path[48], buf[1024];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%d/status", (int)pid);
	fd = openat(ctx->procfs_fd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		for (ssize_t i = 0; i < n; i++)
			scan_byte(&s, cr, buf[i]);
	close(fd);
	if (s.state == GROUPS)
		end_group(&s, cr);
	if (!same_userns(ctx, pid))
		cr->capeff = cr->capprm = 0;
}

static int has_cap(const struct creds *cr, int cap)
{
	return (cr->capeff >> cap) & 1;
}

/* The mode-bit part of the check; *cr is filled only when group membership matters. */
static int mode_allows(const struct rcfs_ctx *ctx, const struct rcfs_caller *c,
		       const struct stat *st, int mask, struct creds *cr, int *have_creds)
{
	unsigned mode = st->st_mode & 0777;

	if (c->uid == st->st_uid) {
		mode >>= 6;
	} else if ((unsigned)mask & (mode ^ (mode >> 3))) {
		/* Group and other bits differ for this request: membership decides. */
		if (c->gid == st->st_gid) {
			mode >>= 3;
		} else {
			cr->want = st->st_gid;
			read_creds(ctx, c->pid, cr);
			*have_creds = 1;
			if (cr->in_group)
				mode >>= 3;
		}
	}
	return ((unsigned)mask & ~mode & 7) == 0;
}

/* Which capabilities count: the caller's effective ones, or those access(2) runs with. */
enum cap_rule { CAPS_EFFECTIVE, CAPS_ACCESS };

/* access(2) checks with the real uid and gid (the request carries them) and, unless the real uid
 * is root, without any capability; root's are its permitted ones (the kernel's
 * access_override_creds). A request whose uid is not the real uid came from
 * faccessat(AT_EACCESS), which keeps the effective ones. */
static uint64_t caps_of(const struct creds *cr, const struct rcfs_caller *c, enum cap_rule rule)
{
	if (rule == CAPS_EFFECTIVE || cr->ruid != (uint64_t)c->uid)
		return cr->capeff;
	return cr->ruid == 0 ? cr->capprm : 0;
}

static int check(const struct rcfs_ctx *ctx, const struct rcfs_caller *caller,
		 const struct stat *st, int mask, enum cap_rule rule)
{
	struct creds cr = { .want = (gid_t)-1, .ruid = UINT64_MAX };
	int have_creds = 0;
	uint64_t caps;

	if (mode_allows(ctx, caller, st, mask, &cr, &have_creds))
		return 0;
	if (!have_creds)
		read_creds(ctx, caller->pid, &cr);
	caps = caps_of(&cr, caller, rule);
	/* As in the kernel: DAC override grants execute only when some execute bit is set. */
	if ((caps >> CAP_DAC_OVERRIDE & 1) && (!(mask & X_OK) || (st->st_mode & 0111)))
		return 0;
	if (mask == R_OK && (caps >> CAP_DAC_READ_SEARCH & 1))
		return 0;
	return -EACCES;
}

int rcfs_access_check(const struct rcfs_ctx *ctx, const struct rcfs_caller *caller,
		      const struct stat *st, int mask)
{
	return check(ctx, caller, st, mask, CAPS_EFFECTIVE);
}

int rcfs_access_check_real(const struct rcfs_ctx *ctx, const struct rcfs_caller *caller,
			   const struct stat *st, int mask)
{
	return check(ctx, caller, st, mask, CAPS_ACCESS);
}

static int owner_or_cap(const struct rcfs_ctx *ctx, const struct rcfs_caller *c,
			const struct stat *st, int cap, struct creds *cr)
{
	if (c->uid == st->st_uid)
		return 1;
	read_creds(ctx, c->pid, cr);
	return has_cap(cr, cap);
}

int rcfs_setattr_check(const struct rcfs_ctx *ctx, const struct rcfs_caller *caller, int with_fd,
		       const struct stat *st, const struct rcfs_setattr *sa)
{
	struct creds cr = { .want = (gid_t)-1, .ruid = UINT64_MAX };
	int both_now = (sa->valid & RCFS_SET_ATIME) && (sa->valid & RCFS_SET_MTIME) &&
		       sa->atime.tv_nsec == UTIME_NOW && sa->mtime.tv_nsec == UTIME_NOW;
	int ret;

	if ((sa->valid & RCFS_SET_SIZE) && !with_fd) {
		ret = rcfs_access_check(ctx, caller, st, W_OK);
		if (ret)
			return ret;
	}
	if ((sa->valid & RCFS_SET_MODE) && !owner_or_cap(ctx, caller, st, CAP_FOWNER, &cr))
		return -EPERM;
	/* As the kernel's chown_ok/chgrp_ok: even a no-op change needs the owner (or CAP_CHOWN). */
	if ((sa->valid & RCFS_SET_UID) && !(caller->uid == st->st_uid && sa->uid == st->st_uid)) {
		read_creds(ctx, caller->pid, &cr);
		if (!has_cap(&cr, CAP_CHOWN))
			return -EPERM;
	}
	if (sa->valid & RCFS_SET_GID) {
		cr.want = sa->gid;
		cr.in_group = 0;
		read_creds(ctx, caller->pid, &cr);
		if (!has_cap(&cr, CAP_CHOWN) &&
		    !(caller->uid == st->st_uid &&
		      (sa->gid == st->st_gid || caller->gid == sa->gid || cr.in_group)))
			return -EPERM;
	}
	if (sa->valid & (RCFS_SET_ATIME | RCFS_SET_MTIME)) {
		if (both_now && (caller->uid == st->st_uid ||
				 rcfs_access_check(ctx, caller, st, W_OK) == 0))
			return 0;
		if (!owner_or_cap(ctx, caller, st, CAP_FOWNER, &cr))
			return both_now ? -EACCES : -EPERM;
	}
	return 0;
}
