/*
 * bench/floor/floor.c
 *	  The per-row floor of PostgreSQL for bench/score.sh.
 *
 * mixrec_floor_sum(real[]) detoasts its argument and sums the elements:
 * the least a C function that scores a real[] row must do (one fmgr call,
 * the array's detoast and header checks, one read of every element).  The
 * benchmark times SELECT sum(mixrec_floor_sum(features)) FROM t as the time
 * it takes merely to read the rows, and compares mixrec_score and
 * mixrec_predict against it.  It is not part of mixrec.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/array.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

PG_FUNCTION_INFO_V1(mixrec_floor_sum);

/*
 * Load mixrec first.  This library links OpenBLAS (limits.c), whose loading
 * starts a thread pool with the backend's signal mask; mixrec's _PG_init
 * replaces that pool with one that cannot take the backend's signals, and
 * sets the thread count from mixrec.threads, so that the limits measured
 * here use the library and threads that mixrec's own calls use.
 */
void
_PG_init(void)
{
	load_file("$libdir/mixrec", false);
}

/*
 * Sum the elements of a one-dimensional real[] without NULLs
 */
Datum
mixrec_floor_sum(PG_FUNCTION_ARGS)
{
	ArrayType  *array = PG_GETARG_ARRAYTYPE_P(0);
	const float4 *values;
	int			n;
	double		sum = 0.0;

	if (ARR_ELEMTYPE(array) != FLOAT4OID || ARR_NDIM(array) > 1 || ARR_HASNULL(array))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("mixrec_floor_sum expects a one-dimensional real[] without NULLs")));
	n = ARR_NDIM(array) == 0 ? 0 : ARR_DIMS(array)[0];
	values = (const float4 *) ARR_DATA_PTR(array);
	for (int i = 0; i < n; i++)
		sum += values[i];

	PG_RETURN_FLOAT8(sum);
}
