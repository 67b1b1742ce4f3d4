/* gcm_test.c: rexec's AES-GCM (proto/gcm_alt.c) against mbedTLS's NIST self test on both of
 * its paths, against a reference computed elsewhere (pyca/cryptography, i.e. OpenSSL) for a
 * text long enough for the eight-block loop, the wide (VAES) and the 128-bit AES-NI paths
 * against the portable one over many lengths, IVs, split points and in place, and the
 * counter's 32-bit wrap on every path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <mbedtls/gcm.h>
#include <mbedtls/sha256.h>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

#if defined(MBEDTLS_GCM_ALT)

#define MAXTEXT 20000

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 16);
}

static void fill(unsigned char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (unsigned char)rnd();
}

static int x86_has_aes_clmul(void)
{
#if defined(__x86_64__)
	unsigned a, b, c, d;

	/* ECX of leaf 1: bit 1 PCLMULQDQ, 25 AES (SSSE3 and SSE4.1 come with both) */
	return __get_cpuid(1, &a, &b, &c, &d) && (c & 1u << 1) && (c & 1u << 25);
#else
	return 0;
#endif
}

/* VAES and VPCLMULQDQ on 256-bit vectors, which the OS saves (the wide path). */
static int x86_has_wide(void)
{
#if defined(__x86_64__)
	unsigned a, b, c, d;

	if (!x86_has_aes_clmul() || !__get_cpuid(1, &a, &b, &c, &d) || !(c & 1u << 27) ||
	    !(c & 1u << 28))
		return 0;
	__asm__("xgetbv" : "=a"(a), "=d"(d) : "c"(0));
	return (a & 6) == 6 && __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & 1u << 5) &&
	       (c & 1u << 9) && (c & 1u << 10);
#else
	return 0;
#endif
}

static void test_nist_vectors_and_path_choice(void **state)
{
	mbedtls_gcm_context c;
	unsigned char key[32] = { 0 };

	(void)state;
	mbedtls_gcm_init(&c);
	assert_int_equal(mbedtls_gcm_setkey(&c, MBEDTLS_CIPHER_ID_AES, key, 128), 0);
	/* The AES-NI path must be the one taken where the CPU has it. */
	assert_int_equal(gcm_alt_accelerated(&c), x86_has_aes_clmul());
	assert_int_equal(gcm_alt_wide(&c), x86_has_wide());
	printf("gcm_test: this CPU takes the %s path\n", gcm_alt_wide(&c)          ? "wide (VAES)"
							 : gcm_alt_accelerated(&c) ? "AES-NI"
										   : "portable");
	gcm_alt_use_narrow(&c);
	assert_false(gcm_alt_wide(&c));
	assert_int_equal(gcm_alt_accelerated(&c), x86_has_aes_clmul());
	gcm_alt_use_portable(&c);
	assert_false(gcm_alt_accelerated(&c));
	mbedtls_gcm_free(&c);
	assert_int_equal(mbedtls_gcm_self_test(0), 0);
}

static void hex(const unsigned char *p, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", p[i]);
}

/* 1000 bytes: seven rounds of the eight-block loop, then single and partial blocks. */
static void test_matches_openssl_on_a_long_text(void **state)
{
	static const struct {
		unsigned keylen;
		const char *ct_sha256, *tag;
	} want[] = {
		{ 16, "d7c5139cf6ceb10b2e1c6867e160ae740f0466708c333319f32c0b0f37c7a276",
		  "4914150cfe67d57199e9267e85f30619" },
		{ 32, "629fa56939ccebd4fad3299d180698bd62ccf28679bac62306936a7113524a98",
		  "d05c721b7bf6d0721d46b211a30c07f9" },
	};
	unsigned char key[32], iv[12], pt[1000], ct[1000], back[1000], tag[16], sum[32];
	char sumhex[65], taghex[33];
	size_t i, k, p;

	(void)state;
	for (i = 0; i < sizeof(iv); i++)
		iv[i] = (unsigned char)i;
	for (i = 0; i < sizeof(pt); i++)
		pt[i] = (unsigned char)(i * 7);
	for (p = 0; p < 2; p++) {
		for (k = 0; k < sizeof(want) / sizeof(want[0]); k++) {
			mbedtls_gcm_context c;

			for (i = 0; i < want[k].keylen; i++)
				key[i] = (unsigned char)(i * 13 + 1);
			mbedtls_gcm_init(&c);
			assert_int_equal(mbedtls_gcm_setkey(&c, MBEDTLS_CIPHER_ID_AES, key,
							    want[k].keylen * 8),
					 0);
			if (p)
				gcm_alt_use_portable(&c);
			assert_int_equal(mbedtls_gcm_crypt_and_tag(
						 &c, MBEDTLS_GCM_ENCRYPT, sizeof(pt), iv,
						 sizeof(iv), (const unsigned char *)"rexec gcm", 9,
						 pt, ct, 16, tag),
					 0);
			assert_int_equal(mbedtls_sha256(ct, sizeof(ct), sum, 0), 0);
			hex(sum, 32, sumhex);
			hex(tag, 16, taghex);
			assert_string_equal(sumhex, want[k].ct_sha256);
			assert_string_equal(taghex, want[k].tag);
			assert_int_equal(
				mbedtls_gcm_auth_decrypt(&c, sizeof(ct), iv, sizeof(iv),
							 (const unsigned char *)"rexec gcm", 9, tag,
							 16, ct, back),
				0);
			assert_memory_equal(back, pt, sizeof(pt));
			mbedtls_gcm_free(&c);
		}
	}
}

/* N bytes of A and B are the same (none to compare for an empty text). */
static void same(const unsigned char *a, const unsigned char *b, size_t n)
{
	if (n > 0)
		assert_memory_equal(a, b, n);
}

/* Encrypts (or decrypts) IN with the streaming calls, in random pieces. */
static void streamed(mbedtls_gcm_context *c, int mode, const unsigned char *iv, size_t iv_len,
		     const unsigned char *ad, size_t ad_len, const unsigned char *in,
		     unsigned char *out, size_t len, unsigned char tag[16])
{
	size_t off, n, olen;

	assert_int_equal(mbedtls_gcm_starts(c, mode, iv, iv_len), 0);
	for (off = 0; off < ad_len; off += n) {
		n = rnd() % 40 + 1;
		if (n > ad_len - off)
			n = ad_len - off;
		assert_int_equal(mbedtls_gcm_update_ad(c, ad + off, n), 0);
	}
	for (off = 0; off < len; off += n) {
		n = rnd() % 3 == 0 ? rnd() % 20 : rnd() % 3000;
		if (n > len - off)
			n = len - off;
		assert_int_equal(mbedtls_gcm_update(c, in + off, n, out + off, n, &olen), 0);
		assert_int_equal(olen, n);
	}
	assert_int_equal(mbedtls_gcm_finish(c, NULL, 0, &olen, tag, 16), 0);
}

static void test_fast_path_matches_portable(void **state)
{
	static unsigned char pt[MAXTEXT], ct_fast[MAXTEXT], ct_port[MAXTEXT], buf[MAXTEXT];
	static const size_t lens[] = { 0,    1,    15,   16,    17,    112,   127,    128,
				       129,  143,  144,  255,   256,   257,   384,    400,
				       1000, 4095, 4096, 16384, 16400, 16413, MAXTEXT };
	static const size_t iv_lens[] = { 12, 1, 8, 16, 17, 60 };
	unsigned char key[32], iv[60], ad[100], tag_fast[16], tag_port[16], tag[16];
	mbedtls_gcm_context fast, port;
	size_t li, ii, round;

	(void)state;
	if (!x86_has_aes_clmul())
		skip();
	/* Rounds 0-3 on the path this CPU takes (wide where it has VAES), 4-7 on the 128-bit
	 * AES-NI one. */
	for (round = 0; round < 8; round++) {
		unsigned keybits = round % 2 ? 256 : 128;

		fill(key, sizeof(key));
		mbedtls_gcm_init(&fast);
		assert_int_equal(mbedtls_gcm_setkey(&fast, MBEDTLS_CIPHER_ID_AES, key, keybits), 0);
		if (round >= 4)
			gcm_alt_use_narrow(&fast);
		assert_true(gcm_alt_accelerated(&fast));
		assert_int_equal(gcm_alt_wide(&fast), round < 4 && x86_has_wide());
		mbedtls_gcm_init(&port);
		assert_int_equal(mbedtls_gcm_setkey(&port, MBEDTLS_CIPHER_ID_AES, key, keybits), 0);
		gcm_alt_use_portable(&port);
		assert_false(gcm_alt_accelerated(&port));

		for (li = 0; li < sizeof(lens) / sizeof(lens[0]); li++) {
			for (ii = 0; ii < sizeof(iv_lens) / sizeof(iv_lens[0]); ii++) {
				size_t len = lens[li], ad_len = rnd() % sizeof(ad);
				size_t iv_len = iv_lens[ii];

				fill(pt, len);
				fill(iv, iv_len);
				fill(ad, ad_len);
				assert_int_equal(
					mbedtls_gcm_crypt_and_tag(&port, MBEDTLS_GCM_ENCRYPT, len,
								  iv, iv_len, ad, ad_len, pt,
								  ct_port, 16, tag_port),
					0);
				assert_int_equal(
					mbedtls_gcm_crypt_and_tag(&fast, MBEDTLS_GCM_ENCRYPT, len,
								  iv, iv_len, ad, ad_len, pt,
								  ct_fast, 16, tag_fast),
					0);
				same(ct_fast, ct_port, len);
				assert_memory_equal(tag_fast, tag_port, 16);

				/* Streamed in random pieces, both directions, both paths. */
				streamed(&fast, MBEDTLS_GCM_ENCRYPT, iv, iv_len, ad, ad_len, pt,
					 buf, len, tag);
				same(buf, ct_port, len);
				assert_memory_equal(tag, tag_port, 16);
				streamed(&fast, MBEDTLS_GCM_DECRYPT, iv, iv_len, ad, ad_len,
					 ct_port, buf, len, tag);
				same(buf, pt, len);
				assert_memory_equal(tag, tag_port, 16);
				streamed(&port, MBEDTLS_GCM_DECRYPT, iv, iv_len, ad, ad_len,
					 ct_port, buf, len, tag);
				same(buf, pt, len);

				/* In place, as TLS records are: encrypt, then decrypt back. */
				memcpy(buf, pt, len);
				assert_int_equal(mbedtls_gcm_crypt_and_tag(
							 &fast, MBEDTLS_GCM_ENCRYPT, len, iv,
							 iv_len, ad, ad_len, buf, buf, 16, tag),
						 0);
				same(buf, ct_port, len);
				assert_int_equal(mbedtls_gcm_auth_decrypt(&fast, len, iv, iv_len,
									  ad, ad_len, tag, 16, buf,
									  buf),
						 0);
				same(buf, pt, len);
			}
		}
		mbedtls_gcm_free(&fast);
		mbedtls_gcm_free(&port);
	}
}

/* GCM's counter steps its low 32 bits alone (inc32), wrapping to 0 without a carry into the
 * IV: every path must wrap so, also in the middle of a group of blocks. The counter block is
 * set by hand after the start, as a non-96-bit IV could make it. */
static void test_counter_wraps_as_inc32(void **state)
{
	static unsigned char pt[4096], out[3][4096];
	static const uint32_t starts[] = { 0xffffffffu, 0xfffffff0u, 0xfffffff7u, 0xffffff00u };
	unsigned char key[16], iv[12], tag[3][16];
	mbedtls_gcm_context c[3];
	size_t si, olen;
	int p;

	(void)state;
	if (!x86_has_aes_clmul())
		skip();
	fill(key, sizeof(key));
	fill(iv, sizeof(iv));
	fill(pt, sizeof(pt));
	for (si = 0; si < sizeof(starts) / sizeof(starts[0]); si++) {
		for (p = 0; p < 3; p++) {
			mbedtls_gcm_init(&c[p]);
			assert_int_equal(mbedtls_gcm_setkey(&c[p], MBEDTLS_CIPHER_ID_AES, key, 128),
					 0);
			if (p == 1)
				gcm_alt_use_narrow(&c[p]);
			if (p == 2)
				gcm_alt_use_portable(&c[p]);
			assert_int_equal(mbedtls_gcm_starts(&c[p], MBEDTLS_GCM_ENCRYPT, iv, 12), 0);
			c[p].y[12] = (unsigned char)(starts[si] >> 24);
			c[p].y[13] = (unsigned char)(starts[si] >> 16);
			c[p].y[14] = (unsigned char)(starts[si] >> 8);
			c[p].y[15] = (unsigned char)starts[si];
			assert_int_equal(mbedtls_gcm_update(&c[p], pt, sizeof(pt), out[p],
							    sizeof(out[p]), &olen),
					 0);
			assert_int_equal(mbedtls_gcm_finish(&c[p], NULL, 0, &olen, tag[p], 16), 0);
			/* The low 32 bits wrapped and the IV's 96 are as they were. */
			assert_memory_equal(c[p].y, iv, 12);
			mbedtls_gcm_free(&c[p]);
		}
		same(out[0], out[2], sizeof(pt));
		same(out[1], out[2], sizeof(pt));
		assert_memory_equal(tag[0], tag[2], 16);
		assert_memory_equal(tag[1], tag[2], 16);
	}
}

static void test_forged_tag_or_text_is_refused_and_output_wiped(void **state)
{
	unsigned char key[16], iv[12], pt[300], ct[300], out[300], tag[16];
	mbedtls_gcm_context c;
	size_t i;

	(void)state;
	fill(key, sizeof(key));
	fill(iv, sizeof(iv));
	fill(pt, sizeof(pt));
	mbedtls_gcm_init(&c);
	assert_int_equal(mbedtls_gcm_setkey(&c, MBEDTLS_CIPHER_ID_AES, key, 128), 0);
	assert_int_equal(mbedtls_gcm_crypt_and_tag(&c, MBEDTLS_GCM_ENCRYPT, sizeof(pt), iv, 12,
						   NULL, 0, pt, ct, 16, tag),
			 0);
	tag[15] ^= 1;
	memset(out, 0xaa, sizeof(out));
	assert_int_equal(
		mbedtls_gcm_auth_decrypt(&c, sizeof(ct), iv, 12, NULL, 0, tag, 16, ct, out),
		MBEDTLS_ERR_GCM_AUTH_FAILED);
	for (i = 0; i < sizeof(out); i++)
		assert_int_equal(out[i], 0);
	tag[15] ^= 1;
	ct[200] ^= 0x80; /* a byte the eight-block loop handles */
	assert_int_equal(
		mbedtls_gcm_auth_decrypt(&c, sizeof(ct), iv, 12, NULL, 0, tag, 16, ct, out),
		MBEDTLS_ERR_GCM_AUTH_FAILED);
	ct[200] ^= 0x80;
	assert_int_equal(
		mbedtls_gcm_auth_decrypt(&c, sizeof(ct), iv, 12, NULL, 0, tag, 16, ct, out), 0);
	assert_memory_equal(out, pt, sizeof(pt));
	mbedtls_gcm_free(&c);
}

/* Round keys, H and its powers, and the cipher's key schedule leave with mbedtls_gcm_free:
 * the whole context is zero afterwards, on both key sizes. */
static void test_free_wipes_round_keys_and_h(void **state)
{
	unsigned char key[32], iv[12], pt[200], ct[200], tag[16];
	mbedtls_gcm_context c;
	const unsigned char *raw = (const unsigned char *)&c;
	size_t i, k, nonzero;

	(void)state;
	for (k = 0; k < 2; k++) {
		fill(key, sizeof(key));
		fill(iv, sizeof(iv));
		fill(pt, sizeof(pt));
		mbedtls_gcm_init(&c);
		assert_int_equal(mbedtls_gcm_setkey(&c, MBEDTLS_CIPHER_ID_AES, key, k ? 256 : 128),
				 0);
		assert_int_equal(mbedtls_gcm_crypt_and_tag(&c, MBEDTLS_GCM_ENCRYPT, sizeof(pt), iv,
							   12, NULL, 0, pt, ct, 16, tag),
				 0);
		for (i = nonzero = 0; i < sizeof(c.h); i++)
			nonzero += ((const unsigned char *)c.h)[i] != 0;
		assert_true(nonzero > 0);
		if (gcm_alt_accelerated(&c)) {
			const unsigned char *rk = (const unsigned char *)c.rk;
			const unsigned char *hpow = (const unsigned char *)c.hpow;

			for (i = nonzero = 0; i < sizeof(c.rk); i++)
				nonzero += rk[i] != 0;
			for (i = 0; i < sizeof(c.hpow); i++)
				nonzero += hpow[i] != 0;
			assert_true(nonzero > 0);
		}
		mbedtls_gcm_free(&c);
		for (i = 0; i < sizeof(c); i++)
			assert_int_equal(raw[i], 0);
	}
}

static void test_bad_input_is_refused_as_mbedtls_does(void **state)
{
	unsigned char key[32] = { 0 }, iv[12] = { 0 }, b[64], tag[16];
	mbedtls_gcm_context c;
	size_t olen;

	(void)state;
	mbedtls_gcm_init(&c);
	assert_int_equal(mbedtls_gcm_setkey(&c, MBEDTLS_CIPHER_ID_AES, key, 100),
			 MBEDTLS_ERR_GCM_BAD_INPUT);
	assert_int_equal(mbedtls_gcm_setkey(&c, MBEDTLS_CIPHER_ID_AES, key, 192), 0);
	assert_false(gcm_alt_accelerated(&c)); /* AES-192: portable */
	assert_int_equal(mbedtls_gcm_starts(&c, MBEDTLS_GCM_ENCRYPT, iv, 0),
			 MBEDTLS_ERR_GCM_BAD_INPUT);
	assert_int_equal(mbedtls_gcm_starts(&c, MBEDTLS_GCM_ENCRYPT, iv, 12), 0);
	assert_int_equal(mbedtls_gcm_update(&c, b, 32, b + 8, 32, &olen),
			 MBEDTLS_ERR_GCM_BAD_INPUT);
	assert_int_equal(mbedtls_gcm_update(&c, b, 32, b, 16, &olen),
			 MBEDTLS_ERR_GCM_BUFFER_TOO_SMALL);
	assert_int_equal(mbedtls_gcm_finish(&c, NULL, 0, &olen, tag, 3), MBEDTLS_ERR_GCM_BAD_INPUT);
	mbedtls_gcm_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nist_vectors_and_path_choice),
		cmocka_unit_test(test_matches_openssl_on_a_long_text),
		cmocka_unit_test(test_fast_path_matches_portable),
		cmocka_unit_test(test_counter_wraps_as_inc32),
		cmocka_unit_test(test_forged_tag_or_text_is_refused_and_output_wiped),
		cmocka_unit_test(test_free_wipes_round_keys_and_h),
		cmocka_unit_test(test_bad_input_is_refused_as_mbedtls_does),
	};
	return cmocka_run_group_tests_name("gcm", tests, NULL, NULL);
}

#else

int main(void)
{
	puts("gcm: mbedTLS's own GCM on this target; nothing of rexec's to test");
	return 0;
}

#endif
