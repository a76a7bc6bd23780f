-- demo/schema.sql: the MovieLens tables and the features mixrec trains on.
--
--   psql -v ON_ERROR_STOP=1 -v data_dir=DIR -d demo -f demo/schema.sql
--
-- DIR holds movies.csv and ratings.csv as demo/load_movielens.py writes
-- them.  Run it in a database where `CREATE EXTENSION mixrec` has been done;
-- it drops and rebuilds its own tables, so it can be run again.
--
-- Tables:
--   movies, ratings        the data as loaded
--   genres                 the fixed genre list: feature positions
--   feature_constants      global mean rating, mean and std of the year
--   user_stats, movie_stats  per-user / per-movie aggregates
--   user_features          one vector per user   (21 values for 19 genres)
--   movie_features         one vector per movie  (22 values for 19 genres)
--   feature_names          the name of every position of
--                          user_features.features || movie_features.features
--   training_pairs         one row per rating: features, label, domain

\set ON_ERROR_STOP 1
SET client_min_messages = warning;

DROP TABLE IF EXISTS training_pairs, feature_names, user_features, movie_features,
    user_stats, movie_stats, feature_constants, genres, ratings, movies CASCADE;

-- ---------------------------------------------------------------------------
-- The data

CREATE TABLE movies (
    movie_id int PRIMARY KEY,
    -- The source splits "Title (1995)" into title and year; for the 5 movies
    -- whose original title has no "(year)" both came out NA, so both are NULL.
    -- Titles are not unique (remakes share them).
    title text,
    year int CHECK (year BETWEEN 1800 AND 2100),
    -- as in the source, '{"(no genres listed)"}' for movies without genres
    genres text[] NOT NULL
);

CREATE TABLE ratings (
    user_id int NOT NULL,
    movie_id int NOT NULL REFERENCES movies,
    rating numeric(2, 1) NOT NULL CHECK (rating BETWEEN 0.5 AND 5),
    rated_at timestamptz NOT NULL,
    PRIMARY KEY (user_id, movie_id)
);

CREATE TEMP TABLE ratings_csv (user_id int, movie_id int, rating numeric(2, 1), rated_at bigint);

\cd :data_dir
\copy movies FROM 'movies.csv' WITH (FORMAT csv, HEADER true, ENCODING 'UTF8')
\copy ratings_csv FROM 'ratings.csv' WITH (FORMAT csv, HEADER true, ENCODING 'UTF8')

INSERT INTO ratings
SELECT user_id, movie_id, rating, to_timestamp(rated_at) FROM ratings_csv;
DROP TABLE ratings_csv;

CREATE INDEX ratings_movie_id_idx ON ratings (movie_id);
ANALYZE movies, ratings;

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
SELECT (SELECT avg(rating)::float8 FROM ratings) AS global_mean_rating,
       (SELECT avg(year)::float8 FROM movies) AS year_mean,
       (SELECT stddev_pop(year)::float8 FROM movies) AS year_std;

-- ---------------------------------------------------------------------------
-- Per-user aggregates.
--
-- domain, the open/commercial split: the data set has no notion of a paying
-- customer, so the demo makes one up that anyone can reproduce: users whose
-- id is divisible by 3 are the "commercial" tier (223 users, 34,837
-- ratings), all others the "open" tier (448 users, 65,167 ratings).  mixrec
-- trains the commercial model on the commercial tier's rows and the open
-- model on the open tier's.
--
-- profile: the user's genre profile, then log1p of the user's rating count.
-- The genre profile holds, for each genre of `genres` in idx order, the share
-- of the user's ratings that went to movies of that genre (movies have
-- several genres, so the shares add up to more than 1).

CREATE TABLE user_stats AS
WITH counts AS (
    SELECT user_id, count(*) AS n_ratings, sum(rating)::float8 AS rating_sum
    FROM ratings
    GROUP BY user_id
),
genre_counts AS (
    SELECT r.user_id, g.idx, count(*) AS n
    FROM ratings AS r
    JOIN movies AS m USING (movie_id)
    JOIN genres AS g ON g.genre = ANY (m.genres)
    GROUP BY r.user_id, g.idx
)
SELECT c.user_id,
       CASE WHEN c.user_id % 3 = 0 THEN 'commercial' ELSE 'open' END AS domain,
       c.n_ratings,
       c.rating_sum,
       c.rating_sum / c.n_ratings AS mean_rating,
       array_agg(coalesce(gc.n, 0)::float8 / c.n_ratings ORDER BY g.idx)
           || ln(1 + c.n_ratings::float8) AS profile
FROM counts AS c
CROSS JOIN genres AS g
LEFT JOIN genre_counts AS gc ON gc.user_id = c.user_id AND gc.idx = g.idx
GROUP BY c.user_id, c.n_ratings, c.rating_sum;

ALTER TABLE user_stats ADD PRIMARY KEY (user_id);

-- ---------------------------------------------------------------------------
-- Per-movie aggregates.
--
-- profile: the genre one-hot (1 where the movie has the genre of `genres`,
-- in idx order), log1p of the movie's rating count, and the movie's year
-- centred and scaled, (year - mean) / std over the movies; a movie without
-- a year gets the mean, that is 0.

CREATE TABLE movie_stats AS
WITH counts AS (
    SELECT movie_id, count(*) AS n_ratings, sum(rating)::float8 AS rating_sum
    FROM ratings
    GROUP BY movie_id
)
SELECT m.movie_id,
       c.n_ratings,
       c.rating_sum,
       c.rating_sum / c.n_ratings AS mean_rating,
       array_agg((g.genre = ANY (m.genres))::int::float8 ORDER BY g.idx)
           || ln(1 + c.n_ratings::float8)
           || coalesce((m.year - k.year_mean) / k.year_std, 0) AS profile
FROM movies AS m
JOIN counts AS c USING (movie_id)
CROSS JOIN genres AS g
CROSS JOIN feature_constants AS k
GROUP BY m.movie_id, m.year, c.n_ratings, c.rating_sum, k.year_mean, k.year_std;

ALTER TABLE movie_stats ADD PRIMARY KEY (movie_id);
CREATE INDEX movie_stats_n_ratings_idx ON movie_stats (n_ratings);

-- ---------------------------------------------------------------------------
-- The feature vectors for scoring new (user, movie) pairs: the profile and
-- then the mean rating minus the global mean rating, over all the user's
-- (movie's) ratings.  A pair is scored with
-- user_features.features || movie_features.features.
--
--   user:  19 genre shares, log1p(ratings), mean rating - global mean  = 21
--   movie: 19 genre one-hot, log1p(ratings), year z-score,
--          mean rating - global mean                                   = 22

CREATE TABLE user_features AS
SELECT u.user_id, (u.profile || (u.mean_rating - k.global_mean_rating))::real[] AS features
FROM user_stats AS u
CROSS JOIN feature_constants AS k;

ALTER TABLE user_features ADD PRIMARY KEY (user_id);

CREATE TABLE movie_features AS
SELECT m.movie_id, (m.profile || (m.mean_rating - k.global_mean_rating))::real[] AS features
FROM movie_stats AS m
CROSS JOIN feature_constants AS k;

ALTER TABLE movie_features ADD PRIMARY KEY (movie_id);

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
-- The training set: one row per rating.
--
-- features: the same layout as user_features.features ||
-- movie_features.features, except that the two mean ratings leave this
-- rating out, so the features do not contain the label: the user's mean
-- over the user's other ratings and the movie's mean over the movie's other
-- ratings, minus the global mean; 0 when there is no other rating (3,063
-- movies have a single rating; every user has at least 20).
-- label: the user liked the movie, rating >= 4 (about 52% of the ratings).
-- domain: the user's tier, 'open' or 'commercial' (see user_stats).

CREATE TABLE training_pairs AS
SELECT r.user_id,
       r.movie_id,
       (u.profile
        || CASE WHEN u.n_ratings > 1
                THEN (u.rating_sum - r.rating::float8) / (u.n_ratings - 1) - k.global_mean_rating
                ELSE 0 END
        || m.profile
        || CASE WHEN m.n_ratings > 1
                THEN (m.rating_sum - r.rating::float8) / (m.n_ratings - 1) - k.global_mean_rating
                ELSE 0 END)::real[] AS features,
       r.rating >= 4 AS label,
       u.domain
FROM ratings AS r
JOIN user_stats AS u USING (user_id)
JOIN movie_stats AS m USING (movie_id)
CROSS JOIN feature_constants AS k
ORDER BY r.user_id, r.movie_id;

ALTER TABLE training_pairs ADD PRIMARY KEY (user_id, movie_id);
ALTER TABLE training_pairs ALTER COLUMN features SET NOT NULL,
    ALTER COLUMN label SET NOT NULL, ALTER COLUMN domain SET NOT NULL;

ANALYZE;

-- ---------------------------------------------------------------------------
-- Checks: every vector has the same length as feature_names, and every
-- value is there and finite.

DO $$
DECLARE
    dim int := (SELECT count(*) FROM feature_names);
    bad bigint;
BEGIN
    SELECT count(*) INTO bad FROM (
        SELECT features FROM training_pairs
        UNION ALL
        SELECT u.features || m.features
        FROM (SELECT features FROM user_features LIMIT 1) AS u,
             movie_features AS m
        UNION ALL
        SELECT u.features || m.features
        FROM user_features AS u,
             (SELECT features FROM movie_features LIMIT 1) AS m
    ) AS v
    WHERE cardinality(features) <> dim
       OR EXISTS (SELECT FROM unnest(features) AS x
                  WHERE x IS NULL OR x IN ('NaN', 'Infinity', '-Infinity'));
    IF bad > 0 THEN
        RAISE EXCEPTION '% feature vectors are not % finite values', bad, dim;
    END IF;
END
$$;

SELECT (SELECT count(*) FROM movies) AS movies,
       (SELECT count(*) FROM ratings) AS ratings,
       (SELECT count(*) FROM user_stats) AS users,
       (SELECT count(*) FROM genres) AS genres,
       (SELECT count(*) FROM feature_names) AS feature_dim,
       (SELECT round(avg(label::int), 3) FROM training_pairs) AS share_liked;
