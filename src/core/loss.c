/*
 * src/core/loss.c
 *	  The alpha-blended, weighted BCE-with-logits loss and its gradient.
 *
 * Sums are taken in double and the gradient written as float.  The
 * gradient of bce(z, y) with respect to the logit z is sigmoid(z) - y; the
 * blend, the sample weights, the domain flags and the mean over outputs
 * only scale it, so each logit's gradient is
 *
 *	alpha * o_r * w_r / sum(o w) * (sigmoid(z) - y) / d_out
 *
 * for the open model, and likewise with 1 - alpha, c and the commercial
 * denominator for the commercial one.
 */
#include <math.h>
#include <stddef.h>

#include "mixrec/loss.h"
#include "mixrec/model.h"

static double LossTerm(const LossBatch *batch, const unsigned char *flags,
					   const float *logits, double scale, float *dlogits);

/*
 * Compute BCEWithLogits of one logit in its numerically stable form:
 * max(z, 0) - z y + log(1 + exp(-|z|)), PyTorch's formulation rearranged
 */
double
BceWithLogits(double logit, double target)
{
	return fmax(logit, 0.0) - logit * target + log1p(exp(-fabs(logit)));
}

/*
 * Compute a logistic sigmoid without overflow for large |z|
 */
double
Sigmoid(double z)
{
	if (z >= 0)
		return 1.0 / (1.0 + exp(-z));
	else
	{
		double		e = exp(z);

		return e / (1.0 + e);
	}
}

/*
 * Compute one model's weighted mean BCE and, optionally, its gradient
 * scaled by the blend factor
 */
static double
LossTerm(const LossBatch *batch, const unsigned char *flags,
		 const float *logits, double scale, float *dlogits)
{
	int			rows = batch->rows;
	int			outputs = batch->outputs;
	double		denominator = 0.0;
	double		sum = 0.0;

	for (int r = 0; r < rows; r++)
	{
		double		weight = batch->w ? batch->w[r] : 1.0;

		if (flags == NULL || flags[r])
			denominator += weight;
	}

	for (int r = 0; r < rows; r++)
	{
		double		weight = batch->w ? batch->w[r] : 1.0;
		int			counts = flags == NULL || flags[r];
		double		row_loss = 0.0;
		double		grad_scale = 0.0;

		if (counts && denominator > 0.0)
			grad_scale = scale * weight / denominator / outputs;

		for (int k = 0; k < outputs; k++)
		{
			size_t		i = (size_t) r * outputs + k;
			double		z = logits[i];
			double		y = batch->y[i];

			/* One exp serves both the loss and the sigmoid */
			double		e = exp(-fabs(z));
			double		sigmoid = z >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);

			if (counts)
				row_loss += fmax(z, 0.0) - z * y + log1p(e);
			if (dlogits != NULL)
				dlogits[i] = (float) (grad_scale * (sigmoid - y));
		}
		if (counts)
			sum += weight * row_loss / outputs;
	}

	return denominator > 0.0 ? sum / denominator : 0.0;
}

/*
 * Compute the blended loss of a mini-batch and its logit gradients
 */
LossValue
LossBlended(double alpha, const LossBatch *batch, const float *logits_open,
			const float *logits_commercial, float *dlogits_open,
			float *dlogits_commercial)
{
	LossValue	value;

	value.open = LossModel(alpha, batch, MIXREC_OPEN, logits_open, dlogits_open);
	value.commercial = LossModel(alpha, batch, MIXREC_COMMERCIAL, logits_commercial,
								 dlogits_commercial);
	value.total = LossTotal(alpha, value.open, value.commercial);
	return value;
}

/*
 * Compute one model's term of the blended loss and its logit gradients:
 * each model's gradient depends on its own logits only
 */
double
LossModel(double alpha, const LossBatch *batch, int k, const float *logits, float *dlogits)
{
	if (k == MIXREC_OPEN)
		return LossTerm(batch, batch->o, logits, alpha, dlogits);
	return LossTerm(batch, batch->c, logits, 1.0 - alpha, dlogits);
}

/*
 * Blend the two models' terms
 */
double
LossTotal(double alpha, double open, double commercial)
{
	return alpha * open + (1.0 - alpha) * commercial;
}
