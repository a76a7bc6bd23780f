/*
 * bench/floor/limits.c
 *	  The machine's limits, measured inside a backend, for bench/.
 *
 * mixrec_floor_fma_peak() times a loop of independent FMA chains that never
 * touches memory: the most floating-point work one core does per second.
 * mixrec_floor_sgemm() times cblas_sgemm at one shape: what the BLAS that
 * mixrec calls does at the shapes mixrec gives it.  Both run in the backend,
 * so they use the library mixrec loaded and the thread count mixrec.threads
 * set (SET mixrec.threads = 2 before the call measures SGEMM with two
 * threads).  The benchmarks divide the FLOPs of a query by these rates to
 * get the least time the hardware allows for that arithmetic.
 *
 * Each returns the median, least and greatest rate of TRIALS timed trials,
 * after one untimed trial; each trial repeats the work until it has run for
 * a fifth of the asked seconds.  Not part of mixrec.
 */
#include "postgres.h"

#include <time.h>

#include <cblas.h>

#include "access/htup_details.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define FLOOR_X86 1
#endif

#define TRIALS		5
#define FMA_CHAINS	12			/* independent accumulators, ymm registers */
#define SCALAR_CHAINS 12

/* OpenBLAS's own entry point, absent from another BLAS */
extern int	openblas_get_num_threads(void) __attribute__((weak));

PG_FUNCTION_INFO_V1(mixrec_floor_fma_peak);
PG_FUNCTION_INFO_V1(mixrec_floor_sgemm);

static double
now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int
compare_double(const void *a, const void *b)
{
	double		x = *(const double *) a;
	double		y = *(const double *) b;

	return (x > y) - (x < y);
}

/* A loop of `iters` passes; returns FLOPs done and a value to keep */
typedef double (*FlopLoop) (long iters, void *arg, float *sink);

#ifdef FLOOR_X86
/*
 * FMA_CHAINS independent ymm FMA chains, acc = acc * a + b: every FMA of a
 * pass waits only for the same chain's FMA of the pass before, so with at
 * least latency x ports chains (4 x 2 on Zen 3) both FMA units stay busy.
 * a is just under 1 and b tiny, so the values stay normal for any count.
 */
__attribute__((target("avx2,fma")))
static double
fma_loop_avx2(long iters, void *arg, float *sink)
{
	__m256		a = _mm256_set1_ps(0.9999999f);
	__m256		b = _mm256_set1_ps(1e-7f);
	__m256		acc[FMA_CHAINS];
	__m256		sum;
	float		lanes[8];

	for (int c = 0; c < FMA_CHAINS; c++)
		acc[c] = _mm256_set1_ps(1.0f + c);
	for (long i = 0; i < iters; i++)
	{
		/* Written out so that every accumulator stays in a register */
		acc[0] = _mm256_fmadd_ps(acc[0], a, b);
		acc[1] = _mm256_fmadd_ps(acc[1], a, b);
		acc[2] = _mm256_fmadd_ps(acc[2], a, b);
		acc[3] = _mm256_fmadd_ps(acc[3], a, b);
		acc[4] = _mm256_fmadd_ps(acc[4], a, b);
		acc[5] = _mm256_fmadd_ps(acc[5], a, b);
		acc[6] = _mm256_fmadd_ps(acc[6], a, b);
		acc[7] = _mm256_fmadd_ps(acc[7], a, b);
		acc[8] = _mm256_fmadd_ps(acc[8], a, b);
		acc[9] = _mm256_fmadd_ps(acc[9], a, b);
		acc[10] = _mm256_fmadd_ps(acc[10], a, b);
		acc[11] = _mm256_fmadd_ps(acc[11], a, b);
	}
	sum = acc[0];
	for (int c = 1; c < FMA_CHAINS; c++)
		sum = _mm256_add_ps(sum, acc[c]);
	_mm256_storeu_ps(lanes, sum);
	*sink += lanes[0] + lanes[7];
	return (double) iters * FMA_CHAINS * 8 * 2;
}
#endif

/*
 * The same chains in plain C, for a CPU without AVX2 and FMA: what the
 * compiler makes of it (SSE2 at most on x86-64), not the machine's peak
 */
static double
fma_loop_scalar(long iters, void *arg, float *sink)
{
	volatile float va = 0.9999999f;
	volatile float vb = 1e-7f;
	float		a = va;
	float		b = vb;
	float		acc[SCALAR_CHAINS];
	float		sum = 0.0f;

	for (int c = 0; c < SCALAR_CHAINS; c++)
		acc[c] = 1.0f + c;
	for (long i = 0; i < iters; i++)
		for (int c = 0; c < SCALAR_CHAINS; c++)
			acc[c] = acc[c] * a + b;
	for (int c = 0; c < SCALAR_CHAINS; c++)
		sum += acc[c];
	*sink += sum;
	return (double) iters * SCALAR_CHAINS * 2;
}

/*
 * Time `loop`: calibrate a pass count for trials of seconds / TRIALS, run
 * one untimed trial, then TRIALS timed ones; fill rates (FLOP/s, sorted)
 * and return the pass count of a trial
 */
static long
time_loop(FlopLoop loop, void *arg, double seconds, long max_iters, double *rates)
{
	double		trial = seconds / TRIALS;
	long		iters = 1;
	float		sink = 0.0f;

	/* Double the passes until one run takes a tenth of a trial */
	for (;;)
	{
		double		t0 = now_seconds();
		double		elapsed;

		loop(iters, arg, &sink);
		elapsed = now_seconds() - t0;
		CHECK_FOR_INTERRUPTS();
		if (elapsed >= trial / 10 || iters >= max_iters)
		{
			if (elapsed > 0)
				iters = (long) Min((double) max_iters, Max(1.0, iters * trial / elapsed));
			break;
		}
		iters *= 2;
	}

	loop(iters, arg, &sink);	/* untimed */
	for (int t = 0; t < TRIALS; t++)
	{
		double		t0 = now_seconds();
		double		flops = loop(iters, arg, &sink);
		double		elapsed = now_seconds() - t0;

		rates[t] = elapsed > 0 ? flops / elapsed : 0.0;
		CHECK_FOR_INTERRUPTS();
	}
	qsort(rates, TRIALS, sizeof(double), compare_double);
	/* Keep the sums alive: a loop whose result is unused may be dropped */
	if (sink == 12345.678f)
		elog(DEBUG1, "mixrec_floor: sink %g", sink);
	return iters;
}

static void
check_seconds(double seconds)
{
	if (!(seconds >= 0.01 && seconds <= 60.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("seconds must be between 0.01 and 60, not %g", seconds)));
}

/* One row of (gflops, gflops_min, gflops_max, the rest) */
static Datum
rates_tuple(FunctionCallInfo fcinfo, const double *rates, Datum *rest, int n_rest)
{
	TupleDesc	tupdesc;
	Datum		values[8];
	bool		nulls[8] = {false};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("function returning record called in context that cannot accept type record")));
	tupdesc = BlessTupleDesc(tupdesc);
	Assert(tupdesc->natts == 3 + n_rest && n_rest <= 5);
	values[0] = Float8GetDatum(rates[TRIALS / 2] / 1e9);
	values[1] = Float8GetDatum(rates[0] / 1e9);
	values[2] = Float8GetDatum(rates[TRIALS - 1] / 1e9);
	for (int i = 0; i < n_rest; i++)
		values[3 + i] = rest[i];
	return HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls));
}

/*
 * mixrec_floor_fma_peak(seconds) -> (gflops, gflops_min, gflops_max, kernel)
 *
 * GFLOP/s of one core (this backend's) on register-only FMA chains
 */
Datum
mixrec_floor_fma_peak(PG_FUNCTION_ARGS)
{
	double		seconds = PG_GETARG_FLOAT8(0);
	double		rates[TRIALS];
	const char *kernel;
	FlopLoop	loop = fma_loop_scalar;
	Datum		rest[1];

	check_seconds(seconds);
	kernel = "portable C, " CppAsString2(SCALAR_CHAINS) " scalar chains: the CPU has no "
		"AVX2 and FMA, this is NOT the machine's peak";
#ifdef FLOOR_X86
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
	{
		loop = fma_loop_avx2;
		kernel = "AVX2+FMA, " CppAsString2(FMA_CHAINS) " independent ymm FMA chains, "
			"registers only";
	}
#endif
	time_loop(loop, NULL, seconds, LONG_MAX / 2, rates);
	rest[0] = CStringGetTextDatum(kernel);
	PG_RETURN_DATUM(rates_tuple(fcinfo, rates, rest, 1));
}

typedef struct SgemmCall
{
	CBLAS_ORDER order;
	CBLAS_TRANSPOSE trans_a;
	CBLAS_TRANSPOSE trans_b;
	int			m,
				n,
				k,
				lda,
				ldb,
				ldc;
	const float *a;
	const float *b;
	float	   *c;
} SgemmCall;

static double
sgemm_loop(long iters, void *arg, float *sink)
{
	SgemmCall  *s = (SgemmCall *) arg;

	for (long i = 0; i < iters; i++)
		cblas_sgemm(s->order, s->trans_a, s->trans_b, s->m, s->n, s->k, 1.0f,
					s->a, s->lda, s->b, s->ldb, 0.0f, s->c, s->ldc);
	*sink += s->c[0];
	return (double) iters * 2.0 * s->m * s->n * s->k;
}

static CBLAS_TRANSPOSE
parse_trans(text *t, const char *which)
{
	char	   *s = text_to_cstring(t);

	if (strcmp(s, "N") == 0)
		return CblasNoTrans;
	if (strcmp(s, "T") == 0)
		return CblasTrans;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("%s must be 'N' or 'T', not \"%s\"", which, s)));
	return CblasNoTrans;		/* not reached */
}

/*
 * mixrec_floor_sgemm(order, trans_a, trans_b, m, n, k, seconds)
 *	 -> (gflops, gflops_min, gflops_max, calls, threads)
 *
 * GFLOP/s (2 m n k per call) of cblas_sgemm(order, trans_a, trans_b, m, n,
 * k, 1, A, lda, B, ldb, 0, C, ldc) on tight matrices of numbers in
 * [-1, 1), with this backend's OpenBLAS thread count (threads, -1 for a
 * BLAS without openblas_get_num_threads)
 */
Datum
mixrec_floor_sgemm(PG_FUNCTION_ARGS)
{
	char	   *order = text_to_cstring(PG_GETARG_TEXT_PP(0));
	SgemmCall	s;
	double		seconds = PG_GETARG_FLOAT8(6);
	double		rates[TRIALS];
	double		floats;
	float	   *buf;
	long		calls;
	Datum		rest[2];
	uint64		rng = 0x9E3779B97F4A7C15u;
	bool		row_major;

	if (strcmp(order, "RowMajor") == 0)
		row_major = true;
	else if (strcmp(order, "ColMajor") == 0)
		row_major = false;
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("order must be 'RowMajor' or 'ColMajor', not \"%s\"", order)));
	s.order = row_major ? CblasRowMajor : CblasColMajor;
	s.trans_a = parse_trans(PG_GETARG_TEXT_PP(1), "trans_a");
	s.trans_b = parse_trans(PG_GETARG_TEXT_PP(2), "trans_b");
	s.m = PG_GETARG_INT32(3);
	s.n = PG_GETARG_INT32(4);
	s.k = PG_GETARG_INT32(5);
	check_seconds(seconds);
	if (s.m < 1 || s.n < 1 || s.k < 1 || s.m > 65536 || s.n > 65536 || s.k > 65536)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("m, n and k must be between 1 and 65536, not (%d, %d, %d)",
						s.m, s.n, s.k)));
	floats = (double) s.m * s.k + (double) s.k * s.n + (double) s.m * s.n;
	if (floats > 64.0 * 1024 * 1024)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("matrices of (m, n, k) = (%d, %d, %d) need %.0f floats, more than 67108864",
						s.m, s.n, s.k, floats)));

	/* Leading dimensions of tight matrices, as stored in the given order */
	if (row_major)
	{
		s.lda = s.trans_a == CblasNoTrans ? s.k : s.m;
		s.ldb = s.trans_b == CblasNoTrans ? s.n : s.k;
		s.ldc = s.n;
	}
	else
	{
		s.lda = s.trans_a == CblasNoTrans ? s.m : s.k;
		s.ldb = s.trans_b == CblasNoTrans ? s.k : s.n;
		s.ldc = s.m;
	}
	buf = MemoryContextAllocHuge(CurrentMemoryContext, (Size) floats * sizeof(float));
	for (Size i = 0; i < (Size) floats; i++)
	{
		rng = rng * 6364136223846793005u + 1442695040888963407u;
		buf[i] = (float) ((double) (rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
	}
	s.a = buf;
	s.b = buf + (Size) s.m * s.k;
	s.c = buf + (Size) s.m * s.k + (Size) s.k * s.n;

	calls = time_loop(sgemm_loop, &s, seconds, INT_MAX, rates);
	pfree(buf);
	rest[0] = Int32GetDatum((int32) Min(calls, (long) INT_MAX));
	rest[1] = Int32GetDatum(openblas_get_num_threads != NULL ? openblas_get_num_threads() : -1);
	PG_RETURN_DATUM(rates_tuple(fcinfo, rates, rest, 2));
}
