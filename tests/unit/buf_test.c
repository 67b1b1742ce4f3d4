/* buf_test.c: buf_appendf(), formatted text appended into a fixed buffer: parts joined in
 * order, always NUL-terminated, cut at the end with *AT stopping at the buffer's length, and
 * nothing written once the buffer is full. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "proto/buf.h"

static void test_parts_are_joined(void **state)
{
	char out[64];
	size_t at = 0;

	buf_appendf(out, sizeof(out), &at, "rule %d (%s:%u): ", 2, "policy.yaml", 7u);
	buf_appendf(out, sizeof(out), &at, "%s", "deny");
	buf_appendf(out, sizeof(out), &at, "%s", "");
	assert_string_equal(out, "rule 2 (policy.yaml:7): deny");
	assert_int_equal(at, strlen(out));
}

static void test_exact_fit_is_not_cut(void **state)
{
	char out[6];
	size_t at = 0;

	buf_appendf(out, sizeof(out), &at, "ab");
	buf_appendf(out, sizeof(out), &at, "cde");
	assert_string_equal(out, "abcde");
	assert_int_equal(at, 5); /* LEN - 1: everything fitted */
}

static void test_overflow_is_cut_and_terminated(void **state)
{
	char out[8];
	size_t at = 0;

	memset(out, 'X', sizeof(out));
	buf_appendf(out, sizeof(out), &at, "abcd");
	buf_appendf(out, sizeof(out), &at, "%s", "efghijkl");
	assert_string_equal(out, "abcdefg");
	assert_int_equal(at, sizeof(out)); /* == LEN: the text was cut */
}

static void test_one_byte_over_is_cut(void **state)
{
	char out[6];
	size_t at = 0;

	buf_appendf(out, sizeof(out), &at, "abcdef");
	assert_string_equal(out, "abcde");
	assert_int_equal(at, sizeof(out));
}

static void test_full_buffer_takes_nothing_more(void **state)
{
	char mem[16];
	size_t at = 0, i;

	memset(mem, 'G', sizeof(mem));
	buf_appendf(mem, 4, &at, "%s", "abcdef");
	buf_appendf(mem, 4, &at, "%s", "more");
	assert_string_equal(mem, "abc");
	assert_int_equal(at, 4);
	at = 9; /* a count past the end is left alone and nothing is written */
	buf_appendf(mem, 4, &at, "%s", "more");
	assert_int_equal(at, 9);
	for (i = 4; i < sizeof(mem); i++) /* nothing past LEN was touched */
		assert_int_equal(mem[i], 'G');
}

static void test_empty_buffer_is_left_alone(void **state)
{
	char out[1] = { 'Z' };
	size_t at = 0;

	buf_appendf(out, 0, &at, "%s", "text");
	assert_int_equal(at, 0);
	assert_int_equal(out[0], 'Z');
	buf_appendf(out, sizeof(out), &at, "%s", "text");
	assert_int_equal(out[0], 0);
	assert_int_equal(at, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parts_are_joined),
		cmocka_unit_test(test_exact_fit_is_not_cut),
		cmocka_unit_test(test_overflow_is_cut_and_terminated),
		cmocka_unit_test(test_one_byte_over_is_cut),
		cmocka_unit_test(test_full_buffer_takes_nothing_more),
		cmocka_unit_test(test_empty_buffer_is_left_alone),
	};
	return cmocka_run_group_tests_name("buf", tests, NULL, NULL);
}
