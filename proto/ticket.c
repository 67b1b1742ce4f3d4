/* ticket.c: sealing and opening the agent's session tickets (ticket.h) under two rotating
 * AES-256-GCM keys. A ticket is
 *
 *     key id (4) | nonce (12) | GCM(plain) | tag (16), the key id as additional data;
 *     plain = version (1) | created (8) | auth_time (8) | not_after (8)
 *             | serial length (1) | serial | CN length (1) | CN
 *             | group count (1) | (group length (1) | group)... | session
 *
 * times big-endian seconds since the epoch. */
#include "proto/ticket.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/gcm.h>
#include <mbedtls/platform_util.h>

#include "proto/error.h"

#define VERSION   3
#define HEAD      (4 + 12) /* key id, nonce */
#define TAG       16
#define PLAIN_MIN (1 + 8 + 8 + 8 + 1 + 1 + 1) /* everything but serial, CN, groups, session */

struct key {
	mbedtls_gcm_context gcm;
	uint8_t id[4];
	int64_t born; /* when it started sealing */
	int valid;
};

struct ticket_keys {
	struct key key[2]; /* key[cur] seals; both open */
	int cur;
	ticket_rng_fn rng;
	void *rng_arg;
};

static void put_be64(uint8_t *p, uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t get_be64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* Forgets KEY (its cipher context freed, the slot zeroed): it opens nothing any more. */
static void drop(struct key *key)
{
	if (key->valid)
		mbedtls_gcm_free(&key->gcm);
	memset(key, 0, sizeof(*key));
}

/* A fresh key born NOW into slot KEY (whatever it held is gone), with an id unlike OTHER's. */
static int draw(struct ticket_keys *k, struct key *key, const struct key *other, int64_t now)
{
	unsigned char secret[32];
	int ret;

	drop(key);
	mbedtls_gcm_init(&key->gcm);
	key->valid = 1;
	if (k->rng(k->rng_arg, secret, sizeof(secret)) != 0 ||
	    k->rng(k->rng_arg, key->id, sizeof(key->id)) != 0)
		ret = REXEC_ETLS;
	else
		ret = mbedtls_gcm_setkey(&key->gcm, MBEDTLS_CIPHER_ID_AES, secret, 256) != 0
			      ? REXEC_ETLS
			      : 0;
	mbedtls_platform_zeroize(secret, sizeof(secret));
	if (ret < 0) {
		drop(key);
		return ret;
	}
	if (other->valid && memcmp(key->id, other->id, sizeof(key->id)) == 0)
		key->id[0] ^= 0x80;
	key->born = now;
	return 0;
}

/* Retires the sealing key once it is TICKET_ROTATE old: it only opens for one more period,
 * and the key before it goes. A key idle for two periods goes at once (every ticket it sealed
 * has expired). On failure the keys stay as they were. */
static int rotate(struct ticket_keys *k, int64_t now)
{
	struct key *cur = &k->key[k->cur], *old = &k->key[!k->cur];
	int ret;

	if (now - cur->born < TICKET_ROTATE)
		return 0;
	if ((ret = draw(k, old, cur, now)) < 0)
		return ret;
	if (now - cur->born >= 2 * (int64_t)TICKET_ROTATE)
		drop(cur);
	k->cur = !k->cur;
	return 0;
}

int ticket_keys_new(struct ticket_keys **out, ticket_rng_fn rng, void *rng_arg, int64_t now)
{
	struct ticket_keys *k = calloc(1, sizeof(*k));
	int ret;

	if (k == NULL)
		return -ENOMEM;
	k->rng = rng;
	k->rng_arg = rng_arg;
	if ((ret = draw(k, &k->key[0], &k->key[1], now)) < 0) {
		free(k);
		return ret;
	}
	*out = k;
	return 0;
}

void ticket_keys_free(struct ticket_keys *k)
{
	if (k == NULL)
		return;
	drop(&k->key[0]);
	drop(&k->key[1]);
	free(k);
}

int64_t ticket_claims_end(const struct ticket_claims *c)
{
	/* Saturated: an opened ticket's times are whatever its plaintext held. */
	int64_t cap = c->auth_time > INT64_MAX - TICKET_CHAIN_MAX ? INT64_MAX
								  : c->auth_time + TICKET_CHAIN_MAX;

	return c->not_after < cap ? c->not_after : cap;
}

int ticket_seal(struct ticket_keys *k, int64_t now, const struct ticket_claims *c,
		const uint8_t *session, size_t session_len, uint8_t *out, size_t cap, size_t *len,
		uint32_t *lifetime)
{
	size_t cn_len = strnlen(c->cn, sizeof(c->cn)), plen, glen = 0, n, i;
	int64_t left = ticket_claims_end(c) - now;
	struct key *key;
	uint8_t *plain = out + HEAD, *p;
	int ret;

	if (cn_len == 0 || cn_len > TICKET_CN_MAX || c->serial_len > TICKET_SERIAL_MAX ||
	    c->n_groups > TICKET_GROUPS_MAX)
		return -EINVAL;
	for (i = 0; i < c->n_groups; i++) {
		n = strnlen(c->groups[i], sizeof(c->groups[i]));
		if (n == 0 || n > TICKET_GROUP_MAX)
			return -EINVAL;
		glen += 1 + n;
	}
	if (left <= 0)
		return REXEC_ETICKET_EXPIRED;
	plen = PLAIN_MIN + c->serial_len + cn_len + glen + session_len;
	if (cap < HEAD + TAG || cap - HEAD - TAG < plen)
		return -ENOSPC;
	if ((ret = rotate(k, now)) < 0)
		return ret;
	key = &k->key[k->cur];

	p = plain;
	*p++ = VERSION;
	put_be64(p, (uint64_t)now);
	put_be64(p + 8, (uint64_t)c->auth_time);
	put_be64(p + 16, (uint64_t)c->not_after);
	p += 24;
	*p++ = (uint8_t)c->serial_len;
	memcpy(p, c->serial, c->serial_len);
	p += c->serial_len;
	*p++ = (uint8_t)cn_len;
	memcpy(p, c->cn, cn_len);
	p += cn_len;
	*p++ = (uint8_t)c->n_groups;
	for (i = 0; i < c->n_groups; i++) {
		n = strlen(c->groups[i]);
		*p++ = (uint8_t)n;
		memcpy(p, c->groups[i], n);
		p += n;
	}
	memcpy(p, session, session_len);

	memcpy(out, key->id, 4);
	if (k->rng(k->rng_arg, out + 4, 12) != 0 ||
	    mbedtls_gcm_crypt_and_tag(&key->gcm, MBEDTLS_GCM_ENCRYPT, plen, out + 4, 12, out, 4,
				      plain, plain, TAG, plain + plen) != 0) {
		mbedtls_platform_zeroize(out, cap);
		return REXEC_ETLS;
	}
	*len = HEAD + plen + TAG;
	*lifetime = (uint32_t)(left < TICKET_LIFETIME ? left : TICKET_LIFETIME);
	return 0;
}

int ticket_open(struct ticket_keys *k, int64_t now, uint8_t *buf, size_t len,
		struct ticket_claims *c, const uint8_t **session, size_t *session_len)
{
	uint8_t *plain = buf + HEAD, *p, *end;
	struct key *key = NULL;
	int64_t created;
	size_t plen, n, g;
	int i;

	rotate(k, now); /* a failure keeps the old keys, which still open */
	if (len < HEAD + TAG)
		return -EBADMSG;
	for (i = 0; i < 2; i++)
		if (k->key[i].valid && memcmp(buf, k->key[i].id, 4) == 0)
			key = &k->key[i];
	if (key == NULL)
		return REXEC_ETICKET_KEY;
	plen = len - HEAD - TAG;
	if (mbedtls_gcm_auth_decrypt(&key->gcm, plen, buf + 4, 12, buf, 4, plain + plen, TAG, plain,
				     plain) != 0)
		return -EBADMSG;

	memset(c, 0, sizeof(*c));
	p = plain;
	end = plain + plen;
	if (plen < PLAIN_MIN || *p++ != VERSION)
		return -EBADMSG;
	created = (int64_t)get_be64(p);
	c->auth_time = (int64_t)get_be64(p + 8);
	c->not_after = (int64_t)get_be64(p + 16);
	p += 24;
	n = *p++;
	if (n > TICKET_SERIAL_MAX || (size_t)(end - p) < n + 1)
		return -EBADMSG;
	memcpy(c->serial, p, n);
	c->serial_len = n;
	p += n;
	n = *p++;
	if (n == 0 || (size_t)(end - p) < n + 1 || memchr(p, 0, n) != NULL)
		return -EBADMSG;
	memcpy(c->cn, p, n);
	c->cn[n] = 0;
	p += n;
	c->n_groups = *p++;
	if (c->n_groups > TICKET_GROUPS_MAX)
		return -EBADMSG;
	for (g = 0; g < c->n_groups; g++) {
		if (end - p < 1)
			return -EBADMSG;
		n = *p++;
		if (n == 0 || n > TICKET_GROUP_MAX || (size_t)(end - p) < n ||
		    memchr(p, 0, n) != NULL)
			return -EBADMSG;
		memcpy(c->groups[g], p, n);
		c->groups[g][n] = 0;
		p += n;
	}

	/* No now - created: a far-off created would overflow it. */
	if (created > now || created < now - TICKET_LIFETIME || now >= ticket_claims_end(c))
		return REXEC_ETICKET_EXPIRED;
	*session = p;
	*session_len = (size_t)(end - p);
	return 0;
}
