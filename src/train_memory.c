/*
 * src/train_memory.c
 *	  mixrec_train_model: train both models on the rows of a table or query.
 *
 * Design: the SQL function mixrec_train (sql/mixrec.sql) validates the
 * model name, finds the model to continue from, calls mixrec_train_model
 * and stores the result in the registry.  This file does the work between:
 *
 *	1. Build one SELECT of the features, label, domain and weight
 *	   expressions over the source, and
 *	2. read its rows into compact float32 arrays within the memory budget
 *	   mixrec.train_memory (both in src/train_source.c).
 *	3. Split off a validation set from the seed, fit standardisation on the
 *	   training rows, initialise the model (or continue a given one).
 *	4. Run the epochs: shuffled mini-batch Adam steps on both models (the
 *	   core's TrainStep), an evaluation of the validation rows, a NOTICE and
 *	   a progress line in pg_stat_activity per epoch, early stopping.
 *
 * A source of positives only (label => NULL with items) adds each
 * positive's negatives after step 3 and draws the training rows' anew at
 * the start of every epoch (src/train_negatives.c).
 *
 * Memory: everything the run needs lives in the "mixrec training" context,
 * a child of the caller's context, created before SPI_connect so that SPI's
 * own contexts (the cursor's tuples, freed fetch by fetch) stay separate.
 * The results are copied to the caller's context and the training context
 * is deleted; on an error or a cancel, the transaction's cleanup frees it,
 * and nothing has been written anywhere.
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "mixrec.h"
#include "mixrec/random.h"
#include "mixrec/standardize.h"
#include "mixrec/train.h"
#include "options.h"
#include "train_negatives.h"
#include "training.h"
#include "typed.h"
#include "pgstat.h"
#include "portability/instr_time.h"
#include "tcop/tcopprot.h"
#include "utils/plancache.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

PG_FUNCTION_INFO_V1(mixrec_train_model);

/* The planner's estimate of a source's size */
typedef struct SourceEstimate
{
	double		rows;
	double		bytes;			/* rows x (width + a row's bookkeeping) */
} SourceEstimate;

/* The rows of a training run, split into training and validation rows */
typedef struct TrainSplit
{
	uint32	   *train_rows;		/* [n_train], shuffled each epoch */
	uint32	   *val_rows;		/* [n_val] */
	Size		n_train;
	Size		n_val;
} TrainSplit;

static void ParseOptions(FunctionCallInfo fcinfo, TrainOptions *opts);
static void CheckWorkBeforeReading(const TrainOptions *opts);
static void ReadIntoMemory(const char *query, const TrainOptions *opts,
						   const TrainArguments *args, const SourceEstimate *estimate,
						   MemoryContext context, TrainRows *data);
static void SplitValidation(const TrainRows *data, const TrainOptions *opts,
							MemoryContext context, TrainSplit *split);
static void SplitByHoldout(const TrainRows *data, MemoryContext context, TrainSplit *split);
static void CheckWorkWithRows(const TrainOptions *opts, const TrainArguments *args,
							  const TrainRows *data,
							  const TrainSplit *split);
static void Standardize(MixrecModel *model, const TrainOptions *opts, TrainRows *data,
						const TrainSplit *split);
static LossValue TrainOneEpoch(MixrecModel *model, const TrainOptions *opts,
							   const TrainData *view, TrainSplit *split, TrainWork *work,
							   MixrecRandom *rng, int epoch);
static void TrainEpochs(MixrecModel *model, const TrainOptions *opts, const TrainRows *data,
						TrainSplit *split, MemoryContext context, EpochLog *log,
						Negatives *negatives);
static bool EstimateFits(const char *query, const TypedTraining *typed, SourceEstimate *estimate);
static MixrecModel *StartModel(const TrainOptions *opts, const TrainArguments *args,
							   const TrainRows *data);
static double TrainWorkNeed(const MlpShape *shape, bool standardize, const TypedTraining *typed,
						   int batch_size,
							Size n_val, bool keep_best);
static void CheckEnoughRows(const TrainRows *data, const uint32 *rows, Size n,
							double alpha);

/*
 * Read and validate the arguments of mixrec_train_model: the options
 * jsonb (src/options.c), the model to continue and the name for progress
 */
static void
ParseOptions(FunctionCallInfo fcinfo, TrainOptions *opts)
{
	/*
	 * features may be NULL: every typed column of the source; label too,
	 * for a source of positives only (src/train_negatives.c says when)
	 */
	static const char *const names[] = {"source"};

	for (int i = 0; i < lengthof(names); i++)
		if (names[i] && PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not be NULL", names[i])));

	/* Every default, the aggregates' too: a streamed training passes them on */
	OptionsDefaults(opts, OPTIONS_TRAIN | OPTIONS_FIT);
	OptionsFromJsonb(PG_ARGISNULL(5) ? NULL : PG_GETARG_JSONB_P(5), OPTIONS_TRAIN, opts);
	OptionsCheck(opts, OPTIONS_TRAIN);
	opts->initial = PG_ARGISNULL(6) ? NULL : ModelFromBytea(PG_GETARG_BYTEA_PP(6));
	opts->model_name = PG_ARGISNULL(7) ? "" : text_to_cstring(PG_GETARG_TEXT_PP(7));
}

/*
 * Does the source fit the memory budget, by the planner's estimate of its
 * rows and their width?  Planning reads no row: it is the price of one
 * prepared statement.  The width is that of the values the query returns
 * (a real[] of n features is about 4n + 24 bytes, close to the 4n + 4 the
 * rows take in memory; a float8[] counts about twice what it takes).
 */
static bool
EstimateFits(const char *query, const TypedTraining *typed, SourceEstimate *estimate)
{
	SPIPlanPtr	plan;
	CachedPlan *cplan;
	PlannedStmt *stmt;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	/* The checks of reading it: one SELECT of the columns read */
	(void) SourceProbe(query, NULL, typed);
	plan = SPI_prepare(query, 0, NULL);
	if (plan == NULL)
		elog(ERROR, "could not prepare the query: %s", SPI_result_code_string(SPI_result));
	cplan = SPI_plan_get_cached_plan(plan);
	if (cplan == NULL || list_length(cplan->stmt_list) != 1)
		elog(ERROR, "could not plan the query of the source");
	stmt = linitial_node(PlannedStmt, cplan->stmt_list);
	estimate->rows = stmt->planTree->plan_rows;
	/* 4 bytes of row number, 4 of slack per row */
	estimate->bytes = estimate->rows * (stmt->planTree->plan_width + 8.0);
	/* Positives only: each row with its negatives, and the item catalogue */
	if (typed && typed->negatives)
		estimate->bytes = NegativesEstimateBytes(typed->negatives, estimate->bytes);
	ReleaseCachedPlan(cplan, NULL);
	SPI_freeplan(plan);
	SPI_finish();
	return estimate->bytes <= (double) MemoryBudget();
}

/*
 * The bytes a training holds besides its rows: the model with Adam's
 * moments (twice with early stopping, for the best epoch's copy), the work
 * area of a batch, and the work area of evaluating n_val rows
 */
static double
TrainWorkNeed(const MlpShape *shape, bool standardize, const TypedTraining *typed,
			  int batch_size, Size n_val, bool keep_best)
{
	MixrecModel like = {0};
	double		need;

	like.shape = *shape;
	like.flags = MIXREC_FLAG_OPTIMIZER | (standardize ? MIXREC_FLAG_STANDARDIZE : 0);
	if (typed != NULL)
		ModelAttachTransform(&like, typed->section, typed->section_len);
	need = 4.0 * ModelFloatCount(&like) * (keep_best ? 2 : 1) +
		4.0 * TrainWorkFloats(&like, batch_size) + TrainWorkBytes(&like, batch_size);
	if (n_val > 0)
	{
		int			chunk = (int) Min((Size) Max(batch_size, 1024), n_val);

		need += 4.0 * TrainWorkFloats(&like, chunk) + TrainWorkBytes(&like, chunk) +
			TrainEvalScratchBytes(n_val, MlpOutputDim(shape));
	}
	return need;
}

/*
 * Create the model to train: a new one, or a copy of the given one
 */
static MixrecModel *
StartModel(const TrainOptions *opts, const TrainArguments *args, const TrainRows *data)
{
	MixrecModel *model;
	MixrecError err;
	uint32		flags = MIXREC_FLAG_OPTIMIZER;
	/* The transform the rows were read with, a given model's or fitted */
	const uint8 *section = args->typed ? args->typed->section : NULL;
	uint32		section_len = args->typed ? args->typed->section_len : 0;

	if (opts->initial)
	{
		const MixrecModel *given = opts->initial;

		if (given->flags & MIXREC_FLAG_STANDARDIZE)
			flags |= MIXREC_FLAG_STANDARDIZE;
		model = ModelAllocate(&given->shape, flags, section, section_len);
		model->alpha = opts->alpha;
		if (given->flags & MIXREC_FLAG_STANDARDIZE)
		{
			memcpy(model->mean, given->mean, sizeof(float) * MlpInputDim(&given->shape));
			memcpy(model->std, given->std, sizeof(float) * MlpInputDim(&given->shape));
		}
		for (int k = 0; k < MIXREC_MODELS; k++)
			memcpy(model->params[k], given->params[k], sizeof(float) * ModelParamCount(given));
		/* Continue the optimiser if the model carries its state */
		if (given->flags & MIXREC_FLAG_OPTIMIZER)
		{
			size_t		params = ModelParamCount(given);

			model->step = given->step;
			for (int k = 0; k < MIXREC_MODELS; k++)
			{
				memcpy(model->m[k], given->m[k], sizeof(float) * params);
				memcpy(model->v[k], given->v[k], sizeof(float) * params);
			}
		}
	}
	else
	{
		MlpShape	shape = opts->shape;

		shape.dims[0] = data->input_dim;
		shape.dims[shape.n_hidden + 1] = data->output_dim;
		if (MlpShapeCheck(&shape, &err) != MIXREC_OK)
			ReportCoreError(&err);
		if (opts->standardize)
			flags |= MIXREC_FLAG_STANDARDIZE;
		model = ModelAllocate(&shape, flags, section, section_len);
		model->alpha = opts->alpha;
		ModelInitParams(model, opts->seed, opts->init);
	}
	model->adam = opts->adam;
	model->adam.lazy_embeddings = OptionsLazyEmbeddings(opts, opts->initial ? opts->initial : model);
	return model;
}

/*
 * Refuse to train a model that no row (or only zero weights) would teach
 */
static void
CheckEnoughRows(const TrainRows *data, const uint32 *rows, Size n, double alpha)
{
	double		open = 0;
	double		commercial = 0;

	for (Size i = 0; i < n; i++)
	{
		Size		r = rows[i];
		double		weight = data->has_weight ? data->w[r] : 1.0;

		open += (!data->has_domain || data->o[r]) ? weight : 0.0;
		commercial += (!data->has_domain || data->c[r]) ? weight : 0.0;
	}
	if (alpha > 0.0 && open == 0.0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("no training row counts for the open model, but alpha is %g", alpha),
				 errhint("Rows count for the open model when their domain is 'open' or NULL and their weight is positive; alpha => 0 trains the commercial model alone.")));
	if (alpha < 1.0 && commercial == 0.0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("no training row counts for the commercial model, but alpha is %g", alpha),
				 errhint("Rows count for the commercial model when their domain is 'commercial' or NULL and their weight is positive; alpha => 1 trains the open model alone.")));
}

/*
 * Refuse a batch whose work areas alone exceed the budget before reading a
 * row: the hidden layers and the batch size are known, the input and
 * output sizes are at least 1
 */
static void
CheckWorkBeforeReading(const TrainOptions *opts)
{
	MlpShape	least = opts->initial ? opts->initial->shape : opts->shape;

	least.dims[0] = opts->initial ? MlpInputDim(&opts->initial->shape) : 1;
	least.dims[least.n_hidden + 1] = opts->initial ? MlpOutputDim(&opts->initial->shape) : 1;
	MemoryBudgetCheck(TrainWorkNeed(&least, opts->standardize, NULL, opts->batch_size, 0,
									opts->patience > 0),
					  "training",
					  psprintf("The model and the work areas of a batch of %d rows need this much before any row is read.",
							   opts->batch_size));
}

/*
 * Read the source's rows into memory; estimate is the planner's, when
 * method 'auto' chose memory from it (a wrong estimate is then an error
 * that says so)
 */
static void
ReadIntoMemory(const char *query, const TrainOptions *opts, const TrainArguments *args,
			   const SourceEstimate *estimate, MemoryContext context, TrainRows *data)
{
	memset(data, 0, sizeof(*data));
	data->context = context;
	data->has_weight = args->weight != NULL;
	data->has_domain = args->domain != NULL;
	data->stop_when_full = estimate != NULL;
	if (args->typed)
	{
		data->typed = palloc(sizeof(RecordEncoder));
		RecordEncoderInit(data->typed, args->typed->transform, true, context);
		data->holdout_fraction = opts->validation_fraction;
		if (args->typed->negatives)
			NegativesRowsInit(args->typed->negatives, data);
	}
	if (opts->initial)
	{
		/* A given model fixes the sizes every row must have */
		data->input_dim = MlpInputDim(&opts->initial->shape);
		data->output_dim = MlpOutputDim(&opts->initial->shape);
	}
	ReadSource(query, opts, data);
	if (data->full)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the source does not fit mixrec.train_memory, although the planner estimated that it would"),
				 errdetail("The planner estimated %.0f rows taking %.0f kB; the budget of %zu kB was full after %zu rows.",
						   estimate->rows, ceil(estimate->bytes / 1024.0),
						   MemoryBudget() / 1024, data->rows),
				 errhint("Give method => 'stream', or run ANALYZE on the source's tables so that the estimate is closer.")));
	if (data->rows == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("the source has no rows to train on%s",
						data->skipped ? psprintf(" (%zu invalid rows were skipped)", data->skipped) : "")));
}

/*
 * Split typed rows as their holdout hash decided, the rule the fit of the
 * transform followed: the transform saw the training rows only
 */
static void
SplitByHoldout(const TrainRows *data, MemoryContext context, TrainSplit *split)
{
	Size		t = 0;
	Size		v = 0;

	split->n_val = 0;
	for (Size i = 0; i < data->rows; i++)
		split->n_val += data->holdout[i];
	split->n_train = data->rows - split->n_val;
	if (split->n_train == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("the validation split leaves no training rows out of %zu", data->rows)));
	split->train_rows = MemoryContextAllocHuge(context, sizeof(uint32) * (split->n_train + 1));
	split->val_rows = MemoryContextAllocHuge(context, sizeof(uint32) * (split->n_val + 1));
	for (Size i = 0; i < data->rows; i++)
	{
		if (data->holdout[i])
			split->val_rows[v++] = (uint32) i;
		else
			split->train_rows[t++] = (uint32) i;
	}
}

/*
 * Split off the validation rows, drawn from the seed; the training rows
 * keep the source's order
 */
static void
SplitValidation(const TrainRows *data, const TrainOptions *opts, MemoryContext context,
				TrainSplit *split)
{
	unsigned char *is_val;
	uint32	   *all;
	MixrecRandom rng;
	Size		t = 0;
	Size		v = 0;

	if (data->typed)
	{
		SplitByHoldout(data, context, split);
		return;
	}
	split->n_val = (Size) floor(data->rows * opts->validation_fraction);
	split->n_train = data->rows - split->n_val;
	if (split->n_train == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("validation_fraction %g leaves no training rows out of %zu",
						opts->validation_fraction, data->rows)));

	is_val = MemoryContextAllocZero(context, data->rows);
	all = MemoryContextAllocHuge(context, sizeof(uint32) * data->rows);
	for (Size i = 0; i < data->rows; i++)
		all[i] = (uint32) i;
	RandomSeed(&rng, opts->seed ^ UINT64_C(0x5851F42D4C957F2D));
	for (Size i = 0; i < split->n_val; i++)
	{
		Size		j = i + RandomBelow(&rng, data->rows - i);
		uint32		swap = all[i];

		all[i] = all[j];
		all[j] = swap;
		is_val[all[i]] = 1;
	}
	split->train_rows = MemoryContextAllocHuge(context, sizeof(uint32) * (split->n_train + 1));
	split->val_rows = MemoryContextAllocHuge(context, sizeof(uint32) * (split->n_val + 1));
	for (Size i = 0; i < data->rows; i++)
	{
		if (is_val[i])
			split->val_rows[v++] = (uint32) i;
		else
			split->train_rows[t++] = (uint32) i;
	}
	pfree(all);
	pfree(is_val);
}

/*
 * The rows are in memory: refuse if the model and its work areas cannot
 * join them within the budget
 */
static void
CheckWorkWithRows(const TrainOptions *opts, const TrainArguments *args, const TrainRows *data,
				  const TrainSplit *split)
{
	MlpShape	shape = opts->initial ? opts->initial->shape : opts->shape;
	/* Positives only: the rows the negatives will take, and the catalogue */
	double		held = Max((double) data->capacity,
						   (double) data->rows * Max(data->rows_per_row, 1));
	double		rows_bytes = held *
		(sizeof(float) * (data->input_dim + data->output_dim) +
		 (data->has_weight ? sizeof(float) : 0) + (data->has_domain ? 2 : 0)) +
		sizeof(uint32) * (held + 2) + data->reserved_bytes;
	double		work;

	shape.dims[0] = data->input_dim;
	shape.dims[shape.n_hidden + 1] = data->output_dim;
	work = TrainWorkNeed(&shape, opts->initial ? (opts->initial->flags & MIXREC_FLAG_STANDARDIZE) != 0 :
						 opts->standardize, args->typed, opts->batch_size,
						 split->n_val * Max(data->rows_per_row, 1), opts->patience > 0);
	MemoryBudgetCheck(rows_bytes + work, "training",
					  psprintf("%zu rows take %.0f MB; the model and its work areas (batches of %d rows, %zu validation rows) take %.0f MB.",
							   (Size) (data->rows * Max(data->rows_per_row, 1)),
							   ceil(rows_bytes / (1024.0 * 1024.0)), opts->batch_size,
							   split->n_val * Max(data->rows_per_row, 1),
							   ceil(work / (1024.0 * 1024.0))));
}

/*
 * Standardise the rows: statistics fitted on the training rows of a new
 * model (a given model keeps its own), applied to every row
 */
static void
Standardize(MixrecModel *model, const TrainOptions *opts, TrainRows *data,
			const TrainSplit *split)
{
	if (!(model->flags & MIXREC_FLAG_STANDARDIZE))
		return;
	if (opts->initial == NULL && data->typed)
		TransformStandardization(data->typed->transform, model->mean, model->std);
	else if (opts->initial == NULL)
	{
		StandardizeStats stats;
		double	   *mean = palloc_array(double, data->input_dim);
		double	   *m2 = palloc_array(double, data->input_dim);

		StandardizeStatsInit(&stats, data->input_dim, mean, m2);
		for (Size i = 0; i < split->n_train; i++)
			StandardizeStatsAdd(&stats, data->x + (Size) split->train_rows[i] * data->input_dim, 1);
		StandardizeStatsFinish(&stats, model->mean, model->std);
	}
	StandardizeApply(model->mean, model->std, data->input_dim, data->x, data->rows, data->x);
}

/*
 * One epoch over the training rows, shuffled first if asked: the mean
 * losses (a step whose loss is not finite stops the training)
 */
static LossValue
TrainOneEpoch(MixrecModel *model, const TrainOptions *opts, const TrainData *view,
			  TrainSplit *split, TrainWork *work, MixrecRandom *rng, int epoch)
{
	LossValue	sum = {0, 0, 0};

	if (opts->shuffle)
		for (Size i = split->n_train - 1; i > 0; i--)
		{
			Size		j = RandomBelow(rng, i + 1);
			uint32		swap = split->train_rows[i];

			split->train_rows[i] = split->train_rows[j];
			split->train_rows[j] = swap;
		}

	for (Size first = 0; first < split->n_train; first += opts->batch_size)
	{
		int			n = (int) Min((Size) opts->batch_size, split->n_train - first);
		LossValue	loss;

		CHECK_FOR_INTERRUPTS();
		loss = TrainStep(model, view, split->train_rows + first, n, work);
		if (!isfinite(loss.total))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("training diverged in epoch %d: the loss is %s", epoch,
							isnan(loss.total) ? "NaN" : "infinite"),
					 errhint("Lower learning_rate (now %g), or standardize the features.",
							 opts->adam.lr)));
		sum.total += loss.total * n;
		sum.open += loss.open * n;
		sum.commercial += loss.commercial * n;
	}
	sum.total /= split->n_train;
	sum.open /= split->n_train;
	sum.commercial /= split->n_train;
	return sum;
}

/*
 * Run the epochs, with a validation pass after each and early stopping;
 * the model ends as the best epoch's when early stopping kept one
 */
static void
TrainEpochs(MixrecModel *model, const TrainOptions *opts, const TrainRows *data,
			TrainSplit *split, MemoryContext context, EpochLog *log, Negatives *negatives)
{
	Size		floats = ModelFloatCount(model);
	TrainWork	work;
	TrainWork	eval_work;
	void	   *eval_scratch = NULL;
	float	   *best = NULL;
	int64		best_step = 0;
	TrainData	view;
	MixrecRandom rng;

	TrainWorkBind(&work, model, opts->batch_size,
				  MemoryContextAllocHuge(context, sizeof(float) * TrainWorkFloats(model, opts->batch_size)),
				  MemoryContextAllocHuge(context, TrainWorkBytes(model, opts->batch_size)));
	if (split->n_val > 0)
		eval_scratch = EvaluationWork(model, opts->batch_size, split->n_val, &eval_work);
	if (opts->patience > 0)
		best = MemoryContextAllocHuge(context, sizeof(float) * floats);
	TrainRowsView(data, &view);

	RandomSeed(&rng, opts->seed ^ UINT64_C(0x2545F4914F6CDD1D));
	for (int epoch = 1; epoch <= opts->epochs; epoch++)
	{
		LossValue	sum;
		TrainEval	eval;
		instr_time	epoch_start;
		double		epoch_ms;
		EpochVerdict verdict;

		EpochLogBegin(log, epoch);
		INSTR_TIME_SET_CURRENT(epoch_start);
		/* Positives only: the training rows' negatives of this epoch */
		if (negatives)
			NegativesDrawEpoch(negatives, data, epoch);
		sum = TrainOneEpoch(model, opts, &view, split, &work, &rng, epoch);
		epoch_ms = ElapsedMs(epoch_start);
		CheckDiverged(model, epoch, opts->adam.lr);
		if (split->n_val > 0)
			eval = TrainEvaluate(model, &view, split->val_rows, split->n_val, &eval_work, eval_scratch);
		verdict = EpochLogEnd(log, epoch, &sum, split->n_val > 0 ? &eval : NULL, split->n_train,
							  epoch_ms);
		if (verdict == EPOCH_BEST && best)
		{
			memcpy(best, model->mean ? model->mean : model->params[MIXREC_OPEN], sizeof(float) * floats);
			best_step = model->step;
		}
		else if (verdict == EPOCH_STOP)
			break;
	}
	if (best && log->best_epoch > 0 && log->best_epoch < log->epochs_run)
	{
		memcpy(model->mean ? model->mean : model->params[MIXREC_OPEN], best, sizeof(float) * floats);
		model->step = best_step;
	}
}

/*
 * Train both models on the rows of a table or query
 *
 * mixrec_train_model(source, features, label, domain, weight, options jsonb,
 *	 initial_model bytea, model_name text) returns (weights bytea, metrics jsonb)
 */
Datum
mixrec_train_model(PG_FUNCTION_ARGS)
{
	MemoryContext caller_context = CurrentMemoryContext;
	MemoryContext train_context;
	TrainOptions opts;
	TrainArguments args;
	TrainRows	data;
	TrainSplit	split;
	MixrecModel *model;
	EpochLog	log;
	char	   *metrics;
	bytea	   *weights;
	instr_time	start;
	char	   *query;
	bool		estimated = false;
	SourceEstimate estimate = {0, 0};
	Negatives  *negatives;

	INSTR_TIME_SET_CURRENT(start);
	BlasEnsureThreads();
	train_context = AllocSetContextCreate(CurrentMemoryContext, "mixrec training",
										  ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(train_context);
	ParseOptions(fcinfo, &opts);
	args.source = text_to_cstring(PG_GETARG_TEXT_PP(0));
	args.features = PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1));
	args.label = PG_ARGISNULL(2) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(2));
	args.domain = PG_ARGISNULL(3) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(3));
	args.weight = PG_ARGISNULL(4) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(4));
	args.typed = NULL;
	negatives = NegativesCheckArguments(&opts, &args);
	CheckWorkBeforeReading(&opts);
	TypedTrainingPrepare(&opts, &args,
						 get_namespace_name(get_func_namespace(fcinfo->flinfo->fn_oid)));
	if (negatives)
		NegativesPrepare(negatives, &opts, &args);

	/*
	 * 1. method => 'auto': in memory if the planner's estimate of the rows
	 * fits the budget, else streamed, decided before a row is read
	 */
	query = SourceQuery(args.source, args.features, args.label, args.domain, args.weight, NULL,
						args.typed);
	if (opts.method == TRAIN_AUTO)
	{
		estimated = true;
		opts.method = EstimateFits(query, args.typed, &estimate) ? TRAIN_MEMORY : TRAIN_STREAM;
	}
	if (opts.method != TRAIN_MEMORY)
	{
		/* Asked for, or estimated too large for mixrec.train_memory */
		Datum		result = TrainStream(fcinfo, &opts, &args, caller_context, start);

		MemoryContextSwitchTo(caller_context);
		MemoryContextDelete(train_context);
		return result;
	}

	/* 2. Read the rows; 3. split off the validation rows */
	ReadIntoMemory(query, &opts, &args, estimated ? &estimate : NULL, train_context, &data);
	SplitValidation(&data, &opts, train_context, &split);
	if (negatives)
		NegativesCount(negatives, &data, split.train_rows, split.n_train);
	CheckEnoughRows(&data, split.train_rows, split.n_train, opts.alpha);
	CheckWorkWithRows(&opts, &args, &data, &split);

	/* 4. The model, standardisation, and the epochs */
	model = StartModel(&opts, &args, &data);
	if (MlpInputDim(&model->shape) != data.input_dim || MlpOutputDim(&model->shape) != data.output_dim)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("the model takes %d features and has %d outputs, the data have %d and %d",
						MlpInputDim(&model->shape), MlpOutputDim(&model->shape),
						data.input_dim, data.output_dim)));
	Standardize(model, &opts, &data, &split);
	if (negatives)
		NegativesExpand(negatives, model, &data, &split.train_rows, &split.n_train,
						&split.val_rows, &split.n_val);
	EpochLogStart(&log, &opts, start);
	TrainEpochs(model, &opts, &data, &split, train_context, &log, negatives);

	/* Results, in the caller's context */
	MemoryContextSwitchTo(caller_context);
	metrics = EpochLogMetrics(&log, psprintf("\"method\": \"memory\", \"rows\": %zu, \"train_rows\": %zu, "
											 "\"validation_rows\": %zu, \"skipped_rows\": %zu%s",
											 data.rows, split.n_train, split.n_val, data.skipped,
											 negatives ? NegativesMetrics(negatives) : ""));
	weights = ModelToBytea(model);
	MemoryContextDelete(train_context);
	PG_RETURN_DATUM(TrainResult(fcinfo, weights, metrics));
}
