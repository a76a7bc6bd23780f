/*
 * src/drift.c
 *	  mixrec_drift: how the rows of a source differ from a typed-column
 *	  model's training rows.
 *
 * A model of typed columns carries the statistics of its training rows in
 * its transform: for each column the share of NULLs, the mean and standard
 * deviation of numbers (after the log scale; of the seconds of times), and
 * the vocabulary of categories and tags.  mixrec_drift reads a source once,
 * binds the transform to its row type by column name as scoring does
 * (src/transform_bind.c), reads each value with the same reader
 * (src/typed_values.c), and computes the same statistics over the source's
 * rows, with the share of category and tag values the vocabulary does not
 * have: those score through the out-of-vocabulary input.
 *
 * Rows are read through the source layer's read-only cursor, in the
 * caller's search_path; what one fetch reads lives in the cursor's batch
 * context, reset with each fetch.  The per-column sums are a few numbers
 * each, in the function's context.
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mixrec.h"
#include "source.h"
#include "typed.h"
#include "utils/builtins.h"
#include "utils/tuplestore.h"

PG_FUNCTION_INFO_V1(mixrec_drift);

#define DRIFT_FETCH_ROWS	10000

/* The result columns of mixrec_drift */
enum
{
	DRIFT_COLUMN_NAME = 0,
	DRIFT_KIND,
	DRIFT_TRAIN_MEAN,
	DRIFT_TRAIN_STDDEV,
	DRIFT_NEW_MEAN,
	DRIFT_NEW_STDDEV,
	DRIFT_MEAN_SHIFT,
	DRIFT_TRAIN_NULL_FRACTION,
	DRIFT_NEW_NULL_FRACTION,
	DRIFT_NEW_OOV_FRACTION,
	DRIFT_COLUMNS
};

/* One column's statistics over the source's rows */
typedef struct DriftStats
{
	double		rows;
	double		nulls;
	double		count;			/* numbers: Welford's running mean and M2 */
	double		mean;
	double		m2;
	double		values;			/* categories and tags read */
	double		oov;			/* of which not in the vocabulary */
} DriftStats;

static bool DriftHasNumbers(TransformKind kind);
static void DriftAddNumber(DriftStats *stats, double x);
static void DriftAddValue(DriftStats *stats, const Transform *transform, uint32 column,
						  const TransformValue *value);
static void DriftRead(const char *source, const Transform *transform, DriftStats *stats);
static void DriftReport(FunctionCallInfo fcinfo, const Transform *transform,
						const DriftStats *stats);

/*
 * Does a column of this kind have a mean and a standard deviation?
 */
static bool
DriftHasNumbers(TransformKind kind)
{
	return kind == TRANSFORM_NUMERIC || kind == TRANSFORM_BOOLEAN || kind == TRANSFORM_TIME ||
		kind == TRANSFORM_DENSE;
}

/*
 * Count one number (Welford's update, as the transform's fit counts them)
 */
static void
DriftAddNumber(DriftStats *stats, double x)
{
	double		delta = x - stats->mean;

	stats->count += 1;
	stats->mean += delta / stats->count;
	stats->m2 += delta * (x - stats->mean);
}

/*
 * Count one column's value of a source row, as the transform's fit would
 */
static void
DriftAddValue(DriftStats *stats, const Transform *transform, uint32 column,
			  const TransformValue *value)
{
	const TransformColumn *c = &transform->columns[column];

	stats->rows++;
	if (value->isnull)
	{
		stats->nulls++;
		return;
	}
	switch (c->kind)
	{
		case TRANSFORM_NUMERIC:
			DriftAddNumber(stats, (c->flags & TRANSFORM_LOG) ?
						   copysign(log1p(fabs(value->number)), value->number) : value->number);
			break;
		case TRANSFORM_BOOLEAN:
		case TRANSFORM_TIME:
			DriftAddNumber(stats, value->number);
			break;
		case TRANSFORM_CATEGORICAL:
			stats->values++;
			if (TransformVocabLookup(transform, column, value->text.data, value->text.len) < 0)
				stats->oov++;
			break;
		case TRANSFORM_MULTI_HOT:
			for (size_t i = 0; i < value->n_items; i++)
				if (!value->items[i].isnull)
				{
					stats->values++;
					if (TransformVocabLookup(transform, column, value->items[i].data,
											 value->items[i].len) < 0)
						stats->oov++;
				}
			break;
		case TRANSFORM_DENSE:
			for (size_t i = 0; i < value->n_elements; i++)
				if (value->element_null == NULL || !value->element_null[i])
					DriftAddNumber(stats, value->elements[i]);
			break;
	}
}

/*
 * Read every row of the source and count each of the transform's columns
 */
static void
DriftRead(const char *source, const Transform *transform, DriftStats *stats)
{
	static const SourceShape any = {
		.arguments = "source",
		.columns = "source",
		.ncolumns = 0,
		.more_columns = true,
	};
	MemoryContext context = CurrentMemoryContext;
	SPIPlanPtr	plan;
	SourceCursor cursor;
	TransformBinding *binding;
	TupleDesc	desc;
	Datum	   *values;
	bool	   *nulls;
	HeapTuple	tuple;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	plan = SourcePrepare(psprintf("SELECT * FROM %s", SourceFrom(source)), 0, NULL, 0, &any);
	desc = SourcePlanColumns(plan);
	MemoryContextSwitchTo(context);
	/* The model's columns by name, each read as it was trained on */
	binding = TransformBind(transform, desc, 1, false, context);
	values = palloc_array(Datum, desc->natts);
	nulls = palloc_array(bool, desc->natts);
	SourceOpen(&cursor, plan, "source", DRIFT_FETCH_ROWS);

	MemoryContextSwitchTo(cursor.batch_context);
	while ((tuple = SourceNext(&cursor)) != NULL)
	{
		heap_deform_tuple(tuple, cursor.desc, values, nulls);
		for (uint32 c = 0; c < transform->n_columns; c++)
		{
			AttrNumber	attno = binding->attnos[c];
			TransformValue value;

			TypedValueRead(&binding->readers[c], transform->columns[c].name,
						   values[attno - 1], nulls[attno - 1], &value);
			DriftAddValue(&stats[c], transform, c, &value);
		}
	}
	MemoryContextSwitchTo(context);
	SourceClose(&cursor);
	SPI_finish();
}

/*
 * One result row per column: the training rows' statistics beside the
 * source's
 */
static void
DriftReport(FunctionCallInfo fcinfo, const Transform *transform, const DriftStats *stats)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	for (uint32 c = 0; c < transform->n_columns; c++)
	{
		const TransformColumn *column = &transform->columns[c];
		const DriftStats *s = &stats[c];
		Datum		values[DRIFT_COLUMNS];
		bool		nulls[DRIFT_COLUMNS];
		bool		numbers = DriftHasNumbers(column->kind);
		bool		categories = column->kind == TRANSFORM_CATEGORICAL ||
			column->kind == TRANSFORM_MULTI_HOT;
		double		new_std = s->count > 0 ? sqrt(s->m2 / s->count) : 0.0;

		memset(nulls, 0, sizeof(nulls));
		values[DRIFT_COLUMN_NAME] = CStringGetTextDatum(column->name);
		values[DRIFT_KIND] = CStringGetTextDatum(TransformKindName(column->kind));
		values[DRIFT_TRAIN_MEAN] = Float8GetDatum(column->mean);
		values[DRIFT_TRAIN_STDDEV] = Float8GetDatum(column->std);
		values[DRIFT_NEW_MEAN] = Float8GetDatum(s->mean);
		values[DRIFT_NEW_STDDEV] = Float8GetDatum(new_std);
		/* In training standard deviations; none for a constant column */
		values[DRIFT_MEAN_SHIFT] = Float8GetDatum(column->std > 0 ?
												  (s->mean - column->mean) / column->std : 0.0);
		nulls[DRIFT_TRAIN_MEAN] = nulls[DRIFT_TRAIN_STDDEV] = !numbers;
		nulls[DRIFT_NEW_MEAN] = nulls[DRIFT_NEW_STDDEV] = !numbers || s->count == 0;
		nulls[DRIFT_MEAN_SHIFT] = !numbers || s->count == 0 || !(column->std > 0);
		values[DRIFT_TRAIN_NULL_FRACTION] = Float8GetDatum(column->rows ?
														   (double) column->nulls / column->rows : 0.0);
		values[DRIFT_NEW_NULL_FRACTION] = Float8GetDatum(s->rows > 0 ? s->nulls / s->rows : 0.0);
		nulls[DRIFT_NEW_NULL_FRACTION] = s->rows == 0;
		values[DRIFT_NEW_OOV_FRACTION] = Float8GetDatum(s->values > 0 ? s->oov / s->values : 0.0);
		nulls[DRIFT_NEW_OOV_FRACTION] = !categories || s->values == 0;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
}

/*
 * mixrec_drift(model_name text, source text, version int) returns table
 * (column_name, kind, train_mean, train_stddev, new_mean, new_stddev,
 * mean_shift, train_null_fraction, new_null_fraction, new_oov_fraction)
 */
Datum
mixrec_drift(PG_FUNCTION_ARGS)
{
	MixrecModel *model;
	const Transform *transform;
	DriftStats *stats;

	InitMaterializedSRF(fcinfo, 0);
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("source must not be NULL")));
	model = RegistryModel(fcinfo, 0, 2);
	transform = ModelTransformLoad(model, CurrentMemoryContext);
	if (transform == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("the model takes an array of features, so it has no typed columns"),
				 errdetail("Only a model of typed columns carries the statistics of its training rows.")));
	stats = palloc0_array(DriftStats, Max(transform->n_columns, 1));
	DriftRead(text_to_cstring(PG_GETARG_TEXT_PP(1)), transform, stats);
	DriftReport(fcinfo, transform, stats);
	return (Datum) 0;
}
