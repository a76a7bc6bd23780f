/*
 * bench/floor/mlp_loop.c
 *	  The arithmetic of per-row scoring as a plain C loop, for bench/score.sh.
 *
 * A standalone program (no PostgreSQL, no BLAS) that scores rows one at a
 * time with two (64, {64}) MLPs, open and commercial, exactly as
 * mixrec_score's default blend does:
 *
 *	   h = ReLU(W1 x + b1), z = w2 . h + b2, p = sigmoid(z)	(each model)
 *	   score = alpha * p_open + (1 - alpha) * p_commercial
 *
 * with plain loops, compiled by bench/score.sh with `pg_config --cflags`
 * (-O2, no -march: what PGXS gives an extension, SSE2 only on x86-64).
 *
 * The first layer is written as a sum of columns (h += x[k] * W1^T[k], W1
 * stored transposed), which -O2 vectorises (4 floats at a time with SSE2)
 * without reassociating any sum: this is the loop the benchmark uses.  The
 * dot-product form (one sum per hidden unit, W1 stored [out][in] as
 * nn.Linear keeps it), whose sums -O2 must keep in order without
 * -ffast-math, is timed too on a tenth of the rows and printed for context.
 *
 * The rows come from a pool of POOL_ROWS rows (256 kB) that stays in cache:
 * reading rows from a table is what the floor query measures; this program
 * measures the arithmetic only.  Each form: one untimed pass, then the best
 * of three timed passes.
 *
 * Usage: mlp_loop [rows]   (default 1,000,000)
 * Output: one line per form, then "loop_ns_per_row <ns>" (the column-sum
 * form), which bench/score_bench.py reads.
 */
#define _POSIX_C_SOURCE 199309L

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define D_IN		64
#define HIDDEN		64
#define POOL_ROWS	1024
#define ALPHA		0.5
#define PASSES		3

typedef struct Mlp
{
	float		w1[HIDDEN][D_IN];	/* nn.Linear layout: [out][in] */
	float		w1t[D_IN][HIDDEN];	/* the same, transposed: [in][out] */
	float		b1[HIDDEN];
	float		w2[HIDDEN];
	float		b2;
} Mlp;

static uint64_t rng_state = 0x9E3779B97F4A7C15u;

/* Uniform in [-bound, bound), from a 64-bit LCG */
static float
uniform(float bound)
{
	rng_state = rng_state * 6364136223846793005u + 1442695040888963407u;
	return bound * (float) ((double) (rng_state >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

/* nn.Linear's default initialisation: uniform in +-1/sqrt(fan_in) */
static void
mlp_init(Mlp *m)
{
	float		bound1 = 1.0f / sqrtf((float) D_IN);
	float		bound2 = 1.0f / sqrtf((float) HIDDEN);

	for (int j = 0; j < HIDDEN; j++)
		for (int k = 0; k < D_IN; k++)
		{
			m->w1[j][k] = uniform(bound1);
			m->w1t[k][j] = m->w1[j][k];
		}
	for (int j = 0; j < HIDDEN; j++)
		m->b1[j] = uniform(bound1);
	for (int j = 0; j < HIDDEN; j++)
		m->w2[j] = uniform(bound2);
	m->b2 = uniform(bound2);
}

/* sigmoid(logit) of one MLP, first layer as a sum of columns */
static double
mlp_columns(const Mlp *m, const float *x)
{
	float		h[HIDDEN];
	float		z = m->b2;

	for (int j = 0; j < HIDDEN; j++)
		h[j] = m->b1[j];
	for (int k = 0; k < D_IN; k++)
	{
		float		xk = x[k];

		for (int j = 0; j < HIDDEN; j++)
			h[j] += xk * m->w1t[k][j];
	}
	for (int j = 0; j < HIDDEN; j++)
		h[j] = h[j] > 0.0f ? h[j] : 0.0f;
	for (int j = 0; j < HIDDEN; j++)
		z += m->w2[j] * h[j];
	return 1.0 / (1.0 + exp(-(double) z));
}

/* sigmoid(logit) of one MLP, first layer as one dot product per unit */
static double
mlp_dots(const Mlp *m, const float *x)
{
	float		z = m->b2;

	for (int j = 0; j < HIDDEN; j++)
	{
		float		a = m->b1[j];

		for (int k = 0; k < D_IN; k++)
			a += m->w1[j][k] * x[k];
		z += m->w2[j] * (a > 0.0f ? a : 0.0f);
	}
	return 1.0 / (1.0 + exp(-(double) z));
}

static double
now_ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* Score `rows` rows one at a time; return the sum of the scores */
static double
pass(double (*mlp) (const Mlp *, const float *), const Mlp *open, const Mlp *commercial,
	 const float *pool, long rows)
{
	double		sum = 0.0;

	for (long r = 0; r < rows; r++)
	{
		const float *x = pool + (size_t) (r % POOL_ROWS) * D_IN;

		sum += ALPHA * mlp(open, x) + (1.0 - ALPHA) * mlp(commercial, x);
	}
	return sum;
}

/*
 * Best wall-clock ns per row of PASSES timed passes after one untimed one;
 * *cpu_ns gets the CPU time per row of that pass (less than the wall time
 * when other processes took the CPU away meanwhile)
 */
static double
best_ns_per_row(double (*mlp) (const Mlp *, const float *), const Mlp *open,
				const Mlp *commercial, const float *pool, long rows, double *checksum,
				double *cpu_ns)
{
	double		best = HUGE_VAL;

	*checksum = pass(mlp, open, commercial, pool, rows);
	for (int p = 0; p < PASSES; p++)
	{
		double		t0 = now_ns(CLOCK_MONOTONIC);
		double		c0 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
		double		sum = pass(mlp, open, commercial, pool, rows);
		double		cpu = (now_ns(CLOCK_PROCESS_CPUTIME_ID) - c0) / rows;
		double		ns = (now_ns(CLOCK_MONOTONIC) - t0) / rows;

		if (sum != *checksum)
		{
			fprintf(stderr, "mlp_loop: passes disagree (%.17g, %.17g)\n", sum, *checksum);
			exit(1);
		}
		if (ns < best)
		{
			best = ns;
			*cpu_ns = cpu;
		}
	}
	return best;
}

int
main(int argc, char **argv)
{
	long		rows = argc > 1 ? atol(argv[1]) : 1000000;
	static Mlp	open, commercial;
	static float pool[POOL_ROWS * D_IN];
	long		dot_rows;
	double		sum_columns, sum_dots, ns_columns, ns_dots, cpu_columns, cpu_dots;

	if (rows < 1)
	{
		fprintf(stderr, "usage: mlp_loop [rows]\n");
		return 2;
	}
	dot_rows = rows / 10 > 0 ? rows / 10 : 1;
	mlp_init(&open);
	mlp_init(&commercial);
	for (int i = 0; i < POOL_ROWS * D_IN; i++)
		pool[i] = uniform(1.0f);

	ns_columns = best_ns_per_row(mlp_columns, &open, &commercial, pool, rows, &sum_columns,
								 &cpu_columns);
	ns_dots = best_ns_per_row(mlp_dots, &open, &commercial, pool, dot_rows, &sum_dots,
							  &cpu_dots);

	printf("two (%d, {%d}) MLPs, ReLU, sigmoid, blend alpha %.1f; one row at a time; "
		   "best of %d passes (wall clock; CPU time of the same pass)\n",
		   D_IN, HIDDEN, ALPHA, PASSES);
	printf("column-sum form  (h += x[k] * W1t[k]),   %7ld rows: %7.1f ns/row (CPU %7.1f), "
		   "mean score %.6f\n", rows, ns_columns, cpu_columns, sum_columns / rows);
	printf("dot-product form (a += W1[j][k] * x[k]), %7ld rows: %7.1f ns/row (CPU %7.1f), "
		   "mean score %.6f\n", dot_rows, ns_dots, cpu_dots, sum_dots / dot_rows);
	printf("loop_ns_per_row %.3f\n", ns_columns);
	return 0;
}
