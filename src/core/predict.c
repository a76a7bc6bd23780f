/*
 * src/core/predict.c
 *	  Scoring rows with the open, commercial, blended or soup model.
 */
#include <string.h>

#include "mixrec/loss.h"
#include "mixrec/predict.h"
#include "mixrec/standardize.h"

static void AddProbabilities(const MixrecModel *model, const float *params,
							 const float *x, int rows, float *acts, float *embedded,
							 double weight, double *out);

static void AddSparseProbabilities(const MixrecModel *model, const float *params,
								   const float *first_t, const float *x, const int *nz,
								   int n_nz, float *acts, double weight, double *out);

static const char *const score_mode_names[] = {"blend", "open", "commercial", "soup"};

/*
 * Parse a mode name
 */
int
ScoreModeFromName(const char *name)
{
	for (int i = 0; i < (int) (sizeof(score_mode_names) / sizeof(score_mode_names[0])); i++)
		if (strcmp(name, score_mode_names[i]) == 0)
			return i;
	return -1;
}

/*
 * Blend the two parameter sets into one for the soup mode
 */
void
ScoreSoupParams(const MixrecModel *model, double alpha, float *out)
{
	size_t		n = ModelParamCount(model);
	float		a = (float) alpha;
	float		b = (float) (1.0 - alpha);

	for (size_t i = 0; i < n; i++)
		out[i] = a * model->params[MIXREC_OPEN][i] + b * model->params[MIXREC_COMMERCIAL][i];
}

/*
 * Size the scratch space of ScoreRows
 */
size_t
ScoreWorkFloats(const MixrecModel *model, int rows)
{
	size_t		inputs = (size_t) rows * MlpInputDim(&model->shape);

	/* standardised rows, activations, and each model's embedded rows */
	return inputs + MlpActivationFloats(&model->shape, rows) +
		(model->n_embed > 0 ? inputs : 0);
}

/*
 * Run one MLP and add weight * its probabilities to out
 */
static void
AddProbabilities(const MixrecModel *model, const float *params, const float *x,
				 int rows, float *acts, float *embedded, double weight, double *out)
{
	const MlpShape *shape = &model->shape;
	size_t		n = (size_t) rows * MlpOutputDim(shape);
	const float *logits;

	if (model->n_embed > 0)
	{
		ModelEmbedInputs(model, params, x, rows, embedded);
		x = embedded;
	}
	MlpForward(shape, params, x, rows, acts);
	logits = MlpLogits(shape, acts, rows);
	for (size_t i = 0; i < n; i++)
		out[i] += weight * Sigmoid(logits[i]);
}

/*
 * Score raw rows into probabilities
 */
void
ScoreRows(const MixrecModel *model, ScoreMode mode, double alpha,
		  const float *soup, const float *x, int rows, float *work,
		  double *out)
{
	const MlpShape *shape = &model->shape;
	const float *input = x;
	float	   *acts = work + (size_t) rows * MlpInputDim(shape);
	float	   *embedded = acts + MlpActivationFloats(shape, rows);

	if (model->flags & MIXREC_FLAG_STANDARDIZE)
	{
		StandardizeApply(model->mean, model->std, MlpInputDim(shape), x, rows, work);
		input = work;
	}

	memset(out, 0, sizeof(double) * rows * MlpOutputDim(shape));
	switch (mode)
	{
		case SCORE_OPEN:
			AddProbabilities(model, model->params[MIXREC_OPEN], input, rows, acts, embedded, 1.0, out);
			break;
		case SCORE_COMMERCIAL:
			AddProbabilities(model, model->params[MIXREC_COMMERCIAL], input, rows, acts, embedded, 1.0, out);
			break;
		case SCORE_SOUP:
			AddProbabilities(model, soup, input, rows, acts, embedded, 1.0, out);
			break;
		case SCORE_BLEND:
			AddProbabilities(model, model->params[MIXREC_OPEN], input, rows, acts, embedded, alpha, out);
			AddProbabilities(model, model->params[MIXREC_COMMERCIAL], input, rows, acts, embedded, 1.0 - alpha, out);
			break;
	}
}

/*
 * Run one MLP over one sparse row and add weight * its probabilities to out
 */
static void
AddSparseProbabilities(const MixrecModel *model, const float *params, const float *first_t,
					   const float *x, const int *nz, int n_nz, float *acts, double weight,
					   double *out)
{
	const MlpShape *shape = &model->shape;
	const float *logits;

	MlpForwardSparse(shape, params, first_t, x, nz, n_nz, acts);
	logits = MlpLogits(shape, acts, 1);
	for (int i = 0; i < MlpOutputDim(shape); i++)
		out[i] += weight * Sigmoid(logits[i]);
}

/*
 * Score one standardised row of mostly zero inputs
 */
void
ScoreRowSparse(const MixrecModel *model, ScoreMode mode, double alpha, const float *soup,
			   const float *const first_t[3], const float *x, const int *nz, int n_nz,
			   float *work, double *out)
{
	memset(out, 0, sizeof(double) * MlpOutputDim(&model->shape));
	switch (mode)
	{
		case SCORE_OPEN:
			AddSparseProbabilities(model, model->params[MIXREC_OPEN], first_t[MIXREC_OPEN], x, nz,
								   n_nz, work, 1.0, out);
			break;
		case SCORE_COMMERCIAL:
			AddSparseProbabilities(model, model->params[MIXREC_COMMERCIAL],
								   first_t[MIXREC_COMMERCIAL], x, nz, n_nz, work, 1.0, out);
			break;
		case SCORE_SOUP:
			AddSparseProbabilities(model, soup, first_t[2], x, nz, n_nz, work, 1.0, out);
			break;
		case SCORE_BLEND:
			AddSparseProbabilities(model, model->params[MIXREC_OPEN], first_t[MIXREC_OPEN], x, nz,
								   n_nz, work, alpha, out);
			AddSparseProbabilities(model, model->params[MIXREC_COMMERCIAL],
								   first_t[MIXREC_COMMERCIAL], x, nz, n_nz, work, 1.0 - alpha, out);
			break;
	}
}
