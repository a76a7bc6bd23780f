-- Arguments that change the result columns of the SQL mixrec builds from
-- them (a comma, a comment, an INTO): every such statement is checked after
-- it is prepared, so each call below fails with a clear error before any
-- value is read, and the backend lives on.
SET client_min_messages = warning;
\set SHOW_CONTEXT never
SELECT pg_postmaster_start_time() AS started \gset

CREATE SCHEMA shifted;
SET search_path = shifted, public;

-- Clicks with 3 features; users with 1 and items with 2 (3 together)
CREATE TABLE clicks AS
SELECT i AS id, ARRAY[sin(i), cos(i * 0.5), (i % 7) / 7.0]::real[] AS features,
       sin(i) + cos(i * 0.5) > 0.3 AS clicked,
       CASE WHEN i % 3 = 0 THEN 'commercial' ELSE 'open' END AS tier,
       i % 11 AS user_id
FROM generate_series(1, 300) AS i;
CREATE TABLE users AS
SELECT u AS user_id, ARRAY[sin(u)]::real[] AS features FROM generate_series(1, 5) AS u;
CREATE TABLE items AS
SELECT i AS item_id, ARRAY[cos(i), (i % 3) / 3.0]::real[] AS features FROM generate_series(1, 20) AS i;
CREATE TABLE seen AS
SELECT u.user_id, i.item_id FROM users u, items i WHERE (u.user_id + i.item_id) % 4 = 0;

SELECT model, version FROM mixrec_train(model_name => 'm', source => 'clicks', features => 'features',
                                        label => 'clicked', hidden => '{4}', epochs => 2);

-- Training in memory: too few columns, too many, and a SELECT INTO
SELECT * FROM mixrec_train(model_name => 'shifted', source => 'clicks',
                           features => $$features), (clicked) FROM clicks --$$, label => 'clicked');
SELECT * FROM mixrec_train(model_name => 'shifted', source => 'clicks', features => 'features',
                           label => $$clicked), (id$$);
SELECT * FROM mixrec_train(model_name => 'shifted', source => 'clicks', features => 'features',
                           label => 'clicked', weight => $$1), (2$$);
SELECT * FROM mixrec_train(model_name => 'shifted', source => 'clicks',
                           features => $$features), (clicked), NULL::text, NULL::float8 INTO shifted.copied FROM clicks --$$,
                           label => 'clicked');

-- Streamed training, with validation rows and without: the first query
-- that reads the columns (the probe for a vector) refuses them
SELECT * FROM mixrec_train(model_name => 'shifted', source => 'clicks',
                           features => $$features), (clicked) FROM clicks --$$, label => 'clicked',
                           method => 'stream');
SELECT * FROM mixrec_train(model_name => 'shifted', source => 'clicks',
                           features => $$features), (clicked) FROM clicks --$$, label => 'clicked',
                           method => 'stream', validation_fraction => 0);
SELECT * FROM mixrec_train(model_name => 'shifted', source => 'clicks', features => 'features',
                           label => 'clicked', domain => $$tier), (1$$, method => 'stream',
                           validation_fraction => 0);

-- mixrec_train_model itself
SELECT weights IS NOT NULL AS trained
FROM mixrec_train_model(source => 'clicks', features => $$features), (clicked) FROM clicks --$$,
                        label => 'clicked', domain => NULL, weight => NULL,
                        options => '{"hidden": [4], "epochs": 1, "batch_size": 32,
                                     "validation_fraction": 0, "seed": 1, "method": "memory"}',
                        initial_model => NULL, model_name => 'shifted');

-- mixrec_predict: one column where two are read, and the two swapped
SELECT * FROM mixrec_predict('m', 'clicks', $$id)::text FROM clicks --$$, 'features');
SELECT * FROM mixrec_predict('m', 'clicks', $$features)::real[], (id)::text FROM clicks --$$, 'features');
SELECT * FROM mixrec_predict('m', 'clicks', 'id', $$features)::real[], 1 FROM clicks --$$);
SELECT * FROM mixrec_predict('m', 'SELECT id, features FROM clicks', $$id$$, $$features)::real[] INTO shifted.scored FROM clicks --$$);

-- mixrec_recommend: the items, the users, the pairs to exclude
SELECT * FROM mixrec_recommend('m', 'users', 'items', 'user_id', $$item_id)::text, 7::int FROM items --$$, 'features', 'features', k => 3);
SELECT * FROM mixrec_recommend('m', 'users', 'items', $$user_id)::text, 7::int FROM users --$$, 'item_id', 'features', 'features', k => 3);
SELECT * FROM mixrec_recommend('m', 'users', 'items', 'user_id', 'item_id', 'features', $$features)::real[], 1 FROM items --$$, k => 3);
SELECT * FROM mixrec_recommend('m', 'users', 'items', 'user_id', 'item_id', 'features', 'features', k => 3,
                               exclude => $$SELECT user_id FROM seen) AS s --$$);

-- mixrec_evaluate, without and with user_id
SELECT * FROM mixrec_evaluate('m', 'clicks', $$features)::real[], true, 12345::int, NULL::text, ('{1,2,3}'$$, 'clicked');
SELECT * FROM mixrec_evaluate('m', 'clicks', 'features', $$clicked), (tier$$);
SELECT * FROM mixrec_evaluate('m', 'clicks', 'features', 'clicked', user_id => $$user_id)::text, 1::int FROM clicks --$$);
SELECT * FROM mixrec_evaluate('m', 'clicks', 'features', 'clicked', user_id => $$user_id)::int FROM clicks --$$);

-- What mixrec writes around the arguments does not depend on the caller's
-- search_path: a cardinality() found before pg_catalog's is not called
CREATE FUNCTION shifted.cardinality(anyarray) RETURNS int LANGUAGE sql AS 'SELECT 99';
SET search_path = shifted, pg_catalog, public;
SELECT model, version
FROM mixrec_train(model_name => 'm', source => 'clicks', features => 'features', label => 'clicked',
                  hidden => '{4}', epochs => 1, method => 'stream', validation_fraction => 0);
SET search_path = shifted, public;
SELECT mixrec_info(weights)->'input_dim' AS input_dim FROM mixrec_models WHERE name = 'm' AND active;

-- Nothing was trained or created on the way, and valid calls still work
SELECT count(*) AS shifted_models FROM mixrec_models WHERE name = 'shifted';
SELECT to_regclass('shifted.copied') IS NULL AS no_copy, to_regclass('shifted.scored') IS NULL AS no_scores;
SELECT count(*) AS scored FROM mixrec_predict('m', 'clicks', 'id', 'features');
SELECT count(*) AS recommended
FROM mixrec_recommend('m', 'users', 'items', 'user_id', 'item_id', 'features', 'features', k => 3, exclude => 'seen');
SELECT count(*) AS metrics FROM mixrec_evaluate('m', 'clicks', 'features', 'clicked', domain => 'tier', user_id => 'user_id');
SELECT pg_postmaster_start_time() = :'started'::timestamptz AS server_never_restarted;

SELECT mixrec_drop('m') AS dropped;
RESET search_path;
DROP SCHEMA shifted CASCADE;
