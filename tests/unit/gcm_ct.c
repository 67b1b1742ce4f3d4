/* gcm_ct.c: the AES-NI/PCLMULQDQ path of rexec's AES-GCM (proto/gcm_alt.c) is constant
 * time: run under valgrind's memcheck (tests/unit/gcm_ct.sh) with the key and the text
 * marked undefined, as BoringSSL's CONSTTIME_SECRET does, any branch or memory index that
 * depends on them is reported ("Conditional jump or move depends on uninitialised value",
 * "Use of uninitialised value") and fails the run. What TLS makes public anyway (the IV, the
 * AD, the lengths, the finished tag) stays defined. AES-128 and AES-256; key set-up (round
 * keys, H and its powers), encryption and decryption through crypt_and_tag and update() in
 * odd pieces, across partial blocks and the eight-block loop. The portable path is not
 * checked: its AES is mbedTLS's table AES (secret-indexed lookups, as in mbedTLS itself).
 * Exits 0 (and prints "ok") when every case ran on the AES-NI path, or "skipped" where the CPU
 * has no AES-NI and PCLMULQDQ. `gcm_ct --control` branches on a secret byte and indexes a
 * table with another: memcheck must report both, or the check above proves nothing. */
#include <stdio.h>
#include <string.h>

#include <mbedtls/gcm.h>
#include <memcheck.h>

#define SECRET(p, n) VALGRIND_MAKE_MEM_UNDEFINED((p), (n))
#define PUBLIC(p, n) VALGRIND_MAKE_MEM_DEFINED((p), (n))
#define MAXTEXT      2000

static void fill(unsigned char *p, size_t n, unsigned seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (unsigned char)((i * 131 + seed * 7 + (i >> 8)) ^ seed);
}

/* Encrypts or decrypts LEN bytes of IN to OUT through update() in pieces of 1, 7, 16, 33,
 * 129, 200, ... bytes; the tag comes back public. */
static int pieces(mbedtls_gcm_context *c, int mode, const unsigned char *iv,
		  const unsigned char *ad, size_t ad_len, const unsigned char *in,
		  unsigned char *out, size_t len, unsigned char tag[16])
{
	static const size_t step[] = { 1, 7, 16, 33, 129, 200, 0, 15, 300 };
	size_t off, n, olen, i = 0;
	int ret;

	if ((ret = mbedtls_gcm_starts(c, mode, iv, 12)) != 0 ||
	    (ret = mbedtls_gcm_update_ad(c, ad, ad_len / 2)) != 0 ||
	    (ret = mbedtls_gcm_update_ad(c, ad + ad_len / 2, ad_len - ad_len / 2)) != 0)
		return ret;
	for (off = 0; off < len; off += n, i++) {
		n = step[i % (sizeof(step) / sizeof(step[0]))];
		if (n > len - off)
			n = len - off;
		if ((ret = mbedtls_gcm_update(c, in + off, n, out + off, n, &olen)) != 0)
			return ret;
	}
	ret = mbedtls_gcm_finish(c, NULL, 0, &olen, tag, 16);
	PUBLIC(tag, 16);
	return ret;
}

/* The negative control: a secret-dependent branch and table index. */
static int control(void)
{
	static const unsigned char table[256] = { 1, 2, 3 };
	unsigned char key[2] = { 5, 7 };
	volatile unsigned char sink;

	SECRET(key, sizeof(key));
	if (key[0] & 1)
		sink = 1;
	sink = table[key[1]];
	(void)sink;
	return 0;
}

int main(int argc, char **argv)
{
	static const size_t lens[] = { 0, 1, 15, 16, 17, 127, 128, 129, 255, 1000, MAXTEXT };
	static unsigned char pt[MAXTEXT], ct[MAXTEXT], back[MAXTEXT];
	unsigned char key[32], iv[12], ad[40], tag[16], tag2[16];
	unsigned keybits;
	size_t li, cases = 0, wide = 0;
	int ret;

	if (!RUNNING_ON_VALGRIND)
		fprintf(stderr, "gcm_ct: not under valgrind: nothing is checked\n");
	if (argc > 1 && strcmp(argv[1], "--control") == 0)
		return control();
	for (keybits = 128; keybits <= 256; keybits += 128) {
		for (li = 0; li < sizeof(lens) / sizeof(lens[0]); li++) {
			mbedtls_gcm_context c;
			size_t len = lens[li];

			fill(key, sizeof(key), (unsigned)(li + keybits));
			fill(iv, sizeof(iv), (unsigned)li);
			fill(ad, sizeof(ad), 3);
			fill(pt, len, (unsigned)li + 1);
			SECRET(key, sizeof(key));
			SECRET(pt, len);

			mbedtls_gcm_init(&c);
			if ((ret = mbedtls_gcm_setkey(&c, MBEDTLS_CIPHER_ID_AES, key, keybits)) !=
			    0)
				goto fail;
			if (!gcm_alt_accelerated(&c)) {
				printf("gcm_ct: no AES-NI/PCLMULQDQ path here: skipped\n");
				mbedtls_gcm_free(&c);
				return 0;
			}
			/* One shot, then in pieces; the ciphertext is public once sent. */
			if ((ret = mbedtls_gcm_crypt_and_tag(&c, MBEDTLS_GCM_ENCRYPT, len, iv, 12,
							     ad, sizeof(ad), pt, ct, 16, tag)) != 0)
				goto fail;
			PUBLIC(tag, 16);
			if ((ret = pieces(&c, MBEDTLS_GCM_ENCRYPT, iv, ad, sizeof(ad), pt, back,
					  len, tag2)) != 0)
				goto fail;
			PUBLIC(ct, len);
			PUBLIC(back, len);
			if ((len && memcmp(ct, back, len) != 0) || memcmp(tag, tag2, 16) != 0) {
				fprintf(stderr, "gcm_ct: AES-%u, %zu bytes: pieces differ\n",
					keybits, len);
				return 1;
			}
			/* Decryption: the plaintext it makes is secret, the tag it checks is not.
			 */
			if ((ret = pieces(&c, MBEDTLS_GCM_DECRYPT, iv, ad, sizeof(ad), ct, back,
					  len, tag2)) != 0)
				goto fail;
			if ((ret = mbedtls_gcm_crypt_and_tag(&c, MBEDTLS_GCM_DECRYPT, len, iv, 12,
							     ad, sizeof(ad), ct, back, 16, tag2)) !=
			    0)
				goto fail;
			PUBLIC(tag2, 16);
			PUBLIC(back, len);
			PUBLIC(pt, len);
			if ((len && memcmp(back, pt, len) != 0) || memcmp(tag, tag2, 16) != 0) {
				fprintf(stderr, "gcm_ct: AES-%u, %zu bytes: decryption differs\n",
					keybits, len);
				return 1;
			}
			wide += gcm_alt_wide(&c);
			mbedtls_gcm_free(&c);
			cases++;
			continue;
		fail:
			fprintf(stderr, "gcm_ct: AES-%u, %zu bytes: -0x%04x\n", keybits, len,
				(unsigned)-ret);
			mbedtls_gcm_free(&c);
			return 1;
		}
	}
	/* valgrind's CPU has no VAES: where it offers none, the wide path is not checked. */
	printf("gcm_ct: ok: %zu cases on the AES-NI path, %zu of them wide (VAES), key and text "
	       "secret\n",
	       cases, wide);
	return 0;
}
