/*
 * src/transform_fit.c
 *	  Fitting a model's input transform on the training rows of a source.
 *
 * One pass over the feature columns of the source, before any row is
 * trained on: per column, the rows and NULLs counted, the mean and
 * standard deviation of its numbers (Welford, in double; per element for a
 * dense array), and the counts of its categories or tags, kept by the
 * space-saving counter of src/vocabulary.c so that a column of millions of
 * distinct values takes bounded memory.  Rows the validation split holds
 * out (by a hash of the whole source row, the same rule training applies
 * afterwards) are not counted, so nothing of the
 * validation rows leaks into the model.  The result is the transform
 * section the core builds (TransformBuild), which the model carries.
 *
 * Memory: the counters live in a context of their own, freed before
 * returning; their worst case is checked against mixrec.train_memory
 * before the first row is read.
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "mixrec.h"
#include "source.h"
#include "typed.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#define FETCH_ROWS			10000

/*
 * A category counter keeps this many times the values asked for (top_k),
 * and at least VOCABULARY_MIN_CAPACITY: it is exact up to that many
 * distinct values
 */
#define VOCABULARY_SLACK		4
#define VOCABULARY_MIN_CAPACITY	1024
/* Bookkeeping bytes of one counter, besides its value */
#define VOCABULARY_ENTRY_BYTES	64

/* Running statistics of one feature column */
typedef struct ColumnStats
{
	uint64		rows;
	uint64		nulls;
	double		count;			/* non-NULL numbers seen */
	double		mean;
	double		m2;
	int			length;			/* DENSE: elements, 0 until the first value */
	double	   *element_count;
	double	   *element_mean;
	double	   *element_m2;
	Vocabulary *vocabulary;
} ColumnStats;

static int	VocabularyCapacity(const TypedColumn *column);
static void CheckFitMemory(const TypedColumn *columns, int n_columns);
static void AddNumber(double *count, double *mean, double *m2, double value);
static void AddDense(ColumnStats *stats, const TypedColumn *column, const TransformValue *value,
					 MemoryContext context);
static void AddValue(ColumnStats *stats, const TypedColumn *column, const TransformValue *value,
					 MemoryContext context);
static void FinishColumn(const ColumnStats *stats, const TypedColumn *column,
						 TransformColumnSpec *spec);

/*
 * The number of counters of a category column
 */
static int
VocabularyCapacity(const TypedColumn *column)
{
	return Max(column->top_k * VOCABULARY_SLACK, VOCABULARY_MIN_CAPACITY);
}

/*
 * Refuse up front if the category counters could outgrow the budget: each
 * holds at most its capacity of values of at most TRANSFORM_MAX_VALUE bytes
 */
static void
CheckFitMemory(const TypedColumn *columns, int n_columns)
{
	double		need = 0;
	double		counters = 0;
	int			counted = 0;

	for (int i = 0; i < n_columns; i++)
		if (columns[i].kind == TRANSFORM_CATEGORICAL || columns[i].kind == TRANSFORM_MULTI_HOT)
		{
			counters += VocabularyCapacity(&columns[i]);
			counted++;
		}
	need = counters * (VOCABULARY_ENTRY_BYTES + TRANSFORM_MAX_VALUE);
	MemoryBudgetCheck(need, "counting the categories of the training rows",
					  psprintf("%d category %s keep %.0f values in all (per column %d times top_k, at least %d), each of up to %d bytes.",
							   counted, counted == 1 ? "column" : "columns", counters,
							   VOCABULARY_SLACK, VOCABULARY_MIN_CAPACITY, TRANSFORM_MAX_VALUE));
}

/*
 * Add a number to a running mean and sum of squared deviations
 */
static void
AddNumber(double *count, double *mean, double *m2, double value)
{
	double		delta = value - *mean;

	*count += 1;
	*mean += delta / *count;
	*m2 += delta * (value - *mean);
}

/*
 * Count a dense array: the first value fixes the length every row must
 * have
 */
static void
AddDense(ColumnStats *stats, const TypedColumn *column, const TransformValue *value,
		 MemoryContext context)
{
	if (stats->length == 0)
	{
		if (value->n_elements < 1 || value->n_elements > MIXREC_MAX_UNITS)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("column \"%s\" has %zu elements, a dense column takes 1 to %d",
							column->name, value->n_elements, MIXREC_MAX_UNITS)));
		stats->length = (int) value->n_elements;
		stats->element_count = MemoryContextAllocZero(context, sizeof(double) * stats->length);
		stats->element_mean = MemoryContextAllocZero(context, sizeof(double) * stats->length);
		stats->element_m2 = MemoryContextAllocZero(context, sizeof(double) * stats->length);
	}
	if (value->n_elements != (size_t) stats->length)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("column \"%s\" has %zu elements, but earlier rows have %d",
						column->name, value->n_elements, stats->length),
				 errhint("Every value of an array column must have the same length.")));
	for (int i = 0; i < stats->length; i++)
		if (value->element_null == NULL || !value->element_null[i])
		{
			AddNumber(&stats->element_count[i], &stats->element_mean[i], &stats->element_m2[i],
					  value->elements[i]);
			AddNumber(&stats->count, &stats->mean, &stats->m2, value->elements[i]);
		}
}

/*
 * Count one column's value of a training row
 */
static void
AddValue(ColumnStats *stats, const TypedColumn *column, const TransformValue *value,
		 MemoryContext context)
{
	double		number;

	stats->rows++;
	if (value->isnull)
	{
		stats->nulls++;
		return;
	}
	switch (column->kind)
	{
		case TRANSFORM_NUMERIC:
			number = value->number;
			if (column->flags & TRANSFORM_LOG)
				number = copysign(log1p(fabs(number)), number);
			AddNumber(&stats->count, &stats->mean, &stats->m2, number);
			break;
		case TRANSFORM_BOOLEAN:
		case TRANSFORM_TIME:
			AddNumber(&stats->count, &stats->mean, &stats->m2, value->number);
			break;
		case TRANSFORM_CATEGORICAL:
			VocabularyAdd(stats->vocabulary, value->text.data, value->text.len);
			break;
		case TRANSFORM_MULTI_HOT:
			for (size_t i = 0; i < value->n_items; i++)
				if (!value->items[i].isnull)
					VocabularyAdd(stats->vocabulary, value->items[i].data, value->items[i].len);
			break;
		case TRANSFORM_DENSE:
			AddDense(stats, column, value, context);
			break;
	}
}

/*
 * Describe a column for TransformBuild from its statistics
 */
static void
FinishColumn(const ColumnStats *stats, const TypedColumn *column, TransformColumnSpec *spec)
{
	memset(spec, 0, sizeof(*spec));
	spec->name = column->name;
	spec->type_name = TypedTypeName(column->type, -1);
	spec->kind = column->kind;
	spec->flags = column->flags;
	spec->length = column->embed_dim > 0 ? (uint32) column->embed_dim : 1;
	spec->rows = stats->rows;
	spec->nulls = stats->nulls;
	spec->mean = stats->count > 0 ? stats->mean : 0.0;
	spec->std = stats->count > 0 ? sqrt(stats->m2 / stats->count) : 0.0;
	if (stats->nulls > 0 && column->kind != TRANSFORM_CATEGORICAL &&
		column->kind != TRANSFORM_MULTI_HOT)
		spec->flags |= TRANSFORM_MISSING;
	if (stats->nulls == stats->rows)
		ereport(NOTICE,
				(errmsg("column \"%s\" is NULL in every training row: its inputs carry no information",
						column->name)));

	if (column->kind == TRANSFORM_DENSE)
	{
		double	   *mean;
		double	   *std;

		if (stats->length == 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("column \"%s\" is NULL in every training row, so its length is unknown",
							column->name),
					 errhint("Leave it out with exclude, or give it values.")));
		mean = palloc_array(double, stats->length);
		std = palloc_array(double, stats->length);
		for (int i = 0; i < stats->length; i++)
		{
			double		n = stats->element_count[i];

			mean[i] = n > 0 ? stats->element_mean[i] : 0.0;
			std[i] = n > 0 ? sqrt(stats->element_m2[i] / n) : 0.0;
		}
		spec->length = stats->length;
		spec->element_mean = mean;
		spec->element_std = std;
	}
	else if (column->kind == TRANSFORM_CATEGORICAL || column->kind == TRANSFORM_MULTI_HOT)
	{
		TransformText *values;
		uint64	   *counts;

		spec->vocab_size = VocabularyTop(stats->vocabulary, column->top_k,
										 column->min_frequency, &values, &counts);
		spec->vocab = values;
		spec->vocab_count = counts;
		if (!VocabularyExact(stats->vocabulary))
			ereport(NOTICE,
					(errmsg("column \"%s\" has more than %d distinct values: its vocabulary holds the most frequent ones, counted approximately",
							column->name, VocabularyCapacity(column))));
	}
}

/*
 * Fit the transform of the feature columns on the training rows of a
 * source (a FROM item, SourceFrom's): the rows whose holdout value (the SQL
 * expression holdout, a float8) is at least validation_fraction.  Returns the section, allocated in the
 * caller's context, its length and the number of inputs it makes.
 */
uint8 *
TransformFit(const char *from, const TypedColumn *columns, int n_columns,
			 double validation_fraction, const char *holdout, uint32 *section_len,
			 uint32 *inputs)
{
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext fit_context = AllocSetContextCreate(caller, "mixrec transform fit",
													  ALLOCSET_DEFAULT_SIZES);
	static const SourceShape any_types = {
		.arguments = "source and features",
		.columns = "features",
	};
	SourceShape shape = any_types;
	StringInfoData query;
	SPIPlanPtr	plan;
	SourceCursor cursor;
	HeapTuple	tuple;
	ColumnStats *stats;
	Datum	   *values;
	bool	   *nulls;
	uint64		trained = 0;
	TransformColumnSpec *specs;
	uint8	   *section;
	size_t		size;
	uint32		input_dim;
	MixrecError err;

	CheckFitMemory(columns, n_columns);
	MemoryContextSwitchTo(fit_context);
	stats = palloc0_array(ColumnStats, n_columns);
	for (int i = 0; i < n_columns; i++)
		if (columns[i].kind == TRANSFORM_CATEGORICAL || columns[i].kind == TRANSFORM_MULTI_HOT)
			stats[i].vocabulary = VocabularyCreate(VocabularyCapacity(&columns[i]), fit_context);
	/* The feature columns, and the holdout value after them */
	values = palloc_array(Datum, n_columns + 1);
	nulls = palloc_array(bool, n_columns + 1);

	initStringInfo(&query);
	appendStringInfoString(&query, "SELECT ");
	for (int i = 0; i < n_columns; i++)
		appendStringInfo(&query, "%s%s", i ? ", " : "", quote_identifier(columns[i].name));
	if (validation_fraction > 0)
		appendStringInfo(&query, ", %s", holdout);
	appendStringInfo(&query, " FROM %s", from);
	shape.ncolumns = n_columns + (validation_fraction > 0 ? 1 : 0);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	plan = SourcePrepare(query.data, 0, NULL, 0, &shape);
	MemoryContextSwitchTo(fit_context);
	SourceOpen(&cursor, plan, "source", FETCH_ROWS);
	while ((tuple = SourceNext(&cursor)) != NULL)
	{
		MemoryContext row_context = MemoryContextSwitchTo(cursor.batch_context);

		/* One pass over the row: column by column costs quadratic time */
		heap_deform_tuple(tuple, cursor.desc, values, nulls);
		if (validation_fraction > 0 && !nulls[n_columns] &&
			DatumGetFloat8(values[n_columns]) < validation_fraction)
		{
			MemoryContextSwitchTo(row_context);
			continue;
		}
		for (int i = 0; i < n_columns; i++)
		{
			TransformValue value;

			if (TupleDescAttr(cursor.desc, i)->atttypid != columns[i].type)
				elog(ERROR, "column \"%s\" changed its type while being read", columns[i].name);
			TypedValueRead(&columns[i].reader, columns[i].name, values[i], nulls[i], &value);
			AddValue(&stats[i], &columns[i], &value, fit_context);
		}
		trained++;
		MemoryContextSwitchTo(row_context);
	}
	SourceClose(&cursor);
	SPI_finish();

	MemoryContextSwitchTo(fit_context);
	if (trained == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("the source has no rows to train on")));
	specs = palloc_array(TransformColumnSpec, n_columns);
	for (int i = 0; i < n_columns; i++)
		FinishColumn(&stats[i], &columns[i], &specs[i]);

	size = TransformSectionSize(specs, n_columns);
	if (size == 0)
	{
		/* A limit the columns break: the core's sentence says which */
		if (TransformBuild(specs, n_columns, NULL, 0, &input_dim, &err) == MIXREC_OK)
			elog(ERROR, "a transform the core cannot size was built");
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the feature columns cannot make a model: %s", CoreMessage(&err)),
				 errhint("Lower top_k of the category and tag columns in transform, or the dimensions in embed.")));
	}
	if (size > MaxAllocSize)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the transform of these %d columns takes %zu bytes, more than a model can hold",
						n_columns, size)));
	section = MemoryContextAlloc(caller, size);
	if (TransformBuild(specs, n_columns, section, size, &input_dim, &err) != MIXREC_OK)
		ReportCoreError(&err);
	MemoryContextSwitchTo(caller);
	MemoryContextDelete(fit_context);
	*section_len = (uint32) size;
	*inputs = input_dim;
	return section;
}
