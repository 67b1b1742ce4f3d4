/* crlwrite.c: an X.509 v2 CRL built back to front with mbedTLS's asn1write, hashed and signed
 * with its pk layer, as library/x509write_crt.c does for a certificate (see crlwrite.h). */
#include "lib/crlwrite.h"
#include "lib/pki.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mbedtls/asn1write.h>
#include <mbedtls/error.h>
#include <mbedtls/oid.h>
#include <mbedtls/pem.h>
#include <mbedtls/psa_util.h>
#include <psa/crypto.h>

#include "proto/error.h"

#define ENTRY_DER_MAX  64   /* SEQUENCE { INTEGER of 21 bytes, GeneralizedTime }, with headers */
#define FIXED_DER_MAX  4096 /* the rest: names up to a few hundred bytes, keys, extensions */
#define PUBKEY_DER_MAX 2200 /* an RSA key of 16384 bits, the largest mbedTLS makes */
#define PEM_HEADER     "-----BEGIN X509 CRL-----\n"
#define PEM_FOOTER     "-----END X509 CRL-----\n"

/* Format a one-line message into ERR and return CODE. */
/* Report the mbedTLS failure MRET after WHAT, as REXEC_EPKI. */
static int tls_fail(char *err, size_t errlen, int mret, const char *what)
{
	char detail[160];

	mbedtls_strerror(mret, detail, sizeof(detail));
	return pki__fail(err, errlen, REXEC_EPKI, "%s (%s)", what, detail);
}

/* Write T as a Time: UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280 5.1.2.4). */
static int write_time(unsigned char **p, unsigned char *start, long long t)
{
	time_t tt = (time_t)t;
	char text[20];
	struct tm tm;
	int utc, ret;
	size_t len = 0;

	if (gmtime_r(&tt, &tm) == NULL || tm.tm_year + 1900 > 9999 || tm.tm_year + 1900 < 1950)
		return MBEDTLS_ERR_ASN1_INVALID_DATA;
	utc = tm.tm_year + 1900 < 2050;
	if (strftime(text, sizeof(text), utc ? "%y%m%d%H%M%SZ" : "%Y%m%d%H%M%SZ", &tm) == 0)
		return MBEDTLS_ERR_ASN1_INVALID_DATA;
	MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_raw_buffer(
					  p, start, (const unsigned char *)text, strlen(text)));
	MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_len(p, start, len));
	MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_tag(p, start,
							 utc ? MBEDTLS_ASN1_UTC_TIME
							     : MBEDTLS_ASN1_GENERALIZED_TIME));
	return (int)len;
}

/* Write the big-endian unsigned number BYTES (N of them) as a minimal positive INTEGER. */
static int write_uint(unsigned char **p, unsigned char *start, const unsigned char *bytes, size_t n)
{
	static const unsigned char zero = 0;
	size_t len = 0;
	int ret;

	while (n > 1 && bytes[0] == 0) {
		bytes++;
		n--;
	}
	if (n == 0) {
		bytes = &zero;
		n = 1;
	}
	MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_raw_buffer(p, start, bytes, n));
	if (bytes[0] & 0x80)
		MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_raw_buffer(p, start, &zero, 1));
	MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_len(p, start, len));
	MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_tag(p, start, MBEDTLS_ASN1_INTEGER));
	return (int)len;
}

/* Write a TAG header for the LEN bytes just written; returns the header's size. */
static int wrap(unsigned char **p, unsigned char *start, size_t len, unsigned char tag)
{
	size_t more = 0;
	int ret;

	MBEDTLS_ASN1_CHK_ADD(more, mbedtls_asn1_write_len(p, start, len));
	MBEDTLS_ASN1_CHK_ADD(more, mbedtls_asn1_write_tag(p, start, tag));
	return (int)more;
}

/* Write one Extension, non-critical, around the VAL_LEN bytes of its value just written:
 * SEQUENCE { extnID OID, extnValue OCTET STRING }. */
static int write_ext(unsigned char **p, unsigned char *start, const char *oid, size_t oid_len,
		     size_t val_len)
{
	size_t len = val_len;
	int ret;

	MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_len(p, start, val_len));
	MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_tag(p, start, MBEDTLS_ASN1_OCTET_STRING));
	MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_oid(p, start, oid, oid_len));
	MBEDTLS_ASN1_CHK_ADD(len,
			     wrap(p, start, len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE));
	return (int)len;
}

/* The key identifier of ISSUER: its subjectKeyIdentifier, else the SHA-1 of its public key
 * (the BIT STRING's bits, as mbedtls_x509write_crt_set_subject_key_identifier() takes it). */
static int key_id(const mbedtls_x509_crt *issuer, unsigned char id[32], size_t *id_len)
{
	unsigned char buf[PUBKEY_DER_MAX], *c = buf + sizeof(buf);
	size_t n;
	int ret;

	if (issuer->subject_key_id.len > 0 && issuer->subject_key_id.len <= 32) {
		memcpy(id, issuer->subject_key_id.p, issuer->subject_key_id.len);
		*id_len = issuer->subject_key_id.len;
		return 0;
	}
	ret = mbedtls_pk_write_pubkey(&c, buf, &issuer->pk);
	if (ret < 0)
		return ret;
	if (psa_hash_compute(PSA_ALG_SHA_1, c, (size_t)ret, id, 32, &n) != PSA_SUCCESS)
		return MBEDTLS_ERR_X509_FATAL_ERROR;
	*id_len = n;
	return 0;
}

/* crlExtensions [0] EXPLICIT Extensions: authorityKeyIdentifier { keyIdentifier [0] }, then
 * cRLNumber INTEGER (written last first). */
static int write_extensions(unsigned char **p, unsigned char *start, const struct crlwrite_req *req)
{
	unsigned char id[32], num[8];
	size_t id_len = 0, len = 0, one = 0, i;
	int ret;

	for (i = 0; i < 8; i++)
		num[i] = (unsigned char)(req->number >> (56 - 8 * i));
	MBEDTLS_ASN1_CHK_ADD(one, write_uint(p, start, num, sizeof(num)));
	MBEDTLS_ASN1_CHK_ADD(len, write_ext(p, start, MBEDTLS_OID_CRL_NUMBER,
					    MBEDTLS_OID_SIZE(MBEDTLS_OID_CRL_NUMBER), one));
	if ((ret = key_id(req->issuer, id, &id_len)) < 0)
		return ret;
	one = 0;
	MBEDTLS_ASN1_CHK_ADD(one, mbedtls_asn1_write_raw_buffer(p, start, id, id_len));
	MBEDTLS_ASN1_CHK_ADD(one, wrap(p, start, one, MBEDTLS_ASN1_CONTEXT_SPECIFIC | 0));
	MBEDTLS_ASN1_CHK_ADD(one,
			     wrap(p, start, one, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE));
	MBEDTLS_ASN1_CHK_ADD(len, write_ext(p, start, MBEDTLS_OID_AUTHORITY_KEY_IDENTIFIER,
					    MBEDTLS_OID_SIZE(MBEDTLS_OID_AUTHORITY_KEY_IDENTIFIER),
					    one));
	MBEDTLS_ASN1_CHK_ADD(len,
			     wrap(p, start, len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE));
	MBEDTLS_ASN1_CHK_ADD(
		len,
		wrap(p, start, len, MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_ASN1_CONSTRUCTED | 0));
	return (int)len;
}

/* revokedCertificates: SEQUENCE OF SEQUENCE { userCertificate, revocationDate }, in the
 * order of REQ (written from the last). Nothing at all when there are none. */
static int write_revoked(unsigned char **p, unsigned char *start, const struct crlwrite_req *req)
{
	size_t len = 0, one, i;
	int ret;

	if (req->n == 0)
		return 0;
	for (i = req->n; i-- > 0;) {
		one = 0;
		MBEDTLS_ASN1_CHK_ADD(one, write_time(p, start, req->entries[i].revoked_at));
		MBEDTLS_ASN1_CHK_ADD(one, write_uint(p, start, req->entries[i].serial,
						     req->entries[i].serial_len));
		MBEDTLS_ASN1_CHK_ADD(
			one, wrap(p, start, one, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE));
		len += one;
	}
	MBEDTLS_ASN1_CHK_ADD(len,
			     wrap(p, start, len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE));
	return (int)len;
}

/* TBSCertList into the end of BUF (SIZE bytes); *TBS points at its first byte. Returns its
 * length or a negative mbedTLS code. */
static int write_tbs(unsigned char *buf, size_t size, const struct crlwrite_req *req,
		     const char *sig_oid, size_t sig_oid_len, int null_par, unsigned char **tbs)
{
	static const unsigned char v2 = 1;
	unsigned char *c = buf + size;
	size_t len = 0;
	int ret;

	MBEDTLS_ASN1_CHK_ADD(len, write_extensions(&c, buf, req));
	MBEDTLS_ASN1_CHK_ADD(len, write_revoked(&c, buf, req));
	MBEDTLS_ASN1_CHK_ADD(len, write_time(&c, buf, req->next_update));
	MBEDTLS_ASN1_CHK_ADD(len, write_time(&c, buf, req->this_update));
	/* The CA's subject exactly as its certificate encodes it, so that name matching (a
	 * byte comparison in mbedTLS and others) cannot differ. */
	MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_raw_buffer(&c, buf, req->issuer->subject_raw.p,
								req->issuer->subject_raw.len));
	MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_algorithm_identifier_ext(
					  &c, buf, sig_oid, sig_oid_len, 0, null_par));
	MBEDTLS_ASN1_CHK_ADD(len, write_uint(&c, buf, &v2, 1));
	MBEDTLS_ASN1_CHK_ADD(len,
			     wrap(&c, buf, len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE));
	*tbs = c;
	return (int)len;
}

/* Check what REQ asks before any work. */
static int check_req(const struct crlwrite_req *req, char *err, size_t errlen)
{
	size_t i;

	if (req == NULL || req->issuer == NULL || req->key == NULL ||
	    req->issuer->subject_raw.p == NULL)
		return pki__fail(err, errlen, -EINVAL, "no CA given for the CRL");
	if (req->next_update <= req->this_update)
		return pki__fail(err, errlen, -EINVAL,
				 "the CRL's next update must come after this one");
	if (req->n > CRLWRITE_MAX_ENTRIES || (req->n > 0 && req->entries == NULL))
		return pki__fail(err, errlen, -EINVAL, "a CRL holds 0 to %d entries",
				 CRLWRITE_MAX_ENTRIES);
	for (i = 0; i < req->n; i++)
		if (req->entries[i].serial_len < 1 ||
		    req->entries[i].serial_len > CRLWRITE_MAX_SERIAL)
			return pki__fail(err, errlen, -EINVAL,
					 "entry %zu: a serial is 1 to %d bytes", i,
					 CRLWRITE_MAX_SERIAL);
	return 0;
}

int crlwrite_pem(const struct crlwrite_req *req, char **out, size_t *len, char *err, size_t errlen)
{
	unsigned char hash[PSA_HASH_MAX_SIZE], sig[MBEDTLS_PK_SIGNATURE_MAX_SIZE];
	unsigned char *tbs_buf = NULL, *der = NULL, *tbs, *c;
	char *pem = NULL;
	const char *sig_oid;
	size_t cap, sig_oid_len = 0, hash_len = 0, sig_len = 0, der_len = 0, tbs_len, pem_len = 0;
	mbedtls_pk_type_t alg;
	int mret, ret;

	*out = NULL;
	if ((ret = check_req(req, err, errlen)) < 0)
		return ret;
	if (psa_crypto_init() != PSA_SUCCESS)
		return pki__fail(err, errlen, REXEC_EPKI, "cannot initialise PSA crypto");
	alg = mbedtls_pk_can_do(req->key, MBEDTLS_PK_RSA)     ? MBEDTLS_PK_RSA
	      : mbedtls_pk_can_do(req->key, MBEDTLS_PK_ECDSA) ? MBEDTLS_PK_ECDSA
							      : MBEDTLS_PK_NONE;
	if (alg == MBEDTLS_PK_NONE ||
	    mbedtls_oid_get_oid_by_sig_alg(alg, MBEDTLS_MD_SHA256, &sig_oid, &sig_oid_len) != 0)
		return pki__fail(err, errlen, REXEC_EPKI, "the CA's key is neither ECDSA nor RSA");
	cap = FIXED_DER_MAX + req->issuer->subject_raw.len + req->n * ENTRY_DER_MAX;
	tbs_buf = malloc(cap);
	der = malloc(cap + MBEDTLS_PK_SIGNATURE_MAX_SIZE + 64);
	if (tbs_buf == NULL || der == NULL) {
		ret = pki__fail(err, errlen, -ENOMEM, "out of memory");
		goto out;
	}
	/* ECDSA's AlgorithmIdentifier has no parameters, RSA's a NULL (RFC 5758, RFC 4055). */
	mret = write_tbs(tbs_buf, cap, req, sig_oid, sig_oid_len, alg == MBEDTLS_PK_RSA, &tbs);
	if (mret < 0) {
		ret = tls_fail(err, errlen, mret, "cannot encode the CRL");
		goto out;
	}
	tbs_len = (size_t)mret;
	if (psa_hash_compute(PSA_ALG_SHA_256, tbs, tbs_len, hash, sizeof(hash), &hash_len) !=
	    PSA_SUCCESS) {
		ret = pki__fail(err, errlen, REXEC_EPKI, "cannot hash the CRL");
		goto out;
	}
	if ((mret = mbedtls_pk_sign(req->key, MBEDTLS_MD_SHA256, hash, hash_len, sig, sizeof(sig),
				    &sig_len, mbedtls_psa_get_random, MBEDTLS_PSA_RANDOM_STATE)) !=
	    0) {
		ret = tls_fail(err, errlen, mret, "cannot sign the CRL");
		goto out;
	}
	/* CertificateList ::= SEQUENCE { tbsCertList, signatureAlgorithm, signatureValue }. */
	c = der + cap + MBEDTLS_PK_SIGNATURE_MAX_SIZE + 64;
	if ((mret = mbedtls_asn1_write_bitstring(&c, der, sig, sig_len * 8)) < 0 ||
	    (der_len = (size_t)mret,
	     (mret = mbedtls_asn1_write_algorithm_identifier_ext(&c, der, sig_oid, sig_oid_len, 0,
								 alg == MBEDTLS_PK_RSA)) < 0) ||
	    (der_len += (size_t)mret,
	     (mret = mbedtls_asn1_write_raw_buffer(&c, der, tbs, tbs_len)) < 0) ||
	    (der_len += (size_t)mret,
	     (mret = wrap(&c, der, der_len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE)) <
		     0)) {
		ret = tls_fail(err, errlen, mret, "cannot encode the CRL");
		goto out;
	}
	der_len += (size_t)mret;
	/* Base64 grows by 4/3, plus a newline every 64 characters and the two lines. */
	cap = der_len * 4 / 3 + der_len / 48 + sizeof(PEM_HEADER) + sizeof(PEM_FOOTER) + 16;
	if ((pem = malloc(cap)) == NULL) {
		ret = pki__fail(err, errlen, -ENOMEM, "out of memory");
		goto out;
	}
	if ((mret = mbedtls_pem_write_buffer(PEM_HEADER, PEM_FOOTER, c, der_len,
					     (unsigned char *)pem, cap, &pem_len)) != 0) {
		ret = tls_fail(err, errlen, mret, "cannot encode the CRL as PEM");
		goto out;
	}
	*out = pem;
	*len = strlen(pem);
	pem = NULL;
	ret = 0;
out:
	free(pem);
	free(der);
	free(tbs_buf);
	return ret;
}
