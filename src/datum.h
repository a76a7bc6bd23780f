/*
 * src/datum.h
 *	  The datum layer of the PostgreSQL layer: one conversion per kind of value.
 *
 * Every path that reads rows (training in memory and streamed, the
 * aggregates, evaluation, prediction, recommendation and mixrec_score)
 * converts a feature array, a label, a domain and a weight here, so that
 * all of them accept the same inputs and report the same messages.  A
 * feature value is read as the type its column or argument has: an array,
 * or pgvector's vector (src/pgvector.c).  A NULL
 * value as a whole is the caller's to handle (skipped, an error, or a NULL
 * result); the row it came from is named by the source layer's error
 * context, not by these messages.
 */
#ifndef MIXREC_DATUM_H
#define MIXREC_DATUM_H

#include "postgres.h"

/* Types a column must have: an error naming `what` otherwise */
extern void DatumCheckFeaturesType(Oid type, const char *what);
extern void DatumCheckLabelType(Oid type);
extern void DatumCheckDomainType(Oid type);
extern void DatumCheckWeightType(Oid type);

extern double DatumNumber(Datum value, Oid type);
extern int	DatumArrayLength(Datum value, const char *what);
extern bool DatumIsVectorType(Oid type);
extern bool DatumNamedVector(Oid type);
extern float *DatumVectorElements(Datum value, int *n, const char *what);
extern int	DatumFeaturesLength(Datum value, Oid type, const char *what);
extern bool DatumFeatures(Datum value, Oid type, int expected, float *out, bool skip_invalid,
						  const char *skip_hint, const char *expected_detail);
extern const float *DatumFeaturesInPlace(Datum value, Oid type, int expected, float *scratch);
extern int	DatumLabelLength(Datum value, Oid type);
extern bool DatumLabel(Datum value, Oid type, int outputs, float *out, bool skip_invalid,
					   const char *skip_hint);
extern void DatumDomain(Datum value, Oid type, unsigned char *open, unsigned char *commercial);
extern float DatumWeight(Datum value, Oid type);

#endif							/* MIXREC_DATUM_H */
