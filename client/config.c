/* config.c: the client's config + inventory file, read through lib/yconf. */
#include "client/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/sha256.h>

#include "lib/yconf.h"
#include "proto/addr.h"
#include "proto/error.h"

#define NAME_MAX_LEN 253

static const char top_keys[] = "ca, cert, key, allow_dual_role_certs, hosts, defaults";
static const char host_keys[] = "address, groups, server_name, labels, ca, cert, key";
static const char default_keys[] = "connect_timeout, tls_resume, control_persist";

/* The file being read and where its messages go. */
struct ctx {
	const struct yconf *y;
	char *err;
	size_t errlen;
};

/* A name usable in a host selector: not empty, no '@', ',', globs or spaces, no leading '-'. */
static bool valid_name(const char *s)
{
	size_t i;

	if (s[0] == '\0' || s[0] == '-' || strlen(s) > NAME_MAX_LEN)
		return false;
	for (i = 0; s[i] != '\0'; i++)
		if (!isalnum((unsigned char)s[i]) && strchr("._-", s[i]) == NULL)
			return false;
	return true;
}

int client_config_parse_address(const char *addr, char **host, uint16_t *port)
{
	struct addr_parts a;

	*host = NULL;
	/* An agent cannot be reached on port 0. */
	if (addr_split(addr, &a) < 0 || (a.has_port && a.port == 0))
		return REXEC_ECONFIG;
	*host = strdup(a.host);
	if (*host == NULL)
		return -ENOMEM;
	*port = a.has_port ? a.port : CLIENT_DEFAULT_PORT;
	return 0;
}

static void host_free(struct client_host *h)
{
	size_t i;

	free(h->name);
	free(h->address);
	free(h->host);
	free(h->server_name);
	yconf_strings_free(h->groups, h->n_groups);
	for (i = 0; i < h->n_labels; i++) {
		free(h->labels[i].key);
		free(h->labels[i].value);
	}
	free(h->labels);
	free(h->ca);
	free(h->cert);
	free(h->key);
}

void client_config_free(struct client_config *cfg)
{
	size_t i;

	if (cfg == NULL)
		return;
	for (i = 0; i < cfg->n_hosts; i++)
		host_free(&cfg->hosts[i]);
	free(cfg->hosts);
	free(cfg->path);
	free(cfg->ca);
	free(cfg->cert);
	free(cfg->key);
	free(cfg);
}

const struct client_host *client_config_find_host(const struct client_config *cfg, const char *name)
{
	size_t i;

	for (i = 0; i < cfg->n_hosts; i++)
		if (strcmp(cfg->hosts[i].name, name) == 0)
			return &cfg->hosts[i];
	return NULL;
}

static int oom(struct ctx *c)
{
	snprintf(c->err, c->errlen, "%s: out of memory", yconf_name(c->y));
	return -ENOMEM;
}

/* A host's labels: a map of strings to strings. */
static int load_labels(struct ctx *c, struct client_host *h, const struct yconf_node *map)
{
	size_t i, n = yconf_len(map);
	int ret;

	if (yconf_kind(map) != YCONF_MAP)
		return yconf_errorf(c->y, map, c->err, c->errlen,
				    "host %s: labels: expected a mapping of names to values",
				    h->name);
	if (n == 0)
		return 0;
	h->labels = calloc(n, sizeof(*h->labels));
	if (h->labels == NULL)
		return oom(c);
	for (i = 0; i < n; i++) {
		h->labels[i].key = strdup(yconf_scalar(yconf_key(map, i)));
		if (h->labels[i].key == NULL)
			return oom(c);
		h->n_labels = i + 1;
		ret = yconf_get_string(c->y, yconf_value(map, i), h->labels[i].key,
				       &h->labels[i].value, c->err, c->errlen);
		if (ret != 0)
			return ret;
	}
	return 0;
}

/* A host's groups: a list of names (or one name). */
static int load_groups(struct ctx *c, struct client_host *h, const struct yconf_node *v)
{
	size_t i;
	int ret;

	ret = yconf_get_strings(c->y, v, "groups", &h->groups, &h->n_groups, c->err, c->errlen);
	if (ret != 0)
		return ret;
	for (i = 0; i < h->n_groups; i++)
		if (!valid_name(h->groups[i]))
			return yconf_errorf(c->y, v, c->err, c->errlen,
					    "host %s: group name '%s': use letters, digits, '.', "
					    "'_' and '-'",
					    h->name, h->groups[i]);
	return 0;
}

/* The settings of one host, written as a map. */
static int load_host_map(struct ctx *c, struct client_host *h, const struct yconf_node *map,
			 const struct yconf_node **address)
{
	const struct yconf_node *k, *v;
	const char *key;
	size_t i;
	int ret = 0;

	for (i = 0; i < yconf_len(map) && ret == 0; i++) {
		k = yconf_key(map, i);
		v = yconf_value(map, i);
		key = yconf_scalar(k);
		if (strcmp(key, "address") == 0)
			*address = v;
		else if (strcmp(key, "groups") == 0)
			ret = load_groups(c, h, v);
		else if (strcmp(key, "server_name") == 0)
			ret = yconf_get_string(c->y, v, "server_name", &h->server_name, c->err,
					       c->errlen);
		else if (strcmp(key, "labels") == 0)
			ret = load_labels(c, h, v);
		else if (strcmp(key, "ca") == 0)
			ret = yconf_get_path(c->y, v, "ca", &h->ca, c->err, c->errlen);
		else if (strcmp(key, "cert") == 0)
			ret = yconf_get_path(c->y, v, "cert", &h->cert, c->err, c->errlen);
		else if (strcmp(key, "key") == 0)
			ret = yconf_get_path(c->y, v, "key", &h->key, c->err, c->errlen);
		else
			ret = yconf_errorf(c->y, k, c->err, c->errlen,
					   "host %s: unknown key '%s' (known: %s)", h->name, key,
					   host_keys);
	}
	return ret;
}

/* One entry of `hosts:`, NAME: { settings } or NAME: ADDRESS. */
static int load_host(struct ctx *c, struct client_host *h, const struct yconf_node *name,
		     const struct yconf_node *v)
{
	const struct yconf_node *address = NULL;
	int ret;

	if (!valid_name(yconf_scalar(name)))
		return yconf_errorf(c->y, name, c->err, c->errlen,
				    "host name '%s': use letters, digits, '.', '_' and '-'",
				    yconf_scalar(name));
	h->name = strdup(yconf_scalar(name));
	if (h->name == NULL)
		return oom(c);
	if (yconf_kind(v) == YCONF_MAP) {
		ret = load_host_map(c, h, v, &address);
		if (ret != 0)
			return ret;
	} else if (yconf_kind(v) == YCONF_SCALAR && !yconf_is_null(v)) {
		address = v;
	} else {
		return yconf_errorf(c->y, v, c->err, c->errlen,
				    "host %s: expected its address or a mapping of its settings",
				    h->name);
	}
	if (address == NULL)
		return yconf_errorf(c->y, v, c->err, c->errlen, "host %s: address is required",
				    h->name);
	ret = yconf_get_string(c->y, address, "address", &h->address, c->err, c->errlen);
	if (ret != 0)
		return ret;
	ret = client_config_parse_address(h->address, &h->host, &h->port);
	if (ret == -ENOMEM)
		return oom(c);
	if (ret != 0)
		return yconf_errorf(c->y, address, c->err, c->errlen,
				    "host %s: bad address '%s' (write HOST, HOST:PORT or "
				    "[IPV6]:PORT)",
				    h->name, h->address);
	if (h->server_name == NULL) {
		h->server_name = strdup(h->host);
		if (h->server_name == NULL)
			return oom(c);
	} else if (h->server_name[0] == '\0') {
		return yconf_errorf(c->y, v, c->err, c->errlen, "host %s: server_name is empty",
				    h->name);
	}
	return 0;
}

static int load_hosts(struct ctx *c, struct client_config *cfg, const struct yconf_node *map)
{
	size_t i, n;
	int ret;

	if (yconf_is_null(map))
		return 0;
	if (yconf_kind(map) != YCONF_MAP)
		return yconf_errorf(c->y, map, c->err, c->errlen,
				    "hosts: expected a mapping of host names to settings");
	n = yconf_len(map);
	if (n == 0)
		return 0;
	cfg->hosts = calloc(n, sizeof(*cfg->hosts));
	if (cfg->hosts == NULL)
		return oom(c);
	for (i = 0; i < n; i++) {
		cfg->n_hosts = i + 1;
		ret = load_host(c, &cfg->hosts[i], yconf_key(map, i), yconf_value(map, i));
		if (ret != 0)
			return ret;
	}
	return 0;
}

static int load_defaults(struct ctx *c, struct client_config *cfg, const struct yconf_node *map)
{
	const struct yconf_node *k;
	size_t i;
	int ret = 0;

	if (yconf_is_null(map))
		return 0;
	if (yconf_kind(map) != YCONF_MAP)
		return yconf_errorf(c->y, map, c->err, c->errlen,
				    "defaults: expected a mapping of settings");
	for (i = 0; i < yconf_len(map) && ret == 0; i++) {
		k = yconf_key(map, i);
		if (strcmp(yconf_scalar(k), "connect_timeout") == 0)
			ret = yconf_get_duration(c->y, yconf_value(map, i), "connect_timeout",
						 &cfg->connect_timeout_ms, c->err, c->errlen);
		else if (strcmp(yconf_scalar(k), "control_persist") == 0)
			ret = yconf_get_duration(c->y, yconf_value(map, i), "control_persist",
						 &cfg->control_persist_ms, c->err, c->errlen);
		else if (strcmp(yconf_scalar(k), "tls_resume") == 0)
			ret = yconf_get_bool(c->y, yconf_value(map, i), "tls_resume",
					     &cfg->tls_resume, c->err, c->errlen);
		else
			ret = yconf_errorf(c->y, k, c->err, c->errlen,
					   "defaults: unknown key '%s' (known: %s)",
					   yconf_scalar(k), default_keys);
	}
	return ret;
}

/* The top-level settings of the file into CFG. */
static int load_top(struct ctx *c, struct client_config *cfg, const struct yconf_node *root)
{
	const struct yconf_node *k, *v;
	const char *key;
	size_t i;
	int ret = 0;

	if (root == NULL || yconf_is_null(root))
		return 0;
	if (yconf_kind(root) != YCONF_MAP)
		return yconf_errorf(c->y, root, c->err, c->errlen,
				    "expected a mapping of settings (%s)", top_keys);
	for (i = 0; i < yconf_len(root) && ret == 0; i++) {
		k = yconf_key(root, i);
		v = yconf_value(root, i);
		key = yconf_scalar(k);
		if (strcmp(key, "ca") == 0)
			ret = yconf_get_path(c->y, v, "ca", &cfg->ca, c->err, c->errlen);
		else if (strcmp(key, "cert") == 0)
			ret = yconf_get_path(c->y, v, "cert", &cfg->cert, c->err, c->errlen);
		else if (strcmp(key, "key") == 0)
			ret = yconf_get_path(c->y, v, "key", &cfg->key, c->err, c->errlen);
		else if (strcmp(key, "allow_dual_role_certs") == 0)
			ret = yconf_get_bool(c->y, v, key, &cfg->allow_dual_role_certs, c->err,
					     c->errlen);
		else if (strcmp(key, "hosts") == 0)
			ret = load_hosts(c, cfg, v);
		else if (strcmp(key, "defaults") == 0)
			ret = load_defaults(c, cfg, v);
		else
			ret = yconf_errorf(c->y, k, c->err, c->errlen,
					   "unknown key '%s' (known: %s)", key, top_keys);
	}
	return ret;
}

int client_config_load(const char *path, struct client_config **out, char *err, size_t errlen)
{
	struct client_config *cfg = NULL;
	struct yconf *y = NULL;
	struct ctx c = { .err = err, .errlen = err ? errlen : 0 };
	int ret;

	*out = NULL;
	ret = yconf_load_file(path, &y, err, errlen);
	if (ret == -ENOENT)
		snprintf(c.err, c.errlen,
			 "%s: no such config file; to try rexec, `rexec-agent --dev --state-dir "
			 "DIR` writes DIR/client.conf: name it (or yours) with --config FILE or "
			 "$REXEC_CONFIG",
			 path);
	if (ret != 0)
		goto out;
	c.y = y;
	cfg = calloc(1, sizeof(*cfg));
	if (cfg == NULL || (cfg->path = strdup(path)) == NULL) {
		ret = oom(&c);
		goto out;
	}
	cfg->connect_timeout_ms = CLIENT_DEFAULT_CONNECT_TIMEOUT_MS;
	cfg->tls_resume = true;
	ret = load_top(&c, cfg, yconf_root(y));
	if (ret != 0)
		goto out;
	*out = cfg;
	cfg = NULL;
out:
	client_config_free(cfg);
	yconf_free(y);
	return ret;
}

const char *client_config_default_path(char *buf, size_t len)
{
	const char *env = getenv("REXEC_CONFIG"), *home = getenv("HOME");
	int n;

	if (env != NULL && env[0] != '\0')
		n = snprintf(buf, len, "%s", env);
	else if (home != NULL && home[0] != '\0')
		n = snprintf(buf, len, "%s/.config/rexec/config.yaml", home);
	else
		return NULL;
	if (n < 0 || (size_t)n >= len)
		return NULL;
	return buf;
}

/* DIR and its parents (mode 0700 for those made here). */
static int make_dirs(char *dir)
{
	char *p;

	for (p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
			*p = '/';
			return -errno;
		}
		*p = '/';
	}
	return mkdir(dir, 0700) < 0 && errno != EEXIST ? -errno : 0;
}

const char *client_cache_path(const char *name, int make, char *buf, size_t len)
{
	const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	int n, m;

	if (xdg != NULL && xdg[0] == '/')
		n = snprintf(buf, len, "%s/rexec", xdg);
	else if (home != NULL && home[0] == '/')
		n = snprintf(buf, len, "%s/.cache/rexec", home);
	else
		return NULL;
	if (n < 0 || (size_t)n >= len || (make && make_dirs(buf) < 0))
		return NULL;
	m = snprintf(buf + n, len - (size_t)n, "/%s", name);
	return m < 0 || (size_t)m >= len - (size_t)n ? NULL : buf;
}

/* A name for H's agent and the identity shown to it: 32 hex digits of a SHA-256 over the
 * certificate, key, CA, address, TLS name and port, into HEX. */
static void host_hash(const struct client_config *cfg, const struct client_host *h, char hex[33])
{
	const char *parts[6] = { h->cert ? h->cert : cfg->cert,
				 h->key ? h->key : cfg->key,
				 h->ca ? h->ca : cfg->ca,
				 h->host,
				 h->server_name,
				 NULL };
	mbedtls_sha256_context sha;
	unsigned char digest[32];
	char port[8];
	size_t i;

	snprintf(port, sizeof(port), "%u", h->port);
	parts[5] = port;
	mbedtls_sha256_init(&sha);
	mbedtls_sha256_starts(&sha, 0);
	for (i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		const char *p = parts[i] ? parts[i] : "";
		mbedtls_sha256_update(&sha, (const unsigned char *)p, strlen(p) + 1);
	}
	mbedtls_sha256_finish(&sha, digest);
	mbedtls_sha256_free(&sha);
	for (i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", digest[i]);
}

const char *client_ticket_path(const struct client_config *cfg, const struct client_host *h,
			       char *buf, size_t len)
{
	char dir[4096], hex[33];
	int n;

	if (!cfg->tls_resume || client_cache_path("tickets", 1, dir, sizeof(dir)) == NULL ||
	    (mkdir(dir, 0700) < 0 && errno != EEXIST))
		return NULL;
	host_hash(cfg, h, hex);
	n = snprintf(buf, len, "%s/%s", dir, hex);
	return n > 0 && (size_t)n < len ? buf : NULL;
}

/* DIR/NAME into BUF when it fits a unix socket's address (sun_path, 108 bytes). */
static const char *socket_path(const char *dir, const char *name, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/%s", dir, name);

	return n > 0 && (size_t)n < len && n < 100 ? buf : NULL;
}

const char *client_mux_path(const struct client_config *cfg, const struct client_host *h, char *buf,
			    size_t len)
{
	const char *rt = getenv("XDG_RUNTIME_DIR");
	char dir[4096], hex[33];
	struct stat st;

	if (cfg->control_persist_ms == 0)
		return NULL;
	host_hash(cfg, h, hex);
	/* Sockets belong in the runtime directory; else the cache directory; else, when that
	 * path is too long for a socket, /tmp/rexec-UID as tmux does (ours alone, mode 0700). */
	if (rt != NULL && rt[0] == '/' && strlen(rt) < 60) {
		snprintf(dir, sizeof(dir), "%s/rexec/mux", rt);
		if (make_dirs(dir) == 0 && socket_path(dir, hex, buf, len))
			return buf;
	}
	if (client_cache_path("mux", 1, dir, sizeof(dir)) != NULL &&
	    (mkdir(dir, 0700) == 0 || errno == EEXIST) && socket_path(dir, hex, buf, len))
		return buf;
	snprintf(dir, sizeof(dir), "/tmp/rexec-%u", (unsigned)getuid());
	if ((mkdir(dir, 0700) < 0 && errno != EEXIST) || lstat(dir, &st) < 0 ||
	    !S_ISDIR(st.st_mode) || st.st_uid != getuid() || (st.st_mode & 077) != 0)
		return NULL;
	return socket_path(dir, hex, buf, len);
}
