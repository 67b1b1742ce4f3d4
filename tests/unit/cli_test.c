/* uses: client/cli.c client/fleet_cli.c */
/* cli_test.c: the command line: one table of verbs and options drives the parser and the
 * usage text; `ps` is parsed like every other verb (any number of options, in any order). */
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

/* Parses the NULL-terminated ARGS (what follows the program name). */
static int parse(struct cli_exec *e, const char *const *args)
{
	char *argv[64];
	int argc = 0;

	while (args[argc] != NULL && argc < 63) {
		argv[argc] = (char *)args[argc];
		argc++;
	}
	argv[argc] = NULL;
	return cli_parse(argc, argv, e);
}

/* Issue #15: options before `ps --config FILE` overflowed an 8-slot copy of argv and the
 * seventh and later ones were dropped. */
static void test_ps_many_options_then_config(void **state)
{
	struct cli_exec e;

	assert_int_equal(parse(&e, (const char *const[]){ "ps", "-v", "-v", "-v", "-v", "-v",
							  "--config", "/etc/x.conf", NULL }),
			 0);
	assert_int_equal(e.verb, CLI_PS);
	assert_int_equal(e.verbose, 5);
	assert_string_equal(e.config, "/etc/x.conf");
	assert_string_equal(e.host, "@all");
	cli_exec_free(&e);

	assert_int_equal(parse(&e, (const char *const[]){ "ps", "-v", "-v", "-v", "-v", "-v", "-v",
							  "-v", "-v", "--connect-timeout", "2s",
							  "--json", "--config=/c", "@prod", NULL }),
			 0);
	assert_int_equal(e.verbose, 8);
	assert_int_equal(e.connect_timeout_ms, 2000);
	assert_true(e.json && e.fleet_opts);
	assert_string_equal(e.config, "/c");
	assert_string_equal(e.host, "@prod");
	assert_int_equal(e.n_cmd, 0);
	cli_exec_free(&e);
}

static void test_ps_positionals(void **state)
{
	struct cli_exec e;

	assert_int_equal(parse(&e, (const char *const[]){ "--config", "/c", "ps", "dev", NULL }),
			 0);
	assert_int_equal(e.verb, CLI_PS);
	assert_string_equal(e.config, "/c");
	assert_string_equal(e.host, "dev");
	assert_int_equal(parse(&e, (const char *const[]){ "ps", "dev", "web", NULL }), -EINVAL);
	assert_int_equal(parse(&e, (const char *const[]){ "ps", "dev", "--", "ls", NULL }),
			 -EINVAL);
	/* An option of another verb is named as such, not run with. */
	assert_int_equal(parse(&e, (const char *const[]){ "ps", "-u", "root", NULL }), -EINVAL);
}

static void test_verbs_and_their_options(void **state)
{
	struct cli_exec e;

	assert_int_equal(
		parse(&e, (const char *const[]){ "-uroot", "--env=A=1", "-w", "/tmp", "dev", "web",
						 "-T", "--", "ls", "-l", NULL }),
		0);
	assert_int_equal(e.verb, CLI_EXEC);
	assert_string_equal(e.user, "root");
	assert_string_equal(e.workdir, "/tmp");
	assert_int_equal(e.n_env, 1);
	assert_string_equal(e.env[0], "A=1");
	assert_int_equal(e.tty, CLI_TTY_NONE);
	assert_string_equal(e.service, "web");
	assert_int_equal(e.n_cmd, 2);
	assert_string_equal(e.cmd[1], "-l");
	cli_exec_free(&e);

	/* -v: --volume for run, --verbose elsewhere. */
	assert_int_equal(parse(&e, (const char *const[]){ "run", "-v", "/a:/b", "--rm", "dev",
							  "web", NULL }),
			 0);
	assert_string_equal(e.volumes, "/a:/b");
	assert_true(e.rm);
	assert_int_equal(e.verbose, 0);
	cli_exec_free(&e);
	assert_int_equal(parse(&e, (const char *const[]){ "exec", "-v", "dev", "web", NULL }), 0);
	assert_int_equal(e.verbose, 1);

	assert_int_equal(parse(&e, (const char *const[]){ "attach", "--sig-proxy=false", "--index",
							  "2", "dev", "web", NULL }),
			 0);
	assert_false(e.sig_proxy);
	assert_int_equal(e.index, 2);
	assert_int_equal(parse(&e, (const char *const[]){ "attach", "--rm", "dev", "web", NULL }),
			 -EINVAL);
	assert_int_equal(parse(&e, (const char *const[]){ "--tty=1", "dev", NULL }), -EINVAL);
	assert_int_equal(parse(&e, (const char *const[]){ "-u", NULL }), -EINVAL);
	assert_int_equal(parse(&e, (const char *const[]){ "--nope", "dev", NULL }), -EINVAL);
	assert_int_equal(parse(&e, (const char *const[]){ "-T", NULL }), -EINVAL);
	assert_int_equal(parse(&e, (const char *const[]){ "ps", "--help", NULL }), CLI_HELP_SHOWN);
}

/* The table is sound: names well formed, no name taken twice by one verb, every option id
 * reachable, and the usage text of each verb shows each of its options. */
static void test_table(void **state)
{
	size_t i, j, len;
	int id;
	char *text;
	FILE *f;

	for (i = 0; i < cli_n_opts; i++) {
		const struct cli_opt *o = &cli_opts[i];
		assert_true(strncmp(o->long_name, "--", 2) == 0 && strlen(o->long_name) > 3);
		assert_true(o->short_name == NULL ||
			    (o->short_name[0] == '-' && strlen(o->short_name) == 2));
		assert_true(o->verbs != 0 && (o->verbs & ~CLI_ALL_VERBS) == 0);
		assert_true(o->help != NULL && o->help[0] != 0);
		assert_true((o->arg == CLI_ARG_NONE) == (o->value == NULL));
		for (j = 0; j < i; j++) {
			const struct cli_opt *p = &cli_opts[j];
			if (!(o->verbs & p->verbs))
				continue;
			assert_string_not_equal(o->long_name, p->long_name);
			assert_true(o->short_name == NULL || p->short_name == NULL ||
				    strcmp(o->short_name, p->short_name) != 0);
		}
	}
	for (id = CLI_OPT_CONFIG; id <= CLI_OPT_ANY; id++) {
		for (i = 0; i < cli_n_opts && (int)cli_opts[i].id != id; i++)
			;
		assert_true(i < cli_n_opts);
	}
	for (j = 0; j < cli_n_verbs; j++) {
		assert_int_equal(cli_verbs[j].verb, j); /* cli_verbs[verb] is the verb's row */
		f = open_memstream(&text, &len);
		assert_non_null(f);
		cli_usage(f, (int)cli_verbs[j].verb);
		fclose(f);
		assert_non_null(strstr(text, cli_verbs[j].name));
		for (i = 0; i < cli_n_opts; i++)
			if (cli_opts[i].verbs & CLI_BIT(cli_verbs[j].verb))
				assert_non_null(strstr(text, cli_opts[i].long_name));
		free(text);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ps_many_options_then_config),
		cmocka_unit_test(test_ps_positionals),
		cmocka_unit_test(test_verbs_and_their_options),
		cmocka_unit_test(test_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
