/* ps.h: `rexec ps`: the compose containers an agent reports (KIND_LIST: one JSON object per
 * line), gathered from one or more hosts and printed as one table. */
#ifndef REXEC_CLIENT_PS_H
#define REXEC_CLIENT_PS_H

#include <stddef.h>
#include <stdio.h>

struct ps_row;

struct ps_table {
	struct ps_row *rows;
	size_t n, cap;
};

/* Adds the LEN bytes of JSON lines an agent sent for HOST. Returns 0, or -1 when a line is
 * not the expected object (the rest is still read). */
int ps_table_add(struct ps_table *t, const char *host, const char *lines, size_t len);

/* Prints the rows sorted by host, project, service and replica; the HOST column only when
 * WITH_HOST. */
void ps_table_print(const struct ps_table *t, FILE *out, int with_host);

void ps_table_free(struct ps_table *t);

#endif
