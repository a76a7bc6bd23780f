-- mixrec_evaluate against scikit-learn (test/torch/make_eval_fixture.py).
SET client_min_messages = warning;
\set SHOW_CONTEXT never

CREATE TABLE eval_rows (row_id int, user_id int, item_id int, features real[], label int, domain text);
\copy eval_rows FROM 'test/fixtures/eval_data.csv' WITH (FORMAT csv, HEADER true)
CREATE TEMP TABLE eval_cases (doc jsonb);
\copy eval_cases FROM 'test/fixtures/eval_cases.jsonl'

INSERT INTO mixrec_models (name, version, weights, active)
SELECT 'eval_' || (doc->>'case'), 1, mixrec_import(doc->'model'), true FROM eval_cases;

-- Every metric of every model within 1e-9 of scikit-learn's
SELECT e.model, e.metric,
       abs(e.value - (c.doc->'metrics'->e.model->>e.metric)::float8) <= 1e-9 AS matches_sklearn
FROM eval_cases c,
     mixrec_evaluate('eval_' || (c.doc->>'case'), 'eval_rows', 'features', 'label', domain => 'domain',
                     user_id => 'user_id', k => (c.doc->>'k')::int) AS e
WHERE e.model <> 'all'
ORDER BY e.model, e.metric;
SELECT e.value = (c.doc->'metrics'->>'users')::float8 AS users_match
FROM eval_cases c, mixrec_evaluate('eval_e1', 'eval_rows', 'features', 'label', domain => 'domain',
                                   user_id => 'user_id', k => 5) AS e
WHERE e.model = 'all' AND e.metric = 'users';

-- Labels may be boolean; without user_id there are no ranking metrics
SELECT count(*) AS metrics, bool_and(value IS NOT NULL) AS all_defined
FROM mixrec_evaluate('eval_e1', 'eval_rows', 'features', 'label = 1');

-- Ties: a model that scores every row 0.5 has AUC 0.5, precision at k as
-- the share of positives, and NDCG from the tie-averaged gains
INSERT INTO mixrec_models (name, version, weights, active)
VALUES ('eval_flat', 1, mixrec_import('{"format":"mixrec","version":1,"alpha":0.5,"input_dim":1,"hidden":[],
  "output_dim":1,"open":{"0.weight":[[0]],"0.bias":[0]},"commercial":{"0.weight":[[0]],"0.bias":[0]}}'), true);
SELECT metric, round(value::numeric, 6) AS value
FROM mixrec_evaluate('eval_flat', 'VALUES (ARRAY[1]::real[], 1, 1), (ARRAY[2], 0, 1), (ARRAY[3], 1, 1), (ARRAY[4], 0, 1)',
                     'column1', 'column2', user_id => 'column3', k => 2)
WHERE model = 'blend' ORDER BY metric;

-- One class only: AUC is undefined, NULL with a NOTICE
SET client_min_messages = notice;
SELECT model, value IS NULL AS auc_is_null
FROM mixrec_evaluate('eval_e1', 'SELECT * FROM eval_rows WHERE label = 1', 'features', 'label')
WHERE metric = 'auc' ORDER BY model;
SET client_min_messages = warning;

-- Many rows of few users: the user ids are read into memory that outlives
-- the source's cursor (they once went with it, and the metrics read freed
-- memory: wrong user counts, or a crash)
CREATE TABLE eval_many AS
SELECT i % 50 AS uid, ARRAY[(i % 7)::real, (i % 3)::real] AS f, (i % 7) > 3 AS y
FROM generate_series(1, 20000) AS i;
SELECT model FROM mixrec_train('eval_many', 'eval_many', 'f', 'y', hidden => '{4}', epochs => 1);
SELECT metric, value
FROM mixrec_evaluate('eval_many', 'SELECT * FROM eval_many LIMIT 10000', 'f', 'y', user_id => 'uid')
WHERE metric = 'users';
SELECT (SELECT count(DISTINCT uid) FROM (SELECT * FROM eval_many LIMIT 10000) AS s) AS users_in_sql;

-- Bad input
SELECT * FROM mixrec_evaluate('nope', 'eval_rows', 'features', 'label');
-- The row an error is about is in its context
\set SHOW_CONTEXT errors
SELECT * FROM mixrec_evaluate('eval_e1', 'eval_rows', 'features[1:5]', 'label');
SELECT * FROM mixrec_evaluate('eval_e1', 'eval_rows', 'features', 'label + 1');
SELECT * FROM mixrec_evaluate('eval_e1', 'eval_rows', 'features', 'label', domain => '''premium''');
SELECT * FROM mixrec_evaluate('eval_e1', 'eval_rows', 'features', 'label', user_id => 'user_id', k => 0);
SELECT * FROM mixrec_evaluate('eval_e1', 'eval_rows', 'features', 'label', user_id => 'NULL::int');
\set SHOW_CONTEXT never
SELECT * FROM mixrec_evaluate('eval_e1', 'SELECT * FROM eval_rows WHERE false', 'features', 'label');
SELECT * FROM mixrec_evaluate('eval_e1', 'eval_rows', 'features', NULL);
