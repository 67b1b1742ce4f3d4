/* pkica.h: what a CA directory keeps beside its certificate and key (lib/pki.h): the
 * certificates it revoked and the number of its last CRL, and the CRL made of them.
 *
 *     DIR/issued      a line per certificate issued: SERIAL NOT_AFTER KIND NAME (lib/pki.c)
 *     DIR/revoked     a line per revocation: SERIAL UNIX_TIME ISO_TIME
 *     DIR/crlnumber   the cRLNumber of the last CRL written, in decimal
 *
 * Serials are upper-case hex without leading zero bytes, as `openssl x509 -serial` prints
 * them. Every change takes an exclusive flock() on DIR and replaces the file whole (a temporary
 * file, fsync, rename), as OpenSSL's `ca` replaces index.txt, so that a crash leaves the old
 * or the new list, never half of one. Functions return 0 or a negative code (proto/error.h)
 * with a one-line message in ERR as lib/pki.h's do. */
#ifndef REXEC_PKICA_H
#define REXEC_PKICA_H

#include <stddef.h>

#include "lib/pki.h"

#define PKI_CA_REVOKED   "revoked"
#define PKI_CA_CRLNUMBER "crlnumber"
#define PKICA_CRL_DAYS   30 /* a CRL's validity unless told otherwise */

/* The outcome of a revocation. */
struct pkica_revocation {
	char serial[PKI_SERIAL_HEX_CAP];
	long long at; /* when it was revoked (the first time, when ALREADY) */
	int already;  /* it was revoked before: nothing changed */
};

/* Normalise the serial S (hex digits, ':' between bytes allowed, an optional "0x") into OUT
 * (upper case, no leading zero bytes). Returns 0 or -EINVAL (empty, not hex, over 20 bytes). */
int pkica_parse_serial(const char *s, char out[PKI_SERIAL_HEX_CAP]);

/* Revoke the certificate at CERT_PATH, which the CA in CA_DIR must have signed (an expired one
 * is fine; the CA's own certificate is refused). Idempotent. */
int pkica_revoke_cert(const char *ca_dir, const char *cert_path, struct pkica_revocation *out,
		      char *err, size_t errlen);

/* Revoke the serial SERIAL, which must be in CA_DIR/issued (the certificates the CA issued
 * since it keeps that record); else give the certificate file to pkica_revoke_cert(). */
int pkica_revoke_serial(const char *ca_dir, const char *serial, struct pkica_revocation *out,
			char *err, size_t errlen);

/* Write OUT_PATH (mode 0644, replaced atomically): a CRL signed by the CA in CA_DIR holding
 * every revocation in CA_DIR/revoked, valid from now for DAYS days (1..PKI_MAX_DAYS), with the
 * next cRLNumber (stored in CA_DIR/crlnumber). *N_REVOKED and *NUMBER (either may be NULL) say
 * what it holds. */
int pkica_crl(const char *ca_dir, int days, const char *out_path, size_t *n_revoked,
	      unsigned long long *number, char *err, size_t errlen);

#endif
