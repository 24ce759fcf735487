/* rcfs_nslink_parse: the security boundary between procfs link text and backing file names. */
#include <criterion/criterion.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/nslink.h"

#define SENTINEL UINT64_C(0xdeadbeefcafef00d)

/* Parse len bytes copied into a heap block of exactly that size (no terminating NUL), so that
 * any read past len shows up under AddressSanitizer and valgrind. */
static int parse_kind(const char *text, size_t len, const char *kind, uint64_t *id)
{
	char *copy = malloc(len ? len : 1);
	int ret;

	cr_assert_not_null(copy);
	memcpy(copy, text, len);
	ret = rcfs_nslink_parse(copy, len, kind, id);
	free(copy);
	return ret;
}

static int parse(const char *text, size_t len, uint64_t *id)
{
	return parse_kind(text, len, "net", id);
}

/* For string literals, which may contain NUL bytes: the length excludes the literal's own NUL. */
#define LIT(s) (s), (sizeof(s) - 1)

static void expect_ok(const char *text, size_t len, uint64_t want)
{
	uint64_t id = SENTINEL;
	int ret = parse(text, len, &id);

	cr_assert_eq(ret, 0, "'%.*s' (len %zu) rejected with %d", (int)len, text, len, ret);
	cr_assert_eq(id, want, "'%.*s' parsed as %" PRIu64 ", want %" PRIu64, (int)len, text, id,
		     want);
}

static void expect_bad(const char *text, size_t len)
{
	uint64_t id = SENTINEL;
	int ret = parse(text, len, &id);

	cr_assert_eq(ret, -EINVAL, "'%.*s' (len %zu) gave %d, want -EINVAL", (int)len, text, len,
		     ret);
	cr_assert_eq(id, SENTINEL, "'%.*s' rejected but *id was changed to %" PRIu64, (int)len,
		     text, id);
}

Test(nslink, accepts_zero)
{
	expect_ok(LIT("net:[0]"), 0);
}

Test(nslink, accepts_typical_id)
{
	expect_ok(LIT("net:[4026532413]"), UINT64_C(4026532413));
	expect_ok(LIT("net:[4026531840]"), UINT64_C(4026531840));
	expect_ok(LIT("net:[1]"), 1);
	expect_ok(LIT("net:[9]"), 9);
}

Test(nslink, accepts_uint64_max_with_20_digits)
{
	expect_ok(LIT("net:[18446744073709551615]"), UINT64_MAX);
	expect_ok(LIT("net:[18446744073709551614]"), UINT64_MAX - 1);
	expect_ok(LIT("net:[10000000000000000000]"), UINT64_C(10000000000000000000));
	expect_ok(LIT("net:[9999999999999999999]"), UINT64_C(9999999999999999999));
}

Test(nslink, accepts_leading_zeros_up_to_20_digits)
{
	expect_ok(LIT("net:[00]"), 0);
	expect_ok(LIT("net:[007]"), 7);
	expect_ok(LIT("net:[00000000000000000000]"), 0);
	expect_ok(LIT("net:[00000000000000000001]"), 1);
	expect_ok(LIT("net:[00000000004026532413]"), UINT64_C(4026532413));
	expect_ok(LIT("net:[01844674407370955161]"), UINT64_C(1844674407370955161));
}

Test(nslink, accepts_any_length_from_1_to_20_digits)
{
	char text[64], digits[21];

	for (int n = 1; n <= 20; n++) {
		uint64_t want = 0;

		for (int i = 0; i < n; i++) {
			digits[i] = (char)('1' + i % 9);
			want = want * 10 + (uint64_t)(1 + i % 9);
		}
		digits[n] = '\0';
		if (n == 20) /* 12345678912345678912 overflows: use a 20-digit value that fits */
			continue;
		snprintf(text, sizeof(text), "net:[%s]", digits);
		expect_ok(text, strlen(text), want);
	}
}

Test(nslink, uses_only_len_bytes)
{
	/* Bytes after len are not part of the text: readlink does not NUL-terminate. */
	expect_ok("net:[12]34]", 8, 12);
	expect_ok("net:[5]garbage", 7, 5);
}

Test(nslink, other_kinds_when_asked)
{
	uint64_t id = SENTINEL;

	cr_assert_eq(parse_kind(LIT("mnt:[42]"), "mnt", &id), 0);
	cr_assert_eq(id, 42);
	id = SENTINEL;
	cr_assert_eq(parse_kind(LIT("cgroup:[4026531835]"), "cgroup", &id), 0);
	cr_assert_eq(id, UINT64_C(4026531835));
	id = SENTINEL;
	cr_assert_eq(parse_kind(LIT("net:[42]"), "mnt", &id), -EINVAL);
	cr_assert_eq(parse_kind(LIT("net:[42]"), "netns", &id), -EINVAL);
	cr_assert_eq(id, SENTINEL);
}

Test(nslink, rejects_other_namespace_types)
{
	expect_bad(LIT("mnt:[1]"));
	expect_bad(LIT("netx:[1]"));
	expect_bad(LIT("ne:[1]"));
	expect_bad(LIT("n:[1]"));
	expect_bad(LIT(":[1]"));
	expect_bad(LIT("NET:[1]"));
	expect_bad(LIT("Net:[1]"));
	expect_bad(LIT("user:[4026531837]"));
	expect_bad(LIT("uts:[4026531838]"));
	expect_bad(LIT("xnet:[1]"));
	expect_bad(LIT("net_for_children:[1]"));
}

Test(nslink, rejects_empty)
{
	expect_bad("", 0);
	expect_bad(LIT("net:[]"));
	expect_bad(LIT("[]"));
	expect_bad(LIT("]"));
}

Test(nslink, rejects_prefix_only_and_missing_bracket)
{
	expect_bad(LIT("n"));
	expect_bad(LIT("ne"));
	expect_bad(LIT("net"));
	expect_bad(LIT("net:"));
	expect_bad(LIT("net:["));
	expect_bad(LIT("net:[1"));
	expect_bad(LIT("net:[4026532413"));
	expect_bad(LIT("net:[18446744073709551615"));
	expect_bad(LIT("net:1]"));
	expect_bad(LIT("net[1]"));
	expect_bad(LIT("net:(1)"));
	expect_bad(LIT("net:[1)"));
	expect_bad(LIT("net:{1}"));
	expect_bad(LIT("net::[1]"));
	expect_bad(LIT("net:[[1]"));
}

Test(nslink, rejects_signs)
{
	expect_bad(LIT("net:[+1]"));
	expect_bad(LIT("net:[-1]"));
	expect_bad(LIT("net:[-0]"));
	expect_bad(LIT("net:[+0]"));
	expect_bad(LIT("net:[1+]"));
	expect_bad(LIT("net:[1-2]"));
	expect_bad(LIT("net:[+18446744073709551615]"));
}

Test(nslink, rejects_whitespace_anywhere)
{
	static const char *const cases[] = {
		" net:[1]", "net :[1]", "net: [1]", "net:[ 1]", "net:[1 ]", "net:[1] ",
		"net:[1 2]", "\tnet:[1]", "net:[\t1]", "net:[1]\n", "net:[1\n]", "\nnet:[1]",
		"net:[1\r]", "net:[\v1]", "net:[1\f]",
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_bad(cases[i], strlen(cases[i]));
}

Test(nslink, rejects_non_digits_and_hex)
{
	expect_bad(LIT("net:[a]"));
	expect_bad(LIT("net:[1a]"));
	expect_bad(LIT("net:[a1]"));
	expect_bad(LIT("net:[0x1]"));
	expect_bad(LIT("net:[0X1F]"));
	expect_bad(LIT("net:[ff]"));
	expect_bad(LIT("net:[DEADBEEF]"));
	expect_bad(LIT("net:[1.0]"));
	expect_bad(LIT("net:[1,000]"));
	expect_bad(LIT("net:[1_000]"));
	expect_bad(LIT("net:[1e3]"));
	expect_bad(LIT("net:[\xd9\xa1]"));       /* ARABIC-INDIC DIGIT ONE */
	expect_bad(LIT("net:[\xef\xbc\x91]"));   /* FULLWIDTH DIGIT ONE */
	expect_bad(LIT("net:[1\x80]"));
	expect_bad(LIT("net:[\xff]"));
	expect_bad(LIT("net:[/]"));              /* '0' - 1 */
	expect_bad(LIT("net:[:]"));              /* '9' + 1 */
	expect_bad(LIT("net:[\x01]"));
}

Test(nslink, rejects_overflow)
{
	expect_bad(LIT("net:[18446744073709551616]"));
	expect_bad(LIT("net:[18446744073709551620]"));
	expect_bad(LIT("net:[18446744073709551700]"));
	expect_bad(LIT("net:[19999999999999999999]"));
	expect_bad(LIT("net:[20000000000000000000]"));
	expect_bad(LIT("net:[99999999999999999999]"));
	expect_bad(LIT("net:[100000000000000000000]")); /* 21 digits */
	expect_bad(LIT("net:[000000000000000000000]")); /* 21 digits, even as zeros */
	expect_bad(LIT("net:[000000000000000000001]"));
	expect_bad(LIT("net:[184467440737095516150]"));
}

Test(nslink, rejects_path_material)
{
	expect_bad(LIT("net:[..]"));
	expect_bad(LIT("net:[.]"));
	expect_bad(LIT("net:[/]"));
	expect_bad(LIT("net:[1/2]"));
	expect_bad(LIT("net:[1/..]"));
	expect_bad(LIT("net:[../../etc/shadow]"));
	expect_bad(LIT("net:[/etc/shadow]"));
	expect_bad(LIT("../net:[1]"));
	expect_bad(LIT("net:[1]/.."));
	expect_bad(LIT("/proc/1/ns/net"));
	expect_bad(LIT(".."));
	expect_bad(LIT("/"));
}

Test(nslink, rejects_trailing_bytes)
{
	expect_bad(LIT("net:[1]x"));
	expect_bad(LIT("net:[1]]"));
	expect_bad(LIT("net:[1][2]"));
	expect_bad(LIT("net:[1] "));
	expect_bad(LIT("net:[4026532413]\n"));
	/* A NUL byte counted in len is a trailing byte too. */
	expect_bad(LIT("net:[1]\0"));
	expect_bad(LIT("net:[4026532413]\0"));
	expect_bad(LIT("net:[1]\0\0\0"));
}

Test(nslink, rejects_embedded_nul)
{
	expect_bad(LIT("net\0[1]"));
	expect_bad(LIT("net:[\0]"));
	expect_bad(LIT("net:[1\0]"));
	expect_bad(LIT("net:[\0001]"));
	expect_bad(LIT("\0net:[1]"));
}

Test(nslink, rejects_over_long_input)
{
	char text[512];
	size_t len;

	/* Many digits: both a plausible value padded with zeros and pure garbage. */
	len = (size_t)snprintf(text, sizeof(text), "net:[%0100d]", 1);
	expect_bad(text, len);
	memset(text, '9', sizeof(text));
	memcpy(text, "net:[", 5);
	text[sizeof(text) - 1] = ']';
	expect_bad(text, sizeof(text));
	/* Exactly the readlink buffer size, and one more. */
	len = (size_t)snprintf(text, sizeof(text), "net:[%0*d]", RCFS_NSLINK_MAX - 6, 1);
	cr_assert_eq(len, RCFS_NSLINK_MAX);
	expect_bad(text, len);
	len = (size_t)snprintf(text, sizeof(text), "net:[%0*d]", RCFS_NSLINK_MAX - 5, 1);
	expect_bad(text, len);
}

/* ------------------------------------------------------------------------------------------ */
/* Fuzzing against an independent oracle, with a fixed seed so that every run is the same.     */

static uint64_t rng_state;

static uint64_t rng(void)
{
	/* splitmix64 */
	uint64_t z = (rng_state += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* What the parser must do, written differently: structure first, then a decimal string
 * comparison against UINT64_MAX instead of overflow arithmetic. */
static int oracle(const char *t, size_t len, uint64_t *id)
{
	static const char max[] = "18446744073709551615";
	size_t nd, i, start;
	uint64_t v = 0;

	if (len < 7 || memcmp(t, "net:[", 5) != 0 || t[len - 1] != ']')
		return -EINVAL;
	nd = len - 6;
	if (nd > 20)
		return -EINVAL;
	for (i = 5; i < len - 1; i++)
		if (t[i] < '0' || t[i] > '9')
			return -EINVAL;
	start = 5;
	while (start < len - 2 && t[start] == '0')
		start++;
	if (len - 1 - start == 20 && memcmp(t + start, max, 20) > 0)
		return -EINVAL;
	for (i = 5; i < len - 1; i++)
		v = v * 10 + (uint64_t)(t[i] - '0');
	*id = v;
	return 0;
}

static void check_against_oracle(const char *t, size_t len)
{
	uint64_t got = SENTINEL, want = SENTINEL;
	int r1 = parse(t, len, &got);
	int r2 = oracle(t, len, &want);

	if (r1 != r2 || got != want) {
		char hex[3 * 80 + 1] = "";

		for (size_t i = 0; i < len && i < 80; i++)
			snprintf(hex + 3 * i, 4, "%02x ", (unsigned char)t[i]);
		cr_assert_fail("input [%s] (len %zu): parser %d/%" PRIu64 ", oracle %d/%" PRIu64, hex,
			       len, r1, got, r2, want);
	}
}

Test(nslink_fuzz, every_single_byte_substitution)
{
	char text[] = "net:[4026532413]";
	size_t len = sizeof(text) - 1;

	for (size_t pos = 0; pos < len; pos++) {
		char orig = text[pos];

		for (int b = 0; b < 256; b++) {
			text[pos] = (char)b;
			check_against_oracle(text, len);
		}
		text[pos] = orig;
	}
}

Test(nslink_fuzz, every_truncation_and_extension)
{
	char text[] = "net:[18446744073709551615]";
	char longer[64];
	size_t len = sizeof(text) - 1;

	for (size_t l = 0; l <= len; l++)
		check_against_oracle(text, l);
	for (int b = 0; b < 256; b++) {
		memcpy(longer, text, len);
		longer[len] = (char)b;
		check_against_oracle(longer, len + 1);
		longer[0] = (char)b;
		memcpy(longer + 1, text, len);
		check_against_oracle(longer, len + 1);
	}
}

Test(nslink_fuzz, random_valid_ids_round_trip)
{
	char text[64];

	rng_state = 1;
	for (int i = 0; i < 20000; i++) {
		/* Spread over every magnitude, not just huge values. */
		int bits = (int)(rng() % 65);
		uint64_t v = bits == 0 ? 0 : rng() >> (64 - bits);
		int width = (int)(rng() % 21);
		int n = snprintf(text, sizeof(text), "net:[%0*" PRIu64 "]", width, v);

		expect_ok(text, (size_t)n, v);
	}
}

Test(nslink_fuzz, random_inputs_match_oracle)
{
	static const char alphabet[] = "net:[]0123456789 +-/.x\0\n";
	char text[48];

	rng_state = 2;
	for (int i = 0; i < 100000; i++) {
		size_t len = 0, target = (size_t)(rng() % 30);

		if (rng() % 2) {
			memcpy(text, "net:[", 5);
			len = 5;
		}
		while (len < target) {
			uint64_t r = rng();

			if (r % 8 == 0)
				text[len++] = (char)(r >> 8);
			else if (r % 8 < 5)
				text[len++] = (char)('0' + (r >> 8) % 10);
			else
				text[len++] = alphabet[(r >> 8) % (sizeof(alphabet) - 1)];
		}
		if (rng() % 2 && len < sizeof(text))
			text[len++] = ']';
		check_against_oracle(text, len);
	}
}

Test(nslink_fuzz, mutated_valid_links_match_oracle)
{
	char text[64];

	rng_state = 3;
	for (int i = 0; i < 50000; i++) {
		size_t len = (size_t)snprintf(text, sizeof(text), "net:[%" PRIu64 "]", rng() >> (rng() % 64));
		int mutations = 1 + (int)(rng() % 3);

		for (int m = 0; m < mutations; m++) {
			size_t pos = len ? (size_t)(rng() % len) : 0;

			switch (rng() % 3) {
			case 0: /* replace */
				if (len)
					text[pos] = (char)rng();
				break;
			case 1: /* delete */
				if (len) {
					memmove(text + pos, text + pos + 1, len - pos - 1);
					len--;
				}
				break;
			default: /* insert */
				if (len < sizeof(text) - 1) {
					memmove(text + pos + 1, text + pos, len - pos);
					text[pos] = (char)(rng() % 2 ? '0' + rng() % 10 : rng());
					len++;
				}
				break;
			}
		}
		check_against_oracle(text, len);
	}
}
