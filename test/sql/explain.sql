-- Explanations: mixrec_explain (one row) and mixrec_global_explain (a
-- sample of a source), for a model of typed columns (numeric, one-hot,
-- multi-hot, embedded) and a model of array features.
SET client_min_messages = warning;
\set SHOW_CONTEXT never
SET extra_float_digits = 0;

CREATE TABLE ex_rows AS
SELECT i AS id, 'u' || (i * 7) % 40 AS user_id,
       ((i % 9) - 4) * 0.5::float8 AS price,
       (ARRAY['drama', 'comedy', 'horror'])[1 + i % 3] AS genre,
       CASE i % 4 WHEN 0 THEN ARRAY['new', 'hd'] WHEN 1 THEN ARRAY['old']
                  WHEN 2 THEN ARRAY['hd', 'short', 'new'] END AS tags,
       (i * 7) % 40 % 3 = 0 OR (i % 9) > 5 AS liked
FROM generate_series(1, 1200) AS i;
SELECT count(*) AS rows, count(DISTINCT tags) AS tag_sets FROM ex_rows;

SELECT model, version FROM mixrec_train('ex_typed', 'ex_rows', 'price, genre, tags, user_id', 'liked',
	embed => '{"user_id": 4}', hidden => '{16}', epochs => 3, seed => 3,
	transform => '{"user_id": {"min_frequency": 1}}');
SELECT column_name, kind, inputs FROM mixrec_feature_info('ex_typed') ORDER BY first_input;
CREATE TABLE ex_model AS SELECT weights AS m FROM mixrec_models WHERE name = 'ex_typed' AND active;

-- One row per column, named after it, every column with top_k large enough;
-- the score is mixrec_score's
SELECT feature, abs(blend) >= 0 AS finite, score = s AS same_score_repeated
FROM (SELECT * FROM ex_rows WHERE id = 5) AS r,
     LATERAL mixrec_explain('ex_typed', r, top_k => 100) AS e,
     LATERAL (SELECT min(score) AS s FROM mixrec_explain('ex_typed', r, top_k => 100)) AS m
ORDER BY feature;
SELECT abs(min(e.score) - mixrec_score('ex_typed', r)) < 1e-6 AS score_is_mixrec_score,
       min(e.baseline_score) = max(e.baseline_score) AS one_baseline
FROM (SELECT * FROM ex_rows WHERE id = 5) AS r, LATERAL mixrec_explain('ex_typed', r, 100) AS e
GROUP BY r.*;

-- Completeness: the attributions of all columns sum to score -
-- baseline_score, for the blend, each model and each scoring mode
SELECT mode, bool_and(abs(total - (score - baseline_score)) < 1e-3) AS complete,
       bool_and(abs(open_total * alpha + commercial_total * (1 - alpha) - total) < 1e-9 OR mode <> 'blend') AS blend_is_alpha_mix,
       count(*) AS rows_checked
FROM (SELECT m.mode, r.id, sum(e.blend) AS total, sum(e.open) AS open_total,
             sum(e.commercial) AS commercial_total, min(e.score) AS score,
             min(e.baseline_score) AS baseline_score,
             (SELECT (mixrec_info(x.m)->>'alpha')::float8 FROM ex_model AS x) AS alpha
      FROM ex_rows AS r, unnest(ARRAY['blend', 'open', 'commercial', 'soup']) AS m(mode),
           LATERAL mixrec_explain('ex_typed', r, 100, m.mode, steps => 200) AS e
      WHERE r.id <= 20 GROUP BY m.mode, r.id) AS t
GROUP BY mode ORDER BY mode;

-- Gradient times input and occlusion: one row per column too
SELECT method, count(*) AS columns, count(DISTINCT feature) AS distinct_names,
       bool_and(abs(score - mixrec_score('ex_typed', r)) < 1e-6) AS same_score
FROM (SELECT * FROM ex_rows WHERE id = 7) AS r,
     unnest(ARRAY['integrated_gradients', 'gradient_times_input', 'occlusion']) AS method,
     LATERAL mixrec_explain('ex_typed', r, 10, method => method) AS e
GROUP BY method, r.* ORDER BY method;

-- Occlusion of a column: the score less the score with that column NULL
-- for the embedded column (its baseline is its NULL row)
CREATE TYPE ex_cols AS (price float8, genre text, tags text[], user_id text);
SELECT abs(e.blend - (mixrec_score('ex_typed', ROW(r.price, r.genre, r.tags, r.user_id)::ex_cols) -
       mixrec_score('ex_typed', ROW(r.price, r.genre, r.tags, NULL)::ex_cols))) < 1e-6 AS occlusion_is_null_row
FROM (SELECT * FROM ex_rows WHERE id = 7) AS r,
     LATERAL mixrec_explain('ex_typed', ROW(r.price, r.genre, r.tags, r.user_id)::ex_cols, 10,
                            method => 'occlusion') AS e
WHERE e.feature = 'user_id';

-- top_k: the largest by absolute blend attribution, in that order
SELECT array_agg(feature ORDER BY n) = (SELECT array_agg(feature ORDER BY abs(blend) DESC) FROM
         (SELECT * FROM ex_rows WHERE id = 9) AS r2, LATERAL mixrec_explain('ex_typed', r2, 2) AS e2) AS top_2_first,
       count(*) AS top_2
FROM (SELECT * FROM ex_rows WHERE id = 9) AS r,
     LATERAL mixrec_explain('ex_typed', r, 2) WITH ORDINALITY AS e(feature, open, commercial, blend, b, s, n);

-- By name and by bytea: the same rows
SELECT (SELECT array_agg(e ORDER BY e.feature) FROM (SELECT * FROM ex_rows WHERE id = 11) AS r,
          LATERAL mixrec_explain('ex_typed', r, 100) AS e) =
       (SELECT array_agg(e ORDER BY e.feature) FROM (SELECT * FROM ex_rows WHERE id = 11) AS r, ex_model,
          LATERAL mixrec_explain(m, r, 100) AS e) AS by_name_same_as_bytea;

-- An array model: features named "1", "2", ... or by names
CREATE TABLE ex_arrays AS
SELECT ARRAY[sin(i), cos(i * 0.7), (i % 5) - 2, (i % 3) * 0.5]::real[] AS f,
       sin(i) + (i % 5) > 1 AS y
FROM generate_series(1, 500) AS i;
SELECT model FROM mixrec_train('ex_array', 'ex_arrays', 'f', 'y', hidden => '{8, 4}', epochs => 3, seed => 5);
SELECT feature FROM mixrec_explain('ex_array', '{0.5, -1, 2, 1}'::real[], 10) ORDER BY feature;
SELECT feature FROM mixrec_explain('ex_array', '{0.5, -1, 2, 1}'::real[], 2, names => '{a,b,c,d}')
ORDER BY feature IN ('a', 'b', 'c', 'd'), feature;
-- The baseline is the training mean (0 after standardisation), as the
-- model stores it
SELECT abs(sum(blend) - (min(score) - min(baseline_score))) < 1e-3 AS complete,
       abs(min(baseline_score) - mixrec_score('ex_array',
           (SELECT ARRAY(SELECT jsonb_array_elements_text(mixrec_export(weights)->'standardize'->'mean')::real)
            FROM mixrec_models WHERE name = 'ex_array' AND active))) < 1e-6 AS baseline_is_training_mean,
       abs(min(baseline_score) - mixrec_score('ex_array', '{0,0,0,0}'::real[])) > 1e-3 AS baseline_is_not_zeros
FROM mixrec_explain('ex_array', '{0.5, -1, 2, 1}'::real[], 10, steps => 200);
SELECT (SELECT array_agg(e ORDER BY e.feature) FROM mixrec_explain('ex_array', '{1,2,3,4}'::real[], 4) AS e) =
       (SELECT array_agg(e ORDER BY e.feature) FROM mixrec_models,
          LATERAL mixrec_explain(weights, '{1,2,3,4}'::real[], 4) AS e
        WHERE name = 'ex_array' AND active) AS by_name_same_as_bytea;

-- One call site, two models and two methods in turn: each row as alone
CREATE TABLE ex_two AS
SELECT n, CASE WHEN n % 2 = 0 THEN (SELECT weights FROM mixrec_models WHERE name = 'ex_array' AND active)
               ELSE mixrec_init(4, '{3}', seed => 9) END AS m,
       CASE WHEN n % 3 = 0 THEN 'occlusion' ELSE 'integrated_gradients' END AS method
FROM generate_series(1, 6) AS n;
-- (EXECUTE plans each statement afresh: a call site of its own)
CREATE FUNCTION ex_alone(m bytea, method text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	r text;
BEGIN
	EXECUTE 'SELECT array_agg(e ORDER BY e.feature)::text FROM mixrec_explain($1, ''{1,2,3,4}''::real[], 4, method => $2) AS e'
		INTO r USING m, method;
	RETURN r;
END $$;
SELECT bool_and(together = ex_alone(m, method)) AS call_site_keeps_nothing_stale, count(*) AS rows
FROM (SELECT n, m, method, array_agg(e ORDER BY e.feature)::text AS together
      FROM ex_two, LATERAL mixrec_explain(m, '{1,2,3,4}'::real[], 4, method => method) AS e
      GROUP BY n, m, method) AS a;

-- A view for a BI tool: the top 3 reasons of each row's score, from a
-- subquery run once per row
CREATE VIEW ex_why AS
SELECT r.id, round(mixrec_score('ex_typed', r)::numeric, 6) AS score,
       (SELECT string_agg(e.feature, ', ' ORDER BY abs(e.blend) DESC)
        FROM mixrec_explain('ex_typed', r, top_k => 3) AS e) AS top_3_reasons
FROM ex_rows AS r;
SELECT count(*) AS rows, count(DISTINCT top_3_reasons) > 1 AS reasons_differ,
       bool_and(cardinality(string_to_array(top_3_reasons, ', ')) = 3) AS three_each
FROM ex_why WHERE id <= 200;

-- Global explanations: one row per column, mean absolute attributions
SELECT feature, open > 0 AS open_positive, commercial > 0 AS commercial_positive,
       blend > 0 AS blend_positive
FROM mixrec_global_explain('ex_typed', 'ex_rows', sample => 50)
ORDER BY feature;
SELECT count(*) AS features FROM mixrec_global_explain('ex_array', 'ex_arrays', 30, features => 'f');
-- The sample does not depend on the rows' physical order
CREATE TABLE ex_rows_shuffled AS SELECT * FROM ex_rows ORDER BY md5(id::text);
SELECT (SELECT array_agg(g ORDER BY g.feature) FROM mixrec_global_explain('ex_typed', 'ex_rows', 40) AS g) =
       (SELECT array_agg(g ORDER BY g.feature) FROM mixrec_global_explain('ex_typed', 'ex_rows_shuffled', 40) AS g)
       AS same_sample;
-- The mean of |attribution| over the rows mixrec_explain gives one by one
SELECT bool_and(abs(g.blend - w.blend) < 1e-9) AS mean_of_rows
FROM mixrec_global_explain('ex_typed', 'ex_rows', 5000, steps => 10) AS g
JOIN (SELECT e.feature, avg(abs(e.blend)) AS blend FROM ex_rows AS r,
        LATERAL mixrec_explain('ex_typed', r, 100, steps => 10) AS e GROUP BY e.feature) AS w
  USING (feature);

-- Bad arguments
SELECT * FROM mixrec_explain('ex_array', '{1,2,3,4}'::real[], steps => 0);
SELECT * FROM mixrec_explain('ex_array', '{1,2,3,4}'::real[], steps => 10001);
SELECT * FROM mixrec_explain('ex_array', '{1,2,3,4}'::real[], top_k => 0);
SELECT * FROM mixrec_explain('ex_array', '{1,2,3,4}'::real[], method => 'shap');
SELECT * FROM mixrec_explain('ex_array', '{1,2,3,4}'::real[], mode => 'average');
SELECT * FROM mixrec_explain('ex_array', '{1,2,3}'::real[]);
SELECT * FROM mixrec_explain('ex_array', '{1,2,3,4}'::real[], names => '{a,b}');
SELECT * FROM mixrec_explain('ex_array', '{1,2,3,4}'::real[], names => '{a,b,NULL,d}');
SELECT * FROM mixrec_explain('ex_array', NULL::real[]);
SELECT * FROM mixrec_explain(NULL::text, '{1,2,3,4}'::real[]);
SELECT * FROM mixrec_explain(NULL::bytea, '{1,2,3,4}'::real[]);
SELECT * FROM mixrec_explain('ex_array', '{1,2,3,4}'::real[], top_k => NULL);
SELECT * FROM mixrec_explain('ex_array', '{1,2,3,4}'::real[], method => NULL);
SELECT * FROM mixrec_explain('ex_array', '{1,2,3,4}'::real[], steps => NULL);
SELECT * FROM mixrec_explain('ex_array', '{1,2,3,4}'::real[], mode => NULL);
SELECT * FROM mixrec_explain('ex_array', '{1,2,NaN,4}'::real[]);
SELECT * FROM mixrec_explain('no_such_model', '{1,2,3,4}'::real[]);
SELECT * FROM mixrec_explain('ex_typed', '{1,2,3,4}'::real[]);
SELECT * FROM mixrec_explain('ex_array', ROW(1, 2));
SELECT * FROM mixrec_explain('ex_typed', ROW(1.0::float8, 'drama', '{hd}'::text[])::record);
CREATE TYPE ex_missing AS (price float8, genre text, tags text[]);
SELECT * FROM mixrec_explain('ex_typed', ROW(1.0, 'drama', '{hd}')::ex_missing);
SELECT * FROM mixrec_explain('ex_array', '{1,2,3,4}'::real[], version => 0);
SELECT * FROM mixrec_global_explain('ex_typed', 'ex_rows', sample => 0);
SELECT * FROM mixrec_global_explain('ex_typed', 'ex_rows', steps => 0);
SELECT * FROM mixrec_global_explain('ex_typed', 'ex_rows', method => 'lime');
SELECT * FROM mixrec_global_explain('ex_typed', NULL);
SELECT * FROM mixrec_global_explain('ex_array', 'ex_arrays');
SELECT * FROM mixrec_global_explain('ex_typed', 'ex_rows', names => '{a,b,c,d}');
SELECT * FROM mixrec_global_explain('ex_typed', 'ex_rows', features => 'price');
SELECT * FROM mixrec_global_explain('ex_array', 'ex_arrays', features => 'f[1:2]');
SELECT * FROM mixrec_global_explain('ex_array', 'ex_arrays', features => 'f) FROM ex_arrays; SELECT (f');
SET mixrec.train_memory = '1MB';
SELECT * FROM mixrec_explain('ex_typed', (SELECT r FROM ex_rows AS r WHERE id = 1), steps => 10000);
RESET mixrec.train_memory;
