/* svccache.h: a short-lived cache of "which hosts run service S" answers, so that a burst of
 * `rexec web ...` commands asks the fleet once: $XDG_RUNTIME_DIR/rexec-services (else
 * "services" in the client's cache directory, see client_cache_path()), mode 0600, one line
 * per (config file, service):
 *     EXPIRES<TAB>CONFIG<TAB>SERVICE<TAB>HOST,HOST...
 * Entries live SVCCACHE_TTL_S seconds. The cache is an optimisation only: any failure to
 * read or write it is silent. */
#ifndef REXEC_CLIENT_SVCCACHE_H
#define REXEC_CLIENT_SVCCACHE_H

#include <stddef.h>

#define SVCCACHE_TTL_S 10

/* The hosts that ran SERVICE under CONFIG (an absolute or given path) less than
 * SVCCACHE_TTL_S ago, comma-separated, as a new string the caller frees; NULL on a miss. */
char *svccache_get(const char *config, const char *service);

/* Remembers that HOSTS (comma-separated) run SERVICE under CONFIG. */
void svccache_put(const char *config, const char *service, const char *hosts);

/* Calls FN(ARG, SERVICE, HOSTS) for each entry of CONFIG, live or expired (shell completion
 * offers the names of the services seen lately; which hosts run them now is svccache_get()'s
 * question). Strings are borrowed for the call only and are as the file holds them: the
 * caller checks them. */
void svccache_each(const char *config,
		   void (*fn)(void *arg, const char *service, const char *hosts), void *arg);

#endif
