-- mixrec_score and mixrec_score_all: scoring against PyTorch's numbers.

-- Reference models and scores written by test/torch/make_fixtures.py
CREATE TEMP TABLE cases (doc jsonb);
\copy cases FROM 'test/fixtures/score_cases.jsonl'

CREATE TEMP TABLE expected AS
SELECT doc->>'case' AS name, mixrec_import(doc->'model') AS model,
       ARRAY(SELECT jsonb_array_elements_text(x)::real) AS features,
       ord, doc
FROM cases, jsonb_array_elements(doc->'x') WITH ORDINALITY AS rows(x, ord);

-- Every mode within 1e-6 + 1e-5 relative of PyTorch (float32 tolerance)
SELECT name, mode, count(*) AS rows,
       bool_and(abs(got - want) <= 1e-6 + 1e-5 * abs(want)) AS matches_pytorch
FROM (SELECT name, mode, mixrec_score(model, features, mode) AS got,
             (doc->mode->>(ord::int - 1))::float8 AS want
      FROM expected, unnest(ARRAY['blend', 'open', 'commercial', 'soup']) AS mode) AS s
GROUP BY name, mode ORDER BY name, mode;

-- alpha given at call time overrides the model's
SELECT name, bool_and(abs(mixrec_score(model, features, 'blend', (doc->>'alpha2')::float8)
                          - (doc->'blend_alpha2'->>(ord::int - 1))::float8) <= 1e-6) AS matches_pytorch
FROM expected GROUP BY name ORDER BY name;

-- float8[] features score the same as real[]
SELECT bool_and(mixrec_score(model, features::float8[]) = mixrec_score(model, features)) AS float8_same
FROM expected;

-- blend is alpha * open + (1 - alpha) * commercial; alpha 1 and 0 pick one model
SELECT bool_and(abs(mixrec_score(model, features) -
                    ((doc->'model'->>'alpha')::float8 * mixrec_score(model, features, 'open')
                     + (1 - (doc->'model'->>'alpha')::float8) * mixrec_score(model, features, 'commercial'))) < 1e-12) AS blend_is_mix,
       bool_and(mixrec_score(model, features, 'blend', 1) = mixrec_score(model, features, 'open')) AS alpha1_is_open,
       bool_and(mixrec_score(model, features, 'blend', 0) = mixrec_score(model, features, 'commercial')) AS alpha0_is_commercial,
       bool_and(abs(mixrec_score(model, features, 'soup', 1) - mixrec_score(model, features, 'open')) < 1e-6) AS soup1_is_open
FROM expected;

-- Models that change on every row of one query (the cache is keyed on the
-- model, not on the call site) still match PyTorch row by row
SELECT count(*) AS rows, count(DISTINCT name) AS models,
       bool_and(abs(got - want) <= 1e-6 + 1e-5 * abs(want)) AS matches_pytorch
FROM (SELECT name, mixrec_score(model, features) AS got,
             (doc->'blend'->>(ord::int - 1))::float8 AS want
      FROM (SELECT * FROM expected ORDER BY ord, name) AS interleaved) AS s;

-- A model of several outputs: mixrec_score_all
SELECT array_length(mixrec_score_all(mixrec_init(3, '{4}', 3), '{1,2,3}'::real[]), 1) AS outputs,
       (SELECT bool_and(p > 0 AND p < 1) FROM unnest(mixrec_score_all(mixrec_init(3, '{4}', 3), '{1,2,3}'::real[])) AS p) AS probabilities;
SELECT mixrec_score(mixrec_init(3, '{4}', 3), '{1,2,3}'::real[]);

-- Scores are probabilities even for extreme inputs
SELECT mixrec_score(mixrec_init(2, '{}', seed => 1), '{1e30,-1e30}'::real[]) BETWEEN 0 AND 1 AS in_range;

-- The everyday query: the best items of a table by score
CREATE TEMP TABLE items AS
SELECT i, ARRAY[i / 1000.0, (i % 7) / 7.0, ln(i)]::real[] AS features FROM generate_series(1, 2000) AS i;
SELECT i, round(mixrec_score(mixrec_init(3, '{16}'), features)::numeric, 4) AS score
FROM items ORDER BY mixrec_score(mixrec_init(3, '{16}'), features) DESC, i LIMIT 3;

-- Bad input
SELECT mixrec_score(mixrec_init(3), NULL::real[]);
SELECT mixrec_score_all(mixrec_init(3), NULL::float8[]) IS NULL AS score_all_null;
-- one NULL row scores NULL and fails no query
SELECT count(*) AS rows, count(s) AS scored
FROM (SELECT mixrec_score(mixrec_init(3), f) AS s
      FROM (VALUES ('{1,2,3}'::real[]), (NULL), ('{3,2,1}')) AS v(f)) AS t;
SELECT mixrec_score(NULL::bytea, '{1,2,3}'::real[]);
SELECT mixrec_score(mixrec_init(3), '{1,2,3}'::real[], NULL);
SELECT mixrec_score(mixrec_init(3), '{}'::real[]);
SELECT mixrec_score(mixrec_init(3), '{1,2}'::real[]);
SELECT mixrec_score(mixrec_init(3), '{1,2,3,4}'::float8[]);
SELECT mixrec_score(mixrec_init(3), '{1,NULL,3}'::real[]);
SELECT mixrec_score(mixrec_init(3), '{{1,2,3}}'::real[]);
SELECT mixrec_score(mixrec_init(3), '{1,NaN,3}'::real[]);
SELECT mixrec_score(mixrec_init(3), '{1,2,Infinity}'::float8[]);
SELECT mixrec_score(mixrec_init(3), '{1,-Infinity,3}'::real[]);
SELECT mixrec_score(mixrec_init(3), '{1,2,1e300}'::float8[]);
SELECT mixrec_score(mixrec_init(3), '{1,2,3}'::real[], 'average');
SELECT mixrec_score(mixrec_init(3), '{1,2,3}'::real[], 'blend', 1.5);
SELECT mixrec_score(mixrec_init(3), '{1,2,3}'::real[], 'blend', -1);
SELECT mixrec_score(mixrec_init(3), '{1,2,3}'::real[], 'blend', 'NaN');
SELECT mixrec_score('\x4d585243'::bytea, '{1,2,3}'::real[]);
SELECT mixrec_score(substring(mixrec_init(3) FROM 1 FOR 100), '{1,2,3}'::real[]);
