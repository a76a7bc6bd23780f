-- bench/retrieval_vectors.sql: retrieval vectors of a model with typed
-- columns, for an inner-product index (pgvector's HNSW with vector_ip_ops).
--
-- A model's score is not an inner product of its embeddings: the user's and
-- the item's embedding rows are inputs of an MLP, so their inner product
-- ranks items by nothing the model learned.  What is an inner product is
-- the model's first-order expansion in the item: with h = W1 x + b1 split
-- into the user's part a(u) (its columns, and b1) and the item's part c(i),
--
--   logit(u, i) = w2 . relu(a(u) + c(i)) + b2
--              ~= const(u) + sum_j w2_j [a_j(u) + cbar_j > 0] c_j(i)
--
-- around the mean item cbar.  So the item vector is c(i), the item's
-- columns through the first layer (its embedding rows and other columns
-- weighted by W1), and the user vector is w2 masked by the hidden units the
-- user turns on; for the blend, the open and commercial halves weighted by
-- alpha and 1 - alpha, concatenated.  Items are then re-ranked by the model
-- itself (mixrec_score), so the expansion only has to put the model's top
-- items among the candidates.
--
-- psql variables:
--   model       the registered model
--   item_rows   a query giving, per item, the model's input columns (the
--               user's as NULL of their types) and item_id
--   user_rows   likewise per user, the item's columns NULL, and user_id
--   item_id, user_id   the id columns of those rows
-- Writes retrieval_items (item_id, embedding vector) and retrieval_users
-- (user_id, embedding vector), replacing them.

SET client_min_messages = warning;
DROP TABLE IF EXISTS rv_model, rv_columns, rv_w, rv_std, rv_proj, rv_item_x, rv_user_x, rv_item_parts,
	rv_user_parts, rv_layer, retrieval_items, retrieval_users;

-- (numbers from JSON are read as float8, then rounded: a float32 subnormal
-- printed in full is out of range for real's own input function; and
-- pg_temp.rv_flush sets numbers below 1e-18 to 0, since pgvector's product
-- of vectors refuses a result that underflows)
CREATE FUNCTION pg_temp.rv_flush(x float8) RETURNS real
LANGUAGE sql IMMUTABLE AS $$ SELECT CASE WHEN abs(x) < 1e-18 THEN 0 ELSE x END::real $$;

CREATE TEMP TABLE rv_model AS
SELECT mixrec_export(weights) AS m FROM mixrec_models WHERE name = :'model' AND active;

-- The input's columns: where each starts, its width, whether it is embedded
CREATE TEMP TABLE rv_columns AS
SELECT c->>'name' AS name, (c->>'width')::int AS width,
	   coalesce((c->>'embed')::int, 0) > 0 AS embedded,
	   (sum((c->>'width')::int) OVER (ORDER BY ord) - (c->>'width')::int)::int AS start
FROM rv_model, jsonb_array_elements(m->'transform'->'columns') WITH ORDINALITY AS t (c, ord);

-- The first layer's columns as vectors (one per input, of the hidden size)
CREATE TEMP TABLE rv_w AS
SELECT s.side, d, array_agg(pg_temp.rv_flush((r.w->>d)::float8) ORDER BY r.j)::vector AS col
FROM rv_model, (VALUES ('open'), ('commercial')) AS s (side),
	 jsonb_array_elements(m->s.side->'0.weight') WITH ORDINALITY AS r (w, j),
	 generate_series(0, (m->>'input_dim')::int - 1) AS d
GROUP BY s.side, d;
CREATE INDEX ON rv_w (side, d);

-- The inputs of every item and every user, as the model reads them
CREATE TEMP TABLE rv_item_x AS
SELECT r.:"item_id" AS id, mixrec_transform(:'model', r) AS x FROM (:item_rows) AS r;
CREATE TEMP TABLE rv_user_x AS
SELECT r.:"user_id" AS id, mixrec_transform(:'model', r) AS x FROM (:user_rows) AS r;

-- The standardisation, and each embedded column's rows through W1's
-- columns: the part of the first layer one row of its table gives
CREATE TEMP TABLE rv_std AS
SELECT ARRAY(SELECT e::float8::real FROM jsonb_array_elements_text(m->'standardize'->'mean') WITH ORDINALITY AS t (e, n) ORDER BY n) AS mean,
	   ARRAY(SELECT e::float8::real FROM jsonb_array_elements_text(m->'standardize'->'std') WITH ORDINALITY AS t (e, n) ORDER BY n) AS std
FROM rv_model;
CREATE TEMP TABLE rv_proj AS
SELECT s.side, c.name, (r.n - 1)::int AS idx,
	   sum(array_fill(pg_temp.rv_flush((r.e->>k)::float8), ARRAY[vector_dims(w.col)])::vector * w.col) AS part
FROM rv_model AS mo, rv_columns AS c, (VALUES ('open'), ('commercial')) AS s (side),
	 LATERAL jsonb_array_elements(mo.m->s.side->(c.name || '.weight')) WITH ORDINALITY AS r (e, n),
	 generate_series(0, c.width - 1) AS k, rv_w AS w
WHERE c.embedded AND w.side = s.side AND w.d = c.start + k
GROUP BY s.side, c.name, r.n;
CREATE INDEX ON rv_proj (side, name, idx);

-- One side's part of the first layer, per row: its embedded columns' rows
-- and its other columns (standardised, the zeros left out) times W1's
-- columns; `cols` are the side's columns
CREATE FUNCTION pg_temp.rv_parts(rows regclass, cols text[])
RETURNS TABLE (id bigint, side text, part vector)
LANGUAGE plpgsql AS $$
BEGIN
	RETURN QUERY EXECUTE format($q$
		SELECT t.id::bigint, t.side, sum(t.term)
		FROM (
			SELECT r.id, p.side, p.part AS term
			FROM %s AS r, rv_columns AS c, rv_proj AS p
			WHERE c.name = ANY ($1) AND c.embedded
			  AND p.name = c.name AND p.idx = r.x[c.start + 1]::int
			UNION ALL
			SELECT r.id, w.side,
				   array_fill(pg_temp.rv_flush((r.x[c.start + k + 1] - st.mean[c.start + k + 1]) / st.std[c.start + k + 1]),
							  ARRAY[vector_dims(w.col)])::vector * w.col
			FROM %s AS r, rv_columns AS c, rv_std AS st,
				 generate_series(0, c.width - 1) AS k, rv_w AS w
			WHERE c.name = ANY ($1) AND NOT c.embedded AND w.d = c.start + k
			  AND r.x[c.start + k + 1] <> st.mean[c.start + k + 1]
		) AS t
		GROUP BY t.id, t.side$q$, rows, rows) USING cols;
END
$$;

-- Which columns are the item's: those item_rows gives a value in some row
CREATE TEMP TABLE rv_item_parts AS
SELECT * FROM pg_temp.rv_parts('rv_item_x',
	(SELECT array_agg(DISTINCT e.key) FROM (:item_rows) AS r, jsonb_each(to_jsonb(r)) AS e
	 WHERE e.value <> 'null'::jsonb));
CREATE TEMP TABLE rv_user_parts AS
SELECT * FROM pg_temp.rv_parts('rv_user_x',
	(SELECT array_agg(DISTINCT e.key) FROM (:user_rows) AS r, jsonb_each(to_jsonb(r)) AS e
	 WHERE e.value <> 'null'::jsonb));

-- Per model: its share of the blend, b1, w2 and the mean item part cbar
CREATE TEMP TABLE rv_layer AS
SELECT s.side, s.ord, s.share,
	   ARRAY(SELECT e::float8::real FROM jsonb_array_elements_text(mo.m->s.side->'0.bias') WITH ORDINALITY AS b (e, n) ORDER BY n) AS b1,
	   ARRAY(SELECT e::float8::real FROM jsonb_array_elements_text(mo.m->s.side->'2.weight'->0) WITH ORDINALITY AS w (e, n) ORDER BY n) AS w2,
	   (SELECT avg(p.part)::real[] FROM rv_item_parts AS p WHERE p.side = s.side) AS cbar
FROM rv_model AS mo,
	 LATERAL (VALUES ('open', 1, (mo.m->>'alpha')::real), ('commercial', 2, 1 - (mo.m->>'alpha')::real))
		 AS s (side, ord, share);

-- Item vectors: the open and the commercial part, concatenated
CREATE TABLE retrieval_items AS
SELECT o.id AS item_id, o.part || c.part AS embedding
FROM rv_item_parts AS o JOIN rv_item_parts AS c USING (id)
WHERE o.side = 'open' AND c.side = 'commercial';

-- User vectors: w2 where a(u) + b1 + cbar turns the hidden unit on, 0
-- elsewhere, each half weighted by its share of the blend
CREATE TABLE retrieval_users AS
SELECT p.id AS user_id,
	   array_agg(CASE WHEN a[j] + l.b1[j] + l.cbar[j] > 0 THEN l.share * l.w2[j] ELSE 0 END
				 ORDER BY l.ord, j)::vector AS embedding
FROM rv_user_parts AS p
	 JOIN rv_layer AS l USING (side),
	 LATERAL (SELECT p.part::real[] AS a) AS pa,
	 generate_series(1, array_length(l.w2, 1)) AS j
GROUP BY p.id;

-- A column of a fixed dimension, as an index needs
SELECT format('ALTER TABLE %I ALTER embedding TYPE vector(%s)', t, (SELECT vector_dims(embedding) FROM retrieval_items LIMIT 1))
FROM unnest(ARRAY['retrieval_items', 'retrieval_users']) AS t
\gexec

ANALYZE retrieval_items, retrieval_users;
