-- bench/retrieval.sql: candidate retrieval with pgvector against scoring
-- every movie, on the MovieLens implicit model of demo/implicit.sql.
--
-- Per user of a sample of :users users (those with test likes, in a fixed
-- order), the top 10 movies the user has not liked in training:
--   exhaustive  mixrec_score on every such movie (about 9,000)
--   recipe      200 candidates from an HNSW index by inner product with the
--               user's vector, re-ranked by mixrec_score (README, "Candidate
--               retrieval with pgvector")
-- for two choices of vectors: the retrieval vectors of
-- bench/retrieval_vectors.sql (the model's first-order expansion in the
-- movie), and the model's own embedding rows of movie_id and user_id.
-- Reported: overlap@10, the share of the exhaustive top 10 that the recipe
-- returns (what the index loses against scoring everything), recall@10 of
-- each against the user's held-out likes (like_test), and the time per
-- user of each, measured in the backend with clock_timestamp().
--
-- Needs the tables and the model of demo/schema.sql and demo/implicit.sql,
-- and the tables of bench/retrieval_vectors.sql.

\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SET jit = off;
SET max_parallel_workers_per_gather = 0;

-- The embedding rows as vectors (the open model's: the blend averages two)
DROP TABLE IF EXISTS embedding_items, embedding_users;
CREATE TABLE embedding_items AS
SELECT value::int AS item_id, open::vector(32) AS embedding
FROM mixrec_embeddings('movielens_implicit', 'movie_id');
CREATE TABLE embedding_users AS
SELECT value::int AS user_id, open::vector(32) AS embedding
FROM mixrec_embeddings('movielens_implicit', 'user_id');

\timing on
CREATE INDEX ON retrieval_items USING hnsw (embedding vector_ip_ops);
CREATE INDEX ON embedding_items USING hnsw (embedding vector_ip_ops);
\timing off
ANALYZE embedding_items, embedding_users, retrieval_items, retrieval_users;

-- LIMIT 200 needs ef_search of at least 200; iterative scans keep going
-- past the movies the user has liked
SET hnsw.ef_search = 200;
SET hnsw.iterative_scan = relaxed_order;

CREATE TEMP TABLE sample_users AS
SELECT user_id FROM (SELECT DISTINCT user_id FROM like_test) AS u
WHERE user_id IN (SELECT user_id FROM retrieval_users)
ORDER BY md5(user_id::text) LIMIT :users;

CREATE TEMP TABLE results (user_id int, method text, ms float8, top int[]);

DO $$
DECLARE
	u int;
	t0 timestamptz;
	top int[];
	vectors text;
BEGIN
	FOR u IN SELECT user_id FROM sample_users ORDER BY user_id LOOP
		t0 := clock_timestamp();
		SELECT array_agg(movie_id ORDER BY score DESC, movie_id) INTO top
		FROM (SELECT m.movie_id, mixrec_score('movielens_implicit', r) AS score
			  FROM movies AS m
			  CROSS JOIN LATERAL (SELECT u AS user_id, m.movie_id, m.genres) AS r
			  WHERE NOT EXISTS (SELECT FROM like_train AS l WHERE l.user_id = u AND l.movie_id = m.movie_id)
			  ORDER BY score DESC, m.movie_id LIMIT 10) AS s;
		INSERT INTO results VALUES (u, 'exhaustive', 1000 * extract(epoch FROM clock_timestamp() - t0), top);

		FOREACH vectors IN ARRAY ARRAY['retrieval', 'embedding'] LOOP
			t0 := clock_timestamp();
			-- The recipe of README, with the tables of either choice
			EXECUTE format($q$
				SELECT array_agg(movie_id ORDER BY score DESC, movie_id)
				FROM (SELECT m.movie_id, mixrec_score('movielens_implicit', r) AS score
					  FROM (SELECT v.item_id AS movie_id
							FROM %1$I AS v
							WHERE NOT EXISTS (SELECT FROM like_train AS l
											  WHERE l.user_id = $1 AND l.movie_id = v.item_id)
							ORDER BY v.embedding <#> (SELECT embedding FROM %2$I WHERE user_id = $1)
							LIMIT 200) AS c
					  JOIN movies AS m USING (movie_id)
					  CROSS JOIN LATERAL (SELECT $1 AS user_id, m.movie_id, m.genres) AS r
					  ORDER BY score DESC, m.movie_id LIMIT 10) AS s$q$,
				vectors || '_items', vectors || '_users')
			INTO top USING u;
			INSERT INTO results VALUES (u, vectors, 1000 * extract(epoch FROM clock_timestamp() - t0), top);
		END LOOP;
	END LOOP;
END
$$;

\echo
\echo '== The plan of the recipe (one user)'
EXPLAIN (COSTS OFF)
SELECT m.movie_id, mixrec_score('movielens_implicit', r) AS score
FROM (SELECT v.item_id AS movie_id
	  FROM retrieval_items AS v
	  WHERE NOT EXISTS (SELECT FROM like_train AS l WHERE l.user_id = 1 AND l.movie_id = v.item_id)
	  ORDER BY v.embedding <#> (SELECT embedding FROM retrieval_users WHERE user_id = 1)
	  LIMIT 200) AS c
JOIN movies AS m USING (movie_id)
CROSS JOIN LATERAL (SELECT 1 AS user_id, m.movie_id, m.genres) AS r
ORDER BY score DESC LIMIT 10;

\echo
\echo '== Per user: overlap@10 with the exhaustive top 10, recall@10 of the held-out likes, time'
SELECT r.method AS "top 10 by",
	   count(*) AS users,
	   round(avg(cardinality(ARRAY(SELECT unnest(r.top) INTERSECT SELECT unnest(e.top))) / 10.0), 3)
		   AS "overlap@10 with exhaustive",
	   round(avg((SELECT count(*) FROM like_test AS t WHERE t.user_id = r.user_id AND t.movie_id = ANY (r.top))::numeric
				 / (SELECT count(*) FROM like_test AS t WHERE t.user_id = r.user_id)), 4) AS "recall@10 of test likes",
	   round(percentile_cont(0.5) WITHIN GROUP (ORDER BY r.ms)::numeric, 2) AS "median ms",
	   round(avg(r.ms)::numeric, 2) AS "mean ms"
FROM results AS r JOIN results AS e ON e.user_id = r.user_id AND e.method = 'exhaustive'
GROUP BY r.method
ORDER BY CASE r.method WHEN 'exhaustive' THEN 0 WHEN 'retrieval' THEN 1 ELSE 2 END;
