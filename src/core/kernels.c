/*
 * src/core/kernels.c
 *	  Element-wise loops of the MLP, written so compilers vectorise them.
 *
 * Each loop is branch-free over contiguous, non-overlapping (restrict)
 * floats, so both clones (see kernels.h) vectorise; the AVX2 one runs 8
 * lanes at a time.  The Makefile compiles this file and adam.c with -O3:
 * -O2's cost model leaves loops with a remainder unvectorised.
 */
#include <string.h>

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

/*
 * The dot product of one row of W with x, eight partial sums at a time
 */
static inline float
DotRow(const float *restrict row, const float *restrict x, int in)
{
	int			body = in - in % 8;
	float		acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
	float		sum;

	for (int i = 0; i < body; i += 8)
		for (int j = 0; j < 8; j++)
			acc[j] += row[i + j] * x[i + j];
	sum = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
	for (int i = body; i < in; i++)
		sum += row[i] * x[i];
	return sum;
}

/*
 * y = W x + b for one row: W is [out][in] row-major.  Scoring one row at a
 * time is a matrix-vector product, where a BLAS call costs more in setup
 * than the arithmetic.  Eight rows of W are done together, each with eight
 * partial sums: eight independent vector accumulators, which keep the FMA
 * units busy where a single running sum would wait on its own latency (and
 * which the compiler may vectorise, as it may not reorder a plain sum).  So
 * the rounding differs from a GEMM's in the last bits.
 */
MIXREC_VECTORIZE void
KernelMatVec(const float *restrict w, const float *restrict x, const float *restrict b,
			 int out, int in, float *restrict y)
{
	int			body = in - in % 8;
	int			o = 0;

	for (; o + 8 <= out; o += 8)
	{
		float		acc[8][8];

		memset(acc, 0, sizeof(acc));
		for (int i = 0; i < body; i += 8)
			for (int r = 0; r < 8; r++)
				for (int j = 0; j < 8; j++)
					acc[r][j] += w[(size_t) (o + r) * in + i + j] * x[i + j];
		for (int r = 0; r < 8; r++)
		{
			const float *a = acc[r];
			float		sum = ((a[0] + a[4]) + (a[1] + a[5])) + ((a[2] + a[6]) + (a[3] + a[7]));

			for (int i = body; i < in; i++)
				sum += w[(size_t) (o + r) * in + i] * x[i];
			y[o + r] = sum + b[o + r];
		}
	}
	for (; o < out; o++)
		y[o] = DotRow(w + (size_t) o * in, x, in) + b[o];
}
