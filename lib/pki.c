/* pki.c: a self-signed CA and the agent and client certificates it issues, written with
 * mbedTLS's x509write; every certificate is verified against its CA before it is written. */
#include "lib/pki.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/error.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/psa_util.h>
#include <mbedtls/x509_crt.h>
#include <psa/crypto.h>

#include "lib/strvis.h"
#include "proto/error.h"
#include "proto/tls.h"

#define CERT_PEM_CAP (32 * 1024) /* a certificate with PKI_MAX_SANS of the longest names fits */
#define KEY_PEM_CAP  1024        /* a P-256 key in PEM is about 230 bytes */
#define READ_CAP     (64 * 1024) /* the largest CA file read */
#define DN_CAP       1024        /* a distinguished name as text, escaped */
#define SERIAL_LEN   16
#define NAME_MAX_LEN 253 /* a DNS name's limit, applied to every name */

/* One subjectAltName with the storage for an address it may point into. */
struct san_entry {
	mbedtls_x509_san_list item;
	unsigned char ip[16];
};

/* Format a one-line message into ERR and return CODE, so that failures read `return pki__fail()`.
 */
int pki__fail(char *err, size_t errlen, int code, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return code;
}

/* Report the mbedTLS failure MRET after a message, as REXEC_EPKI. */
__attribute__((format(printf, 4, 5))) static int tls_fail(char *err, size_t errlen, int mret,
							  const char *fmt, ...)
{
	char what[PATH_MAX + 128], detail[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	mbedtls_strerror(mret, detail, sizeof(detail));
	return pki__fail(err, errlen, REXEC_EPKI, "%s (%s)", what, detail);
}

/* PSA must be up before any mbedTLS key or random operation; psa_crypto_init() is idempotent. */
static int crypto_init(char *err, size_t errlen)
{
	psa_status_t st = psa_crypto_init();

	if (st != PSA_SUCCESS)
		return pki__fail(err, errlen, REXEC_EPKI,
				 "cannot initialise PSA crypto (status %d)", (int)st);
	return 0;
}

/* Concatenate A and B into the path OUT, refusing to truncate. */
static int join(char out[PATH_MAX], const char *a, const char *b, char *err, size_t errlen)
{
	int n = snprintf(out, PATH_MAX, "%s%s", a, b);

	if (n < 0 || n >= PATH_MAX)
		return pki__fail(err, errlen, -ENAMETOOLONG, "path too long: %s%s", a, b);
	return 0;
}

/* Create DIR and its missing parents (mkdir -p); DIR itself gets mode 0700 when created. */
static int make_dirs(const char *dir, char *err, size_t errlen)
{
	char path[PATH_MAX];
	size_t len = strlen(dir);
	struct stat st;
	char *p;
	int e;

	if (len >= sizeof(path))
		return pki__fail(err, errlen, -ENAMETOOLONG, "path too long: %s", dir);
	memcpy(path, dir, len + 1);
	while (len > 1 && path[len - 1] == '/')
		path[--len] = '\0';
	for (p = path + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0755) != 0 && errno != EEXIST) {
			e = errno;
			return pki__fail(err, errlen, -e, "cannot create %s: %s", path,
					 strerror(e));
		}
		*p = '/';
	}
	if (mkdir(path, 0700) == 0)
		return 0;
	e = errno;
	if (e != EEXIST)
		return pki__fail(err, errlen, -e, "cannot create %s: %s", path, strerror(e));
	if (stat(path, &st) != 0) {
		e = errno;
		return pki__fail(err, errlen, -e, "cannot stat %s: %s", path, strerror(e));
	}
	if (!S_ISDIR(st.st_mode))
		return pki__fail(err, errlen, -ENOTDIR, "%s is not a directory", path);
	return 0;
}

/* Read the whole of PATH (at most READ_CAP bytes) into a NUL-terminated heap buffer, as
 * mbedTLS's PEM parsers want it; *LEN counts the NUL. The caller zeroizes and frees *OUT. */
static int read_file(const char *what, const char *path, unsigned char **out, size_t *len,
		     char *err, size_t errlen)
{
	unsigned char *buf = NULL;
	size_t got = 0;
	ssize_t n;
	int fd = -1, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		pki__fail(err, errlen, ret, "cannot read %s %s: %s", what, path, strerror(-ret));
		goto out;
	}
	buf = malloc(READ_CAP + 2);
	if (buf == NULL) {
		ret = pki__fail(err, errlen, -ENOMEM, "out of memory reading %s", path);
		goto out;
	}
	while (got <= READ_CAP) {
		n = read(fd, buf + got, READ_CAP + 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			pki__fail(err, errlen, ret, "cannot read %s %s: %s", what, path,
				  strerror(-ret));
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (got > READ_CAP) {
		ret = pki__fail(err, errlen, REXEC_EPKI, "%s %s is too large", what, path);
		goto out;
	}
	buf[got] = '\0';
	*out = buf;
	*len = got + 1;
	buf = NULL;
	ret = 0;
out:
	if (buf != NULL) {
		mbedtls_platform_zeroize(buf, READ_CAP + 2);
		free(buf);
	}
	if (fd >= 0)
		close(fd);
	return ret;
}

int pki_write_file(const char *path, const void *data, size_t len, int mode, int excl, char *err,
		   size_t errlen)
{
	const unsigned char *p = data;
	int flags = O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | (excl ? O_EXCL : O_TRUNC);
	int fd = -1, created = 0, ret;
	ssize_t n;

	fd = open(path, flags, mode);
	if (fd < 0) {
		ret = -errno;
		if (ret == -EEXIST)
			pki__fail(err, errlen, ret, "%s already exists", path);
		else
			pki__fail(err, errlen, ret, "cannot create %s: %s", path, strerror(-ret));
		goto out;
	}
	created = excl;
	if (!excl && fchmod(fd, (mode_t)mode) != 0) {
		ret = -errno;
		pki__fail(err, errlen, ret, "cannot chmod %s: %s", path, strerror(-ret));
		goto out;
	}
	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			pki__fail(err, errlen, ret, "cannot write %s: %s", path, strerror(-ret));
			goto out;
		}
		p += n;
		len -= (size_t)n;
	}
	if (fsync(fd) != 0) {
		ret = -errno;
		pki__fail(err, errlen, ret, "cannot write %s: %s", path, strerror(-ret));
		goto out;
	}
	ret = close(fd) != 0 ? -errno : 0;
	fd = -1;
	if (ret < 0)
		pki__fail(err, errlen, ret, "cannot write %s: %s", path, strerror(-ret));
out:
	if (fd >= 0)
		close(fd);
	if (ret < 0 && created)
		unlink(path);
	return ret;
}

/* Check that DAYS is a validity this module issues. */
static int check_days(int days, char *err, size_t errlen)
{
	if (days < 1 || days > PKI_MAX_DAYS)
		return pki__fail(err, errlen, -EINVAL, "validity must be 1 to %d days, not %d",
				 PKI_MAX_DAYS, days);
	return 0;
}

/* Check that NAME suits a certificate: 1..NAME_MAX_LEN bytes without control characters; with
 * DNS set, a host name (letters, digits, '-', '_', '.', optionally a leading "*."). */
static int check_name(const char *what, const char *name, int dns, char *err, size_t errlen)
{
	size_t i, len = name != NULL ? strlen(name) : 0;
	unsigned char c;

	if (len == 0 || len > NAME_MAX_LEN)
		return pki__fail(err, errlen, -EINVAL, "%s must be 1 to %d bytes long", what,
				 NAME_MAX_LEN);
	for (i = 0; i < len; i++) {
		c = (unsigned char)name[i];
		if (c < 0x20 || c == 0x7f)
			return pki__fail(err, errlen, -EINVAL, "%s contains a control character",
					 what);
		if (!dns)
			continue;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.')
			continue;
		if (c == '*' && i == 0 && name[1] == '.')
			continue;
		return pki__fail(err, errlen, -EINVAL,
				 "%s \"%s\" is neither a host name nor an address", what, name);
	}
	return 0;
}

/* Write "CN=VALUE" into OUT, escaped for mbedtls_x509_string_to_names() (RFC 4514). */
static int common_name(const char *value, char out[DN_CAP], char *err, size_t errlen)
{
	size_t o = 3;

	memcpy(out, "CN=", 3);
	for (; *value != '\0'; value++) {
		if (o + 3 >= DN_CAP)
			return pki__fail(err, errlen, -EINVAL, "name too long");
		if (strchr(",=+<>#;\"\\", *value) != NULL)
			out[o++] = '\\';
		out[o++] = *value;
	}
	out[o] = '\0';
	return 0;
}

/* Format T as an mbedTLS validity time, YYYYMMDDhhmmss in UTC. */
static int validity_time(time_t t, char out[16])
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL || strftime(out, 16, "%Y%m%d%H%M%S", &tm) != 14)
		return -1;
	return 0;
}

/* Generate a fresh ECDSA P-256 key into KEY (initialised, empty). */
static int new_key(mbedtls_pk_context *key, char *err, size_t errlen)
{
	int mret = mbedtls_pk_setup(key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY));

	if (mret == 0)
		mret = mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(*key),
					   mbedtls_psa_get_random, MBEDTLS_PSA_RANDOM_STATE);
	if (mret != 0)
		return tls_fail(err, errlen, mret, "cannot generate a P-256 key");
	return 0;
}

/* Set what every certificate here has: v3, SHA-256, the keys and names, a random positive
 * 16-byte serial (also into SERIAL), validity from BACKDATE seconds ago (clock skew) for SECS
 * seconds from now, and key identifiers. */
static int set_common(mbedtls_x509write_cert *w, mbedtls_pk_context *key,
		      mbedtls_pk_context *issuer_key, const char *subject, const char *issuer,
		      long long secs, long long backdate, unsigned char serial[SERIAL_LEN],
		      char *err, size_t errlen)
{
	char from[16], to[16];
	time_t now = time(NULL);
	int mret;

	mbedtls_x509write_crt_set_version(w, MBEDTLS_X509_CRT_VERSION_3);
	mbedtls_x509write_crt_set_md_alg(w, MBEDTLS_MD_SHA256);
	mbedtls_x509write_crt_set_subject_key(w, key);
	mbedtls_x509write_crt_set_issuer_key(w, issuer_key);
	if (validity_time(now - (time_t)backdate, from) != 0 ||
	    validity_time(now + (time_t)secs, to) != 0)
		return pki__fail(err, errlen, -EINVAL,
				 "cannot represent a validity of %lld seconds", secs);
	if ((mret = mbedtls_psa_get_random(NULL, serial, SERIAL_LEN)) != 0)
		return tls_fail(err, errlen, mret, "cannot draw a serial number");
	/* Positive and minimal in DER: top bit clear, the next one set. */
	serial[0] = (unsigned char)((serial[0] & 0x7f) | 0x40);
	if ((mret = mbedtls_x509write_crt_set_subject_name(w, subject)) != 0)
		return tls_fail(err, errlen, mret, "invalid subject %s", subject);
	if ((mret = mbedtls_x509write_crt_set_issuer_name(w, issuer)) != 0)
		return tls_fail(err, errlen, mret, "invalid issuer %s", issuer);
	if ((mret = mbedtls_x509write_crt_set_serial_raw(w, serial, SERIAL_LEN)) != 0 ||
	    (mret = mbedtls_x509write_crt_set_validity(w, from, to)) != 0 ||
	    (mret = mbedtls_x509write_crt_set_subject_key_identifier(w)) != 0 ||
	    (mret = mbedtls_x509write_crt_set_authority_key_identifier(w)) != 0)
		return tls_fail(err, errlen, mret, "cannot build the certificate");
	return 0;
}

/* Sign W, check the result against CA (the certificate itself when CA is NULL: a root), then
 * write KEY to KEY_PATH (0600) and the certificate to CERT_PATH (0644), both only when they do
 * not exist yet; when the second write fails the first file is removed again. */
static int sign_and_write(mbedtls_x509write_cert *w, mbedtls_pk_context *key, mbedtls_x509_crt *ca,
			  const char *cert_path, const char *key_path, char *err, size_t errlen)
{
	unsigned char *pem = NULL, key_pem[KEY_PEM_CAP];
	mbedtls_x509_crt crt;
	char info[256];
	uint32_t flags = 0;
	int mret, ret;

	mbedtls_x509_crt_init(&crt);
	pem = malloc(CERT_PEM_CAP);
	if (pem == NULL) {
		ret = pki__fail(err, errlen, -ENOMEM, "out of memory");
		goto out;
	}
	if ((mret = mbedtls_x509write_crt_pem(w, pem, CERT_PEM_CAP, mbedtls_psa_get_random,
					      MBEDTLS_PSA_RANDOM_STATE)) != 0 ||
	    (mret = mbedtls_x509_crt_parse(&crt, pem, strlen((char *)pem) + 1)) != 0) {
		ret = tls_fail(err, errlen, mret, "cannot sign the certificate");
		goto out;
	}
	if ((mret = mbedtls_x509_crt_verify(&crt, ca != NULL ? ca : &crt, NULL, NULL, &flags, NULL,
					    NULL)) != 0) {
		mbedtls_x509_crt_verify_info(info, sizeof(info), "", flags);
		info[strcspn(info, "\n")] = '\0';
		ret = pki__fail(err, errlen, REXEC_EPKI,
				"the new certificate does not verify against the CA: %s", info);
		goto out;
	}
	if ((mret = mbedtls_pk_write_key_pem(key, key_pem, sizeof(key_pem))) != 0) {
		ret = tls_fail(err, errlen, mret, "cannot encode the private key");
		goto out;
	}
	ret = pki_write_file(key_path, key_pem, strlen((char *)key_pem), 0600, 1, err, errlen);
	if (ret < 0)
		goto out;
	ret = pki_write_file(cert_path, pem, strlen((char *)pem), 0644, 1, err, errlen);
	if (ret < 0)
		unlink(key_path);
out:
	mbedtls_platform_zeroize(key_pem, sizeof(key_pem));
	mbedtls_x509_crt_free(&crt);
	free(pem);
	return ret;
}

int pki_ca_init(const char *dir, const char *cn, int days, char *err, size_t errlen)
{
	char subject[DN_CAP], cert_path[PATH_MAX], key_path[PATH_MAX];
	unsigned char serial[SERIAL_LEN];
	mbedtls_x509write_cert w;
	mbedtls_pk_context key;
	int mret, ret;

	mbedtls_x509write_crt_init(&w);
	mbedtls_pk_init(&key);
	if (dir == NULL || *dir == '\0') {
		ret = pki__fail(err, errlen, -EINVAL, "no CA directory given");
		goto out;
	}
	if ((ret = check_days(days, err, errlen)) < 0 ||
	    (ret = check_name("the CA name", cn, 0, err, errlen)) < 0 ||
	    (ret = common_name(cn, subject, err, errlen)) < 0 ||
	    (ret = join(cert_path, dir, "/" PKI_CA_CERT, err, errlen)) < 0 ||
	    (ret = join(key_path, dir, "/" PKI_CA_KEY, err, errlen)) < 0 ||
	    (ret = crypto_init(err, errlen)) < 0 || (ret = make_dirs(dir, err, errlen)) < 0 ||
	    (ret = new_key(&key, err, errlen)) < 0 ||
	    (ret = set_common(&w, &key, &key, subject, subject, (long long)days * 86400,
			      PKI_DAYS_BACKDATE, serial, err, errlen)) < 0)
		goto out;
	if ((mret = mbedtls_x509write_crt_set_basic_constraints(&w, 1, 0)) != 0 ||
	    (mret = mbedtls_x509write_crt_set_key_usage(
		     &w, MBEDTLS_X509_KU_KEY_CERT_SIGN | MBEDTLS_X509_KU_CRL_SIGN)) != 0) {
		ret = tls_fail(err, errlen, mret, "cannot build the CA certificate");
		goto out;
	}
	ret = sign_and_write(&w, &key, NULL, cert_path, key_path, err, errlen);
	if (ret == -EEXIST)
		pki__fail(err, errlen, ret, "a CA already exists in %s: not overwriting it", dir);
out:
	mbedtls_x509write_crt_free(&w);
	mbedtls_pk_free(&key);
	return ret;
}

int pki__load_ca(const char *ca_dir, mbedtls_x509_crt *ca, mbedtls_pk_context *key, char *err,
		 size_t errlen)
{
	char cert_path[PATH_MAX], key_path[PATH_MAX];
	unsigned char *buf = NULL;
	size_t len = 0;
	int mret, ret;

	if ((ret = crypto_init(err, errlen)) < 0 ||
	    (ret = join(cert_path, ca_dir, "/" PKI_CA_CERT, err, errlen)) < 0 ||
	    (ret = join(key_path, ca_dir, "/" PKI_CA_KEY, err, errlen)) < 0 ||
	    (ret = read_file("CA certificate", cert_path, &buf, &len, err, errlen)) < 0)
		goto out;
	if ((mret = mbedtls_x509_crt_parse(ca, buf, len)) != 0) {
		ret = tls_fail(err, errlen, mret, "%s is not a PEM certificate", cert_path);
		goto out;
	}
	free(buf);
	buf = NULL;
	if ((ret = read_file("CA key", key_path, &buf, &len, err, errlen)) < 0)
		goto out;
	if ((mret = mbedtls_pk_parse_key(key, buf, len, NULL, 0, mbedtls_psa_get_random,
					 MBEDTLS_PSA_RANDOM_STATE)) != 0) {
		ret = tls_fail(err, errlen, mret, "%s is not an unencrypted PEM private key",
			       key_path);
		goto out;
	}
	if ((mret = mbedtls_pk_check_pair(&ca->pk, key, mbedtls_psa_get_random,
					  MBEDTLS_PSA_RANDOM_STATE)) != 0) {
		ret = tls_fail(err, errlen, mret, "%s is not the key of %s", key_path, cert_path);
		goto out;
	}
	ret = 0;
out:
	if (buf != NULL) {
		mbedtls_platform_zeroize(buf, len);
		free(buf);
	}
	return ret;
}

/* Make NAME one subjectAltName in E: an iPAddress when it parses as IPv4 or IPv6, else a
 * dNSName (pointing into NAME, which must outlive E). */
static int fill_san(struct san_entry *e, const char *name, char *err, size_t errlen)
{
	mbedtls_x509_buf *v = &e->item.node.san.unstructured_name;
	int ret;

	v->len = inet_pton(AF_INET, name, e->ip) == 1    ? 4
		 : inet_pton(AF_INET6, name, e->ip) == 1 ? 16
							 : 0;
	if (v->len > 0) {
		e->item.node.type = MBEDTLS_X509_SAN_IP_ADDRESS;
		v->p = e->ip;
		return 0;
	}
	if ((ret = check_name("subject alternative name", name, 1, err, errlen)) < 0)
		return ret;
	e->item.node.type = MBEDTLS_X509_SAN_DNS_NAME;
	v->p = (unsigned char *)name;
	v->len = strlen(name);
	return 0;
}

/* Whether two subjectAltNames name the same thing (DNS names ignore case). */
static int same_san(const struct san_entry *a, const struct san_entry *b)
{
	const mbedtls_x509_buf *x = &a->item.node.san.unstructured_name;
	const mbedtls_x509_buf *y = &b->item.node.san.unstructured_name;

	if (a->item.node.type != b->item.node.type || x->len != y->len)
		return 0;
	if (a->item.node.type == MBEDTLS_X509_SAN_DNS_NAME)
		return strncasecmp((const char *)x->p, (const char *)y->p, x->len) == 0;
	return memcmp(x->p, y->p, x->len) == 0;
}

/* Build an agent's subjectAltName list: its name first, then each SAN, duplicates dropped.
 * mbedTLS writes the list back to front, so it is linked from the last entry: *HEAD. *OUT is
 * the one heap block holding it, which the caller frees. */
static int build_sans(const struct pki_req *req, struct san_entry **out,
		      mbedtls_x509_san_list **head, char *err, size_t errlen)
{
	struct san_entry *e = NULL;
	size_t i, j, n = 0;
	int dup, ret;

	e = calloc(req->n_sans + 1, sizeof(*e));
	if (e == NULL) {
		ret = pki__fail(err, errlen, -ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i <= req->n_sans; i++) {
		ret = fill_san(&e[n], i == 0 ? req->name : req->sans[i - 1], err, errlen);
		if (ret < 0)
			goto out;
		for (dup = 0, j = 0; j < n && !dup; j++)
			dup = same_san(&e[j], &e[n]);
		if (dup) {
			memset(&e[n], 0, sizeof(e[n]));
			continue;
		}
		e[n].item.next = n > 0 ? &e[n - 1].item : NULL;
		n++;
	}
	*head = &e[n - 1].item;
	*out = e;
	e = NULL;
	ret = 0;
out:
	free(e);
	return ret;
}

/* Check a request before any work is done. */
static int check_req(const struct pki_req *req, char *err, size_t errlen)
{
	size_t i;
	int ret;

	if (req == NULL || (req->kind != PKI_AGENT && req->kind != PKI_CLIENT))
		return pki__fail(err, errlen, -EINVAL, "unknown kind of certificate");
	if (req->ttl != 0 && (req->ttl < 1 || req->ttl > PKI_MAX_TTL))
		return pki__fail(err, errlen, -EINVAL, "a ttl must be 1 second to %d days",
				 PKI_MAX_DAYS);
	if (req->ttl == 0 && (ret = check_days(req->days, err, errlen)) < 0)
		return ret;
	if (req->kind == PKI_CLIENT && req->n_sans > 0)
		return pki__fail(err, errlen, -EINVAL,
				 "subject alternative names are for agent certificates");
	if (req->n_sans > PKI_MAX_SANS)
		return pki__fail(err, errlen, -EINVAL, "at most %d subject alternative names",
				 PKI_MAX_SANS);
	if (req->n_sans > 0 && req->sans == NULL)
		return pki__fail(err, errlen, -EINVAL, "no subject alternative names given");
	if (req->kind == PKI_AGENT && req->n_groups > 0)
		return pki__fail(err, errlen, -EINVAL, "groups are for client certificates");
	if (req->n_groups > PKI_MAX_GROUPS || (req->n_groups > 0 && req->groups == NULL))
		return pki__fail(err, errlen, -EINVAL, "give 0 to %d groups", PKI_MAX_GROUPS);
	for (i = 0; i < req->n_groups; i++)
		if ((ret = pki_check_group(req->groups[i], err, errlen)) < 0)
			return ret;
	return check_name(req->kind == PKI_AGENT ? "the agent name" : "the user name", req->name, 0,
			  err, errlen);
}

/* Add each group of REQ as an OU of the subject W holds. mbedtls_x509_string_to_names() keeps
 * one value per attribute type (a second OU replaces the first), so the attributes are linked
 * in here: the list is written back to front, and the OUs go before the CN in the DER, as the
 * more general parts of a name do (OpenSSL's -subj "/OU=ops/OU=dev/CN=alice"). */
static int add_groups(mbedtls_x509write_cert *w, const struct pki_req *req, char *err,
		      size_t errlen)
{
	mbedtls_asn1_named_data **tail = &w->MBEDTLS_PRIVATE(subject), *one;
	size_t i;

	while (*tail != NULL)
		tail = &(*tail)->next;
	for (i = req->n_groups; i-- > 0;) {
		one = NULL;
		if (mbedtls_asn1_store_named_data(&one, MBEDTLS_OID_AT_ORG_UNIT,
						  MBEDTLS_OID_SIZE(MBEDTLS_OID_AT_ORG_UNIT),
						  (const unsigned char *)req->groups[i],
						  strlen(req->groups[i])) == NULL)
			return pki__fail(err, errlen, -ENOMEM, "out of memory");
		one->val.tag = MBEDTLS_ASN1_UTF8_STRING;
		*tail = one;
		tail = &one->next;
	}
	return 0;
}

/* Append a line for the certificate just issued to CA_DIR/issued: its serial, notAfter, kind
 * and name, so that `rexec cert revoke --serial` can tell the CA's own serials from others. */
static int record_issued(const char *ca_dir, const unsigned char serial[SERIAL_LEN],
			 long long not_after, const struct pki_req *req, char *err, size_t errlen)
{
	char path[PATH_MAX], hex[PKI_SERIAL_HEX_CAP], line[NAME_MAX_LEN + 128];
	int fd, n, ret;

	if ((ret = join(path, ca_dir, "/" PKI_CA_ISSUED, err, errlen)) < 0)
		return ret;
	pki__serial_hex(serial, SERIAL_LEN, hex);
	n = snprintf(line, sizeof(line), "%s %lld %s %s\n", hex, not_after,
		     req->kind == PKI_AGENT ? "agent" : "client", req->name);
	if (n < 0 || (size_t)n >= sizeof(line))
		return pki__fail(err, errlen, -EINVAL, "name too long");
	/* One short O_APPEND write: concurrent issuers never interleave within a line. */
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0 || write(fd, line, (size_t)n) != n || fsync(fd) != 0) {
		ret = -errno;
		if (fd >= 0)
			close(fd);
		return pki__fail(err, errlen, ret, "cannot record the certificate in %s: %s", path,
				 strerror(-ret));
	}
	if (close(fd) != 0) {
		ret = -errno;
		return pki__fail(err, errlen, ret, "cannot record the certificate in %s: %s", path,
				 strerror(-ret));
	}
	return 0;
}

int pki_issue(const char *ca_dir, const struct pki_req *req, const char *out_prefix, char *err,
	      size_t errlen)
{
	char subject[DN_CAP], issuer[DN_CAP], cert_path[PATH_MAX], key_path[PATH_MAX];
	unsigned char serial[SERIAL_LEN];
	struct san_entry *sans = NULL;
	mbedtls_x509_san_list *san_list = NULL;
	mbedtls_x509write_cert w;
	mbedtls_x509_crt ca;
	mbedtls_pk_context ca_key, key;
	mbedtls_asn1_sequence eku;
	long long secs;
	int agent, mret, ret;

	mbedtls_x509write_crt_init(&w);
	mbedtls_x509_crt_init(&ca);
	mbedtls_pk_init(&ca_key);
	mbedtls_pk_init(&key);
	if (ca_dir == NULL || *ca_dir == '\0' || out_prefix == NULL || *out_prefix == '\0') {
		ret = pki__fail(err, errlen, -EINVAL, "no CA directory or output prefix given");
		goto out;
	}
	if ((ret = check_req(req, err, errlen)) < 0)
		goto out;
	agent = req->kind == PKI_AGENT;
	secs = req->ttl > 0 ? req->ttl : (long long)req->days * 86400;
	if ((agent && (ret = build_sans(req, &sans, &san_list, err, errlen)) < 0) ||
	    (ret = common_name(req->name, subject, err, errlen)) < 0 ||
	    (ret = join(cert_path, out_prefix, ".pem", err, errlen)) < 0 ||
	    (ret = join(key_path, out_prefix, "-key.pem", err, errlen)) < 0 ||
	    (ret = crypto_init(err, errlen)) < 0 ||
	    (ret = pki__load_ca(ca_dir, &ca, &ca_key, err, errlen)) < 0)
		goto out;
	if ((mret = mbedtls_x509_dn_gets(issuer, sizeof(issuer), &ca.subject)) < 0) {
		ret = tls_fail(err, errlen, mret, "cannot read the CA's subject");
		goto out;
	}
	if ((ret = new_key(&key, err, errlen)) < 0 ||
	    (ret = set_common(&w, &key, &ca_key, subject, issuer, secs,
			      req->ttl > 0 ? PKI_TTL_BACKDATE : PKI_DAYS_BACKDATE, serial, err,
			      errlen)) < 0 ||
	    (ret = add_groups(&w, req, err, errlen)) < 0)
		goto out;
	memset(&eku, 0, sizeof(eku));
	eku.buf.tag = MBEDTLS_ASN1_OID;
	eku.buf.p = (unsigned char *)(agent ? MBEDTLS_OID_SERVER_AUTH : MBEDTLS_OID_CLIENT_AUTH);
	eku.buf.len = MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH);
	if ((mret = mbedtls_x509write_crt_set_basic_constraints(&w, 0, -1)) != 0 ||
	    (mret = mbedtls_x509write_crt_set_key_usage(&w, MBEDTLS_X509_KU_DIGITAL_SIGNATURE)) !=
		    0 ||
	    (mret = mbedtls_x509write_crt_set_ext_key_usage(&w, &eku)) != 0 ||
	    (agent &&
	     (mret = mbedtls_x509write_crt_set_subject_alternative_name(&w, san_list)) != 0)) {
		ret = tls_fail(err, errlen, mret, "cannot build the certificate");
		goto out;
	}
	ret = sign_and_write(&w, &key, &ca, cert_path, key_path, err, errlen);
	if (ret == -EEXIST)
		pki__fail(err, errlen, ret, "%s or %s already exists: not overwriting it",
			  cert_path, key_path);
	if (ret == 0 && (ret = record_issued(ca_dir, serial, (long long)time(NULL) + secs, req, err,
					     errlen)) < 0) {
		unlink(cert_path);
		unlink(key_path);
	}
out:
	mbedtls_x509write_crt_free(&w);
	mbedtls_x509_crt_free(&ca);
	mbedtls_pk_free(&ca_key);
	mbedtls_pk_free(&key);
	free(sans);
	return ret;
}

int pki_parse_ttl(const char *s, long long *secs)
{
	static const struct {
		char unit;
		long long secs;
	} units[] = { { 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', 86400 }, { 'w', 604800 } };
	long long v = 0;
	size_t i;

	if (s == NULL || *s < '0' || *s > '9')
		return -EINVAL;
	for (; *s >= '0' && *s <= '9'; s++) {
		v = v * 10 + (*s - '0');
		if (v > PKI_MAX_TTL)
			return -EINVAL;
	}
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (s[0] != units[i].unit || s[1] != '\0')
			continue;
		if (v == 0 || v > PKI_MAX_TTL / units[i].secs)
			return -EINVAL;
		*secs = v * units[i].secs;
		return 0;
	}
	return -EINVAL;
}

int pki_check_group(const char *g, char *err, size_t errlen)
{
	size_t i, len = g != NULL ? strlen(g) : 0;
	unsigned char c;

	if (len == 0 || len > PKI_GROUP_MAX_LEN)
		return pki__fail(err, errlen, -EINVAL,
				 "a group name must be 1 to %d characters long", PKI_GROUP_MAX_LEN);
	for (i = 0; i < len; i++) {
		c = (unsigned char)g[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
			continue;
		if (i > 0 && (c == '.' || c == '_' || c == '-'))
			continue;
		return pki__fail(
			err, errlen, -EINVAL,
			"group \"%.*s\" is not a group name: use letters, digits, '.', '_' and "
			"'-', starting with a letter or digit",
			(int)strcspn(g, "\"\\\x1b\r\n"), g);
	}
	return 0;
}

void pki__serial_hex(const unsigned char *p, size_t len, char out[PKI_SERIAL_HEX_CAP])
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	while (len > 1 && *p == 0) {
		p++;
		len--;
	}
	for (; len > 0 && o + 2 < PKI_SERIAL_HEX_CAP; p++, len--) {
		out[o++] = hex[*p >> 4];
		out[o++] = hex[*p & 15];
	}
	out[o] = '\0';
}

/* Fill INFO's names from the subject of CRT: the first CN, and every OU in order. */
static void subject_names(const mbedtls_x509_crt *crt, struct pki_cert_info *info)
{
	const mbedtls_x509_name *n;

	for (n = &crt->subject; n != NULL; n = n->next) {
		if (n->oid.p == NULL)
			continue;
		if (MBEDTLS_OID_CMP(MBEDTLS_OID_AT_CN, &n->oid) == 0 && info->cn[0] == '\0')
			strvis_n(info->cn, sizeof(info->cn), (const char *)n->val.p, n->val.len);
		if (MBEDTLS_OID_CMP(MBEDTLS_OID_AT_ORG_UNIT, &n->oid) != 0)
			continue;
		if (info->n_groups == PKI_MAX_GROUPS) {
			info->more_groups++;
			continue;
		}
		strvis_n(info->groups[info->n_groups], sizeof(info->groups[0]),
			 (const char *)n->val.p, n->val.len);
		info->n_groups++;
	}
}

int pki_cert_info(const char *path, struct pki_cert_info *out, char *err, size_t errlen)
{
	unsigned char *buf = NULL;
	char issuer[DN_CAP];
	mbedtls_x509_crt crt;
	size_t len = 0;
	int mret, ret;

	memset(out, 0, sizeof(*out));
	mbedtls_x509_crt_init(&crt);
	if ((ret = crypto_init(err, errlen)) < 0 ||
	    (ret = read_file("certificate", path, &buf, &len, err, errlen)) < 0)
		goto out;
	/* The first certificate of the file is the one a TLS configuration presents. */
	mret = mbedtls_x509_crt_parse(&crt, buf, len);
	if (mret < 0 || crt.raw.p == NULL) {
		ret = tls_fail(err, errlen, mret, "%s is not a PEM certificate", path);
		goto out;
	}
	subject_names(&crt, out);
	pki__serial_hex(crt.serial.p, crt.serial.len, out->serial);
	if (mbedtls_x509_dn_gets(issuer, sizeof(issuer), &crt.issuer) < 0)
		snprintf(issuer, sizeof(issuer), "(unreadable)");
	strvis(out->issuer, sizeof(out->issuer), issuer);
	out->not_before = tls_x509_seconds(&crt.valid_from);
	out->not_after = tls_x509_seconds(&crt.valid_to);
	if (mbedtls_x509_crt_has_ext_type(&crt, MBEDTLS_X509_EXT_EXTENDED_KEY_USAGE)) {
		out->client = mbedtls_x509_crt_check_extended_key_usage(
				      &crt, MBEDTLS_OID_CLIENT_AUTH,
				      MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH)) == 0;
		out->agent = mbedtls_x509_crt_check_extended_key_usage(
				     &crt, MBEDTLS_OID_SERVER_AUTH,
				     MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH)) == 0;
	}
	ret = 0;
out:
	free(buf);
	mbedtls_x509_crt_free(&crt);
	return ret;
}

void pki_format_duration(long long secs, char *buf, size_t len)
{
	if (secs < 0)
		secs = 0;
	if (secs < 60)
		snprintf(buf, len, "%llds", secs);
	else if (secs < 3600)
		snprintf(buf, len, "%lldm", secs / 60);
	else if (secs < 86400 && secs % 3600 < 60)
		snprintf(buf, len, "%lldh", secs / 3600);
	else if (secs < 86400)
		snprintf(buf, len, "%lldh %lldm", secs / 3600, secs % 3600 / 60);
	else if (secs % 86400 < 3600)
		snprintf(buf, len, "%lldd", secs / 86400);
	else
		snprintf(buf, len, "%lldd %lldh", secs / 86400, secs % 86400 / 3600);
}
