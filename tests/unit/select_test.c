/* uses: client/select.c client/config.c client/cli.c client/fleet_cli.c */
/* select_test.c: host selectors over an inventory built in memory (names, @group, @all,
 * globs, comma lists, order and duplicates, errors, bare names), and the fan-out options. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/cli.h"
#include "client/config.h"
#include "client/fleet_cli.h"
#include "client/select.h"
#include "proto/error.h"

static char *prod_eu[] = { "prod", "eu" };
static char *prod[] = { "prod" };
static char *staging[] = { "staging" };

static struct client_host hosts[] = {
	{ .name = "web-1", .groups = prod_eu, .n_groups = 2 },
	{ .name = "web-2", .groups = prod, .n_groups = 1 },
	{ .name = "web-10", .groups = prod, .n_groups = 1 },
	{ .name = "db-1", .groups = staging, .n_groups = 1 },
	{ .name = "cache", .groups = NULL, .n_groups = 0 },
};

static struct client_config cfg = {
	.path = "/etc/rexec/config.yaml",
	.hosts = hosts,
	.n_hosts = sizeof(hosts) / sizeof(hosts[0]),
};

/* Expands SEL and checks it gives the hosts named in WANT (space-separated, in order). */
static void expect(const char *sel, const char *want, int is_set)
{
	struct selection s;
	char err[256] = "", got[256] = "";
	size_t i;

	assert_int_equal(select_expand(&cfg, sel, &s, err, sizeof(err)), 0);
	for (i = 0; i < s.n; i++) {
		strcat(got, i ? " " : "");
		strcat(got, cfg.hosts[s.idx[i]].name);
	}
	assert_string_equal(got, want);
	assert_int_equal(s.is_set, is_set);
	selection_free(&s);
}

/* Expands SEL, expects RET and a message containing WHAT. */
static void expect_error(const char *sel, int ret, const char *what)
{
	struct selection s;
	char err[256] = "";

	assert_int_equal(select_expand(&cfg, sel, &s, err, sizeof(err)), ret);
	if (strstr(err, what) == NULL)
		fail_msg("selector '%s': message '%s' lacks '%s'", sel, err, what);
	assert_null(strchr(err, '\n'));
	assert_null(s.idx);
	assert_int_equal(s.n, 0);
}

static void test_names_groups_all(void **state)
{
	expect("web-2", "web-2", 0);
	expect("@prod", "web-1 web-2 web-10", 1);
	expect("@eu", "web-1", 1);
	expect("@all", "web-1 web-2 web-10 db-1 cache", 1);
}

static void test_globs(void **state)
{
	expect("web-*", "web-1 web-2 web-10", 1);
	expect("web-?", "web-1 web-2", 1);
	expect("*-1*", "web-1 web-10 db-1", 1);
	expect("[cd]*", "db-1 cache", 1);
}

static void test_comma_lists_keep_order_and_drop_duplicates(void **state)
{
	expect("cache,web-2", "cache web-2", 1);
	expect("db-1,@prod,web-1,web-*", "db-1 web-1 web-2 web-10", 1);
	expect("@staging,@staging", "db-1", 1);
}

static void test_errors(void **state)
{
	expect_error("web-3", REXEC_ENOT_FOUND, "web-3: no such host in /etc/rexec/config.yaml");
	expect_error("prod", REXEC_ENOT_FOUND, "a group is written @prod");
	expect_error("@nope", REXEC_ENOT_FOUND, "group nope");
	expect_error("x*", REXEC_ENOT_FOUND, "matches no host");
	expect_error("web-1,,web-2", REXEC_ECONFIG, "empty host selector term");
	expect_error("web-1,", REXEC_ECONFIG, "empty host selector term");
	expect_error("@", REXEC_ECONFIG, "empty host selector term");
	expect_error("web-1,nope", REXEC_ENOT_FOUND, "nope: no such host");
}

static void test_long_term(void **state)
{
	char sel[SELECT_TERM_MAX + 8];

	memset(sel, 'a', sizeof(sel) - 1);
	sel[sizeof(sel) - 1] = 0;
	expect_error(sel, REXEC_ECONFIG, "too long");
}

static void test_bare_names(void **state)
{
	assert_true(select_is_bare_name(&cfg, "worker"));
	assert_false(select_is_bare_name(&cfg, "web-1"));   /* a host */
	assert_false(select_is_bare_name(&cfg, "prod"));    /* a group */
	assert_false(select_is_bare_name(&cfg, "@worker")); /* set syntax */
	assert_false(select_is_bare_name(&cfg, "work*"));
	assert_false(select_is_bare_name(&cfg, "a,b"));
	assert_false(select_is_bare_name(&cfg, ""));
}

static void test_empty_inventory(void **state)
{
	struct client_config none = { .path = "/x.yaml" };
	struct selection s;
	char err[256] = "";

	assert_int_equal(select_expand(&none, "@all", &s, err, sizeof(err)), REXEC_ENOT_FOUND);
	assert_non_null(strstr(err, "lists no hosts"));
}

/* Parses ARGS (NULL-terminated) as the options of `rexec ps ARGS... @all`. */
static int parse(struct cli_exec *e, const char *const *args)
{
	char *argv[16];
	int argc = 0;

	argv[argc++] = "ps";
	while (args[argc - 1] != NULL)
		argv[argc] = (char *)args[argc - 1], argc++;
	argv[argc++] = "@all";
	return cli_parse(argc, argv, e);
}

static void test_fleet_options(void **state)
{
	struct cli_exec e;

	assert_int_equal(
		parse(&e,
		      (const char *const[]){ "--parallel", "8", "--batch=25%", "--max-fail", "3",
					     "--timeout", "1m", "--connect-timeout=500ms", "--json",
					     "--group", "--fail-fast", "--any", NULL }),
		0);
	assert_int_equal(e.parallel, 8);
	assert_int_equal(e.batch, 25);
	assert_true(e.batch_pct);
	assert_int_equal(e.max_fail, 3);
	assert_false(e.max_fail_pct);
	assert_int_equal(e.timeout_ms, 60000);
	assert_int_equal(e.connect_timeout_ms, 500);
	assert_true(e.json && e.group && e.fail_fast && e.any);

	assert_int_equal(parse(&e, (const char *const[]){ "--parallelism", "2", NULL }), -EINVAL);
	assert_int_equal(parse(&e, (const char *const[]){ "--json=1", NULL }), -EINVAL);
	assert_int_equal(parse(&e, (const char *const[]){ "-v", NULL }), 0);
	assert_false(e.fleet_opts);
}

static void test_fleet_option_errors(void **state)
{
	struct cli_exec e;

	assert_int_equal(parse(&e, (const char *const[]){ "--parallel", "0", NULL }), -EINVAL);
	assert_int_equal(parse(&e, (const char *const[]){ "--parallel", "10%", NULL }), -EINVAL);
	assert_int_equal(parse(&e, (const char *const[]){ "--batch", "101%", NULL }), -EINVAL);
	assert_int_equal(parse(&e, (const char *const[]){ "--max-fail", "-1", NULL }), -EINVAL);
	assert_int_equal(parse(&e, (const char *const[]){ "--max-fail", "2x", NULL }), -EINVAL);
	assert_int_equal(parse(&e, (const char *const[]){ "--timeout", "soon", NULL }), -EINVAL);
	assert_int_equal(parse(&e, (const char *const[]){ "--timeout", "0", NULL }), -EINVAL);
	assert_int_equal(parse(&e, (const char *const[]){ "--timeout", NULL }), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names_groups_all),
		cmocka_unit_test(test_globs),
		cmocka_unit_test(test_comma_lists_keep_order_and_drop_duplicates),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_long_term),
		cmocka_unit_test(test_bare_names),
		cmocka_unit_test(test_empty_inventory),
		cmocka_unit_test(test_fleet_options),
		cmocka_unit_test(test_fleet_option_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
