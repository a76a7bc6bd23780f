-- demo/compare.sql: the model of typed columns (demo/recommend.sql) and the
-- model of hand-built vectors (demo/baseline.sql) on the held-out ratings,
-- which neither model nor any statistic of their features has seen.
--
--   psql -v ON_ERROR_STOP=1 -d demo -f demo/compare.sql

\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SET jit = off;

-- The largest drop in held-out AUC that the typed columns may cost
\set tolerance 0.005

\echo
\echo '== Both models on the held-out ratings (test_pairs)'
CREATE TEMP TABLE held_out_metrics AS
SELECT t.model, t.metric, t.value AS typed_columns, v.value AS vectors, t.n
FROM mixrec_evaluate('movielens', 'test_pairs', features => NULL, label => 'liked',
					 domain => 'tier') WITH ORDINALITY AS t (model, metric, value, n)
JOIN mixrec_evaluate('movielens_vectors', 'baseline.test_pairs', 'features', 'liked',
					 domain => 'tier') AS v
	USING (model, metric);

SELECT model,
	   max(typed_columns) FILTER (WHERE metric = 'rows')::int AS rows,
	   round(max(typed_columns) FILTER (WHERE metric = 'auc')::numeric, 4) AS auc_typed,
	   round(max(vectors) FILTER (WHERE metric = 'auc')::numeric, 4) AS auc_vectors,
	   round(max(typed_columns) FILTER (WHERE metric = 'log_loss')::numeric, 4) AS log_loss_typed,
	   round(max(vectors) FILTER (WHERE metric = 'log_loss')::numeric, 4) AS log_loss_vectors,
	   round(max(typed_columns) FILTER (WHERE metric = 'accuracy')::numeric, 4) AS accuracy_typed,
	   round(max(vectors) FILTER (WHERE metric = 'accuracy')::numeric, 4) AS accuracy_vectors
FROM held_out_metrics
GROUP BY model
ORDER BY min(n);

SELECT format('held-out AUC of the blend: typed columns %s, hand-built vectors %s (%s): %s',
			  round(typed_columns::numeric, 4), round(vectors::numeric, 4),
			  to_char(typed_columns - vectors, 'SG0.0000'),
			  CASE WHEN typed_columns >= vectors - :tolerance
				   THEN 'the typed columns are no worse by more than ' || :'tolerance'
				   ELSE 'the typed columns are WORSE by more than ' || :'tolerance' END)
		   AS comparison
FROM held_out_metrics
WHERE model = 'blend' AND metric = 'auc'
\gset
\echo
\echo :comparison
