-- mixrec_train against PyTorch: the same data, the same initial models, the
-- same order of rows; the weights after several epochs must agree.
-- Fixtures written by test/torch/make_train_fixture.py.

CREATE TEMP TABLE train_data (id int, features real[], label int, weight numeric, domain text);
\copy train_data FROM 'test/fixtures/train_data.csv' WITH (FORMAT csv, HEADER true)
CREATE TEMP TABLE train_cases (doc jsonb);
\copy train_cases FROM 'test/fixtures/train_cases.jsonl'

SET client_min_messages = warning;
SELECT doc->>'case' AS name, t.model, t.version, t.epochs_run
FROM train_cases,
     mixrec_train('pytorch_' || (doc->>'case'), 'SELECT * FROM train_data ORDER BY id',
                  'features', 'label', domain => 'domain', weight => 'weight',
                  alpha => (doc->'config'->>'alpha')::float8,
                  epochs => (doc->'config'->>'epochs')::int,
                  batch_size => (doc->'config'->>'batch_size')::int,
                  learning_rate => (doc->'config'->>'lr')::float8,
                  beta1 => (doc->'config'->>'beta1')::float8,
                  beta2 => (doc->'config'->>'beta2')::float8,
                  eps => (doc->'config'->>'eps')::float8,
                  weight_decay => (doc->'config'->>'weight_decay')::float8,
                  optimizer => doc->'config'->>'optimizer',
                  validation_fraction => 0, shuffle => false,
                  initial_model => mixrec_import(doc->'initial')) AS t
ORDER BY 1;
RESET client_min_messages;

-- Every parameter of both models, ours against PyTorch's
CREATE TEMP VIEW parameter_pairs AS
SELECT c.doc->>'case' AS name, side, key, ours.value::float8 AS ours, torch.value::float8 AS torch,
       init.value::float8 AS initial
FROM train_cases c
JOIN mixrec_models m ON m.name = 'pytorch_' || (c.doc->>'case') AND m.active,
     unnest(ARRAY['open', 'commercial']) AS side,
     jsonb_object_keys(c.doc->'final'->side) AS key,
     LATERAL (SELECT value, ordinality FROM jsonb_array_elements_text(
                  jsonb_path_query_array(mixrec_export(m.weights)->side->key, 'strict $.**?(@.type() == "number")'))
              WITH ORDINALITY) AS ours
JOIN LATERAL (SELECT value, ordinality FROM jsonb_array_elements_text(
                  jsonb_path_query_array(c.doc->'final'->side->key, 'strict $.**?(@.type() == "number")'))
              WITH ORDINALITY) AS torch USING (ordinality)
JOIN LATERAL (SELECT value, ordinality FROM jsonb_array_elements_text(
                  jsonb_path_query_array(c.doc->'initial'->side->key, 'strict $.**?(@.type() == "number")'))
              WITH ORDINALITY) AS init USING (ordinality);

SELECT name, count(*) AS parameters,
       bool_and(abs(ours - torch) <= 1e-6 + 1e-5 * abs(torch)) AS weights_match_pytorch,
       max(abs(torch - initial)) > 0.01 AS training_moved_the_weights
FROM parameter_pairs GROUP BY name ORDER BY name;

-- The per-epoch training loss matches too
SELECT c.doc->>'case' AS name, count(*) AS epochs,
       bool_and(abs(i.train_loss - (c.doc->'epoch_losses'->>(i.epoch - 1))::float8) <= 1e-5) AS losses_match_pytorch
FROM train_cases c, mixrec_training_info('pytorch_' || (c.doc->>'case')) AS i
GROUP BY 1 ORDER BY 1;

-- Adam's step count is kept in the model, for warm starts
SELECT m.name, (mixrec_info(m.weights)->'optimizer'->>'step')::int = (c.doc->>'steps')::int AS steps_match
FROM train_cases c JOIN mixrec_models m ON m.name = 'pytorch_' || (c.doc->>'case') ORDER BY 1;
