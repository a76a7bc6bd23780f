#!/bin/bash
# bench/score.sh: the scoring benchmark of mixrec.
#
# Builds and installs the floor extension of bench/floor (a trivial C
# function that detoasts a real[] and sums it), starts a throwaway
# PostgreSQL 15 cluster with the installed mixrec, creates a database with
# both extensions, and runs bench/score_bench.py, which generates 1,000,000
# rows of 64 features, compiles and runs bench/floor/mlp_loop.c, times the
# floor, per-row mixrec_score and mixrec_predict, and prints the report.
# The cluster is stopped and removed on exit.
#
# Usage, from the repository root:  bash bench/score.sh [--scale S]
# (--scale multiplies the row counts, for a quick look only)
#
# It measures the mixrec build that is installed; it neither builds nor
# installs mixrec itself.

set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
start_seconds=$SECONDS

# shellcheck source=../scripts/setup.sh
source scripts/setup.sh

mixrec_install_packages

# The floor extension: PGXS, with pg_config from the PATH as mixrec's build
make -s -C bench/floor install >/dev/null

# Stop the cluster however the script ends
trap mixrec_cluster_stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mixrec_cluster_start

export PGDATABASE=mixrec_bench
"$PG_BIN/createdb" "$PGDATABASE"
"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 \
    -c "CREATE EXTENSION mixrec" -c "CREATE EXTENSION mixrec_floor"

/usr/bin/python3 bench/score_bench.py "$@"

echo
echo "bench/score.sh total wall time: $((SECONDS - start_seconds)) s"
