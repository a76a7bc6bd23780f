/*
 * src/train.c
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
#include "training.h"
#include "pgstat.h"
#include "portability/instr_time.h"
#include "tcop/tcopprot.h"
#include "utils/plancache.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

PG_FUNCTION_INFO_V1(mixrec_train_model);

/* The planner's estimate of a source's size */
typedef struct SourceEstimate
{
	double		rows;
	double		bytes;			/* rows x (width + a row's bookkeeping) */
} SourceEstimate;

static void ParseOptions(FunctionCallInfo fcinfo, TrainOptions *opts);
static bool EstimateFits(const char *query, SourceEstimate *estimate);
static MixrecModel *StartModel(const TrainOptions *opts, const TrainRows *data);
static double TrainWorkNeed(const MlpShape *shape, bool standardize, int batch_size,
							Size n_val, bool keep_best);
static void CheckEnoughRows(const TrainRows *data, const uint32 *rows, Size n,
							double alpha);
static void AppendEpochJson(StringInfo buf, int epoch, const LossValue *train,
							const TrainEval *eval, bool has_eval, double rows_per_second,
							double elapsed_ms);
static void AppendNullableDouble(StringInfo buf, double value);
static void ReportEpoch(const TrainOptions *opts, int epoch, const LossValue *train,
						const TrainEval *eval, bool has_eval, double rows_per_second);
static void ReportProgress(const TrainOptions *opts, int epoch, double last_loss);

/*
 * Read and validate the arguments of mixrec_train_model: the options
 * jsonb (src/options.c), the model to continue and the name for progress
 */
static void
ParseOptions(FunctionCallInfo fcinfo, TrainOptions *opts)
{
	static const char *const names[] = {"source", "features", "label"};

	for (int i = 0; i < lengthof(names); i++)
		if (PG_ARGISNULL(i))
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
EstimateFits(const char *query, SourceEstimate *estimate)
{
	SPIPlanPtr	plan;
	CachedPlan *cplan;
	PlannedStmt *stmt;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	/* The checks of reading it: one SELECT of the columns read */
	(void) SourceProbe(query, NULL);
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
TrainWorkNeed(const MlpShape *shape, bool standardize, int batch_size, Size n_val,
			  bool keep_best)
{
	uint32		flags = MIXREC_FLAG_OPTIMIZER | (standardize ? MIXREC_FLAG_STANDARDIZE : 0);
	double		need = 4.0 * ModelFloatCount(shape, flags) * (keep_best ? 2 : 1) +
		4.0 * TrainWorkFloats(shape, batch_size) + TrainWorkBytes(batch_size);

	if (n_val > 0)
	{
		int			chunk = (int) Min((Size) Max(batch_size, 1024), n_val);

		need += 4.0 * TrainWorkFloats(shape, chunk) + TrainWorkBytes(chunk) +
			TrainEvalScratchBytes(n_val, MlpOutputDim(shape));
	}
	return need;
}

/*
 * Create the model to train: a new one, or a copy of the given one
 */
static MixrecModel *
StartModel(const TrainOptions *opts, const TrainRows *data)
{
	MixrecModel *model;
	MixrecError err;
	uint32		flags = MIXREC_FLAG_OPTIMIZER;

	if (opts->initial)
	{
		const MixrecModel *given = opts->initial;

		if (given->flags & MIXREC_FLAG_STANDARDIZE)
			flags |= MIXREC_FLAG_STANDARDIZE;
		model = ModelAllocate(&given->shape, flags);
		model->alpha = opts->alpha;
		if (given->flags & MIXREC_FLAG_STANDARDIZE)
		{
			memcpy(model->mean, given->mean, sizeof(float) * MlpInputDim(&given->shape));
			memcpy(model->std, given->std, sizeof(float) * MlpInputDim(&given->shape));
		}
		memcpy(model->open, given->open, sizeof(float) * MlpParamCount(&given->shape));
		memcpy(model->commercial, given->commercial,
			   sizeof(float) * MlpParamCount(&given->shape));
		/* Continue the optimiser if the model carries its state */
		if (given->flags & MIXREC_FLAG_OPTIMIZER)
		{
			size_t		params = MlpParamCount(&given->shape);

			model->step = given->step;
			memcpy(model->m_open, given->m_open, sizeof(float) * params);
			memcpy(model->v_open, given->v_open, sizeof(float) * params);
			memcpy(model->m_commercial, given->m_commercial, sizeof(float) * params);
			memcpy(model->v_commercial, given->v_commercial, sizeof(float) * params);
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
		model = ModelAllocate(&shape, flags);
		model->alpha = opts->alpha;
		ModelInitParams(model, opts->seed, opts->init);
	}
	model->adam = opts->adam;
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
 * Stop a training whose parameters or moments left the finite numbers
 * (a finite loss does not prove they did not)
 */
void
CheckDiverged(const MixrecModel *model, int epoch, double lr)
{
	MixrecError err;

	if (ModelCheck(model, &err) != MIXREC_OK)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("training diverged in epoch %d: %s", epoch, err.message),
				 errhint("Lower learning_rate (now %g), or standardize the features.", lr)));
}

/*
 * Append a double as JSON, NaN as null
 */
static void
AppendNullableDouble(StringInfo buf, double value)
{
	if (isfinite(value))
		AppendJsonDouble(buf, value);
	else
		appendStringInfoString(buf, "null");
}

/*
 * Append one epoch's metrics as a JSON object
 */
static void
AppendEpochJson(StringInfo buf, int epoch, const LossValue *train, const TrainEval *eval,
				bool has_eval, double rows_per_second, double elapsed_ms)
{
	const char *const names[] = {
		"train_loss", "train_loss_open", "train_loss_commercial",
		"validation_loss", "validation_loss_open", "validation_loss_commercial",
		"validation_auc_open", "validation_auc_commercial", "validation_auc_blend",
		"rows_per_second", "elapsed_ms"
	};
	double		values[lengthof(names)];

	values[0] = train->total;
	values[1] = train->open;
	values[2] = train->commercial;
	values[3] = has_eval ? eval->loss.total : NAN;
	values[4] = has_eval ? eval->loss.open : NAN;
	values[5] = has_eval ? eval->loss.commercial : NAN;
	values[6] = has_eval ? eval->auc_open : NAN;
	values[7] = has_eval ? eval->auc_commercial : NAN;
	values[8] = has_eval ? eval->auc_blend : NAN;
	values[9] = rows_per_second;
	values[10] = elapsed_ms;

	appendStringInfo(buf, "{\"epoch\": %d", epoch);
	for (int i = 0; i < lengthof(names); i++)
	{
		appendStringInfo(buf, ", \"%s\": ", names[i]);
		AppendNullableDouble(buf, values[i]);
	}
	appendStringInfoChar(buf, '}');
}

/*
 * Send the NOTICE of one epoch
 */
static void
ReportEpoch(const TrainOptions *opts, int epoch, const LossValue *train,
			const TrainEval *eval, bool has_eval, double rows_per_second)
{
	if (has_eval)
		ereport(NOTICE,
				(errmsg("epoch %d/%d: train loss %.4f (open %.4f, commercial %.4f), validation loss %.4f, AUC open %.3f, commercial %.3f, blend %.3f, %.0f rows/s",
						epoch, opts->epochs, train->total, train->open, train->commercial,
						eval->loss.total, eval->auc_open, eval->auc_commercial,
						eval->auc_blend, rows_per_second)));
	else
		ereport(NOTICE,
				(errmsg("epoch %d/%d: train loss %.4f (open %.4f, commercial %.4f), %.0f rows/s",
						epoch, opts->epochs, train->total, train->open, train->commercial,
						rows_per_second)));
}

/*
 * Show the progress in pg_stat_activity.query, ahead of the query itself:
 * the running epoch, and the loss of the one before
 */
static void
ReportProgress(const TrainOptions *opts, int epoch, double last_loss)
{
	char	   *line;

	if (isfinite(last_loss))
		line = psprintf("/* mixrec_train %s: epoch %d/%d, train loss %.4f after epoch %d */ %s",
						opts->model_name, epoch, opts->epochs, last_loss, epoch - 1,
						debug_query_string ? debug_query_string : "");
	else
		line = psprintf("/* mixrec_train %s: epoch %d/%d */ %s",
						opts->model_name, epoch, opts->epochs,
						debug_query_string ? debug_query_string : "");
	pgstat_report_activity(STATE_RUNNING, line);
	pfree(line);
}

/*
 * Milliseconds since start
 */
double
ElapsedMs(instr_time start)
{
	instr_time	now;

	INSTR_TIME_SET_CURRENT(now);
	INSTR_TIME_SUBTRACT(now, start);
	return INSTR_TIME_GET_MILLISEC(now);
}

/*
 * Start the per-epoch record of a training run that started at start
 * (elapsed times count from there: reading the rows included)
 */
void
EpochLogStart(EpochLog *log, const TrainOptions *opts, instr_time start)
{
	memset(log, 0, sizeof(*log));
	log->opts = opts;
	log->best_loss = INFINITY;
	log->last_loss = NAN;
	log->start = start;
	initStringInfo(&log->json);
}

/*
 * Begin an epoch: honour a cancel, show the progress
 */
void
EpochLogBegin(EpochLog *log, int epoch)
{
	CHECK_FOR_INTERRUPTS();
	ReportProgress(log->opts, epoch, log->last_loss);
}

/*
 * Record a finished epoch: its JSON, its NOTICE, the best epoch so far.
 * Returns EPOCH_BEST when this epoch has the best validation loss yet,
 * EPOCH_STOP when early stopping ends the training, else EPOCH_GO_ON.
 */
EpochVerdict
EpochLogEnd(EpochLog *log, int epoch, const LossValue *train, const TrainEval *eval,
			double rows, double epoch_ms)
{
	double		rows_per_second = rows / Max(epoch_ms / 1000.0, 1e-9);

	if (epoch > 1)
		appendStringInfoString(&log->json, ", ");
	AppendEpochJson(&log->json, epoch, train, eval, eval != NULL, rows_per_second,
					ElapsedMs(log->start));
	ReportEpoch(log->opts, epoch, train, eval, eval != NULL, rows_per_second);
	log->last_loss = train->total;
	log->epochs_run = epoch;

	if (eval != NULL && eval->loss.total < log->best_loss)
	{
		log->best_loss = eval->loss.total;
		log->best_epoch = epoch;
		return EPOCH_BEST;
	}
	if (log->opts->patience > 0 && epoch - log->best_epoch >= log->opts->patience)
	{
		log->stopped_early = true;
		return EPOCH_STOP;
	}
	return EPOCH_GO_ON;
}

/*
 * Build the metrics of a training run; fields are extra JSON members
 */
char *
EpochLogMetrics(EpochLog *log, const char *fields)
{
	StringInfoData metrics;

	initStringInfo(&metrics);
	appendStringInfo(&metrics, "{%s, \"epochs_run\": %d, \"stopped_early\": %s, "
					 "\"best_epoch\": %s, \"elapsed_ms\": ",
					 fields, log->epochs_run, log->stopped_early ? "true" : "false",
					 log->best_epoch > 0 ? psprintf("%d", log->best_epoch) : "null");
	AppendJsonDouble(&metrics, ElapsedMs(log->start));
	appendStringInfo(&metrics, ", \"epochs\": [%s]}", log->json.data);
	return metrics.data;
}

/*
 * Set up scratch space to evaluate n_rows validation rows: a TrainWork for
 * chunks (larger than training batches: no gradients, fewer BLAS calls)
 * that honours a cancel between chunks, and the scratch TrainEvaluate
 * needs, which is returned
 */
void *
EvaluationWork(const MlpShape *shape, int batch_size, Size n_rows, TrainWork *work)
{
	int			chunk = (int) Min((Size) Max(batch_size, 1024), n_rows);

	TrainWorkBind(work, shape, chunk,
				  MemoryContextAllocHuge(CurrentMemoryContext, sizeof(float) * TrainWorkFloats(shape, chunk)),
				  palloc(TrainWorkBytes(chunk)));
	/* A large validation set is scored in one core call: check between chunks */
	work->cancel = MixrecCheckInterrupts;
	return MemoryContextAllocHuge(CurrentMemoryContext,
								  TrainEvalScratchBytes(n_rows, MlpOutputDim(shape)));
}

/*
 * Return (weights, metrics) as the function's result row
 */
Datum
TrainResult(FunctionCallInfo fcinfo, bytea *weights, const char *metrics)
{
	TupleDesc	result_desc;
	Datum		result[2];
	bool		result_nulls[2] = {false, false};

	if (get_call_result_type(fcinfo, NULL, &result_desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "mixrec_train_model must return a record");
	result[0] = PointerGetDatum(weights);
	result[1] = DirectFunctionCall1(jsonb_in, CStringGetDatum(metrics));
	return HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(result_desc), result, result_nulls));
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
	TrainData	view;
	MixrecModel *model;
	TrainWork	work;
	TrainWork	eval_work;
	uint32	   *train_rows;
	uint32	   *val_rows;
	Size		n_train;
	Size		n_val;
	void	   *eval_scratch = NULL;
	float	   *best = NULL;
	int64		best_step = 0;
	EpochLog	log;
	char	   *metrics;
	bytea	   *weights;
	MixrecRandom rng;
	Size		floats;
	instr_time	start;
	char	   *query;
	bool		estimated = false;
	SourceEstimate estimate = {0, 0};

	INSTR_TIME_SET_CURRENT(start);
	BlasEnsureThreads();
	train_context = AllocSetContextCreate(CurrentMemoryContext, "mixrec training",
										  ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(train_context);
	ParseOptions(fcinfo, &opts);
	args.source = text_to_cstring(PG_GETARG_TEXT_PP(0));
	args.features = text_to_cstring(PG_GETARG_TEXT_PP(1));
	args.label = text_to_cstring(PG_GETARG_TEXT_PP(2));
	args.domain = PG_ARGISNULL(3) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(3));
	args.weight = PG_ARGISNULL(4) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(4));

	/*
	 * Refuse a batch whose work areas alone exceed the budget before reading
	 * a row: the hidden layers and the batch size are known, the input and
	 * output sizes are at least 1
	 */
	{
		MlpShape	least = opts.initial ? opts.initial->shape : opts.shape;

		least.dims[0] = opts.initial ? MlpInputDim(&opts.initial->shape) : 1;
		least.dims[least.n_hidden + 1] = opts.initial ? MlpOutputDim(&opts.initial->shape) : 1;
		MemoryBudgetCheck(TrainWorkNeed(&least, opts.standardize, opts.batch_size, 0,
										opts.patience > 0),
						  "training",
						  psprintf("The model and the work areas of a batch of %d rows need this much before any row is read.",
								   opts.batch_size));
	}

	/*
	 * 1. method => 'auto': in memory if the planner's estimate of the rows
	 * fits the budget, else streamed, decided before a row is read
	 */
	query = SourceQuery(args.source, args.features, args.label, args.domain, args.weight, NULL);
	if (opts.method == TRAIN_AUTO)
	{
		estimated = true;
		opts.method = EstimateFits(query, &estimate) ? TRAIN_MEMORY : TRAIN_STREAM;
	}

	/* 2. Read the source into memory, unless it is to be streamed */
	memset(&data, 0, sizeof(data));
	if (opts.method == TRAIN_MEMORY)
	{
		data.context = train_context;
		data.has_weight = args.weight != NULL;
		data.has_domain = args.domain != NULL;
		/* A wrong estimate: stop reading at the budget, to say so below */
		data.stop_when_full = estimated;
		if (opts.initial)
		{
			/* A given model fixes the sizes every row must have */
			data.input_dim = MlpInputDim(&opts.initial->shape);
			data.output_dim = MlpOutputDim(&opts.initial->shape);
		}
		ReadSource(query, &opts, &data);
		if (data.full)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("the source does not fit mixrec.train_memory, although the planner estimated that it would"),
					 errdetail("The planner estimated %.0f rows taking %.0f kB; the budget of %zu kB was full after %zu rows.",
							   estimate.rows, ceil(estimate.bytes / 1024.0),
							   MemoryBudget() / 1024, data.rows),
					 errhint("Give method => 'stream', or run ANALYZE on the source's tables so that the estimate is closer.")));
	}
	else
	{
		/* Asked for, or estimated too large for mixrec.train_memory */
		Datum		result = TrainStream(fcinfo, &opts, &args, caller_context, start);

		MemoryContextSwitchTo(caller_context);
		MemoryContextDelete(train_context);
		return result;
	}
	if (data.rows == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("the source has no rows to train on%s",
						data.skipped ? psprintf(" (%zu invalid rows were skipped)", data.skipped) : "")));

	/* 3. Validation split from the seed; training rows keep source order */
	n_val = (Size) floor(data.rows * opts.validation_fraction);
	n_train = data.rows - n_val;
	if (n_train == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("validation_fraction %g leaves no training rows out of %zu",
						opts.validation_fraction, data.rows)));
	{
		unsigned char *is_val = palloc0(data.rows);
		uint32	   *all = MemoryContextAllocHuge(train_context, sizeof(uint32) * data.rows);
		Size		t = 0;
		Size		v = 0;

		for (Size i = 0; i < data.rows; i++)
			all[i] = (uint32) i;
		RandomSeed(&rng, opts.seed ^ UINT64_C(0x5851F42D4C957F2D));
		for (Size i = 0; i < n_val; i++)
		{
			Size		j = i + RandomBelow(&rng, data.rows - i);
			uint32		swap = all[i];

			all[i] = all[j];
			all[j] = swap;
			is_val[all[i]] = 1;
		}
		train_rows = MemoryContextAllocHuge(train_context, sizeof(uint32) * (n_train + 1));
		val_rows = MemoryContextAllocHuge(train_context, sizeof(uint32) * (n_val + 1));
		for (Size i = 0; i < data.rows; i++)
		{
			if (is_val[i])
				val_rows[v++] = (uint32) i;
			else
				train_rows[t++] = (uint32) i;
		}
		pfree(all);
		pfree(is_val);
	}
	CheckEnoughRows(&data, train_rows, n_train, opts.alpha);

	/* The rows are in memory: can the model and its work areas join them? */
	{
		MlpShape	shape = opts.initial ? opts.initial->shape : opts.shape;
		double		rows_bytes = (double) (data.capacity) *
			(sizeof(float) * (data.input_dim + data.output_dim) +
			 (data.has_weight ? sizeof(float) : 0) + (data.has_domain ? 2 : 0)) +
			sizeof(uint32) * (double) (data.rows + 2);
		double		work = 0;

		shape.dims[0] = data.input_dim;
		shape.dims[shape.n_hidden + 1] = data.output_dim;
		work = TrainWorkNeed(&shape, opts.initial ? (opts.initial->flags & MIXREC_FLAG_STANDARDIZE) != 0 :
							 opts.standardize, opts.batch_size, n_val, opts.patience > 0);
		MemoryBudgetCheck(rows_bytes + work, "training",
						  psprintf("%zu rows take %.0f MB; the model and its work areas (batches of %d rows, %zu validation rows) take %.0f MB.",
								   data.rows, ceil(rows_bytes / (1024.0 * 1024.0)), opts.batch_size,
								   n_val, ceil(work / (1024.0 * 1024.0))));
	}

	model = StartModel(&opts, &data);
	if (MlpInputDim(&model->shape) != data.input_dim || MlpOutputDim(&model->shape) != data.output_dim)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("the model takes %d features and has %d outputs, the data have %d and %d",
						MlpInputDim(&model->shape), MlpOutputDim(&model->shape),
						data.input_dim, data.output_dim)));

	/* Standardise: fit on the training rows of a new model, then apply */
	if (model->flags & MIXREC_FLAG_STANDARDIZE)
	{
		if (opts.initial == NULL)
		{
			StandardizeStats stats;
			double	   *mean = palloc_array(double, data.input_dim);
			double	   *m2 = palloc_array(double, data.input_dim);

			StandardizeStatsInit(&stats, data.input_dim, mean, m2);
			for (Size i = 0; i < n_train; i++)
				StandardizeStatsAdd(&stats, data.x + (Size) train_rows[i] * data.input_dim, 1);
			StandardizeStatsFinish(&stats, model->mean, model->std);
		}
		StandardizeApply(model->mean, model->std, data.input_dim, data.x, data.rows, data.x);
	}

	/* 4. Train */
	floats = ModelFloatCount(&model->shape, model->flags);
	TrainWorkBind(&work, &model->shape, opts.batch_size,
				  MemoryContextAllocHuge(train_context, sizeof(float) * TrainWorkFloats(&model->shape, opts.batch_size)),
				  palloc(TrainWorkBytes(opts.batch_size)));
	if (n_val > 0)
		eval_scratch = EvaluationWork(&model->shape, opts.batch_size, n_val, &eval_work);
	if (opts.patience > 0)
		best = MemoryContextAllocHuge(train_context, sizeof(float) * floats);

	TrainRowsView(&data, &view);

	EpochLogStart(&log, &opts, start);
	RandomSeed(&rng, opts.seed ^ UINT64_C(0x2545F4914F6CDD1D));
	for (int epoch = 1; epoch <= opts.epochs; epoch++)
	{
		LossValue	sum = {0, 0, 0};
		TrainEval	eval;
		instr_time	epoch_start;
		double		epoch_ms;
		EpochVerdict verdict;

		EpochLogBegin(&log, epoch);
		INSTR_TIME_SET_CURRENT(epoch_start);

		if (opts.shuffle)
			for (Size i = n_train - 1; i > 0; i--)
			{
				Size		j = RandomBelow(&rng, i + 1);
				uint32		swap = train_rows[i];

				train_rows[i] = train_rows[j];
				train_rows[j] = swap;
			}

		for (Size first = 0; first < n_train; first += opts.batch_size)
		{
			int			n = (int) Min((Size) opts.batch_size, n_train - first);
			LossValue	loss;

			CHECK_FOR_INTERRUPTS();
			loss = TrainStep(model, &view, train_rows + first, n, &work);
			if (!isfinite(loss.total))
				ereport(ERROR,
						(errcode(ERRCODE_DATA_EXCEPTION),
						 errmsg("training diverged in epoch %d: the loss is %s", epoch,
								isnan(loss.total) ? "NaN" : "infinite"),
						 errhint("Lower learning_rate (now %g), or standardize the features.",
								 opts.adam.lr)));
			sum.total += loss.total * n;
			sum.open += loss.open * n;
			sum.commercial += loss.commercial * n;
		}
		epoch_ms = ElapsedMs(epoch_start);
		CheckDiverged(model, epoch, opts.adam.lr);
		sum.total /= n_train;
		sum.open /= n_train;
		sum.commercial /= n_train;

		if (n_val > 0)
			eval = TrainEvaluate(model, &view, val_rows, n_val, &eval_work, eval_scratch);
		verdict = EpochLogEnd(&log, epoch, &sum, n_val > 0 ? &eval : NULL, n_train, epoch_ms);
		if (verdict == EPOCH_BEST && best)
		{
			memcpy(best, model->mean ? model->mean : model->open, sizeof(float) * floats);
			best_step = model->step;
		}
		else if (verdict == EPOCH_STOP)
			break;
	}
	if (best && log.best_epoch > 0 && log.best_epoch < log.epochs_run)
	{
		memcpy(model->mean ? model->mean : model->open, best, sizeof(float) * floats);
		model->step = best_step;
	}

	/* Results, in the caller's context */
	MemoryContextSwitchTo(caller_context);
	metrics = EpochLogMetrics(&log, psprintf("\"method\": \"memory\", \"rows\": %zu, \"train_rows\": %zu, "
											 "\"validation_rows\": %zu, \"skipped_rows\": %zu",
											 data.rows, n_train, n_val, data.skipped));
	weights = ModelToBytea(model);
	MemoryContextDelete(train_context);
	PG_RETURN_DATUM(TrainResult(fcinfo, weights, metrics));
}
