/* select.c: expansion of a host selector over the inventory. */
#include "client/select.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/error.h"

static const char glob_chars[] = "*?[";

int select_has_set_syntax(const char *sel)
{
	return strpbrk(sel, "@,") != NULL || strpbrk(sel, glob_chars) != NULL;
}

static int in_group(const struct client_host *h, const char *group)
{
	size_t i;

	for (i = 0; i < h->n_groups; i++)
		if (strcmp(h->groups[i], group) == 0)
			return 1;
	return 0;
}

static int group_exists(const struct client_config *cfg, const char *group)
{
	size_t i;

	for (i = 0; i < cfg->n_hosts; i++)
		if (in_group(&cfg->hosts[i], group))
			return 1;
	return 0;
}

int select_is_bare_name(const struct client_config *cfg, const char *sel)
{
	return sel[0] != 0 && !select_has_set_syntax(sel) &&
	       client_config_find_host(cfg, sel) == NULL && !group_exists(cfg, sel);
}

/* Adds host I to OUT unless it is there already (a comma list may name it twice). SEEN has
 * one flag per host of the inventory. */
static void add(struct selection *out, unsigned char *seen, size_t i)
{
	if (seen[i])
		return;
	seen[i] = 1;
	out->idx[out->n++] = i;
}

/* Does host H match TERM (one element of a comma list)? */
static int term_matches(const struct client_host *h, const char *term)
{
	if (strcmp(term, "@all") == 0)
		return 1;
	if (term[0] == '@')
		return in_group(h, term + 1);
	if (strpbrk(term, glob_chars) != NULL)
		return fnmatch(term, h->name, 0) == 0;
	return strcmp(term, h->name) == 0;
}

/* Says why TERM matched nothing, with a hint at what exists. */
static void explain_miss(const struct client_config *cfg, const char *term, char *err,
			 size_t errlen)
{
	if (cfg->n_hosts == 0)
		snprintf(err, errlen,
			 "%s: the inventory %s lists no hosts; add them under hosts:", term,
			 cfg->path);
	else if (strcmp(term, "@all") == 0)
		snprintf(err, errlen, "@all: no hosts in %s", cfg->path);
	else if (term[0] == '@')
		snprintf(err, errlen,
			 "%s: no host of %s is in group %s (a host joins with "
			 "groups: [%s])",
			 term, cfg->path, term + 1, term + 1);
	else if (strpbrk(term, glob_chars) != NULL)
		snprintf(err, errlen, "%s: the pattern matches no host name in %s", term,
			 cfg->path);
	else
		snprintf(err, errlen, "%s: no such host in %s (a group is written @%s)", term,
			 cfg->path, term);
}

/* Expands one TERM into OUT. */
static int expand_term(const struct client_config *cfg, const char *term, struct selection *out,
		       unsigned char *seen, char *err, size_t errlen)
{
	size_t i, hits = 0;

	if (term[0] == 0 || strcmp(term, "@") == 0) {
		snprintf(err, errlen,
			 "empty host selector term: write NAME, @GROUP, @all or a "
			 "glob, separated by commas");
		return REXEC_ECONFIG;
	}
	for (i = 0; i < cfg->n_hosts; i++) {
		if (term_matches(&cfg->hosts[i], term)) {
			add(out, seen, i);
			hits++;
		}
	}
	if (hits == 0) {
		explain_miss(cfg, term, err, errlen);
		return REXEC_ENOT_FOUND;
	}
	return 0;
}

int select_expand(const struct client_config *cfg, const char *sel, struct selection *out,
		  char *err, size_t errlen)
{
	unsigned char *seen = NULL;
	char term[SELECT_TERM_MAX];
	const char *p = sel, *comma;
	size_t len;
	int ret = 0;

	memset(out, 0, sizeof(*out));
	out->is_set = select_has_set_syntax(sel);
	seen = calloc(cfg->n_hosts + 1, 1);
	out->idx = calloc(cfg->n_hosts + 1, sizeof(*out->idx));
	if (seen == NULL || out->idx == NULL) {
		ret = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	for (;;) {
		comma = strchr(p, ',');
		len = comma ? (size_t)(comma - p) : strlen(p);
		if (len >= sizeof(term)) {
			snprintf(err, errlen,
				 "host selector term too long (%zu bytes, at most %zu)", len,
				 sizeof(term) - 1);
			ret = REXEC_ECONFIG;
			goto out;
		}
		memcpy(term, p, len);
		term[len] = 0;
		if ((ret = expand_term(cfg, term, out, seen, err, errlen)) < 0)
			goto out;
		if (comma == NULL)
			break;
		p = comma + 1;
	}
out:
	free(seen);
	if (ret < 0)
		selection_free(out);
	return ret;
}

void selection_free(struct selection *s)
{
	free(s->idx);
	s->idx = NULL;
	s->n = 0;
}
