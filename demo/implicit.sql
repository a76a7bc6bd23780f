-- demo/implicit.sql: a recommender trained from likes alone.  Every rating
-- of 4 or more is a like, and nothing else is known: no dislikes, no
-- impressions.  mixrec learns user and movie embeddings (with the genres)
-- from the likes and negatives it samples, and is judged as a recommender
-- is: for each user, the movies the user liked later, ranked among every
-- movie the user had not liked yet, against the popularity baseline.
--
--   psql -v ON_ERROR_STOP=1 -d demo -f demo/implicit.sql
--
-- Needs the tables of demo/schema.sql.

\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SET extra_float_digits = -9;
SET jit = off;

DROP VIEW IF EXISTS like_train, like_test, like_items;
DROP TABLE IF EXISTS likes CASCADE;

-- The likes, and a per-user temporal split: each user's last 20% of likes
-- (by time, ties by movie id) are the test likes, the rest the training
-- likes.  The split of demo/schema.sql (a hash of the pair) is not used
-- here: a recommender predicts what comes next, so it is judged on the
-- future.
CREATE TABLE likes AS
SELECT user_id, movie_id, rated_at,
	   row_number() OVER w > ceil(0.8 * count(*) OVER (PARTITION BY user_id)) AS test
FROM ratings
WHERE rating >= 4
WINDOW w AS (PARTITION BY user_id ORDER BY rated_at, movie_id);

-- The item side: the catalogue, and its columns the model reads
CREATE VIEW like_items AS
SELECT movie_id, genres FROM movies;

-- Training rows: each like with its movie's columns (the columns of
-- like_items, so a negative row is the like with another movie's columns)
CREATE VIEW like_train AS
SELECT l.user_id, l.movie_id, m.genres
FROM likes AS l JOIN movies AS m USING (movie_id)
WHERE NOT l.test;

CREATE VIEW like_test AS
SELECT user_id, movie_id FROM likes WHERE test;

\echo
\echo '== Likes: training and test, per-user temporal split'
SELECT count(*) FILTER (WHERE NOT test) AS training_likes,
	   count(*) FILTER (WHERE test) AS test_likes,
	   count(DISTINCT user_id) AS users,
	   count(DISTINCT movie_id) AS movies
FROM likes;

-- label => NULL: every row of like_train is a positive; for each, 8
-- negatives are drawn uniformly from like_items, so the model learns what
-- popularity knows (liked movies are popular, random ones are not) and what
-- each user's likes add to it.  user_id and movie_id are embedded in 32
-- dimensions (ids liked fewer than 5 times share the out-of-vocabulary
-- row); genres is multi-hot.  A little weight decay keeps the embeddings of
-- users and movies with few likes near the others.  No domain here: both
-- models learn from every like, and the blend is their average (with the
-- tiers as domains, each model would see a user's embedding trained only if
-- the user is of its tier).
\echo
\echo '== Training movielens_implicit from the likes alone'
\timing on
SELECT * FROM mixrec_train('movielens_implicit', 'like_train', features => NULL, label => NULL,
						   items => 'like_items', item_id => 'movie_id',
						   negatives => 8, negative_sampling => 'uniform',
						   embed => '{"user_id": 32, "movie_id": 32}',
						   hidden => '{64}', epochs => 10, batch_size => 256,
						   learning_rate => 2e-3, weight_decay => 3e-5,
						   validation_fraction => 0.05, seed => 42);
\timing off

\echo
\echo '== Ranking every movie a user had not liked yet: the model against popularity'
\timing on
CREATE TEMP TABLE implicit_metrics AS
SELECT * FROM mixrec_evaluate_ranking('movielens_implicit', train => 'like_train',
									  test => 'like_test', user_id => 'user_id',
									  item_id => 'movie_id', items => 'like_items', k => 10);
\timing off
SELECT metric, round(model::numeric, 4) AS model, round(popularity::numeric, 4) AS popularity,
	   CASE WHEN popularity > 0 THEN round((model / popularity)::numeric, 2) END AS ratio
FROM implicit_metrics;

-- The demo fails if the model does not beat popularity on both measures
DO $$
BEGIN
	IF NOT (SELECT bool_and(model > popularity) FROM implicit_metrics
			WHERE metric IN ('recall@10', 'ndcg@10')) THEN
		RAISE EXCEPTION 'the implicit model does not beat popularity on recall@10 and NDCG@10';
	END IF;
END
$$;
\echo 'the model beats popularity on recall@10 and NDCG@10'
