-- mixrec_evaluate_ranking: a model's top k for each user's new items in
-- test, against the most popular items of train.
SET client_min_messages = warning;
\set SHOW_CONTEXT never
SET max_parallel_workers_per_gather = 0;

-- 1. By hand.  A model whose score is the item's feature: no hidden layer,
-- weight 0 on the user's input and 1 on the item's, so it ranks a, b, c, d,
-- e, f.  Train counts: a 2, f 2, b 1, c 1, e 1, d 0, so popularity ranks
-- a, f, b, c, e, d (ties by id).
INSERT INTO mixrec_models (name, version, weights, active)
VALUES ('rank_by_feature', 1, mixrec_import('{"format":"mixrec","version":1,"alpha":0.5,"input_dim":2,"hidden":[],
  "output_dim":1,"open":{"0.weight":[[0,1]],"0.bias":[0]},"commercial":{"0.weight":[[0,1]],"0.bias":[0]}}'), true);
CREATE TABLE tiny_items (item text, f real[]);
INSERT INTO tiny_items VALUES ('a', '{6}'), ('b', '{5}'), ('c', '{4}'), ('d', '{3}'), ('e', '{2}'), ('f', '{1}');
CREATE TABLE tiny_train (customer text, item text);
INSERT INTO tiny_train VALUES ('u1', 'a'), ('u1', 'b'), ('u2', 'a'), ('u2', 'c'), ('u3', 'f'), ('u4', 'f'), ('u4', 'e');
-- The user's side of a candidate (here one input the model ignores) comes from test
CREATE TABLE tiny_test (customer text, item text, f real[]);
INSERT INTO tiny_test VALUES
	('u1', 'c', '{1}'), ('u1', 'd', '{1}'), ('u1', 'a', '{1}'), ('u1', 'z', '{1}'),
	('u2', 'f', '{1}'), ('u2', 'd', '{1}'),
	('u3', 'f', '{1}'),
	('u5', 'e', '{1}'), ('u5', 'b', '{1}'), ('u5', 'b', '{1}'),
	(NULL, 'a', '{1}');
-- Relevant: u1 {c, d} (a is in its train, z in no catalogue); u2 {f, d};
-- u3 none (f is in its train): left out, with a NOTICE; u5 {b, e} (b
-- twice in test counts once); the row without a user is left out.
--
-- k = 2, candidates = the catalogue less the user's train items:
--   model       u1: c d (2 hits)  u2: b d (d at 2)  u5: a b (b at 2)
--   popularity  u1: f c (c at 2)  u2: f b (f at 1)  u5: a f (none)
-- Every user has 2 relevant items, so the ideal DCG is 1 + 1/log2(3) and
--   a hit at 1 and 2: ndcg 1;  at 2 alone: (1/log2(3)) / (1 + 1/log2(3)) = 0.386853;
--   at 1 alone: 1 / (1 + 1/log2(3)) = 0.613147
--   model:      recall (1 + 1/2 + 1/2) / 3 = 2/3, ndcg (1 + 0.386853 + 0.386853) / 3 = 0.591235,
--               hit rate 3/3, coverage |{a, b, c, d}| / 6 = 2/3
--   popularity: recall (1/2 + 1/2 + 0) / 3 = 1/3, ndcg (0.386853 + 0.613147 + 0) / 3 = 1/3,
--               hit rate 2/3, coverage |{a, b, c, f}| / 6 = 2/3
SET client_min_messages = notice;
CREATE TEMP TABLE tiny_result AS
SELECT * FROM mixrec_evaluate_ranking('rank_by_feature', 'tiny_train', 'tiny_test', 'customer', 'item',
                                      'tiny_items', k => 2, user_features => 'f', item_features => 'f');
SET client_min_messages = warning;
SELECT metric, round(model::numeric, 6) AS model, round(popularity::numeric, 6) AS popularity FROM tiny_result;
SELECT bool_and(CASE metric
                    WHEN 'users' THEN model = 3 AND popularity = 3
                    WHEN 'recall@2' THEN abs(model - 2.0 / 3) < 1e-15 AND abs(popularity - 1.0 / 3) < 1e-15
                    WHEN 'ndcg@2' THEN abs(model - (1 + 2 * (1 / log(2, 3)) / (1 + 1 / log(2, 3))) / 3) < 1e-15
                                       AND abs(popularity - 1.0 / 3) < 1e-15
                    WHEN 'hit_rate@2' THEN model = 1 AND abs(popularity - 2.0 / 3) < 1e-15
                    WHEN 'coverage@2' THEN abs(model - 4.0 / 6) < 1e-15 AND abs(popularity - 4.0 / 6) < 1e-15
                END) AND count(*) = 5 AS as_derived
FROM tiny_result;
-- The model's column is mixrec_recommend's top k, excluding the train pairs
SELECT user_id, string_agg(item_id, ' ' ORDER BY rank) AS top_2
FROM mixrec_recommend('rank_by_feature', 'SELECT DISTINCT customer, f FROM tiny_test WHERE customer IS NOT NULL',
                      'tiny_items', 'customer', 'item', 'f', 'f', k => 2, exclude => 'tiny_train')
WHERE user_id IN ('u1', 'u2', 'u5') GROUP BY user_id ORDER BY user_id;
-- k larger than the candidates: every candidate is ranked, and the ideal
-- DCG is over min(k, |relevant|) ranks.  For u1 alone, the model's two hits
-- at ranks 1 and 2 of its 4 candidates are perfect; popularity ranks f c e
-- d, hits at 2 and 4: (1/log2(3) + 1/log2(5)) / (1 + 1/log2(3)) = 0.650921
SELECT metric, round(model::numeric, 6) AS model, round(popularity::numeric, 6) AS popularity
FROM mixrec_evaluate_ranking('rank_by_feature', 'tiny_train', 'SELECT * FROM tiny_test WHERE customer = ''u1''',
                             'customer', 'item', 'tiny_items', k => 10, user_features => 'f', item_features => 'f');

-- 2. Against plain SQL, on 40 users and 50 items with a typed model: the
-- model's top 10 from mixrec_recommend, popularity's from a window
-- function, and the metrics from their join with the test pairs
CREATE TABLE rk_users AS
SELECT u AS user_id, (u % 7)::float8 AS u_x, (ARRAY['x', 'y', 'z'])[1 + u % 3] AS u_g
FROM generate_series(1, 40) AS u;
CREATE TABLE rk_items AS
SELECT i AS item_id, sin(i)::float8 AS i_x, (ARRAY['p', 'q'])[1 + i % 2] AS i_g
FROM generate_series(1, 50) AS i;
CREATE TABLE rk_interactions AS
SELECT u.user_id, i.item_id, abs(hashint4(u.user_id * 7 + i.item_id * 13)) % 4 = 0 AS later
FROM rk_users u, rk_items i
WHERE abs(hashint4(u.user_id * 1000 + i.item_id)) % 100 < 40 - 2 * (i.item_id % 20) + (u.user_id % 3) * i.item_id % 7;
CREATE TABLE rk_train AS SELECT user_id, item_id FROM rk_interactions WHERE NOT later;
-- Some test pairs are in train too (bought again): not relevant
CREATE TABLE rk_test AS
SELECT t.user_id, t.item_id, u.u_x, u.u_g
FROM rk_interactions t JOIN rk_users u USING (user_id)
WHERE t.later OR (t.user_id + t.item_id) % 10 = 0;
CREATE TABLE rk_pairs AS
SELECT u.*, i.*, EXISTS (SELECT FROM rk_train r WHERE r.user_id = u.user_id AND r.item_id = i.item_id) AS bought
FROM rk_users u, rk_items i;
SELECT model FROM mixrec_train('rk_typed', 'rk_pairs', label => 'bought', exclude => ARRAY['user_id', 'item_id'],
                               hidden => '{8}', epochs => 5, learning_rate => 0.01);
-- Items 49 and 50 are not in the catalogue, so not relevant either
CREATE TABLE rk_catalogue AS SELECT * FROM rk_items WHERE item_id <= 48;
CREATE TABLE rk_relevant AS
SELECT DISTINCT t.user_id::text AS user_id, t.item_id::text AS item_id
FROM rk_test t JOIN rk_catalogue c USING (item_id)
WHERE NOT EXISTS (SELECT FROM rk_train r WHERE r.user_id = t.user_id AND r.item_id = t.item_id);
CREATE TABLE rk_top AS
SELECT 'model' AS ranker, user_id, item_id, rank
FROM mixrec_recommend('rk_typed', 'SELECT DISTINCT user_id, u_x, u_g FROM rk_test', 'rk_catalogue',
                      'user_id', 'item_id', k => 10, exclude => 'rk_train')
WHERE user_id IN (SELECT user_id FROM rk_relevant)
UNION ALL
SELECT 'popularity', user_id, item_id, rank
FROM (SELECT u.user_id, c.item_id::text AS item_id,
             row_number() OVER (PARTITION BY u.user_id
                                ORDER BY c.train_rows DESC, c.item_id::text COLLATE "C") AS rank
      FROM (SELECT DISTINCT user_id FROM rk_relevant) AS u,
           (SELECT c.item_id, count(r.item_id) AS train_rows
            FROM rk_catalogue c LEFT JOIN rk_train r USING (item_id) GROUP BY c.item_id) AS c
      WHERE NOT EXISTS (SELECT FROM rk_train r WHERE r.user_id::text = u.user_id AND r.item_id = c.item_id)) AS ranked
WHERE rank <= 10;
CREATE TABLE rk_per_user AS
SELECT t.ranker, u.user_id, u.relevant, count(r.item_id) AS hits,
       coalesce(sum(1 / (ln(t.rank + 1.0::float8) / ln(2.0::float8))) FILTER (WHERE r.item_id IS NOT NULL), 0) AS dcg,
       (SELECT sum(1 / (ln(i + 1.0::float8) / ln(2.0::float8)))
        FROM generate_series(1, least(10, u.relevant)) AS i) AS ideal
FROM (SELECT user_id, count(*) AS relevant FROM rk_relevant GROUP BY user_id) AS u
JOIN rk_top t USING (user_id)
LEFT JOIN rk_relevant r ON r.user_id = t.user_id AND r.item_id = t.item_id
GROUP BY t.ranker, u.user_id, u.relevant;
CREATE TABLE rk_expected AS
SELECT ranker, 'users' AS metric, count(*)::float8 AS value FROM rk_per_user GROUP BY ranker
UNION ALL SELECT ranker, 'recall@10', avg(hits::float8 / relevant) FROM rk_per_user GROUP BY ranker
UNION ALL SELECT ranker, 'ndcg@10', avg(dcg / ideal) FROM rk_per_user GROUP BY ranker
UNION ALL SELECT ranker, 'hit_rate@10', avg((hits > 0)::int::float8) FROM rk_per_user GROUP BY ranker
UNION ALL SELECT ranker, 'coverage@10', count(DISTINCT item_id)::float8 / (SELECT count(*) FROM rk_catalogue)
          FROM rk_top GROUP BY ranker;
-- The data are not degenerate: users left out, popularity ties, hits and misses
SELECT (SELECT count(DISTINCT user_id) FROM rk_test) AS test_users,
       (SELECT count(DISTINCT user_id) FROM rk_relevant) AS users_with_relevant,
       (SELECT count(*) FROM rk_test t JOIN rk_train r USING (user_id, item_id)) AS test_pairs_in_train,
       (SELECT count(*) FROM (SELECT item_id FROM rk_train GROUP BY item_id HAVING count(*) = 12) AS tied) AS items_tied_at_12,
       (SELECT min(value) > 0 AND max(value) < 1 FROM rk_expected WHERE metric LIKE 'recall%') AS recall_strictly_between;
CREATE TABLE rk_result AS
SELECT * FROM mixrec_evaluate_ranking('rk_typed', 'rk_train', 'rk_test', 'user_id', 'item_id', 'rk_catalogue');
SELECT e.metric,
       abs(e.model - m.value) <= 1e-12 AS model_matches_sql,
       abs(e.popularity - p.value) <= 1e-12 AS popularity_matches_sql
FROM rk_result e
JOIN rk_expected m ON m.metric = e.metric AND m.ranker = 'model'
JOIN rk_expected p ON p.metric = e.metric AND p.ranker = 'popularity';
SELECT count(*) AS rows FROM rk_result;
-- Another mode ranks by another score, through the same code
SELECT m.model <> b.model AS open_differs_from_blend
FROM mixrec_evaluate_ranking('rk_typed', 'rk_train', 'rk_test', 'user_id', 'item_id', 'rk_catalogue',
                             mode => 'open') AS m
JOIN rk_result b USING (metric) WHERE metric = 'ndcg@10';

-- A typed model of the item's id as a category: test's item_id column is
-- its item's, never the user's, so the column comes from items
SELECT model FROM mixrec_train('rk_typed_id', 'SELECT u_g, item_id::text AS item_id, bought FROM rk_pairs',
                               label => 'bought', hidden => '{4}', epochs => 2);
SELECT e.metric, abs(e.model - x.value) <= 1e-12 AS model_matches_recommend
FROM mixrec_evaluate_ranking('rk_typed_id', 'rk_train', 'rk_test', 'user_id', 'item_id',
                             'SELECT item_id::text AS item_id FROM rk_catalogue') AS e,
     LATERAL (SELECT count(DISTINCT item_id)::float8 / 48 AS value
              FROM mixrec_recommend('rk_typed_id', 'SELECT DISTINCT user_id, u_g FROM rk_test',
                                    'SELECT item_id::text AS item_id FROM rk_catalogue', 'user_id', 'item_id',
                                    k => 10, exclude => 'rk_train')
              WHERE user_id IN (SELECT user_id FROM rk_relevant)) AS x
WHERE e.metric = 'coverage@10';

-- An empty test: users 0, the averages NULL, coverage 0, and a NOTICE
SET client_min_messages = notice;
SELECT * FROM mixrec_evaluate_ranking('rank_by_feature', 'tiny_train', 'SELECT * FROM tiny_test WHERE false',
                                      'customer', 'item', 'tiny_items', user_features => 'f', item_features => 'f');
-- Test users with no new item: the same
SELECT * FROM mixrec_evaluate_ranking('rank_by_feature', 'tiny_train', 'SELECT * FROM tiny_test WHERE customer = ''u3''',
                                      'customer', 'item', 'tiny_items', user_features => 'f', item_features => 'f');
SET client_min_messages = warning;

-- 3. Bad input
-- k
SELECT * FROM mixrec_evaluate_ranking('rank_by_feature', 'tiny_train', 'tiny_test', 'customer', 'item', 'tiny_items', k => 0,
                                      user_features => 'f', item_features => 'f');
SELECT * FROM mixrec_evaluate_ranking('rank_by_feature', 'tiny_train', 'tiny_test', 'customer', 'item', 'tiny_items', k => 10001,
                                      user_features => 'f', item_features => 'f');
SELECT * FROM mixrec_evaluate_ranking('rank_by_feature', 'tiny_train', 'tiny_test', 'customer', 'item', 'tiny_items', k => NULL,
                                      user_features => 'f', item_features => 'f');
-- NULL required arguments
SELECT * FROM mixrec_evaluate_ranking(NULL, 'tiny_train', 'tiny_test', 'customer', 'item', 'tiny_items',
                                      user_features => 'f', item_features => 'f');
SELECT * FROM mixrec_evaluate_ranking('rank_by_feature', NULL, 'tiny_test', 'customer', 'item', 'tiny_items',
                                      user_features => 'f', item_features => 'f');
SELECT * FROM mixrec_evaluate_ranking('rank_by_feature', 'tiny_train', NULL, 'customer', 'item', 'tiny_items',
                                      user_features => 'f', item_features => 'f');
SELECT * FROM mixrec_evaluate_ranking('rank_by_feature', 'tiny_train', 'tiny_test', NULL, 'item', 'tiny_items',
                                      user_features => 'f', item_features => 'f');
SELECT * FROM mixrec_evaluate_ranking('rank_by_feature', 'tiny_train', 'tiny_test', 'customer', NULL, 'tiny_items',
                                      user_features => 'f', item_features => 'f');
SELECT * FROM mixrec_evaluate_ranking('rank_by_feature', 'tiny_train', 'tiny_test', 'customer', 'item', NULL,
                                      user_features => 'f', item_features => 'f');
SELECT * FROM mixrec_evaluate_ranking('rank_by_feature', 'tiny_train', 'tiny_test', 'customer', 'item', 'tiny_items',
                                      user_features => 'f', item_features => 'f', mode => NULL);
-- An array model needs both arrays; a typed model neither
SELECT * FROM mixrec_evaluate_ranking('rank_by_feature', 'tiny_train', 'tiny_test', 'customer', 'item', 'tiny_items',
                                      item_features => 'f');
SELECT * FROM mixrec_evaluate_ranking('rk_typed', 'rk_train', 'rk_test', 'user_id', 'item_id', 'rk_catalogue',
                                      user_features => 'ARRAY[u_x]');
-- A typed model's column that neither test nor items has
SELECT * FROM mixrec_evaluate_ranking('rk_typed', 'rk_train', 'SELECT user_id, item_id, u_x FROM rk_test',
                                      'user_id', 'item_id', 'rk_catalogue');
-- The ids are columns, by name, of train, test and items
SELECT * FROM mixrec_evaluate_ranking('rank_by_feature', 'tiny_train', 'tiny_test', 'customer || 1', 'item', 'tiny_items',
                                      user_features => 'f', item_features => 'f');
SELECT * FROM mixrec_evaluate_ranking('rank_by_feature', 'SELECT customer AS buyer, item FROM tiny_train', 'tiny_test',
                                      'customer', 'item', 'tiny_items', user_features => 'f', item_features => 'f');
SELECT * FROM mixrec_evaluate_ranking('rank_by_feature', 'tiny_train', 'SELECT customer, f FROM tiny_test',
                                      'customer', 'item', 'tiny_items', user_features => 'f', item_features => 'f');
SELECT * FROM mixrec_evaluate_ranking('rank_by_feature', 'tiny_train', 'tiny_test', 'customer', 'item',
                                      'SELECT item AS sku, f FROM tiny_items', user_features => 'f', item_features => 'f');
SELECT * FROM mixrec_evaluate_ranking('rank_by_feature', 'tiny_train', 'tiny_test', '"Customer"', 'item', 'tiny_items',
                                      user_features => 'f', item_features => 'f');
SELECT * FROM mixrec_evaluate_ranking('rank_by_feature', 'SELECT customer, item, item FROM tiny_train', 'tiny_test',
                                      'customer', 'item', 'tiny_items', user_features => 'f', item_features => 'f');
-- An item id twice in the catalogue
SELECT * FROM mixrec_evaluate_ranking('rank_by_feature', 'tiny_train', 'tiny_test', 'customer', 'item',
                                      'SELECT * FROM tiny_items UNION ALL SELECT * FROM tiny_items WHERE item IN (''b'', ''d'')',
                                      user_features => 'f', item_features => 'f');
-- An empty catalogue
SELECT * FROM mixrec_evaluate_ranking('rank_by_feature', 'tiny_train', 'tiny_test', 'customer', 'item',
                                      'SELECT * FROM tiny_items WHERE false', user_features => 'f', item_features => 'f');
-- A user whose test rows disagree on its features
SELECT * FROM mixrec_evaluate_ranking('rank_by_feature', 'tiny_train',
                                      'SELECT customer, item, CASE WHEN item = ''d'' THEN ''{2}'' ELSE f END AS f FROM tiny_test',
                                      'customer', 'item', 'tiny_items', user_features => 'f', item_features => 'f');
-- The row an error is about is in its context
\set SHOW_CONTEXT errors
SELECT * FROM mixrec_evaluate_ranking('rank_by_feature', 'tiny_train', 'tiny_test', 'customer', 'item', 'tiny_items',
                                      user_features => 'f || f', item_features => 'f');
\set SHOW_CONTEXT never
-- Arguments that would run more than one SELECT
SELECT * FROM mixrec_evaluate_ranking('rank_by_feature', 'tiny_train; DROP TABLE tiny_train', 'tiny_test',
                                      'customer', 'item', 'tiny_items', user_features => 'f', item_features => 'f');
SELECT * FROM mixrec_evaluate_ranking('rank_by_feature', 'tiny_train', 'tiny_test', 'customer', 'item', 'tiny_items',
                                      user_features => 'f FROM tiny_test; DROP TABLE tiny_test; SELECT f',
                                      item_features => 'f');
SELECT count(*) > 0 AS tables_intact FROM tiny_train, tiny_test;
-- Mode and version
SELECT * FROM mixrec_evaluate_ranking('rank_by_feature', 'tiny_train', 'tiny_test', 'customer', 'item', 'tiny_items',
                                      user_features => 'f', item_features => 'f', mode => 'max');
SELECT * FROM mixrec_evaluate_ranking('rank_by_feature', 'tiny_train', 'tiny_test', 'customer', 'item', 'tiny_items',
                                      user_features => 'f', item_features => 'f', version => 9);
SELECT metric, model FROM mixrec_evaluate_ranking('rank_by_feature', 'tiny_train', 'tiny_test', 'customer', 'item',
                                                  'tiny_items', 2, 'f', 'f', 'open', 1)
WHERE metric = 'recall@2';
-- A model that does not exist, and one the caller may not read
SELECT * FROM mixrec_evaluate_ranking('nope', 'tiny_train', 'tiny_test', 'customer', 'item', 'tiny_items',
                                      user_features => 'f', item_features => 'f');
CREATE ROLE regress_mixrec_ranking;
GRANT SELECT ON tiny_train, tiny_test, tiny_items TO regress_mixrec_ranking;
SET ROLE regress_mixrec_ranking;
SELECT * FROM mixrec_evaluate_ranking('rank_by_feature', 'tiny_train', 'tiny_test', 'customer', 'item', 'tiny_items',
                                      user_features => 'f', item_features => 'f');
RESET ROLE;
-- The memory budget: the train pairs, and the catalogue's rankings
SET mixrec.train_memory = '1MB';
SELECT * FROM mixrec_evaluate_ranking('rank_by_feature', 'SELECT u::text AS customer, ''a'' AS item FROM generate_series(1, 30000) AS u',
                                      'tiny_test', 'customer', 'item', 'tiny_items', user_features => 'f', item_features => 'f');
SELECT * FROM mixrec_evaluate_ranking('rank_by_feature', 'tiny_train', 'tiny_test', 'customer', 'item',
                                      'SELECT i::text AS item, ARRAY[i]::real[] AS f FROM generate_series(1, 20000) AS i',
                                      user_features => 'f', item_features => 'f');
RESET mixrec.train_memory;
SELECT metric, model FROM mixrec_evaluate_ranking('rank_by_feature', 'SELECT u::text AS customer, ''a'' AS item FROM generate_series(1, 30000) AS u',
                                                  'tiny_test', 'customer', 'item', 'tiny_items', k => 2,
                                                  user_features => 'f', item_features => 'f')
WHERE metric = 'users';

REVOKE ALL ON tiny_train, tiny_test, tiny_items FROM regress_mixrec_ranking;
DROP ROLE regress_mixrec_ranking;
DELETE FROM mixrec_models WHERE name = 'rank_by_feature';
SELECT mixrec_drop('rk_typed') AS dropped, mixrec_drop('rk_typed_id') AS dropped;
DROP TABLE tiny_items, tiny_train, tiny_test, rk_users, rk_items, rk_interactions, rk_train, rk_test, rk_pairs,
	rk_catalogue, rk_relevant, rk_top, rk_per_user, rk_expected, rk_result;
