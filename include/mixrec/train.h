/*
 * include/mixrec/train.h
 *	  Mini-batch training of both models, and their evaluation.
 *
 * Training data are rows of features, labels, an optional sample weight and
 * optional domain flags, held by the caller.  A step gathers the rows of one
 * mini-batch (given by row numbers, so shuffling is a permutation of
 * indices, not of data), runs both MLPs forward, computes the blended loss
 * and its gradient, runs both backward, and takes one Adam step on each.
 * All scratch space comes from one caller-provided TrainWork.
 */
#ifndef MIXREC_TRAIN_H
#define MIXREC_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "mixrec/loss.h"
#include "mixrec/metrics.h"
#include "mixrec/model.h"

typedef struct TrainData
{
	int			input_dim;
	int			output_dim;
	size_t		rows;
	const float *x;				/* [rows][input_dim] */
	const float *y;				/* [rows][output_dim], each in [0, 1] */
	const float *w;				/* [rows] or NULL: every weight 1 */
	const unsigned char *o;		/* [rows] or NULL: every row counts for open */
	const unsigned char *c;		/* [rows] or NULL: ... for commercial */
} TrainData;

typedef struct TrainWork
{
	int			batch;			/* capacity in rows */
	float	   *x;
	float	   *y;
	float	   *w;
	unsigned char *o;
	unsigned char *c;
	float	   *acts[MIXREC_MODELS];	/* each model's activations */
	float	   *dlogits[MIXREC_MODELS];
	float	   *grad[MIXREC_MODELS];	/* [ModelParamCount] each */
	float	   *backward;

	/*
	 * With embedding tables, else NULL: each model's inputs with its tables'
	 * rows in place, the inputs' gradient, and the rows of each table the
	 * batch uses (each once: seen marks them, one byte per table row).  The
	 * tables' part of grad is zero between steps.
	 */
	float	   *embedded[MIXREC_MODELS];
	float	   *dx;
	uint32_t   *touched;		/* [n_embed][batch] */
	uint32_t	n_touched[TRANSFORM_MAX_EMBEDDINGS];
	unsigned char *seen;

	/*
	 * Called, if set, before each chunk of TrainEvaluate and before each
	 * Adam step of a training state's pool (src/core/fit.c); NULL when bound
	 */
	MixrecCancelHook cancel;
} TrainWork;

/* Evaluation of a set of rows */
typedef struct TrainEval
{
	LossValue	loss;			/* the blended loss over all rows at once */
	double		auc_open;		/* over the rows that count for open; NaN if undefined */
	double		auc_commercial; /* over the rows that count for commercial */
	double		auc_blend;		/* blended probability, over every row */
} TrainEval;

/*
 * Scratch space for batches of up to batch rows of a model (its shape and
 * embedding tables); TrainWorkBind zeroes what must start at zero
 */
extern size_t TrainWorkFloats(const MixrecModel *model, int batch);
extern size_t TrainWorkBytes(const MixrecModel *model, int batch);
extern void TrainWorkBind(TrainWork *work, const MixrecModel *model, int batch,
						  float *floats, unsigned char *bytes);

/*
 * Take one Adam step of both models on the rows listed in rows[0..n-1]
 * (n <= work->batch).  The model must carry optimiser state; its step
 * count is advanced.  Returns the batch loss before the step.
 */
extern LossValue TrainStep(MixrecModel *model, const TrainData *data,
						   const uint32_t *rows, int n, TrainWork *work);

/* Scratch space, in bytes, for evaluating n rows (8-byte aligned) */
extern size_t TrainEvalScratchBytes(size_t n, int output_dim);

/*
 * Evaluate the rows listed in rows[0..n-1] in chunks of work->batch rows
 * (calling work->cancel, if set, before each):
 * loss, and AUC per model and blended (output 0, labels >= 0.5 positive).
 * scratch holds TrainEvalScratchBytes(n, output_dim) bytes.
 */
extern TrainEval TrainEvaluate(const MixrecModel *model, const TrainData *data,
							   const uint32_t *rows, size_t n, TrainWork *work,
							   void *scratch);

#endif							/* MIXREC_TRAIN_H */
