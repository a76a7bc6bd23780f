#!/usr/bin/env bash
# bench/parallel.sh: the speed-up of a parallel training epoch.
#
# One epoch of mixrec_fit over a table of 400,000 rows of 64 features, a
# (64, {64}) model, batch 256: serial (no workers), then as a parallel
# aggregate with 2 workers (parallel_leader_participation off, so two
# processes train, one per core of a 2-core machine).  Each is timed from
# the client, best of 3 runs; the ratio is serial time / parallel time.
# A benchmark, not a test: it prints numbers measured in this run.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh

mixrec_install_packages
mixrec_build_install
trap mixrec_cluster_stop EXIT
mixrec_cluster_start "max_worker_processes = 8" "max_parallel_workers = 8"

rows=${ROWS:-400000}
psql -X -q -v ON_ERROR_STOP=1 -d postgres <<SQL
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS mixrec;
DROP TABLE IF EXISTS bench_parallel;
SELECT setseed(0.25) AS seeded \gset
CREATE TABLE bench_parallel AS
SELECT g AS id, f, (f[1] + f[2] - f[3] > 0.5)::int::float8 AS label
FROM (SELECT g, ARRAY(SELECT random()::real FROM generate_series(1, 64) WHERE g > 0) AS f
      FROM generate_series(1, $rows) AS g) AS rows;
VACUUM ANALYZE bench_parallel;
SQL

time_epoch() {
    # time_epoch WORKERS: best of three, in milliseconds
    local workers=$1 best="" t
    for _ in 1 2 3; do
        t=$(psql -X -q -At -d postgres <<SQL | grep -oE '^Time: [0-9.]+' | awk '{print $2}'
SET max_parallel_workers_per_gather = $workers;
SET parallel_leader_participation = off;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
\timing on
SELECT length(mixrec_fit(mixrec_init(64, '{64}'), f, label)) FROM bench_parallel;
SQL
)
        if [ -z "$best" ] || awk -v a="$t" -v b="$best" 'BEGIN { exit !(a < b) }'; then
            best=$t
        fi
    done
    echo "$best"
}

plan=$(psql -X -q -At -d postgres <<SQL
SET max_parallel_workers_per_gather = 2;
SET parallel_leader_participation = off;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
SELECT length(mixrec_fit(mixrec_init(64, '{64}'), f, label)) FROM bench_parallel;
SQL
)
serial=$(time_epoch 0)
parallel=$(time_epoch 2)

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "parallel plan:"
echo "$plan" | sed 's/^/  /'
echo "one epoch of mixrec_fit, $rows rows x 64 features, (64, {64}), batch 256"
printf '  serial:             %10.1f ms  (%.0f rows/s)\n' "$serial" "$(echo "$rows / ($serial / 1000)" | bc -l)"
printf '  2 parallel workers: %10.1f ms  (%.0f rows/s)\n' "$parallel" "$(echo "$rows / ($parallel / 1000)" | bc -l)"
printf '  speed-up:           %10.2fx\n' "$(echo "$serial / $parallel" | bc -l)"
