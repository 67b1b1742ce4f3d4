/* crlwrite.h: an X.509 v2 certificate revocation list (RFC 5280, section 5), signed by a CA
 * and encoded as PEM. mbedTLS parses CRLs but writes none; this builds the DER with its
 * asn1write and pk functions, the way its own x509write_crt.c builds a certificate. */
#ifndef REXEC_CRLWRITE_H
#define REXEC_CRLWRITE_H

#include <stddef.h>
#include <stdint.h>

#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

#define CRLWRITE_MAX_SERIAL  20 /* RFC 5280's limit on a serial number, in bytes */
#define CRLWRITE_MAX_ENTRIES 100000

/* One revoked certificate. */
struct crlwrite_entry {
	unsigned char serial[CRLWRITE_MAX_SERIAL]; /* big-endian, as the certificate has it */
	size_t serial_len;                         /* 1..CRLWRITE_MAX_SERIAL */
	long long revoked_at;                      /* seconds since the epoch, UTC */
};

/* What to write; borrowed by crlwrite_pem(). */
struct crlwrite_req {
	const mbedtls_x509_crt *issuer; /* the CA: its subject becomes the CRL's issuer, as is */
	mbedtls_pk_context *key; /* the CA's private key (ECDSA or RSA), signs with SHA-256 */
	long long this_update, next_update;   /* seconds since the epoch; next after this */
	uint64_t number;                      /* the cRLNumber extension */
	const struct crlwrite_entry *entries; /* in this order (may be NULL when N is 0) */
	size_t n;
};

/* Build and sign the CRL REQ describes, with the authorityKeyIdentifier (the CA's own
 * subjectKeyIdentifier, else the SHA-1 of its public key as RFC 5280 4.2.1.2 (1) computes it)
 * and cRLNumber extensions; no revokedCertificates field when N is 0, as RFC 5280 wants.
 * On success *OUT is a new NUL-terminated PEM text ("-----BEGIN X509 CRL-----") the caller
 * frees and *LEN its length. Returns 0, -EINVAL for a bad request, -ENOMEM, or REXEC_EPKI
 * with a message in ERR (ERRLEN bytes). */
int crlwrite_pem(const struct crlwrite_req *req, char **out, size_t *len, char *err, size_t errlen);

#endif
