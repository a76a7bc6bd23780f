#!/usr/bin/env bash
# bench/parallel.sh: the speed-up of a parallel training epoch, at equal
# quality.
#
# One epoch of mixrec_fit over a table of 400,000 rows of 64 features, a
# (64, {64}) model, batch 256: serial (no workers), then as a parallel
# aggregate with 2 workers (parallel_leader_participation off, so two
# processes train, one per core of a 2-core machine) and the fit option
# "partitions": 2, so that the two halves' average trains like the serial
# epoch.  The runs alternate, 5 of each, each timed from the client and
# keeping its model; reported are the median and the min/max of each side,
# the speed-up, and the test log loss and AUC of every model on 50,000
# held-out rows of the same distribution.
#
# For reference, measured in the same run: two serial epochs over the two
# halves of the table (200,000 rows each), run at once in two sessions,
# the most two processes can do on this machine, with nothing to share.
# Against the machine's limit (bench/README.md, "The limit meter"), also
# measured in this run by bench/meter.py: the GEMMs of the epoch at the
# SGEMM rates of their shapes, one thread; for the parallel epoch and the
# halves, those of half the rows, each core doing one half at once (the
# parallel epoch's workers in batches of 128, see "partitions").
# A benchmark, not a test: it prints numbers measured in this run.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
. bench/load.sh

mixrec_install_packages
mixrec_build_install
# The floor extension (bench/floor): SGEMM rates for the limit
make -s -C bench/floor install >/dev/null
trap mixrec_cluster_stop EXIT
# mixrec preloaded, as README advises for parallel epochs: each parallel
# worker then starts with mixrec and OpenBLAS mapped already, instead of
# loading them (about 7 ms a worker); PRELOAD=0 measures without
preload=()
[ "${PRELOAD:-1}" = 1 ] && preload=("shared_preload_libraries = 'mixrec'")
mixrec_cluster_start "max_worker_processes = 8" "max_parallel_workers = 8" \
    "shared_buffers = 512MB" "autovacuum = off" "jit = off" "${preload[@]}"

rows=${ROWS:-400000}
runs=${RUNS:-5}
test_rows=50000
psql -X -q -v ON_ERROR_STOP=1 -d postgres -o /dev/null <<SQL
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS mixrec;
CREATE EXTENSION IF NOT EXISTS mixrec_floor;
SELECT setseed(0.25) AS seeded \gset
CREATE TABLE bench_rows AS
SELECT g AS id, f, (f[1] + f[2] - f[3] > 0.5)::int::float8 AS label
FROM (SELECT g, ARRAY(SELECT random()::real FROM generate_series(1, 64) WHERE g > 0) AS f
      FROM generate_series(1, $rows + $test_rows) AS g) AS rows;
CREATE TABLE bench_parallel AS SELECT * FROM bench_rows WHERE id <= $rows;
CREATE TABLE bench_parallel_test AS SELECT * FROM bench_rows WHERE id > $rows;
-- The two halves, for the reference run
CREATE TABLE bench_half_0 AS SELECT * FROM bench_parallel WHERE id % 2 = 0;
CREATE TABLE bench_half_1 AS SELECT * FROM bench_parallel WHERE id % 2 = 1;
DROP TABLE bench_rows;
VACUUM ANALYZE bench_parallel;
VACUUM ANALYZE bench_parallel_test;
VACUUM ANALYZE bench_half_0;
VACUUM ANALYZE bench_half_1;
-- Every table read once, so that no run is the first to read it
SELECT count(*) FROM bench_parallel;
SELECT count(*) FROM bench_half_0;
SELECT count(*) FROM bench_half_1;
CREATE TABLE bench_models (side text, run int, ms float8, load text, model bytea);
-- Test AUC (ties counted half) and log loss of a model
CREATE FUNCTION bench_quality(m bytea, OUT auc float8, OUT log_loss float8) LANGUAGE sql AS \$\$
	WITH s AS (SELECT label AS y, mixrec_score(m, f) AS p FROM bench_parallel_test),
	r AS (SELECT y, rank() OVER (ORDER BY p) + (count(*) OVER (PARTITION BY p) - 1) / 2.0 AS rk FROM s)
	SELECT ((SELECT sum(rk) FROM r WHERE y = 1) - n1 * (n1 + 1) / 2) / (n1 * n0),
	       (SELECT -avg(y * ln(greatest(p, 1e-7)) + (1 - y) * ln(greatest(1 - p, 1e-7))) FROM s)
	FROM (SELECT sum(y) AS n1, sum(1 - y) AS n0 FROM s) AS c
\$\$;
SQL

settings="SET parallel_leader_participation = off;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;"
serial_epoch="SELECT mixrec_fit(mixrec_init(64, '{64}'), f, label) AS m FROM bench_parallel"
parallel_epoch="SELECT mixrec_fit(mixrec_init(64, '{64}'), f, label, 1.0, NULL, '{\"partitions\": 2}') AS m FROM bench_parallel"

# time_epoch SIDE RUN WORKERS QUERY: one epoch, timed by psql's \timing;
# the model it returns comes back to the client and is then stored in
# bench_models, untimed
time_epoch() {
    local out t load
    out=$(mktemp "$MIXREC_CLUSTER_DIR/epoch.XXXXXX")
    chmod 644 "$out"
    load_start
    psql -X -q -At -v ON_ERROR_STOP=1 -d postgres >"$out" <<SQL
SET max_parallel_workers_per_gather = $3;
$settings
\timing on
$4 \gset
\timing off
INSERT INTO bench_models VALUES ('$1', $2, NULL, NULL, :'m'::bytea);
SQL
    load=$(load_end)
    t=$(grep -oE '^Time: [0-9.]+' "$out" | awk '{print $2}')
    psql -X -q -v ON_ERROR_STOP=1 -d postgres \
        -c "UPDATE bench_models SET ms = $t, load = '$load' WHERE side = '$1' AND run = $2"
    rm -f "$out"
}

# time_halves RUN: the two halves at once, each serial in its own session;
# the longer of the two query times (psql's \timing, as for the epochs)
time_halves() {
    local load t0 t1
    load_start
    for half in 0 1; do
        psql -X -q -At -v ON_ERROR_STOP=1 -d postgres >"$MIXREC_CLUSTER_DIR/half_$half" <<SQL &
SET max_parallel_workers_per_gather = 0;
\timing on
SELECT length(mixrec_fit(mixrec_init(64, '{64}'), f, label)) FROM bench_half_$half;
SQL
    done
    wait
    load=$(load_end)
    t0=$(grep -oE '^Time: [0-9.]+' "$MIXREC_CLUSTER_DIR/half_0" | awk '{print $2}')
    t1=$(grep -oE '^Time: [0-9.]+' "$MIXREC_CLUSTER_DIR/half_1" | awk '{print $2}')
    psql -X -q -v ON_ERROR_STOP=1 -d postgres \
        -c "INSERT INTO bench_models VALUES ('halves', $1, greatest($t0, $t1), '$load', NULL)"
}

plan=$(psql -X -q -At -d postgres <<SQL
SET max_parallel_workers_per_gather = 2;
$settings
EXPLAIN (ANALYZE, VERBOSE, COSTS OFF, TIMING OFF, SUMMARY OFF)
$parallel_epoch;
SQL
)

# One untimed epoch of each, then the timed ones in turns, so that a burst
# of load from elsewhere hits every side alike
psql -X -q -d postgres -o /dev/null -c "SET max_parallel_workers_per_gather = 0" -c "$serial_epoch"
sleep 0.5
for run in $(seq 1 "$runs"); do
    time_epoch serial "$run" 0 "$serial_epoch"
    time_epoch parallel "$run" 2 "$parallel_epoch"
    time_halves "$run"
done

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
so=$(pg_config --pkglibdir)/mixrec.so
echo "mixrec.so: $(stat -c '%s bytes, %y' "$so"), sha256 $(sha256sum "$so" | cut -c1-16)"
echo "parallel plan:"
echo "$plan" | grep -v '^ *Output:' | sed 's/^/  /'
echo
echo "one epoch of mixrec_fit, $rows rows x 64 features, (64, {64}), batch 256, $runs runs each"
echo "serial:   mixrec_fit(mixrec_init(64, '{64}'), f, label), no workers"
echo "parallel: the same with '{\"partitions\": 2}', 2 workers, leader participation off"
echo "halves:   two serial epochs over 200,000 rows each, in two sessions at once (reference)"
echo "load: own = CPUs the cluster kept busy, others = CPUs other processes kept busy (see bench/load.sh)"
echo
psql -X -q -At -d postgres <<SQL
WITH runs AS (
	SELECT b.side, b.run, b.ms, b.load, q.auc, q.log_loss
	FROM bench_models b
	LEFT JOIN (SELECT side, run, q.* FROM bench_models, bench_quality(model) AS q
	           WHERE model IS NOT NULL) AS q USING (side, run)),
sides AS (
	SELECT side,
	       percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS ms_median, min(ms) AS ms_min, max(ms) AS ms_max,
	       percentile_cont(0.5) WITHIN GROUP (ORDER BY log_loss) AS ll_median, min(log_loss) AS ll_min,
	       max(log_loss) AS ll_max, percentile_cont(0.5) WITHIN GROUP (ORDER BY auc) AS auc_median,
	       string_agg(format('%s ms (%s)', round(ms::numeric, 1), load), ', ' ORDER BY run) AS every_run
	FROM runs GROUP BY side),
serial AS (SELECT * FROM sides WHERE side = 'serial')
SELECT line FROM (
	SELECT 0 AS ord, format('%-9s %10s %21s %9s %9s %14s %10s', 'side', 'median ms', 'min - max ms', 'rows/s',
	                        'speed-up', 'test log loss', 'test AUC') AS line
	UNION ALL
	SELECT CASE s.side WHEN 'serial' THEN 1 WHEN 'parallel' THEN 2 ELSE 3 END,
	       format('%-9s %10s %21s %9s %9s %14s %10s', s.side, round(s.ms_median::numeric, 1),
	              round(s.ms_min::numeric, 1) || ' - ' || round(s.ms_max::numeric, 1),
	              round($rows / (s.ms_median / 1000)),
	              to_char(r.ms_median / s.ms_median, 'FM990.00') || 'x',
	              coalesce(to_char(s.ll_median, 'FM0.00000'), '-'),
	              coalesce(to_char(s.auc_median, 'FM0.00000'), '-'))
	FROM sides s, serial r
	UNION ALL
	SELECT 4, ''
	UNION ALL
	SELECT 5, format('speed-up of the parallel epoch, median serial / median parallel: %sx (min/max over the %s pairs of runs: %sx / %sx)',
	                 to_char(r.ms_median / p.ms_median, 'FM990.00'), $runs,
	                 (SELECT to_char(min(a.ms / b.ms), 'FM990.00') FROM runs a JOIN runs b USING (run)
	                  WHERE a.side = 'serial' AND b.side = 'parallel'),
	                 (SELECT to_char(max(a.ms / b.ms), 'FM990.00') FROM runs a JOIN runs b USING (run)
	                  WHERE a.side = 'serial' AND b.side = 'parallel'))
	FROM sides p, serial r WHERE p.side = 'parallel'
	UNION ALL
	SELECT 6, format('test log loss, median (min - max): serial %s (%s - %s), parallel %s (%s - %s); parallel / serial %s',
	                 to_char(r.ll_median, 'FM0.00000'), to_char(r.ll_min, 'FM0.00000'), to_char(r.ll_max, 'FM0.00000'),
	                 to_char(p.ll_median, 'FM0.00000'), to_char(p.ll_min, 'FM0.00000'), to_char(p.ll_max, 'FM0.00000'),
	                 to_char(p.ll_median / r.ll_median, 'FM990.000'))
	FROM sides p, serial r WHERE p.side = 'parallel'
	UNION ALL
	SELECT 7, ''
	UNION ALL
	SELECT 8, 'every run:'
	UNION ALL
	SELECT CASE side WHEN 'serial' THEN 9 WHEN 'parallel' THEN 10 ELSE 11 END,
	       format('  %-9s %s', side, every_run)
	FROM sides) AS t
ORDER BY ord;
SQL

echo
echo "against the machine's limit: the epoch's GEMMs at SGEMM rates measured now (bench/meter.py)"
/usr/bin/python3 bench/meter.py train 64 64 256 "$rows" --dbname postgres >"$MIXREC_CLUSTER_DIR/meter_all"
/usr/bin/python3 bench/meter.py train 64 64 128 $((rows / 2)) --dbname postgres >"$MIXREC_CLUSTER_DIR/meter_part"
/usr/bin/python3 bench/meter.py train 64 64 256 $((rows / 2)) --dbname postgres >"$MIXREC_CLUSTER_DIR/meter_half"
grep -v '^limit_ms' "$MIXREC_CLUSTER_DIR/meter_all"
grep -v '^limit_ms' "$MIXREC_CLUSTER_DIR/meter_part"
grep '^limit of' "$MIXREC_CLUSTER_DIR/meter_half"
limit_all=$(awk '/^limit_ms/ {print $2}' "$MIXREC_CLUSTER_DIR/meter_all")
limit_part=$(awk '/^limit_ms/ {print $2}' "$MIXREC_CLUSTER_DIR/meter_part")
limit_half=$(awk '/^limit_ms/ {print $2}' "$MIXREC_CLUSTER_DIR/meter_half")
psql -X -q -At -d postgres <<SQL
SELECT format('%-9s median %8s ms, limit %8s ms (%s), ratio %s', side, round(ms::numeric, 1),
              round(lim::numeric, 1), what, to_char(ms / lim, 'FM990.00'))
FROM (SELECT side, percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS ms,
             CASE side WHEN 'serial' THEN $limit_all WHEN 'parallel' THEN $limit_part
                       ELSE $limit_half END AS lim,
             CASE side WHEN 'serial' THEN 'all rows on one core, batch 256'
                       WHEN 'parallel' THEN 'half the rows on each core at once, batch 128'
                       ELSE 'half the rows on each core at once, batch 256' END AS what,
             CASE side WHEN 'serial' THEN 1 WHEN 'parallel' THEN 2 ELSE 3 END AS ord
      FROM bench_models GROUP BY side) AS s
ORDER BY ord;
SQL
echo "ratio = median / limit: 1.00 would be the machine's limit (the limit leaves out all but the GEMMs)"
