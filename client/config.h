/* config.h: the client's configuration and inventory file (YAML): the client certificate and
 * CA, the hosts (address, groups, labels, TLS name, per-host certificate overrides) and
 * defaults. Example:
 *
 *     ca: ca.pem                  # relative paths are relative to this file's directory
 *     cert: ops.pem
 *     key: ops-key.pem
 *     allow_dual_role_certs: false # accept agent certificates made for clients too
 *     hosts:
 *       web-1: { address: 127.0.0.11:7600, groups: [prod, eu] }
 *       web-2: { address: "[::1]:7601", groups: [prod], server_name: web-2.example }
 *       dev: 127.0.0.1            # just an address; the port defaults to 7600
 *     defaults: { connect_timeout: 5s, tls_resume: true, control_persist: 10m }
 *
 * Unknown keys are errors naming the file, the line and the key. */
#ifndef REXEC_CLIENT_CONFIG_H
#define REXEC_CLIENT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/addr.h"

#define CLIENT_DEFAULT_PORT               ADDR_DEFAULT_PORT
#define CLIENT_DEFAULT_CONNECT_TIMEOUT_MS 5000

struct client_label {
	char *key;
	char *value;
};

/* One host of the inventory. Every string is owned by the struct client_config. */
struct client_host {
	char *name;        /* inventory name: letters, digits, '.', '_', '-' */
	char *address;     /* as written in the file */
	char *host;        /* host part of the address, without [] around IPv6 */
	uint16_t port;     /* CLIENT_DEFAULT_PORT when the address has none */
	char *server_name; /* name the agent's certificate must carry; default: host */
	char **groups;
	size_t n_groups;
	struct client_label *labels; /* in file order */
	size_t n_labels;
	char *ca, *cert, *key; /* overrides of the config's; NULL: use the config's */
};

struct client_config {
	char *path;                 /* the file loaded */
	char *ca, *cert, *key;      /* absolute (or as given when absolute); NULL when absent */
	bool allow_dual_role_certs; /* an agent's certificate may carry clientAuth too */
	unsigned connect_timeout_ms;
	bool tls_resume;             /* keep session tickets and resume with them (default true) */
	unsigned control_persist_ms; /* keep a control master this long after its last run (0: none)
				      */
	struct client_host *hosts;   /* in file order, names unique */
	size_t n_hosts;
};

/* Loads the config file PATH. On success *OUT is a new config the caller frees with
 * client_config_free(). On failure *OUT is NULL, ERR (ERRLEN bytes) holds a message for the
 * user and the return is -ENOENT for a missing file (the message says how to make one),
 * another -errno when the file cannot be read, REXEC_EYAML for a YAML syntax error,
 * REXEC_ECONFIG for a setting that is wrong ("PATH:LINE: ..."), -ENOMEM. */
int client_config_load(const char *path, struct client_config **out, char *err, size_t errlen);

/* Frees CFG and everything in it. NULL is fine. */
void client_config_free(struct client_config *cfg);

/* The host called NAME, borrowed from CFG; NULL when there is none. */
const struct client_host *client_config_find_host(const struct client_config *cfg,
						  const char *name);

/* Splits an address: "host:port", "[v6]:port", "[v6]", a bare IPv6 address, "host" or an IPv4
 * address (the last four with CLIENT_DEFAULT_PORT). On success *HOST is a new string the
 * caller frees. Returns 0, REXEC_ECONFIG for a malformed address or port, -ENOMEM. */
int client_config_parse_address(const char *addr, char **host, uint16_t *port);

/* The config file to use: $REXEC_CONFIG when set and not empty, else
 * $HOME/.config/rexec/config.yaml, written into BUF (LEN bytes). Returns BUF, or NULL when
 * there is no $HOME or the path does not fit. */
const char *client_config_default_path(char *buf, size_t len);

/* NAME in the client's cache directory, $XDG_CACHE_HOME/rexec (else $HOME/.cache/rexec),
 * written into BUF (LEN bytes); MAKE: that directory and its parents are made first (mode
 * 0700). NULL when there is no such place. */
const char *client_cache_path(const char *name, int make, char *buf, size_t len);

/* The file where the agent of H, reached with the certificate CFG and H give, leaves its
 * session ticket: $XDG_CACHE_HOME/rexec/tickets (or $HOME/.cache/rexec/tickets, made mode
 * 0700) and a name hashed from the certificate, key, CA, address and TLS name, so that a ticket
 * is never offered with another identity or to another agent. Written into BUF (LEN bytes).
 * NULL when tls_resume is off or there is no such directory to be had (then no resumption). */
const char *client_ticket_path(const struct client_config *cfg, const struct client_host *h,
			       char *buf, size_t len);

/* The control master's socket for H (client/mux.c): like the ticket, in the cache directory
 * under mux/, named by the same hash. NULL when control_persist is off, or the path would
 * not fit a unix socket's address. */
const char *client_mux_path(const struct client_config *cfg, const struct client_host *h, char *buf,
			    size_t len);

#endif
