/* errcode.h: the one translation from rexec's internal error codes (error.h: -errno and
 * REXEC_E*) to the wire's ErrorCode, which decides the client's exit code (125 for a refusal,
 * 255 for rexec's own failure). Conditions the agent names itself (too many sessions, a bad
 * frame) pick their code where they are found; an error code that travels up from a call is
 * translated here. */
#ifndef REXEC_PROTO_ERRCODE_H
#define REXEC_PROTO_ERRCODE_H

#include "rexec.pb-c.h"

/* The wire code for ERR (negative); ERROR_INTERNAL for anything not listed. */
Rexec__V1__ErrorCode rexec_error_code(int err);

#endif
