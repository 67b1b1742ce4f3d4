/* addr.h: "HOST:PORT", "[V6]:PORT", "HOST" socket address strings: the one parser behind the
 * agent's listeners and the client's inventory. */
#ifndef REXEC_ADDR_H
#define REXEC_ADDR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define ADDR_DEFAULT_PORT 7600
#define ADDR_HOST_MAX     253 /* a DNS name's limit */

struct addr_parts {
	char host[ADDR_HOST_MAX + 1]; /* without brackets */
	uint16_t port;                /* 0 when none was given */
	int has_port;
};

/* Splits S: "HOST", "HOST:PORT", "[V6]", "[V6]:PORT" or a bare IPv6 address (which cannot
 * carry a port). The host is non-empty, has no blanks or any of "[]/@,"; a bracketed or bare
 * host with colons must be an IPv6 address (a "%zone" is allowed). A port is 1 to 5 decimal
 * digits, at most 65535 (0 is left to the caller to refuse). Returns 0 or REXEC_ECONFIG. */
int addr_split(const char *s, struct addr_parts *out);

/* Parses S with a numeric IPv4/IPv6 host ("localhost" meaning 127.0.0.1) into OUT, with
 * DEFAULT_PORT when S has none. Returns 0 or REXEC_ECONFIG. */
int addr_parse_ip(const char *s, uint16_t default_port, struct sockaddr_storage *out);

/* Formats SA as "A.B.C.D:PORT" or "[V6]:PORT" into BUF. */
void addr_format(const struct sockaddr *sa, char *buf, size_t len);

#endif
