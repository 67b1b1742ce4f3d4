/* detachkeys.c: detach keys, parsed and matched (see detachkeys.h). */
#include "agent/detachkeys.h"

#include <errno.h>
#include <string.h>

int detach_keys_parse(struct detach_keys *dk, const char *spec)
{
	uint8_t k[DETACH_KEYS_MAX];
	size_t n = 0;
	const char *p = spec, *end;

	for (; *p; p = *end ? end + 1 : end) {
		size_t len;
		if ((end = strchr(p, ',')) == NULL)
			end = p + strlen(p);
		len = (size_t)(end - p);
		if (n == sizeof(k))
			return -EINVAL;
		if (len == 1 && (unsigned char)p[0] >= 0x20 && (unsigned char)p[0] < 0x7f)
			k[n++] = (uint8_t)p[0];
		else if (len == 6 && strncmp(p, "ctrl-", 5) == 0 && p[5] >= 'a' && p[5] <= 'z')
			k[n++] = (uint8_t)(p[5] - 'a' + 1);
		else if (len == 6 && strncmp(p, "ctrl-", 5) == 0 && p[5] != 0 &&
			 strchr("@[\\]^_", p[5]) != NULL)
			k[n++] = (uint8_t)(p[5] == '@' ? 0 : p[5] - '[' + 27);
		else
			return -EINVAL;
	}
	if (n == 0)
		return -EINVAL;
	memcpy(dk->keys, k, n);
	dk->n = n;
	dk->matched = 0;
	return 0;
}

const uint8_t *detach_keys_filter(struct detach_keys *dk, const uint8_t *p, size_t n, uint8_t *buf,
				  size_t *nout, int *detached)
{
	size_t i, o = 0;

	*detached = 0;
	*nout = n;
	if (dk->n == 0)
		return p;
	for (i = 0; i < n; i++) {
		if (p[i] == dk->keys[dk->matched]) {
			if (++dk->matched == dk->n) {
				dk->matched = 0;
				*detached = 1;
				break;
			}
			continue;
		}
		/* Not the next key: what was held back was data, and so may this byte be. */
		memcpy(buf + o, dk->keys, dk->matched);
		o += dk->matched;
		dk->matched = 0;
		if (p[i] == dk->keys[0])
			dk->matched = 1;
		else
			buf[o++] = p[i];
	}
	*nout = o;
	return buf;
}
