/* errcode.c: internal error codes to the wire's ErrorCode (see errcode.h). */
#include "proto/errcode.h"

#include <errno.h>

#include "proto/error.h"

Rexec__V1__ErrorCode rexec_error_code(int err)
{
	switch (err) {
	case REXEC_EPROTO:
	case REXEC_EPROTOBUF:
		return REXEC__V1__ERROR_CODE__ERROR_PROTOCOL;
	case REXEC_EVERSION:
		return REXEC__V1__ERROR_CODE__ERROR_VERSION;
	case REXEC_ENOT_FOUND:
	case -ENOENT:
	case -ESRCH:
		return REXEC__V1__ERROR_CODE__ERROR_NOT_FOUND;
	case REXEC_EDENIED:
	case -EPERM:
	case -EACCES:
		return REXEC__V1__ERROR_CODE__ERROR_DENIED;
	case REXEC_EFRAME_TOO_BIG:
	case REXEC_ELIMIT:
	case -E2BIG:
	case -EMFILE:
	case -ENFILE:
		return REXEC__V1__ERROR_CODE__ERROR_LIMIT;
	case REXEC_EUNAVAILABLE:
	case REXEC_EENGINE:
	case REXEC_ETIMEOUT:
	case -ETIMEDOUT:
	case -ECONNREFUSED:
	case -EAGAIN:
		return REXEC__V1__ERROR_CODE__ERROR_UNAVAILABLE;
	default:
		return REXEC__V1__ERROR_CODE__ERROR_INTERNAL;
	}
}
