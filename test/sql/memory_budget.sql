-- mixrec.train_memory bounds everything a training, an aggregate, a
-- recommendation or an evaluation allocates as it grows with the data or
-- the model, counted before it is allocated; mixrec.max_train_memory, which
-- only a superuser may change, caps what any session can give itself.
SET client_min_messages = warning;
\set SHOW_CONTEXT never

CREATE TABLE budget_rows AS
SELECT i, ARRAY[sin(i), cos(i)]::real[] AS f, (sin(i) > 0)::int::float8 AS y
FROM generate_series(1, 2000) AS i;
CREATE ROLE regress_mixrec_budget;
GRANT SELECT ON budget_rows TO regress_mixrec_budget;

-- The ceiling (its settings exist once the library is loaded)
SELECT mixrec_init(1) IS NOT NULL AS loaded;
SHOW mixrec.max_train_memory;
SET ROLE regress_mixrec_budget;
SET mixrec.train_memory = '1TB';
SET mixrec.train_memory = '5GB';
SET mixrec.max_train_memory = '1TB';
SET mixrec.train_memory = '4GB';
SHOW mixrec.train_memory;
RESET mixrec.train_memory;
RESET ROLE;
-- A superuser raises the ceiling first
SET mixrec.max_train_memory = '8GB';
SET mixrec.train_memory = '8GB';
RESET mixrec.train_memory;
RESET mixrec.max_train_memory;

-- A batch whose work areas alone exceed the budget is refused before a
-- row is read: 65,536 rows through 16,384 units
SET mixrec.train_memory = '256MB';
SELECT * FROM mixrec_train_model('budget_rows', 'f', 'y', options => '{"hidden": [16384], "epochs": 1,
	"batch_size": 65536, "validation_fraction": 0, "method": "memory"}', model_name => 'big');
-- The rows fit, the rows and the work areas together do not
SET mixrec.train_memory = '40MB';
SELECT * FROM mixrec_train_model('budget_rows', 'f', 'y', options => '{"hidden": [1024], "epochs": 1,
	"batch_size": 2048, "validation_fraction": 0.5, "method": "memory"}', model_name => 'big');

-- The aggregate: the state with its pool, then the work areas of a pool
SET mixrec.train_memory = '32MB';
SELECT length(mixrec_fit(mixrec_init(2, '{4}'), f, y, 1, NULL, '{"batch_size": 65536, "pool_batches": 64}'))
FROM budget_rows;
SET mixrec.train_memory = '1GB';
SELECT length(mixrec_fit(mixrec_init(2, '{8192}'), f, y, 1, NULL, '{"batch_size": 65536, "pool_batches": 1}'))
FROM budget_rows;
-- Within the budget, the same calls run
SELECT length(mixrec_fit(mixrec_init(2, '{64}'), f, y, 1, NULL, '{"batch_size": 512, "pool_batches": 1}')) > 0 AS trains
FROM budget_rows;
RESET mixrec.train_memory;

-- A model itself, made or decoded
SET mixrec.train_memory = '1MB';
SELECT length(mixrec_init(1000, '{1000}'));
RESET mixrec.train_memory;
SELECT length(mixrec_init(1000, '{1000}')) AS made_within_the_default_budget;

-- Scoring: the model's weights laid out for scoring count with the model
-- (8 MB for this one, its plan 12 MB more)
SET mixrec.train_memory = '12MB';
SELECT mixrec_score(mixrec_init(1000, '{1000}'), array_fill(0.5::real, ARRAY[1000]));
RESET mixrec.train_memory;
SELECT mixrec_score(mixrec_init(1000, '{1000}'), array_fill(0.5::real, ARRAY[1000])) BETWEEN 0 AND 1
	AS scored_within_the_default_budget;

-- Recommendation: the candidates' ids count, and so do the excluded pairs
SELECT version FROM mixrec_train('budget_model', 'budget_rows', 'f', 'y', hidden => '{4}', epochs => 1);
CREATE TABLE budget_items AS SELECT repeat('i', 2000) || i AS item, ARRAY[i * 0.001]::real[] AS f
FROM generate_series(1, 2000) AS i;
CREATE TABLE budget_users AS SELECT 'u' || i AS u, ARRAY[i * 0.01]::real[] AS f FROM generate_series(1, 3) AS i;
CREATE TABLE budget_seen AS SELECT 'u1' AS u, 'x' || i AS item FROM generate_series(1, 100000) AS i;
SET mixrec.train_memory = '2MB';
SELECT count(*) FROM mixrec_recommend('budget_model', 'budget_users', 'budget_items', 'u', 'item', 'f', 'f', k => 1);
SELECT count(*) FROM mixrec_recommend('budget_model', 'budget_users', 'SELECT * FROM budget_items LIMIT 10',
	'u', 'item', 'f', 'f', k => 1, exclude => 'budget_seen');
SET mixrec.train_memory = '16MB';
SELECT count(*) AS users_served FROM mixrec_recommend('budget_model', 'budget_users', 'budget_items',
	'u', 'item', 'f', 'f', k => 1, exclude => 'budget_seen');
-- Evaluation: the rows with their metrics' work, and the user ids
SET mixrec.train_memory = '1MB';
SELECT count(*) FROM mixrec_evaluate('budget_model', 'SELECT f, y, repeat(''u'', 1000) || i AS u FROM budget_rows',
	'f', 'y', user_id => 'u');
SELECT count(*) > 0 AS evaluated FROM mixrec_evaluate('budget_model', 'budget_rows', 'f', 'y', user_id => 'i::text');
RESET mixrec.train_memory;
SELECT mixrec_drop('budget_model');

DROP TABLE budget_rows, budget_items, budget_users, budget_seen;
DROP ROLE regress_mixrec_budget;
