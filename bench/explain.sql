-- bench/explain.sql: explanations per second against single-row scoring.
--
-- Run by bench/explain.sh with the variables model (a registered model)
-- and rows (a query whose column r is what the model scores: a row of its
-- typed columns or an array), n (rows to explain) and steps (integrated
-- gradients' steps).  Each measurement runs three times and keeps the
-- fastest; both run in the server, through the same LATERAL join shape,
-- so that what differs is the work per row.  It needs the extension
-- mixrec_floor (bench/floor) for the limit.

\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SET jit = off;

CREATE TEMP TABLE bench_rows AS SELECT r FROM (:rows) AS s LIMIT :n;

CREATE FUNCTION pg_temp.bench(what text, model text, steps int) RETURNS float8
LANGUAGE plpgsql AS $$
DECLARE
	best float8 := 'Infinity';
	started timestamptz;
	ignored float8;
BEGIN
	FOR i IN 1 .. 3 LOOP
		started := clock_timestamp();
		IF what = 'score' THEN
			SELECT sum(s.score) INTO ignored
			FROM bench_rows AS b, LATERAL (SELECT mixrec_score(model, b.r) AS score) AS s;
		ELSE
			SELECT sum(e.blend) INTO ignored
			FROM bench_rows AS b, LATERAL mixrec_explain(model, b.r, 5, 'blend', what, steps) AS e;
		END IF;
		best := least(best, extract(epoch FROM clock_timestamp() - started));
	END LOOP;
	RETURN best;
END $$;

CREATE TEMP TABLE bench_times AS
SELECT what, o, pg_temp.bench(what, :'model', :steps) AS seconds
FROM unnest(ARRAY['score', 'integrated_gradients', 'gradient_times_input', 'occlusion'])
	WITH ORDINALITY AS w(what, o);

-- The machine's limit (bench/README.md, "The limit meter"): each method's
-- FLOPs per row at the FMA peak of one core, measured now in this backend
-- (bench/floor).  One forward pass of both MLPs costs 2 n_in n_out per
-- layer each; a backward pass to the inputs as much again.  Integrated
-- gradients: steps forward and backward passes; gradient times input: one
-- of each; occlusion: one forward pass per input and one of the row, for
-- a model of array features (a typed model occludes whole columns: no
-- limit given).  The per-row floor is left out: small against this work.
CREATE TEMP TABLE bench_peak AS SELECT * FROM mixrec_floor_fma_peak();
CREATE TEMP TABLE bench_flops AS
SELECT 2 * 2 * sum(d[i] * d[i + 1])::float8 AS forward, d[1] AS d_in,
	   (SELECT (mixrec_info(weights)->'typed_columns') IS NOT NULL
			   AND mixrec_info(weights)->'typed_columns' <> 'null'
		FROM mixrec_models WHERE name = :'model' AND active) AS typed
FROM (SELECT ARRAY[(info->>'input_dim')::int]
			 || ARRAY(SELECT jsonb_array_elements_text(info->'hidden')::int) || 1 AS d
	  FROM (SELECT mixrec_info(weights) AS info FROM mixrec_models
			WHERE name = :'model' AND active) AS m) AS dims,
	 generate_subscripts(d, 1) AS i
WHERE i < array_length(d, 1)
GROUP BY d;

\echo FMA peak of one core, GFLOP/s (median, least, greatest of 5 trials; bench/floor):
SELECT round(gflops::numeric, 1) AS gflops, round(gflops_min::numeric, 1) AS least,
	   round(gflops_max::numeric, 1) AS greatest, kernel FROM bench_peak;

WITH t AS (
	SELECT b.*, CASE what WHEN 'score' THEN f.forward
						  WHEN 'integrated_gradients' THEN :steps * 2 * f.forward
						  WHEN 'gradient_times_input' THEN 2 * f.forward
						  WHEN 'occlusion' THEN CASE WHEN f.typed THEN NULL
													 ELSE (f.d_in + 1) * f.forward END
				END AS flops
	FROM bench_times b, bench_flops f
)
SELECT what AS per_row, (SELECT count(*) FROM bench_rows) AS rows,
	   round(seconds::numeric, 3) AS seconds,
	   round(((SELECT count(*) FROM bench_rows) / seconds)::numeric) AS per_second,
	   round((seconds / (SELECT seconds FROM t WHERE what = 'score'))::numeric, 1) AS cost_in_scores,
	   round(flops::numeric) AS flops_per_row,
	   round((p.gflops * 1e9 / flops)::numeric) AS limit_per_second,
	   round(((SELECT count(*) FROM bench_rows) / seconds / (p.gflops * 1e9 / flops))::numeric, 3)
		   AS fraction_of_limit
FROM t, bench_peak p
ORDER BY o;
