/*
 * src/score.c
 *	  mixrec_score and mixrec_score_all: score one feature vector.
 *
 * A query that scores a million rows with the same model must parse that
 * model once, not a million times.  The decoded model, its scratch buffers
 * and the soup parameters live in fn_extra, in a memory context under
 * fn_mcxt that lives as long as the query's expression.
 *
 * A model given as bytea is used again only for the very bytes it was
 * decoded and validated from: the cache keeps a copy of them and compares
 * each row's model with it.  A checksum the blob carries proves nothing (a
 * corrupted or forged blob carries whatever checksum it likes), so it is no
 * key.  Two cheaper tests stand in for the comparison where identity is
 * certain: the argument is a Const of the expression (the same pointer to
 * the same bytes for as long as the expression lives), or it is the same
 * pointer to a value stored out of line in TOAST as the one validated.
 *
 * A model by name is read again whenever the registry may look different
 * to the statement: see ScoreSnapshotKey.
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "access/detoast.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "datum.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "mixrec.h"
#include "mixrec/predict.h"
#include "mixrec/score_plan.h"
#include "mixrec/standardize.h"
#include "nodes/primnodes.h"
#include "typed.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

PG_FUNCTION_INFO_V1(mixrec_score);
PG_FUNCTION_INFO_V1(mixrec_score_all);
PG_FUNCTION_INFO_V1(mixrec_score_name);
PG_FUNCTION_INFO_V1(mixrec_score_all_name);
PG_FUNCTION_INFO_V1(mixrec_transform);
PG_FUNCTION_INFO_V1(mixrec_transform_name);

/*
 * What a model read by name was read under.  Two statements see the same
 * registry rows when their MVCC snapshots have the same contents (xmin,
 * xmax, the running transactions), the same command id (the transaction's
 * own earlier writes), the same subtransaction (a rolled back
 * subtransaction's writes vanish without a new command id) and the same
 * user (whom row-level security on the registry lets read which rows).
 * xmin, xmax and command id alone are not enough: a transaction that
 * commits while an older one still runs moves neither.  Nor is the
 * snapshot's snapXactCompletionCount, which would change on every commit:
 * the active snapshot is a copy, and copies have it zeroed.
 */
typedef struct ScoreSnapshotKey
{
	bool		valid;
	Oid			user;
	SubTransactionId subxact;
	CommandId	curcid;
	TransactionId xmin;
	TransactionId xmax;
	uint32		xcnt;
	int32		subxcnt;		/* 0 when subxip is not in use */
	bool		suboverflowed;
	bool		taken_during_recovery;
	TransactionId *xip;			/* [xcnt] */
	TransactionId *subxip;		/* [subxcnt] */
} ScoreSnapshotKey;

typedef struct ScoreCache
{
	MemoryContext mcxt;			/* holds everything below */
	Const	   *const_arg;		/* the model argument if a Const, else NULL */
	bool		features_row;	/* the features argument is a row (typed columns) */
	Oid			features_type;	/* its type */

	/* Key of a model given as bytea: model != NULL && name == NULL */
	char	   *blob;			/* a copy of the bytes validated */
	Size		blob_len;
	bool		from_const;		/* validated from const_arg's value */
	bool		toast_valid;	/* validated from the TOAST value toast */
	struct varatt_external toast;

	/* Key of a model by name: name != NULL */
	char	   *name;
	int			name_len;
	int32		version;		/* the version asked for (-1: active) */
	ScoreSnapshotKey snapshot;

	MixrecModel *model;			/* NULL while nothing valid is cached */
	const Transform *transform; /* of a model of typed columns, else NULL */
	RecordEncoder encoder;		/* its rows, bound once per row type */

	/*
	 * Typed columns make rows of mostly zero inputs (one-hot, multi-hot):
	 * such a row is standardised where it needs to be and its first layers
	 * read only its nonzero inputs (SparseScore)
	 */
	MixrecModel plain;			/* the model without its standardisation */
	int		   *scaled;			/* the inputs standardisation changes */
	int			n_scaled;
	int		   *nz;				/* [input_dim] the nonzero inputs of a row */
	float	   *first_t[3];		/* the first layers transposed: open,
								 * commercial, soup (valid with soup_valid) */
	float	   *acts;			/* MlpActivationFloats(shape, 1) */
	float	   *features;		/* [input_dim] */
	float	   *work;			/* ScoreWorkFloats(model, 1) */
	double	   *scores;			/* [output_dim] */
	float	   *soup;			/* [params], valid for soup_alpha */
	bool		soup_valid;
	double		soup_alpha;

	/*
	 * A model of arrays (no transform) is scored with its plan: the weights
	 * laid out once for the one-row kernels (include/mixrec/score_plan.h)
	 */
	bool		has_plan;
	ScorePlan	plan;
	float	   *plan_work;		/* ScorePlanRowFloats */
} ScoreCache;

static ScoreCache *ScoreCacheOf(FunctionCallInfo fcinfo);
static ScoreCache *ScoreCacheGet(FunctionCallInfo fcinfo);
static ScoreCache *ScoreCacheGetByName(FunctionCallInfo fcinfo, text *name, int32 version);
static void ScoreCacheLoad(FunctionCallInfo fcinfo, ScoreCache *cache, bytea *blob);
static int32 ScoreSnapshotSubxids(Snapshot snapshot);
static bool ScoreSnapshotMatches(const ScoreSnapshotKey *key, Snapshot snapshot);
static void ScoreSnapshotRemember(ScoreCache *cache, Snapshot snapshot);
static ScoreMode ScoreModeFromText(text *mode);
static void SparseScoreInit(ScoreCache *cache, const MixrecModel *model);
static void SparseScore(ScoreCache *cache, ScoreMode mode, double alpha);
static void ScoreReadFeatures(FunctionCallInfo fcinfo, ScoreCache *cache);
static void ScorePlanLoad(ScoreCache *cache, const MixrecModel *model);
static const double *ScoreArgs(FunctionCallInfo fcinfo, bool by_name, int *n_scores);

/*
 * Get the cache of this call site, empty the first time
 */
static ScoreCache *
ScoreCacheOf(FunctionCallInfo fcinfo)
{
	ScoreCache *cache = (ScoreCache *) fcinfo->flinfo->fn_extra;

	if (cache == NULL)
	{
		Node	   *expr = fcinfo->flinfo->fn_expr;

		cache = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(ScoreCache));
		cache->mcxt = AllocSetContextCreate(fcinfo->flinfo->fn_mcxt,
											"mixrec score cache",
											ALLOCSET_SMALL_SIZES);

		/*
		 * A Const is part of the plan, which outlives this FmgrInfo, and is
		 * never modified: its value is the same bytes on every call.  A
		 * Param is not (PL/pgSQL keeps a simple expression's FmgrInfo while
		 * its parameters change), so only a Const qualifies.
		 */
		if (expr != NULL && IsA(expr, FuncExpr) && ((FuncExpr *) expr)->args != NIL)
		{
			Node	   *arg = linitial(((FuncExpr *) expr)->args);

			if (IsA(arg, Const) && !((Const *) arg)->constisnull)
				cache->const_arg = (Const *) arg;
		}
		/* A call site's argument types are fixed */
		cache->features_type = get_fn_expr_argtype(fcinfo->flinfo, 1);
		cache->features_row = type_is_rowtype(cache->features_type);
		fcinfo->flinfo->fn_extra = cache;
	}
	return cache;
}

/*
 * Decode a model into the cache, replacing what it held
 */
static void
ScoreCacheLoad(FunctionCallInfo fcinfo, ScoreCache *cache, bytea *blob)
{
	MemoryContext old;
	MixrecModel *model;

	/* Nothing matches until the new model is fully decoded */
	cache->model = NULL;
	cache->transform = NULL;
	cache->blob = NULL;
	cache->blob_len = 0;
	cache->from_const = false;
	cache->toast_valid = false;
	cache->name = NULL;
	cache->snapshot.valid = false;
	cache->soup_valid = false;
	cache->has_plan = false;
	MemoryContextReset(cache->mcxt);

	BlasEnsureThreads();
	old = MemoryContextSwitchTo(cache->mcxt);
	model = ModelFromBytea(blob);
	cache->features = palloc_array(float, MlpInputDim(&model->shape));
	cache->work = palloc_array(float, ScoreWorkFloats(model, 1));
	cache->scores = palloc_array(double, MlpOutputDim(&model->shape));
	cache->soup = palloc_array(float, ModelParamCount(model));
	cache->transform = ModelTransformLoad(model, cache->mcxt);
	if (cache->transform)
	{
		RecordEncoderInit(&cache->encoder, cache->transform, false, cache->mcxt);
		/* Typed rows read only their nonzero inputs: of the plan if there is one */
		if (ScorePlanApplies(model))
			ScorePlanLoad(cache, model);
		SparseScoreInit(cache, model);
	}
	else if (ScorePlanApplies(model))
		ScorePlanLoad(cache, model);
	MemoryContextSwitchTo(old);
	cache->model = model;
}

/*
 * Build the scoring plan of a model of arrays, in the cache's context: a
 * second copy of its weights (three for the soup), counted against the
 * memory budget
 */
static void
ScorePlanLoad(ScoreCache *cache, const MixrecModel *model)
{
	size_t		floats = ScorePlanFloats(model);

	/* The plan is held with the model: count both */
	MemoryBudgetCheck((double) sizeof(float) * (ModelFloatCount(model) + floats),
					  "scoring with a model",
					  psprintf("The model takes %zu floats, its weights laid out for scoring %zu more.",
							   ModelFloatCount(model), floats));
	ScorePlanInit(&cache->plan, model, MemoryContextAllocHuge(cache->mcxt, sizeof(float) * floats));
	cache->plan_work = palloc_array(float, ScorePlanRowFloats(&cache->plan));
	cache->has_plan = true;
}

/*
 * Find the cached model for the model argument, decoding it on a miss
 */
static ScoreCache *
ScoreCacheGet(FunctionCallInfo fcinfo)
{
	ScoreCache *cache = ScoreCacheOf(fcinfo);
	struct varlena *raw = (struct varlena *) DatumGetPointer(PG_GETARG_DATUM(0));
	bool		is_const;
	bool		is_toast;
	struct varatt_external toast;
	bytea	   *blob;
	Size		len;

	/* The two shortcuts, which need neither detoasting nor comparing */
	is_const = cache->const_arg != NULL &&
		raw == (struct varlena *) DatumGetPointer(cache->const_arg->constvalue);
	if (is_const && cache->from_const && cache->model != NULL && cache->name == NULL)
		return cache;

	/*
	 * A model read from a table arrives as a pointer to its TOAST value:
	 * the same pointer on every row that holds that value.  The pointer
	 * names the value by its TOAST relation and value OID, which no other
	 * value can take until this one is deleted, vacuumed away and the OID
	 * counter has wrapped around.
	 */
	is_toast = VARATT_IS_EXTERNAL_ONDISK(raw);
	if (is_toast)
	{
		VARATT_EXTERNAL_GET_POINTER(toast, raw);
		if (cache->toast_valid && cache->model != NULL && cache->name == NULL &&
			memcmp(&toast, &cache->toast, sizeof(toast)) == 0)
			return cache;
	}

	/* Anything else: the bytes themselves */
	blob = PG_GETARG_BYTEA_PP(0);
	len = VARSIZE_ANY_EXHDR(blob);
	if (!(cache->model != NULL && cache->name == NULL && cache->blob_len == len &&
		  memcmp(cache->blob, VARDATA_ANY(blob), len) == 0))
	{
		ScoreCacheLoad(fcinfo, cache, blob);
		cache->blob = MemoryContextAlloc(cache->mcxt, len);
		memcpy(cache->blob, VARDATA_ANY(blob), len);
		cache->blob_len = len;
	}

	/* These bytes are what was validated: remember where they came from */
	if (is_const)
		cache->from_const = true;
	if (is_toast)
	{
		cache->toast = toast;
		cache->toast_valid = true;
	}
	if ((Pointer) blob != (Pointer) raw)
		pfree(blob);
	return cache;
}

/*
 * Count the subtransaction ids of a snapshot that its visibility checks
 * read: none once the array overflowed (pg_subtrans answers instead, and a
 * copied snapshot does not even keep the array), except during recovery
 */
static int32
ScoreSnapshotSubxids(Snapshot snapshot)
{
	if (snapshot->subxcnt <= 0 ||
		(snapshot->suboverflowed && !snapshot->takenDuringRecovery))
		return 0;
	return snapshot->subxcnt;
}

/*
 * Tell whether a snapshot sees the registry as the one a model was read under
 */
static bool
ScoreSnapshotMatches(const ScoreSnapshotKey *key, Snapshot snapshot)
{
	if (!key->valid || snapshot == NULL || snapshot->snapshot_type != SNAPSHOT_MVCC)
		return false;
	if (key->curcid != snapshot->curcid || key->xmin != snapshot->xmin ||
		key->xmax != snapshot->xmax || key->xcnt != snapshot->xcnt ||
		key->subxcnt != ScoreSnapshotSubxids(snapshot) ||
		key->suboverflowed != snapshot->suboverflowed ||
		key->taken_during_recovery != snapshot->takenDuringRecovery ||
		key->subxact != GetCurrentSubTransactionId() || key->user != GetUserId())
		return false;
	if (key->xcnt > 0 &&
		memcmp(key->xip, snapshot->xip, sizeof(TransactionId) * key->xcnt) != 0)
		return false;
	if (key->subxcnt > 0 &&
		memcmp(key->subxip, snapshot->subxip, sizeof(TransactionId) * key->subxcnt) != 0)
		return false;
	return true;
}

/*
 * Remember the snapshot a model by name was read under
 */
static void
ScoreSnapshotRemember(ScoreCache *cache, Snapshot snapshot)
{
	ScoreSnapshotKey *key = &cache->snapshot;

	key->valid = false;
	if (snapshot == NULL || snapshot->snapshot_type != SNAPSHOT_MVCC)
		return;					/* no key: read again on every call */

	key->user = GetUserId();
	key->subxact = GetCurrentSubTransactionId();
	key->curcid = snapshot->curcid;
	key->xmin = snapshot->xmin;
	key->xmax = snapshot->xmax;
	key->xcnt = snapshot->xcnt;
	key->subxcnt = ScoreSnapshotSubxids(snapshot);
	key->suboverflowed = snapshot->suboverflowed;
	key->taken_during_recovery = snapshot->takenDuringRecovery;
	key->xip = NULL;
	key->subxip = NULL;
	if (key->xcnt > 0)
	{
		key->xip = MemoryContextAlloc(cache->mcxt, sizeof(TransactionId) * key->xcnt);
		memcpy(key->xip, snapshot->xip, sizeof(TransactionId) * key->xcnt);
	}
	if (key->subxcnt > 0)
	{
		key->subxip = MemoryContextAlloc(cache->mcxt, sizeof(TransactionId) * key->subxcnt);
		memcpy(key->subxip, snapshot->subxip, sizeof(TransactionId) * key->subxcnt);
	}
	key->valid = true;
}

/*
 * Find the cached model for a registry name, reading the registry on a
 * miss: once per query for a constant name
 */
static ScoreCache *
ScoreCacheGetByName(FunctionCallInfo fcinfo, text *name, int32 version)
{
	ScoreCache *cache = ScoreCacheOf(fcinfo);
	Snapshot	snapshot = ActiveSnapshotSet() ? GetActiveSnapshot() : NULL;
	int			len = VARSIZE_ANY_EXHDR(name);
	char	   *wanted;
	int32		found;
	bytea	   *blob;

	/*
	 * The registry as this statement sees it: a query keeps one snapshot,
	 * so it reads the registry once; a call site that outlives a statement
	 * (a PL/pgSQL expression, evaluated again under each new snapshot) reads
	 * it again when the new snapshot may see another version.
	 */
	if (cache->model != NULL && cache->name != NULL && cache->version == version &&
		cache->name_len == len && memcmp(cache->name, VARDATA_ANY(name), len) == 0 &&
		ScoreSnapshotMatches(&cache->snapshot, snapshot))
		return cache;

	wanted = text_to_cstring(name);
	blob = RegistryFetch(fcinfo, wanted, version, &found);
	ScoreCacheLoad(fcinfo, cache, blob);
	cache->name = MemoryContextStrdup(cache->mcxt, wanted);
	cache->name_len = len;
	cache->version = version;
	ScoreSnapshotRemember(cache, snapshot);
	pfree(blob);
	pfree(wanted);
	return cache;
}

/*
 * Parse a scoring mode without allocating (it is read on every row)
 */
static ScoreMode
ScoreModeFromText(text *mode)
{
	char		name[16];
	int			len = VARSIZE_ANY_EXHDR(mode);
	int			parsed = -1;

	/* The default, without a copy and a strcmp per row */
	if (len == 5 && memcmp(VARDATA_ANY(mode), "blend", 5) == 0)
		return SCORE_BLEND;
	if (len < (int) sizeof(name))
	{
		memcpy(name, VARDATA_ANY(mode), len);
		name[len] = '\0';
		parsed = ScoreModeFromName(name);
	}
	if (parsed < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown scoring mode \"%s\"", text_to_cstring(mode)),
				 errhint("Valid modes are \"blend\", \"open\", \"commercial\" and \"soup\".")));
	return (ScoreMode) parsed;
}

/*
 * Prepare a model of typed columns for SparseScore, in the cache's context
 */
static void
SparseScoreInit(ScoreCache *cache, const MixrecModel *model)
{
	int			dim = MlpInputDim(&model->shape);
	size_t		first = (size_t) dim * model->shape.dims[1];

	MemoryBudgetCheck(model->n_embed > 0 || cache->has_plan ? 0.0 : 3.0 * sizeof(float) * first,
					  "scoring rows of typed columns",
					  psprintf("The first layers of the three scoring modes, transposed, take %zu floats each.",
							   first));
	cache->plain = *model;
	cache->plain.flags &= ~MIXREC_FLAG_STANDARDIZE;
	cache->plain.mean = cache->plain.std = NULL;
	cache->scaled = palloc_array(int, dim);
	cache->n_scaled = 0;
	if (model->flags & MIXREC_FLAG_STANDARDIZE)
		for (int i = 0; i < dim; i++)
			if (model->mean[i] != 0.0f || model->std[i] != 1.0f)
				cache->scaled[cache->n_scaled++] = i;
	cache->nz = palloc_array(int, dim);
	cache->first_t[0] = cache->first_t[1] = cache->first_t[2] = NULL;
	/*
	 * The two MLPs of a model with embeddings read different inputs: dense;
	 * a model with a plan reads its first layers, already transposed
	 */
	if (model->n_embed > 0 || cache->has_plan)
		return;
	for (int k = 0; k < MIXREC_MODELS; k++)
	{
		cache->first_t[k] = MemoryContextAllocHuge(cache->mcxt, sizeof(float) * first);
		MlpTransposeFirst(&model->shape, model->params[k], cache->first_t[k]);
	}
	cache->first_t[2] = MemoryContextAllocHuge(cache->mcxt, sizeof(float) * first);
	cache->acts = palloc_array(float, MlpActivationFloats(&model->shape, 1));
}

/*
 * Score the encoded row in cache->features of a model of typed columns:
 * standardise the inputs that need it (the others have mean 0 and scale
 * 1), then, if at most half the inputs are nonzero, let the first layers
 * read only those (ScoreRowSparse); else score it densely
 */
static void
SparseScore(ScoreCache *cache, ScoreMode mode, double alpha)
{
	const MixrecModel *model = cache->model;
	float	   *x = cache->features;
	int			dim = MlpInputDim(&model->shape);
	int			n_nz = 0;

	if (cache->has_plan)
	{
		/* The plan's weights are divided by the scales: only centre */
		for (int k = 0; k < cache->n_scaled; k++)
			x[cache->scaled[k]] -= model->mean[cache->scaled[k]];
		for (int i = 0; i < dim; i++)
			if (x[i] != 0.0f)
				cache->nz[n_nz++] = i;
		ScorePlanRowSparse(&cache->plan, mode, alpha, x, cache->nz, n_nz, cache->plan_work,
						   cache->scores);
		return;
	}
	for (int k = 0; k < cache->n_scaled; k++)
	{
		int			i = cache->scaled[k];

		/* StandardizeApply's arithmetic, so that both paths agree */
		x[i] = (x[i] - model->mean[i]) / model->std[i];
	}
	for (int i = 0; i < dim; i++)
		if (x[i] != 0.0f)
			cache->nz[n_nz++] = i;
	if (2 * n_nz > dim || model->n_embed > 0)
	{
		ScoreRows(&cache->plain, mode, alpha, mode == SCORE_SOUP ? cache->soup : NULL, x, 1,
				  cache->work, cache->scores);
		return;
	}
	ScoreRowSparse(model, mode, alpha, cache->soup, (const float *const *) cache->first_t, x,
				   cache->nz, n_nz, cache->acts, cache->scores);
}

/*
 * Convert the features argument into cache->features: a row of typed
 * columns for a model that carries a transform, an array otherwise
 */
static void
ScoreReadFeatures(FunctionCallInfo fcinfo, ScoreCache *cache)
{
	bool		is_row = cache->features_row;

	if (cache->transform != NULL && !is_row)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("the model was trained on typed columns, but features is an array"),
				 errhint("Pass the row to score: a table's alias (mixrec_score('model', c) ... FROM clicks c) or ROW(...) of the model's columns.")));
	if (cache->transform == NULL && is_row)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("the model takes an array of features, but features is a row"),
				 errhint("Pass the array of features the model was trained on.")));
	if (cache->transform != NULL)
		RecordEncode(&cache->encoder, PG_GETARG_DATUM(1), cache->features);
	else
		DatumFeatures(PG_GETARG_DATUM(1), cache->features_type, MlpInputDim(&cache->model->shape), cache->features,
					  false, NULL, NULL);
}

/*
 * Validate the arguments (model, features, mode, alpha) and score; NULL
 * when the features are NULL
 */
static const double *
ScoreArgs(FunctionCallInfo fcinfo, bool by_name, int *n_scores)
{
	ScoreCache *cache;
	MixrecModel *model;
	ScoreMode	mode;
	double		alpha;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", by_name ? "model name" : "model")));
	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("mode must not be NULL")));
	/* NULL features in, NULL score out, so one such row fails no query */
	if (PG_ARGISNULL(1))
		return NULL;

	if (by_name)
	{
		int32		version = -1;

		if (!PG_ARGISNULL(4))
		{
			version = PG_GETARG_INT32(4);
			if (version < 1)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("version must be positive, got %d", version)));
		}
		cache = ScoreCacheGetByName(fcinfo, PG_GETARG_TEXT_PP(0), version);
	}
	else
		cache = ScoreCacheGet(fcinfo);
	model = cache->model;
	mode = ScoreModeFromText(PG_GETARG_TEXT_PP(2));
	if (PG_ARGISNULL(3))
		alpha = model->alpha;
	else
	{
		alpha = PG_GETARG_FLOAT8(3);
		ModelCheckAlpha(alpha, "alpha");
	}

	if (mode == SCORE_SOUP && !(cache->soup_valid && cache->soup_alpha == alpha))
	{
		ScoreSoupParams(model, alpha, cache->soup);
		if (cache->first_t[2] != NULL)
			MlpTransposeFirst(&model->shape, cache->soup, cache->first_t[2]);
		if (cache->has_plan)
			ScorePlanSetSoup(&cache->plan, cache->soup);
		cache->soup_alpha = alpha;
		cache->soup_valid = true;
	}
	*n_scores = MlpOutputDim(&model->shape);

	/* An array for the plan: read in place where it can be, not copied */
	if (cache->has_plan && cache->transform == NULL && !cache->features_row)
	{
		const float *x = DatumFeaturesInPlace(PG_GETARG_DATUM(1), cache->features_type,
											  MlpInputDim(&model->shape), cache->features);

		ScorePlanRow(&cache->plan, mode, alpha, x, cache->plan_work, cache->scores);
		return cache->scores;
	}

	ScoreReadFeatures(fcinfo, cache);
	if (cache->transform)
		SparseScore(cache, mode, alpha);
	else
		ScoreRows(model, mode, alpha, mode == SCORE_SOUP ? cache->soup : NULL,
				  cache->features, 1, cache->work, cache->scores);
	return cache->scores;
}

/*
 * Return the single output of a model, or explain
 */
static Datum
SingleScore(const double *scores, int n_scores)
{
	if (n_scores != 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("mixrec_score needs a model with one output, this model has %d",
						n_scores),
				 errhint("Use mixrec_score_all() to get every output.")));
	return Float8GetDatum(scores[0]);
}

/*
 * Return every output as float8[]
 */
static Datum
AllScores(const double *scores, int n_scores)
{
	Datum	   *elems = palloc_array(Datum, n_scores);

	for (int i = 0; i < n_scores; i++)
		elems[i] = Float8GetDatum(scores[i]);
	return PointerGetDatum(construct_array(elems, n_scores, FLOAT8OID, sizeof(float8),
										   FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/*
 * Score one feature vector with a one-output model
 *
 * mixrec_score(model bytea, features real[] | float8[], mode, alpha)
 */
Datum
mixrec_score(PG_FUNCTION_ARGS)
{
	int			n_scores;
	const double *scores = ScoreArgs(fcinfo, false, &n_scores);

	if (scores == NULL)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(SingleScore(scores, n_scores));
}

/*
 * Score one feature vector, returning every output of the model
 *
 * mixrec_score_all(model bytea, features real[] | float8[], mode, alpha)
 */
Datum
mixrec_score_all(PG_FUNCTION_ARGS)
{
	int			n_scores;
	const double *scores = ScoreArgs(fcinfo, false, &n_scores);

	if (scores == NULL)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(AllScores(scores, n_scores));
}

/*
 * Score with a registered model: its active version, or the one given
 *
 * mixrec_score(model_name text, features, mode, alpha, version)
 */
Datum
mixrec_score_name(PG_FUNCTION_ARGS)
{
	int			n_scores;
	const double *scores = ScoreArgs(fcinfo, true, &n_scores);

	if (scores == NULL)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(SingleScore(scores, n_scores));
}

/*
 * Score with a registered model, returning every output
 *
 * mixrec_score_all(model_name text, features, mode, alpha, version)
 */
Datum
mixrec_score_all_name(PG_FUNCTION_ARGS)
{
	int			n_scores;
	const double *scores = ScoreArgs(fcinfo, true, &n_scores);

	if (scores == NULL)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(AllScores(scores, n_scores));
}

/*
 * The input vector of a row: its typed columns encoded by the model's
 * transform, then standardised, exactly as scoring feeds the MLPs
 */
static Datum
TransformArgs(FunctionCallInfo fcinfo, bool by_name)
{
	ScoreCache *cache = by_name ? ScoreCacheGetByName(fcinfo, PG_GETARG_TEXT_PP(0), -1) :
		ScoreCacheGet(fcinfo);
	MixrecModel *model = cache->model;
	int			dim = MlpInputDim(&model->shape);
	Datum	   *elems;

	if (cache->transform == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("the model takes an array of features, so it has no transform"),
				 errhint("mixrec_transform applies to models trained on typed columns.")));
	ScoreReadFeatures(fcinfo, cache);
	if (model->flags & MIXREC_FLAG_STANDARDIZE)
		StandardizeApply(model->mean, model->std, dim, cache->features, 1, cache->features);
	elems = palloc_array(Datum, dim);
	for (int i = 0; i < dim; i++)
		elems[i] = Float4GetDatum(cache->features[i]);
	return PointerGetDatum(construct_array(elems, dim, FLOAT4OID, sizeof(float4), true,
										   TYPALIGN_INT));
}

/*
 * mixrec_transform(model bytea, features record) returns real[]
 */
Datum
mixrec_transform(PG_FUNCTION_ARGS)
{
	PG_RETURN_DATUM(TransformArgs(fcinfo, false));
}

/*
 * mixrec_transform(model_name text, features record) returns real[]
 */
Datum
mixrec_transform_name(PG_FUNCTION_ARGS)
{
	PG_RETURN_DATUM(TransformArgs(fcinfo, true));
}
