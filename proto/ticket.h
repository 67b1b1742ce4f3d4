/* ticket.h: the agent's sealed TLS session tickets. A ticket holds what a resumed handshake
 * may believe of the client without its certificate (its CN, the certificate's serial and
 * notAfter, and when it last proved the certificate in a full handshake) beside the mbedTLS
 * session, sealed with AES-256-GCM. The key rotates every TICKET_ROTATE seconds and the
 * previous key still opens tickets for one more period (as nginx and OpenSSL rotate theirs).
 *
 * A ticket lives TICKET_LIFETIME; a chain of resumptions (each one handing out a new ticket
 * with the same claims) ends at the earlier of the certificate's notAfter and TICKET_CHAIN_MAX
 * after the full handshake: then the client must show its certificate again.
 *
 * The caller passes the time (seconds since the epoch) to every call, so that rotation and
 * expiry are plain functions of it. One ticket_keys is used from one thread. */
#ifndef REXEC_TICKET_H
#define REXEC_TICKET_H

#include <stddef.h>
#include <stdint.h>

#define TICKET_LIFETIME   3600          /* seconds a ticket is good for */
#define TICKET_CHAIN_MAX  (24 * 3600)   /* seconds from the full handshake to the last resume */
#define TICKET_ROTATE     (12 * 3600)   /* seconds a key seals tickets */
#define TICKET_SERIAL_MAX 32            /* bytes; RFC 5280 allows 20 */
#define TICKET_CN_MAX     255           /* bytes */
#define TICKET_GROUPS_MAX 16            /* the certificate's OU values, the client's groups */
#define TICKET_GROUP_MAX  64            /* bytes of one group */
#define TICKET_OVERHEAD   (4 + 12 + 16) /* key id, nonce, tag */

/* What a ticket vouches for. Plain values. */
struct ticket_claims {
	char cn[TICKET_CN_MAX + 1]; /* the client certificate's CN, non-empty */
	char groups[TICKET_GROUPS_MAX][TICKET_GROUP_MAX + 1]; /* its OU values, in order */
	size_t n_groups;
	uint8_t serial[TICKET_SERIAL_MAX];
	size_t serial_len;
	int64_t auth_time; /* the full handshake the chain of resumptions started with */
	int64_t not_after; /* the client certificate's */
};

struct ticket_keys;

/* Draws LEN random bytes into OUT: 0 or non-zero on failure (mbedTLS's f_rng). */
typedef int (*ticket_rng_fn)(void *arg, unsigned char *out, size_t len);

/* New keys, the first one drawn now through RNG (which must outlive them: later keys come
 * from it too). Returns 0 with *OUT set (free with ticket_keys_free), -ENOMEM, or REXEC_ETLS
 * when no key could be drawn. */
int ticket_keys_new(struct ticket_keys **out, ticket_rng_fn rng, void *rng_arg, int64_t now);
void ticket_keys_free(struct ticket_keys *k);

/* The time the chain of resumptions of C ends: the earlier of notAfter and TICKET_CHAIN_MAX
 * after auth_time. */
int64_t ticket_claims_end(const struct ticket_claims *c);

/* Seals C and the serialised session (SESSION, SESSION_LEN bytes, not inside OUT) at NOW
 * into OUT (CAP bytes): 0 with *LEN set and *LIFETIME the seconds the client may offer it (at
 * most TICKET_LIFETIME, never past the chain's end). REXEC_ETICKET_EXPIRED when the chain has
 * ended (nothing is sealed), -EINVAL for an empty CN, an over-long CN or serial, too many
 * groups or an empty or over-long one, -ENOSPC when
 * OUT is too small, REXEC_ETLS when the cipher failed. Rotates the key first when it is due. */
int ticket_seal(struct ticket_keys *k, int64_t now, const struct ticket_claims *c,
		const uint8_t *session, size_t session_len, uint8_t *out, size_t cap, size_t *len,
		uint32_t *lifetime);

/* Opens the ticket in BUF (LEN bytes, decrypted in place) at NOW: 0 with *C filled and
 * *SESSION (pointing into BUF, *SESSION_LEN bytes) the serialised session.
 * REXEC_ETICKET_KEY when no key of ours sealed it (rotated out, another agent's, a restarted
 * agent's), -EBADMSG when it is damaged or malformed, REXEC_ETICKET_EXPIRED when the ticket or
 * its chain has ended. Rotates the key first when it is due. */
int ticket_open(struct ticket_keys *k, int64_t now, uint8_t *buf, size_t len,
		struct ticket_claims *c, const uint8_t **session, size_t *session_len);

#endif
