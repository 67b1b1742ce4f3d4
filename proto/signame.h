/* signame.h: signals travel by name on the wire ("INT", not 2): numbers differ between
 * architectures and systems. */
#ifndef REXEC_SIGNAME_H
#define REXEC_SIGNAME_H

/* The name of signal SIG without "SIG" (static storage), or NULL if unknown. */
const char *signame_from_number(int sig);

/* The local number for NAME (with or without "SIG", any case), or -1 if unknown. */
int signame_to_number(const char *name);

#endif
