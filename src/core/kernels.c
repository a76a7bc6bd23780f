/*
 * src/core/kernels.c
 *	  The loops around the matrix products, and the one place that chooses
 *	  their CPU variants.
 *
 * The element-wise loops (bias and ReLU, column sums, the ReLU mask, the
 * Adam update) are each written once, as an always-inline body that is
 * branch-free over contiguous, non-overlapping (restrict) floats, and
 * compiled twice: a portable version and a SIMD version that compilers
 * vectorise 8 lanes wide.  The Makefile compiles this file with -O3:
 * -O2's cost model leaves loops with a remainder unvectorised.
 *
 * The policy, applied once by KernelsInit():
 *	- MIXREC_NO_SIMD=1 in the environment: portable versions everywhere.
 *	- Where the loader can resolve GNU indirect functions (glibc), the SIMD
 *	  versions of the element-wise loops are target_clones of x86-64-v3 and
 *	  the baseline, so the loader picks the right clone for the CPU.  Not
 *	  under clang (whose x86-64-v3 clones need a newer release than ours)
 *	  or AddressSanitizer (whose runtime is not ready when ifunc resolvers
 *	  run).
 *	- Elsewhere on x86-64 (another libc, clang, sanitizers) the SIMD
 *	  versions are compiled for AVX2 with FMA, and chosen only when the CPU
 *	  has both: the run-time check.
 *	- The one-row matrix-vector product (intrinsics), the scoring plan's
 *	  kernels (src/core/score_kernels.c) and the CRC-32C instruction are
 *	  chosen by the run-time check everywhere.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mixrec/crc32c.h"
#include "mixrec/kernels.h"
#include "mixrec/score_plan.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define KERNELS_DISPATCH 1
#endif

/* target_clones needs ifunc support from the C library: glibc's */
#if defined(KERNELS_DISPATCH) && defined(__GLIBC__) && defined(__has_attribute) && \
	!defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#if __has_attribute(target_clones)
#define KERNELS_TARGET_CLONES 1
#endif
#endif

#if defined(KERNELS_TARGET_CLONES)
#define SIMD_VARIANT __attribute__((target_clones("arch=x86-64-v3", "default")))
#elif defined(KERNELS_DISPATCH)
#define SIMD_VARIANT __attribute__((target("avx2,fma")))
#endif

#define KERNEL_BODY static inline __attribute__((always_inline)) void

/*
 * Define the portable and (where there is one) the SIMD version of a loop
 * from its body: name##Portable and name##Simd
 */
#ifdef SIMD_VARIANT
#define DEFINE_VARIANTS(name, params, args) \
	static void name##Portable params { name##Body args; } \
	SIMD_VARIANT static void name##Simd params { name##Body args; }
#else
#define DEFINE_VARIANTS(name, params, args) \
	static void name##Portable params { name##Body args; }
#endif

/*
 * Add the bias to every row and apply ReLU
 */
KERNEL_BODY
BiasReluBody(float *restrict z, const float *restrict bias, int rows, int n, int relu)
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

DEFINE_VARIANTS(BiasRelu,
				(float *restrict z, const float *restrict bias, int rows, int n, int relu),
				(z, bias, rows, n, relu))

/*
 * Sum the rows of a matrix with leading dimension ld
 */
KERNEL_BODY
ColumnSumsBody(const float *restrict m, int rows, int n, int ld, float *restrict sums)
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

DEFINE_VARIANTS(ColumnSums,
				(const float *restrict m, int rows, int n, int ld, float *restrict sums),
				(m, rows, n, ld, sums))

/*
 * Zero the gradient where the activation was not positive
 */
KERNEL_BODY
ReluMaskBody(float *restrict g, const float *restrict a, size_t n)
{
	for (size_t i = 0; i < n; i++)
		g[i] = a[i] > 0.0f ? g[i] : 0.0f;
}

DEFINE_VARIANTS(ReluMask,
				(float *restrict g, const float *restrict a, size_t n),
				(g, a, n))

/*
 * The backward pass through a one-output layer and the ReLU before it, in
 * one pass over the activations: g[r][j] = dz[r] * w[j] where a[r][j] > 0,
 * else 0, and sums[j] = the column sums of g (the bias gradient of the
 * hidden layer).  The same numbers as the outer product (a matrix product
 * with K = 1), KernelReluMask and KernelColumnSums in turn: one rounding
 * per product, "+ 0.0f" turning a -0 into the +0 that the matrix product
 * (which adds its products to a zeroed C) writes, and the sums taken row
 * after row, in KernelColumnSums's order.
 */
KERNEL_BODY
ReluOuterSumsBody(const float *restrict dz, const float *restrict w, const float *restrict a,
				  int rows, int n, float *restrict g, float *restrict sums)
{
	for (int j = 0; j < n; j++)
		sums[j] = 0.0f;
	for (int r = 0; r < rows; r++)
	{
		const float *a_row = a + (size_t) r * n;
		float	   *g_row = g + (size_t) r * n;
		float		s = dz[r];

		for (int j = 0; j < n; j++)
		{
			/*
			 * Select dz[r] or 0, then multiply: a form the compiler
			 * vectorises (a select after the product it does not), and
			 * the same numbers while w is finite (0 * w = +-0, and a
			 * model with a weight that is not finite has NaN logits)
			 */
			float		v = (a_row[j] > 0.0f ? s : 0.0f) * w[j] + 0.0f;

			g_row[j] = v;
			sums[j] += v;
		}
	}
}

DEFINE_VARIANTS(ReluOuterSums,
				(const float *restrict dz, const float *restrict w, const float *restrict a,
				 int rows, int n, float *restrict g, float *restrict sums),
				(dz, w, a, rows, n, g, sums))

/*
 * One Adam or AdamW update, torch.optim's arithmetic in float32
 */
KERNEL_BODY
AdamBody(const KernelAdamCoefficients *k, float *restrict param, const float *restrict grad,
		 float *restrict m, float *restrict v, size_t n)
{
	float		beta1 = k->beta1;
	float		beta2 = k->beta2;
	float		one_minus_beta1 = k->one_minus_beta1;
	float		one_minus_beta2 = k->one_minus_beta2;
	float		step_size = k->step_size;
	float		correction2_sqrt = k->correction2_sqrt;
	float		eps = k->eps;
	float		l2 = k->l2;
	float		shrink = k->shrink;

	for (size_t i = 0; i < n; i++)
	{
		float		g = grad[i] + l2 * param[i];
		float		p = param[i] * shrink;
		float		denom;

		m[i] = m[i] * beta1 + one_minus_beta1 * g;
		v[i] = v[i] * beta2 + one_minus_beta2 * g * g;
		denom = sqrtf(v[i]) / correction2_sqrt + eps;
		param[i] = p - step_size * (m[i] / denom);
	}
}

DEFINE_VARIANTS(Adam,
				(const KernelAdamCoefficients *k, float *restrict param, const float *restrict grad,
				 float *restrict m, float *restrict v, size_t n),
				(k, param, grad, m, v, n))

/*
 * The first layer for one row of mostly zero inputs: the bias, plus each
 * nonzero input times its column of the weights (a row of wt, the weights
 * transposed), then ReLU if asked, portably
 */
static void
SparseFirstPortable(const float *restrict wt, const float *restrict x, const int *restrict nz,
					int n_nz, const float *restrict b, int out, int relu, float *restrict y)
{
	for (int o = 0; o < out; o++)
	{
		float		v = b[o];

		for (int k = 0; k < n_nz; k++)
			v += x[nz[k]] * wt[(size_t) nz[k] * out + o];
		y[o] = relu && !(v > 0.0f) ? 0.0f : v;
	}
}

#ifdef KERNELS_DISPATCH
/*
 * The same with AVX2 and FMA: eight outputs at a time, accumulated in a
 * register over the nonzero inputs, in the portable version's order
 */
__attribute__((target("avx2,fma")))
static void
SparseFirstAvx2(const float *restrict wt, const float *restrict x, const int *restrict nz,
				int n_nz, const float *restrict b, int out, int relu, float *restrict y)
{
	int			o = 0;

	for (; o + 8 <= out; o += 8)
	{
		__m256		acc = _mm256_loadu_ps(b + o);

		for (int k = 0; k < n_nz; k++)
			acc = _mm256_fmadd_ps(_mm256_set1_ps(x[nz[k]]),
								  _mm256_loadu_ps(wt + (size_t) nz[k] * out + o), acc);
		if (relu)
			acc = _mm256_max_ps(acc, _mm256_setzero_ps());
		_mm256_storeu_ps(y + o, acc);
	}
	for (; o < out; o++)
	{
		float		v = b[o];

		for (int k = 0; k < n_nz; k++)
			v += x[nz[k]] * wt[(size_t) nz[k] * out + o];
		y[o] = relu && !(v > 0.0f) ? 0.0f : v;
	}
}
#endif

/*
 * y = W x + b, then ReLU if asked, portably
 */
static void
MatVecPortable(const float *restrict w, const float *restrict x, const float *restrict b,
			   int out, int in, int relu, float *restrict y)
{
	for (int o = 0; o < out; o++)
	{
		float		v = KernelDotRow(w + (size_t) o * in, x, in) + b[o];

		y[o] = relu && !(v > 0.0f) ? 0.0f : v;
	}
}

#ifdef KERNELS_DISPATCH
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

/* The entry points: portable until KernelsInit chooses */
void		(*KernelBiasRelu) (float *restrict z, const float *restrict bias, int rows, int n,
							   int relu) = BiasReluPortable;
void		(*KernelColumnSums) (const float *restrict m, int rows, int n, int ld,
								 float *restrict sums) = ColumnSumsPortable;
void		(*KernelReluMask) (float *restrict g, const float *restrict a, size_t n) = ReluMaskPortable;
void		(*KernelReluOuterSums) (const float *restrict dz, const float *restrict w,
									const float *restrict a, int rows, int n, float *restrict g,
									float *restrict sums) = ReluOuterSumsPortable;
void		(*KernelAdam) (const KernelAdamCoefficients *k, float *restrict param,
						   const float *restrict grad, float *restrict m, float *restrict v,
						   size_t n) = AdamPortable;
void		(*KernelMatVec) (const float *restrict w, const float *restrict x,
							 const float *restrict b, int out, int in, int relu,
							 float *restrict y) = MatVecPortable;
void		(*KernelSparseFirst) (const float *restrict wt, const float *restrict x,
								  const int *restrict nz, int n_nz, const float *restrict b,
								  int out, int relu, float *restrict y) = SparseFirstPortable;

static char kernels_chosen[96] = "portable (KernelsInit not called)";

/*
 * Choose every kernel's version, once at load: see the policy above
 */
void
KernelsInit(void)
{
	const char *no_simd = getenv("MIXREC_NO_SIMD");
	int			disabled = no_simd != NULL && strcmp(no_simd, "1") == 0;
	int			avx2 = 0;
	int			sse42 = 0;
	int			targetclones = 0;
	const char *loops;

#ifdef KERNELS_DISPATCH
	if (!disabled)
	{
		__builtin_cpu_init();
		avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
		sse42 = __builtin_cpu_supports("sse4.2");
	}
#endif

	KernelBiasRelu = BiasReluPortable;
	KernelColumnSums = ColumnSumsPortable;
	KernelReluMask = ReluMaskPortable;
	KernelReluOuterSums = ReluOuterSumsPortable;
	KernelAdam = AdamPortable;
	KernelMatVec = MatVecPortable;
	KernelSparseFirst = SparseFirstPortable;
#ifdef SIMD_VARIANT
#ifdef KERNELS_TARGET_CLONES
	/* The loader has picked each clone; only the switch decides here */
	targetclones = 1;
	if (!disabled)
#else
	if (avx2)
#endif
	{
		KernelBiasRelu = BiasReluSimd;
		KernelColumnSums = ColumnSumsSimd;
		KernelReluMask = ReluMaskSimd;
		KernelReluOuterSums = ReluOuterSumsSimd;
		KernelAdam = AdamSimd;
	}
#endif
#ifdef KERNELS_DISPATCH
	if (avx2)
	{
		KernelMatVec = MatVecAvx2;
		KernelSparseFirst = SparseFirstAvx2;
	}
#endif
	ScoreKernelsChoose(avx2);
	Crc32cUseInstruction(sse42);

	if (disabled)
		loops = "portable (MIXREC_NO_SIMD=1)";
	else if (avx2)
		loops = "avx2+fma";
	else
		loops = "portable";
	snprintf(kernels_chosen, sizeof(kernels_chosen), "%s%s, %s", loops,
			 (!disabled && targetclones) ? " (loops by target_clones)" : "",
			 sse42 ? "sse4.2 crc32" : "table crc32");
}

/*
 * Say what KernelsInit chose
 */
const char *
KernelsDescribe(void)
{
	return kernels_chosen;
}
