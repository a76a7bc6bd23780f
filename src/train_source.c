/*
 * src/train_source.c
 *	  Reading training rows from a table, view or query.
 *
 * The source, features, label, domain and weight arguments are assembled
 * into one SELECT, which the raw parser must accept as exactly one SELECT
 * statement, so that no argument can end it and start another; it runs
 * through a read-only SPI cursor with the caller's privileges.  An argument
 * can still change the columns of that SELECT (a comma, a comment), so
 * every statement mixrec assembles from arguments is prepared by
 * SourcePrepare, which checks the plan's result columns, their number and
 * types, against what the C code will read before any row is.  What mixrec
 * writes around the arguments is schema-qualified (pg_catalog's functions,
 * operators and types, and mixrec's own functions by the extension's
 * schema), so it means the same under any search_path; the arguments
 * themselves are resolved under the caller's search_path, as written.
 *
 * Rows are fetched in batches and appended to compact float32 arrays, each
 * value validated with a message that names the row; the arrays grow within
 * the budget mixrec.train_memory and live in the context TrainRows names.
 * Whatever one fetch detoasts or converts lives in a row context that is
 * reset after the fetch.
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "mixrec.h"
#include "nodes/parsenodes.h"
#include "parser/parser.h"
#include "training.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/plancache.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/regproc.h"
#include "utils/varlena.h"

#define FETCH_ROWS			10000

/* Column layout of the source query */
enum
{
	COL_FEATURES = 1,
	COL_LABEL,
	COL_DOMAIN,
	COL_WEIGHT,
	SOURCE_COLUMNS = COL_WEIGHT
};

/* The columns of SourceQuery's query; their types CheckSourceTypes checks */
static const SourceShape source_shape = {
	.arguments = "source, features, label, domain and weight",
	.columns = "features, label, domain and weight",
	.ncolumns = SOURCE_COLUMNS,
};

static const char *SourceRelation(const char *source);
static void CheckOneSelect(const char *query, const char *arguments);
static char *TypeList(int n, const Oid *types, TupleDesc desc);
static void CheckSourceTypes(TupleDesc desc);
static bool IsNumericType(Oid type);
static double NumericDatumToDouble(Datum value, Oid type);
static bool ReadVector(Datum value, Oid array_type, float *out, int *length,
					   int capacity, bool *has_null);
static void GrowRows(TrainRows *data);
static void AddRow(TrainRows *data, HeapTuple tuple, TupleDesc desc, int64 row_number,
				   const TrainOptions *opts);
static bool SizesFromRow(TrainRows *data, HeapTuple tuple, TupleDesc desc,
						 int64 row_number);

/*
 * Resolve a relation name and return it schema-qualified and quoted
 */
static const char *
SourceRelation(const char *source)
{
	char	   *copy = pstrdup(source);
	List	   *parts;
	List	   *names;
	RangeVar   *rv;
	Oid			relid;
	char		kind;

	if (!SplitIdentifierString(copy, '.', &parts) || parts == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("source \"%s\" is neither a table or view name nor a query", source),
				 errhint("A query starts with SELECT, WITH, VALUES or TABLE.")));
	names = stringToQualifiedNameList(source);
	rv = makeRangeVarFromNameList(names);
	relid = RangeVarGetRelid(rv, AccessShareLock, false);
	kind = get_rel_relkind(relid);

	if (kind != RELKIND_RELATION && kind != RELKIND_VIEW && kind != RELKIND_MATVIEW &&
		kind != RELKIND_FOREIGN_TABLE && kind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table, view or materialized view", source)));
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
									  get_rel_name(relid));
}

/*
 * Point a TrainData at rows read by ReadSource
 */
void
TrainRowsView(const TrainRows *rows, TrainData *view)
{
	view->input_dim = rows->input_dim;
	view->output_dim = rows->output_dim;
	view->rows = rows->rows;
	view->x = rows->x;
	view->y = rows->y;
	view->w = rows->has_weight ? rows->w : NULL;
	view->o = rows->has_domain ? rows->o : NULL;
	view->c = rows->has_domain ? rows->c : NULL;
}

/*
 * Return the FROM item for a source: a resolved, quoted relation, or the
 * query as a subquery
 */
char *
SourceFrom(const char *source)
{
	static const char *const query_words[] = {"select", "with", "values", "table"};
	const char *p = source;

	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '(')
		p++;
	for (int i = 0; i < lengthof(query_words); i++)
	{
		size_t		len = strlen(query_words[i]);

		if (pg_strncasecmp(p, query_words[i], len) == 0 &&
			(p[len] == '\0' || p[len] == ' ' || p[len] == '\t' || p[len] == '\n' ||
			 p[len] == '\r' || p[len] == '(' || p[len] == '*'))
			return psprintf("(%s) AS mixrec_source", source);
	}
	return pstrdup(SourceRelation(source));
}

/*
 * Prove that a query assembled from arguments is exactly one SELECT: an
 * argument cannot end it and start another.  A syntax error is reported
 * against this query, not the caller's (whose text the parser's error
 * position would point into).
 */
static void
CheckOneSelect(const char *query, const char *arguments)
{
	MemoryContext context = CurrentMemoryContext;
	List	   *parsed = NIL;

	PG_TRY();
	{
		parsed = raw_parser(query, RAW_PARSE_DEFAULT);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(context);
		edata = CopyErrorData();
		FlushErrorState();
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("%s must together form one SELECT", arguments),
				 errdetail("%s in the query: %s", edata->message, query)));
	}
	PG_END_TRY();
	if (list_length(parsed) != 1 ||
		!IsA(linitial_node(RawStmt, parsed)->stmt, SelectStmt))
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("%s must together form one SELECT", arguments),
				 errdetail("The query: %s", query)));
}

/*
 * The result columns of a statement SourcePrepare prepared: one SELECT that
 * returns rows (NULL for anything else)
 */
TupleDesc
SourcePlanColumns(SPIPlanPtr plan)
{
	List	   *sources = SPI_plan_get_plan_sources(plan);
	CachedPlanSource *source;

	if (list_length(sources) != 1)
		return NULL;
	source = linitial(sources);
	if (source->commandTag != CMDTAG_SELECT)
		return NULL;
	return source->resultDesc;
}

/*
 * Name n types, for messages: the given ones, or a descriptor's columns'
 */
static char *
TypeList(int n, const Oid *types, TupleDesc desc)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int i = 0; i < n; i++)
	{
		Oid			type = desc ? TupleDescAttr(desc, i)->atttypid : types[i];

		if (i > 0)
			appendStringInfoString(&buf, ", ");
		appendStringInfoString(&buf, OidIsValid(type) ? format_type_be(type) : "any type");
	}
	return buf.data;
}

/*
 * Prepare a statement assembled from arguments, and prove that it reads
 * what the C code expects before any Datum is read
 *
 * The raw parser must see exactly one SELECT (CheckOneSelect), and so must
 * the plan; then the result columns must be exactly shape->ncolumns (at
 * least, with more_columns), each of exactly the type in shape->types,
 * where one is given.  An argument that shifts the columns (a comma or a
 * comment in it) would otherwise make the caller read a Datum as another
 * type.  The plan is prepared with cursor_options (SPI_prepare_cursor), in
 * the current SPI connection.
 */
SPIPlanPtr
SourcePrepare(const char *query, int nargs, Oid *argtypes, int cursor_options,
			  const SourceShape *shape)
{
	SPIPlanPtr	plan;
	TupleDesc	desc;

	CheckOneSelect(query, shape->arguments);
	plan = SPI_prepare_cursor(query, nargs, argtypes, cursor_options);
	if (plan == NULL)
		elog(ERROR, "could not prepare the query: %s", SPI_result_code_string(SPI_result));

	/* A SELECT INTO or a rule can still make it something else */
	desc = SourcePlanColumns(plan);
	if (desc == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("%s must together form one SELECT that returns rows", shape->arguments),
				 errdetail("The query: %s", query)));

	/*
	 * The columns checked below must be the columns the rows come in, also
	 * when the plan is made again before or while it runs (a table altered
	 * meanwhile, in this session or another; a streamed training runs its
	 * plan once per epoch).  A plan of fixed result refuses to be replanned
	 * into other columns, as a prepared statement does.
	 */
	((CachedPlanSource *) linitial(SPI_plan_get_plan_sources(plan)))->fixed_result = true;

	if (desc->natts < shape->ncolumns ||
		(desc->natts > shape->ncolumns && !shape->more_columns))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("%s must give %s%d column%s, the query gives %d", shape->columns,
						shape->more_columns ? "at least " : "", shape->ncolumns,
						shape->ncolumns == 1 ? "" : "s", desc->natts),
				 errdetail("The query: %s", query)));
	if (shape->types)
		for (int i = 0; i < shape->ncolumns; i++)
			if (OidIsValid(shape->types[i]) &&
				TupleDescAttr(desc, i)->atttypid != shape->types[i])
				ereport(ERROR,
						(errcode(ERRCODE_DATATYPE_MISMATCH),
						 errmsg("%s must give columns of types (%s), the query gives (%s)",
								shape->columns, TypeList(shape->ncolumns, shape->types, NULL),
								TypeList(desc->natts, NULL, desc)),
						 errdetail("The query: %s", query)));
	return plan;
}

/*
 * Build the one SELECT that reads the training rows, optionally filtered
 */
char *
SourceQuery(const char *source, const char *features, const char *label,
			const char *domain, const char *weight, const char *where)
{
	StringInfoData query;

	initStringInfo(&query);
	appendStringInfo(&query, "SELECT (%s), (%s), ", features, label);
	appendStringInfo(&query, domain ? "(%s), " : "NULL::pg_catalog.text, ", domain);
	appendStringInfo(&query, weight ? "(%s) " : "NULL::pg_catalog.float8 ", weight);
	appendStringInfo(&query, "FROM %s", SourceFrom(source));
	if (where)
		appendStringInfo(&query, " WHERE %s", where);
	return query.data;
}

/*
 * Is this a type a number can be read from?
 */
static bool
IsNumericType(Oid type)
{
	return type == FLOAT4OID || type == FLOAT8OID || type == INT2OID ||
		type == INT4OID || type == INT8OID || type == NUMERICOID;
}

/*
 * Check the column types of the source query, whose number SourcePrepare
 * has checked
 */
static void
CheckSourceTypes(TupleDesc desc)
{
	Oid			features = TupleDescAttr(desc, COL_FEATURES - 1)->atttypid;
	Oid			label = TupleDescAttr(desc, COL_LABEL - 1)->atttypid;
	Oid			domain = TupleDescAttr(desc, COL_DOMAIN - 1)->atttypid;
	Oid			weight = TupleDescAttr(desc, COL_WEIGHT - 1)->atttypid;
	Oid			element = get_element_type(features);

	if (!OidIsValid(element) || !IsNumericType(element))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("features must be a numeric array (real[], double precision[], integer[] or numeric[]), got %s",
						format_type_be(features))));

	element = get_element_type(label);
	if (label != BOOLOID && !IsNumericType(label) &&
		!(OidIsValid(element) && (element == BOOLOID || IsNumericType(element))))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("label must be boolean or numeric, or an array of them, got %s",
						format_type_be(label))));

	if (domain != BOOLOID && domain != TEXTOID && domain != VARCHAROID &&
		domain != BPCHAROID && domain != NAMEOID && domain != UNKNOWNOID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("domain must be text ('open', 'commercial' or NULL) or boolean (true = commercial), got %s",
						format_type_be(domain))));
	if (!IsNumericType(weight))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("weight must be numeric, got %s", format_type_be(weight))));
}

/*
 * Convert a number of a numeric type to double
 */
static double
NumericDatumToDouble(Datum value, Oid type)
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
 * Read a numeric array into floats; returns false when it does not fit
 * capacity (length is still set).  NULL elements set *has_null.
 */
static bool
ReadVector(Datum value, Oid array_type, float *out, int *length, int capacity,
		   bool *has_null)
{
	ArrayType  *array = DatumGetArrayTypeP(value);
	Oid			element = ARR_ELEMTYPE(array);
	int			n = ARR_NDIM(array) == 0 ? 0 : ArrayGetNItems(ARR_NDIM(array), ARR_DIMS(array));

	*length = n;
	*has_null = false;
	if (ARR_NDIM(array) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("arrays must be one-dimensional, got %d dimensions", ARR_NDIM(array))));
	if (n > capacity)
		return false;

	if (!ARR_HASNULL(array) && element == FLOAT4OID)
		memcpy(out, ARR_DATA_PTR(array), sizeof(float) * n);
	else if (!ARR_HASNULL(array) && element == FLOAT8OID)
	{
		const double *values = (const double *) ARR_DATA_PTR(array);

		for (int i = 0; i < n; i++)
			out[i] = (float) values[i];
	}
	else
	{
		int16		typlen;
		bool		typbyval;
		char		typalign;
		Datum	   *values;
		bool	   *nulls;
		int			count;

		get_typlenbyvalalign(element, &typlen, &typbyval, &typalign);
		deconstruct_array(array, element, typlen, typbyval, typalign, &values, &nulls, &count);
		for (int i = 0; i < count; i++)
		{
			if (nulls[i])
			{
				*has_null = true;
				out[i] = NAN;
			}
			else
				out[i] = (float) NumericDatumToDouble(values[i], element);
		}
		pfree(values);
		pfree(nulls);
	}
	if ((Pointer) array != DatumGetPointer(value))
		pfree(array);
	return true;
}

/*
 * Make room for more rows, within mixrec.train_memory
 */
static void
GrowRows(TrainRows *data)
{
	/*
	 * A row's values, and what the split into training and validation rows
	 * takes per row (its index in one of the two orders, and the working
	 * copy and flag the split uses)
	 */
	Size		row_bytes = sizeof(float) * (data->input_dim + data->output_dim) +
		(data->has_weight ? sizeof(float) : 0) + (data->has_domain ? 2 : 0) +
		2 * sizeof(uint32) + 1;
	Size		budget = MemoryBudget();
	Size		max_rows = budget / row_bytes;
	Size		capacity = Max(data->capacity * 2, 1024);

	if (data->rows >= max_rows && data->stop_when_full)
	{
		data->full = true;
		return;
	}
	if (data->rows >= max_rows)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the training data need more than mixrec.train_memory (%zu kB): %zu rows of %zu bytes read so far",
						budget / 1024, data->rows, row_bytes),
				 errhint("Raise mixrec.train_memory, or give method => 'stream' (or 'auto') to train with one pass over the source per epoch.")));
	capacity = Min(capacity, max_rows);
	if (capacity > UINT32_MAX)
		capacity = UINT32_MAX;	/* rows are numbered with uint32 */

#define GROW(ptr, type, per_row) \
	(ptr) = (data->capacity == 0) ? \
		MemoryContextAllocHuge(data->context, sizeof(type) * (per_row) * capacity) : \
		repalloc_huge((ptr), sizeof(type) * (per_row) * capacity)

	GROW(data->x, float, data->input_dim);
	GROW(data->y, float, data->output_dim);
	if (data->has_weight)
		GROW(data->w, float, 1);
	if (data->has_domain)
	{
		GROW(data->o, unsigned char, 1);
		GROW(data->c, unsigned char, 1);
	}
#undef GROW
	data->capacity = capacity;
}

/*
 * Validate one source row and append it
 */
static void
AddRow(TrainRows *data, HeapTuple tuple, TupleDesc desc, int64 row_number,
	   const TrainOptions *opts)
{
	bool		isnull;
	Datum		value;
	int			length;
	bool		has_null;
	Oid			label_type = TupleDescAttr(desc, COL_LABEL - 1)->atttypid;
	float	   *x;
	float	   *y;

	if (data->rows == data->capacity)
	{
		GrowRows(data);
		if (data->full)
			return;
	}
	x = data->x + data->rows * data->input_dim;
	y = data->y + data->rows * data->output_dim;

	/* features */
	value = SPI_getbinval(tuple, desc, COL_FEATURES, &isnull);
	if (isnull)
	{
		if (opts->skip_invalid)
			goto skip;
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("row %lld: features are NULL", (long long) row_number),
				 errhint("Use on_invalid => 'skip' to skip such rows.")));
	}
	if (!ReadVector(value, TupleDescAttr(desc, COL_FEATURES - 1)->atttypid, x, &length,
					data->input_dim, &has_null) || length != data->input_dim)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("row %lld: features have %d elements, expected %d", (long long) row_number,
						length, data->input_dim),
				 opts->initial ? errdetail("The model's input size is %d.", data->input_dim) :
				 errdetail("The first row has %d elements.", data->input_dim)));
	for (int j = 0; j < length; j++)
		if (!isfinite(x[j]))
		{
			if (opts->skip_invalid)
				goto skip;
			ereport(ERROR,
					(errcode(has_null ? ERRCODE_NULL_VALUE_NOT_ALLOWED : ERRCODE_DATA_EXCEPTION),
					 errmsg("row %lld: features element %d is %s", (long long) row_number, j + 1,
							has_null && isnan(x[j]) ? "NULL" : isnan(x[j]) ? "NaN" : "infinite"),
					 errhint("Use on_invalid => 'skip' to skip such rows.")));
		}

	/* label */
	value = SPI_getbinval(tuple, desc, COL_LABEL, &isnull);
	if (isnull)
	{
		if (opts->skip_invalid)
			goto skip;
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("row %lld: label is NULL", (long long) row_number),
				 errhint("Use on_invalid => 'skip' to skip such rows.")));
	}
	if (OidIsValid(get_element_type(label_type)))
	{
		if (!ReadVector(value, label_type, y, &length, data->output_dim, &has_null) ||
			length != data->output_dim)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("row %lld: label has %d elements, expected %d", (long long) row_number,
							length, data->output_dim)));
	}
	else
	{
		if (data->output_dim != 1)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("row %lld: label is a single value, but the model has %d outputs",
							(long long) row_number, data->output_dim)));
		y[0] = (float) NumericDatumToDouble(value, label_type);
		has_null = false;
	}
	for (int k = 0; k < data->output_dim; k++)
		if (!(y[k] >= 0.0f && y[k] <= 1.0f))
		{
			if (has_null && opts->skip_invalid)
				goto skip;
			ereport(ERROR,
					(errcode(has_null ? ERRCODE_NULL_VALUE_NOT_ALLOWED : ERRCODE_DATA_EXCEPTION),
					 has_null ? errmsg("row %lld: label element %d is NULL", (long long) row_number, k + 1) :
					 errmsg("row %lld: label %g is outside [0, 1]", (long long) row_number, (double) y[k])));
		}

	/* domain */
	if (data->has_domain)
	{
		Oid			domain_type = TupleDescAttr(desc, COL_DOMAIN - 1)->atttypid;

		value = SPI_getbinval(tuple, desc, COL_DOMAIN, &isnull);
		data->o[data->rows] = 1;
		data->c[data->rows] = 1;
		if (!isnull && domain_type == BOOLOID)
		{
			data->o[data->rows] = !DatumGetBool(value);
			data->c[data->rows] = DatumGetBool(value);
		}
		else if (!isnull)
		{
			char	   *name = SPI_getvalue(tuple, desc, COL_DOMAIN);

			if (strcmp(name, "open") == 0)
				data->c[data->rows] = 0;
			else if (strcmp(name, "commercial") == 0)
				data->o[data->rows] = 0;
			else
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("row %lld: domain \"%s\" is neither \"open\" nor \"commercial\"",
								(long long) row_number, name),
						 errhint("A NULL domain counts the row for both models.")));
			pfree(name);
		}
	}

	/* weight */
	if (data->has_weight)
	{
		double		weight;

		value = SPI_getbinval(tuple, desc, COL_WEIGHT, &isnull);
		if (isnull)
		{
			if (opts->skip_invalid)
				goto skip;
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("row %lld: weight is NULL", (long long) row_number)));
		}
		weight = NumericDatumToDouble(value, TupleDescAttr(desc, COL_WEIGHT - 1)->atttypid);
		if (!(weight >= 0.0) || !isfinite(weight) || weight > FLT_MAX)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("row %lld: weight %g is not a finite non-negative number",
							(long long) row_number, weight)));
		data->w[data->rows] = (float) weight;
	}

	data->rows++;
	return;

skip:
	data->skipped++;
}

/*
 * Fix the input and output sizes of a new model from its first valid row;
 * returns false when the row's features are NULL
 */
static bool
SizesFromRow(TrainRows *data, HeapTuple tuple, TupleDesc desc, int64 row_number)
{
	bool		isnull;
	Datum		value;
	ArrayType  *array;

	value = SPI_getbinval(tuple, desc, COL_FEATURES, &isnull);
	if (isnull)
		return false;
	array = DatumGetArrayTypeP(value);
	data->input_dim = ARR_NDIM(array) == 0 ? 0 :
		ArrayGetNItems(ARR_NDIM(array), ARR_DIMS(array));
	if (data->input_dim < 1 || data->input_dim > MIXREC_MAX_UNITS)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("row %lld: features have %d elements, a model takes 1 to %d",
						(long long) row_number, data->input_dim, MIXREC_MAX_UNITS)));

	data->output_dim = 1;
	value = SPI_getbinval(tuple, desc, COL_LABEL, &isnull);
	if (!isnull && OidIsValid(get_element_type(TupleDescAttr(desc, COL_LABEL - 1)->atttypid)))
	{
		array = DatumGetArrayTypeP(value);
		data->output_dim = ARR_NDIM(array) == 0 ? 0 :
			ArrayGetNItems(ARR_NDIM(array), ARR_DIMS(array));
		if (data->output_dim < 1 || data->output_dim > MIXREC_MAX_UNITS)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("row %lld: label has %d elements, a model has 1 to %d outputs",
							(long long) row_number, data->output_dim, MIXREC_MAX_UNITS)));
	}
	return true;
}

/*
 * Read the training rows through a read-only cursor
 */
void
ReadSource(const char *query, const TrainOptions *opts, TrainRows *data)
{
	MemoryContext row_context;
	SPIPlanPtr	plan;
	Portal		portal;
	int64		row_number = 0;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	plan = SourcePrepare(query, 0, NULL, 0, &source_shape);
	CheckSourceTypes(SourcePlanColumns(plan));
	portal = SPI_cursor_open(NULL, plan, NULL, NULL, true);

	/* Values detoasted or converted for one fetch are freed with it */
	row_context = AllocSetContextCreate(CurrentMemoryContext, "mixrec training rows",
										ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		SPITupleTable *table;
		MemoryContext old;

		CHECK_FOR_INTERRUPTS();
		SPI_cursor_fetch(portal, true, FETCH_ROWS);
		if (SPI_processed == 0)
			break;
		table = SPI_tuptable;
		old = MemoryContextSwitchTo(row_context);
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			HeapTuple	tuple = table->vals[i];

			row_number++;
			if (data->input_dim == 0 && !SizesFromRow(data, tuple, table->tupdesc, row_number))
			{
				/* NULL features before any valid row: skipped, or an error below */
				if (!opts->skip_invalid)
					ereport(ERROR,
							(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
							 errmsg("row %lld: features are NULL", (long long) row_number),
							 errhint("Use on_invalid => 'skip' to skip such rows.")));
				data->skipped++;
				continue;
			}
			AddRow(data, tuple, table->tupdesc, row_number, opts);
			if (data->full)
				break;
			if ((row_number & 1023) == 0)
				CHECK_FOR_INTERRUPTS();
		}
		MemoryContextSwitchTo(old);
		MemoryContextReset(row_context);
		SPI_freetuptable(table);
		if (data->full)
			break;
	}
	SPI_cursor_close(portal);
	SPI_finish();
}

/*
 * The label as float8 in SQL
 */
char *
SourceLabelSql(Oid type, const char *label)
{
	if (OidIsValid(get_element_type(type)))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("this function takes a single label, but label is an array"),
				 errhint("Streamed training trains models of one output: raise mixrec.train_memory to train in memory.")));
	if (type == BOOLOID)
		return psprintf("CASE WHEN (%s) THEN 1.0::pg_catalog.float8 WHEN NOT (%s) THEN 0.0::pg_catalog.float8 END",
						label, label);
	return psprintf("(%s)::pg_catalog.float8", label);
}

/*
 * The domain as text in SQL ('open', 'commercial' or NULL)
 */
char *
SourceDomainSql(Oid type, const char *domain)
{
	if (domain == NULL)
		return pstrdup("NULL::pg_catalog.text");
	if (type == BOOLOID)
		return psprintf("CASE WHEN (%s) THEN 'commercial'::pg_catalog.text "
						"WHEN NOT (%s) THEN 'open'::pg_catalog.text END",
						domain, domain);
	return psprintf("(%s)::pg_catalog.text", domain);
}

/*
 * The result columns of a query, without running it: those of SourceQuery's
 * query (shape NULL), whose types are checked, or of the given shape
 */
TupleDesc
SourceProbe(const char *query, const SourceShape *shape)
{
	SPIPlanPtr	plan = SourcePrepare(query, 0, NULL, 0, shape ? shape : &source_shape);
	TupleDesc	desc = CreateTupleDescCopy(SourcePlanColumns(plan));

	if (shape == NULL)
		CheckSourceTypes(desc);
	SPI_freeplan(plan);
	return desc;
}
