/* Fuzz the /proc/<pid>/status scanner inside rcfs_access_check (core/access.c), through the
 * public rcfs_access_check and rcfs_setattr_check with a fake procfs whose status file is the
 * input.
 *
 * Fake procfs: pid 1 is in our own user namespace (its capabilities count), pid 2 is in
 * another one (they never count); 2/status is a symlink to 1/status, rewritten per input.
 *
 * Input, by the low bit of the first byte:
 *  - 0, raw: bytes 1..4 are the group to look for (little endian), the rest is the status file
 *    as is;
 *  - 1, structured: the bytes drive a status file in the kernel's own format (Groups:\t...,
 *    CapEff:\t%016llx, the other Cap* lines with other values, noise lines), with up to 1023
 *    groups so the line spans the scanner's 1 KiB reads.
 *
 * Invariants (abort on violation):
 *  - group membership (a mode 0070 file of that group, a caller of neither owner nor group, in
 *    another user namespace) is granted exactly when a line starting "Groups:" lists the group
 *    as a decimal number, compared as a number of any size (a 20-digit number that wraps to the
 *    gid in 64 bits is not the gid);
 *  - chown to that group by the owner (no capabilities) is allowed exactly then too;
 *  - a caller in another user namespace never gets a capability;
 *  - structured: W_OK on a mode 0000 file is granted exactly with CAP_DAC_OVERRIDE in CapEff,
 *    R_OK with CAP_DAC_OVERRIDE or CAP_DAC_READ_SEARCH, X_OK never (no execute bit), X_OK on a
 *    mode 0100 file exactly with CAP_DAC_OVERRIDE; a non-owner's chown exactly with CAP_CHOWN,
 *    chmod exactly with CAP_FOWNER;
 *  - raw: no capability is granted unless some line starts with "CapEff:". */
#include "fuzz_common.h"

#include "../core/access.h"
#include "../core/context.h"

#define CAP_CHOWN 0
#define CAP_DAC_OVERRIDE 1
#define CAP_DAC_READ_SEARCH 2
#define CAP_FOWNER 3

static struct rcfs_ctx ctx;
static char status_path[PATH_MAX];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *root = fuzz_scratch("access");
	char procfs[PATH_MAX], backing[PATH_MAX], path[PATH_MAX], own_user[64];
	struct rcfs_config cfg = { 0 };
	struct rcfs_init_error err = { 0 };
	int ret;

	(void)argc;
	(void)argv;
	fuzz_own_nslink("user", own_user, sizeof(own_user));
	fuzz_path(procfs, sizeof(procfs), "%s/%s", root, "proc");
	fuzz_path(backing, sizeof(backing), "%s/%s", root, "backing");
	fuzz_mkdir(procfs);
	fuzz_mkdir(backing);
	fuzz_path(path, sizeof(path), "%s/%s", procfs, "1");
	fuzz_mkdir(path);
	fuzz_path(path, sizeof(path), "%s/%s", procfs, "1/ns");
	fuzz_mkdir(path);
	fuzz_path(path, sizeof(path), "%s/%s", procfs, "1/ns/user");
	fuzz_symlink(own_user, path);
	fuzz_path(path, sizeof(path), "%s/%s", procfs, "1/ns/net");
	fuzz_symlink("net:[777]", path);
	fuzz_path(path, sizeof(path), "%s/%s", procfs, "2");
	fuzz_mkdir(path);
	fuzz_path(path, sizeof(path), "%s/%s", procfs, "2/ns");
	fuzz_mkdir(path);
	fuzz_path(path, sizeof(path), "%s/%s", procfs, "2/ns/user");
	fuzz_symlink("user:[1]", path);
	fuzz_path(path, sizeof(path), "%s/%s", procfs, "2/status");
	fuzz_symlink("../1/status", path);
	fuzz_path(status_path, sizeof(status_path), "%s/%s", procfs, "1/status");
	fuzz_write_file(status_path, "", 0);

	cfg.procfs = procfs;
	cfg.backing_dir = backing;
	cfg.check_access = 1;
	ret = rcfs_ctx_init(&ctx, &cfg, &err);
	if (ret) {
		fprintf(stderr, "rcfs_ctx_init: %s '%s': %s\n", err.what, err.arg,
			err.why ? err.why : strerror(-ret));
		exit(2);
	}
	return 0;
}

struct reader {
	const uint8_t *p;
	size_t n;
};

static uint64_t rd(struct reader *r, size_t bytes)
{
	uint64_t v = 0;

	for (size_t i = 0; i < bytes && r->n; i++, r->p++, r->n--)
		v |= (uint64_t)*r->p << (8 * i);
	return v;
}

/* A growable text buffer for the structured status file. */
struct text {
	char *s;
	size_t len, cap;
};

static void add(struct text *t, const char *s, size_t n)
{
	if (n == 0)
		return;
	if (t->len + n > t->cap) {
		t->cap = (t->len + n) * 2 + 256;
		t->s = realloc(t->s, t->cap);
		if (!t->s)
			fuzz_setup_die("realloc", NULL);
	}
	memcpy(t->s + t->len, s, n);
	t->len += n;
}

static void addf(struct text *t, const char *fmt, unsigned long long v)
{
	char buf[64];
	int n = snprintf(buf, sizeof(buf), fmt, v);

	add(t, buf, (size_t)n);
}

/* A noise line: up to 40 input bytes, never a Groups/CapEff line, no newline inside. */
static void noise(struct text *t, struct reader *r)
{
	size_t n = (size_t)rd(r, 1) % 41, start = t->len;

	for (size_t i = 0; i < n && r->n; i++) {
		char c = (char)rd(r, 1);

		add(t, c == '\n' ? " " : &c, 1);
	}
	if (t->len - start >= 7 && (!memcmp(t->s + start, "Groups:", 7) || !memcmp(t->s + start, "CapEff:", 7)))
		t->s[start] = 'X';
	add(t, "\n", 1);
}

/* Reference for raw input: a line starting "Groups:" whose digit runs include want, compared
 * as decimal numbers of any length. */
static int ref_in_group(const char *s, size_t len, uint32_t want)
{
	char w[16];
	int wl = snprintf(w, sizeof(w), "%u", want);

	for (size_t pos = 0; pos < len;) {
		const char *nl = memchr(s + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - s) : len;

		if (end - pos >= 7 && !memcmp(s + pos, "Groups:", 7)) {
			for (size_t i = pos + 7; i < end;) {
				size_t j = i;

				if (s[i] < '0' || s[i] > '9') {
					i++;
					continue;
				}
				while (j < end && s[j] >= '0' && s[j] <= '9')
					j++;
				/* strip leading zeros, keep one digit */
				while (i < j - 1 && s[i] == '0')
					i++;
				if (j - i == (size_t)wl && !memcmp(s + i, w, (size_t)wl))
					return 1;
				i = j;
			}
		}
		pos = end + 1;
	}
	return 0;
}

static int has_capeff_line(const char *s, size_t len)
{
	for (size_t pos = 0; pos < len;) {
		const char *nl = memchr(s + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - s) : len;

		if (end - pos >= 7 && !memcmp(s + pos, "CapEff:", 7))
			return 1;
		pos = end + 1;
	}
	return 0;
}

static int allowed(pid_t pid, uid_t uid, gid_t gid, uid_t fuid, gid_t fgid, mode_t mode, int mask)
{
	struct rcfs_caller c = { .pid = pid, .uid = uid, .gid = gid };
	struct stat st = { .st_uid = fuid, .st_gid = fgid, .st_mode = S_IFREG | mode };
	int ret = rcfs_access_check(&ctx, &c, &st, mask);

	FUZZ_CHECK(ret == 0 || ret == -EACCES, "rcfs_access_check returns 0 or -EACCES only");
	return ret == 0;
}

static int chgrp_allowed(pid_t pid, gid_t to)
{
	struct rcfs_caller c = { .pid = pid, .uid = 4000, .gid = to ^ 1 };
	struct stat st = { .st_uid = 4000, .st_gid = to ^ 2, .st_mode = S_IFREG | 0644 };
	struct rcfs_setattr sa = { .valid = RCFS_SET_GID, .gid = to };
	int ret = rcfs_setattr_check(&ctx, &c, 0, &st, &sa);

	FUZZ_CHECK(ret == 0 || ret == -EPERM, "chgrp check returns 0 or -EPERM only");
	return ret == 0;
}

/* A setattr by a caller that neither owns the file nor is in its group: chown (uid) needs
 * CAP_CHOWN, chmod CAP_FOWNER. */
static int setattr_allowed(pid_t pid, unsigned valid)
{
	struct rcfs_caller c = { .pid = pid, .uid = 3000, .gid = 3000 };
	struct stat st = { .st_uid = 4000, .st_gid = 4000, .st_mode = S_IFREG | 0644 };
	struct rcfs_setattr sa = { .valid = valid, .uid = 5000, .mode = 0600 };
	int ret = rcfs_setattr_check(&ctx, &c, 0, &st, &sa);

	FUZZ_CHECK(ret == 0 || ret == -EPERM, "setattr check returns 0 or -EPERM only");
	return ret == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reader r = { data, size };
	struct text t = { 0 };
	int structured = (int)(rd(&r, 1) & 1), exp_group;
	uint32_t want = (uint32_t)rd(&r, 4);
	uint64_t capeff = 0;

	if (!structured) {
		add(&t, (const char *)r.p, r.n);
		exp_group = ref_in_group(t.s ? t.s : "", t.len, want);
	} else {
		size_t ngroups = (size_t)rd(&r, 2) % 1024, at = (size_t)rd(&r, 2);
		int member = (int)(rd(&r, 1) & 1), trailing = (int)(rd(&r, 1) & 1);
		uint64_t lcg = rd(&r, 8) | 1;

		capeff = rd(&r, 8);
		add(&t, "Name:\tfake\n", 11);
		noise(&t, &r);
		add(&t, "Groups:\t", 8);
		exp_group = 0;
		for (size_t i = 0; i < ngroups + (size_t)member; i++) {
			uint32_t g;

			if (member && i == at % (ngroups + 1)) {
				g = want;
			} else {
				g = r.n >= 4 ? (uint32_t)rd(&r, 4) : (uint32_t)((lcg = lcg * 6364136223846793005ull + 1) >> 33);
				if (g == want)
					g++;
				if (g == want) /* want was UINT32_MAX - 1 and g wrapped up to it */
					g++;
			}
			exp_group |= g == want;
			addf(&t, i + 1 < ngroups + (size_t)member || trailing ? "%llu " : "%llu", g);
		}
		add(&t, "\n", 1);
		noise(&t, &r);
		addf(&t, "CapInh:\t%016llx\n", rd(&r, 8));
		addf(&t, "CapPrm:\t%016llx\n", ~capeff);
		addf(&t, "CapEff:\t%016llx\n", capeff);
		addf(&t, "CapBnd:\t%016llx\n", ~capeff);
		addf(&t, "CapAmb:\t%016llx\n", 0);
		noise(&t, &r);
	}
	fuzz_write_file(status_path, t.s ? t.s : "", t.len);

	/* Membership, from pid 2 (capabilities never count there). */
	FUZZ_CHECK(allowed(2, 3000, want ^ 1, 4000, want, 0070, R_OK) == exp_group,
		   "group membership differs from the Groups line");
	FUZZ_CHECK(chgrp_allowed(2, want) == exp_group,
		   "chgrp by the owner differs from the Groups line");
	FUZZ_CHECK(!allowed(2, 3000, 3000, 4000, 4000, 0000, W_OK) &&
			   !allowed(2, 3000, 3000, 4000, 4000, 0000, R_OK) &&
			   !setattr_allowed(2, RCFS_SET_UID) && !setattr_allowed(2, RCFS_SET_MODE),
		   "a capability counted for a caller in another user namespace");

	if (structured) {
		int over = (int)(capeff >> CAP_DAC_OVERRIDE & 1), search = (int)(capeff >> CAP_DAC_READ_SEARCH & 1);

		FUZZ_CHECK(allowed(1, 3000, 3000, 4000, 4000, 0000, W_OK) == over,
			   "W_OK on a 0000 file differs from CAP_DAC_OVERRIDE in CapEff");
		FUZZ_CHECK(allowed(1, 3000, 3000, 4000, 4000, 0000, R_OK) == (over || search),
			   "R_OK on a 0000 file differs from CAP_DAC_OVERRIDE|CAP_DAC_READ_SEARCH");
		FUZZ_CHECK(!allowed(1, 3000, 3000, 4000, 4000, 0000, X_OK),
			   "X_OK granted on a file without any execute bit");
		FUZZ_CHECK(allowed(1, 3000, 3000, 4000, 4000, 0100, X_OK) == over,
			   "X_OK on a 0100 file differs from CAP_DAC_OVERRIDE");
		FUZZ_CHECK(setattr_allowed(1, RCFS_SET_UID) == (int)(capeff >> CAP_CHOWN & 1),
			   "chown differs from CAP_CHOWN in CapEff");
		FUZZ_CHECK(setattr_allowed(1, RCFS_SET_MODE) == (int)(capeff >> CAP_FOWNER & 1),
			   "chmod by a non-owner differs from CAP_FOWNER in CapEff");
	} else if (!has_capeff_line(t.s ? t.s : "", t.len)) {
		FUZZ_CHECK(!allowed(1, 3000, 3000, 4000, 4000, 0000, W_OK) &&
				   !allowed(1, 3000, 3000, 4000, 4000, 0000, R_OK) &&
				   !setattr_allowed(1, RCFS_SET_UID) && !setattr_allowed(1, RCFS_SET_MODE),
			   "a capability granted without a CapEff line");
	}
	free(t.s);
	return 0;
}
