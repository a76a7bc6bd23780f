/*
 * src/item_catalogue.h
 *	  The item catalogue of a training from positives only: every item's
 *	  id and the model's inputs of its columns, and the draw of a negative
 *	  item (src/item_catalogue.c).
 *
 * A negative row is its positive's row with the item's columns replaced by
 * another item's.  The catalogue holds each item's encoded columns once, in
 * the model's input layout (the runs of inputs the item's columns fill),
 * finds the item of a source row by its id, counts the training positives
 * of each item, and draws a negative item other than a positive's own.
 */
#ifndef MIXREC_ITEM_CATALOGUE_H
#define MIXREC_ITEM_CATALOGUE_H

#include "postgres.h"

#include "mixrec/random.h"
#include "mixrec/transform.h"
#include "training.h"

typedef struct ItemCatalogue ItemCatalogue;

/*
 * Read every item of items (a source: relation or query): its id (the
 * column item_id, quoted, of type id_type) and the model's columns it has
 * (item_columns[c] for each column c of the transform), encoded by the
 * transform.  Errors: an id NULL or seen twice, an id type without a hash
 * function, fewer than two items, more memory than the budget.  Lives in
 * context.
 */
extern ItemCatalogue *ItemCatalogueLoad(const char *items, const char *item_id, Oid id_type,
										const Transform *transform, const bool *item_columns,
										MemoryContext context);

/* The item of an id, or an error naming the id (the caller's row context names the row) */
extern uint32 ItemCatalogueFind(const ItemCatalogue *catalogue, Datum id, bool isnull);

extern Oid	ItemCatalogueIdType(const ItemCatalogue *catalogue);
extern Size ItemCatalogueItems(const ItemCatalogue *catalogue);
extern Size ItemCatalogueItemsWithPositives(const ItemCatalogue *catalogue);

/* Bytes the catalogue holds, its sampling table included */
extern double ItemCatalogueBytes(const ItemCatalogue *catalogue);

/* Count one training positive of an item (for popularity sampling) */
extern void ItemCatalogueCount(ItemCatalogue *catalogue, uint32 item);

/*
 * Fix how negatives are drawn, once every training positive is counted;
 * popularity needs two items with training positives
 */
extern void ItemCatalogueSampling(ItemCatalogue *catalogue, NegativeSampling sampling);

/* Standardise the items' inputs as the model standardises its inputs (once) */
extern void ItemCatalogueStandardize(ItemCatalogue *catalogue, const float *mean,
									 const float *std);

/* Draw a negative item for a positive of item own: never own itself */
extern uint32 ItemCatalogueDraw(const ItemCatalogue *catalogue, MixrecRandom *rng, uint32 own);

/* Overwrite the inputs of the item's columns in a row of the model's inputs */
extern void ItemCatalogueFill(const ItemCatalogue *catalogue, uint32 item, float *x);

#endif							/* MIXREC_ITEM_CATALOGUE_H */
