#!/usr/bin/env bash
# bench/retrieval.sh: candidate retrieval with pgvector's HNSW index,
# re-ranked by mixrec_score, against scoring every movie, on the MovieLens
# demo data (README, "Candidate retrieval with pgvector").
#
# Runs against the cluster in PGHOST/PGPORT/PGUSER, which must have mixrec
# and pgvector installed (Debian 12 has no pgvector package; Debian 13's
# postgresql-17-pgvector does).  Creates the database mixrec_retrieval,
# loads movies.csv and ratings.csv (as demo/load_movielens.py writes them)
# from DATA_DIR with demo/schema.sql, trains the implicit model of
# demo/implicit.sql, builds the retrieval vectors (bench/retrieval_vectors.sql)
# and runs bench/retrieval.sql, which prints the report.
#
# Usage, from the repository root:  bash bench/retrieval.sh DATA_DIR [USERS]
# (USERS: how many users to sample, 100 by default)

set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

data_dir=${1:?usage: bash bench/retrieval.sh DATA_DIR [USERS]}
users=${2:-100}
db=mixrec_retrieval

if [ "$(psql -X -q -At -d postgres -c "SELECT count(*) FROM pg_available_extensions WHERE name = 'vector'")" != 1 ]; then
    echo "bench/retrieval.sh: pgvector is not installed in this cluster" >&2
    exit 1
fi
for f in movies.csv ratings.csv; do
    [ -r "$data_dir/$f" ] || { echo "bench/retrieval.sh: no $data_dir/$f (demo/load_movielens.py writes it)" >&2; exit 1; }
done

psql -X -q -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
psql -X -q -d $db -c "CREATE EXTENSION mixrec" -c "CREATE EXTENSION vector"
echo "== $(psql -X -At -d $db -c "SELECT 'PostgreSQL ' || current_setting('server_version') || ', pgvector ' || extversion || ', mixrec ' || (SELECT extversion FROM pg_extension WHERE extname = 'mixrec') FROM pg_extension WHERE extname = 'vector'")"
echo "== CPU: $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(nproc) cores"

echo "== Loading the MovieLens ratings and training the implicit model (demo/implicit.sql)"
psql -X -q -v ON_ERROR_STOP=1 -v data_dir="$data_dir" -d $db -f demo/schema.sql >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d $db -f demo/implicit.sql | grep -E 'recall|ndcg|beats' || true

echo "== Retrieval vectors (bench/retrieval_vectors.sql)"
t0=$(date +%s%N)
psql -X -q -v ON_ERROR_STOP=1 -d $db -v model=movielens_implicit -v item_id=movie_id -v user_id=user_id \
     -v item_rows='SELECT NULL::int AS user_id, movie_id, genres FROM movies' \
     -v user_rows='SELECT DISTINCT user_id, NULL::int AS movie_id, NULL::text[] AS genres FROM like_train' \
     -f bench/retrieval_vectors.sql >/dev/null
echo "   $(psql -X -At -d $db -c "SELECT count(*) || ' movies and ' || (SELECT count(*) FROM retrieval_users) || ' users, vector(' || min(vector_dims(embedding)) || ')' FROM retrieval_items"), built in $((($(date +%s%N) - t0) / 1000000)) ms"

psql -X -q -v ON_ERROR_STOP=1 -v users="$users" -d $db -f bench/retrieval.sql
