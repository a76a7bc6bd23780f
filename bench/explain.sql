-- bench/explain.sql: explanations per second against single-row scoring.
--
-- Run by bench/explain.sh with the variables model (a registered model)
-- and rows (a query whose column r is what the model scores: a row of its
-- typed columns or an array), n (rows to explain) and steps (integrated
-- gradients' steps).  Each measurement runs three times and keeps the
-- fastest; both run in the server, through the same LATERAL join shape,
-- so that what differs is the work per row.

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

WITH t AS (
	SELECT what, pg_temp.bench(what, :'model', :steps) AS seconds
	FROM unnest(ARRAY['score', 'integrated_gradients', 'gradient_times_input', 'occlusion'])
		WITH ORDINALITY AS w(what, o)
	ORDER BY o
)
SELECT what AS per_row, (SELECT count(*) FROM bench_rows) AS rows,
	   round(seconds::numeric, 3) AS seconds,
	   round(((SELECT count(*) FROM bench_rows) / seconds)::numeric) AS per_second,
	   round((seconds / (SELECT seconds FROM t WHERE what = 'score'))::numeric, 1) AS cost_in_scores
FROM t;
