/*
 * src/core/score_kernels.c
 *	  The kernels of a scoring plan (include/mixrec/score_plan.h): one row
 *	  through a layer laid out [in][out], or [out][in] for a narrow layer.
 *
 * The dispatch follows src/core/kernels.c: each kernel has a portable
 * version and, on x86-64 with GCC or clang, an AVX2/FMA version written
 * with intrinsics, chosen at run time by KernelsInit (which calls
 * ScoreKernelsChoose) when the CPU has both and MIXREC_NO_SIMD=1 is not
 * set.  The Makefile compiles this file with -O3 -fno-math-errno, like
 * kernels.c, so the portable loops are vectorised for the baseline too.
 *
 * ScoreKernelAxpy is the one-row product of a transposed layer: for each
 * input, its value is broadcast and multiplied into up to eight vector
 * accumulators of the outputs, each an independent FMA chain (an FMA's
 * latency is 4 cycles and two issue per cycle, so eight keep the unit
 * busy), the weights streaming in order.  One row of a (64,{64}) model is
 * 64 inputs times 16 accumulators for both first layers, then the output
 * layers, 64 inputs each, as dot products (ScoreKernelDot): the narrow
 * layer would waste seven lanes of eight in the transposed form and be a
 * single dependent chain.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "mixrec/kernels.h"
#include "mixrec/score_plan.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define SCORE_KERNELS_AVX2 1
#endif

/*
 * y[0..width) = b + sum of x[i] * wt[i][...], then ReLU, portably
 */
static void
AxpyPortable(const float *restrict wt, int ld, int width, const float *restrict x, int in,
			 const float *restrict b, int relu, float *restrict y)
{
	for (int o = 0; o < width; o++)
		y[o] = 0.0f;
	for (int i = 0; i < in; i++)
	{
		const float *restrict row = wt + (size_t) i * ld;
		float		xi = x[i];

		for (int o = 0; o < width; o++)
			y[o] += xi * row[o];
	}
	for (int o = 0; o < width; o++)
	{
		float		v = y[o] + b[o];

		y[o] = relu && !(v > 0.0f) ? 0.0f : v;
	}
}

/*
 * y = W x + b, W [out][in], then ReLU, portably
 */
static void
DotLayerPortable(const float *restrict w, const float *restrict x, const float *restrict b,
				 int out, int in, int relu, float *restrict y)
{
	for (int o = 0; o < out; o++)
	{
		float		v = KernelDotRow(w + (size_t) o * in, x, in) + b[o];

		y[o] = relu && !(v > 0.0f) ? 0.0f : v;
	}
}

/*
 * Centre rows on the means, as StandardizeApply's x - mean
 */
static void
CenterPortable(const float *restrict x, const float *restrict mean, int in, size_t rows,
			   float *restrict y)
{
	for (size_t r = 0; r < rows; r++)
		for (int i = 0; i < in; i++)
			y[r * in + i] = x[r * in + i] - mean[i];
}

/*
 * Whether n floats are all finite: the exponent bits of none all set,
 * tested on the bits so that the loop vectorises
 */
static int
AllFinitePortable(const float *x, int n)
{
	unsigned	bad = 0;

	for (int i = 0; i < n; i++)
	{
		uint32_t	bits;

		memcpy(&bits, x + i, sizeof(bits));
		bad |= (bits & 0x7f800000u) == 0x7f800000u;
	}
	return !bad;
}

#ifdef SCORE_KERNELS_AVX2

/*
 * ScoreKernelAllFinite with AVX2: eight exponents at a time
 */
__attribute__((target("avx2,fma")))
static int
AllFiniteAvx2(const float *x, int n)
{
	const __m256i mask = _mm256_set1_epi32(0x7f800000);
	__m256i		bad = _mm256_setzero_si256();
	int			i = 0;

	for (; i + 8 <= n; i += 8)
	{
		__m256i		e = _mm256_and_si256(_mm256_loadu_si256((const __m256i *) (x + i)), mask);

		bad = _mm256_or_si256(bad, _mm256_cmpeq_epi32(e, mask));
	}
	return _mm256_testz_si256(bad, bad) && AllFinitePortable(x + i, n - i);
}

/*
 * One block of nv vectors of outputs (nv <= 8, a constant where inlined):
 * accumulators in registers over every input
 */
__attribute__((target("avx2,fma"), always_inline))
static inline void
AxpyBlockAvx2(const float *restrict wt, int ld, const float *restrict x, int in,
			  const float *restrict b, int relu, float *restrict y, const int nv)
{
	__m256		acc[8];

	for (int v = 0; v < nv; v++)
		acc[v] = _mm256_setzero_ps();
	for (int i = 0; i < in; i++)
	{
		const float *restrict row = wt + (size_t) i * ld;
		__m256		xv = _mm256_broadcast_ss(x + i);

		for (int v = 0; v < nv; v++)
			acc[v] = _mm256_fmadd_ps(xv, _mm256_loadu_ps(row + 8 * v), acc[v]);
	}
	for (int v = 0; v < nv; v++)
	{
		__m256		s = _mm256_add_ps(acc[v], _mm256_loadu_ps(b + 8 * v));

		if (relu)
			s = _mm256_max_ps(s, _mm256_setzero_ps());
		_mm256_storeu_ps(y + 8 * v, s);
	}
}

/*
 * ScoreKernelAxpy with AVX2 and FMA: blocks of 64 outputs, then of 32,
 * 16 and 8; a width that is not a multiple of 8 ends portably
 */
__attribute__((target("avx2,fma")))
static void
AxpyAvx2(const float *restrict wt, int ld, int width, const float *restrict x, int in,
		 const float *restrict b, int relu, float *restrict y)
{
	int			o = 0;

	for (; o + 64 <= width; o += 64)
		AxpyBlockAvx2(wt + o, ld, x, in, b + o, relu, y + o, 8);
	if (o + 32 <= width)
	{
		AxpyBlockAvx2(wt + o, ld, x, in, b + o, relu, y + o, 4);
		o += 32;
	}
	if (o + 16 <= width)
	{
		AxpyBlockAvx2(wt + o, ld, x, in, b + o, relu, y + o, 2);
		o += 16;
	}
	if (o + 8 <= width)
	{
		AxpyBlockAvx2(wt + o, ld, x, in, b + o, relu, y + o, 1);
		o += 8;
	}
	if (o < width)
		AxpyPortable(wt + o, ld, width - o, x, in, b + o, relu, y + o);
}

/*
 * The sum of the eight lanes of a vector
 */
__attribute__((target("avx2,fma")))
static inline float
HorizontalSum(__m256 v)
{
	__m128		s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));

	s = _mm_add_ps(s, _mm_movehl_ps(s, s));
	s = _mm_add_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}

/*
 * ScoreKernelDot with AVX2 and FMA: four accumulators of 8 per output,
 * then single vectors, then the tail
 */
__attribute__((target("avx2,fma")))
static void
DotLayerAvx2(const float *restrict w, const float *restrict x, const float *restrict b,
			 int out, int in, int relu, float *restrict y)
{
	for (int o = 0; o < out; o++)
	{
		const float *restrict row = w + (size_t) o * in;
		__m256		a0 = _mm256_setzero_ps();
		__m256		a1 = _mm256_setzero_ps();
		__m256		a2 = _mm256_setzero_ps();
		__m256		a3 = _mm256_setzero_ps();
		int			i = 0;
		float		v;

		for (; i + 32 <= in; i += 32)
		{
			a0 = _mm256_fmadd_ps(_mm256_loadu_ps(row + i), _mm256_loadu_ps(x + i), a0);
			a1 = _mm256_fmadd_ps(_mm256_loadu_ps(row + i + 8), _mm256_loadu_ps(x + i + 8), a1);
			a2 = _mm256_fmadd_ps(_mm256_loadu_ps(row + i + 16), _mm256_loadu_ps(x + i + 16), a2);
			a3 = _mm256_fmadd_ps(_mm256_loadu_ps(row + i + 24), _mm256_loadu_ps(x + i + 24), a3);
		}
		for (; i + 8 <= in; i += 8)
			a0 = _mm256_fmadd_ps(_mm256_loadu_ps(row + i), _mm256_loadu_ps(x + i), a0);
		v = HorizontalSum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
		for (; i < in; i++)
			v += row[i] * x[i];
		v += b[o];
		y[o] = relu && !(v > 0.0f) ? 0.0f : v;
	}
}
#endif							/* SCORE_KERNELS_AVX2 */

/* The entry points: portable until KernelsInit chooses */
void		(*ScoreKernelAxpy) (const float *restrict wt, int ld, int width,
								const float *restrict x, int in, const float *restrict b,
								int relu, float *restrict y) = AxpyPortable;
void		(*ScoreKernelDot) (const float *restrict w, const float *restrict x,
							   const float *restrict b, int out, int in, int relu,
							   float *restrict y) = DotLayerPortable;
void		(*ScoreKernelCenter) (const float *restrict x, const float *restrict mean,
								  int in, size_t rows, float *restrict y) = CenterPortable;
int			(*ScoreKernelAllFinite) (const float *x, int n) = AllFinitePortable;

/*
 * Choose the kernels' versions: AVX2 and FMA when avx2 (KernelsInit's
 * run-time check, false under MIXREC_NO_SIMD=1), else portable
 */
void
ScoreKernelsChoose(int avx2)
{
	ScoreKernelAxpy = AxpyPortable;
	ScoreKernelDot = DotLayerPortable;
	ScoreKernelCenter = CenterPortable;
	ScoreKernelAllFinite = AllFinitePortable;
#ifdef SCORE_KERNELS_AVX2
	if (avx2)
	{
		ScoreKernelAllFinite = AllFiniteAvx2;
		ScoreKernelAxpy = AxpyAvx2;
		ScoreKernelDot = DotLayerAvx2;
	}
#endif
}
