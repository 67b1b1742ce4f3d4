/* detachkeys.h: the detach keys of an attach ("ctrl-p,ctrl-q"), matched in the stdin bytes on
 * their way to the container, as moby/term's escape proxy does for docker's CLI and engine:
 * the agent does it itself because podman 4.3's attach API ignores its detachKeys. */
#ifndef REXEC_AGENT_DETACHKEYS_H
#define REXEC_AGENT_DETACHKEYS_H

#include <stddef.h>
#include <stdint.h>

#define DETACH_KEYS_MAX 16 /* keys in one sequence */

/* Plain values, caller-allocated; all zero: no keys to match. */
struct detach_keys {
	uint8_t keys[DETACH_KEYS_MAX];
	size_t n;
	size_t matched; /* the keys typed so far: held back */
};

/* SPEC in docker's form (comma-separated keys: one printable character, or ctrl-a..ctrl-z,
 * ctrl-@, ctrl-[, ctrl-\, ctrl-], ctrl-^, ctrl-_) into DK. Returns 0, or -EINVAL (DK is then
 * left as it was). */
int detach_keys_parse(struct detach_keys *dk, const char *spec);

/* Stdin bytes P..N with DK's keys taken out. Returns the bytes to pass on (P itself when DK
 * has no keys, else BUF, with room for N + DETACH_KEYS_MAX) and their count in *NOUT; a prefix
 * of the keys is held back until the next byte tells whether it was data. *DETACHED is 1 when
 * the whole sequence was typed (the bytes after it are dropped), else 0. */
const uint8_t *detach_keys_filter(struct detach_keys *dk, const uint8_t *p, size_t n, uint8_t *buf,
				  size_t *nout, int *detached);

#endif
