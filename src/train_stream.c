/*
 * src/train_stream.c
 *	  Training on sources larger than memory: one mixrec_fit pass per epoch.
 *
 * Design: when the rows do not fit mixrec.train_memory (or on request,
 * method => 'stream'), mixrec_train runs each epoch as one query
 *
 *	SELECT mixrec_fit_state($model, features, label, weight, domain, $options)
 *	FROM source WHERE <row is not held out>
 *
 * through SPI with no row limit, so the planner may run it as a parallel
 * aggregate (Partial Aggregate in workers, model averaging in the leader);
 * then it trains the rows left in the returned state's pool and takes the
 * model for the next epoch.  Shuffling happens inside each state's pool
 * (a window of pool_batches batches), not across the whole source.
 *
 * Validation rows are chosen by a hash of each row's features and the seed
 * (mixrec_holdout), so the same rows are held out in every epoch without
 * remembering them; they are read into memory once (their share of the
 * budget), standardised, and evaluated after every epoch.  Standardisation
 * of a new model is fitted first, by one aggregate query over the training
 * rows.  Memory held by the training is then: the training state (the model
 * three times over, and the pool), and the validation rows.
 *
 * A training from positives only (src/train_negatives.c) fills each
 * epoch's training state in this backend instead, reading the training
 * rows through a cursor and adding each with its negatives, since the
 * item catalogue they are drawn from is here; the state is finished
 * (StreamEpochFinish) as the aggregate's is.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "datum.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "mixrec.h"
#include "mixrec/fit.h"
#include "mixrec/standardize.h"
#include "options.h"
#include "train_negatives.h"
#include "training.h"
#include "typed.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

PG_FUNCTION_INFO_V1(mixrec_holdout);

/* Partial states per round of a partitioned streamed epoch, at most */
#define STREAM_PARTITIONS_PER_ROUND 4

static int	StreamInputDim(const char *from, const char *features, const char *where);
static const char *StreamFeaturesArray(const TrainArguments *args, MemoryContext context);
static void StreamStandardize(const char *from, const char *features, const char *where,
							  MixrecModel *model);
static MixrecModel *StreamStartModel(const TrainOptions *opts, const TrainArguments *args,
									 int input_dim);
/* What the last epoch's training states counted (summed over its rounds) */
typedef struct StreamCounts
{
	uint64		rows_trained;
	uint64		rows_skipped;
	Size		state_bytes;
	int			states;			/* partial states merged, in the largest round */
} StreamCounts;

/* How an epoch is split: partial states per aggregate, aggregates per epoch */
typedef struct StreamSplit
{
	int			partitions;
	int			rounds;
	bool		distributed;	/* a distributed engine's plan (tasks, not workers) */
} StreamSplit;

static Jsonb *StreamOptions(const TrainOptions *opts, int epoch, int round, int partitions);
static int	StreamCountPartitions(const char *from, const char *where, bool *distributed);
static int	StreamRoundsFor(const TrainOptions *opts, int partitions);
static void StreamValidationRows(const TrainOptions *opts, const TrainArguments *args,
								 const char *val_where, MemoryContext context, TrainRows *val);
static SPIPlanPtr StreamEpochPlan(const char *schema, const TrainArguments *args,
								  const char *from, const char *train_where, bool rounds,
								  bool distributed);
static bytea *StreamEpochState(SPIPlanPtr plan, bytea *model_blob, const TrainOptions *opts,
							   int epoch, int round, const StreamSplit *split,
							   MemoryContext context);
static bytea *StreamEpochFinish(bytea *state_blob, const TrainOptions *opts, int epoch,
								MemoryContext context, LossValue *sum, StreamCounts *counts);

/*
 * A row's place in [0, 1), from a hash of its features and the seed: rows
 * below validation_fraction are held out
 *
 * mixrec_holdout(features anyarray, seed bigint) returns float8
 */
Datum
mixrec_holdout(PG_FUNCTION_ARGS)
{
	ArrayType  *features = PG_GETARG_ARRAYTYPE_P(0);
	uint64		hash = DatumGetUInt64(hash_any_extended((const unsigned char *) VARDATA(features),
														VARSIZE(features) - VARHDRSZ,
														(uint64) PG_GETARG_INT64(1)));

	PG_RETURN_FLOAT8((double) (hash >> 11) * 0x1.0p-53);
}

/*
 * The length of the first training row's features
 */
static int
StreamInputDim(const char *from, const char *features, const char *where)
{
	static const Oid types[] = {INT4OID};
	static const SourceShape shape = {
		.arguments = "source and features",
		.columns = "features",
		.ncolumns = lengthof(types),
		.types = types,
	};
	char	   *query = psprintf("SELECT pg_catalog.cardinality((%s)) FROM %s%s%s LIMIT 1",
								 features, from, where ? " WHERE " : "", where ? where : "");
	SPIPlanPtr	plan = SourcePrepare(query, 0, NULL, CURSOR_OPT_PARALLEL_OK, &shape);
	bool		isnull;
	int32		dim;

	if (SPI_execute_plan(plan, NULL, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the first training row");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("the source has no rows to train on")));
	dim = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (isnull || dim < 1 || dim > MIXREC_MAX_UNITS)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("row 1: features have %d elements, a model takes 1 to %d",
						isnull ? 0 : dim, MIXREC_MAX_UNITS)));
	return dim;
}

/*
 * The features as an array in SQL (the size, the standardisation and the
 * validation split are SQL over them): pgvector's vector through its own
 * cast to real[], so that the split hashes what it hashes for a real[] of
 * the same values; the epochs read the vector as it is, in the datum layer
 */
static const char *
StreamFeaturesArray(const TrainArguments *args, MemoryContext context)
{
	const char *features = args->features;
	TupleDesc	desc;

	if (args->typed)
		return features;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	desc = SourceProbe(SourceQuery(args->source, args->features, args->label, args->domain,
								   args->weight, "false", NULL),
					   NULL, NULL);
	if (DatumIsVectorType(TupleDescAttr(desc, 0)->atttypid))
		features = MemoryContextStrdup(context,
									   psprintf("(%s)::pg_catalog.float4[]", args->features));
	SPI_finish();
	return features;
}

/*
 * Fit standardisation with one aggregate query over the training rows
 */
static void
StreamStandardize(const char *from, const char *features, const char *where,
				  MixrecModel *model)
{
	static const Oid types[] = {INT8OID, FLOAT8OID, FLOAT8OID};
	static const SourceShape shape = {
		.arguments = "source and features",
		.columns = "features",
		.ncolumns = lengthof(types),
		.types = types,
	};
	int			dim = MlpInputDim(&model->shape);
	char	   *query = psprintf("SELECT u.i, pg_catalog.avg(u.v), pg_catalog.stddev_pop(u.v) "
								 "FROM (SELECT (%s)::pg_catalog.float8[] AS f FROM %s%s%s) AS s, "
								 "pg_catalog.unnest(s.f) WITH ORDINALITY AS u(v, i) "
								 "GROUP BY u.i ORDER BY u.i",
								 features, from, where ? " WHERE " : "", where ? where : "");
	SPIPlanPtr	plan = SourcePrepare(query, 0, NULL, CURSOR_OPT_PARALLEL_OK, &shape);

	if (SPI_execute_plan(plan, NULL, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not compute the standardization");
	if (SPI_processed != (uint64) dim)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("the training rows' features do not all have %d elements", dim)));
	for (int j = 0; j < dim; j++)
	{
		bool		null_mean;
		bool		null_std;
		double		mean = DatumGetFloat8(SPI_getbinval(SPI_tuptable->vals[j], SPI_tuptable->tupdesc, 2, &null_mean));
		double		std = DatumGetFloat8(SPI_getbinval(SPI_tuptable->vals[j], SPI_tuptable->tupdesc, 3, &null_std));

		if (null_mean || !isfinite(mean))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("features element %d has no finite mean over the training rows", j + 1)));
		model->mean[j] = (float) mean;
		/* Like StandardizeStatsFinish: a constant feature stays unscaled */
		model->std[j] = (!null_std && isfinite(std) && (float) std > 0.0f) ? (float) std : 1.0f;
	}
}

/*
 * The model of the first epoch: the given one, or a new one
 */
static MixrecModel *
StreamStartModel(const TrainOptions *opts, const TrainArguments *args, int input_dim)
{
	MixrecModel *model;
	MlpShape	shape = opts->shape;
	MixrecError err;

	if (opts->initial)
	{
		if (MlpInputDim(&opts->initial->shape) != input_dim)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("row 1: features have %d elements, expected %d", input_dim,
							MlpInputDim(&opts->initial->shape)),
					 errdetail("The model's input size is %d.", MlpInputDim(&opts->initial->shape))));
		model = opts->initial;
		model->alpha = opts->alpha;
		return model;
	}
	shape.dims[0] = input_dim;
	shape.dims[shape.n_hidden + 1] = 1;
	if (MlpShapeCheck(&shape, &err) != MIXREC_OK)
		ReportCoreError(&err);
	model = ModelAllocate(&shape, opts->standardize ? MIXREC_FLAG_STANDARDIZE : 0,
						  args->typed ? args->typed->section : NULL,
						  args->typed ? args->typed->section_len : 0);
	model->alpha = opts->alpha;
	ModelInitParams(model, opts->seed, opts->init);
	if (args->typed && opts->standardize)
		TransformStandardization(args->typed->transform, model->mean, model->std);
	return model;
}

/*
 * The options of one epoch's mixrec_fit_state: the training's own, with a
 * seed of the epoch's
 */
static Jsonb *
StreamOptions(const TrainOptions *opts, int epoch, int round, int partitions)
{
	TrainOptions epoch_opts = *opts;

	/* Round 0 keeps the seed a streamed epoch has always had */
	epoch_opts.seed = opts->seed + epoch + (uint64) round * UINT64CONST(0x9E3779B97F4A7C15);
	epoch_opts.partitions = partitions;
	return OptionsToJsonb(&epoch_opts, OPTIONS_FIT);
}

/*
 * How many partial aggregates the planner splits an aggregate over the
 * training rows into, from the plan of a count over them: the workers a
 * parallel plan asks for, plus the leader when it takes part, or the tasks
 * (shards) of a distributed engine's plan (Citus: "Task Count").  Read
 * from the plan, not from a run: a parallel scan hands its pages out as
 * the processes ask, so a quick pass leaves workers without rows that an
 * epoch's slower one gives them.
 */
static int
StreamCountPartitions(const char *from, const char *where, bool *distributed)
{
	static const Oid count_type[] = {INT8OID};
	static const SourceShape pass_shape = {
		.arguments = "source",
		.columns = "count",
		.ncolumns = lengthof(count_type),
		.types = count_type,
	};
	static const Oid partitions_type[] = {INT4OID, BOOLOID};
	static const SourceShape partitions_shape = {
		.arguments = "source",
		.columns = "partitions",
		.ncolumns = lengthof(partitions_type),
		.types = partitions_type,
	};
	char	   *pass = psprintf("SELECT pg_catalog.count(*) FROM %s%s%s", from,
								where ? " WHERE " : "", where ? where : "");
	SPIPlanPtr	plan;
	Datum		value;
	bool		isnull;
	Oid			json_type = JSONOID;
	int32		count;

	/*
	 * The pass is checked as every statement is (one SELECT, one bigint);
	 * EXPLAIN of it is then one statement too, whose one json column is
	 * checked before it is read
	 */
	(void) SourcePrepare(pass, 0, NULL, CURSOR_OPT_PARALLEL_OK, &pass_shape);
	if (SPI_execute(psprintf("EXPLAIN (FORMAT JSON) %s", pass), false, 0) < 0 ||
		SPI_processed != 1 || SPI_tuptable->tupdesc->natts != 1 ||
		TupleDescAttr(SPI_tuptable->tupdesc, 0)->atttypid != JSONOID)
		elog(ERROR, "could not plan a pass over the source");
	value = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		return 1;
	plan = SourcePrepare("SELECT pg_catalog.max(CASE WHEN n ? 'Task Count' THEN (n->>'Task Count')::pg_catalog.int4 "
						 "ELSE (n->>'Workers Planned')::pg_catalog.int4 "
						 "+ pg_catalog.current_setting('parallel_leader_participation')::pg_catalog.bool::pg_catalog.int4 END)::pg_catalog.int4, "
						 "pg_catalog.bool_or(n ? 'Task Count') "
						 "FROM pg_catalog.jsonb_path_query($1::pg_catalog.jsonb, "
						 "'strict $.** ? (exists(@.\"Task Count\") || exists(@.\"Workers Planned\"))') AS n",
						 1, &json_type, 0, &partitions_shape);
	if (SPI_execute_plan(plan, &value, NULL, true, 0) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read the plan of a pass over the source");
	count = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (isnull || count < 1)
		return 1;
	*distributed = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull)) &&
		!isnull;
	return Min(count, MIXREC_MAX_PARTITIONS);
}

/*
 * Rounds per epoch for an epoch split over this many partitions: each
 * round is one aggregate over a share of the rows, whose partial states
 * are averaged before the next round starts from the average.  Models
 * that train apart for long drift apart, and their average is then worse
 * than either; measured, four partitions per round keep the average as
 * good as a serial epoch (README, "Partitioned epochs").
 */
static int
StreamRoundsFor(const TrainOptions *opts, int partitions)
{
	if (opts->rounds > 0)
		return opts->rounds;
	return (partitions + STREAM_PARTITIONS_PER_ROUND - 1) / STREAM_PARTITIONS_PER_ROUND;
}

/*
 * The validation rows, in memory and standardised as the model wants:
 * those the holdout condition val_where selects
 */
static void
StreamValidationRows(const TrainOptions *opts, const TrainArguments *args,
					 const char *val_where, MemoryContext context, TrainRows *val)
{
	memset(val, 0, sizeof(*val));
	if (val_where == NULL)
		return;
	val->context = context;
	val->has_weight = args->weight != NULL;
	val->has_domain = args->domain != NULL;
	if (args->typed)
	{
		val->typed = palloc(sizeof(RecordEncoder));
		RecordEncoderInit(val->typed, args->typed->transform, true, context);
		if (args->typed->negatives)
			NegativesRowsInit(args->typed->negatives, val);
	}
	if (opts->initial)
	{
		val->input_dim = MlpInputDim(&opts->initial->shape);
		val->output_dim = MlpOutputDim(&opts->initial->shape);
	}
	ReadSource(SourceQuery(args->source, args->features, args->label, args->domain,
						   args->weight, val_where, args->typed),
			   opts, val);
}

/*
 * Prepare the query of one epoch, run once per epoch with the model and the
 * options as parameters: mixrec_fit_state over the training rows
 */
static SPIPlanPtr
StreamEpochPlan(const char *schema, const TrainArguments *args, const char *from,
				const char *train_where, bool rounds, bool distributed)
{
	static Oid	epoch_types[5] = {BYTEAOID, JSONBOID, INT8OID, FLOAT8OID, FLOAT8OID};
	static const Oid state_type[] = {BYTEAOID};
	static const SourceShape epoch_shape = {
		.arguments = "source, features, label, domain and weight",
		.columns = "features, label, domain and weight",
		.ncolumns = lengthof(state_type),
		.types = state_type,
	};
	/*
	 * The columns go to the aggregate as they are, converted by the same
	 * datum layer as in memory; their types are checked first
	 */
	TupleDesc	desc = SourceProbe(SourceQuery(args->source, args->features, args->label,
											   args->domain, args->weight, "false", args->typed),
								   NULL, args->typed);
	char	   *query;

	if (OidIsValid(get_element_type(TupleDescAttr(desc, 1)->atttypid)))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("this function takes a single label, but label is an array"),
				 errhint("Streamed training trains models of one output: raise mixrec.train_memory to train in memory.")));
	/*
	 * A round takes the rows whose hash (seeded by $3, another seed in every
	 * epoch) falls in [$4, $5)
	 */
	if (rounds)
	{
		char	   *hash = args->typed ? args->typed->round_hash :
			psprintf("%s.mixrec_holdout((%s), $3)", schema, args->features);
		char	   *in_round = psprintf("%s OPERATOR(pg_catalog.>=) $4 AND %s OPERATOR(pg_catalog.<) $5",
										hash, hash);

		train_where = train_where ? psprintf("(%s) AND %s", train_where, in_round) : in_round;
	}
	if (!distributed)
		query = psprintf("SELECT %s.mixrec_fit_rows($1, (%s), (%s), %s, %s, $2) FROM %s%s%s",
						 schema, args->features, args->label,
						 args->weight ? psprintf("(%s)", args->weight) : "1.0::pg_catalog.float8",
						 args->domain ? psprintf("(%s)", args->domain) : "NULL::pg_catalog.text",
						 from, train_where ? " WHERE " : "", train_where ? train_where : "");
	else
	{
		/*
		 * A distributed engine (Citus) pushes an aggregate down only with
		 * arguments of exactly its declared types, which "any" never is:
		 * the public aggregate over the column types it declares, the
		 * columns cast to them (typed columns as the anonymous ROW() the
		 * aggregate reads by position)
		 */
		Oid			label_type = TupleDescAttr(desc, 1)->atttypid;

		query = psprintf("SELECT %s.mixrec_fit_state($1, %s, %s, %s, %s, $2) FROM %s%s%s",
						 schema,
						 args->typed ? psprintf("(%s)", args->features) :
						 psprintf("(%s)::pg_catalog.float4[]", args->features),
						 psprintf(label_type == BOOLOID ? "(%s)::pg_catalog.int4::pg_catalog.float8" :
								  "(%s)::pg_catalog.float8", args->label),
						 args->weight ? psprintf("(%s)::pg_catalog.float8", args->weight) :
						 "1.0::pg_catalog.float8",
						 args->domain ? psprintf("(%s)::pg_catalog.text", args->domain) :
						 "NULL::pg_catalog.text",
						 from, train_where ? " WHERE " : "", train_where ? train_where : "");
	}

	/* No row limit and no cursor: the planner may run it as a parallel aggregate */
	return SourcePrepare(query, rounds ? 5 : 2, epoch_types, CURSOR_OPT_PARALLEL_OK,
						 &epoch_shape);
}

/*
 * Run the epoch query over every training row: the training state it
 * returns, in context
 */
static bytea *
StreamEpochState(SPIPlanPtr plan, bytea *model_blob, const TrainOptions *opts, int epoch,
				 int round, const StreamSplit *split, MemoryContext context)
{
	Datum		values[5];
	bool		isnull;
	Datum		state_datum;
	bytea	   *state_blob;

	values[0] = PointerGetDatum(model_blob);
	values[1] = JsonbPGetDatum(StreamOptions(opts, epoch, round, split->partitions));
	/* A seed of the epoch's, never the validation split's */
	values[2] = Int64GetDatum((int64) (opts->seed + 7919 * (uint64) epoch + 1));
	values[3] = Float8GetDatum((double) round / split->rounds);
	values[4] = Float8GetDatum(round + 1 == split->rounds ? 2.0 : (double) (round + 1) / split->rounds);
	if (SPI_execute_plan(plan, values, NULL, false, 0) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "the epoch query of a streamed training failed");
	MemoryContextSwitchTo(context);
	/*
	 * No row reached the aggregate: NULL, which must not be detoasted.  A
	 * round may be empty (more rounds than rows); the epoch may not.
	 */
	state_datum = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull && split->rounds > 1)
	{
		SPI_freetuptable(SPI_tuptable);
		return NULL;
	}
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("the source has no rows to train on")));
	state_blob = DatumGetByteaPCopy(state_datum);
	SPI_freetuptable(SPI_tuptable);
	return state_blob;
}

/*
 * Finish an epoch's training state: train the rows left in its pool.
 * Returns the model for the next epoch (in the current memory context) and
 * what the state counted.
 */
static bytea *
StreamEpochFinish(bytea *state_blob, const TrainOptions *opts, int epoch, MemoryContext context,
				  LossValue *sum, StreamCounts *counts)
{
	FitState	state;
	FitWork		work;
	MixrecError err;
	float	   *work_floats;
	unsigned char *work_bytes;
	bytea	   *next;

	/* Train the rows left in the pool; the model is the next epoch's */
	if (FitStateOpen((uint8 *) VARDATA(state_blob), VARSIZE(state_blob) - VARHDRSZ, &state,
					 1, &err) != MIXREC_OK)
		ReportCoreError(&err);
	MemoryBudgetCheck(sizeof(float) * (double) FitWorkFloats(&state) + FitWorkBytes(&state) +
					  VARSIZE(state_blob), "training the rows left in a training state",
					  psprintf("A training state of %u bytes and the work areas of batches of %u rows need this much.",
							   (unsigned) VARSIZE(state_blob), state.header.batch_size));
	work_floats = MemoryContextAllocHuge(context, sizeof(float) * FitWorkFloats(&state));
	work_bytes = MemoryContextAllocHuge(context, FitWorkBytes(&state));
	FitWorkBind(&work, &state, work_floats, work_bytes);
	FitStateFlush(&state, &work);
	CheckDiverged(&state.model, epoch, opts->adam.lr);
	/* Sums over the epoch's rounds: the caller divides by the rows */
	counts->rows_trained += state.header.rows_seen;
	counts->rows_skipped += state.header.rows_skipped;
	counts->state_bytes = Max(counts->state_bytes, VARSIZE(state_blob));
	counts->states = Max(counts->states, (int) state.header.states);
	sum->total += state.header.loss_total;
	sum->open += state.header.loss_open;
	sum->commercial += state.header.loss_commercial;

	next = palloc(state.header.model_len + VARHDRSZ);
	SET_VARSIZE(next, state.header.model_len + VARHDRSZ);
	memcpy(VARDATA(next), state.model_blob, state.header.model_len);
	pfree(work_floats);
	pfree(work_bytes);
	pfree(state_blob);
	return next;
}

/*
 * Train with one pass over the source per epoch
 */
Datum
TrainStream(FunctionCallInfo fcinfo, const TrainOptions *opts, const TrainArguments *args,
			MemoryContext result_context, instr_time start)
{
	MemoryContext context = CurrentMemoryContext;
	/* mixrec's own functions, schema-qualified: the schema of this function */
	const char *schema = quote_identifier(get_namespace_name(get_func_namespace(fcinfo->flinfo->fn_oid)));
	char	   *from = SourceFrom(args->source);
	char	   *train_where = NULL;
	char	   *val_where = NULL;
	SPIPlanPtr	epoch_plan = NULL;
	SPIPlanPtr	round_plan = NULL;
	StreamSplit split = {1, 1, false};
	MixrecModel *model;
	bytea	   *model_blob;
	bytea	   *best_blob = NULL;
	TrainRows	val;
	TrainData	val_view;
	TrainWork	eval_work;
	void	   *eval_scratch = NULL;
	uint32	   *val_rows = NULL;
	EpochLog	log;
	StreamCounts counts = {0, 0, 0};
	char	   *metrics;
	bytea	   *weights;
	Negatives  *negatives = args->typed ? args->typed->negatives : NULL;
	char	   *train_query = NULL;
	const char *features_array = StreamFeaturesArray(args, context);

	if (opts->validation_fraction > 0)
	{
		/* Quoted constants: a negative number would need the unary minus */
		char	   *holdout = args->typed ? args->typed->holdout :
			psprintf("%s.mixrec_holdout((%s), '%lld'::pg_catalog.int8)", schema, features_array,
					 (long long) opts->seed);

		train_where = psprintf("%s OPERATOR(pg_catalog.>=) '%.17g'::pg_catalog.float8", holdout,
							   opts->validation_fraction);
		val_where = psprintf("%s OPERATOR(pg_catalog.<) '%.17g'::pg_catalog.float8", holdout,
							 opts->validation_fraction);
	}
	/* Positives only: every row's item, and the training positives of each */
	if (negatives)
		NegativesCountSource(negatives, opts, args);
	StreamValidationRows(opts, args, val_where, context, &val);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	MemoryContextSwitchTo(context);
	/* Positives only: the epochs read the training rows through a cursor */
	if (negatives)
		train_query = SourceQuery(args->source, args->features, args->label, args->domain,
								  args->weight, train_where, args->typed);
	if (!negatives)
	{
		/* Given, or counted: the first epoch's, then each epoch's own */
		int			planned = StreamCountPartitions(from, train_where, &split.distributed);

		split.partitions = opts->partitions > 0 ? opts->partitions : planned;
		split.rounds = StreamRoundsFor(opts, split.partitions);
		epoch_plan = StreamEpochPlan(schema, args, from, train_where, false, split.distributed);
	}
	model = StreamStartModel(opts, args,
							 args->typed ? (int) args->typed->transform->input_dim :
							 StreamInputDim(from, features_array, train_where));
	MemoryContextSwitchTo(context);
	/* Typed columns: standardisation came with the transform */
	if (opts->initial == NULL && args->typed == NULL &&
		(model->flags & MIXREC_FLAG_STANDARDIZE))
		StreamStandardize(from, features_array, train_where, model);
	MemoryContextSwitchTo(context);
	model_blob = ModelToBytea(model);

	if (val.rows > 0)
	{
		if (val.input_dim != MlpInputDim(&model->shape))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("validation rows have %d features, the model takes %d",
							val.input_dim, MlpInputDim(&model->shape))));
		if (model->flags & MIXREC_FLAG_STANDARDIZE)
			StandardizeApply(model->mean, model->std, val.input_dim, val.x, val.rows, val.x);
		if (negatives)
			NegativesExpandValidation(negatives, model, &val);
		TrainRowsView(&val, &val_view);
		val_rows = MemoryContextAllocHuge(context, sizeof(uint32) * val.rows);
		for (Size i = 0; i < val.rows; i++)
			val_rows[i] = (uint32) i;
		eval_scratch = EvaluationWork(model, opts->batch_size, val.rows, &eval_work);
	}

	EpochLogStart(&log, opts, start);
	for (int epoch = 1; epoch <= opts->epochs; epoch++)
	{
		LossValue	sum;
		TrainEval	eval;
		instr_time	epoch_start;
		EpochVerdict verdict;

		EpochLogBegin(&log, epoch);
		INSTR_TIME_SET_CURRENT(epoch_start);
		memset(&sum, 0, sizeof(sum));
		memset(&counts, 0, sizeof(counts));
		if (negatives)
			model_blob = StreamEpochFinish(NegativesEpochState(negatives, train_query, args,
															   model_blob, opts, epoch, context),
										   opts, epoch, context, &sum, &counts);
		else
		{
			if (split.rounds > 1 && round_plan == NULL)
				round_plan = StreamEpochPlan(schema, args, from, train_where, true, split.distributed);
			for (int round = 0; round < split.rounds; round++)
			{
				bytea	   *state_blob = StreamEpochState(split.rounds > 1 ? round_plan : epoch_plan,
														  model_blob, opts, epoch, round, &split,
														  context);

				if (state_blob)
					model_blob = StreamEpochFinish(state_blob, opts, epoch, context, &sum, &counts);
			}
		}
		if (counts.rows_trained == 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("the source has no rows to train on%s",
							counts.rows_skipped ? " (every row was invalid and skipped)" : "")));
		sum.total /= counts.rows_trained;
		sum.open /= counts.rows_trained;
		sum.commercial /= counts.rows_trained;
		/*
		 * More partial states than the plan said (a plan made again, say):
		 * the next epoch is split as this one was, unless the caller fixed
		 * the split.  Fewer are kept as planned: a parallel scan hands its
		 * pages out as the processes ask, and a worker that starts late may
		 * get none in one epoch and its share in the next.  A process that
		 * trains the share of several takes more, smaller steps, which is
		 * safer than too few.
		 */
		if (!negatives && opts->partitions == 0 && counts.states > split.partitions)
		{
			split.partitions = counts.states;
			split.rounds = StreamRoundsFor(opts, split.partitions);
		}
		if (val.rows > 0)
			eval = TrainEvaluate(ModelFromBytea(model_blob), &val_view, val_rows, val.rows,
								 &eval_work, eval_scratch);
		verdict = EpochLogEnd(&log, epoch, &sum, val.rows > 0 ? &eval : NULL, counts.rows_trained,
							  ElapsedMs(epoch_start));
		if (verdict == EPOCH_BEST && opts->patience > 0)
			best_blob = model_blob;
		else if (verdict == EPOCH_STOP)
			break;
	}
	SPI_finish();
	if (best_blob && log.best_epoch < log.epochs_run)
		model_blob = best_blob;

	MemoryContextSwitchTo(result_context);
	metrics = EpochLogMetrics(&log, psprintf("\"method\": \"stream\", \"rows\": %llu, \"train_rows\": %llu, "
											 "\"validation_rows\": %zu, \"skipped_rows\": %llu, "
											 "\"state_bytes\": %zu, \"validation_bytes\": %zu, "
											 "\"partitions\": %d, \"rounds\": %d%s",
											 (unsigned long long) (counts.rows_trained + val.rows),
											 (unsigned long long) counts.rows_trained, val.rows,
											 (unsigned long long) (counts.rows_skipped + val.skipped),
											 counts.state_bytes,
											 val.capacity * (sizeof(float) * (val.input_dim + val.output_dim + 1) + 2),
											 split.partitions, split.rounds,
											 negatives ? NegativesMetrics(negatives) : ""));
	weights = palloc(VARSIZE(model_blob));
	memcpy(weights, model_blob, VARSIZE(model_blob));
	return TrainResult(fcinfo, weights, metrics);
}
