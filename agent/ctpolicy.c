/* ctpolicy.c: the policy (policy.h) on a container request, decided on the thread pool once
 * the engine has said which container it is, whom the process would run as and what would
 * run, and before anything starts: the facts the decision takes are the ones that then apply.
 * Part of container.c's module (ct_int.h). */
#include "agent/ct_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/policy.h"
#include "proto/log.h"

void ct__policy_targets(struct ct *ct, const cJSON *c, int listed)
{
	const char *project, *service, *name;

	if (listed) {
		project = ct__list_label(c, LABEL_PROJECT);
		service = ct__list_label(c, LABEL_SERVICE);
		name = ct__first_name(c);
	} else {
		project = engine_label(c, LABEL_PROJECT);
		service = engine_label(c, LABEL_SERVICE);
		name = engine_str(c, "Name");
		name += name[0] == '/';
	}
	ct->tgt_service[0] = ct->tgt_container[0] = 0;
	if (project[0] && service[0])
		snprintf(ct->tgt_service, sizeof(ct->tgt_service), "%s/%s", project, service);
	/* container:NAME names a container named with --container (which then matches its
	 * service's rules too); a service's containers are their service. */
	if (name[0] && ct->req.by_container)
		snprintf(ct->tgt_container, sizeof(ct->tgt_container), "container:%s", name);
}

static enum policy_verb verb_of(const struct ct_req *q)
{
	switch (q->kind) {
	case CT_RUN:
		return POLICY_RUN;
	case CT_ATTACH:
		return POLICY_ATTACH;
	case CT_LIST:
		return POLICY_PS;
	default:
		return POLICY_EXEC;
	}
}

/* The options of Q that the policy knows. */
static unsigned options_of(const struct ct_req *q)
{
	unsigned o = 0;
	const char *v;

	if (ct__opt_on(q, "privileged"))
		o |= POLICY_OPT_PRIVILEGED;
	if ((v = ct__opt(q, "volume")) != NULL && v[0])
		o |= POLICY_OPT_VOLUME;
	if (((v = ct__opt(q, "publish")) != NULL && v[0]) || ct__opt_on(q, "service-ports"))
		o |= POLICY_OPT_PUBLISH;
	if (ct__opt(q, "entrypoint") != NULL)
		o |= POLICY_OPT_ENTRYPOINT;
	if (q->n_env > 0)
		o |= POLICY_OPT_ENV;
	if (q->workdir[0])
		o |= POLICY_OPT_WORKDIR;
	return o;
}

/* CT's request as the policy reads it; TARGETS (2 slots) is filled. */
static struct policy_req request(const struct ct *ct, const char **targets)
{
	struct policy_req r = { .who = ct->who,
				.groups = (const char *const *)ct->groups,
				.n_groups = ct->n_groups,
				.verb = verb_of(&ct->req),
				.targets = targets,
				.options = options_of(&ct->req),
				.user = { .uid = -1 },
				.command = "" };

	/* The service first: the user's error line names the most telling of the two. */
	if (ct->tgt_service[0])
		targets[r.n_targets++] = ct->tgt_service;
	if (ct->tgt_container[0])
		targets[r.n_targets++] = ct->tgt_container;
	return r;
}

int ct__policy_check(struct ct *ct, struct ct_started *st, const struct policy_user *u,
		     const char *command)
{
	const char *targets[2];
	struct policy_req r = request(ct, targets);
	struct policy_decision d;
	char *joined = NULL, what[256], rule[512];

	if (ct->policy == NULL) {
		/* Every session is started with one (--allow-all has its own): fail closed. */
		ct__fail(st, REXEC__V1__ERROR_CODE__ERROR_INTERNAL, "no policy");
		return -1;
	}
	if (u != NULL)
		r.user = *u;
	if (command == NULL &&
	    (joined = policy_join((const char *const *)ct->req.argv, ct->req.n_argv)) == NULL) {
		ct__fail(st, REXEC__V1__ERROR_CODE__ERROR_INTERNAL, "out of memory");
		return -1;
	}
	r.command = command ? command : joined;
	d = policy_decide(ct->policy, &r);
	st->policy_decided = !policy_allows_all(ct->policy);
	st->policy_rule = d.rule;
	free(joined);
	if (d.allow)
		return 0;
	policy_describe(&r, what, sizeof(what));
	log_info("%s: denied by policy: %s: %s", ct->who, what,
		 policy_rule_render(ct->policy, d.rule, rule, sizeof(rule)));
	ct__fail(st, REXEC__V1__ERROR_CODE__ERROR_DENIED, "denied by policy: %s", what);
	return -1;
}

int ct__policy_may_list(struct ct *ct, const cJSON *c)
{
	const char *targets[2];
	struct policy_req r;

	if (ct->policy == NULL)
		return 0;
	if (policy_allows_all(ct->policy))
		return 1;
	ct__policy_targets(ct, c, 1);
	r = request(ct, targets);
	r.options = 0;
	return policy_decide(ct->policy, &r).allow;
}

int ct__policy_wants_user(const struct ct *ct)
{
	return ct->policy != NULL && policy_uses_users(ct->policy);
}
