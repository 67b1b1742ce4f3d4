/* ctlist.c: `list` (behind `rexec ps` and the service lookup): one JSON object per line, per
 * compose container the policy lets the client `ps`. Part of container.c's module (ct_int.h). */
#include "agent/ct_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ct__start_list(struct ct *ct, struct ct_started *st)
{
	struct engine_reply r;
	const cJSON *c;

	if (ct__list_compose(ct, st, ct->req.service, &r) < 0)
		return;
	cJSON_ArrayForEach(c, r.json)
	{
		cJSON *o;
		char *line;

		if (ct->req.project[0] && strcmp(ct__list_label(c, LABEL_PROJECT), ct->req.project))
			continue;
		/* A client never sees what it may not `ps`: this list is also the service lookup
		 * behind a bare service and a fan-out. */
		if (!ct__policy_may_list(ct, c))
			continue;
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "project", ct__list_label(c, LABEL_PROJECT));
		cJSON_AddStringToObject(o, "service", ct__list_label(c, LABEL_SERVICE));
		cJSON_AddNumberToObject(o, "number", atoi(ct__list_label(c, LABEL_NUMBER)));
		cJSON_AddStringToObject(o, "name", ct__first_name(c));
		cJSON_AddStringToObject(o, "id", engine_str(c, "Id"));
		cJSON_AddStringToObject(o, "state", engine_str(c, "State"));
		cJSON_AddStringToObject(o, "status", engine_str(c, "Status"));
		cJSON_AddBoolToObject(o, "oneoff",
				      strcmp(ct__list_label(c, LABEL_ONEOFF), "True") == 0);
		cJSON_AddStringToObject(o, "image", engine_str(c, "Image"));
		line = cJSON_PrintUnformatted(o);
		cJSON_Delete(o);
		if (line == NULL || buf_append(&st->text, line, strlen(line)) < 0 ||
		    buf_append(&st->text, "\n", 1) < 0) {
			free(line);
			ct__fail(st, REXEC__V1__ERROR_CODE__ERROR_INTERNAL, "out of memory");
			break;
		}
		free(line);
	}
	engine_reply_free(&r);
}
