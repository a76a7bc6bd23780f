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

#ifdef MIXREC_HAVE_AVX2_KERNELS
#include <immintrin.h>
#endif

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
 * y = W x + b, then ReLU if asked, portably
 */
static void
MatVecPortable(const float *restrict w, const float *restrict x, const float *restrict b,
			   int out, int in, int relu, float *restrict y)
{
	for (int o = 0; o < out; o++)
	{
		float		v = DotRow(w + (size_t) o * in, x, in) + b[o];

		y[o] = relu && !(v > 0.0f) ? 0.0f : v;
	}
}

#ifdef MIXREC_HAVE_AVX2_KERNELS
/*
 * y = W x + b, then ReLU if asked, with AVX2 and FMA: eight rows of W at a
 * time, each with its own vector accumulator in a register (eight
 * independent FMA chains), reduced together by a tree of horizontal adds
 */
__attribute__((target("avx2,fma")))
static void
MatVecAvx2(const float *restrict w, const float *restrict x, const float *restrict b,
		   int out, int in, int relu, float *restrict y)
{
	int			body = in - in % 8;
	int			o = 0;

	for (; o + 8 <= out; o += 8)
	{
		const float *r = w + (size_t) o * in;
		__m256		a0 = _mm256_setzero_ps();
		__m256		a1 = _mm256_setzero_ps();
		__m256		a2 = _mm256_setzero_ps();
		__m256		a3 = _mm256_setzero_ps();
		__m256		a4 = _mm256_setzero_ps();
		__m256		a5 = _mm256_setzero_ps();
		__m256		a6 = _mm256_setzero_ps();
		__m256		a7 = _mm256_setzero_ps();
		__m256		sum;
		float		totals[8];

		for (int i = 0; i < body; i += 8)
		{
			__m256		xv = _mm256_loadu_ps(x + i);

			a0 = _mm256_fmadd_ps(_mm256_loadu_ps(r + i), xv, a0);
			a1 = _mm256_fmadd_ps(_mm256_loadu_ps(r + in + i), xv, a1);
			a2 = _mm256_fmadd_ps(_mm256_loadu_ps(r + 2 * (size_t) in + i), xv, a2);
			a3 = _mm256_fmadd_ps(_mm256_loadu_ps(r + 3 * (size_t) in + i), xv, a3);
			a4 = _mm256_fmadd_ps(_mm256_loadu_ps(r + 4 * (size_t) in + i), xv, a4);
			a5 = _mm256_fmadd_ps(_mm256_loadu_ps(r + 5 * (size_t) in + i), xv, a5);
			a6 = _mm256_fmadd_ps(_mm256_loadu_ps(r + 6 * (size_t) in + i), xv, a6);
			a7 = _mm256_fmadd_ps(_mm256_loadu_ps(r + 7 * (size_t) in + i), xv, a7);
		}

		/* Lane j of sum = the total of accumulator j */
		{
			__m256		s0123 = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
			__m256		s4567 = _mm256_hadd_ps(_mm256_hadd_ps(a4, a5), _mm256_hadd_ps(a6, a7));

			sum = _mm256_add_ps(_mm256_permute2f128_ps(s0123, s4567, 0x20),
								_mm256_permute2f128_ps(s0123, s4567, 0x31));
		}
		if (body < in)
		{
			_mm256_storeu_ps(totals, sum);
			for (int k = 0; k < 8; k++)
				for (int i = body; i < in; i++)
					totals[k] += r[(size_t) k * in + i] * x[i];
			sum = _mm256_loadu_ps(totals);
		}
		sum = _mm256_add_ps(sum, _mm256_loadu_ps(b + o));
		if (relu)
			sum = _mm256_max_ps(sum, _mm256_setzero_ps());
		_mm256_storeu_ps(y + o, sum);
	}
	if (o < out)
		MatVecPortable(w + (size_t) o * in, x, b + o, out - o, in, relu, y + o);
}
#endif

/*
 * y = W x + b for one row, then ReLU if asked: W is [out][in] row-major.
 * Scoring one row at a time is a matrix-vector product, where a BLAS call
 * costs more in setup than the arithmetic.  The sums run in another order
 * than a GEMM's, so the rounding differs in the last bits.
 */
void
KernelMatVec(const float *restrict w, const float *restrict x, const float *restrict b,
			 int out, int in, int relu, float *restrict y)
{
#ifdef MIXREC_HAVE_AVX2_KERNELS
	static int	have_avx2 = -1;

	if (have_avx2 < 0)
	{
		__builtin_cpu_init();
		have_avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
	}
	if (have_avx2)
	{
		MatVecAvx2(w, x, b, out, in, relu, y);
		return;
	}
#endif
	MatVecPortable(w, x, b, out, in, relu, y);
}
