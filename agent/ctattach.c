/* ctattach.c: `attach`, the stdio of a container's main process (see container.h), through
 * the engine's attach API with its detach keys. Part of container.c's module (ct_int.h). */
#include "agent/ct_int.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* KEYS in docker's form ("ctrl-p,ctrl-q", "a,ctrl-@") into CT's detach keys, as moby/term's
 * ToBytes reads them. Returns 0, or -1 (nothing set) when a key is not one. */
static int parse_detach_keys(struct ct *ct, const char *keys)
{
	uint8_t k[CT_DETACH_MAX];
	size_t n = 0;
	const char *p = keys, *end;

	for (; *p; p = *end ? end + 1 : end) {
		size_t len;
		end = strchr(p, ',');
		if (end == NULL)
			end = p + strlen(p);
		len = (size_t)(end - p);
		if (n == sizeof(k))
			return -1;
		if (len == 1 && (unsigned char)p[0] >= 0x20 && (unsigned char)p[0] < 0x7f)
			k[n++] = (uint8_t)p[0];
		else if (len == 6 && strncmp(p, "ctrl-", 5) == 0 && p[5] >= 'a' && p[5] <= 'z')
			k[n++] = (uint8_t)(p[5] - 'a' + 1);
		else if (len == 6 && strncmp(p, "ctrl-", 5) == 0 && strchr("@[\\]^_", p[5]))
			k[n++] = (uint8_t)(p[5] == '@' ? 0 : p[5] - '[' + 27);
		else
			return -1;
	}
	if (n == 0)
		return -1;
	memcpy(ct->detach_keys, k, n);
	ct->n_detach_keys = n;
	return 0;
}

const uint8_t *ct_stdin_detach(struct ct *ct, const uint8_t *p, size_t n, uint8_t *buf,
			       size_t *nout, int *detached)
{
	size_t i, o = 0;

	*detached = 0;
	*nout = n;
	if (ct->n_detach_keys == 0)
		return p;
	for (i = 0; i < n; i++) {
		if (p[i] == ct->detach_keys[ct->detach_matched]) {
			if (++ct->detach_matched == ct->n_detach_keys) {
				ct->detach_matched = 0;
				*detached = 1;
				break;
			}
			continue;
		}
		/* Not the next key: what was held back was data, and so may this byte be. */
		memcpy(buf + o, ct->detach_keys, ct->detach_matched);
		o += ct->detach_matched;
		ct->detach_matched = 0;
		if (p[i] == ct->detach_keys[0])
			ct->detach_matched = 1;
		else
			buf[o++] = p[i];
	}
	*nout = o;
	return buf;
}

void ct__start_attach(struct ct *ct, struct ct_started *st)
{
	const struct ct_req *q = &ct->req;
	struct engine_reply r;
	const cJSON *cfg;
	char path[512], esc[128];
	const char *keys = ct__opt(q, "detach-keys");

	if (ct__find_running(ct, st, &r, 0) < 0)
		return;
	ct__policy_targets(ct, r.json, 0);
	if (ct__policy_check(ct, st, NULL, "") < 0) {
		engine_reply_free(&r);
		return;
	}
	cfg = cJSON_GetObjectItemCaseSensitive(r.json, "Config");
	ct->tty = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cfg, "Tty"));
	engine_reply_free(&r);
	snprintf(ct->what, sizeof(ct->what), "attach to %s", ct->cname);
	snprintf(path, sizeof(path),
		 "/containers/%s/attach?stream=1&stdin=%d&stdout=1&stderr=1&detachKeys=%s", ct->cid,
		 q->stdin_open,
		 engine_query_escape(keys && keys[0] ? keys : "ctrl-p,ctrl-q", esc, sizeof(esc)));
	if (ct__hijack(ct, st, path, NULL, &st->text) < 0)
		return;
	st->tty = ct->tty;
	if (ct->tty) {
		ct__resize_now(ct, q->rows, q->cols);
		/* Keys dockerd would have refused are not matched either. */
		if (parse_detach_keys(ct, keys && keys[0] ? keys : "ctrl-p,ctrl-q") < 0)
			ct->n_detach_keys = 0;
	}
}
