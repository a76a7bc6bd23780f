-- bench/partitions.sql: the functions bench/partitions.sh runs (loaded
-- once into its throwaway database).
--
-- A data set is a row of partitions_data: the model to start from, the
-- query of one round of an epoch and the query that scores the test rows.
-- The round query takes
--   $1 the model, $2 the fit options, $3 a seed of the epoch, $4 the
--   rounds R, $5 the round r, $6 the partitions K
-- and returns one training state per partition: mixrec_fit_state over the
-- rows whose hash (seeded by the epoch) % R = r, grouped by another hash
-- of the same key % K, as test/sql/partitions.sql does.  The partitions
-- are fixed from epoch to epoch, like the shards of a distributed table;
-- the rounds take other rows in every epoch, as mixrec_train's do.

CREATE TABLE partitions_data (
	data text PRIMARY KEY,
	start bytea NOT NULL,
	round_query text NOT NULL,
	test_query text NOT NULL
);

-- One row per run and epoch; auc and log_loss after the first and the last
-- epoch only
CREATE TABLE partitions_results (
	data text,
	run text,
	k int,
	rounds int,
	epoch int,
	ms float8,
	states int,
	updates bigint,
	step bigint,
	auc float8,
	log_loss float8,
	PRIMARY KEY (data, run, epoch)
);

-- Test AUC (ties counted half) and log loss of a model, from a query that
-- returns (y, p) for $1
CREATE FUNCTION partitions_quality(m bytea, test_query text, OUT auc float8, OUT log_loss float8)
LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE format($q$
		WITH s AS (%s),
		r AS (SELECT y, rank() OVER (ORDER BY p) + (count(*) OVER (PARTITION BY p) - 1) / 2.0 AS rk FROM s)
		SELECT ((SELECT sum(rk) FROM r WHERE y = 1) - n1 * (n1 + 1) / 2) / (n1 * n0),
		       (SELECT -avg(y * ln(greatest(p, 1e-7)) + (1 - y) * ln(greatest(1 - p, 1e-7))) FROM s)
		FROM (SELECT sum(y) AS n1, sum(1 - y) AS n0 FROM s) AS c$q$, test_query)
	INTO auc, log_loss USING m;
END $$;

-- Train a data set's model for some epochs over K partitions, each epoch
-- as R rounds whose states are merged after each round; record each epoch
CREATE FUNCTION partitions_run(p_data text, p_run text, k int, r int, options jsonb, epochs int)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	d partitions_data;
	m bytea;
	merged bytea;
	t0 timestamptz;
	ms float8;
	n_states int;
	n_updates bigint;
	round_states int;
	round_updates bigint;
	q_auc float8;
	q_log_loss float8;
BEGIN
	SELECT * INTO STRICT d FROM partitions_data WHERE data = p_data;
	m := d.start;
	FOR e IN 1..epochs LOOP
		t0 := clock_timestamp();
		n_states := 0;
		n_updates := 0;
		FOR round IN 0..r - 1 LOOP
			-- Adam updates of every state: its steps, and the batches its
			-- pool still holds, which mixrec_merge trains
			EXECUTE format($q$
				SELECT mixrec_merge(s), count(*)::int,
				       sum((i->>'steps')::bigint + ceil((i->>'rows_pooled')::float8 / (i->>'batch_size')::int))::bigint
				FROM (SELECT s, mixrec_state_info(s) AS i FROM (%s) AS partial) AS states$q$, d.round_query)
			INTO merged, round_states, round_updates
			USING m, options || jsonb_build_object('seed', e * 1000 + round), e, r, round, k;
			-- An empty round (no row of its hash) trains nothing
			IF merged IS NOT NULL THEN
				m := merged;
				n_states := n_states + round_states;
				n_updates := n_updates + round_updates;
			END IF;
		END LOOP;
		ms := 1000 * extract(epoch FROM clock_timestamp() - t0);
		q_auc := NULL;
		q_log_loss := NULL;
		IF e = 1 OR e = epochs THEN
			SELECT q.auc, q.log_loss INTO q_auc, q_log_loss FROM partitions_quality(m, d.test_query) AS q;
		END IF;
		INSERT INTO partitions_results
		VALUES (p_data, p_run, k, r, e, ms, n_states, n_updates,
		        (mixrec_info(m)->'optimizer'->>'step')::bigint, q_auc, q_log_loss);
	END LOOP;
END $$;

-- The table of a data set's runs, as Markdown: per run the test log loss
-- and AUC after the first and the last epoch, their ratio to and
-- difference from the serial run's, Adam steps, and the time per epoch
CREATE FUNCTION partitions_table(p_data text) RETURNS SETOF text LANGUAGE sql AS $$
	WITH last AS (SELECT data, max(epoch) AS e FROM partitions_results GROUP BY data),
	runs AS (
		SELECT r.run, r.k, r.rounds,
		       f.auc AS auc1, f.log_loss AS ll1, l.auc AS auc5, l.log_loss AS ll5, l.step,
		       (SELECT sum(updates) FROM partitions_results x WHERE x.data = r.data AND x.run = r.run) AS updates,
		       (SELECT avg(states) FROM partitions_results x WHERE x.data = r.data AND x.run = r.run) AS states,
		       (SELECT avg(ms) FROM partitions_results x WHERE x.data = r.data AND x.run = r.run) AS ms,
		       (SELECT min(ms) FROM partitions_results x WHERE x.data = r.data AND x.run = r.run) AS ms_min,
		       (SELECT max(ms) FROM partitions_results x WHERE x.data = r.data AND x.run = r.run) AS ms_max
		FROM (SELECT DISTINCT data, run, k, rounds FROM partitions_results WHERE data = p_data) AS r
		JOIN partitions_results f ON f.data = r.data AND f.run = r.run AND f.epoch = 1
		JOIN last ON last.data = r.data
		JOIN partitions_results l ON l.data = r.data AND l.run = r.run AND l.epoch = last.e),
	serial AS (SELECT * FROM runs WHERE k = 1)
	SELECT line FROM (
		SELECT 0 AS ord, 0 AS k, 0 AS rounds, 0 AS plain, '| run | K | rounds | states/epoch | Adam steps | updates | ep. 1 log loss | ep. 1 AUC | ep. 5 log loss | ep. 5 AUC | ep. 1 LL / serial | ep. 1 AUC - serial | ep. 5 LL / serial | ep. 5 AUC - serial | s/epoch (min-max) |' AS line
		UNION ALL
		SELECT 1, 0, 0, 0, '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |'
		UNION ALL
		SELECT 2, r.k, r.rounds, (r.run LIKE '%plain%')::int,
		       format('| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s (%s-%s) |',
		              r.run, r.k, r.rounds, round(r.states, 1), r.step, r.updates,
		              to_char(r.ll1, 'FM0.0000'), to_char(r.auc1, 'FM0.0000'),
		              to_char(r.ll5, 'FM0.0000'), to_char(r.auc5, 'FM0.0000'),
		              to_char(r.ll1 / s.ll1, 'FM990.000'), to_char(r.auc1 - s.auc1, 'FMS0.0000'),
		              to_char(r.ll5 / s.ll5, 'FM990.000'), to_char(r.auc5 - s.auc5, 'FMS0.0000'),
		              to_char(r.ms / 1000, 'FM990.00'), to_char(r.ms_min / 1000, 'FM990.00'),
		              to_char(r.ms_max / 1000, 'FM990.00'))
		FROM runs r, serial s) AS t
	ORDER BY ord, plain, k, rounds DESC, line
$$;
