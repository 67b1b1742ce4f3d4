/* certwatch.h: the agent's watch over the certificates it serves and trusts: re-reading its TLS
 * material and CRL on SIGHUP, ending what a new CRL revokes (connections and sessions),
 * warning before a CRL goes out of date, and closing a connection when its client certificate
 * expires, so that neither a stolen certificate nor a control master outlives its validity. */
#ifndef REXEC_AGENT_CERTWATCH_H
#define REXEC_AGENT_CERTWATCH_H

#include <stddef.h>

#include "agent/agent.h"

struct certwatch;

/* Starts the watch for A, whose A->tls was made from the files CA, CERT and KEY: loads CRL
 * (NULL: none) into it, logs the state of each CRL (an error for one out of date, a warning
 * for one within a day of it) and times the next such event on A->loop. The paths are copied,
 * for SIGHUP. Returns 0 with *OUT set (free with certwatch_free() once the loop has closed its
 * handles), or a negative code with ERR saying which file and why (*OUT may be set then too:
 * free it the same way). */
int certwatch_new(struct certwatch **out, struct agent *a, const char *ca, const char *cert,
		  const char *key, const char *crl, char *err, size_t errlen);
void certwatch_free(struct certwatch *w);

/* SIGHUP: reads the CA, certificate, key and CRL files again (tls_config_reload()). On success
 * new handshakes use them and every connection and session of a certificate the new CRL
 * revokes is ended, each with a log line and an audit record; on failure the old settings
 * stay and the error is logged with the file's name. Running sessions go on either way. */
void agent_reload_tls(struct agent *a);

/* C's handshake is done: its client certificate's notAfter (a resumed session's: the ticket's)
 * is timed, and a connection whose certificate a CRL loaded during its handshake revokes is
 * ended at once. */
void certwatch_conn_ready(struct agent *a, struct conn *c);

#endif
