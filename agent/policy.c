/* policy.c: the policy file through lib/yconf, and the pure decision over it (see policy.h).
 *
 * Globs are fnmatch(3) without FNM_PATHNAME, as sudoers matches command arguments: a `*` then
 * also spans a '/' ("./manage.py migrate*" matches "./manage.py migrate app/x"),
 * which is what a person writing the rule expects. Names in `who` and `users` are compared
 * whole, never as globs: an identity is not a pattern (OpenSSH's principals are exact too). */
#include "agent/policy.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/yconf.h"
#include "proto/buf.h"
#include "proto/error.h"

enum field { F_WHO, F_VERBS, F_TARGETS, F_USERS, F_COMMANDS, F_OPTIONS, F_N };

static const char *const field_names[F_N] = { "who",   "verbs",    "targets",
					      "users", "commands", "options" };

static const struct {
	const char *name;
	enum policy_verb verb;
} verbs[] = { { "exec", POLICY_EXEC },
	      { "run", POLICY_RUN },
	      { "attach", POLICY_ATTACH },
	      { "ps", POLICY_PS } };

static const struct {
	const char *name;
	unsigned bit;
} options[] = { { "privileged", POLICY_OPT_PRIVILEGED },
		{ "volume", POLICY_OPT_VOLUME },
		{ "publish", POLICY_OPT_PUBLISH },
		{ "entrypoint", POLICY_OPT_ENTRYPOINT },
		{ "env", POLICY_OPT_ENV },
		{ "workdir", POLICY_OPT_WORKDIR } };

#define N_VERBS   (sizeof(verbs) / sizeof(verbs[0]))
#define N_OPTIONS (sizeof(options) / sizeof(options[0]))

/* The options that always count; env and workdir count under a rule restricting commands. */
#define OPTS_ALWAYS \
	(POLICY_OPT_PRIVILEGED | POLICY_OPT_VOLUME | POLICY_OPT_PUBLISH | POLICY_OPT_ENTRYPOINT)

struct rule {
	bool deny;
	unsigned line;
	bool has[F_N];    /* the rule names the field */
	char **vals[F_N]; /* its values (who, targets, users, commands) */
	size_t n[F_N];
	unsigned verbs;   /* F_VERBS as bits */
	unsigned options; /* F_OPTIONS as bits */
};

struct policy {
	int refs;
	bool allow_all;
	bool uses_users;
	char *name;
	struct rule *rules;
	size_t n_rules;
};

const char *policy_verb_name(enum policy_verb v)
{
	size_t i;

	for (i = 0; i < N_VERBS; i++)
		if (verbs[i].verb == v)
			return verbs[i].name;
	return "?";
}

int policy_verb_parse(const char *name, enum policy_verb *out)
{
	size_t i;

	for (i = 0; i < N_VERBS; i++) {
		if (strcmp(verbs[i].name, name) == 0) {
			*out = verbs[i].verb;
			return 0;
		}
	}
	return -1;
}

int policy_option_parse(const char *name, unsigned *bit)
{
	size_t i;

	for (i = 0; i < N_OPTIONS; i++) {
		if (strcmp(options[i].name, name) == 0) {
			*bit = options[i].bit;
			return 0;
		}
	}
	return -1;
}

static void policy_free(struct policy *p)
{
	size_t i, f;

	if (p == NULL)
		return;
	for (i = 0; i < p->n_rules; i++)
		for (f = 0; f < F_N; f++)
			yconf_strings_free(p->rules[i].vals[f], p->rules[i].n[f]);
	free(p->rules);
	free(p->name);
	free(p);
}

struct policy *policy_ref(struct policy *p)
{
	if (p != NULL)
		p->refs++;
	return p;
}

void policy_unref(struct policy *p)
{
	if (p != NULL && --p->refs == 0)
		policy_free(p);
}

struct policy *policy_new_allow_all(void)
{
	struct policy *p = calloc(1, sizeof(*p));

	if (p == NULL || (p->name = strdup("--allow-all")) == NULL) {
		free(p);
		return NULL;
	}
	p->refs = 1;
	p->allow_all = true;
	return p;
}

bool policy_allows_all(const struct policy *p)
{
	return p->allow_all;
}

bool policy_uses_users(const struct policy *p)
{
	return p->uses_users;
}

const char *policy_name(const struct policy *p)
{
	return p->name;
}

size_t policy_n_rules(const struct policy *p)
{
	return p->n_rules;
}

/* ---------------------------------------------------------------------------------------
 * Loading */

/* Checks the values of field F of rule R (at node V) and turns verbs and options into bits. */
static int check_values(const struct yconf *y, const struct yconf_node *v, struct rule *r,
			enum field f, char *err, size_t errlen)
{
	size_t i;

	if (r->n[f] == 0)
		return yconf_errorf(y, v, err, errlen,
				    "%s: an empty list matches nothing; leave the key out to match "
				    "anything",
				    field_names[f]);
	for (i = 0; i < r->n[f]; i++) {
		const char *s = r->vals[f][i];
		const struct yconf_node *at = yconf_kind(v) == YCONF_SEQ ? yconf_item(v, i) : v;
		enum policy_verb verb;
		unsigned bit;

		switch (f) {
		case F_VERBS:
			if (policy_verb_parse(s, &verb) < 0)
				return yconf_errorf(y, at, err, errlen,
						    "verbs: unknown verb '%s' (known: exec, run, "
						    "attach, ps)",
						    s);
			r->verbs |= (unsigned)verb;
			break;
		case F_OPTIONS:
			if (policy_option_parse(s, &bit) < 0)
				return yconf_errorf(y, at, err, errlen,
						    "options: unknown option '%s' (known: "
						    "privileged, volume, publish, entrypoint, env, "
						    "workdir)",
						    s);
			r->options |= bit;
			break;
		case F_WHO:
			if (s[0] == 0 || strcmp(s, "@") == 0)
				return yconf_errorf(y, at, err, errlen,
						    "who: an empty name (want a CN, @GROUP or *)");
			break;
		case F_TARGETS:
			if (s[0] == 0 || strcmp(s, "container:") == 0)
				return yconf_errorf(
					y, at, err, errlen,
					"targets: an empty target (want PROJECT/SERVICE, "
					"host or container:NAME)");
			break;
		case F_USERS:
			if (s[0] == 0)
				return yconf_errorf(y, at, err, errlen,
						    "users: an empty user (want a name, a uid, "
						    "default or *)");
			break;
		default:
			break;
		}
	}
	return 0;
}

/* One rule: `allow: {...}` or `deny: {...}` at node ITEM. */
static int load_rule(const struct yconf *y, const struct yconf_node *item, struct rule *r,
		     char *err, size_t errlen)
{
	const struct yconf_node *k, *body;
	const char *kind;
	size_t i, f;
	int ret;

	if (yconf_kind(item) != YCONF_MAP || yconf_len(item) != 1)
		return yconf_errorf(y, item, err, errlen,
				    "a rule is one key, allow: or deny:, over its fields");
	k = yconf_key(item, 0);
	body = yconf_value(item, 0);
	kind = yconf_scalar(k);
	r->line = yconf_line(k);
	if (strcmp(kind, "deny") == 0)
		r->deny = true;
	else if (strcmp(kind, "allow") != 0)
		return yconf_errorf(y, k, err, errlen,
				    "unknown rule kind '%s' (a rule is allow: or deny:)", kind);
	if (yconf_kind(body) != YCONF_MAP)
		return yconf_errorf(
			y, body, err, errlen,
			"%s: expected a mapping of who, verbs, targets, users, commands, "
			"options",
			kind);
	for (i = 0; i < yconf_len(body); i++) {
		const char *key = yconf_scalar(yconf_key(body, i));
		const struct yconf_node *v = yconf_value(body, i);

		for (f = 0; f < F_N; f++)
			if (strcmp(key, field_names[f]) == 0)
				break;
		if (f == F_N)
			return yconf_errorf(y, yconf_key(body, i), err, errlen,
					    "unknown key '%s' in a rule (known: who, verbs, "
					    "targets, users, commands, options)",
					    key);
		if (yconf_kind(v) == YCONF_MAP)
			return yconf_errorf(y, v, err, errlen,
					    "%s: expected a list of strings, not a mapping", key);
		ret = yconf_get_strings(y, v, key, &r->vals[f], &r->n[f], err, errlen);
		if (ret != 0)
			return ret;
		r->has[f] = true;
		if ((ret = check_values(y, v, r, (enum field)f, err, errlen)) != 0)
			return ret;
	}
	return 0;
}

/* The document Y as a policy into P. */
static int load_doc(const struct yconf *y, struct policy *p, char *err, size_t errlen)
{
	const struct yconf_node *root = yconf_root(y), *rules = NULL;
	size_t i;
	int ret;

	if (root == NULL || yconf_is_null(root))
		return yconf_errorf(y, NULL, err, errlen,
				    "empty: a policy needs `rules:` (an empty list denies all)");
	if (yconf_kind(root) != YCONF_MAP)
		return yconf_errorf(y, root, err, errlen, "expected a mapping with `rules:`");
	for (i = 0; i < yconf_len(root); i++) {
		const char *key = yconf_scalar(yconf_key(root, i));
		if (strcmp(key, "rules") != 0)
			return yconf_errorf(y, yconf_key(root, i), err, errlen,
					    "unknown key '%s' (known: rules)", key);
		rules = yconf_value(root, i);
	}
	if (rules == NULL)
		return yconf_errorf(y, root, err, errlen, "no `rules:`");
	if (yconf_kind(rules) != YCONF_SEQ)
		return yconf_errorf(y, rules, err, errlen, "rules: expected a list of rules");
	if (yconf_len(rules) > 0 &&
	    (p->rules = calloc(yconf_len(rules), sizeof(*p->rules))) == NULL)
		return -ENOMEM;
	for (i = 0; i < yconf_len(rules); i++) {
		struct rule *r = &p->rules[p->n_rules++];
		if ((ret = load_rule(y, yconf_item(rules, i), r, err, errlen)) != 0)
			return ret;
		p->uses_users = p->uses_users || r->has[F_USERS];
	}
	return 0;
}

/* Y (may be NULL after a failed load, RET its code) as a new policy into *OUT. */
static int load(struct yconf *y, int ret, struct policy **out, char *err, size_t errlen)
{
	struct policy *p = NULL;

	*out = NULL;
	if (ret != 0)
		goto out;
	p = calloc(1, sizeof(*p));
	if (p == NULL || (p->name = strdup(yconf_name(y))) == NULL) {
		ret = -ENOMEM;
		snprintf(err, errlen, "%s: out of memory", yconf_name(y));
		goto out;
	}
	p->refs = 1;
	if ((ret = load_doc(y, p, err, errlen)) != 0)
		goto out;
	*out = p;
	p = NULL;
out:
	policy_free(p);
	yconf_free(y);
	return ret;
}

int policy_load(const char *path, struct policy **out, char *err, size_t errlen)
{
	struct yconf *y = NULL;
	int ret = yconf_load_file(path, &y, err, errlen);

	return load(y, ret, out, err, errlen);
}

int policy_load_string(const char *text, size_t len, const char *name, struct policy **out,
		       char *err, size_t errlen)
{
	struct yconf *y = NULL;
	int ret = yconf_load_string(text, len, name, &y, err, errlen);

	return load(y, ret, out, err, errlen);
}

/* ---------------------------------------------------------------------------------------
 * Deciding */

static bool is_uid(const char *s)
{
	if (*s == 0 || strlen(s) > 10)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

static bool who_matches(const struct rule *r, const struct policy_req *q)
{
	size_t i, g;

	for (i = 0; i < r->n[F_WHO]; i++) {
		const char *w = r->vals[F_WHO][i];
		if (strcmp(w, "*") == 0)
			return true;
		if (w[0] != '@') {
			if (q->who != NULL && strcmp(w, q->who) == 0)
				return true;
			continue;
		}
		for (g = 0; g < q->n_groups; g++)
			if (strcmp(w + 1, q->groups[g]) == 0)
				return true;
	}
	return false;
}

static bool target_matches(const struct rule *r, const struct policy_req *q)
{
	size_t i, t;

	for (i = 0; i < r->n[F_TARGETS]; i++)
		for (t = 0; t < q->n_targets; t++)
			if (fnmatch(r->vals[F_TARGETS][i], q->targets[t], 0) == 0)
				return true;
	return false;
}

/* One entry of `users` against the request's user: "root" is uid 0 whatever it is called. */
static bool user_entry_matches(const char *e, const struct policy_user *u)
{
	if (strcmp(e, "*") == 0)
		return true;
	if (strcmp(e, "default") == 0)
		return !u->given;
	if (is_uid(e))
		return u->uid >= 0 && u->uid == strtoll(e, NULL, 10);
	if (strcmp(e, "root") == 0)
		return u->uid == 0;
	return u->name != NULL && strcmp(e, u->name) == 0;
}

static bool users_match(const struct rule *r, const struct policy_req *q)
{
	size_t i;

	for (i = 0; i < r->n[F_USERS]; i++)
		if (user_entry_matches(r->vals[F_USERS][i], &q->user))
			return true;
	return false;
}

static bool command_matches(const struct rule *r, const struct policy_req *q)
{
	const char *cmd = q->command ? q->command : "";
	size_t i;

	for (i = 0; i < r->n[F_COMMANDS]; i++)
		if (fnmatch(r->vals[F_COMMANDS][i], cmd, 0) == 0)
			return true;
	return false;
}

static bool options_match(const struct rule *r, const struct policy_req *q)
{
	unsigned counted = q->options & OPTS_ALWAYS;

	if (r->deny)
		return !r->has[F_OPTIONS] || (q->options & r->options) != 0;
	if (r->has[F_COMMANDS])
		counted |= q->options & (POLICY_OPT_ENV | POLICY_OPT_WORKDIR);
	return (counted & ~r->options) == 0;
}

/* Whether rule R matches request Q: every field it names. */
static bool rule_matches(const struct rule *r, const struct policy_req *q)
{
	bool has_user = q->verb == POLICY_EXEC || q->verb == POLICY_RUN;

	if ((r->has[F_USERS] || r->has[F_COMMANDS]) && !has_user)
		return false;
	if (r->has[F_WHO] && !who_matches(r, q))
		return false;
	if (r->has[F_VERBS] && !(r->verbs & (unsigned)q->verb))
		return false;
	if (r->has[F_TARGETS] && !target_matches(r, q))
		return false;
	if (r->has[F_USERS] && !users_match(r, q))
		return false;
	if (r->has[F_COMMANDS] && !command_matches(r, q))
		return false;
	return options_match(r, q);
}

struct policy_decision policy_decide(const struct policy *p, const struct policy_req *q)
{
	struct policy_decision d = { .allow = false, .rule = POLICY_NO_RULE };
	size_t i;

	if (p->allow_all) {
		d.allow = true;
		return d;
	}
	for (i = 0; i < p->n_rules; i++) {
		if (p->rules[i].deny && rule_matches(&p->rules[i], q)) {
			d.rule = (int)i;
			return d;
		}
	}
	for (i = 0; i < p->n_rules; i++) {
		if (!p->rules[i].deny && rule_matches(&p->rules[i], q)) {
			d.allow = true;
			d.rule = (int)i;
			return d;
		}
	}
	return d;
}

/* ---------------------------------------------------------------------------------------
 * Words for people */

const char *policy_rule_render(const struct policy *p, int i, char *buf, size_t len)
{
	const struct rule *r;
	size_t at = 0, f, v;

	if (len == 0)
		return buf;
	buf[0] = 0;
	if (i < 0 || (size_t)i >= p->n_rules) {
		buf_appendf(buf, len, &at, "%s", p->allow_all ? "--allow-all" : "no rule allows");
		return buf;
	}
	r = &p->rules[i];
	buf_appendf(buf, len, &at, "rule %d (%s:%u): %s", i, p->name, r->line,
		    r->deny ? "deny" : "allow");
	for (f = 0; f < F_N; f++) {
		if (!r->has[f])
			continue;
		buf_appendf(buf, len, &at, " %s [", field_names[f]);
		for (v = 0; v < r->n[f]; v++)
			buf_appendf(buf, len, &at, "%s\"%s\"", v ? ", " : "", r->vals[f][v]);
		buf_appendf(buf, len, &at, "]");
	}
	return buf;
}

void policy_user_literal(const char *user, bool given, struct policy_user *out, char *buf,
			 size_t len)
{
	snprintf(buf, len, "%.*s", (int)strcspn(user, ":"), user);
	out->given = given;
	out->name = NULL;
	out->uid = -1;
	if (buf[0] == 0 || strcmp(buf, "root") == 0) {
		out->uid = 0;
		out->name = "root";
	} else if (is_uid(buf)) {
		out->uid = strtoll(buf, NULL, 10);
		out->name = out->uid == 0 ? "root" : NULL;
	} else {
		out->name = buf;
	}
}

const char *policy_describe(const struct policy_req *r, char *buf, size_t len)
{
	const char *target = r->n_targets > 0 ? r->targets[0] : "?";
	size_t at = 0;

	buf[0] = 0;
	buf_appendf(buf, len, &at, "%s %s %s", policy_verb_name(r->verb),
		    r->verb == POLICY_ATTACH      ? "to"
		    : r->verb == POLICY_PS        ? "of"
		    : strcmp(target, "host") == 0 ? "on"
						  : "in",
		    target);
	if (r->verb != POLICY_EXEC && r->verb != POLICY_RUN)
		return buf;
	if (r->user.name != NULL)
		buf_appendf(buf, len, &at, " as %s", r->user.name);
	else if (r->user.uid >= 0)
		buf_appendf(buf, len, &at, " as uid %lld", r->user.uid);
	else
		buf_appendf(buf, len, &at, " as the %s user", r->user.given ? "given" : "default");
	if (!r->user.given && (r->user.name != NULL || r->user.uid >= 0))
		buf_appendf(buf, len, &at, " (the default user)");
	return buf;
}

char *policy_join(const char *const *argv, size_t n)
{
	size_t len = 1, i, at = 0;
	char *s;

	for (i = 0; i < n; i++)
		len += strlen(argv[i]) + 1;
	if ((s = malloc(len)) == NULL)
		return NULL;
	s[0] = 0;
	for (i = 0; i < n; i++) {
		size_t w = strlen(argv[i]);
		if (i > 0)
			s[at++] = ' ';
		memcpy(s + at, argv[i], w);
		at += w;
	}
	s[at] = 0;
	return s;
}
