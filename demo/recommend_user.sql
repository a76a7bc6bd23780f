-- demo/recommend_user.sql: the profile and the top 10 movies of one user,
-- with the active movielens model.  demo/recommend.sql includes it once per
-- user; psql variables: user_id, min_ratings.

\echo
\echo '-- user' :user_id

SELECT u.user_id,
	   u.tier,
	   u.user_ratings AS training_ratings,
	   round(u.user_mean_rating::numeric, 2) AS mean_rating,
	   (SELECT string_agg(format('%s %s%%', genre, round(100.0 * n / u.user_ratings)), ', '
						  ORDER BY n DESC, genre)
		FROM (SELECT g.genre, count(*) AS n
			  FROM ratings AS r
			  JOIN movies AS m USING (movie_id)
			  CROSS JOIN unnest(m.genres) AS g (genre)
			  WHERE r.user_id = u.user_id AND NOT r.held_out
			  GROUP BY g.genre
			  ORDER BY n DESC, g.genre
			  LIMIT 4) AS top) AS most_rated_genres
FROM users AS u
WHERE u.user_id = :user_id;

-- A candidate is a row of the user's columns and the movie's, so
-- mixrec_score finds every column the model reads in it by name.  Score
-- every candidate with the blend, keep the best 10, then score those 10
-- with each model alone too.
WITH candidates AS (
	SELECT *
	FROM users AS u
	CROSS JOIN movies AS m
	WHERE u.user_id = :user_id
	  AND m.movie_ratings >= :min_ratings
	  AND NOT EXISTS (SELECT FROM ratings AS r
					  WHERE r.user_id = u.user_id AND r.movie_id = m.movie_id)
),
top10 AS (
	SELECT c.*, mixrec_score('movielens', c) AS score
	FROM candidates AS c
	ORDER BY score DESC, c.movie_id
	LIMIT 10
)
SELECT row_number() OVER (ORDER BY t.score DESC, t.movie_id) AS rank,
	   t.title,
	   t.year,
	   array_to_string(t.genres, ', ') AS genres,
	   round(t.score::numeric, 3) AS score,
	   round(mixrec_score('movielens', t, 'open')::numeric, 3) AS open,
	   round(mixrec_score('movielens', t, 'commercial')::numeric, 3) AS commercial
FROM top10 AS t
ORDER BY rank;
