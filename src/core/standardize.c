/*
 * src/core/standardize.c
 *	  Fitting and applying per-feature standardisation.
 *
 * Welford's update keeps the running mean and sum of squared deviations
 * in double, which stays accurate on millions of rows and on features with
 * a large offset (a timestamp, a year), where the naive sum of squares
 * cancels catastrophically.
 */
#include <math.h>
#include <string.h>

#include "mixrec/standardize.h"

/*
 * Start empty statistics over dim features
 */
void
StandardizeStatsInit(StandardizeStats *stats, int dim, double *mean, double *m2)
{
	stats->dim = dim;
	stats->count = 0.0;
	stats->mean = mean;
	stats->m2 = m2;
	memset(mean, 0, sizeof(double) * dim);
	memset(m2, 0, sizeof(double) * dim);
}

/*
 * Fold rows ([rows][dim]) into the statistics
 */
void
StandardizeStatsAdd(StandardizeStats *stats, const float *x, size_t rows)
{
	for (size_t r = 0; r < rows; r++)
	{
		const float *row = x + r * stats->dim;

		stats->count += 1.0;
		for (int j = 0; j < stats->dim; j++)
		{
			double		delta = row[j] - stats->mean[j];

			stats->mean[j] += delta / stats->count;
			stats->m2[j] += delta * (row[j] - stats->mean[j]);
		}
	}
}

/*
 * Write the fitted mean and population standard deviation
 */
void
StandardizeStatsFinish(const StandardizeStats *stats, float *mean, float *std)
{
	for (int j = 0; j < stats->dim; j++)
	{
		double		variance = stats->count > 0 ? stats->m2[j] / stats->count : 0.0;
		double		deviation = sqrt(variance);

		mean[j] = (float) stats->mean[j];
		/* A constant feature would divide by zero: leave it unscaled */
		std[j] = (deviation > 0.0 && isfinite(deviation) &&
				  (float) deviation > 0.0f) ? (float) deviation : 1.0f;
	}
}

/*
 * Standardise rows with a fitted mean and scale
 */
void
StandardizeApply(const float *mean, const float *std, int dim,
				 const float *x, size_t rows, float *out)
{
	for (size_t r = 0; r < rows; r++)
	{
		const float *in_row = x + r * dim;
		float	   *out_row = out + r * dim;

		for (int j = 0; j < dim; j++)
			out_row[j] = (in_row[j] - mean[j]) / std[j];
	}
}
