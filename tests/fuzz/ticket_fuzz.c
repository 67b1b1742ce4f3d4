/* ticket_fuzz.c: the session ticket parser (proto/ticket.c). A ticket is authenticated before
 * it is parsed, so most inputs are sealed here first with the key the agent drew (the random
 * source is a counter, so the fuzzer knows it): the input's first byte picks
 *   bit 0 clear: the rest is the ticket as a client sends it (forgeries, truncations);
 *   bit 0 set:   the rest is the plaintext, sealed under key 0 then opened;
 * bytes 1-2 move the clock (within one key period). A ticket that opens is sealed again from
 * its claims and must open to the same claims. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/gcm.h>

#include "proto/ticket.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define T0 1700000000

/* Byte I of the counter stream is I mod 256. */
static int counter_rng(void *arg, unsigned char *out, size_t len)
{
	unsigned *n = arg;
	size_t i;

	for (i = 0; i < len; i++)
		out[i] = (unsigned char)(*n)++;
	return 0;
}

/* The keys for the whole run: drawing one per input would cost more than the parsing. Key 0
 * is bytes 0-31 of the counter stream, its id bytes 32-35. */
static struct ticket_keys *keys(void)
{
	static struct ticket_keys *k;
	static unsigned n;

	if (k == NULL && ticket_keys_new(&k, counter_rng, &n, T0) != 0)
		abort();
	return k;
}

/* PLAIN (LEN bytes) sealed as ticket.c does into OUT (LEN + 32 bytes). */
static void seal_plain(const uint8_t *plain, size_t len, uint8_t *out)
{
	static const uint8_t id[4] = { 32, 33, 34, 35 };
	unsigned char secret[32];
	mbedtls_gcm_context gcm;
	int i;

	for (i = 0; i < 32; i++)
		secret[i] = (unsigned char)i;
	memcpy(out, id, 4);
	memset(out + 4, 0x5a, 12);
	mbedtls_gcm_init(&gcm);
	if (mbedtls_gcm_setkey(&gcm, MBEDTLS_CIPHER_ID_AES, secret, 256) != 0 ||
	    mbedtls_gcm_crypt_and_tag(&gcm, MBEDTLS_GCM_ENCRYPT, len, out + 4, 12, out, 4, plain,
				      out + 16, 16, out + 16 + len) != 0)
		abort();
	mbedtls_gcm_free(&gcm);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ticket_keys *k = keys();
	struct ticket_claims c, c2;
	const uint8_t *session;
	uint8_t *buf, *again;
	size_t len, session_len, len2;
	uint32_t lifetime;
	int64_t now;
	int ret;

	if (size < 3)
		return 0;
	now = T0 + (int16_t)(data[1] << 8 | data[2]);
	data += 3;
	size -= 3;
	if ((buf = malloc(size + 32)) == NULL)
		return 0;
	if (data[-3] & 1) {
		seal_plain(data, size, buf);
		len = size + 32;
	} else {
		memcpy(buf, data, size);
		len = size;
	}
	ret = ticket_open(k, now, buf, len, &c, &session, &session_len);
	if (ret == 0) {
		if (c.cn[0] == 0 || strlen(c.cn) > TICKET_CN_MAX ||
		    c.serial_len > TICKET_SERIAL_MAX || session < buf ||
		    session + session_len > buf + len)
			abort();
		if ((again = malloc(len + 64)) == NULL)
			abort();
		if (ticket_seal(k, now, &c, session, session_len, again, len + 64, &len2,
				&lifetime) == 0) {
			if (lifetime == 0 || lifetime > TICKET_LIFETIME ||
			    ticket_open(k, now, again, len2, &c2, &session, &session_len) != 0 ||
			    strcmp(c.cn, c2.cn) != 0 || c.serial_len != c2.serial_len ||
			    memcmp(c.serial, c2.serial, c.serial_len) != 0 ||
			    c.auth_time != c2.auth_time || c.not_after != c2.not_after)
				abort();
		}
		free(again);
	}
	free(buf);
	return 0;
}
