-- The SQL surface of mixrec, pinned: functions, return types, volatility,
-- and the SQLSTATE of every class of bad input.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS mixrec;

SELECT plan(122);

SELECT has_function('mixrec_init', ARRAY['integer', 'integer[]', 'integer', 'double precision', 'bigint', 'text']);
SELECT function_returns('mixrec_init', ARRAY['integer', 'integer[]', 'integer', 'double precision', 'bigint', 'text'], 'bytea');
SELECT has_function('mixrec_info', ARRAY['bytea']);
SELECT function_returns('mixrec_info', ARRAY['bytea'], 'jsonb');
SELECT has_function('mixrec_export', ARRAY['bytea']);
SELECT function_returns('mixrec_export', ARRAY['bytea'], 'jsonb');
SELECT has_function('mixrec_import', ARRAY['jsonb']);
SELECT function_returns('mixrec_import', ARRAY['jsonb'], 'bytea');
SELECT has_function('mixrec_score', ARRAY['bytea', 'real[]', 'text', 'double precision']);
SELECT has_function('mixrec_score', ARRAY['bytea', 'double precision[]', 'text', 'double precision']);
SELECT function_returns('mixrec_score', ARRAY['bytea', 'real[]', 'text', 'double precision'], 'double precision');
SELECT has_function('mixrec_score_all', ARRAY['bytea', 'real[]', 'text', 'double precision']);
SELECT function_returns('mixrec_score_all', ARRAY['bytea', 'real[]', 'text', 'double precision'], 'double precision[]');
SELECT volatility_is('mixrec_score', ARRAY['bytea', 'real[]', 'text', 'double precision'], 'immutable');
SELECT volatility_is('mixrec_init', ARRAY['integer', 'integer[]', 'integer', 'double precision', 'bigint', 'text'], 'immutable');
SELECT is((SELECT bool_and(proparallel = 's') FROM pg_proc
           WHERE proname LIKE 'mixrec\_%' AND proname NOT IN ('mixrec_train', 'mixrec_train_model', 'mixrec_activate', 'mixrec_drop',
                                 'mixrec_predict', 'mixrec_recommend', 'mixrec_evaluate', 'mixrec_evaluate_ranking',
                                 'mixrec_train_begin', 'mixrec_train_watermark', 'mixrec_drift',
                                 'mixrec_train_store', 'mixrec_set_owner', 'mixrec_set_reader',
                                 'mixrec_stamp_trained_by', 'mixrec_check_owner', 'mixrec_prepare',
                                 'mixrec_store', 'mixrec_global_explain')), true,
          'every scoring and model function is PARALLEL SAFE');
SELECT is((SELECT bool_and(proparallel = 'u') FROM pg_proc WHERE proname IN ('mixrec_train', 'mixrec_train_model', 'mixrec_activate', 'mixrec_drop',
                                                           'mixrec_predict', 'mixrec_recommend', 'mixrec_evaluate',
                                                           'mixrec_evaluate_ranking', 'mixrec_store', 'mixrec_drift',
                                                           'mixrec_global_explain')), true,
          'the functions that read sources through SPI or write the registry are PARALLEL UNSAFE');
SELECT is((SELECT bool_and(NOT prosecdef) FROM pg_proc WHERE proname LIKE 'mixrec\_%'), true,
          'no mixrec function is SECURITY DEFINER');
SELECT is((SELECT count(*) FROM pg_proc p WHERE proname LIKE 'mixrec\_%'
           AND obj_description(p.oid, 'pg_proc') IS NULL), 0::bigint,
          'every mixrec function has a comment');

SELECT has_function('mixrec_train');
SELECT has_table('mixrec_models');
SELECT col_is_pk('mixrec_models', ARRAY['name', 'version']);
SELECT has_function('mixrec_training_info', ARRAY['text', 'integer']);
SELECT has_function('mixrec_store', ARRAY['text', 'bytea', 'jsonb', 'text']);
SELECT has_function('mixrec_model', ARRAY['text', 'integer']);
SELECT volatility_is('mixrec_model', ARRAY['text', 'integer'], 'stable');

SELECT has_function('mixrec_score', ARRAY['text', 'real[]', 'text', 'double precision', 'integer']);
SELECT volatility_is('mixrec_score', ARRAY['text', 'real[]', 'text', 'double precision', 'integer'], 'stable');
SELECT has_function('mixrec_activate', ARRAY['text', 'integer']);
SELECT has_function('mixrec_drop', ARRAY['text', 'integer']);
SELECT has_view('mixrec_model_versions');
SELECT has_column('mixrec_model_versions', 'watermark');
SELECT has_function('mixrec_fit_accum', ARRAY['bytea', 'bytea', 'real[]', 'double precision']);
SELECT has_function('mixrec_state_info', ARRAY['bytea']);
SELECT is((SELECT count(*) FROM pg_aggregate a JOIN pg_proc p ON p.oid = a.aggfnoid
           WHERE p.proname IN ('mixrec_fit', 'mixrec_fit_state', 'mixrec_merge')
             AND a.aggtranstype = 'bytea'::regtype AND a.aggcombinefn <> 0 AND p.proparallel = 's'),
          13::bigint, 'the thirteen training aggregates (arrays and rows) have bytea states, a combine function, and are PARALLEL SAFE');
SELECT throws_ok($$SELECT mixrec_score('no_such_model', '{1}'::real[])$$, '42704', NULL, 'unknown model name');

SELECT has_function('mixrec_predict', ARRAY['text', 'text', 'text', 'text', 'text', 'double precision', 'integer']);
SELECT has_function('mixrec_recommend');
SELECT has_function('mixrec_evaluate');
SELECT has_function('mixrec_evaluate_ranking', ARRAY['text', 'text', 'text', 'text', 'text', 'text', 'integer', 'text', 'text', 'text', 'integer']);
SELECT throws_ok($$SELECT * FROM mixrec_recommend('m', 'u', 'i', 'u', 'i', 'f', 'f', k => 0)$$, '22023', 'k must be between 1 and 10000, got 0');
SELECT throws_ok($$SELECT * FROM mixrec_evaluate_ranking('m', 'tr', 'te', 'u', 'i', 'it', k => 0)$$, '22023', 'k must be between 1 and 10000, got 0');
SELECT throws_ok($$SELECT mixrec_drop('no_such_model')$$, '42704', 'model "no_such_model" does not exist');
SELECT throws_ok($$SELECT mixrec_fit_accum(NULL, NULL, NULL::real[], NULL)$$, '0A000', NULL, 'aggregate support outside an aggregate');

-- Defaults
SELECT is(mixrec_info(mixrec_init(8))->'hidden', '[64]'::jsonb, 'hidden defaults to {64}');
SELECT is((mixrec_info(mixrec_init(8))->>'alpha')::float8, 0.5::float8, 'alpha defaults to 0.5');
SELECT is(mixrec_init(8), mixrec_init(8, seed => 42), 'seed defaults to 42');
SELECT is(mixrec_score(mixrec_init(2), '{1,2}'::real[]), mixrec_score(mixrec_init(2), '{1,2}'::real[], 'blend'),
          'mode defaults to blend');

-- Accepted inputs
SELECT lives_ok($$SELECT mixrec_init(1, '{}', 1, 0, 0, 'shared')$$, 'a logistic regression with alpha 0');
SELECT lives_ok($$SELECT mixrec_init(65536, '{1}')$$, 'the widest input layer');
SELECT lives_ok($$SELECT mixrec_score(mixrec_init(2), '{-1e30,1e30}'::real[], 'soup', 1)$$, 'extreme features');
SELECT is(mixrec_import(mixrec_export(mixrec_init(5, '{3,2}'))), mixrec_init(5, '{3,2}'), 'export then import is lossless');

-- SQLSTATEs of bad input
SELECT throws_ok($$SELECT mixrec_init(0)$$, '22023', 'input_dim must be positive, got 0');
SELECT throws_ok($$SELECT mixrec_init(8, '{0}')$$, '22023', 'hidden layer size 1 must be positive, got 0');
SELECT throws_ok($$SELECT mixrec_init(8, '{70000}')$$, '54000', NULL, 'absurd layer size: program_limit_exceeded');
SELECT throws_ok($$SELECT mixrec_init(8, alpha => 2)$$, '22023', 'alpha must be between 0 and 1, got 2');
SELECT throws_ok($$SELECT mixrec_init(NULL)$$, '22004', 'input_dim must not be NULL');
SELECT throws_ok($$SELECT mixrec_init(8, init => 'xavier')$$, '22023', 'unknown init "xavier"');
SELECT throws_ok($$SELECT mixrec_info('junk')$$, '22P03', 'not a mixrec model (bad magic number)');
SELECT throws_ok($$SELECT mixrec_info(substring(mixrec_init(2) FROM 1 FOR 50))$$, '22P03', NULL, 'truncated model');
SELECT throws_ok($$SELECT mixrec_info(set_byte(mixrec_init(2), 4, 9))$$, '22P03', NULL, 'future format version');
SELECT throws_ok($$SELECT mixrec_score(mixrec_init(3), '{1,2}'::real[])$$, '22000',
                 'features have 2 elements, expected 3');
SELECT throws_ok($$SELECT mixrec_score(mixrec_init(3), '{1,NULL,3}'::real[])$$, '22004', 'features element 2 is NULL');
SELECT throws_ok($$SELECT mixrec_score(mixrec_init(3), '{1,NaN,3}'::real[])$$, '22000', 'features element 2 is NaN');
SELECT throws_ok($$SELECT mixrec_score(mixrec_init(3), '{1,2,3}'::real[], 'max')$$, '22023', 'unknown scoring mode "max"');
SELECT is(mixrec_score(mixrec_init(3), NULL::real[]), NULL, 'NULL features score NULL');
SELECT is(mixrec_score_all(mixrec_init(3), NULL::float8[]), NULL, 'NULL features score NULL, every output');
SELECT throws_ok($$SELECT mixrec_score(NULL::bytea, '{1,2,3}'::real[])$$, '22004', 'model must not be NULL');
SELECT throws_ok($$SELECT mixrec_score(mixrec_init(3), NULL::real[], NULL)$$, '22004', 'mode must not be NULL');
SELECT throws_ok($$SELECT mixrec_import('{"format":"mixrec"}')$$, '22023', NULL, 'incomplete JSON model');
SELECT throws_ok($$SELECT mixrec_score(mixrec_init(3, '{4}', 2), '{1,2,3}'::real[])$$, '22000', NULL,
                 'mixrec_score on a model of two outputs');

-- The trust boundary
SELECT is((SELECT count(*) FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass
           JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'mixrec'
           JOIN pg_language l ON l.oid = p.prolang
           WHERE l.lanname IN ('sql', 'plpgsql')
             AND NOT coalesce('search_path=pg_catalog, pg_temp' = ANY (p.proconfig), false)),
          0::bigint, 'every SQL and PL/pgSQL function of mixrec pins search_path to pg_catalog, pg_temp');
SELECT is((SELECT count(*) FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass
           JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'mixrec'
           WHERE p.prosecdef), 0::bigint, 'no function of mixrec is SECURITY DEFINER');
SELECT is((SELECT bool_and(relrowsecurity) FROM pg_class WHERE oid IN ('mixrec_models'::regclass, 'mixrec_model_counters'::regclass)),
          true, 'row-level security is on for both registry tables');
SELECT is((SELECT reloptions FROM pg_class WHERE oid = 'mixrec_model_versions'::regclass),
          '{security_invoker=true}'::text[], 'mixrec_model_versions reads the registry with the privileges of whoever reads it');
SELECT has_function('mixrec_set_owner', ARRAY['text', 'regrole']);
SELECT has_function('mixrec_set_reader', ARRAY['text', 'regrole']);
SELECT function_returns('mixrec_shape', ARRAY['bytea'], 'jsonb');

-- Incremental training: the since column, and drift
SELECT has_function('mixrec_drift', ARRAY['text', 'text', 'integer']);
SELECT volatility_is('mixrec_drift', ARRAY['text', 'text', 'integer'], 'volatile');
SELECT throws_ok($$SELECT * FROM mixrec_drift('no_such_model', 'pg_class')$$, '42704', NULL, 'drift of an unknown model');
SELECT has_function('mixrec_train_watermark', ARRAY['text', 'text']);
SELECT throws_ok($$SELECT * FROM mixrec_train('tap_since', 'SELECT 1 AS n, ARRAY[1]::real[] AS f, true AS l', 'f', 'l', since => 'm')$$,
                 '42703', 'since column "m" does not exist in the source');
SELECT throws_ok($$SELECT * FROM mixrec_train('tap_since', 'SELECT 1.5 AS n, ARRAY[1]::real[] AS f, true AS l', 'f', 'l', since => 'n')$$,
                 '42804', 'since column "n" is of type numeric');
SELECT throws_ok($$SELECT * FROM mixrec_train('tap_since', 'SELECT 1 AS n, ARRAY[1]::real[] AS f, true AS l', 'f', 'l', since => 'n',
                                              initial_model => mixrec_init(1))$$,
                 '22023', 'give since or initial_model, not both');

-- Typed columns: rows in, the transform out
SELECT has_function('mixrec_score', ARRAY['bytea', 'record', 'text', 'double precision']);
SELECT has_function('mixrec_score', ARRAY['text', 'record', 'text', 'double precision', 'integer']);
SELECT has_function('mixrec_score_all', ARRAY['bytea', 'record', 'text', 'double precision']);
SELECT has_function('mixrec_transform', ARRAY['bytea', 'record']);
SELECT function_returns('mixrec_transform', ARRAY['bytea', 'record'], 'real[]');
SELECT volatility_is('mixrec_transform', ARRAY['bytea', 'record'], 'immutable');
SELECT volatility_is('mixrec_transform', ARRAY['text', 'record'], 'stable');
SELECT has_function('mixrec_feature_info', ARRAY['bytea']);
SELECT has_function('mixrec_feature_info', ARRAY['text', 'integer']);
SELECT has_function('mixrec_prepare', ARRAY['text', 'text', 'text', 'text[]', 'jsonb', 'integer[]',
                                             'double precision', 'boolean', 'text', 'bigint', 'jsonb']);
SELECT function_returns('mixrec_prepare', ARRAY['text', 'text', 'text', 'text[]', 'jsonb', 'integer[]',
                                                'double precision', 'boolean', 'text', 'bigint', 'jsonb'], 'bytea');
SELECT has_function('mixrec_fit_accum', ARRAY['bytea', 'bytea', 'record', 'double precision']);
SELECT has_function('mixrec_holdout', ARRAY['record', 'bigint']);
SELECT throws_ok($$SELECT mixrec_score(mixrec_init(2), ROW(1, 2))$$, '42804', NULL,
                 'a row for a model of array features is a datatype mismatch');
SELECT throws_ok($$SELECT * FROM mixrec_feature_info(mixrec_init(2))$$, '0A000', NULL,
                 'a model of array features has no typed columns');
SELECT throws_ok($$SELECT mixrec_fit_accum(NULL, NULL, ROW(1), NULL::float8)$$, '0A000', NULL,
                 'aggregate support of rows outside an aggregate');

-- Embeddings: the tables of embedded columns read back
SELECT has_function('mixrec_embeddings', ARRAY['bytea', 'text', 'boolean']);
SELECT has_function('mixrec_embeddings', ARRAY['text', 'text', 'integer', 'boolean']);
SELECT has_function('mixrec_similar', ARRAY['bytea', 'text', 'text', 'integer', 'text']);
SELECT has_function('mixrec_similar', ARRAY['text', 'text', 'text', 'integer', 'text', 'integer']);
SELECT volatility_is('mixrec_embeddings', ARRAY['bytea', 'text', 'boolean'], 'immutable');
SELECT volatility_is('mixrec_similar', ARRAY['text', 'text', 'text', 'integer', 'text', 'integer'], 'stable');
SELECT throws_ok($$SELECT * FROM mixrec_embeddings(mixrec_init(2), 'user_id')$$, '0A000', NULL,
                 'a model without embedded columns has no tables to read');
SELECT throws_ok($$SELECT * FROM mixrec_similar(mixrec_init(2), 'user_id', '7', 0)$$, '22023',
                 'k must be between 1 and 10000, got 0');

-- Explanations
SELECT has_function('mixrec_explain', ARRAY['bytea', 'real[]', 'integer', 'text', 'text', 'integer', 'text[]']);
SELECT has_function('mixrec_explain', ARRAY['bytea', 'record', 'integer', 'text', 'text', 'integer']);
SELECT has_function('mixrec_explain', ARRAY['text', 'real[]', 'integer', 'text', 'text', 'integer', 'text[]', 'integer']);
SELECT has_function('mixrec_explain', ARRAY['text', 'record', 'integer', 'text', 'text', 'integer', 'integer']);
SELECT has_function('mixrec_global_explain', ARRAY['text', 'text', 'integer', 'text', 'integer', 'text', 'text[]', 'text', 'integer']);
SELECT volatility_is('mixrec_explain', ARRAY['bytea', 'real[]', 'integer', 'text', 'text', 'integer', 'text[]'], 'immutable');
SELECT volatility_is('mixrec_explain', ARRAY['text', 'record', 'integer', 'text', 'text', 'integer', 'integer'], 'stable');
SELECT volatility_is('mixrec_global_explain', ARRAY['text', 'text', 'integer', 'text', 'integer', 'text', 'text[]', 'text', 'integer'], 'volatile');
SELECT throws_ok($$SELECT * FROM mixrec_explain(mixrec_init(2), '{1,2}'::real[], steps => 0)$$, '22023',
                 'steps must be between 1 and 10000, got 0');
SELECT throws_ok($$SELECT * FROM mixrec_explain(mixrec_init(2), '{1,2}'::real[], method => 'shap')$$, '22023', NULL,
                 'an unknown explanation method is an invalid parameter');
SELECT throws_ok($$SELECT * FROM mixrec_explain(mixrec_init(2), '{1,2,3}'::real[])$$, '22000', NULL,
                 'features of the wrong dimension are a data exception');
SELECT throws_ok($$SELECT * FROM mixrec_explain(mixrec_init(2), NULL::real[])$$, '22004', 'features must not be NULL');
SELECT throws_ok($$SELECT * FROM mixrec_explain(mixrec_init(2), ROW(1, 2))$$, '42804', NULL,
                 'a row for a model of array features is a datatype mismatch');

SELECT * FROM finish();
ROLLBACK;
