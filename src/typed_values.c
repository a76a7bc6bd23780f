/*
 * src/typed_values.c
 *	  The datum layer of typed feature columns: one conversion from a
 *	  column's Datum to the core's TransformValue, and the hash of a row's
 *	  feature values that places it in the validation split.
 *
 * Which types a kind reads is decided here and nowhere else
 * (TypedReaderInit), so the default kinds of a source's columns
 * (src/typed_columns.c), the kinds an override may ask for and the columns
 * a model may be bound to for scoring all agree:
 *
 *	NUMERIC		smallint, integer, bigint, real, double precision, numeric
 *	BOOLEAN		boolean (1 or 0)
 *	CATEGORICAL	text, varchar, char(n) (trailing blanks dropped, as
 *				char(n) compares), name; an enum or an integer as its text
 *	MULTI_HOT	arrays of those texts or of an enum
 *	DENSE		one-dimensional arrays of the NUMERIC types
 *	TIME		date (midnight UTC), timestamp (read as UTC), timestamptz
 *
 * all through domains.  A number that is NaN or infinite, and a date or
 * timestamp that is infinite, is an error naming the column: the core could
 * only refuse it later, with less to say.
 *
 * Memory: TypedValueRead allocates in the caller's current context (which
 * it resets per row): detoasted values, arrays of items and elements, texts
 * of output functions; the TransformValue points into them.
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "access/tupmacs.h"
#include "catalog/pg_enum.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "datatype/timestamp.h"
#include "fmgr.h"
#include "datum.h"
#include "mixrec.h"
#include "record_check.h"
#include "typed.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"

/* Seconds from 1970-01-01 to PostgreSQL's epoch, 2000-01-01 */
#define UNIX_TO_POSTGRES_SECONDS \
	((double) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY)

/* What a NULL contributes to a row's hash, with its position */
#define HOLDOUT_NULL_MARKER 0xFF

PG_FUNCTION_INFO_V1(mixrec_holdout_row);

static bool IsNumberType(Oid type);
static bool IsIntegerType(Oid type);
static bool IsTextType(Oid type);
static void ReaderSetElement(TypedReader *reader, Oid element);
static char *ValueName(int element);
static void CheckFinite(double number, const char *column, int element);
static double ReadNumber(Datum value, Oid type, const char *column, int element);
static void ReadText(Datum value, Oid type, TransformText *out);
static ArrayType *ReadArray(Datum value, const TypedReader *reader, const char *column);
static void ReadTextArray(const TypedReader *reader, const char *column, Datum value,
						  TransformValue *out);
static void ReadNumberArray(const TypedReader *reader, const char *column, Datum value,
							TransformValue *out);
static void ReadVector(const char *column, Datum value, TransformValue *out);
static double ReadDate(Datum value, const char *column);
static double ReadTimestamp(Datum value, const char *column);
static uint64 HashValue(Form_pg_attribute attr, Datum value, uint64 seed);

/*
 * Is this a type a number is read from?
 */
static bool
IsNumberType(Oid type)
{
	return IsIntegerType(type) || type == FLOAT4OID || type == FLOAT8OID ||
		type == NUMERICOID;
}

/*
 * Is this an integer type (which may also be read as a category)?
 */
static bool
IsIntegerType(Oid type)
{
	return type == INT2OID || type == INT4OID || type == INT8OID;
}

/*
 * Is this a type whose bytes are its text?  unknown is a string literal
 * not yet given a type, as 'fr' is in ROW(20, 'fr')
 */
static bool
IsTextType(Oid type)
{
	return type == TEXTOID || type == VARCHAROID || type == BPCHAROID || type == NAMEOID ||
		type == UNKNOWNOID;
}

/*
 * Record how to take an array's elements apart
 */
static void
ReaderSetElement(TypedReader *reader, Oid element)
{
	reader->elemtype = element;
	get_typlenbyvalalign(element, &reader->elmlen, &reader->elmbyval, &reader->elmalign);
}

/*
 * Prepare to read values of a type as a kind; false if the type cannot be
 * read as that kind
 *
 * The reader's type and elemtype are base types (a domain's values are its
 * base type's).  flags do not restrict the types: an integer column is read
 * as a category whether or not the model says TRANSFORM_FROM_INTEGER, and a
 * date is a TIME with or without TRANSFORM_DAY_TIME (its time of day is
 * midnight).  The output function, if one is needed, is looked up in
 * context.
 */
bool
TypedReaderInit(TypedReader *reader, Oid type, TransformKind kind, uint32 flags,
				MemoryContext context)
{
	Oid			base = getBaseType(type);
	Oid			element = get_element_type(base);
	Oid			output;
	bool		varlena;

	memset(reader, 0, sizeof(*reader));
	reader->type = base;
	if (OidIsValid(element))
		element = getBaseType(element);

	switch (kind)
	{
		case TRANSFORM_NUMERIC:
			if (!IsNumberType(base))
				return false;
			reader->read = READ_NUMBER;
			return true;
		case TRANSFORM_BOOLEAN:
			if (base != BOOLOID)
				return false;
			reader->read = READ_BOOL;
			return true;
		case TRANSFORM_CATEGORICAL:
			if (IsTextType(base))
			{
				reader->read = READ_TEXT;
				return true;
			}
			if (!IsIntegerType(base) && !type_is_enum(base))
				return false;
			reader->read = READ_OUTPUT_TEXT;
			getTypeOutputInfo(base, &output, &varlena);
			fmgr_info_cxt(output, &reader->output, context);
			return true;
		case TRANSFORM_MULTI_HOT:
			if (!OidIsValid(element) || !(IsTextType(element) || type_is_enum(element)))
				return false;
			reader->read = READ_TEXT_ARRAY;
			ReaderSetElement(reader, element);
			if (!IsTextType(element))
			{
				getTypeOutputInfo(element, &output, &varlena);
				fmgr_info_cxt(output, &reader->output, context);
			}
			return true;
		case TRANSFORM_DENSE:
			if (DatumIsVectorType(base))
			{
				reader->read = READ_VECTOR;
				return true;
			}
			if (!OidIsValid(element) || !IsNumberType(element))
				return false;
			reader->read = READ_NUMBER_ARRAY;
			ReaderSetElement(reader, element);
			return true;
		case TRANSFORM_TIME:
			if (base == DATEOID)
				reader->read = READ_DATE;
			else if (base == TIMESTAMPOID)
				reader->read = READ_TIMESTAMP;
			else if (base == TIMESTAMPTZOID)
				reader->read = READ_TIMESTAMPTZ;
			else
				return false;
			return true;
	}
	return false;
}

/*
 * "value" or "element N", for messages about a whole value or an element
 * of an array (element is 1-based, 0 for a whole value)
 */
static char *
ValueName(int element)
{
	return element > 0 ? psprintf("element %d", element) : pstrdup("value");
}

/*
 * Refuse NaN and the infinities
 */
static void
CheckFinite(double number, const char *column, int element)
{
	if (isnan(number))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("column \"%s\": %s is not a number (NaN)", column, ValueName(element)),
				 errhint("Filter such rows out in the source, or replace NaN with NULL.")));
	if (isinf(number))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("column \"%s\": %s is infinite", column, ValueName(element)),
				 errhint("Filter such rows out in the source, or replace infinities with NULL.")));
}

/*
 * Convert a number of a NUMERIC type to double, refusing NaN and the
 * infinities; element as for ValueName
 */
static double
ReadNumber(Datum value, Oid type, const char *column, int element)
{
	double		number = DatumNumber(value, type);

	/* A finite numeric beyond double is told apart from NaN and the infinities */
	if (type == NUMERICOID && !isfinite(number))
	{
		Numeric		numeric = DatumGetNumeric(value);

		if (!numeric_is_nan(numeric) && !numeric_is_inf(numeric))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("column \"%s\": %s %s is out of range for double precision",
							column, ValueName(element), numeric_out_sci(numeric, 6))));
	}
	CheckFinite(number, column, element);
	return number;
}

/*
 * The text of a value of a text type: the bytes of text and varchar, of
 * char(n) without its trailing blanks (which char(n) does not count when
 * comparing), of name and of an untyped literal up to its terminator
 */
static void
ReadText(Datum value, Oid type, TransformText *out)
{
	if (type == NAMEOID)
	{
		out->data = NameStr(*DatumGetName(value));
		out->len = strnlen(out->data, NAMEDATALEN);
	}
	else if (type == UNKNOWNOID)
	{
		out->data = DatumGetCString(value);
		out->len = strlen(out->data);
	}
	else
	{
		text	   *t = DatumGetTextPP(value);

		out->data = VARDATA_ANY(t);
		out->len = VARSIZE_ANY_EXHDR(t);
		if (type == BPCHAROID)
			while (out->len > 0 && out->data[out->len - 1] == ' ')
				out->len--;
	}
	out->isnull = 0;
}

/*
 * Detoast an array value and check that it is one-dimensional (or empty)
 */
static ArrayType *
ReadArray(Datum value, const TypedReader *reader, const char *column)
{
	ArrayType  *array = DatumGetArrayTypeP(value);

	/* The bytes of a row value may be another type's (src/record_check.c) */
	ArrayCheckLayout(array, reader->elmlen, reader->elmalign, column);
	if (ARR_ELEMTYPE(array) != reader->elemtype &&
		getBaseType(ARR_ELEMTYPE(array)) != reader->elemtype)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("column \"%s\" holds an array of %s, expected %s", column,
						format_type_be(ARR_ELEMTYPE(array)), format_type_be(reader->elemtype))));
	if (ARR_NDIM(array) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("column \"%s\" must hold one-dimensional arrays, got %d dimensions",
						column, ARR_NDIM(array))));
	return array;
}

/*
 * Read an array of texts or enums into items; a NULL element is an item
 * that is NULL
 */
static void
ReadTextArray(const TypedReader *reader, const char *column, Datum value, TransformValue *out)
{
	ArrayType  *array = ReadArray(value, reader, column);
	Datum	   *elements;
	bool	   *nulls;
	int			n;
	TransformText *items;

	/* The array's own element type: a domain's, where the reader has its base */
	deconstruct_array(array, ARR_ELEMTYPE(array), reader->elmlen, reader->elmbyval,
					  reader->elmalign, &elements, &nulls, &n);
	items = palloc0_array(TransformText, Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		if (nulls[i])
			items[i].isnull = 1;
		else if (IsTextType(reader->elemtype))
			ReadText(elements[i], reader->elemtype, &items[i]);
		else
		{
			/* OutputFunctionCall's FmgrInfo is not const; enum_out keeps nothing in it */
			items[i].data = OutputFunctionCall((FmgrInfo *) &reader->output, elements[i]);
			items[i].len = strlen(items[i].data);
		}
	}
	out->items = items;
	out->n_items = n;
}

/*
 * Read an array of numbers into elements and their NULL flags (none when
 * the array has no NULL)
 */
static void
ReadNumberArray(const TypedReader *reader, const char *column, Datum value, TransformValue *out)
{
	ArrayType  *array = ReadArray(value, reader, column);
	int			n = ARR_NDIM(array) == 0 ? 0 : ARR_DIMS(array)[0];
	double	   *numbers = palloc_array(double, Max(n, 1));
	unsigned char *element_null = NULL;

	/* The common case of embeddings: real[] or double precision[] without NULLs */
	if (!ARR_HASNULL(array) && (reader->elemtype == FLOAT4OID || reader->elemtype == FLOAT8OID))
	{
		const float *floats = (const float *) ARR_DATA_PTR(array);
		const double *doubles = (const double *) ARR_DATA_PTR(array);
		bool		single = reader->elemtype == FLOAT4OID;

		for (int i = 0; i < n; i++)
		{
			numbers[i] = single ? floats[i] : doubles[i];
			CheckFinite(numbers[i], column, i + 1);
		}
	}
	else
	{
		Datum	   *elements;
		bool	   *nulls;
		int			count;

		deconstruct_array(array, ARR_ELEMTYPE(array), reader->elmlen, reader->elmbyval,
						  reader->elmalign, &elements, &nulls, &count);
		Assert(count == n);
		if (ARR_HASNULL(array))
			element_null = palloc0(Max(n, 1));
		for (int i = 0; i < n; i++)
		{
			if (nulls[i])
			{
				element_null[i] = 1;
				numbers[i] = 0.0;
			}
			else
				numbers[i] = ReadNumber(elements[i], reader->elemtype, column, i + 1);
		}
		pfree(elements);
		pfree(nulls);
	}
	if ((Pointer) array != DatumGetPointer(value))
		pfree(array);
	out->elements = numbers;
	out->element_null = element_null;
	out->n_elements = n;
}

/*
 * Read pgvector's vector into elements (it has no NULL elements), as a
 * real[] is read
 */
static void
ReadVector(const char *column, Datum value, TransformValue *out)
{
	int			n;
	float	   *floats = DatumVectorElements(value, &n, psprintf("column \"%s\"", column));
	double	   *numbers = palloc_array(double, n);

	for (int i = 0; i < n; i++)
	{
		numbers[i] = floats[i];
		CheckFinite(numbers[i], column, i + 1);
	}
	pfree(floats);
	out->elements = numbers;
	out->element_null = NULL;
	out->n_elements = n;
}

/*
 * Seconds since 1970-01-01 UTC at the start of a date
 */
static double
ReadDate(Datum value, const char *column)
{
	DateADT		date = DatumGetDateADT(value);

	if (DATE_NOT_FINITE(date))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("column \"%s\": date is infinite", column),
				 errhint("Filter such rows out in the source, or replace infinite dates with NULL.")));
	return (double) date * SECS_PER_DAY + UNIX_TO_POSTGRES_SECONDS;
}

/*
 * Seconds since 1970-01-01 UTC of a timestamp (with or without time zone:
 * both count microseconds from 2000-01-01 00:00, which for a timestamp
 * without time zone is read as UTC)
 */
static double
ReadTimestamp(Datum value, const char *column)
{
	Timestamp	timestamp = DatumGetTimestamp(value);

	if (TIMESTAMP_NOT_FINITE(timestamp))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("column \"%s\": timestamp is infinite", column),
				 errhint("Filter such rows out in the source, or replace infinite timestamps with NULL.")));
	return (double) timestamp / USECS_PER_SEC + UNIX_TO_POSTGRES_SECONDS;
}

/*
 * Read one value of a column (named in messages) as its reader says
 */
void
TypedValueRead(const TypedReader *reader, const char *column, Datum value, bool isnull,
			   TransformValue *out)
{
	memset(out, 0, sizeof(*out));
	if (isnull)
	{
		out->isnull = 1;
		return;
	}

	switch (reader->read)
	{
		case READ_NUMBER:
			out->number = ReadNumber(value, reader->type, column, 0);
			break;
		case READ_BOOL:
			out->number = DatumGetBool(value) ? 1.0 : 0.0;
			break;
		case READ_TEXT:
			ReadText(value, reader->type, &out->text);
			break;
		case READ_OUTPUT_TEXT:
			/* OutputFunctionCall's FmgrInfo is not const; these keep nothing in it */
			out->text.data = OutputFunctionCall((FmgrInfo *) &reader->output, value);
			out->text.len = strlen(out->text.data);
			break;
		case READ_TEXT_ARRAY:
			ReadTextArray(reader, column, value, out);
			break;
		case READ_NUMBER_ARRAY:
			ReadNumberArray(reader, column, value, out);
			break;
		case READ_VECTOR:
			ReadVector(column, value, out);
			break;
		case READ_DATE:
			out->number = ReadDate(value, column);
			break;
		case READ_TIMESTAMP:
		case READ_TIMESTAMPTZ:
			out->number = ReadTimestamp(value, column);
			break;
	}
}

/*
 * Hash one non-NULL value's bytes, with seed
 *
 * The bytes are the value's own, whatever its storage: a by-value type's
 * attlen bytes, a varlena's data without header, compression or TOAST, so a
 * value hashes the same read from a table column or from a row built of it.
 */
static uint64
HashValue(Form_pg_attribute attr, Datum value, uint64 seed)
{
	/*
	 * An enum's value is the OID of its label's catalog row, which a dump
	 * and restore (or re-creating the type) changes: hash the label, so that
	 * the same rows are held out wherever the data go
	 */
	if (attr->attlen == sizeof(Oid) && attr->atttypid != OIDOID &&
		get_typtype(attr->atttypid) == TYPTYPE_ENUM)
	{
		HeapTuple	tuple = SearchSysCache1(ENUMOID, value);
		uint64		hash;

		if (!HeapTupleIsValid(tuple))
			elog(ERROR, "cache lookup failed for enum value %u", DatumGetObjectId(value));
		hash = hash_bytes_extended((const unsigned char *) NameStr(((Form_pg_enum) GETSTRUCT(tuple))->enumlabel),
								   strlen(NameStr(((Form_pg_enum) GETSTRUCT(tuple))->enumlabel)),
								   seed);
		ReleaseSysCache(tuple);
		return hash;
	}
	if (attr->attbyval)
	{
		Datum		bytes;		/* aligned for store_att_byval */

		store_att_byval(&bytes, value, attr->attlen);
		return hash_bytes_extended((const unsigned char *) &bytes, attr->attlen, seed);
	}
	if (attr->attlen > 0)
		return hash_bytes_extended((const unsigned char *) DatumGetPointer(value),
								   attr->attlen, seed);
	if (attr->attlen == -1)
	{
		struct varlena *raw = (struct varlena *) DatumGetPointer(value);
		struct varlena *flat = pg_detoast_datum_packed(raw);
		uint64		hash = hash_bytes_extended((const unsigned char *) VARDATA_ANY(flat),
											   VARSIZE_ANY_EXHDR(flat), seed);

		if (flat != raw)
			pfree(flat);
		return hash;
	}
	Assert(attr->attlen == -2);
	return hash_bytes_extended((const unsigned char *) DatumGetCString(value),
							   strlen(DatumGetCString(value)), seed);
}

/*
 * A row's place in [0, 1) for the validation split, from its feature values
 * and the seed
 *
 * values and nulls are by attribute (values[attno - 1]).  Each value is
 * hashed with the hash so far as the seed, in order; a NULL hashes as a
 * marker and its position among the values hashed.  Dropped attributes are
 * skipped, so a table's whole row and ROW() of its columns agree.  The
 * mapping to [0, 1) is mixrec_holdout's for feature arrays.
 */
double
TypedRowHoldout(TupleDesc desc, const AttrNumber *attnos, int natts, const Datum *values,
				const bool *nulls, uint64 seed)
{
	uint64		hash = seed;
	int32		position = 0;

	for (int i = 0; i < natts; i++)
	{
		AttrNumber	attno = attnos ? attnos[i] : i + 1;
		Form_pg_attribute attr = TupleDescAttr(desc, attno - 1);

		if (attr->attisdropped)
			continue;
		if (nulls[attno - 1])
		{
			unsigned char marker[1 + sizeof(int32)];

			marker[0] = HOLDOUT_NULL_MARKER;
			memcpy(marker + 1, &position, sizeof(int32));
			hash = hash_bytes_extended(marker, sizeof(marker), hash);
		}
		else
			hash = HashValue(attr, values[attno - 1], hash);
		position++;
	}
	return (double) (hash >> 11) * 0x1.0p-53;
}

/*
 * A row's place in [0, 1) from a hash of a row of its typed feature columns
 * and the seed: the same as streamed training computes from the columns
 *
 * mixrec_holdout(features record, seed bigint) returns float8
 */
Datum
mixrec_holdout_row(PG_FUNCTION_ARGS)
{
	HeapTupleHeader row = PG_GETARG_HEAPTUPLEHEADER(0);
	TupleDesc	desc = lookup_rowtype_tupdesc(HeapTupleHeaderGetTypeId(row),
											  HeapTupleHeaderGetTypMod(row));
	HeapTupleData tuple;
	Datum	   *values = palloc_array(Datum, Max(desc->natts, 1));
	bool	   *nulls = palloc_array(bool, Max(desc->natts, 1));
	double		place;

	tuple.t_len = HeapTupleHeaderGetDatumLength(row);
	ItemPointerSetInvalid(&tuple.t_self);
	tuple.t_tableOid = InvalidOid;
	tuple.t_data = row;
	RecordCheckLayout(row, desc);
	heap_deform_tuple(&tuple, desc, values, nulls);
	place = TypedRowHoldout(desc, NULL, desc->natts, values, nulls, (uint64) PG_GETARG_INT64(1));
	ReleaseTupleDesc(desc);
	PG_RETURN_FLOAT8(place);
}
