/*
 * src/core/model.c
 *	  Storage layout, initialisation and validation of a model in memory.
 */
#include <math.h>
#include <string.h>

#include "mixrec/model.h"
#include "mixrec/random.h"

static void InitMlp(const MlpShape *shape, MixrecRandom *rng, float *params);
static MixrecStatus CheckFinite(const float *values, size_t n,
								const char *what, MixrecError *err);

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
	model->m_open = model->v_open = NULL;
	model->m_commercial = model->v_commercial = NULL;

	if (model->flags & MIXREC_FLAG_STANDARDIZE)
	{
		model->mean = p;
		p += MlpInputDim(&model->shape);
		model->std = p;
		p += MlpInputDim(&model->shape);
	}
	model->open = p;
	p += params;
	model->commercial = p;
	p += params;
	if (model->flags & MIXREC_FLAG_OPTIMIZER)
	{
		model->m_open = p;
		p += params;
		model->v_open = p;
		p += params;
		model->m_commercial = p;
		p += params;
		model->v_commercial = p;
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
	InitMlp(&model->shape, &rng, model->open);
	if (kind == MODEL_INIT_SHARED)
		memcpy(model->commercial, model->open,
			   sizeof(float) * MlpParamCount(&model->shape));
	else
		InitMlp(&model->shape, &rng, model->commercial);
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
 * Validate a bound model: settings, limits and every array
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

	if ((status = CheckFinite(model->open, params, "open model parameter", err)) != MIXREC_OK ||
		(status = CheckFinite(model->commercial, params, "commercial model parameter", err)) != MIXREC_OK)
		return status;

	if (model->flags & MIXREC_FLAG_OPTIMIZER)
	{
		if ((status = AdamConfigCheck(&model->adam, err)) != MIXREC_OK)
			return status;
		if (model->step < 0)
			return MixrecFail(err, MIXREC_ERR_ARGUMENT,
							  "optimizer step must not be negative, got %lld",
							  (long long) model->step);
		if ((status = CheckFinite(model->m_open, params, "open first moment", err)) != MIXREC_OK ||
			(status = CheckFinite(model->v_open, params, "open second moment", err)) != MIXREC_OK ||
			(status = CheckFinite(model->m_commercial, params, "commercial first moment", err)) != MIXREC_OK ||
			(status = CheckFinite(model->v_commercial, params, "commercial second moment", err)) != MIXREC_OK)
			return status;
		for (size_t i = 0; i < params; i++)
			if (model->v_open[i] < 0.0f || model->v_commercial[i] < 0.0f)
				return MixrecFail(err, MIXREC_ERR_ARGUMENT,
								  "optimizer second moment %zu is negative", i);
	}
	return MIXREC_OK;
}
