/* version.h: the software and protocol versions both ends report (Hello, --version). */
#ifndef REXEC_VERSION_H
#define REXEC_VERSION_H

#include <stdio.h>

#define REXEC_PROTO_MAJOR 1
#define REXEC_PROTO_MINOR 0

/* The software version, e.g. "0.1.0". Static storage; the caller does not free it. */
const char *version_string(void);

/* Prints "PROG VERSION", the build (target, mode), the protocol version and the versions of
 * the libraries linked in, as reported by the libraries themselves at run time. */
void version_print(FILE *out, const char *prog);

#endif
