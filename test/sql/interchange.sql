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
