-- Scoring by model name, and the model lifecycle: activate, drop, retention.
SET client_min_messages = warning;
\set SHOW_CONTEXT never

CREATE TABLE life_rows AS
SELECT i, ARRAY[sin(i * 0.37), cos(i * 0.73), (i % 5) - 2]::real[] AS f,
       sin(i * 0.37) + cos(i * 0.73) > 0 AS y
FROM generate_series(1, 5000) AS i;

SELECT version FROM mixrec_train('life', 'life_rows', 'f', 'y', hidden => '{8}', epochs => 1, seed => 1);
SELECT version FROM mixrec_train('life', 'life_rows', 'f', 'y', hidden => '{8}', epochs => 1, seed => 2);

-- By name: the active version (2), or a pinned one; same numbers as by bytea
SELECT mixrec_score('life', f) = mixrec_score((SELECT weights FROM mixrec_models WHERE name = 'life' AND version = 2), f) AS active_is_v2,
       mixrec_score('life', f, version => 1) = mixrec_score((SELECT weights FROM mixrec_models WHERE name = 'life' AND version = 1), f) AS pinned_v1,
       mixrec_score('life', f, 'open') = mixrec_score((SELECT weights FROM mixrec_models WHERE name = 'life' AND version = 2), f, 'open') AS modes,
       mixrec_score('life', f::float8[]) = mixrec_score('life', f) AS float8_features,
       array_length(mixrec_score_all('life', f), 1) AS outputs
FROM life_rows WHERE i = 7;

-- NULL features in, NULL score out, by name as by bytea; a NULL name stays an error
SELECT mixrec_score('life', NULL::real[]) IS NULL AS score_null,
       mixrec_score_all('life', NULL::float8[]) IS NULL AS score_all_null,
       mixrec_score('life', NULL::real[], version => 1) IS NULL AS pinned_null;
SELECT mixrec_score(NULL::text, '{1,2,3,4}'::real[]);

-- In parallel workers too (the function is PARALLEL SAFE)
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT sum(mixrec_score('life', f)) FROM life_rows;
CREATE TEMP TABLE parallel_sum AS SELECT sum(mixrec_score('life', f)) AS s FROM life_rows;
RESET max_parallel_workers_per_gather;
SET max_parallel_workers_per_gather = 0;
SELECT abs((SELECT s FROM parallel_sum) - sum(mixrec_score('life', f))) < 1e-9 AS parallel_equals_serial
FROM life_rows;
RESET max_parallel_workers_per_gather;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;

-- Rollback: activate version 1; the next query scores with it
SELECT mixrec_activate('life', 1);
SELECT mixrec_score('life', f) = mixrec_score('life', f, version => 1) AS now_v1
FROM life_rows WHERE i = 7;
SELECT version, active FROM mixrec_models WHERE name = 'life' ORDER BY version;

-- The catalog view: every version, no weights, readable by everyone
SELECT name, version, active, input_dim, hidden, method, epochs, bytes
FROM mixrec_model_versions WHERE name = 'life' ORDER BY version;
SELECT has_table_privilege('public', 'mixrec_model_versions', 'SELECT') AS public_can_read;

-- Dropping: an inactive version, never the active one; numbers are not reused
SELECT mixrec_drop('life', 2);
SELECT version FROM mixrec_train('life', 'life_rows', 'f', 'y', hidden => '{8}', epochs => 1);
SELECT version, active FROM mixrec_models WHERE name = 'life' ORDER BY version;

-- Retention: keep the newest two versions
SET mixrec.keep_versions = 2;
SELECT version FROM mixrec_train('life', 'life_rows', 'f', 'y', hidden => '{8}', epochs => 1);
SELECT version FROM mixrec_train('life', 'life_rows', 'f', 'y', hidden => '{8}', epochs => 1);
RESET mixrec.keep_versions;
SELECT version, active FROM mixrec_models WHERE name = 'life' ORDER BY version;

-- Dropping a whole model
SELECT mixrec_drop('life');
SELECT count(*) AS versions_left FROM mixrec_models WHERE name = 'life';

-- Bad input
SELECT version FROM mixrec_train('life', 'life_rows', 'f', 'y', hidden => '{8}', epochs => 1);
SELECT mixrec_score('no_such_model', '{1,2,3}'::real[]);
SELECT mixrec_score('life', '{1,2,3}'::real[], version => 7);
SELECT mixrec_score('life', '{1,2,3}'::real[], version => 0);
SELECT mixrec_score('life', '{1,2}'::real[]);
SELECT mixrec_score(NULL::text, '{1,2,3}'::real[]);
SELECT mixrec_score('life''; DROP TABLE life_rows; --', '{1,2,3}'::real[]);
SELECT count(*) AS life_rows_intact FROM life_rows;
SELECT mixrec_activate('life', 42);
SELECT mixrec_activate('nope', 1);
SELECT mixrec_activate(NULL, 1);
SELECT mixrec_drop('life', (SELECT version FROM mixrec_models WHERE name = 'life' AND active));
SELECT mixrec_drop('life', 99);
SELECT mixrec_drop('nope');
SET mixrec.keep_versions = -1;

-- A PL/pgSQL expression keeps its call site for the whole transaction; it
-- still reads the registry again under each new snapshot, so it scores with
-- the version active when its statement runs
CREATE FUNCTION life_score(f real[]) RETURNS float8 LANGUAGE plpgsql AS
$$ BEGIN RETURN mixrec_score('life', f); END $$;
SELECT version FROM mixrec_train('life', 'life_rows', 'f', 'y', hidden => '{8}', epochs => 1, seed => 3);
BEGIN;
SELECT life_score('{0.5,0.5,1}') = mixrec_score('life', '{0.5,0.5,1}'::real[]) AS uses_active;
SELECT mixrec_activate('life', (SELECT min(version) FROM mixrec_models WHERE name = 'life'));
SELECT life_score('{0.5,0.5,1}') = mixrec_score('life', '{0.5,0.5,1}'::real[],
       version => (SELECT min(version) FROM mixrec_models WHERE name = 'life')) AS follows_activation;
COMMIT;
