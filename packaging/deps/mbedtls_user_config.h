/* rexec's additions to mbedTLS 3.6's default configuration (MBEDTLS_USER_CONFIG_FILE).
 * Every translation unit that includes an mbedTLS header is compiled with this file:
 * the threading options change struct layouts. */
#define MBEDTLS_THREADING_C       /* libssh's crypto backend needs mutexes */
#define MBEDTLS_THREADING_PTHREAD

/* rexec's AES-GCM (proto/gcm_alt.c): eight blocks at a time with AES-NI and PCLMULQDQ, where
 * mbedTLS's gcm.c goes one block per call; the cipher of every TLS record. `-Dgcm=mbedtls`
 * (REXEC_GCM_MBEDTLS) keeps gcm.c, for comparison. */
#if defined(__x86_64__) && !defined(REXEC_GCM_MBEDTLS)
#define MBEDTLS_GCM_ALT
#endif
