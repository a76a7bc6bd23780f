/*
 * src/record_check.h
 *	  Checking that a row value's bytes fit its row type, and an array's its
 *	  header, before they are read.
 */
#ifndef MIXREC_RECORD_CHECK_H
#define MIXREC_RECORD_CHECK_H

#include "postgres.h"

#include "access/htup_details.h"
#include "access/tupdesc.h"
#include "utils/array.h"

extern void RecordCheckLayout(HeapTupleHeader header, TupleDesc desc);
extern void ArrayCheckLayout(ArrayType *array, int16 elmlen, char elmalign, const char *column);

#endif							/* MIXREC_RECORD_CHECK_H */
