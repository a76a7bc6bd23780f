/*
 * include/mixrec/score_plan.h
 *	  A model's weights laid out once for scoring: one row at a time
 *	  (mixrec_score) and blocks of rows (mixrec_predict, mixrec_recommend).
 *
 * A ScorePlan is built when a model is loaded for scoring and read on
 * every row after:
 *	- Standardisation is folded into the first layers: their weights are
 *	  divided by each input's scale (in double, then rounded), so scoring
 *	  only centres the inputs (x - mean, one subtraction per input) and
 *	  divides nothing.  The mean is not folded into the bias: for an input
 *	  with a large offset against its spread (a timestamp), W'x and W'mean
 *	  would cancel in float32; x - mean, as StandardizeApply computes it,
 *	  does not.
 *	- The first layers of the open and commercial MLPs read the same input:
 *	  they are one matrix, transposed to [input][2 * h1p] (open's outputs,
 *	  then commercial's, each padded with zero weights and bias to h1p, a
 *	  multiple of 8), so one pass over the input feeds both (one GEMM of
 *	  N = 2 * h1p for a block); the soup's first layer is laid out alike,
 *	  [input][h1p], when the soup's parameters are given.
 *	- A later layer of 8 or more outputs is transposed to [in][ld], ld its
 *	  outputs rounded up to 8, padded with zeros: for one row, each input
 *	  is broadcast and multiplied into accumulators of 8 outputs each
 *	  (ScoreKernelAxpy).  A layer of fewer outputs (the output layer) keeps
 *	  PyTorch's [out][in] and is a vectorised dot product per output
 *	  (ScoreKernelDot).
 *
 * The plan points into storage the caller provides (ScorePlanFloats); it
 * does not apply to a model with embedding tables, whose two MLPs read
 * different inputs (ScorePlanApplies).  Its scores equal ScoreRows' up to
 * float32 rounding: the order of the sums and the division by the scale
 * differ.
 */
#ifndef MIXREC_SCORE_PLAN_H
#define MIXREC_SCORE_PLAN_H

#include <stdbool.h>
#include <stddef.h>

#include "mixrec/model.h"
#include "mixrec/predict.h"

/* Floats of one vector register of the kernels: every padded width is a multiple */
#define SCORE_PLAN_LANES	8

/* One layer as the kernels read it */
typedef struct ScorePlanLayer
{
	int			in;
	int			out;
	int			ld;				/* > 0: w is [in][ld], outputs padded to ld;
								 * 0: w is [out][in] */
	const float *w;
	const float *b;				/* [ld] (zero-padded) or [out] */
} ScorePlanLayer;

#define SCORE_PLAN_OPEN		MIXREC_OPEN
#define SCORE_PLAN_COMMERCIAL	MIXREC_COMMERCIAL
#define SCORE_PLAN_SOUP		2
#define SCORE_PLAN_NETS		3

typedef struct ScorePlan
{
	MlpShape	shape;
	int			in;				/* input dim */
	int			h1;				/* the first layer's outputs */
	int			h1p;			/* h1 rounded up to SCORE_PLAN_LANES */
	int			wide;			/* the widest later layer's padded outputs */
	const float *center;		/* [in] the means, or NULL: no standardisation */
	ScorePlanLayer pair;		/* open and commercial first layers, [in][2 * h1p] */
	ScorePlanLayer soup_first;	/* the soup's first layer, [in][h1p] */
	ScorePlanLayer rest[SCORE_PLAN_NETS][MIXREC_MAX_HIDDEN_LAYERS];	/* layers 1.. */
	bool		soup_ready;		/* ScorePlanSetSoup has run */
	const float *std;			/* the model's scales, for ScorePlanSetSoup */
} ScorePlan;

/* Whether a model can be scored with a plan (no embedding tables) */
extern bool ScorePlanApplies(const MixrecModel *model);

/* Floats of storage the plan of a model needs (soup included) */
extern size_t ScorePlanFloats(const MixrecModel *model);

/*
 * Lay out the open and commercial MLPs of a model (ScorePlanApplies) into
 * storage of ScorePlanFloats floats; the model must outlive the plan only
 * for ScorePlanSetSoup (its scales)
 */
extern void ScorePlanInit(ScorePlan *plan, const MixrecModel *model, float *storage);

/* Lay out the soup's parameters (ScoreSoupParams' output) for SCORE_SOUP */
extern void ScorePlanSetSoup(ScorePlan *plan, const float *soup);

/* Floats of scratch space ScorePlanRow needs */
extern size_t ScorePlanRowFloats(const ScorePlan *plan);

/*
 * Score one raw row x[in] into out[output dim], as ScoreRows with rows = 1
 * (SCORE_SOUP after ScorePlanSetSoup for that alpha)
 */
extern void ScorePlanRow(const ScorePlan *plan, ScoreMode mode, double alpha,
						 const float *x, float *work, double *out);

/*
 * The same for a row already centred (x - mean, where the model
 * standardises) whose nonzero inputs are listed in nz: the first layers
 * read only those rows of their weights (starting from the bias, where
 * the dense pass adds it last: the scores agree with ScorePlanRow's to
 * float32 rounding)
 */
extern void ScorePlanRowSparse(const ScorePlan *plan, ScoreMode mode, double alpha,
							   const float *centred, const int *nz, int n_nz, float *work,
							   double *out);

/* Floats of scratch space ScorePlanRows and ScorePlanBlock need for rows rows */
extern size_t ScorePlanBlockFloats(const ScorePlan *plan, int rows);

/* Score raw rows x[rows][in] into out[rows][output dim], as ScoreRows */
extern void ScorePlanRows(const ScorePlan *plan, ScoreMode mode, double alpha,
						  const float *x, int rows, float *work, double *out);

/*
 * Score raw rows of a one-output model: each MLP's probability into open
 * and commercial, and the mode's score into score (the soup's, for
 * SCORE_SOUP, after ScorePlanSetSoup)
 */
extern void ScorePlanBlock(const ScorePlan *plan, ScoreMode mode, double alpha,
						   const float *x, int rows, float *work, double *open,
						   double *commercial, double *score);

/*
 * The kernels (src/core/score_kernels.c), chosen by KernelsInit like the
 * others (include/mixrec/kernels.h): AVX2 and FMA where the CPU has them,
 * portable under MIXREC_NO_SIMD=1.
 *
 * ScoreKernelAxpy: y[0..width) = b + sum over i < in of x[i] * wt[i][0..width),
 * wt's rows ld floats apart, then ReLU when relu is set.
 * ScoreKernelDot: y[o] = w[o] . x + b[o] for o < out, w [out][in], then ReLU.
 * ScoreKernelCenter: y[r][i] = x[r][i] - mean[i] for rows rows of in.
 * ScoreKernelAllFinite: whether no x[i], i < n, is infinite or NaN.
 */
extern void (*ScoreKernelAxpy) (const float *restrict wt, int ld, int width,
								const float *restrict x, int in, const float *restrict b,
								int relu, float *restrict y);
extern void (*ScoreKernelDot) (const float *restrict w, const float *restrict x,
							   const float *restrict b, int out, int in, int relu,
							   float *restrict y);
extern void (*ScoreKernelCenter) (const float *restrict x, const float *restrict mean,
								  int in, size_t rows, float *restrict y);
extern int	(*ScoreKernelAllFinite) (const float *x, int n);

/* Choose the kernels' versions: called by KernelsInit */
extern void ScoreKernelsChoose(int avx2);

#endif							/* MIXREC_SCORE_PLAN_H */
