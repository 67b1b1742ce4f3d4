/* strvis.h: metadata text that came from elsewhere (container names and labels, the engine's
 * and the agent's error texts), made safe to print on a terminal, as OpenSSH's fmtprint() and
 * `ls -b` do: control characters (C0, DEL, C1) and bytes that are not valid UTF-8 become octal
 * escapes (ESC is "\033"); printable ASCII and valid UTF-8 stay as they are. Never for a
 * session's own output, whose bytes are exact. */
#ifndef REXEC_STRVIS_H
#define REXEC_STRVIS_H

#include <stddef.h>

/* The length of the valid UTF-8 sequence at P (N > 0 bytes left): 1 to 4; 0 when P[0] cannot
 * start one there (an overlong form, a surrogate, past U+10FFFF, a stray continuation byte);
 * -1 when the N bytes are the valid start of one, cut short (the rest may come next). */
int utf8_len(const unsigned char *p, size_t n);

/* Writes the escaped form of the N bytes at SRC into DST (LEN bytes, NUL-terminated whenever
 * LEN > 0; an escape that does not fit whole is left out). Returns the length the whole escaped
 * form needs, without the NUL, like snprintf: the result was cut short when it is >= LEN. */
size_t strvis_n(char *dst, size_t len, const char *src, size_t n);

/* strvis_n() of the NUL-terminated S. */
size_t strvis(char *dst, size_t len, const char *s);

/* A new string holding the escaped form of S (NULL: ""); the caller frees it. NULL when out of
 * memory. */
char *strvis_dup(const char *s);

#endif
