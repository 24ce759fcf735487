/* Permission checks the daemon makes itself, in every mode: rcfs_access_check,
 * rcfs_access_check_real (access(2): real uid, capabilities only for a real uid 0, then CapPrm),
 * rcfs_setattr_check, and rcfs_open/rcfs_setattr/rcfs_access, which always check. Callers'
 * credentials come from a fake procfs: <pid>/status (Uid:, Groups:, CapPrm:, CapEff:) and
 * <pid>/ns/user, whose link text must be the daemon's own user namespace for capabilities to
 * count. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../core/access.h"
#include "../../core/fileops.h"
#include "../../core/io.h"
#include "helpers.h"
#include "helpers2.h"

TestSuite(access, .fini = h2_cleanup);
TestSuite(setattr_check, .fini = h2_cleanup);
TestSuite(access_open, .fini = h2_cleanup);
TestSuite(access_real, .fini = h2_cleanup);

/* Capability bits (linux/capability.h). */
#define CAP(n) (1ull << (n))
#define C_CHOWN CAP(0)
#define C_DAC_OVERRIDE CAP(1)
#define C_DAC_READ_SEARCH CAP(2)
#define C_FOWNER CAP(3)
#define C_ALL 0x000001ffffffffffull

#define PID 100

static struct th_env env;

static const char tmpl[] = "nameserver 192.0.2.1\n";

static void setup(void)
{
	th_env_setup(&env, NULL, tmpl, sizeof(tmpl) - 1, 0644);
	th_fake_ns(env.procfs, PID, "net:[1]");
}

/* <PID>/status as the kernel prints it (CapEff with 16 hex digits), groups a string such as
 * "10 20" (NULL: no Groups line). */
static void status(const char *groups, unsigned long long capeff)
{
	char text[1024], rel[64];
	int n = 0;

	n += snprintf(text + n, sizeof(text) - (size_t)n,
		      "Name:\tcaller\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t%d\nPid:\t%d\n"
		      "Uid:\t1000\t1000\t1000\t1000\nGid:\t1000\t1000\t1000\t1000\nFDSize:\t64\n",
		      PID, PID);
	if (groups)
		n += snprintf(text + n, sizeof(text) - (size_t)n, "Groups:\t%s\n", groups);
	n += snprintf(text + n, sizeof(text) - (size_t)n,
		      "NStgid:\t%d\nVmRSS:\t   1234 kB\nCapInh:\t0000000000000000\n"
		      "CapPrm:\t%016llx\nCapEff:\t%016llx\nCapBnd:\t000001ffffffffff\n"
		      "NoNewPrivs:\t0\nSeccomp:\t0\n",
		      PID, capeff, capeff);
	snprintf(rel, sizeof(rel), "%d/status", PID);
	h2_fake_file(env.procfs, rel, text);
}

/* <PID>/ns/user: ours (capabilities count) or another user namespace's. */
static void userns(int ours)
{
	char link[64], rel[64];

	if (ours)
		h2_own_link("user", link);
	else
		snprintf(link, sizeof(link), "user:[4026599999]");
	snprintf(rel, sizeof(rel), "%d/ns/user", PID);
	h2_fake_link(env.procfs, rel, link);
}

static struct rcfs_caller who(uid_t uid, gid_t gid)
{
	struct rcfs_caller c = { .pid = PID, .uid = uid, .gid = gid };

	return c;
}

static struct stat file(uid_t uid, gid_t gid, mode_t mode)
{
	struct stat st;

	memset(&st, 0, sizeof(st));
	st.st_mode = S_IFREG | mode;
	st.st_uid = uid;
	st.st_gid = gid;
	return st;
}

static int check(struct rcfs_caller c, struct stat st, int mask)
{
	return rcfs_access_check(&env.ctx, &c, &st, mask);
}

#define ALLOW(c, st, mask) cr_expect_eq(check(c, st, mask), 0, "line %d: mask %d denied", __LINE__, mask)
#define DENY(c, st, mask) cr_expect_eq(check(c, st, mask), -EACCES, "line %d: mask %d allowed", __LINE__, mask)

/* ----- rcfs_access_check --------------------------------------------------------------------- */

Test(access, owner_uses_only_the_owner_bits)
{
	struct rcfs_caller c = who(1000, 1000);

	setup();
	/* Group and other could do everything: the owner still gets only its own triad. */
	DENY(c, file(1000, 1000, 0077), R_OK);
	DENY(c, file(1000, 1000, 0077), W_OK);
	DENY(c, file(1000, 1000, 0077), X_OK);
	ALLOW(c, file(1000, 1000, 0700), R_OK | W_OK | X_OK);
	ALLOW(c, file(1000, 2000, 0400), R_OK);
	DENY(c, file(1000, 2000, 0477), W_OK);
	DENY(c, file(1000, 2000, 0477), R_OK | W_OK);
	ALLOW(c, file(1000, 2000, 0600), R_OK | W_OK);
	DENY(c, file(1000, 2000, 0600), X_OK);
	ALLOW(c, file(1000, 2000, 0100), X_OK);
	ALLOW(c, file(1000, 2000, 0000), F_OK);
	th_env_teardown(&env);
}

Test(access, primary_group_uses_only_the_group_bits)
{
	struct rcfs_caller c = who(1000, 2000);

	setup();
	ALLOW(c, file(1, 2000, 0070), R_OK | W_OK | X_OK);
	ALLOW(c, file(1, 2000, 0040), R_OK);
	DENY(c, file(1, 2000, 0040), W_OK);
	/* Other may read, the group may not: a group member may not. */
	DENY(c, file(1, 2000, 0604), R_OK);
	DENY(c, file(1, 2000, 0707), R_OK | W_OK);
	ALLOW(c, file(1, 2000, 0064), R_OK | W_OK);
	th_env_teardown(&env);
}

Test(access, supplementary_group_from_status)
{
	struct rcfs_caller c = who(1000, 1000);

	setup();
	userns(1);
	status("10 2000 30", 0);
	ALLOW(c, file(1, 2000, 0060), R_OK | W_OK);
	DENY(c, file(1, 2000, 0604), R_OK);
	DENY(c, file(1, 2001, 0060), R_OK);
	ALLOW(c, file(1, 10, 0040), R_OK);
	ALLOW(c, file(1, 30, 0020), W_OK);

	/* Numbers are compared whole: 20000 and 200 are not 2000. */
	status("20000 200 12000", 0);
	DENY(c, file(1, 2000, 0060), R_OK);
	/* Empty list. */
	status("", 0);
	DENY(c, file(1, 2000, 0060), R_OK);
	/* Missing line. */
	status(NULL, 0);
	DENY(c, file(1, 2000, 0060), R_OK);
	/* The group last in a file without a final newline. */
	h2_fake_file(env.procfs, "100/status", "Name:\tx\nGroups:\t5 2000");
	ALLOW(c, file(1, 2000, 0060), R_OK);
	/* A single group, tab separated lines as the kernel prints them. */
	h2_fake_file(env.procfs, "100/status", "Groups:\t2000 \nCapEff:\t0000000000000000\n");
	ALLOW(c, file(1, 2000, 0060), R_OK);
	/* Other bits when group and other agree need no status at all. */
	h2_fake_file(env.procfs, "100/status", "");
	ALLOW(c, file(1, 2000, 0066), R_OK | W_OK);
	th_env_teardown(&env);
}

Test(access, other_bits)
{
	struct rcfs_caller c = who(1000, 1000);

	setup();
	userns(1);
	status("10 20", 0);
	ALLOW(c, file(1, 2000, 0007), R_OK | W_OK | X_OK);
	ALLOW(c, file(1, 2000, 0004), R_OK);
	DENY(c, file(1, 2000, 0004), W_OK);
	DENY(c, file(1, 2000, 0770), R_OK);
	DENY(c, file(1, 2000, 0000), R_OK);
	th_env_teardown(&env);
}

Test(access, root_with_cap_dac_override)
{
	struct rcfs_caller root = who(0, 0);

	setup();
	userns(1);
	status("0", C_ALL);
	ALLOW(root, file(1000, 1000, 0000), R_OK);
	ALLOW(root, file(1000, 1000, 0000), W_OK);
	ALLOW(root, file(1000, 1000, 0000), R_OK | W_OK);
	/* Execute needs some execute bit even with DAC override. */
	DENY(root, file(1000, 1000, 0000), X_OK);
	DENY(root, file(1000, 1000, 0666), X_OK);
	ALLOW(root, file(1000, 1000, 0001), X_OK);
	ALLOW(root, file(1000, 1000, 0010), X_OK);
	ALLOW(root, file(1000, 1000, 0100), X_OK | R_OK | W_OK);

	/* Only CAP_DAC_OVERRIDE. */
	status("0", C_DAC_OVERRIDE);
	ALLOW(root, file(1000, 1000, 0000), R_OK | W_OK);
	DENY(root, file(1000, 1000, 0000), X_OK);
	th_env_teardown(&env);
}

Test(access, uid0_without_capabilities_is_an_ordinary_user)
{
	struct rcfs_caller root = who(0, 0);

	setup();
	userns(1);
	status("0", 0);
	DENY(root, file(1000, 1000, 0000), R_OK);
	DENY(root, file(1000, 1000, 0644), W_OK);
	ALLOW(root, file(1000, 1000, 0644), R_OK);
	/* Owning the file, uid 0 gets the owner bits like anyone. */
	DENY(root, file(0, 0, 0444), W_OK);
	ALLOW(root, file(0, 0, 0644), W_OK);
	/* CAP_FOWNER and CAP_CHOWN do not override permission bits. */
	status("0", C_FOWNER | C_CHOWN);
	DENY(root, file(1000, 1000, 0000), R_OK);
	th_env_teardown(&env);
}

Test(access, cap_dac_read_search_is_for_reading_only)
{
	struct rcfs_caller c = who(1000, 1000);

	setup();
	userns(1);
	status("1000", C_DAC_READ_SEARCH);
	ALLOW(c, file(1, 1, 0000), R_OK);
	DENY(c, file(1, 1, 0000), W_OK);
	DENY(c, file(1, 1, 0000), R_OK | W_OK);
	DENY(c, file(1, 1, 0000), X_OK);
	DENY(c, file(1, 1, 0111), R_OK | X_OK);
	ALLOW(c, file(1, 1, 0001), X_OK);
	th_env_teardown(&env);
}

Test(access, capabilities_of_another_user_namespace_are_ignored)
{
	struct rcfs_caller root = who(0, 0);

	setup();
	status("0", C_ALL);
	/* No ns/user link at all. */
	DENY(root, file(1000, 1000, 0000), R_OK);
	/* Another user namespace. */
	userns(0);
	DENY(root, file(1000, 1000, 0000), R_OK);
	DENY(root, file(1000, 1000, 0000), W_OK);
	DENY(root, file(1000, 1000, 0100), X_OK);
	/* A garbled link. */
	h2_fake_link(env.procfs, "100/ns/user", "user:[abc]");
	DENY(root, file(1000, 1000, 0000), R_OK);
	h2_fake_link(env.procfs, "100/ns/user", "net:[4026531840]");
	DENY(root, file(1000, 1000, 0000), R_OK);
	/* Back in our own: allowed again. */
	userns(1);
	ALLOW(root, file(1000, 1000, 0000), R_OK | W_OK);
	/* Supplementary groups still count in another user namespace (they are plain gids). */
	userns(0);
	status("2000", C_ALL);
	ALLOW(who(1000, 1000), file(1, 2000, 0060), R_OK | W_OK);
	th_env_teardown(&env);
}

Test(access, unreadable_status_denies)
{
	struct rcfs_caller c = who(1000, 1000), root = who(0, 0), gone = { .pid = 555, .uid = 1000, .gid = 1000 };
	char path[PATH_MAX];

	setup();
	userns(1);
	/* No status file. */
	DENY(c, file(1, 2000, 0060), R_OK);
	DENY(root, file(1, 2000, 0000), R_OK);
	/* A directory where status should be. */
	th_pathf(path, "%s/%d/status", env.procfs, PID);
	cr_assert_eq(mkdir(path, 0755), 0);
	DENY(c, file(1, 2000, 0060), R_OK);
	DENY(root, file(1, 2000, 0000), R_OK);
	cr_assert_eq(rmdir(path), 0);
	/* A dangling symlink. */
	cr_assert_eq(symlink("nowhere", path), 0);
	DENY(root, file(1, 2000, 0000), R_OK);
	/* A process that is gone: mode bits alone still decide. */
	cr_assert_eq(rcfs_access_check(&env.ctx, &gone, &(struct stat){ .st_mode = S_IFREG | 0004,
									     .st_uid = 1, .st_gid = 2 }, R_OK), 0);
	cr_assert_eq(rcfs_access_check(&env.ctx, &gone, &(struct stat){ .st_mode = S_IFREG | 0040,
									     .st_uid = 1, .st_gid = 2 }, R_OK), -EACCES);
	th_env_teardown(&env);
}

/* A status file the daemon cannot read (mode 0000, daemon not root): no groups, no capabilities.
 * Runs in a child that drops to nobody. */
static int unreadable_as_nobody(void *unused)
{
	struct rcfs_caller c = who(1000, 1000), root = who(0, 0);
	struct stat grp = file(1, 2000, 0060), none = file(1, 2000, 0000);
	int r1, r2;

	(void)unused;
	if (th_drop_to_nobody())
		return th_child_fail(1, "cannot drop privileges");
	r1 = rcfs_access_check(&env.ctx, &c, &grp, R_OK);
	r2 = rcfs_access_check(&env.ctx, &root, &none, R_OK);
	if (r1 != -EACCES || r2 != -EACCES)
		return th_child_fail(1, "group check %d, capability check %d: want -EACCES both", r1, r2);
	return 0;
}

static int readable_as_nobody(void *unused)
{
	struct rcfs_caller c = who(1000, 1000), root = who(0, 0);
	struct stat grp = file(1, 2000, 0060), none = file(1, 2000, 0000);
	int r1, r2;

	(void)unused;
	if (th_drop_to_nobody())
		return th_child_fail(1, "cannot drop privileges");
	r1 = rcfs_access_check(&env.ctx, &c, &grp, R_OK);
	r2 = rcfs_access_check(&env.ctx, &root, &none, R_OK);
	if (r1 != 0 || r2 != 0)
		return th_child_fail(1, "group check %d, capability check %d: want 0 both", r1, r2);
	return 0;
}

Test(access, status_unreadable_for_the_daemon_denies)
{
	char path[PATH_MAX];
	int code;

	if (geteuid() != 0)
		cr_skip_test("needs root to make a status file others cannot read");
	setup();
	userns(1);
	status("2000", C_ALL);
	cr_assert_eq(chmod(env.root, 0755), 0);
	th_pathf(path, "%s/%d/status", env.procfs, PID);
	/* Control: readable, the same checks pass. */
	code = th_run_child(0, readable_as_nobody, NULL);
	cr_assert_eq(code, 0, "child failed (status %d), see its message above", code);
	cr_assert_eq(chmod(path, 0000), 0);
	code = th_run_child(0, unreadable_as_nobody, NULL);
	cr_assert_eq(code, 0, "child failed (status %d), see its message above", code);
	th_env_teardown(&env);
}

Test(access, rcfs_access_uses_the_callers_backing_file)
{
	if (geteuid() != 0)
		cr_skip_test("needs real root: chown to another uid");
	struct rcfs_caller c = who(1000, 1000);
	char path[PATH_MAX];

	setup();
	th_backing_path(&env, "1.conf", path);
	th_write_file(path, "x", 1, 0640);
	cr_assert_eq(chown(path, 1000, 5), 0);
	cr_assert_eq(rcfs_access(&env.ctx, &c, F_OK), 0);
	cr_assert_eq(rcfs_access(&env.ctx, &c, R_OK | W_OK), 0);
	cr_assert_eq(rcfs_access(&env.ctx, &c, X_OK), -EACCES);
	c.uid = 1001;
	cr_assert_eq(rcfs_access(&env.ctx, &c, R_OK), -EACCES);
	c.gid = 5;
	cr_assert_eq(rcfs_access(&env.ctx, &c, R_OK), 0);
	cr_assert_eq(rcfs_access(&env.ctx, &c, W_OK), -EACCES);
	/* F_OK creates a missing file from the template, as stat does. */
	th_fake_ns(env.procfs, 200, "net:[2]");
	c.pid = 200;
	cr_assert_eq(rcfs_access(&env.ctx, &c, F_OK), 0);
	th_backing_path(&env, "2.conf", path);
	cr_assert(h2_exists(path));
	/* A caller that is gone. */
	c.pid = 300;
	cr_assert_eq(rcfs_access(&env.ctx, &c, F_OK), -ESRCH);
	th_env_teardown(&env);
}

/* ----- rcfs_access_check_real: access(2) ------------------------------------------------------ */

/* <PID>/status of a process whose real uid is ruid and whose effective, saved and fs uids are
 * 0 (a set-uid-root program, for instance), with the given permitted and effective sets. */
static void status_real(unsigned ruid, unsigned long long capprm, unsigned long long capeff)
{
	char text[1024], rel[64];

	snprintf(text, sizeof(text),
		 "Name:\tcaller\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t%d\nPid:\t%d\n"
		 "Uid:\t%u\t0\t0\t0\nGid:\t%u\t%u\t%u\t%u\nFDSize:\t64\nGroups:\t%u\n"
		 "CapInh:\t0000000000000000\nCapPrm:\t%016llx\nCapEff:\t%016llx\n"
		 "CapBnd:\t000001ffffffffff\nCapAmb:\t0000000000000000\n",
		 PID, PID, ruid, ruid, ruid, ruid, ruid, ruid, capprm, capeff);
	snprintf(rel, sizeof(rel), "%d/status", PID);
	h2_fake_file(env.procfs, rel, text);
}

static int check_real(struct rcfs_caller c, struct stat st, int mask)
{
	return rcfs_access_check_real(&env.ctx, &c, &st, mask);
}

#define ALLOW_REAL(c, st, mask) \
	cr_expect_eq(check_real(c, st, mask), 0, "line %d: access(2) mask %d denied", __LINE__, mask)
#define DENY_REAL(c, st, mask) \
	cr_expect_eq(check_real(c, st, mask), -EACCES, "line %d: access(2) mask %d allowed", __LINE__, mask)

/* access(2) asks with the real uid, and the kernel grants a non-root real uid no capability
 * at all: a set-uid-root program run by nobody may open a root 0644 file for writing, but
 * access(W_OK) must say no, whatever CapEff (and CapPrm) say. */
Test(access_real, non_root_real_uid_gets_no_capability)
{
	struct rcfs_caller nobody = who(65534, 65534);

	setup();
	userns(1);
	status_real(65534, C_ALL, C_ALL);
	DENY_REAL(nobody, file(0, 0, 0644), W_OK);
	DENY_REAL(nobody, file(0, 0, 0644), R_OK | W_OK);
	DENY_REAL(nobody, file(0, 0, 0600), R_OK);
	DENY_REAL(nobody, file(0, 0, 0000), R_OK);
	DENY_REAL(nobody, file(0, 0, 0700), X_OK);
	/* What the mode bits give stays. */
	ALLOW_REAL(nobody, file(0, 0, 0644), R_OK);
	ALLOW_REAL(nobody, file(0, 0, 0644), F_OK);
	ALLOW_REAL(nobody, file(65534, 0, 0600), R_OK | W_OK);
	/* The effective check (open) of the same caller does use CapEff. */
	ALLOW(nobody, file(0, 0, 0644), W_OK);
	ALLOW(nobody, file(0, 0, 0000), R_OK | W_OK);
	th_env_teardown(&env);
}

/* A real root uses its permitted set (the kernel's access_override_creds), not the effective. */
Test(access_real, real_root_uses_the_permitted_set)
{
	struct rcfs_caller root = who(0, 0);

	setup();
	userns(1);
	status_real(0, C_DAC_OVERRIDE, 0);
	ALLOW_REAL(root, file(1000, 1000, 0000), R_OK | W_OK);
	ALLOW_REAL(root, file(1000, 1000, 0100), X_OK);
	DENY_REAL(root, file(1000, 1000, 0000), X_OK);
	DENY(root, file(1000, 1000, 0000), W_OK); /* open: no effective capability */
	status_real(0, 0, C_ALL);
	DENY_REAL(root, file(1000, 1000, 0000), W_OK);
	DENY_REAL(root, file(1000, 1000, 0000), R_OK);
	ALLOW(root, file(1000, 1000, 0000), W_OK);
	status_real(0, C_DAC_READ_SEARCH, 0);
	ALLOW_REAL(root, file(1000, 1000, 0000), R_OK);
	DENY_REAL(root, file(1000, 1000, 0000), W_OK);
	DENY_REAL(root, file(1000, 1000, 0000), R_OK | W_OK);
	/* CAP_FOWNER or CAP_CHOWN are no DAC override. */
	status_real(0, C_FOWNER | C_CHOWN, 0);
	DENY_REAL(root, file(1000, 1000, 0000), R_OK);
	th_env_teardown(&env);
}

/* faccessat(AT_EACCESS) asks with the effective uid, which then differs from the real uid: the
 * effective set counts, as for an open. */
Test(access_real, faccessat_eaccess_uses_the_effective_set)
{
	struct rcfs_caller euid0 = who(0, 0);

	setup();
	userns(1);
	status_real(1000, 0, C_ALL);
	ALLOW_REAL(euid0, file(1000, 1000, 0000), R_OK | W_OK);
	status_real(1000, C_ALL, 0);
	DENY_REAL(euid0, file(2000, 2000, 0000), W_OK);
	th_env_teardown(&env);
}

Test(access_real, capabilities_of_another_user_namespace_are_ignored)
{
	struct rcfs_caller root = who(0, 0);

	setup();
	status_real(0, C_ALL, C_ALL);
	userns(0);
	DENY_REAL(root, file(1000, 1000, 0000), R_OK);
	DENY_REAL(root, file(1000, 1000, 0000), W_OK);
	userns(1);
	ALLOW_REAL(root, file(1000, 1000, 0000), R_OK | W_OK);
	th_env_teardown(&env);
}

/* The Uid line as the kernel prints it decides; an unreadable one leaves the real uid unknown,
 * and then the answer is never more than the effective check's. */
Test(access_real, uid_line_parsing)
{
	struct rcfs_caller root = who(0, 0), u5 = who(5, 5);
	struct stat none = file(1000, 1000, 0000);

	setup();
	userns(1);
	/* Leading zeros: still uid 0. */
	h2_fake_file(env.procfs, "100/status", "Uid:\t000\t0\t0\t0\nCapPrm:\t0000000000000002\n"
						"CapEff:\t0000000000000000\n");
	ALLOW_REAL(root, none, W_OK);
	/* Beyond 32 bits: no uid, so not uid 0. */
	h2_fake_file(env.procfs, "100/status", "Uid:\t4294967296\t0\t0\t0\n"
						"CapPrm:\t0000000000000002\nCapEff:\t0000000000000000\n");
	DENY_REAL(root, none, W_OK);
	cr_expect_eq(check_real(root, none, W_OK), check(root, none, W_OK));
	/* Real uid 5 (effective 0), caller 5: no capability at all. */
	h2_fake_file(env.procfs, "100/status", "CapEff:\t000001ffffffffff\nCapPrm:\t000001ffffffffff\n"
						"Uid:\t5\t0\t0\t0\n");
	DENY_REAL(u5, none, R_OK);
	ALLOW(u5, none, R_OK | W_OK);
	/* No Uid line, or one without a number: the effective check's answer. */
	h2_fake_file(env.procfs, "100/status", "CapPrm:\t0000000000000000\nCapEff:\t0000000000000002\n");
	cr_expect_eq(check_real(u5, none, W_OK), check(u5, none, W_OK));
	h2_fake_file(env.procfs, "100/status", "Uid:\t\nCapPrm:\t0000000000000002\n"
						"CapEff:\t0000000000000000\n");
	cr_expect_eq(check_real(root, none, W_OK), check(root, none, W_OK));
	DENY_REAL(root, none, W_OK);
	/* No status at all: nothing. */
	h2_fake_file(env.procfs, "100/status", "");
	DENY_REAL(root, none, R_OK);
	th_env_teardown(&env);
}

/* rcfs_access (access(2) on the mount) decides with the real uid on the caller's own file. */
Test(access_real, rcfs_access_uses_the_real_uid)
{
	char path[PATH_MAX];
	struct rcfs_caller c;
	struct stat st;

	setup();
	userns(1);
	th_backing_path(&env, "1.conf", path);
	th_write_file(path, "x\n", 2, 0644);
	cr_assert_eq(stat(path, &st), 0);
	/* Whoever owns it (root, or the user running the tests): a caller of another uid. */
	c = who(st.st_uid == 65534 ? 65533 : 65534, 65534);
	status_real(c.uid, C_ALL, C_ALL);
	cr_expect_eq(rcfs_access(&env.ctx, &c, W_OK), -EACCES);
	cr_expect_eq(rcfs_access(&env.ctx, &c, R_OK), 0);
	cr_expect_eq(rcfs_access(&env.ctx, &c, F_OK), 0);
	/* Open decides with the effective set: allowed. */
	{
		int fd = rcfs_open(&env.ctx, &c, O_WRONLY);

		cr_expect_geq(fd, 0, "rcfs_open: %s", strerror(-fd));
		if (fd >= 0)
			rcfs_close(fd);
	}
	/* A real root without write permission: only its permitted set helps. */
	cr_assert_eq(chmod(path, 0444), 0);
	c = who(0, 0);
	if (st.st_uid == 0)
		cr_assert_eq(chmod(path, 0044), 0); /* root owns it: its own bits must not allow */
	status_real(0, C_DAC_OVERRIDE, 0);
	cr_expect_eq(rcfs_access(&env.ctx, &c, W_OK), 0);
	status_real(0, 0, C_ALL);
	cr_expect_eq(rcfs_access(&env.ctx, &c, W_OK), -EACCES);
	th_env_teardown(&env);
}

/* ----- rcfs_setattr_check -------------------------------------------------------------------- */

static struct rcfs_setattr change(unsigned valid)
{
	struct rcfs_setattr sa;

	memset(&sa, 0, sizeof(sa));
	sa.valid = valid;
	return sa;
}

static int sacheck(struct rcfs_caller c, int with_fd, struct stat st, struct rcfs_setattr sa)
{
	return rcfs_setattr_check(&env.ctx, &c, with_fd, &st, &sa);
}

Test(setattr_check, chmod_owner_or_cap_fowner)
{
	struct rcfs_setattr sa = change(RCFS_SET_MODE);
	struct stat st = file(1000, 1000, 0644);

	setup();
	userns(1);
	status("", 0);
	sa.mode = 0600;
	cr_expect_eq(sacheck(who(1000, 1000), 0, st, sa), 0);
	cr_expect_eq(sacheck(who(1000, 1000), 1, st, sa), 0);
	/* Even a file the owner cannot write. */
	cr_expect_eq(sacheck(who(1000, 1000), 0, file(1000, 1000, 0000), sa), 0);
	/* Not the owner, even with write access. */
	cr_expect_eq(sacheck(who(1001, 1000), 0, file(1000, 1000, 0666), sa), -EPERM);
	cr_expect_eq(sacheck(who(0, 0), 0, st, sa), -EPERM);
	/* CAP_FOWNER. */
	status("", C_FOWNER);
	cr_expect_eq(sacheck(who(0, 0), 0, st, sa), 0);
	cr_expect_eq(sacheck(who(1001, 1001), 0, st, sa), 0);
	/* DAC override is not ownership. */
	status("", C_DAC_OVERRIDE | C_CHOWN);
	cr_expect_eq(sacheck(who(0, 0), 0, st, sa), -EPERM);
	/* CAP_FOWNER from another user namespace. */
	status("", C_ALL);
	userns(0);
	cr_expect_eq(sacheck(who(0, 0), 0, st, sa), -EPERM);
	th_env_teardown(&env);
}

Test(setattr_check, chown_uid_needs_cap_chown)
{
	struct rcfs_setattr sa = change(RCFS_SET_UID);
	struct stat st = file(1000, 1000, 0644);

	setup();
	userns(1);
	status("", C_ALL & ~C_CHOWN);
	sa.uid = 1001;
	/* Giving a file away needs CAP_CHOWN, also for the owner. */
	cr_expect_eq(sacheck(who(1000, 1000), 0, st, sa), -EPERM);
	cr_expect_eq(sacheck(who(0, 0), 0, st, sa), -EPERM);
	cr_expect_eq(sacheck(who(0, 0), 1, st, sa), -EPERM);
	/* The owner "changing" to itself is fine. */
	sa.uid = 1000;
	cr_expect_eq(sacheck(who(1000, 1000), 0, st, sa), 0);
	status("", C_CHOWN);
	sa.uid = 1001;
	cr_expect_eq(sacheck(who(0, 0), 0, st, sa), 0);
	cr_expect_eq(sacheck(who(1002, 1002), 0, st, sa), 0);
	/* CAP_CHOWN of another user namespace does not count. */
	userns(0);
	cr_expect_eq(sacheck(who(0, 0), 0, st, sa), -EPERM);
	th_env_teardown(&env);
}

Test(setattr_check, chgrp_by_owner_to_its_own_groups)
{
	struct rcfs_setattr sa = change(RCFS_SET_GID);
	struct stat st = file(1000, 1000, 0644);

	setup();
	userns(1);
	status("1000 3000 4000", 0);
	/* To the owner's primary group (the caller's gid). */
	sa.gid = 2000;
	cr_expect_eq(sacheck(who(1000, 2000), 0, st, sa), 0);
	/* To a supplementary group. */
	sa.gid = 3000;
	cr_expect_eq(sacheck(who(1000, 1000), 0, st, sa), 0);
	sa.gid = 4000;
	cr_expect_eq(sacheck(who(1000, 1000), 1, st, sa), 0);
	/* To a group the owner is not in. */
	sa.gid = 5000;
	cr_expect_eq(sacheck(who(1000, 1000), 0, st, sa), -EPERM);
	sa.gid = 300; /* a prefix of 3000 is not 3000 */
	cr_expect_eq(sacheck(who(1000, 1000), 0, st, sa), -EPERM);
	/* Not the owner, even to its own group. */
	sa.gid = 3000;
	cr_expect_eq(sacheck(who(1001, 3000), 0, st, sa), -EPERM);
	/* Unchanged gid by the owner. */
	sa.gid = 1000;
	cr_expect_eq(sacheck(who(1000, 7), 0, st, sa), 0);
	/* CAP_CHOWN: anyone, any group. */
	status("", C_CHOWN);
	sa.gid = 5000;
	cr_expect_eq(sacheck(who(1001, 1001), 0, st, sa), 0);
	userns(0);
	cr_expect_eq(sacheck(who(1001, 1001), 0, st, sa), -EPERM);
	/* Both at once: the uid part still needs CAP_CHOWN. */
	userns(1);
	status("3000", 0);
	sa = change(RCFS_SET_UID | RCFS_SET_GID);
	sa.uid = 1000;
	sa.gid = 3000;
	cr_expect_eq(sacheck(who(1000, 1000), 0, st, sa), 0);
	sa.uid = 1001;
	cr_expect_eq(sacheck(who(1000, 1000), 0, st, sa), -EPERM);
	th_env_teardown(&env);
}

/* chown(2) and fchownat(2) by a caller who does not own the file fail with EPERM even when the
 * new owner or group is the current one (kernel chown_ok/chgrp_ok: the "no change" shortcut is
 * for the owner only; checked on this kernel as nobody on a root-owned 0666 file). The daemon
 * lets the no-op through and then applies it as root, which updates the ctime (and would clear
 * set-id bits) of a file the caller does not own. */
Test(setattr_check, chown_to_current_owner_by_non_owner_is_eperm)
{
	struct rcfs_setattr sa = change(RCFS_SET_UID);
	struct stat st = file(1000, 1000, 0666);

	setup();
	userns(1);
	status("1000", 0);
	sa.uid = 1000;
	cr_expect_eq(sacheck(who(1001, 1000), 0, st, sa), -EPERM, "chown to the current uid by a non-owner");
	sa = change(RCFS_SET_GID);
	sa.gid = 1000;
	cr_expect_eq(sacheck(who(1001, 1000), 0, st, sa), -EPERM, "chgrp to the current gid by a non-owner");
	th_env_teardown(&env);
}

Test(setattr_check, truncate_by_name_needs_write_access)
{
	struct rcfs_setattr sa = change(RCFS_SET_SIZE);

	setup();
	userns(1);
	status("", 0);
	sa.size = 0;
	cr_expect_eq(sacheck(who(1001, 1001), 0, file(1000, 1000, 0644), sa), -EACCES);
	cr_expect_eq(sacheck(who(1001, 1001), 0, file(1000, 1000, 0666), sa), 0);
	cr_expect_eq(sacheck(who(1000, 1000), 0, file(1000, 1000, 0644), sa), 0);
	/* The owner without write permission may not either. */
	cr_expect_eq(sacheck(who(1000, 1000), 0, file(1000, 1000, 0444), sa), -EACCES);
	/* Through a handle the kernel already checked the open for writing. */
	cr_expect_eq(sacheck(who(1001, 1001), 1, file(1000, 1000, 0644), sa), 0);
	cr_expect_eq(sacheck(who(1000, 1000), 1, file(1000, 1000, 0444), sa), 0);
	/* DAC override. */
	status("", C_DAC_OVERRIDE);
	cr_expect_eq(sacheck(who(0, 0), 0, file(1000, 1000, 0444), sa), 0);
	/* Read-search is not enough. */
	status("", C_DAC_READ_SEARCH);
	cr_expect_eq(sacheck(who(0, 0), 0, file(1000, 1000, 0444), sa), -EACCES);
	th_env_teardown(&env);
}

Test(setattr_check, utimes_explicit_vs_now)
{
	struct rcfs_setattr expl = change(RCFS_SET_ATIME | RCFS_SET_MTIME);
	struct rcfs_setattr now = change(RCFS_SET_ATIME | RCFS_SET_MTIME);
	struct rcfs_setattr one_now = change(RCFS_SET_ATIME);
	struct rcfs_setattr m_only = change(RCFS_SET_MTIME);

	setup();
	userns(1);
	status("", 0);
	expl.atime = (struct timespec){ 1000, 1 };
	expl.mtime = (struct timespec){ 2000, 2 };
	now.atime.tv_nsec = UTIME_NOW;
	now.mtime.tv_nsec = UTIME_NOW;
	one_now.atime.tv_nsec = UTIME_NOW;
	m_only.mtime = (struct timespec){ 3000, 0 };

	/* Explicit times: the owner only (even without write access). */
	cr_expect_eq(sacheck(who(1000, 1000), 0, file(1000, 1000, 0444), expl), 0);
	cr_expect_eq(sacheck(who(1001, 1001), 0, file(1000, 1000, 0666), expl), -EPERM);
	cr_expect_eq(sacheck(who(1001, 1001), 1, file(1000, 1000, 0666), expl), -EPERM);
	cr_expect_eq(sacheck(who(1001, 1001), 0, file(1000, 1000, 0666), m_only), -EPERM);
	/* Both to now: the owner, or anyone with write access. */
	cr_expect_eq(sacheck(who(1000, 1000), 0, file(1000, 1000, 0444), now), 0);
	cr_expect_eq(sacheck(who(1001, 1001), 0, file(1000, 1000, 0666), now), 0);
	cr_expect_eq(sacheck(who(1001, 1000), 0, file(1000, 1000, 0464), now), 0);
	cr_expect_eq(sacheck(who(1001, 1001), 0, file(1000, 1000, 0644), now), -EACCES);
	/* One time to now, the other left alone: not the "touch" case (the kernel says EPERM). */
	cr_expect_eq(sacheck(who(1001, 1001), 0, file(1000, 1000, 0666), one_now), -EPERM);
	cr_expect_eq(sacheck(who(1000, 1000), 0, file(1000, 1000, 0444), one_now), 0);
	/* CAP_FOWNER allows both kinds. */
	status("", C_FOWNER);
	cr_expect_eq(sacheck(who(0, 0), 0, file(1000, 1000, 0000), expl), 0);
	cr_expect_eq(sacheck(who(0, 0), 0, file(1000, 1000, 0000), now), 0);
	/* DAC override: now yes (write access), explicit no. */
	status("", C_DAC_OVERRIDE);
	cr_expect_eq(sacheck(who(0, 0), 0, file(1000, 1000, 0000), now), 0);
	cr_expect_eq(sacheck(who(0, 0), 0, file(1000, 1000, 0000), expl), -EPERM);
	th_env_teardown(&env);
}

Test(setattr_check, nothing_to_change_is_allowed)
{
	setup();
	cr_expect_eq(sacheck(who(1001, 1001), 0, file(1000, 1000, 0000), change(0)), 0);
	th_env_teardown(&env);
}

/* ----- rcfs_open / rcfs_setattr: the daemon always checks ----------------------------------- */

static void put(const char *name, const char *text, mode_t mode, uid_t uid, gid_t gid)
{
	char path[PATH_MAX];

	th_backing_path(&env, name, path);
	th_write_file(path, text, strlen(text), mode);
	cr_assert_eq(chown(path, uid, gid), 0);
}

static void assert_content(const char *name, const char *want)
{
	char path[PATH_MAX];
	size_t len;
	char *got;

	th_backing_path(&env, name, path);
	got = th_read_file(path, &len);
	cr_assert_str_eq(got, want, "%s", name);
	free(got);
}

Test(access_open, denied_o_trunc_does_not_truncate)
{
	if (geteuid() != 0)
		cr_skip_test("needs real root: chown to another uid");
	struct rcfs_caller c = who(1000, 1000);
	int fd;

	setup();
	userns(1);
	status("1000", 0);
	put("1.conf", "keep me\n", 0644, 0, 0);
	cr_assert_eq(rcfs_open(&env.ctx, &c, O_WRONLY | O_TRUNC), -EACCES);
	assert_content("1.conf", "keep me\n");
	cr_assert_eq(rcfs_open(&env.ctx, &c, O_RDWR | O_TRUNC), -EACCES);
	assert_content("1.conf", "keep me\n");
	/* O_RDONLY|O_TRUNC asks for write access too. */
	cr_assert_eq(rcfs_open(&env.ctx, &c, O_RDONLY | O_TRUNC), -EACCES);
	assert_content("1.conf", "keep me\n");
	cr_assert_eq(rcfs_open(&env.ctx, &c, O_WRONLY | O_APPEND), -EACCES);
	cr_assert_eq(rcfs_open(&env.ctx, &c, O_RDWR), -EACCES);
	assert_content("1.conf", "keep me\n");
	/* Reading is allowed. */
	fd = rcfs_open(&env.ctx, &c, O_RDONLY);
	cr_assert_geq(fd, 0);
	rcfs_close(fd);
	th_env_teardown(&env);
}

Test(access_open, allowed_o_trunc_truncates)
{
	if (geteuid() != 0)
		cr_skip_test("needs real root: chown to another uid");
	struct rcfs_caller owner = who(1000, 1000), root = who(0, 0), grp = who(1001, 1001);
	int fd;

	setup();
	userns(1);
	status("2000", 0);
	put("1.conf", "abc\n", 0640, 1000, 2000);
	fd = rcfs_open(&env.ctx, &owner, O_WRONLY | O_TRUNC);
	cr_assert_geq(fd, 0, "owner: %s", strerror(-fd));
	rcfs_close(fd);
	assert_content("1.conf", "");

	/* A supplementary group with read access only. */
	put("1.conf", "abc\n", 0640, 1000, 2000);
	cr_assert_eq(rcfs_open(&env.ctx, &grp, O_WRONLY | O_TRUNC), -EACCES);
	fd = rcfs_open(&env.ctx, &grp, O_RDONLY);
	cr_assert_geq(fd, 0);
	rcfs_close(fd);
	assert_content("1.conf", "abc\n");

	/* Root: only with CAP_DAC_OVERRIDE. */
	status("0", 0);
	cr_assert_eq(rcfs_open(&env.ctx, &root, O_WRONLY | O_TRUNC), -EACCES);
	assert_content("1.conf", "abc\n");
	status("0", C_DAC_OVERRIDE);
	fd = rcfs_open(&env.ctx, &root, O_WRONLY | O_TRUNC);
	cr_assert_geq(fd, 0);
	rcfs_close(fd);
	assert_content("1.conf", "");
	th_env_teardown(&env);
}

Test(access_open, missing_file_is_created_then_checked)
{
	struct rcfs_caller c = who(1000, 1000);
	int fd;

	setup();
	userns(1);
	status("", 0);
	/* The template's copy is root's 0644: readable, not writable for uid 1000. */
	cr_assert_eq(rcfs_open(&env.ctx, &c, O_WRONLY | O_TRUNC), -EACCES);
	assert_content("1.conf", tmpl);
	fd = rcfs_open(&env.ctx, &c, O_RDONLY);
	cr_assert_geq(fd, 0);
	rcfs_close(fd);
	th_env_teardown(&env);
}

Test(access_open, setattr_checks_before_changing)
{
	if (geteuid() != 0)
		cr_skip_test("needs real root: chown to another uid");
	struct rcfs_caller c = who(1001, 1001), owner = who(1000, 1000);
	struct rcfs_setattr sa = change(RCFS_SET_MODE);
	char path[PATH_MAX];
	struct stat st;

	setup();
	userns(1);
	status("", 0);
	put("1.conf", "abc\n", 0644, 1000, 1000);
	th_backing_path(&env, "1.conf", path);
	sa.mode = 0666;
	cr_assert_eq(rcfs_setattr(&env.ctx, &c, -1, &sa, &st), -EPERM);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_mode & 07777, 0644);
	sa = change(RCFS_SET_SIZE);
	cr_assert_eq(rcfs_setattr(&env.ctx, &c, -1, &sa, &st), -EACCES);
	assert_content("1.conf", "abc\n");
	cr_assert_eq(rcfs_setattr(&env.ctx, &owner, -1, &sa, &st), 0);
	cr_assert_eq(st.st_size, 0);
	th_env_teardown(&env);
}
