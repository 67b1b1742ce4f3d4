/* uses: agent/policy.c */
/* policy_test.c: the agent's policy: the loader's errors (FILE:LINE, unknown keys, verbs,
 * options, wrong kinds) and the decision: deny wins, each field allowing and denying, fields
 * that do not apply, "root" as uid 0 however it is asked, options and commands. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/policy.h"
#include "proto/error.h"

static struct policy *load(const char *text)
{
	struct policy *p = NULL;
	char err[512] = "";
	int ret = policy_load_string(text, strlen(text), "p.yaml", &p, err, sizeof(err));

	if (ret != 0)
		fail_msg("load: %s", err);
	return p;
}

/* Loads TEXT, which must fail with a message starting with WANT. */
static void load_fails(const char *text, const char *want)
{
	struct policy *p = NULL;
	char err[512] = "";
	int ret = policy_load_string(text, strlen(text), "p.yaml", &p, err, sizeof(err));

	assert_true(ret < 0);
	assert_null(p);
	if (strncmp(err, want, strlen(want)) != 0)
		fail_msg("want '%s...', got '%s'", want, err);
}

/* A request of WHO for VERB on TARGET as USER (NULL: the default user, root) with CMD. */
static struct policy_req req(const char *who, enum policy_verb verb, const char *const *targets,
			     size_t n_targets)
{
	struct policy_req r = { .who = who,
				.verb = verb,
				.targets = targets,
				.n_targets = n_targets,
				.user = { .given = false, .name = "root", .uid = 0 },
				.command = "" };
	return r;
}

static const char *const web[] = { "shop/web" };

static void test_loader_errors_name_the_line(void **state)
{
	load_fails("rules:\n  - allow:\n      who: [alice]\n      verb: [exec]\n",
		   "p.yaml:4: unknown key 'verb' in a rule");
	load_fails("rules:\n  - allow:\n      verbs: [exec, shell]\n",
		   "p.yaml:3: verbs: unknown verb 'shell'");
	load_fails("rules:\n  - allow:\n      verbs:\n        - exec\n        - cp\n",
		   "p.yaml:5: verbs: unknown verb 'cp'");
	load_fails("rules:\n  - allow:\n      options: [sudo]\n",
		   "p.yaml:3: options: unknown option 'sudo'");
	load_fails("rules:\n  - permit:\n      who: [alice]\n", "p.yaml:2: unknown rule kind");
	load_fails("rules:\n  - allow:\n      who: {alice: 1}\n", "p.yaml:3: who: expected a list");
	load_fails("rules:\n  - allow:\n      who: [[alice]]\n",
		   "p.yaml:3: who: expected a string");
	load_fails("rules:\n  - allow: [who]\n", "p.yaml:2: allow: expected a mapping");
	load_fails("rules:\n  - allow:\n      who: []\n", "p.yaml:3: who: an empty list");
	load_fails("rule:\n  - allow: {}\n", "p.yaml:1: unknown key 'rule'");
	load_fails("rules: {allow: {}}\n", "p.yaml:1: rules: expected a list");
	load_fails("rules:\n  - allow:\n      who: [alice\n", "p.yaml:4:");
	load_fails("", "p.yaml: empty");
	load_fails("rules:\n  - allow: {}\n    deny: {}\n", "p.yaml:2: a rule is one key");
}

static void test_empty_rules_deny_everything(void **state)
{
	struct policy *p = load("rules: []\n");
	struct policy_req r = req("alice", POLICY_EXEC, web, 1);
	struct policy_decision d = policy_decide(p, &r);
	char buf[128];

	assert_false(d.allow);
	assert_int_equal(d.rule, POLICY_NO_RULE);
	assert_string_equal(policy_rule_render(p, d.rule, buf, sizeof(buf)), "no rule allows");
	policy_unref(p);
}

static void test_who_by_name_group_and_star(void **state)
{
	struct policy *p = load("rules:\n"
				"  - allow: {who: [alice, \"@ops\"]}\n");
	const char *const groups[] = { "dev", "ops" };
	struct policy_req r = req("alice", POLICY_PS, web, 1);

	assert_true(policy_decide(p, &r).allow);
	r.who = "bob";
	assert_false(policy_decide(p, &r).allow);
	r.groups = groups;
	r.n_groups = 2;
	assert_true(policy_decide(p, &r).allow);
	r.n_groups = 1; /* only "dev" */
	assert_false(policy_decide(p, &r).allow);
	r.who = "ALICE"; /* names are exact */
	assert_false(policy_decide(p, &r).allow);
	policy_unref(p);
	p = load("rules:\n  - allow: {who: \"*\"}\n");
	assert_true(policy_decide(p, &r).allow);
	policy_unref(p);
}

static void test_verbs_and_targets(void **state)
{
	struct policy *p =
		load("rules:\n"
		     "  - allow:\n"
		     "      verbs: [exec, ps]\n"
		     "      targets: [\"shop/*\", \"*/api\", host, \"container:db-*\"]\n");
	const char *const t_api[] = { "blog/api" }, *const t_blog[] = { "blog/web" },
			  *const t_host[] = { "host" }, *const t_db[] = { "container:db-1" },
			  *const t_deep[] = { "shop/web/x" };
	struct policy_req r = req("alice", POLICY_EXEC, web, 1);

	assert_true(policy_decide(p, &r).allow);
	r.verb = POLICY_RUN;
	assert_false(policy_decide(p, &r).allow);
	r.verb = POLICY_ATTACH;
	assert_false(policy_decide(p, &r).allow);
	r.verb = POLICY_PS;
	assert_true(policy_decide(p, &r).allow);
	r.targets = t_api;
	assert_true(policy_decide(p, &r).allow);
	r.targets = t_blog;
	assert_false(policy_decide(p, &r).allow);
	r.targets = t_host;
	assert_true(policy_decide(p, &r).allow);
	r.targets = t_db;
	assert_true(policy_decide(p, &r).allow);
	/* No FNM_PATHNAME: '*' spans a '/'. */
	r.targets = t_deep;
	assert_true(policy_decide(p, &r).allow);
	policy_unref(p);
}

/* --container NAME matches container:NAME and its own PROJECT/SERVICE: a deny on the service
 * is not bypassed by naming the container. */
static void test_container_name_does_not_bypass_service_rule(void **state)
{
	struct policy *p = load("rules:\n"
				"  - allow: {targets: [\"container:*\"]}\n"
				"  - deny: {targets: [shop/db]}\n");
	const char *const both[] = { "shop/db", "container:shop-db-1" };
	const char *const other[] = { "shop/web", "container:shop-web-1" };
	struct policy_req r = req("alice", POLICY_EXEC, both, 2);
	struct policy_decision d = policy_decide(p, &r);

	assert_false(d.allow);
	assert_int_equal(d.rule, 1);
	r.targets = other;
	d = policy_decide(p, &r);
	assert_true(d.allow);
	assert_int_equal(d.rule, 0);
	policy_unref(p);
}

/* -u 0, -u root and a default user that resolves to uid 0 are one user. */
static void test_root_is_uid_0_however_asked(void **state)
{
	struct policy *p = load("rules:\n"
				"  - allow: {users: [\"*\"]}\n"
				"  - deny: {users: [root]}\n");
	struct policy_req r = req("alice", POLICY_EXEC, web, 1);
	struct policy_decision d;

	r.user = (struct policy_user){ .given = true, .name = "root", .uid = 0 }; /* -u root */
	d = policy_decide(p, &r);
	assert_false(d.allow);
	assert_int_equal(d.rule, 1);
	r.user = (struct policy_user){ .given = true, .name = "root", .uid = 0 }; /* -u 0 */
	assert_false(policy_decide(p, &r).allow);
	r.user = (struct policy_user){ .given = true, .name = "toor", .uid = 0 }; /* another name */
	assert_false(policy_decide(p, &r).allow);
	r.user = (struct policy_user){ .given = false, .name = NULL, .uid = 0 }; /* default */
	assert_false(policy_decide(p, &r).allow);
	r.user = (struct policy_user){ .given = true, .name = "app", .uid = 1000 };
	assert_true(policy_decide(p, &r).allow);
	policy_unref(p);
	/* "0" in a rule is root too. */
	p = load("rules:\n  - allow: {users: [\"0\"]}\n");
	r.user = (struct policy_user){ .given = false, .name = "root", .uid = 0 };
	assert_true(policy_decide(p, &r).allow);
	policy_unref(p);
}

static void test_users_by_name_uid_and_default(void **state)
{
	struct policy *p = load("rules:\n"
				"  - allow: {users: [app, \"2000\", default]}\n");
	struct policy_req r = req("alice", POLICY_EXEC, web, 1);

	r.user = (struct policy_user){ .given = true, .name = "app", .uid = 1000 };
	assert_true(policy_decide(p, &r).allow);
	r.user = (struct policy_user){ .given = true, .name = NULL, .uid = 2000 };
	assert_true(policy_decide(p, &r).allow);
	r.user = (struct policy_user){ .given = true, .name = "web", .uid = 1001 };
	assert_false(policy_decide(p, &r).allow);
	r.user = (struct policy_user){ .given = false, .name = "web", .uid = 1001 };
	assert_true(policy_decide(p, &r).allow);
	policy_unref(p);
}

/* run: names literally, uids numerically; a name not resolved matches no uid. */
static void test_run_users_are_literal(void **state)
{
	struct policy *p = load("rules:\n"
				"  - allow: {verbs: [run], users: [app, \"1000\"]}\n"
				"  - deny: {users: [root]}\n");
	struct policy_req r = req("alice", POLICY_RUN, web, 1);
	char buf[64];

	policy_user_literal("app", true, &r.user, buf, sizeof(buf));
	assert_true(policy_decide(p, &r).allow);
	policy_user_literal("1000:1000", true, &r.user, buf, sizeof(buf));
	assert_true(policy_decide(p, &r).allow);
	policy_user_literal("web", true, &r.user, buf, sizeof(buf));
	assert_false(policy_decide(p, &r).allow);
	policy_user_literal("0", true, &r.user, buf, sizeof(buf));
	assert_int_equal(policy_decide(p, &r).rule, 1);
	policy_user_literal("root", true, &r.user, buf, sizeof(buf));
	assert_int_equal(policy_decide(p, &r).rule, 1);
	policy_user_literal("", false, &r.user, buf, sizeof(buf)); /* an image without USER */
	assert_int_equal(policy_decide(p, &r).rule, 1);
	policy_unref(p);
	p = load("rules:\n  - allow: {verbs: [run], users: [\"*\"]}\n");
	policy_user_literal("nobody-knows", true, &r.user, buf, sizeof(buf));
	assert_true(policy_decide(p, &r).allow);
	policy_unref(p);
}

/* users and commands do not apply to ps and attach: a rule naming them does not match. */
static void test_fields_that_do_not_apply(void **state)
{
	struct policy *p = load("rules:\n"
				"  - deny: {users: [root]}\n"
				"  - allow: {verbs: [ps, attach], commands: [\"*\"]}\n"
				"  - allow: {verbs: [ps]}\n");
	struct policy_req r = req("alice", POLICY_PS, web, 1);
	struct policy_decision d = policy_decide(p, &r);

	assert_true(d.allow);
	assert_int_equal(d.rule, 2);
	r.verb = POLICY_ATTACH;
	d = policy_decide(p, &r);
	assert_false(d.allow);
	assert_int_equal(d.rule, POLICY_NO_RULE);
	policy_unref(p);
}

static void test_commands(void **state)
{
	struct policy *p = load("rules:\n"
				"  - allow:\n"
				"      verbs: [exec, run]\n"
				"      commands: [\"./manage.py migrate*\", \"\"]\n");
	struct policy_req r = req("ci", POLICY_RUN, web, 1);

	r.command = "./manage.py migrate";
	assert_true(policy_decide(p, &r).allow);
	r.command = "./manage.py migrate app/x --plan";
	assert_true(policy_decide(p, &r).allow);
	r.command = "./manage.py shell";
	assert_false(policy_decide(p, &r).allow);
	r.command = "sh -c ./manage.py migrate";
	assert_false(policy_decide(p, &r).allow);
	r.command = ""; /* the login shell, the image's command: only "" */
	assert_true(policy_decide(p, &r).allow);
	policy_unref(p);
	p = load("rules:\n  - allow: {commands: [\"ls *\"]}\n");
	r.command = "";
	assert_false(policy_decide(p, &r).allow);
	policy_unref(p);
}

static void test_options(void **state)
{
	struct policy *p =
		load("rules:\n"
		     "  - allow: {verbs: [exec]}\n"
		     "  - allow: {verbs: [run], options: [volume]}\n"
		     "  - allow: {verbs: [run], commands: [\"migrate*\"], options: [env]}\n");
	struct policy_req r = req("alice", POLICY_EXEC, web, 1);

	/* env and workdir count only under a rule that restricts commands. */
	r.options = POLICY_OPT_ENV | POLICY_OPT_WORKDIR;
	assert_int_equal(policy_decide(p, &r).rule, 0);
	r.options = POLICY_OPT_PRIVILEGED;
	assert_false(policy_decide(p, &r).allow);
	r.verb = POLICY_RUN;
	r.options = POLICY_OPT_VOLUME | POLICY_OPT_ENV;
	assert_int_equal(policy_decide(p, &r).rule, 1);
	r.options = POLICY_OPT_PUBLISH;
	assert_false(policy_decide(p, &r).allow);
	r.command = "migrate --all";
	r.options = POLICY_OPT_ENV;
	assert_int_equal(policy_decide(p, &r).rule, 1); /* rule 1 has no commands: env is free */
	policy_unref(p);
	p = load("rules:\n  - allow: {verbs: [run], commands: [\"migrate*\"], options: [env]}\n");
	r.options = POLICY_OPT_ENV;
	assert_true(policy_decide(p, &r).allow);
	r.options = POLICY_OPT_WORKDIR;
	assert_false(policy_decide(p, &r).allow);
	r.options = POLICY_OPT_ENTRYPOINT;
	assert_false(policy_decide(p, &r).allow);
	policy_unref(p);
	/* A deny rule's options: it matches a request that uses one of them. */
	p = load("rules:\n  - allow: {options: [privileged, env]}\n"
		 "  - deny: {options: [privileged]}\n");
	r.options = POLICY_OPT_ENV;
	assert_true(policy_decide(p, &r).allow);
	r.options = POLICY_OPT_PRIVILEGED;
	assert_int_equal(policy_decide(p, &r).rule, 1);
	policy_unref(p);
}

static void test_deny_wins_and_render(void **state)
{
	struct policy *p = load("rules:\n"
				"  - allow:\n"
				"      who: [alice]\n"
				"  - deny:\n"
				"      who: [\"*\"]\n"
				"      targets: [shop/db]\n");
	const char *const db[] = { "shop/db" };
	struct policy_req r = req("alice", POLICY_EXEC, db, 1);
	struct policy_decision d = policy_decide(p, &r);
	char buf[256];

	assert_false(d.allow);
	assert_int_equal(d.rule, 1);
	assert_string_equal(policy_rule_render(p, d.rule, buf, sizeof(buf)),
			    "rule 1 (p.yaml:4): deny who [\"*\"] targets [\"shop/db\"]");
	assert_string_equal(policy_describe(&r, buf, sizeof(buf)),
			    "exec in shop/db as root (the default user)");
	r.user = (struct policy_user){ .given = true, .name = NULL, .uid = 7 };
	assert_string_equal(policy_describe(&r, buf, sizeof(buf)), "exec in shop/db as uid 7");
	policy_unref(p);
}

static void test_allow_all_and_refs(void **state)
{
	struct policy *p = policy_new_allow_all();
	struct policy_req r = req("anyone", POLICY_RUN, web, 1);

	assert_non_null(p);
	assert_true(policy_allows_all(p));
	assert_true(policy_decide(p, &r).allow);
	assert_ptr_equal(policy_ref(p), p);
	policy_unref(p);
	policy_unref(p);
	p = load("rules:\n  - allow: {verbs: [ps]}\n");
	assert_false(policy_uses_users(p));
	policy_unref(p);
	p = load("rules:\n  - deny: {users: [root]}\n");
	assert_true(policy_uses_users(p));
	assert_int_equal(policy_n_rules(p), 1);
	policy_unref(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_loader_errors_name_the_line),
		cmocka_unit_test(test_empty_rules_deny_everything),
		cmocka_unit_test(test_who_by_name_group_and_star),
		cmocka_unit_test(test_verbs_and_targets),
		cmocka_unit_test(test_container_name_does_not_bypass_service_rule),
		cmocka_unit_test(test_root_is_uid_0_however_asked),
		cmocka_unit_test(test_users_by_name_uid_and_default),
		cmocka_unit_test(test_run_users_are_literal),
		cmocka_unit_test(test_fields_that_do_not_apply),
		cmocka_unit_test(test_commands),
		cmocka_unit_test(test_options),
		cmocka_unit_test(test_deny_wins_and_render),
		cmocka_unit_test(test_allow_all_and_refs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
