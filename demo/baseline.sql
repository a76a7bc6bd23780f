-- demo/baseline.sql: the same pairs as feature vectors built by hand, and a
-- model trained on them, to compare with the model of typed columns.
--
--   psql -v ON_ERROR_STOP=1 -d demo -f demo/baseline.sql
--
-- Needs the tables of demo/schema.sql (movies, ratings and its held_out
-- split).  Everything it makes is in the schema `baseline`, which it drops
-- and rebuilds; it trains the model movielens_vectors with the options of
-- demo/recommend.sql.  This is how features were built before mixrec read
-- typed columns: every position of a real[] chosen, scaled and named in SQL.
--
-- Tables (schema baseline):
--   genres                 the fixed genre list: feature positions
--   feature_constants      global mean rating, mean and std of the year
--   user_stats, movie_stats  per-user / per-movie aggregates
--   feature_names          the name of every position of the vectors
--   pairs                  one row per rating: features, label, tier
-- and the views training_pairs and test_pairs (held_out).

\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SET extra_float_digits = -9;
SET jit = off;

DROP SCHEMA IF EXISTS baseline CASCADE;
CREATE SCHEMA baseline;
SET search_path = baseline, public;

-- ---------------------------------------------------------------------------
-- The genre list: every genre of the data except "(no genres listed)", in
-- byte order of the name.  idx is the genre's position in the genre parts of
-- the feature vectors (19 genres in this data set).

CREATE TABLE genres (
	idx int PRIMARY KEY,
	genre text NOT NULL UNIQUE
);

INSERT INTO genres
SELECT row_number() OVER (ORDER BY genre COLLATE "C"), genre
FROM (SELECT DISTINCT unnest(genres) AS genre FROM movies) AS g
WHERE genre <> '(no genres listed)';

-- ---------------------------------------------------------------------------
-- Constants the features are centred and scaled with

CREATE TABLE feature_constants AS
SELECT (SELECT avg(rating)::float8 FROM ratings WHERE NOT held_out) AS global_mean_rating,
	   (SELECT avg(year)::float8 FROM movies) AS year_mean,
	   (SELECT stddev_pop(year)::float8 FROM movies) AS year_std;

-- ---------------------------------------------------------------------------
-- Per-user aggregates over the training ratings.
--
-- profile: the user's genre profile: for each genre of `genres` in idx
-- order, the share of the user's ratings that went to movies of that genre
-- (movies have several genres, so the shares add up to more than 1).

CREATE TABLE user_stats AS
WITH training AS (
	SELECT * FROM ratings WHERE NOT held_out
),
counts AS (
	SELECT user_id, count(*) AS n_ratings, sum(rating)::float8 AS rating_sum
	FROM training
	GROUP BY user_id
),
genre_counts AS (
	SELECT r.user_id, g.idx, count(*) AS n
	FROM training AS r
	JOIN movies AS m USING (movie_id)
	JOIN genres AS g ON g.genre = ANY (m.genres)
	GROUP BY r.user_id, g.idx
)
SELECT c.user_id,
	   c.n_ratings,
	   c.rating_sum,
	   array_agg(coalesce(gc.n, 0)::float8 / c.n_ratings ORDER BY g.idx) AS profile
FROM counts AS c
CROSS JOIN genres AS g
LEFT JOIN genre_counts AS gc ON gc.user_id = c.user_id AND gc.idx = g.idx
GROUP BY c.user_id, c.n_ratings, c.rating_sum;

ALTER TABLE user_stats ADD PRIMARY KEY (user_id);

-- ---------------------------------------------------------------------------
-- Per-movie aggregates over the training ratings (0 ratings for a movie
-- that has none).
--
-- profile: the genre one-hot (1 where the movie has the genre of `genres`,
-- in idx order).  year_z: the movie's year centred and scaled, (year -
-- mean) / std over the movies; a movie without a year gets the mean, 0.

CREATE TABLE movie_stats AS
WITH counts AS (
	SELECT movie_id, count(*) AS n_ratings, sum(rating)::float8 AS rating_sum
	FROM ratings
	WHERE NOT held_out
	GROUP BY movie_id
)
SELECT m.movie_id,
	   coalesce(c.n_ratings, 0) AS n_ratings,
	   coalesce(c.rating_sum, 0) AS rating_sum,
	   array_agg((g.genre = ANY (m.genres))::int::float8 ORDER BY g.idx) AS profile,
	   coalesce((m.year - k.year_mean) / k.year_std, 0) AS year_z
FROM movies AS m
LEFT JOIN counts AS c USING (movie_id)
CROSS JOIN genres AS g
CROSS JOIN feature_constants AS k
GROUP BY m.movie_id, m.year, c.n_ratings, c.rating_sum, k.year_mean, k.year_std;

ALTER TABLE movie_stats ADD PRIMARY KEY (movie_id);

CREATE TABLE feature_names AS
SELECT row_number() OVER (ORDER BY part, position)::int AS idx, name
FROM (
	SELECT 1 AS part, idx AS position, 'user share of ratings: ' || genre AS name FROM genres
	UNION ALL SELECT 2, 1, 'user log1p(rating count)'
	UNION ALL SELECT 2, 2, 'user mean rating - global mean'
	UNION ALL SELECT 3, idx, 'movie genre: ' || genre FROM genres
	UNION ALL SELECT 4, 1, 'movie log1p(rating count)'
	UNION ALL SELECT 4, 2, 'movie year, centred and scaled'
	UNION ALL SELECT 4, 3, 'movie mean rating - global mean'
) AS f;

ALTER TABLE feature_names ADD PRIMARY KEY (idx);

-- ---------------------------------------------------------------------------
-- The pairs: one row per rating, as in demo/schema.sql.
--
--   user:  19 genre shares, log1p(ratings), mean rating - global mean  = 21
--   movie: 19 genre one-hot, log1p(ratings), year z-score,
--          mean rating - global mean                                   = 22
--
-- The counts and means leave the pair's own rating out (own = 1 for a
-- training rating, which the statistics count; 0 for a held-out one, which
-- they do not), so the features do not contain the label; a mean of no
-- rating is 0, the global mean.
-- label: the user liked the movie, rating >= 4.
-- tier: 'open' or 'commercial', users whose id is divisible by 3.

CREATE TABLE pairs AS
SELECT r.user_id,
	   r.movie_id,
	   r.held_out,
	   (u.profile
		|| ln(1 + u.n_ratings - own)
		|| CASE WHEN u.n_ratings > own
				THEN (u.rating_sum - own * r.rating::float8) / (u.n_ratings - own)
					 - k.global_mean_rating
				ELSE 0 END
		|| m.profile
		|| ln(1 + m.n_ratings - own)
		|| m.year_z
		|| CASE WHEN m.n_ratings > own
				THEN (m.rating_sum - own * r.rating::float8) / (m.n_ratings - own)
					 - k.global_mean_rating
				ELSE 0 END)::real[] AS features,
	   r.rating >= 4 AS liked,
	   CASE WHEN r.user_id % 3 = 0 THEN 'commercial' ELSE 'open' END AS tier
FROM ratings AS r
JOIN user_stats AS u USING (user_id)
JOIN movie_stats AS m USING (movie_id)
CROSS JOIN feature_constants AS k
CROSS JOIN LATERAL (SELECT CASE WHEN r.held_out THEN 0 ELSE 1 END AS own) AS o
ORDER BY r.user_id, r.movie_id;

ALTER TABLE pairs ADD PRIMARY KEY (user_id, movie_id);
CREATE VIEW training_pairs AS SELECT * FROM pairs WHERE NOT held_out;
CREATE VIEW test_pairs AS SELECT * FROM pairs WHERE held_out;

ANALYZE user_stats, movie_stats, pairs;

-- Every vector has the length of feature_names, and every value is there
-- and finite
DO $$
DECLARE
	dim int := (SELECT count(*) FROM feature_names);
	bad bigint;
BEGIN
	SELECT count(*) INTO bad FROM pairs
	WHERE cardinality(features) <> dim
	   OR EXISTS (SELECT FROM unnest(features) AS x
				  WHERE x IS NULL OR x IN ('NaN', 'Infinity', '-Infinity'));
	IF bad > 0 THEN
		RAISE EXCEPTION '% feature vectors are not % finite values', bad, dim;
	END IF;
END
$$;

SELECT (SELECT count(*) FROM feature_names) AS feature_dim,
	   (SELECT count(*) FROM training_pairs) AS training,
	   (SELECT count(*) FROM test_pairs) AS held_out;

-- ---------------------------------------------------------------------------
-- Training, with the options of demo/recommend.sql

\echo
\echo '== Training the baseline model movielens_vectors on baseline.training_pairs'
\timing on
SELECT * FROM mixrec_train('movielens_vectors', 'baseline.training_pairs', 'features', 'liked',
						   domain => 'tier', alpha => 0.5, hidden => '{64,32}',
						   epochs => 8, batch_size => 256, learning_rate => 1e-3,
						   validation_fraction => 0.1, patience => 2, seed => 42);
\timing off
