/* gcm_alt.c: AES-GCM for mbedTLS 3.6 (MBEDTLS_GCM_ALT), the cipher of every TLS record.
 *
 * mbedTLS's own gcm.c encrypts one counter block and multiplies one GHASH block per call,
 * about 11 cycles a byte with AES-NI: a session's stream ran at the speed of its crypto.
 * Here the bulk of a record goes eight blocks at a time, which halves the CPU a stream costs
 * each end (1 GiB through a host session: ~2.8-3.0 s vs ~6.3-7.2 s with gcm.c, by
 * tests/bench/gcm_bench.py and `-Dgcm=mbedtls`): eight AES-NI counter blocks in flight, and
 * their eight ciphertext blocks folded into the GHASH state with one reduction
 * (X' = (X+C0)H^8 + C1 H^7 + ... + C7 H), as in Intel's carry-less multiplication white paper
 * (Gueron, Kounavis), which OpenSSL's and the Linux kernel's x86 GCM follow too. Where the
 * CPU has VAES and VPCLMULQDQ, the wide path does the same sixteen blocks at a time on 256-bit
 * vectors: ~4 GB/s a core against ~1.6 GB/s for the eight-block AES-NI loop (16 KiB records,
 * CPU time, one run on a 2-core AMD EPYC VM; OpenSSL 3.0's AVX-512 GCM ~4.1 GB/s there).
 *
 * The API and its state machine (partial blocks, limits, error codes) are gcm.c's, so the
 * cipher layer, PSA, TLS and libssh use it unchanged, and gcm.c's self test (NIST vectors)
 * runs against it. CPUs without AES-NI and PCLMULQDQ, AES-192 and ciphers other than AES
 * take the portable path: the block cipher through mbedtls_cipher (ECB) and a bitwise,
 * constant-time GHASH. That block cipher is mbedTLS's AES: AES-NI where the CPU has it, else
 * its table AES, whose lookups depend on the key, as in mbedTLS's own gcm.c.
 *
 * Held to: OpenSSL's AES-GCM (tests/unit/gcm_openssl_diff.py), mbedTLS's gcm.c on fuzzed
 * input (tests/fuzz/gcm_fuzz.c), no secret-dependent branch or index on the AES-NI path under
 * valgrind (tests/unit/gcm_ct.c: valgrind's CPU has no VAES, so that check covers the 128-bit
 * path only; the wide one is the same straight-line code, with no branch or index but on
 * lengths); round keys and H are wiped on free and off the stack. */
#include "mbedtls/build_info.h"

#if defined(MBEDTLS_GCM_ALT)
#include <string.h>

#include "mbedtls/constant_time.h"
#include "mbedtls/error.h"
#include "mbedtls/gcm.h"
#include "mbedtls/platform_util.h"

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#define GCM_X86 1
#endif

/* AD and IV are limited to 2^61 bytes; the text to 2^36 - 32 bytes (SP 800-38D). */
#define GCM_MAX_TEXT 0xFFFFFFFE0ull

void gcm_alt_use_portable(mbedtls_gcm_context *ctx)
{
	ctx->nr = 0;
	ctx->wide = 0;
	mbedtls_platform_zeroize(ctx->rk, sizeof(ctx->rk));
	mbedtls_platform_zeroize(ctx->hpow, sizeof(ctx->hpow));
}

void gcm_alt_use_narrow(mbedtls_gcm_context *ctx)
{
	ctx->wide = 0;
}

int gcm_alt_accelerated(const mbedtls_gcm_context *ctx)
{
	return ctx->nr != 0;
}

int gcm_alt_wide(const mbedtls_gcm_context *ctx)
{
	return ctx->wide != 0;
}

static uint64_t get64(const unsigned char *p)
{
	return (uint64_t)p[0] << 56 | (uint64_t)p[1] << 48 | (uint64_t)p[2] << 40 |
	       (uint64_t)p[3] << 32 | (uint64_t)p[4] << 24 | (uint64_t)p[5] << 16 |
	       (uint64_t)p[6] << 8 | p[7];
}

static void put64(unsigned char *p, uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)v;
}

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static void xor_into(unsigned char *dst, const unsigned char *a, const unsigned char *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		dst[i] = a[i] ^ b[i];
}

/* ---------------------------------------------------------------------------------------
 * Portable path */

/* X = X * H in GF(2^128), bit by bit (SP 800-38D, algorithm 1), without branches or table
 * lookups that depend on X or H. */
static void ghash_portable(const mbedtls_gcm_context *ctx, unsigned char x[16])
{
	uint64_t zh = 0, zl = 0, vh = ctx->h[0], vl = ctx->h[1], m;
	int i;

	for (i = 0; i < 128; i++) {
		m = 0 - (uint64_t)((x[i >> 3] >> (7 - (i & 7))) & 1);
		zh ^= vh & m;
		zl ^= vl & m;
		m = 0 - (vl & 1);
		vl = vl >> 1 | vh << 63;
		vh = vh >> 1 ^ (0xe100000000000000ull & m);
	}
	put64(x, zh);
	put64(x + 8, zl);
}

static int encrypt_portable(mbedtls_gcm_context *ctx, const unsigned char in[16],
			    unsigned char out[16])
{
	size_t olen = 0;

	return mbedtls_cipher_update(&ctx->cipher, in, 16, out, &olen);
}

/* ---------------------------------------------------------------------------------------
 * AES-NI / PCLMULQDQ path */

#ifdef GCM_X86
#define TARGET __attribute__((target("aes,pclmul,ssse3,sse4.1")))

static int cpu_has_aes_clmul(void)
{
	unsigned a, b, c, d;

	if (!__get_cpuid(1, &a, &b, &c, &d))
		return 0;
	/* ECX: bit 1 PCLMULQDQ, 9 SSSE3, 19 SSE4.1, 25 AES */
	return (c & (1u << 1)) && (c & (1u << 9)) && (c & (1u << 19)) && (c & (1u << 25));
}

TARGET static inline __m128i bswap128(__m128i x)
{
	return _mm_shuffle_epi8(x,
				_mm_set_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
}

TARGET static inline __m128i load(const unsigned char *p)
{
	return _mm_loadu_si128((const __m128i *)(const void *)p);
}

TARGET static inline void store(unsigned char *p, __m128i x)
{
	_mm_storeu_si128((__m128i *)(void *)p, x);
}

/* Adds the 256-bit carry-less product A*B into LO, MID, HI (MID: the two cross terms). */
TARGET static inline void clmul_acc(__m128i a, __m128i b, __m128i *lo, __m128i *mid, __m128i *hi)
{
	*lo = _mm_xor_si128(*lo, _mm_clmulepi64_si128(a, b, 0x00));
	*hi = _mm_xor_si128(*hi, _mm_clmulepi64_si128(a, b, 0x11));
	*mid = _mm_xor_si128(*mid, _mm_xor_si128(_mm_clmulepi64_si128(a, b, 0x10),
						 _mm_clmulepi64_si128(a, b, 0x01)));
}

/* The sum of products in LO, MID, HI reduced modulo x^128 + x^7 + x^2 + x + 1. The operands
 * are byte-reversed GCM blocks, so the product is bit-reflected: shift it left by one bit,
 * then reduce (the white paper's algorithm 5). */
TARGET static inline __m128i reduce(__m128i lo, __m128i mid, __m128i hi)
{
	__m128i t1, t2, t3;

	lo = _mm_xor_si128(lo, _mm_slli_si128(mid, 8));
	hi = _mm_xor_si128(hi, _mm_srli_si128(mid, 8));

	t1 = _mm_srli_epi32(lo, 31);
	t2 = _mm_srli_epi32(hi, 31);
	lo = _mm_slli_epi32(lo, 1);
	hi = _mm_slli_epi32(hi, 1);
	t3 = _mm_srli_si128(t1, 12);
	t2 = _mm_slli_si128(t2, 4);
	t1 = _mm_slli_si128(t1, 4);
	lo = _mm_or_si128(lo, t1);
	hi = _mm_or_si128(_mm_or_si128(hi, t2), t3);

	t1 = _mm_xor_si128(_mm_xor_si128(_mm_slli_epi32(lo, 31), _mm_slli_epi32(lo, 30)),
			   _mm_slli_epi32(lo, 25));
	t2 = _mm_srli_si128(t1, 4);
	lo = _mm_xor_si128(lo, _mm_slli_si128(t1, 12));
	t1 = _mm_xor_si128(_mm_xor_si128(_mm_srli_epi32(lo, 1), _mm_srli_epi32(lo, 2)),
			   _mm_srli_epi32(lo, 7));
	lo = _mm_xor_si128(lo, _mm_xor_si128(t1, t2));
	return _mm_xor_si128(hi, lo);
}

TARGET static inline __m128i gfmul(__m128i a, __m128i b)
{
	__m128i lo = _mm_setzero_si128(), mid = lo, hi = lo;

	clmul_acc(a, b, &lo, &mid, &hi);
	return reduce(lo, mid, hi);
}

TARGET static void ghash_fast(const mbedtls_gcm_context *ctx, unsigned char x[16])
{
	store(x, bswap128(gfmul(bswap128(load(x)), load(ctx->hpow[0]))));
}

TARGET static inline __m128i aes_block(const __m128i *rk, int nr, __m128i x)
{
	int r;

	x = _mm_xor_si128(x, rk[0]);
	for (r = 1; r < nr; r++)
		x = _mm_aesenc_si128(x, rk[r]);
	return _mm_aesenclast_si128(x, rk[nr]);
}

TARGET static void encrypt_fast(const mbedtls_gcm_context *ctx, const unsigned char in[16],
				unsigned char out[16])
{
	__m128i rk[15];
	int i;

	for (i = 0; i <= ctx->nr; i++)
		rk[i] = load(ctx->rk[i]);
	store(out, aes_block(rk, ctx->nr, load(in)));
	mbedtls_platform_zeroize(rk, sizeof(rk));
}

/* One step of the key schedule: K ^ K<<32 ^ K<<64 ^ K<<96 ^ T. */
TARGET static inline __m128i expand(__m128i k, __m128i t)
{
	__m128i s = _mm_slli_si128(k, 4);

	k = _mm_xor_si128(k, s);
	s = _mm_slli_si128(s, 4);
	k = _mm_xor_si128(k, s);
	s = _mm_slli_si128(s, 4);
	k = _mm_xor_si128(k, s);
	return _mm_xor_si128(k, t);
}

#define ROTSUB(k, rcon) _mm_shuffle_epi32(_mm_aeskeygenassist_si128(k, rcon), 0xff)
#define SUB(k)          _mm_shuffle_epi32(_mm_aeskeygenassist_si128(k, 0), 0xaa)

/* The AES-128 or AES-256 key schedule (FIPS 197) with AESKEYGENASSIST. */
TARGET static void expand_key(mbedtls_gcm_context *ctx, const unsigned char *key, unsigned keybits)
{
	__m128i k[15];
	int i;

	k[0] = load(key);
	if (keybits == 128) {
		k[1] = expand(k[0], ROTSUB(k[0], 0x01));
		k[2] = expand(k[1], ROTSUB(k[1], 0x02));
		k[3] = expand(k[2], ROTSUB(k[2], 0x04));
		k[4] = expand(k[3], ROTSUB(k[3], 0x08));
		k[5] = expand(k[4], ROTSUB(k[4], 0x10));
		k[6] = expand(k[5], ROTSUB(k[5], 0x20));
		k[7] = expand(k[6], ROTSUB(k[6], 0x40));
		k[8] = expand(k[7], ROTSUB(k[7], 0x80));
		k[9] = expand(k[8], ROTSUB(k[8], 0x1b));
		k[10] = expand(k[9], ROTSUB(k[9], 0x36));
		ctx->nr = 10;
	} else {
		k[1] = load(key + 16);
		k[2] = expand(k[0], ROTSUB(k[1], 0x01));
		k[3] = expand(k[1], SUB(k[2]));
		k[4] = expand(k[2], ROTSUB(k[3], 0x02));
		k[5] = expand(k[3], SUB(k[4]));
		k[6] = expand(k[4], ROTSUB(k[5], 0x04));
		k[7] = expand(k[5], SUB(k[6]));
		k[8] = expand(k[6], ROTSUB(k[7], 0x08));
		k[9] = expand(k[7], SUB(k[8]));
		k[10] = expand(k[8], ROTSUB(k[9], 0x10));
		k[11] = expand(k[9], SUB(k[10]));
		k[12] = expand(k[10], ROTSUB(k[11], 0x20));
		k[13] = expand(k[11], SUB(k[12]));
		k[14] = expand(k[12], ROTSUB(k[13], 0x40));
		ctx->nr = 14;
	}
	for (i = 0; i <= ctx->nr; i++)
		store(ctx->rk[i], k[i]);
	mbedtls_platform_zeroize(k, sizeof(k));
}

/* H^1..H^16 from H (big-endian halves in ctx->h), byte-reversed for gfmul. */
TARGET static void power_table(mbedtls_gcm_context *ctx)
{
	unsigned char hb[16];
	__m128i h, p;
	int i;

	put64(hb, ctx->h[0]);
	put64(hb + 8, ctx->h[1]);
	h = p = bswap128(load(hb));
	store(ctx->hpow[0], h);
	for (i = 1; i < GCM_POWERS; i++) {
		p = gfmul(p, h);
		store(ctx->hpow[i], p);
	}
	mbedtls_platform_zeroize(hb, sizeof(hb));
}

/* NBLOCKS whole blocks of IN to OUT (which may be IN): counter blocks from ctx->y + 1 on,
 * and the ciphertext into the GHASH state ctx->buf. */
TARGET static void bulk_fast(mbedtls_gcm_context *ctx, const unsigned char *in, unsigned char *out,
			     size_t nblocks)
{
	__m128i rk[15], hp[8], x, y0, lo, mid, hi;
	uint32_t ctr = get32(ctx->y + 12);
	int enc = ctx->mode == MBEDTLS_GCM_ENCRYPT, nr = ctx->nr, i, r;

	for (i = 0; i <= nr; i++)
		rk[i] = load(ctx->rk[i]);
	for (i = 0; i < 8; i++)
		hp[i] = load(ctx->hpow[i]);
	x = bswap128(load(ctx->buf));
	y0 = load(ctx->y);

	for (; nblocks >= 8; nblocks -= 8, in += 128, out += 128) {
		__m128i b[8], c[8];

		for (i = 0; i < 8; i++)
			b[i] = _mm_xor_si128(
				_mm_insert_epi32(y0, (int)__builtin_bswap32(ctr + 1 + (uint32_t)i),
						 3),
				rk[0]);
		ctr += 8;
		for (r = 1; r < nr; r++)
			for (i = 0; i < 8; i++)
				b[i] = _mm_aesenc_si128(b[i], rk[r]);
		for (i = 0; i < 8; i++) {
			/* Load each input block before its output block is stored: in place. */
			c[i] = load(in + 16 * i);
			b[i] = _mm_xor_si128(_mm_aesenclast_si128(b[i], rk[nr]), c[i]);
			store(out + 16 * i, b[i]);
			if (enc)
				c[i] = b[i];
		}
		lo = mid = hi = _mm_setzero_si128();
		clmul_acc(_mm_xor_si128(bswap128(c[0]), x), hp[7], &lo, &mid, &hi);
		for (i = 1; i < 8; i++)
			clmul_acc(bswap128(c[i]), hp[7 - i], &lo, &mid, &hi);
		x = reduce(lo, mid, hi);
	}
	for (; nblocks > 0; nblocks--, in += 16, out += 16) {
		__m128i c = load(in), o;

		ctr++;
		o = _mm_xor_si128(
			aes_block(rk, nr, _mm_insert_epi32(y0, (int)__builtin_bswap32(ctr), 3)), c);
		store(out, o);
		x = gfmul(_mm_xor_si128(x, bswap128(enc ? o : c)), hp[0]);
	}
	store(ctx->buf, bswap128(x));
	put32(ctx->y + 12, ctr);
	mbedtls_platform_zeroize(rk, sizeof(rk));
	mbedtls_platform_zeroize(hp, sizeof(hp));
}

/* ---------------------------------------------------------------------------------------
 * The wide path: VAES and VPCLMULQDQ on 256-bit vectors, two blocks an instruction (Intel
 * since Ice Lake, AMD since Zen 3). The same algorithm as bulk_fast(), eight blocks a turn
 * with one reduction, in half the instructions; 256 bits and not 512, as the Linux kernel's
 * aes-gcm-avx10 chooses for CPUs where 512-bit vectors lower the clock. */
#define WIDE        __attribute__((target("avx2,vaes,vpclmulqdq,aes,pclmul,ssse3,sse4.1")))
#define WIDE_BLOCKS 16 /* a turn: eight vectors in flight cover VAES's latency */
#define WIDE_VECS   (WIDE_BLOCKS / 2)

static int cpu_has_wide(void)
{
	unsigned a, b, c, d;

	if (!cpu_has_aes_clmul() || !__get_cpuid(1, &a, &b, &c, &d))
		return 0;
	/* ECX: bit 27 OSXSAVE, 28 AVX; the OS saves the YMM state (XCR0 bits 1 and 2). */
	if (!(c & (1u << 27)) || !(c & (1u << 28)))
		return 0;
	__asm__("xgetbv" : "=a"(a), "=d"(d) : "c"(0));
	if ((a & 6) != 6 || !__get_cpuid_count(7, 0, &a, &b, &c, &d))
		return 0;
	/* EBX bit 5 AVX2; ECX bit 9 VAES, 10 VPCLMULQDQ. */
	return (b & (1u << 5)) && (c & (1u << 9)) && (c & (1u << 10));
}

WIDE static inline __m256i bswap256(__m256i x)
{
	const __m256i rev = _mm256_set_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0,
					    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);

	return _mm256_shuffle_epi8(x, rev);
}

/* Adds the products of both lanes of A and B into LO, MID, HI (clmul_acc() twice over). */
WIDE static inline void clmul_acc2(__m256i a, __m256i b, __m256i *lo, __m256i *mid, __m256i *hi)
{
	*lo = _mm256_xor_si256(*lo, _mm256_clmulepi64_epi128(a, b, 0x00));
	*hi = _mm256_xor_si256(*hi, _mm256_clmulepi64_epi128(a, b, 0x11));
	*mid = _mm256_xor_si256(*mid, _mm256_xor_si256(_mm256_clmulepi64_epi128(a, b, 0x10),
						       _mm256_clmulepi64_epi128(a, b, 0x01)));
}

WIDE static inline __m128i fold(__m256i v)
{
	return _mm_xor_si128(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
}

/* X folded with the WIDE_BLOCKS ciphertext blocks C (pairs, in order) into the GHASH
 * state, with one reduction. */
WIDE static inline __m128i ghash_wide(__m128i x, const __m256i c[WIDE_VECS],
				      const __m256i hp[WIDE_VECS])
{
	__m256i lo = _mm256_setzero_si256(), mid = lo, hi = lo;
	int i;

	clmul_acc2(_mm256_xor_si256(bswap256(c[0]), _mm256_zextsi128_si256(x)), hp[0], &lo, &mid,
		   &hi);
	for (i = 1; i < WIDE_VECS; i++)
		clmul_acc2(bswap256(c[i]), hp[i], &lo, &mid, &hi);
	return reduce(fold(lo), fold(mid), fold(hi));
}

/* Whole groups of WIDE_BLOCKS blocks of IN to OUT, as bulk_fast() does groups of eight;
 * returns the blocks done. The counter runs byte-reversed, so that one 32-bit add steps it
 * (wrapping as GCM's inc32 does), and is turned back for the cipher. */
WIDE static size_t bulk_wide(mbedtls_gcm_context *ctx, const unsigned char *in, unsigned char *out,
			     size_t nblocks)
{
	__m256i rk[15], hp[WIDE_VECS], c[WIDE_VECS], ctr;
	__m128i x;
	const __m256i two = _mm256_set_epi32(0, 0, 0, 2, 0, 0, 0, 2);
	int enc = ctx->mode == MBEDTLS_GCM_ENCRYPT, nr = ctx->nr, i, r;
	size_t done = 0;

	for (i = 0; i <= nr; i++)
		rk[i] = _mm256_broadcastsi128_si256(load(ctx->rk[i]));
	/* Lane 0 holds the earlier block of a pair: it takes the higher power of H. */
	for (i = 0; i < WIDE_VECS; i++)
		hp[i] = _mm256_set_m128i(load(ctx->hpow[WIDE_BLOCKS - 2 - 2 * i]),
					 load(ctx->hpow[WIDE_BLOCKS - 1 - 2 * i]));
	x = bswap128(load(ctx->buf));
	ctr = _mm256_add_epi32(_mm256_broadcastsi128_si256(bswap128(load(ctx->y))),
			       _mm256_set_epi32(0, 0, 0, 2, 0, 0, 0, 1));

	for (; nblocks - done >= WIDE_BLOCKS; done += WIDE_BLOCKS) {
		__m256i b[WIDE_VECS];

		for (i = 0; i < WIDE_VECS; i++) {
			b[i] = _mm256_xor_si256(bswap256(ctr), rk[0]);
			ctr = _mm256_add_epi32(ctr, two);
		}
		/* Decrypting hashes this group's ciphertext, encrypting the group before's: in
		 * both, the hash waits for no AES of this turn, and the core runs the two side
		 * by side (OpenSSL's aesni-gcm stitches them by hand; out-of-order execution
		 * does it here). */
		if (!enc)
			for (i = 0; i < WIDE_VECS; i++)
				c[i] = _mm256_loadu_si256(
					(const __m256i *)(const void *)(in + 32 * i));
		if (!enc || done > 0)
			x = ghash_wide(x, c, hp);
		for (r = 1; r < nr; r++)
			for (i = 0; i < WIDE_VECS; i++)
				b[i] = _mm256_aesenc_epi128(b[i], rk[r]);
		for (i = 0; i < WIDE_VECS; i++) {
			/* Load each input pair before its output pair is stored: in place. */
			__m256i t =
				_mm256_loadu_si256((const __m256i *)(const void *)(in + 32 * i));

			b[i] = _mm256_xor_si256(_mm256_aesenclast_epi128(b[i], rk[nr]), t);
			_mm256_storeu_si256((__m256i *)(void *)(out + 32 * i), b[i]);
			if (enc)
				c[i] = b[i];
		}
		in += 16 * WIDE_BLOCKS;
		out += 16 * WIDE_BLOCKS;
	}
	if (enc && done > 0)
		x = ghash_wide(x, c, hp);
	store(ctx->buf, bswap128(x));
	put32(ctx->y + 12, get32(ctx->y + 12) + (uint32_t)done);
	mbedtls_platform_zeroize(rk, sizeof(rk));
	mbedtls_platform_zeroize(hp, sizeof(hp));
	return done;
}
#endif /* GCM_X86 */

/* ---------------------------------------------------------------------------------------
 * Dispatch */

static void ghash(const mbedtls_gcm_context *ctx, unsigned char x[16])
{
#ifdef GCM_X86
	if (ctx->nr) {
		ghash_fast(ctx, x);
		return;
	}
#endif
	ghash_portable(ctx, x);
}

static int encrypt_block(mbedtls_gcm_context *ctx, const unsigned char in[16],
			 unsigned char out[16])
{
#ifdef GCM_X86
	if (ctx->nr) {
		encrypt_fast(ctx, in, out);
		return 0;
	}
#endif
	return encrypt_portable(ctx, in, out);
}

static void incr(unsigned char y[16])
{
	put32(y + 12, get32(y + 12) + 1);
}

/* USE_LEN bytes of IN to OUT with the counter block's key stream from OFFSET on, and the
 * ciphertext into the GHASH state. */
static int mask(mbedtls_gcm_context *ctx, size_t offset, size_t use_len, const unsigned char *in,
		unsigned char *out)
{
	unsigned char ectr[16];
	int ret;

	if ((ret = encrypt_block(ctx, ctx->y, ectr)) != 0) {
		mbedtls_platform_zeroize(ectr, sizeof(ectr));
		return ret;
	}
	if (ctx->mode == MBEDTLS_GCM_DECRYPT)
		xor_into(ctx->buf + offset, ctx->buf + offset, in, use_len);
	xor_into(out, ectr + offset, in, use_len);
	if (ctx->mode == MBEDTLS_GCM_ENCRYPT)
		xor_into(ctx->buf + offset, ctx->buf + offset, out, use_len);
	mbedtls_platform_zeroize(ectr, sizeof(ectr));
	return 0;
}

/* ---------------------------------------------------------------------------------------
 * mbedtls/gcm.h */

void mbedtls_gcm_init(mbedtls_gcm_context *ctx)
{
	memset(ctx, 0, sizeof(*ctx));
	mbedtls_cipher_init(&ctx->cipher);
}

int mbedtls_gcm_setkey(mbedtls_gcm_context *ctx, mbedtls_cipher_id_t cipher,
		       const unsigned char *key, unsigned int keybits)
{
	const mbedtls_cipher_info_t *info;
	unsigned char h[16] = { 0 };
	int ret;

	if (keybits != 128 && keybits != 192 && keybits != 256)
		return MBEDTLS_ERR_GCM_BAD_INPUT;
	info = mbedtls_cipher_info_from_values(cipher, (int)keybits, MBEDTLS_MODE_ECB);
	if (info == NULL || mbedtls_cipher_info_get_block_size(info) != 16)
		return MBEDTLS_ERR_GCM_BAD_INPUT;
	mbedtls_cipher_free(&ctx->cipher);
	gcm_alt_use_portable(ctx); /* no round keys of a previous key stay behind */
	if ((ret = mbedtls_cipher_setup(&ctx->cipher, info)) != 0 ||
	    (ret = mbedtls_cipher_setkey(&ctx->cipher, key, (int)keybits, MBEDTLS_ENCRYPT)) != 0 ||
	    (ret = encrypt_portable(ctx, h, h)) != 0)
		return ret;
	ctx->h[0] = get64(h);
	ctx->h[1] = get64(h + 8);
	mbedtls_platform_zeroize(h, sizeof(h));
#ifdef GCM_X86
	if (cipher == MBEDTLS_CIPHER_ID_AES && keybits != 192 && cpu_has_aes_clmul()) {
		expand_key(ctx, key, keybits);
		power_table(ctx);
		ctx->wide = (unsigned char)cpu_has_wide();
	}
#endif
	return 0;
}

int mbedtls_gcm_starts(mbedtls_gcm_context *ctx, int mode, const unsigned char *iv, size_t iv_len)
{
	unsigned char work[16];
	size_t use_len;

	if (iv_len == 0 || (uint64_t)iv_len >> 61 != 0)
		return MBEDTLS_ERR_GCM_BAD_INPUT;
	memset(ctx->y, 0, sizeof(ctx->y));
	memset(ctx->buf, 0, sizeof(ctx->buf));
	ctx->mode = (unsigned char)mode;
	ctx->len = 0;
	ctx->add_len = 0;

	if (iv_len == 12) {
		memcpy(ctx->y, iv, 12);
		ctx->y[15] = 1;
	} else {
		/* Y0 = GHASH(IV || 0-pad || [len(IV) in bits]_64) */
		memset(work, 0, sizeof(work));
		put64(work + 8, (uint64_t)iv_len * 8);
		for (; iv_len > 0; iv_len -= use_len, iv += use_len) {
			use_len = iv_len < 16 ? iv_len : 16;
			xor_into(ctx->y, ctx->y, iv, use_len);
			ghash(ctx, ctx->y);
		}
		xor_into(ctx->y, ctx->y, work, 16);
		ghash(ctx, ctx->y);
	}
	return encrypt_block(ctx, ctx->y, ctx->base_ectr);
}

/* ctx->buf holds the GHASH state; with len == 0, add_len % 16 bytes of AD are xored in but
 * not yet multiplied; with len % 16 != 0, as many bytes of ciphertext (gcm.c's scheme). */
int mbedtls_gcm_update_ad(mbedtls_gcm_context *ctx, const unsigned char *add, size_t add_len)
{
	uint64_t new_len = ctx->add_len + (uint64_t)add_len;
	size_t offset = ctx->add_len % 16, use_len;

	if (new_len < ctx->add_len || new_len >> 61 != 0)
		return MBEDTLS_ERR_GCM_BAD_INPUT;
	if (offset != 0) {
		use_len = 16 - offset < add_len ? 16 - offset : add_len;
		xor_into(ctx->buf + offset, ctx->buf + offset, add, use_len);
		if (offset + use_len == 16)
			ghash(ctx, ctx->buf);
		add += use_len;
		add_len -= use_len;
	}
	ctx->add_len = new_len;
	for (; add_len >= 16; add_len -= 16, add += 16) {
		xor_into(ctx->buf, ctx->buf, add, 16);
		ghash(ctx, ctx->buf);
	}
	if (add_len > 0)
		xor_into(ctx->buf, ctx->buf, add, add_len);
	return 0;
}

int mbedtls_gcm_update(mbedtls_gcm_context *ctx, const unsigned char *input, size_t input_length,
		       unsigned char *output, size_t output_size, size_t *output_length)
{
	size_t offset, use_len, nblocks;
	int ret;

	if (output_size < input_length)
		return MBEDTLS_ERR_GCM_BUFFER_TOO_SMALL;
	*output_length = input_length;
	/* Nothing to do; the last partial block of AD stays for finish. */
	if (input_length == 0)
		return 0;
	if (output > input && (size_t)(output - input) < input_length)
		return MBEDTLS_ERR_GCM_BAD_INPUT;
	if (ctx->len + input_length < ctx->len || ctx->len + input_length > GCM_MAX_TEXT)
		return MBEDTLS_ERR_GCM_BAD_INPUT;

	if (ctx->len == 0 && ctx->add_len % 16 != 0)
		ghash(ctx, ctx->buf);

	offset = ctx->len % 16;
	if (offset != 0) {
		use_len = 16 - offset < input_length ? 16 - offset : input_length;
		if ((ret = mask(ctx, offset, use_len, input, output)) != 0)
			return ret;
		if (offset + use_len == 16)
			ghash(ctx, ctx->buf);
		ctx->len += use_len;
		input_length -= use_len;
		input += use_len;
		output += use_len;
	}
	ctx->len += input_length;

	nblocks = input_length / 16;
#ifdef GCM_X86
	if (ctx->wide && nblocks >= WIDE_BLOCKS) {
		size_t done = bulk_wide(ctx, input, output, nblocks);

		input += done * 16;
		output += done * 16;
		input_length -= done * 16;
		nblocks -= done;
	}
	if (ctx->nr && nblocks > 0) {
		bulk_fast(ctx, input, output, nblocks);
		input += nblocks * 16;
		output += nblocks * 16;
		input_length -= nblocks * 16;
	}
#endif
	for (; input_length >= 16; input_length -= 16, input += 16, output += 16) {
		incr(ctx->y);
		if ((ret = mask(ctx, 0, 16, input, output)) != 0)
			return ret;
		ghash(ctx, ctx->buf);
	}
	if (input_length > 0) {
		incr(ctx->y);
		if ((ret = mask(ctx, 0, input_length, input, output)) != 0)
			return ret;
	}
	return 0;
}

int mbedtls_gcm_finish(mbedtls_gcm_context *ctx, unsigned char *output, size_t output_size,
		       size_t *output_length, unsigned char *tag, size_t tag_len)
{
	unsigned char work[16];
	uint64_t bits = ctx->len * 8, add_bits = ctx->add_len * 8;

	/* No output in finish: the parameters are for implementations that buffer. */
	(void)output;
	(void)output_size;
	*output_length = 0;

	if (ctx->len == 0 && ctx->add_len % 16 != 0)
		ghash(ctx, ctx->buf);
	if (tag_len > 16 || tag_len < 4)
		return MBEDTLS_ERR_GCM_BAD_INPUT;
	if (ctx->len % 16 != 0)
		ghash(ctx, ctx->buf);

	memcpy(tag, ctx->base_ectr, tag_len);
	if (bits || add_bits) {
		put64(work, add_bits);
		put64(work + 8, bits);
		xor_into(ctx->buf, ctx->buf, work, 16);
		ghash(ctx, ctx->buf);
		xor_into(tag, tag, ctx->buf, tag_len);
	}
	return 0;
}

int mbedtls_gcm_crypt_and_tag(mbedtls_gcm_context *ctx, int mode, size_t length,
			      const unsigned char *iv, size_t iv_len, const unsigned char *add,
			      size_t add_len, const unsigned char *input, unsigned char *output,
			      size_t tag_len, unsigned char *tag)
{
	size_t olen;
	int ret;

	if ((ret = mbedtls_gcm_starts(ctx, mode, iv, iv_len)) != 0 ||
	    (ret = mbedtls_gcm_update_ad(ctx, add, add_len)) != 0 ||
	    (ret = mbedtls_gcm_update(ctx, input, length, output, length, &olen)) != 0 ||
	    (ret = mbedtls_gcm_finish(ctx, NULL, 0, &olen, tag, tag_len)) != 0)
		return ret;
	return 0;
}

int mbedtls_gcm_auth_decrypt(mbedtls_gcm_context *ctx, size_t length, const unsigned char *iv,
			     size_t iv_len, const unsigned char *add, size_t add_len,
			     const unsigned char *tag, size_t tag_len, const unsigned char *input,
			     unsigned char *output)
{
	unsigned char check[16];
	int ret;

	if ((ret = mbedtls_gcm_crypt_and_tag(ctx, MBEDTLS_GCM_DECRYPT, length, iv, iv_len, add,
					     add_len, input, output, tag_len, check)) != 0)
		return ret;
	if (mbedtls_ct_memcmp(tag, check, tag_len) != 0) {
		mbedtls_platform_zeroize(output, length);
		return MBEDTLS_ERR_GCM_AUTH_FAILED;
	}
	return 0;
}

void mbedtls_gcm_free(mbedtls_gcm_context *ctx)
{
	if (ctx == NULL)
		return;
	mbedtls_cipher_free(&ctx->cipher);
	mbedtls_platform_zeroize(ctx, sizeof(*ctx));
}
#endif /* MBEDTLS_GCM_ALT */
