/* dev.h: `rexec-agent --dev`: a throwaway CA, agent and client certificates and a client
 * config in a state directory, for trying rexec out on one machine (loopback only). */
#ifndef REXEC_AGENT_DEV_H
#define REXEC_AGENT_DEV_H

#include <stddef.h>

/* Makes DIR/{ca,agent,client}.pem and their keys, unless they already exist (so that a
 * restarted dev agent keeps working with the same client config). Sets *CA, *CERT and *KEY to
 * new strings (the caller frees). Returns 0 or a negative code with a message in ERR. */
int dev_prepare(const char *dir, char **ca, char **cert, char **key, char *err, size_t errlen);

/* Writes DIR/client.conf: host `dev` at BOUND ("127.0.0.1:PORT"), with the dev client
 * certificate. Returns 0 or a negative code with a message in ERR. */
int dev_write_client_config(const char *dir, const char *bound, char *err, size_t errlen);

/* Writes DIR/policy.yaml, unless it exists: a policy that lets the dev client (the CN of
 * DIR/client.pem) do anything. Sets *PATH to its path (a new string the caller frees).
 * Returns 0 or a negative code with a message in ERR. */
int dev_write_policy(const char *dir, char **path, char *err, size_t errlen);

/* 1 if ADDR ("HOST:PORT") is a loopback address. */
int dev_is_loopback(const char *addr);

#endif
