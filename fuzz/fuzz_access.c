/* Fuzz the /proc/<pid>/status scanner inside rcfs_access_check (core/access.c), through the
 * public rcfs_access_check, rcfs_access_check_real (access(2): the real uid from the Uid: line,
 * CapPrm for a real root) and rcfs_setattr_check with a fake procfs whose status file is the
 * input.
 *
 * Fake procfs: pid 1 is in our own user namespace (its capabilities count), pid 2 is in
 * another one (they never count); 2/status is a symlink to 1/status, rewritten per input.
 *
 * Input, by the low bit of the first byte:
 *  - 0, raw: bytes 1..4 are the group to look for (little endian), the rest is the status file
 *    as is;
 *  - 1, structured: the bytes drive a status file in the kernel's own format (Uid:\t with a
 *    real uid of 0, the caller's 3000, any 32-bit value, or no Uid line at all; Groups:\t...,
 *    CapPrm:\t%016llx and CapEff:\t%016llx each from the input, the other Cap* lines with other
 *    values, noise lines), with up to 1023 groups so the line spans the scanner's 1 KiB reads.
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
 *  - raw: no capability is granted unless some line starts with "CapEff:";
 *  - access(2), rcfs_access_check_real, for callers of uid 0, 3000 and the status's real uid:
 *    structured: the capabilities that count are exactly CapPrm for a caller whose uid is the
 *    real uid 0, none for one whose uid is another real uid, and CapEff for a caller whose uid
 *    is not the real uid (faccessat(AT_EACCESS)) or without a Uid line; raw: with the real uid
 *    read by an independent reference (the first number of the last "Uid:" line that has one,
 *    beyond 2^32-1 unknown), a caller whose uid is not that real uid is answered exactly as by
 *    rcfs_access_check, one whose uid is a real uid other than 0 never gets a capability, a
 *    real root none without a "CapPrm:" line, and pid 2 (another user namespace) never any. */
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

/* A noise line: up to 40 input bytes, never a Uid/Groups/CapPrm/CapEff line, no newline
 * inside. */
static void noise(struct text *t, struct reader *r)
{
	size_t n = (size_t)rd(r, 1) % 41, start = t->len;

	for (size_t i = 0; i < n && r->n; i++) {
		char c = (char)rd(r, 1);

		add(t, c == '\n' ? " " : &c, 1);
	}
	if ((t->len - start >= 7 && (!memcmp(t->s + start, "Groups:", 7) ||
				     !memcmp(t->s + start, "CapEff:", 7) ||
				     !memcmp(t->s + start, "CapPrm:", 7))) ||
	    (t->len - start >= 4 && !memcmp(t->s + start, "Uid:", 4)))
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

static int has_line(const char *s, size_t len, const char *prefix)
{
	size_t pl = strlen(prefix);

	for (size_t pos = 0; pos < len;) {
		const char *nl = memchr(s + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - s) : len;

		if (end - pos >= pl && !memcmp(s + pos, prefix, pl))
			return 1;
		pos = end + 1;
	}
	return 0;
}

/* Reference for the real uid: on each line starting "Uid:", the first run of decimal digits that
 * something follows (a number cut off by the end of the file is not read); the last such line
 * wins; a number beyond 2^32 - 1 (compared as a number of any length) is no uid. Returns the
 * uid, or UINT64_MAX for none. */
static uint64_t ref_real_uid(const char *s, size_t len)
{
	uint64_t ruid = UINT64_MAX;

	for (size_t pos = 0; pos < len;) {
		const char *nl = memchr(s + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - s) : len, i = pos + 4, j;

		if (end - pos >= 4 && !memcmp(s + pos, "Uid:", 4)) {
			while (i < end && (s[i] < '0' || s[i] > '9'))
				i++;
			for (j = i; j < end && s[j] >= '0' && s[j] <= '9'; j++)
				;
			/* A digit run ends at a non-digit, a newline, or the end of the file. */
			if (j > i && j < len) {
				char num[32];
				uint64_t v;

				while (i < j - 1 && s[i] == '0')
					i++;
				if (j - i > 10 || (memcpy(num, s + i, j - i), num[j - i] = '\0',
						   !fuzz_ref_u64(num, j - i, &v)) || v > UINT32_MAX)
					ruid = UINT64_MAX;
				else
					ruid = v;
			}
		}
		pos = end + 1;
	}
	return ruid;
}

static int allowed(pid_t pid, uid_t uid, gid_t gid, uid_t fuid, gid_t fgid, mode_t mode, int mask)
{
	struct rcfs_caller c = { .pid = pid, .uid = uid, .gid = gid };
	struct stat st = { .st_uid = fuid, .st_gid = fgid, .st_mode = S_IFREG | mode };
	int ret = rcfs_access_check(&ctx, &c, &st, mask);

	FUZZ_CHECK(ret == 0 || ret == -EACCES, "rcfs_access_check returns 0 or -EACCES only");
	return ret == 0;
}

/* access(2) by a caller of this uid (not in group 4000; never the owner's 4000 here). */
static int real_allowed(pid_t pid, uid_t uid, mode_t mode, int mask)
{
	struct rcfs_caller c = { .pid = pid, .uid = uid, .gid = 3001 };
	struct stat st = { .st_uid = 4000, .st_gid = 4000, .st_mode = S_IFREG | mode };
	int ret = rcfs_access_check_real(&ctx, &c, &st, mask);

	FUZZ_CHECK(ret == 0 || ret == -EACCES, "rcfs_access_check_real returns 0 or -EACCES only");
	return ret == 0;
}

/* Which of DAC_OVERRIDE/DAC_READ_SEARCH access(2) lets this caller use, as a 2-bit mask
 * (bit 0: W_OK on a 0000 file, which only DAC_OVERRIDE grants; bit 1: R_OK there); also
 * checks that X_OK is granted on a 0100 file exactly with DAC_OVERRIDE and never on 0000. */
static unsigned real_caps(pid_t pid, uid_t uid)
{
	int w = real_allowed(pid, uid, 0000, W_OK), r = real_allowed(pid, uid, 0000, R_OK);

	FUZZ_CHECK(!real_allowed(pid, uid, 0000, X_OK), "access(2) X_OK granted without any execute bit");
	FUZZ_CHECK(real_allowed(pid, uid, 0100, X_OK) == w,
		   "access(2) X_OK on a 0100 file differs from W_OK on a 0000 file (both DAC_OVERRIDE)");
	FUZZ_CHECK(!w || r, "access(2) grants W_OK but not R_OK on a 0000 file");
	return (unsigned)w | (unsigned)r << 1;
}

/* The same 2-bit mask expected from a capability set. */
static unsigned caps_mask(uint64_t caps)
{
	unsigned over = (unsigned)(caps >> CAP_DAC_OVERRIDE & 1);

	return over | (over | (unsigned)(caps >> CAP_DAC_READ_SEARCH & 1)) << 1;
}

/* The mask rcfs_access_check (effective capabilities) gives the same caller. */
static unsigned eff_caps(pid_t pid, uid_t uid)
{
	return (unsigned)allowed(pid, uid, 3001, 4000, 4000, 0000, W_OK) |
	       (unsigned)allowed(pid, uid, 3001, 4000, 4000, 0000, R_OK) << 1;
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
	uint64_t capeff = 0, capprm = 0, ruid = UINT64_MAX;
	uint32_t other = 0;

	if (!structured) {
		add(&t, (const char *)r.p, r.n);
		exp_group = ref_in_group(t.s ? t.s : "", t.len, want);
	} else {
		size_t ngroups = (size_t)rd(&r, 2) % 1024, at = (size_t)rd(&r, 2);
		int member = (int)(rd(&r, 1) & 1), trailing = (int)(rd(&r, 1) & 1);
		uint64_t lcg = rd(&r, 8) | 1;
		unsigned uid_sel;

		capeff = rd(&r, 8);
		capprm = rd(&r, 8);
		uid_sel = (unsigned)rd(&r, 1) & 3;
		other = (uint32_t)rd(&r, 4);
		add(&t, "Name:\tfake\n", 11);
		noise(&t, &r);
		if (uid_sel < 3) {
			ruid = uid_sel == 0 ? 0 : uid_sel == 1 ? 3000 : other;
			/* The effective, saved and fs uids differ: only the first one is the real uid. */
			addf(&t, "Uid:\t%llu", ruid);
			addf(&t, "\t%llu", ruid ^ 1);
			addf(&t, "\t%llu", ruid ^ 2);
			addf(&t, "\t%llu\n", 0);
		}
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
		addf(&t, "CapPrm:\t%016llx\n", capprm);
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
		/* access(2): uid 0, the caller's 3000, and the input's other uid. */
		for (int i = 0; i < 3; i++) {
			uid_t u = i == 0 ? 0 : i == 1 ? 3000 : other;
			uint64_t caps = ruid != (uint64_t)u ? capeff : u == 0 ? capprm : 0;

			if (u == 4000) /* the file's owner: its own bits decide, not capabilities */
				continue;
			FUZZ_CHECK(real_caps(1, u) == caps_mask(caps),
				   "access(2) capabilities differ from the rule (real uid 0: CapPrm; other "
				   "real uid: none; not the real uid: CapEff)");
			FUZZ_CHECK(real_caps(2, u) == 0,
				   "access(2) counted a capability in another user namespace");
		}
	} else {
		const char *txt = t.s ? t.s : "";
		uint64_t ref = ref_real_uid(txt, t.len);
		uid_t us[4] = { 0, 3000, (uid_t)want, (uid_t)ref };

		for (int i = 0; i < 4; i++) {
			uid_t u = us[i];
			unsigned got;

			if ((i == 3 && ref == UINT64_MAX) || u == 4000)
				continue;
			got = real_caps(1, u);
			FUZZ_CHECK(real_caps(2, u) == 0,
				   "access(2) counted a capability in another user namespace");
			if (ref != (uint64_t)u)
				FUZZ_CHECK(got == eff_caps(1, u),
					   "access(2) by a caller that is not the real uid differs from "
					   "the effective check");
			else if (u != 0)
				FUZZ_CHECK(got == 0, "access(2) gave a non-root real uid a capability");
			else if (!has_line(txt, t.len, "CapPrm:"))
				FUZZ_CHECK(got == 0, "access(2) gave a real root a capability without CapPrm");
		}
	}
	if (!structured && !has_line(t.s ? t.s : "", t.len, "CapEff:")) {
		FUZZ_CHECK(!allowed(1, 3000, 3000, 4000, 4000, 0000, W_OK) &&
				   !allowed(1, 3000, 3000, 4000, 4000, 0000, R_OK) &&
				   !setattr_allowed(1, RCFS_SET_UID) && !setattr_allowed(1, RCFS_SET_MODE),
			   "a capability granted without a CapEff line");
	}
	free(t.s);
	return 0;
}
