/* pkica.c: a CA directory's revocations and CRL numbers, kept as small text files replaced
 * whole under a lock, and the CRL written from them with lib/crlwrite (see pkica.h). */
#include "lib/pkica.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/error.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crl.h>
#include <mbedtls/x509_crt.h>
#include <psa/crypto.h>

#include "lib/crlwrite.h"
#include "proto/error.h"

#define LINE_CAP  512 /* the longest line of DIR/revoked or DIR/issued */
#define LIST_CAP  CRLWRITE_MAX_ENTRIES
#define CRL_FLOOR 4096

/* One line of DIR/revoked. */
struct revoked {
	char serial[PKI_SERIAL_HEX_CAP];
	long long at;
};

/* The revocations of a CA directory, in file order. */
struct revoked_list {
	struct revoked *v;
	size_t n, cap;
};

/* Format a one-line message into ERR and return CODE. */
/* DIR/NAME into OUT, refusing to truncate. */
static int path_in(char out[PATH_MAX], const char *dir, const char *name, char *err, size_t errlen)
{
	int n = snprintf(out, PATH_MAX, "%s/%s", dir, name);

	if (n < 0 || n >= PATH_MAX)
		return pki__fail(err, errlen, -ENAMETOOLONG, "path too long: %s/%s", dir, name);
	return 0;
}

/* Take an exclusive lock on the CA directory DIR (flock on the directory itself, no lock file
 * to leave behind); the returned fd holds it until closed. */
static int lock_dir(const char *dir, char *err, size_t errlen)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), e;

	if (fd < 0) {
		e = errno;
		return pki__fail(err, errlen, -e, "cannot open the CA directory %s: %s", dir,
				 strerror(e));
	}
	while (flock(fd, LOCK_EX) != 0) {
		if (errno == EINTR)
			continue;
		e = errno;
		close(fd);
		return pki__fail(err, errlen, -e, "cannot lock %s: %s", dir, strerror(e));
	}
	return fd;
}

/* Replace PATH with LEN bytes of DATA, mode MODE: a temporary file beside it, fsync, rename,
 * then fsync of the directory, so that readers see the old file or the new one, whole. */
static int atomic_write(const char *path, const void *data, size_t len, int mode, char *err,
			size_t errlen)
{
	char tmp[PATH_MAX], dir[PATH_MAX], *slash;
	const char *p = data;
	int fd = -1, dfd, ret;
	ssize_t n;

	if (snprintf(tmp, sizeof(tmp), "%s.tmpXXXXXX", path) >= (int)sizeof(tmp))
		return pki__fail(err, errlen, -ENAMETOOLONG, "path too long: %s", path);
	if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0) {
		ret = -errno;
		return pki__fail(err, errlen, ret, "cannot create a file beside %s: %s", path,
				 strerror(-ret));
	}
	if (fchmod(fd, (mode_t)mode) != 0)
		goto fail;
	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto fail;
		p += n;
		len -= (size_t)n;
	}
	if (fsync(fd) != 0 || close(fd) != 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) != 0)
		goto fail;
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0';
	else if (slash != NULL)
		*slash = '\0';
	else
		snprintf(dir, sizeof(dir), ".");
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
fail:
	ret = -errno;
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return pki__fail(err, errlen, ret, "cannot write %s: %s", path, strerror(-ret));
}

int pkica_parse_serial(const char *s, char out[PKI_SERIAL_HEX_CAP])
{
	unsigned char bytes[CRLWRITE_MAX_SERIAL + 1];
	char digits[2 * (CRLWRITE_MAX_SERIAL + 1) + 1];
	size_t n = 0, i;
	int v;

	if (s == NULL)
		return -EINVAL;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		s += 2;
	for (; *s != '\0'; s++) {
		if (*s == ':') /* OpenSSL's -text form: 4a:3f:... */
			continue;
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f') ||
		      (*s >= 'A' && *s <= 'F')))
			return -EINVAL;
		if (n == sizeof(digits) - 1)
			return -EINVAL;
		digits[n++] = *s;
	}
	if (n == 0)
		return -EINVAL;
	/* An odd count of digits has an implied leading zero. */
	for (i = 0; i < (n + 1) / 2; i++) {
		char pair[3] = { 0 };

		if (n % 2 == 1 && i == 0) {
			pair[0] = digits[0];
		} else {
			pair[0] = digits[2 * i - n % 2];
			pair[1] = digits[2 * i - n % 2 + 1];
		}
		v = (int)strtol(pair, NULL, 16);
		bytes[i] = (unsigned char)v;
	}
	n = (n + 1) / 2;
	i = 0;
	while (i + 1 < n && bytes[i] == 0)
		i++;
	if (n - i > CRLWRITE_MAX_SERIAL)
		return -EINVAL;
	pki__serial_hex(bytes + i, n - i, out);
	return 0;
}

/* The bytes of the normalised hex serial HEX into E. */
static void serial_bytes(const char *hex, struct crlwrite_entry *e)
{
	size_t n = strlen(hex) / 2, i;
	char pair[3] = { 0 };

	for (i = 0; i < n && i < CRLWRITE_MAX_SERIAL; i++) {
		memcpy(pair, hex + 2 * i, 2);
		e->serial[i] = (unsigned char)strtol(pair, NULL, 16);
	}
	e->serial_len = i;
}

/* Read CA_DIR/revoked into L (empty when there is no such file). A line that does not parse
 * is an error naming FILE:LINE: the list is the CA's record, and guessing would drop a
 * revocation. */
static int read_revoked(const char *ca_dir, struct revoked_list *l, char *err, size_t errlen)
{
	char path[PATH_MAX], line[LINE_CAP], serial[LINE_CAP], norm[PKI_SERIAL_HEX_CAP];
	struct revoked *bigger;
	long long at;
	size_t lineno = 0;
	FILE *f = NULL;
	int ret;

	if ((ret = path_in(path, ca_dir, PKI_CA_REVOKED, err, errlen)) < 0)
		return ret;
	if ((f = fopen(path, "re")) == NULL) {
		if (errno == ENOENT)
			return 0;
		ret = -errno;
		return pki__fail(err, errlen, ret, "cannot read %s: %s", path, strerror(-ret));
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		if (strchr(line, '\n') == NULL && !feof(f)) {
			ret = pki__fail(err, errlen, REXEC_EPKI, "%s:%zu: line too long", path,
					lineno);
			goto out;
		}
		if (line[0] == '#' || line[strspn(line, " \t\r\n")] == '\0')
			continue;
		if (sscanf(line, "%511s %lld", serial, &at) != 2 ||
		    pkica_parse_serial(serial, norm) < 0 || at < 0) {
			ret = pki__fail(
				err, errlen, REXEC_EPKI,
				"%s:%zu: not \"SERIAL UNIX_TIME ...\": fix or remove the line",
				path, lineno);
			goto out;
		}
		if (l->n == LIST_CAP) {
			ret = pki__fail(err, errlen, REXEC_EPKI, "%s: more than %d revocations",
					path, LIST_CAP);
			goto out;
		}
		if (l->n == l->cap) {
			l->cap = l->cap ? 2 * l->cap : 64;
			if ((bigger = realloc(l->v, l->cap * sizeof(*l->v))) == NULL) {
				ret = pki__fail(err, errlen, -ENOMEM, "out of memory");
				goto out;
			}
			l->v = bigger;
		}
		memcpy(l->v[l->n].serial, norm, sizeof(norm));
		l->v[l->n++].at = at;
	}
	ret = ferror(f) ? pki__fail(err, errlen, -EIO, "cannot read %s", path) : 0;
out:
	fclose(f);
	return ret;
}

/* Whether SERIAL is the first word of a line of CA_DIR/issued. 1 yes, 0 no, negative error. */
static int was_issued(const char *ca_dir, const char *serial, char *err, size_t errlen)
{
	char path[PATH_MAX], line[LINE_CAP], word[LINE_CAP], norm[PKI_SERIAL_HEX_CAP];
	FILE *f;
	int ret, found = 0;

	if ((ret = path_in(path, ca_dir, PKI_CA_ISSUED, err, errlen)) < 0)
		return ret;
	if ((f = fopen(path, "re")) == NULL)
		return errno == ENOENT ? 0
				       : pki__fail(err, errlen, -errno, "cannot read %s: %s", path,
						   strerror(errno));
	while (!found && fgets(line, sizeof(line), f) != NULL)
		found = sscanf(line, "%511s", word) == 1 && pkica_parse_serial(word, norm) == 0 &&
			strcmp(norm, serial) == 0;
	fclose(f);
	return found;
}

/* Record SERIAL as revoked now in CA_DIR/revoked, unless it is already (OUT says which). */
static int revoke_in_dir(const char *ca_dir, const char *serial, struct pkica_revocation *out,
			 char *err, size_t errlen)
{
	struct revoked_list l = { 0 };
	char path[PATH_MAX], when[32], *text = NULL;
	size_t i, o = 0, cap;
	int lock = -1, ret;
	struct tm tm;
	time_t now = time(NULL);

	memset(out, 0, sizeof(*out));
	snprintf(out->serial, sizeof(out->serial), "%s", serial);
	if ((ret = path_in(path, ca_dir, PKI_CA_REVOKED, err, errlen)) < 0 ||
	    (ret = lock = lock_dir(ca_dir, err, errlen)) < 0 ||
	    (ret = read_revoked(ca_dir, &l, err, errlen)) < 0)
		goto out;
	for (i = 0; i < l.n; i++) {
		if (strcmp(l.v[i].serial, serial) == 0) {
			out->already = 1;
			out->at = l.v[i].at;
			ret = 0;
			goto out;
		}
	}
	cap = (l.n + 1) * (PKI_SERIAL_HEX_CAP + 64);
	if ((text = malloc(cap)) == NULL) {
		ret = pki__fail(err, errlen, -ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i <= l.n; i++) {
		const char *s = i < l.n ? l.v[i].serial : serial;
		time_t at = i < l.n ? (time_t)l.v[i].at : now;

		if (gmtime_r(&at, &tm) == NULL ||
		    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
			snprintf(when, sizeof(when), "-");
		o += (size_t)snprintf(text + o, cap - o, "%s %lld %s\n", s, (long long)at, when);
	}
	if ((ret = atomic_write(path, text, o, 0644, err, errlen)) < 0)
		goto out;
	out->at = (long long)now;
out:
	free(text);
	free(l.v);
	if (lock >= 0)
		close(lock);
	return ret;
}

int pkica_revoke_serial(const char *ca_dir, const char *serial, struct pkica_revocation *out,
			char *err, size_t errlen)
{
	char norm[PKI_SERIAL_HEX_CAP];
	int ret;

	if (pkica_parse_serial(serial, norm) < 0)
		return pki__fail(
			err, errlen, -EINVAL,
			"\"%.60s\" is not a serial: give it in hex, as `rexec cert show` prints it",
			serial);
	if ((ret = was_issued(ca_dir, norm, err, errlen)) < 0)
		return ret;
	if (ret == 0)
		return pki__fail(
			err, errlen, REXEC_EPKI,
			"serial %s is not in %s/" PKI_CA_ISSUED
			": this CA did not issue it (or issued it before keeping that record); "
			"revoke with the certificate file instead",
			norm, ca_dir);
	return revoke_in_dir(ca_dir, norm, out, err, errlen);
}

int pkica_revoke_cert(const char *ca_dir, const char *cert_path, struct pkica_revocation *out,
		      char *err, size_t errlen)
{
	char serial[PKI_SERIAL_HEX_CAP], detail[160];
	mbedtls_x509_crt ca, crt;
	mbedtls_pk_context key;
	uint32_t flags = 0;
	int mret, ret;

	mbedtls_x509_crt_init(&ca);
	mbedtls_x509_crt_init(&crt);
	mbedtls_pk_init(&key);
	if ((ret = pki__load_ca(ca_dir, &ca, &key, err, errlen)) < 0)
		goto out;
	if ((mret = mbedtls_x509_crt_parse_file(&crt, cert_path)) != 0) {
		mbedtls_strerror(mret, detail, sizeof(detail));
		ret = pki__fail(err, errlen, REXEC_EPKI, "%s is not a PEM certificate (%s)",
				cert_path, detail);
		goto out;
	}
	if (crt.raw.len == ca.raw.len && memcmp(crt.raw.p, ca.raw.p, ca.raw.len) == 0) {
		ret = pki__fail(
			err, errlen, -EINVAL,
			"%s is the CA's own certificate: a CA cannot revoke itself; make a new "
			"CA instead",
			cert_path);
		goto out;
	}
	/* Only the signature matters: an expired certificate can still be revoked. */
	mbedtls_x509_crt_verify(&crt, &ca, NULL, NULL, &flags, NULL, NULL);
	if ((flags & ~(uint32_t)(MBEDTLS_X509_BADCERT_EXPIRED | MBEDTLS_X509_BADCERT_FUTURE)) !=
	    0) {
		ret = pki__fail(err, errlen, REXEC_EPKI,
				"%s was not signed by the CA in %s: nothing to revoke there",
				cert_path, ca_dir);
		goto out;
	}
	pki__serial_hex(crt.serial.p, crt.serial.len, serial);
	ret = revoke_in_dir(ca_dir, serial, out, err, errlen);
out:
	mbedtls_x509_crt_free(&crt);
	mbedtls_x509_crt_free(&ca);
	mbedtls_pk_free(&key);
	return ret;
}

/* The number in CA_DIR/crlnumber (0 when there is none yet) into *N. */
static int read_number(const char *path, unsigned long long *n, char *err, size_t errlen)
{
	char text[32] = { 0 }, *end = NULL;
	FILE *f = fopen(path, "re");

	*n = 0;
	if (f == NULL)
		return errno == ENOENT ? 0
				       : pki__fail(err, errlen, -errno, "cannot read %s: %s", path,
						   strerror(errno));
	if (fgets(text, sizeof(text), f) == NULL)
		text[0] = '\0';
	fclose(f);
	errno = 0;
	*n = strtoull(text, &end, 10);
	if (errno != 0 || end == text || (*end != '\n' && *end != '\0') || *n >= UINT64_MAX / 2)
		return pki__fail(err, errlen, REXEC_EPKI, "%s: not a CRL number: fix or remove it",
				 path);
	return 0;
}

/* Check the PEM CRL just made: mbedTLS parses it, and the CA's key verifies its signature. */
static int check_crl(const char *pem, size_t len, mbedtls_x509_crt *ca, size_t n, char *err,
		     size_t errlen)
{
	unsigned char hash[PSA_HASH_MAX_SIZE];
	mbedtls_x509_crl crl;
	const mbedtls_x509_crl_entry *e;
	size_t hash_len = 0, count = 0;
	int mret, ret = 0;

	mbedtls_x509_crl_init(&crl);
	if ((mret = mbedtls_x509_crl_parse(&crl, (const unsigned char *)pem, len + 1)) != 0 ||
	    psa_hash_compute(PSA_ALG_SHA_256, crl.tbs.p, crl.tbs.len, hash, sizeof(hash),
			     &hash_len) != PSA_SUCCESS ||
	    (mret = mbedtls_pk_verify(&ca->pk, MBEDTLS_MD_SHA256, hash, hash_len,
				      crl.MBEDTLS_PRIVATE(sig).p, crl.MBEDTLS_PRIVATE(sig).len)) !=
		    0)
		ret = pki__fail(err, errlen, REXEC_EPKI, "the new CRL does not check out (-0x%04x)",
				(unsigned)-mret);
	for (e = &crl.entry; ret == 0 && e != NULL && e->serial.len != 0; e = e->next)
		count++;
	if (ret == 0 && count != n)
		ret = pki__fail(err, errlen, REXEC_EPKI, "the new CRL holds %zu entries, not %zu",
				count, n);
	mbedtls_x509_crl_free(&crl);
	return ret;
}

int pkica_crl(const char *ca_dir, int days, const char *out_path, size_t *n_revoked,
	      unsigned long long *number, char *err, size_t errlen)
{
	struct revoked_list l = { 0 };
	struct crlwrite_entry *entries = NULL;
	struct crlwrite_req req;
	mbedtls_x509_crt ca;
	mbedtls_pk_context key;
	char num_path[PATH_MAX], num_text[32], *pem = NULL;
	unsigned long long n = 0;
	size_t pem_len = 0, i;
	int lock = -1, ret;

	mbedtls_x509_crt_init(&ca);
	mbedtls_pk_init(&key);
	if (days < 1 || days > PKI_MAX_DAYS) {
		ret = pki__fail(err, errlen, -EINVAL, "a CRL is valid for 1 to %d days, not %d",
				PKI_MAX_DAYS, days);
		goto out;
	}
	if ((ret = path_in(num_path, ca_dir, PKI_CA_CRLNUMBER, err, errlen)) < 0 ||
	    (ret = pki__load_ca(ca_dir, &ca, &key, err, errlen)) < 0 ||
	    (ret = lock = lock_dir(ca_dir, err, errlen)) < 0 ||
	    (ret = read_revoked(ca_dir, &l, err, errlen)) < 0 ||
	    (ret = read_number(num_path, &n, err, errlen)) < 0)
		goto out;
	if (l.n > 0 && (entries = calloc(l.n, sizeof(*entries))) == NULL) {
		ret = pki__fail(err, errlen, -ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < l.n; i++) {
		serial_bytes(l.v[i].serial, &entries[i]);
		entries[i].revoked_at = l.v[i].at;
	}
	memset(&req, 0, sizeof(req));
	req.issuer = &ca;
	req.key = &key;
	req.this_update = (long long)time(NULL);
	req.next_update = req.this_update + (long long)days * 86400;
	req.number = n + 1;
	req.entries = entries;
	req.n = l.n;
	if ((ret = crlwrite_pem(&req, &pem, &pem_len, err, errlen)) < 0 ||
	    (ret = check_crl(pem, pem_len, &ca, l.n, err, errlen)) < 0 ||
	    (ret = atomic_write(out_path, pem, pem_len, 0644, err, errlen)) < 0)
		goto out;
	snprintf(num_text, sizeof(num_text), "%llu\n", n + 1);
	if ((ret = atomic_write(num_path, num_text, strlen(num_text), 0644, err, errlen)) < 0)
		goto out;
	if (n_revoked != NULL)
		*n_revoked = l.n;
	if (number != NULL)
		*number = n + 1;
out:
	free(pem);
	free(entries);
	free(l.v);
	if (lock >= 0)
		close(lock);
	mbedtls_x509_crt_free(&ca);
	mbedtls_pk_free(&key);
	return ret;
}
