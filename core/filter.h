/* The loopback filter for templates: a host's resolv.conf often names a resolver on the host's
 * loopback (127.0.0.53 for systemd-resolved, 127.0.0.1 for dnsmasq) that no other network
 * namespace can reach. The unspecified addresses 0.0.0.0 and :: count too: Linux connects them
 * to the local host. */
#ifndef RCFS_FILTER_H
#define RCFS_FILTER_H

#include <stddef.h>

/* Whether text is an IPv4 or IPv6 address (an IPv6 one may carry a %zone), as resolv.conf's
 * nameserver lines take them. */
int rcfs_filter_valid_address(const char *text);

/* Copy the resolv.conf text in[0..len) to out, dropping `nameserver` lines whose address is in
 * 127.0.0.0/8, is 0.0.0.0, ::1 or :: (also ::ffff:127.x.y.z and ::ffff:0.0.0.0; IPv4 in every
 * form inet_aton takes, as glibc reads it; with or without a zone or leading blanks) and
 * keeping every other byte as it is. When something was dropped, append a comment line saying
 * what; when no nameserver line remains, also append `nameserver ADDR` for each of the nfb
 * fallbacks. Returns the output length, -ENOSPC when it would exceed cap, or -ENOMEM. Parses as
 * resolv.conf(5): comments start with # or ;, keywords are case-sensitive, the last line may
 * lack its newline. */
long rcfs_filter_loopback(const char *in, size_t len, char *out, size_t cap,
			  const char *const *fallbacks, size_t nfb);

/* An upper bound of the output size of rcfs_filter_loopback for input length len. */
size_t rcfs_filter_bound(size_t len, const char *const *fallbacks, size_t nfb);

#endif
