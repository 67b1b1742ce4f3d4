/* gcm_fuzz.c: libFuzzer target: rexec's AES-GCM (proto/gcm_alt.c, as alt_gcm_* here) must do
 * what mbedTLS's own gcm.c does on any input: the same return code from every call, the same
 * output bytes, the same tag, and the same verdict and output from auth_decrypt with a tag
 * that may be forged. The input chooses AES-128 or AES-256, the path (AES-NI or portable),
 * the direction, the IV and AD lengths, the tag length (invalid ones too), and the sizes of
 * the update() calls; the rest is key, IV, AD and text. Built by tests/fuzz/gcm_fuzz.sh. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/gcm.h>

/* gcm.h once more, for gcm_alt.c's context and functions under their fuzz-build names. */
#undef MBEDTLS_GCM_H
#define MBEDTLS_GCM_ALT
#include "tests/fuzz/gcm_fuzz_alt.h"
#include <mbedtls/gcm.h>
#undef mbedtls_gcm_context
#undef mbedtls_gcm_init
#undef mbedtls_gcm_setkey
#undef mbedtls_gcm_starts
#undef mbedtls_gcm_update_ad
#undef mbedtls_gcm_update
#undef mbedtls_gcm_finish
#undef mbedtls_gcm_crypt_and_tag
#undef mbedtls_gcm_auth_decrypt
#undef mbedtls_gcm_free
#undef mbedtls_gcm_self_test
#undef MBEDTLS_GCM_ALT

#define HEADER 8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same(const void *a, const void *b, size_t n)
{
	if (n > 0 && memcmp(a, b, n) != 0)
		abort();
}

static void same_rc(int a, int b)
{
	if (a != b)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	mbedtls_gcm_context ref;
	alt_gcm_context alt;
	unsigned char ref_tag[16], alt_tag[16], *ref_out = NULL, *alt_out = NULL;
	const uint8_t *key, *iv, *ad, *text, *chunks;
	size_t iv_len, ad_len, text_len, tag_len, nchunks, off, n, i, ref_olen, alt_olen;
	unsigned keybits;
	int mode, portable, forge;

	if (size < HEADER)
		return 0;
	keybits = data[0] & 1 ? 256 : 128;
	portable = data[0] >> 1 & 1;
	mode = data[0] >> 2 & 1 ? MBEDTLS_GCM_DECRYPT : MBEDTLS_GCM_ENCRYPT;
	forge = data[0] >> 3 & 1;
	iv_len = data[1] % 64 + (data[0] >> 4 & 1 ? 0 : 1); /* 0: refused by both */
	ad_len = data[2] | (size_t)(data[3] & 3) << 8;
	tag_len = data[4] % 17; /* 0..3: refused by both */
	nchunks = data[5] % 8;
	/* nchunks update() sizes of 16 * a + b % 17 bytes: past the eight-block loop, odd */
	chunks = data + HEADER;
	if (size < HEADER + 2 * nchunks + keybits / 8 + iv_len + ad_len)
		return 0;
	key = data + HEADER + 2 * nchunks;
	iv = key + keybits / 8;
	ad = iv + iv_len;
	text = ad + ad_len;
	text_len = size - (size_t)(text - data);

	mbedtls_gcm_init(&ref);
	alt_gcm_init(&alt);
	ref_out = malloc(text_len + 1);
	alt_out = malloc(text_len + 1);
	if (ref_out == NULL || alt_out == NULL)
		abort();
	same_rc(mbedtls_gcm_setkey(&ref, MBEDTLS_CIPHER_ID_AES, key, keybits),
		alt_gcm_setkey(&alt, MBEDTLS_CIPHER_ID_AES, key, keybits));
	if (portable)
		gcm_alt_use_portable(&alt);

	/* The streaming calls, in the input's pieces: AD in two, text in nchunks + 1. */
	same_rc(mbedtls_gcm_starts(&ref, mode, iv, iv_len), alt_gcm_starts(&alt, mode, iv, iv_len));
	if (iv_len == 0)
		goto out;
	same_rc(mbedtls_gcm_update_ad(&ref, ad, ad_len / 3),
		alt_gcm_update_ad(&alt, ad, ad_len / 3));
	same_rc(mbedtls_gcm_update_ad(&ref, ad + ad_len / 3, ad_len - ad_len / 3),
		alt_gcm_update_ad(&alt, ad + ad_len / 3, ad_len - ad_len / 3));
	for (off = 0, i = 0; i <= nchunks; off += n, i++) {
		int rc;

		n = i < nchunks ? (size_t)chunks[2 * i] * 16 + chunks[2 * i + 1] % 17
				: text_len - off;
		if (n > text_len - off)
			n = text_len - off;
		rc = mbedtls_gcm_update(&ref, text + off, n, ref_out + off, n, &ref_olen);
		same_rc(rc, alt_gcm_update(&alt, text + off, n, alt_out + off, n, &alt_olen));
		if (rc == 0 && ref_olen != alt_olen)
			abort();
	}
	same(ref_out, alt_out, text_len);
	same_rc(mbedtls_gcm_finish(&ref, NULL, 0, &ref_olen, ref_tag, tag_len),
		alt_gcm_finish(&alt, NULL, 0, &alt_olen, alt_tag, tag_len));
	if (tag_len < 4)
		goto out;
	same(ref_tag, alt_tag, tag_len);

	/* One shot, then auth_decrypt with the tag (or a forged one): same verdict and output;
	 * a refused tag leaves zeros. */
	same_rc(mbedtls_gcm_crypt_and_tag(&ref, mode, text_len, iv, iv_len, ad, ad_len, text,
					  ref_out, tag_len, ref_tag),
		alt_gcm_crypt_and_tag(&alt, mode, text_len, iv, iv_len, ad, ad_len, text, alt_out,
				      tag_len, alt_tag));
	same(ref_out, alt_out, text_len);
	same(ref_tag, alt_tag, tag_len);
	if (mode == MBEDTLS_GCM_ENCRYPT) {
		if (forge)
			ref_tag[data[4] % tag_len] ^= (unsigned char)(1u << (data[1] & 7));
		memcpy(alt_out, ref_out, text_len);
		same_rc(mbedtls_gcm_auth_decrypt(&ref, text_len, iv, iv_len, ad, ad_len, ref_tag,
						 tag_len, ref_out, ref_out),
			alt_gcm_auth_decrypt(&alt, text_len, iv, iv_len, ad, ad_len, ref_tag,
					     tag_len, alt_out, alt_out));
		same(ref_out, alt_out, text_len);
		if (forge)
			for (i = 0; i < text_len; i++)
				if (alt_out[i] != 0)
					abort();
		if (!forge)
			same(alt_out, text, text_len);
	}
out:
	mbedtls_gcm_free(&ref);
	alt_gcm_free(&alt);
	free(ref_out);
	free(alt_out);
	return 0;
}
