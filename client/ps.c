/* ps.c: the `rexec ps` table. */
#include "client/ps.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "lib/strvis.h"

struct ps_row {
	char *host, *project, *service, *name, *state, *status;
	int number;
	int oneoff;
};

/* The string KEY of O, escaped: names, labels and states come from containers and the
 * engine, and must not drive the terminal the table is printed on. */
static char *dup_str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return strvis_dup(cJSON_IsString(v) ? v->valuestring : NULL);
}

int ps_table_add(struct ps_table *t, const char *host, const char *lines, size_t len)
{
	const char *p = lines, *end = lines + len;
	int ret = 0;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		cJSON *o = cJSON_ParseWithLength(p, n);
		struct ps_row *r;

		p += n + 1;
		if (!cJSON_IsObject(o)) {
			cJSON_Delete(o);
			ret = n > 0 ? -1 : ret;
			continue;
		}
		if (t->n == t->cap) {
			size_t cap = t->cap ? t->cap * 2 : 16;
			struct ps_row *nr = realloc(t->rows, cap * sizeof(*nr));
			if (nr == NULL) {
				cJSON_Delete(o);
				return -1;
			}
			t->rows = nr;
			t->cap = cap;
		}
		r = &t->rows[t->n++];
		r->host = strvis_dup(host);
		r->project = dup_str(o, "project");
		r->service = dup_str(o, "service");
		r->name = dup_str(o, "name");
		r->state = dup_str(o, "state");
		r->status = dup_str(o, "status");
		r->number = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(o, "number")) > 0
				    ? (int)cJSON_GetNumberValue(
					      cJSON_GetObjectItemCaseSensitive(o, "number"))
				    : 0;
		r->oneoff = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "oneoff"));
		cJSON_Delete(o);
	}
	return ret;
}

static int cmp_row(const void *a, const void *b)
{
	const struct ps_row *x = a, *y = b;
	int c;

	if ((c = strcmp(x->host, y->host)) != 0 || (c = strcmp(x->project, y->project)) != 0 ||
	    (c = strcmp(x->service, y->service)) != 0)
		return c;
	if (x->oneoff != y->oneoff)
		return x->oneoff - y->oneoff;
	return x->number - y->number;
}

static int width(const struct ps_table *t, size_t off, const char *head)
{
	int w = (int)strlen(head);
	size_t i;

	for (i = 0; i < t->n; i++) {
		const char *s = *(char *const *)((const char *)&t->rows[i] + off);
		if ((int)strlen(s) > w)
			w = (int)strlen(s);
	}
	return w;
}

void ps_table_print(const struct ps_table *t, FILE *out, int with_host)
{
	int wh = width(t, offsetof(struct ps_row, host), "HOST");
	int wp = width(t, offsetof(struct ps_row, project), "PROJECT");
	int ws = width(t, offsetof(struct ps_row, service), "SERVICE");
	int wn = width(t, offsetof(struct ps_row, name), "NAME");
	size_t i;

	if (t->n > 1) /* no rows: t->rows may be NULL, which qsort must not get */
		qsort(t->rows, t->n, sizeof(*t->rows), cmp_row);
	if (with_host)
		fprintf(out, "%-*s  ", wh, "HOST");
	fprintf(out, "%-*s  %-*s  %5s  %-*s  %s\n", wp, "PROJECT", ws, "SERVICE", "INDEX", wn,
		"NAME", "STATE");
	for (i = 0; i < t->n; i++) {
		const struct ps_row *r = &t->rows[i];
		char num[16];
		if (r->oneoff)
			snprintf(num, sizeof(num), "run");
		else
			snprintf(num, sizeof(num), "%d", r->number);
		if (with_host)
			fprintf(out, "%-*s  ", wh, r->host);
		fprintf(out, "%-*s  %-*s  %5s  %-*s  %s (%s)\n", wp, r->project, ws, r->service,
			num, wn, r->name, r->state, r->status);
	}
}

void ps_table_free(struct ps_table *t)
{
	size_t i;

	for (i = 0; i < t->n; i++) {
		free(t->rows[i].host);
		free(t->rows[i].project);
		free(t->rows[i].service);
		free(t->rows[i].name);
		free(t->rows[i].state);
		free(t->rows[i].status);
	}
	free(t->rows);
	memset(t, 0, sizeof(*t));
}
