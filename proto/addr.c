/* addr.c: socket address strings, shared by the agent's listeners and the client's hosts. */
#include "proto/addr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "proto/error.h"

int addr_split(const char *s, uint16_t default_port, char *host, size_t hostlen, uint16_t *port)
{
	const char *colon, *end;
	size_t n;

	*port = default_port;
	if (s[0] == '[') {
		end = strchr(s, ']');
		if (end == NULL)
			return REXEC_ECONFIG;
		n = (size_t)(end - s - 1);
		if (n == 0 || n >= hostlen)
			return REXEC_ECONFIG;
		memcpy(host, s + 1, n);
		host[n] = 0;
		colon = end[1] == ':' ? end + 1 : NULL;
		if (end[1] != 0 && colon == NULL)
			return REXEC_ECONFIG;
	} else {
		colon = strrchr(s, ':');
		/* More than one colon and no brackets: a bare IPv6 address. */
		if (colon != NULL && strchr(s, ':') != colon)
			colon = NULL;
		n = colon ? (size_t)(colon - s) : strlen(s);
		if (n == 0 || n >= hostlen)
			return REXEC_ECONFIG;
		memcpy(host, s, n);
		host[n] = 0;
	}
	if (colon != NULL) {
		char *e;
		unsigned long p = strtoul(colon + 1, &e, 10);
		if (colon[1] == 0 || *e != 0 || p > 65535)
			return REXEC_ECONFIG;
		*port = (uint16_t)p;
	}
	return 0;
}

int addr_parse_ip(const char *s, uint16_t default_port, struct sockaddr_storage *out)
{
	char host[128];
	uint16_t port;

	memset(out, 0, sizeof(*out));
	if (addr_split(s, default_port, host, sizeof(host), &port) < 0)
		return REXEC_ECONFIG;
	if (strcmp(host, "localhost") == 0)
		snprintf(host, sizeof(host), "127.0.0.1");
	if (uv_ip4_addr(host, port, (struct sockaddr_in *)out) == 0)
		return 0;
	if (uv_ip6_addr(host, port, (struct sockaddr_in6 *)out) == 0)
		return 0;
	return REXEC_ECONFIG;
}

void addr_format(const struct sockaddr *sa, char *buf, size_t len)
{
	char host[64] = "?";

	if (sa->sa_family == AF_INET) {
		uv_ip4_name((const struct sockaddr_in *)sa, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host,
			 ntohs(((const struct sockaddr_in *)sa)->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		uv_ip6_name((const struct sockaddr_in6 *)sa, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host,
			 ntohs(((const struct sockaddr_in6 *)sa)->sin6_port));
	} else {
		snprintf(buf, len, "?");
	}
}
