/* pki.h: the fleet's X.509 PKI, written with mbedTLS: a self-signed CA and the agent (server)
 * and client certificates it issues, all ECDSA P-256 with SHA-256. Used by `rexec ca`,
 * `rexec cert` and the agent's --dev mode.
 *
 * Every function returns 0 or a negative code from proto/error.h (-errno for file errors,
 * -EINVAL for a bad argument, REXEC_EPKI for everything X.509 or key related) and then writes
 * a one-line human message (no trailing newline) into ERR, which may be NULL. Private keys are
 * written mode 0600 and never over an existing file. */
#ifndef REXEC_PKI_H
#define REXEC_PKI_H

#include <stddef.h>

#define PKI_CA_DAYS   3650 /* the default validity of a CA, for callers */
#define PKI_LEAF_DAYS 825  /* the default validity of an issued certificate, for callers */
#define PKI_MAX_DAYS  36500
#define PKI_MAX_SANS  64

/* The file names inside a CA directory. */
#define PKI_CA_CERT "ca.pem"
#define PKI_CA_KEY  "ca-key.pem"

enum pki_kind {
	PKI_AGENT = 1,  /* serverAuth; CN and a SAN for NAME, plus SANS */
	PKI_CLIENT = 2, /* clientAuth; CN is the user name, SANS must be empty */
};

/* What to issue. Borrowed by pki_issue(), which copies nothing past its return. */
struct pki_req {
	enum pki_kind kind;
	const char *name;        /* agent host name or client user name */
	const char *const *sans; /* agent only: extra DNS names or IPv4/IPv6 addresses */
	size_t n_sans;
	int days; /* validity from now, 1..PKI_MAX_DAYS */
};

/* Create the CA directory DIR (and its missing parents; DIR itself mode 0700 if created) with
 * a self-signed CA: DIR/ca.pem and DIR/ca-key.pem (0600). Subject CN=CN, valid from an hour ago
 * for DAYS days, basicConstraints CA:TRUE pathlen 0, keyUsage keyCertSign|cRLSign. An existing
 * CA is never touched: returns -EEXIST when either file exists. */
int pki_ca_init(const char *dir, const char *cn, int days, char *err, size_t errlen);

/* Issue a certificate signed by the CA in CA_DIR for a fresh P-256 key: OUT_PREFIX.pem (the
 * certificate) and OUT_PREFIX-key.pem (0600). The directory of OUT_PREFIX must exist; returns
 * -EEXIST without writing anything when either file exists. An agent SAN that parses as an
 * IPv4 or IPv6 address becomes an iPAddress, anything else a dNSName (the same goes for the
 * agent's NAME, which is always the first SAN). */
int pki_issue(const char *ca_dir, const struct pki_req *req, const char *out_prefix, char *err,
	      size_t errlen);

/* Write LEN bytes of DATA to PATH, created with MODE (O_EXCL when EXCL is non-zero, else an
 * existing file is truncated and set to MODE). Returns 0 or -errno. */
int pki_write_file(const char *path, const void *data, size_t len, int mode, int excl, char *err,
		   size_t errlen);

#endif
