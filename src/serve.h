/*
 * src/serve.h
 *	  Scoring blocks of rows and ranking candidate items: what
 *	  mixrec_recommend (src/serve.c) and mixrec_evaluate_ranking
 *	  (src/evaluate_ranking.c) share.
 *
 * A BlockScorer scores up to SERVE_BLOCK_ROWS rows with one matrix product
 * per layer; Candidates holds a catalogue of items in memory;
 * RecommendTop ranks every candidate for one user, leaving out the
 * excluded (user, item) pairs, whose set holds PairKey hashes.
 */
#ifndef MIXREC_SERVE_H
#define MIXREC_SERVE_H

#include "postgres.h"

#include "executor/spi.h"
#include "fmgr.h"
#include "mixrec.h"
#include "mixrec/predict.h"
#include "mixrec/score_plan.h"
#include "typed.h"
#include "utils/hsearch.h"

#define SERVE_BLOCK_ROWS	1024
#define SERVE_FETCH_ROWS	10000

/*
 * Memory counted against the budget per candidate id beyond its text (the
 * chunk header palloc adds) and per excluded pair (dynahash's element
 * header and key, and its share of the bucket array), so that neither
 * grows unseen
 */
#define ID_OVERHEAD_BYTES		16
#define EXCLUDED_PAIR_BYTES		48

/* The seed of a user id's hash in PairKey */
#define SERVE_USER_SEED			0x6d78

/* One model, ready to score blocks of rows */
typedef struct BlockScorer
{
	MixrecModel *model;
	const Transform *transform; /* typed columns, or NULL: arrays */
	RecordEncoder encoder;		/* the ROW() of typed columns of the row source */
	ScoreMode	mode;
	double		alpha;
	float	   *soup;
	bool		has_plan;		/* no embedding tables: scored with plan */
	ScorePlan	plan;
	float	   *work;			/* ScorePlanBlockFloats or ScoreWorkFloats */
	double	   *open;			/* [block] */
	double	   *commercial;		/* [block] */
	double	   *score;			/* [block] */
} BlockScorer;

/*
 * The inputs a user's typed columns fill: a candidate's row is its item's
 * inputs with these runs taken from its user's
 */
typedef struct UserColumns
{
	int			n;
	uint32	   *position;
	uint32	   *width;
} UserColumns;

/* A candidate in a top k: a score, ties going to the smaller item number */
typedef struct TopItem
{
	double		score;
	int			item;
} TopItem;

/*
 * The k best of a stream of items in a min-heap of at most k (the worst at
 * the root; *size counts them), and the qsort order that lists them best
 * first
 */
extern void TopPush(TopItem *heap, int *size, int k, TopItem item);
extern int	TopCompareDesc(const void *a, const void *b);

/* Candidate items, held in memory */
typedef struct Candidates
{
	MemoryContext context;		/* where they live */
	Size		n;
	Size		capacity;
	int			dim;			/* features per item; -1 until the first item */
	char	  **ids;			/* [capacity] */
	float	   *x;				/* [capacity][dim] */
	double		id_bytes;		/* the ids' text, counted against the budget */
	double		held;			/* all of it */
} Candidates;

extern const char *ServeText(FunctionCallInfo fcinfo, int arg, const char *name);
extern ScoreMode ServeMode(FunctionCallInfo fcinfo, int arg);
extern void ScorerInit(BlockScorer *scorer, MixrecModel *model, ScoreMode mode, double alpha);
extern void ReadFeatures(BlockScorer *scorer, Datum value, Oid type, bool isnull, int expected, float *out,
						 const char *what);
extern SPIPlanPtr PrepareIdFeatures(const char *source_name, const char *source,
									const char *id_name, const char *id,
									const char *features_name, const char *features,
									bool typed);
extern UserColumns *SplitTypedColumns(const Transform *transform, const char *users_name,
									  const char *users, const char *users_skip,
									  const char *items, char **user_row, char **item_row);
extern void ReadCandidates(Candidates *items, SPIPlanPtr plan, BlockScorer *scorer, int d_in);
extern uint64 IdHash(const char *id, uint64 seed);
extern uint64 PairKey(uint64 user_hash, const char *item);
extern int	RecommendTop(BlockScorer *scorer, const Candidates *items, HTAB *excluded,
						 const char *user, const float *user_x, int d_user,
						 const UserColumns *user_columns, int k, float *x, TopItem *heap);

#endif							/* MIXREC_SERVE_H */
