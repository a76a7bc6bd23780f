/*
 * src/training.h
 *	  Declarations shared by the training files of the PostgreSQL layer.
 */
#ifndef MIXREC_TRAINING_H
#define MIXREC_TRAINING_H

#include "postgres.h"

#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "mixrec/adam.h"
#include "mixrec/model.h"
#include "mixrec/train.h"
#include "nodes/pg_list.h"
#include "portability/instr_time.h"
#include "utils/jsonb.h"
#include "source.h"

/* Where the rows are while training */
typedef enum TrainMethod
{
	TRAIN_AUTO = 0,				/* in memory if they fit mixrec.train_memory */
	TRAIN_MEMORY,				/* in memory, or an error */
	TRAIN_STREAM				/* read by mixrec_fit once per epoch */
} TrainMethod;

/* How negatives are drawn from the item catalogue (src/item_catalogue.c) */
typedef enum NegativeSampling
{
	NEGATIVE_UNIFORM = 0,		/* every other item alike */
	NEGATIVE_POPULARITY			/* in proportion to count^0.75 of training positives */
} NegativeSampling;

/* A training from typed columns (src/train_typed.c) */
typedef struct TypedTraining
{
	char	   *row;			/* ROW("a", "b", ...) of the feature columns */
	char	   *holdout;		/* SQL: the source row's place in [0, 1) for the
								 * validation split, a hash of every column */
	char	   *round_hash;		/* SQL: the row's place in [0, 1) from the seed
								 * in parameter $3, for a streamed epoch's rounds */
	uint8	   *section;		/* the transform the model carries */
	uint32		section_len;
	const struct Transform *transform;

	/*
	 * Training from positives only (src/train_negatives.c): the source row's
	 * item id, read after the holdout value, and the negatives drawn for it
	 */
	const char *item_id;		/* SQL of the id column, or NULL: rows have labels */
	Oid			item_type;
	struct Negatives *negatives;
} TypedTraining;

/* The SQL pieces of the source: text the caller gave */
typedef struct TrainArguments
{
	const char *source;
	const char *features;
	const char *label;
	const char *domain;			/* NULL: every row counts for both models */
	const char *weight;			/* NULL: every row weighs 1 */
	TypedTraining *typed;		/* typed columns (features is then their ROW()),
								 * or NULL: features is an array */
} TrainArguments;

/* What a training run was asked to do: its options are set by src/options.c */
typedef struct TrainOptions
{
	const char *model_name;		/* for messages and progress only */
	double		alpha;
	MlpShape	shape;			/* hidden sizes; dims filled from the data */
	int			epochs;
	int			batch_size;
	AdamConfig	adam;
	double		validation_fraction;
	int			patience;		/* 0: no early stopping */
	bool		standardize;
	bool		shuffle;
	ModelInitKind init;
	uint64		seed;
	bool		skip_invalid;
	TrainMethod method;
	int			pool_batches;	/* a streamed epoch shuffles this many batches together */
	int			partitions;		/* partial states an epoch is split over (each
								 * takes batch_size / partitions rows per
								 * step); 0: 1 for mixrec_fit, counted by a
								 * streamed mixrec_train */
	int			rounds;			/* streamed mixrec_train: partial aggregates
								 * per epoch, each over a share of the rows;
								 * 0: chosen from the partitions */
	MixrecModel *initial;		/* the model to continue, or NULL: a new one */
	List	   *exclude;		/* typed columns: names that are not features */
	Jsonb	   *transform;		/* typed columns: per-column overrides, or NULL */
	Jsonb	   *embed;			/* typed columns: embedded columns and their
								 * dimensions, or NULL */
	int			embed_optimizer;	/* EMBED_OPTIMIZER_* */
	const char *items;			/* positives only: the item catalogue, or NULL */
	const char *item_id;		/* positives only: the id column of items and source */
	int			negatives;		/* positives only: negatives drawn per positive */
	int			negative_sampling;	/* positives only: a NegativeSampling */
} TrainOptions;

/* How embedding tables are stepped (AdamConfig.lazy_embeddings) */
#define EMBED_OPTIMIZER_DENSE	0
#define EMBED_OPTIMIZER_LAZY	1
#define EMBED_OPTIMIZER_AUTO	2	/* lazy from EMBED_LAZY_ROWS table rows */
#define EMBED_LAZY_ROWS			10000

/* The rows read from the source */
typedef struct TrainRows
{
	MemoryContext context;		/* where the arrays live */
	Size		rows;
	Size		capacity;
	Size		skipped;
	int			input_dim;		/* 0 until the first row fixes it */
	int			output_dim;
	bool		has_weight;
	bool		has_domain;
	bool		stop_when_full; /* at the budget: stop reading, set full */
	bool		full;
	float	   *x;
	float	   *y;
	float	   *w;
	unsigned char *o;
	unsigned char *c;

	/* Typed columns: the encoder of their ROW(), and the validation split */
	struct RecordEncoder *typed;	/* NULL: the features are an array */
	unsigned char *holdout;		/* [rows] 1: a validation row */
	double		holdout_fraction;

	/*
	 * Training from positives only (src/train_negatives.c): each row's item
	 * in the catalogue, and what the negatives to come take of the budget
	 */
	const struct ItemCatalogue *catalogue;	/* NULL: rows have labels */
	uint32	   *item;			/* [rows] */
	int			rows_per_row;	/* a positive and its negatives (0: 1) */
	double		reserved_bytes; /* the catalogue and its sampling table */

	/*
	 * Streaming: called with each row read, which it consumes (rows is then
	 * reset to 0), so that the rows are not held in memory
	 */
	void		(*consume) (struct TrainRows *rows, void *arg);
	void	   *consume_arg;
} TrainRows;

/* The per-epoch record of a training run (src/train_log.c) */
typedef struct EpochLog
{
	const TrainOptions *opts;
	instr_time	start;
	StringInfoData json;
	double		best_loss;
	int			best_epoch;
	int			epochs_run;
	double		last_loss;
	bool		stopped_early;
} EpochLog;

typedef enum EpochVerdict
{
	EPOCH_GO_ON,
	EPOCH_BEST,					/* the best validation loss so far: keep this model */
	EPOCH_STOP					/* early stopping: no better epoch for `patience` epochs */
} EpochVerdict;

/* src/train_log.c */
extern void EpochLogStart(EpochLog *log, const TrainOptions *opts, instr_time start);
extern void EpochLogBegin(EpochLog *log, int epoch);
extern EpochVerdict EpochLogEnd(EpochLog *log, int epoch, const LossValue *train,
								const TrainEval *eval, double rows, double epoch_ms);
extern char *EpochLogMetrics(EpochLog *log, const char *fields);
extern Datum TrainResult(FunctionCallInfo fcinfo, bytea *weights, const char *metrics);
extern void CheckDiverged(const MixrecModel *model, int epoch, double lr);
extern void *EvaluationWork(const MixrecModel *model, int batch_size, Size n_rows, TrainWork *work);
extern double ElapsedMs(instr_time start);

/* src/train_typed.c */
extern bool TypedTrainingPrepare(TrainOptions *opts, TrainArguments *args, const char *schema);
extern TupleDesc SourceColumns(const char *from, const char *what);

/* src/train_stream.c */
extern Datum TrainStream(FunctionCallInfo fcinfo, const TrainOptions *opts,
						 const TrainArguments *args, MemoryContext result_context,
						 instr_time start);

/* src/train_source.c */
extern char *SourceQuery(const char *source, const char *features, const char *label,
						 const char *domain, const char *weight, const char *where,
						 const TypedTraining *typed);
extern void ReadSource(const char *query, const TrainOptions *opts, TrainRows *data);
extern void TrainRowsView(const TrainRows *rows, TrainData *view);
extern TupleDesc SourceProbe(const char *query, const SourceShape *shape,
							 const TypedTraining *typed);

/* An incremental training's column (src/train_since.c) */
typedef struct SinceColumn
{
	const char *column;			/* its name, as given */
	Oid			type;
	const char *type_sql;		/* its type, schema-qualified, for casts */
	const char *type_name;		/* its type, for the registry and messages */
	char	   *upto;			/* the largest value above the watermark, or NULL */
	int64		rows;			/* rows above the watermark */
	int64		null_rows;		/* rows whose column is NULL: skipped */
} SinceColumn;

/* src/train_since.c */
extern void SinceResolve(SinceColumn *since, const char *source, const char *column);
extern char *SinceCondition(const SinceColumn *since, const char *watermark, const char *upto);
extern void SinceScan(SinceColumn *since, const char *source, const char *watermark);
extern char *SinceSource(const SinceColumn *since, const char *source, const char *watermark);

/* src/agg.c */
extern bytea *NewTrainingState(MemoryContext context, const MixrecModel *given,
							   const TrainOptions *opts);

#endif							/* MIXREC_TRAINING_H */
