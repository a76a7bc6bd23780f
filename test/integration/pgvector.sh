#!/usr/bin/env bash
# pgvector's vector as features, and candidate retrieval with an HNSW index
# re-ranked by mixrec_score.  mixrec finds the vector type at run time; here
# the extension is created, so every path that reads features reads vector
# columns, byte for byte as the real[] of the same values.  Skipped
# (1..0 # SKIP) where pgvector is not installed, as on Debian 12; the
# host's side (no pgvector) is test/sql/pgvector_missing.sql.
set -uo pipefail
cd "$(dirname "$0")"
. ./tap.sh

if [ "$(psql -X -q -At -d postgres -c "SELECT count(*) FROM pg_available_extensions WHERE name = 'vector'")" != 1 ]; then
    echo "1..0 # SKIP pgvector is not installed"
    exit 0
fi

db=mixrec_it_pgvector
psql -X -q -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
q $db "CREATE EXTENSION mixrec; CREATE EXTENSION vector" >/dev/null
diag "pgvector $(q $db "SELECT extversion FROM pg_extension WHERE extname = 'vector'"), $(q $db "SELECT version()")"

# err SQL: the error message of a statement that must fail ("" if it ran)
err() {
    psql -X -q -At -d $db -c "SET client_min_messages = warning" -c "$1" 2>&1 >/dev/null |
        sed -n 's/^ERROR: *//p' | head -n 1
}

# Users and items with 8-dimensional vectors, and a click when their inner
# product is high: the same values as vector and as real[]
q $db "SET client_min_messages = warning;
       CREATE TABLE users AS
       SELECT u AS user_id, ARRAY(SELECT sin(u * 7.1 + k * 3.3) FROM generate_series(1, 8) AS k)::vector(8) AS uv
       FROM generate_series(1, 90) AS u;
       CREATE TABLE items AS
       SELECT i AS item_id, ARRAY(SELECT cos(i * 5.3 + k * 1.7) FROM generate_series(1, 8) AS k)::vector(8) AS iv
       FROM generate_series(1, 1000) AS i;
       CREATE TABLE clicks AS
       SELECT u.user_id, i.item_id, u.uv || i.iv AS v, (u.uv || i.iv)::real[] AS a,
              (u.uv <#> i.iv) < -0.5 AS clicked, CASE WHEN i.item_id % 3 = 0 THEN 'open' END AS tier
       FROM users AS u, items AS i WHERE (u.user_id + i.item_id) % 3 = 0;
       CREATE TABLE typed AS
       SELECT user_id, item_id % 7 AS shelf, iv AS embedding, clicked
       FROM clicks JOIN items USING (item_id);
       CREATE TABLE typed_arrays AS
       SELECT user_id, shelf, embedding::real[] AS embedding, clicked FROM typed;"
rows=$(q $db "SELECT count(*) || ' rows, ' || count(*) FILTER (WHERE clicked) || ' clicks' FROM clicks")
diag "clicks: $rows"

# Training from a vector column gives the model training from real[] gives
q $db "SET client_min_messages = warning;
       SELECT mixrec_train('vec', 'clicks', 'v', 'clicked', domain => 'tier', epochs => 3, seed => 5);
       SELECT mixrec_train('arr', 'clicks', 'a', 'clicked', domain => 'tier', epochs => 3, seed => 5);
       SELECT mixrec_train('vec_expr', 'SELECT v, clicked FROM clicks', 'v', 'clicked', epochs => 1, seed => 5);
       SELECT mixrec_train('arr_expr', 'SELECT a, clicked FROM clicks', 'a', 'clicked', epochs => 1, seed => 5)" >/dev/null
same=$(q $db "SELECT (SELECT weights FROM mixrec_models WHERE name = 'vec' AND active)
                   = (SELECT weights FROM mixrec_models WHERE name = 'arr' AND active)")
ok $([ "$same" = t ]; echo $?) "mixrec_train from a vector column: the same model bytes as from real[] ($same)"
same=$(q $db "SELECT (SELECT weights FROM mixrec_models WHERE name = 'vec_expr' AND active)
                   = (SELECT weights FROM mixrec_models WHERE name = 'arr_expr' AND active)")
ok $([ "$same" = t ]; echo $?) "mixrec_train from a source query's vector: the same model bytes as from real[] ($same)"

# Streamed training (one pass over the source per epoch) reads vector too:
# the split hashes the values as real[], the epochs read the vectors
q $db "SET client_min_messages = warning;
       SELECT mixrec_train('vec_stream', 'clicks', 'v', 'clicked', domain => 'tier', epochs => 2, seed => 5, method => 'stream');
       SELECT mixrec_train('arr_stream', 'clicks', 'a', 'clicked', domain => 'tier', epochs => 2, seed => 5, method => 'stream')" >/dev/null
same=$(q $db "SELECT (SELECT weights FROM mixrec_models WHERE name = 'vec_stream' AND active)
                   = (SELECT weights FROM mixrec_models WHERE name = 'arr_stream' AND active)")
ok $([ "$same" = t ]; echo $?) "streamed training from a vector column: the same model bytes as from real[] ($same)"

# Scoring: by name and by bytea, vector (pgvector's implicit cast to real[])
# against real[]
bad=$(q $db "SELECT count(*) FROM clicks, (SELECT weights FROM mixrec_models WHERE name = 'vec' AND active) AS m
             WHERE mixrec_score('vec', v) IS DISTINCT FROM mixrec_score('vec', a)
                OR mixrec_score(m.weights, v) IS DISTINCT FROM mixrec_score(m.weights, a)
                OR mixrec_score(m.weights, v, 'soup', 0.3) IS DISTINCT FROM mixrec_score(m.weights, a, 'soup', 0.3)
                OR mixrec_score_all(m.weights, v) IS DISTINCT FROM mixrec_score_all(m.weights, a)")
ok $([ "$bad" = 0 ]; echo $?) "mixrec_score by name and by bytea: vector scores equal real[] on every row ($bad differ)"

# Batch paths: evaluate, predict, recommend
bad=$(q $db "SELECT count(*) FROM mixrec_evaluate('vec', 'clicks', 'v', 'clicked', 'tier') AS v
             FULL JOIN mixrec_evaluate('vec', 'clicks', 'a', 'clicked', 'tier') AS a USING (model, metric)
             WHERE v.value IS DISTINCT FROM a.value")
ok $([ "$bad" = 0 ]; echo $?) "mixrec_evaluate of vector features equals real[] ($bad metrics differ)"
bad=$(q $db "SELECT count(*) FROM mixrec_predict('vec', 'clicks', 'user_id || ''/'' || item_id', 'v') AS v
             FULL JOIN mixrec_predict('vec', 'clicks', 'user_id || ''/'' || item_id', 'a') AS a USING (id)
             WHERE v.score IS DISTINCT FROM a.score")
ok $([ "$bad" = 0 ]; echo $?) "mixrec_predict of vector features equals real[] ($bad rows differ)"
bad=$(q $db "SELECT count(*) FROM
               (SELECT * FROM mixrec_recommend('vec', 'users', 'items', 'user_id', 'item_id', 'uv', 'iv', k => 5)) AS v
             FULL JOIN
               (SELECT * FROM mixrec_recommend('vec', 'SELECT user_id, uv::real[] AS uv FROM users',
                                               'SELECT item_id, iv::real[] AS iv FROM items',
                                               'user_id', 'item_id', 'uv', 'iv', k => 5)) AS a
             USING (user_id, item_id) WHERE v.score IS DISTINCT FROM a.score")
ok $([ "$bad" = 0 ]; echo $?) "mixrec_recommend of vector user and item features equals real[] ($bad rows differ)"
bad=$(q $db "SELECT count(*) FROM mixrec_evaluate_ranking('vec', 'SELECT * FROM clicks WHERE item_id % 2 = 0',
                 'SELECT c.user_id, c.item_id, u.uv FROM clicks AS c JOIN users AS u USING (user_id) WHERE c.clicked AND c.item_id % 2 = 1',
                 'user_id', 'item_id', 'items', 5, 'uv', 'iv') AS v
             FULL JOIN mixrec_evaluate_ranking('vec', 'SELECT * FROM clicks WHERE item_id % 2 = 0',
                 'SELECT c.user_id, c.item_id, u.uv::real[] AS uv FROM clicks AS c JOIN users AS u USING (user_id) WHERE c.clicked AND c.item_id % 2 = 1',
                 'user_id', 'item_id', 'SELECT item_id, iv::real[] AS iv FROM items', 5, 'uv', 'iv') AS a USING (metric)
             WHERE v.model IS DISTINCT FROM a.model OR v.model IS NULL")
ok $([ "$bad" = 0 ]; echo $?) "mixrec_evaluate_ranking of vector features equals real[] ($bad metrics differ)"

# Explanations: of one row (declared real[]: pgvector's cast) and over a
# source; the source's rows are summed in an order that hashes their text,
# which differs between vector and real[], so equal to float tolerance
bad=$(q $db "SELECT count(*) FROM (SELECT c.user_id, c.item_id, v.* FROM clicks AS c, mixrec_explain('vec', c.v, 16) AS v
                                   WHERE c.item_id < 10) AS v
             FULL JOIN (SELECT c.user_id, c.item_id, a.* FROM clicks AS c, mixrec_explain('vec', c.a, 16) AS a
                        WHERE c.item_id < 10) AS a USING (user_id, item_id, feature)
             WHERE v.blend IS DISTINCT FROM a.blend OR v.score IS DISTINCT FROM a.score")
ok $([ "$bad" = 0 ]; echo $?) "mixrec_explain of a vector equals real[] ($bad attributions differ)"
bad=$(q $db "SELECT count(*) FROM mixrec_global_explain('vec', 'SELECT * FROM clicks WHERE item_id < 100', 100000, features => 'v') AS v
             FULL JOIN mixrec_global_explain('vec', 'SELECT * FROM clicks WHERE item_id < 100', 100000, features => 'a') AS a
             USING (feature)
             WHERE NOT abs(v.blend - a.blend) <= 1e-9 + 1e-6 * abs(a.blend)")
ok $([ "$bad" = 0 ]; echo $?) "mixrec_global_explain over vector features equals real[] to float tolerance ($bad differ)"

# The aggregates: mixrec_fit_rows reads the vector as it comes ("any");
# mixrec_fit (declared real[]) gets it through pgvector's cast
bad=$(q $db "SET max_parallel_workers_per_gather = 0;
             SELECT (SELECT mixrec_fit_rows(mixrec_init(16, '{8}'), v, clicked, 1.0::float8, tier, NULL::jsonb) FROM clicks)
                 IS DISTINCT FROM
                    (SELECT mixrec_fit_rows(mixrec_init(16, '{8}'), a, clicked, 1.0::float8, tier, NULL::jsonb) FROM clicks)")
ok $([ "$bad" = f ]; echo $?) "mixrec_fit_rows over vector equals real[] (differ: $bad)"
bad=$(q $db "SET max_parallel_workers_per_gather = 0;
             SELECT (SELECT mixrec_fit(mixrec_init(16, '{8}'), v, clicked::int::float8) FROM clicks)
                 IS DISTINCT FROM
                    (SELECT mixrec_fit(mixrec_init(16, '{8}'), a, clicked::int::float8) FROM clicks)")
ok $([ "$bad" = f ]; echo $?) "mixrec_fit over vector equals real[] (differ: $bad)"

# Typed columns: a vector column is a dense block, as a real[] one (no
# validation split: it hashes the row's bytes, which differ between the two)
q $db "SET client_min_messages = warning;
       SELECT mixrec_train('typed_vec', 'typed', NULL, 'clicked', epochs => 2, seed => 3, validation_fraction => 0);
       SELECT mixrec_train('typed_arr', 'typed_arrays', NULL, 'clicked', epochs => 2, seed => 3, validation_fraction => 0)" >/dev/null
same=$(q $db "SELECT (SELECT mixrec_export(weights) - 'transform' FROM mixrec_models WHERE name = 'typed_vec' AND active)
                   = (SELECT mixrec_export(weights) - 'transform' FROM mixrec_models WHERE name = 'typed_arr' AND active)")
types=$(q $db "SELECT string_agg(c->>'type', ',' ORDER BY m.name) FROM mixrec_models AS m,
               jsonb_array_elements(mixrec_export(m.weights)->'transform'->'columns') AS c
               WHERE m.name IN ('typed_vec', 'typed_arr') AND c->>'name' = 'embedding'")
ok $([ "$same" = t ] && [ "$types" = "real[],vector" ]; echo $?) "typed columns with a vector column: the same weights as with real[] ($same), the column's type recorded ($types)"
bad=$(q $db "SELECT count(*) FROM typed AS t JOIN typed_arrays AS a USING (user_id, shelf, clicked)
             WHERE t.embedding::real[] = a.embedding AND mixrec_score('typed_vec', t) IS DISTINCT FROM mixrec_score('typed_vec', a)")
ok $([ "$bad" = 0 ]; echo $?) "typed columns: a row with a vector scores as the row with its real[] ($bad differ)"

# Wrong dimensions, with the messages of a real[] of the wrong length
msg=$(err "SELECT mixrec_score('vec', '[1,2,3]'::vector)")
ok $([ "$msg" = "features have 3 elements, expected 16" ]; echo $?) "scoring a vector(3) with a 16-input model: $msg"
msg=$(err "SELECT mixrec_train('wrong', 'SELECT CASE WHEN item_id = 7 THEN ''[1,2]''::vector ELSE v END AS v, clicked FROM clicks ORDER BY user_id, item_id', 'v', 'clicked')")
ok $([ "$msg" = "features have 2 elements, expected 16" ]; echo $?) "training from a column with one vector of 2 dimensions: $msg"
ctx=$(psql -X -q -d $db -c "SELECT mixrec_train('wrong', 'SELECT CASE WHEN item_id = 7 THEN ''[1,2]''::vector ELSE v END AS v, clicked FROM clicks ORDER BY user_id, item_id', 'v', 'clicked')" 2>&1 | grep -E 'DETAIL|CONTEXT:  source row' | tr '\n' ' ')
ok $(echo "$ctx" | grep -q 'The first row has 16 elements' && echo "$ctx" | grep -q 'source row [0-9]'; echo $?) "the wrong-dimension error names the row and the first row's size: $ctx"
msg=$(err "SELECT mixrec_score('typed_vec', t) FROM (SELECT 1 AS user_id, 2 AS shelf, '[1,2,3]'::vector AS embedding) AS t")
want=$(err "SELECT mixrec_score('typed_vec', t) FROM (SELECT 1 AS user_id, 2 AS shelf, '{1,2,3}'::real[] AS embedding) AS t")
ok $([ "$msg" = 'column "embedding" has 3 elements, expected 8' ] && [ "$msg" = "$want" ]; echo $?) "a typed vector column of 3 dimensions for 8: $msg (real[]: $want)"
msg=$(err "SELECT mixrec_fit_rows(mixrec_init(16, '{8}'), '[1,2,3]'::vector, true, 1.0::float8, NULL::text, NULL::jsonb)")
ok $([ "$msg" = "features have 3 elements, expected 16" ]; echo $?) "mixrec_fit_rows with a vector(3) for 16 inputs: $msg"
msg=$(err "SELECT * FROM mixrec_predict('vec', 'SELECT 1 AS id, ''[1,2]''::vector AS v', 'id', 'v')")
ok $([ "$msg" = "features have 2 elements, expected 16" ]; echo $?) "mixrec_predict with a vector(2) for 16 inputs: $msg"
msg=$(err "SELECT * FROM mixrec_evaluate('vec', 'SELECT ''[1,2]''::vector AS v, true AS y', 'v', 'y')")
ok $([ "$msg" = "features have 2 elements, expected 16" ]; echo $?) "mixrec_evaluate with a vector(2) for 16 inputs: $msg"

# Hostile values: a binary-coercible cast from bytea hands mixrec any bytes
# as a vector; each is refused before its elements are read, and the
# server stays up.  (dim, unused and the size are little-endian here.)
q $db "CREATE CAST (bytea AS vector) WITHOUT FUNCTION" >/dev/null
hostile() {
    # hostile BYTES EXPECTED_MESSAGE DESCRIPTION
    local msg
    msg=$(err "SELECT mixrec_fit_rows(mixrec_init(2, '{4}'), '\\x$1'::bytea::vector, true, 1.0::float8, NULL::text, NULL::jsonb)")
    ok $([ "$msg" = "$2" ]; echo $?) "hostile vector, $3: $msg"
}
hostile "0200" "features: a vector of 6 bytes is shorter than a vector's 8-byte header" "shorter than its header"
hostile "00000000" "features: a vector with 0 dimensions, outside 1 to 16000" "0 dimensions"
hostile "ff7f0000" "features: a vector with 32767 dimensions, outside 1 to 16000" "32767 dimensions and no data"
hostile "feff0000" "features: a vector with -2 dimensions, outside 1 to 16000" "negative dimensions"
hostile "020001000000803f0000803f" "features: a vector whose unused header field is 1, not 0" "unused field set"
hostile "04000000" "features: a vector of 4 dimensions takes 24 bytes, this one has 8" "4 dimensions, no elements"
hostile "020000000000803f0000803f00" "features: a vector of 2 dimensions takes 16 bytes, this one has 17" "a byte too many"
hostile "020000000000c07f0000803f" "features element 1 is NaN" "a NaN element"
hostile "02000000000080ff0000803f" "features element 1 is infinite" "an infinite element"
msg=$(err "SELECT mixrec_train('hostile', 'SELECT ''\\x0600000000000000''::bytea::vector AS v, true AS y', 'v', 'y')")
ok $([ "$msg" = "features: a vector of 6 dimensions takes 32 bytes, this one has 12" ]; echo $?) "hostile vector in a training source: $msg"
msg=$(err "SELECT mixrec_score('typed_vec', t) FROM (SELECT 1 AS user_id, 2 AS shelf, '\\x0600000000000000'::bytea::vector AS embedding) AS t")
ok $([ "$msg" = 'column "embedding": a vector of 6 dimensions takes 32 bytes, this one has 12' ]; echo $?) "hostile vector in a typed column: $msg"
good=$(q $db "SELECT mixrec_fit_rows(mixrec_init(2, '{4}'), '\\x020000000000803f0000803f'::bytea::vector, true, 1.0::float8, NULL::text, NULL::jsonb)
                   = mixrec_fit_rows(mixrec_init(2, '{4}'), '{1,1}'::real[], true, 1.0::float8, NULL::text, NULL::jsonb)")
ok $([ "$good" = t ]; echo $?) "a well-formed vector through the same cast trains as real[] {1,1} ($good)"
q $db "DROP CAST (bytea AS vector)" >/dev/null
alive=$(q $db "SELECT 1")
ok $([ "$alive" = 1 ]; echo $?) "the server is up after the hostile vectors"

# The type's oid is looked up again after DROP and CREATE EXTENSION vector,
# in the same session (the first statements cache it)
out=$(psql -X -q -At -d $db -v ON_ERROR_STOP=1 2>&1 <<'SQL'
SET client_min_messages = warning;
SELECT mixrec_fit_rows(mixrec_init(2, '{4}'), '[1,1]'::vector, true, 1.0::float8, NULL::text, NULL::jsonb) IS NOT NULL;
CREATE TEMP TABLE keep AS SELECT user_id FROM users;
DROP EXTENSION vector CASCADE;
CREATE EXTENSION vector;
SELECT mixrec_fit_rows(mixrec_init(2, '{4}'), '[1,1]'::vector, true, 1.0::float8, NULL::text, NULL::jsonb)
     = mixrec_fit_rows(mixrec_init(2, '{4}'), '{1,1}'::real[], true, 1.0::float8, NULL::text, NULL::jsonb);
SQL
)
ok $([ "$(echo "$out" | tr '\n' ' ')" = "t t " ]; echo $?) "vector features work in a session after DROP and CREATE EXTENSION vector ($(echo "$out" | tr '\n' ' '))"
# (the CASCADE dropped the vector columns: rebuild what the recipe needs)
q $db "SET client_min_messages = warning;
       DROP TABLE users, items, clicks, typed, typed_arrays;" >/dev/null

# The retrieval recipe of README ("Candidate retrieval with pgvector"), on
# synthetic data: an implicit model with user and item embeddings, the
# retrieval vectors of bench/retrieval_vectors.sql in an HNSW index, 200
# candidates by inner product, re-ranked by mixrec_score, against scoring
# every item.  Users like the items of their group mod 10 and the first 40.
q $db "SET client_min_messages = warning;
       CREATE TABLE items AS
       SELECT i AS item_id, (i % 5)::text AS shelf FROM generate_series(1, 2000) AS i;
       CREATE TABLE likes AS
       SELECT u AS user_id, i AS item_id, (i % 5)::text AS shelf
       FROM generate_series(1, 300) AS u, generate_series(1, 2000) AS i
       WHERE (i % 10 = u % 10 AND (i * 7 + u * 13) % 17 < 5) OR (i <= 40 AND (i + u) % 4 = 0);
       SELECT mixrec_train('retrieval', 'likes', features => NULL, label => NULL,
                           items => 'items', item_id => 'item_id', negatives => 4,
                           embed => '{\"user_id\": 16, \"item_id\": 16}', hidden => '{32}',
                           epochs => 4, learning_rate => 3e-3, seed => 11);" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d $db -v model=retrieval -v item_id=item_id -v user_id=user_id \
     -v item_rows='SELECT NULL::int AS user_id, item_id, shelf FROM items' \
     -v user_rows='SELECT DISTINCT user_id, NULL::int AS item_id, NULL::text AS shelf FROM likes' \
     -f ../../bench/retrieval_vectors.sql
q $db "SET client_min_messages = warning;
       CREATE INDEX ON retrieval_items USING hnsw (embedding vector_ip_ops);
       -- the embedding rows themselves, for comparison
       CREATE TABLE embedding_items AS
       SELECT value::int AS item_id, open::vector(16) AS embedding FROM mixrec_embeddings('retrieval', 'item_id');
       CREATE INDEX ON embedding_items USING hnsw (embedding vector_ip_ops);
       CREATE TABLE embedding_users AS
       SELECT value::int AS user_id, open::vector(16) AS embedding FROM mixrec_embeddings('retrieval', 'user_id');
       ANALYZE items, embedding_items, embedding_users" >/dev/null
dims=$(q $db "SELECT count(*) || ' items of ' || min(vector_dims(embedding)) || ' dimensions, '
                     || (SELECT count(*) FROM retrieval_users) || ' users' FROM retrieval_items")
ok $([ "$dims" = "2000 items of 64 dimensions, 300 users" ]; echo $?) "retrieval vectors: $dims"

recipe="SELECT c.item_id, mixrec_score('retrieval', r) AS score
FROM (SELECT v.item_id FROM retrieval_items AS v
      ORDER BY v.embedding <#> (SELECT embedding FROM retrieval_users WHERE user_id = :u)
      LIMIT 200) AS c
JOIN LATERAL (SELECT :u AS user_id, i.item_id, i.shelf FROM items AS i WHERE i.item_id = c.item_id) AS r ON true
ORDER BY score DESC, c.item_id LIMIT 10"
exhaustive="SELECT i.item_id, mixrec_score('retrieval', r) AS score
FROM items AS i, LATERAL (SELECT :u AS user_id, i.item_id, i.shelf) AS r
ORDER BY score DESC, i.item_id LIMIT 10"
# 2000 items are few enough for the planner to sort them all: the index is
# what the recipe is about, so the plan check turns sequential scans off
plan=$(q $db "SET hnsw.ef_search = 200; SET enable_seqscan = off; EXPLAIN (COSTS OFF) ${recipe//:u/5}")
ok $(echo "$plan" | grep -q 'Index Scan using retrieval_items_embedding_idx'; echo $?) "EXPLAIN of the recipe shows the HNSW index scan"
got=$(q $db "SET hnsw.ef_search = 200; SET enable_seqscan = off; SELECT count(*) FROM (${recipe//:u/5}) AS r")
ok $([ "$got" = 10 ]; echo $?) "the recipe returns 10 items ($got)"

# Overlap of the re-ranked top 10 with the exhaustive top 10, over 20 users
overlap=0
naive=0
for u in $(seq 3 15 300); do
    o=$(q $db "SET hnsw.ef_search = 200; SET enable_seqscan = off;
               SELECT count(*) FROM (${recipe//:u/$u}) AS a JOIN (${exhaustive//:u/$u}) AS b USING (item_id)")
    overlap=$((overlap + o))
    r=${recipe//retrieval_items/embedding_items}
    r=${r//retrieval_users/embedding_users}
    o=$(q $db "SET hnsw.ef_search = 200; SET enable_seqscan = off;
               SELECT count(*) FROM (${r//:u/$u}) AS a JOIN (${exhaustive//:u/$u}) AS b USING (item_id)")
    naive=$((naive + o))
done
diag "re-ranked top 10 against the exhaustive top 10 (20 users): $overlap of 200; with the embedding rows as vectors: $naive of 200"
ok $([ "$overlap" -ge 120 ]; echo $?) "200 candidates by the retrieval vectors hold at least 60% of the exhaustive top 10s ($overlap of 200)"
ok $([ "$overlap" -gt $((naive * 2)) ]; echo $?) "the retrieval vectors retrieve over twice what the embedding rows do ($overlap against $naive)"
all=${recipe//LIMIT 200/LIMIT 5000}
diff=$(q $db "SET hnsw.ef_search = 1000; SET enable_seqscan = off; SET hnsw.iterative_scan = relaxed_order; SET hnsw.max_scan_tuples = 100000;
              SELECT count(*) FROM ((${all//:u/42}) EXCEPT (${exhaustive//:u/42})) AS d")
ok $([ "$diff" = 0 ]; echo $?) "with every item a candidate, the recipe's top 10 is the exhaustive top 10 ($diff differ)"

psql -X -q -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $db"
done_testing
