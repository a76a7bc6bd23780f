/*
 * src/core/kernels.c
 *	  Element-wise loops of the MLP, written so compilers vectorise them.
 *
 * Each loop is branch-free over contiguous, non-overlapping (restrict)
 * floats, so both clones (see kernels.h) vectorise; the AVX2 one runs 8
 * lanes at a time.  The Makefile compiles this file and adam.c with -O3:
 * -O2's cost model leaves loops with a remainder unvectorised.
 */
#include "mixrec/kernels.h"

/*
 * Add the bias to every row and apply ReLU
 */
MIXREC_VECTORIZE void
KernelBiasRelu(float *restrict z, const float *restrict bias, int rows, int n, int relu)
{
	for (int r = 0; r < rows; r++)
	{
		float	   *row = z + (size_t) r * n;

		if (relu)
			for (int j = 0; j < n; j++)
			{
				float		v = row[j] + bias[j];

				row[j] = v > 0.0f ? v : 0.0f;
			}
		else
			for (int j = 0; j < n; j++)
				row[j] += bias[j];
	}
}

/*
 * Sum the rows of a matrix with leading dimension ld
 */
MIXREC_VECTORIZE void
KernelColumnSums(const float *restrict m, int rows, int n, int ld, float *restrict sums)
{
	for (int j = 0; j < n; j++)
		sums[j] = 0.0f;
	for (int r = 0; r < rows; r++)
	{
		const float *row = m + (size_t) r * ld;

		for (int j = 0; j < n; j++)
			sums[j] += row[j];
	}
}

/*
 * Zero the gradient where the activation was not positive
 */
MIXREC_VECTORIZE void
KernelReluMask(float *restrict g, const float *restrict a, size_t n)
{
	for (size_t i = 0; i < n; i++)
		g[i] = a[i] > 0.0f ? g[i] : 0.0f;
}
