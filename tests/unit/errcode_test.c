/* errcode_test.c: the one translation from internal error codes to the wire's ErrorCode. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>

#include "proto/errcode.h"
#include "proto/error.h"

static void test_codes(void **state)
{
	(void)state;
	assert_int_equal(rexec_error_code(REXEC_EPROTO), REXEC__V1__ERROR_CODE__ERROR_PROTOCOL);
	assert_int_equal(rexec_error_code(REXEC_EVERSION), REXEC__V1__ERROR_CODE__ERROR_VERSION);
	assert_int_equal(rexec_error_code(-ENOENT), REXEC__V1__ERROR_CODE__ERROR_NOT_FOUND);
	assert_int_equal(rexec_error_code(REXEC_EDENIED), REXEC__V1__ERROR_CODE__ERROR_DENIED);
	assert_int_equal(rexec_error_code(-EMFILE), REXEC__V1__ERROR_CODE__ERROR_LIMIT);
	assert_int_equal(rexec_error_code(REXEC_ELIMIT), REXEC__V1__ERROR_CODE__ERROR_LIMIT);
	assert_int_equal(rexec_error_code(REXEC_EUNAVAILABLE),
			 REXEC__V1__ERROR_CODE__ERROR_UNAVAILABLE);
	assert_int_equal(rexec_error_code(-ENOMEM), REXEC__V1__ERROR_CODE__ERROR_INTERNAL);
	assert_int_equal(rexec_error_code(-4999), REXEC__V1__ERROR_CODE__ERROR_INTERNAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_codes),
	};
	return cmocka_run_group_tests_name("errcode", tests, NULL, NULL);
}
