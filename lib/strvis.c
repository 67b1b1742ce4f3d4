/* strvis.c: terminal-safe copies of untrusted metadata text (strvis.h). */
#include "lib/strvis.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Length of the valid UTF-8 sequence of a printable character at P (N bytes left), or 0: a
 * control character, an invalid, overlong or truncated sequence, a surrogate, or past
 * U+10FFFF. C1 controls (U+0080..U+009F) count as controls: some terminals obey them. */
static size_t printable_at(const uint8_t *p, size_t n)
{
	uint32_t cp;
	size_t len, i;

	if (p[0] >= 0x20 && p[0] < 0x7f)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		len = 2;
		cp = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		len = 3;
		cp = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4;
		cp = p[0] & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp < 0xa0)
		return 0;
	return len;
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
