/*
 * include/mixrec/mlp.h
 *	  Multilayer perceptron: shape, parameter layout, forward and backward.
 *
 * An MLP is d_in -> hidden[0] -> ... -> hidden[k-1] -> d_out, built from
 * nn.Linear layers with ReLU between them and logits out.  Its parameters
 * are one flat float array in the order of PyTorch's state_dict() for
 * nn.Sequential(Linear, ReLU, Linear, ...): for each layer the weight,
 * row-major [out][in], then the bias [out].
 *
 * A mini-batch is row-major [batch][features].  All matrix products go
 * through cblas_sgemm.
 */
#ifndef MIXREC_MLP_H
#define MIXREC_MLP_H

#include <stddef.h>
#include <stdint.h>

#include "mixrec/status.h"

/* Documented limits; a model blob beyond them is rejected before use */
#define MIXREC_MAX_HIDDEN_LAYERS	16
#define MIXREC_MAX_UNITS			65536
#define MIXREC_MAX_PARAMS			(16 * 1024 * 1024)	/* per model */

typedef struct MlpShape
{
	int			n_hidden;		/* number of hidden layers, 0..16 */
	/* dims[0] = input, dims[1..n_hidden] = hidden, dims[n_hidden+1] = output */
	int			dims[MIXREC_MAX_HIDDEN_LAYERS + 2];
} MlpShape;

#define MlpLayerCount(shape)	((shape)->n_hidden + 1)
#define MlpInputDim(shape)		((shape)->dims[0])
#define MlpOutputDim(shape)		((shape)->dims[(shape)->n_hidden + 1])

extern MixrecStatus MlpShapeCheck(const MlpShape *shape, MixrecError *err);
extern size_t MlpParamCount(const MlpShape *shape);
extern size_t MlpWeightOffset(const MlpShape *shape, int layer);
extern size_t MlpBiasOffset(const MlpShape *shape, int layer);
extern int	MlpWidestLayer(const MlpShape *shape);

/* Floats needed for the activations of a forward pass over batch rows */
extern size_t MlpActivationFloats(const MlpShape *shape, int batch);
/* Offset of layer's output inside the activation buffer */
extern size_t MlpActivationOffset(const MlpShape *shape, int batch, int layer);
/* Floats needed as scratch space by MlpBackward */
extern size_t MlpBackwardWorkFloats(const MlpShape *shape, int batch);

extern void MlpForward(const MlpShape *shape, const float *params,
					   const float *x, int batch, float *acts);
extern const float *MlpLogits(const MlpShape *shape, const float *acts, int batch);

/*
 * One row whose inputs are mostly zero (the one-hot inputs of typed
 * columns): the first layer adds only the columns of its weights that
 * nonzero inputs select, read from first_t, the first layer's weights
 * transposed to [in][out] by MlpTransposeFirst; nz lists the inputs that
 * are not zero (any others are ignored).  The same function as
 * MlpForward(..., 1, ...) up to the order of the sums.
 */
extern void MlpTransposeFirst(const MlpShape *shape, const float *params, float *first_t);
extern void MlpForwardSparse(const MlpShape *shape, const float *params, const float *first_t,
							 const float *x, const int *nz, int n_nz, float *acts);
extern void MlpBackward(const MlpShape *shape, const float *params,
						const float *x, int batch, const float *acts,
						const float *dlogits, float *grad, float *work);

/*
 * MlpBackward, and also the gradient with respect to the inputs
 * first[r] .. first[r] + count[r] - 1 of each range r < n_ranges (an
 * embedding's inputs), written to those places of dx[batch][input dim]
 */
extern void MlpBackwardInputs(const MlpShape *shape, const float *params,
							  const float *x, int batch, const float *acts,
							  const float *dlogits, float *grad, float *work,
							  const uint32_t *first, const uint32_t *count, int n_ranges,
							  float *dx);

#endif							/* MIXREC_MLP_H */
