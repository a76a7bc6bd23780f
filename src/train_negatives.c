/*
 * src/train_negatives.c
 *	  Training from positives only, with sampled negatives.
 *
 * Design: with label => NULL, items and item_id, every source row is a
 * positive (label 1): a click, a like, a purchase.  Each positive is joined
 * by `negatives` negative rows (label 0): the positive's row with the
 * item's columns (the model's columns that are columns of items, item_id
 * among them when it is a feature) replaced by those of another item,
 * drawn from items uniformly or by popularity (src/item_catalogue.c).  A
 * negative keeps its positive's domain and weight.  It is never the
 * positive's own item; it may be another item the same user liked, since
 * excluding those would need every user's positives at hand for every
 * draw, and with many items such a draw is rare (the usual choice of
 * word2vec and of sampled-softmax recommenders).
 *
 * Only typed columns: the catalogue encodes each item once with the
 * model's transform, and a negative is its positive's encoded row with
 * the item's runs of inputs overwritten, so it costs a copy, not an encode.
 *
 * In memory (src/train_memory.c), the positives are read as any training
 * rows are, each with its item; the negatives take rows after them, each
 * positive's k rows a copy of it.  Validation rows (held out by the row
 * hash, as in any training of typed columns) get their negatives drawn
 * once, so their loss and AUC compare across epochs; training rows get
 * theirs drawn again at the start of every epoch, which overwrites only
 * the item's inputs.  Each positive's negatives follow it in the lists of
 * rows, so an unshuffled epoch trains them in that order.
 *
 * Streamed (src/train_stream.c), an epoch reads the training rows through
 * a cursor and adds each positive to a training state (src/core/fit.c)
 * with its negatives right after it, drawn as they come; the state's pool
 * shuffles them.  This runs in the backend, not as a parallel aggregate,
 * since the catalogue is here.  The negatives of an epoch are drawn in
 * the order of the source's training rows from a generator seeded by the
 * seed and the epoch, the same draws as in memory: an unshuffled training
 * of an ordered source trains the same model either way.
 *
 * Memory: the catalogue and its sampling table live in the training's
 * context for the whole run, counted against mixrec.train_memory before
 * any row is read, and so are the (1 + negatives) rows per positive held
 * in memory (all of them in memory, the validation rows streamed).  A
 * streamed epoch's reading buffers live in a context deleted at its end.
 */
#include "postgres.h"

#include <math.h>

#include "executor/spi.h"
#include "item_catalogue.h"
#include "miscadmin.h"
#include "mixrec.h"
#include "mixrec/fit.h"
#include "mixrec/standardize.h"
#include "source.h"
#include "train_negatives.h"
#include "typed.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#define NEGATIVES_FETCH_ROWS	10000

/* Mixed into the seed of the draws, so they differ from other uses of the seed */
#define NEGATIVES_SEED			UINT64CONST(0x4E45474154495645)

struct Negatives
{
	int			k;				/* negatives per positive */
	NegativeSampling sampling;
	uint64		seed;
	double		validation_fraction;
	const char *item_name;		/* the id column, as named */
	const char *item_sql;		/* quoted */
	Oid			item_type;
	TupleDesc	items_desc;
	TupleDesc	source_desc;
	ItemCatalogue *catalogue;

	/* In memory: the positives before their negatives, and the training ones */
	Size		held_positives;
	uint32	   *train_positives;	/* in the source's order */
	Size		n_train_positives;

	/* For the metrics */
	uint64		positives_trained;	/* in the last epoch */
	uint64		positives_validated;
};

/* What a streamed epoch's reader hands each positive to */
typedef struct EpochFeed
{
	Negatives  *negatives;
	const MixrecModel *model;
	FitState	state;
	FitWork		work;
	MixrecRandom rng;
	float	   *negative;		/* [input_dim] */
	uint64		positives;
} EpochFeed;

static const char *SamplingName(NegativeSampling sampling);
static int	ColumnOf(TupleDesc desc, const char *name);
static void NegativesRandom(const Negatives *negatives, int epoch, MixrecRandom *rng);
static void CheckItemColumns(const Negatives *negatives, const Transform *transform,
							 bool *item_columns);
static void ExpandRows(Negatives *negatives, TrainRows *rows);
static uint32 *ExpandList(const Negatives *negatives, MemoryContext context,
						  const uint32 *positives, Size n, bool interleaved);
static void DrawFor(const Negatives *negatives, const TrainRows *rows, uint32 positive,
					MixrecRandom *rng);
static void FeedPositive(TrainRows *rows, void *arg);

/*
 * The name of a sampling, as the option spells it
 */
static const char *
SamplingName(NegativeSampling sampling)
{
	return sampling == NEGATIVE_POPULARITY ? "popularity" : "uniform";
}

/*
 * The attribute number of a column of desc, by name; 0 if none
 */
static int
ColumnOf(TupleDesc desc, const char *name)
{
	for (int i = 0; i < desc->natts; i++)
		if (!TupleDescAttr(desc, i)->attisdropped &&
			strcmp(NameStr(TupleDescAttr(desc, i)->attname), name) == 0)
			return i + 1;
	return 0;
}

/*
 * The generator of an epoch's draws (epoch 0: the validation rows')
 */
static void
NegativesRandom(const Negatives *negatives, int epoch, MixrecRandom *rng)
{
	RandomSeed(rng, (negatives->seed ^ NEGATIVES_SEED) +
			   (uint64) epoch * UINT64CONST(0x9E3779B97F4A7C15));
}

/*
 * Check label, items and item_id together, and the id column in items and
 * in the source, before the transform is fitted
 */
Negatives *
NegativesCheckArguments(const TrainOptions *opts, const TrainArguments *args)
{
	Negatives  *negatives;
	List	   *names;
	int			in_items;
	int			in_source;

	if (args->label != NULL && opts->items == NULL && opts->item_id == NULL)
		return NULL;
	if (args->label != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("label and %s cannot be given together", opts->items ? "items" : "item_id"),
				 errdetail("label => '%s' gives every source row a label of its own, while items and item_id make every source row a positive and draw its negatives from items.",
						   args->label),
				 errhint("Leave label NULL to train from positives with sampled negatives, or leave items and item_id NULL to learn the label.")));
	if (opts->items == NULL && opts->item_id == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("label is NULL, but items and item_id are not given"),
				 errhint("Give label => the column to learn; or, for a source of positives only (clicks, likes), items => the item table and item_id => its id column, and negatives are drawn from items.")));
	if (opts->items == NULL || opts->item_id == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s is given without %s", opts->items ? "items" : "item_id",
						opts->items ? "item_id" : "items"),
				 errdetail("Training from positives only needs the item table and the column of the item's id, in it and in the source.")));
	if (!TypedParseNames(opts->item_id, &names) || list_length(names) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("item_id must be one column name, got \"%s\"", opts->item_id)));

	negatives = palloc0(sizeof(Negatives));
	negatives->k = opts->negatives;
	negatives->sampling = (NegativeSampling) opts->negative_sampling;
	negatives->seed = opts->seed;
	negatives->validation_fraction = opts->validation_fraction;
	negatives->item_name = linitial(names);
	negatives->item_sql = quote_identifier(negatives->item_name);
	negatives->items_desc = SourceColumns(SourceFrom(opts->items), "items");
	negatives->source_desc = SourceColumns(SourceFrom(args->source), "source");
	in_items = ColumnOf(negatives->items_desc, negatives->item_name);
	in_source = ColumnOf(negatives->source_desc, negatives->item_name);
	if (in_items == 0 || in_source == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("item_id \"%s\" is not a column of %s", negatives->item_name,
						in_items == 0 ? "items" : "the source"),
				 errdetail("Every source row is a positive of the item whose id it has: items and the source must both have the column.")));
	negatives->item_type = TupleDescAttr(negatives->items_desc, in_items - 1)->atttypid;
	if (TupleDescAttr(negatives->source_desc, in_source - 1)->atttypid != negatives->item_type)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("item_id \"%s\" is %s in items but %s in the source", negatives->item_name,
						format_type_be(negatives->item_type),
						format_type_be(TupleDescAttr(negatives->source_desc, in_source - 1)->atttypid)),
				 errhint("Cast one of them, so that the ids compare as the same type.")));
	return negatives;
}

/*
 * Mark the model's columns that are columns of items, which a negative
 * takes from its item, and check that items and the source agree on
 * their types
 */
static void
CheckItemColumns(const Negatives *negatives, const Transform *transform, bool *item_columns)
{
	if (TransformColumnsIn(transform, negatives->items_desc, item_columns) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("none of the model's columns is a column of items"),
				 errdetail("A negative is its positive's row with the item's columns taken from another item, by name: with none, it would be its positive."),
				 errhint("Give items the columns that describe an item (its category, its price, item_id itself), by the names the source has, and train on them.")));
	for (uint32 c = 0; c < transform->n_columns; c++)
	{
		int			in_items = ColumnOf(negatives->items_desc, transform->columns[c].name);
		int			in_source = ColumnOf(negatives->source_desc, transform->columns[c].name);
		Oid			items_type;
		Oid			source_type;

		if (!item_columns[c] || in_source == 0)
			continue;
		items_type = TupleDescAttr(negatives->items_desc, in_items - 1)->atttypid;
		source_type = TupleDescAttr(negatives->source_desc, in_source - 1)->atttypid;
		if (items_type != source_type)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("column \"%s\" is %s in items but %s in the source",
							transform->columns[c].name, format_type_be(items_type),
							format_type_be(source_type)),
					 errdetail("A negative takes the item's columns from items in place of the positive's: they must be read alike."),
					 errhint("Cast one of them in a query, so that both have the same type.")));
	}
}

/*
 * Read and encode the catalogue; every source row is then a positive
 * whose item the source query reads after its holdout value
 */
void
NegativesPrepare(Negatives *negatives, const TrainOptions *opts, TrainArguments *args)
{
	const Transform *transform;
	bool	   *item_columns;

	if (args->typed == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("training from positives only takes typed columns, but features is the array \"%s\"",
						args->features),
				 errhint("Give features => NULL or a list of columns: a negative is its positive with the item's columns replaced.")));
	transform = args->typed->transform;
	item_columns = palloc_array(bool, Max(transform->n_columns, 1));
	CheckItemColumns(negatives, transform, item_columns);
	negatives->catalogue = ItemCatalogueLoad(opts->items, negatives->item_sql,
											 negatives->item_type, transform, item_columns,
											 CurrentMemoryContext);
	args->typed->item_id = negatives->item_sql;
	args->typed->item_type = negatives->item_type;
	args->typed->negatives = negatives;
	/* Every source row is a positive */
	args->label = "1";
}

/*
 * Rows read from the source carry their item; in memory, each will take
 * 1 + k rows beside the catalogue
 */
void
NegativesRowsInit(const Negatives *negatives, TrainRows *rows)
{
	rows->catalogue = negatives->catalogue;
	rows->rows_per_row = 1 + negatives->k;
	rows->reserved_bytes = ItemCatalogueBytes(negatives->catalogue);
}

/*
 * The bytes rows estimated at `bytes` take in memory with their negatives
 */
double
NegativesEstimateBytes(const Negatives *negatives, double bytes)
{
	return bytes * (1 + negatives->k) + ItemCatalogueBytes(negatives->catalogue);
}

/*
 * Count the training positives of each item, and fix the sampling
 */
void
NegativesCount(Negatives *negatives, const TrainRows *rows, const uint32 *train_rows, Size n_train)
{
	for (Size i = 0; i < n_train; i++)
		ItemCatalogueCount(negatives->catalogue, rows->item[train_rows[i]]);
	ItemCatalogueSampling(negatives->catalogue, negatives->sampling);
}

/*
 * Add k rows after the positives for each positive's negatives, each a
 * copy of its positive labelled 0 (the item's inputs are drawn later)
 */
static void
ExpandRows(Negatives *negatives, TrainRows *rows)
{
	Size		n = rows->rows;
	int			k = negatives->k;
	int			d = rows->input_dim;
	Size		total;

	Assert(rows->output_dim == 1);
	if (n > (Size) (PG_UINT32_MAX - 1) / (1 + k))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%zu positives with %d negatives each make more than %u rows", n, k,
						PG_UINT32_MAX - 1)));
	total = n * (1 + k);

	/* The item and holdout arrays keep the positives only */
	rows->x = repalloc_huge(rows->x, sizeof(float) * total * d);
	rows->y = repalloc_huge(rows->y, sizeof(float) * total);
	if (rows->has_weight)
		rows->w = repalloc_huge(rows->w, sizeof(float) * total);
	if (rows->has_domain)
	{
		rows->o = repalloc_huge(rows->o, total);
		rows->c = repalloc_huge(rows->c, total);
	}
	for (Size p = 0; p < n; p++)
	{
		if ((p & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		for (int j = 0; j < k; j++)
		{
			Size		r = n + p * k + j;

			memcpy(rows->x + r * d, rows->x + p * d, sizeof(float) * d);
			rows->y[r] = 0.0f;
			if (rows->has_weight)
				rows->w[r] = rows->w[p];
			if (rows->has_domain)
			{
				rows->o[r] = rows->o[p];
				rows->c[r] = rows->c[p];
			}
		}
	}
	rows->rows = total;
	rows->capacity = total;
	negatives->held_positives = n;
}

/*
 * A list of positives and their negatives' rows: each positive followed by
 * its negatives (interleaved), or the positives followed by their
 * negatives, in the same order
 */
static uint32 *
ExpandList(const Negatives *negatives, MemoryContext context, const uint32 *positives, Size n,
		   bool interleaved)
{
	int			k = negatives->k;
	uint32	   *list = MemoryContextAllocHuge(context, sizeof(uint32) * (n * (1 + k) + 1));
	Size		q = 0;

	for (Size i = 0; i < n; i++)
	{
		uint32		p = positives[i];
		uint32		first = (uint32) (negatives->held_positives + (Size) p * k);

		if (interleaved)
		{
			list[q++] = p;
			for (int j = 0; j < k; j++)
				list[q++] = first + j;
		}
		else
		{
			list[i] = p;
			for (int j = 0; j < k; j++)
				list[n + i * k + j] = first + j;
		}
	}
	return list;
}

/*
 * Draw a positive's negatives into their rows
 */
static void
DrawFor(const Negatives *negatives, const TrainRows *rows, uint32 positive, MixrecRandom *rng)
{
	Size		first = negatives->held_positives + (Size) positive * negatives->k;

	for (int j = 0; j < negatives->k; j++)
		ItemCatalogueFill(negatives->catalogue,
						  ItemCatalogueDraw(negatives->catalogue, rng, rows->item[positive]),
						  rows->x + (first + j) * rows->input_dim);
}

/*
 * Add the negatives in memory (see the header)
 */
void
NegativesExpand(Negatives *negatives, const MixrecModel *model, TrainRows *rows,
				uint32 **train_rows, Size *n_train, uint32 **val_rows, Size *n_val)
{
	MixrecRandom rng;

	if (model->flags & MIXREC_FLAG_STANDARDIZE)
		ItemCatalogueStandardize(negatives->catalogue, model->mean, model->std);
	ExpandRows(negatives, rows);
	negatives->n_train_positives = *n_train;
	negatives->train_positives = MemoryContextAllocHuge(rows->context,
														sizeof(uint32) * (*n_train + 1));
	memcpy(negatives->train_positives, *train_rows, sizeof(uint32) * *n_train);
	negatives->positives_trained = *n_train;
	negatives->positives_validated = *n_val;

	/* The validation rows' negatives, once */
	NegativesRandom(negatives, 0, &rng);
	for (Size i = 0; i < *n_val; i++)
	{
		if ((i & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		DrawFor(negatives, rows, (*val_rows)[i], &rng);
	}

	/*
	 * Training rows as they are trained unshuffled, each positive followed
	 * by its negatives; validation rows as a streamed training holds them
	 * (NegativesExpandValidation), so both evaluate in the same order
	 */
	*train_rows = ExpandList(negatives, rows->context, *train_rows, *n_train, true);
	*val_rows = ExpandList(negatives, rows->context, *val_rows, *n_val, false);
	*n_train *= 1 + negatives->k;
	*n_val *= 1 + negatives->k;
}

/*
 * Draw the training rows' negatives of an epoch, in the source's order
 */
void
NegativesDrawEpoch(Negatives *negatives, const TrainRows *rows, int epoch)
{
	MixrecRandom rng;

	NegativesRandom(negatives, epoch, &rng);
	for (Size i = 0; i < negatives->n_train_positives; i++)
	{
		if ((i & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		DrawFor(negatives, rows, negatives->train_positives[i], &rng);
	}
}

/*
 * One pass over the source's ids and holdout values: every row's item is
 * in items (else an error naming the source row), and the training
 * positives of each item are counted
 */
void
NegativesCountSource(Negatives *negatives, const TrainOptions *opts, const TrainArguments *args)
{
	Oid			types[2] = {negatives->item_type, FLOAT8OID};
	SourceShape shape = {
		.arguments = "source and item_id",
		.columns = "source and item_id",
		.ncolumns = lengthof(types),
		.types = types,
	};
	MemoryContext context = CurrentMemoryContext;
	SPIPlanPtr	plan;
	SourceCursor cursor;
	HeapTuple	tuple;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	plan = SourcePrepare(psprintf("SELECT (%s), %s FROM %s", negatives->item_sql,
								  args->typed->holdout, SourceFrom(args->source)),
						 0, NULL, 0, &shape);
	MemoryContextSwitchTo(context);
	SourceOpen(&cursor, plan, "source", NEGATIVES_FETCH_ROWS);
	MemoryContextSwitchTo(cursor.batch_context);
	while ((tuple = SourceNext(&cursor)) != NULL)
	{
		bool		id_null;
		bool		holdout_null;
		Datum		id = SPI_getbinval(tuple, cursor.desc, 1, &id_null);
		double		holdout = DatumGetFloat8(SPI_getbinval(tuple, cursor.desc, 2, &holdout_null));
		uint32		item = ItemCatalogueFind(negatives->catalogue, id, id_null);

		/* Held out as the rows are when read (src/train_source.c) */
		if (holdout_null || holdout >= opts->validation_fraction)
			ItemCatalogueCount(negatives->catalogue, item);
	}
	MemoryContextSwitchTo(context);
	SourceClose(&cursor);
	SPI_finish();
	ItemCatalogueSampling(negatives->catalogue, negatives->sampling);
}

/*
 * Add the validation rows' negatives, drawn once, after them
 */
void
NegativesExpandValidation(Negatives *negatives, const MixrecModel *model, TrainRows *val)
{
	MixrecRandom rng;
	Size		n = val->rows;

	if (model->flags & MIXREC_FLAG_STANDARDIZE)
		ItemCatalogueStandardize(negatives->catalogue, model->mean, model->std);
	negatives->positives_validated = n;
	if (n == 0)
		return;
	ExpandRows(negatives, val);
	NegativesRandom(negatives, 0, &rng);
	for (Size p = 0; p < n; p++)
	{
		if ((p & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		DrawFor(negatives, val, (uint32) p, &rng);
	}
}

/*
 * Add a positive read in a streamed epoch to the training state, and its
 * negatives right after it
 */
static void
FeedPositive(TrainRows *rows, void *arg)
{
	static const float negative_label = 0.0f;
	EpochFeed  *feed = (EpochFeed *) arg;
	const Negatives *negatives = feed->negatives;
	const MixrecModel *model = feed->model;
	int			d = rows->input_dim;
	float	   *x = rows->x;
	float		w = rows->has_weight ? rows->w[0] : 1.0f;
	unsigned char o = rows->has_domain ? rows->o[0] : 1;
	unsigned char c = rows->has_domain ? rows->c[0] : 1;

	Assert(rows->rows == 1);
	if (model->flags & MIXREC_FLAG_STANDARDIZE)
		StandardizeApply(model->mean, model->std, d, x, 1, x);
	FitStateAdd(&feed->state, x, rows->y, w, o, c, &feed->work);
	for (int j = 0; j < negatives->k; j++)
	{
		uint32		item = ItemCatalogueDraw(negatives->catalogue, &feed->rng, rows->item[0]);

		memcpy(feed->negative, x, sizeof(float) * d);
		ItemCatalogueFill(negatives->catalogue, item, feed->negative);
		FitStateAdd(&feed->state, feed->negative, &negative_label, w, o, c, &feed->work);
	}
	feed->positives++;
}

/*
 * One streamed epoch into a new training state (see the header); the
 * state is returned in context, its pool not yet flushed
 */
bytea *
NegativesEpochState(Negatives *negatives, const char *query, const TrainArguments *args,
					bytea *model_blob, const TrainOptions *opts, int epoch,
					MemoryContext context)
{
	MemoryContext epoch_context = AllocSetContextCreate(context, "mixrec negatives epoch",
														ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(epoch_context);
	MixrecModel *model = ModelFromBytea(model_blob);
	TrainOptions epoch_opts = *opts;
	EpochFeed	feed;
	TrainRows	rows;
	bytea	   *blob;
	MixrecError err;

	if (model->flags & MIXREC_FLAG_STANDARDIZE)
		ItemCatalogueStandardize(negatives->catalogue, model->mean, model->std);

	/*
	 * The state, shuffled from the seed of the epoch as a streamed epoch's
	 * aggregate is; NewTrainingState steps its tables as embed_optimizer says
	 */
	epoch_opts.seed = opts->seed + epoch;
	epoch_opts.partitions = 1;	/* serial: one state in this backend */
	blob = NewTrainingState(context, model, &epoch_opts);
	memset(&feed, 0, sizeof(feed));
	if (FitStateOpen((uint8 *) VARDATA(blob), VARSIZE(blob) - VARHDRSZ, &feed.state, 0,
					 &err) != MIXREC_OK)
		ReportCoreError(&err);
	MemoryBudgetCheck(sizeof(float) * (double) FitWorkFloats(&feed.state) +
					  FitWorkBytes(&feed.state) + VARSIZE(blob) +
					  ItemCatalogueBytes(negatives->catalogue),
					  "training from positives in a pool of rows",
					  psprintf("A training state of %u bytes, the work areas of batches of %u rows and the item catalogue of %.0f kB need this much.",
							   (unsigned) VARSIZE(blob), feed.state.header.batch_size,
							   ceil(ItemCatalogueBytes(negatives->catalogue) / 1024.0)));
	FitWorkBind(&feed.work, &feed.state,
				MemoryContextAllocHuge(epoch_context, sizeof(float) * FitWorkFloats(&feed.state)),
				MemoryContextAllocHuge(epoch_context, FitWorkBytes(&feed.state)));
	feed.work.train.cancel = MixrecCheckInterrupts;
	feed.negatives = negatives;
	feed.model = model;
	feed.negative = palloc_array(float, MlpInputDim(&model->shape));
	NegativesRandom(negatives, epoch, &feed.rng);

	/* The training rows, one at a time: each is handed to FeedPositive */
	memset(&rows, 0, sizeof(rows));
	rows.context = epoch_context;
	rows.has_weight = args->weight != NULL;
	rows.has_domain = args->domain != NULL;
	rows.typed = palloc(sizeof(RecordEncoder));
	RecordEncoderInit(rows.typed, args->typed->transform, true, epoch_context);
	rows.input_dim = MlpInputDim(&model->shape);
	rows.output_dim = 1;
	rows.catalogue = negatives->catalogue;
	rows.consume = FeedPositive;
	rows.consume_arg = &feed;
	ReadSource(query, opts, &rows);

	feed.state.header.rows_skipped += rows.skipped;
	FitStateWriteHeader(&feed.state);
	negatives->positives_trained = feed.positives;
	MemoryContextSwitchTo(old);
	MemoryContextDelete(epoch_context);
	return blob;
}

/*
 * The metrics of a training from positives only
 */
char *
NegativesMetrics(const Negatives *negatives)
{
	return psprintf(", \"positives\": " UINT64_FORMAT ", \"negatives_per_positive\": %d, "
					"\"negative_sampling\": \"%s\", \"catalogue_items\": %zu, "
					"\"items_with_positives\": %zu",
					negatives->positives_trained + negatives->positives_validated, negatives->k,
					SamplingName(negatives->sampling), ItemCatalogueItems(negatives->catalogue),
					ItemCatalogueItemsWithPositives(negatives->catalogue));
}
