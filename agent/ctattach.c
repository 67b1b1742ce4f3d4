/* ctattach.c: `attach`, the stdio of a container's main process (see container.h), through
 * the engine's attach API with its detach keys. Part of container.c's module (ct_int.h). */
#include "agent/ct_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const uint8_t *ct_stdin_detach(struct ct *ct, const uint8_t *p, size_t n, uint8_t *buf,
			       size_t *nout, int *detached)
{
	return detach_keys_filter(&ct->detach, p, n, buf, nout, detached);
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
		detach_keys_parse(&ct->detach, keys && keys[0] ? keys : "ctrl-p,ctrl-q");
	}
}
