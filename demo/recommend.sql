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
