-- Embedded columns: the embed option's inputs, the tables read back with
-- mixrec_embeddings, nearest entries with mixrec_similar, and scoring
-- forged inputs of an embedded column.
SET client_min_messages = warning;
\set SHOW_CONTEXT never
SET extra_float_digits = 0;

-- 60 users (integer ids) and 25 movies, embedded; a genre, one-hot; a
-- number and a timestamp
CREATE TABLE emb_rows AS
SELECT i AS id, (i * 7) % 60 AS user_id, 'm' || (i * 11) % 25 AS movie,
       (ARRAY['drama', 'comedy', 'horror'])[1 + i % 3] AS genre,
       ((i % 9) - 4) * 0.25::float8 AS x,
       timestamp '2026-01-01' + i * interval '1 hour' AS seen,
       ((i * 7) % 60 + (i * 11) % 25) % 3 = 0 AS liked
FROM generate_series(1, 1500) AS i;

SELECT model, version, epochs_run FROM mixrec_train('emb_model', 'emb_rows', 'user_id, movie, genre, x', 'liked',
	embed => '{"user_id": 4, "movie": 3}', hidden => '{8}', epochs => 2, seed => 7,
	transform => '{"user_id": {"min_frequency": 1}, "movie": {"min_frequency": 1}}');
CREATE TABLE emb_model AS
SELECT weights AS m, mixrec_export(weights) AS e FROM mixrec_models WHERE name = 'emb_model' AND active;
SELECT mixrec_info(m)->'embeddings' AS embeddings FROM emb_model;

-- One row per vocabulary entry, of the table's dimension in both models;
-- with include_special two more, value NULL: the out-of-vocabulary row,
-- then the NULL row
SELECT c AS column_name, count(*) AS entries,
       count(*) + 2 = (mixrec_info(m)->'embeddings'->c->>'rows')::int AS rows_match,
       bool_and(cardinality(open) = (mixrec_info(m)->'embeddings'->c->>'dim')::int AND
                cardinality(commercial) = cardinality(open)) AS dims_match,
       count(value) = count(*) AS no_null_values
FROM emb_model, unnest(ARRAY['user_id', 'movie']) AS c, mixrec_embeddings(m, c)
GROUP BY c, m ORDER BY c;
SELECT n, value, cardinality(open) AS dim
FROM emb_model, mixrec_embeddings(m, 'movie', include_special => true) WITH ORDINALITY AS t(value, open, commercial, n)
WHERE n > 24;

-- The vectors are the export's "<column>.weight" rows, in its vocabulary's
-- order, row for row
SELECT c AS column_name,
       count(*) FILTER (WHERE value IS DISTINCT FROM e->'transform'->'columns'->(CASE c WHEN 'user_id' THEN 0 ELSE 1 END)->'vocabulary'->>(n::int - 1)
                        AND n <= jsonb_array_length(e->'open'->(c || '.weight')) - 2) AS value_mismatches,
       count(*) FILTER (WHERE open IS DISTINCT FROM
                        ARRAY(SELECT x::real FROM jsonb_array_elements_text(e->'open'->(c || '.weight')->(n::int - 1)) AS x)
                        OR commercial IS DISTINCT FROM
                        ARRAY(SELECT x::real FROM jsonb_array_elements_text(e->'commercial'->(c || '.weight')->(n::int - 1)) AS x))
           AS vector_mismatches,
       count(*) = jsonb_array_length(e->'open'->(c || '.weight')) AS every_row
FROM emb_model, unnest(ARRAY['user_id', 'movie']) AS c,
     mixrec_embeddings(m, c, true) WITH ORDINALITY AS t(value, open, commercial, n)
GROUP BY c, e ORDER BY c;

-- By name: the active version, or the one given, through the registry
SELECT (SELECT array_agg(t ORDER BY t::text) FROM mixrec_embeddings('emb_model', 'user_id') AS t) =
       (SELECT array_agg(t ORDER BY t::text) FROM emb_model, mixrec_embeddings(m, 'user_id') AS t) AS by_name_same,
       (SELECT count(*) FROM mixrec_embeddings('emb_model', 'movie', 1, true)) AS version_1_rows;

-- mixrec_similar: the k entries nearest by cosine, best first, never the
-- value itself; checked against the cosines computed here from
-- mixrec_embeddings (blend: alpha times the open cosine plus 1 - alpha
-- times the commercial one)
CREATE TABLE emb_vectors AS
SELECT c AS column_name, value, open, commercial
FROM emb_model, unnest(ARRAY['user_id', 'movie']) AS c, mixrec_embeddings(m, c);
CREATE FUNCTION emb_cosine(a real[], b real[]) RETURNS float8 LANGUAGE sql IMMUTABLE AS $$
	SELECT sum(x::float8 * y::float8) / sqrt(sum(x::float8 * x::float8)) / sqrt(sum(y::float8 * y::float8))
	FROM unnest(a, b) AS t(x, y)
$$;
CREATE TABLE emb_expected AS
SELECT q.column_name, q.value AS query, o.value, mode,
       CASE mode WHEN 'open' THEN emb_cosine(q.open, o.open)
                 WHEN 'commercial' THEN emb_cosine(q.commercial, o.commercial)
                 ELSE (mixrec_info(m)->>'alpha')::float8 * emb_cosine(q.open, o.open) +
                      (1 - (mixrec_info(m)->>'alpha')::float8) * emb_cosine(q.commercial, o.commercial) END AS similarity
FROM emb_vectors q JOIN emb_vectors o ON o.column_name = q.column_name AND o.value <> q.value,
     emb_model, unnest(ARRAY['blend', 'open', 'commercial']) AS mode
WHERE q.value IN ('7', '42', 'm3', 'm11');
CREATE TABLE emb_similar AS
SELECT q.column_name, q.query, mode, s.value, s.similarity, s.n
FROM (SELECT DISTINCT column_name, query FROM emb_expected) AS q,
     unnest(ARRAY['blend', 'open', 'commercial']) AS mode, emb_model,
     mixrec_similar(m, q.column_name, q.query, 5, mode) WITH ORDINALITY AS s(value, similarity, n);
SELECT column_name, query, mode, count(*) AS returned,
       count(*) FILTER (WHERE abs(s.similarity - x.similarity) > 1e-6 OR x.similarity IS NULL) AS mismatches,
       bool_and(s.value <> query) AS never_itself,
       bool_and(s.similarity <= coalesce((SELECT p.similarity FROM emb_similar p
                                          WHERE p.column_name = s.column_name AND p.query = s.query
                                            AND p.mode = s.mode AND p.n = s.n - 1), 'Infinity')) AS ordered,
       min(s.similarity) >= (SELECT max(y.similarity) FROM emb_expected y
                             WHERE y.column_name = s.column_name AND y.query = s.query AND y.mode = s.mode
                               AND y.value NOT IN (SELECT t.value FROM emb_similar t
                                                   WHERE t.column_name = s.column_name AND t.query = s.query
                                                     AND t.mode = s.mode)) - 1e-6 AS the_best
FROM emb_similar s LEFT JOIN emb_expected x USING (column_name, query, mode, value)
GROUP BY column_name, query, mode ORDER BY column_name, query, mode;
-- Every other entry when k is larger than the vocabulary; by name the same
SELECT count(*) AS all_others FROM emb_model, mixrec_similar(m, 'movie', 'm3', 10000, 'open');
SELECT array_agg(value ORDER BY n) = (SELECT array_agg(value ORDER BY n) FROM emb_similar
                                      WHERE column_name = 'user_id' AND query = '42' AND mode = 'blend') AS by_name_same
FROM mixrec_similar('emb_model', 'user_id', '42', 5) WITH ORDINALITY AS s(value, similarity, n);
SELECT value, round(similarity::numeric, 6) AS similarity FROM mixrec_similar('emb_model', 'movie', 'm11', k => 3, mode => 'open', version => 1);

-- Errors: no such column, a column that is not embedded, a model without
-- embedded columns, NULLs, an unknown model or version
SELECT * FROM emb_model, mixrec_embeddings(m, 'nope');
SELECT * FROM emb_model, mixrec_embeddings(m, 'genre');
SELECT * FROM emb_model, mixrec_embeddings(m, 'x');
SELECT * FROM emb_model, mixrec_embeddings(m, 'liked');
SELECT * FROM mixrec_embeddings(mixrec_init(2), 'user_id');
SELECT * FROM mixrec_embeddings(mixrec_prepare('emb_rows', 'genre, x', 'liked', hidden => '{2}'), 'genre');
SELECT * FROM mixrec_embeddings('emb_model', NULL);
SELECT * FROM mixrec_embeddings(NULL, 'user_id');
SELECT * FROM mixrec_embeddings('emb_model', 'user_id', include_special => NULL);
SELECT * FROM mixrec_embeddings('no_such_model', 'user_id');
SELECT * FROM mixrec_embeddings('emb_model', 'user_id', 2);
SELECT * FROM mixrec_embeddings('emb_model', 'user_id', 0);
SELECT count(*) AS strict_null FROM mixrec_embeddings(NULL::bytea, 'user_id');
-- mixrec_similar: a value out of vocabulary (never seen, NULL, or too
-- long), k out of range, an unknown mode
SELECT * FROM mixrec_similar('emb_model', 'user_id', '100000');
SELECT * FROM mixrec_similar('emb_model', 'movie', repeat('é', 100));
SELECT * FROM mixrec_similar('emb_model', 'user_id', NULL);
SELECT * FROM mixrec_similar('emb_model', 'user_id', '42', 0);
SELECT * FROM mixrec_similar('emb_model', 'user_id', '42', 10001);
SELECT * FROM mixrec_similar('emb_model', 'user_id', '42', NULL);
SELECT * FROM mixrec_similar('emb_model', 'user_id', '42', mode => 'soup');
SELECT * FROM mixrec_similar('emb_model', 'user_id', '42', mode => NULL);
SELECT * FROM mixrec_similar('emb_model', 'genre', 'drama');
SELECT * FROM mixrec_similar(mixrec_init(2), 'user_id', '42');
SELECT * FROM emb_model, mixrec_similar(m, 'user_id', '42', -1);

-- By name, the registry decides who reads a model, as for mixrec_score
CREATE ROLE regress_mixrec_emb_reader;
SET ROLE regress_mixrec_emb_reader;
SELECT mixrec_score('emb_model', ROW(7, 'm3', 'drama', 0.5::float8));
SELECT count(*) FROM mixrec_embeddings('emb_model', 'user_id');
SELECT count(*) FROM mixrec_similar('emb_model', 'user_id', '42');
RESET ROLE;
SELECT mixrec_set_reader('emb_model', 'regress_mixrec_emb_reader') IS NOT NULL AS reader_set;
SET ROLE regress_mixrec_emb_reader;
SELECT count(*) AS reader_rows FROM mixrec_embeddings('emb_model', 'user_id');
SELECT count(*) AS reader_similar FROM mixrec_similar('emb_model', 'user_id', '42');
RESET ROLE;

-- Hostile values of embedded columns score as the out-of-vocabulary row,
-- exactly as an unseen id does: negative or extreme integers, an empty, a
-- differently cased or an overlong text (longer than any vocabulary entry
-- may be); a NULL scores with the NULL row
CREATE TABLE emb_hostile AS
SELECT r.user_id, r.movie, mixrec_transform(m, r) AS inputs, mixrec_score(m, r) AS score,
       mixrec_score(m, ROW(100000, 'zzz', 'drama', 0.5::float8)) AS unseen_score,
       (e->'transform'->'columns'->0->>'position')::int + 1 AS user_at,
       (e->'transform'->'columns'->1->>'position')::int + 1 AS movie_at,
       jsonb_array_length(e->'transform'->'columns'->0->'vocabulary') AS users,
       jsonb_array_length(e->'transform'->'columns'->1->'vocabulary') AS movies
FROM emb_model, (SELECT v.*, 'drama' AS genre, 0.5::float8 AS x
                 FROM (VALUES (-1, ''), (2147483647, 'M3'), (-2147483648, repeat('m', 2000)),
                              (100001, 'm3 '), (NULL, 'zzz'), (-1, NULL), (NULL, NULL)) AS v(user_id, movie)) AS r;
SELECT user_id, left(movie, 5) AS movie, inputs[user_at] AS user_row, inputs[movie_at] AS movie_row,
       CASE WHEN user_id IS NULL THEN inputs[user_at] = users + 1 ELSE inputs[user_at] = users END
           AND CASE WHEN movie IS NULL THEN inputs[movie_at] = movies + 1 ELSE inputs[movie_at] = movies END
           AS oov_or_null_row,
       (score = unseen_score) = (user_id IS NOT NULL AND movie IS NOT NULL) AS scores_as_unseen_unless_null
FROM emb_hostile ORDER BY user_id, movie;
-- An array of inputs reaches no model of typed columns, embedded or not:
-- whatever an embedded column's input holds (NaN, -1, 1e30, 2.5), the
-- array is refused before it is read (the core's own guard against such
-- row numbers is in test/core)
SELECT mixrec_score(m, array_fill(0, ARRAY[user_at - 1]) || forged::real || array_fill(0, ARRAY[cardinality(inputs) - user_at]))
FROM emb_model, (SELECT * FROM emb_hostile LIMIT 1) AS h, (VALUES ('NaN')) AS f(forged);
SELECT mixrec_score(m, array_fill(0, ARRAY[user_at - 1]) || forged::real || array_fill(0, ARRAY[cardinality(inputs) - user_at]))
FROM emb_model, (SELECT * FROM emb_hostile LIMIT 1) AS h, (VALUES ('-1')) AS f(forged);
SELECT mixrec_score(m, array_fill(0, ARRAY[user_at - 1]) || forged::real || array_fill(0, ARRAY[cardinality(inputs) - user_at]))
FROM emb_model, (SELECT * FROM emb_hostile LIMIT 1) AS h, (VALUES ('1e30')) AS f(forged);
SELECT mixrec_score(m, array_fill(0, ARRAY[user_at - 1]) || forged::real || array_fill(0, ARRAY[cardinality(inputs) - user_at]))
FROM emb_model, (SELECT * FROM emb_hostile LIMIT 1) AS h, (VALUES ('2.5')) AS f(forged);
SELECT mixrec_score_all(m, inputs::float8[]) FROM emb_model, (SELECT * FROM emb_hostile LIMIT 1) AS h;

-- The embed option's inputs: a column that is not a feature of the source
-- (or is the label), a column that is not categorical, a dimension out of
-- range or not a number, not an object
SELECT * FROM mixrec_train('emb_bad', 'emb_rows', 'user_id, movie, x', 'liked', embed => '{"nope": 4}');
SELECT * FROM mixrec_train('emb_bad', 'emb_rows', 'user_id, movie, x', 'liked', embed => '{"liked": 4}');
SELECT * FROM mixrec_train('emb_bad', 'emb_rows', 'user_id, movie, x', 'liked', embed => '{"x": 4}');
SELECT * FROM mixrec_train('emb_bad', 'emb_rows', 'user_id, seen', 'liked', embed => '{"seen": 4}');
SELECT * FROM mixrec_train('emb_bad', 'emb_rows', 'user_id, movie', 'liked', embed => '{"movie": 0}');
SELECT * FROM mixrec_train('emb_bad', 'emb_rows', 'user_id, movie', 'liked', embed => '{"movie": 1025}');
SELECT * FROM mixrec_train('emb_bad', 'emb_rows', 'user_id, movie', 'liked', embed => '{"movie": "16"}');
SELECT * FROM mixrec_train('emb_bad', 'emb_rows', 'user_id, movie', 'liked', embed => '{"movie": 2.5}');
SELECT * FROM mixrec_train('emb_bad', 'emb_rows', 'user_id, movie', 'liked', embed => '[16]');
-- an integer id is categorical once embedded, unless transform says otherwise
SELECT * FROM mixrec_train('emb_bad', 'emb_rows', 'user_id, movie', 'liked', embed => '{"user_id": 4}',
	transform => '{"user_id": "numeric"}');
-- with array features; continuing a model, whose columns cannot change
SELECT * FROM mixrec_train('emb_bad', 'emb_rows', 'ARRAY[x, user_id]', 'liked', embed => '{"user_id": 4}');
SELECT * FROM mixrec_train('emb_model', 'emb_rows', 'user_id, movie, genre, x', 'liked', warm_start => true,
	embed => '{"user_id": 8}');
SELECT * FROM mixrec_train('emb_bad', 'emb_rows', 'user_id, movie, genre, x', 'liked',
	initial_model => (SELECT m FROM emb_model), embed => '{"movie": 3}');
-- an embedded column's vocabulary (100,000 values by default) counted within
-- the memory budget, refused up front with the sizes
SET mixrec.train_memory = '64MB';
SELECT * FROM mixrec_train('emb_bad', 'emb_rows', 'user_id, movie', 'liked', embed => '{"user_id": 16}');
SELECT count(*) AS trains_with_a_smaller_top_k FROM mixrec_train('emb_bad', 'emb_rows', 'user_id, movie', 'liked',
	embed => '{"user_id": 16}', transform => '{"user_id": {"top_k": 10000}}', epochs => 1);
RESET mixrec.train_memory;
SELECT count(*) AS nothing_stored FROM mixrec_models WHERE name = 'emb_bad' AND version > 1;
-- tables beyond what a model may hold (64 Mi numbers per model): about 72,000
-- training ids of 1,024 dimensions, refused once the vocabulary is known
SET mixrec.train_memory = '1GB';
CREATE TEMP TABLE emb_many_ids AS SELECT i AS u, (i % 2)::float8 AS y FROM generate_series(1, 80000) AS i;
SELECT * FROM mixrec_train('emb_bad', 'emb_many_ids', label => 'y', embed => '{"u": 1024}',
	transform => '{"u": {"min_frequency": 1}}', epochs => 1);
RESET mixrec.train_memory;

SELECT mixrec_drop('emb_model');
SELECT mixrec_drop('emb_bad');
DROP ROLE regress_mixrec_emb_reader;
DROP TABLE emb_rows, emb_model, emb_vectors, emb_expected, emb_similar, emb_hostile;
DROP FUNCTION emb_cosine(real[], real[]);
