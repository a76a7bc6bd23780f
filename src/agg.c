/*
 * src/agg.c
 *	  The training aggregates: mixrec_fit, mixrec_fit_state and mixrec_merge.
 *
 * Design: mixrec_fit(model, features, label [, weight, domain [, options]])
 * runs one epoch of mini-batch Adam over the rows it sees, starting from
 * model.  Its transition state is a bytea holding a training state
 * (src/core/fit.c: the model with its Adam state, a pool of rows not yet
 * trained on, counters, all under checksums), not an `internal` pointer,
 * so that distributed engines can ship partial states between nodes as
 * ordinary values, and PostgreSQL's parallel workers hand theirs to the
 * leader through the tuple queue.
 *
 * Memory: the first transition call builds the state in the aggregate
 * context; every later call updates that same bytea in place and returns
 * the same pointer, so nodeAgg copies nothing per row.  The scratch space
 * for training a pool (batch buffers, unpacked rows, gradients) does not
 * belong in the state: it lives in a FitCache, with the features buffer,
 * the transform and encoder of typed columns and the trusted addresses
 * (below), sized for the state's shape, and is rebuilt if a state of
 * another shape comes along.  When the function's fn_mcxt outlives the
 * aggregate context (nodeAgg's and WindowAgg's FmgrInfo, in the query's
 * context), the FitCache is its fn_extra, in fn_mcxt, as usual.  A caller
 * may instead call the transition function through a new FmgrInfo on
 * every row, with an fn_mcxt reset per row: Citus's worker_partial_agg,
 * which pushes the aggregate down to shards, does (fmgr_info per row in
 * worker_partial_agg_sfunc).  Such a FitCache lives in the aggregate
 * context itself and is found again by that context, the transition
 * function and the Aggref calling it, in a backend-local list; a reset
 * callback on the aggregate context takes it off the list when the
 * context is reset or deleted, which also frees it.  So the work area is
 * built once per aggregate there too, not once per row.
 *
 * Trust: only a state this transition function has itself validated, at
 * an address it recorded, is opened without re-validation.  Any other
 * state is untrusted however it arrived: an INITCOND of a user-defined
 * aggregate built on mixrec_fit_accum, the copy nodeAgg makes of the state
 * a first call returns, the inputs of the combine function and of
 * mixrec_merge, the input of the final function.  It is validated in full,
 * like a model (magic, version, lengths, checksums, finiteness), before
 * its first use.  The trusted addresses are kept per call site in its
 * FitCache, not in the state's bytes (which anyone can forge), and are
 * forgotten when the aggregate context they live in is reset or deleted,
 * since the memory may then hold another value.  nodeAgg frees a state
 * only when the transition function returns a different pointer, which it
 * never does for a trusted one, so a trusted address cannot be reused
 * while recorded (worker_partial_agg follows the same rule, copied from
 * nodeAgg's).
 *
 * Combining is model averaging weighted by the rows each state has seen,
 * after each state trains the rows left in its pool (see src/core/fit.c).
 * An epoch run in parallel is thus local SGD with averaging, a different
 * (and documented) computation from a serial epoch; its result does not
 * depend on the order in which partial states are combined.
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "catalog/pg_type.h"
#include "datum.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "mixrec.h"
#include "typed.h"
#include "mixrec/fit.h"
#include "mixrec/standardize.h"
#include "options.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

/* How mixrec_fit's option that skips invalid rows is spelled */
#define FIT_SKIP_HINT "Give the option \"on_invalid\": \"skip\" to skip such rows."

PG_FUNCTION_INFO_V1(mixrec_fit_accum);
PG_FUNCTION_INFO_V1(mixrec_fit_combine);
PG_FUNCTION_INFO_V1(mixrec_fit_final);
PG_FUNCTION_INFO_V1(mixrec_merge_accum);
PG_FUNCTION_INFO_V1(mixrec_state_info);

/* A state validated in full at this address, in this aggregate context */
typedef struct TrustedState
{
	MemoryContext context;
	const void *blob;
} TrustedState;

/* The trusted states of one aggregate context, forgotten when it is reset */
typedef struct TrustForget
{
	MemoryContextCallback callback;
	struct FitCache *cache;
	MemoryContext context;
} TrustForget;

/*
 * A call site's cache: scratch space for one shape of state, a features
 * buffer, and the states this call site has validated (in fn_extra, or
 * in the list of FitCacheEntry below)
 */
typedef struct FitCache
{
	MemoryContext mcxt;
	size_t		work_floats;
	size_t		work_bytes;
	FitWork		work;
	int			input_dim;
	float	   *features;
	TrustedState *trusted;		/* in fn_mcxt */
	int			n_trusted;
	int			trusted_capacity;
	bool		types_checked;	/* the row arguments' types, checked once: */
	bool		features_record;	/* typed columns in a row, not an array */
	Oid			features_type;	/* otherwise an array's or pgvector's vector */
	bool		features_by_position;	/* mixrec_fit_rows: the ROW() that
										 * streamed training writes */
	Oid			label_type;
	Oid			weight_type;
	Oid			domain_type;

	/*
	 * The transform of the last model with typed columns, and the encoder
	 * of its rows: loaded from a copy of the section, used again for the
	 * same bytes (the same address in a trusted state, or equal bytes)
	 */
	MemoryContext transform_mcxt;
	uint8	   *section;
	uint32		section_len;
	const uint8 *section_seen;	/* where a trusted state holds those bytes */
	const Transform *transform;
	RecordEncoder encoder;
} FitCache;

/*
 * The FitCache of a call site whose fn_extra does not outlive its
 * aggregate, kept in and found by the aggregate context
 */
typedef struct FitCacheEntry
{
	MemoryContextCallback callback;
	MemoryContext aggcontext;
	Oid			fn_oid;
	const void *aggref;			/* the Aggref calling, NULL if none */
	FitCache   *cache;
	struct FitCacheEntry *next;
} FitCacheEntry;

/* This backend's FitCacheEntry list; entries go with their aggregate context */
static FitCacheEntry *fit_caches = NULL;

static void CheckAggregateContext(FunctionCallInfo fcinfo, const char *name,
								  MemoryContext *aggcontext);
static FitCache *FitCacheCreate(MemoryContext context);
static FitCache *FitCacheOf(FunctionCallInfo fcinfo);
static bool ContextOutlives(MemoryContext context, MemoryContext other);
static FitCache *FitCacheFind(FunctionCallInfo fcinfo, MemoryContext aggcontext);
static FitCache *FitCacheKeep(FunctionCallInfo fcinfo, MemoryContext aggcontext);
static void ForgetFitCache(void *arg);
static FitWork *FitWorkFor(FitCache *cache, const FitState *state);
static Oid	FitArgType(FunctionCallInfo fcinfo, int arg);
static bool FitArgDeclaredAny(FunctionCallInfo fcinfo, int arg);
static void FitCheckArgTypes(FunctionCallInfo fcinfo, FitCache *cache);
static bool FitReadFeatures(FunctionCallInfo fcinfo, FitCache *cache, const Transform *transform,
							const MixrecModel *model, bool skip_invalid);
static const Transform *FitTransformFor(FitCache *cache, MemoryContext aggcontext,
										const bytea *blob, const MixrecModel *model);
static bool StateIsTrusted(FitCache *cache, MemoryContext context, const void *blob);
static void TrustState(FitCache *cache, MemoryContext context, const void *blob);
static void ForgetTrustedStates(void *arg);
static bytea *OpenTransitionState(FunctionCallInfo fcinfo, FitCache *cache,
								  MemoryContext aggcontext, FitState *state);
static void ReportFitError(const MixrecError *err);
static void ParseFitOptions(Jsonb *options, const MixrecModel *model, TrainOptions *opts);
static bytea *CopyState(MemoryContext context, bytea *input, FitState *state);
static void MergeInto(FitCache *cache, FitState *into, bytea *other_blob);

/*
 * Refuse to run a transition or combine function outside an aggregate
 */
static void
CheckAggregateContext(FunctionCallInfo fcinfo, const char *name, MemoryContext *aggcontext)
{
	if (!AggCheckCallContext(fcinfo, aggcontext))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s can only be called as part of an aggregate", name),
				 errhint("Use the aggregates mixrec_fit, mixrec_fit_state or mixrec_merge.")));
}

/*
 * Make an empty cache in a context, with its work area's context under it
 */
static FitCache *
FitCacheCreate(MemoryContext context)
{
	FitCache   *cache = MemoryContextAllocZero(context, sizeof(FitCache));

	cache->mcxt = AllocSetContextCreate(context, "mixrec fit work", ALLOCSET_DEFAULT_SIZES);
	return cache;
}

/*
 * Get the cache of this call site, empty the first time: its fn_extra if
 * fn_mcxt outlives the aggregate, else the one its aggregate context keeps
 */
static FitCache *
FitCacheOf(FunctionCallInfo fcinfo)
{
	FmgrInfo   *flinfo = fcinfo->flinfo;
	MemoryContext aggcontext;
	FitCache   *cache;

	if (flinfo->fn_extra != NULL)
		return (FitCache *) flinfo->fn_extra;
	if (!AggCheckCallContext(fcinfo, &aggcontext))
		aggcontext = NULL;
	else if ((cache = FitCacheFind(fcinfo, aggcontext)) != NULL)
		return cache;
	if (aggcontext == NULL || ContextOutlives(flinfo->fn_mcxt, aggcontext))
	{
		flinfo->fn_extra = FitCacheCreate(flinfo->fn_mcxt);
		return (FitCache *) flinfo->fn_extra;
	}

	/*
	 * Not in fn_extra, which may be gone before the next row: the FmgrInfo
	 * or fn_mcxt of such a caller need not outlive this call
	 */
	return FitCacheKeep(fcinfo, aggcontext);
}

/*
 * Does context live at least as long as other (is it other or one of its
 * ancestors)?
 */
static bool
ContextOutlives(MemoryContext context, MemoryContext other)
{
	for (MemoryContext c = other; c != NULL; c = MemoryContextGetParent(c))
		if (c == context)
			return true;
	return false;
}

/*
 * Find the cache that an aggregate context keeps for this function and
 * Aggref (NULL if none)
 */
static FitCache *
FitCacheFind(FunctionCallInfo fcinfo, MemoryContext aggcontext)
{
	const void *aggref = AggGetAggref(fcinfo);

	for (FitCacheEntry *entry = fit_caches; entry != NULL; entry = entry->next)
		if (entry->aggcontext == aggcontext && entry->fn_oid == fcinfo->flinfo->fn_oid &&
			entry->aggref == aggref)
			return entry->cache;
	return NULL;
}

/*
 * Make a cache that the aggregate context keeps for this function and
 * Aggref
 */
static FitCache *
FitCacheKeep(FunctionCallInfo fcinfo, MemoryContext aggcontext)
{
	FitCacheEntry *entry;

	/*
	 * In the aggregate context: it is freed with it, and the callback takes
	 * it off the list first (a reset deletes the context's children, the
	 * work area's context, then calls the callbacks, then frees its chunks).
	 * Like the states, the work area then counts towards a hashed
	 * aggregate's memory.
	 */
	entry = MemoryContextAllocZero(aggcontext, sizeof(FitCacheEntry));
	entry->aggcontext = aggcontext;
	entry->fn_oid = fcinfo->flinfo->fn_oid;
	entry->aggref = AggGetAggref(fcinfo);
	entry->cache = FitCacheCreate(aggcontext);
	entry->callback.func = ForgetFitCache;
	entry->callback.arg = entry;
	MemoryContextRegisterResetCallback(aggcontext, &entry->callback);
	entry->next = fit_caches;
	fit_caches = entry;
	return entry->cache;
}

/*
 * Reset callback of an aggregate context: take its cache off the list
 */
static void
ForgetFitCache(void *arg)
{
	FitCacheEntry *entry = (FitCacheEntry *) arg;

	for (FitCacheEntry **link = &fit_caches; *link != NULL; link = &(*link)->next)
		if (*link == entry)
		{
			*link = entry->next;
			break;
		}
}

/*
 * Get scratch space for a state's shape, kept in the cache
 */
static FitWork *
FitWorkFor(FitCache *cache, const FitState *state)
{
	size_t		floats = FitWorkFloats(state);
	size_t		bytes = FitWorkBytes(state);
	int			input_dim = MlpInputDim(&state->model.shape);

	if (cache->work_floats != 0 && cache->work_floats == floats &&
		cache->work_bytes == bytes && cache->input_dim == input_dim)
		return &cache->work;

	/*
	 * The work areas of training a pool, beside the state itself (and the
	 * copy of it that nodeAgg keeps)
	 */
	{
		double		state_bytes = (double) MIXREC_FIT_HEADER_BYTES + state->header.model_len +
			(double) state->header.pool_capacity * state->header.row_bytes;

		MemoryBudgetCheck(4.0 * floats + bytes + 2.0 * state_bytes, "training a pool of rows",
						  psprintf("A training state of %.0f MB (a pool of %u rows) and the work areas of batches of %u rows need this much.",
								   ceil(state_bytes / (1024.0 * 1024.0)), state->header.pool_capacity,
								   state->header.batch_size));
	}
	MemoryContextReset(cache->mcxt);
	cache->work_floats = 0;
	FitWorkBind(&cache->work, state,
				MemoryContextAllocHuge(cache->mcxt, sizeof(float) * floats),
				MemoryContextAllocHuge(cache->mcxt, bytes));
	cache->work.train.cancel = MixrecCheckInterrupts;
	cache->features = MemoryContextAlloc(cache->mcxt, sizeof(float) * input_dim);
	cache->input_dim = input_dim;
	cache->work_floats = floats;
	cache->work_bytes = bytes;
	/* Once per aggregate and shape: the aggregates test counts these */
	ereport(DEBUG1,
			(errmsg_internal("mixrec training work area built: %zu kB for a pool of %u rows in batches of %u",
							 (sizeof(float) * floats + bytes + 1023) / 1024,
							 state->header.pool_capacity, state->header.batch_size)));
	BlasEnsureThreads();
	return &cache->work;
}

/*
 * Has this call site validated the state at this address?
 */
static bool
StateIsTrusted(FitCache *cache, MemoryContext context, const void *blob)
{
	for (int i = 0; i < cache->n_trusted; i++)
		if (cache->trusted[i].blob == blob && cache->trusted[i].context == context)
			return true;
	return false;
}

/*
 * Record a state validated in full, and make sure the record goes when
 * its aggregate context is reset or deleted
 */
static void
TrustState(FitCache *cache, MemoryContext context, const void *blob)
{
	bool		watched = false;

	for (int i = 0; i < cache->n_trusted; i++)
		if (cache->trusted[i].context == context)
			watched = true;
	if (!watched)
	{
		/* Allocated in the context it watches: it goes with the context */
		TrustForget *forget = MemoryContextAlloc(context, sizeof(TrustForget));

		forget->cache = cache;
		forget->context = context;
		forget->callback.func = ForgetTrustedStates;
		forget->callback.arg = forget;
		MemoryContextRegisterResetCallback(context, &forget->callback);
	}
	if (cache->n_trusted == cache->trusted_capacity)
	{
		int			capacity = Max(8, cache->trusted_capacity * 2);
		MemoryContext cache_context = GetMemoryChunkContext(cache);

		cache->trusted = cache->trusted == NULL ?
			MemoryContextAlloc(cache_context, sizeof(TrustedState) * capacity) :
			repalloc(cache->trusted, sizeof(TrustedState) * capacity);
		cache->trusted_capacity = capacity;
	}
	cache->trusted[cache->n_trusted].context = context;
	cache->trusted[cache->n_trusted].blob = blob;
	cache->n_trusted++;
}

/*
 * Reset callback of an aggregate context: its states are gone, and the
 * addresses they had may hold anything from now on
 */
static void
ForgetTrustedStates(void *arg)
{
	TrustForget *forget = (TrustForget *) arg;
	FitCache   *cache = forget->cache;
	int			kept = 0;

	for (int i = 0; i < cache->n_trusted; i++)
		if (cache->trusted[i].context != forget->context)
			cache->trusted[kept++] = cache->trusted[i];
	cache->n_trusted = kept;
	cache->section_seen = NULL;
}

/*
 * Open the non-NULL transition state of a call: in place if this call site
 * has validated it before, otherwise validated in full first.  Returns the
 * state to update and return, which is the argument itself unless it had
 * to be detoasted.
 */
static bytea *
OpenTransitionState(FunctionCallInfo fcinfo, FitCache *cache, MemoryContext aggcontext,
					FitState *state)
{
	bytea	   *blob = (bytea *) PG_GETARG_POINTER(0);
	MixrecError err;

	if (StateIsTrusted(cache, aggcontext, blob))
	{
		if (FitStateOpen((uint8 *) VARDATA(blob), VARSIZE(blob) - VARHDRSZ, state, 0,
						 &err) != MIXREC_OK)
			elog(ERROR, "mixrec training state was changed behind the aggregate's back");
		return blob;
	}

	/*
	 * A state seen for the first time.  A compressed, out-of-line or short
	 * one is expanded into the aggregate context; nodeAgg then keeps a copy
	 * of the pointer returned, which the next call validates again.
	 */
	if (VARATT_IS_EXTENDED(blob))
	{
		MemoryContext old = MemoryContextSwitchTo(aggcontext);

		blob = PG_DETOAST_DATUM_COPY(PG_GETARG_DATUM(0));
		MemoryContextSwitchTo(old);
	}
	if (FitStateOpen((uint8 *) VARDATA(blob), VARSIZE(blob) - VARHDRSZ, state, 1,
					 &err) != MIXREC_OK)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("invalid mixrec training state: %s", CoreMessage(&err)),
				 errdetail("The transition state of an aggregate built on mixrec_fit_accum or mixrec_merge_accum must be one that mixrec_fit_state returned, or NULL.")));
	TrustState(cache, aggcontext, blob);
	return blob;
}

/*
 * Raise an error about a training state
 */
static void
ReportFitError(const MixrecError *err)
{
	ReportCoreError(err);
}

/*
 * Read the options of an epoch: the table's defaults, with the model's
 * optimiser settings (or PyTorch's defaults) and alpha, overridden by the
 * options argument
 */
static void
ParseFitOptions(Jsonb *options, const MixrecModel *model, TrainOptions *opts)
{
	OptionsDefaults(opts, OPTIONS_FIT);
	opts->adam = (model->flags & MIXREC_FLAG_OPTIMIZER) ? model->adam : AdamDefaults();
	opts->alpha = model->alpha;
	OptionsFromJsonb(options, OPTIONS_FIT, opts);
	OptionsCheck(opts, OPTIONS_FIT);

	/*
	 * An epoch split over K partial states: each takes batches of
	 * batch_size / K rows (rounded, at least 1), so that each makes as many
	 * Adam steps over its share as a serial epoch makes over all rows; the
	 * state scales the learning rate (src/core/fit.c, TrainPool)
	 */
	if (opts->partitions < 1)
		opts->partitions = 1;
	opts->batch_size = Max(1, (int) rint((double) opts->batch_size / opts->partitions));
}

/*
 * Build a new state from the starting model (also the state a streamed
 * training from positives only feeds, src/train_negatives.c)
 */
bytea *
NewTrainingState(MemoryContext context, const MixrecModel *given, const TrainOptions *opts)
{
	MixrecModel *model;
	uint32		flags = MIXREC_FLAG_OPTIMIZER |
		(given->flags & (MIXREC_FLAG_STANDARDIZE | MIXREC_FLAG_TRANSFORM));
	Size		len;
	bytea	   *state;
	MixrecError err;
	MemoryContext old = MemoryContextSwitchTo(context);

	if (MlpOutputDim(&given->shape) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("mixrec_fit trains models of one output, this model has %d",
						MlpOutputDim(&given->shape)),
				 errhint("Use mixrec_train for models of several outputs.")));

	/* The starting model with an optimiser section, moments kept if it has them */
	/* The state's model reads its rows with the given model's transform */
	model = ModelAllocate(&given->shape, flags, given->transform, given->transform_len);
	memcpy(model->mean ? model->mean : model->params[MIXREC_OPEN],
		   given->mean ? given->mean : given->params[MIXREC_OPEN],
		   sizeof(float) * ModelFloatCount(given));
	model->alpha = opts->alpha;
	model->adam = opts->adam;
	model->adam.lazy_embeddings = OptionsLazyEmbeddings(opts, given);
	model->step = given->step;

	len = FitStateBytes(model, opts->batch_size, opts->pool_batches);
	if (len > MaxAllocSize - VARHDRSZ)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("a training state for this model would need %zu bytes", len),
				 errhint("Use a smaller batch_size or pool_batches.")));
	MemoryBudgetCheck(2.0 * len, "a training state",
					  psprintf("The model with Adam's moments and a pool of %d batches of %d rows take %.0f MB, held twice while the aggregate runs.",
							   opts->pool_batches, opts->batch_size, ceil(len / (1024.0 * 1024.0))));
	state = palloc0(len + VARHDRSZ);
	SET_VARSIZE(state, len + VARHDRSZ);
	if (FitStateCreate((uint8 *) VARDATA(state), len, model, opts->batch_size,
					   opts->pool_batches, Max(opts->partitions, 1),
					   (opts->shuffle ? MIXREC_FIT_SHUFFLE : 0) |
					   (opts->skip_invalid ? MIXREC_FIT_SKIP_INVALID : 0),
					   (uint64) opts->seed, &err) != MIXREC_OK)
		ReportFitError(&err);
	MemoryContextSwitchTo(old);
	return state;
}

/*
 * Copy a state from elsewhere into aligned memory and validate it in full
 */
static bytea *
CopyState(MemoryContext context, bytea *input, FitState *state)
{
	Size		len = VARSIZE_ANY_EXHDR(input);
	bytea	   *copy = MemoryContextAlloc(context, len + VARHDRSZ);
	MixrecError err;

	SET_VARSIZE(copy, len + VARHDRSZ);
	memcpy(VARDATA(copy), VARDATA_ANY(input), len);
	if (FitStateOpen((uint8 *) VARDATA(copy), len, state, 1, &err) != MIXREC_OK)
		ReportFitError(&err);
	return copy;
}

/*
 * The type of a row argument of the transition function: as the aggregate
 * call passes it (for "any", the column's type), else as declared
 */
static Oid
FitArgType(FunctionCallInfo fcinfo, int arg)
{
	Oid			type = get_fn_expr_argtype(fcinfo->flinfo, arg);

	if (!OidIsValid(type))
	{
		Oid		   *types;
		int			nargs;

		(void) get_func_signature(fcinfo->flinfo->fn_oid, &types, &nargs);
		type = arg < nargs ? types[arg] : InvalidOid;
	}
	if (!OidIsValid(type) || type == ANYOID)
		elog(ERROR, "could not determine the type of argument %d of mixrec_fit_accum", arg + 1);
	return type;
}

/*
 * Is an argument of the transition function declared "any" (the form that
 * mixrec_fit_rows, streamed training's aggregate, calls)?
 */
static bool
FitArgDeclaredAny(FunctionCallInfo fcinfo, int arg)
{
	Oid		   *types;
	int			nargs;

	(void) get_func_signature(fcinfo->flinfo->fn_oid, &types, &nargs);
	return arg < nargs && types[arg] == ANYOID;
}

/*
 * Check the types of the row arguments once per call site: the datum layer
 * reads each value as the type it is told
 */
static void
FitCheckArgTypes(FunctionCallInfo fcinfo, FitCache *cache)
{
	Oid			features;

	if (cache->types_checked)
		return;
	features = FitArgType(fcinfo, 2);
	cache->features_type = features;
	cache->features_record = type_is_rowtype(features);
	cache->features_by_position = cache->features_record && FitArgDeclaredAny(fcinfo, 2);
	if (!cache->features_record)
		DatumCheckFeaturesType(features, "features");
	cache->label_type = FitArgType(fcinfo, 3);
	DatumCheckLabelType(cache->label_type);
	cache->weight_type = PG_NARGS() > 4 ? FitArgType(fcinfo, 4) : FLOAT8OID;
	DatumCheckWeightType(cache->weight_type);
	cache->domain_type = PG_NARGS() > 5 ? FitArgType(fcinfo, 5) : TEXTOID;
	DatumCheckDomainType(cache->domain_type);
	cache->types_checked = true;
}

/*
 * The transform of a state's model with typed columns, loaded once per
 * distinct section (NULL for a model of array features)
 */
static const Transform *
FitTransformFor(FitCache *cache, MemoryContext aggcontext, const bytea *blob,
				const MixrecModel *model)
{
	MemoryContext old;

	if (!(model->flags & MIXREC_FLAG_TRANSFORM))
		return NULL;
	/* A trusted state's section is where it was, unchanged: no one else writes it */
	if (cache->transform != NULL && cache->section_seen == model->transform &&
		StateIsTrusted(cache, aggcontext, blob))
		return cache->transform;
	if (cache->transform != NULL && cache->section_len == model->transform_len &&
		memcmp(cache->section, model->transform, model->transform_len) == 0)
	{
		cache->section_seen = StateIsTrusted(cache, aggcontext, blob) ? model->transform : NULL;
		return cache->transform;
	}

	if (cache->transform_mcxt == NULL)
		cache->transform_mcxt = AllocSetContextCreate(GetMemoryChunkContext(cache),
													  "mixrec fit transform",
													  ALLOCSET_DEFAULT_SIZES);
	cache->transform = NULL;
	cache->section_seen = NULL;
	MemoryContextReset(cache->transform_mcxt);
	old = MemoryContextSwitchTo(cache->transform_mcxt);
	cache->section = palloc(model->transform_len);
	memcpy(cache->section, model->transform, model->transform_len);
	cache->section_len = model->transform_len;
	MemoryContextSwitchTo(old);
	cache->transform = TransformLoadSection(cache->section, cache->section_len,
											MlpInputDim(&model->shape), cache->transform_mcxt);
	RecordEncoderInit(&cache->encoder, cache->transform, cache->features_by_position,
					  cache->transform_mcxt);
	if (StateIsTrusted(cache, aggcontext, blob))
		cache->section_seen = model->transform;
	return cache->transform;
}

/*
 * Convert a row's features into cache->features: typed columns in a row
 * through the model's transform, or an array (false: skip the row)
 */
static bool
FitReadFeatures(FunctionCallInfo fcinfo, FitCache *cache, const Transform *transform,
				const MixrecModel *model, bool skip_invalid)
{
	if (transform != NULL)
	{
		RecordEncode(&cache->encoder, PG_GETARG_DATUM(2), cache->features);
		return true;
	}
	return DatumFeatures(PG_GETARG_DATUM(2), cache->features_type, MlpInputDim(&model->shape), cache->features,
						 skip_invalid, FIT_SKIP_HINT, NULL);
}

/*
 * Transition function of mixrec_fit and mixrec_fit_state
 *
 * mixrec_fit_accum(state, model, features, label [, weight, domain [, options]])
 */
Datum
mixrec_fit_accum(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext;
	bytea	   *blob;
	FitState	state;
	FitWork    *work;
	FitCache   *cache;
	float		label;
	float		weight = 1.0f;
	unsigned char open = 1;
	unsigned char commercial = 1;
	const char *invalid = NULL;
	bool		skip_invalid;
	MixrecError err;
	const Transform *transform;

	CheckAggregateContext(fcinfo, "mixrec_fit_accum", &aggcontext);
	cache = FitCacheOf(fcinfo);

	/*
	 * The model argument only starts the state: on later rows it is not
	 * read, so a model that comes TOASTed (joined from mixrec_models) is
	 * not detoasted for each row here.  (A caller that packs the arguments
	 * into a ROW() per row, as worker_partial_agg's callers do, has
	 * expanded it already.)
	 */
	if (PG_ARGISNULL(0))
	{
		MixrecModel *model;
		TrainOptions opts;

		if (PG_ARGISNULL(1))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("model must not be NULL")));
		model = ModelFromBytea(PG_GETARG_BYTEA_PP(1));
		ParseFitOptions(PG_NARGS() > 6 && !PG_ARGISNULL(6) ? PG_GETARG_JSONB_P(6) : NULL,
						model, &opts);
		/*
		 * Built in the per-call context: nodeAgg copies what a transition
		 * function returns anew into the aggregate context
		 */
		blob = NewTrainingState(CurrentMemoryContext, model, &opts);
		if (FitStateOpen((uint8 *) VARDATA(blob), VARSIZE(blob) - VARHDRSZ, &state, 0,
						 &err) != MIXREC_OK)
			ReportFitError(&err);
	}
	else
		blob = OpenTransitionState(fcinfo, cache, aggcontext, &state);
	work = FitWorkFor(cache, &state);
	skip_invalid = (state.header.flags & MIXREC_FIT_SKIP_INVALID) != 0;

	/*
	 * Convert the row with the datum layer; invalid rows (NULLs, values that
	 * are not finite) are an error or, if asked, skipped.  The public
	 * aggregates fix the types (real[] features, float8 label and weight,
	 * text domain); mixrec_fit_rows, which streamed training runs, takes the
	 * source's columns as they are ("any"), so that it accepts what training
	 * in memory accepts.
	 */
	FitCheckArgTypes(fcinfo, cache);
	transform = FitTransformFor(cache, aggcontext, blob, &state.model);
	if (cache->features_record && transform == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("the model takes an array of features, but features is a row"),
				 errhint("Pass the array column, or train a model on typed columns (mixrec_prepare).")));
	if (!cache->features_record && transform != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("the model was trained on typed columns, but features is an array"),
				 errhint("Pass the row of the source (its alias, such as c in FROM clicks c).")));
	if (PG_ARGISNULL(2))
		invalid = "features are NULL";
	else if (PG_ARGISNULL(3))
		invalid = "label is NULL";
	else if (!FitReadFeatures(fcinfo, cache, transform, &state.model, skip_invalid) ||
			 !DatumLabel(PG_GETARG_DATUM(3), cache->label_type, 1, &label, skip_invalid,
						 FIT_SKIP_HINT))
		invalid = "skipped";
	else if (PG_NARGS() > 4 && PG_ARGISNULL(4))
		invalid = "weight is NULL";
	else
	{
		if (PG_NARGS() > 4)
			weight = DatumWeight(PG_GETARG_DATUM(4), cache->weight_type);
		if (PG_NARGS() > 5 && !PG_ARGISNULL(5))
			DatumDomain(PG_GETARG_DATUM(5), cache->domain_type, &open, &commercial);
	}

	if (invalid != NULL)
	{
		if (!skip_invalid)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s", invalid),
					 errhint(FIT_SKIP_HINT)));
		state.header.rows_skipped++;
		FitStateWriteHeader(&state);
		PG_RETURN_BYTEA_P(blob);
	}

	if (state.model.flags & MIXREC_FLAG_STANDARDIZE)
		StandardizeApply(state.model.mean, state.model.std, MlpInputDim(&state.model.shape),
						 cache->features, 1, cache->features);
	FitStateAdd(&state, cache->features, &label, weight, open, commercial, work);
	PG_RETURN_BYTEA_P(blob);
}

/*
 * Flush other's pool and average it into a state of ours
 */
static void
MergeInto(FitCache *cache, FitState *into, bytea *other_blob)
{
	FitState	other;
	MixrecError err;
	bytea	   *copy = CopyState(CurrentMemoryContext, other_blob, &other);

	if (FitStateCompatible(into, &other, &err) != MIXREC_OK)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("%s", CoreMessage(&err))));
	FitStateFlush(&other, FitWorkFor(cache, &other));
	FitStateFlush(into, FitWorkFor(cache, into));
	FitStateAverage(into, &other);
	pfree(copy);
}

/*
 * Combine two partial states: row-weighted model averaging
 *
 * mixrec_fit_combine(a bytea, b bytea) returns bytea
 */
Datum
mixrec_fit_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext;
	FitState	state;
	bytea	   *result;

	CheckAggregateContext(fcinfo, "mixrec_fit_combine", &aggcontext);
	/* STRICT: PostgreSQL itself keeps the other state when one is NULL */
	result = CopyState(aggcontext, PG_GETARG_BYTEA_PP(0), &state);
	MergeInto(FitCacheOf(fcinfo), &state, PG_GETARG_BYTEA_PP(1));
	PG_RETURN_BYTEA_P(result);
}

/*
 * Transition function of mixrec_merge: combine states as they come
 *
 * mixrec_merge_accum(state bytea, incoming bytea) returns bytea
 */
Datum
mixrec_merge_accum(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext;
	FitCache   *cache;
	FitState	state;
	bytea	   *result;

	CheckAggregateContext(fcinfo, "mixrec_merge_accum", &aggcontext);
	cache = FitCacheOf(fcinfo);
	if (PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_BYTEA_P(PG_GETARG_BYTEA_P(0));
	}
	if (PG_ARGISNULL(0))
	{
		result = CopyState(aggcontext, PG_GETARG_BYTEA_PP(1), &state);
		FitStateFlush(&state, FitWorkFor(cache, &state));
		PG_RETURN_BYTEA_P(result);
	}
	result = OpenTransitionState(fcinfo, cache, aggcontext, &state);
	MergeInto(cache, &state, PG_GETARG_BYTEA_PP(1));
	PG_RETURN_BYTEA_P(result);
}

/*
 * Final function: train what is left in the pool and return the model
 *
 * mixrec_fit_final(state bytea) returns bytea
 */
Datum
mixrec_fit_final(PG_FUNCTION_ARGS)
{
	FitState	state;
	MixrecError err;
	bytea	   *copy = CopyState(CurrentMemoryContext, PG_GETARG_BYTEA_PP(0), &state);
	bytea	   *model;

	FitStateFlush(&state, FitWorkFor(FitCacheOf(fcinfo), &state));
	if (ModelCheck(&state.model, &err) != MIXREC_OK)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("training diverged: %s", CoreMessage(&err)),
				 errhint("Lower the learning rate (now %g).", state.model.adam.lr)));
	model = palloc(state.header.model_len + VARHDRSZ);
	SET_VARSIZE(model, state.header.model_len + VARHDRSZ);
	memcpy(VARDATA(model), state.model_blob, state.header.model_len);
	pfree(copy);
	PG_RETURN_BYTEA_P(model);
}

/*
 * Describe a training state: rows, steps, mean training loss
 *
 * mixrec_state_info(state bytea) returns jsonb
 */
Datum
mixrec_state_info(PG_FUNCTION_ARGS)
{
	FitState	state;
	StringInfoData buf;
	double		rows;

	CopyState(CurrentMemoryContext, PG_GETARG_BYTEA_PP(0), &state);
	rows = (double) state.header.rows_seen - state.header.pool_rows;
	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"rows_seen\": %llu, \"rows_skipped\": %llu, \"rows_pooled\": %u, "
					 "\"steps\": %llu, \"batch_size\": %u, \"pool_capacity\": %u, "
					 "\"partitions\": %u, \"states\": %u, \"train_loss\": ",
					 (unsigned long long) state.header.rows_seen,
					 (unsigned long long) state.header.rows_skipped,
					 state.header.pool_rows, (unsigned long long) state.header.steps,
					 state.header.batch_size, state.header.pool_capacity,
					 (unsigned) state.header.partitions, (unsigned) state.header.states);
	if (rows > 0)
		AppendJsonDouble(&buf, state.header.loss_total / rows);
	else
		appendStringInfoString(&buf, "null");
	appendStringInfoString(&buf, ", \"train_loss_open\": ");
	if (rows > 0)
		AppendJsonDouble(&buf, state.header.loss_open / rows);
	else
		appendStringInfoString(&buf, "null");
	appendStringInfoString(&buf, ", \"train_loss_commercial\": ");
	if (rows > 0)
		AppendJsonDouble(&buf, state.header.loss_commercial / rows);
	else
		appendStringInfoString(&buf, "null");
	appendStringInfoChar(&buf, '}');
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}
