/* tls.c: mbedTLS sessions driven by the owner's I/O: ciphertext in by tls_session_feed(),
 * out through a callback, so that one libuv loop can serve many connections. */
/* The alert a peer sent is only in the context's private in_msg (mbedTLS 3.6 has no getter; its
 * own ssl_client2 prints just the error code): read there, in one place (peer_alert()). */
#define MBEDTLS_ALLOW_PRIVATE_ACCESS
#include "proto/tls.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>
#include <psa/crypto.h>

#include "proto/buf.h"
#include "proto/error.h"
#include "proto/ticket.h"

/* Session tickets (TLS 1.3 resumption, psk_dhe_ke): a reconnecting client skips the
 * certificate signatures (most of a handshake's cost) but still does a fresh key exchange,
 * so a stolen ticket key does not open recorded sessions. mbedTLS 3.6 does not keep the peer
 * certificate in a TLS 1.3 ticket, so the agent seals its own (proto/ticket.c): the client's
 * CN, its certificate's serial and notAfter and when it last showed it, under keys drawn at
 * start-up and rotated (a restarted agent refuses every older ticket and the client falls back
 * to a full handshake). A resumed session's new ticket carries the claims over unchanged, so a
 * chain of resumptions ends with the certificate, or a day after it was last shown. */

struct tls_config {
	int server;
	mbedtls_ssl_config conf;
	mbedtls_x509_crt ca;
	mbedtls_x509_crt cert;
	mbedtls_pk_context key;
	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context drbg;
	int allow_dual_role; /* accept a peer certificate with both serverAuth and clientAuth */
	/* Server: the ticket keys. Both ends: the session whose mbedTLS call is running (tickets
	 * are written and parsed, certificates verified inside one; all on the loop's thread). */
	struct ticket_keys *tickets;
	struct tls_session *current;
};

struct tls_session {
	mbedtls_ssl_context ssl;
	struct tls_config *cfg;
	tls_send_fn send;
	void *arg;
	struct buf in; /* ciphertext fed in, not yet taken by mbedTLS */
	/* Who the peer is (cn "" until known): from its certificate after a full handshake, else
	 * what the ticket vouched for. A server only seals tickets for a sealable peer. */
	struct ticket_claims peer;
	int sealable;
	struct tls_identity ident; /* PEER as tls_session_identity() shows it */
	char ident_error[160];     /* server: why the certificate stands for no user */
	/* Server: the claims of the ticket mbedTLS is resuming with; client: the agent's CN that
	 * goes with the ticket offered. */
	struct ticket_claims ticket;
	char role_error[200]; /* client: why the agent's certificate is not an agent's */
	/* Server: the certificate the client showed, trusted or not (printable ASCII, for the
	 * log of a refusal only), and why it was refused (a refusals[] name; NULL: not). */
	char shown_cn[65];
	char shown_serial[2 * TICKET_SERIAL_MAX + 1];
	const char *refusal;
	int offered; /* client: a ticket was offered */
	int resumed;
	int new_ticket; /* client: a ticket arrived and was not taken yet */
	char error[256];
};

static const char *alpn_list[] = { TLS_ALPN, NULL };
/* AES-GCM first: mbedTLS uses AES-NI and PCLMUL where the CPU has them (checked at run time),
 * several times faster than its portable ChaCha20 here. */
static const int suites[] = { MBEDTLS_TLS1_3_AES_128_GCM_SHA256, MBEDTLS_TLS1_3_AES_256_GCM_SHA384,
			      MBEDTLS_TLS1_3_CHACHA20_POLY1305_SHA256, 0 };

/* P-256 first: mbedTLS has an optimised P-256 (the curve of rexec's certificates too) and only
 * generic arithmetic for X25519, which costs the client 30% more instructions a handshake. */
static const uint16_t groups[] = { MBEDTLS_SSL_IANA_TLS_GROUP_SECP256R1,
				   MBEDTLS_SSL_IANA_TLS_GROUP_X25519, 0 };

static void describe(char *buf, size_t len, const char *what, int ret)
{
	char msg[160];
	mbedtls_strerror(ret, msg, sizeof(msg));
	snprintf(buf, len, "%s: %s", what, msg);
}

/* Why an agent refuses a client's certificate, most telling first (a certificate from another CA
 * is often expired too): the verify flags (mbedtls_x509_crt_verify()), the short name for logs
 * and the audit log, and the alert that tells the client (RFC 8446 6.2; "not yet valid" has none
 * of its own). The agent verifies with authmode optional and sends the alert itself once the
 * handshake is over: mbedTLS's own alert for a client certificate goes out under the handshake
 * keys after the client has moved to the application keys, and the client reads "Verification
 * of the message MAC failed" instead of the reason. */
static const struct refusal {
	uint32_t flags;
	const char *name;
	unsigned char alert;
} refusals[] = {
	{ MBEDTLS_X509_BADCERT_MISSING, "no_certificate", MBEDTLS_SSL_ALERT_MSG_CERT_REQUIRED },
	{ MBEDTLS_X509_BADCERT_NOT_TRUSTED, "unknown_ca", MBEDTLS_SSL_ALERT_MSG_UNKNOWN_CA },
	{ MBEDTLS_X509_BADCERT_REVOKED, "revoked", MBEDTLS_SSL_ALERT_MSG_CERT_REVOKED },
	{ MBEDTLS_X509_BADCERT_EXPIRED, "expired", MBEDTLS_SSL_ALERT_MSG_CERT_EXPIRED },
	{ MBEDTLS_X509_BADCERT_FUTURE, "not_yet_valid", MBEDTLS_SSL_ALERT_MSG_BAD_CERT },
	{ MBEDTLS_X509_BADCERT_KEY_USAGE | MBEDTLS_X509_BADCERT_EXT_KEY_USAGE |
		  MBEDTLS_X509_BADCERT_NS_CERT_TYPE,
	  "wrong_usage", MBEDTLS_SSL_ALERT_MSG_UNSUPPORTED_CERT },
	{ 0xffffffff, "bad_certificate", MBEDTLS_SSL_ALERT_MSG_BAD_CERT },
};

/* What a client is told of the alert the agent ended the connection with, and what to check. */
static const struct {
	unsigned char alert;
	const char *name, *why;
} alert_texts[] = {
	{ MBEDTLS_SSL_ALERT_MSG_UNKNOWN_CA, "unknown_ca",
	  "it is not issued by a CA the agent trusts: is your certificate issued by this fleet's "
	  "CA? (rexec cert show)" },
	{ MBEDTLS_SSL_ALERT_MSG_CERT_EXPIRED, "certificate_expired",
	  "it has expired: get a new one from the fleet's CA (rexec cert show)" },
	{ MBEDTLS_SSL_ALERT_MSG_CERT_REVOKED, "certificate_revoked",
	  "it is revoked: get a new one from the fleet's CA (rexec cert show)" },
	{ MBEDTLS_SSL_ALERT_MSG_UNSUPPORTED_CERT, "unsupported_certificate",
	  "it is not a client certificate (no clientAuth extended key usage, or a key usage "
	  "without digitalSignature): use one made with rexec cert issue --client" },
	{ MBEDTLS_SSL_ALERT_MSG_CERT_REQUIRED, "certificate_required",
	  "none was sent: set cert and key in the client's config" },
	{ MBEDTLS_SSL_ALERT_MSG_NO_CERT, "certificate_required",
	  "none was sent: set cert and key in the client's config" },
	{ MBEDTLS_SSL_ALERT_MSG_BAD_CERT, "bad_certificate",
	  "check its validity dates and issuer (rexec cert show)" },
	{ MBEDTLS_SSL_ALERT_MSG_CERT_UNKNOWN, "certificate_unknown",
	  "check its validity dates and issuer (rexec cert show)" },
	{ MBEDTLS_SSL_ALERT_MSG_ACCESS_DENIED, "access_denied", "the agent does not let it in" },
};

static void note_peer(struct tls_session *s);
static int check_role(const struct tls_config *c, const mbedtls_x509_crt *crt, char *why,
		      size_t len);

/* Server: seals the client's claims and SESSION into a ticket at START (proto/ticket.c). A
 * client that cannot have one (no CN, a certificate not for a client, a chain of resumptions
 * at its end) gets four bytes no parse accepts (an error here would end the connection), so
 * that its next handshake is a full one. */
static int ticket_write(void *p, const mbedtls_ssl_session *session, unsigned char *start,
			const unsigned char *end, size_t *tlen, uint32_t *lifetime)
{
	struct tls_config *c = p;
	struct tls_session *s = c->current;
	const mbedtls_x509_crt *peer;
	unsigned char *blob = NULL;
	size_t need = 0;
	int ret;

	if (s == NULL)
		return MBEDTLS_ERR_SSL_INTERNAL_ERROR;
	/* Authmode is optional (see refusals[]): a refused certificate gets no ticket. */
	if (mbedtls_ssl_get_verify_result(&s->ssl) != 0)
		goto unusable;
	note_peer(s);
	peer = mbedtls_ssl_get_peer_cert(&s->ssl);
	if (!s->sealable || (peer != NULL && check_role(c, peer, NULL, 0) < 0))
		goto unusable;
	ret = mbedtls_ssl_session_save(session, NULL, 0, &need);
	if (ret != MBEDTLS_ERR_SSL_BUFFER_TOO_SMALL)
		return ret != 0 ? ret : MBEDTLS_ERR_SSL_INTERNAL_ERROR;
	if ((blob = malloc(need)) == NULL)
		return MBEDTLS_ERR_SSL_ALLOC_FAILED;
	ret = mbedtls_ssl_session_save(session, blob, need, &need);
	if (ret == 0)
		ret = ticket_seal(c->tickets, (int64_t)time(NULL), &s->peer, blob, need, start,
				  (size_t)(end - start), tlen, lifetime);
	mbedtls_platform_zeroize(blob, need);
	free(blob);
	if (ret == -ENOSPC)
		return MBEDTLS_ERR_SSL_BUFFER_TOO_SMALL;
	if (ret == REXEC_ETICKET_EXPIRED || ret == -EINVAL)
		goto unusable;
	return ret == 0 ? 0 : MBEDTLS_ERR_SSL_INTERNAL_ERROR;
unusable:
	if (end - start < 4)
		return MBEDTLS_ERR_SSL_BUFFER_TOO_SMALL;
	memset(start, 0, 4);
	*tlen = 4;
	*lifetime = TICKET_LIFETIME;
	return 0;
}

/* Server: opens a ticket of ours into SESSION; the claims it carries are the client's
 * should the handshake resume with it. Anything else is no ticket of ours. */
static int ticket_parse(void *p, mbedtls_ssl_session *session, unsigned char *buf, size_t len)
{
	struct tls_config *c = p;
	struct ticket_claims claims;
	const uint8_t *blob;
	size_t blob_len;
	int ret;

	if (c->current == NULL)
		return MBEDTLS_ERR_SSL_INTERNAL_ERROR;
	ret = ticket_open(c->tickets, (int64_t)time(NULL), buf, len, &claims, &blob, &blob_len);
	if (ret == REXEC_ETICKET_EXPIRED)
		return MBEDTLS_ERR_SSL_SESSION_TICKET_EXPIRED;
	if (ret < 0 || mbedtls_ssl_session_load(session, blob, blob_len) != 0)
		return MBEDTLS_ERR_SSL_INVALID_MAC;
	c->current->ticket = claims;
	return 0;
}

/* Server: tickets sealed with fresh random keys. */
static int setup_tickets(struct tls_config *c, char *err, size_t errlen)
{
	int ret = ticket_keys_new(&c->tickets, mbedtls_ctr_drbg_random, &c->drbg,
				  (int64_t)time(NULL));

	if (ret < 0) {
		snprintf(err, errlen, "session ticket key: %s", rexec_strerror(ret));
		return ret;
	}
	mbedtls_ssl_conf_session_tickets_cb(&c->conf, ticket_write, ticket_parse, c);
	mbedtls_ssl_conf_new_session_tickets(&c->conf, 1);
	return 0;
}

/* Whether CRT may act as the peer's role: an agent's certificate must carry serverAuth, a
 * client's clientAuth (mbedTLS lets a certificate without extendedKeyUsage act as either, so
 * that with one CA for both any such certificate would be both). A certificate for both roles
 * (or anyExtendedKeyUsage) only passes with allow_dual_role. Returns 0, or REXEC_ETLS_ROLE
 * with the reason in WHY (LEN bytes; WHY may be NULL). */
static int check_role(const struct tls_config *c, const mbedtls_x509_crt *crt, char *why,
		      size_t len)
{
	const char *peer = c->server ? "client" : "agent";
	const char *own = c->server ? MBEDTLS_OID_CLIENT_AUTH : MBEDTLS_OID_SERVER_AUTH;
	const char *other = c->server ? MBEDTLS_OID_SERVER_AUTH : MBEDTLS_OID_CLIENT_AUTH;
	const char *own_name = c->server ? "clientAuth" : "serverAuth";
	const char *other_name = c->server ? "serverAuth" : "clientAuth";
	int has_eku = mbedtls_x509_crt_has_ext_type(crt, MBEDTLS_X509_EXT_EXTENDED_KEY_USAGE);

	/* With the extension present, these pass for the OID or anyExtendedKeyUsage. */
	if (!has_eku || mbedtls_x509_crt_check_extended_key_usage(crt, own, strlen(own)) != 0) {
		if (why != NULL)
			snprintf(why, len,
				 "the %s's certificate has no %s extended key usage: it is not a "
				 "%s certificate",
				 peer, own_name, peer);
		return REXEC_ETLS_ROLE;
	}
	if (!c->allow_dual_role &&
	    mbedtls_x509_crt_check_extended_key_usage(crt, other, strlen(other)) == 0) {
		if (why != NULL)
			snprintf(why, len,
				 "the %s's certificate also carries %s (the %s role): refused "
				 "unless allow_dual_role_certs: true",
				 peer, other_name, c->server ? "agent's" : "client's");
		return REXEC_ETLS_ROLE;
	}
	return 0;
}

/* The serial P (LEN bytes, at most TICKET_SERIAL_MAX) into OUT (2 * TICKET_SERIAL_MAX + 1
 * bytes) as openssl prints it: upper-case hex without the zero bytes DER puts before a high
 * bit, so that logs, the audit log and CRL listings show one spelling. */
static void serial_hex(char *out, const uint8_t *p, size_t len)
{
	size_t i = 0, n = 0;

	if (len > TICKET_SERIAL_MAX)
		len = TICKET_SERIAL_MAX;
	while (i + 1 < len && p[i] == 0)
		i++;
	for (; i < len; i++, n += 2)
		snprintf(out + n, 3, "%02X", p[i]);
	out[n] = 0;
}

/* Server: keeps the CN and serial of the certificate the client showed (CRT), trusted or not,
 * for the log of a refusal: captured here, in the verify callback, because it runs for every
 * certificate that parsed, whatever the verification finds. The CN is the peer's text: only
 * printable ASCII is kept ('?' for the rest), 64 bytes at most. */
static void note_shown(struct tls_session *s, const mbedtls_x509_crt *crt)
{
	const mbedtls_x509_name *n;
	size_t i, len;

	for (n = &crt->subject; n != NULL; n = n->next)
		if (MBEDTLS_OID_CMP(MBEDTLS_OID_AT_CN, &n->oid) == 0)
			break;
	len = n == NULL                          ? 0
	      : n->val.len < sizeof(s->shown_cn) ? n->val.len
						 : sizeof(s->shown_cn) - 1;
	for (i = 0; i < len; i++)
		s->shown_cn[i] =
			n->val.p[i] >= 0x20 && n->val.p[i] < 0x7f ? (char)n->val.p[i] : '?';
	s->shown_cn[len] = 0;
	serial_hex(s->shown_serial, crt->serial.p, crt->serial.len);
}

/* Client: the agent's certificate (depth 0) must be an agent's; refused inside the handshake,
 * before our own certificate goes out. The agent checks a client after its handshake, so
 * that it can tell the client why (tls_session_handshake()). */
static int verify_peer(void *p, mbedtls_x509_crt *crt, int depth, uint32_t *flags)
{
	struct tls_config *c = p;
	char why[200];

	if (depth == 0 && c->server && c->current != NULL)
		note_shown(c->current, crt);
	if (depth != 0 || c->server || check_role(c, crt, why, sizeof(why)) == 0)
		return 0;
	if (c->current != NULL)
		snprintf(c->current->role_error, sizeof(c->current->role_error), "%s", why);
	*flags |= MBEDTLS_X509_BADCERT_EXT_KEY_USAGE;
	return 0;
}

int tls_config_new(struct tls_config **out, int server, const char *ca, const char *cert,
		   const char *key, char *err, size_t errlen)
{
	struct tls_config *c = NULL;
	int ret;

	if (psa_crypto_init() != PSA_SUCCESS) {
		snprintf(err, errlen, "PSA crypto initialisation failed");
		return REXEC_ETLS;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	c->server = server;
	mbedtls_ssl_config_init(&c->conf);
	mbedtls_x509_crt_init(&c->ca);
	mbedtls_x509_crt_init(&c->cert);
	mbedtls_pk_init(&c->key);
	mbedtls_entropy_init(&c->entropy);
	mbedtls_ctr_drbg_init(&c->drbg);

	/* mbedTLS says "read/write of file failed": name the file and the reason instead. */
	{
		const char *files[] = { ca, cert, key };
		int i;
		for (i = 0; i < 3; i++) {
			FILE *f = fopen(files[i], "r");
			if (f == NULL) {
				snprintf(err, errlen, "%s: %s", files[i], strerror(errno));
				ret = -errno;
				tls_config_free(c);
				return ret;
			}
			fclose(f);
		}
	}
	ret = mbedtls_ctr_drbg_seed(&c->drbg, mbedtls_entropy_func, &c->entropy,
				    (const unsigned char *)"rexec", 5);
	if (ret != 0) {
		describe(err, errlen, "seeding the random generator", ret);
		goto fail;
	}
	if ((ret = mbedtls_x509_crt_parse_file(&c->ca, ca)) != 0) {
		describe(err, errlen, ca, ret);
		goto fail;
	}
	if ((ret = mbedtls_x509_crt_parse_file(&c->cert, cert)) != 0) {
		describe(err, errlen, cert, ret);
		goto fail;
	}
	ret = mbedtls_pk_parse_keyfile(&c->key, key, NULL, mbedtls_ctr_drbg_random, &c->drbg);
	if (ret != 0) {
		describe(err, errlen, key, ret);
		goto fail;
	}
	ret = mbedtls_ssl_config_defaults(&c->conf,
					  server ? MBEDTLS_SSL_IS_SERVER : MBEDTLS_SSL_IS_CLIENT,
					  MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT);
	if (ret != 0) {
		describe(err, errlen, "TLS configuration", ret);
		goto fail;
	}
	mbedtls_ssl_conf_min_tls_version(&c->conf, MBEDTLS_SSL_VERSION_TLS1_3);
	mbedtls_ssl_conf_max_tls_version(&c->conf, MBEDTLS_SSL_VERSION_TLS1_3);
	mbedtls_ssl_conf_rng(&c->conf, mbedtls_ctr_drbg_random, &c->drbg);
	mbedtls_ssl_conf_ciphersuites(&c->conf, suites);
	mbedtls_ssl_conf_groups(&c->conf, groups);
	/* A server verifies with optional and refuses after the handshake (see refusals[]). */
	mbedtls_ssl_conf_authmode(&c->conf, server ? MBEDTLS_SSL_VERIFY_OPTIONAL
						   : MBEDTLS_SSL_VERIFY_REQUIRED);
	mbedtls_ssl_conf_ca_chain(&c->conf, &c->ca, NULL);
	if ((ret = mbedtls_ssl_conf_own_cert(&c->conf, &c->cert, &c->key)) != 0) {
		describe(err, errlen, "certificate and key", ret);
		goto fail;
	}
	if ((ret = mbedtls_ssl_conf_alpn_protocols(&c->conf, alpn_list)) != 0) {
		describe(err, errlen, "ALPN", ret);
		goto fail;
	}
	/* Resumption keeps forward secrecy (psk_dhe_ke only; a full handshake otherwise). */
	mbedtls_ssl_conf_tls13_key_exchange_modes(
		&c->conf, MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_PSK_EPHEMERAL |
				  MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_EPHEMERAL);
	mbedtls_ssl_conf_verify(&c->conf, verify_peer, c);
	if (server && setup_tickets(c, err, errlen) != 0)
		goto fail;
	if (!server)
		mbedtls_ssl_conf_tls13_enable_signal_new_session_tickets(
			&c->conf, MBEDTLS_SSL_TLS1_3_SIGNAL_NEW_SESSION_TICKETS_ENABLED);
	*out = c;
	return 0;
fail:
	tls_config_free(c);
	return REXEC_ETLS;
}

void tls_config_free(struct tls_config *c)
{
	if (c == NULL)
		return;
	mbedtls_ssl_config_free(&c->conf);
	ticket_keys_free(c->tickets);
	mbedtls_x509_crt_free(&c->ca);
	mbedtls_x509_crt_free(&c->cert);
	mbedtls_pk_free(&c->key);
	mbedtls_ctr_drbg_free(&c->drbg);
	mbedtls_entropy_free(&c->entropy);
	free(c);
}

/* BIO send: everything is accepted and handed to the owner, who queues it. */
static int bio_send(void *ctx, const unsigned char *buf, size_t len)
{
	struct tls_session *s = ctx;
	s->send(s->arg, buf, len);
	return (int)(len > INT32_MAX ? INT32_MAX : len);
}

/* BIO receive: from the ciphertext fed in so far. */
static int bio_recv(void *ctx, unsigned char *buf, size_t len)
{
	struct tls_session *s = ctx;
	size_t avail = buf_size(&s->in);

	if (avail == 0)
		return MBEDTLS_ERR_SSL_WANT_READ;
	if (len > avail)
		len = avail;
	memcpy(buf, buf_peek(&s->in), len);
	buf_consume(&s->in, len);
	return (int)len;
}

int tls_session_new(struct tls_session **out, struct tls_config *cfg, const char *server_name,
		    tls_send_fn send, void *arg)
{
	struct tls_session *s = calloc(1, sizeof(*s));
	int ret;

	if (s == NULL)
		return -ENOMEM;
	mbedtls_ssl_init(&s->ssl);
	s->cfg = cfg;
	s->send = send;
	s->arg = arg;
	if ((ret = mbedtls_ssl_setup(&s->ssl, &cfg->conf)) != 0 ||
	    (server_name != NULL && (ret = mbedtls_ssl_set_hostname(&s->ssl, server_name)) != 0)) {
		mbedtls_ssl_free(&s->ssl);
		free(s);
		return REXEC_ETLS;
	}
	mbedtls_ssl_set_bio(&s->ssl, s, bio_send, bio_recv, NULL);
	*out = s;
	return 0;
}

void tls_session_free(struct tls_session *s)
{
	if (s == NULL)
		return;
	mbedtls_ssl_free(&s->ssl);
	buf_free(&s->in);
	free(s);
}

int tls_session_feed(struct tls_session *s, const uint8_t *p, size_t n)
{
	return buf_append(&s->in, p, n);
}

/* The time T (a certificate's validity, UTC) in seconds since the epoch. */
static int64_t x509_seconds(const mbedtls_x509_time *t)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	tm.tm_year = t->year - 1900;
	tm.tm_mon = t->mon - 1;
	tm.tm_mday = t->day;
	tm.tm_hour = t->hour;
	tm.tm_min = t->min;
	tm.tm_sec = t->sec;
	return (int64_t)timegm(&tm);
}

/* Copies the certificate's OU values into C's groups. Returns 0, or -EINVAL with WHY set when
 * one cannot be kept whole: a group cut or left out could slip past a policy's deny rule, so
 * such a certificate stands for nobody (as sshd refuses a principal it cannot parse). */
static int note_groups(struct ticket_claims *c, const mbedtls_x509_name *n, char *why, size_t len)
{
	for (; n != NULL; n = n->next) {
		if (MBEDTLS_OID_CMP(MBEDTLS_OID_AT_ORG_UNIT, &n->oid) != 0)
			continue;
		if (c->n_groups == TICKET_GROUPS_MAX) {
			snprintf(why, len, "the certificate names more than %d groups (OU)",
				 TICKET_GROUPS_MAX);
			return -EINVAL;
		}
		if (n->val.len == 0 || n->val.len > TICKET_GROUP_MAX ||
		    memchr(n->val.p, 0, n->val.len) != NULL) {
			snprintf(
				why, len,
				"a group (OU) of the certificate is empty, longer than %d bytes or "
				"holds a NUL",
				TICKET_GROUP_MAX);
			return -EINVAL;
		}
		memcpy(c->groups[c->n_groups], n->val.p, n->val.len);
		c->groups[c->n_groups][n->val.len] = 0;
		c->n_groups++;
	}
	return 0;
}

/* The identity tls_session_identity() shows, from the claims S->peer. */
static void note_identity(struct tls_session *s)
{
	size_t i;

	memset(&s->ident, 0, sizeof(s->ident));
	snprintf(s->ident.cn, sizeof(s->ident.cn), "%s", s->peer.cn);
	for (i = 0; i < s->peer.n_groups; i++)
		memcpy(s->ident.groups[i], s->peer.groups[i], sizeof(s->ident.groups[i]));
	s->ident.n_groups = s->peer.n_groups;
	serial_hex(s->ident.serial, s->peer.serial, s->peer.serial_len);
}

/* Records who the peer is, once the handshake has shown it: its certificate's CN, groups,
 * serial and notAfter, authenticated now; without a certificate (a resumed session), what the
 * ticket vouched for, authentication time included. */
static void note_peer(struct tls_session *s)
{
	const mbedtls_x509_crt *peer = mbedtls_ssl_get_peer_cert(&s->ssl);
	const mbedtls_x509_name *n;
	size_t len;

	if (s->peer.cn[0] != 0 || s->ident_error[0] != 0)
		return;
	if (peer == NULL) {
		s->peer = s->ticket;
		s->sealable = s->peer.cn[0] != 0;
		note_identity(s);
		return;
	}
	for (n = &peer->subject; n != NULL; n = n->next)
		if (MBEDTLS_OID_CMP(MBEDTLS_OID_AT_CN, &n->oid) == 0)
			break;
	if (n == NULL || n->val.len == 0 || memchr(n->val.p, 0, n->val.len) != NULL) {
		snprintf(s->ident_error, sizeof(s->ident_error),
			 "the certificate has no common name (CN) to stand for a user");
		return;
	}
	if (note_groups(&s->peer, &peer->subject, s->ident_error, sizeof(s->ident_error)) < 0) {
		s->peer.n_groups = 0;
		return;
	}
	len = n->val.len < TICKET_CN_MAX ? n->val.len : TICKET_CN_MAX;
	memcpy(s->peer.cn, n->val.p, len);
	s->peer.cn[len] = 0;
	/* What a ticket cannot hold whole gets none: a cut CN or serial would be another's. */
	s->sealable = n->val.len <= TICKET_CN_MAX && peer->serial.len <= TICKET_SERIAL_MAX;
	if (peer->serial.len <= TICKET_SERIAL_MAX) {
		memcpy(s->peer.serial, peer->serial.p, peer->serial.len);
		s->peer.serial_len = peer->serial.len;
	}
	s->peer.not_after = x509_seconds(&peer->valid_to);
	s->peer.auth_time = (int64_t)time(NULL);
	note_identity(s);
}

/* The alert the peer ended the connection with (after MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE). */
static unsigned char peer_alert(const struct tls_session *s)
{
	return s->ssl.MBEDTLS_PRIVATE(in_msg) != NULL ? s->ssl.MBEDTLS_PRIVATE(in_msg)[1] : 0;
}

/* "2026-12-05 15:04:05 UTC" */
static void format_x509_time(char *buf, size_t len, const mbedtls_x509_time *t)
{
	snprintf(buf, len, "%04d-%02d-%02d %02d:%02d:%02d UTC", t->year, t->mon, t->day, t->hour,
		 t->min, t->sec);
}

/* Client: the agent ended the connection with a fatal alert (WHAT: "TLS handshake" or "TLS
 * read"). A certificate alert means the agent refused ours: one line that says so, why, and
 * what to check (our own certificate's dates when it is out of them), and REXEC_EDENIED;
 * REXEC_ETLS for another alert. */
static int alert_error(struct tls_session *s, const char *what)
{
	unsigned char alert = peer_alert(s);
	const mbedtls_x509_crt *own = &s->cfg->cert;
	char when[40];
	size_t i;

	for (i = 0; i < sizeof(alert_texts) / sizeof(alert_texts[0]); i++)
		if (alert_texts[i].alert == alert)
			break;
	if (s->cfg->server || i == sizeof(alert_texts) / sizeof(alert_texts[0])) {
		snprintf(s->error, sizeof(s->error),
			 "%s: the peer ended the connection with TLS alert %u", what, alert);
		return REXEC_ETLS;
	}
	if (own->raw.p != NULL && mbedtls_x509_time_is_past(&own->valid_to)) {
		format_x509_time(when, sizeof(when), &own->valid_to);
		snprintf(
			s->error, sizeof(s->error),
			"the agent refused this client's certificate (%s): it expired at %s; get a "
			"new one from the fleet's CA (rexec cert show)",
			alert_texts[i].name, when);
	} else if (own->raw.p != NULL && mbedtls_x509_time_is_future(&own->valid_from)) {
		format_x509_time(when, sizeof(when), &own->valid_from);
		snprintf(s->error, sizeof(s->error),
			 "the agent refused this client's certificate (%s): it is not valid before "
			 "%s (is this host's clock right?)",
			 alert_texts[i].name, when);
	} else {
		snprintf(s->error, sizeof(s->error),
			 "the agent refused this client's certificate (%s): %s",
			 alert_texts[i].name, alert_texts[i].why);
	}
	return REXEC_EDENIED;
}

/* Server: the handshake is over and the client's certificate (or none) carries verify FLAGS:
 * notes the reason, sends the matching fatal alert (now under the application keys the client
 * reads with) and says why in s->error. Returns REXEC_ETLS_VERIFY. */
static int refuse(struct tls_session *s, uint32_t flags)
{
	const struct refusal *r = refusals;
	char info[200];

	while (!(r->flags & flags))
		r++;
	s->refusal = r->name;
	mbedtls_ssl_send_alert_message(&s->ssl, MBEDTLS_SSL_ALERT_LEVEL_FATAL, r->alert);
	if (flags & MBEDTLS_X509_BADCERT_MISSING) {
		snprintf(s->error, sizeof(s->error), "the client sent no certificate");
		return REXEC_ETLS_VERIFY;
	}
	mbedtls_x509_crt_verify_info(info, sizeof(info), "", flags);
	info[strcspn(info, "\n")] = 0;
	snprintf(s->error, sizeof(s->error), "certificate verification failed: %s", info);
	return REXEC_ETLS_VERIFY;
}

int tls_session_handshake(struct tls_session *s)
{
	const mbedtls_x509_crt *peer;
	uint32_t flags;
	int ret;

	s->cfg->current = s;
	ret = mbedtls_ssl_handshake(&s->ssl);
	s->cfg->current = NULL;
	if (ret == 0) {
		peer = mbedtls_ssl_get_peer_cert(&s->ssl);
		flags = mbedtls_ssl_get_verify_result(&s->ssl);
		/* A server verified with optional: a full handshake with a certificate that failed,
		 * or none (BADCERT_MISSING), is refused here. A resumed one showed none and has
		 * 0 (mbedTLS sets it for a PSK handshake). */
		if (s->cfg->server && flags != 0) {
			/* Only a usage the role check explains better: say it in its words. */
			if (peer != NULL &&
			    !(flags & ~(uint32_t)(MBEDTLS_X509_BADCERT_KEY_USAGE |
						  MBEDTLS_X509_BADCERT_EXT_KEY_USAGE)) &&
			    check_role(s->cfg, peer, s->error, sizeof(s->error)) < 0) {
				s->refusal = "wrong_usage";
				return REXEC_ETLS_ROLE;
			}
			return refuse(s, flags);
		}
		s->resumed = peer == NULL;
		if (s->resumed && s->ticket.cn[0] == 0) {
			s->refusal = "protocol";
			snprintf(s->error, sizeof(s->error), "resumed without a known peer");
			return REXEC_ETLS;
		}
		/* A client whose certificate is not a client's: the handshake is done, so that
		 * the caller can tell it why before closing. */
		if (s->cfg->server && !s->resumed &&
		    check_role(s->cfg, peer, s->error, sizeof(s->error)) < 0) {
			s->refusal = "wrong_usage";
			return REXEC_ETLS_ROLE;
		}
		note_peer(s);
		if (s->cfg->server && s->ident_error[0] != 0) {
			s->refusal = "bad_certificate";
			snprintf(s->error, sizeof(s->error), "%s", s->ident_error);
			return REXEC_ETLS_ROLE;
		}
		return 0;
	}
	if (ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE)
		return 1;
	s->refusal = "protocol";
	if (ret == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED && s->role_error[0] != 0) {
		snprintf(s->error, sizeof(s->error), "%s", s->role_error);
		return REXEC_ETLS_VERIFY;
	}
	if (ret == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED) {
		char info[200];
		flags = mbedtls_ssl_get_verify_result(&s->ssl);
		mbedtls_x509_crt_verify_info(info, sizeof(info), "", flags);
		info[strcspn(info, "\n")] = 0;
		snprintf(s->error, sizeof(s->error), "certificate verification failed: %s", info);
		return REXEC_ETLS_VERIFY;
	}
	if (ret == MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE)
		return alert_error(s, "TLS handshake");
	describe(s->error, sizeof(s->error), "TLS handshake", ret);
	return REXEC_ETLS;
}

int tls_session_read(struct tls_session *s, uint8_t *buf, size_t len)
{
	int spins = 0;

	for (;;) {
		int ret;
		s->cfg->current = s;
		ret = mbedtls_ssl_read(&s->ssl, buf, len);
		s->cfg->current = NULL;
		if (ret > 0)
			return ret;
		if (ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE) {
			/* A session ticket is read by one call and handled by the next, which
			 * must come even when no more input does: call again while some waits. */
			if (spins++ < 4 &&
			    (buf_size(&s->in) > 0 || mbedtls_ssl_check_pending(&s->ssl)))
				continue;
			return 0;
		}
		if (ret == MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET) {
			s->new_ticket = 1;
			continue;
		}
		if (ret == 0 || ret == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) {
			snprintf(s->error, sizeof(s->error), "peer closed the connection");
			return REXEC_ECLOSED;
		}
		if (ret == MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE)
			return alert_error(s, "TLS read");
		describe(s->error, sizeof(s->error), "TLS read", ret);
		return REXEC_ETLS;
	}
}

int tls_session_write(struct tls_session *s, const uint8_t *p, size_t n)
{
	while (n > 0) {
		int ret;
		s->cfg->current = s;
		ret = mbedtls_ssl_write(&s->ssl, p, n);
		s->cfg->current = NULL;
		if (ret < 0) {
			describe(s->error, sizeof(s->error), "TLS write", ret);
			return REXEC_ETLS;
		}
		p += ret;
		n -= (size_t)ret;
	}
	return 0;
}

void tls_session_close_notify(struct tls_session *s)
{
	mbedtls_ssl_close_notify(&s->ssl);
}

const char *tls_session_peer_cn(const struct tls_session *s)
{
	return s->peer.cn;
}

const struct tls_identity *tls_session_identity(const struct tls_session *s)
{
	return &s->ident;
}

int64_t tls_session_auth_time(const struct tls_session *s)
{
	return s->peer.auth_time;
}

void tls_config_allow_dual_role(struct tls_config *cfg, int allow)
{
	cfg->allow_dual_role = allow;
}

int tls_session_offer_ticket(struct tls_session *s, const char *peer_cn, const uint8_t *ticket,
			     size_t len)
{
	mbedtls_ssl_session session;
	int ret;

	if (peer_cn[0] == 0 || strlen(peer_cn) > TICKET_CN_MAX)
		return REXEC_ETLS;
	mbedtls_ssl_session_init(&session);
	ret = mbedtls_ssl_session_load(&session, ticket, len);
	if (ret == 0)
		ret = mbedtls_ssl_set_session(&s->ssl, &session);
	mbedtls_ssl_session_free(&session);
	if (ret != 0)
		return REXEC_ETLS;
	snprintf(s->ticket.cn, sizeof(s->ticket.cn), "%s", peer_cn);
	s->offered = 1;
	return 0;
}

int tls_session_take_ticket(struct tls_session *s, uint8_t **out, size_t *len)
{
	mbedtls_ssl_session session;
	uint8_t *blob = NULL;
	size_t need = 0;
	int ret;

	if (!s->new_ticket)
		return 0;
	s->new_ticket = 0;
	mbedtls_ssl_session_init(&session);
	if (mbedtls_ssl_get_session(&s->ssl, &session) != 0)
		goto fail;
	ret = mbedtls_ssl_session_save(&session, NULL, 0, &need);
	if (ret != MBEDTLS_ERR_SSL_BUFFER_TOO_SMALL || (blob = malloc(need)) == NULL ||
	    mbedtls_ssl_session_save(&session, blob, need, len) != 0)
		goto fail;
	mbedtls_ssl_session_free(&session);
	*out = blob;
	return 1;
fail:
	free(blob);
	mbedtls_ssl_session_free(&session);
	return 0;
}

const char *tls_session_refusal(const struct tls_session *s)
{
	return s->refusal;
}

const char *tls_session_shown_cn(const struct tls_session *s)
{
	return s->shown_cn;
}

const char *tls_session_shown_serial(const struct tls_session *s)
{
	return s->shown_serial;
}

int tls_session_resumed(const struct tls_session *s)
{
	return s->resumed;
}

const char *tls_session_error(const struct tls_session *s)
{
	return s->error;
}
