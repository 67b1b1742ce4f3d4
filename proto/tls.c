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
#include <mbedtls/md.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/sha256.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crl.h>
#include <mbedtls/x509_crt.h>
#include <psa/crypto.h>

#include "proto/buf.h"
#include "proto/error.h"
#include "proto/pemfile.h"
#include "proto/ticket.h"

/* Session tickets (TLS 1.3 resumption, psk_dhe_ke): a reconnecting client skips the
 * certificate signatures (most of a handshake's cost) but still does a fresh key exchange,
 * so a stolen ticket key does not open recorded sessions. mbedTLS 3.6 does not keep the peer
 * certificate in a TLS 1.3 ticket, so the agent seals its own (proto/ticket.c): the client's
 * CN, its certificate's serial and notAfter and when it last showed it, under keys drawn at
 * start-up and rotated (a restarted agent refuses every older ticket and the client falls back
 * to a full handshake). A resumed session's new ticket carries the claims over unchanged, so a
 * chain of resumptions ends with the certificate, or a day after it was last shown. */

/* What the files say (CA, certificate, key, CRL), parsed, and the mbedTLS configuration
 * built on them: what a reload (SIGHUP) replaces as one piece. mbedTLS keeps a pointer to its
 * mbedtls_ssl_config for a session's whole life, so each session holds a reference to the
 * material it started on: new sessions take the newest, and the old goes with its last
 * session (as nginx keeps a reloaded configuration's SSL_CTX until its last connection). */
struct tls_material {
	unsigned refs; /* the config's (while newest) and one per session */
	mbedtls_ssl_config conf;
	mbedtls_x509_crt ca;
	mbedtls_x509_crt cert;
	mbedtls_pk_context key;
	mbedtls_x509_crl crl; /* the chain of CRLs, n_crls of them (0: no CRL file) */
	size_t n_crls;
	uint8_t (*crl_issuer)[TICKET_ISSUER_LEN]; /* each CRL's issuer name, SHA-256, in order */
};

struct tls_config {
	int server;
	struct tls_material *mat; /* the newest: new sessions take it */
	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context drbg;
	int allow_dual_role; /* accept a peer certificate with both serverAuth and clientAuth */
	/* Server: the ticket keys (kept across reloads). Both ends: the session whose mbedTLS
	 * call is running (tickets are written and parsed, certificates verified inside one; all
	 * on the loop's thread). */
	struct ticket_keys *tickets;
	struct tls_session *current;
};

struct tls_session {
	mbedtls_ssl_context ssl;
	struct tls_config *cfg;
	struct tls_material *mat; /* a reference: what this session's conf lives in */
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
	char crl_error[200]; /* server: the CRL of the client's CA is out of date (refused) */
	int offered;         /* client: a ticket was offered */
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
static int crl_check(const struct tls_material *m, const uint8_t *issuer, const uint8_t *serial,
		     size_t serial_len, int64_t now, char *why, size_t len);
static void name_id(const mbedtls_x509_buf *raw, uint8_t out[TICKET_ISSUER_LEN]);
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
	if (!s->sealable || s->crl_error[0] != 0 ||
	    (peer != NULL && check_role(c, peer, NULL, 0) < 0))
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
	/* No certificate comes with a resumption: the ticket's serial and issuer are checked
	 * against the CRL in force instead. A revoked one, or one whose CA's CRL is out of date,
	 * is no ticket of ours: the full handshake that follows refuses the certificate. */
	if (crl_check(c->current->mat, claims.issuer, claims.serial, claims.serial_len,
		      (int64_t)time(NULL), NULL, 0) < 0)
		return MBEDTLS_ERR_SSL_INVALID_MAC;
	c->current->ticket = claims;
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

/* Server: a CRL past its nextUpdate fails closed, but after the handshake rather than inside
 * it, so that the client hears why in an Error (no TLS alert says it): the flag mbedTLS set
 * comes off here and tls_session_handshake() refuses the session with the reason noted. */
static void crl_out_of_date(struct tls_config *c, const mbedtls_x509_crt *crt, uint32_t *flags)
{
	struct tls_session *s = c->current;
	uint8_t issuer[TICKET_ISSUER_LEN];

	if (s == NULL)
		return; /* the flag stays: refused inside the handshake */
	*flags &= ~(uint32_t)MBEDTLS_X509_BADCRL_EXPIRED;
	if (s->crl_error[0] != 0)
		return;
	name_id(&crt->issuer_raw, issuer);
	if (crl_check(s->mat, issuer, crt->serial.p, crt->serial.len, (int64_t)time(NULL),
		      s->crl_error, sizeof(s->crl_error)) != REXEC_ETLS_CRL)
		snprintf(s->crl_error, sizeof(s->crl_error),
			 "the agent's certificate revocation list (CRL) has expired: no "
			 "certificate of its CA is accepted until the agent is given a fresh CRL");
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
	if (c->server && (*flags & MBEDTLS_X509_BADCRL_EXPIRED))
		crl_out_of_date(c, crt, flags);
	if (depth != 0 || c->server || check_role(c, crt, why, sizeof(why)) == 0)
		return 0;
	if (c->current != NULL)
		snprintf(c->current->role_error, sizeof(c->current->role_error), "%s", why);
	*flags |= MBEDTLS_X509_BADCERT_EXT_KEY_USAGE;
	return 0;
}

/* The SHA-256 of an issuer or subject name (DER) into OUT: how a ticket names its CA. */
static void name_id(const mbedtls_x509_buf *raw, uint8_t out[TICKET_ISSUER_LEN])
{
	if (mbedtls_sha256(raw->p, raw->len, out, 0) != 0)
		memset(out, 0, TICKET_ISSUER_LEN);
}

/* Whether serials A and B (DER INTEGER contents, A_LEN and B_LEN bytes) are one number: the
 * zero bytes DER puts before a high bit do not count (an identity's hex serial has none). */
static int same_serial(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len)
{
	for (; a_len > 1 && a[0] == 0; a++, a_len--)
		;
	for (; b_len > 1 && b[0] == 0; b++, b_len--)
		;
	return a_len > 0 && a_len == b_len && memcmp(a, b, a_len) == 0;
}

/* Whether M's CRLs let the certificate SERIAL (SERIAL_LEN bytes, DER) of the CA whose name
 * hashes to ISSUER through at NOW: 0 (also when no CRL of that CA is loaded, as mbedTLS
 * does), REXEC_ETLS_CRL when that CA's CRL is past its nextUpdate, REXEC_ETLS_REVOKED when it
 * lists the serial; the reason in WHY (LEN bytes; WHY may be NULL). A serial is revoked from
 * the moment the CRL is in force, whatever revocation date it carries (as mbedTLS's
 * mbedtls_x509_crt_is_revoked()). */
static int crl_check(const struct tls_material *m, const uint8_t *issuer, const uint8_t *serial,
		     size_t serial_len, int64_t now, char *why, size_t len)
{
	const mbedtls_x509_crl *crl = &m->crl;
	const mbedtls_x509_crl_entry *e;
	char ca[200], when[40];
	size_t i;

	for (i = 0; i < m->n_crls && crl != NULL; i++, crl = crl->next) {
		if (memcmp(m->crl_issuer[i], issuer, TICKET_ISSUER_LEN) != 0)
			continue;
		if (mbedtls_x509_dn_gets(ca, sizeof(ca), &crl->issuer) < 0)
			snprintf(ca, sizeof(ca), "?");
		if (tls_x509_seconds(&crl->next_update) <= now) {
			tls_format_utc(tls_x509_seconds(&crl->next_update), when, sizeof(when));
			if (why != NULL)
				snprintf(why, len,
					 "the agent's certificate revocation list (CRL) of CA '%s' "
					 "expired at %s: no certificate of that CA is accepted "
					 "until "
					 "the agent is given a fresh CRL",
					 ca, when);
			return REXEC_ETLS_CRL;
		}
		for (e = &crl->entry; e != NULL && e->serial.len != 0; e = e->next) {
			if (!same_serial(e->serial.p, e->serial.len, serial, serial_len))
				continue;
			if (why != NULL)
				snprintf(why, len,
					 "the certificate is revoked by the CRL of CA '%s'", ca);
			return REXEC_ETLS_REVOKED;
		}
		return 0;
	}
	return 0;
}

static int add_crt(void *arg, const unsigned char *der, size_t len)
{
	return mbedtls_x509_crt_parse_der(arg, der, len);
}

static int add_crl(void *arg, const unsigned char *der, size_t len)
{
	return mbedtls_x509_crl_parse_der(arg, der, len);
}

/* Whether CA signed CRL: mbedTLS checks that only inside a handshake (and then silently lets
 * a CRL that no CA signed pass), so a CRL that would never apply is an error at load time. */
static int crl_signed_by(const mbedtls_x509_crl *crl, mbedtls_x509_crt *ca)
{
	const mbedtls_md_info_t *md = mbedtls_md_info_from_type(crl->MBEDTLS_PRIVATE(sig_md));
	unsigned char hash[MBEDTLS_MD_MAX_SIZE];

	if (md == NULL || mbedtls_md(md, crl->tbs.p, crl->tbs.len, hash) != 0)
		return 0;
	return mbedtls_pk_verify_ext(crl->MBEDTLS_PRIVATE(sig_pk), crl->MBEDTLS_PRIVATE(sig_opts),
				     &ca->pk, crl->MBEDTLS_PRIVATE(sig_md), hash,
				     mbedtls_md_get_size(md), crl->MBEDTLS_PRIVATE(sig).p,
				     crl->MBEDTLS_PRIVATE(sig).len) == 0;
}

/* Reads PATH's CRLs into M and checks each: signed by a CA of M's (one that may sign CRLs),
 * with a nextUpdate, and no second one of the same CA (mbedTLS would apply both, the older
 * one failing every handshake once out of date). */
static int load_crls(struct tls_material *m, const char *path, char *err, size_t errlen)
{
	const mbedtls_x509_crl *crl;
	mbedtls_x509_crt *ca;
	char name[200];
	size_t i, j;
	int n = pemfile_each(path, "X509 CRL", add_crl, &m->crl, err, errlen);

	if (n < 0)
		return n;
	if ((m->crl_issuer = calloc((size_t)n, sizeof(*m->crl_issuer))) == NULL)
		return -ENOMEM;
	m->n_crls = (size_t)n;
	for (i = 0, crl = &m->crl; i < m->n_crls && crl != NULL; i++, crl = crl->next) {
		if (mbedtls_x509_dn_gets(name, sizeof(name), &crl->issuer) < 0)
			snprintf(name, sizeof(name), "?");
		name_id(&crl->issuer_raw, m->crl_issuer[i]);
		for (ca = &m->ca; ca != NULL && ca->raw.len > 0; ca = ca->next)
			if (ca->subject_raw.len == crl->issuer_raw.len &&
			    memcmp(ca->subject_raw.p, crl->issuer_raw.p, crl->issuer_raw.len) == 0)
				break;
		if (ca == NULL || ca->raw.len == 0) {
			snprintf(err, errlen,
				 "%s: CRL %zu of '%s': no CA of that name in the CA file", path,
				 i + 1, name);
			return REXEC_EPKI;
		}
		if (mbedtls_x509_crt_check_key_usage(ca, MBEDTLS_X509_KU_CRL_SIGN) != 0 ||
		    !crl_signed_by(crl, ca)) {
			snprintf(err, errlen,
				 "%s: CRL %zu of '%s': not signed by that CA (or the CA may not "
				 "sign "
				 "CRLs)",
				 path, i + 1, name);
			return REXEC_EPKI;
		}
		if (crl->next_update.year == 0) {
			snprintf(err, errlen, "%s: CRL %zu of '%s' has no nextUpdate", path, i + 1,
				 name);
			return REXEC_EPKI;
		}
		for (j = 0; j < i; j++) {
			if (memcmp(m->crl_issuer[j], m->crl_issuer[i], TICKET_ISSUER_LEN) == 0) {
				snprintf(err, errlen,
					 "%s: CRLs %zu and %zu are both of '%s': keep only the "
					 "newest",
					 path, j + 1, i + 1, name);
				return REXEC_EPKI;
			}
		}
	}
	return 0;
}

/* Drops a reference to M, freeing it with the last. */
static void material_put(struct tls_material *m)
{
	if (m == NULL || --m->refs > 0)
		return;
	mbedtls_ssl_config_free(&m->conf);
	mbedtls_x509_crt_free(&m->ca);
	mbedtls_x509_crt_free(&m->cert);
	mbedtls_pk_free(&m->key);
	mbedtls_x509_crl_free(&m->crl);
	free(m->crl_issuer);
	free(m);
}

/* Builds C's material from the files CA, CERT, KEY and CRL (NULL: none) into *OUT (one
 * reference). Returns 0, or a negative code with ERR saying which file and why. */
static int material_new(struct tls_config *c, struct tls_material **out, const char *ca,
			const char *cert, const char *key, const char *crl, char *err,
			size_t errlen)
{
	struct tls_material *m = calloc(1, sizeof(*m));
	int ret;

	if (m == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	m->refs = 1;
	mbedtls_ssl_config_init(&m->conf);
	mbedtls_x509_crt_init(&m->ca);
	mbedtls_x509_crt_init(&m->cert);
	mbedtls_pk_init(&m->key);
	mbedtls_x509_crl_init(&m->crl);

	/* Block by block, so that a bad one is named by its line (pemfile.h). */
	if ((ret = pemfile_each(ca, "CERTIFICATE", add_crt, &m->ca, err, errlen)) < 0 ||
	    (ret = pemfile_each(cert, "CERTIFICATE", add_crt, &m->cert, err, errlen)) < 0)
		goto fail;
	{
		/* mbedTLS says "read/write of file failed": name the file and the reason. */
		FILE *f = fopen(key, "r");
		if (f == NULL) {
			ret = -errno;
			snprintf(err, errlen, "%s: %s", key, strerror(errno));
			goto fail;
		}
		fclose(f);
	}
	ret = mbedtls_pk_parse_keyfile(&m->key, key, NULL, mbedtls_ctr_drbg_random, &c->drbg);
	if (ret != 0) {
		describe(err, errlen, key, ret);
		goto fail_tls;
	}
	/* mbedTLS would only find out in the first handshake, which then fails for everyone. */
	ret = mbedtls_pk_check_pair(&m->cert.pk, &m->key, mbedtls_ctr_drbg_random, &c->drbg);
	if (ret != 0) {
		snprintf(err, errlen, "%s: not the key of the certificate in %s", key, cert);
		goto fail_tls;
	}
	if (crl != NULL && (ret = load_crls(m, crl, err, errlen)) < 0)
		goto fail;
	ret = mbedtls_ssl_config_defaults(&m->conf,
					  c->server ? MBEDTLS_SSL_IS_SERVER : MBEDTLS_SSL_IS_CLIENT,
					  MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT);
	if (ret != 0) {
		describe(err, errlen, "TLS configuration", ret);
		goto fail_tls;
	}
	mbedtls_ssl_conf_min_tls_version(&m->conf, MBEDTLS_SSL_VERSION_TLS1_3);
	mbedtls_ssl_conf_max_tls_version(&m->conf, MBEDTLS_SSL_VERSION_TLS1_3);
	mbedtls_ssl_conf_rng(&m->conf, mbedtls_ctr_drbg_random, &c->drbg);
	mbedtls_ssl_conf_ciphersuites(&m->conf, suites);
	mbedtls_ssl_conf_groups(&m->conf, groups);
	/* A server verifies with optional and refuses after the handshake (see refusals[]). */
	mbedtls_ssl_conf_authmode(&m->conf, c->server ? MBEDTLS_SSL_VERIFY_OPTIONAL
						      : MBEDTLS_SSL_VERIFY_REQUIRED);
	mbedtls_ssl_conf_ca_chain(&m->conf, &m->ca, m->n_crls > 0 ? &m->crl : NULL);
	if ((ret = mbedtls_ssl_conf_own_cert(&m->conf, &m->cert, &m->key)) != 0) {
		describe(err, errlen, "certificate and key", ret);
		goto fail_tls;
	}
	if ((ret = mbedtls_ssl_conf_alpn_protocols(&m->conf, alpn_list)) != 0) {
		describe(err, errlen, "ALPN", ret);
		goto fail_tls;
	}
	/* Resumption keeps forward secrecy (psk_dhe_ke only; a full handshake otherwise). */
	mbedtls_ssl_conf_tls13_key_exchange_modes(
		&m->conf, MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_PSK_EPHEMERAL |
				  MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_EPHEMERAL);
	mbedtls_ssl_conf_verify(&m->conf, verify_peer, c);
	if (c->server) {
		mbedtls_ssl_conf_session_tickets_cb(&m->conf, ticket_write, ticket_parse, c);
		mbedtls_ssl_conf_new_session_tickets(&m->conf, 1);
	} else {
		mbedtls_ssl_conf_tls13_enable_signal_new_session_tickets(
			&m->conf, MBEDTLS_SSL_TLS1_3_SIGNAL_NEW_SESSION_TICKETS_ENABLED);
	}
	*out = m;
	return 0;
fail_tls:
	ret = REXEC_ETLS;
fail:
	material_put(m);
	return ret;
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
	mbedtls_entropy_init(&c->entropy);
	mbedtls_ctr_drbg_init(&c->drbg);
	ret = mbedtls_ctr_drbg_seed(&c->drbg, mbedtls_entropy_func, &c->entropy,
				    (const unsigned char *)"rexec", 5);
	if (ret != 0) {
		describe(err, errlen, "seeding the random generator", ret);
		ret = REXEC_ETLS;
		goto fail;
	}
	/* Server: tickets sealed with fresh random keys, kept across reloads. */
	if (server && (ret = ticket_keys_new(&c->tickets, mbedtls_ctr_drbg_random, &c->drbg,
					     (int64_t)time(NULL))) < 0) {
		snprintf(err, errlen, "session ticket key: %s", rexec_strerror(ret));
		goto fail;
	}
	if ((ret = material_new(c, &c->mat, ca, cert, key, NULL, err, errlen)) < 0)
		goto fail;
	*out = c;
	return 0;
fail:
	tls_config_free(c);
	return ret;
}

int tls_config_reload(struct tls_config *c, const char *ca, const char *cert, const char *key,
		      const char *crl, char *err, size_t errlen)
{
	struct tls_material *m = NULL;
	int ret = material_new(c, &m, ca, cert, key, crl, err, errlen);

	if (ret < 0)
		return ret;
	material_put(c->mat);
	c->mat = m;
	return 0;
}

void tls_config_free(struct tls_config *c)
{
	if (c == NULL)
		return;
	material_put(c->mat);
	ticket_keys_free(c->tickets);
	mbedtls_ctr_drbg_free(&c->drbg);
	mbedtls_entropy_free(&c->entropy);
	free(c);
}

size_t tls_config_crls(const struct tls_config *c, struct tls_crl_info *out, size_t max)
{
	const mbedtls_x509_crl *crl = &c->mat->crl;
	const mbedtls_x509_crl_entry *e;
	size_t i;

	for (i = 0; i < c->mat->n_crls && i < max && crl != NULL; i++, crl = crl->next) {
		memset(&out[i], 0, sizeof(out[i]));
		if (mbedtls_x509_dn_gets(out[i].issuer, sizeof(out[i].issuer), &crl->issuer) < 0)
			snprintf(out[i].issuer, sizeof(out[i].issuer), "?");
		out[i].this_update = tls_x509_seconds(&crl->this_update);
		out[i].next_update = tls_x509_seconds(&crl->next_update);
		for (e = &crl->entry; e != NULL && e->serial.len != 0; e = e->next)
			out[i].n_revoked++;
	}
	return c->mat->n_crls;
}

/* The value of hex digit X, or -1. */
static int hexval(char x)
{
	if (x >= '0' && x <= '9')
		return x - '0';
	if (x >= 'A' && x <= 'F')
		return x - 'A' + 10;
	if (x >= 'a' && x <= 'f')
		return x - 'a' + 10;
	return -1;
}

int tls_config_check_peer(const struct tls_config *c, const struct tls_identity *id, int64_t now,
			  char *why, size_t len)
{
	uint8_t serial[TICKET_SERIAL_MAX];
	size_t n = strlen(id->serial) / 2, i;
	int ret;

	if (id->cn[0] == 0 || n == 0 || n > sizeof(serial))
		return 0;
	for (i = 0; i < n; i++) {
		int hi = hexval(id->serial[2 * i]), lo = hexval(id->serial[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return 0;
		serial[i] = (uint8_t)(hi << 4 | lo);
	}
	ret = crl_check(c->mat, id->issuer, serial, n, now, why, len);
	return ret == REXEC_ETLS_REVOKED ? ret : 0;
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
	s->mat = cfg->mat;
	s->mat->refs++;
	s->send = send;
	s->arg = arg;
	if ((ret = mbedtls_ssl_setup(&s->ssl, &s->mat->conf)) != 0 ||
	    (server_name != NULL && (ret = mbedtls_ssl_set_hostname(&s->ssl, server_name)) != 0)) {
		mbedtls_ssl_free(&s->ssl);
		material_put(s->mat);
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
	material_put(s->mat);
	buf_free(&s->in);
	free(s);
}

int tls_session_feed(struct tls_session *s, const uint8_t *p, size_t n)
{
	return buf_append(&s->in, p, n);
}

uint8_t *tls_session_room(struct tls_session *s, size_t n)
{
	return buf_reserve(&s->in, n);
}

void tls_session_fed(struct tls_session *s, size_t n)
{
	buf_commit(&s->in, n);
}

/* timegm(), the inverse of gmtime() that glibc, musl and the BSDs all have, as OpenSSH's
 * parse_absolute_time() and systemd's parse_timestamp() use for UTC times: mbedTLS keeps the
 * ASN.1 time's fields and has no epoch conversion of its own. */
int64_t tls_x509_seconds(const struct mbedtls_x509_time *t)
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
	memcpy(s->ident.issuer, s->peer.issuer, sizeof(s->ident.issuer));
	s->ident.not_after = s->peer.not_after;
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
	s->peer.not_after = tls_x509_seconds(&peer->valid_to);
	name_id(&peer->issuer_raw, s->peer.issuer);
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
	const mbedtls_x509_crt *own = &s->mat->cert;
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
		/* Verified but for its CA's CRL being out of date (crl_out_of_date()). */
		if (s->cfg->server && s->crl_error[0] != 0) {
			s->refusal = "crl_expired";
			snprintf(s->error, sizeof(s->error), "%s", s->crl_error);
			return REXEC_ETLS_CRL;
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

/* One format for every date a user reads (certificates, CRLs, revocations): year to second, in UTC
 * whatever the machine's zone, so that the agent's log and the client's messages agree; a date
 * gmtime() cannot break down is printed as its number of seconds rather than lost. */
void tls_format_utc(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL || strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		snprintf(buf, len, "%lld", (long long)t);
}
