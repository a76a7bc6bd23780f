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
 * Rows are read through the source layer (source.h), which names the row
 * of any error, converted by the datum layer (datum.h), and appended to
 * compact float32 arrays; the arrays grow within the budget
 * mixrec.train_memory and live in the context TrainRows names.  Whatever
 * one fetch detoasts or converts lives in the cursor's batch context, reset
 * with each fetch.  A reader that is given a consumer (a streamed epoch from
 * positives only) hands each row to it instead of keeping it.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "datum.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "item_catalogue.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "mixrec.h"
#include "training.h"
#include "typed.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#define FETCH_ROWS			10000

/* How mixrec_train's option that skips invalid rows is spelled */
#define SKIP_HINT "Use on_invalid => 'skip' to skip such rows."

/* Column layout of the source query */
enum
{
	COL_FEATURES = 1,
	COL_LABEL,
	COL_DOMAIN,
	COL_WEIGHT,
	SOURCE_COLUMNS = COL_WEIGHT,
	COL_HOLDOUT,				/* typed columns: the row's holdout value */
	TYPED_SOURCE_COLUMNS = COL_HOLDOUT,
	COL_ITEM,					/* positives only: the row's item id */
	IMPLICIT_SOURCE_COLUMNS = COL_ITEM
};

/* The columns of SourceQuery's query; their types CheckSourceTypes checks */
static const SourceShape source_shape = {
	.arguments = "source, features, label, domain and weight",
	.columns = "features, label, domain and weight",
	.ncolumns = SOURCE_COLUMNS,
};
static const SourceShape typed_source_shape = {
	.arguments = "source, features, label, domain and weight",
	.columns = "features, label, domain and weight",
	.ncolumns = TYPED_SOURCE_COLUMNS,
};
static const SourceShape implicit_source_shape = {
	.arguments = "source, features, domain, weight and item_id",
	.columns = "features, domain, weight and item_id",
	.ncolumns = IMPLICIT_SOURCE_COLUMNS,
};

static const SourceShape *SourceShapeOf(bool typed, bool implicit);
static void CheckSourceTypes(TupleDesc desc, bool typed, Oid item_type);
static void GrowRows(TrainRows *data);
static void AddRow(TrainRows *data, HeapTuple tuple, TupleDesc desc, const TrainOptions *opts,
				   const char *features_detail);
static bool SizesFromRow(TrainRows *data, HeapTuple tuple, TupleDesc desc);
static void NullError(const char *what);

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
 * Build the one SELECT that reads the training rows, optionally filtered;
 * with typed columns, each row's holdout value comes next, and in a
 * training from positives only, its item id last
 */
char *
SourceQuery(const char *source, const char *features, const char *label,
			const char *domain, const char *weight, const char *where,
			const TypedTraining *typed)
{
	StringInfoData query;

	initStringInfo(&query);
	appendStringInfo(&query, "SELECT (%s), (%s), ", features, label);
	appendStringInfo(&query, domain ? "(%s), " : "NULL::pg_catalog.text, ", domain);
	appendStringInfo(&query, weight ? "(%s) " : "NULL::pg_catalog.float8 ", weight);
	if (typed)
		appendStringInfo(&query, ", %s ", typed->holdout);
	if (typed && typed->item_id)
		appendStringInfo(&query, ", (%s) ", typed->item_id);
	appendStringInfo(&query, "FROM %s", SourceFrom(source));
	if (where)
		appendStringInfo(&query, " WHERE %s", where);
	return query.data;
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
		(data->typed ? 1 : 0) + 2 * sizeof(uint32) + 1;
	Size		budget = MemoryBudget();
	Size		max_rows;
	Size		capacity = Max(data->capacity * 2, 1024);

	/*
	 * Positives only: each row is a positive, to be joined by its negatives
	 * (rows of the same size), beside the catalogue they are drawn from
	 */
	row_bytes = row_bytes * Max(data->rows_per_row, 1) + (data->catalogue ? sizeof(uint32) : 0);
	max_rows = budget > data->reserved_bytes ? (Size) (budget - data->reserved_bytes) / row_bytes : 0;

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
				 data->rows_per_row > 1 ?
				 errdetail("Each source row is a positive that takes %d rows with its negatives; the item catalogue takes %.0f kB.",
						   data->rows_per_row, ceil(data->reserved_bytes / 1024.0)) : 0,
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
	if (data->typed)
		GROW(data->holdout, unsigned char, 1);
	if (data->catalogue)
		GROW(data->item, uint32, 1);
#undef GROW
	data->capacity = capacity;
}

/*
 * The columns of SourceQuery's query: of array features, of typed columns,
 * or of typed columns with each row's item (positives only)
 */
static const SourceShape *
SourceShapeOf(bool typed, bool implicit)
{
	return implicit ? &implicit_source_shape : typed ? &typed_source_shape : &source_shape;
}

/*
 * Check the column types of the source query, whose number SourcePrepare
 * has checked; item_type is that of the item id (InvalidOid: none)
 */
static void
CheckSourceTypes(TupleDesc desc, bool typed, Oid item_type)
{
	Oid			features = TupleDescAttr(desc, COL_FEATURES - 1)->atttypid;

	/* Typed columns arrive as the ROW() mixrec wrote; an array otherwise */
	if (typed && (features != RECORDOID ||
				  TupleDescAttr(desc, COL_HOLDOUT - 1)->atttypid != FLOAT8OID))
		elog(ERROR, "typed feature columns arrived as type %u, not a record", features);
	if (!typed)
		DatumCheckFeaturesType(features, "features");
	DatumCheckLabelType(TupleDescAttr(desc, COL_LABEL - 1)->atttypid);
	DatumCheckDomainType(TupleDescAttr(desc, COL_DOMAIN - 1)->atttypid);
	DatumCheckWeightType(TupleDescAttr(desc, COL_WEIGHT - 1)->atttypid);
	/* The item id's type was checked against the items' id before */
	if (OidIsValid(item_type) && TupleDescAttr(desc, COL_ITEM - 1)->atttypid != item_type)
		elog(ERROR, "the item id arrived as type %u, not %u",
			 TupleDescAttr(desc, COL_ITEM - 1)->atttypid, item_type);
}

/*
 * Report a NULL value that on_invalid => 'skip' would skip
 */
static void
NullError(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
			 errmsg("%s NULL", what),
			 errhint(SKIP_HINT)));
}

/*
 * Validate one source row and append it
 */
static void
AddRow(TrainRows *data, HeapTuple tuple, TupleDesc desc, const TrainOptions *opts,
	   const char *features_detail)
{
	bool		isnull;
	Datum		value;
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

	value = SPI_getbinval(tuple, desc, COL_FEATURES, &isnull);
	if (data->typed && !isnull)
	{
		/* ROW() of the typed columns; the split as the transform's fit made it */
		bool		holdout_null;
		double		holdout = DatumGetFloat8(SPI_getbinval(tuple, desc, COL_HOLDOUT,
														   &holdout_null));

		data->holdout[data->rows] = !holdout_null && holdout < data->holdout_fraction;
		RecordEncode(data->typed, value, x);
		if (data->catalogue)
		{
			bool		item_null;
			Datum		item = SPI_getbinval(tuple, desc, COL_ITEM, &item_null);

			data->item[data->rows] = ItemCatalogueFind(data->catalogue, item, item_null);
		}
	}
	else
	{
		if (isnull && !opts->skip_invalid)
			NullError("features are");
		if (isnull ||
			!DatumFeatures(value, TupleDescAttr(desc, COL_FEATURES - 1)->atttypid, data->input_dim, x, opts->skip_invalid, SKIP_HINT,
						   features_detail))
			goto skip;
	}

	value = SPI_getbinval(tuple, desc, COL_LABEL, &isnull);
	if (isnull && !opts->skip_invalid)
		NullError("label is");
	if (isnull ||
		!DatumLabel(value, TupleDescAttr(desc, COL_LABEL - 1)->atttypid, data->output_dim, y,
					opts->skip_invalid, SKIP_HINT))
		goto skip;

	if (data->has_domain)
	{
		data->o[data->rows] = 1;
		data->c[data->rows] = 1;
		value = SPI_getbinval(tuple, desc, COL_DOMAIN, &isnull);
		if (!isnull)
			DatumDomain(value, TupleDescAttr(desc, COL_DOMAIN - 1)->atttypid,
						&data->o[data->rows], &data->c[data->rows]);
	}

	if (data->has_weight)
	{
		value = SPI_getbinval(tuple, desc, COL_WEIGHT, &isnull);
		if (isnull && !opts->skip_invalid)
			NullError("weight is");
		if (isnull)
			goto skip;
		data->w[data->rows] = DatumWeight(value, TupleDescAttr(desc, COL_WEIGHT - 1)->atttypid);
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
SizesFromRow(TrainRows *data, HeapTuple tuple, TupleDesc desc)
{
	bool		isnull;
	Datum		value;

	value = SPI_getbinval(tuple, desc, COL_FEATURES, &isnull);
	if (isnull)
		return false;
	data->input_dim = data->typed ? (int) data->typed->transform->input_dim :
		DatumFeaturesLength(value, TupleDescAttr(desc, COL_FEATURES - 1)->atttypid, "features");
	if (data->input_dim < 1 || data->input_dim > MIXREC_MAX_UNITS)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("features have %d elements, a model takes 1 to %d",
						data->input_dim, MIXREC_MAX_UNITS)));

	data->output_dim = 1;
	value = SPI_getbinval(tuple, desc, COL_LABEL, &isnull);
	if (!isnull)
	{
		data->output_dim = DatumLabelLength(value, TupleDescAttr(desc, COL_LABEL - 1)->atttypid);
		if (data->output_dim < 1 || data->output_dim > MIXREC_MAX_UNITS)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("label has %d elements, a model has 1 to %d outputs",
							data->output_dim, MIXREC_MAX_UNITS)));
	}
	return true;
}

/*
 * Read the training rows through a read-only cursor
 */
void
ReadSource(const char *query, const TrainOptions *opts, TrainRows *data)
{
	MemoryContext context = CurrentMemoryContext;
	SPIPlanPtr	plan;
	SourceCursor cursor;
	HeapTuple	tuple;
	char	   *features_detail = NULL;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	plan = SourcePrepare(query, 0, NULL, 0, SourceShapeOf(data->typed != NULL, data->catalogue != NULL));
	CheckSourceTypes(SourcePlanColumns(plan), data->typed != NULL,
					 data->catalogue ? ItemCatalogueIdType(data->catalogue) : InvalidOid);
	MemoryContextSwitchTo(context);
	SourceOpen(&cursor, plan, "source", FETCH_ROWS);

	/* Values detoasted or converted for one fetch are freed with it */
	MemoryContextSwitchTo(cursor.batch_context);
	while ((tuple = SourceNext(&cursor)) != NULL)
	{
		if (data->input_dim == 0 && !SizesFromRow(data, tuple, cursor.desc))
		{
			/* NULL features before any valid row: skipped, or an error */
			if (!opts->skip_invalid)
				NullError("features are");
			data->skipped++;
			continue;
		}
		if (features_detail == NULL)
			features_detail = MemoryContextStrdup(context,
												  psprintf(opts->initial ? "The model's input size is %d." :
														   "The first row has %d elements.",
														   data->input_dim));
		AddRow(data, tuple, cursor.desc, opts, features_detail);
		if (data->full)
			break;
		/* Streaming: the row is handed on, not kept */
		if (data->consume && data->rows > 0)
		{
			data->consume(data, data->consume_arg);
			data->rows = 0;
		}
	}
	MemoryContextSwitchTo(context);
	SourceClose(&cursor);
	SPI_finish();
}

/*
 * The result columns of a query, without running it: those of SourceQuery's
 * query (shape NULL), whose types are checked (the features are the ROW()
 * of typed columns if typed, followed by the item id if typed->item_id),
 * or of the given shape
 */
TupleDesc
SourceProbe(const char *query, const SourceShape *shape, const TypedTraining *typed)
{
	bool		implicit = typed != NULL && typed->item_id != NULL;
	SPIPlanPtr	plan = SourcePrepare(query, 0, NULL, 0,
									 shape ? shape : SourceShapeOf(typed != NULL, implicit));
	TupleDesc	desc = CreateTupleDescCopy(SourcePlanColumns(plan));

	if (shape == NULL)
		CheckSourceTypes(desc, typed != NULL, implicit ? typed->item_type : InvalidOid);
	SPI_freeplan(plan);
	return desc;
}
