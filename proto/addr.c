/* addr.c: socket address strings, shared by the agent's listeners and the client's hosts. */
#include "proto/addr.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include <uv.h>

#include "proto/error.h"

/* An IPv6 address, with an optional "%zone" after it. */
static int is_ipv6(const char *s)
{
	struct in6_addr a;
	char buf[INET6_ADDRSTRLEN];
	size_t n = strcspn(s, "%");

	if (n >= sizeof(buf) || (s[n] == '%' && s[n + 1] == '\0'))
		return 0;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return inet_pton(AF_INET6, buf, &a) == 1;
}

/* A decimal port of 1 to 5 digits, at most 65535. */
static int parse_port(const char *s, uint16_t *port)
{
	unsigned long v = 0;
	size_t i;

	for (i = 0; s[i] != '\0'; i++) {
		if (i == 5 || s[i] < '0' || s[i] > '9')
			return REXEC_ECONFIG;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (i == 0 || v > 65535)
		return REXEC_ECONFIG;
	*port = (uint16_t)v;
	return 0;
}

int addr_split(const char *s, struct addr_parts *out)
{
	const char *host = s, *port = NULL, *colon, *end;
	size_t n, i;
	int v6 = 0;

	memset(out, 0, sizeof(*out));
	if (s[0] == '[') {
		end = strchr(s, ']');
		if (end == NULL || (end[1] != '\0' && end[1] != ':'))
			return REXEC_ECONFIG;
		host = s + 1;
		n = (size_t)(end - host);
		port = end[1] == ':' ? end + 2 : NULL;
		v6 = 1;
	} else {
		colon = strchr(s, ':');
		if (colon != NULL && strchr(colon + 1, ':') != NULL) {
			colon = NULL; /* two colons or more: a bare IPv6 address, no port */
			v6 = 1;
		}
		n = colon ? (size_t)(colon - s) : strlen(s);
		port = colon ? colon + 1 : NULL;
	}
	if (n == 0 || n > ADDR_HOST_MAX)
		return REXEC_ECONFIG;
	memcpy(out->host, host, n);
	out->host[n] = '\0';
	if (v6 && !is_ipv6(out->host))
		return REXEC_ECONFIG;
	for (i = 0; i < n; i++)
		if (isspace((unsigned char)out->host[i]) || strchr("[]/@,", out->host[i]) != NULL)
			return REXEC_ECONFIG;
	if (port != NULL) {
		if (parse_port(port, &out->port) < 0)
			return REXEC_ECONFIG;
		out->has_port = 1;
	}
	return 0;
}

int addr_parse_ip(const char *s, uint16_t default_port, struct sockaddr_storage *out)
{
	struct addr_parts a;
	uint16_t port;

	memset(out, 0, sizeof(*out));
	if (addr_split(s, &a) < 0)
		return REXEC_ECONFIG;
	port = a.has_port ? a.port : default_port;
	if (strcmp(a.host, "localhost") == 0)
		snprintf(a.host, sizeof(a.host), "127.0.0.1");
	if (uv_ip4_addr(a.host, port, (struct sockaddr_in *)out) == 0)
		return 0;
	if (uv_ip6_addr(a.host, port, (struct sockaddr_in6 *)out) == 0)
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
