#!/bin/bash
# bench/embed.sh: the embedding benchmark of mixrec against PyTorch.
#
# Starts a throwaway PostgreSQL 15 cluster with the installed mixrec and
# shared buffers large enough to hold its tables and the scored model, creates
# a database with the extension and the floor extension of bench/floor, and
# runs bench/embed_bench.py, which makes the data, measures both sides with
# one thread each, and the machine's limits, and prints the report.
# The cluster is stopped and removed on exit.
#
# Usage, from the repository root:  bash bench/embed.sh [--scale S]
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

# The floor extension (bench/floor): the limits' FMA peak and SGEMM rates
make -s -C bench/floor install >/dev/null

# Stop the cluster however the script ends
trap mixrec_cluster_stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The tables (about 500 MB) and the scored model's 800 MB stay in shared
# buffers, so that no timed query reads pages from the kernel's cache
mixrec_cluster_start "shared_buffers = 2GB"

export PGDATABASE=mixrec_bench
"$PG_BIN/createdb" "$PGDATABASE"
"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 \
    -c "CREATE EXTENSION mixrec" -c "CREATE EXTENSION mixrec_floor"

/usr/bin/python3 bench/embed_bench.py "$@"

echo
echo "bench/embed.sh total wall time: $((SECONDS - start_seconds)) s"
