/* strvis_test.c: terminal-safe metadata text: controls and invalid UTF-8 escaped in octal,
 * printable ASCII and valid UTF-8 kept, the snprintf-like length and cut. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "lib/strvis.h"

static void check(const char *in, size_t n, const char *want)
{
	char out[256];

	assert_int_equal(strvis_n(out, sizeof(out), in, n), strlen(want));
	assert_string_equal(out, want);
}

static void test_plain_text_is_kept(void **state)
{
	check("shop-web-1", 10, "shop-web-1");
	check("a b\\c ~", 7, "a b\\c ~");
	check("", 0, "");
}

static void test_controls_become_octal(void **state)
{
	check("\033]0;pwned\007", 10, "\\033]0;pwned\\007");
	check("a\nb\rc\td", 7, "a\\012b\\015c\\011d");
	check("\x7f", 1, "\\177");
	check("x\0y", 3, "x\\000y");
}

static void test_valid_utf8_is_kept(void **state)
{
	check("caf\xc3\xa9", 5, "caf\xc3\xa9");           /* é */
	check("\xe2\x82\xac", 3, "\xe2\x82\xac");         /* € */
	check("\xf0\x9f\x90\xb3", 4, "\xf0\x9f\x90\xb3"); /* 🐳 */
	check("\xc2\xa0", 2, "\xc2\xa0");                 /* NBSP: first past C1 */
}

static void test_c1_and_invalid_utf8_are_escaped(void **state)
{
	check("\xc2\x9b"
	      "31m",
	      5, "\\302\\23331m");                            /* C1 CSI */
	check("\x9b", 1, "\\233");                            /* a lone 8-bit CSI */
	check("\xc0\xaf", 2, "\\300\\257");                   /* overlong '/' */
	check("\xed\xa0\x80", 3, "\\355\\240\\200");          /* a surrogate */
	check("\xf4\x90\x80\x80", 4, "\\364\\220\\200\\200"); /* past U+10FFFF */
	check("\xe2\x82", 2, "\\342\\202");                   /* truncated */
	check("\xff", 1, "\\377");
}

static void test_length_and_cut(void **state)
{
	char out[8];

	/* The full length comes back; what fits goes in whole, never half an escape. */
	assert_int_equal(strvis_n(out, sizeof(out), "ab\033cdef", 7), 10);
	assert_string_equal(out, "ab\\033c");
	assert_int_equal(strvis_n(out, 5, "abc\033", 4), 7);
	assert_string_equal(out, "abc");
	assert_int_equal(strvis(NULL, 0, "\033"), 4);
}

static void test_dup(void **state)
{
	char *s = strvis_dup("web\033[2J");

	assert_non_null(s);
	assert_string_equal(s, "web\\033[2J");
	free(s);
	s = strvis_dup(NULL);
	assert_non_null(s);
	assert_string_equal(s, "");
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_text_is_kept),
		cmocka_unit_test(test_controls_become_octal),
		cmocka_unit_test(test_valid_utf8_is_kept),
		cmocka_unit_test(test_c1_and_invalid_utf8_are_escaped),
		cmocka_unit_test(test_length_and_cut),
		cmocka_unit_test(test_dup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
