-- mixrec_drift: a source's rows against a typed-column model's training
-- rows, column by column.  Progress NOTICEs carry timings, so only warnings
-- show.
SET client_min_messages = warning;
\set SHOW_CONTEXT never
SET max_parallel_workers_per_gather = 0;

CREATE TABLE drift_visits AS
SELECT i AS id,
       (18 + i % 50)::int AS age,
       CASE WHEN i % 10 = 0 THEN NULL ELSE (1000 + (i * 37) % 5000)::float8 END AS income,
       i % 3 = 0 AS premium,
       (ARRAY['fr', 'de', 'it', 'es'])[1 + i % 4] AS country,
       (ARRAY['sale', 'new', 'gift'])[1 + i % 3 : 1 + i % 3 + i % 2] AS tags,
       timestamptz '2026-01-01 00:00+00' + i * interval '1 hour' AS visited_at,
       (i % 5 IN (0, 1)) <> (i % 4 = 0) AS bought
FROM generate_series(1, 1000) AS i;

SELECT version FROM mixrec_train('drift', 'drift_visits', label => 'bought', exclude => ARRAY['id'],
                                 hidden => '{8}', epochs => 2, validation_fraction => 0);

-- The training rows themselves: no shift, no unseen categories, the same NULLs
SELECT column_name, kind, abs(mean_shift) < 1e-9 AS no_shift,
       abs(new_stddev - train_stddev) < 1e-6 * greatest(train_stddev, 1) AS same_stddev,
       new_null_fraction = train_null_fraction AS same_nulls, new_oov_fraction
FROM mixrec_drift('drift', 'drift_visits') ORDER BY column_name;

-- A shifted copy: ages up by 10 (in training deviations: 10 / stddev),
-- incomes NULL twice as often, a country and a tag never seen, visits a
-- year later
CREATE TABLE drift_later AS
SELECT id, age + 10 AS age, CASE WHEN id % 5 = 0 THEN NULL ELSE income END AS income, premium,
       CASE WHEN id % 4 = 0 THEN 'pt' ELSE country END AS country,
       tags || CASE WHEN id % 2 = 0 THEN ARRAY['eco'] ELSE ARRAY[]::text[] END AS tags,
       visited_at + interval '365 days' AS visited_at, bought
FROM drift_visits;
SELECT column_name, kind, round(train_mean::numeric, 3) AS train_mean, round(new_mean::numeric, 3) AS new_mean,
       round(mean_shift::numeric, 3) AS mean_shift,
       round(train_null_fraction::numeric, 3) AS train_nulls, round(new_null_fraction::numeric, 3) AS new_nulls,
       round(new_oov_fraction::numeric, 3) AS new_oov
FROM mixrec_drift('drift', 'drift_later') ORDER BY column_name;
SELECT round(mean_shift::numeric, 6) = round((10 / train_stddev)::numeric, 6) AS age_shift_is_10_in_stddevs
FROM mixrec_drift('drift', 'drift_later') WHERE column_name = 'age';

-- A query as the source, columns found by name in any order, extra ones ignored
SELECT count(*) AS columns, bool_and(abs(mean_shift) < 1e-9 OR mean_shift IS NULL) AS no_shift
FROM mixrec_drift('drift', 'SELECT bought, visited_at, tags, country, premium, income, age, 1 AS extra FROM drift_visits');

-- An empty source: no new statistics
SELECT column_name, new_mean, new_null_fraction, new_oov_fraction
FROM mixrec_drift('drift', 'SELECT * FROM drift_visits WHERE false') ORDER BY column_name;

-- Bad input
SELECT * FROM mixrec_drift('drift', 'SELECT age FROM drift_visits');
SELECT * FROM mixrec_drift('drift', 'SELECT id AS age, country AS income, premium, country, tags, visited_at FROM drift_visits');
SELECT * FROM mixrec_drift('no_such_model', 'drift_visits');
SELECT * FROM mixrec_drift('drift', NULL);
SELECT * FROM mixrec_drift('drift', 'drift_visits', 7);
CREATE TABLE drift_arrays AS SELECT ARRAY[sin(i), cos(i)]::real[] AS f, sin(i) > 0 AS l FROM generate_series(1, 100) AS i;
SELECT version FROM mixrec_train('drift_arrays', 'drift_arrays', 'f', 'l', epochs => 1);
SELECT * FROM mixrec_drift('drift_arrays', 'drift_arrays');

DROP TABLE drift_visits, drift_later, drift_arrays;
SELECT mixrec_drop('drift'), mixrec_drop('drift_arrays');
