/* bench/floor/mixrec_floor--1.0.sql */

\echo Use "CREATE EXTENSION mixrec_floor" to load this file. \quit

CREATE FUNCTION mixrec_floor_sum(features real[]) RETURNS float8
	AS 'MODULE_PATHNAME', 'mixrec_floor_sum' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION mixrec_floor_sum(real[]) IS
'the per-row floor of bench/score.sh: detoast a real[] and sum its elements';
