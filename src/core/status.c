/*
 * src/core/status.c
 *	  Recording error details for the caller.
 */
#include <stdarg.h>
#include <stdio.h>

#include "mixrec/status.h"

/*
 * Record an error and return its status
 */
MixrecStatus
MixrecFail(MixrecError *err, MixrecStatus status, const char *fmt,...)
{
	if (err != NULL)
	{
		va_list		args;

		err->status = status;
		va_start(args, fmt);
		vsnprintf(err->message, sizeof(err->message), fmt, args);
		va_end(args);
	}
	return status;
}
