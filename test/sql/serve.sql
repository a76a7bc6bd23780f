-- mixrec_predict and mixrec_recommend: scoring in blocks, top k per user.
SET client_min_messages = warning;
\set SHOW_CONTEXT never

-- Users with 2 features, items with 3; a model takes user || item (5)
CREATE TABLE serve_users AS
SELECT u AS user_id, ARRAY[sin(u), cos(u)]::real[] AS features FROM generate_series(1, 20) AS u;
CREATE TABLE serve_items AS
SELECT i AS item_id, ARRAY[sin(i * 0.3), cos(i * 0.7), (i % 5) - 2]::real[] AS features
FROM generate_series(1, 2500) AS i;
CREATE TABLE serve_seen AS
SELECT u.user_id, i.item_id FROM serve_users u, serve_items i WHERE (u.user_id + i.item_id) % 3 = 0;
CREATE INDEX ON serve_seen (user_id, item_id);
CREATE TABLE serve_pairs AS
SELECT u.user_id, i.item_id, u.features || i.features AS features,
       sin(u.user_id) * sin(i.item_id * 0.3) + cos(i.item_id * 0.7) > 0.3 AS liked
FROM serve_users u, serve_items i WHERE (u.user_id * 7 + i.item_id) % 5 = 0;

SELECT model FROM mixrec_train('serve', 'serve_pairs', 'features', 'liked', hidden => '{16}', epochs => 3,
                               learning_rate => 0.01);

-- mixrec_predict: every row, the same numbers as per-row mixrec_score, to
-- float32 rounding (one row is a matrix-vector product that sums in another
-- order than a block's matrix product)
SELECT count(*) AS rows,
       bool_and(abs(p.score - mixrec_score('serve', s.features)) < 1e-6) AS blend_matches,
       bool_and(abs(p.score_open - mixrec_score('serve', s.features, 'open')) < 1e-6) AS open_matches,
       bool_and(abs(p.score_commercial - mixrec_score('serve', s.features, 'commercial')) < 1e-6) AS commercial_matches
FROM mixrec_predict('serve', 'serve_pairs', 'user_id || '':'' || item_id', 'features') AS p
JOIN serve_pairs s ON p.id = s.user_id || ':' || s.item_id;
SELECT bool_and(abs(p.score - mixrec_score('serve', s.features, 'soup', 0.3)) < 1e-6) AS soup_with_alpha
FROM mixrec_predict('serve', 'SELECT * FROM serve_pairs WHERE item_id < 500', 'user_id || '':'' || item_id',
                    'features', 'soup', 0.3) AS p
JOIN serve_pairs s ON p.id = s.user_id || ':' || s.item_id;

-- mixrec_recommend: the same top 10 as the plain SQL of a LATERAL join
-- (scores to float32 rounding, see above)
CREATE TEMP TABLE by_function AS
SELECT * FROM mixrec_recommend('serve', 'serve_users', 'serve_items', 'user_id', 'item_id',
                               'features', 'features', k => 10, exclude => 'serve_seen');
CREATE TEMP TABLE by_sql AS
SELECT u.user_id::text, top.item_id::text,
       row_number() OVER (PARTITION BY u.user_id ORDER BY top.score DESC, top.item_id)::int AS rank,
       top.score
FROM serve_users u
CROSS JOIN LATERAL (
	SELECT i.item_id, mixrec_score('serve', u.features || i.features) AS score
	FROM serve_items i
	WHERE NOT EXISTS (SELECT FROM serve_seen s WHERE s.user_id = u.user_id AND s.item_id = i.item_id)
	ORDER BY score DESC, i.item_id
	LIMIT 10) AS top;
SELECT (SELECT count(*) FROM by_function) AS rows,
       (SELECT count(DISTINCT user_id) FROM by_function) AS users,
       NOT EXISTS (SELECT user_id, item_id, rank FROM by_function EXCEPT SELECT user_id, item_id, rank FROM by_sql)
       AND NOT EXISTS (SELECT user_id, item_id, rank FROM by_sql EXCEPT SELECT user_id, item_id, rank FROM by_function)
       AS same_as_lateral_join,
       NOT EXISTS (SELECT FROM by_function f JOIN serve_seen s
                   ON s.user_id::text = f.user_id AND s.item_id::text = f.item_id) AS excluded_left_out,
       (SELECT bool_and(abs(f.score - q.score) < 1e-6) FROM by_function f JOIN by_sql q USING (user_id, item_id)) AS same_scores;
-- Six digits: the last ones vary with the OpenBLAS version
SELECT user_id, item_id, rank, round(score::numeric, 6) AS score FROM by_function WHERE user_id = '1' ORDER BY rank LIMIT 3;

-- Without exclude, each user's best items come back, seen or not
SELECT count(*) AS rows FROM mixrec_recommend('serve', 'serve_users', 'serve_items', 'user_id', 'item_id',
                                              'features', 'features', k => 3);

-- A view a BI tool can query: each user's top 10 under the active model
CREATE VIEW serve_recommendations AS
SELECT * FROM mixrec_recommend('serve', 'serve_users', 'serve_items', 'user_id', 'item_id',
                               'features', 'features', k => 10, exclude => 'serve_seen');
SELECT count(*) AS rows, min(rank) AS first_rank, max(rank) AS last_rank FROM serve_recommendations;

-- Bad input
SELECT * FROM mixrec_predict('nope', 'serve_pairs', 'item_id', 'features');
-- The row an error is about is in its context
\set SHOW_CONTEXT errors
SELECT * FROM mixrec_predict('serve', 'serve_pairs', 'item_id', 'features[1:4]');
\set SHOW_CONTEXT never
SELECT * FROM mixrec_predict('serve', 'serve_pairs', 'item_id', 'features', 'max');
SELECT * FROM mixrec_predict('serve', 'serve_pairs', 'item_id', 'features', alpha => 2);
SELECT * FROM mixrec_predict('serve', 'serve_pairs', 'item_id', 'features', version => 9);
SELECT * FROM mixrec_predict('serve', 'serve_pairs', 'item_id', '1) FROM serve_pairs; DROP TABLE serve_pairs; SELECT (features');
SELECT * FROM mixrec_predict('serve', 'no_such_table', 'item_id', 'features');
SELECT * FROM mixrec_predict('serve', NULL, 'item_id', 'features');
SELECT * FROM mixrec_recommend('serve', 'serve_users', 'serve_items', 'user_id', 'item_id', 'features', 'features', k => 0);
SELECT * FROM mixrec_recommend('serve', 'serve_users', 'serve_items', 'user_id', 'item_id', 'features', 'features', k => 1000000);
SELECT * FROM mixrec_recommend('serve', 'serve_users', 'serve_items', 'user_id', 'item_id', 'features', 'features', k => NULL);
-- The row an error is about is in its context
\set SHOW_CONTEXT errors
SELECT * FROM mixrec_recommend('serve', 'serve_users', 'serve_items', 'user_id', 'item_id', 'features', 'features[1:2]');
SELECT * FROM mixrec_recommend('serve', 'serve_users', 'serve_items', 'user_id', 'item_id', 'features || features', 'features');
\set SHOW_CONTEXT never
SELECT * FROM mixrec_recommend('serve', 'serve_users', 'serve_items', 'user_id', 'item_id', 'features', 'features',
                               exclude => 'SELECT user_id FROM serve_seen');
SELECT * FROM mixrec_recommend('serve', 'serve_users', 'serve_items', 'user_id', 'item_id', 'features', 'features',
                               exclude => 'serve_seen; DROP TABLE serve_seen');
SELECT count(*) > 0 AS tables_intact FROM serve_pairs, serve_seen LIMIT 1;
