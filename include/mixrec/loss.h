/*
 * include/mixrec/loss.h
 *	  The alpha-blended, weighted BCE-with-logits loss of the two models.
 *
 *	L = alpha     * sum_r(o_r w_r bce_r(O)) / sum_r(o_r w_r)
 *	  + (1-alpha) * sum_r(c_r w_r bce_r(C)) / sum_r(c_r w_r)
 *
 * bce_r is BCEWithLogits averaged over the d_out outputs of row r; a term
 * whose denominator is 0 in the batch is 0.  Weights w default to 1 and the
 * domain flags o, c default to 1 (every row counts for both models).
 */
#ifndef MIXREC_LOSS_H
#define MIXREC_LOSS_H

/* One mini-batch of targets; w, o and c may each be NULL */
typedef struct LossBatch
{
	int			rows;
	int			outputs;
	const float *y;				/* [rows][outputs], each in [0, 1] */
	const float *w;				/* [rows], >= 0 */
	const unsigned char *o;		/* [rows], row counts for the open model */
	const unsigned char *c;		/* [rows], row counts for the commercial model */
} LossBatch;

typedef struct LossValue
{
	double		total;			/* the blended loss L */
	double		open;			/* the open term before weighting by alpha */
	double		commercial;		/* the commercial term before (1 - alpha) */
} LossValue;

/* The logistic function, without overflow for large |z| */
extern double Sigmoid(double z);

/* BCEWithLogits of one logit, in PyTorch's numerically stable form */
extern double BceWithLogits(double logit, double target);

/*
 * Compute the loss and, when the gradient buffers are not NULL, dL/dlogits
 * for each model ([rows][outputs]).
 */
extern LossValue LossBlended(double alpha, const LossBatch *batch,
							 const float *logits_open,
							 const float *logits_commercial,
							 float *dlogits_open, float *dlogits_commercial);

/*
 * One model's term of LossBlended (k: MIXREC_OPEN or MIXREC_COMMERCIAL),
 * before weighting by alpha or 1 - alpha, and its dL/dlogits (the blended
 * loss's, so weighted) when dlogits is not NULL; LossTotal blends the two
 * terms.  LossBlended is the two and their blend.
 */
extern double LossModel(double alpha, const LossBatch *batch, int k, const float *logits,
						float *dlogits);
extern double LossTotal(double alpha, double open, double commercial);

#endif							/* MIXREC_LOSS_H */
