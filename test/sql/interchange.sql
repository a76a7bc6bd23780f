-- mixrec_export and mixrec_import: the PyTorch state_dict interchange form.

-- The exported form of a small model
SELECT jsonb_pretty(mixrec_export(mixrec_init(2, '{2}', 1, 0.5, 3)));

-- Keys follow nn.Sequential(Linear, ReLU, Linear, ...)
SELECT jsonb_object_keys(mixrec_export(mixrec_init(4, '{8,8}'))->'open') AS open_keys;

-- Export then import gives back the identical bytes
SELECT mixrec_import(mixrec_export(m)) = m AS round_trip_identical
FROM (VALUES (mixrec_init(7, '{16,5}', 2, 0.3, 11)),
             (mixrec_init(3, '{}', 1, 1.0, 12)),
             (mixrec_init(3, '{4}', 1, 0.0, 13, 'shared'))) AS t(m);

-- A model with standardisation (written by PyTorch's side, see test/torch)
SELECT mixrec_info(mixrec_import('{"format":"mixrec","version":1,"alpha":0.5,"input_dim":2,"hidden":[],"output_dim":1,
  "standardize":{"mean":[10,20],"std":[2,4]},
  "open":{"0.weight":[[1,-1]],"0.bias":[0.5]},"commercial":{"0.weight":[[0,1]],"0.bias":[0]}}'))->'standardize' AS has_standardize;
SELECT mixrec_export(mixrec_import('{"format":"mixrec","version":1,"alpha":0.5,"input_dim":2,"hidden":[],"output_dim":1,
  "standardize":{"mean":[10,20],"std":[2,4]},
  "open":{"0.weight":[[1,-1]],"0.bias":[0.5]},"commercial":{"0.weight":[[0,1]],"0.bias":[0]}}'))->'standardize' AS standardize;

-- "standardize" may be left out; it means null
SELECT mixrec_info(mixrec_import('{"format":"mixrec","version":1,"alpha":0.5,"input_dim":1,"hidden":[],"output_dim":1,
  "open":{"0.weight":[[1]],"0.bias":[0]},"commercial":{"0.weight":[[2]],"0.bias":[0]}}'))->'standardize' AS has_standardize;

-- Malformed JSON models
CREATE TEMP TABLE good AS
SELECT '{"format":"mixrec","version":1,"alpha":0.5,"input_dim":2,"hidden":[1],"output_dim":1,"standardize":null,
  "open":{"0.weight":[[1,2]],"0.bias":[0],"2.weight":[[3]],"2.bias":[0]},
  "commercial":{"0.weight":[[1,2]],"0.bias":[0],"2.weight":[[3]],"2.bias":[0]}}'::jsonb AS j;
SELECT mixrec_import(j) IS NOT NULL AS good_model_imports FROM good;
SELECT mixrec_import('[1,2,3]');
SELECT mixrec_import('"mixrec"');
SELECT mixrec_import(NULL);
SELECT mixrec_import(j - 'format') FROM good;
SELECT mixrec_import(j || '{"format":"onnx"}') FROM good;
SELECT mixrec_import(j || '{"version":2}') FROM good;
SELECT mixrec_import(j || '{"extra":true}') FROM good;
SELECT mixrec_import(j - 'alpha') FROM good;
SELECT mixrec_import(j || '{"alpha":2}') FROM good;
SELECT mixrec_import(j || '{"alpha":"half"}') FROM good;
SELECT mixrec_import(j || '{"input_dim":0}') FROM good;
SELECT mixrec_import(j || '{"input_dim":2.5}') FROM good;
SELECT mixrec_import(j || '{"hidden":[0]}') FROM good;
SELECT mixrec_import(j || '{"hidden":{"a":1}}') FROM good;
SELECT mixrec_import(j || '{"output_dim":3}') FROM good;
SELECT mixrec_import(j - 'open') FROM good;
SELECT mixrec_import(jsonb_set(j, '{open}', '[]')) FROM good;
SELECT mixrec_import(j #- '{commercial,2.bias}') FROM good;
SELECT mixrec_import(jsonb_set(j, '{open,4.weight}', '[[1]]')) FROM good;
SELECT mixrec_import(jsonb_set(j, '{open,0.weight}', '[[1,2,3]]')) FROM good;
SELECT mixrec_import(jsonb_set(j, '{open,0.weight}', '[[1,2],[3,4]]')) FROM good;
SELECT mixrec_import(jsonb_set(j, '{open,0.weight}', '[1,2]')) FROM good;
SELECT mixrec_import(jsonb_set(j, '{open,0.weight}', '[[1,"2"]]')) FROM good;
SELECT mixrec_import(jsonb_set(j, '{open,0.weight}', '[[1,null]]')) FROM good;
SELECT mixrec_import(jsonb_set(j, '{open,0.weight}', '[[1,1e39]]')) FROM good;
SELECT mixrec_import(jsonb_set(j, '{open,0.weight}', '[[1,1e400]]')) FROM good;
SELECT mixrec_import(jsonb_set(j, '{commercial,0.bias}', '[]')) FROM good;
SELECT mixrec_import(jsonb_set(j, '{standardize}', '{"mean":[0,0]}')) FROM good;
SELECT mixrec_import(jsonb_set(j, '{standardize}', '{"mean":[0,0],"std":[1,0]}')) FROM good;
SELECT mixrec_import(jsonb_set(j, '{standardize}', '{"mean":[0,0],"std":[1]}')) FROM good;
SELECT mixrec_import(jsonb_set(j, '{standardize}', '{"mean":[0,0],"std":[1,1],"var":[1,1]}')) FROM good;
SELECT mixrec_export(NULL);
SELECT mixrec_export('\xdeadbeef');

-- A model of typed columns carries its input transform under "transform";
-- a model of array features has "transform": null
SELECT mixrec_export(mixrec_init(2, '{2}'))->'transform' AS array_model_transform;
SET client_min_messages = warning;
CREATE TEMP TABLE typed_rows AS
SELECT i AS id,
       18 + i % 50 AS age,
       CASE WHEN i % 9 = 0 THEN NULL ELSE (i * 7 % 100)::float8 END AS spend,
       i % 3 = 0 AS member,
       (ARRAY['fr', 'de', 'it'])[1 + i % 3] AS country,
       i % 4 AS segment,
       CASE WHEN i % 7 = 0 THEN NULL ELSE (ARRAY['sale', 'new', 'gift'])[1 + i % 3 : 2 + i % 3] END AS tags,
       ARRAY[i % 3, i % 5]::real[] AS emb,
       timestamp '2026-01-01' + i * interval '5 hours' AS seen,
       i % 5 IN (0, 1) AS bought
FROM generate_series(1, 200) AS i;
-- mixrec_prepare's model has no optimiser state, like an imported one
CREATE TEMP TABLE typed AS
SELECT mixrec_prepare('typed_rows', label => 'bought', exclude => ARRAY['id'], hidden => '{4}',
                      transform => '{"segment": "categorical", "spend": {"scale": "log"}}') AS p;
CREATE TEMP TABLE typed_json AS SELECT mixrec_export(p) AS e FROM typed;

-- Each column with its kind, place and keys
SELECT c->>'name' AS name, c->>'type' AS type, c->>'kind' AS kind, c->'position' AS position,
       c->'width' AS width, (SELECT string_agg(k, ' ' ORDER BY k) FROM jsonb_object_keys(c) AS k) AS keys
FROM typed_json, jsonb_array_elements(e->'transform'->'columns') AS c;
SELECT (e->'input_dim')::int = (SELECT sum((c->>'width')::int)
                                FROM jsonb_array_elements(e->'transform'->'columns') AS c) AS widths_add_up
FROM typed_json;

-- A categorical column in full, and a dense one (statistics rounded: their
-- last digits may depend on the platform's arithmetic)
SELECT jsonb_pretty(c) FROM typed_json, jsonb_array_elements(e->'transform'->'columns') AS c
WHERE c->>'name' = 'country';
SELECT jsonb_pretty(c - '{mean,std,element_mean,element_std}'::text[]) AS emb,
       (SELECT array_agg(round(m::numeric, 6)) FROM jsonb_array_elements_text(c->'element_mean') AS m)
           AS element_mean,
       (SELECT array_agg(round(m::numeric, 6)) FROM jsonb_array_elements_text(c->'element_std') AS m)
           AS element_std
FROM typed_json, jsonb_array_elements(e->'transform'->'columns') AS c
WHERE c->>'name' = 'emb';

-- Export then import gives back the identical bytes, and the same export
SELECT mixrec_import(e) = p AS round_trip_identical,
       mixrec_export(mixrec_import(e)) = e AS export_identical,
       mixrec_info(mixrec_import(e))->'typed_columns' AS typed_columns
FROM typed, typed_json;
-- The imported model scores rows as the original
SELECT bool_and(mixrec_score(mixrec_import(e), r) = mixrec_score(p, r)) AS same_scores,
       bool_and(mixrec_transform(mixrec_import(e), r) = mixrec_transform(p, r)) AS same_inputs
FROM typed, typed_json, typed_rows AS r;
-- A trained model: the same export; its optimiser state is not exported
SELECT model, version FROM mixrec_train('typed_trained', 'typed_rows', label => 'bought',
                                        exclude => ARRAY['id'], hidden => '{4}', epochs => 2);
CREATE TEMP TABLE trained AS
SELECT weights AS w FROM mixrec_models WHERE name = 'typed_trained' AND active;
SELECT mixrec_export(mixrec_import(mixrec_export(w))) = mixrec_export(w) AS export_identical,
       mixrec_info(w)->'optimizer' IS NOT NULL AS trained_has_optimizer,
       mixrec_info(mixrec_import(mixrec_export(w)))->'optimizer' AS imported_optimizer
FROM trained;

-- JSON without "transform", or with null, is a model of array features
SELECT mixrec_info(mixrec_import(j))->'typed_columns' AS without_key,
       mixrec_info(mixrec_import(j || '{"transform": null}'))->'typed_columns' AS with_null
FROM good;

-- Malformed transforms
SELECT mixrec_import(jsonb_set(e, '{transform}', '[]')) FROM typed_json;
SELECT mixrec_import(jsonb_set(e, '{transform,extra}', '1')) FROM typed_json;
SELECT mixrec_import(e #- '{transform,columns}') FROM typed_json;
SELECT mixrec_import(jsonb_set(e, '{transform,columns}', '[]')) FROM typed_json;
SELECT mixrec_import(jsonb_set(e, '{transform,columns,0}', '"age"')) FROM typed_json;
SELECT mixrec_import(e #- '{transform,columns,0,name}') FROM typed_json;
SELECT mixrec_import(jsonb_set(e, '{transform,columns,0,kind}', '"tensor"')) FROM typed_json;
SELECT mixrec_import(jsonb_set(e, '{transform,columns,0,extra}', 'true')) FROM typed_json;
SELECT mixrec_import(jsonb_set(e, '{transform,columns,0,scale}', '"sqrt"')) FROM typed_json;
SELECT mixrec_import(jsonb_set(e, '{transform,columns,0,kind}', '"boolean"')) FROM typed_json;
SELECT mixrec_import(e #- '{transform,columns,0,rows}') FROM typed_json;
SELECT mixrec_import(jsonb_set(e, '{transform,columns,0,rows}', '-1')) FROM typed_json;
SELECT mixrec_import(jsonb_set(e, '{transform,columns,0,rows}', '2.5')) FROM typed_json;
SELECT mixrec_import(jsonb_set(e, '{transform,columns,0,rows}', '18446744073709551616')) FROM typed_json;
SELECT mixrec_import(jsonb_set(e, '{transform,columns,0,nulls}', '1000')) FROM typed_json;
SELECT mixrec_import(jsonb_set(e, '{transform,columns,0,missing}', '"no"')) FROM typed_json;
SELECT mixrec_import(jsonb_set(e, '{transform,columns,0,std}', '-1')) FROM typed_json;
SELECT mixrec_import(jsonb_set(e, '{transform,columns,0,mean}', '1e39')) FROM typed_json;
SELECT mixrec_import(jsonb_set(e, '{transform,columns,0,width}', '2')) FROM typed_json;
SELECT mixrec_import(jsonb_set(e, '{transform,columns,1,position}', '0')) FROM typed_json;
SELECT mixrec_import(jsonb_set(e, '{transform,columns,1,name}', '"age"')) FROM typed_json;
SELECT mixrec_import(jsonb_set(e, '{transform,columns,1,type}', '""')) FROM typed_json;
-- Vocabularies: duplicates, NULLs, counts that do not match
SELECT mixrec_import(jsonb_set(e, '{transform,columns,3,vocabulary}', '["fr", "it", "fr"]'))
FROM typed_json WHERE e->'transform'->'columns'->3->>'name' = 'country';
SELECT mixrec_import(jsonb_set(e, '{transform,columns,3,vocabulary,1}', 'null')) FROM typed_json;
SELECT mixrec_import(jsonb_set(e, '{transform,columns,3,vocabulary,1}', '7')) FROM typed_json;
SELECT mixrec_import(jsonb_set(e, '{transform,columns,3,counts}', '[1]')) FROM typed_json;
SELECT mixrec_import(jsonb_set(e, '{transform,columns,3,counts,0}', '-5')) FROM typed_json;
SELECT mixrec_import(jsonb_set(e, '{transform,columns,3,missing}', 'true')) FROM typed_json;
SELECT mixrec_import(e #- '{transform,columns,5,vocabulary}') FROM typed_json;
-- Dense element statistics of the wrong length, a dense column of no elements
SELECT mixrec_import(jsonb_set(e, '{transform,columns,6,element_std}', '[1]'))
FROM typed_json WHERE e->'transform'->'columns'->6->>'name' = 'emb';
SELECT mixrec_import(jsonb_set(e, '{transform,columns,6,element_mean,0}', '1e39')) FROM typed_json;
SELECT mixrec_import(jsonb_set(jsonb_set(jsonb_set(e, '{transform,columns,6,length}', '0'),
                                         '{transform,columns,6,element_mean}', '[]'),
                               '{transform,columns,6,element_std}', '[]')) FROM typed_json;
SELECT mixrec_import(jsonb_set(e, '{transform,columns,7,day_time}', 'null')) FROM typed_json;
-- A transform that fills one input more than input_dim: an entry added to
-- a vocabulary with its count, the column's width and the positions after it
SELECT mixrec_import(jsonb_set(e, '{transform,columns}',
                               (SELECT jsonb_agg(CASE WHEN n = 4 THEN c || jsonb_build_object(
                                                          'vocabulary', c->'vocabulary' || '["es"]',
                                                          'counts', c->'counts' || '[1]',
                                                          'width', (c->>'width')::int + 1)
                                                      WHEN n > 4 THEN c || jsonb_build_object(
                                                          'position', (c->>'position')::int + 1)
                                                      ELSE c END ORDER BY n)
                                FROM jsonb_array_elements(e->'transform'->'columns')
                                     WITH ORDINALITY AS t(c, n))))
FROM typed_json;

-- Embedded columns: each model has a "<column>.weight" table of vocabulary
-- entries + 2 rows (out of vocabulary, NULL) by the dimension the
-- transform's "embed" gives, which is the column's width
CREATE TEMP TABLE embedded AS
SELECT mixrec_prepare('typed_rows', 'age, country, segment, spend', 'bought', hidden => '{4}',
                      embed => '{"country": 3, "segment": 2}') AS p;
CREATE TEMP TABLE embedded_json AS SELECT mixrec_export(p) AS e FROM embedded;
SELECT k AS open_keys FROM embedded_json, jsonb_object_keys(e->'open') AS k ORDER BY k;
SELECT c->>'name' AS name, c->'embed' AS embed, c->'width' AS width,
       jsonb_array_length(c->'vocabulary') AS vocabulary,
       jsonb_array_length(e->'open'->(c->>'name' || '.weight')) AS open_rows,
       jsonb_array_length(e->'commercial'->(c->>'name' || '.weight')->0) AS commercial_dim,
       mixrec_info(p)->'embeddings'->(c->>'name') AS info
FROM embedded, embedded_json, jsonb_array_elements(e->'transform'->'columns') AS c;
-- The same bytes back, the same export, the same scores
SELECT mixrec_import(e) = p AS round_trip_identical,
       mixrec_export(mixrec_import(e)) = e AS export_identical
FROM embedded, embedded_json;
SELECT bool_and(mixrec_score(mixrec_import(e), r) = mixrec_score(p, r)) AS same_scores
FROM embedded, embedded_json, typed_rows AS r;
-- A trained model: the same export after import, and import after export
SELECT model, version FROM mixrec_train('embedded_trained', 'typed_rows', 'age, country, segment',
                                        'bought', hidden => '{4}', epochs => 2,
                                        embed => '{"country": 3, "segment": 2}');
SELECT mixrec_export(mixrec_import(mixrec_export(weights))) = mixrec_export(weights) AS export_identical,
       mixrec_import(mixrec_export(mixrec_import(mixrec_export(weights)))) =
           mixrec_import(mixrec_export(weights)) AS import_identical
FROM mixrec_models WHERE name = 'embedded_trained' AND active;
SELECT mixrec_drop('embedded_trained');
-- Malformed tables: missing, too few rows, a short row, a number that is
-- not one or out of range, a key no column has
SELECT mixrec_import(e #- '{open,country.weight}') FROM embedded_json;
SELECT mixrec_import(e #- '{commercial,segment.weight,5}') FROM embedded_json;
SELECT mixrec_import(jsonb_set(e, '{open,segment.weight}', '{"rows": 6}')) FROM embedded_json;
SELECT mixrec_import(e #- '{open,country.weight,4,2}') FROM embedded_json;
SELECT mixrec_import(jsonb_set(e, '{open,country.weight,4,2}', '"NaN"')) FROM embedded_json;
SELECT mixrec_import(jsonb_set(e, '{open,country.weight,4,2}', 'null')) FROM embedded_json;
SELECT mixrec_import(jsonb_set(e, '{open,country.weight,4,2}', '1e39')) FROM embedded_json;
SELECT mixrec_import(jsonb_set(e, '{open,country.weight,4}', '[[1, 2, 3]]')) FROM embedded_json;
SELECT mixrec_import(jsonb_set(e, '{commercial,age.weight}', '[[1]]')) FROM embedded_json;
-- A table without its column's "embed", an "embed" out of range or of
-- another width, an "embed" on a column of another kind
SELECT mixrec_import(e #- '{transform,columns,1,embed}') FROM embedded_json;
SELECT mixrec_import(jsonb_set(e, '{transform,columns,1,embed}', '0')) FROM embedded_json;
SELECT mixrec_import(jsonb_set(e, '{transform,columns,1,embed}', '1025')) FROM embedded_json;
SELECT mixrec_import(jsonb_set(e, '{transform,columns,1,embed}', '"3"')) FROM embedded_json;
SELECT mixrec_import(jsonb_set(e, '{transform,columns,1,embed}', '4')) FROM embedded_json;
SELECT mixrec_import(jsonb_set(e, '{transform,columns,0,embed}', '2')) FROM embedded_json;
-- A column named like a Linear layer: its table's key would be the
-- layer's, so it can be neither exported nor imported
SELECT mixrec_export(mixrec_prepare('SELECT country AS "0", bought FROM typed_rows',
                                    label => 'bought', embed => '{"0": 2}'));
SELECT mixrec_import(jsonb_set(e, '{transform,columns,1,name}', '"2"')) FROM embedded_json;

SELECT mixrec_drop('typed_trained');
RESET client_min_messages;
