/*
 * src/core/model.c
 *	  Storage layout, initialisation and validation of a model in memory.
 */
#include <math.h>
#include <string.h>

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
 * Count the floats of storage a model needs, in storage order:
 * [mean, std], open, commercial, [m_open, v_open, m_commercial, v_commercial]
 */
size_t
ModelFloatCount(const MlpShape *shape, uint32_t flags)
{
	size_t		params = MlpParamCount(shape);
	size_t		count = 2 * params;

	if (flags & MIXREC_FLAG_STANDARDIZE)
		count += 2 * (size_t) MlpInputDim(shape);
	if (flags & MIXREC_FLAG_OPTIMIZER)
		count += 4 * params;
	return count;
}

/*
 * Point a model's arrays into caller-provided storage
 */
void
ModelBindStorage(MixrecModel *model, float *storage)
{
	size_t		params = MlpParamCount(&model->shape);
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
 * Fill both parameter sets from a seed
 */
void
ModelInitParams(MixrecModel *model, uint64_t seed, ModelInitKind kind)
{
	MixrecRandom rng;

	RandomSeed(&rng, seed);
	InitMlp(&model->shape, &rng, model->params[MIXREC_OPEN]);
	if (kind == MODEL_INIT_SHARED)
		memcpy(model->params[MIXREC_COMMERCIAL], model->params[MIXREC_OPEN],
			   sizeof(float) * MlpParamCount(&model->shape));
	else
		InitMlp(&model->shape, &rng, model->params[MIXREC_COMMERCIAL]);
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

	params = MlpParamCount(&model->shape);
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
