/*
 * include/mixrec/kernels.h
 *	  The loops around the matrix products, and the choice of their CPU
 *	  variants.
 *
 * PGXS compiles for the baseline x86-64 (SSE2).  These loops run once per
 * element of every activation and parameter, so each also exists in a
 * version for AVX2 with FMA; the binary stays portable, and a CPU with
 * AVX2 runs 8 floats at a time.  KernelsInit() chooses, once, at load
 * (from _PG_init, and from the main of every program built on the core),
 * which version each entry point below runs, and whether checksums use the
 * CPU's crc32 instruction (src/core/crc32c.c).  Until it runs, every entry
 * point runs its portable version.  The environment variable
 * MIXREC_NO_SIMD=1, read by KernelsInit, keeps the portable versions
 * everywhere: for tests, and for a CPU whose vector unit is suspected.
 */
#ifndef MIXREC_KERNELS_H
#define MIXREC_KERNELS_H

#include <stddef.h>

/* Adam's per-step coefficients of KernelAdam (computed by AdamStep) */
typedef struct KernelAdamCoefficients
{
	float		beta1;
	float		beta2;
	float		one_minus_beta1;
	float		one_minus_beta2;
	float		step_size;		/* lr / bias correction 1 */
	float		correction2_sqrt;	/* sqrt(bias correction 2) */
	float		eps;
	float		l2;				/* L2 weight decay folded into the gradient */
	float		shrink;			/* decoupled decay: 1 - lr * weight_decay */
} KernelAdamCoefficients;

/* Choose every kernel's version for this CPU (and MIXREC_NO_SIMD); repeatable */
extern void KernelsInit(void);
/* What KernelsInit chose, for diagnostics: e.g. "avx2+fma, sse4.2 crc32" */
extern const char *KernelsDescribe(void);

/* z[r][j] += bias[j], then ReLU when relu is set */
extern void (*KernelBiasRelu) (float *restrict z, const float *restrict bias, int rows, int n,
							   int relu);
/* sums[j] = sum over r of m[r][j] */
extern void (*KernelColumnSums) (const float *restrict m, int rows, int n, int ld,
								 float *restrict sums);
/* g[i] = 0 wherever a[i] <= 0: the backward pass of ReLU */
extern void (*KernelReluMask) (float *restrict g, const float *restrict a, size_t n);
/*
 * g[r][j] = dz[r] * w[j] where a[r][j] > 0, else 0, and sums[j] = the sum
 * over r of g[r][j]: the backward pass through a one-output layer (weights
 * w) and the ReLU of the hidden layer before it (outputs a), with that
 * layer's bias gradient; a, g [rows][n]
 */
extern void (*KernelReluOuterSums) (const float *restrict dz, const float *restrict w,
									const float *restrict a, int rows, int n, float *restrict g,
									float *restrict sums);
/* One Adam or AdamW update of n parameters and their moments */
extern void (*KernelAdam) (const KernelAdamCoefficients *k, float *restrict param,
						   const float *restrict grad, float *restrict m, float *restrict v,
						   size_t n);

/*
 * y = W x + b for one row, W [out][in], then ReLU when relu is set.  On
 * x86-64 an AVX2/FMA version is written with intrinsics.
 */
extern void (*KernelMatVec) (const float *restrict w, const float *restrict x,
							 const float *restrict b, int out, int in, int relu,
							 float *restrict y);

/*
 * y = b + sum over k of x[nz[k]] * wt[nz[k]][...], wt [in][out], then ReLU
 * when relu is set: the first layer for one row of mostly zero inputs
 */
extern void (*KernelSparseFirst) (const float *restrict wt, const float *restrict x,
								  const int *restrict nz, int n_nz, const float *restrict b,
								  int out, int relu, float *restrict y);

/*
 * The dot product of one row of W with x, eight partial sums at a time:
 * the portable one-row products of kernels.c and score_kernels.c share it,
 * so both sum in one order
 */
static inline float
KernelDotRow(const float *restrict row, const float *restrict x, int in)
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

#endif							/* MIXREC_KERNELS_H */
