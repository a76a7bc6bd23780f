/*
 * src/core/explain.c
 *	  Attributions of one model's probability to its inputs: integrated
 *	  gradients, gradient times input and occlusion (include/mixrec/explain.h).
 *
 * Every method costs one batched pass: integrated gradients puts its steps
 * points of the straight path in one batch of steps rows (one forward and
 * one backward pass), occlusion its n_groups occluded rows in one forward
 * pass.  Sums are kept in double; the MLP itself runs in float.
 */
#include <string.h>

#include "mixrec/explain.h"
#include "mixrec/loss.h"

static int	ExplainPassRows(ExplainMethod method, int steps, int n_groups);
static size_t ExplainProbOffset(const MlpShape *shape, size_t d, int rows);

static const char *const explain_method_names[] = {
	"integrated_gradients", "gradient_times_input", "occlusion"
};

/*
 * Parse a method name
 */
int
ExplainMethodFromName(const char *name)
{
	for (int i = 0; i < (int) (sizeof(explain_method_names) / sizeof(explain_method_names[0])); i++)
		if (strcmp(name, explain_method_names[i]) == 0)
			return i;
	return -1;
}

/*
 * Write the baseline: 0 (the training mean after standardisation), and
 * the NULL row for each embedded column
 */
void
ExplainBaseline(const MixrecModel *model, float *baseline)
{
	memset(baseline, 0, sizeof(float) * MlpInputDim(&model->shape));
	for (uint32_t t = 0; t < model->n_embed; t++)
		baseline[model->embed[t].position] = (float) (model->embed[t].rows - 1);
}

/*
 * Size the scratch space of ExplainGradient
 */
size_t
ExplainGradientFloats(const MlpShape *shape, int rows)
{
	return MlpActivationFloats(shape, rows) + (size_t) rows * MlpOutputDim(shape) +
		MlpParamCount(shape) + MlpBackwardWorkFloats(shape, rows);
}

/*
 * Compute output 0's probability and, if asked, its input gradient
 */
void
ExplainGradient(const MlpShape *shape, const float *params, const float *z, int rows,
				float *work, double *prob, float *dz)
{
	int			d_out = MlpOutputDim(shape);
	float	   *acts = work;
	float	   *dlogits = acts + MlpActivationFloats(shape, rows);
	float	   *grad = dlogits + (size_t) rows * d_out;
	float	   *backward = grad + MlpParamCount(shape);
	const float *logits;
	uint32_t	first = 0;
	uint32_t	count = (uint32_t) MlpInputDim(shape);

	MlpForward(shape, params, z, rows, acts);
	logits = MlpLogits(shape, acts, rows);
	memset(dlogits, 0, sizeof(float) * rows * d_out);
	for (int r = 0; r < rows; r++)
	{
		double		p = Sigmoid(logits[(size_t) r * d_out]);

		prob[r] = p;
		/* d sigmoid(l) / dl = p (1 - p) */
		dlogits[(size_t) r * d_out] = (float) (p * (1.0 - p));
	}
	if (dz != NULL)
		MlpBackwardInputs(shape, params, z, rows, acts, dlogits, grad, backward,
						  &first, &count, 1, dz);
}

/*
 * Rows of the method's batched pass (at least the two of the row and its
 * baseline)
 */
static int
ExplainPassRows(ExplainMethod method, int steps, int n_groups)
{
	int			rows = method == EXPLAIN_INTEGRATED_GRADIENTS ? steps :
	method == EXPLAIN_OCCLUSION ? n_groups : 2;

	return rows < 2 ? 2 : rows;
}

/*
 * Where ExplainRow's probabilities start in its scratch space: after the
 * embedded row and baseline, the batch, its gradient and the pass's
 * space, on an even float so that doubles are aligned (the caller's
 * space is, as palloc's is)
 */
static size_t
ExplainProbOffset(const MlpShape *shape, size_t d, int rows)
{
	size_t		offset = 2 * d + 2 * (size_t) rows * d + ExplainGradientFloats(shape, rows);

	return offset + (offset & 1);
}

/*
 * Size the scratch space of ExplainRow
 */
size_t
ExplainWorkFloats(const MixrecModel *model, ExplainMethod method, int steps, int n_groups)
{
	const MlpShape *shape = &model->shape;
	size_t		d = (size_t) MlpInputDim(shape);
	int			rows = ExplainPassRows(method, steps, n_groups);

	return ExplainProbOffset(shape, d, rows) + (size_t) rows * 2;	/* prob[rows] as doubles */
}

/*
 * Explain one row for one MLP
 */
void
ExplainRow(const MixrecModel *model, const float *params, ExplainMethod method, int steps,
		   const float *x, const float *baseline, const uint32_t *group, int n_groups,
		   float *work, double *attr, double *prob, double *baseline_prob)
{
	const MlpShape *shape = &model->shape;
	size_t		d = (size_t) MlpInputDim(shape);
	int			rows = ExplainPassRows(method, steps, n_groups);
	float	   *ex = work;
	float	   *eb = ex + d;
	float	   *z = eb + d;
	float	   *dz = z + (size_t) rows * d;
	float	   *pass = dz + (size_t) rows * d;
	double	   *p = (double *) (work + ExplainProbOffset(shape, d, rows));

	/* The MLP's own inputs: embedded columns replaced by their rows */
	memcpy(z, x, sizeof(float) * d);
	memcpy(z + d, baseline, sizeof(float) * d);
	if (model->n_embed > 0)
		ModelEmbedInputs(model, params, z, 2, ex);
	else
		memcpy(ex, z, sizeof(float) * 2 * d);

	/* The row and the baseline; the gradient at the row for method 2 */
	memcpy(z, ex, sizeof(float) * 2 * d);
	ExplainGradient(shape, params, z, 2, pass, p,
					method == EXPLAIN_GRADIENT_TIMES_INPUT ? dz : NULL);
	*prob = p[0];
	*baseline_prob = p[1];
	for (int g = 0; g < n_groups; g++)
		attr[g] = 0.0;

	switch (method)
	{
		case EXPLAIN_GRADIENT_TIMES_INPUT:
			for (size_t i = 0; i < d; i++)
				attr[group[i]] += ((double) ex[i] - eb[i]) * dz[i];
			break;
		case EXPLAIN_INTEGRATED_GRADIENTS:
			for (int s = 0; s < steps; s++)
			{
				float		t = (float) ((s + 0.5) / steps);
				float	   *row = z + (size_t) s * d;

				for (size_t i = 0; i < d; i++)
					row[i] = eb[i] + t * (ex[i] - eb[i]);
			}
			ExplainGradient(shape, params, z, steps, pass, p, dz);
			for (size_t i = 0; i < d; i++)
			{
				double		sum = 0.0;

				for (int s = 0; s < steps; s++)
					sum += dz[(size_t) s * d + i];
				attr[group[i]] += ((double) ex[i] - eb[i]) * sum / steps;
			}
			break;
		case EXPLAIN_OCCLUSION:
			for (int g = 0; g < n_groups; g++)
			{
				float	   *row = z + (size_t) g * d;

				for (size_t i = 0; i < d; i++)
					row[i] = (int) group[i] == g ? eb[i] : ex[i];
			}
			ExplainGradient(shape, params, z, n_groups, pass, p, NULL);
			for (int g = 0; g < n_groups; g++)
				attr[g] = *prob - p[g];
			break;
	}
}
