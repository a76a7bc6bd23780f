/*
 * src/core/adam.c
 *	  Adam and AdamW steps with torch.optim semantics.
 *
 * torch.optim.Adam (single-tensor path) does, per parameter, in float32:
 *
 *	g = grad + weight_decay * p							(Adam only)
 *	p = p * (1 - lr * weight_decay)						(AdamW only)
 *	m = beta1 * m + (1 - beta1) * g
 *	v = beta2 * v + (1 - beta2) * g * g
 *	p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
 *
 * with the bias corrections computed in double and applied as float
 * scalars.  We do the same, so the result matches to float rounding.  The
 * per-parameter loop is KernelAdam (src/core/kernels.c), in a SIMD version
 * where the CPU has one.
 */
#include <math.h>

#include "mixrec/adam.h"
#include "mixrec/kernels.h"

/*
 * Return PyTorch's default settings
 */
AdamConfig
AdamDefaults(void)
{
	AdamConfig	config;

	config.kind = ADAM_L2;
	config.lr = 1e-3;
	config.beta1 = 0.9;
	config.beta2 = 0.999;
	config.eps = 1e-8;
	config.weight_decay = 0.0;
	config.lazy_embeddings = 0;
	return config;
}

/*
 * Check optimiser settings against torch.optim's own checks
 */
MixrecStatus
AdamConfigCheck(const AdamConfig *config, MixrecError *err)
{
	if (config->kind != ADAM_L2 && config->kind != ADAM_DECOUPLED)
		return MixrecFail(err, MIXREC_ERR_ARGUMENT,
						  "unknown optimizer kind %d", (int) config->kind);
	if (!isfinite(config->lr) || config->lr <= 0.0 || config->lr > 1e3)
		return MixrecFail(err, MIXREC_ERR_ARGUMENT,
						  "learning rate must be in (0, 1000], got %g", config->lr);
	if (!(config->beta1 >= 0.0 && config->beta1 < 1.0))
		return MixrecFail(err, MIXREC_ERR_ARGUMENT,
						  "beta1 must be in [0, 1), got %g", config->beta1);
	if (!(config->beta2 >= 0.0 && config->beta2 < 1.0))
		return MixrecFail(err, MIXREC_ERR_ARGUMENT,
						  "beta2 must be in [0, 1), got %g", config->beta2);
	if (!isfinite(config->eps) || config->eps <= 0.0 || config->eps > 1.0)
		return MixrecFail(err, MIXREC_ERR_ARGUMENT,
						  "eps must be in (0, 1], got %g", config->eps);
	if (config->lazy_embeddings != 0 && config->lazy_embeddings != 1)
		return MixrecFail(err, MIXREC_ERR_ARGUMENT,
						  "unknown embedding optimizer %d", config->lazy_embeddings);
	if (!isfinite(config->weight_decay) || config->weight_decay < 0.0 ||
		config->weight_decay > 1e3)
		return MixrecFail(err, MIXREC_ERR_ARGUMENT,
						  "weight decay must be in [0, 1000], got %g",
						  config->weight_decay);
	return MIXREC_OK;
}

/*
 * Take one Adam or AdamW step over n parameters
 */
void
AdamStep(const AdamConfig *config, int64_t step, float *restrict param,
		 const float *restrict grad, float *restrict m, float *restrict v, size_t n)
{
	double		bias_correction1 = 1.0 - pow(config->beta1, (double) step);
	double		bias_correction2 = 1.0 - pow(config->beta2, (double) step);
	KernelAdamCoefficients k;

	k.beta1 = (float) config->beta1;
	k.beta2 = (float) config->beta2;
	k.one_minus_beta1 = (float) (1.0 - config->beta1);
	k.one_minus_beta2 = (float) (1.0 - config->beta2);
	k.step_size = (float) (config->lr / bias_correction1);
	k.correction2_sqrt = (float) sqrt(bias_correction2);
	k.eps = (float) config->eps;
	k.l2 = config->kind == ADAM_L2 ? (float) config->weight_decay : 0.0f;
	k.shrink = config->kind == ADAM_DECOUPLED ?
		(float) (1.0 - config->lr * config->weight_decay) : 1.0f;
	KernelAdam(&k, param, grad, m, v, n);
}

/*
 * Take one SparseAdam step on some rows of a table.  The arithmetic is
 * torch.optim.SparseAdam's, in its order: each moment moves by (1 - beta)
 * times its distance to the new value, the denominator is sqrt(v) + eps
 * without bias correction, and the step size carries both corrections.
 */
void
AdamStepRows(const AdamConfig *config, int64_t step, float *param, const float *grad,
			 float *m, float *v, uint32_t dim, const uint32_t *rows, size_t n_rows)
{
	double		bias_correction1 = 1.0 - pow(config->beta1, (double) step);
	double		bias_correction2 = 1.0 - pow(config->beta2, (double) step);
	float		one_minus_beta1 = (float) (1.0 - config->beta1);
	float		one_minus_beta2 = (float) (1.0 - config->beta2);
	float		eps = (float) config->eps;
	float		minus_step_size = (float) (-(config->lr * sqrt(bias_correction2) / bias_correction1));

	for (size_t r = 0; r < n_rows; r++)
	{
		size_t		base = (size_t) rows[r] * dim;

		for (uint32_t j = 0; j < dim; j++)
		{
			size_t		i = base + j;
			float		g = grad[i];
			float		m_update = (g - m[i]) * one_minus_beta1;
			float		v_update = (g * g - v[i]) * one_minus_beta2;
			float		numer = m_update + m[i];
			float		denom = sqrtf(v_update + v[i]) + eps;

			m[i] = numer;
			v[i] = v_update + v[i];
			param[i] += minus_step_size * (numer / denom);
		}
	}
}
