-- demo/schema.sql: the MovieLens tables, split into training and held-out
-- ratings, and the typed columns mixrec trains on.
--
--   psql -v ON_ERROR_STOP=1 -v data_dir=DIR -d demo -f demo/schema.sql
--
-- DIR holds movies.csv and ratings.csv as demo/load_movielens.py writes
-- them.  Run it in a database where `CREATE EXTENSION mixrec` has been done;
-- it drops and rebuilds its own tables, so it can be run again.
--
-- Tables:
--   movies    the movies as loaded (genres a text[], year NULL when unknown)
--             and their statistics over the training ratings
--   ratings   the ratings as loaded, and held_out: the test split
--   users     each user's tier and statistics over the training ratings
--   pairs     one row per rating: the label, the tier and the feature
--             columns, as plain typed columns
-- and the views training_pairs and test_pairs, the pairs of either split.

\set ON_ERROR_STOP 1
SET client_min_messages = warning;
-- the demo's queries are quick, but large estimates would have them
-- JIT-compiled, which costs more than it saves
SET jit = off;

DROP TABLE IF EXISTS pairs, users, ratings, movies CASCADE;

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
	-- The test split: a fifth of the ratings, chosen by a hash of the
	-- (user, movie) pair so that every run holds out the same ones.  No
	-- statistic below counts them, and no model is trained on them.
	held_out boolean NOT NULL,
	PRIMARY KEY (user_id, movie_id)
);

CREATE TEMP TABLE ratings_csv (user_id int, movie_id int, rating numeric(2, 1), rated_at bigint);

\cd :data_dir
\copy movies FROM 'movies.csv' WITH (FORMAT csv, HEADER true, ENCODING 'UTF8')
\copy ratings_csv FROM 'ratings.csv' WITH (FORMAT csv, HEADER true, ENCODING 'UTF8')

INSERT INTO ratings
SELECT user_id, movie_id, rating, to_timestamp(rated_at),
	   hashint8(user_id * 1000000::bigint + movie_id) % 5 = 0
FROM ratings_csv;
DROP TABLE ratings_csv;

-- ---------------------------------------------------------------------------
-- Statistics over the training ratings.
--
-- tier, the open/commercial split: the data set has no notion of a paying
-- customer, so the demo makes one up that anyone can reproduce: users whose
-- id is divisible by 3 are the "commercial" tier (223 users), all others
-- the "open" tier (448 users).  mixrec trains the commercial model on the
-- commercial tier's rows and the open model on the open tier's.

CREATE TABLE users AS
SELECT user_id,
	   CASE WHEN user_id % 3 = 0 THEN 'commercial' ELSE 'open' END AS tier,
	   count(*) AS user_ratings,
	   avg(rating)::float8 AS user_mean_rating
FROM ratings
WHERE NOT held_out
GROUP BY user_id;

ALTER TABLE users ADD PRIMARY KEY (user_id);

-- The user's genre profile: for each genre, in byte order of the name (so each
-- position is the same genre in every row), the share of the user's ratings
-- that went to movies of that genre; a movie has several genres, so the
-- shares add up to more than 1
ALTER TABLE users ADD COLUMN user_genre_shares real[];
UPDATE users AS u
SET user_genre_shares = s.shares
FROM (SELECT user_id, array_agg(share ORDER BY genre COLLATE "C") AS shares
	  FROM (SELECT r.user_id, g.genre, avg((g.genre = ANY (m.genres))::int)::real AS share
			FROM ratings AS r
			JOIN movies AS m USING (movie_id)
			CROSS JOIN (SELECT DISTINCT unnest(genres) AS genre FROM movies) AS g
			WHERE NOT r.held_out
			GROUP BY r.user_id, g.genre) AS per_genre
	  GROUP BY user_id) AS s
WHERE s.user_id = u.user_id;

-- A movie without a training rating has 0 ratings and a NULL mean
ALTER TABLE movies ADD COLUMN movie_ratings bigint NOT NULL DEFAULT 0,
	ADD COLUMN movie_mean_rating float8;
UPDATE movies AS m
SET movie_ratings = s.n, movie_mean_rating = s.mean
FROM (SELECT movie_id, count(*) AS n, avg(rating)::float8 AS mean
	  FROM ratings WHERE NOT held_out GROUP BY movie_id) AS s
WHERE s.movie_id = m.movie_id;

-- ---------------------------------------------------------------------------
-- The pairs: one row per rating, the label (liked: the rating is 4 or
-- more), the user's tier, and the feature columns, each a plain column that
-- mixrec encodes by its type.
--
-- The statistics leave the pair's own rating out, so no row carries its
-- label: a training rating is part of its user's and its movie's
-- statistics, and is taken back out here (own = 1); a held-out one never
-- was (own = 0).  A mean of no rating is NULL.

CREATE TABLE pairs AS
SELECT r.user_id,
	   r.movie_id,
	   r.held_out,
	   r.rating >= 4 AS liked,
	   u.tier,
	   u.user_ratings - own AS user_ratings,
	   (u.user_mean_rating * u.user_ratings - own * r.rating)
		   / nullif(u.user_ratings - own, 0) AS user_mean_rating,
	   u.user_genre_shares,
	   m.genres,
	   m.year,
	   m.movie_ratings - own AS movie_ratings,
	   (m.movie_mean_rating * m.movie_ratings - own * r.rating)
		   / nullif(m.movie_ratings - own, 0) AS movie_mean_rating
FROM ratings AS r
JOIN users AS u USING (user_id)
JOIN movies AS m USING (movie_id)
CROSS JOIN LATERAL (SELECT CASE WHEN r.held_out THEN 0 ELSE 1 END AS own) AS o
ORDER BY r.user_id, r.movie_id;

ALTER TABLE pairs ADD PRIMARY KEY (user_id, movie_id);
CREATE VIEW training_pairs AS SELECT * FROM pairs WHERE NOT held_out;
CREATE VIEW test_pairs AS SELECT * FROM pairs WHERE held_out;

ANALYZE;

SELECT (SELECT count(*) FROM movies) AS movies,
	   (SELECT count(*) FROM users) AS users,
	   (SELECT count(*) FROM ratings) AS ratings,
	   (SELECT count(*) FROM training_pairs) AS training,
	   (SELECT count(*) FROM test_pairs) AS held_out,
	   (SELECT round(avg(liked::int), 3) FROM pairs) AS share_liked;
