-- Incremental training: mixrec_train(..., since => column) continues the
-- active version on the rows newer than its watermark and stores the new
-- watermark.  Progress NOTICEs carry timings, so only warnings show, but
-- for the no-new-rows NOTICE, shown where it is expected.
SET client_min_messages = warning;
\set SHOW_CONTEXT never
SET max_parallel_workers_per_gather = 0;

-- Clicks with a timestamp, an id and some rows without a timestamp
CREATE TABLE inc_clicks AS
SELECT i AS id,
       CASE WHEN i % 50 = 0 THEN NULL
            ELSE timestamp '2026-01-01 00:00' + i * interval '1 minute' END AS clicked_at,
       ARRAY[sin(i), cos(i), (i % 7)::float8]::real[] AS features,
       sin(i) > 0 AS label
FROM generate_series(1, 1000) AS i;

-- The first run reads every row with a timestamp (the 20 NULLs are skipped
-- and counted) and stores the largest as the watermark
SELECT model, version FROM mixrec_train('inc', 'inc_clicks', 'features', 'label',
                                        hidden => '{8}', epochs => 2, since => 'clicked_at');
SELECT (metrics->>'rows')::int AS rows_read, metrics->'since' AS since,
       config->>'since' AS config_since, config->>'warm_start' AS warm_start
FROM mixrec_models WHERE name = 'inc' AND version = 1;
SELECT version, watermark FROM mixrec_model_versions WHERE name = 'inc';
SELECT (mixrec_info(weights)->'optimizer'->>'step')::int AS step_after_first
FROM mixrec_models WHERE name = 'inc' AND version = 1;

-- New rows: the second run reads only them, and continues version 1 (its
-- Adam step count goes on from there: 882 training rows in batches of 256
-- make 4 steps an epoch, then 90 new training rows 1 step an epoch)
INSERT INTO inc_clicks
SELECT i, timestamp '2026-01-01 00:00' + i * interval '1 minute',
       ARRAY[sin(i), cos(i), (i % 7)::float8]::real[], sin(i) > 0
FROM generate_series(1001, 1100) AS i;
SELECT model, version FROM mixrec_train('inc', 'inc_clicks', 'features', 'label',
                                        hidden => '{8}', epochs => 2, since => 'clicked_at');
SELECT (metrics->>'rows')::int AS rows_read, metrics->'since' AS since,
       config->>'warm_start' AS warm_start
FROM mixrec_models WHERE name = 'inc' AND version = 2;
SELECT (mixrec_info(weights)->'optimizer'->>'step')::int AS step_after_second
FROM mixrec_models WHERE name = 'inc' AND version = 2;
SELECT version, active, watermark FROM mixrec_model_versions WHERE name = 'inc' ORDER BY version;

-- No new rows: a NOTICE, no row returned and no new version
SET client_min_messages = notice;
SELECT model, version FROM mixrec_train('inc', 'inc_clicks', 'features', 'label',
                                        hidden => '{8}', epochs => 2, since => 'clicked_at');
SET client_min_messages = warning;
SELECT count(*) AS versions FROM mixrec_models WHERE name = 'inc';

-- Rows inserted later with values at or below the watermark are never read
INSERT INTO inc_clicks
SELECT 5000, timestamp '2026-01-01 00:00', ARRAY[0, 1, 0]::real[], true;
SELECT count(*) AS rows_returned FROM mixrec_train('inc', 'inc_clicks', 'features', 'label',
                                                   epochs => 2, since => 'clicked_at');

-- A continued model keeps its shape: hidden applies to new models only
INSERT INTO inc_clicks
SELECT i, timestamp '2026-01-01 00:00' + i * interval '1 minute',
       ARRAY[sin(i), cos(i), (i % 7)::float8]::real[], sin(i) > 0
FROM generate_series(1101, 1150) AS i;
SELECT version FROM mixrec_train('inc', 'inc_clicks', 'features', 'label',
                                 hidden => '{32, 16}', epochs => 1, since => 'clicked_at');
SELECT (metrics->>'rows')::int AS rows_read, hidden, watermark
FROM mixrec_model_versions JOIN mixrec_models USING (name, version)
WHERE name = 'inc' AND version = 3;

-- warm_start => false: a new model on every row, with a new watermark
SELECT version FROM mixrec_train('inc', 'inc_clicks', 'features', 'label', hidden => '{4}',
                                 epochs => 1, since => 'clicked_at', warm_start => false);
SELECT (metrics->>'rows')::int AS rows_read, hidden, watermark,
       (metrics->'since'->>'null_rows')::int AS null_rows,
       (mixrec_info(weights)->'optimizer'->>'step')::int AS step
FROM mixrec_model_versions JOIN mixrec_models USING (name, version)
WHERE name = 'inc' AND version = 4;

-- An integer column, and method 'stream'
SELECT version FROM mixrec_train('inc_id', 'SELECT * FROM inc_clicks WHERE id <= 1000',
                                 'features', 'label', hidden => '{8}', epochs => 2,
                                 since => 'id', method => 'stream');
SELECT (metrics->>'rows')::int AS rows_read, metrics->>'method' AS method, metrics->'since' AS since
FROM mixrec_models WHERE name = 'inc_id' AND version = 1;
SELECT version FROM mixrec_train('inc_id', 'SELECT * FROM inc_clicks WHERE id <= 1100',
                                 'features', 'label', hidden => '{8}', epochs => 2,
                                 since => 'id', method => 'stream');
SELECT (metrics->>'rows')::int AS rows_read, metrics->>'method' AS method, metrics->'since' AS since,
       (mixrec_info(weights)->'optimizer'->>'step')::int AS step
FROM mixrec_models WHERE name = 'inc_id' AND version = 2;

-- Integers are compared as integers, not as text ('999' > '1000' as text),
-- and in memory too
CREATE TABLE inc_small AS
SELECT i::smallint AS n, ARRAY[sin(i), cos(i)]::real[] AS features, sin(i) > 0 AS label
FROM generate_series(1, 999) AS i;
SELECT version FROM mixrec_train('inc_small', 'inc_small', 'features', 'label',
                                 epochs => 1, since => 'n', method => 'memory');
INSERT INTO inc_small SELECT i, ARRAY[sin(i), cos(i)]::real[], sin(i) > 0
FROM generate_series(1000, 1009) AS i;
SELECT version FROM mixrec_train('inc_small', 'inc_small', 'features', 'label',
                                 epochs => 1, since => 'n', method => 'memory');
SELECT version, (metrics->>'rows')::int AS rows_read, metrics->'since'->>'type' AS type,
       watermark
FROM mixrec_model_versions JOIN mixrec_models USING (name, version)
WHERE name = 'inc_small' ORDER BY version;

-- Dates and timestamps with time zone: the watermark reads back the same
-- under any DateStyle and TimeZone
CREATE TABLE inc_days AS
SELECT date '2026-01-01' + i AS day, (timestamptz '2026-01-01 00:00+00' + i * interval '1 hour') AS at,
       ARRAY[sin(i), cos(i)]::real[] AS features, sin(i) > 0 AS label
FROM generate_series(1, 300) AS i;
SELECT version FROM mixrec_train('inc_day', 'inc_days', 'features', 'label',
                                 epochs => 1, since => 'day');
SELECT version FROM mixrec_train('inc_at', 'inc_days', 'features', 'label',
                                 epochs => 1, since => 'at');
SET DateStyle = 'SQL, DMY';
SET TimeZone = 'Asia/Tokyo';
INSERT INTO inc_days SELECT date '2026-01-01' + i, (timestamptz '2026-01-01 00:00+00' + i * interval '1 hour'),
       ARRAY[sin(i), cos(i)]::real[], sin(i) > 0
FROM generate_series(301, 320) AS i;
SELECT version FROM mixrec_train('inc_day', 'inc_days', 'features', 'label',
                                 epochs => 1, since => 'day');
SELECT version FROM mixrec_train('inc_at', 'inc_days', 'features', 'label',
                                 epochs => 1, since => 'at');
RESET DateStyle;
RESET TimeZone;
SELECT name, version, (metrics->>'rows')::int AS rows_read, metrics->'since'->>'type' AS type,
       watermark, metrics->'since'->>'previous_watermark' AS previous_watermark
FROM mixrec_model_versions JOIN mixrec_models USING (name, version)
WHERE name IN ('inc_day', 'inc_at') ORDER BY name, version;

-- A typed-column model keeps its transform: a category first seen after the
-- first run goes to the out-of-vocabulary bucket, and scores like any other
-- unseen category
CREATE TABLE inc_visits AS
SELECT i AS id, (ARRAY['fr', 'de', 'it'])[1 + i % 3] AS country, (18 + i % 50) AS age,
       (i % 3 = 0) <> (i % 4 = 0) AS bought
FROM generate_series(1, 600) AS i;
SELECT version FROM mixrec_train('inc_typed', 'inc_visits', label => 'bought', exclude => ARRAY['id'],
                                 hidden => '{8}', epochs => 2, since => 'id');
INSERT INTO inc_visits
SELECT i, 'es', 18 + i % 50, i % 2 = 0 FROM generate_series(601, 700) AS i;
SELECT version FROM mixrec_train('inc_typed', 'inc_visits', label => 'bought', exclude => ARRAY['id'],
                                 hidden => '{8}', epochs => 2, since => 'id');
SELECT (metrics->>'rows')::int AS rows_read FROM mixrec_models WHERE name = 'inc_typed' AND version = 2;
SELECT vocabulary_size, top_values FROM mixrec_feature_info('inc_typed') WHERE column_name = 'country';
SELECT mixrec_score('inc_typed', a) = mixrec_score('inc_typed', b) AS new_category_scores_as_unseen
FROM (SELECT 'es'::text AS country, 30 AS age) AS a,
     (SELECT 'zz'::text AS country, 30 AS age) AS b;

-- Bad input
SELECT * FROM mixrec_train('inc_bad', 'inc_clicks', 'features', 'label', since => 'nope');
CREATE TABLE inc_wrong AS
SELECT 'a'::text AS t, 1.5::float8 AS f, ARRAY[1, 2]::real[] AS features, true AS label;
SELECT * FROM mixrec_train('inc_bad', 'inc_wrong', 'features', 'label', since => 't');
SELECT * FROM mixrec_train('inc_bad', 'inc_wrong', 'features', 'label', since => 'f');
SELECT * FROM mixrec_train('inc_bad', 'inc_clicks', 'features', 'label', since => 'clicked_at',
                           initial_model => mixrec_init(3, '{4}'));
SELECT * FROM mixrec_train('inc_bad', 'SELECT NULL::int AS n, ARRAY[1]::real[] AS f, true AS l', 'f', 'l',
                           since => 'n');
-- The active version's watermark is on another column
SELECT * FROM mixrec_train('inc', 'inc_clicks', 'features', 'label', since => 'id');
SELECT count(*) AS bad_versions FROM mixrec_models WHERE name = 'inc_bad';

DROP TABLE inc_clicks, inc_small, inc_days, inc_visits, inc_wrong;
SELECT mixrec_drop(name) FROM (VALUES ('inc'), ('inc_id'), ('inc_small'), ('inc_day'), ('inc_at'),
                                      ('inc_typed')) AS n(name);
