/* config.c: rexec-agent's configuration file, read through lib/yconf over the defaults. */
#include "agent/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/yconf.h"
#include "proto/addr.h"
#include "proto/error.h"

static const char known_keys[] = "listen, cert, key, ca, grace, keepalive, engine, exec_path, "
				 "audit_log, dev, state_dir, allow_dual_role_certs, limits, crl, "
				 "policy, allow_all, record";

static const char *const exec_path_names[] = {
	[AGENT_EXEC_PATH_AUTO] = "auto",
	[AGENT_EXEC_PATH_ENGINE] = "engine",
	[AGENT_EXEC_PATH_DIRECT] = "direct",
};

void agent_config_init(struct agent_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->grace_ms = AGENT_CONFIG_DEFAULT_GRACE_MS;
	cfg->keepalive_ms = AGENT_CONFIG_DEFAULT_KEEPALIVE_MS;
	cfg->exec_path = AGENT_EXEC_PATH_AUTO;
	cfg->limits = (struct agent_limits)AGENT_LIMITS_DEFAULT;
	cfg->engine = strdup(AGENT_CONFIG_DEFAULT_ENGINE);
	if (cfg->engine == NULL) {
		fprintf(stderr, "rexec-agent: out of memory\n");
		exit(1);
	}
}

void agent_config_free(struct agent_config *cfg)
{
	yconf_strings_free(cfg->listen, cfg->n_listen);
	free(cfg->cert);
	free(cfg->key);
	free(cfg->ca);
	free(cfg->engine);
	free(cfg->audit_log);
	free(cfg->state_dir);
	free(cfg->crl);
	free(cfg->policy);
	free(cfg->record_dir);
	memset(cfg, 0, sizeof(*cfg));
}

int agent_config_exec_path_parse(const char *s, enum agent_exec_path *out)
{
	size_t i;

	for (i = 0; i < sizeof(exec_path_names) / sizeof(exec_path_names[0]); i++) {
		if (strcmp(s, exec_path_names[i]) == 0) {
			*out = (enum agent_exec_path)i;
			return 0;
		}
	}
	return REXEC_ECONFIG;
}

const char *agent_config_exec_path_name(enum agent_exec_path p)
{
	if ((size_t)p >= sizeof(exec_path_names) / sizeof(exec_path_names[0]))
		return "?";
	return exec_path_names[p];
}

int agent_config_check_listen(const char *addr)
{
	struct addr_parts a;

	/* A listener needs its port spelled out (0: any free one). */
	if (addr_split(addr, &a) < 0 || !a.has_port)
		return REXEC_ECONFIG;
	return 0;
}

/* `listen:`, one address or a list of them; the file's list replaces CFG's. */
static int load_listen(const struct yconf *y, const struct yconf_node *v, struct agent_config *cfg,
		       char *err, size_t errlen)
{
	char **list = NULL;
	size_t n = 0, i;
	int ret;

	ret = yconf_get_strings(y, v, "listen", &list, &n, err, errlen);
	if (ret != 0)
		goto out;
	for (i = 0; i < n; i++) {
		if (agent_config_check_listen(list[i]) != 0) {
			ret = yconf_errorf(y, v, err, errlen,
					   "listen: '%s' is not ADDR:PORT (or [IPV6]:PORT)",
					   list[i]);
			goto out;
		}
	}
	if (n == 0) {
		ret = yconf_errorf(y, v, err, errlen, "listen: no address given");
		goto out;
	}
	yconf_strings_free(cfg->listen, cfg->n_listen);
	cfg->listen = list;
	cfg->n_listen = n;
	list = NULL;
out:
	yconf_strings_free(list, n);
	return ret;
}

/* ---- limits: ---- */

static const char limit_keys[] = "connections, connections_per_address, handshakes, "
				 "handshake_timeout, sessions_per_user, streams_per_connection";

/* A count for limits.KEY: a whole number from 1 to 1000000. */
static int get_count(const struct yconf *y, const struct yconf_node *v, const char *key,
		     unsigned *out, char *err, size_t errlen)
{
	const char *s = yconf_kind(v) == YCONF_SCALAR ? yconf_scalar(v) : NULL;
	unsigned long n = 0;
	char *end = NULL;

	if (s != NULL && s[0] >= '0' && s[0] <= '9')
		n = strtoul(s, &end, 10);
	if (end == NULL || *end != 0 || n < 1 || n > 1000000)
		return yconf_errorf(y, v, err, errlen,
				    "limits: %s: want a whole number from 1 to 1000000", key);
	*out = (unsigned)n;
	return 0;
}

/* `limits:`, a mapping of some of limit_keys over CFG's. */
static int load_limits(const struct yconf *y, const struct yconf_node *v, struct agent_config *cfg,
		       char *err, size_t errlen)
{
	struct agent_limits *l = &cfg->limits;
	size_t i;
	int ret = 0;

	if (yconf_kind(v) != YCONF_MAP)
		return yconf_errorf(y, v, err, errlen, "limits: want a mapping of %s", limit_keys);
	for (i = 0; i < yconf_len(v) && ret == 0; i++) {
		const struct yconf_node *k = yconf_key(v, i), *val = yconf_value(v, i);
		const char *key = yconf_scalar(k);
		unsigned *field =
			strcmp(key, "connections") == 0               ? &l->connections
			: strcmp(key, "connections_per_address") == 0 ? &l->connections_per_address
			: strcmp(key, "handshakes") == 0              ? &l->handshakes
			: strcmp(key, "sessions_per_user") == 0       ? &l->sessions_per_user
			: strcmp(key, "streams_per_connection") == 0  ? &l->streams_per_connection
								      : NULL;

		if (strcmp(key, "handshake_timeout") == 0)
			ret = yconf_get_duration(y, val, "limits: handshake_timeout",
						 &l->handshake_timeout_ms, err, errlen);
		else if (field != NULL)
			ret = get_count(y, val, key, field, err, errlen);
		else
			ret = yconf_errorf(y, k, err, errlen,
					   "limits: unknown key '%s' (known: %s)", key, limit_keys);
	}
	if (ret == 0 && l->handshake_timeout_ms == 0)
		ret = yconf_errorf(y, v, err, errlen,
				   "limits: handshake_timeout must be more than 0");
	return ret;
}

/* `record: { dir: DIR, input: BOOL }`: a map whose dir is required. */
static int load_record(const struct yconf *y, const struct yconf_node *v, struct agent_config *cfg,
		       char *err, size_t errlen)
{
	const struct yconf_node *dir = NULL;
	const char *key;
	size_t i;
	int ret = 0;

	if (yconf_kind(v) != YCONF_MAP)
		return yconf_errorf(y, v, err, errlen,
				    "record: expected { dir: DIR, input: BOOL }");
	for (i = 0; i < yconf_len(v) && ret == 0; i++) {
		key = yconf_scalar(yconf_key(v, i));
		if (strcmp(key, "dir") == 0)
			dir = yconf_value(v, i);
		else if (strcmp(key, "input") == 0)
			ret = yconf_get_bool(y, yconf_value(v, i), "record: input",
					     &cfg->record_input, err, errlen);
		else
			ret = yconf_errorf(y, yconf_key(v, i), err, errlen,
					   "record: unknown key '%s' (known: dir, input)", key);
	}
	if (ret == 0 && dir == NULL)
		ret = yconf_errorf(y, v, err, errlen, "record: dir: missing (where recordings go)");
	if (ret == 0)
		ret = yconf_get_path(y, dir, "record: dir", &cfg->record_dir, err, errlen);
	return ret;
}

/* One top-level setting KEY with value V into CFG. */
static int load_setting(const struct yconf *y, const struct yconf_node *k,
			const struct yconf_node *v, struct agent_config *cfg, char *err,
			size_t errlen)
{
	const char *key = yconf_scalar(k);
	char *s = NULL;
	int ret;

	if (strcmp(key, "listen") == 0)
		return load_listen(y, v, cfg, err, errlen);
	if (strcmp(key, "cert") == 0)
		return yconf_get_path(y, v, key, &cfg->cert, err, errlen);
	if (strcmp(key, "key") == 0)
		return yconf_get_path(y, v, key, &cfg->key, err, errlen);
	if (strcmp(key, "ca") == 0)
		return yconf_get_path(y, v, key, &cfg->ca, err, errlen);
	if (strcmp(key, "grace") == 0)
		return yconf_get_duration(y, v, key, &cfg->grace_ms, err, errlen);
	if (strcmp(key, "keepalive") == 0)
		return yconf_get_duration(y, v, key, &cfg->keepalive_ms, err, errlen);
	if (strcmp(key, "engine") == 0)
		return yconf_get_string(y, v, key, &cfg->engine, err, errlen);
	if (strcmp(key, "audit_log") == 0)
		return yconf_get_path(y, v, key, &cfg->audit_log, err, errlen);
	if (strcmp(key, "dev") == 0)
		return yconf_get_bool(y, v, key, &cfg->dev, err, errlen);
	if (strcmp(key, "state_dir") == 0)
		return yconf_get_path(y, v, key, &cfg->state_dir, err, errlen);
	if (strcmp(key, "allow_dual_role_certs") == 0)
		return yconf_get_bool(y, v, key, &cfg->allow_dual_role_certs, err, errlen);
	if (strcmp(key, "policy") == 0)
		return yconf_get_path(y, v, key, &cfg->policy, err, errlen);
	if (strcmp(key, "allow_all") == 0)
		return yconf_get_bool(y, v, key, &cfg->allow_all, err, errlen);
	if (strcmp(key, "limits") == 0)
		return load_limits(y, v, cfg, err, errlen);
	if (strcmp(key, "record") == 0)
		return load_record(y, v, cfg, err, errlen);
	if (strcmp(key, "crl") == 0)
		return yconf_get_path(y, v, key, &cfg->crl, err, errlen);
	if (strcmp(key, "exec_path") == 0) {
		ret = yconf_get_string(y, v, key, &s, err, errlen);
		if (ret == 0 && agent_config_exec_path_parse(s, &cfg->exec_path) != 0)
			ret = yconf_errorf(y, v, err, errlen,
					   "exec_path: '%s' is not auto, engine or direct", s);
		free(s);
		return ret;
	}
	return yconf_errorf(y, k, err, errlen, "unknown key '%s' (known: %s)", key, known_keys);
}

int agent_config_load(const char *path, struct agent_config *cfg, char *err, size_t errlen)
{
	const struct yconf_node *root;
	struct yconf *y = NULL;
	size_t i;
	int ret;

	ret = yconf_load_file(path, &y, err, errlen);
	if (ret != 0)
		goto out;
	root = yconf_root(y);
	if (root == NULL || yconf_is_null(root))
		goto out;
	if (yconf_kind(root) != YCONF_MAP) {
		ret = yconf_errorf(y, root, err, errlen, "expected a mapping of settings (%s)",
				   known_keys);
		goto out;
	}
	for (i = 0; i < yconf_len(root) && ret == 0; i++)
		ret = load_setting(y, yconf_key(root, i), yconf_value(root, i), cfg, err, errlen);
out:
	yconf_free(y);
	return ret;
}
