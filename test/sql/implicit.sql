-- Training from positives only: label => NULL with items and item_id makes
-- every source row a positive, and each positive is joined by negatives
-- drawn from items, in memory and streamed.
-- Progress NOTICEs carry timings, so only warnings show; errors show
-- without their context, except where the context names the row.
SET client_min_messages = warning;
\set SHOW_CONTEXT never
SET max_parallel_workers_per_gather = 0;

-- 41 items of four categories (the last one never liked), 60 users, each
-- of a category; a user likes about two thirds of the items of their own
-- category and nothing else.  The log is the likes joined with the item
-- table: the item's columns come with each like.
CREATE TABLE shop_items AS
SELECT 'i' || i AS item_id, (ARRAY['book', 'film', 'game', 'song'])[1 + i % 4] AS item_cat,
       (i % 7)::float8 AS price
FROM generate_series(1, 41) AS i;
CREATE TABLE shop_users AS
SELECT u AS user_id, (ARRAY['book', 'film', 'game', 'song'])[1 + u % 4] AS user_cat
FROM generate_series(1, 60) AS u;
CREATE TABLE likes AS
SELECT u.user_id, u.user_cat, i.item_id, i.item_cat, i.price
FROM shop_users u JOIN shop_items i ON i.item_cat = u.user_cat
WHERE i.item_id <> 'i41' AND (u.user_id * 7 + ascii(right(i.item_id, 1)) * 13) % 3 <> 0;
SELECT count(*) AS likes, count(DISTINCT item_id) AS liked_items FROM likes;
-- Every (user, item) pair, for scoring
CREATE VIEW pairs AS
SELECT u.user_id, u.user_cat, i.item_id, i.item_cat, i.price, u.user_cat = i.item_cat AS own_category
FROM shop_users u CROSS JOIN shop_items i;

-- In memory and streamed, four negatives per positive by default
SELECT model, version, epochs_run, validation_auc > 0.8 AS learned
FROM mixrec_train('likes_memory', 'likes', exclude => ARRAY['user_id'], items => 'shop_items',
                  item_id => 'item_id', hidden => '{16}', epochs => 20, batch_size => 32,
                  learning_rate => 0.01, method => 'memory');
SELECT model, version, epochs_run, validation_auc > 0.8 AS learned
FROM mixrec_train('likes_stream', 'likes', exclude => ARRAY['user_id'], items => 'shop_items',
                  item_id => 'item_id', hidden => '{16}', epochs => 20, batch_size => 32,
                  learning_rate => 0.01, method => 'stream');

-- What the metrics and the config record: (1 + 4) rows per positive
SELECT name, metrics->>'method' AS method, (metrics->>'positives')::int AS positives,
       (metrics->>'negatives_per_positive')::int AS negatives_per_positive,
       metrics->>'negative_sampling' AS sampling, (metrics->>'catalogue_items')::int AS catalogue_items,
       (metrics->>'items_with_positives')::int AS items_with_positives,
       (metrics->>'rows')::int = 5 * (metrics->>'positives')::int AS five_rows_per_positive,
       (metrics->>'train_rows')::int % 5 = 0 AND (metrics->>'validation_rows')::int % 5 = 0
           AS split_by_positive,
       (metrics->>'train_rows')::int + (metrics->>'validation_rows')::int = (metrics->>'rows')::int
           AS rows_add_up,
       config->>'label' AS label, config->>'items' AS items, config->>'item_id' AS item_id,
       config->'negatives' AS config_negatives, config->>'negative_sampling' AS config_sampling
FROM mixrec_models WHERE name IN ('likes_memory', 'likes_stream') ORDER BY name;
-- Both hold out the same positives (by the row hash) with their negatives
SELECT (SELECT metrics->'validation_rows' FROM mixrec_models WHERE name = 'likes_memory') =
       (SELECT metrics->'validation_rows' FROM mixrec_models WHERE name = 'likes_stream') AS same_split;

-- The model scores the items of a user's own category above the others:
-- for every user, the mean score of own-category items minus the others'
SELECT model, count(*) FILTER (WHERE difference > 0) AS users_ranking_own_category_higher,
       count(*) AS users, avg(difference) > 0.2 AS clear_margin
FROM (SELECT model, user_id,
             avg(score) FILTER (WHERE own_category) - avg(score) FILTER (WHERE NOT own_category) AS difference
      FROM (SELECT 'likes_memory' AS model, user_id, own_category, mixrec_score('likes_memory', p) AS score
            FROM pairs p
            UNION ALL
            SELECT 'likes_stream', user_id, own_category, mixrec_score('likes_stream', p)
            FROM pairs p) AS scored
      GROUP BY model, user_id) AS per_user
GROUP BY model ORDER BY model;
-- mixrec_recommend reads the users' and the items' columns by name: the
-- top 5 of every user are of their own category
SELECT count(*) AS recommended, count(*) FILTER (WHERE i.item_cat = u.user_cat) AS own_category
FROM mixrec_recommend('likes_memory', 'shop_users', 'shop_items', 'user_id', 'item_id', k => 5) r
JOIN shop_users u ON u.user_id::text = r.user_id JOIN shop_items i ON i.item_id = r.item_id;

-- An unshuffled training of an ordered source draws the same negatives in
-- memory and streamed, in the same order: the same model, byte for byte,
-- and the same losses every epoch
SELECT model FROM mixrec_train('ordered_memory', 'SELECT * FROM likes ORDER BY user_id, item_id',
                               exclude => ARRAY['user_id'], items => 'shop_items', item_id => 'item_id',
                               hidden => '{16}', epochs => 3, batch_size => 32, learning_rate => 0.01,
                               shuffle => false, method => 'memory');
SELECT model FROM mixrec_train('ordered_stream', 'SELECT * FROM likes ORDER BY user_id, item_id',
                               exclude => ARRAY['user_id'], items => 'shop_items', item_id => 'item_id',
                               hidden => '{16}', epochs => 3, batch_size => 32, learning_rate => 0.01,
                               shuffle => false, method => 'stream');
SELECT (SELECT md5(weights) FROM mixrec_models WHERE name = 'ordered_memory') =
       (SELECT md5(weights) FROM mixrec_models WHERE name = 'ordered_stream') AS same_weights,
       bool_and(m.train_loss = s.train_loss AND m.validation_loss = s.validation_loss
                AND m.validation_auc_blend = s.validation_auc_blend) AS same_losses,
       count(*) AS epochs
FROM mixrec_training_info('ordered_memory') m JOIN mixrec_training_info('ordered_stream') s USING (epoch);

-- Reproducible: the same seed draws the same negatives and trains the same
-- weights (shuffled, in memory and streamed); another seed, other weights
SELECT model FROM mixrec_train('again_memory', 'likes', exclude => ARRAY['user_id'], items => 'shop_items',
                               item_id => 'item_id', hidden => '{16}', epochs => 20, batch_size => 32,
                               learning_rate => 0.01, method => 'memory');
SELECT model FROM mixrec_train('again_stream', 'likes', exclude => ARRAY['user_id'], items => 'shop_items',
                               item_id => 'item_id', hidden => '{16}', epochs => 20, batch_size => 32,
                               learning_rate => 0.01, method => 'stream');
SELECT model FROM mixrec_train('other_seed', 'likes', exclude => ARRAY['user_id'], items => 'shop_items',
                               item_id => 'item_id', hidden => '{16}', epochs => 20, batch_size => 32,
                               learning_rate => 0.01, method => 'memory', seed => 7);
SELECT (SELECT md5(weights) FROM mixrec_models WHERE name = 'likes_memory') =
       (SELECT md5(weights) FROM mixrec_models WHERE name = 'again_memory') AS memory_reproduced,
       (SELECT md5(weights) FROM mixrec_models WHERE name = 'likes_stream') =
       (SELECT md5(weights) FROM mixrec_models WHERE name = 'again_stream') AS stream_reproduced,
       (SELECT md5(weights) FROM mixrec_models WHERE name = 'likes_memory') <>
       (SELECT md5(weights) FROM mixrec_models WHERE name = 'other_seed') AS other_seed_differs;

-- Popularity sampling (count^0.75 of each item's training positives)
-- draws other negatives: another model, still ranking own categories
-- first; i41, never liked, is never drawn
SELECT model, validation_auc > 0.8 AS learned
FROM mixrec_train('likes_popular', 'likes', exclude => ARRAY['user_id'], items => 'shop_items',
                  item_id => 'item_id', hidden => '{16}', epochs => 20, batch_size => 32,
                  learning_rate => 0.01, negative_sampling => 'popularity', negatives => 2);
SELECT metrics->>'negative_sampling' AS sampling, (metrics->>'negatives_per_positive')::int AS negatives,
       (metrics->>'rows')::int = 3 * (metrics->>'positives')::int AS three_rows_per_positive,
       md5(weights) <> (SELECT md5(weights) FROM mixrec_models WHERE name = 'likes_memory') AS other_model
FROM mixrec_models WHERE name = 'likes_popular';
SELECT count(*) FILTER (WHERE difference > 0) AS users_ranking_own_category_higher, count(*) AS users
FROM (SELECT user_id, avg(score) FILTER (WHERE own_category) - avg(score) FILTER (WHERE NOT own_category) AS difference
      FROM (SELECT user_id, own_category, mixrec_score('likes_popular', p) AS score FROM pairs p) AS scored
      GROUP BY user_id) AS per_user;
-- The same with popularity: the same weights from the same seed
SELECT model FROM mixrec_train('popular_again', 'likes', exclude => ARRAY['user_id'], items => 'shop_items',
                               item_id => 'item_id', hidden => '{16}', epochs => 20, batch_size => 32,
                               learning_rate => 0.01, negative_sampling => 'popularity', negatives => 2);
SELECT (SELECT md5(weights) FROM mixrec_models WHERE name = 'likes_popular') =
       (SELECT md5(weights) FROM mixrec_models WHERE name = 'popular_again') AS popularity_reproduced;

-- A negative is never its positive's own item.  Every like here is of
-- item a, and items has a and b: every negative must be b.  Were a drawn
-- too (half the draws), a's rows would be 1 positive for 2 negatives and
-- its score would settle near 1/3; b is out of the vocabulary, and its
-- score sinks.
CREATE TABLE only_a AS
SELECT u AS user_id, 'a'::text AS item_id FROM generate_series(1, 200) AS u;
CREATE TABLE two_items (item_id text);
INSERT INTO two_items VALUES ('a'), ('b');
SELECT model FROM mixrec_train('own_memory', 'only_a', 'item_id', items => 'two_items', item_id => 'item_id',
                               hidden => '{4}', epochs => 10, batch_size => 16, learning_rate => 0.05,
                               method => 'memory');
SELECT model FROM mixrec_train('own_stream', 'only_a', 'item_id', items => 'two_items', item_id => 'item_id',
                               hidden => '{4}', epochs => 10, batch_size => 16, learning_rate => 0.05,
                               method => 'stream');
SELECT m.model, mixrec_score(m.model, t) > 0.95 AS own_item_scores_high,
       (metrics->>'positives')::int AS positives, (metrics->>'rows')::int AS rows
FROM (VALUES ('own_memory'), ('own_stream')) AS m(model), two_items t,
     mixrec_models r
WHERE t.item_id = 'a' AND r.name = m.model
ORDER BY 1;
SELECT m.model, mixrec_score(m.model, t) < 0.05 AS other_item_scores_low
FROM (VALUES ('own_memory'), ('own_stream')) AS m(model), two_items t
WHERE t.item_id = 'b'
ORDER BY 1;
-- Popularity draws only items with training positives: here only a
SELECT * FROM mixrec_train('bad', 'only_a', 'item_id', items => 'two_items', item_id => 'item_id',
                           negative_sampling => 'popularity');

-- Domain and weight of a negative are its positive's: a weighted,
-- domained log trains, and its rows add up the same way
SELECT model FROM mixrec_train('weighted', 'SELECT *, 1 + user_id % 3 AS w, user_id % 2 = 0 AS commercial FROM likes',
                               exclude => ARRAY['user_id'], weight => 'w', domain => 'commercial',
                               items => 'shop_items', item_id => 'item_id', hidden => '{8}', epochs => 2);
SELECT (metrics->>'rows')::int = 5 * (metrics->>'positives')::int AS five_rows_per_positive
FROM mixrec_models WHERE name = 'weighted';

-- Continuing a model from positives: its own transform, new negatives
SELECT model, version FROM mixrec_train('likes_memory', 'likes', items => 'shop_items', item_id => 'item_id',
                                        epochs => 1, warm_start => true);

-- Embedded items' tables stepped as embed_optimizer says, in memory and
-- streamed ('auto': dense for tables of 10,000 rows or fewer)
SELECT m.method, o.embed_optimizer, mixrec_info(t.weights)->'optimizer'->>'embeddings' AS tables_stepped
FROM (VALUES ('memory'), ('stream')) AS m(method), (VALUES ('auto'), ('dense'), ('lazy')) AS o(embed_optimizer),
     mixrec_train_model('likes', 'user_cat, item_id', NULL,
                        options => jsonb_build_object('items', 'shop_items', 'item_id', 'item_id',
                                                      'embed', '{"item_id": 4}'::jsonb,
                                                      'transform', '{"item_id": {"top_k": 50}}'::jsonb,
                                                      'embed_optimizer', o.embed_optimizer, 'method', m.method,
                                                      'hidden', '[4]'::jsonb, 'epochs', 2)) AS t
ORDER BY 1, 2;

-- mixrec_train_model takes the same options in its jsonb
SELECT (t.metrics->>'positives')::int AS positives, t.metrics->>'negative_sampling' AS sampling,
       (t.metrics->>'rows')::int AS rows
FROM mixrec_train_model('likes', 'item_cat, user_cat', NULL,
                        options => '{"items": "shop_items", "item_id": "item_id", "negatives": 1,
                                     "hidden": [4], "epochs": 1, "method": "memory"}') AS t;

-- Bad input, each refused with a message that says what is wrong
-- label => NULL needs items and item_id, both
SELECT * FROM mixrec_train('bad', 'likes');
SELECT * FROM mixrec_train('bad', 'likes', items => 'shop_items');
SELECT * FROM mixrec_train('bad', 'likes', item_id => 'item_id');
-- label and items are two different trainings
SELECT * FROM mixrec_train('bad', 'SELECT *, true AS liked FROM likes', label => 'liked',
                           items => 'shop_items', item_id => 'item_id');
SELECT * FROM mixrec_train_model('likes', NULL, 'true', options => '{"item_id": "item_id"}');
-- items without the id column, a source without it, an id that is no column name
SELECT * FROM mixrec_train('bad', 'likes', items => 'shop_users', item_id => 'item_id');
SELECT * FROM mixrec_train('bad', 'shop_users', items => 'shop_items', item_id => 'item_id');
SELECT * FROM mixrec_train('bad', 'likes', items => 'shop_items', item_id => 'item_id, price');
-- The same id twice in items
SELECT * FROM mixrec_train('bad', 'likes', exclude => ARRAY['user_id'], item_id => 'item_id',
                           items => 'SELECT * FROM shop_items UNION ALL SELECT * FROM shop_items WHERE item_id = ''i7''');
-- negatives and negative_sampling
SELECT * FROM mixrec_train('bad', 'likes', items => 'shop_items', item_id => 'item_id', negatives => 0);
SELECT * FROM mixrec_train('bad', 'likes', items => 'shop_items', item_id => 'item_id', negatives => 101);
SELECT * FROM mixrec_train('bad', 'likes', items => 'shop_items', item_id => 'item_id',
                           negative_sampling => 'zipf');
SELECT * FROM mixrec_train_model('likes', NULL, NULL, options => '{"items": "shop_items", "item_id": "item_id",
                                                          "negatives": 1.5}');
-- A catalogue of one item leaves no negative to draw
SELECT * FROM mixrec_train('bad', 'likes', exclude => ARRAY['user_id'], item_id => 'item_id',
                           items => 'SELECT * FROM shop_items WHERE item_id = ''i1''');
-- An item column of another type in items than in the source
SELECT * FROM mixrec_train('bad', 'likes', exclude => ARRAY['user_id'], item_id => 'item_id',
                           items => 'SELECT item_id, item_cat::varchar(8) AS item_cat, price FROM shop_items');
SELECT * FROM mixrec_train('bad', 'likes', exclude => ARRAY['user_id'], item_id => 'item_id',
                           items => 'SELECT item_id::name AS item_id, item_cat, price FROM shop_items');
-- No column of the model is a column of items
SELECT * FROM mixrec_train('bad', 'likes', 'user_cat', items => 'shop_items', item_id => 'item_id');
-- An array of features
SELECT * FROM mixrec_train('bad', 'SELECT *, ARRAY[price] AS f FROM likes', 'f', items => 'shop_items',
                           item_id => 'item_id');
-- A source row whose item is not in items is an error that names the row,
-- in memory and streamed (the rows counted over the whole source)
\set SHOW_CONTEXT errors
SELECT * FROM mixrec_train('bad', 'SELECT * FROM likes ORDER BY user_id, item_id', exclude => ARRAY['user_id'],
                           item_id => 'item_id', items => 'SELECT * FROM shop_items WHERE item_id <> ''i5''',
                           method => 'memory');
SELECT * FROM mixrec_train('bad', 'SELECT * FROM likes ORDER BY user_id, item_id', exclude => ARRAY['user_id'],
                           item_id => 'item_id', items => 'SELECT * FROM shop_items WHERE item_id <> ''i5''',
                           method => 'stream');
SELECT * FROM mixrec_train('bad', 'SELECT user_id, user_cat, CASE WHEN user_id = 3 THEN NULL ELSE item_id END AS item_id,
                                  item_cat, price FROM likes ORDER BY user_id, item_id',
                           exclude => ARRAY['user_id'], item_id => 'item_id', items => 'shop_items');
\set SHOW_CONTEXT never
-- The negatives held in memory count against mixrec.train_memory: 101
-- rows per positive do not fit 2 MB, which the positives alone would (and
-- top_k 50 keeps the category counters within it too)
SET mixrec.train_memory = '2MB';
SELECT * FROM mixrec_train('bad', 'likes', 'item_id', items => 'shop_items', item_id => 'item_id',
                           transform => '{"item_id": {"top_k": 50}}', negatives => 100, hidden => '{4}',
                           method => 'memory');
-- method => 'auto' counts them too, and streams: only the validation
-- rows and their negatives are then held
SELECT model FROM mixrec_train('likes_auto', 'likes', 'item_id', items => 'shop_items', item_id => 'item_id',
                               transform => '{"item_id": {"top_k": 50}}', negatives => 100, hidden => '{4}',
                               epochs => 1);
SELECT metrics->>'method' AS method, (metrics->>'rows')::int = 101 * (metrics->>'positives')::int AS all_rows
FROM mixrec_models WHERE name = 'likes_auto';
RESET mixrec.train_memory;

-- The user and item ids embedded, the tables stepped lazily (SparseAdam),
-- in memory and streamed: both learn a user's own category, and both keep
-- the embedding optimizer asked for
SELECT model, validation_auc > 0.8 AS learned
FROM mixrec_train('embedded_memory', 'likes', 'user_id, item_id', items => 'shop_items',
                  item_id => 'item_id', embed => '{"user_id": 4, "item_id": 4}',
                  transform => '{"user_id": {"min_frequency": 1}, "item_id": {"min_frequency": 1}}',
                  embed_optimizer => 'lazy', hidden => '{16}', epochs => 30, batch_size => 32,
                  learning_rate => 0.02, method => 'memory');
SELECT model, validation_auc > 0.8 AS learned
FROM mixrec_train('embedded_stream', 'likes', 'user_id, item_id', items => 'shop_items',
                  item_id => 'item_id', embed => '{"user_id": 4, "item_id": 4}',
                  transform => '{"user_id": {"min_frequency": 1}, "item_id": {"min_frequency": 1}}',
                  embed_optimizer => 'lazy', hidden => '{16}', epochs => 30, batch_size => 32,
                  learning_rate => 0.02, method => 'stream');
SELECT name, mixrec_info(weights)->'optimizer'->>'embeddings' AS embeddings,
       mixrec_info(weights)->'embeddings' AS tables
FROM mixrec_models WHERE name IN ('embedded_memory', 'embedded_stream') ORDER BY name;
SELECT avg(mixrec_score('embedded_memory', p)) FILTER (WHERE own_category) >
       avg(mixrec_score('embedded_memory', p)) FILTER (WHERE NOT own_category) + 0.3 AS own_category_first,
       avg(mixrec_score('embedded_stream', p)) FILTER (WHERE own_category) >
       avg(mixrec_score('embedded_stream', p)) FILTER (WHERE NOT own_category) + 0.3 AS own_category_first_streamed
FROM (SELECT user_id, item_id FROM pairs) AS p
JOIN pairs AS q USING (user_id, item_id);

-- Dropping the models of this file
SELECT sum(mixrec_drop(name)) AS versions_dropped
FROM (SELECT DISTINCT name FROM mixrec_models
      WHERE name IN ('likes_memory', 'likes_stream', 'ordered_memory', 'ordered_stream', 'again_memory',
                     'again_stream', 'other_seed', 'likes_popular', 'popular_again', 'own_memory',
                     'own_stream', 'weighted', 'likes_auto', 'embedded_memory',
                     'embedded_stream')) AS mine;
