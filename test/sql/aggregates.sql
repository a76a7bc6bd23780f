-- mixrec_fit, mixrec_fit_state, mixrec_merge, and streamed training.
SET client_min_messages = warning;
\set SHOW_CONTEXT never

CREATE TABLE fit_rows AS
SELECT i,
       ARRAY[sin(i * 0.37), cos(i * 0.73), (i % 5) - 2, sin(i), cos(i), sin(i * 2), cos(i * 3), i % 7]::real[] AS f,
       (sin(i * 0.37) + cos(i * 0.73) > 0)::int::float8 AS y,
       CASE WHEN i % 3 = 0 THEN 'commercial' ELSE 'open' END AS d,
       1 + i % 2 AS w
FROM generate_series(1, 60000) AS i;

-- One epoch as an aggregate: the model it returns carries Adam's state
SELECT mixrec_info(mixrec_fit(mixrec_init(8, '{16}'), f, y))->'optimizer'->'step' AS adam_steps
FROM fit_rows;

-- It learns: clicked rows score higher after one epoch with weights and domains
WITH trained AS (
	SELECT mixrec_fit(mixrec_init(8, '{16}'), f, y, w, d, '{"learning_rate": 0.01, "batch_size": 64}') AS m
	FROM fit_rows)
SELECT avg(mixrec_score(m, f)) FILTER (WHERE y = 1) - avg(mixrec_score(m, f)) FILTER (WHERE y = 0) > 0.5 AS learned
FROM fit_rows, trained;

-- The same rows in the same order, unshuffled, train exactly what
-- mixrec_train trains in memory
SELECT mixrec_export(a.m) = mixrec_export(t.weights) AS same_as_mixrec_train,
       mixrec_info(a.m)->'optimizer' = mixrec_info(t.weights)->'optimizer' AS same_adam_state
FROM (SELECT mixrec_fit(mixrec_init(8, '{16}'), f, y, w, d,
                        '{"batch_size": 32, "pool_batches": 1, "shuffle": false, "learning_rate": 0.005}') AS m
      FROM (SELECT * FROM fit_rows WHERE i <= 1000 ORDER BY i) AS ordered) AS a,
     mixrec_train_model('SELECT * FROM fit_rows WHERE i <= 1000 ORDER BY i', 'f', 'y', 'd', 'w',
                        '{"hidden": [16], "epochs": 1, "batch_size": 32, "learning_rate": 0.005,
                          "validation_fraction": 0, "standardize": false, "shuffle": false,
                          "method": "memory"}', mixrec_init(8, '{16}'), 'x') AS t;

-- A training state, and what it says about itself
SELECT mixrec_state_info(mixrec_fit_state(mixrec_init(8, '{16}'), f, y)) - 'train_loss' - 'train_loss_open' - 'train_loss_commercial' AS state
FROM fit_rows;

-- The work area of training a pool is built once per aggregate, not once
-- per row (a DEBUG1 message says each time it is built)
SET max_parallel_workers_per_gather = 0;
SET client_min_messages = debug1;
SELECT mixrec_state_info(mixrec_fit_state(mixrec_init(8, '{16}'), f, y))->'rows_seen' AS rows_seen
FROM fit_rows;
SET client_min_messages = warning;
RESET max_parallel_workers_per_gather;

-- Merging states is model averaging weighted by rows: A + B equals B + A
-- (with more than two states the grouping can move the last bits, as
-- floating-point addition is not associative)
CREATE TABLE fit_states AS
SELECT i % 3 AS part, mixrec_fit_state(mixrec_init(8, '{16}'), f, y) AS s FROM fit_rows GROUP BY i % 3;
SELECT (SELECT mixrec_merge(s ORDER BY part) FROM fit_states WHERE part < 2) =
       (SELECT mixrec_merge(s ORDER BY part DESC) FROM fit_states WHERE part < 2) AS a_plus_b_equals_b_plus_a,
       (SELECT mixrec_merge(s ORDER BY part) FROM fit_states) =
       (SELECT mixrec_merge(s ORDER BY part) FROM (SELECT * FROM fit_states UNION ALL SELECT NULL, NULL) AS x) AS nulls_ignored,
       (SELECT (mixrec_info(mixrec_merge(s))->'optimizer'->>'step')::int FROM fit_states) =
       (SELECT max(steps) FROM (SELECT (mixrec_info(mixrec_merge(s))->'optimizer'->>'step')::int AS steps
                                FROM fit_states GROUP BY part) AS each) AS keeps_largest_step;

-- A parallel epoch: partial aggregates in two workers, averaged in the leader
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT mixrec_fit(mixrec_init(8, '{16}'), f, y) FROM fit_rows;
-- EXPLAIN ANALYZE's plan as 15 prints it: 18 adds buffers by default and
-- prints actual rows with two decimals
CREATE FUNCTION explain_analyze(query text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
    line text;
BEGIN
    FOR line IN EXECUTE 'EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF, BUFFERS OFF) ' || query LOOP
        RETURN NEXT regexp_replace(line, 'rows=([0-9]+)\.00 ', 'rows=\1 ', 'g');
    END LOOP;
END
$$;
SELECT explain_analyze('SELECT mixrec_fit(mixrec_init(8, ''{16}''), f, y) FROM fit_rows') AS "QUERY PLAN";
DROP FUNCTION explain_analyze(text);

-- Streamed training in parallel reaches the serial model's validation AUC
SELECT model FROM mixrec_train('parallel_fit', 'fit_rows', 'f', 'y > 0', domain => 'd', hidden => '{16}', epochs => 4,
                                 learning_rate => 0.01, method => 'stream');
RESET max_parallel_workers_per_gather;
SET max_parallel_workers_per_gather = 0;
SELECT model FROM mixrec_train('serial_fit', 'fit_rows', 'f', 'y > 0', domain => 'd', hidden => '{16}', epochs => 4,
                               learning_rate => 0.01, method => 'stream');
RESET max_parallel_workers_per_gather;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
SELECT (SELECT metrics->>'method' FROM mixrec_models WHERE name = 'parallel_fit') AS method,
       abs(p.validation_auc_blend - s.validation_auc_blend) < 0.01 AS parallel_auc_within_001,
       p.validation_auc_blend > 0.99 AS good_auc
FROM mixrec_training_info('parallel_fit') p JOIN mixrec_training_info('serial_fit') s USING (epoch)
WHERE epoch = 4;

-- A source larger than mixrec.train_memory streams, with bounded memory:
-- the training state and the held-out rows, not the table
SET mixrec.train_memory = '1MB';
SELECT model FROM mixrec_train('streamed', 'fit_rows', 'f', 'y', hidden => '{16}', epochs => 2);
SELECT metrics->>'method' AS method, (metrics->>'rows')::int AS rows,
       pg_relation_size('fit_rows') > 4 * 1024 * 1024 AS table_over_4mb,
       (metrics->>'state_bytes')::int + (metrics->>'validation_bytes')::int < 1024 * 1024 AS held_under_1mb,
       abs((metrics->>'validation_rows')::float8 / 60000 - 0.1) < 0.01 AS holds_out_a_tenth
FROM mixrec_models WHERE name = 'streamed';
SELECT * FROM mixrec_train('in_memory', 'fit_rows', 'f', 'y', hidden => '{16}', epochs => 2, method => 'memory');
RESET mixrec.train_memory;

-- The held-out rows are the same every time
SELECT count(*) FILTER (WHERE mixrec_holdout(f, 42) < 0.1) = count(*) FILTER (WHERE mixrec_holdout(f, 42) < 0.1) AS stable,
       count(*) FILTER (WHERE mixrec_holdout(f, 42) < 0.1) <> count(*) FILTER (WHERE mixrec_holdout(f, 7) < 0.1) AS seed_matters
FROM fit_rows;

-- Bad input
SELECT mixrec_fit(mixrec_init(8), f[1:7], y) FROM fit_rows;
SELECT mixrec_fit(mixrec_init(8), f, y + 1) FROM fit_rows;
SELECT mixrec_fit(mixrec_init(8), f, y, -1, d) FROM fit_rows;
SELECT mixrec_fit(mixrec_init(8), f, y, w, 'premium') FROM fit_rows;
SELECT mixrec_fit(mixrec_init(8), CASE WHEN i = 10 THEN NULL ELSE f END, y) FROM fit_rows;
SELECT mixrec_state_info(mixrec_fit_state(mixrec_init(8), CASE WHEN i = 10 THEN NULL ELSE f END, y, w, d, '{"on_invalid": "skip"}'))->'rows_skipped' AS skipped
FROM fit_rows;
SELECT mixrec_fit(NULL, f, y) FROM fit_rows;
SELECT mixrec_fit(mixrec_init(8, '{4}', 2), f, y) FROM fit_rows;
SELECT mixrec_fit(mixrec_init(8), f, y, w, d, '{"batch": 10}') FROM fit_rows;
SELECT mixrec_fit(mixrec_init(8), f, y, w, d, '{"batch_size": 0}') FROM fit_rows;
SELECT mixrec_fit(mixrec_init(8), f, y, w, d, '{"learning_rate": -1}') FROM fit_rows;
SELECT mixrec_fit(mixrec_init(8), f, y, w, d, '{"shuffle": "yes"}') FROM fit_rows;
SELECT mixrec_fit(mixrec_init(8), f, y, w, d, '[1]') FROM fit_rows;
SELECT mixrec_fit('\xdeadbeef', f, y) FROM fit_rows;
SELECT mixrec_fit_accum(NULL, mixrec_init(8), '{1,2,3,4,5,6,7,8}'::real[], 1);
SELECT mixrec_fit_combine(s, s) FROM fit_states;
-- States of different shapes, forged, truncated or foreign states
SELECT mixrec_merge(s) FROM (SELECT s FROM fit_states UNION ALL
                             SELECT mixrec_fit_state(mixrec_init(8, '{32}'), f, y) FROM fit_rows) AS x;
SELECT mixrec_merge(s) FROM (SELECT s FROM fit_states UNION ALL
                             SELECT mixrec_fit_state(mixrec_init(8, '{16}'), f, y, w, d, '{"batch_size": 128}') FROM fit_rows) AS x;
SELECT mixrec_merge(s) FROM (SELECT s FROM fit_states UNION ALL
                             SELECT mixrec_fit_state(mixrec_init(8, '{16}'), f, y, w, d, '{"learning_rate": 0.5}') FROM fit_rows) AS x;
SELECT mixrec_merge(substring(s FROM 1 FOR length(s) - 1)) FROM fit_states;
SELECT mixrec_merge(set_byte(s, 200, get_byte(s, 200) # 1)) FROM fit_states;
SELECT mixrec_merge(set_byte(s, 50, get_byte(s, 50) # 1)) FROM fit_states;
SELECT mixrec_merge(mixrec_init(8)) FROM fit_states;
SELECT mixrec_merge('hello') FROM fit_states;
SELECT mixrec_state_info('\x4d585253');
-- Every truncation and every bit flip of a state (with 5 rows pooled) is rejected
DO $$
DECLARE
	s bytea := (SELECT mixrec_fit_state(mixrec_init(3, '{4}'), ARRAY[i, -i, 1]::real[], (i % 2)::float8,
	                                    1, NULL, '{"batch_size": 8, "pool_batches": 1}')
	            FROM generate_series(1, 13) AS i);
	n int := length(s);
	rejected int := 0;
	tried int := 0;
BEGIN
	FOR cut IN 0 .. n - 1 LOOP
		tried := tried + 1;
		BEGIN
			PERFORM mixrec_state_info(substring(s FROM 1 FOR cut));
		EXCEPTION WHEN invalid_binary_representation THEN
			rejected := rejected + 1;
		END;
	END LOOP;
	RAISE WARNING 'truncations rejected: % of %', rejected, tried;
	rejected := 0;
	tried := 0;
	FOR b IN 0 .. 8 * n - 1 LOOP
		tried := tried + 1;
		BEGIN
			PERFORM mixrec_state_info(set_bit(s, b, 1 - get_bit(s, b)));
		EXCEPTION WHEN invalid_binary_representation THEN
			rejected := rejected + 1;
		END;
	END LOOP;
	RAISE WARNING 'bit flips rejected: % of %', rejected, tried;
END
$$;

-- Streamed training converts the source's own columns with the same datum
-- layer as training in memory: the same inputs are accepted (integer
-- features, boolean labels and domains, numeric weights), and the same bad
-- value gets the same message on both paths
CREATE TABLE odd_rows AS
SELECT ARRAY[i % 3, (i * 7) % 5]::int[] AS f, (i % 2 = 0) AS y, (i % 3 = 0) AS is_commercial,
       (1 + i % 2)::numeric AS w, ARRAY[CASE WHEN i = 7 THEN 1e300 ELSE i END, 1]::float8[] AS huge
FROM generate_series(1, 400) AS i;
SELECT (SELECT epochs_run FROM mixrec_train('odd_memory', 'odd_rows', 'f', 'y', domain => 'is_commercial',
                                            weight => 'w', hidden => '{4}', epochs => 2, method => 'memory')) AS memory_epochs,
       (SELECT epochs_run FROM mixrec_train('odd_stream', 'odd_rows', 'f', 'y', domain => 'is_commercial',
                                            weight => 'w', hidden => '{4}', epochs => 2, method => 'stream')) AS stream_epochs;
SELECT * FROM mixrec_train('odd_memory', 'odd_rows', 'huge', 'y', method => 'memory');
SELECT * FROM mixrec_train('odd_stream', 'odd_rows', 'huge', 'y', method => 'stream', standardize => false);
-- (the standardisation statistics of a streamed training are one SQL
-- aggregate over float8, which fails first with PostgreSQL's own message)
SELECT * FROM mixrec_train('odd_stream', 'odd_rows', 'huge', 'y', method => 'stream');
SELECT * FROM mixrec_train('odd_memory', 'odd_rows', 'f', 'CASE WHEN y THEN 2 ELSE 0 END', method => 'memory');
SELECT * FROM mixrec_train('odd_stream', 'odd_rows', 'f', 'CASE WHEN y THEN 2 ELSE 0 END', method => 'stream');
-- The aggregate behind it checks its argument types itself
SELECT length(mixrec_fit_rows(mixrec_init(2), f::text, y, w, NULL::text, NULL)) FROM odd_rows;
SELECT length(mixrec_fit_rows(mixrec_init(2), f, y::text, w, NULL::text, NULL)) FROM odd_rows;
SELECT length(mixrec_fit_rows(mixrec_init(2), f, y, w, 1, NULL)) FROM odd_rows;
SELECT mixrec_drop('odd_memory'), mixrec_drop('odd_stream');
