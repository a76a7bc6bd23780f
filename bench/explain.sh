#!/bin/bash
# bench/explain.sh: explanations per second, against single-row scoring.
#
# Starts a throwaway PostgreSQL 15 cluster with the installed mixrec and
# measures mixrec_explain (integrated gradients over --steps points, the
# default 50; gradient times input; occlusion) on --rows rows, and
# mixrec_score on the same rows, in the same run (bench/explain.sql).  The
# report gives each per second and the cost of one explanation in
# single-row scores, and each against the machine's limit: its FLOPs per
# row at the FMA peak of one core, measured in the same run (bench/floor).
#
# The model is the demo's movielens model (demo/README.md) when --data DIR
# names a directory with the demo's movies.csv and ratings.csv
# (demo/load_movielens.py writes them): the script loads them with
# demo/schema.sql and trains the model with demo/recommend.sql.  Without
# --data it is a model of 64 array features and one hidden layer of 64,
# trained on 20,000 generated rows.  The cluster is stopped and removed on
# exit.
#
# Usage, from the repository root:
#   bash bench/explain.sh [--data DIR] [--rows N] [--steps S]
#
# It measures the mixrec build that is installed; it neither builds nor
# installs it.

set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
start_seconds=$SECONDS

data=
rows=20000
steps=50
while [ $# -gt 0 ]; do
    case "$1" in
        --data) data=$(cd "$2" && pwd); shift 2 ;;
        --rows) rows=$2; shift 2 ;;
        --steps) steps=$2; shift 2 ;;
        *) echo "usage: bash bench/explain.sh [--data DIR] [--rows N] [--steps S]" >&2; exit 2 ;;
    esac
done

# shellcheck source=../scripts/setup.sh
source scripts/setup.sh

mixrec_install_packages

# The floor extension (bench/floor): the FMA peak that the limits use
make -s -C bench/floor install >/dev/null

# Stop the cluster however the script ends
trap mixrec_cluster_stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mixrec_cluster_start

export PGDATABASE=mixrec_bench
"$PG_BIN/createdb" "$PGDATABASE"
psql=("$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1)
"${psql[@]}" -c "CREATE EXTENSION mixrec" -c "CREATE EXTENSION mixrec_floor"

if [ -n "$data" ]; then
    echo "== The demo's model movielens (typed columns), trained on the demo's ratings"
    "${psql[@]}" -v data_dir="$data" -f demo/schema.sql >/dev/null
    "${psql[@]}" -f demo/recommend.sql >/dev/null
    model=movielens
    query="SELECT p AS r FROM test_pairs AS p ORDER BY user_id, movie_id"
else
    echo "== A model of 64 array features and one hidden layer of 64"
    "${psql[@]}" <<'SQL'
SET client_min_messages = warning;
CREATE TABLE bench_arrays AS
SELECT i, ARRAY(SELECT sin(i * 0.37 + j * 1.3)::real FROM generate_series(1, 64) AS j) AS f,
       sin(i * 0.37) + cos(i * 0.11) > 0 AS y
FROM generate_series(1, 20000) AS i;
SELECT model FROM mixrec_train('bench_array', 'bench_arrays', 'f', 'y', hidden => '{64}',
                               epochs => 2, seed => 1) \g /dev/null
SQL
    model=bench_array
    query="SELECT f AS r FROM bench_arrays ORDER BY i"
fi
"${psql[@]}" -c "SELECT mixrec_info(weights) - 'optimizer' - 'typed_columns' AS model FROM mixrec_models WHERE name = '$model' AND active"

echo "== $rows rows; integrated gradients over $steps steps; both models (open, commercial) each"
"${psql[@]}" -v model="$model" -v rows="$query" -v n="$rows" -v steps="$steps" -f bench/explain.sql

echo
echo "bench/explain.sh total wall time: $((SECONDS - start_seconds)) s"
