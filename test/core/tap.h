/*
 * test/core/tap.h
 *	  A minimal TAP producer for the core unit tests.
 *
 * Each check prints "ok N - name" or "not ok N - name"; TapDone() prints
 * the plan and returns the exit status, so prove(1) and the test driver
 * both read the result.
 */
#ifndef MIXREC_TEST_TAP_H
#define MIXREC_TEST_TAP_H

#include <math.h>
#include <stdarg.h>
#include <stdio.h>

static int	tap_count = 0;
static int	tap_failed = 0;

static int
TapOk(int passed, const char *fmt,...)
{
	va_list		args;

	tap_count++;
	if (!passed)
		tap_failed++;
	printf("%sok %d - ", passed ? "" : "not ", tap_count);
	va_start(args, fmt);
	vprintf(fmt, args);
	va_end(args);
	printf("\n");
	fflush(stdout);
	return passed;
}

static void
TapDiag(const char *fmt,...)
{
	va_list		args;

	printf("# ");
	va_start(args, fmt);
	vprintf(fmt, args);
	va_end(args);
	printf("\n");
}

static int
TapDone(void)
{
	printf("1..%d\n", tap_count);
	return tap_failed == 0 ? 0 : 1;
}

/*
 * Largest violation of |a - b| <= atol + rtol * |b| over two arrays;
 * <= 0 means every element is within tolerance (NaN counts as a failure)
 */
static double
TapWorstExcess(const double *a, const double *b, size_t n, double rtol,
			   double atol, size_t *where)
{
	double		worst = -INFINITY;

	*where = 0;
	for (size_t i = 0; i < n; i++)
	{
		double		excess = fabs(a[i] - b[i]) - (atol + rtol * fabs(b[i]));

		if (isnan(excess))
			excess = INFINITY;
		if (excess > worst)
		{
			worst = excess;
			*where = i;
		}
	}
	return n == 0 ? 0.0 : worst;
}

#endif							/* MIXREC_TEST_TAP_H */
