/*
 * include/mixrec/kernels.h
 *	  The element-wise loops around the matrix products.
 *
 * PGXS compiles for the baseline x86-64 (SSE2).  These loops run once per
 * element of every activation and parameter, so each is compiled twice, for
 * the baseline and for AVX2 with FMA, and the dynamic loader picks the
 * version the CPU supports when the library is loaded (target_clones).  The
 * binary stays portable; a CPU with AVX2 runs 8 floats at a time.
 */
#ifndef MIXREC_KERNELS_H
#define MIXREC_KERNELS_H

#include <stddef.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#define MIXREC_VECTORIZE __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define MIXREC_VECTORIZE
#endif

/* z[r][j] += bias[j], then ReLU when relu is set */
extern void KernelBiasRelu(float *restrict z, const float *restrict bias, int rows, int n,
						   int relu);
/* sums[j] = sum over r of m[r][j] */
extern void KernelColumnSums(const float *restrict m, int rows, int n, int ld,
							 float *restrict sums);
/* g[i] = 0 wherever a[i] <= 0: the backward pass of ReLU */
extern void KernelReluMask(float *restrict g, const float *restrict a, size_t n);

/*
 * y = W x + b for one row, W [out][in], then ReLU when relu is set.  On
 * x86-64 an AVX2/FMA version written with intrinsics is chosen at run time.
 */
#if defined(__x86_64__) && defined(__GNUC__)
#define MIXREC_HAVE_AVX2_KERNELS 1
#endif
extern void KernelMatVec(const float *restrict w, const float *restrict x,
						 const float *restrict b, int out, int in, int relu,
						 float *restrict y);

#endif							/* MIXREC_KERNELS_H */
