/* error.h: rexec's error codes. Functions return int: 0 on success, a negative code from this
 * one table otherwise. System call failures are -errno (the libuv UV_E* codes are the same
 * values on Linux); rexec's own codes live in a reserved range below -4000, away from errno. */
#ifndef REXEC_ERROR_H
#define REXEC_ERROR_H

#define REXEC_ERRNO_MAP(X)                                      \
	X(PROTO, -4001, "malformed or unexpected frame")        \
	X(VERSION, -4002, "incompatible protocol version")      \
	X(FRAME_TOO_BIG, -4003, "frame exceeds the size limit") \
	X(TLS, -4004, "TLS failure")                            \
	X(TLS_VERIFY, -4005, "peer certificate not trusted")    \
	X(PROTOBUF, -4006, "protobuf decoding failed")          \
	X(CONFIG, -4007, "invalid configuration")               \
	X(PKI, -4008, "certificate or key operation failed")    \
	X(CLOSED, -4009, "connection closed")                   \
	X(TIMEOUT, -4010, "timed out")                          \
	X(NOT_FOUND, -4011, "not found")                        \
	X(DENIED, -4012, "not allowed")                         \
	X(YAML, -4013, "YAML syntax error")                     \
	X(UNAVAILABLE, -4014, "service unavailable")            \
	X(ENGINE, -4015, "container engine error")              \
	X(TICKET_KEY, -4016, "unknown session ticket key")      \
	X(TICKET_EXPIRED, -4017, "session ticket expired")      \
	X(TLS_ROLE, -4018, "peer certificate not for its role") \
	X(LIMIT, -4019, "over a configured limit")

enum {
#define REXEC_ERR_ENUM(name, val, msg) REXEC_E##name = (val),
	REXEC_ERRNO_MAP(REXEC_ERR_ENUM)
#undef REXEC_ERR_ENUM
};

/* A static description of ERR: rexec's own codes, else strerror(-ERR). Never NULL. */
const char *rexec_strerror(int err);

#endif
