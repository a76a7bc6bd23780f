/*
 * src/datum.c
 *	  The datum layer: one conversion each of a feature array, a label, a
 *	  domain and a weight.
 *
 * Every path that reads rows calls these, so a value is accepted by all of
 * them or by none, with one set of messages:
 *
 *	features	a one-dimensional array of real, double precision, smallint,
 *				integer, bigint or numeric, or pgvector's vector where the
 *				extension "vector" is created (src/pgvector.c), of exactly
 *				the expected length, every element finite and within the
 *				range of real
 *	label		boolean (true = 1) or a number, or a one-dimensional array of
 *				them for a model of several outputs, each in [0, 1]
 *	domain		'open', 'commercial' (text, varchar, char, name), or boolean
 *				(true = commercial); NULL, the caller's, counts for both
 *	weight		a finite non-negative number within the range of real
 *
 * With skip_invalid, a NULL element or a value that is not finite makes the
 * conversion return false (the caller skips the row) instead of an error; a
 * value of the wrong shape or out of range is an error either way.  Without
 * it, the error for such a value carries skip_hint, if given: how the
 * caller's option that skips such rows is spelled.
 *
 * A real[] without NULLs, the array mixrec_score takes per row, is copied
 * with one memcpy and checked with one pass.  A detoasted copy of an array
 * is freed before returning, so converting a row leaves no garbage behind.
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "catalog/pg_type.h"
#include "datum.h"
#include "mixrec/score_plan.h"
#include "pgvector.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

static bool IsNumberType(Oid type);
static bool ElementsToFloats(ArrayType *array, int n, const char *what, float *out,
							 bool skip_invalid, const char *skip_hint);
static bool CheckFinite(const float *values, int n, const char *what, bool skip_invalid,
						const char *skip_hint);

/*
 * Is this a type a number is read from?
 */
static bool
IsNumberType(Oid type)
{
	return type == FLOAT4OID || type == FLOAT8OID || type == INT2OID ||
		type == INT4OID || type == INT8OID || type == NUMERICOID;
}

/*
 * Convert a number (or a boolean: 1 or 0) to double; a numeric beyond the
 * range of double becomes an infinity.  The one conversion of a number for
 * every reader of rows, typed columns included (src/typed_values.c).
 */
double
DatumNumber(Datum value, Oid type)
{
	switch (type)
	{
		case FLOAT4OID:
			return DatumGetFloat4(value);
		case FLOAT8OID:
			return DatumGetFloat8(value);
		case INT2OID:
			return DatumGetInt16(value);
		case INT4OID:
			return DatumGetInt32(value);
		case INT8OID:
			return (double) DatumGetInt64(value);
		case BOOLOID:
			return DatumGetBool(value) ? 1.0 : 0.0;
		case NUMERICOID:
			return DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow, value));
	}
	elog(ERROR, "unexpected type %u", type);
	return 0.0;
}

/*
 * Check that a column can hold feature arrays
 */
void
DatumCheckFeaturesType(Oid type, const char *what)
{
	Oid			element = get_element_type(type);

	if (OidIsValid(element) && IsNumberType(element))
		return;
	if (PgvectorIsVector(type))
		return;
	/* A "vector" that is not pgvector's: most likely the extension is missing */
	if (PgvectorNamedVector(type))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("%s is of type %s, but that is not pgvector's vector: the extension \"vector\" is not created in this database",
						what, format_type_be(type)),
				 errhint("CREATE EXTENSION vector (pgvector) in this database, or pass the features as real[].")));
	ereport(ERROR,
			(errcode(ERRCODE_DATATYPE_MISMATCH),
			 errmsg("%s must be a numeric array (real[], double precision[], integer[] or numeric[]), got %s",
					what, format_type_be(type))));
}

/*
 * Check that a column can hold labels
 */
void
DatumCheckLabelType(Oid type)
{
	Oid			element = get_element_type(type);

	if (type != BOOLOID && !IsNumberType(type) &&
		!(OidIsValid(element) && (element == BOOLOID || IsNumberType(element))))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("label must be boolean or numeric, or an array of them, got %s",
						format_type_be(type))));
}

/*
 * Check that a column can hold domains
 */
void
DatumCheckDomainType(Oid type)
{
	if (type != BOOLOID && type != TEXTOID && type != VARCHAROID &&
		type != BPCHAROID && type != NAMEOID && type != UNKNOWNOID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("domain must be text ('open', 'commercial' or NULL) or boolean (true = commercial), got %s",
						format_type_be(type))));
}

/*
 * Check that a column can hold weights
 */
void
DatumCheckWeightType(Oid type)
{
	if (!IsNumberType(type))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("weight must be numeric, got %s", format_type_be(type))));
}

/*
 * The number of elements of a one-dimensional array (0 if empty)
 */
int
DatumArrayLength(Datum value, const char *what)
{
	ArrayType  *array = DatumGetArrayTypeP(value);
	int			n;

	if (ARR_NDIM(array) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("%s must be a one-dimensional array, got %d dimensions",
						what, ARR_NDIM(array))));
	n = ARR_NDIM(array) == 0 ? 0 : ARR_DIMS(array)[0];
	if ((Pointer) array != DatumGetPointer(value))
		pfree(array);
	return n;
}

/*
 * Convert the n elements of an array of numbers or booleans, which may
 * hold NULLs; returns false for a NULL element when skipping
 */
static bool
ElementsToFloats(ArrayType *array, int n, const char *what, float *out, bool skip_invalid,
				 const char *skip_hint)
{
	Oid			element = ARR_ELEMTYPE(array);
	int16		typlen;
	bool		typbyval;
	char		typalign;
	Datum	   *values;
	bool	   *nulls;
	int			count;
	bool		ok = true;

	if (element != BOOLOID && !IsNumberType(element))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("%s must be an array of numbers, got %s", what,
						format_type_be(element))));
	get_typlenbyvalalign(element, &typlen, &typbyval, &typalign);
	deconstruct_array(array, element, typlen, typbyval, typalign, &values, &nulls, &count);
	Assert(count == n);
	for (int i = 0; i < count && ok; i++)
	{
		double		value;

		if (nulls[i])
		{
			if (!skip_invalid)
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("%s element %d is NULL", what, i + 1),
						 skip_hint ? errhint("%s", skip_hint) : 0));
			ok = false;
			break;
		}
		value = DatumNumber(values[i], element);
		if (isfinite(value) && fabs(value) > FLT_MAX)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("%s element %d (%g) is out of range for real", what, i + 1, value)));
		out[i] = (float) value;
	}
	pfree(values);
	pfree(nulls);
	return ok;
}

/*
 * Check that n values are finite; returns false for one that is not when
 * skipping
 */
static bool
CheckFinite(const float *values, int n, const char *what, bool skip_invalid,
			const char *skip_hint)
{
	/* The vectorised test first; the loop finds the element to name */
	if (ScoreKernelAllFinite(values, n))
		return true;
	for (int i = 0; i < n; i++)
		if (!isfinite(values[i]))
		{
			if (skip_invalid)
				return false;
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("%s element %d is %s", what, i + 1,
							isnan(values[i]) ? "NaN" : "infinite"),
					 skip_hint ? errhint("%s", skip_hint) : 0));
		}
	return true;
}

/*
 * Is this pgvector's vector (read as a real[] of its dimensions)?
 */
bool
DatumIsVectorType(Oid type)
{
	return PgvectorIsVector(type);
}

/*
 * Is this a type named "vector" that is not pgvector's?
 */
bool
DatumNamedVector(Oid type)
{
	return PgvectorNamedVector(type);
}

/*
 * The elements of a vector, palloc'd, and their number
 */
float *
DatumVectorElements(Datum value, int *n, const char *what)
{
	return PgvectorCopy(value, n, what);
}

/*
 * The number of features in a value of a type DatumCheckFeaturesType
 * accepted: an array's length or a vector's dimensions
 */
int
DatumFeaturesLength(Datum value, Oid type, const char *what)
{
	if (type != FLOAT4ARRAYOID && PgvectorIsVector(type))
		return PgvectorDim(value, what);
	return DatumArrayLength(value, what);
}

/*
 * Convert features of exactly `expected` elements into out: an array, or
 * a vector if `type` is pgvector's (the caller has checked the type with
 * DatumCheckFeaturesType); returns false when skipping a NULL element or a
 * value that is not finite.  expected_detail, if given, explains where
 * `expected` comes from.
 */
bool
DatumFeatures(Datum value, Oid type, int expected, float *out, bool skip_invalid,
			  const char *skip_hint, const char *expected_detail)
{
	ArrayType  *array;
	Oid			element;
	int			n;
	bool		ok = true;

	/* pgvector's vector: one validated copy, then the same finiteness check */
	if (type != FLOAT4ARRAYOID && PgvectorIsVector(type))
	{
		PgvectorRead(value, expected, out, "features", expected_detail);
		return CheckFinite(out, expected, "features", skip_invalid, skip_hint);
	}

	array = DatumGetArrayTypeP(value);
	element = ARR_ELEMTYPE(array);
	if (ARR_NDIM(array) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("features must be a one-dimensional array, got %d dimensions",
						ARR_NDIM(array))));
	n = ARR_NDIM(array) == 0 ? 0 : ARR_DIMS(array)[0];
	if (n != expected)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("features have %d elements, expected %d", n, expected),
				 expected_detail ? errdetail("%s", expected_detail) : 0));

	/* The hot path: real[] without NULLs, one copy and one check */
	if (element == FLOAT4OID && !ARR_HASNULL(array))
		memcpy(out, ARR_DATA_PTR(array), sizeof(float) * n);
	else if (element == FLOAT8OID && !ARR_HASNULL(array))
	{
		const double *values = (const double *) ARR_DATA_PTR(array);

		for (int i = 0; i < n; i++)
		{
			if (isfinite(values[i]) && fabs(values[i]) > FLT_MAX)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_EXCEPTION),
						 errmsg("features element %d (%g) is out of range for real",
								i + 1, values[i])));
			out[i] = (float) values[i];
		}
	}
	else if (element == BOOLOID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("features must be an array of numbers, got %s",
						format_type_be(element))));
	else
		ok = ElementsToFloats(array, n, "features", out, skip_invalid, skip_hint);

	if (ok)
		ok = CheckFinite(out, n, "features", skip_invalid, skip_hint);
	if ((Pointer) array != DatumGetPointer(value))
		pfree(array);
	return ok;
}

/*
 * The features of one row to score, read where they are when they can be:
 * a real[] of exactly `expected` elements without NULLs, stored as it is
 * (not compressed, not a short varlena that detoasting copies), is
 * checked and returned in place; anything else is converted into scratch
 * by DatumFeatures, with its errors.  The result is valid while value is.
 */
const float *
DatumFeaturesInPlace(Datum value, Oid type, int expected, float *scratch)
{
	ArrayType  *array;

	/* A vector (not one of the arrays the scoring functions declare) is copied */
	if (type != FLOAT4ARRAYOID && type != FLOAT8ARRAYOID)
	{
		DatumFeatures(value, type, expected, scratch, false, NULL, NULL);
		return scratch;
	}
	array = DatumGetArrayTypeP(value);
	if ((Pointer) array == DatumGetPointer(value) && ARR_ELEMTYPE(array) == FLOAT4OID &&
		ARR_NDIM(array) == 1 && ARR_DIMS(array)[0] == expected && !ARR_HASNULL(array))
	{
		const float *values = (const float *) ARR_DATA_PTR(array);

		CheckFinite(values, expected, "features", false, NULL);
		return values;
	}
	/* Converted from the detoasted copy, which is then freed */
	DatumFeatures(PointerGetDatum(array), type, expected, scratch, false, NULL, NULL);
	if ((Pointer) array != DatumGetPointer(value))
		pfree(array);
	return scratch;
}

/*
 * The number of outputs a label gives: its length if an array, else 1
 */
int
DatumLabelLength(Datum value, Oid type)
{
	return OidIsValid(get_element_type(type)) ? DatumArrayLength(value, "label") : 1;
}

/*
 * Convert a label for a model of `outputs` outputs into out; returns false
 * when skipping a NULL element
 */
bool
DatumLabel(Datum value, Oid type, int outputs, float *out, bool skip_invalid,
		   const char *skip_hint)
{
	if (OidIsValid(get_element_type(type)))
	{
		ArrayType  *array = DatumGetArrayTypeP(value);
		int			n = DatumArrayLength(PointerGetDatum(array), "label");
		bool		ok;

		if (n != outputs)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("label has %d elements, expected %d", n, outputs)));
		ok = ElementsToFloats(array, n, "label", out, skip_invalid, skip_hint);
		if ((Pointer) array != DatumGetPointer(value))
			pfree(array);
		if (!ok)
			return false;
	}
	else
	{
		double		label;

		if (outputs != 1)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("label is a single value, but the model has %d outputs", outputs)));
		label = DatumNumber(value, type);
		if (!(label >= 0.0 && label <= 1.0))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("label %g is outside [0, 1]", label)));
		out[0] = (float) label;
	}
	for (int k = 0; k < outputs; k++)
		if (!(out[k] >= 0.0f && out[k] <= 1.0f))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("label %g is outside [0, 1]", (double) out[k])));
	return true;
}

/*
 * Which models a row of a non-NULL domain counts for
 *
 * Text is compared as PostgreSQL compares it, so a char(n) domain's
 * trailing blanks do not count (as when it is cast to text).
 */
void
DatumDomain(Datum value, Oid type, unsigned char *open, unsigned char *commercial)
{
	char	   *name;
	int			len;

	switch (type)
	{
		case BOOLOID:
			*open = !DatumGetBool(value);
			*commercial = DatumGetBool(value);
			return;
		case NAMEOID:
			name = pstrdup(NameStr(*DatumGetName(value)));
			break;
		case UNKNOWNOID:
			name = pstrdup(DatumGetCString(value));
			break;
		case TEXTOID:
		case VARCHAROID:
		case BPCHAROID:
			name = TextDatumGetCString(value);
			break;
		default:
			DatumCheckDomainType(type);
			return;
	}
	len = strlen(name);
	if (type == BPCHAROID)
		while (len > 0 && name[len - 1] == ' ')
			name[--len] = '\0';

	*open = 1;
	*commercial = 1;
	if (strcmp(name, "open") == 0)
		*commercial = 0;
	else if (strcmp(name, "commercial") == 0)
		*open = 0;
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("domain \"%s\" is neither \"open\" nor \"commercial\"", name),
				 errhint("A NULL domain counts the row for both models.")));
	pfree(name);
}

/*
 * Convert a weight
 */
float
DatumWeight(Datum value, Oid type)
{
	double		weight = DatumNumber(value, type);

	if (!(weight >= 0.0) || !isfinite(weight) || weight > FLT_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("weight %g is not a finite non-negative number", weight)));
	return (float) weight;
}
