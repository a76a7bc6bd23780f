/*
 * src/train_negatives.h
 *	  Training from positives only: every source row is a positive (label
 *	  1), and each positive is joined by negatives (label 0) drawn from an
 *	  item catalogue (src/train_negatives.c).
 */
#ifndef MIXREC_TRAIN_NEGATIVES_H
#define MIXREC_TRAIN_NEGATIVES_H

#include "postgres.h"

#include "mixrec/model.h"
#include "training.h"

typedef struct Negatives Negatives;

/*
 * Check label, items and item_id together before anything is read; NULL
 * when the rows have labels of their own, else what the training from
 * positives only keeps
 */
extern Negatives *NegativesCheckArguments(const TrainOptions *opts, const TrainArguments *args);

/*
 * Once the typed columns are prepared: read and encode the catalogue,
 * label every source row 1 and read its item (args->label, args->typed)
 */
extern void NegativesPrepare(Negatives *negatives, const TrainOptions *opts,
							 TrainArguments *args);

/* Make rows read from the source carry their item and budget their negatives */
extern void NegativesRowsInit(const Negatives *negatives, TrainRows *rows);

/* What rows of this many bytes take in memory with their negatives and the catalogue */
extern double NegativesEstimateBytes(const Negatives *negatives, double bytes);

/* In memory: count the training positives of each item (the sampling table) */
extern void NegativesCount(Negatives *negatives, const TrainRows *rows, const uint32 *train_rows,
						   Size n_train);

/*
 * In memory, after standardisation: add each positive's negatives to the
 * rows, draw the validation rows' once, and put each positive's negatives
 * after it in the lists of training and validation rows
 */
extern void NegativesExpand(Negatives *negatives, const MixrecModel *model, TrainRows *rows,
							uint32 **train_rows, Size *n_train, uint32 **val_rows, Size *n_val);

/* In memory: draw the training rows' negatives of an epoch */
extern void NegativesDrawEpoch(Negatives *negatives, const TrainRows *rows, int epoch);

/* Streamed: check every source row's item and count the training positives */
extern void NegativesCountSource(Negatives *negatives, const TrainOptions *opts,
								 const TrainArguments *args);

/* Streamed: the validation rows (in memory, standardised) with their negatives */
extern void NegativesExpandValidation(Negatives *negatives, const MixrecModel *model,
									  TrainRows *val);

/*
 * Streamed: one epoch's training state, every training row of the query
 * added to it with its negatives right after it
 */
extern bytea *NegativesEpochState(Negatives *negatives, const char *query,
								  const TrainArguments *args, bytea *model_blob,
								  const TrainOptions *opts, int epoch, MemoryContext context);

/* The metrics fields of a training from positives only, each after ", " */
extern char *NegativesMetrics(const Negatives *negatives);

#endif							/* MIXREC_TRAIN_NEGATIVES_H */
