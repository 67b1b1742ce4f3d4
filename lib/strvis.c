/* strvis.c: terminal-safe copies of untrusted metadata text (strvis.h). */
#include "lib/strvis.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int utf8_len(const unsigned char *p, size_t n)
{
	unsigned char c = p[0], lo = 0x80, hi = 0xbf;
	int len, k;

	if (c < 0x80)
		return 1;
	len = c >= 0xc2 && c <= 0xdf   ? 2
	      : c >= 0xe0 && c <= 0xef ? 3
	      : c >= 0xf0 && c <= 0xf4 ? 4
				       : 0;
	/* The second byte's range excludes overlong forms, surrogates and > U+10FFFF. */
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	for (k = 1; k < len; k++) {
		if ((size_t)k >= n)
			return -1;
		if (p[k] < (k == 1 ? lo : 0x80) || p[k] > (k == 1 ? hi : 0xbf))
			return 0;
	}
	return len;
}

/* Length of the valid UTF-8 sequence of a printable character at P (N bytes left), or 0: a
 * control character, an invalid, overlong or truncated sequence, a surrogate, or past
 * U+10FFFF. C1 controls (U+0080..U+009F, 0xc2 0x80..0x9f) count as controls: some terminals
 * obey them. */
static size_t printable_at(const uint8_t *p, size_t n)
{
	int len;

	if (p[0] >= 0x20 && p[0] < 0x7f)
		return 1;
	if (p[0] < 0x80 || (p[0] == 0xc2 && n > 1 && p[1] < 0xa0))
		return 0;
	len = utf8_len(p, n);
	return len > 0 ? (size_t)len : 0;
}

size_t strvis_n(char *dst, size_t len, const char *src, size_t n)
{
	const uint8_t *p = (const uint8_t *)src;
	size_t need = 0, i = 0, k;
	int cut = 0; /* a piece did not fit: nothing after it goes in either */
	char esc[5];

	if (len > 0)
		dst[0] = 0;
	while (i < n) {
		const char *piece = (const char *)p + i;
		if ((k = printable_at(p + i, n - i)) == 0) {
			esc[0] = '\\';
			esc[1] = (char)('0' + (p[i] >> 6));
			esc[2] = (char)('0' + ((p[i] >> 3) & 7));
			esc[3] = (char)('0' + (p[i] & 7));
			esc[4] = 0;
			piece = esc;
			k = 4;
			i++;
		} else {
			i += k;
		}
		if (!cut && need + k < len) {
			memcpy(dst + need, piece, k);
			dst[need + k] = 0;
		} else {
			cut = 1;
		}
		need += k;
	}
	return need;
}

size_t strvis(char *dst, size_t len, const char *s)
{
	return strvis_n(dst, len, s, strlen(s));
}

char *strvis_dup(const char *s)
{
	size_t n;
	char *out;

	if (s == NULL)
		s = "";
	n = strvis(NULL, 0, s);
	if ((out = malloc(n + 1)) == NULL)
		return NULL;
	strvis(out, n + 1, s);
	return out;
}
