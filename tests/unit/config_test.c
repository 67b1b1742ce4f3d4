/* uses: client/config.c agent/config.c */
/* config_test.c: lib/yconf's tree and getters, the client's config + inventory file and the
 * agent's config file, each read from real files in a fresh temporary directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/config.h"
#include "client/config.h"
#include "lib/yconf.h"
#include "proto/error.h"

static const char client_sample[] =
	"ca: ca.pem\n"
	"cert: /etc/rexec/ops.pem\n"
	"key: keys/ops-key.pem\n"
	"hosts:\n"
	"  web-1: { address: 127.0.0.11:7600, groups: [prod, eu] }\n"
	"  web-2: { address: \"[::1]:7601\", groups: [prod], server_name: web-2.example }\n"
	"  dev: { address: 127.0.0.1 }\n"
	"  db:\n"
	"    address: db.internal:7700\n"
	"    groups: staging\n"
	"    labels: { role: primary, zone: a }\n"
	"    ca: other-ca.pem\n"
	"  short: 10.1.2.3\n"
	"defaults: { connect_timeout: 2m }\n";

/* A fresh directory per test, removed with its files afterwards. */
struct tmp {
	char dir[64];
	char path[8][PATH_MAX];
	size_t n;
};

static int setup(void **state)
{
	struct tmp *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	strcpy(t->dir, "/tmp/rexec-config-XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct tmp *t = *state;
	size_t i;

	for (i = 0; i < t->n; i++)
		unlink(t->path[i]);
	rmdir(t->dir);
	free(t);
	return 0;
}

/* "DIR/NAME" of the test's directory, in a static buffer. */
static const char *in_dir(struct tmp *t, const char *name)
{
	static char buf[PATH_MAX];

	snprintf(buf, sizeof(buf), "%s/%s", t->dir, name);
	return buf;
}

/* Writes TEXT to NAME in the test's directory; returns the file's path. */
static const char *write_file(struct tmp *t, const char *name, const char *text)
{
	char *path;
	FILE *f;

	assert_true(t->n < sizeof(t->path) / sizeof(t->path[0]));
	path = t->path[t->n++];
	strcpy(path, in_dir(t, name));
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
	assert_int_equal(fclose(f), 0);
	return path;
}

/* ---- lib/yconf ---- */

static void test_yconf_tree_and_lines(void **state)
{
	static const char doc[] = "# comment\n"
				  "a: 1\n"
				  "b:\n"
				  "  - x\n"
				  "  - { k: v }\n"
				  "c:\n"
				  "d: \"\"\n";
	const struct yconf_node *root, *b, *c, *d;
	struct yconf *y = NULL;
	char err[256] = "";

	assert_int_equal(yconf_load_string(doc, strlen(doc), "t.yaml", &y, err, sizeof(err)), 0);
	root = yconf_root(y);
	assert_int_equal(yconf_kind(root), YCONF_MAP);
	assert_int_equal(yconf_len(root), 4);
	assert_string_equal(yconf_scalar(yconf_key(root, 0)), "a");
	assert_int_equal(yconf_line(yconf_key(root, 0)), 2);
	assert_string_equal(yconf_scalar(yconf_value(root, 0)), "1");
	b = yconf_lookup(root, "b");
	assert_non_null(b);
	assert_int_equal(yconf_kind(b), YCONF_SEQ);
	assert_int_equal(yconf_len(b), 2);
	assert_int_equal(yconf_line(yconf_item(b, 0)), 4);
	assert_int_equal(yconf_kind(yconf_item(b, 1)), YCONF_MAP);
	assert_int_equal(yconf_line(yconf_item(b, 1)), 5);
	assert_string_equal(yconf_scalar(yconf_lookup(yconf_item(b, 1), "k")), "v");
	assert_null(yconf_item(b, 2));
	assert_null(yconf_scalar(b));
	/* `c:` without a value is null; a quoted empty string is not. */
	c = yconf_lookup(root, "c");
	d = yconf_lookup(root, "d");
	assert_true(yconf_is_null(c));
	assert_false(yconf_is_null(d));
	assert_string_equal(yconf_scalar(d), "");
	assert_null(yconf_lookup(root, "nope"));
	yconf_free(y);

	/* Nothing but a comment: no document, no root. */
	assert_int_equal(yconf_load_string("# empty\n", 8, NULL, &y, err, sizeof(err)), 0);
	assert_null(yconf_root(y));
	yconf_free(y);
}

/* Loads DOC and expects RET with a message that starts with PREFIX. */
static void expect_load_error(const char *doc, int ret, const char *prefix)
{
	struct yconf *y = (struct yconf *)1;
	char err[256] = "";

	assert_int_equal(yconf_load_string(doc, strlen(doc), "t.yaml", &y, err, sizeof(err)), ret);
	assert_null(y);
	if (strncmp(err, prefix, strlen(prefix)) != 0)
		fail_msg("message '%s' does not start with '%s'", err, prefix);
}

static void test_yconf_refusals(void **state)
{
	char deep[2 * YCONF_MAX_DEPTH + 8];
	size_t i;

	/* Syntax errors carry the line libyaml found them on. */
	expect_load_error("a: 1\nb: [1, 2\n", REXEC_EYAML, "t.yaml:3: ");
	expect_load_error("a: 1\n\tb: 2\n", REXEC_EYAML, "t.yaml:2: ");
	expect_load_error("a: 1\na: 2\n", REXEC_ECONFIG, "t.yaml:2: duplicate key 'a'");
	expect_load_error("a: &x 1\nb: *x\n", REXEC_ECONFIG, "t.yaml:2: aliases");
	expect_load_error("a: 1\n---\nb: 2\n", REXEC_ECONFIG, "t.yaml:2: only one");
	expect_load_error("? [a]\n: 1\n", REXEC_ECONFIG, "t.yaml:1: a key must be a string");
	expect_load_error("a: \"x\\0y\"\n", REXEC_ECONFIG, "t.yaml:1: a NUL");
	for (i = 0; i < YCONF_MAX_DEPTH + 1; i++)
		deep[i] = '[';
	for (; i < 2 * (YCONF_MAX_DEPTH + 1); i++)
		deep[i] = ']';
	deep[i] = '\0';
	expect_load_error(deep, REXEC_ECONFIG, "t.yaml:1: nested more than");
}

static void test_yconf_file_errors(void **state)
{
	struct tmp *t = *state;
	struct yconf *y = NULL;
	char err[256] = "";

	assert_int_equal(yconf_load_file(in_dir(t, "missing.yaml"), &y, err, sizeof(err)), -ENOENT);
	assert_null(y);
	assert_non_null(strstr(err, "missing.yaml"));
	assert_int_equal(yconf_load_file(t->dir, &y, err, sizeof(err)), -EISDIR);
	/* A FIFO is refused without waiting for a writer (a label may name any path). */
	assert_int_equal(mkfifo(in_dir(t, "fifo.yaml"), 0600), 0);
	assert_int_equal(yconf_load_file(in_dir(t, "fifo.yaml"), &y, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not a regular file"));
	unlink(in_dir(t, "fifo.yaml"));
}

/* Compose files use anchors: the alias variant shares the anchored node; a self-reference
 * and an unknown alias are refused; the plain loader still refuses aliases. */
static void test_yconf_aliases(void **state)
{
	struct tmp *t = *state;
	const char *path = write_file(t, "compose.yaml",
				      "x-cmd: &cmd [sh, -c, true]\n"
				      "services:\n"
				      "  api: { command: *cmd, depends_on: [db] }\n"
				      "  db: { command: *cmd }\n");
	struct yconf *y = NULL;
	const struct yconf_node *svcs, *cmd;
	char err[256];

	assert_int_equal(yconf_load_file_aliases(path, &y, err, sizeof(err)), 0);
	svcs = yconf_lookup(yconf_root(y), "services");
	cmd = yconf_lookup(yconf_lookup(svcs, "db"), "command");
	assert_int_equal(yconf_kind(cmd), YCONF_SEQ);
	assert_int_equal(yconf_len(cmd), 3);
	assert_string_equal(yconf_scalar(yconf_item(cmd, 1)), "-c");
	assert_ptr_equal(cmd, yconf_lookup(yconf_lookup(svcs, "api"), "command"));
	assert_string_equal(
		yconf_scalar(yconf_item(yconf_lookup(yconf_lookup(svcs, "api"), "depends_on"), 0)),
		"db");
	yconf_free(y);

	assert_int_equal(yconf_load_file(path, &y, err, sizeof(err)), REXEC_ECONFIG);
	assert_non_null(strstr(err, "aliases"));
	path = write_file(t, "self.yaml", "a: &a\n  b: *a\n");
	assert_int_equal(yconf_load_file_aliases(path, &y, err, sizeof(err)), REXEC_ECONFIG);
	assert_non_null(strstr(err, "inside its own anchor"));
	path = write_file(t, "unknown.yaml", "a: *nope\n");
	assert_int_equal(yconf_load_file_aliases(path, &y, err, sizeof(err)), REXEC_ECONFIG);
	assert_non_null(strstr(err, "unknown alias"));
	assert_null(y);
}

static void test_yconf_durations(void **state)
{
	static const struct {
		const char *s;
		unsigned ms;
	} good[] = { { "500ms", 500 }, { "5s", 5000 },
		     { "2m", 120000 }, { "1h", 3600000 },
		     { "30", 30000 },  { "0", 0 },
		     { "0ms", 0 },     { "4294967295ms", 4294967295u } };
	static const char *const bad[] = { "",         "s",        "5 s",         "5sec",
					   "-1",       "1.5s",     "5S",          "1d",
					   "5000000h", "4294968s", "4294967296ms" };
	unsigned ms;
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		ms = 12345;
		assert_int_equal(yconf_parse_duration(good[i].s, &ms), 0);
		assert_int_equal(ms, good[i].ms);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ms = 12345;
		if (yconf_parse_duration(bad[i], &ms) != REXEC_ECONFIG)
			fail_msg("'%s' parsed as a duration", bad[i]);
		assert_int_equal(ms, 12345);
	}
}

static void test_yconf_bools(void **state)
{
	bool b = false;

	assert_int_equal(yconf_parse_bool("true", &b), 0);
	assert_true(b);
	assert_int_equal(yconf_parse_bool("No", &b), 0);
	assert_false(b);
	assert_int_equal(yconf_parse_bool("YES", &b), 0);
	assert_true(b);
	assert_int_equal(yconf_parse_bool("false", &b), 0);
	assert_false(b);
	assert_int_equal(yconf_parse_bool("1", &b), REXEC_ECONFIG);
	assert_int_equal(yconf_parse_bool("", &b), REXEC_ECONFIG);
	assert_int_equal(yconf_parse_bool("truee", &b), REXEC_ECONFIG);
}

static void test_yconf_resolve(void **state)
{
	struct tmp *t = *state;
	struct yconf *y = NULL;
	char err[256] = "", *p, cwd[PATH_MAX], rel[PATH_MAX + 16];
	const char *home = getenv("HOME");

	write_file(t, "r.yaml", "a: 1\n");
	assert_int_equal(yconf_load_file(in_dir(t, "r.yaml"), &y, err, sizeof(err)), 0);
	p = yconf_resolve(y, "x/y.pem");
	assert_string_equal(p, in_dir(t, "x/y.pem"));
	free(p);
	p = yconf_resolve(y, "/abs.pem");
	assert_string_equal(p, "/abs.pem");
	free(p);
	if (home != NULL && home[0] != '\0') {
		p = yconf_resolve(y, "~/k.pem");
		snprintf(rel, sizeof(rel), "%s/k.pem", home);
		assert_string_equal(p, rel);
		free(p);
	}
	yconf_free(y);

	/* A file named by a relative path still resolves to an absolute directory. */
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(t->dir), 0);
	assert_int_equal(yconf_load_file("r.yaml", &y, err, sizeof(err)), 0);
	assert_int_equal(chdir(cwd), 0);
	p = yconf_resolve(y, "ca.pem");
	assert_string_equal(p, in_dir(t, "ca.pem"));
	free(p);
	yconf_free(y);
}

/* ---- client/config ---- */

static void test_client_sample(void **state)
{
	struct tmp *t = *state;
	struct client_config *cfg = NULL;
	const struct client_host *h;
	char err[256] = "";
	const char *path = write_file(t, "config.yaml", client_sample);

	if (client_config_load(path, &cfg, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_string_equal(cfg->path, path);
	assert_string_equal(cfg->ca, in_dir(t, "ca.pem"));
	assert_string_equal(cfg->cert, "/etc/rexec/ops.pem");
	assert_string_equal(cfg->key, in_dir(t, "keys/ops-key.pem"));
	assert_int_equal(cfg->connect_timeout_ms, 120000);
	assert_int_equal(cfg->n_hosts, 5);

	h = &cfg->hosts[0];
	assert_string_equal(h->name, "web-1");
	assert_string_equal(h->address, "127.0.0.11:7600");
	assert_string_equal(h->host, "127.0.0.11");
	assert_int_equal(h->port, 7600);
	assert_string_equal(h->server_name, "127.0.0.11");
	assert_int_equal(h->n_groups, 2);
	assert_string_equal(h->groups[0], "prod");
	assert_string_equal(h->groups[1], "eu");
	assert_null(h->ca);
	assert_int_equal(h->n_labels, 0);

	h = client_config_find_host(cfg, "web-2");
	assert_ptr_equal(h, &cfg->hosts[1]);
	assert_string_equal(h->host, "::1");
	assert_int_equal(h->port, 7601);
	assert_string_equal(h->server_name, "web-2.example");
	assert_int_equal(h->n_groups, 1);

	h = client_config_find_host(cfg, "dev");
	assert_string_equal(h->host, "127.0.0.1");
	assert_int_equal(h->port, CLIENT_DEFAULT_PORT);
	assert_string_equal(h->server_name, "127.0.0.1");
	assert_int_equal(h->n_groups, 0);
	assert_null(h->groups);

	h = client_config_find_host(cfg, "db");
	assert_string_equal(h->host, "db.internal");
	assert_int_equal(h->port, 7700);
	assert_int_equal(h->n_groups, 1);
	assert_string_equal(h->groups[0], "staging");
	assert_int_equal(h->n_labels, 2);
	assert_string_equal(h->labels[0].key, "role");
	assert_string_equal(h->labels[0].value, "primary");
	assert_string_equal(h->labels[1].key, "zone");
	assert_string_equal(h->ca, in_dir(t, "other-ca.pem"));
	assert_null(h->cert);

	h = client_config_find_host(cfg, "short");
	assert_string_equal(h->host, "10.1.2.3");
	assert_int_equal(h->port, 7600);

	assert_null(client_config_find_host(cfg, "nope"));
	client_config_free(cfg);
}

static void test_client_defaults(void **state)
{
	struct tmp *t = *state;
	struct client_config *cfg = NULL;
	char err[256] = "";

	assert_int_equal(client_config_load(write_file(t, "e.yaml", "# nothing yet\n"), &cfg, err,
					    sizeof(err)),
			 0);
	assert_int_equal(cfg->connect_timeout_ms, CLIENT_DEFAULT_CONNECT_TIMEOUT_MS);
	assert_true(cfg->tls_resume);
	assert_false(cfg->allow_dual_role_certs);
	assert_int_equal(cfg->n_hosts, 0);
	assert_null(cfg->ca);
	client_config_free(cfg);

	assert_int_equal(
		client_config_load(write_file(t, "d.yaml", "allow_dual_role_certs: true\n"), &cfg,
				   err, sizeof(err)),
		0);
	assert_true(cfg->allow_dual_role_certs);
	client_config_free(cfg);

	assert_int_equal(
		client_config_load(write_file(t, "r.yaml", "defaults: { tls_resume: false }\n"),
				   &cfg, err, sizeof(err)),
		0);
	assert_false(cfg->tls_resume);
	client_config_free(cfg);
	assert_int_equal(
		client_config_load(write_file(t, "b.yaml", "defaults: { tls_resume: 3 }\n"), &cfg,
				   err, sizeof(err)),
		REXEC_ECONFIG);
	assert_non_null(strstr(err, "tls_resume"));
}

static void test_client_addresses(void **state)
{
	static const struct {
		const char *addr, *host;
		uint16_t port;
	} good[] = {
		{ "host:1", "host", 1 },
		{ "web.example:7601", "web.example", 7601 },
		{ "web.example", "web.example", 7600 },
		{ "10.0.0.1", "10.0.0.1", 7600 },
		{ "10.0.0.1:65535", "10.0.0.1", 65535 },
		{ "[::1]:7601", "::1", 7601 },
		{ "[fe80::1%eth0]:7601", "fe80::1%eth0", 7601 },
		{ "[2001:db8::5]", "2001:db8::5", 7600 },
		{ "2001:db8::5", "2001:db8::5", 7600 },
	};
	static const char *const bad[] = {
		"",        ":7600",       "host:",       "host:0", "host:65536", "host:7x",
		"host:-1", "[::1",        "[::1]x",      "[::1]:", "[]:7600",    "[nothost]:1",
		"a:b:c",   "host name:1", "host:123456", "a,b"
	};
	char *host = NULL;
	uint16_t port;
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (client_config_parse_address(good[i].addr, &host, &port) != 0)
			fail_msg("'%s' refused", good[i].addr);
		assert_string_equal(host, good[i].host);
		assert_int_equal(port, good[i].port);
		free(host);
		host = NULL;
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (client_config_parse_address(bad[i], &host, &port) != REXEC_ECONFIG)
			fail_msg("'%s' accepted", bad[i]);
		assert_null(host);
	}
}

/* Loads the client config TEXT and expects RET with a message starting "PATH:" + WANT. */
static void expect_client_error(struct tmp *t, const char *text, int ret, const char *want)
{
	struct client_config *cfg = (struct client_config *)1;
	char err[512] = "", prefix[PATH_MAX + 64];
	const char *path = write_file(t, "bad.yaml", text);

	assert_int_equal(client_config_load(path, &cfg, err, sizeof(err)), ret);
	assert_null(cfg);
	snprintf(prefix, sizeof(prefix), "%s:%s", path, want);
	if (strncmp(err, prefix, strlen(prefix)) != 0)
		fail_msg("message '%s' does not start with '%s'", err, prefix);
	t->n--; /* the next call rewrites the same file */
	unlink(path);
}

static void test_client_errors(void **state)
{
	struct tmp *t = *state;

	expect_client_error(t, "ca: ca.pem\ncert: c.pem\nkeys: k.pem\n", REXEC_ECONFIG,
			    "3: unknown key 'keys'");
	expect_client_error(t,
			    "hosts:\n  a: { address: h }\n  b:\n    address: h\n    group: [x]\n",
			    REXEC_ECONFIG, "5: host b: unknown key 'group'");
	expect_client_error(t, "defaults: { timeout: 5s }\n", REXEC_ECONFIG,
			    "1: defaults: unknown key 'timeout'");
	expect_client_error(t, "hosts:\n  a: { groups: [x] }\n", REXEC_ECONFIG,
			    "2: host a: address is required");
	expect_client_error(t, "hosts:\n  a: { address: \"h:99999\" }\n", REXEC_ECONFIG,
			    "2: host a: bad address 'h:99999'");
	expect_client_error(t, "hosts:\n  a: h\n  a: h2\n", REXEC_ECONFIG, "3: duplicate key 'a'");
	expect_client_error(t, "hosts:\n  \"@a\": h\n", REXEC_ECONFIG, "2: host name '@a'");
	expect_client_error(t, "hosts:\n  a: { address: h, groups: [\"x,y\"] }\n", REXEC_ECONFIG,
			    "2: host a: group name 'x,y'");
	expect_client_error(t, "hosts:\n  a:\n", REXEC_ECONFIG, "2: host a: expected");
	expect_client_error(t, "ca: [a, b]\n", REXEC_ECONFIG, "1: ca: expected a string");
	expect_client_error(t, "defaults:\n  connect_timeout: soon\n", REXEC_ECONFIG,
			    "2: connect_timeout: 'soon' is not a duration");
	expect_client_error(t, "- a\n- b\n", REXEC_ECONFIG, "1: expected a mapping");
	expect_client_error(t, "hosts:\n  a: { address: h\n", REXEC_EYAML, "3: ");
}

static void test_client_missing_file(void **state)
{
	struct tmp *t = *state;
	struct client_config *cfg = NULL;
	char err[512] = "";
	const char *path = in_dir(t, "nope.yaml");

	assert_int_equal(client_config_load(path, &cfg, err, sizeof(err)), -ENOENT);
	assert_null(cfg);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "rexec-agent --dev"));
	/* No room for a message is fine too. */
	assert_int_equal(client_config_load(path, &cfg, NULL, 0), -ENOENT);
}

static void test_client_default_path(void **state)
{
	char buf[PATH_MAX];
	char *old_config = getenv("REXEC_CONFIG") ? strdup(getenv("REXEC_CONFIG")) : NULL;
	char *old_home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;

	setenv("REXEC_CONFIG", "/etc/rexec/fleet.yaml", 1);
	assert_string_equal(client_config_default_path(buf, sizeof(buf)), "/etc/rexec/fleet.yaml");
	unsetenv("REXEC_CONFIG");
	setenv("HOME", "/home/ops", 1);
	assert_string_equal(client_config_default_path(buf, sizeof(buf)),
			    "/home/ops/.config/rexec/config.yaml");
	assert_null(client_config_default_path(buf, 10));
	unsetenv("HOME");
	assert_null(client_config_default_path(buf, sizeof(buf)));

	if (old_config != NULL)
		setenv("REXEC_CONFIG", old_config, 1);
	if (old_home != NULL)
		setenv("HOME", old_home, 1);
	free(old_config);
	free(old_home);
}

/* ---- agent/config ---- */

static void test_agent_defaults(void **state)
{
	struct agent_config cfg;

	agent_config_init(&cfg);
	assert_int_equal(cfg.n_listen, 0);
	assert_null(cfg.listen);
	assert_null(cfg.cert);
	assert_null(cfg.key);
	assert_null(cfg.ca);
	assert_int_equal(cfg.grace_ms, 5000);
	assert_int_equal(cfg.keepalive_ms, 5000);
	assert_string_equal(cfg.engine, "unix:///var/run/docker.sock");
	assert_int_equal(cfg.exec_path, AGENT_EXEC_PATH_AUTO);
	assert_null(cfg.audit_log);
	assert_false(cfg.dev);
	assert_null(cfg.state_dir);
	assert_false(cfg.allow_dual_role_certs);
	assert_null(cfg.crl);
	agent_config_free(&cfg);
	assert_null(cfg.engine);
}

static void test_agent_overlay(void **state)
{
	struct tmp *t = *state;
	struct agent_config cfg;
	char err[256] = "";
	const char *one = write_file(t, "agent.yaml",
				     "listen: [127.0.0.1:7600, \"[::1]:7601\"]\n"
				     "cert: agent.pem\n"
				     "key: /secure/agent-key.pem\n"
				     "ca: ../ca.pem\n"
				     "grace: 30s\n"
				     "exec_path: engine\n"
				     "audit_log: audit.jsonl\n"
				     "dev: yes\n");
	const char *two = write_file(t, "more.yaml",
				     "listen: 0.0.0.0:0\n"
				     "keepalive: 250ms\n"
				     "engine: unix:///run/podman/podman.sock\n"
				     "state_dir: state\n"
				     "allow_dual_role_certs: true\n"
				     "crl: pki/crl.pem\n");

	agent_config_init(&cfg);
	if (agent_config_load(one, &cfg, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(cfg.n_listen, 2);
	assert_string_equal(cfg.listen[0], "127.0.0.1:7600");
	assert_string_equal(cfg.listen[1], "[::1]:7601");
	assert_string_equal(cfg.cert, in_dir(t, "agent.pem"));
	assert_string_equal(cfg.key, "/secure/agent-key.pem");
	assert_string_equal(cfg.ca, in_dir(t, "../ca.pem"));
	assert_int_equal(cfg.grace_ms, 30000);
	assert_int_equal(cfg.keepalive_ms, 5000); /* not in the file: the default stays */
	assert_string_equal(cfg.engine, AGENT_CONFIG_DEFAULT_ENGINE);
	assert_int_equal(cfg.exec_path, AGENT_EXEC_PATH_ENGINE);
	assert_string_equal(cfg.audit_log, in_dir(t, "audit.jsonl"));
	assert_true(cfg.dev);
	assert_null(cfg.state_dir);

	/* A second file replaces only what it names; its list replaces the list. */
	if (agent_config_load(two, &cfg, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(cfg.n_listen, 1);
	assert_string_equal(cfg.listen[0], "0.0.0.0:0");
	assert_int_equal(cfg.keepalive_ms, 250);
	assert_int_equal(cfg.grace_ms, 30000);
	assert_string_equal(cfg.engine, "unix:///run/podman/podman.sock");
	assert_string_equal(cfg.state_dir, in_dir(t, "state"));
	assert_string_equal(cfg.cert, in_dir(t, "agent.pem"));
	assert_true(cfg.dev);
	assert_true(cfg.allow_dual_role_certs);
	assert_string_equal(cfg.crl, in_dir(t, "pki/crl.pem"));

	/* A flag overrides the file: free the field, set it. */
	free(cfg.cert);
	cfg.cert = strdup("/flag/cert.pem");
	agent_config_free(&cfg);
}

/* Loads agent config TEXT over the defaults and expects RET with "PATH:" + WANT. */
static void expect_agent_error(struct tmp *t, const char *text, int ret, const char *want)
{
	struct agent_config cfg;
	char err[512] = "", prefix[PATH_MAX + 64];
	const char *path = write_file(t, "bad-agent.yaml", text);

	agent_config_init(&cfg);
	assert_int_equal(agent_config_load(path, &cfg, err, sizeof(err)), ret);
	agent_config_free(&cfg);
	snprintf(prefix, sizeof(prefix), "%s:%s", path, want);
	if (strncmp(err, prefix, strlen(prefix)) != 0)
		fail_msg("message '%s' does not start with '%s'", err, prefix);
	t->n--;
	unlink(path);
}

static void test_agent_errors(void **state)
{
	struct tmp *t = *state;
	struct agent_config cfg;
	char err[512] = "";

	expect_agent_error(t, "grace: 5s\nlisen: 1.2.3.4:7600\n", REXEC_ECONFIG,
			   "2: unknown key 'lisen'");
	expect_agent_error(t, "exec_path: fast\n", REXEC_ECONFIG,
			   "1: exec_path: 'fast' is not auto, engine or direct");
	expect_agent_error(t, "listen: 127.0.0.1\n", REXEC_ECONFIG,
			   "1: listen: '127.0.0.1' is not ADDR:PORT");
	expect_agent_error(t, "listen: []\n", REXEC_ECONFIG, "1: listen: no address");
	expect_agent_error(t, "grace: forever\n", REXEC_ECONFIG, "1: grace: 'forever'");
	expect_agent_error(t, "dev: maybe\n", REXEC_ECONFIG, "1: dev: 'maybe' is not true");
	expect_agent_error(t, "audit_log:\n", REXEC_ECONFIG, "1: audit_log: needs a value");
	expect_agent_error(t, "cert: a.pem\n  key: b.pem\n", REXEC_EYAML, "2: ");

	agent_config_init(&cfg);
	assert_int_equal(agent_config_load(in_dir(t, "none.yaml"), &cfg, err, sizeof(err)),
			 -ENOENT);
	assert_non_null(strstr(err, "none.yaml"));
	agent_config_free(&cfg);
}

/* limits: defaults, a partial mapping over them, and what is refused. */
static void test_agent_limits(void **state)
{
	struct tmp *t = *state;
	struct agent_config cfg;
	char err[512] = "";

	agent_config_init(&cfg);
	assert_int_equal(cfg.limits.connections, 512);
	assert_int_equal(cfg.limits.streams_per_connection, 64);
	assert_int_equal(cfg.limits.handshake_timeout_ms, 10000);
	assert_int_equal(agent_config_load(write_file(t, "l.yaml",
						      "limits:\n  connections: 7\n"
						      "  handshake_timeout: 2s\n"
						      "  sessions_per_user: 1000000\n"),
					   &cfg, err, sizeof(err)),
			 0);
	assert_int_equal(cfg.limits.connections, 7);
	assert_int_equal(cfg.limits.handshake_timeout_ms, 2000);
	assert_int_equal(cfg.limits.sessions_per_user, 1000000);
	assert_int_equal(cfg.limits.connections_per_address, 64);
	assert_int_equal(cfg.limits.handshakes, 64);
	agent_config_free(&cfg);

	expect_agent_error(t, "limits: 5\n", REXEC_ECONFIG, "1: limits: want a mapping");
	expect_agent_error(t, "limits:\n  handshakes: 0\n", REXEC_ECONFIG,
			   "2: limits: handshakes: want a whole number from 1 to 1000000");
	expect_agent_error(t, "limits: { handshakes: -1 }\n", REXEC_ECONFIG,
			   "1: limits: handshakes: want");
	expect_agent_error(t, "limits: { handshakes: 1000001 }\n", REXEC_ECONFIG,
			   "1: limits: handshakes: want");
	expect_agent_error(t, "limits: { handshakes: [1] }\n", REXEC_ECONFIG,
			   "1: limits: handshakes: want");
	expect_agent_error(t, "limits:\n  conections: 3\n", REXEC_ECONFIG,
			   "2: limits: unknown key 'conections'");
	expect_agent_error(t, "limits: { handshake_timeout: soon }\n", REXEC_ECONFIG,
			   "1: limits: handshake_timeout");
}

static void test_agent_listen_and_exec_path(void **state)
{
	static const char *const good[] = { "127.0.0.1:7600", "[::1]:7600", "[::]:0", "localhost:1",
					    "0.0.0.0:65535" };
	static const char *const bad[] = { "127.0.0.1", ":7600",   "::1:7600", "[::1]",
					   "[]:7600",   "h:65536", "h:",       "h:1x" };
	enum agent_exec_path p;
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (agent_config_check_listen(good[i]) != 0)
			fail_msg("'%s' refused", good[i]);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (agent_config_check_listen(bad[i]) != REXEC_ECONFIG)
			fail_msg("'%s' accepted", bad[i]);
	assert_int_equal(agent_config_exec_path_parse("direct", &p), 0);
	assert_int_equal(p, AGENT_EXEC_PATH_DIRECT);
	assert_string_equal(agent_config_exec_path_name(p), "direct");
	assert_int_equal(agent_config_exec_path_parse("Auto", &p), REXEC_ECONFIG);
}

/* `record: { dir, input }`: a map; dir is a path relative to the file, input a boolean. */
static void test_agent_record(void **state)
{
	struct tmp *t = *state;
	struct agent_config cfg;
	char err[256] = "";
	const char *path = write_file(t, "rec.yaml", "record:\n  dir: casts\n  input: yes\n");

	agent_config_init(&cfg);
	assert_null(cfg.record_dir); /* off by default */
	assert_false(cfg.record_input);
	if (agent_config_load(path, &cfg, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_string_equal(cfg.record_dir, in_dir(t, "casts"));
	assert_true(cfg.record_input);
	agent_config_free(&cfg);

	expect_agent_error(t, "record: /var/casts\n", REXEC_ECONFIG,
			   "1: record: expected { dir: DIR, input: BOOL }");
	expect_agent_error(t, "record:\n  input: true\n", REXEC_ECONFIG, "2: record: dir: missing");
	expect_agent_error(t, "record: { dir: c, inptu: true }\n", REXEC_ECONFIG,
			   "1: record: unknown key 'inptu'");
	expect_agent_error(t, "record: { dir: c, input: often }\n", REXEC_ECONFIG,
			   "1: record: input: 'often'");
	expect_agent_error(t, "record: { dir: \"\" }\n", REXEC_ECONFIG, "1: record: dir: ");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_yconf_tree_and_lines),
		cmocka_unit_test(test_yconf_refusals),
		cmocka_unit_test_setup_teardown(test_yconf_file_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_yconf_aliases, setup, teardown),
		cmocka_unit_test(test_yconf_durations),
		cmocka_unit_test(test_yconf_bools),
		cmocka_unit_test_setup_teardown(test_yconf_resolve, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_sample, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_defaults, setup, teardown),
		cmocka_unit_test(test_client_addresses),
		cmocka_unit_test_setup_teardown(test_client_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_missing_file, setup, teardown),
		cmocka_unit_test(test_client_default_path),
		cmocka_unit_test(test_agent_defaults),
		cmocka_unit_test_setup_teardown(test_agent_overlay, setup, teardown),
		cmocka_unit_test_setup_teardown(test_agent_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_agent_limits, setup, teardown),
		cmocka_unit_test(test_agent_listen_and_exec_path),
		cmocka_unit_test_setup_teardown(test_agent_record, setup, teardown),
	};
	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
