-- demo/recommend.sql: train the movielens model on training_pairs, show how
-- training went, and recommend movies to three users.
--
--   psql -v ON_ERROR_STOP=1 -d demo -f demo/recommend.sql
--
-- Needs the tables of demo/schema.sql.  The top-10 query for one user is in
-- demo/recommend_user.sql.

\set ON_ERROR_STOP 1
SET client_min_messages = warning;
-- print losses, AUCs and speeds with 6 significant digits
SET extra_float_digits = -9;

-- Candidates are movies with at least this many ratings: a movie few people
-- rated has a mean rating that says little
\set min_ratings 20

\echo
\echo '== Training the movielens model on training_pairs'
\echo '   (open model on the open tier, commercial model on the commercial tier)'
\timing on
SELECT * FROM mixrec_train('movielens', 'training_pairs', 'features', 'label',
                           domain => 'domain', alpha => 0.5, hidden => '{64,32}',
                           epochs => 8, batch_size => 256, learning_rate => 1e-3,
                           validation_fraction => 0.1, patience => 2, seed => 42);
\timing off

\echo
\echo '== Training, epoch by epoch'
SELECT * FROM mixrec_training_info('movielens');

-- Three users with between 100 and 200 ratings and different tastes: two of
-- the open tier and one of the commercial tier (user ids divisible by 3)
\echo
\echo '== Top 10 movies for three users, among the movies they have not rated'
\echo '   with at least' :min_ratings 'ratings; score: the blend of both models,'
\echo '   open and commercial: each model alone'
\timing on

\set user_id 328
\ir recommend_user.sql

\set user_id 493
\ir recommend_user.sql

\set user_id 483
\ir recommend_user.sql

\timing off

-- The same, for many users at once: mixrec_recommend scores every
-- candidate in blocks with matrix products, leaving out what each user rated
\echo
\echo '== Top 3 for the first five users of each tier, with mixrec_recommend'
SELECT r.user_id, u.domain AS tier, r.rank, m.title, round(r.score::numeric, 3) AS score
FROM mixrec_recommend('movielens', 'user_features', 'SELECT mf.* FROM movie_features mf JOIN movie_stats ms USING (movie_id) WHERE ms.n_ratings >= 20',
                      'user_id', 'movie_id', 'features', 'features', k => 3,
                      exclude => 'SELECT user_id, movie_id FROM ratings') AS r
JOIN user_stats u ON u.user_id = r.user_id::int
JOIN movies m ON m.movie_id = r.item_id::int
WHERE r.user_id::int IN (SELECT user_id FROM user_stats WHERE domain = 'open' ORDER BY user_id LIMIT 5)
   OR r.user_id::int IN (SELECT user_id FROM user_stats WHERE domain = 'commercial' ORDER BY user_id LIMIT 5)
ORDER BY r.user_id::int, r.rank;

-- How well the active model ranks each user's rated movies (on the pairs
-- it was trained on, so an optimistic view; mixrec_training_info above
-- has the held-out validation AUC)
\echo
\echo '== mixrec_evaluate on the training pairs, ranking metrics over users at k = 10'
SELECT model, metric, round(value::numeric, 4) AS value
FROM mixrec_evaluate('movielens', 'training_pairs', 'features', 'label', domain => 'domain',
                     user_id => 'user_id', k => 10)
ORDER BY model, metric;
\timing off
