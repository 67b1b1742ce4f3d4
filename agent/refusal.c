/* refusal.c: rate-limited log and audit records of connections refused before authentication:
 * a fixed window per address, a global cap, and summaries of what was left out. */
#include "agent/refusal.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "proto/log.h"

void refusal_host(const char *from, char *host, size_t len)
{
	const char *end;
	size_t n;

	if (from[0] == '[' && (end = strchr(from, ']')) != NULL) {
		from++;
	} else if ((end = strrchr(from, ':')) == NULL) {
		end = from + strlen(from);
	}
	n = (size_t)(end - from) < len - 1 ? (size_t)(end - from) : len - 1;
	memcpy(host, from, n);
	host[n] = 0;
}

/* One summary line and record: N refusals from FROM were left out. */
static void summary(struct refusal_log *r, const char *from, uint64_t n)
{
	log_warn("%s: %" PRIu64 " more refused connection(s) in the last %us not logged", from, n,
		 REFUSAL_WINDOW_MS / 1000);
	audit_conn_left_out(r->audit, from, n, REFUSAL_WINDOW_MS / 1000);
}

/* Ends the windows that are over at NOW: their summaries, and free slots. */
static void sweep(struct refusal_log *r, uint64_t now)
{
	size_t i;

	for (i = 0; i < REFUSAL_SLOTS; i++) {
		struct refusal_slot *s = &r->slots[i];
		if (s->host[0] == 0 || now - s->since < REFUSAL_WINDOW_MS)
			continue;
		if (s->left_out > 0)
			summary(r, s->host, s->left_out);
		memset(s, 0, sizeof(*s));
	}
	if (now - r->since >= REFUSAL_WINDOW_MS) {
		if (r->others_left_out > 0)
			summary(r, "other addresses", r->others_left_out);
		r->others_left_out = 0;
		r->logged = 0;
		r->since = now;
	}
}

static void on_timer(uv_timer_t *t)
{
	sweep(t->data, uv_now(t->loop));
}

void refusal_log_init(struct refusal_log *r, uv_loop_t *loop, struct audit *au)
{
	memset(r, 0, sizeof(*r));
	r->audit = au;
	r->since = uv_now(loop);
	uv_timer_init(loop, &r->timer);
	r->timer.data = r;
	uv_timer_start(&r->timer, on_timer, REFUSAL_WINDOW_MS, REFUSAL_WINDOW_MS);
	uv_unref((uv_handle_t *)&r->timer);
}

/* HOST's slot: its own, else a free one, else the one whose window started first (its count
 * goes to "other addresses"). */
static struct refusal_slot *slot_for(struct refusal_log *r, const char *host, uint64_t now)
{
	struct refusal_slot *free_slot = NULL, *oldest = NULL, *s;
	size_t i;

	for (i = 0; i < REFUSAL_SLOTS; i++) {
		s = &r->slots[i];
		if (strcmp(s->host, host) == 0 && s->host[0] != 0)
			return s;
		if (s->host[0] == 0 && free_slot == NULL)
			free_slot = s;
		if (s->host[0] != 0 && (oldest == NULL || s->since < oldest->since))
			oldest = s;
	}
	if ((s = free_slot) == NULL) {
		s = oldest;
		r->others_left_out += s->left_out;
	}
	memset(s, 0, sizeof(*s));
	snprintf(s->host, sizeof(s->host), "%s", host);
	s->since = now;
	return s;
}

void refusal_log_note(struct refusal_log *r, const struct audit_conn_refusal *w)
{
	uint64_t now = uv_now(r->timer.loop);
	struct refusal_slot *s;
	char host[48];

	sweep(r, now);
	refusal_host(w->from, host, sizeof(host));
	s = slot_for(r, host, now);
	if (s->logged >= REFUSAL_BURST || r->logged >= REFUSAL_GLOBAL) {
		s->left_out++;
		return;
	}
	s->logged++;
	r->logged++;
	if (w->who != NULL && w->who[0])
		log_warn("%s: %s refused (%s; certificate CN \"%s\", serial %s): %s", w->from,
			 w->stage, w->reason, w->who, w->serial ? w->serial : "?", w->error);
	else
		log_warn("%s: %s refused (%s): %s", w->from, w->stage, w->reason, w->error);
	audit_conn_refused(r->audit, w);
}
