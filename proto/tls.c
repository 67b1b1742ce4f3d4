/* tls.c: mbedTLS sessions driven by the owner's I/O: ciphertext in by tls_session_feed(),
 * out through a callback, so that one libuv loop can serve many connections. */
#include "proto/tls.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>
#include <psa/crypto.h>

#include "proto/buf.h"
#include "proto/error.h"

struct tls_config {
	int server;
	mbedtls_ssl_config conf;
	mbedtls_x509_crt ca;
	mbedtls_x509_crt cert;
	mbedtls_pk_context key;
	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context drbg;
};

struct tls_session {
	mbedtls_ssl_context ssl;
	tls_send_fn send;
	void *arg;
	struct buf in; /* ciphertext fed in, not yet taken by mbedTLS */
	char peer_cn[256];
	char error[256];
};

static const char *alpn_list[] = { TLS_ALPN, NULL };
/* AES-GCM first: mbedTLS uses AES-NI and PCLMUL where the CPU has them (checked at run time),
 * several times faster than its portable ChaCha20 here. */
static const int suites[] = { MBEDTLS_TLS1_3_AES_128_GCM_SHA256, MBEDTLS_TLS1_3_AES_256_GCM_SHA384,
			      MBEDTLS_TLS1_3_CHACHA20_POLY1305_SHA256, 0 };

static void describe(char *buf, size_t len, const char *what, int ret)
{
	char msg[160];
	mbedtls_strerror(ret, msg, sizeof(msg));
	snprintf(buf, len, "%s: %s", what, msg);
}

int tls_config_new(struct tls_config **out, int server, const char *ca, const char *cert,
		   const char *key, char *err, size_t errlen)
{
	struct tls_config *c = NULL;
	int ret;

	if (psa_crypto_init() != PSA_SUCCESS) {
		snprintf(err, errlen, "PSA crypto initialisation failed");
		return REXEC_ETLS;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	c->server = server;
	mbedtls_ssl_config_init(&c->conf);
	mbedtls_x509_crt_init(&c->ca);
	mbedtls_x509_crt_init(&c->cert);
	mbedtls_pk_init(&c->key);
	mbedtls_entropy_init(&c->entropy);
	mbedtls_ctr_drbg_init(&c->drbg);

	/* mbedTLS says "read/write of file failed": name the file and the reason instead. */
	{
		const char *files[] = { ca, cert, key };
		int i;
		for (i = 0; i < 3; i++) {
			FILE *f = fopen(files[i], "r");
			if (f == NULL) {
				snprintf(err, errlen, "%s: %s", files[i], strerror(errno));
				ret = -errno;
				tls_config_free(c);
				return ret;
			}
			fclose(f);
		}
	}
	ret = mbedtls_ctr_drbg_seed(&c->drbg, mbedtls_entropy_func, &c->entropy,
				    (const unsigned char *)"rexec", 5);
	if (ret != 0) {
		describe(err, errlen, "seeding the random generator", ret);
		goto fail;
	}
	if ((ret = mbedtls_x509_crt_parse_file(&c->ca, ca)) != 0) {
		describe(err, errlen, ca, ret);
		goto fail;
	}
	if ((ret = mbedtls_x509_crt_parse_file(&c->cert, cert)) != 0) {
		describe(err, errlen, cert, ret);
		goto fail;
	}
	ret = mbedtls_pk_parse_keyfile(&c->key, key, NULL, mbedtls_ctr_drbg_random, &c->drbg);
	if (ret != 0) {
		describe(err, errlen, key, ret);
		goto fail;
	}
	ret = mbedtls_ssl_config_defaults(&c->conf,
					  server ? MBEDTLS_SSL_IS_SERVER : MBEDTLS_SSL_IS_CLIENT,
					  MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT);
	if (ret != 0) {
		describe(err, errlen, "TLS configuration", ret);
		goto fail;
	}
	mbedtls_ssl_conf_min_tls_version(&c->conf, MBEDTLS_SSL_VERSION_TLS1_3);
	mbedtls_ssl_conf_max_tls_version(&c->conf, MBEDTLS_SSL_VERSION_TLS1_3);
	mbedtls_ssl_conf_rng(&c->conf, mbedtls_ctr_drbg_random, &c->drbg);
	mbedtls_ssl_conf_ciphersuites(&c->conf, suites);
	mbedtls_ssl_conf_authmode(&c->conf, MBEDTLS_SSL_VERIFY_REQUIRED);
	mbedtls_ssl_conf_ca_chain(&c->conf, &c->ca, NULL);
	if ((ret = mbedtls_ssl_conf_own_cert(&c->conf, &c->cert, &c->key)) != 0) {
		describe(err, errlen, "certificate and key", ret);
		goto fail;
	}
	if ((ret = mbedtls_ssl_conf_alpn_protocols(&c->conf, alpn_list)) != 0) {
		describe(err, errlen, "ALPN", ret);
		goto fail;
	}
	/* rexec reconnects with Resume, not TLS tickets. */
	if (server)
		mbedtls_ssl_conf_new_session_tickets(&c->conf, 0);
	*out = c;
	return 0;
fail:
	tls_config_free(c);
	return REXEC_ETLS;
}

void tls_config_free(struct tls_config *c)
{
	if (c == NULL)
		return;
	mbedtls_ssl_config_free(&c->conf);
	mbedtls_x509_crt_free(&c->ca);
	mbedtls_x509_crt_free(&c->cert);
	mbedtls_pk_free(&c->key);
	mbedtls_ctr_drbg_free(&c->drbg);
	mbedtls_entropy_free(&c->entropy);
	free(c);
}

/* BIO send: everything is accepted and handed to the owner, who queues it. */
static int bio_send(void *ctx, const unsigned char *buf, size_t len)
{
	struct tls_session *s = ctx;
	s->send(s->arg, buf, len);
	return (int)(len > INT32_MAX ? INT32_MAX : len);
}

/* BIO receive: from the ciphertext fed in so far. */
static int bio_recv(void *ctx, unsigned char *buf, size_t len)
{
	struct tls_session *s = ctx;
	size_t avail = buf_size(&s->in);

	if (avail == 0)
		return MBEDTLS_ERR_SSL_WANT_READ;
	if (len > avail)
		len = avail;
	memcpy(buf, buf_peek(&s->in), len);
	buf_consume(&s->in, len);
	return (int)len;
}

int tls_session_new(struct tls_session **out, struct tls_config *cfg, const char *server_name,
		    tls_send_fn send, void *arg)
{
	struct tls_session *s = calloc(1, sizeof(*s));
	int ret;

	if (s == NULL)
		return -ENOMEM;
	mbedtls_ssl_init(&s->ssl);
	s->send = send;
	s->arg = arg;
	if ((ret = mbedtls_ssl_setup(&s->ssl, &cfg->conf)) != 0 ||
	    (server_name != NULL && (ret = mbedtls_ssl_set_hostname(&s->ssl, server_name)) != 0)) {
		mbedtls_ssl_free(&s->ssl);
		free(s);
		return REXEC_ETLS;
	}
	mbedtls_ssl_set_bio(&s->ssl, s, bio_send, bio_recv, NULL);
	*out = s;
	return 0;
}

void tls_session_free(struct tls_session *s)
{
	if (s == NULL)
		return;
	mbedtls_ssl_free(&s->ssl);
	buf_free(&s->in);
	free(s);
}

int tls_session_feed(struct tls_session *s, const uint8_t *p, size_t n)
{
	return buf_append(&s->in, p, n);
}

/* Records the peer certificate's CN once the handshake is done. */
static void note_peer(struct tls_session *s)
{
	const mbedtls_x509_crt *peer = mbedtls_ssl_get_peer_cert(&s->ssl);
	const mbedtls_x509_name *n;

	if (peer == NULL)
		return;
	for (n = &peer->subject; n != NULL; n = n->next) {
		if (MBEDTLS_OID_CMP(MBEDTLS_OID_AT_CN, &n->oid) == 0) {
			size_t len = n->val.len < sizeof(s->peer_cn) - 1 ? n->val.len
									 : sizeof(s->peer_cn) - 1;
			memcpy(s->peer_cn, n->val.p, len);
			s->peer_cn[len] = 0;
			return;
		}
	}
}

int tls_session_handshake(struct tls_session *s)
{
	int ret = mbedtls_ssl_handshake(&s->ssl);
	uint32_t flags;

	if (ret == 0) {
		note_peer(s);
		return 0;
	}
	if (ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE)
		return 1;
	if (ret == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED) {
		char info[200];
		flags = mbedtls_ssl_get_verify_result(&s->ssl);
		mbedtls_x509_crt_verify_info(info, sizeof(info), "", flags);
		info[strcspn(info, "\n")] = 0;
		snprintf(s->error, sizeof(s->error), "certificate verification failed: %s", info);
		return REXEC_ETLS_VERIFY;
	}
	describe(s->error, sizeof(s->error), "TLS handshake", ret);
	return REXEC_ETLS;
}

int tls_session_read(struct tls_session *s, uint8_t *buf, size_t len)
{
	for (;;) {
		int ret = mbedtls_ssl_read(&s->ssl, buf, len);
		if (ret > 0)
			return ret;
		if (ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE)
			return 0;
		if (ret == MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET)
			continue;
		if (ret == 0 || ret == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) {
			snprintf(s->error, sizeof(s->error), "peer closed the connection");
			return REXEC_ECLOSED;
		}
		describe(s->error, sizeof(s->error), "TLS read", ret);
		return REXEC_ETLS;
	}
}

int tls_session_write(struct tls_session *s, const uint8_t *p, size_t n)
{
	while (n > 0) {
		int ret = mbedtls_ssl_write(&s->ssl, p, n);
		if (ret < 0) {
			describe(s->error, sizeof(s->error), "TLS write", ret);
			return REXEC_ETLS;
		}
		p += ret;
		n -= (size_t)ret;
	}
	return 0;
}

void tls_session_close_notify(struct tls_session *s)
{
	mbedtls_ssl_close_notify(&s->ssl);
}

const char *tls_session_peer_cn(const struct tls_session *s)
{
	return s->peer_cn;
}

const char *tls_session_error(const struct tls_session *s)
{
	return s->error;
}
