/* error.c: descriptions for the codes of error.h. */
#include "proto/error.h"

#include <string.h>

const char *rexec_strerror(int err)
{
	switch (err) {
#define REXEC_ERR_CASE(name, val, msg) \
	case REXEC_E##name:            \
		return msg;
		REXEC_ERRNO_MAP(REXEC_ERR_CASE)
#undef REXEC_ERR_CASE
	}
	if (err < 0 && err > -4000)
		return strerror(-err);
	return "unknown error";
}
