/* addr.h: "HOST:PORT", "[V6]:PORT", "HOST" socket address strings. */
#ifndef REXEC_ADDR_H
#define REXEC_ADDR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define ADDR_DEFAULT_PORT 7600

/* Splits S into HOST (without brackets) and PORT (DEFAULT_PORT when absent). Returns 0 or
 * REXEC_ECONFIG for a malformed string or port. */
int addr_split(const char *s, uint16_t default_port, char *host, size_t hostlen, uint16_t *port);

/* Parses S with a numeric IPv4/IPv6 host into OUT. Returns 0 or REXEC_ECONFIG. */
int addr_parse_ip(const char *s, uint16_t default_port, struct sockaddr_storage *out);

/* Formats SA as "A.B.C.D:PORT" or "[V6]:PORT" into BUF. */
void addr_format(const struct sockaddr *sa, char *buf, size_t len);

#endif
