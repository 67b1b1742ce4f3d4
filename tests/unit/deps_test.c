/* deps_test.c: each third-party library is linked in and does real work: a libuv timer and
 * pipe round trip, a mutually authenticated TLS 1.3 handshake with fresh keys, a rexec.proto
 * round trip, an Ed25519 key from libssh, and a sample through each parser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <cJSON.h>
#include <http_parser.h>
#include <libssh/libssh.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>
#include <psa/crypto.h>
#include <uv.h>
#include <yaml.h>

#include "rexec.pb-c.h"

/* ---- libuv ---- */

struct uv_state {
	uv_pipe_t rd, wr;
	uv_timer_t timer;
	uv_write_t wreq;
	char got[16];
	size_t ngot;
	int timer_fired;
};

static void on_timer(uv_timer_t *t)
{
	struct uv_state *s = t->data;
	s->timer_fired = 1;
	uv_close((uv_handle_t *)t, NULL);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct uv_state *s = h->data;
	*buf = uv_buf_init(s->got + s->ngot, (unsigned int)(sizeof(s->got) - s->ngot));
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
	struct uv_state *s = st->data;
	if (n > 0)
		s->ngot += (size_t)n;
	if (n < 0 || s->ngot >= 4) {
		uv_close((uv_handle_t *)&s->rd, NULL);
		uv_close((uv_handle_t *)&s->wr, NULL);
	}
}

static void test_libuv_timer_and_pipe(void **unused)
{
	struct uv_state s;
	uv_loop_t loop;
	uv_file fds[2];
	uv_buf_t msg = uv_buf_init("ping", 4);

	memset(&s, 0, sizeof(s));
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(uv_pipe(fds, 0, 0), 0);
	assert_int_equal(uv_pipe_init(&loop, &s.rd, 0), 0);
	assert_int_equal(uv_pipe_init(&loop, &s.wr, 0), 0);
	assert_int_equal(uv_pipe_open(&s.rd, fds[0]), 0);
	assert_int_equal(uv_pipe_open(&s.wr, fds[1]), 0);
	s.rd.data = s.wr.data = s.timer.data = &s;
	assert_int_equal(uv_timer_init(&loop, &s.timer), 0);
	assert_int_equal(uv_timer_start(&s.timer, on_timer, 5, 0), 0);
	assert_int_equal(uv_read_start((uv_stream_t *)&s.rd, on_alloc, on_read), 0);
	assert_int_equal(uv_write(&s.wreq, (uv_stream_t *)&s.wr, &msg, 1, NULL), 0);
	assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
	assert_true(s.timer_fired);
	assert_int_equal(s.ngot, 4);
	assert_memory_equal(s.got, "ping", 4);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* ---- mbedTLS ---- */

/* One direction of an in-memory transport between the two TLS contexts. */
struct pipe_buf {
	unsigned char data[65536];
	size_t len;
};

struct tls_end {
	struct pipe_buf *in, *out;
};

static int mem_send(void *ctx, const unsigned char *buf, size_t len)
{
	struct tls_end *e = ctx;
	size_t room = sizeof(e->out->data) - e->out->len;
	if (room == 0)
		return MBEDTLS_ERR_SSL_WANT_WRITE;
	if (len > room)
		len = room;
	memcpy(e->out->data + e->out->len, buf, len);
	e->out->len += len;
	return (int)len;
}

static int mem_recv(void *ctx, unsigned char *buf, size_t len)
{
	struct tls_end *e = ctx;
	if (e->in->len == 0)
		return MBEDTLS_ERR_SSL_WANT_READ;
	if (len > e->in->len)
		len = e->in->len;
	memcpy(buf, e->in->data, len);
	memmove(e->in->data, e->in->data + len, e->in->len - len);
	e->in->len -= len;
	return (int)len;
}

/* A fresh P-256 key and a certificate for CN=NAME, signed by ISSUER_KEY (self-signed when it
 * is KEY itself). */
static void make_cert(mbedtls_ctr_drbg_context *drbg, mbedtls_pk_context *key, const char *name,
		      mbedtls_pk_context *issuer_key, const char *issuer, int is_ca,
		      mbedtls_x509_crt *crt)
{
	mbedtls_x509write_cert w;
	unsigned char pem[4096];
	unsigned char serial[] = { 0x01, 0x23, 0x45 };

	if (mbedtls_pk_get_type(key) == MBEDTLS_PK_NONE) {
		assert_int_equal(mbedtls_pk_setup(key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)),
				 0);
		assert_int_equal(mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(*key),
						     mbedtls_ctr_drbg_random, drbg),
				 0);
	}
	mbedtls_x509write_crt_init(&w);
	mbedtls_x509write_crt_set_version(&w, MBEDTLS_X509_CRT_VERSION_3);
	mbedtls_x509write_crt_set_md_alg(&w, MBEDTLS_MD_SHA256);
	mbedtls_x509write_crt_set_subject_key(&w, key);
	mbedtls_x509write_crt_set_issuer_key(&w, issuer_key);
	assert_int_equal(mbedtls_x509write_crt_set_subject_name(&w, name), 0);
	assert_int_equal(mbedtls_x509write_crt_set_issuer_name(&w, issuer), 0);
	assert_int_equal(mbedtls_x509write_crt_set_serial_raw(&w, serial, sizeof(serial)), 0);
	assert_int_equal(mbedtls_x509write_crt_set_validity(&w, "20250101000000", "20450101000000"),
			 0);
	assert_int_equal(mbedtls_x509write_crt_set_basic_constraints(&w, is_ca, -1), 0);
	assert_int_equal(
		mbedtls_x509write_crt_pem(&w, pem, sizeof(pem), mbedtls_ctr_drbg_random, drbg), 0);
	assert_int_equal(mbedtls_x509_crt_parse(crt, pem, strlen((char *)pem) + 1), 0);
	mbedtls_x509write_crt_free(&w);
}

static void tls_conf(mbedtls_ssl_config *conf, int endpoint, mbedtls_ctr_drbg_context *drbg,
		     mbedtls_x509_crt *ca, mbedtls_x509_crt *own, mbedtls_pk_context *key)
{
	static const char *alpn[] = { "rexec/1", NULL };

	assert_int_equal(mbedtls_ssl_config_defaults(conf, endpoint, MBEDTLS_SSL_TRANSPORT_STREAM,
						     MBEDTLS_SSL_PRESET_DEFAULT),
			 0);
	mbedtls_ssl_conf_min_tls_version(conf, MBEDTLS_SSL_VERSION_TLS1_3);
	mbedtls_ssl_conf_max_tls_version(conf, MBEDTLS_SSL_VERSION_TLS1_3);
	mbedtls_ssl_conf_rng(conf, mbedtls_ctr_drbg_random, drbg);
	mbedtls_ssl_conf_authmode(conf, MBEDTLS_SSL_VERIFY_REQUIRED);
	mbedtls_ssl_conf_ca_chain(conf, ca, NULL);
	assert_int_equal(mbedtls_ssl_conf_own_cert(conf, own, key), 0);
	assert_int_equal(mbedtls_ssl_conf_alpn_protocols(conf, alpn), 0);
}

static void test_mbedtls_tls13_mutual_handshake(void **unused)
{
	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context drbg;
	mbedtls_pk_context ca_key, srv_key, cli_key;
	mbedtls_x509_crt ca, srv_crt, cli_crt;
	mbedtls_ssl_config srv_conf, cli_conf;
	mbedtls_ssl_context srv, cli;
	static struct pipe_buf c2s, s2c;
	struct tls_end srv_end = { &c2s, &s2c }, cli_end = { &s2c, &c2s };
	int srv_done = 0, cli_done = 0, rounds, ret;
	unsigned char buf[16];

	assert_int_equal(psa_crypto_init(), PSA_SUCCESS);
	mbedtls_entropy_init(&entropy);
	mbedtls_ctr_drbg_init(&drbg);
	assert_int_equal(mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy,
					       (const unsigned char *)"deps_test", 9),
			 0);
	mbedtls_pk_init(&ca_key);
	mbedtls_pk_init(&srv_key);
	mbedtls_pk_init(&cli_key);
	mbedtls_x509_crt_init(&ca);
	mbedtls_x509_crt_init(&srv_crt);
	mbedtls_x509_crt_init(&cli_crt);
	make_cert(&drbg, &ca_key, "CN=test ca", &ca_key, "CN=test ca", 1, &ca);
	make_cert(&drbg, &srv_key, "CN=agent.test", &ca_key, "CN=test ca", 0, &srv_crt);
	make_cert(&drbg, &cli_key, "CN=alice", &ca_key, "CN=test ca", 0, &cli_crt);

	mbedtls_ssl_config_init(&srv_conf);
	mbedtls_ssl_config_init(&cli_conf);
	tls_conf(&srv_conf, MBEDTLS_SSL_IS_SERVER, &drbg, &ca, &srv_crt, &srv_key);
	tls_conf(&cli_conf, MBEDTLS_SSL_IS_CLIENT, &drbg, &ca, &cli_crt, &cli_key);
	mbedtls_ssl_init(&srv);
	mbedtls_ssl_init(&cli);
	assert_int_equal(mbedtls_ssl_setup(&srv, &srv_conf), 0);
	assert_int_equal(mbedtls_ssl_setup(&cli, &cli_conf), 0);
	assert_int_equal(mbedtls_ssl_set_hostname(&cli, "agent.test"), 0);
	mbedtls_ssl_set_bio(&srv, &srv_end, mem_send, mem_recv, NULL);
	mbedtls_ssl_set_bio(&cli, &cli_end, mem_send, mem_recv, NULL);

	for (rounds = 0; rounds < 200 && !(srv_done && cli_done); rounds++) {
		if (!cli_done) {
			ret = mbedtls_ssl_handshake(&cli);
			if (ret == 0)
				cli_done = 1;
			else
				assert_true(ret == MBEDTLS_ERR_SSL_WANT_READ ||
					    ret == MBEDTLS_ERR_SSL_WANT_WRITE);
		}
		if (!srv_done) {
			ret = mbedtls_ssl_handshake(&srv);
			if (ret == 0)
				srv_done = 1;
			else
				assert_true(ret == MBEDTLS_ERR_SSL_WANT_READ ||
					    ret == MBEDTLS_ERR_SSL_WANT_WRITE);
		}
	}
	assert_true(cli_done && srv_done);
	assert_int_equal(mbedtls_ssl_get_version_number(&cli), MBEDTLS_SSL_VERSION_TLS1_3);
	assert_string_equal(mbedtls_ssl_get_alpn_protocol(&cli), "rexec/1");
	assert_string_equal(mbedtls_ssl_get_alpn_protocol(&srv), "rexec/1");
	/* The server saw the client's certificate (mutual authentication). */
	assert_non_null(mbedtls_ssl_get_peer_cert(&srv));
	assert_int_equal(mbedtls_ssl_get_verify_result(&srv), 0);

	assert_int_equal(mbedtls_ssl_write(&cli, (const unsigned char *)"hello", 5), 5);
	do {
		ret = mbedtls_ssl_read(&srv, buf, sizeof(buf));
	} while (ret == MBEDTLS_ERR_SSL_WANT_READ && c2s.len > 0);
	assert_int_equal(ret, 5);
	assert_memory_equal(buf, "hello", 5);

	mbedtls_ssl_free(&srv);
	mbedtls_ssl_free(&cli);
	mbedtls_ssl_config_free(&srv_conf);
	mbedtls_ssl_config_free(&cli_conf);
	mbedtls_x509_crt_free(&ca);
	mbedtls_x509_crt_free(&srv_crt);
	mbedtls_x509_crt_free(&cli_crt);
	mbedtls_pk_free(&ca_key);
	mbedtls_pk_free(&srv_key);
	mbedtls_pk_free(&cli_key);
	mbedtls_ctr_drbg_free(&drbg);
	mbedtls_entropy_free(&entropy);
}

/* ---- protobuf-c ---- */

static void test_protobuf_c_roundtrip(void **unused)
{
	Rexec__V1__Frame f = REXEC__V1__FRAME__INIT, *back;
	Rexec__V1__Open open = REXEC__V1__OPEN__INIT;
	Rexec__V1__WinSize size = REXEC__V1__WIN_SIZE__INIT;
	ProtobufCBinaryData argv[2] = { { 2, (uint8_t *)"sh" }, { 2, (uint8_t *)"-c" } };
	uint8_t buf[256];
	size_t n;

	size.rows = 40;
	size.cols = 120;
	open.kind = REXEC__V1__KIND__KIND_EXEC;
	open.n_argv = 2;
	open.argv = argv;
	open.tty = 1;
	open.size = &size;
	f.stream = 3;
	f.msg_case = REXEC__V1__FRAME__MSG_OPEN;
	f.open = &open;

	n = rexec__v1__frame__get_packed_size(&f);
	assert_true(n < sizeof(buf));
	assert_int_equal(rexec__v1__frame__pack(&f, buf), n);
	back = rexec__v1__frame__unpack(NULL, n, buf);
	assert_non_null(back);
	assert_int_equal(back->stream, 3);
	assert_int_equal(back->msg_case, REXEC__V1__FRAME__MSG_OPEN);
	assert_int_equal(back->open->kind, REXEC__V1__KIND__KIND_EXEC);
	assert_int_equal(back->open->n_argv, 2);
	assert_memory_equal(back->open->argv[1].data, "-c", 2);
	assert_int_equal(back->open->size->cols, 120);
	rexec__v1__frame__free_unpacked(back, NULL);

	/* Garbage is refused, not crashed on. */
	assert_null(rexec__v1__frame__unpack(NULL, 3, (const uint8_t *)"\xff\xff\xff"));
}

/* ---- libssh ---- */

static void test_libssh_ed25519(void **unused)
{
	ssh_key key = NULL, pub = NULL;
	char *b64 = NULL;

	assert_int_equal(ssh_init(), SSH_OK);
	assert_int_equal(ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &key), SSH_OK);
	assert_int_equal(ssh_key_type(key), SSH_KEYTYPE_ED25519);
	assert_true(ssh_key_is_private(key));
	assert_int_equal(ssh_pki_export_privkey_to_pubkey(key, &pub), SSH_OK);
	assert_int_equal(ssh_pki_export_pubkey_base64(pub, &b64), SSH_OK);
	/* An Ed25519 public key blob: 51 bytes, 68 base64 characters. */
	assert_int_equal(strlen(b64), 68);
	ssh_string_free_char(b64);
	ssh_key_free(pub);
	ssh_key_free(key);
	assert_int_equal(ssh_finalize(), SSH_OK);
}

/* ---- parsers ---- */

static void test_cjson_parse(void **unused)
{
	cJSON *doc = cJSON_Parse("{\"Id\":\"abc\",\"ExitCode\":7,\"Running\":false,"
				 "\"Labels\":{\"com.docker.compose.service\":\"web\"}}");
	assert_non_null(doc);
	assert_string_equal(cJSON_GetObjectItem(doc, "Id")->valuestring, "abc");
	assert_int_equal(cJSON_GetObjectItem(doc, "ExitCode")->valueint, 7);
	assert_true(cJSON_IsFalse(cJSON_GetObjectItem(doc, "Running")));
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "Labels"),
						"com.docker.compose.service")
				    ->valuestring,
			    "web");
	cJSON_Delete(doc);
	assert_null(cJSON_Parse("{\"unterminated\": "));
}

struct http_seen {
	int status_complete, headers_complete, message_complete;
	char body[32];
	size_t body_len;
};

static int on_headers_complete(http_parser *p)
{
	((struct http_seen *)p->data)->headers_complete = 1;
	return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
	struct http_seen *s = p->data;
	if (s->body_len + len > sizeof(s->body))
		return 1;
	memcpy(s->body + s->body_len, at, len);
	s->body_len += len;
	return 0;
}

static int on_message_complete(http_parser *p)
{
	((struct http_seen *)p->data)->message_complete = 1;
	return 0;
}

static void test_http_parser_chunked_response(void **unused)
{
	static const char resp[] = "HTTP/1.1 200 OK\r\n"
				   "Content-Type: application/json\r\n"
				   "Transfer-Encoding: chunked\r\n\r\n"
				   "4\r\n[1,2\r\n"
				   "2\r\n,3\r\n"
				   "1\r\n]\r\n"
				   "0\r\n\r\n";
	http_parser p;
	http_parser_settings cb;
	struct http_seen seen;

	memset(&seen, 0, sizeof(seen));
	http_parser_settings_init(&cb);
	cb.on_headers_complete = on_headers_complete;
	cb.on_body = on_body;
	cb.on_message_complete = on_message_complete;
	http_parser_init(&p, HTTP_RESPONSE);
	p.data = &seen;
	assert_int_equal(http_parser_execute(&p, &cb, resp, sizeof(resp) - 1), sizeof(resp) - 1);
	assert_int_equal(HTTP_PARSER_ERRNO(&p), HPE_OK);
	assert_int_equal(p.status_code, 200);
	assert_true(seen.headers_complete && seen.message_complete);
	assert_int_equal(seen.body_len, 7);
	assert_memory_equal(seen.body, "[1,2,3]", 7);
}

static void test_libyaml_parse(void **unused)
{
	static const char doc[] =
		"hosts:\n  web-1: { address: 127.0.0.11:7600, groups: [prod, eu] }\n";
	yaml_parser_t parser;
	yaml_event_t ev;
	int scalars = 0, done = 0, found_address = 0, prev_was_address = 0;

	assert_true(yaml_parser_initialize(&parser));
	yaml_parser_set_input_string(&parser, (const unsigned char *)doc, sizeof(doc) - 1);
	while (!done) {
		assert_true(yaml_parser_parse(&parser, &ev));
		if (ev.type == YAML_SCALAR_EVENT) {
			const char *v = (const char *)ev.data.scalar.value;
			scalars++;
			if (prev_was_address && strcmp(v, "127.0.0.11:7600") == 0)
				found_address = 1;
			prev_was_address = strcmp(v, "address") == 0;
		}
		done = ev.type == YAML_STREAM_END_EVENT;
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	assert_int_equal(scalars, 7); /* hosts web-1 address VALUE groups prod eu */
	assert_true(found_address);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_libuv_timer_and_pipe),
		cmocka_unit_test(test_mbedtls_tls13_mutual_handshake),
		cmocka_unit_test(test_protobuf_c_roundtrip),
		cmocka_unit_test(test_libssh_ed25519),
		cmocka_unit_test(test_cjson_parse),
		cmocka_unit_test(test_http_parser_chunked_response),
		cmocka_unit_test(test_libyaml_parse),
	};
	return cmocka_run_group_tests_name("deps", tests, NULL, NULL);
}
