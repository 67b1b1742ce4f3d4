/* pemfile.c: a PEM file's blocks one by one, each with its line (pemfile.h). */
#include "proto/pemfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/error.h>
#include <mbedtls/pem.h>

#include "proto/error.h"

#define BEGIN  "-----BEGIN "
#define DASHES "-----"

/* Reads PATH whole into a NUL-terminated buffer (*OUT, *LEN bytes before the NUL). */
static int slurp(const char *path, char **out, size_t *len, char *err, size_t errlen)
{
	struct stat st;
	char *buf = NULL;
	size_t got = 0;
	ssize_t n = 0;
	int fd, ret;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) < 0) {
		ret = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = -EINVAL;
		snprintf(err, errlen, "%s: not a regular file", path);
		goto fail;
	}
	if ((size_t)st.st_size > PEMFILE_MAX) {
		ret = -EFBIG;
		snprintf(err, errlen, "%s: larger than %u MiB", path, PEMFILE_MAX >> 20);
		goto fail;
	}
	/* One more byte than its size, so that a file growing meanwhile is seen and cut. */
	if ((buf = malloc((size_t)st.st_size + 2)) == NULL) {
		ret = -ENOMEM;
		snprintf(err, errlen, "%s: out of memory", path);
		goto fail;
	}
	while (got < (size_t)st.st_size + 1 &&
	       ((n = read(fd, buf + got, (size_t)st.st_size + 1 - got)) > 0 ||
		(n < 0 && errno == EINTR)))
		got += n > 0 ? (size_t)n : 0;
	if (n < 0) {
		ret = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	close(fd);
	buf[got] = 0;
	*out = buf;
	*len = got;
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	free(buf);
	return ret;
}

/* Whether the block whose label runs from LABEL to END ("-----") is one that a file of
 * certificates may hold beside them and mbedTLS always passed over: the key of a certificate
 * kept in the same file ("PRIVATE KEY", "EC PRIVATE KEY", ...) and its "EC PARAMETERS". */
static int skippable(const char *label, const char *end)
{
	static const char key[] = "PRIVATE KEY", params[] = "EC PARAMETERS";
	size_t n = end != NULL ? (size_t)(end - label) : 0;

	return (n >= strlen(key) && memcmp(end - strlen(key), key, strlen(key)) == 0) ||
	       (n == strlen(params) && memcmp(label, params, n) == 0);
}

/* The number of newlines from P up to END. */
static unsigned lines(const char *p, const char *end)
{
	unsigned n = 0;

	for (; p < end; p++)
		n += *p == '\n';
	return n;
}

int pemfile_each(const char *path, const char *label, pemfile_parse_fn parse, void *arg, char *err,
		 size_t errlen)
{
	char header[64], footer[64], msg[160], *buf = NULL, *p;
	const char *seen; /* where LINE was counted up to */
	unsigned line = 1;
	size_t len = 0, use;
	mbedtls_pem_context pem;
	int ret, n = 0;

	if ((ret = slurp(path, &buf, &len, err, errlen)) < 0)
		return ret;
	snprintf(header, sizeof(header), BEGIN "%s" DASHES, label);
	snprintf(footer, sizeof(footer), "-----END %s" DASHES, label);
	if (memmem(buf, len, BEGIN, strlen(BEGIN)) == NULL) {
		/* No PEM at all: DER, as `openssl crl -outform DER` writes it. */
		if (len > 0 && (ret = parse(arg, (const unsigned char *)buf, len)) == 0) {
			free(buf);
			return 1;
		}
		mbedtls_strerror(ret, msg, sizeof(msg));
		snprintf(err, errlen, "%s: no PEM block (%s) in it%s%s", path, header,
			 len > 0 ? ", and not DER either: " : ": the file is empty",
			 len > 0 ? msg : "");
		free(buf);
		return REXEC_EPKI;
	}
	if (memchr(buf, 0, len) != NULL) {
		snprintf(err, errlen, "%s: not a PEM text file (it holds a NUL byte)", path);
		free(buf);
		return REXEC_EPKI;
	}
	seen = buf;
	for (p = strstr(buf, BEGIN); p != NULL; p = strstr(p, BEGIN)) {
		const char *end = strstr(p + strlen(BEGIN), DASHES);

		line += lines(seen, p);
		seen = p;
		if (strncmp(p, header, strlen(header)) != 0 && skippable(p + strlen(BEGIN), end)) {
			p += strlen(BEGIN);
			continue;
		}
		if (strncmp(p, header, strlen(header)) != 0) {
			int w = end != NULL && end - p < 80 ? (int)(end - p) - (int)strlen(BEGIN)
							    : 20;
			snprintf(err, errlen, "%s:%u: a '%.*s' block where only %s blocks belong",
				 path, line, w, p + strlen(BEGIN), label);
			ret = REXEC_EPKI;
			goto out;
		}
		mbedtls_pem_init(&pem);
		ret = mbedtls_pem_read_buffer(&pem, header, footer, (const unsigned char *)p, NULL,
					      0, &use);
		if (ret != 0) {
			mbedtls_pem_free(&pem);
			mbedtls_strerror(ret, msg, sizeof(msg));
			snprintf(err, errlen, "%s:%u: the %s starting here is not valid PEM: %s",
				 path, line, label, msg);
			ret = REXEC_EPKI;
			goto out;
		}
		{
			size_t der_len = 0;
			const unsigned char *der = mbedtls_pem_get_buffer(&pem, &der_len);
			ret = der != NULL ? parse(arg, der, der_len)
					  : MBEDTLS_ERR_PEM_BAD_INPUT_DATA;
		}
		mbedtls_pem_free(&pem);
		if (ret != 0) {
			mbedtls_strerror(ret, msg, sizeof(msg));
			snprintf(err, errlen, "%s:%u: the %s starting here does not parse: %s",
				 path, line, label, msg);
			ret = REXEC_EPKI;
			goto out;
		}
		n++;
		p += use;
	}
	ret = n;
	if (n == 0) {
		snprintf(err, errlen, "%s: no %s in it", path, header);
		ret = REXEC_EPKI;
	}
out:
	free(buf);
	return ret;
}
