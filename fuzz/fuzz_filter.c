/* Fuzz the resolv.conf loopback filter (rcfs_filter_loopback, rcfs_filter_bound) and
 * rcfs_filter_valid_address, which together turn an admin's template into another namespace's
 * resolv.conf.
 *
 * Input: a resolv.conf template, as is. The number of fallback nameservers (0..3, from a fixed
 * non-loopback list) is size % 4, so seeds stay plain resolv.conf files.
 *
 * Invariants (abort on violation):
 *  - with cap = rcfs_filter_bound(len), the call succeeds and the output fits (the buffer is
 *    exactly that big, so ASan sees any write past it);
 *  - the output starts with the input minus the dropped lines, every kept line byte-identical
 *    and in order;
 *  - a dropped line is a `nameserver ADDR` line (resolv.conf(5) keyword, blanks before allowed)
 *    whose ADDR is loopback or unspecified per an independent reference (127.0.0.0/8 or
 *    0.0.0.0 as inet_aton reads IPv4, which is how glibc's resolver reads it; ::1, ::,
 *    ::ffff:127.x.y.z, ::ffff:0.0.0.0; optional %zone);
 *    every such line is dropped (an ADDR with \v or \f inside, which glibc never reads as an
 *    address, may go either way);
 *  - no kept line is one glibc's resolver would use as a loopback nameserver (glibc reads IPv4
 *    nameservers with inet_aton: 127.1, 0x7f.1 and 2130706433 are all 127.0.0.1 to it);
 *  - after the kept lines come only: a newline if the kept text lacked its last one, a comment
 *    line ending in " ADDR" for each dropped address in order (only when something was
 *    dropped), and `nameserver FB` for each fallback (only when no nameserver line glibc
 *    would read remains: an indented one does not count);
 *  - filtering the output again changes nothing;
 *  - with cap one byte short the call returns -ENOSPC (and stays inside the buffer), with cap
 *    exactly the output size it returns the same bytes;
 *  - rcfs_filter_valid_address never accepts text with a blank or a newline (a fallback is
 *    written as `nameserver ADDR\n`: a newline would inject a line), and without a %zone it
 *    accepts only what inet_pton accepts. */
#include "fuzz_common.h"

#include <arpa/inet.h>
#include <ctype.h>

#include "../core/filter.h"

static const char *const FALLBACKS[] = { "192.0.2.53", "2001:db8::53", "fe80::1%eth0" };

#define MAX_LINES 4096

struct line {
	size_t off, len;   /* bytes in the input, including the newline if any */
	size_t toff, tlen; /* the nameserver address token, when ns */
	int ns;            /* a `nameserver ADDR` line per resolv.conf(5) */
	int lo;            /* ...with a loopback ADDR */
	int either;        /* ...whose ADDR the filter may take either way */
};

static int blank(char c)
{
	return c == ' ' || c == '\t';
}

/* resolv.conf(5): keyword at the start of the line (after blanks), then blanks, then the
 * address, which ends at a blank, CR, newline, comment character or NUL. */
static int ref_nameserver(const char *l, size_t len, size_t *toff, size_t *tlen)
{
	size_t i = 0, s;

	while (i < len && blank(l[i]))
		i++;
	if (len - i < 11 || memcmp(l + i, "nameserver", 10) != 0 || !blank(l[i + 10]))
		return 0;
	i += 10;
	while (i < len && blank(l[i]))
		i++;
	s = i;
	while (i < len && !blank(l[i]) && l[i] != '\r' && l[i] != '\n' && l[i] != '#' &&
	       l[i] != ';' && l[i] != '\0')
		i++;
	*toff = s;
	*tlen = i - s;
	return i > s;
}

/* The host itself: 127.0.0.0/8, or 0.0.0.0, which Linux connects to the local host. */
static int local4(uint32_t host)
{
	return (host >> 24) == 127 || host == 0;
}

static int local6(const unsigned char b[16])
{
	static const unsigned char zero[16];
	static const unsigned char one[16] = { [15] = 1 };
	static const unsigned char mapped[12] = { [10] = 0xff, [11] = 0xff };

	return !memcmp(b, one, 16) || !memcmp(b, zero, 16) ||
	       (!memcmp(b, mapped, 12) &&
		local4((uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 | b[14] << 8 | b[15]));
}

/* Loopback as the resolver reading the file sees it: glibc takes an IPv4 nameserver with
 * inet_aton (so 127.1, 0x7f.0.0.1, 0177.0.0.1 and 2130706433 are all 127.0.0.1), an IPv6 one
 * with inet_pton after its %scope. */
static int ref_loopback(const char *tok, size_t len)
{
	unsigned char b[16];
	struct in_addr a4;
	char *a = fuzz_strndup((const uint8_t *)tok, len);
	char *zone = strchr(a, '%');
	int lo = 0;

	if (zone)
		*zone = '\0';
	if (inet_aton(a, &a4))
		lo = local4(ntohl(a4.s_addr));
	else if (inet_pton(AF_INET6, a, b) == 1)
		lo = local6(b);
	free(a);
	return lo;
}

/* Whether glibc's res_init would take this line as a loopback nameserver: `nameserver` at the
 * very start and a blank, blanks, then the text up to ";# \t\n" (or NUL) read with
 * __inet_aton_exact for IPv4, inet_pton after stripping %scope for IPv6. */
static int glibc_loopback(const char *l, size_t len)
{
	char *s = fuzz_strndup((const uint8_t *)l, len), *cp, *zone;
	struct in_addr a4;
	unsigned char a6[16];
	int lo = 0;

	if (strncmp(s, "nameserver", 10) != 0 || !blank(s[10]))
		goto out;
	cp = s + 11;
	while (blank(*cp))
		cp++;
	cp[strcspn(cp, ";# \t\n")] = '\0';
	if (!*cp)
		goto out;
	/* inet_aton stops at white space; "exact" means nothing at all follows. */
	if (!strpbrk(cp, " \t\n\v\f\r") && inet_aton(cp, &a4)) {
		lo = local4(ntohl(a4.s_addr));
		goto out;
	}
	zone = strchr(cp, '%');
	if (zone)
		*zone = '\0';
	if (inet_pton(AF_INET6, cp, a6) == 1)
		lo = local6(a6);
out:
	free(s);
	return lo;
}

static void check_valid_address(const char *text, size_t len)
{
	char *s = fuzz_strndup((const uint8_t *)text, len);
	int valid = rcfs_filter_valid_address(s);

	if (valid) {
		unsigned char b[16];

		FUZZ_CHECK(!strpbrk(s, " \t\n"), "valid_address accepted a blank or newline");
		if (!strchr(s, '%'))
			FUZZ_CHECK(inet_pton(AF_INET, s, b) == 1 || inet_pton(AF_INET6, s, b) == 1,
				   "valid_address accepted what inet_pton does not");
		else
			FUZZ_CHECK(strchr(s, '%')[1] != '\0', "valid_address accepted an empty zone");
	}
	free(s);
}

static long run(const char *in, size_t len, size_t cap, const char *const *fb, size_t nfb,
		char **outp)
{
	/* Exactly cap bytes (malloc(0) may return NULL: keep one byte then, unused). */
	char *out = malloc(cap ? cap : 1);
	long n;

	if (!out)
		fuzz_setup_die("malloc", NULL);
	n = rcfs_filter_loopback(in, len, out, cap, fb, nfb);
	*outp = out;
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct line lines[MAX_LINES];
	const char *in = (const char *)data;
	const char *const *fb = FALLBACKS;
	size_t nfb = size % 4, nlines = 0, removed = 0, kept = 0, klen = 0, p, bound;
	char *out, *again, *tight;
	long n, m;

	for (size_t pos = 0; pos < size; nlines++) {
		const char *nl = memchr(in + pos, '\n', size - pos);
		size_t end = nl ? (size_t)(nl - in) + 1 : size;
		struct line *l = &lines[nlines];

		if (nlines == MAX_LINES)
			return 0; /* cannot happen with libFuzzer's default max_len */
		*l = (struct line){ .off = pos, .len = end - pos };
		l->ns = ref_nameserver(in + pos, l->len, &l->toff, &l->tlen);
		l->lo = l->ns && ref_loopback(in + pos + l->toff, l->tlen);
		/* An address with a vertical tab or form feed in it is no address to glibc (its
		 * inet_aton_exact fails), while inet_aton stops there: dropping it or not is
		 * harmless, so the filter may decide either way. */
		l->either = l->ns && memchr(in + pos + l->toff, '\v', l->tlen) != NULL;
		l->either |= l->ns && memchr(in + pos + l->toff, '\f', l->tlen) != NULL;
		pos = end;
	}

	/* Line by line first, for a precise report: does the filter drop exactly the lines the
	 * reference calls loopback nameservers? (A dropped line's output starts with the comment.) */
	for (size_t i = 0; i < nlines; i++) {
		const char *l = in + lines[i].off;
		size_t ll = lines[i].len;
		long k = run(l, ll, rcfs_filter_bound(ll, NULL, 0), NULL, 0, &out);
		int kept_by_filter = k >= (long)ll && !memcmp(out, l, ll);

		free(out);
		if (lines[i].either)
			lines[i].lo = !kept_by_filter;
		if (kept_by_filter != !lines[i].lo)
			fprintf(stderr, "line %zu: '%.*s': the filter %s it, the reference says %s\n", i,
				(int)ll, l, kept_by_filter ? "keeps" : "drops",
				lines[i].lo ? "loopback nameserver (IPv4 as inet_aton reads it)" :
				lines[i].ns ? "non-loopback nameserver" : "no nameserver line");
		FUZZ_CHECK(kept_by_filter == !lines[i].lo,
			   "the filter's decision on a line differs from the reference");
		removed += lines[i].lo;
		/* A nameserver line "remains" only if glibc reads it: not indented. */
		kept += lines[i].ns && !lines[i].lo && !blank(l[0]);
		klen += lines[i].lo ? 0 : ll;
	}

	bound = rcfs_filter_bound(size, fb, nfb);
	n = run(in, size, bound, fb, nfb, &out);
	FUZZ_CHECK(n >= 0, "failed with cap = rcfs_filter_bound");
	FUZZ_CHECK((size_t)n <= bound, "output longer than rcfs_filter_bound");

	/* The kept lines, byte for byte and in order. */
	FUZZ_CHECK((size_t)n >= klen, "output shorter than the kept lines");
	p = 0;
	for (size_t i = 0; i < nlines; i++) {
		if (lines[i].lo)
			continue;
		FUZZ_CHECK(!glibc_loopback(in + lines[i].off, lines[i].len),
			   "glibc's resolver reads this kept line as a loopback nameserver");
		if (memcmp(out + p, in + lines[i].off, lines[i].len) != 0)
			fprintf(stderr, "line %zu: '%.*s' (reference: %s)\n", i, (int)lines[i].len,
				in + lines[i].off, lines[i].ns ? "non-loopback nameserver" : "no nameserver");
		FUZZ_CHECK(memcmp(out + p, in + lines[i].off, lines[i].len) == 0,
			   "a line the reference keeps is not in the output byte for byte, in order");
		p += lines[i].len;
	}

	/* What follows them. */
	if (removed) {
		const char *nl;
		size_t sfx = 0, clen;

		if (p > 0 && out[p - 1] != '\n') {
			FUZZ_CHECK(p < (size_t)n && out[p] == '\n', "no newline before the comment");
			p++;
		}
		FUZZ_CHECK(p < (size_t)n && out[p] == '#', "no comment line after a removal");
		nl = memchr(out + p, '\n', (size_t)n - p);
		FUZZ_CHECK(nl != NULL, "comment line not terminated");
		clen = (size_t)(nl - (out + p));
		for (size_t i = 0; i < nlines; i++)
			if (lines[i].lo)
				sfx += 1 + lines[i].tlen;
		FUZZ_CHECK(clen >= sfx, "comment line too short for the removed addresses");
		for (size_t i = 0, q = p + clen - sfx; i < nlines; i++) {
			if (!lines[i].lo)
				continue;
			FUZZ_CHECK(out[q] == ' ' && !memcmp(out + q + 1, in + lines[i].off + lines[i].toff,
							    lines[i].tlen),
				   "comment does not list the removed addresses in order");
			q += 1 + lines[i].tlen;
		}
		p += clen + 1;
	}
	if (!kept) {
		for (size_t i = 0; i < nfb; i++) {
			size_t fl = strlen(fb[i]);

			if (i == 0 && p > 0 && out[p - 1] != '\n') {
				FUZZ_CHECK(p < (size_t)n && out[p] == '\n', "no newline before the fallbacks");
				p++;
			}
			FUZZ_CHECK((size_t)n - p >= 12 + fl && !memcmp(out + p, "nameserver ", 11) &&
					   !memcmp(out + p + 11, fb[i], fl) && out[p + 11 + fl] == '\n',
				   "fallback line missing or malformed");
			p += 12 + fl;
		}
	}
	FUZZ_CHECK(p == (size_t)n, "unexpected bytes at the end of the output");

	/* Idempotent: every fallback is a non-loopback nameserver, the comment is a comment. */
	m = run(out, (size_t)n, rcfs_filter_bound((size_t)n, fb, nfb), fb, nfb, &again);
	FUZZ_CHECK(m == n && !memcmp(again, out, (size_t)n), "filtering the output changed it");
	free(again);

	/* Exact and short buffers. */
	m = run(in, size, (size_t)n, fb, nfb, &tight);
	FUZZ_CHECK(m == n && !memcmp(tight, out, (size_t)n), "cap = output size gave another result");
	free(tight);
	if (n > 0) {
		m = run(in, size, (size_t)n - 1, fb, nfb, &tight);
		FUZZ_CHECK(m == -ENOSPC, "cap one byte short did not give -ENOSPC");
		free(tight);
	}
	free(out);

	/* The address validator, on every line and every nameserver token. */
	for (size_t i = 0; i < nlines && i < 64; i++) {
		size_t l = lines[i].len;

		check_valid_address(in + lines[i].off, l && in[lines[i].off + l - 1] == '\n' ? l - 1 : l);
		if (lines[i].ns)
			check_valid_address(in + lines[i].off + lines[i].toff, lines[i].tlen);
	}
	return 0;
}
