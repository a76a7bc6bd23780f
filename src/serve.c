/*
 * src/serve.c
 *	  Batch scoring (mixrec_predict) and top-k recommendation (mixrec_recommend).
 *
 * Design: per-row mixrec_score runs each MLP as a matrix-vector product for
 * one row, streaming all the weights through the CPU for every row.  These
 * functions score blocks of rows with one matrix-matrix product (GEMM) per
 * layer, which reads the weights once per block.  mixrec_predict takes its
 * rows straight from the executor through a DestReceiver, not a cursor,
 * which would copy every row into an SPI tuple table first.  Both are set-returning functions in
 * materialize mode: results go to a tuplestore, which spills to disk beyond
 * work_mem.
 *
 * mixrec_recommend holds the candidate items in memory (their features and
 * ids, within mixrec.train_memory) and the excluded (user, item) pairs as a
 * hash set of 64-bit hashes of the pair; then, for each user, it scores
 * every candidate in blocks and keeps the k best in a small heap.
 * mixrec_evaluate_ranking ranks with the same code (serve.h).
 *
 * Memory: the per-call context of the function holds the model, the
 * blocks and the items; SPI's contexts hold the fetched rows, freed fetch
 * by fetch.
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "catalog/pg_type.h"
#include "datum.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "executor/tuptable.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "mixrec.h"
#include "mixrec/predict.h"
#include "serve.h"
#include "source.h"
#include "typed.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

PG_FUNCTION_INFO_V1(mixrec_predict);
PG_FUNCTION_INFO_V1(mixrec_recommend);

/* mixrec_predict's rows on their way from the executor to the tuplestore */
typedef struct PredictReceiver
{
	DestReceiver pub;
	ReturnSetInfo *rsinfo;
	BlockScorer *scorer;
	int			input_dim;
	int			rows;			/* in the current block */
	int64		rows_done;
	SourceRowContext context;	/* names the row being converted */
	float	   *x;				/* [SERVE_BLOCK_ROWS][input_dim] */
	Datum	   *ids;			/* [SERVE_BLOCK_ROWS], text, copied into block_context */
	bool	   *id_nulls;
	MemoryContext block_context;
} PredictReceiver;

/*
 * The columns of a query of rows to score: the id, cast to text, and the
 * features as the source has them (the datum layer converts them)
 */
static const Oid id_features_types[] = {TEXTOID, InvalidOid};

static void ScorerRun(BlockScorer *scorer, const float *x, int rows);
static double ServeAlpha(FunctionCallInfo fcinfo, int arg, const MixrecModel *model);
static void PredictFlush(PredictReceiver *receiver);
static bool PredictReceive(TupleTableSlot *slot, DestReceiver *self);
static void PredictStartup(DestReceiver *self, int operation, TupleDesc typeinfo);
static void PredictShutdown(DestReceiver *self);
static void PredictDestroy(DestReceiver *self);
static bool TopWorse(const TopItem *a, const TopItem *b);
static HTAB *ReadExcluded(const char *exclude, const Candidates *items);
static void RecommendForUser(ReturnSetInfo *rsinfo, BlockScorer *scorer, const Candidates *items,
							 HTAB *excluded, const char *user, const float *user_x, int d_user,
							 const UserColumns *user_columns, int k, float *x, TopItem *heap);

/*
 * Read a required text argument
 */
const char *
ServeText(FunctionCallInfo fcinfo, int arg, const char *name)
{
	if (PG_ARGISNULL(arg))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", name)));
	return text_to_cstring(PG_GETARG_TEXT_PP(arg));
}

/*
 * Prepare the query of rows to score, SELECT id::text, features FROM
 * source, whose two columns SourcePrepare and the datum layer prove are
 * text and an array of numbers (PredictReceive and mixrec_recommend read
 * them as such).  The names are the arguments' names, for messages.
 */
SPIPlanPtr
PrepareIdFeatures(const char *source_name, const char *source, const char *id_name,
				  const char *id, const char *features_name, const char *features, bool typed)
{
	SourceShape shape = {
		.arguments = psprintf("%s, %s and %s", source_name, id_name, features_name),
		.columns = psprintf("%s and %s", id_name, features_name),
		.ncolumns = lengthof(id_features_types),
		.types = id_features_types,
	};
	SPIPlanPtr	plan = SourcePrepare(psprintf("SELECT (%s)::pg_catalog.text, (%s) FROM %s",
											  id, features, SourceFrom(source)),
									 0, NULL, 0, &shape);

	/* Typed columns come as the ROW() mixrec wrote, which the encoder checks */
	if (!typed)
		DatumCheckFeaturesType(TupleDescAttr(SourcePlanColumns(plan), 1)->atttypid, features_name);
	return plan;
}

/*
 * Read the mode argument
 */
ScoreMode
ServeMode(FunctionCallInfo fcinfo, int arg)
{
	const char *name = ServeText(fcinfo, arg, "mode");
	int			mode = ScoreModeFromName(name);

	if (mode < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown scoring mode \"%s\"", name),
				 errhint("Valid modes are \"blend\", \"open\", \"commercial\" and \"soup\".")));
	return (ScoreMode) mode;
}

/*
 * Read the alpha argument, the model's own when NULL
 */
static double
ServeAlpha(FunctionCallInfo fcinfo, int arg, const MixrecModel *model)
{
	double		alpha;

	if (PG_ARGISNULL(arg))
		return model->alpha;
	alpha = PG_GETARG_FLOAT8(arg);
	ModelCheckAlpha(alpha, "alpha");
	return alpha;
}

/*
 * Prepare to score blocks of up to SERVE_BLOCK_ROWS rows
 */
void
ScorerInit(BlockScorer *scorer, MixrecModel *model, ScoreMode mode, double alpha)
{
	if (MlpOutputDim(&model->shape) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("this function needs a model with one output, this model has %d",
						MlpOutputDim(&model->shape))));
	scorer->model = model;
	scorer->transform = ModelTransformLoad(model, CurrentMemoryContext);
	if (scorer->transform)
		RecordEncoderInit(&scorer->encoder, scorer->transform, true, CurrentMemoryContext);
	scorer->mode = mode;
	scorer->alpha = alpha;
	scorer->soup = NULL;
	if (mode == SCORE_SOUP)
	{
		scorer->soup = palloc_array(float, ModelParamCount(model));
		ScoreSoupParams(model, alpha, scorer->soup);
	}
	scorer->has_plan = ScorePlanApplies(model);
	if (scorer->has_plan)
	{
		size_t		floats = ScorePlanFloats(model);
		size_t		work;

		/* The plan is held with the model: count both */
		MemoryBudgetCheck((double) sizeof(float) * (ModelFloatCount(model) + floats),
						  "scoring with a model",
						  psprintf("The model takes %zu floats, its weights laid out for scoring %zu more.",
								   ModelFloatCount(model), floats));
		ScorePlanInit(&scorer->plan, model,
					  MemoryContextAllocHuge(CurrentMemoryContext, sizeof(float) * floats));
		if (mode == SCORE_SOUP)
			ScorePlanSetSoup(&scorer->plan, scorer->soup);
		work = ScorePlanBlockFloats(&scorer->plan, SERVE_BLOCK_ROWS);
		scorer->work = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(float) * work);
	}
	else
		scorer->work = MemoryContextAllocHuge(CurrentMemoryContext,
											  sizeof(float) * ScoreWorkFloats(model, SERVE_BLOCK_ROWS));
	scorer->open = palloc_array(double, SERVE_BLOCK_ROWS);
	scorer->commercial = palloc_array(double, SERVE_BLOCK_ROWS);
	scorer->score = palloc_array(double, SERVE_BLOCK_ROWS);
}

/*
 * Score a block: both models' probabilities, and the asked-for score
 */
static void
ScorerRun(BlockScorer *scorer, const float *x, int rows)
{
	/* Both first layers in one product, the sigmoids and the blend in one loop */
	if (scorer->has_plan)
	{
		ScorePlanBlock(&scorer->plan, scorer->mode, scorer->alpha, x, rows, scorer->work,
					   scorer->open, scorer->commercial, scorer->score);
		return;
	}
	ScoreRows(scorer->model, SCORE_OPEN, scorer->alpha, NULL, x, rows, scorer->work, scorer->open);
	ScoreRows(scorer->model, SCORE_COMMERCIAL, scorer->alpha, NULL, x, rows, scorer->work,
			  scorer->commercial);
	switch (scorer->mode)
	{
		case SCORE_BLEND:
			for (int i = 0; i < rows; i++)
				scorer->score[i] = scorer->alpha * scorer->open[i] +
					(1.0 - scorer->alpha) * scorer->commercial[i];
			break;
		case SCORE_OPEN:
			memcpy(scorer->score, scorer->open, sizeof(double) * rows);
			break;
		case SCORE_COMMERCIAL:
			memcpy(scorer->score, scorer->commercial, sizeof(double) * rows);
			break;
		case SCORE_SOUP:
			ScoreRows(scorer->model, SCORE_SOUP, scorer->alpha, scorer->soup, x, rows,
					  scorer->work, scorer->score);
			break;
	}
}

/*
 * Read one row's features (the second column) into out
 */
void
ReadFeatures(BlockScorer *scorer, Datum value, Oid type, bool isnull, int expected, float *out,
			 const char *what)
{
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s are NULL", what)));
	if (scorer->transform)
		RecordEncode(&scorer->encoder, value, out);
	else
		DatumFeatures(value, type, expected, out, false, NULL, NULL);
}

/*
 * Score the block of rows received so far and hand the results on
 */
static void
PredictFlush(PredictReceiver *receiver)
{
	BlockScorer *scorer = receiver->scorer;

	if (receiver->rows == 0)
		return;
	CHECK_FOR_INTERRUPTS();
	ScorerRun(scorer, receiver->x, receiver->rows);
	for (int i = 0; i < receiver->rows; i++)
	{
		Datum		values[4];
		bool		nulls[4] = {receiver->id_nulls[i], false, false, false};

		values[0] = receiver->ids[i];
		values[1] = Float8GetDatum(scorer->score[i]);
		values[2] = Float8GetDatum(scorer->open[i]);
		values[3] = Float8GetDatum(scorer->commercial[i]);
		tuplestore_putvalues(receiver->rsinfo->setResult, receiver->rsinfo->setDesc, values, nulls);
	}
	receiver->rows_done += receiver->rows;
	receiver->rows = 0;
	MemoryContextReset(receiver->block_context);
}

/*
 * Take one row from the executor: straight from its slot, without the copy
 * into an SPI tuple table that a cursor fetch makes
 */
static bool
PredictReceive(TupleTableSlot *slot, DestReceiver *self)
{
	PredictReceiver *receiver = (PredictReceiver *) self;
	int			i = receiver->rows;
	MemoryContext old = MemoryContextSwitchTo(receiver->block_context);

	receiver->context.row = receiver->rows_done + i + 1;
	slot_getallattrs(slot);
	receiver->id_nulls[i] = slot->tts_isnull[0];
	receiver->ids[i] = slot->tts_isnull[0] ? (Datum) 0 :
		PointerGetDatum(DatumGetTextPCopy(slot->tts_values[0]));
	ReadFeatures(receiver->scorer, slot->tts_values[1],
				 TupleDescAttr(slot->tts_tupleDescriptor, 1)->atttypid, slot->tts_isnull[1],
				 receiver->input_dim,
				 receiver->x + (Size) i * receiver->input_dim, "features");
	MemoryContextSwitchTo(old);
	receiver->context.row = 0;

	if (++receiver->rows == SERVE_BLOCK_ROWS)
		PredictFlush(receiver);
	return true;
}

static void
PredictStartup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
}

static void
PredictShutdown(DestReceiver *self)
{
}

static void
PredictDestroy(DestReceiver *self)
{
}

/*
 * Score every row of a source in blocks
 *
 * mixrec_predict(model_name, source, id, features, mode, alpha, version)
 *	 returns table (id text, score float8, score_open float8, score_commercial float8)
 */
Datum
mixrec_predict(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MixrecModel *model;
	BlockScorer scorer;
	const char *source = ServeText(fcinfo, 1, "source");
	const char *id = ServeText(fcinfo, 2, "id");
	const char *features = PG_ARGISNULL(3) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(3));
	PredictReceiver receiver;
	SPIPlanPtr	plan;
	SPIExecuteOptions options;

	InitMaterializedSRF(fcinfo, 0);
	model = RegistryModel(fcinfo, 0, 6);
	ScorerInit(&scorer, model, ServeMode(fcinfo, 4), ServeAlpha(fcinfo, 5, model));
	features = TypedFeaturesArgument(scorer.transform, features, "features");

	memset(&receiver, 0, sizeof(receiver));
	receiver.pub.receiveSlot = PredictReceive;
	receiver.pub.rStartup = PredictStartup;
	receiver.pub.rShutdown = PredictShutdown;
	receiver.pub.rDestroy = PredictDestroy;
	receiver.pub.mydest = DestNone;
	receiver.rsinfo = rsinfo;
	receiver.scorer = &scorer;
	receiver.input_dim = MlpInputDim(&model->shape);
	receiver.x = palloc_array(float, (Size) SERVE_BLOCK_ROWS * receiver.input_dim);
	receiver.ids = palloc_array(Datum, SERVE_BLOCK_ROWS);
	receiver.id_nulls = palloc_array(bool, SERVE_BLOCK_ROWS);
	receiver.block_context = AllocSetContextCreate(CurrentMemoryContext, "mixrec predict block",
												   ALLOCSET_DEFAULT_SIZES);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	/* The receiver reads its slots' columns 0 and 1 as text and features */
	plan = PrepareIdFeatures("source", source, "id", id, "features", features,
							 scorer.transform != NULL);
	memset(&options, 0, sizeof(options));
	options.read_only = true;
	options.dest = &receiver.pub;
	SourceRowContextPush(&receiver.context, "source");
	if (SPI_execute_plan_extended(plan, &options) < 0)
		elog(ERROR, "could not run the query: %s", SPI_result_code_string(SPI_result));
	SourceRowContextPop(&receiver.context);
	PredictFlush(&receiver);
	SPI_finish();
	return (Datum) 0;
}

/*
 * Is a worse than b in a top list (lower score; on a tie, the later item)?
 */
static bool
TopWorse(const TopItem *a, const TopItem *b)
{
	return a->score < b->score || (a->score == b->score && a->item > b->item);
}

/*
 * Offer an item to a min-heap of at most k items (the worst at the root)
 */
void
TopPush(TopItem *heap, int *size, int k, TopItem item)
{
	int			i;

	if (*size < k)
	{
		i = (*size)++;
		while (i > 0 && TopWorse(&item, &heap[(i - 1) / 2]))
		{
			heap[i] = heap[(i - 1) / 2];
			i = (i - 1) / 2;
		}
		heap[i] = item;
		return;
	}
	if (!TopWorse(&heap[0], &item))
		return;
	/* Replace the root and sift down */
	i = 0;
	for (;;)
	{
		int			child = 2 * i + 1;

		if (child >= *size)
			break;
		if (child + 1 < *size && TopWorse(&heap[child + 1], &heap[child]))
			child++;
		if (!TopWorse(&heap[child], &item))
			break;
		heap[i] = heap[child];
		i = child;
	}
	heap[i] = item;
}

/*
 * Order a top list best first
 */
int
TopCompareDesc(const void *a, const void *b)
{
	const TopItem *x = a;
	const TopItem *y = b;

	return TopWorse(x, y) ? 1 : TopWorse(y, x) ? -1 : 0;
}

/*
 * A 64-bit hash of an id's text
 */
uint64
IdHash(const char *id, uint64 seed)
{
	return hash_bytes_extended((const unsigned char *) id, strlen(id), seed);
}

/*
 * The key of a (user, item) pair in the excluded set: a 64-bit hash, so a
 * pair that is not excluded is mistaken for one with probability 2^-64
 */
uint64
PairKey(uint64 user_hash, const char *item)
{
	return user_hash * UINT64CONST(0x9E3779B97F4A7C15) ^ IdHash(item, 0x7265);
}

/*
 * Read every candidate item into memory, within the budget
 */
void
ReadCandidates(Candidates *items, SPIPlanPtr plan, BlockScorer *scorer, int d_in)
{
	SourceCursor cursor;
	HeapTuple	tuple;

	items->n = 0;
	items->capacity = 1024;
	items->dim = -1;
	items->ids = palloc_array(char *, items->capacity);
	items->x = NULL;
	items->id_bytes = 0;
	items->held = 0;

	SourceOpen(&cursor, plan, "items", SERVE_FETCH_ROWS);
	while ((tuple = SourceNext(&cursor)) != NULL)
	{
		/* What a row detoasts or converts goes with its batch */
		MemoryContext old = MemoryContextSwitchTo(cursor.batch_context);
		bool		isnull;
		Datum		value = SPI_getbinval(tuple, cursor.desc, 2, &isnull);

		if (isnull)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("item features are NULL")));
		if (items->dim < 0 && scorer->transform)
		{
			/* Every input: the user's columns are NULL here, replaced per user */
			items->dim = d_in;
			items->x = MemoryContextAllocHuge(items->context,
											  sizeof(float) * items->capacity * items->dim);
		}
		else if (items->dim < 0)
		{
			items->dim = DatumFeaturesLength(value, TupleDescAttr(cursor.desc, 1)->atttypid,
											 "item features");
			if (items->dim < 1 || items->dim >= d_in)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_EXCEPTION),
						 errmsg("item features have %d elements, but the model takes %d features in all",
								items->dim, d_in),
						 errdetail("A candidate's features are its user's features followed by the item's.")));
			items->x = MemoryContextAllocHuge(items->context,
											  sizeof(float) * items->capacity * items->dim);
		}
		if (items->n == items->capacity)
		{
			MemoryBudgetCheck((double) (items->capacity * 2) * (sizeof(float) * items->dim + sizeof(char *)) +
							  items->id_bytes, "holding the candidate items",
							  psprintf("Room for %zu items, %d features per item, and %.0f bytes of their ids.",
									   items->capacity * 2, items->dim, items->id_bytes));
			items->capacity *= 2;
			items->ids = repalloc_huge(items->ids, sizeof(char *) * items->capacity);
			items->x = repalloc_huge(items->x, sizeof(float) * items->capacity * items->dim);
		}
		value = SPI_getbinval(tuple, cursor.desc, 1, &isnull);
		if (isnull)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("item id is NULL")));
		items->ids[items->n] = MemoryContextStrdup(items->context, TextDatumGetCString(value));
		items->id_bytes += strlen(items->ids[items->n]) + 1 + ID_OVERHEAD_BYTES;
		items->held = (double) items->capacity * (sizeof(float) * items->dim + sizeof(char *)) +
			items->id_bytes;
		if (items->held > MemoryBudget())
			MemoryBudgetCheck(items->held, "holding the candidate items",
							  psprintf("Room for %zu items, %d features per item, and %.0f bytes of their ids.",
									   items->capacity, items->dim, items->id_bytes));
		value = SPI_getbinval(tuple, cursor.desc, 2, &isnull);
		ReadFeatures(scorer, value, TupleDescAttr(cursor.desc, 1)->atttypid, isnull, items->dim, items->x + items->n * items->dim,
					 "item features");
		items->n++;
		MemoryContextSwitchTo(old);
	}
	SourceClose(&cursor);
}

/*
 * Read the (user id, item id) pairs to leave out, the first two columns of
 * exclude, as a set of 64-bit hashes, within what the candidates leave of
 * the budget
 */
static HTAB *
ReadExcluded(const char *exclude, const Candidates *items)
{
	/* Columns of any types: the ids are compared as their values' text */
	static const SourceShape exclude_shape = {
		.arguments = "exclude",
		.columns = "exclude",
		.more_columns = true,
	};
	HASHCTL		ctl;
	HTAB	   *excluded;
	SPIPlanPtr	plan;
	SourceCursor cursor;
	HeapTuple	tuple;
	double		pairs = 0;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(uint64);
	ctl.entrysize = sizeof(uint64);
	ctl.hcxt = items->context;
	excluded = hash_create("mixrec excluded pairs", 1024, &ctl,
						   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	plan = SourcePrepare(psprintf("SELECT * FROM %s", SourceFrom(exclude)), 0, NULL, 0,
						 &exclude_shape);
	if (SourcePlanColumns(plan)->natts < 2)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("exclude must have two columns, a user id and an item id")));
	SourceOpen(&cursor, plan, "exclude", SERVE_FETCH_ROWS);
	while ((tuple = SourceNext(&cursor)) != NULL)
	{
		char	   *u = SPI_getvalue(tuple, cursor.desc, 1);
		char	   *it = SPI_getvalue(tuple, cursor.desc, 2);
		uint64		key;
		bool		found;

		if (u == NULL || it == NULL)
			continue;
		key = PairKey(IdHash(u, SERVE_USER_SEED), it);
		pfree(u);
		pfree(it);
		hash_search(excluded, &key, HASH_ENTER, &found);
		if (!found && items->held + ++pairs * EXCLUDED_PAIR_BYTES > MemoryBudget())
			MemoryBudgetCheck(items->held + pairs * EXCLUDED_PAIR_BYTES,
							  "holding the candidate items and the excluded pairs",
							  psprintf("%zu items take %.0f MB, and %.0f excluded pairs so far %.0f MB.",
									   items->n, ceil(items->held / (1024.0 * 1024.0)), pairs,
									   ceil(pairs * EXCLUDED_PAIR_BYTES / (1024.0 * 1024.0))));
	}
	SourceClose(&cursor);
	return excluded;
}

/*
 * Score every candidate for one user in blocks and keep the k best in
 * heap, best first (a tie goes to the earlier item); returns how many.
 * x is a block of rows, SERVE_BLOCK_ROWS of the model's inputs.
 */
int
RecommendTop(BlockScorer *scorer, const Candidates *items, HTAB *excluded, const char *user,
			 const float *user_x, int d_user, const UserColumns *user_columns, int k, float *x,
			 TopItem *heap)
{
	int			d_in = user_columns ? items->dim : d_user + items->dim;
	uint64		user_hash = IdHash(user, SERVE_USER_SEED);
	int			size = 0;

	for (Size first = 0; first < items->n; first += SERVE_BLOCK_ROWS)
	{
		int			n = (int) Min((Size) SERVE_BLOCK_ROWS, items->n - first);

		CHECK_FOR_INTERRUPTS();
		for (int i = 0; i < n; i++)
		{
			float	   *row = x + (Size) i * d_in;

			if (user_columns)
			{
				/* Typed columns: the item's inputs, the user's columns' from the user */
				memcpy(row, items->x + (first + i) * items->dim, sizeof(float) * d_in);
				for (int c = 0; c < user_columns->n; c++)
					memcpy(row + user_columns->position[c], user_x + user_columns->position[c],
						   sizeof(float) * user_columns->width[c]);
				continue;
			}
			memcpy(row, user_x, sizeof(float) * d_user);
			memcpy(row + d_user, items->x + (first + i) * items->dim, sizeof(float) * items->dim);
		}
		ScorerRun(scorer, x, n);
		for (int i = 0; i < n; i++)
		{
			TopItem		candidate = {scorer->score[i], (int) (first + i)};

			if (excluded)
			{
				uint64		key = PairKey(user_hash, items->ids[first + i]);

				if (hash_search(excluded, &key, HASH_FIND, NULL) != NULL)
					continue;
			}
			TopPush(heap, &size, k, candidate);
		}
	}

	qsort(heap, size, sizeof(TopItem), TopCompareDesc);
	return size;
}

/*
 * Rank every candidate for one user and append the k best, best first, to
 * the result
 */
static void
RecommendForUser(ReturnSetInfo *rsinfo, BlockScorer *scorer, const Candidates *items,
				 HTAB *excluded, const char *user, const float *user_x, int d_user,
				 const UserColumns *user_columns, int k, float *x, TopItem *heap)
{
	int			size = RecommendTop(scorer, items, excluded, user, user_x, d_user, user_columns,
									k, x, heap);

	for (int r = 0; r < size; r++)
	{
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};

		values[0] = CStringGetTextDatum(user);
		values[1] = CStringGetTextDatum(items->ids[heap[r].item]);
		values[2] = Int32GetDatum(r + 1);
		values[3] = Float8GetDatum(heap[r].score);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
}

/*
 * Which of a model's typed columns come from users and which from items:
 * each must be a column of exactly one of them.  Sets the ROW() each side
 * reads (the other side's columns as NULLs) and returns the inputs the
 * user's columns fill.  users_name names the users' argument in messages;
 * users_skip, if not NULL, is a column of users that is not the user's
 * (mixrec_evaluate_ranking's test rows carry their item's id).
 */
UserColumns *
SplitTypedColumns(const Transform *transform, const char *users_name, const char *users,
				  const char *users_skip, const char *items, char **user_row, char **item_row)
{
	const char *both = psprintf("%s and items", users_name);
	SourceShape any = {
		.arguments = both,
		.columns = both,
		.more_columns = true,
	};
	TupleDesc	user_desc;
	TupleDesc	item_desc;
	bool	   *from_user = palloc_array(bool, transform->n_columns);
	bool	   *from_item = palloc_array(bool, transform->n_columns);
	UserColumns *user_columns = palloc0(sizeof(UserColumns));

	/* Allocated before SPI_connect: SPI_finish frees what is allocated after */
	user_columns->position = palloc_array(uint32, transform->n_columns);
	user_columns->width = palloc_array(uint32, transform->n_columns);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	user_desc = SourcePlanColumns(SourcePrepare(psprintf("SELECT * FROM %s", SourceFrom(users)),
												0, NULL, 0, &any));
	item_desc = SourcePlanColumns(SourcePrepare(psprintf("SELECT * FROM %s", SourceFrom(items)),
												0, NULL, 0, &any));
	(void) TransformColumnsIn(transform, user_desc, from_user);
	(void) TransformColumnsIn(transform, item_desc, from_item);
	for (uint32 c = 0; c < transform->n_columns; c++)
	{
		const TransformColumn *column = &transform->columns[c];

		/* users_skip is a column of users that is not the user's */
		if (from_user[c] && users_skip != NULL && strcmp(column->name, users_skip) == 0)
			from_user[c] = false;
		if (from_user[c] == from_item[c])
			ereport(ERROR,
					(errcode(from_user[c] ? ERRCODE_AMBIGUOUS_COLUMN : ERRCODE_UNDEFINED_COLUMN),
					 errmsg(from_user[c] ? "column \"%s\" of the model is a column of both %s and items" :
							"column \"%s\" of the model is a column of neither %s nor items",
							column->name, users_name),
					 errhint("A candidate's row is its user's columns and its item's columns, by name: each of the model's columns must come from one side.")));
		if (from_user[c])
		{
			user_columns->position[user_columns->n] = column->position;
			user_columns->width[user_columns->n] = column->width;
			user_columns->n++;
		}
	}
	SPI_finish();
	*user_row = TransformRowSql(transform, from_user);
	*item_row = TransformRowSql(transform, from_item);
	return user_columns;
}

/*
 * The k best items for each user
 *
 * mixrec_recommend(model_name, users, items, user_id, item_id, user_features,
 *	 item_features, k, exclude, mode, alpha, version)
 *	 returns table (user_id text, item_id text, rank int, score float8)
 */
Datum
mixrec_recommend(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	const char *users = ServeText(fcinfo, 1, "users");
	const char *items_source = ServeText(fcinfo, 2, "items");
	const char *user_id = ServeText(fcinfo, 3, "user_id");
	const char *item_id = ServeText(fcinfo, 4, "item_id");
	char	   *user_features = PG_ARGISNULL(5) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(5));
	char	   *item_features = PG_ARGISNULL(6) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(6));
	UserColumns *user_columns = NULL;
	int			k;
	MixrecModel *model;
	BlockScorer scorer;
	MemoryContext context = CurrentMemoryContext;
	MemoryContext user_context;
	Candidates	items;
	HTAB	   *excluded = NULL;
	int			d_user;
	float	   *x;
	TopItem    *heap;
	SPIPlanPtr	plan;
	SourceCursor cursor;
	HeapTuple	tuple;

	if (PG_ARGISNULL(7))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("k must not be NULL")));
	k = PG_GETARG_INT32(7);
	if (k < 1 || k > MIXREC_MAX_K)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k must be between 1 and %d, got %d", MIXREC_MAX_K, k)));

	InitMaterializedSRF(fcinfo, 0);
	model = RegistryModel(fcinfo, 0, 11);
	ScorerInit(&scorer, model, ServeMode(fcinfo, 9), ServeAlpha(fcinfo, 10, model));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	MemoryContextSwitchTo(context);
	if (scorer.transform)
	{
		if (user_features != NULL || item_features != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the model was trained on typed columns, so user_features and item_features must be NULL"),
					 errhint("Its columns are read by name from users and items.")));
		user_columns = SplitTypedColumns(scorer.transform, "users", users, NULL, items_source,
										 &user_features, &item_features);
		MemoryContextSwitchTo(context);
	}
	else if (user_features == NULL || item_features == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL: the model takes arrays of features",
						user_features == NULL ? "user_features" : "item_features")));
	items.context = context;
	plan = PrepareIdFeatures("items", items_source, "item_id", item_id, "item_features",
							 item_features, scorer.transform != NULL);
	MemoryContextSwitchTo(context);
	ReadCandidates(&items, plan, &scorer, MlpInputDim(&model->shape));
	if (!PG_ARGISNULL(8))
		excluded = ReadExcluded(text_to_cstring(PG_GETARG_TEXT_PP(8)), &items);

	/* Every user: score every candidate in blocks, keep the k best */
	MemoryContextSwitchTo(context);
	d_user = user_columns ? MlpInputDim(&model->shape) : MlpInputDim(&model->shape) - items.dim;
	x = MemoryContextAllocHuge(context, sizeof(float) * SERVE_BLOCK_ROWS * MlpInputDim(&model->shape));
	heap = palloc_array(TopItem, k);
	user_context = AllocSetContextCreate(context, "mixrec recommend user", ALLOCSET_DEFAULT_SIZES);
	plan = PrepareIdFeatures("users", users, "user_id", user_id, "user_features", user_features,
							 scorer.transform != NULL);
	SourceOpen(&cursor, plan, "users", 1000);
	while ((tuple = SourceNext(&cursor)) != NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(user_context);
		bool		isnull;
		Datum		value = SPI_getbinval(tuple, cursor.desc, 1, &isnull);
		float	   *user_x = palloc_array(float, d_user);
		bool		features_null;
		Datum		features;

		if (isnull)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("user id is NULL")));
		features = SPI_getbinval(tuple, cursor.desc, 2, &features_null);
		ReadFeatures(&scorer, features, TupleDescAttr(cursor.desc, 1)->atttypid, features_null, d_user, user_x, "user features");
		RecommendForUser(rsinfo, &scorer, &items, excluded, TextDatumGetCString(value), user_x,
						 d_user, user_columns, k, x, heap);
		MemoryContextSwitchTo(old);
		MemoryContextReset(user_context);
	}
	SourceClose(&cursor);
	SPI_finish();
	return (Datum) 0;
}
