-- Training and scoring straight from typed columns: numbers, booleans,
-- categories, tags, dense arrays, dates and timestamps, with NULLs; the
-- transform stored in the model and applied wherever it scores.
-- Progress NOTICEs carry timings, so only warnings show; errors show
-- without their context.
SET client_min_messages = warning;
\set SHOW_CONTEXT never
SET max_parallel_workers_per_gather = 0;

CREATE TYPE mood AS ENUM ('calm', 'busy', 'angry');

-- A shop's visits: the label depends on age, country, the tags and the hour
CREATE TABLE visits AS
SELECT i AS id,
       (18 + i % 50)::int AS age,
       CASE WHEN i % 17 = 0 THEN NULL ELSE (1000 + (i * 37) % 5000)::numeric(10, 2) END AS income,
       CASE WHEN i % 11 = 0 THEN NULL ELSE i % 3 = 0 END AS premium,
       (ARRAY['fr', 'de', 'it', 'es', 'nl'])[1 + i % 5] AS country,
       CASE WHEN i % 7 = 0 THEN NULL ELSE (ARRAY['phone', 'desktop'])[1 + i % 2]::varchar(10) END AS device,
       (ARRAY['calm', 'busy', 'angry'])[1 + i % 3]::mood AS visitor_mood,
       CASE WHEN i % 13 = 0 THEN NULL
            ELSE (ARRAY['sale', 'new', 'gift', 'eco'])[1 + i % 4 : 1 + i % 4 + i % 2] END AS tags,
       ARRAY[sin(i), cos(i), (i % 9)::float8]::real[] AS embedding,
       timestamptz '2026-01-01 00:00:00+00' + (i * interval '97 minutes') AS visited_at,
       date '2025-01-01' + (i % 400) AS signup,
       (i % 5 IN (0, 1)) <> (i % 4 = 0) AS bought,
       point(i, i) AS location
FROM generate_series(1, 2000) AS i;

-- features => NULL: every column but the label and what exclude names
SELECT model, version, epochs_run, validation_auc > 0.9 AS learned
FROM mixrec_train('shop', 'visits', label => 'bought', exclude => ARRAY['id', 'location'],
                  hidden => '{16}', epochs => 30, batch_size => 64, learning_rate => 0.01);

-- The model is a format 2 model that carries its transform
SELECT (mixrec_info(weights)->>'format_version')::int AS format_version,
       (mixrec_info(weights)->>'input_dim')::int AS input_dim
FROM mixrec_models WHERE name = 'shop' AND active;

-- One row per column: kind, inputs, statistics, vocabulary
SELECT column_name, type, kind, first_input, inputs, rows, round(null_fraction::numeric, 4) AS nulls,
       scale, missing_input, vocabulary_size, top_values
FROM mixrec_feature_info('shop');

-- Numbers are standardised with the training rows' mean and deviation
SELECT column_name, round(mean::numeric, 2) AS mean, round(stddev::numeric, 2) AS stddev
FROM mixrec_feature_info('shop') WHERE kind IN ('numeric', 'boolean', 'time');

-- Scoring a table's rows by name, the model's columns found by name
SELECT count(*) AS scored, bool_and(s BETWEEN 0 AND 1) AS probabilities
FROM (SELECT mixrec_score('shop', v) AS s FROM visits v) AS t;

-- The same score from a join, a subquery's row, and the model as bytea
SELECT max(abs(mixrec_score('shop', v) - mixrec_score(m.weights, v))) < 1e-12 AS same_by_bytea,
       max(abs(mixrec_score('shop', v) -
               mixrec_score('shop', (SELECT r FROM (SELECT v.country, v.age, v.income, v.premium,
                                                           v.device, v.visitor_mood, v.tags,
                                                           v.embedding, v.visited_at, v.signup,
                                                           'extra' AS ignored) AS r)))) < 1e-12
           AS same_from_subquery
FROM visits v, mixrec_models m WHERE m.name = 'shop' AND m.active;

-- The held-out quality: a model that learned from typed columns
SELECT model, metric, round(value::numeric, 2) > 0.9 AS good
FROM mixrec_evaluate('shop', 'SELECT * FROM visits WHERE id % 10 = 0', label => 'bought')
WHERE metric = 'auc';

-- mixrec_predict reads the model's columns by name, features => NULL
SELECT count(*) AS predicted,
       max(abs(p.score - mixrec_score('shop', v))) < 1e-6 AS same_as_per_row
FROM mixrec_predict('shop', 'visits', 'id') AS p JOIN visits v ON v.id::text = p.id;

-- mixrec_transform: the exact input vector; numbers standardised
SELECT cardinality(mixrec_transform('shop', v)) AS inputs,
       abs((mixrec_transform('shop', v))[(SELECT first_input FROM mixrec_feature_info('shop') WHERE column_name = 'age')] -
           (v.age - (SELECT mean FROM mixrec_feature_info('shop') WHERE column_name = 'age')) /
           (SELECT stddev FROM mixrec_feature_info('shop') WHERE column_name = 'age')) < 1e-5 AS age_standardised
FROM visits v WHERE id = 42;

-- A category: one-hot over the vocabulary, then out-of-vocabulary and NULL buckets
SELECT (SELECT vocabulary_size FROM mixrec_feature_info('shop') WHERE column_name = 'country') AS countries,
       t[f : f + 6] AS country_inputs
FROM (SELECT mixrec_transform('shop', v) AS t FROM visits v WHERE id = 3) AS x,
     (SELECT first_input AS f FROM mixrec_feature_info('shop') WHERE column_name = 'country') AS c;

-- Unseen values score through the out-of-vocabulary bucket, all alike
SELECT mixrec_score('shop', r1) = mixrec_score('shop', r2) AS unseen_alike,
       mixrec_score('shop', r1) BETWEEN 0 AND 1 AS scored
FROM (SELECT 30 AS age, 2000::numeric AS income, true AS premium, 'atlantis' AS country,
             'tv'::varchar AS device, 'calm'::mood AS visitor_mood, ARRAY['never seen'] AS tags,
             '{0,1,2}'::real[] AS embedding, now() AS visited_at, current_date AS signup) AS r1,
     (SELECT 30 AS age, 2000::numeric AS income, true AS premium, 'lemuria' AS country,
             'radio'::varchar AS device, 'calm'::mood AS visitor_mood, ARRAY['other'] AS tags,
             '{0,1,2}'::real[] AS embedding, now() AS visited_at, current_date AS signup) AS r2;

-- NULL in every kind of column scores (the means, the NULL inputs and buckets)
SELECT mixrec_score('shop', r) BETWEEN 0 AND 1 AS scored
FROM (SELECT NULL::int AS age, NULL::numeric AS income, NULL::bool AS premium, NULL::text AS country,
             NULL::varchar AS device, NULL::mood AS visitor_mood, NULL::text[] AS tags,
             NULL::real[] AS embedding, NULL::timestamptz AS visited_at, NULL::date AS signup) AS r;

-- ROW() of the model's columns in its order is read by position
SELECT abs(mixrec_score('shop', v) -
           mixrec_score('shop', ROW(v.age, v.income, v.premium, v.country, v.device, v.visitor_mood,
                                    v.tags, v.embedding, v.visited_at, v.signup))) < 1e-12 AS same
FROM visits v WHERE id = 7;

-- An untyped literal in ROW() reads as text
SELECT abs(mixrec_score('shop', ROW(v.age, v.income, v.premium, 'fr', v.device, v.visitor_mood,
                                    v.tags, v.embedding, v.visited_at, v.signup)) -
           mixrec_score('shop', ROW(v.age, v.income, v.premium, 'fr'::text, v.device, v.visitor_mood,
                                    v.tags, v.embedding, v.visited_at, v.signup))) = 0 AS same
FROM visits v WHERE id = 7;

-- A column missing at scoring time
SELECT mixrec_score('shop', r) FROM (SELECT age, country FROM visits) AS r LIMIT 1;
-- A column whose type changed since training
SELECT mixrec_score('shop', r)
FROM (SELECT age::text AS age, income, premium, country, device, visitor_mood, tags, embedding,
             visited_at, signup FROM visits) AS r LIMIT 1;
-- text given where text[] was trained
SELECT mixrec_score('shop', r)
FROM (SELECT age, income, premium, country, device, visitor_mood, 'sale' AS tags, embedding,
             visited_at, signup FROM visits) AS r LIMIT 1;
-- A dense array of another length
SELECT mixrec_score('shop', r)
FROM (SELECT age, income, premium, country, device, visitor_mood, tags, '{1,2}'::real[] AS embedding,
             visited_at, signup FROM visits) AS r LIMIT 1;
-- An array where typed columns were trained, and a row for an array model
SELECT mixrec_score('shop', '{1,2,3}'::real[]);
SELECT mixrec_score(mixrec_init(3, '{4}'), v) FROM visits v LIMIT 1;

-- Listing columns: 'age, country, tags'
SELECT model, version FROM mixrec_train('shop_listed', 'visits', 'age, country, tags', 'bought',
                                        epochs => 2);
SELECT column_name, kind, inputs FROM mixrec_feature_info('shop_listed');

-- Per-column overrides: an integer as a category, a log scale, a smaller vocabulary
SELECT model FROM mixrec_train('shop_override', 'visits', 'age, income, country', 'bought', epochs => 1,
                               transform => '{"age": "categorical", "income": {"scale": "log"},
                                              "country": {"top_k": 2, "min_frequency": 1}}');
SELECT column_name, type, kind, inputs, scale, vocabulary_size, top_values
FROM mixrec_feature_info('shop_override');

-- Bad input: the label among the features, duplicates, unsupported types,
-- unknown overrides, an empty source
SELECT * FROM mixrec_train('bad', 'visits', 'age, bought', 'bought', epochs => 1);
SELECT * FROM mixrec_train('bad', 'visits', 'age, age', 'bought', epochs => 1);
SELECT * FROM mixrec_train('bad', 'SELECT v.age, w.age, v.bought FROM visits v JOIN visits w USING (id)',
                           label => 'bought', epochs => 1);
SELECT * FROM mixrec_train('bad', 'visits', label => 'bought', exclude => ARRAY['id'], epochs => 1);
SELECT * FROM mixrec_train('bad', 'visits', 'age, nosuch', 'bought', epochs => 1);
SELECT * FROM mixrec_train('bad', 'visits', label => 'bought', exclude => ARRAY['nosuch'], epochs => 1);
SELECT * FROM mixrec_train('bad', 'visits', 'age', 'bought', transform => '{"nosuch": "categorical"}');
SELECT * FROM mixrec_train('bad', 'visits', 'age', 'bought', transform => '{"age": {"top_n": 3}}');
SELECT * FROM mixrec_train('bad', 'visits', 'country', 'bought', transform => '{"country": "numeric"}');
SELECT * FROM mixrec_train('bad', 'visits', 'age', 'bought', transform => '{"age": {"top_k": 0}}');
SELECT * FROM mixrec_train('bad', 'SELECT * FROM visits WHERE false', 'age, country', 'bought');
SELECT * FROM mixrec_train('bad', 'visits', label => 'bought::int', exclude => ARRAY['id', 'location']);
SELECT * FROM mixrec_train('bad', 'visits', 'features_array', 'bought', exclude => ARRAY['id']);
SELECT count(*) AS bad_versions FROM mixrec_models WHERE name = 'bad';

-- A column NULL in every training row: a NOTICE when the transform is
-- fitted (mixrec_prepare fits it alone, without the epochs' progress), and
-- the column carries nothing
SET client_min_messages = notice;
SELECT column_name, missing_input, round(null_fraction::numeric, 2) AS nulls
FROM mixrec_feature_info(mixrec_prepare('SELECT age, NULL::float8 AS nothing, bought FROM visits',
                                        label => 'bought'));
SET client_min_messages = warning;
SELECT model FROM mixrec_train('shop_null', 'SELECT age, NULL::float8 AS nothing, bought FROM visits',
                               label => 'bought', epochs => 1);
SELECT mixrec_score('shop_null', ROW(30, NULL::float8)) BETWEEN 0 AND 1 AS scored;

-- A category of a million distinct values (and two of 250,000 rows each):
-- bounded counting in 4 x top_k counters (at least 1,024), the most
-- frequent values kept with their counts (exact for these two), and a
-- NOTICE; the training holds out about a tenth of the rows
CREATE TABLE wide AS
SELECT i, CASE WHEN i % 6 = 0 THEN 'common' WHEN i % 6 = 1 THEN 'usual' ELSE md5(i::text) END AS token,
       i % 6 = 0 AS label
FROM generate_series(1, 1500000) AS i;
SET client_min_messages = notice;
SELECT vocabulary_size, top_values[1:2] AS top, top_counts[1:2] AS counts
FROM mixrec_feature_info(mixrec_prepare('wide', 'token', 'label',
                                        transform => '{"token": {"top_k": 5, "min_frequency": 1}}'));
SET client_min_messages = warning;
SELECT model FROM mixrec_train('wide', 'wide', 'token', 'label', epochs => 1,
                               transform => '{"token": {"top_k": 5, "min_frequency": 1}}');
SELECT vocabulary_size, top_values[1:2] AS top,
       top_counts[1] BETWEEN 215000 AND 235000 AND top_counts[2] BETWEEN 215000 AND 235000 AS counted
FROM mixrec_feature_info('wide');

-- Warm start continues the model with its own transform
SELECT model, version FROM mixrec_train('shop_listed', 'visits', label => 'bought', epochs => 1,
                                        warm_start => true);
SELECT * FROM mixrec_train('shop_listed', 'visits', 'age, income', 'bought', warm_start => true);

-- Streamed training reads the typed columns through the aggregate
SELECT model, version, epochs_run FROM mixrec_train('shop_stream', 'visits', 'age, country, tags, signup',
                                                    'bought', epochs => 2, method => 'stream');
SELECT metrics->>'method' AS method, (SELECT count(*) FROM mixrec_feature_info(weights)) AS columns
FROM mixrec_models WHERE name = 'shop_stream';

-- The aggregate path: mixrec_prepare fits the transform, mixrec_fit trains
CREATE TABLE prepared AS
SELECT mixrec_prepare('visits', 'age, country, tags', 'bought', hidden => '{8}') AS model;
SELECT column_name, kind, inputs FROM mixrec_feature_info((SELECT model FROM prepared));
CREATE TABLE fitted AS
SELECT mixrec_fit(p.model, v, v.bought::int::float8) AS model FROM visits v, prepared p;
SELECT (mixrec_info(model)->'optimizer'->>'step')::int AS adam_steps,
       (SELECT count(*) FROM visits v WHERE mixrec_score(f.model, v) BETWEEN 0 AND 1) AS scored
FROM fitted f;
SELECT mixrec_fit(mixrec_init(3, '{4}'), v, 1.0) FROM visits v;

-- mixrec_recommend: the user's columns from users, the item's from items
CREATE TABLE shoppers AS SELECT DISTINCT age, country FROM visits WHERE age < 21;
CREATE TABLE products AS SELECT DISTINCT ON (tags) id, tags FROM visits WHERE tags IS NOT NULL;
SELECT count(*) AS rows, count(DISTINCT user_id) AS users, max(rank) AS k
FROM mixrec_recommend('shop_listed', 'SELECT age || country AS shopper, age, country FROM shoppers',
                      'products', 'shopper', 'id', k => 3);
SELECT bool_and(abs(r.score - mixrec_score('shop_listed', (SELECT x FROM (SELECT s.age, s.country, p.tags) AS x))) < 1e-6)
       AS same_as_per_row
FROM mixrec_recommend('shop_listed', 'SELECT age || country AS shopper, age, country FROM shoppers',
                      'products', 'shopper', 'id', k => 3) AS r
JOIN shoppers s ON s.age || s.country = r.user_id JOIN products p ON p.id::text = r.item_id;
SELECT * FROM mixrec_recommend('shop_listed', 'shoppers', 'SELECT id, 20 AS age, tags FROM products',
                               'country', 'id');
SELECT * FROM mixrec_recommend('shop_listed', 'SELECT country FROM shoppers', 'products',
                               'country', 'id');
SELECT * FROM mixrec_recommend('shop_listed', 'shoppers', 'products', 'country', 'id',
                               'age', 'tags');

-- Columns named like ROW()'s own fields (f1, f2, ...) in another order: mixrec's
-- queries read its ROW() of them by position, never by those names
CREATE TABLE f_named AS
SELECT i AS id, (ARRAY['fr', 'de'])[1 + i % 2] AS f2, i % 50 AS f1, i % 3 = 0 AS label
FROM generate_series(1, 300) AS i;
SELECT model FROM mixrec_train('f_named', 'f_named', label => 'label', exclude => ARRAY['id'], epochs => 1);
SELECT column_name, kind FROM mixrec_feature_info('f_named');
SELECT max(abs(p.score - mixrec_score('f_named', f))) < 1e-6 AS predict_like_per_row
FROM mixrec_predict('f_named', 'f_named', 'id') AS p JOIN f_named f ON f.id::text = p.id;

-- A forged model whose column name holds a byte invalid in UTF-8 (checksum
-- recomputed): the message shows the byte escaped, never as it is
SELECT * FROM mixrec_feature_info('\x4d585243020000000400000093000000000000000200000001000000000000000000e03f4b000000000000005fa816bf5c412fbe885d823e59c1193f520d323fee4fc33e0100000002000000030007000400010000000000020000000100000000000000020000000000000000000000000000000000000000000000000000000000000063ff756e7472797465787411a66bce'::bytea);

-- Version 1 models (array features) keep loading and scoring
SELECT (mixrec_info(mixrec_init(3, '{4}'))->>'format_version')::int AS array_model_format,
       mixrec_score(mixrec_init(3, '{4}'), '{1,2,3}'::real[]) BETWEEN 0 AND 1 AS scores;
