#include "filter.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The longest text either address family prints, plus a zone. */
#define ADDR_MAX 96

static const char REMOVED[] = "# resolvconffs: removed loopback/unspecified nameserver(s) "
			       "unreachable from this network namespace:";

static int is_blank(char c)
{
	return c == ' ' || c == '\t';
}

int rcfs_filter_valid_address(const char *text)
{
	unsigned char bin[16];
	char addr[ADDR_MAX];
	const char *zone = strchr(text, '%');
	size_t alen = zone ? (size_t)(zone - text) : strlen(text);

	if (alen == 0 || alen >= sizeof(addr))
		return 0;
	memcpy(addr, text, alen);
	addr[alen] = '\0';
	if (!zone)
		return inet_pton(AF_INET, addr, bin) == 1 || inet_pton(AF_INET6, addr, bin) == 1;
	/* A zone names an interface: only IPv6 has them, and it must be a plausible name. */
	if (!zone[1] || strlen(zone + 1) > 15 || strpbrk(zone + 1, " \t/\n"))
		return 0;
	return inet_pton(AF_INET6, addr, bin) == 1;
}

/* Whether the NUL-terminated address names the host itself: loopback, or the unspecified
 * address, which Linux connects to the local host just the same, so it is as unreachable from
 * another namespace as 127.0.0.1. */
static int addr_is_local(const char *addr)
{
	static const unsigned char v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	static const unsigned char v6lo[16] = { [15] = 1 };
	static const unsigned char v6any[16];
	unsigned char bin[16];
	struct in_addr v4;
	uint32_t host;

	/* glibc reads nameserver addresses with inet_aton, which also takes 127.1, 2130706433,
	 * 0x7f000001, and 0, 0.0 or 0x0 for 0.0.0.0: every form it would connect to counts. */
	if (inet_aton(addr, &v4)) {
		host = ntohl(v4.s_addr);
		return host >> 24 == 127 || host == 0;
	}
	if (inet_pton(AF_INET6, addr, bin) != 1)
		return 0;
	if (!memcmp(bin, v6lo, 16) || !memcmp(bin, v6any, 16))
		return 1;
	/* ::ffff:a.b.c.d is connected to as a.b.c.d. */
	return !memcmp(bin, v4mapped, 12) && (bin[12] == 127 || !memcmp(bin + 12, v6any, 4));
}

/* addr_is_local for the token tok[0..len) without its %zone: 1 or 0, or -ENOMEM. */
static int is_local(const char *tok, size_t len)
{
	char buf[ADDR_MAX], *addr = buf;
	const char *zone = memchr(tok, '%', len);
	int local;

	if (zone)
		len = (size_t)(zone - tok);
	if (len == 0)
		return 0;
	/* No length limit: inet_aton takes any number of leading zeros (127.0.0.0...01 is
	 * 127.0.0.1 to glibc), so a long token is read whole, like a short one. */
	if (len >= sizeof(buf) && !(addr = malloc(len + 1)))
		return -ENOMEM;
	memcpy(addr, tok, len);
	addr[len] = '\0';
	local = addr_is_local(addr);
	if (addr != buf)
		free(addr);
	return local;
}

/* For a `nameserver ADDR` line (keyword at the start after blanks), set the address token and
 * return 1; 0 for every other line. */
static int nameserver_addr(const char *line, size_t len, const char **tok, size_t *tlen)
{
	static const char kw[] = "nameserver";
	size_t i = 0, start;

	while (i < len && is_blank(line[i]))
		i++;
	if (len - i <= sizeof(kw) - 1 || memcmp(line + i, kw, sizeof(kw) - 1) ||
	    !is_blank(line[i + sizeof(kw) - 1]))
		return 0;
	i += sizeof(kw) - 1;
	while (i < len && is_blank(line[i]))
		i++;
	start = i;
	while (i < len && !is_blank(line[i]) && !strchr("\r\n#;", line[i]))
		i++;
	*tok = line + start;
	*tlen = i - start;
	return *tlen > 0;
}

struct out {
	char *buf;
	size_t len, cap;
	int overflow;
};

static void put(struct out *o, const char *s, size_t n)
{
	if (o->overflow || n > o->cap - o->len) {
		o->overflow = 1;
		return;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
}

static void puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

size_t rcfs_filter_bound(size_t len, const char *const *fallbacks, size_t nfb)
{
	/* The comment repeats at most every dropped address (each shorter than its line). */
	size_t n = len + sizeof(REMOVED) + 2 + len;

	for (size_t i = 0; i < nfb; i++)
		n += strlen(fallbacks[i]) + sizeof("nameserver \n");
	return n;
}

long rcfs_filter_loopback(const char *in, size_t len, char *outbuf, size_t cap,
			  const char *const *fallbacks, size_t nfb)
{
	struct out o = { .buf = outbuf, .cap = cap };
	size_t pos = 0, removed = 0, kept = 0, mark;
	const char *tok;
	size_t tlen;
	int local;

	while (pos < len) {
		const char *nl = memchr(in + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - in) + 1 : len;
		size_t llen = end - pos;

		if (nameserver_addr(in + pos, llen, &tok, &tlen)) {
			local = is_local(tok, tlen);
			if (local < 0)
				return local;
			if (local) {
				removed++;
				pos = end;
				continue;
			}
			/* glibc ignores an indented keyword: only a nameserver line it reads counts as
			 * one that remains (an indented local one is still dropped). */
			kept += !is_blank(in[pos]);
		}
		put(&o, in + pos, llen);
		pos = end;
	}
	if (removed) {
		if (o.len > 0 && o.buf[o.len - 1] != '\n' && !o.overflow)
			put(&o, "\n", 1);
		puts_(&o, REMOVED);
		/* Name what was removed: walk the input again for the dropped addresses. */
		for (pos = 0; pos < len;) {
			const char *nl = memchr(in + pos, '\n', len - pos);
			size_t end = nl ? (size_t)(nl - in) + 1 : len;

			local = nameserver_addr(in + pos, end - pos, &tok, &tlen) ? is_local(tok, tlen) : 0;
			if (local < 0)
				return local;
			if (local) {
				put(&o, " ", 1);
				put(&o, tok, tlen);
			}
			pos = end;
		}
		put(&o, "\n", 1);
	}
	mark = o.len;
	if (!kept) {
		for (size_t i = 0; i < nfb; i++) {
			if (i == 0 && mark > 0 && o.buf[mark - 1] != '\n' && !o.overflow)
				put(&o, "\n", 1);
			puts_(&o, "nameserver ");
			puts_(&o, fallbacks[i]);
			put(&o, "\n", 1);
		}
	}
	return o.overflow ? -ENOSPC : (long)o.len;
}
