/* dial.h: how the client reaches an agent, in one place for a run (exec.c), its control master
 * (mux.c) and a fan-out (fleet.c): which CA, certificate and key (a host's own, else the
 * config's), the TLS set-up with them, the connection's options, and the agent's address. */
#ifndef REXEC_CLIENT_DIAL_H
#define REXEC_CLIENT_DIAL_H

#include <stddef.h>
#include <sys/socket.h>

#include "client/config.h"
#include "proto/conn.h"
#include "proto/tls.h"

#define DIAL_KEEPALIVE_MS 5000

/* The files H's connection authenticates with: H's own, else CFG's. Borrowed from both. */
struct dial_creds {
	const char *ca, *cert, *key;
};

void dial_creds(const struct client_config *cfg, const struct client_host *h,
		struct dial_creds *out);

/* Check the client certificate CERT before connecting with it, as OpenSSH checks a
 * certificate's validity before offering it: one that has expired or is not valid yet is
 * refused here (REXEC_EPKI, with a message in ERR that says when), not by a handshake that
 * cannot say why. One that was issued for more than a day and expires within a day gets a
 * warning line on stderr, unless *WARNED is set (it is then set: one line per run). A file that
 * cannot be read returns 0: the TLS set-up reports it. */
int dial_check_cert(const char *cert, int *warned, char *err, size_t errlen);

/* A client TLS configuration with CREDS, as CFG says (allow_dual_role_certs). Returns 0 with
 * *OUT (tls_config_free()), or a negative code with a message in ERR (ERRLEN bytes). */
int dial_tls(struct tls_config **out, const struct client_config *cfg,
	     const struct dial_creds *creds, char *err, size_t errlen);

/* The options of a connection to H's agent: TLS with TLS, the agent's name, SOFTWARE in Hello,
 * keepalives every DIAL_KEEPALIVE_MS, HANDSHAKE_MS to connect (0: CFG's connect_timeout, else
 * CLIENT_DEFAULT_CONNECT_TIMEOUT_MS), the session ticket's file (written into TICKET, LEN
 * bytes). */
void dial_conn_opts(struct conn_opts *o, const struct client_config *cfg,
		    const struct client_host *h, struct tls_config *tls, const char *software,
		    unsigned handshake_ms, char *ticket, size_t len);

/* H's address (a name through getaddrinfo, blocking) into SS. Returns 0, or a negative code
 * with a message in ERR. */
int dial_resolve(const struct client_host *h, struct sockaddr_storage *ss, char *err,
		 size_t errlen);

#endif
