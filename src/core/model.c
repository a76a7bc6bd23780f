/*
 * src/core/model.c
 *	  Storage layout, initialisation and validation of a model in memory.
 */
#include <math.h>
#include <string.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

#include "mixrec/model.h"
#include "mixrec/random.h"
#include "mixrec/transform.h"

static void InitMlp(const MlpShape *shape, MixrecRandom *rng, float *params);
static MixrecStatus CheckFinite(const float *values, size_t n,
								const char *what, MixrecError *err);
static MixrecStatus CheckTransform(const MixrecModel *model, MixrecError *err);


/* What ModelCheck calls each model's arrays in its messages */
static const char *const param_names[MIXREC_MODELS] = {
	"open model parameter", "commercial model parameter"
};
static const char *const first_moment_names[MIXREC_MODELS] = {
	"open first moment", "commercial first moment"
};
static const char *const second_moment_names[MIXREC_MODELS] = {
	"open second moment", "commercial second moment"
};

/*
 * Attach a checked transform and lay out its embedding tables
 */
void
ModelAttachTransform(MixrecModel *model, const uint8_t *section, uint32_t len)
{
	model->flags |= MIXREC_FLAG_TRANSFORM;
	model->transform = section;
	model->transform_len = len;
	model->n_embed = TransformEmbeddings(section, len, model->embed, &model->embed_floats);
}

/*
 * Count the parameters of each model
 */
size_t
ModelParamCount(const MixrecModel *model)
{
	return MlpParamCount(&model->shape) + model->embed_floats;
}

/*
 * Count the floats of storage a model needs, in storage order:
 * [mean, std], open, commercial, [m_open, v_open, m_commercial, v_commercial]
 */
size_t
ModelFloatCount(const MixrecModel *model)
{
	size_t		params = ModelParamCount(model);
	size_t		count = 2 * params;

	if (model->flags & MIXREC_FLAG_STANDARDIZE)
		count += 2 * (size_t) MlpInputDim(&model->shape);
	if (model->flags & MIXREC_FLAG_OPTIMIZER)
		count += 4 * params;
	return count;
}

/*
 * Find an embedding table in a parameter set
 */
const float *
ModelEmbedTable(const MixrecModel *model, const float *params, uint32_t table)
{
	const float *p = params + MlpParamCount(&model->shape);

	for (uint32_t t = 0; t < table; t++)
		p += (size_t) model->embed[t].rows * model->embed[t].dim;
	return p;
}

/*
 * Read the row an embedded column's input names; anything else is the
 * out-of-vocabulary row
 */
uint32_t
ModelEmbedRow(const TransformEmbedding *embedding, float value)
{
	uint32_t	oov = embedding->rows - 2;

	if (!(value >= 0.0f && value < (float) embedding->rows))
		return oov;
	if ((float) (uint32_t) value != value)
		return oov;
	return (uint32_t) value;
}

/*
 * Copy rows with their embedded columns' inputs replaced by table rows
 */
void
ModelEmbedInputs(const MixrecModel *model, const float *params, const float *x, int rows,
				 float *out)
{
	size_t		d = (size_t) MlpInputDim(&model->shape);
	const float *tables[TRANSFORM_MAX_EMBEDDINGS];

	for (uint32_t t = 0; t < model->n_embed; t++)
		tables[t] = ModelEmbedTable(model, params, t);
	for (int i = 0; i < rows; i++)
	{
		const float *in = x + i * d;
		float	   *row = out + i * d;

		memcpy(row, in, sizeof(float) * d);
		for (uint32_t t = 0; t < model->n_embed; t++)
		{
			const TransformEmbedding *e = &model->embed[t];
			uint32_t	r = ModelEmbedRow(e, in[e->position]);

			memcpy(row + e->position, tables[t] + (size_t) r * e->dim, sizeof(float) * e->dim);
		}
	}
}

/*
 * Point a model's arrays into caller-provided storage
 */
void
ModelBindStorage(MixrecModel *model, float *storage)
{
	size_t		params = ModelParamCount(model);
	float	   *p = storage;

	model->mean = model->std = NULL;
	for (int k = 0; k < MIXREC_MODELS; k++)
		model->m[k] = model->v[k] = NULL;

	if (model->flags & MIXREC_FLAG_STANDARDIZE)
	{
		model->mean = p;
		p += MlpInputDim(&model->shape);
		model->std = p;
		p += MlpInputDim(&model->shape);
	}
	for (int k = 0; k < MIXREC_MODELS; k++)
	{
		model->params[k] = p;
		p += params;
	}
	/* The storage order of the format: each model's two moments in turn */
	if (model->flags & MIXREC_FLAG_OPTIMIZER)
		for (int k = 0; k < MIXREC_MODELS; k++)
		{
			model->m[k] = p;
			p += params;
			model->v[k] = p;
			p += params;
		}
}

/*
 * Initialise one MLP like nn.Linear: weights and biases uniform in
 * +-1/sqrt(fan_in), layer by layer, weight before bias
 */
static void
InitMlp(const MlpShape *shape, MixrecRandom *rng, float *params)
{
	for (int l = 0; l < MlpLayerCount(shape); l++)
	{
		double		bound = 1.0 / sqrt((double) shape->dims[l]);
		size_t		n = (size_t) shape->dims[l + 1] * (shape->dims[l] + 1);
		float	   *p = params + MlpWeightOffset(shape, l);

		for (size_t i = 0; i < n; i++)
			p[i] = (float) ((2.0 * RandomDouble(rng) - 1.0) * bound);
	}
}

/*
 * Initialise embedding tables like nn.Embedding: N(0, 1), by Box-Muller
 * from the same generator
 */
static void
InitEmbeddings(const MixrecModel *model, MixrecRandom *rng, float *params)
{
	float	   *p = params + MlpParamCount(&model->shape);

	for (size_t i = 0; i < model->embed_floats; i += 2)
	{
		double		u1 = 1.0 - RandomDouble(rng);	/* in (0, 1] */
		double		u2 = RandomDouble(rng);
		double		radius = sqrt(-2.0 * log(u1));

		p[i] = (float) (radius * cos(2.0 * M_PI * u2));
		if (i + 1 < model->embed_floats)
			p[i + 1] = (float) (radius * sin(2.0 * M_PI * u2));
	}
}

/*
 * Fill both parameter sets from a seed: the MLPs first, then the tables,
 * so a model without embeddings starts as it always has
 */
void
ModelInitParams(MixrecModel *model, uint64_t seed, ModelInitKind kind)
{
	MixrecRandom rng;

	RandomSeed(&rng, seed);
	InitMlp(&model->shape, &rng, model->params[MIXREC_OPEN]);
	if (kind != MODEL_INIT_SHARED)
		InitMlp(&model->shape, &rng, model->params[MIXREC_COMMERCIAL]);
	InitEmbeddings(model, &rng, model->params[MIXREC_OPEN]);
	if (kind == MODEL_INIT_SHARED)
		memcpy(model->params[MIXREC_COMMERCIAL], model->params[MIXREC_OPEN],
			   sizeof(float) * ModelParamCount(model));
	else
		InitEmbeddings(model, &rng, model->params[MIXREC_COMMERCIAL]);
}

/*
 * Check that every value of an array is finite
 */
static MixrecStatus
CheckFinite(const float *values, size_t n, const char *what, MixrecError *err)
{
	for (size_t i = 0; i < n; i++)
		if (!isfinite(values[i]))
			return MixrecFail(err, MIXREC_ERR_NONFINITE,
							  "%s value %zu is not finite", what, i);
	return MIXREC_OK;
}

/*
 * Check that a model carries a transform exactly when its flag says so,
 * and that the transform fits the model's inputs
 */
static MixrecStatus
CheckTransform(const MixrecModel *model, MixrecError *err)
{
	size_t		memory_size;

	if (!(model->flags & MIXREC_FLAG_TRANSFORM))
	{
		if (model->transform_len != 0 || model->transform != NULL)
			return MixrecFail(err, MIXREC_ERR_ARGUMENT,
							  "a model without the input transform flag carries a transform");
		return MIXREC_OK;
	}
	if (model->transform == NULL || model->transform_len < 1)
		return MixrecFail(err, MIXREC_ERR_ARGUMENT,
						  "a model with the input transform flag carries no transform");
	return TransformCheck(model->transform, model->transform_len,
						  (uint32_t) MlpInputDim(&model->shape), &memory_size, err);
}

/*
 * Validate a bound model: settings, limits, every array and the transform
 */
MixrecStatus
ModelCheck(const MixrecModel *model, MixrecError *err)
{
	size_t		params;
	int			input_dim;
	MixrecStatus status;

	if ((status = MlpShapeCheck(&model->shape, err)) != MIXREC_OK)
		return status;
	if (!(model->alpha >= 0.0 && model->alpha <= 1.0))
		return MixrecFail(err, MIXREC_ERR_ARGUMENT,
						  "alpha must be between 0 and 1, got %g", model->alpha);
	if (model->flags & ~(uint32_t) MIXREC_FLAG_ALL)
		return MixrecFail(err, MIXREC_ERR_CORRUPT,
						  "unknown model flags 0x%x", (unsigned) model->flags);

	params = ModelParamCount(model);
	input_dim = MlpInputDim(&model->shape);

	if (model->flags & MIXREC_FLAG_STANDARDIZE)
	{
		if ((status = CheckFinite(model->mean, input_dim, "standardization mean", err)) != MIXREC_OK ||
			(status = CheckFinite(model->std, input_dim, "standardization std", err)) != MIXREC_OK)
			return status;
		for (int j = 0; j < input_dim; j++)
			if (!(model->std[j] > 0.0f))
				return MixrecFail(err, MIXREC_ERR_ARGUMENT,
								  "standardization std of feature %d must be positive, got %g",
								  j, (double) model->std[j]);
	}

	for (int k = 0; k < MIXREC_MODELS; k++)
		if ((status = CheckFinite(model->params[k], params, param_names[k], err)) != MIXREC_OK)
			return status;

	if (model->flags & MIXREC_FLAG_OPTIMIZER)
	{
		if ((status = AdamConfigCheck(&model->adam, err)) != MIXREC_OK)
			return status;
		if (model->step < 0)
			return MixrecFail(err, MIXREC_ERR_ARGUMENT,
							  "optimizer step must not be negative, got %lld",
							  (long long) model->step);
		for (int k = 0; k < MIXREC_MODELS; k++)
			if ((status = CheckFinite(model->m[k], params, first_moment_names[k], err)) != MIXREC_OK ||
				(status = CheckFinite(model->v[k], params, second_moment_names[k], err)) != MIXREC_OK)
				return status;
		for (size_t i = 0; i < params; i++)
			for (int k = 0; k < MIXREC_MODELS; k++)
				if (model->v[k][i] < 0.0f)
					return MixrecFail(err, MIXREC_ERR_ARGUMENT,
									  "optimizer second moment %zu is negative", i);
	}
	return CheckTransform(model, err);
}
