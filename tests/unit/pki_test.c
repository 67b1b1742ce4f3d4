/* pki_test.c: lib/pki end to end in a temporary directory: a CA, an agent certificate with a
 * DNS and IP SANs and a client certificate, parsed back and verified with mbedTLS; key file
 * modes; an existing CA or certificate is never overwritten; bad CA directories and bad
 * requests fail with a message and write nothing. */
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
#include <mbedtls/x509_crt.h>
#include <psa/crypto.h>

#include "lib/pki.h"
#include "proto/error.h"

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
	struct pki_req agent = { PKI_AGENT, "web-1", sans, 3, 30 };
	struct pki_req client = { PKI_CLIENT, "alice", NULL, 0, 30 };
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
	struct pki_req client = { PKI_CLIENT, "bob, \"the admin\"", NULL, 0, 1 };
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
	struct pki_req client = { PKI_CLIENT, "alice", NULL, 0, 10 };
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
	struct pki_req client = { PKI_CLIENT, "alice", NULL, 0, 10 };
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
	struct pki_req zero_days = { PKI_CLIENT, "alice", NULL, 0, 0 };
	struct pki_req client_san = { PKI_CLIENT, "alice", good_san, 1, 10 };
	struct pki_req agent_bad_san = { PKI_AGENT, "web-1", bad_san, 1, 10 };
	struct pki_req agent_bad_name = { PKI_AGENT, "web/1", NULL, 0, 10 };
	struct pki_req no_name = { PKI_CLIENT, "", NULL, 0, 10 };
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
	};
	return cmocka_run_group_tests_name("pki", tests, NULL, NULL);
}
