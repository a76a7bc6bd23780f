/*
 * src/explain_sql.c
 *	  Why a model scores a row as it does: mixrec_explain (one row) and
 *	  mixrec_global_explain (mean absolute attributions over a sample of a
 *	  source's rows).
 *
 * The numerics are in the core (src/core/explain.c): this file reads the
 * arguments, encodes rows exactly as scoring does (RecordEncode for typed
 * columns, DatumFeatures for arrays), standardises them, and groups the
 * inputs by feature: each typed column's inputs (its one-hot, multi-hot,
 * embedded or other inputs) are one group named after the column; an
 * array model's inputs are one group each, named "1", "2", ... or by the
 * names argument.  Each of the two models is explained on its own; the
 * blend's attribution is alpha times the open model's plus 1 - alpha
 * times the commercial model's, as the blend of probabilities is
 * (include/mixrec/predict.h), so it too sums to score - baseline_score.
 */
#include "postgres.h"

#include <math.h>

#include "access/detoast.h"
#include "catalog/pg_type.h"
#include "datum.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "mixrec.h"
#include "mixrec/explain.h"
#include "mixrec/predict.h"
#include "mixrec/standardize.h"
#include "serve.h"
#include "source.h"
#include "typed.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/tuplestore.h"

PG_FUNCTION_INFO_V1(mixrec_explain);
PG_FUNCTION_INFO_V1(mixrec_explain_name);
PG_FUNCTION_INFO_V1(mixrec_global_explain);

/* Rows of a source fetched at a time by mixrec_global_explain */
#define EXPLAIN_FETCH_ROWS		1000

/* The attributions of one row: the open model, the commercial one, the score's */
#define EXPLAIN_OPEN			0
#define EXPLAIN_COMMERCIAL		1
#define EXPLAIN_SCORE			2

/* One model, ready to explain rows */
typedef struct Explainer
{
	MixrecModel *model;
	const Transform *transform; /* typed columns, or NULL: arrays */
	RecordEncoder encoder;
	ScoreMode	mode;
	ExplainMethod method;
	int			steps;
	int			n_groups;
	uint32	   *group;			/* [input_dim] each input's feature */
	char	  **names;			/* [n_groups] */
	float	   *soup;			/* SCORE_SOUP's parameters, else NULL */
	float	   *x;				/* [input_dim] the row, standardised */
	float	   *baseline;		/* [input_dim] */
	float	   *work;			/* ExplainWorkFloats */
	double	   *attr[3];		/* [n_groups] open, commercial, the score's */
	double		prob[3];		/* the row's probabilities */
	double		base[3];		/* the baseline's */
} Explainer;

/*
 * What one call site of mixrec_explain keeps between calls (a LATERAL
 * join calls it once per row): the decoded model, keyed on its bytes or
 * on its registry name and version, and the explainer of the last
 * arguments.  A call site in FROM lives for one execution of a statement,
 * which reads the registry under one snapshot, so the model read by name
 * stays the one the statement sees.
 */
typedef struct ExplainCache
{
	MemoryContext model_context;	/* the model and its key */
	MemoryContext explainer_context;	/* the explainer of that model */
	MixrecModel *model;			/* NULL while nothing is cached */
	char	   *blob;			/* the key of a model given as bytea */
	Size		blob_len;
	bool		toast_valid;	/* ...read from this TOAST value */
	struct varatt_external toast;
	char	   *name;			/* the key of a model given by name */
	int32		version;
	bool		ready;			/* explainer is set up for these: */
	ScoreMode	mode;
	ExplainMethod method;
	int			steps;
	Explainer	explainer;
} ExplainCache;

/* A feature in the order of its absolute attribution, largest first */
typedef struct RankedFeature
{
	double		magnitude;
	int			group;
} RankedFeature;

static void ExplainerInit(Explainer *ex, MixrecModel *model, ScoreMode mode,
						  ExplainMethod method, int steps, ArrayType *names, bool by_position);
static void ExplainerRun(Explainer *ex);
static ExplainMethod ExplainMethodArg(FunctionCallInfo fcinfo, int arg);
static int	ExplainIntArg(FunctionCallInfo fcinfo, int arg, const char *name, int min, int max);
static char **ExplainNames(ArrayType *names, int dim);
static int	RankedCompare(const void *a, const void *b);
static ExplainCache *ExplainCacheGet(FunctionCallInfo fcinfo, bool by_name);
static Datum ExplainOneRow(FunctionCallInfo fcinfo, bool by_name);

/*
 * Read the method argument
 */
static ExplainMethod
ExplainMethodArg(FunctionCallInfo fcinfo, int arg)
{
	const char *name = ServeText(fcinfo, arg, "method");
	int			method = ExplainMethodFromName(name);

	if (method < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown explanation method \"%s\"", name),
				 errhint("Valid methods are \"integrated_gradients\", \"gradient_times_input\" and \"occlusion\".")));
	return (ExplainMethod) method;
}

/*
 * Read a required integer argument within [min, max] (max 0: no maximum)
 */
static int
ExplainIntArg(FunctionCallInfo fcinfo, int arg, const char *name, int min, int max)
{
	int			value;

	if (PG_ARGISNULL(arg))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", name)));
	value = PG_GETARG_INT32(arg);
	if (max > 0 && (value < min || value > max))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be between %d and %d, got %d", name, min, max, value)));
	if (value < min)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be at least %d, got %d", name, min, value)));
	return value;
}

/*
 * The names of an array model's inputs: the names argument's, or "1",
 * "2", ...
 */
static char **
ExplainNames(ArrayType *names, int dim)
{
	char	  **out = palloc_array(char *, dim);
	Datum	   *elems;
	bool	   *nulls;
	int			n;

	if (names == NULL)
	{
		for (int i = 0; i < dim; i++)
			out[i] = psprintf("%d", i + 1);
		return out;
	}
	if (ARR_NDIM(names) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("names must be a one-dimensional array, got %d dimensions",
						ARR_NDIM(names))));
	deconstruct_array(names, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	if (n != dim)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("names has %d elements, but the model has %d input features", n, dim)));
	for (int i = 0; i < n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("names must not contain NULLs, element %d is NULL", i + 1)));
		out[i] = TextDatumGetCString(elems[i]);
	}
	return out;
}

/*
 * Prepare to explain rows of a model: its features, baseline and scratch
 * space, counted against the memory budget.  by_position: typed rows come
 * as mixrec's own ROW() of the model's columns (a source query), else
 * they are matched by name (a caller's row).
 */
static void
ExplainerInit(Explainer *ex, MixrecModel *model, ScoreMode mode, ExplainMethod method,
			  int steps, ArrayType *names, bool by_position)
{
	int			dim = MlpInputDim(&model->shape);
	size_t		work;

	if (MlpOutputDim(&model->shape) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("this function needs a model with one output, this model has %d",
						MlpOutputDim(&model->shape))));
	memset(ex, 0, sizeof(*ex));
	ex->model = model;
	ex->mode = mode;
	ex->method = method;
	ex->steps = steps;
	ex->transform = ModelTransformLoad(model, CurrentMemoryContext);
	ex->group = palloc_array(uint32, dim);
	if (ex->transform)
	{
		const Transform *t = ex->transform;

		if (names != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("names must be NULL for a model of typed columns"),
					 errhint("Its features are named after its columns.")));
		RecordEncoderInit(&ex->encoder, t, by_position, CurrentMemoryContext);
		ex->n_groups = (int) t->n_columns;
		ex->names = palloc_array(char *, t->n_columns);
		for (uint32 c = 0; c < t->n_columns; c++)
		{
			ex->names[c] = pstrdup(t->columns[c].name);
			for (uint32 j = 0; j < t->columns[c].width; j++)
				ex->group[t->columns[c].position + j] = c;
		}
	}
	else
	{
		ex->n_groups = dim;
		ex->names = ExplainNames(names, dim);
		for (int i = 0; i < dim; i++)
			ex->group[i] = (uint32) i;
	}

	work = ExplainWorkFloats(model, method, steps, ex->n_groups);
	MemoryBudgetCheck((double) sizeof(float) * work +
					  (mode == SCORE_SOUP ? (double) sizeof(float) * ModelParamCount(model) : 0.0),
					  "explaining a row",
					  psprintf("A pass of %d rows of %d inputs and its gradient take %zu floats.",
							   method == EXPLAIN_INTEGRATED_GRADIENTS ? steps : method == EXPLAIN_OCCLUSION ? ex->n_groups : 2,
							   dim, work));
	ex->work = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(float) * work);
	ex->x = palloc_array(float, dim);
	ex->baseline = palloc_array(float, dim);
	ExplainBaseline(model, ex->baseline);
	for (int k = 0; k < 3; k++)
		ex->attr[k] = palloc_array(double, ex->n_groups);
	if (mode == SCORE_SOUP)
	{
		ex->soup = MemoryContextAllocHuge(CurrentMemoryContext,
										  sizeof(float) * ModelParamCount(model));
		ScoreSoupParams(model, model->alpha, ex->soup);
	}
}

/*
 * Explain the row in ex->x (encoded, not yet standardised): both models,
 * and the score of the mode
 */
static void
ExplainerRun(Explainer *ex)
{
	MixrecModel *model = ex->model;
	double		alpha = model->alpha;

	if (model->flags & MIXREC_FLAG_STANDARDIZE)
		StandardizeApply(model->mean, model->std, MlpInputDim(&model->shape), ex->x, 1, ex->x);
	for (int k = 0; k < MIXREC_MODELS; k++)
		ExplainRow(model, model->params[k], ex->method, ex->steps, ex->x, ex->baseline,
				   ex->group, ex->n_groups, ex->work, ex->attr[k], &ex->prob[k], &ex->base[k]);
	switch (ex->mode)
	{
		case SCORE_BLEND:
			for (int g = 0; g < ex->n_groups; g++)
				ex->attr[EXPLAIN_SCORE][g] = alpha * ex->attr[EXPLAIN_OPEN][g] +
					(1.0 - alpha) * ex->attr[EXPLAIN_COMMERCIAL][g];
			ex->prob[EXPLAIN_SCORE] = alpha * ex->prob[EXPLAIN_OPEN] +
				(1.0 - alpha) * ex->prob[EXPLAIN_COMMERCIAL];
			ex->base[EXPLAIN_SCORE] = alpha * ex->base[EXPLAIN_OPEN] +
				(1.0 - alpha) * ex->base[EXPLAIN_COMMERCIAL];
			break;
		case SCORE_OPEN:
		case SCORE_COMMERCIAL:
			{
				int			k = ex->mode == SCORE_OPEN ? EXPLAIN_OPEN : EXPLAIN_COMMERCIAL;

				memcpy(ex->attr[EXPLAIN_SCORE], ex->attr[k], sizeof(double) * ex->n_groups);
				ex->prob[EXPLAIN_SCORE] = ex->prob[k];
				ex->base[EXPLAIN_SCORE] = ex->base[k];
			}
			break;
		case SCORE_SOUP:
			ExplainRow(model, ex->soup, ex->method, ex->steps, ex->x, ex->baseline, ex->group,
					   ex->n_groups, ex->work, ex->attr[EXPLAIN_SCORE],
					   &ex->prob[EXPLAIN_SCORE], &ex->base[EXPLAIN_SCORE]);
			break;
	}
}

/*
 * Order features by magnitude, largest first; ties by column order
 */
static int
RankedCompare(const void *a, const void *b)
{
	const RankedFeature *x = a;
	const RankedFeature *y = b;

	if (x->magnitude != y->magnitude)
		return x->magnitude > y->magnitude ? -1 : 1;
	return x->group - y->group;
}

/*
 * Find the model of this call: the cached one if its bytes, or its name
 * and version, are the same as last time; else decode it into the cache
 */
static ExplainCache *
ExplainCacheGet(FunctionCallInfo fcinfo, bool by_name)
{
	ExplainCache *cache = (ExplainCache *) fcinfo->flinfo->fn_extra;
	char	   *name = NULL;
	int32		version = -1;
	bytea	   *blob = NULL;
	struct varatt_external toast;
	bool		is_toast = false;
	MemoryContext old;

	if (cache == NULL)
	{
		cache = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(ExplainCache));
		cache->model_context = AllocSetContextCreate(fcinfo->flinfo->fn_mcxt,
													 "mixrec explain cache",
													 ALLOCSET_SMALL_SIZES);
		/* Not a child of model_context, whose reset would delete it */
		cache->explainer_context = AllocSetContextCreate(fcinfo->flinfo->fn_mcxt,
														 "mixrec explainer",
														 ALLOCSET_DEFAULT_SIZES);
		fcinfo->flinfo->fn_extra = cache;
	}

	if (by_name)
	{
		int			version_arg = PG_NARGS() - 1;

		if (PG_ARGISNULL(0))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("model_name must not be NULL")));
		if (!PG_ARGISNULL(version_arg))
		{
			version = PG_GETARG_INT32(version_arg);
			if (version < 1)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("version must be positive, got %d", version)));
		}
		name = text_to_cstring(PG_GETARG_TEXT_PP(0));
		if (cache->model != NULL && cache->name != NULL && cache->version == version &&
			strcmp(cache->name, name) == 0)
			return cache;
		{
			int32		found;

			blob = RegistryFetch(fcinfo, name, version, &found);
		}
	}
	else
	{
		struct varlena *raw = (struct varlena *) DatumGetPointer(PG_GETARG_DATUM(0));

		/*
		 * A model read from a table arrives as a pointer to its TOAST
		 * value, the same on every row that holds it: compared as
		 * mixrec_score's cache compares it (src/score.c), without
		 * detoasting
		 */
		is_toast = VARATT_IS_EXTERNAL_ONDISK(raw);
		if (is_toast)
		{
			VARATT_EXTERNAL_GET_POINTER(toast, raw);
			if (cache->model != NULL && cache->name == NULL && cache->toast_valid &&
				memcmp(&toast, &cache->toast, sizeof(toast)) == 0)
				return cache;
		}
		blob = PG_GETARG_BYTEA_PP(0);
		if (cache->model != NULL && cache->name == NULL &&
			cache->blob_len == VARSIZE_ANY_EXHDR(blob) &&
			memcmp(cache->blob, VARDATA_ANY(blob), cache->blob_len) == 0)
		{
			/* The same bytes: remember where they came from */
			cache->toast_valid = is_toast;
			if (is_toast)
				cache->toast = toast;
			return cache;
		}
	}

	/* Nothing matches until the new model is decoded */
	cache->model = NULL;
	cache->ready = false;
	cache->name = NULL;
	cache->blob = NULL;
	cache->toast_valid = false;
	MemoryContextReset(cache->explainer_context);
	MemoryContextReset(cache->model_context);
	BlasEnsureThreads();
	old = MemoryContextSwitchTo(cache->model_context);
	cache->model = ModelFromBytea(blob);
	if (by_name)
	{
		cache->name = pstrdup(name);
		cache->version = version;
	}
	else
	{
		cache->blob_len = VARSIZE_ANY_EXHDR(blob);
		cache->blob = palloc(cache->blob_len);
		memcpy(cache->blob, VARDATA_ANY(blob), cache->blob_len);
		cache->toast_valid = is_toast;
		if (is_toast)
			cache->toast = toast;
	}
	MemoryContextSwitchTo(old);
	return cache;
}

/*
 * Explain one row: the body of both mixrec_explain variants.  Arguments:
 * model or model_name, features, top_k, mode, method, steps, then for an
 * array of features names, and by name the version last.
 */
static Datum
ExplainOneRow(FunctionCallInfo fcinfo, bool by_name)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	bool		is_row = type_is_rowtype(get_fn_expr_argtype(fcinfo->flinfo, 1));
	MixrecModel *model;
	ExplainCache *cache;
	Explainer  *ex;
	int			top_k;
	ScoreMode	mode;
	ExplainMethod method;
	int			steps;
	ArrayType  *names = NULL;
	RankedFeature *ranked;

	if (!by_name && PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("model must not be NULL")));
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("features must not be NULL")));
	top_k = ExplainIntArg(fcinfo, 2, "top_k", 1, 0);
	mode = ServeMode(fcinfo, 3);
	method = ExplainMethodArg(fcinfo, 4);
	steps = ExplainIntArg(fcinfo, 5, "steps", 1, MIXREC_EXPLAIN_MAX_STEPS);
	if (!is_row && !PG_ARGISNULL(6))
		names = PG_GETARG_ARRAYTYPE_P(6);

	InitMaterializedSRF(fcinfo, 0);
	cache = ExplainCacheGet(fcinfo, by_name);
	model = cache->model;

	/* The same checks and messages as mixrec_score's */
	if (model->flags & MIXREC_FLAG_TRANSFORM && !is_row)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("the model was trained on typed columns, but features is an array"),
				 errhint("Pass the row to explain: a table's alias (mixrec_explain('model', c) ... FROM clicks c) or ROW(...) of the model's columns.")));
	if (!(model->flags & MIXREC_FLAG_TRANSFORM) && is_row)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("the model takes an array of features, but features is a row"),
				 errhint("Pass the array of features the model was trained on.")));

	/* An explainer for these arguments; names are read again on every call */
	if (!(cache->ready && cache->mode == mode && cache->method == method &&
		  cache->steps == steps && names == NULL))
	{
		MemoryContext old;

		cache->ready = false;
		MemoryContextReset(cache->explainer_context);
		old = MemoryContextSwitchTo(cache->explainer_context);
		ExplainerInit(&cache->explainer, model, mode, method, steps, names, false);
		MemoryContextSwitchTo(old);
		cache->mode = mode;
		cache->method = method;
		cache->steps = steps;
		cache->ready = names == NULL;
	}
	ex = &cache->explainer;
	if (ex->transform)
		RecordEncode(&ex->encoder, PG_GETARG_DATUM(1), ex->x);
	else
		DatumFeatures(PG_GETARG_DATUM(1), get_fn_expr_argtype(fcinfo->flinfo, 1),
					  MlpInputDim(&model->shape), ex->x, false, NULL, NULL);
	ExplainerRun(ex);

	ranked = palloc_array(RankedFeature, ex->n_groups);
	for (int g = 0; g < ex->n_groups; g++)
	{
		ranked[g].magnitude = fabs(ex->attr[EXPLAIN_SCORE][g]);
		ranked[g].group = g;
	}
	qsort(ranked, ex->n_groups, sizeof(RankedFeature), RankedCompare);
	for (int i = 0; i < Min(top_k, ex->n_groups); i++)
	{
		int			g = ranked[i].group;
		Datum		values[6];
		bool		nulls[6] = {false};

		values[0] = CStringGetTextDatum(ex->names[g]);
		values[1] = Float8GetDatum(ex->attr[EXPLAIN_OPEN][g]);
		values[2] = Float8GetDatum(ex->attr[EXPLAIN_COMMERCIAL][g]);
		values[3] = Float8GetDatum(ex->attr[EXPLAIN_SCORE][g]);
		values[4] = Float8GetDatum(ex->base[EXPLAIN_SCORE]);
		values[5] = Float8GetDatum(ex->prob[EXPLAIN_SCORE]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * mixrec_explain(model bytea, features real[] | record, top_k, mode, method,
 *	 steps [, names]) returns table (feature, open, commercial, blend,
 *	 baseline_score, score)
 */
Datum
mixrec_explain(PG_FUNCTION_ARGS)
{
	return ExplainOneRow(fcinfo, false);
}

/*
 * mixrec_explain(model_name text, features real[] | record, top_k, mode,
 *	 method, steps [, names], version) returns the same table
 */
Datum
mixrec_explain_name(PG_FUNCTION_ARGS)
{
	return ExplainOneRow(fcinfo, true);
}

/*
 * Mean absolute attributions over a deterministic sample of a source
 *
 * mixrec_global_explain(model_name, source, sample, method, steps,
 *	 features, names, mode, version) returns table (feature, open,
 *	 commercial, blend)
 *
 * The sample is the first `sample` rows in the order of the md5 of their
 * features' text: the same rows whatever the physical order of the
 * source, and every row when it has no more than `sample`.
 */
Datum
mixrec_global_explain(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	const char *source = ServeText(fcinfo, 1, "source");
	int			sample = ExplainIntArg(fcinfo, 2, "sample", 1, 0);
	ExplainMethod method = ExplainMethodArg(fcinfo, 3);
	int			steps = ExplainIntArg(fcinfo, 4, "steps", 1, MIXREC_EXPLAIN_MAX_STEPS);
	const char *features = PG_ARGISNULL(5) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(5));
	ArrayType  *names = PG_ARGISNULL(6) ? NULL : PG_GETARG_ARRAYTYPE_P(6);
	ScoreMode	mode = ServeMode(fcinfo, 7);
	MixrecModel *model;
	Explainer	ex;
	double	   *sums[3];
	int64		rows = 0;
	static const Oid features_type[] = {InvalidOid};
	SourceShape shape = {
		.arguments = "source and features",
		.columns = "features",
		.ncolumns = 1,
		.types = features_type,
	};
	SPIPlanPtr	plan;
	SourceCursor cursor;
	HeapTuple	tuple;
	RankedFeature *ranked;

	InitMaterializedSRF(fcinfo, 0);
	model = RegistryModel(fcinfo, 0, 8);
	ExplainerInit(&ex, model, mode, method, steps, names, true);
	features = TypedFeaturesArgument(ex.transform, features, "features");
	for (int k = 0; k < 3; k++)
		sums[k] = palloc0_array(double, ex.n_groups);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	plan = SourcePrepare(psprintf("SELECT (%s) FROM %s ORDER BY pg_catalog.md5((%s)::pg_catalog.text) LIMIT %d",
								  features, SourceFrom(source), features, sample),
						 0, NULL, 0, &shape);
	/* Typed columns come as the ROW() mixrec wrote, which the encoder checks */
	if (!ex.transform)
		DatumCheckFeaturesType(TupleDescAttr(SourcePlanColumns(plan), 0)->atttypid, "features");
	SourceOpen(&cursor, plan, "source", EXPLAIN_FETCH_ROWS);
	while ((tuple = SourceNext(&cursor)) != NULL)
	{
		bool		isnull;
		Datum		value = SPI_getbinval(tuple, cursor.desc, 1, &isnull);

		CHECK_FOR_INTERRUPTS();
		if (isnull)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("features are NULL")));
		if (ex.transform)
		{
			/* What reading the columns allocates goes with the fetch */
			MemoryContext old = MemoryContextSwitchTo(cursor.batch_context);

			RecordEncode(&ex.encoder, value, ex.x);
			MemoryContextSwitchTo(old);
		}
		else
			DatumFeatures(value, TupleDescAttr(cursor.desc, 0)->atttypid,
						  MlpInputDim(&model->shape), ex.x, false, NULL, NULL);
		ExplainerRun(&ex);
		for (int k = 0; k < 3; k++)
			for (int g = 0; g < ex.n_groups; g++)
				sums[k][g] += fabs(ex.attr[k][g]);
		rows++;
	}
	SourceClose(&cursor);
	SPI_finish();

	ranked = palloc_array(RankedFeature, ex.n_groups);
	for (int g = 0; g < ex.n_groups; g++)
	{
		ranked[g].magnitude = sums[EXPLAIN_SCORE][g];
		ranked[g].group = g;
	}
	qsort(ranked, ex.n_groups, sizeof(RankedFeature), RankedCompare);
	for (int i = 0; i < ex.n_groups && rows > 0; i++)
	{
		int			g = ranked[i].group;
		Datum		values[4];
		bool		nulls[4] = {false};

		values[0] = CStringGetTextDatum(ex.names[g]);
		for (int k = 0; k < 3; k++)
			values[1 + k] = Float8GetDatum(sums[k][g] / (double) rows);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
