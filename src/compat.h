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

#endif							/* MIXREC_COMPAT_H */
