/* dial.c: how the client reaches an agent (see dial.h). */
#include "client/dial.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "lib/pki.h"
#include "proto/error.h"
#include "proto/tls.h"

#define DAY 86400LL

void dial_creds(const struct client_config *cfg, const struct client_host *h,
		struct dial_creds *out)
{
	out->ca = h->ca ? h->ca : cfg->ca;
	out->cert = h->cert ? h->cert : cfg->cert;
	out->key = h->key ? h->key : cfg->key;
}

int dial_check_cert(const char *cert, int *warned, char *err, size_t errlen)
{
	struct pki_cert_info info;
	char when[40], span[32];
	long long now = (long long)time(NULL);

	if (cert == NULL || pki_cert_info(cert, &info, NULL, 0) < 0)
		return 0;
	if (now >= info.not_after) {
		tls_format_utc(info.not_after, when, sizeof(when));
		pki_format_duration(now - info.not_after, span, sizeof(span));
		snprintf(err, errlen,
			 "certificate %s expired %s ago (at %s); get a new one (rexec cert issue)",
			 cert, span, when);
		return REXEC_EPKI;
	}
	if (now < info.not_before) {
		tls_format_utc(info.not_before, when, sizeof(when));
		snprintf(err, errlen,
			 "certificate %s is not valid until %s; check this machine's clock", cert,
			 when);
		return REXEC_EPKI;
	}
	/* Issued for more than a day, not counting the hour an issuer may backdate it by. */
	if (!*warned && info.not_after - info.not_before > DAY + PKI_DAYS_BACKDATE &&
	    info.not_after - now <= DAY) {
		tls_format_utc(info.not_after, when, sizeof(when));
		pki_format_duration(info.not_after - now, span, sizeof(span));
		fprintf(stderr, "rexec: warning: certificate %s expires in %s (at %s); renew it\n",
			cert, span, when);
		*warned = 1;
	}
	return 0;
}

int dial_tls(struct tls_config **out, const struct client_config *cfg,
	     const struct dial_creds *creds, char *err, size_t errlen)
{
	int ret = tls_config_new(out, 0, creds->ca, creds->cert, creds->key, err, errlen);

	if (ret == 0)
		tls_config_allow_dual_role(*out, cfg->allow_dual_role_certs);
	return ret;
}

void dial_conn_opts(struct conn_opts *o, const struct client_config *cfg,
		    const struct client_host *h, struct tls_config *tls, const char *software,
		    unsigned handshake_ms, char *ticket, size_t len)
{
	memset(o, 0, sizeof(*o));
	o->tls = tls;
	o->server_name = h->server_name;
	o->software = software;
	o->keepalive_ms = DIAL_KEEPALIVE_MS;
	o->handshake_ms = handshake_ms              ? handshake_ms
			  : cfg->connect_timeout_ms ? cfg->connect_timeout_ms
						    : CLIENT_DEFAULT_CONNECT_TIMEOUT_MS;
	o->ticket_file = client_ticket_path(cfg, h, ticket, len);
}

int dial_resolve(const struct client_host *h, struct sockaddr_storage *ss, char *err, size_t errlen)
{
	struct addrinfo hints, *res = NULL;
	char port[8];
	int ret;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(port, sizeof(port), "%u", h->port);
	if ((ret = getaddrinfo(h->host, port, &hints, &res)) != 0) {
		snprintf(err, errlen, "cannot resolve %s: %s", h->host, gai_strerror(ret));
		return ret == EAI_SYSTEM ? -errno : REXEC_EUNAVAILABLE;
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	return 0;
}
