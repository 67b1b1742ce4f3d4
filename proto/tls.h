/* tls.h: TLS 1.3 with mutual X.509 authentication (mbedTLS), independent of any I/O: the
 * owner feeds ciphertext in and is called back with ciphertext to send, so the event loop
 * (libuv) never blocks on TLS. ALPN is "rexec/1" on both ends. A client can resume with a
 * session ticket from an earlier connection (the certificates are then not exchanged again;
 * the key exchange is). */
#ifndef REXEC_TLS_H
#define REXEC_TLS_H

#include <stddef.h>
#include <stdint.h>

#include "proto/ticket.h"

#define TLS_ALPN "rexec/1"

/* Who the peer is, once the handshake has shown it (after a resumption: what the ticket
 * vouched for). On the agent this is the user: the client certificate's CN is the name, its
 * OU values (one per group, as `rexec cert issue --group` writes them) are the groups. */
struct tls_identity {
	char cn[TICKET_CN_MAX + 1];                           /* "" until known */
	char groups[TICKET_GROUPS_MAX][TICKET_GROUP_MAX + 1]; /* in certificate order */
	size_t n_groups;
	char serial[2 * TICKET_SERIAL_MAX + 1]; /* upper-case hex, as openssl prints it */
	/* Which CA issued the certificate (SHA-256 of its issuer name), and its notAfter (seconds
	 * since the epoch): with the serial, what revocation and expiry are checked against. */
	uint8_t issuer[TICKET_ISSUER_LEN];
	int64_t not_after;
};

struct tls_config;
struct tls_session;

/* Loads CA, certificate and key (PEM files) into a new configuration for a server (agent)
 * or client end; both require the peer's certificate to chain to CA. Returns 0 with *OUT
 * set (free with tls_config_free), or a negative code with a message in ERR. */
int tls_config_new(struct tls_config **out, int server, const char *ca, const char *cert,
		   const char *key, char *err, size_t errlen);
void tls_config_free(struct tls_config *cfg);

/* Reads CA (one or more CA certificates), CERT, KEY and CRL (NULL: none; else one or more
 * CRLs, each signed by a CA of CA, at most one per CA) anew into CFG: the certificate must
 * match the key. On success new sessions use them, sessions already made keep what they
 * started with, and a server's session ticket keys stay (tickets stay valid, but are checked
 * against the new CRL). Returns 0, or a negative code with a message naming the file (and its
 * line when known) in ERR, CFG unchanged. tls_config_new() is the same without a CRL. */
int tls_config_reload(struct tls_config *cfg, const char *ca, const char *cert, const char *key,
		      const char *crl, char *err, size_t errlen);

/* One CRL in force, for logs and warnings. */
struct tls_crl_info {
	char issuer[256];    /* the CA that signed it, e.g. "CN=rexec CA" */
	int64_t this_update; /* seconds since the epoch */
	int64_t next_update; /* after this it is out of date: that CA's clients are refused */
	size_t n_revoked;
};

/* Copies up to MAX of CFG's CRLs into OUT; returns how many CFG has (0: none). */
size_t tls_config_crls(const struct tls_config *cfg, struct tls_crl_info *out, size_t max);

/* Whether the CRL in force revokes the certificate that ID stands for (at NOW, seconds since
 * the epoch): REXEC_ETLS_REVOKED with the reason in WHY (LEN bytes), else 0. For connections
 * and sessions already running when a new CRL comes (tls_config_reload()); new handshakes and
 * resumptions are checked by the session. */
int tls_config_check_peer(const struct tls_config *cfg, const struct tls_identity *id, int64_t now,
			  char *why, size_t len);

/* Whether CFG accepts a peer certificate made for both roles (serverAuth and clientAuth, as
 * some corporate CAs issue them); by default an agent refuses a client certificate that also
 * carries serverAuth, and a client an agent certificate that also carries clientAuth. A peer
 * certificate must carry its own role's usage either way. */
void tls_config_allow_dual_role(struct tls_config *cfg, int allow);

/* Called with ciphertext the session wants sent, in order. */
typedef void (*tls_send_fn)(void *arg, const uint8_t *data, size_t len);

/* A new session on CFG (which must outlive it). A client checks the agent's certificate
 * against SERVER_NAME (a DNS name or an IP address); a server passes NULL. */
int tls_session_new(struct tls_session **out, struct tls_config *cfg, const char *server_name,
		    tls_send_fn send, void *arg);
void tls_session_free(struct tls_session *s);

/* Hands N bytes of ciphertext from the network to the session. Returns 0 or -ENOMEM. */
int tls_session_feed(struct tls_session *s, const uint8_t *p, size_t n);

/* The same without a copy: room for N bytes of ciphertext at the end of the session's input,
 * for the network read to fill (NULL when out of memory), then tls_session_fed() with what it
 * read. */
uint8_t *tls_session_room(struct tls_session *s, size_t n);
void tls_session_fed(struct tls_session *s, size_t n);

/* Advances the handshake: 0 when it is complete, 1 while it needs more input, or a negative
 * code (REXEC_ETLS, REXEC_ETLS_VERIFY) with tls_session_error() saying why. A server returns
 * REXEC_ETLS_ROLE when the handshake is complete but the client's certificate is not a
 * client's (no clientAuth usage, or an agent's too) or names no user it can stand for (no CN,
 * more than TICKET_GROUPS_MAX groups, a group empty, over-long or holding a NUL), and
 * REXEC_ETLS_CRL when the CRL of the CA that issued it is past its nextUpdate (fail closed):
 * the caller tells the client why, then closes. A server refuses a certificate that does not
 * verify (or none, or a revoked one) with REXEC_ETLS_VERIFY once the handshake is over, having
 * queued the fatal alert that tells the client why (unknown_ca, certificate_expired,
 * certificate_revoked, unsupported_certificate, certificate_required, bad_certificate); the
 * caller sends it and closes. A ticket of a revoked certificate is refused, so that the
 * handshake is a full one. A client that gets such an alert returns REXEC_EDENIED (here or
 * from tls_session_read()) with one line saying the agent refused its certificate, why, and
 * what to check. */
int tls_session_handshake(struct tls_session *s);

/* Decrypts into BUF: the number of bytes (> 0), 0 when no full record is buffered, or a
 * negative code: REXEC_ECLOSED when the peer closed cleanly, REXEC_ETLS otherwise. */
int tls_session_read(struct tls_session *s, uint8_t *buf, size_t len);

/* Encrypts all N bytes (the ciphertext goes to the send callback). Returns 0 or REXEC_ETLS. */
int tls_session_write(struct tls_session *s, const uint8_t *p, size_t n);

/* Sends close_notify. */
void tls_session_close_notify(struct tls_session *s);

/* The peer certificate's common name after the handshake ("" when unknown). Borrowed. */
const char *tls_session_peer_cn(const struct tls_session *s);

/* The peer's identity (all fields empty until the handshake is done). Borrowed. */
const struct tls_identity *tls_session_identity(const struct tls_session *s);

/* Client: offers TICKET (LEN bytes, from tls_session_take_ticket() of an earlier session with
 * the same agent) for resumption, the agent's certificate CN having been PEER_CN. Call before
 * the handshake. The agent may refuse it (restarted, expired): the handshake is then a full
 * one. Returns 0, or REXEC_ETLS for a ticket that cannot be used (nothing is offered). */
int tls_session_offer_ticket(struct tls_session *s, const char *peer_cn, const uint8_t *ticket,
			     size_t len);

/* Client: 1 with *OUT (malloc'd, LEN bytes) set when the agent has sent a new ticket since
 * the last call, to keep for the next connection; 0 otherwise. */
int tls_session_take_ticket(struct tls_session *s, uint8_t **out, size_t *len);

/* Server: when the client last proved its certificate (seconds since the epoch): this
 * handshake for a full one; for a resumed one, the full handshake its chain of tickets started
 * with (tickets carry it over, and the chain ends a day after it). 0 before the handshake. */
int64_t tls_session_auth_time(const struct tls_session *s);

/* 1 when the handshake resumed a session with a ticket (no certificates were exchanged;
 * the peer's CN is the one the ticket vouches for). */
int tls_session_resumed(const struct tls_session *s);

/* Server: why the handshake was refused, as a short name for logs and the audit log:
 * "no_certificate", "unknown_ca", "revoked", "expired", "not_yet_valid", "wrong_usage",
 * "bad_certificate" (another verify failure), "crl_expired" (the CRL of its CA is past its
 * nextUpdate), or "protocol" (the handshake itself failed);
 * NULL when nothing was refused (yet). Static storage. */
const char *tls_session_refusal(const struct tls_session *s);

/* Server: the CN and serial (lowercase hex) of the certificate the client showed, trusted or
 * not ("" when none), for the log of a refusal only: never an identity. Printable ASCII, at
 * most 64 characters for the CN. Borrowed. */
const char *tls_session_shown_cn(const struct tls_session *s);
const char *tls_session_shown_serial(const struct tls_session *s);

/* The reason for the last failure, for logs and the user. Borrowed. */
const char *tls_session_error(const struct tls_session *s);

struct mbedtls_x509_time; /* <mbedtls/x509.h>: kept out of this header's users */

/* T, a certificate's or CRL's time as mbedTLS parsed it (UTC, broken down), in seconds since
 * the epoch: the one conversion of the tree (lib/pki.c reads certificates' dates with it). */
int64_t tls_x509_seconds(const struct mbedtls_x509_time *t);

/* Writes T (seconds since the epoch) as "2026-12-05 15:44:27 UTC" into BUF (LEN bytes, at least
 * 24 for the whole date), or as the plain number when it is no date gmtime() can break down or
 * LEN is too short for one. The tree's one date format: the agent's CRL and certificate
 * messages, `rexec cert`/`crl`/`revoke` and the client's certificate checks all use it. */
void tls_format_utc(int64_t t, char *buf, size_t len);

#endif
