/* select.h: the HOST position of the command line as a selector over the inventory: a host
 * name, "@group", "@all", a glob ("web-*", fnmatch rules) or a comma list of those
 * ("web-1,@eu,'db-?'"). A name that is none of these may be a bare service; the caller
 * decides (select_is_bare_name()). */
#ifndef REXEC_CLIENT_SELECT_H
#define REXEC_CLIENT_SELECT_H

#include <stddef.h>

#include "client/config.h"

#define SELECT_TERM_MAX 256 /* longest term of a comma list */

/* The hosts a selector names: indexes into cfg->hosts, each once, in the order the terms
 * name them (a group or a glob in inventory order). */
struct selection {
	size_t *idx;
	size_t n;
	int is_set; /* the selector has set syntax (@, a glob, a comma): fan-out even for one */
};

/* Expands SEL over CFG into OUT (caller allocated; free its contents with
 * selection_free()). Returns 0; REXEC_ENOT_FOUND when a term matches no host (ERR names the
 * term and says what exists); REXEC_ECONFIG for a malformed selector (an empty term, "@"
 * alone); -ENOMEM. ERR (ERRLEN bytes) gets a one-line message without the "rexec: " prefix. */
int select_expand(const struct client_config *cfg, const char *sel, struct selection *out,
		  char *err, size_t errlen);

void selection_free(struct selection *s);

/* Whether SEL is one plain word (no '@', ',', glob character) naming neither a host nor a
 * group of CFG: then it may be a service running somewhere. */
int select_is_bare_name(const struct client_config *cfg, const char *sel);

/* Whether SEL has set syntax: '@', ',', or a glob character. */
int select_has_set_syntax(const char *sel);

#endif
