/* mux.h: the control master (`defaults: { control_persist: 10m }`), rexec's ssh
 * ControlMaster/ControlPersist: a background process per agent keeps the TLS connection, and
 * the runs that find its socket send their session's frames through it. */
#ifndef REXEC_CLIENT_MUX_H
#define REXEC_CLIENT_MUX_H

#include <stddef.h>

/* argv[1] of the master process: `rexec MUX_MASTER_ARG CONFIG HOST FD`. */
#define MUX_MASTER_ARG "--control-master"

/* A connection to the control master for HOST of CONFIG on PATH: when none listens there,
 * starts one (a detached process, this binary) and waits until it is connected to the agent,
 * at most WAIT_MS. Returns the connected socket (close-on-exec, blocking); -1 (WHY, LEN
 * bytes, says why) to connect directly instead. */
int mux_ensure(const char *path, const char *config, const char *host, unsigned wait_ms, char *why,
	       size_t len);

/* The master process: ARGV[0..2] are CONFIG, HOST and the fd that hears "ok" once it listens
 * (or why it could not). Returns the exit code. */
int mux_master_main(int argc, char **argv);

#endif
