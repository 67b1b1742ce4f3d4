/* buf_test.c: buf_appendf(), formatted text appended into a fixed buffer: parts joined in
 * order, always NUL-terminated, cut at the end with *AT stopping at the buffer's length, and
 * nothing written once the buffer is full. And the growable buffer: bytes come out in order
 * across consume, reserve and commit, and the unconsumed ones move to the front only when
 * the end has no room. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
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

static void test_growable_buffer_keeps_order_and_moves_only_when_full(void **state)
{
	struct buf b = { 0 };
	uint8_t chunk[1000], *at;
	size_t i, total = 0, taken = 0;

	(void)state;
	for (i = 0; i < sizeof(chunk); i++)
		chunk[i] = (uint8_t)i;
	assert_int_equal(buf_append(&b, chunk, 600), 0);
	total = 600;
	buf_consume(&b, 100); /* 500 left, starting at offset 100 */
	taken = 100;
	/* Room at the end: nothing moves. */
	at = buf_reserve(&b, 400);
	assert_non_null(at);
	assert_ptr_equal(at, b.data + 600);
	assert_int_equal(b.off, 100);
	memcpy(at, chunk + 600 % 256, 400);
	buf_commit(&b, 300); /* fewer than reserved */
	total += 300;
	assert_int_equal(buf_size(&b), total - taken);
	/* Past the capacity: the 800 unconsumed move to the front, then it grows. */
	at = buf_reserve(&b, b.cap);
	assert_non_null(at);
	assert_int_equal(b.off, 0);
	assert_ptr_equal(at, b.data + 800);
	for (i = 0; i < 500; i++)
		assert_int_equal(buf_peek(&b)[i], (uint8_t)(100 + i));
	for (i = 0; i < 300; i++)
		assert_int_equal(buf_peek(&b)[500 + i], (uint8_t)(600 % 256 + i));
	buf_consume(&b, buf_size(&b));
	assert_int_equal(buf_size(&b), 0);
	assert_int_equal(b.off, 0);
	buf_free(&b);
	assert_null(b.data);
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
		cmocka_unit_test(test_growable_buffer_keeps_order_and_moves_only_when_full),
	};
	return cmocka_run_group_tests_name("buf", tests, NULL, NULL);
}
