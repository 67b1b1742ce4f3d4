/* policy.h: who may do what, where, as whom: the agent's policy file (`policy: FILE`,
 * --policy FILE), loaded through lib/yconf, and the decision for one request.
 *
 *     rules:
 *       - allow:
 *           who: [alice, "@ops"]          # a CN, or @GROUP (an OU); "*" is everyone
 *           verbs: [exec, run, attach, ps]
 *           targets: [shop/web, host, "container:db-1"]  # fnmatch(3) globs
 *           users: [app, "1000", default] # "root" is uid 0; "default": no -u; "*": any
 *           commands: ["./manage.py migrate*"]            # argv joined by spaces, glob
 *           options: [env, workdir]       # privileged volume publish entrypoint env workdir
 *       - deny:
 *           users: [root]
 *
 * A request is allowed when some allow rule matches it and no deny rule does (deny wins; the
 * first deny rule that matches decides, else the first allow rule that matches). A rule matches
 * when every field it names matches; a field left out matches anything, except `options` of
 * an allow rule (see policy_decide()). A rule naming `users` or `commands` never matches a
 * request they do not apply to (ps, attach). Unknown keys, verbs and options, and values of the
 * wrong kind, are errors with the file's line.
 *
 * A loaded policy is immutable and reference-counted: a SIGHUP swaps the agent's pointer while
 * jobs on the thread pool may still read the old one. policy_ref() and policy_unref() must be
 * called on the loop's thread only; reading (policy_decide()) is safe from any thread while a
 * reference is held. */
#ifndef REXEC_AGENT_POLICY_H
#define REXEC_AGENT_POLICY_H

#include <stdbool.h>
#include <stddef.h>

struct policy;

/* Verbs, as bits of a rule's verb set. */
enum policy_verb {
	POLICY_EXEC = 1u << 0,
	POLICY_RUN = 1u << 1,
	POLICY_ATTACH = 1u << 2,
	POLICY_PS = 1u << 3,
};

/* Options a request may use, as bits. */
#define POLICY_OPT_PRIVILEGED (1u << 0) /* --privileged */
#define POLICY_OPT_VOLUME     (1u << 1) /* run -v */
#define POLICY_OPT_PUBLISH    (1u << 2) /* run -p, --service-ports */
#define POLICY_OPT_ENTRYPOINT (1u << 3) /* run --entrypoint */
#define POLICY_OPT_ENV        (1u << 4) /* -e: counts only under a rule restricting commands */
#define POLICY_OPT_WORKDIR    (1u << 5) /* -w: likewise */

/* Whom the process would run as. NAME and UID are what the agent resolved (a container's
 * passwd, the host's), or for `run` what was literally given (a name, or a number as UID);
 * "root" always means uid 0. */
struct policy_user {
	bool given;       /* -u was given; false: the target's default user */
	const char *name; /* the user's name, NULL when not known */
	long long uid;    /* -1 when not known */
};

/* One request, as the agent resolved it. Strings are borrowed. */
struct policy_req {
	const char *who;           /* the certificate's CN */
	const char *const *groups; /* its OU values */
	size_t n_groups;
	enum policy_verb verb;
	const char *const *targets; /* "host"; "PROJECT/SERVICE" and/or "container:NAME" */
	size_t n_targets;
	struct policy_user user; /* exec, run */
	const char *command;     /* exec, run: argv joined by spaces; "" for none */
	unsigned options;        /* POLICY_OPT_* used */
};

#define POLICY_NO_RULE (-1) /* the decision of no rule: "no rule allows" */

struct policy_decision {
	bool allow;
	int rule; /* the deciding rule's index (from 0), or POLICY_NO_RULE */
};

/* Loads the policy file PATH. Returns 0 with *OUT (a new policy holding one reference), or a
 * negative code with "PATH:LINE: ..." in ERR (ERRLEN bytes): -errno when the file cannot be
 * read, REXEC_EYAML, REXEC_ECONFIG, -ENOMEM. */
int policy_load(const char *path, struct policy **out, char *err, size_t errlen);

/* As policy_load(), from the LEN bytes at TEXT; NAME stands for the file in messages. */
int policy_load_string(const char *text, size_t len, const char *name, struct policy **out,
		       char *err, size_t errlen);

/* A policy that allows everything (--allow-all), with one reference; NULL when out of memory. */
struct policy *policy_new_allow_all(void);

/* Another reference to P (returned); NULL is fine. Loop thread only. */
struct policy *policy_ref(struct policy *p);

/* Drops a reference; the last one frees P. NULL is fine. Loop thread only. */
void policy_unref(struct policy *p);

/* True for the policy of policy_new_allow_all(). */
bool policy_allows_all(const struct policy *p);

/* True when some rule names `users`: only then must a default user be resolved for it. */
bool policy_uses_users(const struct policy *p);

/* The file's name as given to policy_load(), and its number of rules. */
const char *policy_name(const struct policy *p);
size_t policy_n_rules(const struct policy *p);

/* Decides R under P. Options: an allow rule matches only when every option the request uses
 * that counts (privileged, volume, publish, entrypoint; env and workdir too when the rule names
 * `commands`) is in its `options`; a deny rule with `options` matches a request that uses one
 * of them. Pure: no I/O, no allocation. */
struct policy_decision policy_decide(const struct policy *p, const struct policy_req *r);

/* A short rendering of rule I for people: "rule 2 (FILE:LINE): deny users [root]" into BUF
 * (LEN bytes). For POLICY_NO_RULE: "no rule allows". Returns BUF. */
const char *policy_rule_render(const struct policy *p, int i, char *buf, size_t len);

/* The name of verb V ("exec"...), and the verb called NAME into *OUT (0, or -1). */
const char *policy_verb_name(enum policy_verb v);
int policy_verb_parse(const char *name, enum policy_verb *out);

/* The option called NAME into *BIT (0, or -1). */
int policy_option_parse(const char *name, unsigned *bit);

/* USER as `run` (or --explain) takes it, without any passwd: "" is the default; digits are a
 * uid; "root" is uid 0; any other name is only a name. "name:group" counts by its name part,
 * copied into BUF (LEN bytes), which *OUT may point into. */
void policy_user_literal(const char *user, bool given, struct policy_user *out, char *buf,
			 size_t len);

/* The N words of ARGV joined by single spaces (what `commands` match), a new string the
 * caller frees; "" for none; NULL when out of memory. Never cut: a cut command could match a
 * rule the whole one does not. */
char *policy_join(const char *const *argv, size_t n);

/* "exec in shop/web as root": what R asked, for the user's error line (never the rules). */
const char *policy_describe(const struct policy_req *r, char *buf, size_t len);

#endif
