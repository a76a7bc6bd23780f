/*
 * src/transform_sql.c
 *	  SQL functions of typed columns: mixrec_prepare, which fits a new
 *	  model's transform on a source for the mixrec_fit aggregates, and
 *	  mixrec_feature_info, which describes a model's transform.
 *
 * mixrec_train fits the transform itself; an aggregate cannot, since it
 * must know every column's vocabulary and statistics before its first row.
 * So the aggregate path takes two passes, the first one mixrec_prepare's:
 *
 *	SELECT mixrec_fit(m.model, c, c.liked)
 *	FROM clicks c, (SELECT mixrec_prepare('clicks', label => 'liked') AS model) m;
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mixrec.h"
#include "options.h"
#include "training.h"
#include "typed.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/tuplestore.h"

PG_FUNCTION_INFO_V1(mixrec_prepare);
PG_FUNCTION_INFO_V1(mixrec_feature_info);
PG_FUNCTION_INFO_V1(mixrec_feature_info_name);

/* The most frequent values mixrec_feature_info shows per column */
#define FEATURE_INFO_TOP_VALUES	10

enum
{
	INFO_COLUMN_NAME,
	INFO_TYPE,
	INFO_KIND,
	INFO_FIRST_INPUT,
	INFO_INPUTS,
	INFO_ROWS,
	INFO_NULL_FRACTION,
	INFO_MEAN,
	INFO_STDDEV,
	INFO_SCALE,
	INFO_MISSING_INPUT,
	INFO_VOCABULARY_SIZE,
	INFO_TOP_VALUES,
	INFO_TOP_COUNTS,
	INFO_COLUMNS
};

static void FeatureInfoRows(FunctionCallInfo fcinfo, const MixrecModel *model);

/*
 * A new model whose transform is fitted on every row of a source
 *
 * mixrec_prepare(source, features, label, exclude, transform, hidden,
 *	 alpha, standardize, init, seed) returns bytea
 */
Datum
mixrec_prepare(PG_FUNCTION_ARGS)
{
	TrainOptions opts;
	TrainArguments args;
	MixrecModel *model;
	MlpShape	shape;
	MixrecError err;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("source must not be NULL")));
	/* The table's checks and defaults; this function's arguments are options */
	OptionsDefaults(&opts, OPTIONS_TRAIN);
	OptionsFromArguments(fcinfo, OPTIONS_TRAIN, &opts);
	opts.validation_fraction = 0;	/* the aggregate's rows are all training rows */

	memset(&args, 0, sizeof(args));
	args.source = text_to_cstring(PG_GETARG_TEXT_PP(0));
	args.features = PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1));
	args.label = PG_ARGISNULL(2) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(2));
	if (!TypedTrainingPrepare(&opts, &args,
							  get_namespace_name(get_func_namespace(fcinfo->flinfo->fn_oid))))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("features \"%s\" is an array, which needs no transform", args.features),
				 errhint("Use mixrec_init for a model of array features.")));

	shape = opts.shape;
	shape.dims[0] = (int) args.typed->transform->input_dim;
	shape.dims[shape.n_hidden + 1] = 1;
	if (MlpShapeCheck(&shape, &err) != MIXREC_OK)
		ReportCoreError(&err);
	model = ModelAllocate(&shape, opts.standardize ? MIXREC_FLAG_STANDARDIZE : 0,
						  args.typed->section, args.typed->section_len);
	model->alpha = opts.alpha;
	ModelInitParams(model, opts.seed, opts.init);
	if (opts.standardize)
		TransformStandardization(args.typed->transform, model->mean, model->std);
	PG_RETURN_BYTEA_P(ModelToBytea(model));
}

/*
 * One row per column of a model's transform
 */
static void
FeatureInfoRows(FunctionCallInfo fcinfo, const MixrecModel *model)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	const Transform *transform = ModelTransformLoad(model, CurrentMemoryContext);

	InitMaterializedSRF(fcinfo, 0);
	if (transform == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("the model takes an array of features, so it has no typed columns"),
				 errhint("mixrec_info describes any model.")));

	for (uint32 c = 0; c < transform->n_columns; c++)
	{
		const TransformColumn *column = &transform->columns[c];
		Datum		values[INFO_COLUMNS];
		bool		nulls[INFO_COLUMNS];
		bool		numbers = column->kind == TRANSFORM_NUMERIC ||
			column->kind == TRANSFORM_BOOLEAN || column->kind == TRANSFORM_TIME ||
			column->kind == TRANSFORM_DENSE;

		memset(nulls, 0, sizeof(nulls));
		values[INFO_COLUMN_NAME] = CStringGetTextDatum(column->name);
		values[INFO_TYPE] = CStringGetTextDatum(column->type_name);
		values[INFO_KIND] = CStringGetTextDatum(TransformKindName(column->kind));
		values[INFO_FIRST_INPUT] = Int32GetDatum((int32) column->position + 1);
		values[INFO_INPUTS] = Int32GetDatum((int32) column->width);
		values[INFO_ROWS] = Int64GetDatum((int64) column->rows);
		values[INFO_NULL_FRACTION] = Float8GetDatum(column->rows ?
													(double) column->nulls / column->rows : 0.0);
		values[INFO_MEAN] = Float8GetDatum(column->mean);
		values[INFO_STDDEV] = Float8GetDatum(column->std);
		nulls[INFO_MEAN] = nulls[INFO_STDDEV] = !numbers;
		values[INFO_SCALE] = CStringGetTextDatum((column->flags & TRANSFORM_LOG) ? "log" : "standard");
		nulls[INFO_SCALE] = column->kind != TRANSFORM_NUMERIC;
		values[INFO_MISSING_INPUT] = BoolGetDatum((column->flags & TRANSFORM_MISSING) != 0);
		values[INFO_VOCABULARY_SIZE] = Int32GetDatum((int32) column->vocab_size);
		nulls[INFO_VOCABULARY_SIZE] = nulls[INFO_TOP_VALUES] = nulls[INFO_TOP_COUNTS] =
			!(column->kind == TRANSFORM_CATEGORICAL || column->kind == TRANSFORM_MULTI_HOT);
		if (!nulls[INFO_TOP_VALUES])
		{
			int			n = (int) Min(column->vocab_size, FEATURE_INFO_TOP_VALUES);
			Datum	   *top = palloc_array(Datum, Max(n, 1));
			Datum	   *counts = palloc_array(Datum, Max(n, 1));

			for (int i = 0; i < n; i++)
			{
				TransformText entry;
				uint64_t	count;

				TransformVocabEntry(transform, c, (uint32) i, &entry, &count);
				top[i] = PointerGetDatum(cstring_to_text_with_len(entry.data, (int) entry.len));
				counts[i] = Int64GetDatum((int64) count);
			}
			values[INFO_TOP_VALUES] = PointerGetDatum(construct_array(top, n, TEXTOID, -1, false,
																	  TYPALIGN_INT));
			values[INFO_TOP_COUNTS] = PointerGetDatum(construct_array(counts, n, INT8OID, 8,
																	  FLOAT8PASSBYVAL,
																	  TYPALIGN_DOUBLE));
		}
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
}

/*
 * mixrec_feature_info(model bytea) returns table
 */
Datum
mixrec_feature_info(PG_FUNCTION_ARGS)
{
	FeatureInfoRows(fcinfo, ModelFromBytea(PG_GETARG_BYTEA_PP(0)));
	return (Datum) 0;
}

/*
 * mixrec_feature_info(model_name text, version int) returns table
 */
Datum
mixrec_feature_info_name(PG_FUNCTION_ARGS)
{
	FeatureInfoRows(fcinfo, RegistryModel(fcinfo, 0, 1));
	return (Datum) 0;
}
