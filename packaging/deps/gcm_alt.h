/* rexec's AES-GCM for mbedTLS (MBEDTLS_GCM_ALT, implemented in proto/gcm_alt.c). mbedTLS's
 * gcm.h includes this header for the context; the functions are gcm.h's own. */
#ifndef REXEC_GCM_ALT_H
#define REXEC_GCM_ALT_H

#include <stdint.h>

#include "mbedtls/cipher.h"

#define GCM_POWERS 16 /* powers of H kept: as many blocks as one turn of the wide path */

typedef struct mbedtls_gcm_context {
	mbedtls_cipher_context_t cipher; /* the block cipher in ECB mode (portable path) */
	unsigned char rk[15][16];        /* AES round keys (AES-NI path) */
	unsigned char hpow[GCM_POWERS][16]; /* H^1..H^16, byte-reversed (PCLMULQDQ path) */
	uint64_t h[2];                   /* H as two big-endian halves (portable GHASH) */
	uint64_t len;                    /* bytes of text so far */
	uint64_t add_len;                /* bytes of additional data so far */
	unsigned char base_ectr[16];     /* E(K, Y0), for the tag */
	unsigned char y[16];             /* the counter block */
	unsigned char buf[16];           /* the GHASH state */
	unsigned char mode;              /* MBEDTLS_GCM_ENCRYPT or MBEDTLS_GCM_DECRYPT */
	unsigned char nr;                /* AES rounds on the AES-NI path; 0: portable */
	unsigned char wide;              /* the AES-NI path runs on VAES and VPCLMULQDQ */
} mbedtls_gcm_context;

/* Tests: CTX, keyed, takes the portable path until its next mbedtls_gcm_setkey. */
void gcm_alt_use_portable(mbedtls_gcm_context *ctx);

/* Tests: CTX, keyed, runs on 128-bit AES-NI alone (no VAES) until its next setkey. */
void gcm_alt_use_narrow(mbedtls_gcm_context *ctx);

/* Whether CTX runs on the AES-NI/PCLMULQDQ path, and whether on its VAES form. */
int gcm_alt_accelerated(const mbedtls_gcm_context *ctx);
int gcm_alt_wide(const mbedtls_gcm_context *ctx);

#endif
