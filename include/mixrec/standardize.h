/*
 * include/mixrec/standardize.h
 *	  Per-feature standardisation: x' = (x - mean) / std.
 */
#ifndef MIXREC_STANDARDIZE_H
#define MIXREC_STANDARDIZE_H

#include <stddef.h>

/*
 * Running mean and variance of each feature (Welford), in double, so a
 * large table can be fed row block by row block.  The caller provides the
 * three arrays of dim doubles.
 */
typedef struct StandardizeStats
{
	int			dim;
	double		count;
	double	   *mean;
	double	   *m2;				/* sum of squared deviations */
} StandardizeStats;

extern void StandardizeStatsInit(StandardizeStats *stats, int dim,
								 double *mean, double *m2);
extern void StandardizeStatsAdd(StandardizeStats *stats, const float *x,
								size_t rows);
/*
 * Write the fitted mean and population standard deviation as float; a
 * feature with zero (or non-finite) spread gets scale 1.
 */
extern void StandardizeStatsFinish(const StandardizeStats *stats,
								   float *mean, float *std);

/* out[r][j] = (x[r][j] - mean[j]) / std[j]; out may equal x */
extern void StandardizeApply(const float *mean, const float *std, int dim,
							 const float *x, size_t rows, float *out);

#endif							/* MIXREC_STANDARDIZE_H */
