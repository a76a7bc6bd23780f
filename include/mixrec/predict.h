/*
 * include/mixrec/predict.h
 *	  Scoring rows with a model: blend, open, commercial and soup.
 *
 *	blend:		alpha * sigmoid(O(x)) + (1 - alpha) * sigmoid(C(x))
 *	open:		sigmoid(O(x))
 *	commercial:	sigmoid(C(x))
 *	soup:		sigmoid(S(x)), S's parameters alpha * theta_O + (1 - alpha) * theta_C
 */
#ifndef MIXREC_PREDICT_H
#define MIXREC_PREDICT_H

#include <stddef.h>

#include "mixrec/model.h"

typedef enum ScoreMode
{
	SCORE_BLEND = 0,
	SCORE_OPEN,
	SCORE_COMMERCIAL,
	SCORE_SOUP
} ScoreMode;

/* Parse a mode name; returns -1 for an unknown name */
extern int	ScoreModeFromName(const char *name);

/* Write the soup parameters for alpha into out[ModelParamCount] */
extern void ScoreSoupParams(const MixrecModel *model, double alpha, float *out);

/* Floats of scratch space ScoreRows needs for a batch of rows */
extern size_t ScoreWorkFloats(const MixrecModel *model, int rows);

/*
 * Score rows ([rows][input_dim], raw: standardisation is applied here) into
 * out[rows][output_dim] as probabilities.  soup must be the output of
 * ScoreSoupParams for the same alpha when mode is SCORE_SOUP, else NULL.
 */
extern void ScoreRows(const MixrecModel *model, ScoreMode mode, double alpha,
					  const float *soup, const float *x, int rows,
					  float *work, double *out);

/*
 * Score one row of mostly zero inputs (typed columns' one-hot inputs),
 * already standardised, whose nonzero inputs nz lists: the first layers
 * read only those inputs, from first_t[MIXREC_OPEN], first_t[MIXREC_COMMERCIAL]
 * and, for SCORE_SOUP, first_t[2], the first-layer weights of the open,
 * commercial and soup parameters transposed by MlpTransposeFirst.  work
 * holds MlpActivationFloats(shape, 1) floats.  ScoreRows' result up to the
 * order of the first layer's sums.  Not for a model with embedding tables,
 * whose two MLPs read different inputs: score those with ScoreRows.
 */
extern void ScoreRowSparse(const MixrecModel *model, ScoreMode mode, double alpha,
						   const float *soup, const float *const first_t[3],
						   const float *x, const int *nz, int n_nz, float *work,
						   double *out);

#endif							/* MIXREC_PREDICT_H */
