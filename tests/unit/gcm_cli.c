/* gcm_cli.c: rexec's AES-GCM (proto/gcm_alt.c, through mbedtls/gcm.h) behind stdin and stdout,
 * for gcm_openssl_diff.py, which holds it against OpenSSL. One case after another:
 *
 *   in:  u8 flags (1: portable path, 2: no VAES), u8 key_len, u8 iv_len, u8 0, u32 ad_len, u32
 * ad_split, u32 len, u32 nchunks, u32 chunk[nchunks] (they sum to len), key, iv, ad, plaintext out:
 * ciphertext, tag[16] (encrypted with update() over the chunks, AD in two pieces), plaintext (the
 * ciphertext decrypted in place over the same chunks), u8 status: bit 0 auth_decrypt of the
 * ciphertext with its tag gave the plaintext, bit 1 with one tag bit flipped it failed and left
 * only zeros in its output, bit 2 the path was the one asked, bit 3 the wide (VAES) path ran
 *
 * All u32 are little-endian. Exits 0 at the end of its input, 1 on a malformed case or an
 * error from mbedTLS (reported on stderr). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/gcm.h>

#define MAX_LEN (1u << 20)

struct gcm_case {
	unsigned char flags, key_len, iv_len;
	uint32_t ad_len, ad_split, len, nchunks;
	uint32_t *chunk;
	unsigned char key[32], iv[256];
	unsigned char *ad, *pt, *ct, *back, *out;
};

static int get(void *p, size_t n)
{
	return n == 0 || fread(p, 1, n, stdin) == n;
}

static int get32(uint32_t *v)
{
	unsigned char b[4];

	if (!get(b, 4))
		return 0;
	*v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
	return 1;
}

static int fail(const char *what, int ret)
{
	fprintf(stderr, "gcm_cli: %s: -0x%04x\n", what, (unsigned)-ret);
	return 1;
}

/* Streams IN to OUT (which may be IN) through update() in the case's chunks. */
static int streamed(mbedtls_gcm_context *c, const struct gcm_case *k, int mode,
		    const unsigned char *in, unsigned char *out, unsigned char tag[16])
{
	size_t off = 0, olen;
	uint32_t i;
	int ret;

	if ((ret = mbedtls_gcm_starts(c, mode, k->iv, k->iv_len)) != 0 ||
	    (ret = mbedtls_gcm_update_ad(c, k->ad, k->ad_split)) != 0 ||
	    (ret = mbedtls_gcm_update_ad(c, k->ad + k->ad_split, k->ad_len - k->ad_split)) != 0)
		return ret;
	for (i = 0; i < k->nchunks; off += k->chunk[i], i++)
		if ((ret = mbedtls_gcm_update(c, in + off, k->chunk[i], out + off, k->chunk[i],
					      &olen)) != 0)
			return ret;
	return mbedtls_gcm_finish(c, NULL, 0, &olen, tag, 16);
}

static int one(struct gcm_case *k)
{
	mbedtls_gcm_context c;
	unsigned char tag[16], tag2[16], status = 0;
	uint32_t i, sum = 0;
	int ret, rc = 1;

	if (k->ad_split > k->ad_len || k->len > MAX_LEN || k->ad_len > MAX_LEN ||
	    k->nchunks > MAX_LEN || (k->key_len != 16 && k->key_len != 32) || k->iv_len == 0)
		return fail("malformed case", 0);
	k->chunk = malloc(4 * (size_t)k->nchunks + 1);
	k->ad = malloc(k->ad_len + 1);
	k->pt = malloc(k->len + 1);
	k->ct = malloc(k->len + 1);
	k->back = malloc(k->len + 1);
	k->out = malloc(k->len + 1);
	if (!k->chunk || !k->ad || !k->pt || !k->ct || !k->back || !k->out)
		return fail("out of memory", 0);
	for (i = 0; i < k->nchunks; i++) {
		if (!get32(&k->chunk[i]))
			return fail("short input", 0);
		sum += k->chunk[i];
	}
	if (sum != k->len)
		return fail("chunks do not add up", 0);
	if (!get(k->key, k->key_len) || !get(k->iv, k->iv_len) || !get(k->ad, k->ad_len) ||
	    !get(k->pt, k->len))
		return fail("short input", 0);

	mbedtls_gcm_init(&c);
	if ((ret = mbedtls_gcm_setkey(&c, MBEDTLS_CIPHER_ID_AES, k->key, k->key_len * 8u)) != 0) {
		fail("setkey", ret);
		goto out;
	}
	if (k->flags & 1)
		gcm_alt_use_portable(&c);
	if (k->flags & 2)
		gcm_alt_use_narrow(&c);
	if (gcm_alt_accelerated(&c) == !(k->flags & 1) && !((k->flags & 2) && gcm_alt_wide(&c)))
		status |= 4;
	if (gcm_alt_wide(&c))
		status |= 8;
	if ((ret = streamed(&c, k, MBEDTLS_GCM_ENCRYPT, k->pt, k->ct, tag)) != 0) {
		fail("encrypt", ret);
		goto out;
	}
	memcpy(k->back, k->ct, k->len);
	if ((ret = streamed(&c, k, MBEDTLS_GCM_DECRYPT, k->back, k->back, tag2)) != 0) {
		fail("decrypt", ret);
		goto out;
	}
	if (memcmp(tag, tag2, 16) == 0 &&
	    mbedtls_gcm_auth_decrypt(&c, k->len, k->iv, k->iv_len, k->ad, k->ad_len, tag, 16, k->ct,
				     k->out) == 0 &&
	    memcmp(k->out, k->pt, k->len) == 0)
		status |= 1;
	tag2[k->len % 16] ^= (unsigned char)(1u << (k->len % 8));
	memset(k->out, 0xaa, k->len);
	if (mbedtls_gcm_auth_decrypt(&c, k->len, k->iv, k->iv_len, k->ad, k->ad_len, tag2, 16,
				     k->ct, k->out) == MBEDTLS_ERR_GCM_AUTH_FAILED) {
		for (i = 0; i < k->len && k->out[i] == 0; i++)
			;
		if (i == k->len)
			status |= 2;
	}
	if (fwrite(k->ct, 1, k->len, stdout) != k->len || fwrite(tag, 1, 16, stdout) != 16 ||
	    fwrite(k->back, 1, k->len, stdout) != k->len || fwrite(&status, 1, 1, stdout) != 1 ||
	    fflush(stdout) != 0) {
		fail("write", 0);
		goto out;
	}
	rc = 0;
out:
	mbedtls_gcm_free(&c);
	return rc;
}

int main(void)
{
	unsigned char head[4];
	size_t n;
	int rc = 0;

	while (rc == 0 && (n = fread(head, 1, 4, stdin)) == 4) {
		struct gcm_case k = { .flags = head[0], .key_len = head[1], .iv_len = head[2] };

		if (!get32(&k.ad_len) || !get32(&k.ad_split) || !get32(&k.len) ||
		    !get32(&k.nchunks))
			rc = fail("short input", 0);
		else
			rc = one(&k);
		free(k.chunk);
		free(k.ad);
		free(k.pt);
		free(k.ct);
		free(k.back);
		free(k.out);
	}
	if (rc == 0 && n != 0)
		rc = fail("short input", 0);
	return rc;
}
