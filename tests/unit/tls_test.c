/* tls_test.c: proto/tls between a real agent end and a real client end in one process, with
 * certificates from lib/pki and the ciphertext carried in memory: a full handshake, then a
 * chain of resumptions, each with the ticket the one before it got. The agent knows the
 * resumed client by the CN and the authentication time of the full handshake: a resumption
 * hands out a new ticket but never a newer authentication. And tls_format_utc(), the one date
 * format of the tree. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <errno.h>

#include "lib/pki.h"
#include "proto/error.h"
#include "proto/tls.h"

#define WIRE_CAP 65536

/* Ciphertext one end sent and the other has not been fed yet. */
struct wire {
	uint8_t buf[WIRE_CAP];
	size_t len;
};

struct fixture {
	char dir[64];
	struct tls_config *agent, *client;
	struct wire to_agent, to_client;
};

static void on_send(void *arg, const uint8_t *data, size_t len)
{
	struct wire *w = arg;

	assert_true(w->len + len <= sizeof(w->buf));
	memcpy(w->buf + w->len, data, len);
	w->len += len;
}

static void deliver(struct wire *w, struct tls_session *to)
{
	assert_int_equal(tls_session_feed(to, w->buf, w->len), 0);
	w->len = 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int setup(void **state)
{
	static const char *const groups[] = { "ops", "dev" };
	struct fixture *f = calloc(1, sizeof(*f));
	struct pki_req req = { .days = 1 };
	char err[512], ca[128], cert[128], key[128], prefix[128];

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/tls_test.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(pki_ca_init(f->dir, "test CA", 1, err, sizeof(err)), 0);
	req.kind = PKI_AGENT;
	req.name = "agent-1";
	snprintf(prefix, sizeof(prefix), "%s/agent", f->dir);
	assert_int_equal(pki_issue(f->dir, &req, prefix, err, sizeof(err)), 0);
	req.kind = PKI_CLIENT;
	req.name = "alice";
	req.groups = groups;
	req.n_groups = 2;
	snprintf(prefix, sizeof(prefix), "%s/client", f->dir);
	assert_int_equal(pki_issue(f->dir, &req, prefix, err, sizeof(err)), 0);

	snprintf(ca, sizeof(ca), "%s/ca.pem", f->dir);
	snprintf(cert, sizeof(cert), "%s/agent.pem", f->dir);
	snprintf(key, sizeof(key), "%s/agent-key.pem", f->dir);
	assert_int_equal(tls_config_new(&f->agent, 1, ca, cert, key, err, sizeof(err)), 0);
	snprintf(cert, sizeof(cert), "%s/client.pem", f->dir);
	snprintf(key, sizeof(key), "%s/client-key.pem", f->dir);
	assert_int_equal(tls_config_new(&f->client, 0, ca, cert, key, err, sizeof(err)), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	tls_config_free(f->agent);
	tls_config_free(f->client);
	nftw(f->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* One connection: offers TICKET (when not NULL) and runs both handshakes to the end, then a
 * byte from the agent brings the client its new ticket, which replaces *TICKET. Returns the
 * agent's end (the caller frees it). */
static struct tls_session *connect_once(struct fixture *f, uint8_t **ticket, size_t *len)
{
	struct tls_session *cli = NULL, *srv = NULL;
	int c = 1, s = 1, i, n = 0;
	uint8_t byte = 0;

	assert_int_equal(tls_session_new(&cli, f->client, "agent-1", on_send, &f->to_agent), 0);
	assert_int_equal(tls_session_new(&srv, f->agent, NULL, on_send, &f->to_client), 0);
	if (*ticket != NULL)
		assert_int_equal(tls_session_offer_ticket(cli, "agent-1", *ticket, *len), 0);
	for (i = 0; i < 20 && (c == 1 || s == 1); i++) {
		if (c == 1)
			c = tls_session_handshake(cli);
		deliver(&f->to_agent, srv);
		if (s == 1)
			s = tls_session_handshake(srv);
		deliver(&f->to_client, cli);
	}
	assert_int_equal(c, 0);
	assert_int_equal(s, 0);
	assert_int_equal(tls_session_resumed(cli), *ticket != NULL);
	assert_int_equal(tls_session_resumed(srv), *ticket != NULL);

	assert_int_equal(tls_session_write(srv, (const uint8_t *)"x", 1), 0);
	deliver(&f->to_client, cli);
	for (i = 0; i < 4 && n == 0; i++)
		n = tls_session_read(cli, &byte, 1);
	assert_int_equal(n, 1);
	assert_int_equal(byte, 'x');
	free(*ticket);
	*ticket = NULL;
	assert_int_equal(tls_session_take_ticket(cli, ticket, len), 1);
	tls_session_free(cli);
	f->to_agent.len = f->to_client.len = 0;
	return srv;
}

/* Until the clock has moved past T (at most a few seconds): a new authentication time would
 * differ from T. */
static void wait_past(int64_t t)
{
	struct timespec tick = { 0, 10 * 1000 * 1000 };
	int i;

	for (i = 0; i < 300 && (int64_t)time(NULL) <= t; i++)
		nanosleep(&tick, NULL);
	assert_true((int64_t)time(NULL) > t);
}

static void test_resumptions_keep_the_first_authentication_time(void **state)
{
	struct fixture *f = *state;
	struct tls_session *srv;
	uint8_t *ticket = NULL;
	size_t len = 0;
	int64_t before = (int64_t)time(NULL), auth;
	char serial[sizeof(tls_session_identity(NULL)->serial)];
	int i;

	srv = connect_once(f, &ticket, &len);
	auth = tls_session_auth_time(srv);
	assert_true(auth >= before && auth <= (int64_t)time(NULL));
	assert_string_equal(tls_session_peer_cn(srv), "alice");
	assert_string_equal(tls_session_identity(srv)->cn, "alice");
	assert_true(strlen(tls_session_identity(srv)->serial) >= 2);
	assert_int_equal(strspn(tls_session_identity(srv)->serial, "0123456789ABCDEF"),
			 strlen(tls_session_identity(srv)->serial));
	strcpy(serial, tls_session_identity(srv)->serial);
	assert_int_equal(tls_session_identity(srv)->n_groups, 2);
	assert_string_equal(tls_session_identity(srv)->groups[0], "ops");
	assert_string_equal(tls_session_identity(srv)->groups[1], "dev");
	tls_session_free(srv);

	/* Each resumption uses the ticket the one before it was given. */
	for (i = 0; i < 2; i++) {
		wait_past((int64_t)time(NULL));
		srv = connect_once(f, &ticket, &len);
		assert_string_equal(tls_session_peer_cn(srv), "alice");
		assert_string_equal(tls_session_identity(srv)->serial, serial);
		assert_int_equal(tls_session_identity(srv)->n_groups, 2);
		assert_string_equal(tls_session_identity(srv)->groups[1], "dev");
		assert_int_equal(tls_session_auth_time(srv), auth);
		tls_session_free(srv);
	}
	free(ticket);
}

/* A client certificate from another CA: the agent's handshake ends refused ("unknown_ca", the CN
 * shown kept for the log, no identity), and the client reads the unknown_ca alert as one line
 * that says its certificate was refused and why, not a MAC failure. */
static void test_a_certificate_from_another_ca_is_refused_with_its_alert(void **state)
{
	struct fixture *f = *state;
	struct pki_req req = { .days = 1, .kind = PKI_CLIENT, .name = "mallory" };
	struct tls_config *mallory = NULL;
	struct tls_session *cli = NULL, *srv = NULL;
	char err[512], other[96], path[3][160];
	int c = 1, s = 1, i, n = 0;
	uint8_t byte;

	snprintf(other, sizeof(other), "%s/other", f->dir);
	assert_int_equal(pki_ca_init(other, "other CA", 1, err, sizeof(err)), 0);
	snprintf(path[0], sizeof(path[0]), "%s/mallory", f->dir);
	assert_int_equal(pki_issue(other, &req, path[0], err, sizeof(err)), 0);
	snprintf(path[0], sizeof(path[0]), "%s/ca.pem", f->dir);
	snprintf(path[1], sizeof(path[1]), "%s/mallory.pem", f->dir);
	snprintf(path[2], sizeof(path[2]), "%s/mallory-key.pem", f->dir);
	assert_int_equal(tls_config_new(&mallory, 0, path[0], path[1], path[2], err, sizeof(err)),
			 0);

	assert_int_equal(tls_session_new(&cli, mallory, "agent-1", on_send, &f->to_agent), 0);
	assert_int_equal(tls_session_new(&srv, f->agent, NULL, on_send, &f->to_client), 0);
	for (i = 0; i < 20 && (c == 1 || s == 1); i++) {
		if (c == 1)
			c = tls_session_handshake(cli);
		deliver(&f->to_agent, srv);
		if (s == 1)
			s = tls_session_handshake(srv);
		deliver(&f->to_client, cli);
	}
	assert_int_equal(c, 0); /* TLS 1.3: the client is done before the agent checks it */
	assert_int_equal(s, REXEC_ETLS_VERIFY);
	assert_string_equal(tls_session_refusal(srv), "unknown_ca");
	assert_string_equal(tls_session_shown_cn(srv), "mallory");
	assert_true(strlen(tls_session_shown_serial(srv)) > 0);
	assert_string_equal(tls_session_peer_cn(srv), "");
	for (i = 0; i < 4 && n == 0; i++)
		n = tls_session_read(cli, &byte, 1);
	assert_int_equal(n, REXEC_EDENIED);
	assert_non_null(strstr(tls_session_error(cli),
			       "the agent refused this client's certificate (unknown_ca)"));
	tls_session_free(cli);
	tls_session_free(srv);
	tls_config_free(mallory);
}

/* PATH in F's directory into OUT. */
static void path_in(struct fixture *f, const char *name, char *out, size_t len)
{
	snprintf(out, len, "%s/%s", f->dir, name);
}

/* Writes TEXT to NAME in F's directory. */
static void write_file(struct fixture *f, const char *name, const char *text)
{
	char path[128];
	FILE *fp;

	path_in(f, name, path, sizeof(path));
	assert_non_null(fp = fopen(path, "w"));
	assert_int_equal(fputs(text, fp) >= 0, 1);
	assert_int_equal(fclose(fp), 0);
}

/* The contents of NAME in F's directory (malloc'd). */
static char *read_file(struct fixture *f, const char *name)
{
	char path[128], *buf = calloc(1, 65536);
	FILE *fp;

	path_in(f, name, path, sizeof(path));
	assert_non_null(buf);
	assert_non_null(fp = fopen(path, "r"));
	fread(buf, 1, 65535, fp);
	fclose(fp);
	return buf;
}

/* Reloads F's agent from its own files, CA file NAMED CA. */
static int reload(struct fixture *f, const char *ca_name, const char *key_name, char *err,
		  size_t len)
{
	char ca[128], cert[128], key[128];

	path_in(f, ca_name, ca, sizeof(ca));
	path_in(f, "agent.pem", cert, sizeof(cert));
	path_in(f, key_name, key, sizeof(key));
	return tls_config_reload(f->agent, ca, cert, key, NULL, err, len);
}

/* A handshake that began before a reload finishes on the material it began with (mbedTLS
 * holds a pointer to it), and tickets sealed before the reload still resume after it. */
static void test_a_reload_keeps_live_sessions_and_tickets(void **state)
{
	struct fixture *f = *state;
	struct tls_session *cli = NULL, *srv = NULL;
	uint8_t *ticket = NULL;
	size_t len = 0;
	char err[512];
	int c, s = 1, i;

	tls_session_free(connect_once(f, &ticket, &len));
	assert_int_equal(tls_session_new(&cli, f->client, "agent-1", on_send, &f->to_agent), 0);
	assert_int_equal(tls_session_new(&srv, f->agent, NULL, on_send, &f->to_client), 0);
	assert_int_equal(c = tls_session_handshake(cli), 1);
	deliver(&f->to_agent, srv);
	assert_int_equal(s = tls_session_handshake(srv), 1);
	/* Twice: the first material has no reference left but the session's. */
	assert_int_equal(reload(f, "ca.pem", "agent-key.pem", err, sizeof(err)), 0);
	assert_int_equal(reload(f, "ca.pem", "agent-key.pem", err, sizeof(err)), 0);
	for (i = 0; i < 20 && (c == 1 || s == 1); i++) {
		deliver(&f->to_client, cli);
		if (c == 1)
			c = tls_session_handshake(cli);
		deliver(&f->to_agent, srv);
		if (s == 1)
			s = tls_session_handshake(srv);
	}
	assert_int_equal(c, 0);
	assert_int_equal(s, 0);
	assert_string_equal(tls_session_identity(srv)->cn, "alice");
	tls_session_free(cli);
	tls_session_free(srv);
	f->to_agent.len = f->to_client.len = 0;

	srv = connect_once(f, &ticket, &len);
	assert_true(tls_session_resumed(srv));
	tls_session_free(srv);
	free(ticket);
}

/* A reload that cannot read a file names it (and the line of a bad PEM block) and keeps the
 * old material; a CA file of two CAs (a rollover) is fine. */
static void test_a_failed_reload_keeps_the_old_files(void **state)
{
	struct fixture *f = *state;
	char *ca = read_file(f, "ca.pem"), *text = malloc(2 * 65536), err[512], *at;
	uint8_t *ticket = NULL;
	size_t len = 0, lines = 0;

	assert_non_null(text);
	for (at = ca; *at; at++)
		lines += *at == '\n';
	snprintf(text, 2 * 65536, "%s%s", ca, ca);
	write_file(f, "two.pem", text);
	assert_int_equal(reload(f, "two.pem", "agent-key.pem", err, sizeof(err)), 0);

	snprintf(text, 2 * 65536,
		 "%s-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n"
		 "-----END CERTIFICATE-----\n",
		 ca);
	write_file(f, "bad.pem", text);
	assert_int_equal(reload(f, "bad.pem", "agent-key.pem", err, sizeof(err)), REXEC_EPKI);
	snprintf(text, 64, "bad.pem:%zu: the CERTIFICATE starting here does not parse", lines + 1);
	assert_non_null(strstr(err, text));

	snprintf(text, 2 * 65536, "%s-----BEGIN X509 CRL-----\n", ca);
	write_file(f, "mixed.pem", text);
	assert_int_equal(reload(f, "mixed.pem", "agent-key.pem", err, sizeof(err)), REXEC_EPKI);
	snprintf(text, 64, "mixed.pem:%zu: a 'X509 CRL' block", lines + 1);
	assert_non_null(strstr(err, text));

	/* The client's key is not the agent certificate's. */
	assert_int_equal(reload(f, "ca.pem", "client-key.pem", err, sizeof(err)), REXEC_ETLS);
	assert_non_null(strstr(err, "client-key.pem: not the key of the certificate in "));
	assert_int_equal(reload(f, "ca.pem", "missing-key.pem", err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "missing-key.pem: No such file"));

	tls_session_free(connect_once(f, &ticket, &len));
	free(ticket);
	free(text);
	free(ca);
}

/* tls_format_utc(): dates in UTC whatever TZ says; the seconds when no date fits. */
static void test_format_utc(void **state)
{
	char buf[40], small[10];

	setenv("TZ", "JST-9", 1); /* a zone 9 hours off UTC: localtime() would show 02:02:03 */
	tzset();
	tls_format_utc(1796486400 + 3723, buf, sizeof(buf));
	assert_string_equal(buf, "2026-12-05 17:02:03 UTC");
	tls_format_utc(0, buf, sizeof(buf));
	assert_string_equal(buf, "1970-01-01 00:00:00 UTC");
	tls_format_utc(-1, buf, sizeof(buf));
	assert_string_equal(buf, "1969-12-31 23:59:59 UTC");
	unsetenv("TZ");
	tzset();

	/* Past any year struct tm holds: the number, not an error or garbage. */
	tls_format_utc(INT64_MAX, buf, sizeof(buf));
	assert_string_equal(buf, "9223372036854775807");
	/* Too short for a date: the number, cut to fit. */
	tls_format_utc(1796486400, small, sizeof(small));
	assert_string_equal(small, "179648640");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_utc),
		cmocka_unit_test_setup_teardown(
			test_a_certificate_from_another_ca_is_refused_with_its_alert, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_resumptions_keep_the_first_authentication_time,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_reload_keeps_live_sessions_and_tickets,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_failed_reload_keeps_the_old_files, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
