-- demo/recommend_user.sql: the profile and the top 10 movies of one user,
-- with the active movielens model.  demo/recommend.sql includes it once per
-- user; psql variables: user_id, min_ratings.

\echo
\echo '-- user' :user_id

SELECT u.user_id,
       u.domain AS tier,
       u.n_ratings AS ratings,
       round(u.mean_rating::numeric, 2) AS mean_rating,
       (SELECT string_agg(format('%s %s%%', g.genre, round(100 * u.profile[g.idx]::numeric)),
                          ', ' ORDER BY u.profile[g.idx] DESC, g.idx)
        FROM (SELECT * FROM genres ORDER BY u.profile[idx] DESC, idx LIMIT 4) AS g)
           AS most_rated_genres
FROM user_stats AS u
WHERE u.user_id = :user_id;

-- Score every candidate with the blend, keep the best 10, then score those
-- 10 with each model alone too
WITH model AS (
    SELECT weights FROM mixrec_models WHERE name = 'movielens' AND active
),
top10 AS (
    SELECT mf.movie_id,
           uf.features || mf.features AS features,
           mixrec_score(model.weights, uf.features || mf.features) AS score
    FROM model
    CROSS JOIN user_features AS uf
    CROSS JOIN movie_features AS mf
    JOIN movie_stats AS ms ON ms.movie_id = mf.movie_id
    WHERE uf.user_id = :user_id
      AND ms.n_ratings >= :min_ratings
      AND NOT EXISTS (SELECT FROM ratings AS r
                      WHERE r.user_id = uf.user_id AND r.movie_id = mf.movie_id)
    ORDER BY score DESC, mf.movie_id
    LIMIT 10
)
SELECT row_number() OVER (ORDER BY t.score DESC, t.movie_id) AS rank,
       m.title,
       m.year,
       array_to_string(m.genres, ', ') AS genres,
       round(t.score::numeric, 3) AS score,
       round(mixrec_score(model.weights, t.features, 'open')::numeric, 3) AS open,
       round(mixrec_score(model.weights, t.features, 'commercial')::numeric, 3) AS commercial
FROM top10 AS t
JOIN movies AS m USING (movie_id)
CROSS JOIN model
ORDER BY rank;
