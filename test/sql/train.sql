-- mixrec_train, the registry and mixrec_training_info.
-- Progress NOTICEs carry timings, so they are silenced here; errors show
-- without their PL/pgSQL context.
SET client_min_messages = warning;
\set SHOW_CONTEXT never

-- Deterministic clicks: the label depends on the first two features; every
-- third user is on the commercial tier
CREATE TABLE clicks AS
SELECT i AS id,
       ARRAY[sin(i * 0.37), cos(i * 0.73), sin(i * 1.31) * 3, (i % 10) / 10.0 + 100]::real[] AS features,
       sin(i * 0.37) + cos(i * 0.73) > 0.2 AS clicked,
       CASE WHEN i % 3 = 0 THEN 'commercial' ELSE 'open' END AS tier,
       1 + (i % 4) AS weight
FROM generate_series(1, 3000) AS i;

-- Train: one row back, the model name and its first version
SELECT model, version, epochs_run, train_loss < 0.5 AS learned, validation_auc > 0.95 AS good_auc
FROM mixrec_train('clicks', 'clicks', 'features', 'clicked', domain => 'tier',
                  hidden => '{16}', epochs => 8, batch_size => 64, learning_rate => 0.01);

-- The registry row
SELECT name, version, active, trained_by = current_user AS trained_by_me, source,
       config->'hidden' AS hidden, config->>'optimizer' AS optimizer,
       metrics->'rows' AS rows, metrics->'train_rows' AS train_rows,
       metrics->'validation_rows' AS validation_rows,
       mixrec_info(weights)->'standardize' AS standardized,
       mixrec_info(weights)->'optimizer'->'step' AS adam_steps
FROM mixrec_models WHERE name = 'clicks';

-- The stored config is the options jsonb mixrec_train_model was given (every
-- option, defaults included), with the source's arguments
SELECT config - 'features' - 'label' - 'domain' - 'weight' - 'warm_start' - 'initial_model' AS options,
       config->>'features' AS features, config->>'domain' AS domain,
       config->'warm_start' AS warm_start, config->'initial_model' AS initial_model
FROM mixrec_models WHERE name = 'clicks';

-- mixrec_train_model's options: the same table, the same messages
SELECT metrics->>'method' AS method, metrics->'epochs_run' AS epochs_run
FROM mixrec_train_model('clicks', 'features', 'clicked', options => '{"hidden": [4], "epochs": 2}');
SELECT * FROM mixrec_train_model('clicks', 'features', 'clicked', options => '{"epoch": 2}');
SELECT * FROM mixrec_train_model('clicks', 'features', 'clicked', options => '{"pool_batches": 2}');
SELECT * FROM mixrec_train_model('clicks', 'features', 'clicked', options => '{"epochs": 0}');
SELECT * FROM mixrec_train_model('clicks', 'features', 'clicked', options => '{"epochs": 2.5}');
SELECT * FROM mixrec_train_model('clicks', 'features', 'clicked', options => '{"epochs": "2"}');
SELECT * FROM mixrec_train_model('clicks', 'features', 'clicked', options => '{"alpha": 1.5}');
SELECT * FROM mixrec_train_model('clicks', 'features', 'clicked', options => '{"alpha": null}');
SELECT * FROM mixrec_train_model('clicks', 'features', 'clicked', options => '{"optimizer": "sgd"}');
SELECT * FROM mixrec_train_model('clicks', 'features', 'clicked', options => '{"optimizer": 1}');
SELECT * FROM mixrec_train_model('clicks', 'features', 'clicked', options => '{"hidden": 4}');
SELECT * FROM mixrec_train_model('clicks', 'features', 'clicked', options => '{"hidden": [100000]}');
SELECT * FROM mixrec_train_model('clicks', 'features', 'clicked', options => '{"learning_rate": 0}');
SELECT * FROM mixrec_train_model('clicks', 'features', 'clicked', options => '{"patience": 2, "validation_fraction": 0}');
SELECT * FROM mixrec_train_model('clicks', 'features', 'clicked', options => '[]');

-- method => 'auto' decides before reading, from the planner's estimate:
-- a source estimated larger than mixrec.train_memory is streamed
SET mixrec.train_memory = '1MB';
SELECT metrics->>'method' AS method, metrics->'train_rows' AS train_rows
FROM mixrec_train_model('SELECT c.* FROM clicks c, generate_series(1, 100) g', 'features', 'clicked',
                        options => '{"hidden": [4], "epochs": 1, "validation_fraction": 0}');
SELECT metrics->>'method' AS method
FROM mixrec_train_model('clicks', 'features', 'clicked', options => '{"hidden": [4], "epochs": 1}');
-- ...and one estimated to fit that turns out larger is an error that says so
SELECT metrics->>'method' AS method
FROM mixrec_train_model('SELECT c.* FROM clicks c, generate_series(1, 100) g WHERE g + 0 = g * 1 AND c.id + 0 = c.id * 1', 'features', 'clicked',
                        options => '{"hidden": [4], "epochs": 1}');
RESET mixrec.train_memory;

-- One row per epoch, for plots; the loss falls
SELECT count(*) AS epochs,
       bool_and(validation_loss IS NOT NULL AND rows_per_second > 0) AS complete,
       (array_agg(train_loss ORDER BY epoch))[8] < (array_agg(train_loss ORDER BY epoch))[1] AS loss_fell
FROM mixrec_training_info('clicks');

-- The model scores: clicked rows score higher than the others
SELECT avg(mixrec_score(weights, features)) FILTER (WHERE clicked) >
       avg(mixrec_score(weights, features)) FILTER (WHERE NOT clicked) + 0.3 AS separates
FROM clicks, mixrec_models WHERE name = 'clicks' AND active;

-- The same seed trains the same model
SELECT version FROM mixrec_train('clicks', 'clicks', 'features', 'clicked', domain => 'tier',
                                 hidden => '{16}', epochs => 8, batch_size => 64, learning_rate => 0.01);
SELECT count(DISTINCT weights) AS distinct_models, count(*) AS versions,
       count(*) FILTER (WHERE active) AS active_versions
FROM mixrec_models WHERE name = 'clicks';

-- warm_start continues the active version, Adam's state included
SELECT version, epochs_run FROM mixrec_train('clicks', 'clicks', 'features', 'clicked',
                                             domain => 'tier', epochs => 1, batch_size => 64,
                                             warm_start => true);
SELECT version, (mixrec_info(weights)->'optimizer'->>'step')::int AS adam_steps, active
FROM mixrec_models WHERE name = 'clicks' ORDER BY version;

-- Early stopping restores the best epoch's weights
SELECT epochs_run < 200 AS stopped_early FROM mixrec_train('clicks_early', 'clicks', 'features', 'clicked',
       hidden => '{16}', epochs => 200, batch_size => 32, learning_rate => 0.05, patience => 2);
SELECT (metrics->>'stopped_early')::boolean AS stopped_early,
       (metrics->>'best_epoch')::int = (SELECT epoch FROM mixrec_training_info('clicks_early')
                                        ORDER BY validation_loss LIMIT 1) AS kept_best_epoch,
       (metrics->>'epochs_run')::int - (metrics->>'best_epoch')::int AS epochs_after_best,
       -- 2,700 training rows in batches of 32 are 85 Adam steps an epoch: the
       -- stored optimiser state is the best epoch's, not the last one's
       (mixrec_info(weights)->'optimizer'->>'step')::int = 85 * (metrics->>'best_epoch')::int AS best_state_restored
FROM mixrec_models WHERE name = 'clicks_early';

-- Every kind of source: a view, a query, VALUES; labels of every type
CREATE VIEW click_view AS SELECT * FROM clicks WHERE id <= 500;
SELECT model, version FROM mixrec_train('src_view', 'click_view', 'features', 'clicked', epochs => 1);
SELECT model, version FROM mixrec_train('src_query', 'WITH c AS (SELECT * FROM clicks) SELECT * FROM c', 'features',
                                        'clicked::int', epochs => 1);
SELECT model, version FROM mixrec_train('src_values', 'VALUES (ARRAY[1,2]::int[], 0.25), (ARRAY[3,4], 1)',
                                        'column1', 'column2', epochs => 1, validation_fraction => 0);
SELECT model, version FROM mixrec_train('src_numeric', 'SELECT features::numeric[] AS f, clicked FROM clicks',
                                        'f', 'clicked', epochs => 1, weight => '2.5');
SELECT model, version FROM mixrec_train('src_bool_domain', 'clicks', 'features', 'clicked',
                                        domain => 'tier = ''commercial''', epochs => 1);
-- Several outputs: an array label
SELECT model, version FROM mixrec_train('src_multi', 'clicks', 'features',
                                        'ARRAY[clicked::int, (NOT clicked)::int]', epochs => 1);
SELECT name, mixrec_info(weights)->'input_dim' AS input_dim, mixrec_info(weights)->'output_dim' AS output_dim
FROM mixrec_models WHERE name LIKE 'src\_%' ORDER BY name;

-- One model only: alpha 0 trains on commercial rows alone
SELECT model FROM mixrec_train('commercial_only', 'SELECT * FROM clicks WHERE tier = ''commercial''',
                               'features', 'clicked', domain => 'tier', alpha => 0, epochs => 1);

-- on_invalid => 'skip' skips and counts rows with NULL or non-finite values
CREATE TABLE dirty AS SELECT * FROM clicks WHERE id <= 200;
UPDATE dirty SET features = NULL WHERE id = 5;
UPDATE dirty SET clicked = NULL WHERE id = 6;
UPDATE dirty SET features[2] = 'NaN' WHERE id = 7;
UPDATE dirty SET features[3] = NULL WHERE id = 8;
SELECT model FROM mixrec_train('dirty', 'SELECT * FROM dirty ORDER BY id', 'features', 'clicked',
                               epochs => 1, on_invalid => 'skip');
SELECT metrics->'rows' AS rows, metrics->'skipped_rows' AS skipped FROM mixrec_models WHERE name = 'dirty';

-- Bad input: each names the problem, and the registry is left as it was
CREATE TEMP TABLE registry_before AS SELECT name, version, active FROM mixrec_models;
SELECT * FROM mixrec_train('bad', 'dirty ORDER BY id', 'features', 'clicked');
-- The row an error is about is in its context
\set SHOW_CONTEXT errors
SELECT * FROM mixrec_train('bad', 'SELECT * FROM dirty ORDER BY id', 'features', 'clicked');
SELECT * FROM mixrec_train('bad', 'SELECT * FROM dirty WHERE id <> 5 ORDER BY id', 'features', 'clicked');
SELECT * FROM mixrec_train('bad', 'SELECT * FROM dirty WHERE id > 6 ORDER BY id', 'features', 'clicked');
SELECT * FROM mixrec_train('bad', 'SELECT * FROM dirty WHERE id > 7 ORDER BY id', 'features', 'clicked');
\set SHOW_CONTEXT never
SELECT * FROM mixrec_train('bad', 'no_such_table', 'features', 'clicked');
SELECT * FROM mixrec_train('bad', 'clicks', 'no_such_column', 'clicked');
-- (an expression: a single text column is a typed column, see typed_columns.sql)
SELECT * FROM mixrec_train('bad', 'clicks', 'lower(tier)', 'clicked');
SELECT * FROM mixrec_train('bad', 'clicks', 'features', 'tier');
-- The row an error is about is in its context
\set SHOW_CONTEXT errors
SELECT * FROM mixrec_train('bad', 'clicks', 'CASE WHEN id = 50 THEN features[1:3] ELSE features END', 'clicked');
SELECT * FROM mixrec_train('bad', 'clicks', 'features', 'CASE WHEN id = 9 THEN 2 ELSE 0 END');
SELECT * FROM mixrec_train('bad', 'clicks', 'features', 'CASE WHEN id = 9 THEN -0.5 ELSE 0 END');
SELECT * FROM mixrec_train('bad', 'clicks', 'CASE WHEN id = 12 THEN ARRAY[1,2,''Infinity'',4]::real[] ELSE features END', 'clicked');
SELECT * FROM mixrec_train('bad', 'clicks', 'features', 'clicked', weight => 'CASE WHEN id = 3 THEN -1 ELSE 1 END');
SELECT * FROM mixrec_train('bad', 'clicks', 'features', 'clicked', weight => 'NULL::int');
SELECT * FROM mixrec_train('bad', 'clicks', 'features', 'clicked', domain => 'CASE WHEN id = 4 THEN ''premium'' ELSE tier END');
\set SHOW_CONTEXT never
SELECT * FROM mixrec_train('bad', 'clicks', 'features', 'clicked', domain => 'id');
SELECT * FROM mixrec_train('bad', 'SELECT * FROM clicks WHERE false', 'features', 'clicked');
SELECT * FROM mixrec_train('bad', 'SELECT * FROM clicks WHERE tier = ''commercial''', 'features', 'clicked', domain => 'tier');
SELECT * FROM mixrec_train('bad', 'clicks', 'features', 'clicked', domain => '''open''', alpha => 0.3);
SELECT * FROM mixrec_train('bad', 'clicks', 'features', 'clicked', weight => '0');
SELECT * FROM mixrec_train('bad', 'clicks', 'features', 'clicked', epochs => 0);
SELECT * FROM mixrec_train('bad', 'clicks', 'features', 'clicked', batch_size => 0);
SELECT * FROM mixrec_train('bad', 'clicks', 'features', 'clicked', batch_size => 1000000);
SELECT * FROM mixrec_train('bad', 'clicks', 'features', 'clicked', learning_rate => 0);
SELECT * FROM mixrec_train('bad', 'clicks', 'features', 'clicked', learning_rate => 'NaN');
SELECT * FROM mixrec_train('bad', 'clicks', 'features', 'clicked', beta1 => 1);
SELECT * FROM mixrec_train('bad', 'clicks', 'features', 'clicked', eps => 0);
SELECT * FROM mixrec_train('bad', 'clicks', 'features', 'clicked', weight_decay => -1);
SELECT * FROM mixrec_train('bad', 'clicks', 'features', 'clicked', alpha => 1.5);
SELECT * FROM mixrec_train('bad', 'clicks', 'features', 'clicked', validation_fraction => 1);
SELECT * FROM mixrec_train('bad', 'clicks', 'features', 'clicked', validation_fraction => -0.1);
SELECT * FROM mixrec_train('bad', 'clicks', 'features', 'clicked', patience => 0);
SELECT * FROM mixrec_train('bad', 'clicks', 'features', 'clicked', patience => 2, validation_fraction => 0);
SELECT * FROM mixrec_train('bad', 'clicks', 'features', 'clicked', optimizer => 'sgd');
SELECT * FROM mixrec_train('bad', 'clicks', 'features', 'clicked', init => 'zeros');
SELECT * FROM mixrec_train('bad', 'clicks', 'features', 'clicked', on_invalid => 'ignore');
SELECT * FROM mixrec_train('bad', 'clicks', 'features', 'clicked', hidden => '{0}');
SELECT * FROM mixrec_train('bad', 'clicks', 'features', 'clicked', hidden => '{100000}');
SELECT * FROM mixrec_train('bad', 'clicks', 'features', 'clicked', seed => NULL);
SELECT * FROM mixrec_train('', 'clicks', 'features', 'clicked');
SELECT * FROM mixrec_train(NULL, 'clicks', 'features', 'clicked');
SELECT * FROM mixrec_train('bad', 'clicks', 'features', 'clicked', warm_start => true);
SELECT * FROM mixrec_train('bad', 'clicks', 'features', 'clicked', warm_start => true, initial_model => mixrec_init(4));
SELECT * FROM mixrec_train('bad', 'clicks', 'features', 'clicked', initial_model => mixrec_init(5));
SELECT * FROM mixrec_train('bad', 'clicks', 'features', 'clicked', initial_model => mixrec_init(4, '{8}', 2));
SELECT * FROM mixrec_train('bad', 'clicks', 'features', 'clicked', initial_model => '\x00');
-- A training that diverges stops with a hint
SELECT * FROM mixrec_train('bad', 'clicks', 'ARRAY[features[1] * 1e35, features[2] * 1e35]::real[]', 'clicked',
                           standardize => false, learning_rate => 1000, epochs => 20);
-- Arguments cannot smuggle in another statement
SELECT * FROM mixrec_train('bad', 'clicks', '1) FROM clicks; DROP TABLE clicks; SELECT (features', 'clicked');
SELECT * FROM mixrec_train('bad', 'clicks; DROP TABLE clicks', 'features', 'clicked');
SELECT * FROM mixrec_train('bad', 'SELECT * FROM clicks; DROP TABLE clicks', 'features', 'clicked');
SELECT * FROM mixrec_train('bad', 'SELECT * FROM clicks', 'features', 'clicked',
                           domain => 'tier FROM clicks) AS x; DELETE FROM clicks; SELECT (1');
SELECT * FROM mixrec_train('bad', 'WITH gone AS (DELETE FROM clicks RETURNING *) SELECT * FROM gone', 'features', 'clicked');
SELECT count(*) AS clicks_intact FROM clicks;
-- A source the caller may not read
CREATE ROLE regress_mixrec_user;
GRANT SELECT, INSERT, UPDATE ON mixrec_models TO regress_mixrec_user;
SET ROLE regress_mixrec_user;
SELECT * FROM mixrec_train('bad', 'clicks', 'features', 'clicked');
RESET ROLE;
REVOKE ALL ON mixrec_models FROM regress_mixrec_user;
DROP ROLE regress_mixrec_user;
-- A statement_timeout stops training and stores nothing
SET statement_timeout = '300ms';
SELECT * FROM mixrec_train('bad', 'clicks', 'features', 'clicked', epochs => 100000, batch_size => 1);
RESET statement_timeout;

SELECT count(*) AS registry_changes FROM (
	(SELECT name, version, active FROM mixrec_models EXCEPT SELECT * FROM registry_before)
	UNION ALL
	(SELECT * FROM registry_before EXCEPT SELECT name, version, active FROM mixrec_models)) AS changed;
