/* gcm_fuzz_alt.h: the names of rexec's AES-GCM (proto/gcm_alt.c) in the fuzz build, where
 * mbedTLS's own gcm.c keeps the mbedtls_gcm_* names: gcm_fuzz.sh compiles gcm_alt.c with
 * this header forced in, and gcm_fuzz.c includes gcm.h a second time under it. */
#ifndef GCM_FUZZ_ALT_H
#define GCM_FUZZ_ALT_H
#define mbedtls_gcm_context       alt_gcm_context
#define mbedtls_gcm_init          alt_gcm_init
#define mbedtls_gcm_setkey        alt_gcm_setkey
#define mbedtls_gcm_starts        alt_gcm_starts
#define mbedtls_gcm_update_ad     alt_gcm_update_ad
#define mbedtls_gcm_update        alt_gcm_update
#define mbedtls_gcm_finish        alt_gcm_finish
#define mbedtls_gcm_crypt_and_tag alt_gcm_crypt_and_tag
#define mbedtls_gcm_auth_decrypt  alt_gcm_auth_decrypt
#define mbedtls_gcm_free          alt_gcm_free
#define mbedtls_gcm_self_test     alt_gcm_self_test
#endif
