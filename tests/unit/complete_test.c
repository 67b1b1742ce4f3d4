/* uses: client/complete.c client/cli.c client/fleet_cli.c client/config.c client/select.c client/svccache.c client/cmd_pki.c */
/* complete_test.c: `rexec __complete` walks the line over the parser's own option table: every
 * option that takes a value is followed by its value, every flag by HOST; and a service cache
 * with hostile names yields only the safe ones. A real inventory and cache file in a fresh
 * temporary directory ($REXEC_CONFIG, $XDG_RUNTIME_DIR). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client/cli.h"
#include "client/cmd_pki.h"
#include "client/complete.h"

/* The temporary directory of the test run, its inventory and cache. */
struct fixture {
	char dir[64];
	char config[128];
	char cache[128];
};

/* Writes TEXT into PATH. */
static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/complete_test.XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	snprintf(fx->config, sizeof(fx->config), "%s/inv.yaml", fx->dir);
	snprintf(fx->cache, sizeof(fx->cache), "%s/rexec-services", fx->dir);
	write_file(fx->config, "hosts:\n  h1: { address: 127.0.0.1:1, groups: [g] }\n");
	setenv("REXEC_CONFIG", fx->config, 1);
	setenv("XDG_RUNTIME_DIR", fx->dir, 1);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	unlink(fx->config);
	unlink(fx->cache);
	rmdir(fx->dir);
	free(fx);
	return 0;
}

/* The output of `rexec __complete` for the NULL-terminated WORDS, as a new string. */
static char *complete(const char *first, ...)
{
	char *argv[16], *buf = NULL;
	size_t len = 0;
	int argc = 0;
	va_list ap;
	FILE *out = open_memstream(&buf, &len);

	assert_non_null(out);
	va_start(ap, first);
	for (const char *w = first; w != NULL && argc < 15; w = va_arg(ap, const char *))
		argv[argc++] = (char *)w;
	va_end(ap);
	assert_int_equal(complete_main(argc, argv, out), 0);
	assert_int_equal(fclose(out), 0);
	return buf;
}

/* For each verb: after an option that takes a value, nothing but the value's directive; after
 * a flag, HOST (h1 of the inventory) again. Both as the parser reads them. */
static void test_values_and_flags_follow_the_table(void **state)
{
	size_t i, v;

	(void)state;
	for (v = 0; v < cli_n_verbs; v++) {
		for (i = 0; i < cli_n_opts; i++) {
			const struct cli_opt *o = &cli_opts[i];
			char *out;
			if (!(o->verbs & CLI_BIT(cli_verbs[v].verb)) || o->id == CLI_OPT_HELP)
				continue;
			out = complete(cli_verbs[v].name, o->long_name, "", NULL);
			if (o->arg == CLI_ARG_REQUIRED)
				assert_string_equal(out,
						    o->id == CLI_OPT_CONFIG ? ":files\n" : ":\n");
			else
				assert_non_null(strstr(out, "h1\thost\n"));
			free(out);
			if (o->short_name != NULL && o->arg == CLI_ARG_REQUIRED) {
				out = complete(cli_verbs[v].name, o->short_name, "x", "", NULL);
				/* -uVALUE would be one word; -u VALUE HOST...: h1 follows */
				assert_non_null(strstr(out, "h1\thost\n"));
				free(out);
			}
		}
	}
}

/* Every long option of a verb, and only those, after "--". */
static void test_options_of_each_verb(void **state)
{
	size_t i, v;

	(void)state;
	for (v = 0; v < cli_n_verbs; v++) {
		char *out = complete(cli_verbs[v].name, "--", NULL), want[80];
		for (i = 0; i < cli_n_opts; i++) {
			snprintf(want, sizeof(want), "%s\t", cli_opts[i].long_name);
			if (cli_opts[i].verbs & CLI_BIT(cli_verbs[v].verb))
				assert_non_null(strstr(out, want));
			else if (strcmp(cli_opts[i].long_name, "--verbose") != 0)
				assert_null(strstr(out, want));
		}
		free(out);
	}
}

/* Each ca/cert subcommand's positional argument completes as its table row's kind says (a row
 * names a kind exactly when it names a positional), and `ca init DIR` is a directory. */
static void test_pki_positional_follows_its_kind(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < PKI_N_CMDS; i++) {
		const struct cmd_pki_sub *s = &cmd_pki_subs[i];
		char *out = complete(s->verb, s->sub, "", NULL);
		assert_int_equal(s->pos == NULL, s->pos_kind == PKI_POS_NONE);
		if (s->pos_kind == PKI_POS_DIR)
			assert_string_equal(out, ":dirs\n");
		else if (s->pos_kind == PKI_POS_FILE)
			assert_string_equal(out, ":files\n");
		else
			assert_string_equal(out, ":\n");
		free(out);
	}
	assert_int_equal(cmd_pki_subs[PKI_CA_INIT].pos_kind, PKI_POS_DIR);
	assert_int_equal(cmd_pki_subs[PKI_CERT_SHOW].pos_kind, PKI_POS_FILE);
}

/* Hostile service names in the cache are skipped; the others are offered once each. */
static void test_hostile_cache_names_skipped(void **state)
{
	struct fixture *fx = *state;
	char text[2048], *out;
	long long exp = (long long)time(NULL) + 10;

	snprintf(text, sizeof(text),
		 "%lld\t%s\tapi\th1\n"
		 "%lld\t%s\t$(touch x)\th1\n"
		 "%lld\t%s\ta b\th1\n"
		 "%lld\t%s\tesc\033]0;t\007\th1\n"
		 "%lld\t%s\t-rf\th1\n"
		 "%lld\t%s\tapi\th1\n"
		 "%lld\t/elsewhere.yaml\tother\th1\n",
		 exp, fx->config, exp, fx->config, exp, fx->config, exp, fx->config, exp,
		 fx->config, exp, fx->config, exp);
	write_file(fx->cache, text);
	out = complete("h1", "", NULL);
	assert_string_equal(out, "api\tservice\n:\n");
	free(out);
	out = complete("", NULL);
	assert_non_null(strstr(out, "\nh1\thost\n@all\tevery host\n@g\tgroup\napi\tservice\n:\n"));
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_values_and_flags_follow_the_table),
		cmocka_unit_test(test_options_of_each_verb),
		cmocka_unit_test(test_pki_positional_follows_its_kind),
		cmocka_unit_test(test_hostile_cache_names_skipped),
	};

	return cmocka_run_group_tests_name("complete", tests, setup, teardown);
}
