#!/bin/bash
# bench/train.sh: the training benchmark of mixrec against PyTorch.
#
# Builds and installs the extension of bench/floor (the machine's limits:
# the FMA peak of a core, SGEMM at given shapes, measured in the backend),
# starts a throwaway PostgreSQL 15 cluster with the installed mixrec,
# creates a database with both extensions, and runs bench/train_bench.py,
# which generates the data, measures both sides with one thread each,
# mixrec with two threads, and the limits, and prints the report. The
# cluster is stopped and removed on exit.
#
# Usage, from the repository root:  bash bench/train.sh [--scale S]
# (--scale multiplies every row count, for a quick look; the report is only
# meaningful at the default scale of 1.)
#
# It measures the mixrec build that is installed; it neither builds nor
# installs it.

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

/usr/bin/python3 bench/train_bench.py "$@"

echo
echo "bench/train.sh total wall time: $((SECONDS - start_seconds)) s"
