/* The loopback filter for templates: rcfs_filter_loopback, rcfs_filter_bound and
 * rcfs_filter_valid_address. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/filter.h"

TestSuite(filter);

static const char *const FB1[] = { "192.0.2.53" };
static const char *const FB2[] = { "192.0.2.53", "2001:db8::53" };

/* Run the filter with an output buffer of exactly rcfs_filter_bound bytes (so ASan sees any write
 * past it) and return the output as a NUL-terminated copy. */
static char *filter(const char *in, size_t len, const char *const *fb, size_t nfb, size_t *outlen)
{
	size_t bound = rcfs_filter_bound(len, fb, nfb);
	char *out = malloc(bound ? bound : 1), *copy;
	long n;

	cr_assert_not_null(out);
	n = rcfs_filter_loopback(in, len, out, bound, fb, nfb);
	cr_assert_geq(n, 0, "filter failed with %ld on:\n%.*s", n, (int)len, in);
	cr_assert_leq((size_t)n, bound, "output %ld exceeds the bound %zu", n, bound);
	copy = malloc((size_t)n + 1);
	cr_assert_not_null(copy);
	memcpy(copy, out, (size_t)n);
	copy[n] = '\0';
	free(out);
	*outlen = (size_t)n;
	return copy;
}

static char *filter_str(const char *in, const char *const *fb, size_t nfb)
{
	size_t len;

	return filter(in, strlen(in), fb, nfb, &len);
}

/* The comment line the filter appends, without the addresses: learnt from the filter itself, so
 * the tests do not depend on its wording. */
static char removed_prefix[256];

static const char *removed(void)
{
	static const char one[] = "nameserver 127.0.0.1\n";
	char *out;
	size_t len;

	if (removed_prefix[0])
		return removed_prefix;
	out = filter(one, sizeof(one) - 1, NULL, 0, &len);
	cr_assert_gt(len, sizeof(" 127.0.0.1\n") - 1);
	cr_assert_str_eq(out + len - (sizeof(" 127.0.0.1\n") - 1), " 127.0.0.1\n",
			 "the comment does not end with the removed address: %s", out);
	cr_assert_eq(out[0], '#', "the appended line is not a comment: %s", out);
	cr_assert_null(memchr(out, '\n', len - 1), "the comment spans several lines: %s", out);
	cr_assert_lt(len, sizeof(removed_prefix));
	memcpy(removed_prefix, out, len - (sizeof(" 127.0.0.1\n") - 1));
	free(out);
	return removed_prefix;
}

/* Expected output: kept text, then the comment naming addrs (a space-separated list, or NULL
 * when nothing was dropped), then the nameserver lines for fallbacks (or nothing). */
static void expect(const char *in, const char *const *fb, size_t nfb, const char *kept,
		   const char *addrs, const char *fallback_lines)
{
	char want[4096];
	char *got = filter_str(in, fb, nfb);

	snprintf(want, sizeof(want), "%s%s%s%s%s%s", kept, addrs ? removed() : "", addrs ? " " : "",
		 addrs ? addrs : "", addrs ? "\n" : "", fallback_lines ? fallback_lines : "");
	cr_expect_str_eq(got, want, "input:\n%s\n--- got:\n%s\n--- want:\n%s", in, got, want);
	free(got);
}

Test(filter, drops_ipv4_loopback_range)
{
	expect("nameserver 127.0.0.1\nnameserver 127.0.0.53\nnameserver 127.1.2.3\n"
	       "nameserver 192.0.2.1\n",
	       FB1, 1, "nameserver 192.0.2.1\n", "127.0.0.1 127.0.0.53 127.1.2.3", NULL);
	expect("nameserver 127.255.255.255\nnameserver 127.0.0.0\nnameserver 10.0.0.1\n", NULL, 0,
	       "nameserver 10.0.0.1\n", "127.255.255.255 127.0.0.0", NULL);
}

Test(filter, drops_ipv6_loopback_forms)
{
	static const char *const addrs[] = {
		"::1", "::1%lo", "::ffff:127.0.0.1", "::ffff:127.0.0.53", "0:0:0:0:0:0:0:1",
		"::ffff:7f00:1", "0000::0001", "::FFFF:127.1.2.3",
	};
	char in[256], kept[] = "search example.org\nnameserver 2001:db8::1\n";

	for (size_t i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
		snprintf(in, sizeof(in), "search example.org\nnameserver %s\nnameserver 2001:db8::1\n",
			 addrs[i]);
		expect(in, FB1, 1, kept, addrs[i], NULL);
	}
}

Test(filter, drops_with_leading_blanks_and_trailing_comments)
{
	expect(" nameserver 127.0.0.1\n"
	       "\tnameserver\t127.0.0.53 # systemd-resolved\n"
	       " \t nameserver   ::1 ; dnsmasq\n"
	       "nameserver 127.0.0.2#x\n"
	       "nameserver 127.0.0.3;x\n"
	       "nameserver 127.0.0.4 \n"
	       "nameserver 192.0.2.1 # kept\n",
	       NULL, 0, "nameserver 192.0.2.1 # kept\n",
	       "127.0.0.1 127.0.0.53 ::1 127.0.0.2 127.0.0.3 127.0.0.4", NULL);
}

Test(filter, keeps_everything_else_byte_for_byte)
{
	static const char in[] =
		"# generated\n"
		"; another comment style\n"
		"#nameserver 127.0.0.1\n"
		"# nameserver ::1\n"
		";nameserver 127.0.0.53\n"
		"Nameserver 127.0.0.1\n"
		"NAMESERVER ::1\n"
		"nameserver127.0.0.1\n"
		"nameservers 127.0.0.1\n"
		"xnameserver 127.0.0.1\n"
		"nameserver 10.0.0.1\n"
		"nameserver 128.0.0.1\n"
		"nameserver 126.255.255.255\n"
		"nameserver ::2\n"
		"nameserver ::ffff:10.0.0.1\n"
		"nameserver fe80::1%eth0\n"
		"nameserver 2001:db8::1 # with comment\n"
		"nameserver 192.0.2.2\r\n"
		"search example.org 127.0.0.1\r\n"
		"domain example.org\n"
		"sortlist 127.0.0.0/255.0.0.0\n"
		"options edns0 trust-ad ndots:2\n"
		"\n"
		"   \n"
		"\t\n"
		"options rotate";
	size_t len;
	char *got = filter(in, sizeof(in) - 1, FB2, 2, &len);

	cr_assert_eq(len, sizeof(in) - 1, "output has %zu bytes, input %zu:\n%s", len,
		     sizeof(in) - 1, got);
	cr_assert_arr_eq(got, in, len, "output differs:\n%s", got);
	free(got);
}

Test(filter, crlf_lines)
{
	expect("nameserver 127.0.0.53\r\nsearch lan\r\nnameserver 10.0.0.1\r\n", NULL, 0,
	       "search lan\r\nnameserver 10.0.0.1\r\n", "127.0.0.53", NULL);
	expect("nameserver ::1\r\n", FB1, 1, "", "::1", "nameserver 192.0.2.53\n");
}

Test(filter, last_line_without_newline)
{
	/* Kept: stays without its newline when nothing is appended. */
	expect("search a\nnameserver 10.0.0.1", FB1, 1, "search a\nnameserver 10.0.0.1", NULL, NULL);
	/* Dropped last line: the output ends at the previous line's newline. */
	expect("nameserver 10.0.0.1\nnameserver 127.0.0.1", NULL, 0, "nameserver 10.0.0.1\n",
	       "127.0.0.1", NULL);
	/* Kept last line without newline followed by the comment: a newline is inserted first. */
	expect("nameserver 127.0.0.1\nnameserver 10.0.0.1", NULL, 0, "nameserver 10.0.0.1\n",
	       "127.0.0.1", NULL);
	expect("nameserver 127.0.0.1\nsearch a", FB1, 1, "search a\n", "127.0.0.1",
	       "nameserver 192.0.2.53\n");
}

Test(filter, fallbacks_only_when_no_nameserver_remains)
{
	/* Everything dropped: the fallbacks follow the comment, in order. */
	expect("nameserver 127.0.0.53\noptions edns0\n", FB2, 2, "options edns0\n", "127.0.0.53",
	       "nameserver 192.0.2.53\nnameserver 2001:db8::53\n");
	/* One nameserver remains: no fallback. */
	expect("nameserver 127.0.0.53\nnameserver 9.9.9.9\n", FB2, 2, "nameserver 9.9.9.9\n",
	       "127.0.0.53", NULL);
	/* Everything dropped and no fallbacks: only the comment. */
	expect("nameserver 127.0.0.53\nnameserver ::1\n", NULL, 0, "", "127.0.0.53 ::1", NULL);
}

Test(filter, fallbacks_when_the_template_had_no_nameserver)
{
	expect("search lan\n", FB1, 1, "search lan\n", NULL, "nameserver 192.0.2.53\n");
	expect("", FB2, 2, "", NULL, "nameserver 192.0.2.53\nnameserver 2001:db8::53\n");
	/* No final newline: one is inserted before the fallbacks. */
	expect("search lan", FB1, 1, "search lan\n", NULL, "nameserver 192.0.2.53\n");
	/* Commented-out and malformed nameserver lines are not nameservers. */
	expect("#nameserver 10.0.0.1\nnameserver127.0.0.1\nnameserver\nnameserver \t\n", FB1, 1,
	       "#nameserver 10.0.0.1\nnameserver127.0.0.1\nnameserver\nnameserver \t\n", NULL,
	       "nameserver 192.0.2.53\n");
	/* Without fallbacks nothing at all changes. */
	expect("search lan", NULL, 0, "search lan", NULL, NULL);
	expect("", NULL, 0, "", NULL, NULL);
}

/* glibc reads `nameserver` addresses with inet_aton (__inet_aton_exact), so these forms are
 * 127.0.0.1 and 127.0.0.53 to the resolver (checked with res_init on glibc 2.36) and are as
 * unreachable from another namespace as the dotted-quad form. */
Test(filter, drops_loopback_in_every_form_glibc_accepts)
{
	expect("nameserver 127.1\nnameserver 10.0.0.1\n", NULL, 0, "nameserver 10.0.0.1\n",
	       "127.1", NULL);
	expect("nameserver 2130706433\nnameserver 10.0.0.1\n", NULL, 0, "nameserver 10.0.0.1\n",
	       "2130706433", NULL);
	expect("nameserver 0x7f000035\nnameserver 10.0.0.1\n", NULL, 0, "nameserver 10.0.0.1\n",
	       "0x7f000035", NULL);
	expect("nameserver 0177.0.0.1\nnameserver 10.0.0.1\n", NULL, 0, "nameserver 10.0.0.1\n",
	       "0177.0.0.1", NULL);
}

/* inet_aton takes any number of leading zeros in a part (octal, or after 0x), so glibc reads
 * these as loopback however long they are; one longer than any printed address was once kept
 * (found by fuzz_filter). A long address that is not loopback is still kept. */
static char *padded(const char *head, size_t zeros, const char *tail)
{
	size_t hl = strlen(head), tl = strlen(tail);
	char *s = malloc(hl + zeros + tl + 1);

	cr_assert_not_null(s);
	memcpy(s, head, hl);
	memset(s + hl, '0', zeros);
	memcpy(s + hl + zeros, tail, tl + 1);
	return s;
}

Test(filter, drops_loopback_with_any_number_of_leading_zeros)
{
	static const size_t zeros[] = { 1, 80, 95, 96, 97, 200, 1000 };
	static const char *const forms[][2] = {
		{ "127.0.0.", "1" }, { "", "177.0.0.1" }, { "0x", "7f000001" }, { "127.", "" },
	};
	char in[2048], *far;
	struct in_addr a;

	for (size_t i = 0; i < sizeof(zeros) / sizeof(zeros[0]); i++) {
		for (size_t f = 0; f < sizeof(forms) / sizeof(forms[0]); f++) {
			char *addr = padded(forms[f][0], zeros[i], forms[f][1]);

			cr_assert(inet_aton(addr, &a) && ntohl(a.s_addr) >> 24 == 127,
				  "inet_aton does not read '%s' as loopback", addr);
			snprintf(in, sizeof(in), "nameserver %s\nnameserver 10.0.0.1\n", addr);
			expect(in, NULL, 0, "nameserver 10.0.0.1\n", addr, NULL);
			free(addr);
		}
		far = padded("10.0.0.", zeros[i], "1");
		cr_assert(inet_aton(far, &a) && ntohl(a.s_addr) == 0x0a000001);
		snprintf(in, sizeof(in), "search lan\nnameserver %s\n", far);
		expect(in, FB1, 1, in, NULL, NULL);
		free(far);
	}
}

/* The unspecified address is the local host to Linux: connect() to 0.0.0.0 or :: reaches a
 * server listening on the host's loopback, so it is as unreachable from another namespace as
 * 127.0.0.1. Each spelling is first checked to be one the resolver itself would read as it. */
static void expect_dropped(const char *addr)
{
	char in[256];

	snprintf(in, sizeof(in), "search lan\nnameserver %s\nnameserver 192.0.2.1\n", addr);
	expect(in, FB1, 1, "search lan\nnameserver 192.0.2.1\n", addr, NULL);
	/* As the only nameserver, indented, or with a comment after it: dropped all the same. */
	snprintf(in, sizeof(in), "nameserver %s\n", addr);
	expect(in, FB1, 1, "", addr, "nameserver 192.0.2.53\n");
	snprintf(in, sizeof(in), " \tnameserver\t%s # local\nnameserver 10.0.0.1", addr);
	expect(in, NULL, 0, "nameserver 10.0.0.1\n", addr, NULL);
}

static void expect_kept(const char *addr)
{
	char in[256];

	snprintf(in, sizeof(in), "search lan\nnameserver %s\n", addr);
	expect(in, FB1, 1, in, NULL, NULL);
}

Test(filter, drops_ipv4_unspecified_in_every_form_inet_aton_accepts)
{
	static const char *const addrs[] = {
		"0", "0.0", "0.0.0", "0.0.0.0", "0x0", "0X0", "00.0.0.0", "000", "0x00000000",
		"0.0x0", "0.0.0x0.0", "0x0.0.0.0", "00000000000000", "0.0.0.00",
	};
	struct in_addr a;

	for (size_t i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
		cr_assert(inet_aton(addrs[i], &a) && a.s_addr == 0,
			  "inet_aton does not read '%s' as 0.0.0.0", addrs[i]);
		expect_dropped(addrs[i]);
	}
}

Test(filter, drops_ipv6_unspecified_in_every_form_inet_pton_accepts)
{
	static const char *const addrs[] = {
		"::", "0::0", "::0", "0:0:0:0:0:0:0:0", "0000::", "0::", "::0000:0",
		"0000:0000:0000:0000:0000:0000:0000:0000", "::0.0.0.0", "::%eth0", "0::0%lo",
		"0:0:0:0:0:0:0:0%1",
	};
	static const unsigned char any[16];
	unsigned char b[16];
	char a[64];

	for (size_t i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
		snprintf(a, sizeof(a), "%.*s", (int)strcspn(addrs[i], "%"), addrs[i]);
		cr_assert(inet_pton(AF_INET6, a, b) == 1 && !memcmp(b, any, 16),
			  "inet_pton does not read '%s' as ::", addrs[i]);
		expect_dropped(addrs[i]);
	}
}

/* An IPv4-mapped address is connected to as its IPv4 one. */
Test(filter, drops_ipv4_mapped_unspecified)
{
	static const char *const addrs[] = {
		"::ffff:0.0.0.0", "::ffff:0:0", "::FFFF:0.0.0.0", "0:0:0:0:0:ffff:0.0.0.0",
		"0::ffff:0000:0000", "::ffff:0.0.0.0%eth0",
	};
	static const unsigned char mapped_any[16] = { [10] = 0xff, [11] = 0xff };
	unsigned char b[16];
	char a[64];

	for (size_t i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
		snprintf(a, sizeof(a), "%.*s", (int)strcspn(addrs[i], "%"), addrs[i]);
		cr_assert(inet_pton(AF_INET6, a, b) == 1 && !memcmp(b, mapped_any, 16),
			  "inet_pton does not read '%s' as ::ffff:0.0.0.0", addrs[i]);
		expect_dropped(addrs[i]);
	}
}

Test(filter, keeps_near_misses_of_unspecified)
{
	static const char *const addrs[] = {
		"0.0.0.1", "0.1", "1", "0x1", "::2", "::ffff:0.0.0.1", "::ffff:0:1", "10.0.0.0",
		"1::", "1.0.0.0", "0.0.1.0", "::1:0", "::ffff:1.0.0.0", "0:0:0:0:0:1:0:0",
		"fe80::%eth0", "255.255.255.255",
		/* Not an address to glibc at all, so not one it would connect to. */
		"0.0.0.0.0", ":::", "0:0:0:0:0:0:0:0:0", "0.0.0.0/0",
	};

	for (size_t i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++)
		expect_kept(addrs[i]);
}

Test(filter, unspecified_and_loopback_together)
{
	expect("nameserver 0.0.0.0\nnameserver 127.0.0.53\nnameserver ::\nnameserver ::1\n"
	       "options edns0\n",
	       FB2, 2, "options edns0\n", "0.0.0.0 127.0.0.53 :: ::1",
	       "nameserver 192.0.2.53\nnameserver 2001:db8::53\n");
}

/* resolv.conf(5): "the keyword (e.g., nameserver) must start the line", and glibc's res_init
 * ignores an indented one (checked: ` nameserver 10.0.0.1` alone gives nscount 1 with the
 * built-in default 127.0.0.1). So an indented nameserver that is kept is no nameserver: when it
 * is the only one left, the fallbacks are still needed, or the namespace falls back to
 * glibc's loopback default, which the filter exists to avoid. */
Test(filter, indented_nameserver_does_not_count_as_remaining)
{
	expect(" nameserver 192.0.2.1\nnameserver 127.0.0.53\n", FB1, 1, " nameserver 192.0.2.1\n",
	       "127.0.0.53", "nameserver 192.0.2.53\n");
	expect("\tnameserver 192.0.2.1\n", FB1, 1, "\tnameserver 192.0.2.1\n", NULL,
	       "nameserver 192.0.2.53\n");
}

/* Every cap below the output size is -ENOSPC, and nothing is written past cap. */
static void check_enospc(const char *in, const char *const *fb, size_t nfb)
{
	size_t len = strlen(in), full;
	char *want = filter(in, len, fb, nfb, &full);
	char *buf = malloc(full + 64);

	cr_assert_not_null(buf);
	for (size_t cap = 0; cap < full; cap++) {
		long n;

		memset(buf, 0xa5, full + 64);
		n = rcfs_filter_loopback(in, len, buf, cap, fb, nfb);
		cr_assert_eq(n, -ENOSPC, "cap %zu of %zu gave %ld", cap, full, n);
		for (size_t i = cap; i < full + 64; i++)
			cr_assert_eq((unsigned char)buf[i], 0xa5, "cap %zu: byte %zu written", cap, i);
	}
	cr_assert_eq(rcfs_filter_loopback(in, len, buf, full, fb, nfb), (long)full);
	cr_assert_arr_eq(buf, want, full);
	free(buf);
	free(want);
}

Test(filter, enospc_when_cap_too_small)
{
	check_enospc("nameserver 127.0.0.53\nsearch lan\n", FB2, 2);
	check_enospc("search lan", FB1, 1);
	check_enospc("nameserver 127.0.0.1\nsearch a", FB1, 1);
	check_enospc("nameserver 10.0.0.1\nnameserver ::1\n", NULL, 0);
	check_enospc("options rotate\n", NULL, 0);
	check_enospc("nameserver 0\nnameserver ::%lo\nsearch a", FB2, 2);
}

Test(filter, output_within_bound_worst_cases)
{
	/* Many short dropped lines (the comment repeats each address), no final newline, every
	 * fallback: the bound must still hold. */
	static const char *const fb[] = { "192.0.2.1", "192.0.2.2", "192.0.2.3",
					  "fe80::aaaa:bbbb:cccc:dddd%abcdefghijklmno" };
	char in[8192];
	size_t pos = 0, len;
	char *got;

	while (pos + 32 < sizeof(in))
		pos += (size_t)snprintf(in + pos, sizeof(in) - pos, "nameserver ::1%%a\n");
	pos += (size_t)snprintf(in + pos, sizeof(in) - pos, "nameserver 127.0.0.1");
	got = filter(in, pos, fb, 4, &len);
	free(got);
	got = filter("x", 1, fb, 4, &len);
	cr_assert_str_eq(got, "x\nnameserver 192.0.2.1\nnameserver 192.0.2.2\nnameserver 192.0.2.3\n"
			      "nameserver fe80::aaaa:bbbb:cccc:dddd%abcdefghijklmno\n");
	free(got);
	got = filter("", 0, NULL, 0, &len);
	cr_assert_eq(len, 0);
	free(got);
}

Test(filter, valid_address)
{
	static const char *const good[] = {
		"192.0.2.1", "0.0.0.0", "255.255.255.255", "127.0.0.1", "::1", "::",
		"2001:db8::53", "fe80::1%eth0", "fe80::1%1", "::ffff:192.0.2.1", "fe80::1%lo",
		"fe80::1%abcdefghijklmno",
	};
	static const char *const bad[] = {
		"", "9.9.9", "1.2.3.4.5", "256.0.0.1", "1.2.3.4%eth0", "::1%", "%eth0", "localhost",
		"dns.example.org", "1.2.3.4 ", " 1.2.3.4", "2001:db8::g", "fe80::1%eth 0",
		"fe80::1%a/b", "fe80::1%abcdefghijklmnop", ":::1", "1.2.3.4/32", "fe80::1%eth0%1x\n",
	};

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		cr_expect(rcfs_filter_valid_address(good[i]), "'%s' rejected", good[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect(!rcfs_filter_valid_address(bad[i]), "'%s' accepted", bad[i]);
}

/* Property test: random mixes of lines. The output is the input without the dropped lines,
 * followed by exactly the tail the filter promises (comment, fallbacks), within the bound. */

static uint32_t rng = 20240611u;

static uint32_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 17;
	rng ^= rng << 5;
	return rng;
}

#define PICK(arr) ((arr)[next() % (sizeof(arr) / sizeof((arr)[0]))])

static const char *const blanks[] = { "", "", "", " ", "\t", " \t ", "  " };
static const char *const seps[] = { " ", " ", "\t", "  ", " \t" };
static const char *const tails[] = { "", "", "", " ", "\t", " # comment", "#c", ";c", "\t; x", " x" };
static const char *const ends[] = { "\n", "\n", "\n", "\r\n" };
static const char *const loop_addrs[] = {
	"127.0.0.1", "127.0.0.53", "127.1.2.3", "127.255.255.254", "::1", "::1%lo",
	"::ffff:127.0.0.1", "0:0:0:0:0:0:0:1", "::ffff:7f00:35", "0.0.0.0", "0", "0x0", "::",
	"0::0%lo", "::ffff:0.0.0.0",
};
static const char *const other_addrs[] = {
	"10.0.0.1", "192.0.2.1", "2001:db8::1", "fe80::1%eth0", "128.0.0.1", "126.0.0.1", "::2",
	"::ffff:10.0.0.1", "1.1.1.1", "9.9.9.9", "0.0.0.1", "1::", "::ffff:0.0.0.1",
};
static const char *const other_lines[] = {
	"#nameserver 127.0.0.1", ";nameserver ::1", "# nameserver 127.0.0.53", "Nameserver 127.0.0.1",
	"nameserver127.0.0.1", "nameservers 127.0.0.1", "options edns0", "search a.example b.example",
	"domain example.org", "", " ", "nameserver", "nameserver \t", "nameserver #127.0.0.1",
	"sortlist 127.0.0.0/255.0.0.0", "options ndots:2 rotate",
};

struct doc {
	char in[4096], kept[4096], addrs[2048];
	size_t in_len, kept_len, addrs_len;
	int kept_ns, dropped;
};

static void add(char *buf, size_t *len, size_t cap, const char *s)
{
	size_t n = strlen(s);

	cr_assert_lt(*len + n, cap);
	memcpy(buf + *len, s, n);
	*len += n;
	buf[*len] = '\0';
}

static void make_doc(struct doc *d)
{
	unsigned lines = next() % 12;

	memset(d, 0, sizeof(*d));
	for (unsigned i = 0; i < lines; i++) {
		char line[256];
		const char *addr = NULL;
		unsigned kind = next() % 3;
		const char *end = (i + 1 == lines && next() % 3 == 0) ? "" : PICK(ends);
		int drop = 0;

		if (kind == 0) {
			addr = PICK(loop_addrs);
			drop = 1;
		} else if (kind == 1) {
			addr = PICK(other_addrs);
		}
		/* Dropped lines may be indented; kept ones are not (an indented nameserver is no
		 * nameserver to glibc: see indented_nameserver_does_not_count_as_remaining). */
		if (addr)
			snprintf(line, sizeof(line), "%snameserver%s%s%s%s", drop ? PICK(blanks) : "",
				 PICK(seps), addr, PICK(tails), end);
		else
			snprintf(line, sizeof(line), "%s%s", PICK(other_lines), end);
		add(d->in, &d->in_len, sizeof(d->in), line);
		if (drop) {
			add(d->addrs, &d->addrs_len, sizeof(d->addrs), " ");
			add(d->addrs, &d->addrs_len, sizeof(d->addrs), addr);
			d->dropped++;
		} else {
			add(d->kept, &d->kept_len, sizeof(d->kept), line);
			d->kept_ns += addr != NULL;
		}
	}
}

Test(filter, property_random_line_mixes)
{
	static struct doc d;
	char want[8192];

	for (int iter = 0; iter < 3000; iter++) {
		size_t nfb = next() % 3, len, wlen = 0;
		char *got;

		make_doc(&d);
		got = filter(d.in, d.in_len, FB2, nfb, &len);

		/* The output minus the appended tail is the input minus the dropped lines. */
		cr_assert_geq(len, d.kept_len, "iteration %d: output shorter than the kept lines", iter);
		cr_assert_arr_eq(got, d.kept, d.kept_len,
				 "iteration %d: kept lines differ\n--- input:\n%s\n--- got:\n%s", iter,
				 d.in, got);

		/* And the tail is exactly: comment naming the dropped addresses, fallbacks. */
		want[0] = '\0';
		add(want, &wlen, sizeof(want), d.kept);
		if (d.dropped) {
			if (wlen && want[wlen - 1] != '\n')
				add(want, &wlen, sizeof(want), "\n");
			add(want, &wlen, sizeof(want), removed());
			add(want, &wlen, sizeof(want), d.addrs);
			add(want, &wlen, sizeof(want), "\n");
		}
		if (!d.kept_ns) {
			for (size_t i = 0; i < nfb; i++) {
				if (i == 0 && wlen && want[wlen - 1] != '\n')
					add(want, &wlen, sizeof(want), "\n");
				add(want, &wlen, sizeof(want), "nameserver ");
				add(want, &wlen, sizeof(want), FB2[i]);
				add(want, &wlen, sizeof(want), "\n");
			}
		}
		cr_assert_eq(len, wlen, "iteration %d: %zu bytes, want %zu\n--- input:\n%s\n--- got:\n%s",
			     iter, len, wlen, d.in, got);
		cr_assert_arr_eq(got, want, len, "iteration %d: tail differs\n--- input:\n%s\n--- got:\n%s",
				 iter, d.in, got);
		/* One byte less never fits. */
		if (len > 0) {
			char *buf = malloc(len);

			cr_assert_not_null(buf);
			cr_assert_eq(rcfs_filter_loopback(d.in, d.in_len, buf, len - 1, FB2, nfb), -ENOSPC);
			free(buf);
		}
		free(got);
	}
}
