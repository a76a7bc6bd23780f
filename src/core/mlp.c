/*
 * src/core/mlp.c
 *	  Forward and backward passes of an MLP over a mini-batch.
 *
 * Design: a layer is Z = A W^T + b (nn.Linear), followed by ReLU except on
 * the last layer, whose Z are the logits.  The forward pass keeps every
 * layer's output (post-ReLU for hidden layers) in one activation buffer,
 * laid out layer after layer as [batch][units], because the backward pass
 * needs them: dW = dZ^T A_prev, db = column sums of dZ, dA_prev = dZ W, and
 * dZ_prev = dA_prev where A_prev > 0, else 0 (PyTorch's ReLU backward uses
 * the same test on its output).  The backward pass ping-pongs between two
 * scratch buffers of [batch][widest hidden layer] floats.  Behind a
 * one-output layer (the usual last layer) dA_prev is an outer product, and
 * forming it, masking it and summing the previous layer's bias gradient
 * take one pass over A_prev (KernelReluOuterSums), with the same numbers
 * as the three steps.
 *
 * Nothing here allocates or fails: shapes are validated once, by
 * MlpShapeCheck, before any of these functions sees them.
 */
#include <cblas.h>

#include "mixrec/kernels.h"
#include "mixrec/mlp.h"

/*
 * Check that a shape is within the documented limits
 */
MixrecStatus
MlpShapeCheck(const MlpShape *shape, MixrecError *err)
{
	if (shape->n_hidden < 0 || shape->n_hidden > MIXREC_MAX_HIDDEN_LAYERS)
		return MixrecFail(err, MIXREC_ERR_LIMIT,
						  "a model has at most %d hidden layers, got %d",
						  MIXREC_MAX_HIDDEN_LAYERS, shape->n_hidden);

	for (int i = 0; i <= shape->n_hidden + 1; i++)
	{
		const char *what = i == 0 ? "input dimension" :
		i == shape->n_hidden + 1 ? "output dimension" : "hidden layer size";

		if (shape->dims[i] < 1 || shape->dims[i] > MIXREC_MAX_UNITS)
			return MixrecFail(err, MIXREC_ERR_LIMIT,
							  "%s must be between 1 and %d, got %d",
							  what, MIXREC_MAX_UNITS, shape->dims[i]);
	}

	if (MlpParamCount(shape) > MIXREC_MAX_PARAMS)
		return MixrecFail(err, MIXREC_ERR_LIMIT,
						  "a model has at most %d parameters, this shape has %zu",
						  MIXREC_MAX_PARAMS, MlpParamCount(shape));
	return MIXREC_OK;
}

/*
 * Count the parameters (weights and biases) of one MLP
 */
size_t
MlpParamCount(const MlpShape *shape)
{
	size_t		count = 0;

	for (int l = 0; l < MlpLayerCount(shape); l++)
		count += (size_t) shape->dims[l + 1] * (shape->dims[l] + 1);
	return count;
}

/*
 * Find the offset of a layer's weight matrix in the flat parameters
 */
size_t
MlpWeightOffset(const MlpShape *shape, int layer)
{
	size_t		offset = 0;

	for (int l = 0; l < layer; l++)
		offset += (size_t) shape->dims[l + 1] * (shape->dims[l] + 1);
	return offset;
}

/*
 * Find the offset of a layer's bias vector in the flat parameters
 */
size_t
MlpBiasOffset(const MlpShape *shape, int layer)
{
	return MlpWeightOffset(shape, layer) +
		(size_t) shape->dims[layer + 1] * shape->dims[layer];
}

/*
 * Return the widest layer output (hidden or output)
 */
int
MlpWidestLayer(const MlpShape *shape)
{
	int			widest = 0;

	for (int l = 1; l <= shape->n_hidden + 1; l++)
		if (shape->dims[l] > widest)
			widest = shape->dims[l];
	return widest;
}

/*
 * Size the activation buffer of a forward pass
 */
size_t
MlpActivationFloats(const MlpShape *shape, int batch)
{
	return MlpActivationOffset(shape, batch, MlpLayerCount(shape));
}

/*
 * Find where a layer's output starts in the activation buffer
 */
size_t
MlpActivationOffset(const MlpShape *shape, int batch, int layer)
{
	size_t		offset = 0;

	for (int l = 0; l < layer; l++)
		offset += (size_t) batch * shape->dims[l + 1];
	return offset;
}

/*
 * Size the scratch space of a backward pass
 */
size_t
MlpBackwardWorkFloats(const MlpShape *shape, int batch)
{
	int			widest = 0;

	for (int l = 1; l <= shape->n_hidden; l++)
		if (shape->dims[l] > widest)
			widest = shape->dims[l];
	return 2 * (size_t) batch * widest;
}

/*
 * Return the logits inside an activation buffer
 */
const float *
MlpLogits(const MlpShape *shape, const float *acts, int batch)
{
	return acts + MlpActivationOffset(shape, batch, MlpLayerCount(shape) - 1);
}

/*
 * Run the forward pass of one MLP over a mini-batch
 */
void
MlpForward(const MlpShape *shape, const float *params, const float *x,
		   int batch, float *acts)
{
	const float *in = x;
	int			layers = MlpLayerCount(shape);

	for (int l = 0; l < layers; l++)
	{
		int			n_in = shape->dims[l];
		int			n_out = shape->dims[l + 1];
		const float *weight = params + MlpWeightOffset(shape, l);
		const float *bias = params + MlpBiasOffset(shape, l);
		float	   *out = acts + MlpActivationOffset(shape, batch, l);

		if (batch == 1)
		{
			/* One row: a matrix-vector product, cheaper done inline */
			KernelMatVec(weight, in, bias, n_out, n_in, l < layers - 1, out);
		}
		else
		{
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans,
						batch, n_out, n_in, 1.0f, in, n_in, weight, n_in,
						0.0f, out, n_out);
			KernelBiasRelu(out, bias, batch, n_out, l < layers - 1);
		}
		in = out;
	}
}

/*
 * Copy the first layer's weights, [out][in], transposed to [in][out]
 */
void
MlpTransposeFirst(const MlpShape *shape, const float *params, float *first_t)
{
	int			n_in = shape->dims[0];
	int			n_out = shape->dims[1];
	const float *weight = params + MlpWeightOffset(shape, 0);

	for (int o = 0; o < n_out; o++)
		for (int i = 0; i < n_in; i++)
			first_t[(size_t) i * n_out + o] = weight[(size_t) o * n_in + i];
}

/*
 * Run the forward pass of one MLP over one row of mostly zero inputs
 */
void
MlpForwardSparse(const MlpShape *shape, const float *params, const float *first_t,
				 const float *x, const int *nz, int n_nz, float *acts)
{
	int			layers = MlpLayerCount(shape);
	int			n_out = shape->dims[1];
	const float *in = acts;

	/* The first layer: its bias plus the weight columns of the nonzero inputs */
	KernelSparseFirst(first_t, x, nz, n_nz, params + MlpBiasOffset(shape, 0), n_out,
					  layers > 1, acts);
	for (int l = 1; l < layers; l++)
	{
		float	   *out = acts + MlpActivationOffset(shape, 1, l);

		KernelMatVec(params + MlpWeightOffset(shape, l), in, params + MlpBiasOffset(shape, l),
					 shape->dims[l + 1], shape->dims[l], l < layers - 1, out);
		in = out;
	}
}

/*
 * Run the backward pass: fill grad (flat, like params) from dL/dlogits
 */
void
MlpBackward(const MlpShape *shape, const float *params, const float *x,
			int batch, const float *acts, const float *dlogits, float *grad,
			float *work)
{
	MlpBackwardInputs(shape, params, x, batch, acts, dlogits, grad, work, NULL, NULL, 0, NULL);
}

/*
 * Run the backward pass, and give the inputs' gradient on some ranges
 */
void
MlpBackwardInputs(const MlpShape *shape, const float *params, const float *x,
				  int batch, const float *acts, const float *dlogits, float *grad,
				  float *work, const uint32_t *first, const uint32_t *count, int n_ranges,
				  float *dx)
{
	int			layers = MlpLayerCount(shape);
	size_t		half = MlpBackwardWorkFloats(shape, batch) / 2;
	const float *dz = dlogits;
	int			bias_done = 0;	/* the bias gradient of layer l came with dZ */

	for (int l = layers - 1; l >= 0; l--)
	{
		int			n_in = shape->dims[l];
		int			n_out = shape->dims[l + 1];
		const float *a_prev = l == 0 ? x :
		acts + MlpActivationOffset(shape, batch, l - 1);
		float	   *dweight = grad + MlpWeightOffset(shape, l);
		float	   *dbias = grad + MlpBiasOffset(shape, l);

		/* dW = dZ^T A_prev */
		cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans,
					n_out, n_in, batch, 1.0f, dz, n_out, a_prev, n_in,
					0.0f, dweight, n_in);

		/* db = column sums of dZ */
		if (!bias_done)
			KernelColumnSums(dz, batch, n_out, n_out, dbias);
		bias_done = 0;

		/* dX = dZ W on the asked ranges of the inputs (an embedding's) */
		if (l == 0)
			for (int r = 0; r < n_ranges; r++)
				cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans,
							batch, (int) count[r], n_out, 1.0f, dz, n_out,
							params + MlpWeightOffset(shape, 0) + first[r], n_in,
							0.0f, dx + first[r], n_in);

		if (l > 0)
		{
			float	   *da = work + (l % 2) * half;
			const float *weight = params + MlpWeightOffset(shape, l);
			size_t		n = (size_t) batch * n_in;

			if (n_out == 1)
			{
				/*
				 * One output: dA_prev is an outer product; form it, mask it
				 * by the ReLU and sum the previous layer's bias gradient in
				 * one pass over A_prev instead of three
				 */
				KernelReluOuterSums(dz, weight, a_prev, batch, n_in, da,
									grad + MlpBiasOffset(shape, l - 1));
				bias_done = 1;
			}
			else
			{
				/* dA_prev = dZ W, then through ReLU: zero where A_prev <= 0 */
				cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans,
							batch, n_in, n_out, 1.0f, dz, n_out, weight, n_in,
							0.0f, da, n_in);
				KernelReluMask(da, a_prev, n);
			}
			dz = da;
		}
	}
}
