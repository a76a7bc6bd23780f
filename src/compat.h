/*
 * src/compat.h
 *	  Every PostgreSQL version shim of mixrec, in one place.
 */
#ifndef MIXREC_COMPAT_H
#define MIXREC_COMPAT_H

#include "postgres.h"

#if PG_VERSION_NUM < 150000
#error "mixrec requires PostgreSQL 15 or later"
#endif

/* palloc_array and friends arrived in PostgreSQL 16 */
#ifndef palloc_array
#define palloc_array(type, count) ((type *) palloc(sizeof(type) * (count)))
#define palloc0_array(type, count) ((type *) palloc0(sizeof(type) * (count)))
#endif

/*
 * stringToQualifiedNameList gained an escontext argument in PostgreSQL 16;
 * callers use that form (NULL: raise the error, as before).  utils/regproc.h
 * comes first so that its declaration is not read through the macro.
 */
#if PG_VERSION_NUM < 160000
#include "utils/regproc.h"
#define stringToQualifiedNameList(string, escontext) stringToQualifiedNameList(string)
#endif

/*
 * PostgreSQL 18 replaced the pg_attribute_noreturn() suffix with the
 * pg_noreturn specifier, which comes first in a declaration
 */
#if PG_VERSION_NUM < 180000
#define pg_noreturn pg_attribute_noreturn()
#endif

#endif							/* MIXREC_COMPAT_H */
