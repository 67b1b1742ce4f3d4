/* pki_test.c: lib/pki end to end in a temporary directory: a CA, an agent certificate with a
 * DNS and IP SANs and a client certificate, parsed back and verified with mbedTLS; key file
 * modes; an existing CA or certificate is never overwritten; bad CA directories and bad
 * requests fail with a message and write nothing. Groups as OUs, the ttl parser and short
 * validity; lib/pkica's revocations and lib/crlwrite's CRL, parsed back by mbedTLS, whose
 * mbedtls_x509_crt_is_revoked() and chain verification must find the revoked certificate. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/ecp.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/psa_util.h>
#include <mbedtls/x509_crl.h>
#include <mbedtls/x509_crt.h>
#include <psa/crypto.h>
#include <time.h>

#include "lib/crlwrite.h"
#include "lib/pki.h"
#include "lib/pkica.h"
#include "proto/error.h"
#include "proto/tls.h"

/* Each test's scratch directory, removed by teardown. */
struct scratch {
	char dir[64];
	char err[1024];
};

static int setup(void **state)
{
	struct scratch *s = calloc(1, sizeof(*s));

	if (s == NULL || psa_crypto_init() != PSA_SUCCESS)
		return -1;
	strcpy(s->dir, "/tmp/pki_test.XXXXXX");
	if (mkdtemp(s->dir) == NULL) {
		free(s);
		return -1;
	}
	*state = s;
	return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int teardown(void **state)
{
	struct scratch *s = *state;
	int ret = nftw(s->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);

	free(s);
	return ret;
}

/* S->dir/NAME, in a static buffer per slot (a few paths are alive at once). */
static const char *path(struct scratch *s, int slot, const char *name)
{
	static char buf[4][PATH_MAX];

	snprintf(buf[slot], sizeof(buf[slot]), "%s/%s", s->dir, name);
	return buf[slot];
}

static int file_mode(const char *p)
{
	struct stat st;

	assert_int_equal(stat(p, &st), 0);
	return st.st_mode & 07777;
}

static int exists(const char *p)
{
	return access(p, F_OK) == 0;
}

/* The whole of a small file, for before/after comparisons; the caller frees it. */
static char *slurp(const char *p)
{
	FILE *f = fopen(p, "r");
	char *buf = calloc(1, 8192);

	assert_non_null(f);
	assert_non_null(buf);
	assert_true(fread(buf, 1, 8191, f) > 0);
	fclose(f);
	return buf;
}

/* Verify CRT against CA for CN (NULL: no name check); returns the verify flags. */
static uint32_t verify(mbedtls_x509_crt *crt, mbedtls_x509_crt *ca, const char *cn)
{
	uint32_t flags = 0;

	mbedtls_x509_crt_verify(crt, ca, NULL, cn, &flags, NULL, NULL);
	return flags;
}

/* The certificate at CERT is P-256, has a positive 16-byte serial, and KEY is its key (0600). */
static void check_pair(const char *cert, const char *key)
{
	mbedtls_x509_crt crt;
	mbedtls_pk_context pk;

	mbedtls_x509_crt_init(&crt);
	mbedtls_pk_init(&pk);
	assert_int_equal(mbedtls_x509_crt_parse_file(&crt, cert), 0);
	assert_int_equal(mbedtls_pk_get_type(&crt.pk), MBEDTLS_PK_ECKEY);
	assert_int_equal(mbedtls_ecp_keypair_get_group_id(mbedtls_pk_ec(crt.pk)),
			 MBEDTLS_ECP_DP_SECP256R1);
	assert_int_equal(crt.serial.len, 16);
	assert_int_equal(crt.serial.p[0] & 0x80, 0);
	assert_int_equal(crt.version, 3);
	assert_int_equal(mbedtls_pk_parse_keyfile(&pk, key, NULL, mbedtls_psa_get_random, NULL), 0);
	assert_int_equal(mbedtls_pk_check_pair(&crt.pk, &pk, mbedtls_psa_get_random, NULL), 0);
	assert_int_equal(file_mode(key), 0600);
	mbedtls_pk_free(&pk);
	mbedtls_x509_crt_free(&crt);
}

static void test_ca_agent_client(void **state)
{
	struct scratch *s = *state;
	static const char *const sans[] = { "web.example", "10.1.2.3", "fd00::7" };
	struct pki_req agent = { PKI_AGENT, "web-1", sans, 3, 30, 0, NULL, 0 };
	struct pki_req client = { PKI_CLIENT, "alice", NULL, 0, 30, 0, NULL, 0 };
	mbedtls_x509_crt ca, srv, cli;

	assert_int_equal(pki_ca_init(path(s, 0, "ca"), "test CA", 365, s->err, sizeof(s->err)), 0);
	assert_int_equal(file_mode(path(s, 0, "ca")), 0700);
	assert_int_equal(
		pki_issue(path(s, 0, "ca"), &agent, path(s, 1, "web1"), s->err, sizeof(s->err)), 0);
	assert_int_equal(
		pki_issue(path(s, 0, "ca"), &client, path(s, 1, "alice"), s->err, sizeof(s->err)),
		0);
	check_pair(path(s, 0, "ca/ca.pem"), path(s, 1, "ca/ca-key.pem"));
	check_pair(path(s, 0, "web1.pem"), path(s, 1, "web1-key.pem"));
	check_pair(path(s, 0, "alice.pem"), path(s, 1, "alice-key.pem"));

	mbedtls_x509_crt_init(&ca);
	mbedtls_x509_crt_init(&srv);
	mbedtls_x509_crt_init(&cli);
	assert_int_equal(mbedtls_x509_crt_parse_file(&ca, path(s, 0, "ca/ca.pem")), 0);
	assert_int_equal(mbedtls_x509_crt_parse_file(&srv, path(s, 0, "web1.pem")), 0);
	assert_int_equal(mbedtls_x509_crt_parse_file(&cli, path(s, 0, "alice.pem")), 0);

	/* The CA is a root that signs certificates; its own verification passes. */
	assert_int_equal(verify(&ca, &ca, NULL), 0);
	assert_int_equal(mbedtls_x509_crt_check_key_usage(&ca, MBEDTLS_X509_KU_KEY_CERT_SIGN), 0);

	/* The agent answers to its name, each SAN (DNS and IP), and nothing else. */
	assert_int_equal(verify(&srv, &ca, "web-1"), 0);
	assert_int_equal(verify(&srv, &ca, "web.example"), 0);
	assert_int_equal(verify(&srv, &ca, "10.1.2.3"), 0);
	assert_int_equal(verify(&srv, &ca, "fd00::7"), 0);
	assert_true(verify(&srv, &ca, "web-2") & MBEDTLS_X509_BADCERT_CN_MISMATCH);
	assert_true(verify(&srv, &ca, "10.1.2.4") & MBEDTLS_X509_BADCERT_CN_MISMATCH);
	assert_int_equal(
		mbedtls_x509_crt_check_extended_key_usage(
			&srv, MBEDTLS_OID_SERVER_AUTH, MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH)),
		0);
	assert_int_not_equal(
		mbedtls_x509_crt_check_extended_key_usage(
			&srv, MBEDTLS_OID_CLIENT_AUTH, MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH)),
		0);
	assert_int_equal(mbedtls_x509_crt_check_key_usage(&srv, MBEDTLS_X509_KU_DIGITAL_SIGNATURE),
			 0);
	assert_int_not_equal(mbedtls_x509_crt_check_key_usage(&srv, MBEDTLS_X509_KU_KEY_CERT_SIGN),
			     0);

	/* The client certificate is for clientAuth only, CN = the user. */
	assert_int_equal(verify(&cli, &ca, NULL), 0);
	assert_int_equal(verify(&cli, &ca, "alice"), 0);
	assert_int_equal(
		mbedtls_x509_crt_check_extended_key_usage(
			&cli, MBEDTLS_OID_CLIENT_AUTH, MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH)),
		0);
	assert_int_not_equal(
		mbedtls_x509_crt_check_extended_key_usage(
			&cli, MBEDTLS_OID_SERVER_AUTH, MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH)),
		0);

	mbedtls_x509_crt_free(&ca);
	mbedtls_x509_crt_free(&srv);
	mbedtls_x509_crt_free(&cli);
}

/* A CA name with RFC 4514 special characters survives as the issued certificate's issuer. */
static void test_special_ca_name(void **state)
{
	struct scratch *s = *state;
	struct pki_req client = { PKI_CLIENT, "bob, \"the admin\"", NULL, 0, 1, 0, NULL, 0 };
	mbedtls_x509_crt ca, cli;
	char dn[256];

	assert_int_equal(pki_ca_init(path(s, 0, "ca"), "ACME, Inc. #1 + <ops>\\", 10, s->err,
				     sizeof(s->err)),
			 0);
	assert_int_equal(
		pki_issue(path(s, 0, "ca"), &client, path(s, 1, "bob"), s->err, sizeof(s->err)), 0);
	mbedtls_x509_crt_init(&ca);
	mbedtls_x509_crt_init(&cli);
	assert_int_equal(mbedtls_x509_crt_parse_file(&ca, path(s, 0, "ca/ca.pem")), 0);
	assert_int_equal(mbedtls_x509_crt_parse_file(&cli, path(s, 0, "bob.pem")), 0);
	assert_int_equal(verify(&cli, &ca, NULL), 0);
	assert_true(mbedtls_x509_dn_gets(dn, sizeof(dn), &cli.subject) > 0);
	assert_string_equal(dn, "CN=bob\\, \\\"the admin\\\"");
	mbedtls_x509_crt_free(&ca);
	mbedtls_x509_crt_free(&cli);
}

static void test_ca_never_overwritten(void **state)
{
	struct scratch *s = *state;
	char *before, *after;

	assert_int_equal(pki_ca_init(path(s, 0, "a/b/ca"), "one", 10, s->err, sizeof(s->err)), 0);
	before = slurp(path(s, 0, "a/b/ca/ca.pem"));
	s->err[0] = '\0';
	assert_int_equal(pki_ca_init(path(s, 0, "a/b/ca"), "two", 10, s->err, sizeof(s->err)),
			 -EEXIST);
	assert_non_null(strstr(s->err, "already exists"));
	after = slurp(path(s, 0, "a/b/ca/ca.pem"));
	assert_string_equal(before, after);
	free(before);
	free(after);

	/* Half a CA (the certificate alone) is not completed either: no key is left behind. */
	assert_int_equal(unlink(path(s, 0, "a/b/ca/ca-key.pem")), 0);
	assert_int_equal(pki_ca_init(path(s, 0, "a/b/ca"), "two", 10, s->err, sizeof(s->err)),
			 -EEXIST);
	assert_false(exists(path(s, 0, "a/b/ca/ca-key.pem")));

	/* A file where the directory should be. */
	assert_int_equal(pki_ca_init(path(s, 0, "a/b/ca/ca.pem"), "x", 10, s->err, sizeof(s->err)),
			 -ENOTDIR);
}

static void test_certificate_never_overwritten(void **state)
{
	struct scratch *s = *state;
	struct pki_req client = { PKI_CLIENT, "alice", NULL, 0, 10, 0, NULL, 0 };
	char *before, *after;

	assert_int_equal(pki_ca_init(path(s, 0, "ca"), "test CA", 10, s->err, sizeof(s->err)), 0);
	assert_int_equal(
		pki_issue(path(s, 0, "ca"), &client, path(s, 1, "alice"), s->err, sizeof(s->err)),
		0);
	before = slurp(path(s, 0, "alice-key.pem"));
	assert_int_equal(
		pki_issue(path(s, 0, "ca"), &client, path(s, 1, "alice"), s->err, sizeof(s->err)),
		-EEXIST);
	assert_non_null(strstr(s->err, "already exists"));
	after = slurp(path(s, 0, "alice-key.pem"));
	assert_string_equal(before, after);
	free(before);
	free(after);
}

static void test_bad_ca_dir(void **state)
{
	struct scratch *s = *state;
	struct pki_req client = { PKI_CLIENT, "alice", NULL, 0, 10, 0, NULL, 0 };
	static const char junk[] = "-----BEGIN CERTIFICATE-----\nnot base64\n";

	/* No CA there. */
	s->err[0] = '\0';
	assert_int_equal(
		pki_issue(path(s, 0, "nope"), &client, path(s, 1, "alice"), s->err, sizeof(s->err)),
		-ENOENT);
	assert_non_null(strstr(s->err, "nope/ca.pem"));
	assert_false(exists(path(s, 0, "alice.pem")));
	assert_false(exists(path(s, 0, "alice-key.pem")));

	/* A CA certificate that is not one. */
	assert_int_equal(mkdir(path(s, 0, "junk"), 0700), 0);
	assert_int_equal(
		pki_write_file(path(s, 0, "junk/ca.pem"), junk, sizeof(junk) - 1, 0644, 1, NULL, 0),
		0);
	assert_int_equal(
		pki_issue(path(s, 0, "junk"), &client, path(s, 1, "alice"), s->err, sizeof(s->err)),
		REXEC_EPKI);
	assert_non_null(strstr(s->err, "junk/ca.pem"));

	/* A CA directory whose key belongs to another CA. */
	assert_int_equal(pki_ca_init(path(s, 0, "ca1"), "one", 10, s->err, sizeof(s->err)), 0);
	assert_int_equal(pki_ca_init(path(s, 0, "ca2"), "two", 10, s->err, sizeof(s->err)), 0);
	assert_int_equal(rename(path(s, 0, "ca2/ca-key.pem"), path(s, 1, "ca1/ca-key.pem")), 0);
	assert_int_equal(
		pki_issue(path(s, 0, "ca1"), &client, path(s, 1, "alice"), s->err, sizeof(s->err)),
		REXEC_EPKI);
	assert_non_null(strstr(s->err, "is not the key of"));

	/* A CA directory without its key. */
	assert_int_equal(
		pki_issue(path(s, 0, "ca2"), &client, path(s, 1, "alice"), s->err, sizeof(s->err)),
		-ENOENT);
	assert_non_null(strstr(s->err, "ca2/ca-key.pem"));
	assert_false(exists(path(s, 0, "alice.pem")));
}

static void test_bad_requests(void **state)
{
	struct scratch *s = *state;
	static const char *const bad_san[] = { "web 1" };
	static const char *const good_san[] = { "web.example" };
	struct pki_req zero_days = { PKI_CLIENT, "alice", NULL, 0, 0, 0, NULL, 0 };
	struct pki_req client_san = { PKI_CLIENT, "alice", good_san, 1, 10, 0, NULL, 0 };
	struct pki_req agent_bad_san = { PKI_AGENT, "web-1", bad_san, 1, 10, 0, NULL, 0 };
	struct pki_req agent_bad_name = { PKI_AGENT, "web/1", NULL, 0, 10, 0, NULL, 0 };
	struct pki_req no_name = { PKI_CLIENT, "", NULL, 0, 10, 0, NULL, 0 };
	const struct pki_req *bad[] = { &zero_days, &client_san, &agent_bad_san, &agent_bad_name,
					&no_name };
	size_t i;

	assert_int_equal(pki_ca_init(path(s, 0, "ca"), "test CA", 10, s->err, sizeof(s->err)), 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		s->err[0] = '\0';
		assert_int_equal(pki_issue(path(s, 0, "ca"), bad[i], path(s, 1, "x"), s->err,
					   sizeof(s->err)),
				 -EINVAL);
		assert_true(strlen(s->err) > 0);
		assert_false(exists(path(s, 0, "x.pem")));
		assert_false(exists(path(s, 0, "x-key.pem")));
	}
	assert_int_equal(pki_ca_init(path(s, 0, "ca-x"), "x", 0, s->err, sizeof(s->err)), -EINVAL);
	assert_int_equal(pki_ca_init(path(s, 0, "ca-y"), "x\n", 10, s->err, sizeof(s->err)),
			 -EINVAL);
	assert_false(exists(path(s, 0, "ca-x")));
}

static void test_parse_ttl(void **state)
{
	static const struct {
		const char *s;
		long long secs;
	} good[] = { { "30s", 30 },    { "1s", 1 },       { "90m", 5400 },          { "8h", 28800 },
		     { "7d", 604800 }, { "2w", 1209600 }, { "36500d", PKI_MAX_TTL } };
	static const char *const bad[] = { "",
					   "30",
					   "s",
					   "0s",
					   "-1s",
					   "1x",
					   "30s ",
					   " 30s",
					   "1.5h",
					   "36501d",
					   "99999999999999999999s",
					   "5215w",
					   "1hh" };
	long long v;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		v = -1;
		assert_int_equal(pki_parse_ttl(good[i].s, &v), 0);
		assert_int_equal(v, good[i].secs);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(pki_parse_ttl(bad[i], &v), -EINVAL);
	assert_int_equal(pki_parse_ttl(NULL, &v), -EINVAL);
}

/* Groups become OUs in the given order (before the CN), read back by mbedTLS and by
 * pki_cert_info(); a ttl gives a validity of seconds that starts a minute back. */
static void test_groups_and_ttl(void **state)
{
	struct scratch *s = *state;
	static const char *const groups[] = { "ops", "dev-2", "ci.eu_1" };
	struct pki_req client = { PKI_CLIENT, "alice", NULL, 0, 1, 30, groups, 3 };
	struct pki_cert_info info;
	mbedtls_x509_crt ca, cli;
	long long now = (long long)time(NULL);
	char dn[256];

	assert_int_equal(pki_ca_init(path(s, 0, "ca"), "test CA", 10, s->err, sizeof(s->err)), 0);
	assert_int_equal(
		pki_issue(path(s, 0, "ca"), &client, path(s, 1, "alice"), s->err, sizeof(s->err)),
		0);
	mbedtls_x509_crt_init(&ca);
	mbedtls_x509_crt_init(&cli);
	assert_int_equal(mbedtls_x509_crt_parse_file(&ca, path(s, 0, "ca/ca.pem")), 0);
	assert_int_equal(mbedtls_x509_crt_parse_file(&cli, path(s, 0, "alice.pem")), 0);
	assert_int_equal(verify(&cli, &ca, NULL), 0);
	assert_true(mbedtls_x509_dn_gets(dn, sizeof(dn), &cli.subject) > 0);
	assert_string_equal(dn, "OU=ops, OU=dev-2, OU=ci.eu_1, CN=alice");

	assert_int_equal(pki_cert_info(path(s, 0, "alice.pem"), &info, s->err, sizeof(s->err)), 0);
	assert_string_equal(info.cn, "alice");
	assert_int_equal(info.n_groups, 3);
	assert_string_equal(info.groups[0], "ops");
	assert_string_equal(info.groups[1], "dev-2");
	assert_string_equal(info.groups[2], "ci.eu_1");
	assert_true(info.client && !info.agent);
	assert_string_equal(info.issuer, "CN=test CA");
	assert_int_equal(strlen(info.serial), 32);
	assert_true(info.not_after >= now + 29 && info.not_after <= now + 31);
	assert_true(info.not_before >= now - PKI_TTL_BACKDATE - 1 &&
		    info.not_before <= now - PKI_TTL_BACKDATE + 1);
	mbedtls_x509_crt_free(&ca);
	mbedtls_x509_crt_free(&cli);
}

static void test_bad_groups(void **state)
{
	struct scratch *s = *state;
	static const char *const bad[] = {
		"", "a b", "-ops", ".ops", "ops,dev", "o\\u", "\xc3\xa9t\xc3\xa9", "a\x1b"
	};
	static const char *const one[] = { "ops" };
	struct pki_req agent = { PKI_AGENT, "web-1", NULL, 0, 1, 0, one, 1 };
	struct pki_req client = { PKI_CLIENT, "alice", NULL, 0, 1, 0, NULL, 1 };
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		s->err[0] = '\0';
		assert_int_equal(pki_check_group(bad[i], s->err, sizeof(s->err)), -EINVAL);
		assert_true(strlen(s->err) > 0);
		assert_null(strchr(s->err, '\x1b'));
	}
	assert_int_equal(pki_check_group("a", NULL, 0), 0);
	assert_int_equal(pki_ca_init(path(s, 0, "ca"), "test CA", 10, s->err, sizeof(s->err)), 0);
	assert_int_equal(
		pki_issue(path(s, 0, "ca"), &agent, path(s, 1, "x"), s->err, sizeof(s->err)),
		-EINVAL);
	assert_int_equal(
		pki_issue(path(s, 0, "ca"), &client, path(s, 1, "x"), s->err, sizeof(s->err)),
		-EINVAL);
	assert_false(exists(path(s, 0, "x.pem")));
}

static void test_parse_serial(void **state)
{
	char out[PKI_SERIAL_HEX_CAP];

	(void)state;
	assert_int_equal(pkica_parse_serial("4a3f", out), 0);
	assert_string_equal(out, "4A3F");
	assert_int_equal(pkica_parse_serial("0x004A:3F", out), 0);
	assert_string_equal(out, "4A3F");
	assert_int_equal(pkica_parse_serial("abc", out), 0);
	assert_string_equal(out, "0ABC");
	assert_int_equal(pkica_parse_serial("00", out), 0);
	assert_string_equal(out, "00");
	assert_int_equal(pkica_parse_serial("0102030405060708090a0b0c0d0e0f1011121314", out), 0);
	assert_int_equal(pkica_parse_serial("ff0102030405060708090a0b0c0d0e0f1011121314", out),
			 -EINVAL);
	assert_int_equal(pkica_parse_serial("", out), -EINVAL);
	assert_int_equal(pkica_parse_serial("12g4", out), -EINVAL);
	assert_int_equal(pkica_parse_serial("-12", out), -EINVAL);
}

/* The revoked certificate's serial, and no other, is in the CRL as mbedTLS reads it. */
static void check_crl(const char *crl_path, mbedtls_x509_crt *ca, mbedtls_x509_crt *revoked,
		      mbedtls_x509_crt *good)
{
	mbedtls_x509_crl crl;
	uint32_t flags = 0;
	long long now = (long long)time(NULL);

	mbedtls_x509_crl_init(&crl);
	assert_int_equal(mbedtls_x509_crl_parse_file(&crl, crl_path), 0);
	assert_int_equal(crl.version, 2);
	assert_int_equal(crl.issuer_raw.len, ca->subject_raw.len);
	assert_memory_equal(crl.issuer_raw.p, ca->subject_raw.p, ca->subject_raw.len);
	assert_int_equal(mbedtls_x509_crt_is_revoked(revoked, &crl), 1);
	assert_int_equal(mbedtls_x509_crt_is_revoked(good, &crl), 0);
	assert_int_equal(crl.entry.serial.len, revoked->serial.len);
	assert_null(crl.entry.next);
	/* The chain check with the CRL: the signature verifies and the certificate is out. */
	mbedtls_x509_crt_verify(revoked, ca, &crl, NULL, &flags, NULL, NULL);
	assert_int_equal(flags, MBEDTLS_X509_BADCERT_REVOKED);
	flags = 0;
	assert_int_equal(mbedtls_x509_crt_verify(good, ca, &crl, NULL, &flags, NULL, NULL), 0);
	assert_int_equal(flags, 0);
	/* Valid from now for the 30 days asked. */
	assert_true(llabs(tls_x509_seconds(&crl.this_update) - now) <= 5);
	assert_true(llabs(tls_x509_seconds(&crl.next_update) - (now + 30 * 86400)) <= 5);
	mbedtls_x509_crl_free(&crl);
}

static void test_revoke_and_crl(void **state)
{
	struct scratch *s = *state;
	struct pki_req client = { PKI_CLIENT, "alice", NULL, 0, 10, 0, NULL, 0 };
	struct pki_req other = { PKI_CLIENT, "bob", NULL, 0, 10, 0, NULL, 0 };
	struct pkica_revocation r, again;
	mbedtls_x509_crt ca, alice, bob;
	unsigned long long number = 0;
	size_t n = 99;
	char *before, *after;

	assert_int_equal(pki_ca_init(path(s, 0, "ca"), "test CA", 10, s->err, sizeof(s->err)), 0);
	assert_int_equal(pki_ca_init(path(s, 0, "ca2"), "other CA", 10, s->err, sizeof(s->err)), 0);
	assert_int_equal(
		pki_issue(path(s, 0, "ca"), &client, path(s, 1, "alice"), s->err, sizeof(s->err)),
		0);
	assert_int_equal(
		pki_issue(path(s, 0, "ca"), &other, path(s, 1, "bob"), s->err, sizeof(s->err)), 0);
	assert_int_equal(
		pki_issue(path(s, 0, "ca2"), &client, path(s, 1, "eve"), s->err, sizeof(s->err)),
		0);

	/* An empty CRL first: no revokedCertificates at all, number 1. */
	assert_int_equal(pkica_crl(path(s, 0, "ca"), 30, path(s, 1, "empty.pem"), &n, &number,
				   s->err, sizeof(s->err)),
			 0);
	assert_int_equal(n, 0);
	assert_int_equal(number, 1);

	/* Another CA's certificate, the CA's own and an unknown serial are refused. */
	assert_int_equal(pkica_revoke_cert(path(s, 0, "ca"), path(s, 1, "eve.pem"), &r, s->err,
					   sizeof(s->err)),
			 REXEC_EPKI);
	assert_non_null(strstr(s->err, "not signed by the CA"));
	assert_int_equal(pkica_revoke_cert(path(s, 0, "ca"), path(s, 1, "ca/ca.pem"), &r, s->err,
					   sizeof(s->err)),
			 -EINVAL);
	assert_int_equal(pkica_revoke_serial(path(s, 0, "ca"), "4A3F", &r, s->err, sizeof(s->err)),
			 REXEC_EPKI);
	assert_false(exists(path(s, 0, "ca/revoked")));

	/* Alice is revoked, once: the second time changes nothing. */
	assert_int_equal(pkica_revoke_cert(path(s, 0, "ca"), path(s, 1, "alice.pem"), &r, s->err,
					   sizeof(s->err)),
			 0);
	assert_false(r.already);
	before = slurp(path(s, 0, "ca/revoked"));
	assert_int_equal(
		pkica_revoke_serial(path(s, 0, "ca"), r.serial, &again, s->err, sizeof(s->err)), 0);
	assert_true(again.already);
	assert_int_equal(again.at, r.at);
	after = slurp(path(s, 0, "ca/revoked"));
	assert_string_equal(before, after);
	free(before);
	free(after);

	assert_int_equal(pkica_crl(path(s, 0, "ca"), 30, path(s, 1, "crl.pem"), &n, &number, s->err,
				   sizeof(s->err)),
			 0);
	assert_int_equal(n, 1);
	assert_int_equal(number, 2);
	assert_int_equal(file_mode(path(s, 0, "crl.pem")), 0644);
	mbedtls_x509_crt_init(&ca);
	mbedtls_x509_crt_init(&alice);
	mbedtls_x509_crt_init(&bob);
	assert_int_equal(mbedtls_x509_crt_parse_file(&ca, path(s, 0, "ca/ca.pem")), 0);
	assert_int_equal(mbedtls_x509_crt_parse_file(&alice, path(s, 0, "alice.pem")), 0);
	assert_int_equal(mbedtls_x509_crt_parse_file(&bob, path(s, 0, "bob.pem")), 0);
	check_crl(path(s, 0, "crl.pem"), &ca, &alice, &bob);

	/* A list that does not parse stops the CRL: it would drop a revocation otherwise. */
	assert_int_equal(pki_write_file(path(s, 0, "ca/revoked"), "zz 1\n", 5, 0644, 0, NULL, 0),
			 0);
	assert_int_equal(pkica_crl(path(s, 0, "ca"), 30, path(s, 1, "bad.pem"), NULL, NULL, s->err,
				   sizeof(s->err)),
			 REXEC_EPKI);
	assert_non_null(strstr(s->err, "revoked:1:"));
	assert_false(exists(path(s, 0, "bad.pem")));
	mbedtls_x509_crt_free(&ca);
	mbedtls_x509_crt_free(&alice);
	mbedtls_x509_crt_free(&bob);
}

/* crlwrite by itself: a serial with its top bit set gets its DER zero byte, a serial of 20
 * bytes fits, dates past 2049 are GeneralizedTime, and bad requests are refused. */
static void test_crlwrite_edges(void **state)
{
	struct scratch *s = *state;
	struct crlwrite_entry e[2];
	struct crlwrite_req req;
	mbedtls_x509_crt ca;
	mbedtls_pk_context key;
	mbedtls_x509_crl crl;
	char *pem = NULL;
	size_t len = 0;

	assert_int_equal(pki_ca_init(path(s, 0, "ca"), "test CA", 10, s->err, sizeof(s->err)), 0);
	mbedtls_x509_crt_init(&ca);
	mbedtls_pk_init(&key);
	mbedtls_x509_crl_init(&crl);
	assert_int_equal(pki__load_ca(path(s, 0, "ca"), &ca, &key, s->err, sizeof(s->err)), 0);
	memset(e, 0, sizeof(e));
	e[0].serial[0] = 0x80;
	e[0].serial[1] = 0x01;
	e[0].serial_len = 2;
	e[0].revoked_at = 1700000000;
	memset(e[1].serial, 0x7f, CRLWRITE_MAX_SERIAL);
	e[1].serial_len = CRLWRITE_MAX_SERIAL;
	e[1].revoked_at = 2600000000LL; /* 2052 */
	memset(&req, 0, sizeof(req));
	req.issuer = &ca;
	req.key = &key;
	req.this_update = 1700000000;
	req.next_update = 2600000000LL;
	req.number = 0x1234567890ULL;
	req.entries = e;
	req.n = 2;
	assert_int_equal(crlwrite_pem(&req, &pem, &len, s->err, sizeof(s->err)), 0);
	assert_int_equal(strlen(pem), len);
	assert_non_null(strstr(pem, "-----BEGIN X509 CRL-----\n"));
	assert_int_equal(mbedtls_x509_crl_parse(&crl, (unsigned char *)pem, len + 1), 0);
	assert_int_equal(crl.entry.serial.len, 3);
	assert_int_equal(crl.entry.serial.p[0], 0);
	assert_int_equal(crl.entry.serial.p[1], 0x80);
	assert_int_equal(crl.entry.revocation_date.year, 2023);
	assert_non_null(crl.entry.next);
	assert_int_equal(crl.entry.next->serial.len, CRLWRITE_MAX_SERIAL);
	assert_int_equal(crl.entry.next->revocation_date.year, 2052);
	assert_int_equal(crl.next_update.year, 2052);
	free(pem);
	pem = NULL;

	req.next_update = req.this_update;
	assert_int_equal(crlwrite_pem(&req, &pem, &len, s->err, sizeof(s->err)), -EINVAL);
	req.next_update = req.this_update + 1;
	e[0].serial_len = CRLWRITE_MAX_SERIAL + 1;
	assert_int_equal(crlwrite_pem(&req, &pem, &len, s->err, sizeof(s->err)), -EINVAL);
	assert_null(pem);
	mbedtls_x509_crl_free(&crl);
	mbedtls_x509_crt_free(&ca);
	mbedtls_pk_free(&key);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ca_agent_client, setup, teardown),
		cmocka_unit_test_setup_teardown(test_special_ca_name, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ca_never_overwritten, setup, teardown),
		cmocka_unit_test_setup_teardown(test_certificate_never_overwritten, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_bad_ca_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_requests, setup, teardown),
		cmocka_unit_test(test_parse_ttl),
		cmocka_unit_test_setup_teardown(test_groups_and_ttl, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_groups, setup, teardown),
		cmocka_unit_test(test_parse_serial),
		cmocka_unit_test_setup_teardown(test_revoke_and_crl, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crlwrite_edges, setup, teardown),
	};
	return cmocka_run_group_tests_name("pki", tests, NULL, NULL);
}
