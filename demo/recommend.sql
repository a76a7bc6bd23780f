-- demo/recommend.sql: train the movielens model on the typed columns of
-- training_pairs, show how training went and what mixrec made of each
-- column, and recommend movies to three users.
--
--   psql -v ON_ERROR_STOP=1 -d demo -f demo/recommend.sql
--
-- Needs the tables of demo/schema.sql.  The top-10 query for one user is in
-- demo/recommend_user.sql.

\set ON_ERROR_STOP 1
SET client_min_messages = warning;
-- print losses, AUCs and speeds with 6 significant digits
SET extra_float_digits = -9;
-- the demo's queries are quick, but large estimates would have them
-- JIT-compiled, which costs more than it saves
SET jit = off;

-- Candidates are movies with at least this many training ratings: a movie
-- few people rated has a mean rating that says little
\set min_ratings 20

-- features => NULL: every column of training_pairs is a feature but the
-- label, the domain and the columns in exclude.  Each becomes the inputs
-- its type implies: a number one standardised input (and one that flags
-- NULL, where the training rows have NULLs), the real[] one per element,
-- the text[] one per genre.  transform puts the rating counts on a log
-- scale (log1p) before they are standardised.  demo/baseline.sql trains
-- the model of hand-built vectors with the same options.
\echo
\echo '== Training the movielens model on the typed columns of training_pairs'
\echo '   (open model on the open tier, commercial model on the commercial tier)'
\timing on
SELECT * FROM mixrec_train('movielens', 'training_pairs', features => NULL, label => 'liked',
						   domain => 'tier', exclude => '{user_id,movie_id,held_out}',
						   transform => '{"user_ratings":  {"scale": "log"},
										  "movie_ratings": {"scale": "log"}}',
						   alpha => 0.5, hidden => '{64,32}',
						   epochs => 8, batch_size => 256, learning_rate => 1e-3,
						   validation_fraction => 0.1, patience => 2, seed => 42);
\timing off

\echo
\echo '== Training, epoch by epoch'
SELECT * FROM mixrec_training_info('movielens');

\echo
\echo '== The columns the model reads, as mixrec_feature_info describes them'
SELECT column_name, type, kind, first_input, inputs, round(null_fraction::numeric, 4) AS nulls,
	   round(mean::numeric, 3) AS mean, round(stddev::numeric, 3) AS stddev, scale,
	   vocabulary_size AS vocabulary, top_values[1:3] AS top_values
FROM mixrec_feature_info('movielens');

-- Three users with between 100 and 200 ratings and different tastes: two of
-- the open tier and one of the commercial tier (user ids divisible by 3)
\echo
\echo '== Top 10 movies for three users, among the movies they have not rated'
\echo '   with at least' :min_ratings 'training ratings; score: the blend of both models,'
\echo '   open and commercial: each model alone'
\timing on

\set user_id 328
\ir recommend_user.sql

\set user_id 493
\ir recommend_user.sql

\set user_id 483
\ir recommend_user.sql

\timing off

-- Why: mixrec_explain attributes each of the top 3 scores to the model's
-- columns (integrated gradients; probability units, from the score of the
-- training mean), and the three largest reasons are kept
\echo
\echo '== Why these movies for user 483: the top 3 reasons for each of the top 3'
\echo '   (integrated gradients: how much each column moved the score from the'
\echo '   score of an average pair, in probability units)'
WITH candidates AS (
	SELECT *
	FROM users AS u
	CROSS JOIN movies AS m
	WHERE u.user_id = 483
	  AND m.movie_ratings >= :min_ratings
	  AND NOT EXISTS (SELECT FROM ratings AS r
					  WHERE r.user_id = u.user_id AND r.movie_id = m.movie_id)
),
top3 AS (
	SELECT c.*, mixrec_score('movielens', c) AS score
	FROM candidates AS c
	ORDER BY score DESC, c.movie_id
	LIMIT 3
)
SELECT t.title, round(t.score::numeric, 3) AS score, e.feature AS reason,
	   round(e.blend::numeric, 3) AS moved_by
FROM top3 AS t,
	 LATERAL mixrec_explain('movielens', t, top_k => 3) AS e
ORDER BY t.score DESC, t.movie_id, abs(e.blend) DESC;

-- The same, for many users at once: mixrec_recommend reads the model's
-- columns by name, the user's from users and the movie's from the
-- candidates, scores every pair in blocks with matrix products, and leaves
-- out what each user rated
\echo
\echo '== Top 3 for the first five users of each tier, with mixrec_recommend'
\timing on
SELECT r.user_id, u.tier, r.rank, m.title, round(r.score::numeric, 3) AS score
FROM mixrec_recommend('movielens', 'users',
					  'SELECT * FROM movies WHERE movie_ratings >= ' || :min_ratings,
					  'user_id', 'movie_id', k => 3,
					  exclude => 'SELECT user_id, movie_id FROM ratings') AS r
JOIN users AS u ON u.user_id = r.user_id::int
JOIN movies AS m ON m.movie_id = r.item_id::int
WHERE r.user_id::int IN (SELECT user_id FROM users WHERE tier = 'open' ORDER BY user_id LIMIT 5)
   OR r.user_id::int IN (SELECT user_id FROM users WHERE tier = 'commercial' ORDER BY user_id LIMIT 5)
ORDER BY r.user_id::int, r.rank;
\timing off
