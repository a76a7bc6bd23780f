/*
 * src/item_catalogue.c
 *	  The item catalogue of a training from positives only.
 *
 * Design: the items are read once, through a read-only cursor over
 *
 *	SELECT item_id, ROW(the model's columns, NULL where items lacks one)
 *	FROM items
 *
 * and each row is encoded by the model's transform with the same encoder
 * as the training rows (and as mixrec_recommend encodes its candidates,
 * src/serve.c), so an item's inputs are exactly those of a positive of that
 * item.  Only the runs of inputs that the item's columns fill are kept,
 * item after item, in one float32 array; a negative row is its positive's
 * row with those runs overwritten (ItemCatalogueFill).
 *
 * Ids are kept as the items' own Datums, in an open-addressing hash table
 * that hashes and compares them with the type's default hash opclass (the
 * typcache's), so an id means what equality of its type means, as in a
 * join: 1 and 1.0 are the same numeric, 'a' and 'a ' different texts.
 *
 * Drawing a negative other than the positive's own item: uniform sampling
 * draws among the n - 1 other items; popularity sampling keeps cumulative
 * integer weights (count^0.75 of each item's training positives, the
 * smoothing of word2vec's negative sampling, in fixed point) and draws
 * below the total less the own item's weight, stepping over the own item's
 * interval, then finds the item by binary search.  Both draw exactly from
 * the distribution that redrawing until another item comes would give,
 * with one draw and no loop, in integer arithmetic, so the same seed draws
 * the same items on every platform.
 *
 * Memory: everything lives in the context given to ItemCatalogueLoad; the
 * encoded items, ids, hash slots, counts and weights are counted against
 * mixrec.train_memory as they grow.  What one item's row detoasts or
 * converts lives in the cursor's batch context.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_collation.h"
#include "executor/spi.h"
#include "item_catalogue.h"
#include "miscadmin.h"
#include "mixrec.h"
#include "source.h"
#include "typed.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/typcache.h"

#define CATALOGUE_FETCH_ROWS	10000
#define CATALOGUE_MAX_ITEMS		(1 << 30)	/* so that twice as many hash slots fit uint32 */
#define CATALOGUE_NO_ITEM		PG_UINT32_MAX	/* an empty hash slot */

/* Fixed-point scale of popularity weights: count^0.75 in 1/65536ths */
#define POPULARITY_SCALE		65536.0
#define POPULARITY_EXPONENT		0.75

struct ItemCatalogue
{
	MemoryContext context;

	/* The ids: Datums of id_type, hashed and compared by its default opclass */
	Oid			id_type;
	int16		id_len;
	bool		id_byval;
	Oid			collation;
	FmgrInfo	hash;
	FmgrInfo	equal;
	Datum	   *ids;			/* [capacity] */
	uint32	   *slots;			/* [n_slots]: an item, or CATALOGUE_NO_ITEM */
	uint32		n_slots;		/* a power of two, at least twice n */
	double		id_bytes;		/* the ids' own bytes, by reference */

	/* The items' inputs: the runs their columns fill, item after item */
	Size		n;
	Size		capacity;
	int			n_runs;
	uint32	   *position;		/* [n_runs] first input of a run */
	uint32	   *width;			/* [n_runs] */
	int			item_dim;		/* inputs per item: the sum of the widths */
	float	   *x;				/* [capacity][item_dim] */
	bool		standardized;

	/* Sampling */
	NegativeSampling sampling;
	uint64	   *counts;			/* [capacity] training positives of each item */
	uint64	   *cumulative;		/* popularity: [n] running sums of the weights */
	uint64		total;
	Size		with_positives; /* items with a training positive */
};

static void CatalogueRuns(ItemCatalogue *catalogue, const Transform *transform,
						  const bool *item_columns);
static double CatalogueHeld(const ItemCatalogue *catalogue, Size capacity, uint32 n_slots);
static void CatalogueGrow(ItemCatalogue *catalogue);
static uint32 CatalogueHash(const ItemCatalogue *catalogue, Datum id);
static uint32 CatalogueLookup(const ItemCatalogue *catalogue, Datum id, uint32 hash);
static void CatalogueInsert(ItemCatalogue *catalogue, uint32 item, uint32 hash);
static void CatalogueRehash(ItemCatalogue *catalogue, uint32 n_slots);
static char *IdText(const ItemCatalogue *catalogue, Datum id);

/*
 * The runs of inputs the item's columns fill, adjacent columns merged
 */
static void
CatalogueRuns(ItemCatalogue *catalogue, const Transform *transform, const bool *item_columns)
{
	catalogue->position = palloc_array(uint32, Max(transform->n_columns, 1));
	catalogue->width = palloc_array(uint32, Max(transform->n_columns, 1));
	catalogue->n_runs = 0;
	catalogue->item_dim = 0;
	for (uint32 c = 0; c < transform->n_columns; c++)
	{
		const TransformColumn *column = &transform->columns[c];
		int			last = catalogue->n_runs - 1;

		if (!item_columns[c])
			continue;
		if (last >= 0 && catalogue->position[last] + catalogue->width[last] == column->position)
			catalogue->width[last] += column->width;
		else
		{
			catalogue->position[catalogue->n_runs] = column->position;
			catalogue->width[catalogue->n_runs] = column->width;
			catalogue->n_runs++;
		}
		catalogue->item_dim += (int) column->width;
	}
}

/*
 * The bytes the catalogue holds with room for capacity items
 */
static double
CatalogueHeld(const ItemCatalogue *catalogue, Size capacity, uint32 n_slots)
{
	/* Per item: its inputs, its id, its count and its cumulative weight */
	return (double) capacity * (sizeof(float) * catalogue->item_dim + sizeof(Datum) +
								2 * sizeof(uint64)) +
		(double) n_slots * sizeof(uint32) + catalogue->id_bytes;
}

/*
 * Make room for twice as many items, within the budget
 */
static void
CatalogueGrow(ItemCatalogue *catalogue)
{
	Size		capacity = catalogue->capacity * 2;

	if (catalogue->capacity >= CATALOGUE_MAX_ITEMS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("items has more than %d items", CATALOGUE_MAX_ITEMS)));
	MemoryBudgetCheck(CatalogueHeld(catalogue, capacity, catalogue->n_slots * 2),
					  "holding the item catalogue",
					  psprintf("Room for %zu items, %d inputs of their columns per item, and %.0f bytes of their ids.",
							   capacity, catalogue->item_dim, catalogue->id_bytes));
	catalogue->ids = repalloc_huge(catalogue->ids, sizeof(Datum) * capacity);
	catalogue->counts = repalloc_huge(catalogue->counts, sizeof(uint64) * capacity);
	catalogue->x = repalloc_huge(catalogue->x, sizeof(float) * capacity * Max(catalogue->item_dim, 1));
	catalogue->capacity = capacity;
}

/*
 * Hash an id by its type's default hash function
 */
static uint32
CatalogueHash(const ItemCatalogue *catalogue, Datum id)
{
	return DatumGetUInt32(FunctionCall1Coll((FmgrInfo *) &catalogue->hash, catalogue->collation,
											id));
}

/*
 * The item with this id, or CATALOGUE_NO_ITEM
 */
static uint32
CatalogueLookup(const ItemCatalogue *catalogue, Datum id, uint32 hash)
{
	uint32		mask = catalogue->n_slots - 1;

	for (uint32 s = hash & mask;; s = (s + 1) & mask)
	{
		uint32		item = catalogue->slots[s];

		if (item == CATALOGUE_NO_ITEM)
			return CATALOGUE_NO_ITEM;
		if (DatumGetBool(FunctionCall2Coll((FmgrInfo *) &catalogue->equal, catalogue->collation,
										   catalogue->ids[item], id)))
			return item;
	}
}

/*
 * Put an item whose id is not in the table yet into it
 */
static void
CatalogueInsert(ItemCatalogue *catalogue, uint32 item, uint32 hash)
{
	uint32		mask = catalogue->n_slots - 1;
	uint32		s = hash & mask;

	while (catalogue->slots[s] != CATALOGUE_NO_ITEM)
		s = (s + 1) & mask;
	catalogue->slots[s] = item;
}

/*
 * Rebuild the hash table with n_slots slots
 */
static void
CatalogueRehash(ItemCatalogue *catalogue, uint32 n_slots)
{
	if (catalogue->slots)
		pfree(catalogue->slots);
	catalogue->slots = MemoryContextAllocHuge(catalogue->context, sizeof(uint32) * n_slots);
	memset(catalogue->slots, 0xFF, sizeof(uint32) * n_slots);
	catalogue->n_slots = n_slots;
	for (Size i = 0; i < catalogue->n; i++)
	{
		if ((i & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		CatalogueInsert(catalogue, (uint32) i, CatalogueHash(catalogue, catalogue->ids[i]));
	}
}

/*
 * An id as its type's output function writes it, for messages
 */
static char *
IdText(const ItemCatalogue *catalogue, Datum id)
{
	Oid			output;
	bool		varlena;

	getTypeOutputInfo(catalogue->id_type, &output, &varlena);
	return OidOutputFunctionCall(output, id);
}

/*
 * Read and encode every item (see the header)
 */
ItemCatalogue *
ItemCatalogueLoad(const char *items, const char *item_id, Oid id_type,
				  const Transform *transform, const bool *item_columns, MemoryContext context)
{
	Oid			types[2] = {id_type, RECORDOID};
	SourceShape shape = {
		.arguments = "items and item_id",
		.columns = "item_id and the model's columns of items",
		.ncolumns = lengthof(types),
		.types = types,
	};
	MemoryContext caller = MemoryContextSwitchTo(context);
	ItemCatalogue *catalogue = palloc0(sizeof(ItemCatalogue));
	TypeCacheEntry *entry = lookup_type_cache(id_type, TYPECACHE_HASH_PROC_FINFO |
											  TYPECACHE_EQ_OPR_FINFO);
	RecordEncoder encoder;
	float	   *row;
	SPIPlanPtr	plan;
	SourceCursor cursor;
	HeapTuple	tuple;

	if (!OidIsValid(entry->hash_proc) || !OidIsValid(entry->eq_opr))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("item_id is of type %s, which has no hash function to find items by",
						format_type_be(id_type)),
				 errhint("Cast the id to text or bigint, in items and in the source alike.")));
	catalogue->context = context;
	catalogue->id_type = id_type;
	get_typlenbyval(id_type, &catalogue->id_len, &catalogue->id_byval);
	fmgr_info_copy(&catalogue->hash, &entry->hash_proc_finfo, context);
	fmgr_info_copy(&catalogue->equal, &entry->eq_opr_finfo, context);
	CatalogueRuns(catalogue, transform, item_columns);
	catalogue->capacity = 1024;
	catalogue->ids = palloc_array(Datum, catalogue->capacity);
	catalogue->counts = palloc0_array(uint64, catalogue->capacity);
	catalogue->x = MemoryContextAllocHuge(context, sizeof(float) * catalogue->capacity *
										  Max(catalogue->item_dim, 1));
	CatalogueRehash(catalogue, 2048);
	row = palloc_array(float, transform->input_dim);
	RecordEncoderInit(&encoder, transform, true, context);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	plan = SourcePrepare(psprintf("SELECT %s, %s FROM %s", item_id,
								  TransformRowSql(transform, item_columns), SourceFrom(items)),
						 0, NULL, 0, &shape);
	catalogue->collation = TupleDescAttr(SourcePlanColumns(plan), 0)->attcollation;
	if (!OidIsValid(catalogue->collation) && type_is_collatable(id_type))
		catalogue->collation = DEFAULT_COLLATION_OID;
	MemoryContextSwitchTo(context);
	SourceOpen(&cursor, plan, "items", CATALOGUE_FETCH_ROWS);
	while ((tuple = SourceNext(&cursor)) != NULL)
	{
		/* What a row detoasts or converts goes with its batch */
		MemoryContext old = MemoryContextSwitchTo(cursor.batch_context);
		bool		isnull;
		Datum		id = SPI_getbinval(tuple, cursor.desc, 1, &isnull);
		Datum		record;
		uint32		hash;
		uint32		found;
		float	   *x;

		if (isnull)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("item_id is NULL in items")));
		hash = CatalogueHash(catalogue, id);
		found = CatalogueLookup(catalogue, id, hash);
		if (found != CATALOGUE_NO_ITEM)
			ereport(ERROR,
					(errcode(ERRCODE_UNIQUE_VIOLATION),
					 errmsg("item_id \"%s\" appears more than once in items", IdText(catalogue, id)),
					 errdetail("Rows %u and %zu of items have this id; each item must have its own.",
							   found + 1, catalogue->n + 1)));
		if (catalogue->n == catalogue->capacity)
			CatalogueGrow(catalogue);
		if ((Size) catalogue->n_slots < 2 * (catalogue->n + 1))
		{
			MemoryContextSwitchTo(context);
			CatalogueRehash(catalogue, catalogue->n_slots * 2);
			MemoryContextSwitchTo(cursor.batch_context);
		}

		/* Every input, the other columns' as NULLs; the item's runs kept */
		record = SPI_getbinval(tuple, cursor.desc, 2, &isnull);
		RecordEncode(&encoder, record, row);
		x = catalogue->x + catalogue->n * catalogue->item_dim;
		for (int r = 0; r < catalogue->n_runs; r++)
		{
			memcpy(x, row + catalogue->position[r], sizeof(float) * catalogue->width[r]);
			x += catalogue->width[r];
		}

		/* The id, detoasted once, in the catalogue's context */
		MemoryContextSwitchTo(context);
		if (catalogue->id_len == -1)
			id = PointerGetDatum(PG_DETOAST_DATUM_COPY(id));
		else
			id = datumCopy(id, catalogue->id_byval, catalogue->id_len);
		if (!catalogue->id_byval)
			catalogue->id_bytes += datumGetSize(id, false, catalogue->id_len) + 16;
		catalogue->ids[catalogue->n] = id;
		catalogue->counts[catalogue->n] = 0;
		CatalogueInsert(catalogue, (uint32) catalogue->n, hash);
		catalogue->n++;
		if (catalogue->id_bytes > 0 &&
			CatalogueHeld(catalogue, catalogue->capacity, catalogue->n_slots) > MemoryBudget())
			MemoryBudgetCheck(CatalogueHeld(catalogue, catalogue->capacity, catalogue->n_slots),
							  "holding the item catalogue",
							  psprintf("Room for %zu items, %d inputs of their columns per item, and %.0f bytes of their ids.",
									   catalogue->capacity, catalogue->item_dim,
									   catalogue->id_bytes));
		MemoryContextSwitchTo(old);
	}
	SourceClose(&cursor);
	SPI_finish();
	MemoryContextSwitchTo(caller);

	/* Hold what the items take, no more: the rows are budgeted beside it */
	catalogue->capacity = Max(catalogue->n, 1);
	catalogue->ids = repalloc_huge(catalogue->ids, sizeof(Datum) * catalogue->capacity);
	catalogue->counts = repalloc_huge(catalogue->counts, sizeof(uint64) * catalogue->capacity);
	catalogue->x = repalloc_huge(catalogue->x, sizeof(float) * catalogue->capacity *
								 Max(catalogue->item_dim, 1));

	if (catalogue->n < 2)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("items has %zu item%s, so no negative can be drawn", catalogue->n,
						catalogue->n == 1 ? "" : "s"),
				 errdetail("A positive's negatives are drawn among the other items.")));
	return catalogue;
}

/*
 * The item of a source row's id
 */
uint32
ItemCatalogueFind(const ItemCatalogue *catalogue, Datum id, bool isnull)
{
	uint32		item;

	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("item_id is NULL"),
				 errdetail("Every source row is a positive of an item of items.")));
	item = CatalogueLookup(catalogue, id, CatalogueHash(catalogue, id));
	if (item == CATALOGUE_NO_ITEM)
		ereport(ERROR,
				(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
				 errmsg("item_id \"%s\" is not in items", IdText(catalogue, id)),
				 errdetail("Every source row is a positive of an item of items."),
				 errhint("Add the item to items, or leave its rows out of the source (WHERE item_id IN (SELECT item_id FROM items)).")));
	return item;
}

/*
 * The type of the ids
 */
Oid
ItemCatalogueIdType(const ItemCatalogue *catalogue)
{
	return catalogue->id_type;
}

/*
 * The number of items
 */
Size
ItemCatalogueItems(const ItemCatalogue *catalogue)
{
	return catalogue->n;
}

/*
 * The number of items with a training positive
 */
Size
ItemCatalogueItemsWithPositives(const ItemCatalogue *catalogue)
{
	return catalogue->with_positives;
}

/*
 * The bytes the catalogue holds
 */
double
ItemCatalogueBytes(const ItemCatalogue *catalogue)
{
	return CatalogueHeld(catalogue, catalogue->capacity, catalogue->n_slots);
}

/*
 * Count a training positive of an item
 */
void
ItemCatalogueCount(ItemCatalogue *catalogue, uint32 item)
{
	Assert(item < catalogue->n);
	catalogue->counts[item]++;
}

/*
 * Fix how negatives are drawn (see the file's comment)
 */
void
ItemCatalogueSampling(ItemCatalogue *catalogue, NegativeSampling sampling)
{
	MemoryContext old = MemoryContextSwitchTo(catalogue->context);
	uint64		total = 0;

	catalogue->sampling = sampling;
	catalogue->with_positives = 0;
	for (Size i = 0; i < catalogue->n; i++)
		catalogue->with_positives += catalogue->counts[i] > 0;
	if (sampling == NEGATIVE_POPULARITY)
	{
		/* Within the room CatalogueHeld counted: one uint64 per item */
		catalogue->cumulative = MemoryContextAllocHuge(catalogue->context,
													   sizeof(uint64) * catalogue->n);
		for (Size i = 0; i < catalogue->n; i++)
		{
			/*
			 * A count is at most the rows (below 2^32), so a weight is below
			 * 2^40 and the total, at most the positives times the scale,
			 * below 2^48
			 */
			if (catalogue->counts[i] > 0)
				total += (uint64) llround(pow((double) catalogue->counts[i], POPULARITY_EXPONENT) *
										  POPULARITY_SCALE);
			catalogue->cumulative[i] = total;
		}
		if (catalogue->with_positives < 2)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("negative_sampling 'popularity' draws only items with training positives: %zu of the %zu items",
							catalogue->with_positives, catalogue->n),
					 errdetail("A positive's negatives are other items, so at least two items must have training positives."),
					 errhint("Use negative_sampling => 'uniform'.")));
	}
	catalogue->total = total;
	MemoryContextSwitchTo(old);
}

/*
 * Standardise the items' inputs with the model's mean and scale
 */
void
ItemCatalogueStandardize(ItemCatalogue *catalogue, const float *mean, const float *std)
{
	if (catalogue->standardized)
		return;
	for (Size i = 0; i < catalogue->n; i++)
	{
		float	   *x = catalogue->x + i * catalogue->item_dim;

		if ((i & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		for (int r = 0; r < catalogue->n_runs; r++)
		{
			/* As StandardizeApply does it, so a negative's item reads as a positive's */
			for (uint32 j = 0; j < catalogue->width[r]; j++)
				x[j] = (x[j] - mean[catalogue->position[r] + j]) / std[catalogue->position[r] + j];
			x += catalogue->width[r];
		}
	}
	catalogue->standardized = true;
}

/*
 * Draw a negative item for a positive of own (see the file's comment)
 */
uint32
ItemCatalogueDraw(const ItemCatalogue *catalogue, MixrecRandom *rng, uint32 own)
{
	uint64		before;
	uint64		own_weight;
	uint64		u;
	Size		lo = 0;
	Size		hi = catalogue->n - 1;

	Assert(own < catalogue->n && catalogue->n >= 2);
	if (catalogue->sampling == NEGATIVE_UNIFORM)
	{
		uint32		item = (uint32) RandomBelow(rng, catalogue->n - 1);

		return item >= own ? item + 1 : item;
	}

	/* The smallest item whose cumulative weight exceeds u, own stepped over */
	before = own > 0 ? catalogue->cumulative[own - 1] : 0;
	own_weight = catalogue->cumulative[own] - before;
	Assert(catalogue->total > own_weight);
	u = RandomBelow(rng, catalogue->total - own_weight);
	if (u >= before)
		u += own_weight;
	while (lo < hi)
	{
		Size		mid = lo + (hi - lo) / 2;

		if (catalogue->cumulative[mid] > u)
			hi = mid;
		else
			lo = mid + 1;
	}
	Assert(lo != own && catalogue->counts[lo] > 0);
	return (uint32) lo;
}

/*
 * Write an item's inputs into its runs of a row
 */
void
ItemCatalogueFill(const ItemCatalogue *catalogue, uint32 item, float *x)
{
	const float *from = catalogue->x + (Size) item * catalogue->item_dim;

	for (int r = 0; r < catalogue->n_runs; r++)
	{
		memcpy(x + catalogue->position[r], from, sizeof(float) * catalogue->width[r]);
		from += catalogue->width[r];
	}
}
