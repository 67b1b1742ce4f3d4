/* certwatch.c: TLS material reloads, CRL freshness, and the end of connections and sessions
 * whose client certificate is revoked or expired (certwatch.h). */
#include "agent/certwatch.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/audit.h"
#include "agent/session.h"
#include "proto/error.h"
#include "proto/log.h"
#include "proto/tls.h"

#define DAY        (24 * 3600)   /* seconds: a CRL this close to its nextUpdate is warned of */
#define RECHECK_MS (3600 * 1000) /* the longest a timer sleeps: wall-clock jumps are caught */

/* How much of a CRL's coming end has been told. */
enum crl_told { CRL_TOLD_NOTHING, CRL_TOLD_SOON, CRL_TOLD_EXPIRED };

struct certwatch {
	struct agent *agent;
	char *ca, *cert, *key, *crl; /* the files, read again on SIGHUP (crl NULL: none) */
	uv_timer_t crl_timer;        /* the next CRL to warn of, or to go out of date */
	uv_timer_t expiry_timer;     /* the next client certificate of a connection to expire */
	int64_t expiry_at;           /* when expiry_timer fires (seconds since the epoch; 0: off) */
	enum crl_told *told;         /* per CRL in force, in tls_config_crls() order */
	size_t n_told;
};

/* Milliseconds from NOW until AT (seconds), at least 0 and at most RECHECK_MS. */
static uint64_t delay_ms(int64_t at, int64_t now)
{
	if (at <= now)
		return 0;
	if (at - now > RECHECK_MS / 1000)
		return RECHECK_MS;
	return (uint64_t)(at - now) * 1000;
}

static void on_crl_timer(uv_timer_t *t);

/* Logs what has not been told yet of each CRL in force: an error once it is past its
 * nextUpdate (its CA's clients are refused: tls.h), a warning once it is within a day of it;
 * then times the next of these. */
static void crl_check_times(struct certwatch *w)
{
	struct tls_crl_info *crls = NULL;
	size_t n = tls_config_crls(w->agent->tls, NULL, 0), i;
	int64_t now = (int64_t)time(NULL), next = 0, at;
	char when[40];

	uv_timer_stop(&w->crl_timer);
	if (n == 0)
		return;
	if ((crls = calloc(n, sizeof(*crls))) == NULL) {
		log_error("CRL check: out of memory");
		return;
	}
	tls_config_crls(w->agent->tls, crls, n);
	for (i = 0; i < n && i < w->n_told; i++) {
		tls_format_utc(crls[i].next_update, when, sizeof(when));
		if (crls[i].next_update <= now && w->told[i] < CRL_TOLD_EXPIRED) {
			log_error(
				"CRL %s of CA '%s' expired at %s: every certificate of that CA is "
				"refused until a fresh CRL is installed (`rexec ca crl`) and the "
				"agent reloaded (SIGHUP)",
				w->crl, crls[i].issuer, when);
			w->told[i] = CRL_TOLD_EXPIRED;
		} else if (crls[i].next_update - DAY <= now && w->told[i] < CRL_TOLD_SOON) {
			log_warn("CRL %s of CA '%s' goes out of date at %s, in less than a day: "
				 "install a fresh one (`rexec ca crl`) and reload the agent "
				 "(SIGHUP), "
				 "or every certificate of that CA will be refused then",
				 w->crl, crls[i].issuer, when);
			w->told[i] = CRL_TOLD_SOON;
		}
		at = w->told[i] == CRL_TOLD_NOTHING ? crls[i].next_update - DAY
		     : w->told[i] == CRL_TOLD_SOON  ? crls[i].next_update
						    : 0;
		if (at != 0 && (next == 0 || at < next))
			next = at;
	}
	free(crls);
	if (next != 0)
		uv_timer_start(&w->crl_timer, on_crl_timer, delay_ms(next, now), 0);
}

static void on_crl_timer(uv_timer_t *t)
{
	crl_check_times(t->data);
}

/* A new set of CRLs is in force: nothing of it told yet. */
static int crl_loaded(struct certwatch *w)
{
	size_t n = tls_config_crls(w->agent->tls, NULL, 0);
	enum crl_told *told = n > 0 ? calloc(n, sizeof(*told)) : NULL;

	if (n > 0 && told == NULL)
		return -ENOMEM;
	free(w->told);
	w->told = told;
	w->n_told = n;
	crl_check_times(w);
	return 0;
}

/* Ends connection C, whose client certificate is revoked or expired (WHY), with an Error that
 * tells the client, a log line and an audit record. */
static void end_conn(struct agent *a, struct conn *c, int err, const char *why)
{
	const struct tls_identity *id = conn_peer_identity(c);

	log_warn("%s: %s (certificate serial %s): %s: closing the connection", conn_peer_addr(c),
		 id->cn, id->serial[0] ? id->serial : "?", why);
	audit_disconnected(a->audit, id, conn_peer_addr(c), why);
	conn_send_error(c, 0, REXEC__V1__ERROR_CODE__ERROR_DENIED, "%s", why);
	conn_close(c, err, why);
}

/* session_end_owned()'s test: a certificate the CRL in force revokes. */
static int is_revoked(const struct tls_identity *who, void *arg)
{
	struct agent *a = arg;

	return tls_config_check_peer(a->tls, who, (int64_t)time(NULL), NULL, 0) < 0;
}

/* Ends every session and connection of a certificate that the CRL in force revokes. */
static void end_revoked(struct agent *a)
{
	char why[300], reason[360];
	size_t i;

	session_end_owned(a, is_revoked, a, "the client's certificate was revoked");
	for (i = 0; i < a->n_conns; i++) {
		const struct tls_identity *id = conn_peer_identity(a->conns[i]);
		if (tls_config_check_peer(a->tls, id, (int64_t)time(NULL), why, sizeof(why)) < 0) {
			snprintf(reason, sizeof(reason), "certificate revoked: %s", why);
			end_conn(a, a->conns[i], REXEC_ETLS_REVOKED, reason);
		}
	}
}

/* session_end_owned()'s test: a certificate past its notAfter. */
static int is_expired(const struct tls_identity *who, void *arg)
{
	return who->cn[0] != 0 && who->not_after <= *(const int64_t *)arg;
}

static void on_expiry_timer(uv_timer_t *t);

/* Ends what runs on a certificate that has expired, then times the next expiry among the
 * connections. sshd looks at a certificate's validity only when a user logs in, so a session
 * (or a ControlMaster) outlives it; here a connection ends with it, so that a short-lived
 * certificate bounds what its holder can keep open. One timer for the earliest notAfter, as
 * libuv's own timers are one heap: no timer per connection. */
static void check_expiry(struct certwatch *w)
{
	struct agent *a = w->agent;
	int64_t now = (int64_t)time(NULL), next = 0;
	char when[40], why[120];
	size_t i;

	uv_timer_stop(&w->expiry_timer);
	w->expiry_at = 0;
	session_end_owned(a, is_expired, &now, "the client's certificate expired");
	for (i = 0; i < a->n_conns; i++) {
		const struct tls_identity *id = conn_peer_identity(a->conns[i]);
		if (id->cn[0] == 0)
			continue;
		if (id->not_after <= now) {
			tls_format_utc(id->not_after, when, sizeof(when));
			snprintf(why, sizeof(why), "the client certificate expired at %s", when);
			end_conn(a, a->conns[i], REXEC_ETLS_VERIFY, why);
		} else if (next == 0 || id->not_after < next) {
			next = id->not_after;
		}
	}
	if (next != 0) {
		w->expiry_at = next;
		uv_timer_start(&w->expiry_timer, on_expiry_timer, delay_ms(next, now), 0);
	}
}

static void on_expiry_timer(uv_timer_t *t)
{
	check_expiry(t->data);
}

void certwatch_conn_ready(struct agent *a, struct conn *c)
{
	struct certwatch *w = a->certwatch;
	const struct tls_identity *id = conn_peer_identity(c);
	char why[300], reason[360];

	if (w == NULL || id->cn[0] == 0)
		return;
	/* Its handshake may have begun on material a reload has replaced since. */
	if (tls_config_check_peer(a->tls, id, (int64_t)time(NULL), why, sizeof(why)) < 0) {
		snprintf(reason, sizeof(reason), "certificate revoked: %s", why);
		end_conn(a, c, REXEC_ETLS_REVOKED, reason);
		return;
	}
	if (w->expiry_at == 0 || id->not_after < w->expiry_at) {
		w->expiry_at = id->not_after;
		uv_timer_start(&w->expiry_timer, on_expiry_timer,
			       delay_ms(id->not_after, (int64_t)time(NULL)), 0);
	}
}

void agent_reload_tls(struct agent *a)
{
	struct certwatch *w = a->certwatch;
	char err[512];
	int ret;

	if (w == NULL)
		return;
	ret = tls_config_reload(a->tls, w->ca, w->cert, w->key, w->crl, err, sizeof(err));
	if (ret < 0) {
		log_error("SIGHUP: TLS files not reloaded, the old ones stay in force: %s", err);
		return;
	}
	log_info("SIGHUP: TLS files reloaded: CA %s, certificate %s, key %s, %s%s", w->ca, w->cert,
		 w->key, w->crl ? "CRL " : "no CRL", w->crl ? w->crl : "");
	if (crl_loaded(w) < 0)
		log_error("SIGHUP: out of memory checking the CRL's dates");
	end_revoked(a);
}

/* Copies S into *DST (NULL stays NULL). */
static int copy(char **dst, const char *s)
{
	*dst = NULL;
	return s != NULL && (*dst = strdup(s)) == NULL ? -ENOMEM : 0;
}

int certwatch_new(struct certwatch **out, struct agent *a, const char *ca, const char *cert,
		  const char *key, const char *crl, char *err, size_t errlen)
{
	struct certwatch *w = calloc(1, sizeof(*w));
	int ret;

	if (w == NULL || copy(&w->ca, ca) < 0 || copy(&w->cert, cert) < 0 ||
	    copy(&w->key, key) < 0 || copy(&w->crl, crl) < 0) {
		snprintf(err, errlen, "out of memory");
		certwatch_free(w);
		return -ENOMEM;
	}
	w->agent = a;
	if (crl != NULL && (ret = tls_config_reload(a->tls, ca, cert, key, crl, err, errlen)) < 0) {
		certwatch_free(w);
		return ret;
	}
	uv_timer_init(a->loop, &w->crl_timer);
	uv_timer_init(a->loop, &w->expiry_timer);
	w->crl_timer.data = w->expiry_timer.data = w;
	*out = w; /* its timers are the loop's now: freed by the caller at exit, even on failure */
	if (crl_loaded(w) < 0) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

void certwatch_free(struct certwatch *w)
{
	if (w == NULL)
		return;
	free(w->ca);
	free(w->cert);
	free(w->key);
	free(w->crl);
	free(w->told);
	free(w);
}
