#!/usr/bin/env bash
# bench/partitions.sh: the quality of epochs split over K partitions.
#
# For two data sets, the same model trained 5 epochs serially and over
# K = 2, 4 and 32 partitions with the fit option "partitions": K (32 as 8
# rounds), and over 32 partitions by plain averaging (no option, 1 round):
# the hand loop of test/sql/partitions.sql (mixrec_fit_state grouped by a
# hash of a key, mixrec_merge after each round).  Prints per run the test
# log loss and AUC after epochs 1 and 5, their ratio to and difference from
# the serial run's, Adam steps and the time per epoch, as a Markdown table.
#
#   A  300,000 training and 50,000 test rows of 32 features uniform in
#      [0, 1), label f[1] + f[2] - f[3] > 0.5; mixrec_init(32, '{16}'),
#      default options
#   B  the demo's MovieLens ratings (demo/schema.sql): the 80,004 training
#      pairs and the 20,000 held-out ones, typed columns, the demo's model
#      (mixrec_prepare, hidden {64,32}, the tier as the domain)
#
# Then, on A, streamed mixrec_train runs: serial, and with a parallel plan
# of 2 workers (with and without the leader taking part), which pick K and
# the rounds themselves.
#
# A quality benchmark: the limit meter of bench/README.md does not apply
# (it says so in its output); its times are context.
#
# Environment:
#   PARTITIONS_DATA="A B"  the data sets to run (A also runs the streamed
#                          runs); one at a time keeps each run short
#   PARTITIONS_B_HIDDEN    B's hidden layers, {64,32} (the demo's) unless set
#   MIXREC_MOVIELENS_DIR   a directory holding movies.csv and ratings.csv as
#                          demo/load_movielens.py writes them; unset, the
#                          bench downloads them as the demo does (apt-get
#                          download of r-cran-dslabs), and reports B as
#                          skipped when that fails
#
# A benchmark, not a test: it prints numbers measured in this run.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
. bench/load.sh

data_sets=${PARTITIONS_DATA:-A B}
b_hidden=${PARTITIONS_B_HIDDEN:-{64,32\}}
epochs=5
movielens_tmp=

cleanup() {
    mixrec_cluster_stop
    [ -z "$movielens_tmp" ] || rm -rf "$movielens_tmp"
}

mixrec_install_packages
mixrec_build_install
trap cleanup EXIT
mixrec_cluster_start "max_worker_processes = 8" "max_parallel_workers = 8" \
    "shared_buffers = 512MB" "autovacuum = off" "jit = off"

psql_bench() {
    psql -X -q -v ON_ERROR_STOP=1 -d postgres "$@"
}

psql_bench -c "SET client_min_messages = warning" -c "CREATE EXTENSION mixrec" \
    -f bench/partitions.sql

so=$(pg_config --pkglibdir)/mixrec.so
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "mixrec.so: $(stat -c '%s bytes, %y' "$so"), sha256 $(sha256sum "$so" | cut -c1-16)"
echo "source: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (with uncommitted changes)')"
echo "hand loop: one backend, no parallel workers: the K partial states of a round train one after another"
echo "load: own = CPUs the cluster kept busy, others = CPUs other processes kept busy (see bench/load.sh)"
echo "limit: none; a quality benchmark (test log loss and AUC against the serial run's): the machine's"
echo "       limit does not apply, the times per epoch are context (bench/README.md, \"The limit meter\")"

# run_partitions DATA RUN K ROUNDS OPTIONS: one run of the hand loop
run_partitions() {
    local load
    load_start
    psql_bench -c "SET max_parallel_workers_per_gather = 0" \
        -c "SELECT partitions_run('$1', '$2', $3, $4, '$5', $epochs)" >/dev/null
    load=$(load_end)
    psql_bench -At -c "SELECT format('  %-26s %6s s for $epochs epochs  $load', '$1, $2:',
                                     to_char(sum(ms) / 1000, 'FM990.00'))
                       FROM partitions_results WHERE data = '$1' AND run = '$2'"
}

# run_data DATA: the five runs of a data set, then its table
run_data() {
    echo
    echo "data $1: training runs"
    run_partitions "$1" "serial" 1 1 '{"partitions": 1}'
    run_partitions "$1" "K = 2" 2 1 '{"partitions": 2}'
    run_partitions "$1" "K = 4" 4 1 '{"partitions": 4}'
    run_partitions "$1" "K = 32, 8 rounds" 32 8 '{"partitions": 32}'
    run_partitions "$1" "K = 32, plain averaging" 32 1 '{}'
    echo
    echo "data $1: test log loss (LL) and AUC after epochs 1 and $epochs; Adam steps: the model's"
    echo "step count after epoch $epochs (each partial state's own count, the larger one kept by a merge);"
    echo "updates: Adam updates of all partial states over the $epochs epochs; s/epoch: mean (min-max)"
    echo
    psql_bench -At -c "SELECT * FROM partitions_table('$1')"
}

# ---------------------------------------------------------------------------
# Data A

data_a() {
    psql_bench <<'SQL'
SET client_min_messages = warning;
SELECT setseed(0.25) AS seeded \gset
CREATE TABLE a_rows AS
SELECT g AS i, f, (f[1] + f[2] - f[3] > 0.5)::int::float8 AS y
FROM (SELECT g, ARRAY(SELECT random()::real FROM generate_series(1, 32) WHERE g > 0) AS f
      FROM generate_series(1, 350000) AS g) AS rows;
CREATE TABLE a_train AS SELECT * FROM a_rows WHERE i <= 300000;
CREATE TABLE a_test AS SELECT * FROM a_rows WHERE i > 300000;
DROP TABLE a_rows;
VACUUM ANALYZE a_train;
VACUUM ANALYZE a_test;
INSERT INTO partitions_data VALUES ('A', mixrec_init(32, '{16}'),
	$$SELECT mixrec_fit_state($1, f, y, 1.0, NULL, $2) AS s FROM a_train
	  WHERE abs(hashint4extended(i, $3)) % $4 = $5
	  GROUP BY abs(hashint4extended(i, 0)) % $6$$,
	$$SELECT y, mixrec_score($1, f) AS p FROM a_test$$);
SQL
    psql_bench -At -c "SELECT format('data A: %s training rows, %s test rows, %s%% positive',
                                     (SELECT count(*) FROM a_train), (SELECT count(*) FROM a_test),
                                     round(100 * (SELECT avg(y) FROM a_train)::numeric, 1))"
    run_data A
    stream_a
}

# stream_run LABEL WORKERS LEADER: a streamed mixrec_train on data A
stream_run() {
    local load
    load_start
    psql_bench <<SQL >/dev/null
SET client_min_messages = warning;
SET max_parallel_workers_per_gather = $2;
SET parallel_leader_participation = $3;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SELECT clock_timestamp() AS t0 \gset
SELECT model FROM mixrec_train('stream_$2_$3', 'a_train', 'f', 'y', hidden => '{16}', epochs => $epochs,
                               method => 'stream', validation_fraction => 0, standardize => false);
INSERT INTO stream_results
SELECT '$1', $2, '$3'::boolean, 1000 * extract(epoch FROM clock_timestamp() - :'t0'::timestamptz), name, NULL
FROM mixrec_models WHERE name = 'stream_$2_$3';
SQL
    load=$(load_end)
    psql_bench -c "UPDATE stream_results SET load = '$load' WHERE run = '$1'"
}

stream_a() {
    psql_bench -c "CREATE TABLE stream_results (run text, workers int, leader boolean, call_ms float8,
                                                model text, load text)"
    stream_run "serial" 0 on
    stream_run "2 workers and the leader" 2 on
    stream_run "2 workers, leader off" 2 off
    echo
    echo "data A: streamed mixrec_train(..., hidden => '{16}', epochs => $epochs, method => 'stream',"
    echo "validation_fraction => 0, standardize => false), partitions and rounds chosen from the plan;"
    echo "s/epoch: the mean of the epochs' train_rows / rows_per_second; call: the whole call"
    echo
    psql_bench -At <<'SQL'
WITH runs AS (
	SELECT s.run, s.workers, s.leader, s.call_ms, s.load, m.metrics, q.auc, q.log_loss,
	       (SELECT avg((m.metrics->>'train_rows')::float8 / (e->>'rows_per_second')::float8)
	        FROM jsonb_array_elements(m.metrics->'epochs') AS e) AS epoch_s
	FROM stream_results s
	JOIN mixrec_models m ON m.name = s.model AND m.active
	CROSS JOIN LATERAL partitions_quality(m.weights, $$SELECT y, mixrec_score($1, f) AS p FROM a_test$$) AS q),
serial AS (SELECT * FROM runs WHERE workers = 0)
SELECT line FROM (
	SELECT 0 AS ord, '| run | partitions | rounds | test LL | test AUC | LL / serial | AUC - serial | s/epoch | call s | load |' AS line
	UNION ALL
	SELECT 1, '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |'
	UNION ALL
	SELECT 2 + r.workers + (NOT r.leader)::int,
	       format('| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |', r.run,
	              r.metrics->'partitions', r.metrics->'rounds',
	              to_char(r.log_loss, 'FM0.0000'), to_char(r.auc, 'FM0.0000'),
	              to_char(r.log_loss / s.log_loss, 'FM990.000'), to_char(r.auc - s.auc, 'FMS0.0000'),
	              to_char(r.epoch_s, 'FM990.00'), to_char(r.call_ms / 1000, 'FM990.00'), r.load)
	FROM runs r, serial s) AS t
ORDER BY ord;
SQL
}

# ---------------------------------------------------------------------------
# Data B

# movielens_csvs: set movielens_dir to the directory of movies.csv and
# ratings.csv, or leave it empty (and say why) when they cannot be had
movielens_csvs() {
    movielens_dir=
    if [ -n "${MIXREC_MOVIELENS_DIR:-}" ]; then
        if [ -f "$MIXREC_MOVIELENS_DIR/movies.csv" ] && [ -f "$MIXREC_MOVIELENS_DIR/ratings.csv" ]; then
            movielens_dir=$MIXREC_MOVIELENS_DIR
        else
            echo "MIXREC_MOVIELENS_DIR=$MIXREC_MOVIELENS_DIR has no movies.csv and ratings.csv"
        fi
        return 0
    fi
    # As demo/run.sh does: the Debian package r-cran-dslabs, about 4.6 MB
    if ! mixrec_install_packages python3-rdata python3-pandas; then
        echo "python3-rdata and python3-pandas are needed to read the MovieLens data"
        return 0
    fi
    movielens_tmp=$(mktemp -d /tmp/mixrec-bench-movielens.XXXXXX)
    echo "downloading the Debian package r-cran-dslabs (about 4.6 MB) as the demo does"
    if /usr/bin/python3 demo/load_movielens.py "$movielens_tmp"; then
        movielens_dir=$movielens_tmp
    else
        echo "demo/load_movielens.py failed"
    fi
}

data_b() {
    local dir
    echo
    movielens_csvs
    dir=$movielens_dir
    if [ -z "$dir" ]; then
        echo "data B: skipped (the MovieLens data is not available; see above)"
        return 0
    fi
    psql_bench -c "SET client_min_messages = warning" -v data_dir="$dir" -f demo/schema.sql >/dev/null
    psql_bench -v hidden="$b_hidden" <<'SQL'
SET client_min_messages = warning;
INSERT INTO partitions_data VALUES ('B',
	mixrec_prepare('training_pairs', label => 'liked', exclude => '{user_id,movie_id,held_out,tier}',
	               transform => '{"user_ratings": {"scale": "log"}, "movie_ratings": {"scale": "log"}}',
	               hidden => :'hidden', alpha => 0.5, seed => 42),
	$$SELECT mixrec_fit_state($1, t, t.liked::int, 1.0, t.tier, $2) AS s FROM training_pairs AS t
	  WHERE abs(hashint8extended(t.user_id * 1000000::bigint + t.movie_id, $3)) % $4 = $5
	  GROUP BY abs(hashint8extended(t.user_id * 1000000::bigint + t.movie_id, 0)) % $6$$,
	$$SELECT t.liked::int::float8 AS y, mixrec_score($1, t) AS p FROM test_pairs AS t$$);
SQL
    psql_bench -At -c "SELECT format('data B: MovieLens from %s: %s training pairs, %s held-out pairs, %s%% liked; %s inputs, hidden %s',
                                     '$dir', (SELECT count(*) FROM training_pairs), (SELECT count(*) FROM test_pairs),
                                     round(100 * (SELECT avg(liked::int) FROM training_pairs), 1),
                                     mixrec_info(start)->'input_dim', mixrec_info(start)->'hidden')
                       FROM partitions_data WHERE data = 'B'"
    run_data B
}

for data in $data_sets; do
    case $data in
        A) echo; data_a ;;
        B) data_b ;;
        *) echo "unknown data set $data (PARTITIONS_DATA takes A and B)" >&2; exit 2 ;;
    esac
done
