/* uses: agent/detachkeys.c */
/* detachkeys_test.c: detach keys in docker's form parsed (and refused when not keys), and
 * matched in stdin as an attach sends it: data passes, the sequence detaches, a prefix is held
 * back across writes and passed on when the next byte is not the next key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "agent/detachkeys.h"

/* Filters S through DK; the bytes passed on into OUT (NUL-terminated). Returns *detached. */
static int feed(struct detach_keys *dk, const char *s, char *out)
{
	uint8_t buf[64 + DETACH_KEYS_MAX];
	const uint8_t *p;
	size_t n;
	int detached;

	p = detach_keys_filter(dk, (const uint8_t *)s, strlen(s), buf, &n, &detached);
	memcpy(out, p, n);
	out[n] = 0;
	return detached;
}

static void test_parse(void **state)
{
	struct detach_keys dk = { 0 };

	assert_int_equal(detach_keys_parse(&dk, "ctrl-p,ctrl-q"), 0);
	assert_int_equal(dk.n, 2);
	assert_memory_equal(dk.keys, "\x10\x11", 2);
	assert_int_equal(detach_keys_parse(&dk, "a,ctrl-@,ctrl-[,ctrl-\\,ctrl-_"), 0);
	assert_int_equal(dk.n, 5);
	assert_memory_equal(dk.keys, "a\0\x1b\x1c\x1f", 5);
}

static void test_parse_refuses_what_is_not_a_key(void **state)
{
	struct detach_keys dk = { 0 };
	const char *bad[] = { "",       ",",      "ctrl-",
			      "ctrl-P", "ctrl-1", "ab",
			      "a,,b",   "\x01",   "a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q" };
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(detach_keys_parse(&dk, bad[i]), -EINVAL);
	assert_int_equal(dk.n, 0);
}

static void test_no_keys_passes_everything(void **state)
{
	struct detach_keys dk = { 0 };
	char out[80];

	assert_int_equal(feed(&dk, "ls\x10\x11\r", out), 0);
	assert_string_equal(out, "ls\x10\x11\r");
}

static void test_sequence_detaches_and_data_passes(void **state)
{
	struct detach_keys dk = { 0 };
	char out[80];

	assert_int_equal(detach_keys_parse(&dk, "ctrl-p,ctrl-q"), 0);
	assert_int_equal(feed(&dk, "echo hi\r", out), 0);
	assert_string_equal(out, "echo hi\r");
	/* What comes before the keys in the same write passes; what follows is dropped. */
	assert_int_equal(feed(&dk, "x\x10\x11y", out), 1);
	assert_string_equal(out, "x");
}

static void test_prefix_is_held_across_writes(void **state)
{
	struct detach_keys dk = { 0 };
	char out[80];

	assert_int_equal(detach_keys_parse(&dk, "ctrl-p,ctrl-q"), 0);
	assert_int_equal(feed(&dk, "a\x10", out), 0);
	assert_string_equal(out, "a");
	assert_int_equal(feed(&dk, "\x11", out), 1);
	/* A prefix then another byte: both are data. */
	assert_int_equal(feed(&dk, "\x10", out), 0);
	assert_string_equal(out, "");
	assert_int_equal(feed(&dk, "b", out), 0);
	assert_string_equal(out, "\x10"
				 "b");
	/* A prefix then the first key again: the first was data, the second may start it. */
	assert_int_equal(feed(&dk, "\x10\x10", out), 0);
	assert_string_equal(out, "\x10");
	assert_int_equal(feed(&dk, "\x11", out), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_parse_refuses_what_is_not_a_key),
		cmocka_unit_test(test_no_keys_passes_everything),
		cmocka_unit_test(test_sequence_detaches_and_data_passes),
		cmocka_unit_test(test_prefix_is_held_across_writes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
