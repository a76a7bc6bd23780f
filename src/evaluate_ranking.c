/*
 * src/evaluate_ranking.c
 *	  mixrec_evaluate_ranking: a model's top k for held-out interactions,
 *	  against the popularity baseline.
 *
 * train and test hold (user, item) interactions; items is the catalogue of
 * candidates, with the items' features.  For each user of test:
 *
 *	relevant	its test items that are in items and not among its train
 *				items (a user without one is left out, with a NOTICE)
 *	candidates	every item of items that is not among its train items
 *
 * and two rankers order the same candidates:
 *
 *	model		the model's score, ties to the earlier item of items:
 *				exactly mixrec_recommend's ranking with exclude => the train
 *				pairs, by the same code (RecommendTop, serve.h)
 *	popularity	the number of train rows of the item (0 for an item that
 *				is not in train), ties by the id's bytes ascending (COLLATE
 *				"C"), so that it is deterministic
 *
 * Of each ranker's top k, averaged over the users evaluated:
 *
 *	recall@k	hits / |relevant|
 *	ndcg@k		binary gains: the sum over hits at (1-based) rank i of
 *				1 / log2(i + 1), over the same sum for the first
 *				min(k, |relevant|) ranks, the best any ranking can do
 *	hit_rate@k	share of users with a hit
 *
 * and coverage@k, the distinct items in any evaluated user's top k over the
 * catalogue's size.
 *
 * The user's side of a candidate comes from test: user_features (an array
 * model) or the model's columns that test has (typed columns, split between
 * test and items by name as mixrec_recommend splits them between users and
 * items); a user's test rows must agree on it.
 *
 * Memory: the catalogue (ids and features, as mixrec_recommend holds its
 * candidates), per item its place in byte order and in popularity order,
 * its train count, the number of the user it is relevant to (the current
 * user's test items, without a list) and two coverage flags; the train pairs
 * as a set of 64-bit hashes of (user, item), mixrec_recommend's excluded
 * set.  test is read sorted by user id (PostgreSQL's sort spills to disk
 * beyond work_mem), so only one user's test items are held at a time.  All
 * of it is counted against mixrec.train_memory before it is allocated.
 * Everything lives in the function's per-call context, the current user's
 * id in a context reset per user.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "datum.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "mixrec.h"
#include "serve.h"
#include "source.h"
#include "typed.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

PG_FUNCTION_INFO_V1(mixrec_evaluate_ranking);

/* The two rankers, as the result's columns name them */
#define RANKER_MODEL		0
#define RANKER_POPULARITY	1

/*
 * What each catalogue item costs beyond the candidates' own count: its
 * place in byte order and in popularity order, its train count, the user
 * it is relevant to, and two coverage flags
 */
#define RANKING_ITEM_BYTES	(2 * sizeof(int) + 2 * sizeof(int64) + 2 * sizeof(bool))

/* Columns shown in a message about a missing column */
#define RANKING_HINT_COLUMNS	10

/* One evaluation: the catalogue, the train pairs, the current user, the sums */
typedef struct Ranking
{
	BlockScorer scorer;
	Candidates	items;
	const UserColumns *user_columns;	/* typed columns, or NULL: arrays */
	int			d_user;			/* the user's inputs (all of the model's, typed) */
	int			k;

	int		   *by_id;			/* [n] items in byte order of their ids */
	int		   *by_popularity;	/* [n] items, most train rows first */
	int64	   *count;			/* [n] train rows of each item */
	int64	   *relevant_to;	/* [n] the number of the user it is relevant to */
	bool	   *covered[2];		/* [n] in some user's top k, per ranker */
	double		held;			/* bytes counted against the budget */

	HTAB	   *train;			/* PairKey of every train pair of a catalogue item */
	double		pairs;

	/* The current user */
	int64		user_number;	/* 1, 2, ... */
	uint64		user_hash;
	int			n_relevant;
	float	   *x;				/* [SERVE_BLOCK_ROWS][d_in], a block of candidates */
	TopItem    *heap;			/* [k] */
	int		   *top;			/* [k] one ranker's top k */
	double	   *ideal;			/* [k + 1] ideal DCG of the first i ranks */

	/* Sums over the users evaluated */
	int64		users_seen;
	int64		users_evaluated;
	double		recall[2];
	double		ndcg[2];
	int64		hit_users[2];
	Size		covered_items[2];
} Ranking;

static char *RankingColumnName(const char *argument, const char *value);
static void RankingCheckColumn(const char *source_name, const char *source,
							   const char *argument, const char *column);
static void RankingIndexItems(Ranking *ranking, const char *item_column);
static int	RankingFindItem(const Ranking *ranking, const char *id);
static int	RankingCompareIds(const void *a, const void *b, void *arg);
static int	RankingComparePopularity(const void *a, const void *b, void *arg);
static void RankingReadTrain(Ranking *ranking, const char *train, const char *user_column,
							 const char *item_column);
static void RankingReadTest(Ranking *ranking, const char *test, const char *user_column,
							const char *item_column, const char *user_features);
static void RankingAddTestItem(Ranking *ranking, const char *item);
static void RankingEvaluateUser(Ranking *ranking, const char *user, const float *user_x);
static void RankingCount(Ranking *ranking, int ranker, int size);
static void RankingEmit(ReturnSetInfo *rsinfo, const Ranking *ranking);
static void RankingEmitRow(ReturnSetInfo *rsinfo, const char *metric, double model,
						   double popularity, bool isnull);

/*
 * The column an id argument names: one column name, quoted or not
 */
static char *
RankingColumnName(const char *argument, const char *value)
{
	List	   *names;

	if (!TypedParseNames(value, &names) || list_length(names) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must name one column, got \"%s\"", argument, value),
				 errhint("train, test and items must each have the column by that name; an expression can be a column of a query.")));
	return (char *) linitial(names);
}

/*
 * Check that a source has exactly one column of a name, before any
 * statement reads it
 */
static void
RankingCheckColumn(const char *source_name, const char *source, const char *argument,
				   const char *column)
{
	SourceShape any = {
		.arguments = source_name,
		.columns = source_name,
		.more_columns = true,
	};
	TupleDesc	desc = SourcePlanColumns(SourcePrepare(psprintf("SELECT * FROM %s", SourceFrom(source)),
													   0, NULL, 0, &any));
	StringInfoData names;
	int			count = 0;
	int			columns = 0;

	initStringInfo(&names);
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute attr = TupleDescAttr(desc, i);

		if (attr->attisdropped)
			continue;
		count += strcmp(NameStr(attr->attname), column) == 0;
		if (++columns <= RANKING_HINT_COLUMNS)
			appendStringInfo(&names, "%s\"%s\"", columns > 1 ? ", " : "", NameStr(attr->attname));
	}
	if (count == 1)
		return;
	if (columns > RANKING_HINT_COLUMNS)
		appendStringInfoString(&names, ", ...");
	if (count == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("%s has no column \"%s\", which %s names", source_name, column, argument),
				 columns == 0 ? errdetail("%s has no columns.", source_name) :
				 errdetail("%s has %d column%s: %s.", source_name, columns, columns == 1 ? "" : "s",
						   names.data),
				 errhint("A name that is not all lower case must be double-quoted.")));
	ereport(ERROR,
			(errcode(ERRCODE_AMBIGUOUS_COLUMN),
			 errmsg("%s has %d columns named \"%s\", which %s names", source_name, count, column,
					argument)));
}

/*
 * Order two items by the bytes of their ids
 */
static int
RankingCompareIds(const void *a, const void *b, void *arg)
{
	char	  **ids = (char **) arg;

	return strcmp(ids[*(const int *) a], ids[*(const int *) b]);
}

/*
 * Order two items by their train rows, most first; ties by their ids' bytes
 */
static int
RankingComparePopularity(const void *a, const void *b, void *arg)
{
	const Ranking *ranking = (const Ranking *) arg;
	int			x = *(const int *) a;
	int			y = *(const int *) b;

	if (ranking->count[x] != ranking->count[y])
		return ranking->count[x] > ranking->count[y] ? -1 : 1;
	return strcmp(ranking->items.ids[x], ranking->items.ids[y]);
}

/*
 * Count the per-item arrays against the budget, allocate them, and index
 * the catalogue by id, refusing an id that comes twice
 */
static void
RankingIndexItems(Ranking *ranking, const char *item_column)
{
	Size		n = ranking->items.n;
	MemoryContext context = ranking->items.context;

	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("items has no rows: there are no candidates to rank")));
	/* ReadCandidates holds at most MaxAllocHugeSize / sizeof(char *) ids */
	if (n > (Size) INT_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("items has %zu rows, more than the %d this function can rank", n, INT_MAX)));
	ranking->held = ranking->items.held + (double) n * RANKING_ITEM_BYTES;
	MemoryBudgetCheck(ranking->held, "ranking the candidate items",
					  psprintf("%zu items take %.0f MB, and their places in both rankings, train counts and relevance marks %.0f MB.",
							   n, ceil(ranking->items.held / (1024.0 * 1024.0)),
							   ceil((double) n * RANKING_ITEM_BYTES / (1024.0 * 1024.0))));
	ranking->by_id = MemoryContextAllocHuge(context, sizeof(int) * n);
	ranking->by_popularity = MemoryContextAllocHuge(context, sizeof(int) * n);
	ranking->count = MemoryContextAllocHuge(context, sizeof(int64) * n);
	ranking->relevant_to = MemoryContextAllocHuge(context, sizeof(int64) * n);
	for (int r = 0; r < 2; r++)
		ranking->covered[r] = MemoryContextAllocHuge(context, sizeof(bool) * n);
	for (Size i = 0; i < n; i++)
	{
		ranking->by_id[i] = (int) i;
		ranking->count[i] = 0;
		ranking->relevant_to[i] = 0;
		ranking->covered[0][i] = ranking->covered[1][i] = false;
	}

	qsort_arg(ranking->by_id, n, sizeof(int), RankingCompareIds, ranking->items.ids);
	for (Size i = 1; i < n; i++)
		if (strcmp(ranking->items.ids[ranking->by_id[i - 1]], ranking->items.ids[ranking->by_id[i]]) == 0)
		{
			Size		distinct = 1;

			for (Size j = 1; j < n; j++)
				distinct += strcmp(ranking->items.ids[ranking->by_id[j - 1]],
								   ranking->items.ids[ranking->by_id[j]]) != 0;
			ereport(ERROR,
					(errcode(ERRCODE_UNIQUE_VIOLATION),
					 errmsg("items has %zu rows but %zu distinct ids in column \"%s\"",
							n, distinct, item_column),
					 errdetail("Item id \"%s\" is one of those that appear more than once.",
							   ranking->items.ids[ranking->by_id[i]]),
					 errhint("The catalogue must have one row per item.")));
		}
}

/*
 * The catalogue's index of an item id, -1 if it is not in the catalogue
 */
static int
RankingFindItem(const Ranking *ranking, const char *id)
{
	Size		low = 0;
	Size		high = ranking->items.n;

	while (low < high)
	{
		Size		middle = low + (high - low) / 2;
		int			item = ranking->by_id[middle];
		int			cmp = strcmp(id, ranking->items.ids[item]);

		if (cmp == 0)
			return item;
		if (cmp < 0)
			high = middle;
		else
			low = middle + 1;
	}
	return -1;
}

/*
 * Read the train pairs: count each catalogue item's rows, and hold the
 * (user, item) pairs of catalogue items as mixrec_recommend holds its
 * excluded pairs.  A row with a NULL id, or of an item not in the
 * catalogue, changes neither.
 */
static void
RankingReadTrain(Ranking *ranking, const char *train, const char *user_column,
				 const char *item_column)
{
	static const Oid types[] = {TEXTOID, TEXTOID};
	SourceShape shape = {
		.arguments = "train, user_id and item_id",
		.columns = "user_id and item_id",
		.ncolumns = lengthof(types),
		.types = types,
	};
	HASHCTL		ctl;
	SPIPlanPtr	plan;
	SourceCursor cursor;
	HeapTuple	tuple;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(uint64);
	ctl.entrysize = sizeof(uint64);
	ctl.hcxt = ranking->items.context;
	ranking->train = hash_create("mixrec train pairs", 1024, &ctl,
								 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	ranking->pairs = 0;

	plan = SourcePrepare(psprintf("SELECT (%s)::pg_catalog.text, (%s)::pg_catalog.text FROM %s",
								  quote_identifier(user_column), quote_identifier(item_column),
								  SourceFrom(train)),
						 0, NULL, 0, &shape);
	SourceOpen(&cursor, plan, "train", SERVE_FETCH_ROWS);
	while ((tuple = SourceNext(&cursor)) != NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(cursor.batch_context);
		bool		user_null;
		bool		item_null;
		Datum		user = SPI_getbinval(tuple, cursor.desc, 1, &user_null);
		Datum		item = SPI_getbinval(tuple, cursor.desc, 2, &item_null);
		char	   *item_id;
		int			found_item;
		uint64		key;
		bool		found;

		if (user_null || item_null)
		{
			MemoryContextSwitchTo(old);
			continue;
		}
		item_id = TextDatumGetCString(item);
		found_item = RankingFindItem(ranking, item_id);
		if (found_item >= 0)
		{
			ranking->count[found_item]++;
			key = PairKey(IdHash(TextDatumGetCString(user), SERVE_USER_SEED), item_id);
			hash_search(ranking->train, &key, HASH_ENTER, &found);
			if (!found && ranking->held + ++ranking->pairs * EXCLUDED_PAIR_BYTES > MemoryBudget())
				MemoryBudgetCheck(ranking->held + ranking->pairs * EXCLUDED_PAIR_BYTES,
								  "holding the candidate items and the train pairs",
								  psprintf("%zu items and their rankings take %.0f MB, and %.0f train pairs so far %.0f MB.",
										   ranking->items.n, ceil(ranking->held / (1024.0 * 1024.0)),
										   ranking->pairs,
										   ceil(ranking->pairs * EXCLUDED_PAIR_BYTES / (1024.0 * 1024.0))));
		}
		MemoryContextSwitchTo(old);
	}
	SourceClose(&cursor);
}

/*
 * Add one test item of the current user to its relevant items, unless it
 * is not in the catalogue, is among the user's train items, or is there
 * already
 */
static void
RankingAddTestItem(Ranking *ranking, const char *item)
{
	int			found_item = RankingFindItem(ranking, item);
	uint64		key;

	if (found_item < 0 || ranking->relevant_to[found_item] == ranking->user_number)
		return;
	key = PairKey(ranking->user_hash, item);
	if (hash_search(ranking->train, &key, HASH_FIND, NULL) != NULL)
		return;
	ranking->relevant_to[found_item] = ranking->user_number;
	ranking->n_relevant++;
}

/*
 * Add one ranker's top k of the current user (its first size items in
 * ranking->top) to the sums
 */
static void
RankingCount(Ranking *ranking, int ranker, int size)
{
	int			hits = 0;
	double		dcg = 0;

	for (int r = 0; r < size; r++)
	{
		int			item = ranking->top[r];

		if (!ranking->covered[ranker][item])
		{
			ranking->covered[ranker][item] = true;
			ranking->covered_items[ranker]++;
		}
		if (ranking->relevant_to[item] == ranking->user_number)
		{
			hits++;
			dcg += 1.0 / log2(r + 2.0);
		}
	}
	ranking->recall[ranker] += (double) hits / ranking->n_relevant;
	ranking->ndcg[ranker] += dcg / ranking->ideal[Min(ranking->k, ranking->n_relevant)];
	ranking->hit_users[ranker] += hits > 0;
}

/*
 * Rank the candidates for the current user with both rankers and count
 * their top k, unless the user has no relevant item
 */
static void
RankingEvaluateUser(Ranking *ranking, const char *user, const float *user_x)
{
	int			size;

	if (ranking->n_relevant == 0)
		return;
	CHECK_FOR_INTERRUPTS();
	ranking->users_evaluated++;

	/* The model: what mixrec_recommend ranks, the train pairs excluded */
	size = RecommendTop(&ranking->scorer, &ranking->items, ranking->train, user, user_x,
						ranking->d_user, ranking->user_columns, ranking->k, ranking->x,
						ranking->heap);
	for (int r = 0; r < size; r++)
		ranking->top[r] = ranking->heap[r].item;
	RankingCount(ranking, RANKER_MODEL, size);

	/* Popularity: the most popular candidates */
	size = 0;
	for (Size i = 0; i < ranking->items.n && size < ranking->k; i++)
	{
		int			item = ranking->by_popularity[i];
		uint64		key = PairKey(ranking->user_hash, ranking->items.ids[item]);

		if (hash_search(ranking->train, &key, HASH_FIND, NULL) == NULL)
			ranking->top[size++] = item;
	}
	RankingCount(ranking, RANKER_POPULARITY, size);
}

/*
 * Read test sorted by user id and evaluate each user in turn.  A row with
 * a NULL id is left out.
 */
static void
RankingReadTest(Ranking *ranking, const char *test, const char *user_column,
				const char *item_column, const char *user_features)
{
	static const Oid types[] = {TEXTOID, TEXTOID, InvalidOid};
	SourceShape shape = {
		.arguments = "test, user_id, item_id and user_features",
		.columns = "user_id, item_id and user_features",
		.ncolumns = lengthof(types),
		.types = types,
	};
	const char *user = quote_identifier(user_column);
	MemoryContext user_context = AllocSetContextCreate(CurrentMemoryContext,
													   "mixrec ranking user",
													   ALLOCSET_DEFAULT_SIZES);
	float	   *user_x = palloc_array(float, ranking->d_user);
	float	   *row_x = palloc_array(float, ranking->d_user);
	char	   *current = NULL;
	SPIPlanPtr	plan;
	SourceCursor cursor;
	HeapTuple	tuple;

	/*
	 * Sorted in byte order, so that a user's rows are together whatever
	 * the collation of the id
	 */
	plan = SourcePrepare(psprintf("SELECT (%s)::pg_catalog.text, (%s)::pg_catalog.text, (%s) FROM %s "
								  "ORDER BY ((%s)::pg_catalog.text COLLATE pg_catalog.\"C\")",
								  user, quote_identifier(item_column), user_features, SourceFrom(test),
								  user),
						 0, NULL, 0, &shape);
	if (ranking->scorer.transform == NULL)
		DatumCheckFeaturesType(TupleDescAttr(SourcePlanColumns(plan), 2)->atttypid, "user_features");

	SourceOpen(&cursor, plan, "test", SERVE_FETCH_ROWS);
	while ((tuple = SourceNext(&cursor)) != NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(cursor.batch_context);
		bool		user_null;
		bool		item_null;
		bool		features_null;
		Datum		user_value = SPI_getbinval(tuple, cursor.desc, 1, &user_null);
		Datum		item_value = SPI_getbinval(tuple, cursor.desc, 2, &item_null);
		Datum		features = SPI_getbinval(tuple, cursor.desc, 3, &features_null);
		char	   *row_user;

		if (user_null || item_null)
		{
			MemoryContextSwitchTo(old);
			continue;
		}
		row_user = TextDatumGetCString(user_value);
		if (current == NULL || strcmp(row_user, current) != 0)
		{
			if (current != NULL)
				RankingEvaluateUser(ranking, current, user_x);
			MemoryContextReset(user_context);
			current = MemoryContextStrdup(user_context, row_user);
			ranking->users_seen++;
			ranking->user_number++;
			ranking->user_hash = IdHash(current, SERVE_USER_SEED);
			ranking->n_relevant = 0;
			ReadFeatures(&ranking->scorer, features, TupleDescAttr(cursor.desc, 2)->atttypid,
						 features_null, ranking->d_user, user_x,
						 "user features");
		}
		else
		{
			ReadFeatures(&ranking->scorer, features, TupleDescAttr(cursor.desc, 2)->atttypid,
						 features_null, ranking->d_user, row_x,
						 "user features");
			for (int i = 0; i < ranking->d_user; i++)
				if (row_x[i] != user_x[i])
					ereport(ERROR,
							(errcode(ERRCODE_DATA_EXCEPTION),
							 errmsg("user \"%s\" has different features in two rows of test", current),
							 errdetail("Input %d of the model is %g in one and %g in the other.",
									   i + 1, user_x[i], row_x[i]),
							 errhint("The user's side of every candidate is read from test: give each user the same features in all its rows, e.g. from a table of users joined to test.")));
		}
		RankingAddTestItem(ranking, TextDatumGetCString(item_value));
		MemoryContextSwitchTo(old);
	}
	if (current != NULL)
		RankingEvaluateUser(ranking, current, user_x);
	SourceClose(&cursor);
	MemoryContextDelete(user_context);
}

/*
 * Append one metric's row
 */
static void
RankingEmitRow(ReturnSetInfo *rsinfo, const char *metric, double model, double popularity,
			   bool isnull)
{
	Datum		values[3];
	bool		nulls[3] = {false, isnull, isnull};

	values[0] = CStringGetTextDatum(metric);
	values[1] = Float8GetDatum(model);
	values[2] = Float8GetDatum(popularity);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * Append the metrics: users, then the averages over them (NULL without a
 * user) and coverage
 */
static void
RankingEmit(ReturnSetInfo *rsinfo, const Ranking *ranking)
{
	double		users = (double) ranking->users_evaluated;
	bool		none = ranking->users_evaluated == 0;
	int			k = ranking->k;

	RankingEmitRow(rsinfo, "users", users, users, false);
	RankingEmitRow(rsinfo, psprintf("recall@%d", k), ranking->recall[RANKER_MODEL] / users,
			ranking->recall[RANKER_POPULARITY] / users, none);
	RankingEmitRow(rsinfo, psprintf("ndcg@%d", k), ranking->ndcg[RANKER_MODEL] / users,
			ranking->ndcg[RANKER_POPULARITY] / users, none);
	RankingEmitRow(rsinfo, psprintf("hit_rate@%d", k), ranking->hit_users[RANKER_MODEL] / users,
			ranking->hit_users[RANKER_POPULARITY] / users, none);
	RankingEmitRow(rsinfo, psprintf("coverage@%d", k),
			(double) ranking->covered_items[RANKER_MODEL] / ranking->items.n,
			(double) ranking->covered_items[RANKER_POPULARITY] / ranking->items.n, false);
}

/*
 * A model's top k for each user of test, and the most popular items of
 * train, against the user's new items in test
 *
 * mixrec_evaluate_ranking(model_name, train, test, user_id, item_id, items,
 *	 k, user_features, item_features, mode, version)
 *	 returns table (metric text, model float8, popularity float8)
 */
Datum
mixrec_evaluate_ranking(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	const char *train = ServeText(fcinfo, 1, "train");
	const char *test = ServeText(fcinfo, 2, "test");
	const char *user_column = RankingColumnName("user_id", ServeText(fcinfo, 3, "user_id"));
	const char *item_column = RankingColumnName("item_id", ServeText(fcinfo, 4, "item_id"));
	const char *items_source = ServeText(fcinfo, 5, "items");
	char	   *user_features = PG_ARGISNULL(7) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(7));
	char	   *item_features = PG_ARGISNULL(8) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(8));
	MemoryContext context = CurrentMemoryContext;
	Ranking    *ranking = palloc0(sizeof(Ranking));
	MixrecModel *model;
	int			d_in;
	SPIPlanPtr	plan;

	if (PG_ARGISNULL(6))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("k must not be NULL")));
	ranking->k = PG_GETARG_INT32(6);
	if (ranking->k < 1 || ranking->k > MIXREC_MAX_K)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k must be between 1 and %d, got %d", MIXREC_MAX_K, ranking->k)));

	InitMaterializedSRF(fcinfo, 0);
	model = RegistryModel(fcinfo, 0, 10);
	ScorerInit(&ranking->scorer, model, ServeMode(fcinfo, 9), model->alpha);
	d_in = MlpInputDim(&model->shape);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	MemoryContextSwitchTo(context);
	RankingCheckColumn("train", train, "user_id", user_column);
	RankingCheckColumn("train", train, "item_id", item_column);
	RankingCheckColumn("test", test, "user_id", user_column);
	RankingCheckColumn("test", test, "item_id", item_column);
	RankingCheckColumn("items", items_source, "item_id", item_column);
	MemoryContextSwitchTo(context);
	if (ranking->scorer.transform)
	{
		if (user_features != NULL || item_features != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the model was trained on typed columns, so user_features and item_features must be NULL"),
					 errhint("Its columns are read by name from test and items.")));
		/* test's item id column is its item's, never the user's */
		ranking->user_columns = SplitTypedColumns(ranking->scorer.transform, "test", test,
												  item_column, items_source, &user_features,
												  &item_features);
		MemoryContextSwitchTo(context);
	}
	else if (user_features == NULL || item_features == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL: the model takes arrays of features",
						user_features == NULL ? "user_features" : "item_features")));

	/* The catalogue, as mixrec_recommend reads its candidates */
	ranking->items.context = context;
	plan = PrepareIdFeatures("items", items_source, "item_id", quote_identifier(item_column),
							 "item_features", item_features, ranking->scorer.transform != NULL);
	MemoryContextSwitchTo(context);
	ReadCandidates(&ranking->items, plan, &ranking->scorer, d_in);
	RankingIndexItems(ranking, item_column);
	ranking->d_user = ranking->user_columns ? d_in : d_in - ranking->items.dim;

	RankingReadTrain(ranking, train, user_column, item_column);
	for (Size i = 0; i < ranking->items.n; i++)
		ranking->by_popularity[i] = (int) i;
	qsort_arg(ranking->by_popularity, ranking->items.n, sizeof(int), RankingComparePopularity, ranking);

	ranking->x = MemoryContextAllocHuge(context, sizeof(float) * SERVE_BLOCK_ROWS * d_in);
	ranking->heap = palloc_array(TopItem, ranking->k);
	ranking->top = palloc_array(int, ranking->k);
	ranking->ideal = palloc_array(double, ranking->k + 1);
	ranking->ideal[0] = 0;
	for (int i = 1; i <= ranking->k; i++)
		ranking->ideal[i] = ranking->ideal[i - 1] + 1.0 / log2(i + 1.0);
	RankingReadTest(ranking, test, user_column, item_column, user_features);
	SPI_finish();
	MemoryContextSwitchTo(context);

	if (ranking->users_seen == 0)
		ereport(NOTICE,
				(errmsg("test has no rows with a user id and an item id"),
				 errdetail("No user is evaluated: the averages over users are NULL."),
				 errhint("Check that test holds the interactions to evaluate on.")));
	else if (ranking->users_evaluated < ranking->users_seen)
		ereport(NOTICE,
				(errmsg("%lld of the %lld users of test have no relevant item and are left out",
						(long long) (ranking->users_seen - ranking->users_evaluated),
						(long long) ranking->users_seen),
				 errdetail("A user's relevant items are its test items that are in items and not among its train items."),
				 errhint("Items a user has in train are not candidates for it, so only new items count.")));
	RankingEmit(rsinfo, ranking);
	return (Datum) 0;
}
