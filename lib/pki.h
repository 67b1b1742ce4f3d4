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
#define PKI_MAX_TTL   ((long long)PKI_MAX_DAYS * 86400) /* seconds */

/* Groups travel as OU attributes of a client's subject: at most this many (what an agent
 * keeps, proto/ticket.h TICKET_GROUPS_MAX), each 1 to
 * PKI_GROUP_MAX_LEN bytes of the charset pki_check_group() accepts. */
#define PKI_MAX_GROUPS    16
#define PKI_GROUP_MAX_LEN 64

/* A leaf issued with a ttl starts this long before the moment it is issued (a day-based one an
 * hour before, as the CA): the certificate cannot have been used before it existed, so this
 * grants nothing and spares an agent whose clock lags a little a "not yet valid" refusal.
 * Teleport backdates its short-lived certificates by a minute for the same reason. */
#define PKI_TTL_BACKDATE  60
#define PKI_DAYS_BACKDATE 3600

#define PKI_SERIAL_HEX_CAP 41 /* an X.509 serial (at most 20 bytes) in hex, with the NUL */

/* The file names inside a CA directory. */
#define PKI_CA_CERT   "ca.pem"
#define PKI_CA_KEY    "ca-key.pem"
#define PKI_CA_ISSUED "issued" /* a line per certificate issued: SERIAL NOT_AFTER KIND NAME */

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
	int days;                  /* validity from now, 1..PKI_MAX_DAYS */
	long long ttl;             /* seconds, 1..PKI_MAX_TTL; 0: DAYS decides */
	const char *const *groups; /* client only: each an OU of the subject, in this order */
	size_t n_groups;
};

/* What `rexec cert show` and the client's expiry check read from a certificate. The strings
 * are escaped for a terminal (lib/strvis.h): they come from a file anyone could have made. */
struct pki_cert_info {
	char cn[4 * 256];
	char groups[PKI_MAX_GROUPS][4 * PKI_GROUP_MAX_LEN + 1];
	size_t n_groups;                 /* the OU values kept, at most PKI_MAX_GROUPS */
	size_t more_groups;              /* OU values past PKI_MAX_GROUPS, left out */
	char serial[PKI_SERIAL_HEX_CAP]; /* upper-case hex, as `openssl x509 -serial` prints it */
	char issuer[4 * 1024];
	long long not_before, not_after; /* seconds since the epoch, UTC */
	int client, agent;               /* extendedKeyUsage clientAuth / serverAuth */
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

/* Parse a ttl, digits and a unit: "30s", "90m", "8h", "7d" (also "2w"), into *SECS. Returns 0,
 * or -EINVAL (a missing unit, zero, or more than PKI_MAX_TTL). */
int pki_parse_ttl(const char *s, long long *secs);

/* Check that G is a group name: 1 to PKI_GROUP_MAX_LEN letters, digits, '.', '_' or '-',
 * starting with a letter or digit (a name a policy can spell as "@G" in YAML unquoted). */
int pki_check_group(const char *g, char *err, size_t errlen);

/* Read the certificate at PATH (PEM, the first one when there are several) into *OUT. */
int pki_cert_info(const char *path, struct pki_cert_info *out, char *err, size_t errlen);

/* Write SECS (>= 0) as a short human duration into BUF: "45s", "3m", "3h 12m", "6d 4h". */
void pki_format_duration(long long secs, char *buf, size_t len);

/* Write LEN bytes of DATA to PATH, created with MODE (O_EXCL when EXCL is non-zero, else an
 * existing file is truncated and set to MODE). Returns 0 or -errno. */
int pki_write_file(const char *path, const void *data, size_t len, int mode, int excl, char *err,
		   size_t errlen);

/* For lib/pkica.c and lib/crlwrite.c (the CA directory's records), not for other callers. */
struct mbedtls_x509_crt;
struct mbedtls_pk_context;

/* Load the CA certificate and key of CA_DIR into CA and KEY (initialised by the caller, who
 * frees them) and check that they belong together. */
int pki__load_ca(const char *ca_dir, struct mbedtls_x509_crt *ca, struct mbedtls_pk_context *key,
		 char *err, size_t errlen);

/* Write a serial's LEN bytes as upper-case hex without leading zero bytes into OUT. */
/* Writes the formatted message into ERR (ERRLEN bytes; none when NULL or 0) and returns CODE:
 * `return pki__fail(err, errlen, -EINVAL, "...")`. */
int pki__fail(char *err, size_t errlen, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

void pki__serial_hex(const unsigned char *p, size_t len, char out[PKI_SERIAL_HEX_CAP]);

#endif
