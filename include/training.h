/*
 * include/training.h
 *	  Declarations shared by the training files of the PostgreSQL layer.
 */
#ifndef MIXREC_TRAINING_H
#define MIXREC_TRAINING_H

#include "postgres.h"

#include "mixrec/adam.h"
#include "mixrec/model.h"

/* What a training run was asked to do */
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
	MixrecModel *initial;		/* the model to continue, or NULL: a new one */
} TrainOptions;

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
	float	   *x;
	float	   *y;
	float	   *w;
	unsigned char *o;
	unsigned char *c;
} TrainRows;

/* src/train_source.c */
extern char *SourceQuery(const char *source, const char *features, const char *label,
						 const char *domain, const char *weight);
extern void ReadSource(const char *query, const TrainOptions *opts, TrainRows *data);

#endif							/* MIXREC_TRAINING_H */
