-- An epoch split over K partitions (parallel workers, shards) converges
-- like a serial one: each partial state takes batches of batch_size / K
-- rows at learning_rate * sqrt(K), and large K runs as rounds.
SET client_min_messages = warning;
\set SHOW_CONTEXT never

-- 40,000 training and 10,000 test rows of 16 features; the label is a
-- nonlinear function of five of them
SELECT setseed(0.5);
CREATE TABLE part_rows AS
SELECT i, f, ((f[1] + f[2] - f[3]) + 0.8 * f[4] * f[5] - 0.6 * f[6] * f[6] > 0.3)::int::float8 AS y
FROM (SELECT i, ARRAY(SELECT random()::real FROM generate_series(1, 16) WHERE i > 0) AS f
      FROM generate_series(1, 50000) AS i) AS g;
CREATE TABLE part_train AS SELECT * FROM part_rows WHERE i <= 40000;
CREATE TABLE part_test AS SELECT * FROM part_rows WHERE i > 40000;
ANALYZE part_train;

-- Test AUC (ties counted half) and log loss of a model
CREATE FUNCTION part_quality(m bytea, OUT auc float8, OUT log_loss float8) LANGUAGE sql AS $$
	WITH s AS (SELECT y, mixrec_score(m, f) AS p FROM part_test),
	r AS (SELECT y, rank() OVER (ORDER BY p) + (count(*) OVER (PARTITION BY p) - 1) / 2.0 AS rk FROM s)
	SELECT ((SELECT sum(rk) FROM r WHERE y = 1) - n1 * (n1 + 1) / 2) / (n1 * n0),
	       (SELECT -avg(y * ln(greatest(p, 1e-7)) + (1 - y) * ln(greatest(1 - p, 1e-7))) FROM s)
	FROM (SELECT sum(y) AS n1, sum(1 - y) AS n0 FROM s) AS c
$$;

-- Epochs over K partitions (the rows of hash % K), each epoch as R rounds
-- (the rows of another hash % R), states merged after every round
CREATE FUNCTION part_train_epochs(k int, r int, epochs int, options jsonb)
RETURNS TABLE (auc float8, log_loss float8, states int) LANGUAGE plpgsql AS $$
DECLARE
	m bytea := mixrec_init(16, '{16}', seed => 7);
BEGIN
	FOR e IN 1..epochs LOOP
		FOR round IN 0..r - 1 LOOP
			SELECT mixrec_merge(s), count(*) INTO m, states FROM (
				SELECT mixrec_fit_state(m, f, y, 1.0, NULL, options || jsonb_build_object('seed', e * 1000 + round)) AS s
				FROM part_train WHERE abs(hashint4(i + 7)) % r = round
				GROUP BY abs(hashint4(i)) % k) AS partial;
		END LOOP;
	END LOOP;
	SELECT q.auc, q.log_loss INTO auc, log_loss FROM part_quality(m) AS q;
	RETURN NEXT;
END $$;

CREATE TABLE part_runs AS
SELECT 'serial' AS run, 1 AS k, 1 AS r, t.* FROM part_train_epochs(1, 1, 3, '{}') AS t
UNION ALL SELECT 'K = 2', 2, 1, t.* FROM part_train_epochs(2, 1, 3, '{"partitions": 2}') AS t
UNION ALL SELECT 'K = 4', 4, 1, t.* FROM part_train_epochs(4, 1, 3, '{"partitions": 4}') AS t
UNION ALL SELECT 'K = 32, 8 rounds', 32, 8, t.* FROM part_train_epochs(32, 8, 3, '{"partitions": 32}') AS t
UNION ALL SELECT 'K = 32, plain averaging', 32, 1, t.* FROM part_train_epochs(32, 1, 3, '{}') AS t;

-- After the same 3 epochs: log loss within 10% of the serial run's, AUC
-- within 0.002; plain averaging of 32 partitions falls far short
SELECT p.run, p.states,
       p.log_loss <= 1.10 * s.log_loss AS log_loss_within_10_percent,
       p.auc >= s.auc - 0.002 AS auc_within_0002
FROM part_runs p, part_runs s WHERE s.run = 'serial' AND p.run <> 'serial' ORDER BY p.k, p.r DESC;

-- What a state says about its split: its share of the batch, and how
-- many partial states were merged into it
SELECT mixrec_state_info(mixrec_fit_state(mixrec_init(16, '{16}'), f, y, 1.0, NULL, '{"partitions": 4}'))
       - 'train_loss' - 'train_loss_open' - 'train_loss_commercial' AS state
FROM part_train WHERE i <= 1000;

-- Parallel query: a streamed mixrec_train reads from the plan of its
-- source how many partial aggregates an epoch has (two workers and the
-- leader here), and splits its epochs accordingly
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SELECT model FROM mixrec_train('part_parallel', 'part_train', 'f', 'y', hidden => '{16}', epochs => 3,
                               method => 'stream', validation_fraction => 0);
SET max_parallel_workers_per_gather = 0;
SELECT model FROM mixrec_train('part_serial', 'part_train', 'f', 'y', hidden => '{16}', epochs => 3,
                               method => 'stream', validation_fraction => 0);
RESET max_parallel_workers_per_gather;
SELECT name, metrics->'partitions' AS partitions, metrics->'rounds' AS rounds
FROM mixrec_models WHERE name IN ('part_parallel', 'part_serial') ORDER BY name;
SELECT q.log_loss <= 1.10 * s.log_loss AS parallel_log_loss_within_10_percent,
       q.auc >= s.auc - 0.002 AS parallel_auc_within_0002
FROM part_quality((SELECT weights FROM mixrec_models WHERE name = 'part_parallel')) AS q,
     part_quality((SELECT weights FROM mixrec_models WHERE name = 'part_serial')) AS s;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;

-- Given partitions choose the rounds (4 partitions per round), or both are given
SELECT model FROM mixrec_train('part_given', 'part_train', 'f', 'y', hidden => '{16}', epochs => 1,
                               method => 'stream', partitions => 32);
SELECT metrics->'partitions' AS partitions, metrics->'rounds' AS rounds, metrics->'train_rows' AS train_rows
FROM mixrec_models WHERE name = 'part_given';

-- More rounds than rows: the empty rounds train nothing, every row is trained once
CREATE TABLE part_few AS SELECT * FROM part_train WHERE i <= 20;
SELECT model FROM mixrec_train('part_few', 'part_few', 'f', 'y', hidden => '{4}', epochs => 2,
                               method => 'stream', validation_fraction => 0, rounds => 1000);
SELECT metrics->'rounds' AS rounds, metrics->'train_rows' AS train_rows,
       (metrics->'epochs'->-1->>'train_loss')::float8 > 0 AS finite_loss
FROM mixrec_models WHERE name = 'part_few';

-- A partition whose rows all have one label merges like any other
WITH merged AS (
	SELECT count(*) AS states, mixrec_merge(s) AS m
	FROM (SELECT mixrec_fit_state(mixrec_init(16, '{16}'), f, y, 1.0, NULL, '{"partitions": 2}') AS s
	      FROM part_train WHERE i <= 2000 GROUP BY y) AS by_label)
SELECT states, mixrec_score(m, (SELECT f FROM part_train WHERE i = 1)) BETWEEN 0 AND 1 AS scores_a_probability
FROM merged;

-- Bad input
SELECT mixrec_fit(mixrec_init(16, '{16}'), f, y, 1.0, NULL, '{"partitions": 0}') FROM part_few;
SELECT mixrec_fit(mixrec_init(16, '{16}'), f, y, 1.0, NULL, '{"partitions": 5000}') FROM part_few;
SELECT mixrec_fit(mixrec_init(16, '{16}'), f, y, 1.0, NULL, '{"rounds": 2}') FROM part_few;
SELECT model FROM mixrec_train('part_bad', 'part_few', 'f', 'y', method => 'stream', rounds => 0);
-- States for different partition counts do not merge
SELECT mixrec_merge(s) FROM (
	SELECT mixrec_fit_state(mixrec_init(16, '{16}'), f, y, 1.0, NULL,
	                        jsonb_build_object('partitions', 1 + i % 2, 'batch_size', 1)) AS s
	FROM part_few GROUP BY i % 2) AS two;
-- States of models of different shapes do not merge
SELECT mixrec_merge(s) FROM (
	SELECT mixrec_fit_state(mixrec_init(16, ARRAY[4 + i % 2]), f, y) AS s
	FROM part_few GROUP BY i % 2) AS two;

-- A model trained by the aggregates, stored as a version with its
-- training info: each epoch's merged state says its loss
DO $$
DECLARE
	m bytea := mixrec_init(16, '{16}', seed => 7);
BEGIN
	FOR e IN 1..2 LOOP
		SELECT mixrec_merge(p) INTO m FROM (
			SELECT mixrec_fit_state(m, f, y, 1.0, NULL, '{"partitions": 4}') AS p
			FROM part_train GROUP BY abs(hashint4(i)) % 4) AS partial;
	END LOOP;
	PERFORM set_config('part.model', encode(m, 'hex'), false);
END $$;
SELECT model, version, epochs_run, round(train_loss::numeric, 3) AS train_loss
FROM mixrec_store('part_stored', decode(current_setting('part.model'), 'hex'),
                  '[{"epoch": 1, "train_loss": 0.41}, {"epoch": 2, "train_loss": 0.29}]', 'part_train');
SELECT epoch, train_loss FROM mixrec_training_info('part_stored');
SELECT config->>'method' AS method, source, active FROM mixrec_models WHERE name = 'part_stored';
-- A second store is the next version
SELECT version FROM mixrec_store('part_stored', decode(current_setting('part.model'), 'hex'));
-- mixrec_model reads the weights once, by name, for the functions that take a model
SELECT mixrec_model('part_stored') = decode(current_setting('part.model'), 'hex') AS same_weights,
       mixrec_model('part_stored', 1) = mixrec_model('part_stored', 2) AS versions_equal;
WITH m AS MATERIALIZED (SELECT mixrec_model('part_stored') AS weights)
SELECT count(*) AS scored, bool_and(mixrec_score(m.weights, t.f) BETWEEN 0 AND 1) AS probabilities
FROM part_test t, m;
SELECT mixrec_model('part_missing');
SELECT mixrec_model('part_stored', 9);
-- Bad input: not a model, a NULL model, epochs that are not a list of objects
SELECT * FROM mixrec_store('part_bad', '\x00112233');
SELECT * FROM mixrec_store('part_bad', NULL);
SELECT * FROM mixrec_store('part_bad', decode(current_setting('part.model'), 'hex'), '{"epoch": 1}');
SELECT * FROM mixrec_store('part_bad', decode(current_setting('part.model'), 'hex'), '[1, 2]');
SELECT count(*) AS bad_versions FROM mixrec_models WHERE name = 'part_bad';
-- Another role's name is refused
CREATE ROLE regress_part_other;
GRANT INSERT, UPDATE, DELETE ON mixrec_models, mixrec_model_counters TO regress_part_other;
SET ROLE regress_part_other;
SELECT * FROM mixrec_store('part_stored', mixrec_init(16, '{16}'));
SELECT mixrec_model('part_stored');
RESET ROLE;
REVOKE ALL ON mixrec_models, mixrec_model_counters FROM regress_part_other;
DROP ROLE regress_part_other;

-- States of models with different input transforms (the same shape, other
-- vocabularies) do not merge
CREATE TABLE part_typed AS
SELECT i, (ARRAY['red', 'green', 'blue'])[1 + i % 3] AS colour, (i % 7) / 7.0 AS x, (i % 2)::float8 AS y
FROM generate_series(1, 300) AS i;
CREATE TABLE part_typed_models AS
SELECT mixrec_prepare('part_typed', label => 'y', exclude => ARRAY['i'], hidden => '{4}') AS colours,
       mixrec_prepare('SELECT i, replace(colour, ''blue'', ''black'') AS colour, x, y FROM part_typed',
                      label => 'y', exclude => ARRAY['i'], hidden => '{4}') AS other_colours;
SELECT mixrec_merge(s) FROM (
	SELECT mixrec_fit_state(CASE WHEN t.i % 2 = 0 THEN m.colours ELSE m.other_colours END, t, t.y) AS s
	FROM part_typed t, part_typed_models m GROUP BY t.i % 2) AS two;
