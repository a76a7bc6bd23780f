/* bench/floor/mixrec_floor--1.0.sql */

\echo Use "CREATE EXTENSION mixrec_floor" to load this file. \quit

CREATE FUNCTION mixrec_floor_sum(features real[]) RETURNS float8
	AS 'MODULE_PATHNAME', 'mixrec_floor_sum' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION mixrec_floor_sum(real[]) IS
'the per-row floor of bench/score.sh: detoast a real[] and sum its elements';

CREATE FUNCTION mixrec_floor_fma_peak(seconds float8 DEFAULT 0.5,
		OUT gflops float8, OUT gflops_min float8, OUT gflops_max float8, OUT kernel text)
	AS 'MODULE_PATHNAME', 'mixrec_floor_fma_peak' LANGUAGE C VOLATILE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION mixrec_floor_fma_peak(float8) IS
'the FMA peak of one core in GFLOP/s (median, least, greatest of 5 trials): a register-only loop of independent FMA chains';

CREATE FUNCTION mixrec_floor_sgemm(order_ text, trans_a text, trans_b text,
		m int, n int, k int, seconds float8 DEFAULT 0.5,
		OUT gflops float8, OUT gflops_min float8, OUT gflops_max float8,
		OUT calls int, OUT threads int)
	AS 'MODULE_PATHNAME', 'mixrec_floor_sgemm' LANGUAGE C VOLATILE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION mixrec_floor_sgemm(text, text, text, int, int, int, float8) IS
'cblas_sgemm in GFLOP/s (median, least, greatest of 5 trials) at one shape: order RowMajor or ColMajor, trans N or T, with this backend''s BLAS threads';
