#!/bin/bash
# bench/typed.sh: the typed-columns benchmark of mixrec.
#
# Scoring and training a model straight from typed columns (numbers, text
# categories, text[] tags) against the same model on a prebuilt real[] of
# its inputs.  Builds and installs the floor extension of bench/floor (for
# PostgreSQL's per-row floor, as bench/score.sh does), starts a throwaway
# PostgreSQL 15 cluster with the installed mixrec and shared buffers large
# enough to hold every table, creates a database with both extensions, and
# runs bench/typed_bench.py, which generates the data, times both sides in
# the same run and prints the report.  The cluster is stopped and removed
# on exit.
#
# Usage, from the repository root:  bash bench/typed.sh [--scale S]
# (--scale multiplies the row count, for a quick look; the report is only
# meaningful at the default scale of 1.)
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

# About 350 MB of tables: keep them all in shared buffers, so that neither
# side reads pages from the kernel's cache during a timed query
mixrec_cluster_start "shared_buffers = 1GB"

export PGDATABASE=mixrec_bench
"$PG_BIN/createdb" "$PGDATABASE"
"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 \
    -c "CREATE EXTENSION mixrec" -c "CREATE EXTENSION mixrec_floor"

/usr/bin/python3 bench/typed_bench.py "$@"

echo
echo "bench/typed.sh total wall time: $((SECONDS - start_seconds)) s"
