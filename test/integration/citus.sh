#!/usr/bin/env bash
# mixrec on a real Citus cluster: three throwaway clusters on 127.0.0.1, a
# coordinator and two workers, each with citus preloaded and citus and
# mixrec in one database.  The coordinator holds the registry
# (mixrec_models stays a plain local table there) and the rows as plain
# tables; the same rows are distributed over 4 and over 32 shards.
# Checked, against the same work on the plain tables:
#   a. an epoch of mixrec_fit is pushed down to the shards
#      (worker_partial_agg) and its state has seen every shard's rows;
#   b. epochs over the shards train as well as serial epochs
#      ("partitions": K, and mixrec_train(..., method => 'stream'));
#   c. every serving function over the distributed tables;
#   d. a worker's error reaches the client, and empty shards train.
# Skipped (1..0 # SKIP) when Citus is not installed: `make citus
# CITUS_SRC=dir` builds and installs it (scripts/build_citus.sh).
set -uo pipefail
cd "$(dirname "$0")"
. ./tap.sh

# tap.sh's diag, for messages of several lines: each line a TAP comment
diag() {
    local line
    while IFS= read -r line; do echo "# $line"; done <<<"$*"
}

PG_BIN=/usr/lib/postgresql/${MIXREC_PG_MAJOR:-15}/bin
if [ ! -f "$(pg_config --pkglibdir)/citus.so" ]; then
    echo "1..0 # SKIP not installed"
    exit 0
fi

db=mixrec_it_citus
node_name=(coordinator worker1 worker2)
node_port=()
epochs=5
fit_options='"learning_rate": 0.01, "batch_size": 128'
train_args="hidden => '{16}', epochs => $epochs, batch_size => 128, learning_rate => 0.01"

. ./loopback.sh

root=""
cleanup() {
    if [ -n "$root" ]; then
        loopback_stop "$root/node0" "$root/node1" "$root/node2"
        rm -rf "$root"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

# qn K SQL: one value (or rows) from node K, over 127.0.0.1
qn() {
    PGOPTIONS="-c client_min_messages=warning" psql -X -q -At -v ON_ERROR_STOP=1 -v VERBOSITY=verbose \
        "host=127.0.0.1 port=${node_port[$1]} dbname=$db user=postgres" -c "$2"
}

# qc SQL: the same on the coordinator
qc() {
    qn 0 "$1"
}

# qscript: a psql script on the coordinator, from standard input
qscript() {
    PGOPTIONS="-c client_min_messages=warning" psql -X -q -At -v ON_ERROR_STOP=1 -v VERBOSITY=verbose \
        "host=127.0.0.1 port=${node_port[0]} dbname=$db user=postgres" "$@"
}



root=$(loopback_root citus) || bail "a temporary directory for the nodes"

start=$(now_ms)
for k in 0 1 2; do
    # The nodes reach each other over loopback, without TLS
    loopback_start "$root/node$k" "${node_port[*]:-}" "max_connections = 100" \
        "shared_preload_libraries = 'citus'" "citus.node_conninfo = 'sslmode=disable'" \
        "log_min_messages = warning" >"$root/start$k.log" 2>&1 ||
        bail "${node_name[$k]} starts" "$(tail -n 20 "$root/start$k.log")"
    node_port[$k]=$loopback_port
    out=$(psql -X -q -At -v ON_ERROR_STOP=1 \
        "host=127.0.0.1 port=${node_port[$k]} dbname=postgres user=postgres" \
        -c "CREATE DATABASE $db" 2>&1 &&
        qn $k "SET client_min_messages = warning; CREATE EXTENSION citus" 2>&1 &&
        qn $k "CREATE EXTENSION mixrec" 2>&1) ||
        bail "${node_name[$k]} gets its database, citus and mixrec" "$out"
done
out=$(qc "SELECT citus_set_coordinator_host('127.0.0.1', ${node_port[0]})" 2>&1 &&
    qc "SELECT citus_add_node('127.0.0.1', ${node_port[1]})" 2>&1 &&
    qc "SELECT citus_add_node('127.0.0.1', ${node_port[2]})" 2>&1) ||
    bail "the coordinator adds itself and the two workers" "$out"

nodes=$(qc "SELECT string_agg(nodeport || ':' || groupid || ':' || noderole || ':' || shouldhaveshards, ' '
                              ORDER BY groupid)
            FROM pg_dist_node WHERE isactive" 2>&1)
ok $([ "$nodes" = "${node_port[0]}:0:primary:false ${node_port[1]}:1:primary:true ${node_port[2]}:2:primary:true" ]
     echo $?) \
    "a coordinator and two workers on 127.0.0.1 form a Citus cluster, mixrec installed on each"
diag "$(qc "SELECT citus_version()" | sed 's/ on .*//'), mixrec $(qc "SELECT extversion FROM pg_extension WHERE extname = 'mixrec'");" \
    "ports ${node_port[*]}; nodes (port:group:role:has shards): $nodes"

# The data: 500 users and 300 items with 4 features each; 50,000 clicks of
# a user on an item, whose features are the user's then the item's, and a
# label that an interaction of the two decides, with noise.  Clicks with
# i % 5 = 0 are the test rows (10,000), the others the training rows
# (40,000).  Plain tables on the coordinator, and the same rows
# distributed: users over 4 shards, items a reference table, the training
# clicks over 4 shards (co-located with users) and over 32.
out=$(qscript 2>&1 <<'SQL'
SET client_min_messages = warning;
CREATE TABLE users_local AS
SELECT u AS user_id, ARRAY[sin(u * 0.37), cos(u * 0.73), sin(u * 1.31), cos(u * 0.21)]::real[] AS uf
FROM generate_series(1, 500) AS u;
CREATE TABLE items_local AS
SELECT t AS item_id, ARRAY[sin(t * 2.03), cos(t * 0.57), ((t * 7919) % 1000) / 1000.0 - 0.5,
                           ((t * 104729) % 997) / 997.0 - 0.5]::real[] AS tf
FROM generate_series(1, 300) AS t;
CREATE TABLE clicks_all AS
SELECT i, user_id, item_id, uf || tf AS features,
       (2 * (uf[1] * tf[1] + uf[2] * tf[2]) + uf[3] - tf[3] + 1.5 * uf[4] * tf[4]
        + ((abs(hashint4(i + 2000000)) % 10000) / 10000.0 - 0.5) > 0.2)::int::float8 AS label
FROM (SELECT i, 1 + abs(hashint4(i)) % 500 AS user_id, 1 + abs(hashint4(i + 1000000)) % 300 AS item_id
      FROM generate_series(1, 50000) AS i) AS g
JOIN users_local USING (user_id) JOIN items_local USING (item_id);
CREATE TABLE clicks_local AS SELECT * FROM clicks_all WHERE i % 5 <> 0 ORDER BY i;
CREATE TABLE clicks_test AS SELECT * FROM clicks_all WHERE i % 5 = 0 ORDER BY i;

CREATE TABLE users (user_id int PRIMARY KEY, uf real[]);
CREATE TABLE items (item_id int PRIMARY KEY, tf real[]);
CREATE TABLE clicks4 (LIKE clicks_local);
CREATE TABLE clicks32 (LIKE clicks_local);
CREATE TABLE clicks_test4 (LIKE clicks_local);
SELECT create_distributed_table('users', 'user_id', shard_count => 4);
SELECT create_reference_table('items');
SELECT create_distributed_table('clicks4', 'user_id', colocate_with => 'users');
SELECT create_distributed_table('clicks_test4', 'user_id', colocate_with => 'users');
SELECT create_distributed_table('clicks32', 'user_id', shard_count => 32);
INSERT INTO users SELECT * FROM users_local;
INSERT INTO items SELECT * FROM items_local;
INSERT INTO clicks4 SELECT * FROM clicks_local ORDER BY i;
INSERT INTO clicks32 SELECT * FROM clicks_local ORDER BY i;
INSERT INTO clicks_test4 SELECT * FROM clicks_test ORDER BY i;

-- Models trained by the epochs below, by run and aggregate (an epoch, or
-- a round of one); every run starts from the same model
CREATE TABLE fit_models (run text, step int, model bytea, PRIMARY KEY (run, step));
INSERT INTO fit_models
SELECT run, 0, mixrec_init(8, '{16}') FROM unnest(ARRAY['serial', 'shards4', 'shards32', 'shards32_one']) AS run;
SQL
) || bail "the coordinator gets the data set, plain and distributed" "$out"

layout=$(qc "SELECT string_agg(t, ' ' ORDER BY t)
             FROM (SELECT table_name::text || ':' || count(DISTINCT shardid) || ' shards on '
                          || count(DISTINCT nodeport) || ' workers' AS t
                   FROM citus_shards WHERE citus_table_type = 'distributed'
                   GROUP BY table_name) AS x" 2>&1)
counts=$(qc "SELECT (SELECT count(*) FROM clicks4) || '/' || (SELECT count(*) FROM clicks32) || '/'
                    || (SELECT count(*) FROM clicks_local) || '/' || (SELECT count(*) FROM clicks_test4)" 2>&1)
ok $([ "$layout" = "clicks32:32 shards on 2 workers clicks4:4 shards on 2 workers clicks_test4:4 shards on 2 workers users:4 shards on 2 workers" ] &&
     [ "$counts" = 40000/40000/40000/10000 ]; echo $?) \
    "the 40,000 training rows are distributed over 4 and over 32 shards on both workers"
diag "$layout; rows distributed over 4 / over 32 / plain / test: $counts;" \
    "positive labels: $(qc "SELECT round(avg(label)::numeric, 3) FROM clicks_all")"

# fit_query TABLE OPTIONS: one epoch of mixrec_fit over a table, from the
# model in the psql variable model (a value), as the client writes it
fit_query() {
    echo "SELECT mixrec_fit(m.model, features, label, 1.0, NULL, '{$2}')
          FROM $1, (SELECT :'model'::bytea AS model) AS m"
}

# run_epochs RUN TABLE OPTIONS ROUNDS [SET...]: $epochs epochs, each as
# ROUNDS aggregates over shares of the rows (a hash of i), each from the
# last one's model, stored in fit_models; the first error, if any
run_epochs() {
    local run=$1 table=$2 options=$3 rounds=$4 r step=0 share=""
    for _ in $(seq 1 $epochs); do
        for r in $(seq 0 $((rounds - 1))); do
            [ "$rounds" -gt 1 ] && share="WHERE abs(hashint4(i + 7)) % $rounds = $r"
            qscript <<SQL 2>&1 || return 1
SET citus.coordinator_aggregation_strategy = 'disabled';
${5:-}
SELECT model FROM fit_models WHERE run = '$run' AND step = $step \gset
$(fit_query "$table" "$options") $share \gset new_
INSERT INTO fit_models VALUES ('$run', $step + 1, :'new_mixrec_fit'::bytea);
SQL
            step=$((step + 1))
        done
    done
}

# evaluate NAME: test log loss and AUC of a registered model on the test
# rows; nothing when there is no such model
evaluate() {
    [ "$(qc "SELECT count(*) FROM mixrec_models WHERE name = '$1' AND active" 2>&1)" = 1 ] || return 0
    qc "SELECT string_agg(value::text, ' ' ORDER BY metric DESC)
        FROM mixrec_evaluate('$1', 'clicks_test', 'features', 'label')
        WHERE model = 'blend' AND metric IN ('log_loss', 'auc')" 2>&1
}

# register RUN: the last model of a run, stored as the registry's model
# fit_RUN
register() {
    qc "SELECT version FROM mixrec_store('fit_$1',
                                         (SELECT model FROM fit_models WHERE run = '$1' ORDER BY step DESC LIMIT 1))" 2>&1
}

# close_to NAME LOGLOSS_AUC REFERENCE: log loss within 10% and AUC within
# 0.002 of the reference's
close_to() {
    local ll auc ref_ll ref_auc
    read -r ll auc <<<"$1"
    read -r ref_ll ref_auc <<<"$2"
    qc "SELECT abs(${ll:-1e9} - ${ref_ll:-0}) <= 0.1 * ${ref_ll:-0} AND abs(${auc:-1e9} - ${ref_auc:-0}) <= 0.002" 2>&1 |
        grep -qx t
}

echo "# a. the epoch's aggregate runs on the shards"
model0=$(qc "SELECT model FROM fit_models WHERE run = 'serial' AND step = 0")
for shards in 4 32; do
    plan=$(qscript -v model="$model0" <<SQL 2>&1
SET citus.coordinator_aggregation_strategy = 'disabled';
EXPLAIN (VERBOSE, COSTS OFF) $(fit_query clicks$shards "$fit_options")
SQL
)
    ok $(grep -q 'coord_combine_agg' <<<"$plan" && grep -q 'Query: SELECT pg_catalog.worker_partial_agg(' <<<"$plan" &&
         grep -qx "[[:space:]]*Task Count: $shards" <<<"$plan"; echo $?) \
        "$shards shards: EXPLAIN (VERBOSE) shows one epoch of mixrec_fit pushed down to every shard (worker_partial_agg)"
    grep -qx "[[:space:]]*Task Count: $shards" <<<"$plan" || diag "$(head -c 2000 <<<"$plan")"
    diag "$(grep -E 'Output: coord_combine_agg|Task Count' <<<"$plan" | sed 's/^ *//' | paste -sd ';')"
    if [ "$shards" = 4 ]; then
        # Citus pushes it down whatever the strategy: the setting only
        # forbids the fallback of pulling the rows to the coordinator
        plan=$(qscript -v model="$model0" <<<"EXPLAIN (VERBOSE, COSTS OFF) $(fit_query clicks4 "$fit_options")" 2>&1)
        ok $(grep -q 'Query: SELECT pg_catalog.worker_partial_agg(' <<<"$plan" &&
             grep -qx "[[:space:]]*Task Count: 4" <<<"$plan"; echo $?) \
            "4 shards: pushed down with the default citus.coordinator_aggregation_strategy ($(qc "SHOW citus.coordinator_aggregation_strategy")) too"
    fi

    info=$(qscript -v model="$model0" <<SQL 2>&1
SET citus.coordinator_aggregation_strategy = 'disabled';
SELECT mixrec_state_info(mixrec_fit_state(m.model, features, label, 1.0, NULL, '{$fit_options}'))
FROM clicks$shards, (SELECT :'model'::bytea AS model) AS m
SQL
)
    fit=$(qscript -v model="$model0" <<SQL 2>&1
SET citus.coordinator_aggregation_strategy = 'disabled';
SELECT mixrec_info(new.m)->'optimizer'->>'step'
FROM ($(fit_query clicks$shards "$fit_options")) AS new(m)
SQL
)
    ok $(qc "SELECT ('$info'::jsonb->>'rows_seen')::int = 40000 AND ('$info'::jsonb->>'rows_pooled')::int = 0
                    AND ${fit:-0} > 0" 2>&1 | grep -qx t; echo $?) \
        "$shards shards: one epoch succeeds, and its state (mixrec_fit_state) has seen the rows of all shards"
    diag "mixrec_state_info: $info; the model's Adam steps: $fit"
done

echo "# b. epochs over the shards train as well as serial epochs"
out=$(run_epochs serial clicks_local "$fit_options" 1 "SET max_parallel_workers_per_gather = 0;") &&
    register serial >/dev/null
ok $? "$epochs serial epochs of mixrec_fit over the plain table on the coordinator"
[ -n "$out" ] && diag "$out"
serial=$(evaluate fit_serial)
diag "serial: test log loss, AUC: $serial"
# An epoch over 4 shards is one aggregate; one over 32 runs as 8 rounds
# of a share of the rows each (4 partitions a round, as mixrec_train
# splits a streamed epoch), every round over all 32 shards
for shards in 4 32; do
    rounds=$(( (shards + 3) / 4 ))
    out=$(run_epochs shards$shards clicks$shards "$fit_options, \"partitions\": $shards" $rounds) &&
        register shards$shards >/dev/null
    ok $? "$shards shards: $epochs epochs of mixrec_fit with \"partitions\": $shards, $rounds aggregate(s) an epoch"
    [ -n "$out" ] && diag "$(head -n 4 <<<"$out")"
    result=$(evaluate fit_shards$shards)
    close_to "$result" "$serial"
    ok $? "$shards shards: after $epochs epochs with \"partitions\": $shards, test log loss within 10% and AUC within 0.002 of the serial run's"
    diag "$shards shards: test log loss, AUC: ${result:-none, not trained} (serial: $serial)"
done
# One aggregate an epoch over the 32 shards: the models drift apart over
# an epoch and their average falls short (not checked, shown)
out=$(run_epochs shards32_one clicks32 "$fit_options, \"partitions\": 32" 1) && register shards32_one >/dev/null
diag "32 shards, one aggregate an epoch: test log loss, AUC: $(evaluate fit_shards32_one)${out:+ $out}"

# mixrec_train streams its epochs over the source and splits them by itself
out=$(qscript <<SQL 2>&1
SET max_parallel_workers_per_gather = 0;
SELECT version FROM mixrec_train('stream_serial', 'clicks_local', 'features', 'label', $train_args,
                                 method => 'stream');
SQL
)
ok $? "mixrec_train(..., method => 'stream') over the plain table, serially"
[ "$out" = 1 ] || diag "$out"
stream_serial=$(evaluate stream_serial)
# split_of NAME: how a streamed training split its epochs
split_of() {
    qc "SELECT 'method ' || (metrics->>'method') || ', partitions ' || coalesce(metrics->>'partitions', 'none')
               || ', rounds ' || coalesce(metrics->>'rounds', 'none')
        FROM mixrec_models WHERE name = '$1'" 2>&1
}
diag "serial stream: test log loss, AUC: $stream_serial; $(split_of stream_serial)"
for shards in 4 32; do
    out=$(qc "SELECT version FROM mixrec_train('stream$shards', 'clicks$shards', 'features', 'label', $train_args,
                                               method => 'stream')" 2>&1)
    parts=$(qc "SELECT metrics->>'partitions' FROM mixrec_models WHERE name = 'stream$shards'" 2>&1)
    ok $([ "$out" = 1 ] && [ "$parts" = "$shards" ]; echo $?) \
        "$shards shards: mixrec_train(..., method => 'stream') over the distributed table splits each epoch over its $shards shards by itself"
    [ "$out" = 1 ] || diag "$(head -n 6 <<<"$out")"
    result=$(evaluate stream$shards)
    close_to "$result" "$stream_serial"
    ok $? "$shards shards: the streamed training's test log loss within 10% and AUC within 0.002 of the serial one's"
    diag "$shards shards, streamed: test log loss, AUC: ${result:-none, not trained}${result:+; $(split_of stream$shards)}"
done

echo "# c. serving over the distributed tables"
# A model trained by mixrec_train over the distributed table, on the
# coordinator, stored in the coordinator's registry only
out=$(qc "SELECT version FROM mixrec_train('x', 'clicks4', 'features', 'label', $train_args)" 2>&1)
stored=$(qc "SELECT string_agg(name || ' ' || version || ' ' || active || ' ' || (metrics->>'method')
                               || ' ' || (metrics->>'rows'), ',') FROM mixrec_models WHERE name = 'x'" 2>&1)
elsewhere=$(qn 1 "SELECT count(*) FROM mixrec_models" 2>&1)/$(qn 2 "SELECT count(*) FROM mixrec_models" 2>&1)
ok $([ "$out" = 1 ] && [ "$stored" = "x 1 true memory 40000" ] && [ "$elsewhere" = 0/0 ]; echo $?) \
    "mixrec_train('x', 'clicks4', ...) on the coordinator stores version 1 in the coordinator's registry"
diag "trained: $out; registry: $stored; rows in the workers' mixrec_models: $elsewhere"

cte="WITH m AS MATERIALIZED (SELECT weights FROM mixrec_models WHERE name = 'x' AND active)"
# same_rows NAME DISTRIBUTED_SQL LOCAL_SQL: the two queries give the same
# rows, byte for byte
same_rows() {
    local dist local_
    dist=$(qc "$2" 2>&1)
    local_=$(qc "$3" 2>&1)
    [ -n "$dist" ] && [ "$dist" = "$local_" ] && return 0
    diag "$1 over the distributed table: $(head -n 3 <<<"$dist" | cut -c1-300)"
    diag "$1 over the plain table: $(head -n 3 <<<"$local_" | cut -c1-300)"
    return 1
}
for fn in mixrec_score mixrec_score_all; do
    plan=$(qc "EXPLAIN (VERBOSE, COSTS OFF) $cte SELECT c.i, $fn(m.weights, c.features) FROM clicks4 c, m" 2>&1)
    same_rows "$fn" "$cte SELECT c.i, $fn(m.weights, c.features) FROM clicks4 c, m ORDER BY c.i" \
        "$cte SELECT c.i, $fn(m.weights, c.features) FROM clicks_local c, m ORDER BY c.i"
    same=$?
    ok $([ $same -eq 0 ] && grep -q 'Distributed Subplan' <<<"$plan" && grep -qx '[[:space:]]*Task Count: 4' <<<"$plan" &&
         grep -q "Query: SELECT .*public.$fn(" <<<"$plan"; echo $?) \
        "$fn(model bytea, features) on the shards, the model from a MATERIALIZED CTE over the registry: every row's score as on the plain table"
done
diag "$(grep -E 'Distributed Subplan|Task Count|Index Scan' <<<"$plan" | sed 's/^ *//' | paste -sd ';')"
# The same with the model read by mixrec_model in the CTE
same_rows "mixrec_score, the model from mixrec_model('x')" \
    "WITH m AS MATERIALIZED (SELECT mixrec_model('x') AS weights)
     SELECT c.i, mixrec_score(m.weights, c.features) FROM clicks4 c, m ORDER BY c.i" \
    "$cte SELECT c.i, mixrec_score(m.weights, c.features) FROM clicks_local c, m ORDER BY c.i"
ok $? "mixrec_score on the shards, the model from a MATERIALIZED CTE of mixrec_model('x'): every row's score as on the plain table"
# A scalar subquery is a subplan too; the bare call is a function of the
# query that Citus runs on the workers
same_rows "mixrec_score, the model from (SELECT mixrec_model('x'))" \
    "SELECT c.i, mixrec_score((SELECT mixrec_model('x')), c.features) FROM clicks4 c ORDER BY c.i" \
    "$cte SELECT c.i, mixrec_score(m.weights, c.features) FROM clicks_local c, m ORDER BY c.i"
ok $? "mixrec_score on the shards, the model from a scalar subquery (SELECT mixrec_model('x')): every row's score as on the plain table"
out=$(qc "SELECT count(*), sum(mixrec_score(mixrec_model('x'), c.features)) FROM clicks4 c" 2>&1)
ok $(grep -q 'ERROR:  42704: model "x" has no active version' <<<"$out" &&
     grep -qE 'while executing command on 127.0.0.1:[0-9]+' <<<"$out"; echo $?) \
    "mixrec_score(mixrec_model('x'), features) over the distributed table is refused: Citus runs mixrec_model on the workers"
diag "$(tr '\n' ' ' <<<"$out" | sed 's/LOCATION: .*//')"
diag "sum of the scores over 4 shards: $(qc "$cte SELECT round(sum(mixrec_score(m.weights, c.features))::numeric, 6) FROM clicks4 c, m" 2>&1)"

# By name: the scoring runs on the workers, whose registry is empty
out=$(qc "SELECT count(*), sum(mixrec_score('x', c.features)) FROM clicks4 c" 2>&1)
ok $(grep -q 'ERROR:  42704: model "x" has no active version' <<<"$out" &&
     grep -qE 'CONTEXT:  while executing command on 127.0.0.1:(4|5)[0-9]+' <<<"$out"; echo $?) \
    "mixrec_score('x', features) over the distributed table is refused on the workers, whose registry is empty (use the CTE)"
diag "$(tr '\n' ' ' <<<"$out" | sed 's/LOCATION: .*//')"

same_rows mixrec_predict \
    "SELECT id, score, score_open, score_commercial FROM mixrec_predict('x', 'clicks4', 'i', 'features') ORDER BY id::int" \
    "SELECT id, score, score_open, score_commercial FROM mixrec_predict('x', 'clicks_local', 'i', 'features') ORDER BY id::int"
ok $? "mixrec_predict('x', 'clicks4', ...) on the coordinator: every row's scores as on the plain table"

# The rows reach mixrec_evaluate in another order: its sums are equal to
# the last bits only, so every metric is compared to 1e-9 of its value
eval_diff=$(qc "SELECT coalesce(pg_catalog.string_agg(coalesce(d.model, l.model) || ' ' || coalesce(d.metric, l.metric)
                    || ': ' || coalesce(d.value::text, 'none') || ' vs ' || coalesce(l.value::text, 'none'), '; '), 'none')
                FROM mixrec_evaluate('x', 'clicks4', 'features', 'label', user_id => 'user_id', k => 10) AS d
                FULL JOIN mixrec_evaluate('x', 'clicks_local', 'features', 'label', user_id => 'user_id', k => 10) AS l
                  ON d.model = l.model AND d.metric = l.metric
                WHERE d.value IS NULL OR l.value IS NULL
                   OR abs(d.value - l.value) > 1e-9 * greatest(1, abs(l.value))" 2>&1)
ok $([ "$eval_diff" = none ]; echo $?) \
    "mixrec_evaluate('x', 'clicks4', ..., user_id => 'user_id') on the coordinator: the plain table's metrics (to 1e-9)"
[ "$eval_diff" = none ] || diag "metrics that differ (distributed vs plain): $eval_diff"
diag "$(qc "SELECT string_agg(metric || ' ' || round(value::numeric, 4), ', ' ORDER BY metric)
            FROM mixrec_evaluate('x', 'clicks4', 'features', 'label', user_id => 'user_id', k => 10)
            WHERE model = 'blend'" 2>&1)"

rec_sql="SELECT user_id, item_id, rank, score FROM mixrec_recommend('x', '%s', '%s', 'user_id', 'item_id',
         'uf', 'tf', k => 10, exclude => 'SELECT user_id, item_id FROM %s') ORDER BY user_id::int, rank"
# shellcheck disable=SC2059
same_rows mixrec_recommend "$(printf "$rec_sql" users items clicks4)" "$(printf "$rec_sql" users_local items_local clicks_local)"
ok $? "mixrec_recommend over distributed users, a reference table of items and distributed exclusions: the plain tables' top 10"

rank_sql="SELECT * FROM mixrec_evaluate_ranking('x', 'SELECT user_id, item_id FROM %s WHERE label = 1',
          'SELECT c.user_id, c.item_id, u.uf FROM %s c JOIN %s u USING (user_id) WHERE c.label = 1',
          'user_id', 'item_id', '%s', k => 10, user_features => 'uf', item_features => 'tf')"
# shellcheck disable=SC2059
same_rows mixrec_evaluate_ranking "$(printf "$rank_sql" clicks4 clicks_test4 users items)" \
    "$(printf "$rank_sql" clicks_local clicks_test users_local items_local)"
ok $? "mixrec_evaluate_ranking over distributed train and test and a reference table of items: the plain tables' metrics"
diag "$(qc "$(printf "$rank_sql" clicks4 clicks_test4 users items)" 2>/dev/null | tr '\n' ' ')"

# Top 10 per user in SQL, on the shards: a window function over users x
# items, users distributed and items a reference table
topk="$cte
SELECT user_id, item_id, rank, score FROM (
    SELECT u.user_id, i.item_id, mixrec_score(m.weights, u.uf || i.tf) AS score,
           row_number() OVER (PARTITION BY u.user_id
                              ORDER BY mixrec_score(m.weights, u.uf || i.tf) DESC, i.item_id) AS rank
    FROM users u CROSS JOIN items i CROSS JOIN m
    WHERE NOT EXISTS (SELECT FROM clicks4 s WHERE s.user_id = u.user_id AND s.item_id = i.item_id)) AS ranked
WHERE rank <= 10"
plan=$(qc "EXPLAIN (VERBOSE, COSTS OFF) $topk" 2>&1)
cmp=$(qc "CREATE TEMP TABLE topk AS $topk;
          CREATE TEMP TABLE rec AS $(printf "$rec_sql" users items clicks4);
          SELECT count(*) || ' ' || count(*) FILTER (WHERE r.item_id = t.item_id::text) || ' '
                 || max(abs(r.score - t.score))
          FROM rec r JOIN topk t ON r.user_id = t.user_id::text AND r.rank = t.rank" 2>&1)
read -r pairs same_items max_diff <<<"$cmp"
ok $([ "${pairs:-0}" = 5000 ] && [ "$same_items" = 5000 ] &&
     qc "SELECT ${max_diff:-1} < 1e-6" | grep -qx t && grep -qx '[[:space:]]*Task Count: 4' <<<"$plan" &&
     grep -q 'WindowAgg' <<<"$plan"; echo $?) \
    "top 10 per user as a window function on the shards: mixrec_recommend's items and ranks, scores within 1e-6"
diag "(user, rank) pairs, same items, largest score difference: $cmp"

# README's LATERAL form of the same
out=$(qc "$cte
          SELECT count(*) FROM users u CROSS JOIN LATERAL (
              SELECT i.item_id, mixrec_score((SELECT weights FROM m), u.uf || i.tf) AS score
              FROM items i
              WHERE NOT EXISTS (SELECT FROM clicks4 s WHERE s.user_id = u.user_id AND s.item_id = i.item_id)
              ORDER BY score DESC, i.item_id LIMIT 10) AS top" 2>&1)
ok $(grep -q 'correlated subqueries are not supported when the FROM clause contains a reference table' <<<"$out"
     echo $?) \
    "the LATERAL top-k form over the distributed tables is refused by Citus (use the window function)"
diag "$(tr '\n' ' ' <<<"$out" | sed 's/LOCATION: .*//')"

# Scoring by name on the coordinator's plain table, in a parallel plan
parallel="SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0;
          SET max_parallel_workers_per_gather = 2;"
plan=$(qc "$parallel EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
           SELECT count(*) FROM clicks_local WHERE mixrec_score('x', features) > 0.5" 2>&1)
counted=$(qc "$parallel $cte SELECT count(*) || ' ' || count(*) FILTER (WHERE p IS NOT DISTINCT FROM
                  mixrec_score((SELECT weights FROM m), features))
              FROM (SELECT features, mixrec_score('x', features) AS p FROM clicks_local) AS s" 2>&1)
ok $(grep -qE 'Workers Launched: [1-9]' <<<"$plan" && [ "$counted" = "40000 40000" ]; echo $?) \
    "mixrec_score('x', features) over the coordinator's plain table in a parallel plan: every score as the model's bytes give"
diag "$(grep -E 'Gather|Workers' <<<"$plan" | sed 's/^ *//' | paste -sd ';'); rows, same scores: $counted"

# Typed columns: a model of the table's own columns, trained over the
# shards by mixrec_train on the coordinator, scores the shards' rows by
# name; the aggregate over rows is another matter
out=$(qscript <<SQL 2>&1
SET client_min_messages = warning;
CREATE TABLE typed_local AS
SELECT i, user_id, item_id, features[1] AS f1, features[2] AS f2, features[3] AS f3, features[4] AS f4,
       features[5] AS f5, features[6] AS f6, features[7] AS f7, features[8] AS f8,
       'b' || item_id % 7 AS bucket, label
FROM clicks_local ORDER BY i;
CREATE TABLE typed4 (LIKE typed_local);
SELECT create_distributed_table('typed4', 'user_id', colocate_with => 'users');
INSERT INTO typed4 SELECT * FROM typed_local ORDER BY i;
SELECT version FROM mixrec_train('typed', 'typed4', label => 'label', exclude => ARRAY['i', 'user_id', 'item_id'],
                                 $train_args);
SQL
)
ok $([ "$(tail -n 1 <<<"$out")" = 1 ] &&
     [ "$(qc "SELECT count(*) FROM mixrec_feature_info('typed')" 2>&1)" = 9 ]; echo $?) \
    "typed columns: mixrec_train('typed', 'typed4', label => 'label', exclude => ...) over the shards stores a model of 9 columns"
[ "$(tail -n 1 <<<"$out")" = 1 ] || diag "$(head -n 4 <<<"$out")"
tcte="WITH m AS MATERIALIZED (SELECT weights FROM mixrec_models WHERE name = 'typed' AND active)"
same_rows "mixrec_score(model, row)" "$tcte SELECT c.i, mixrec_score(m.weights, c) FROM typed4 c, m ORDER BY c.i" \
    "$tcte SELECT c.i, mixrec_score(m.weights, c) FROM typed_local c, m ORDER BY c.i" &&
    same_rows "mixrec_predict of typed columns" \
        "SELECT id, score FROM mixrec_predict('typed', 'typed4', 'i') ORDER BY id::int" \
        "SELECT id, score FROM mixrec_predict('typed', 'typed_local', 'i') ORDER BY id::int"
ok $? "typed columns: mixrec_score(model bytea, row) on the shards and mixrec_predict('typed', 'typed4', 'i') score as on the plain table"
# Citus checks that each argument's type is the aggregate's declared
# parameter type: a table's row is not "record", an anonymous ROW() is
err=$(qc "$tcte SELECT mixrec_fit(m.weights, c, c.label) FROM typed4 c, m" 2>&1)
ok $(grep -q 'ERROR:  XX000: worker_partial_agg_sfunc could not confirm type correctness' <<<"$err"; echo $?) \
    "typed columns: mixrec_fit(model, row, label) over a table's rows is refused by Citus's type check of pushed-down aggregates"
diag "$(tr '\n' ' ' <<<"$err" | sed 's/LOCATION: .*//')"
seen=$(qc "$tcte SELECT mixrec_state_info(mixrec_fit_state(m.weights, ROW(f1, f2, f3, f4, f5, f6, f7, f8, bucket),
                                                          label))->>'rows_seen'
           FROM typed4 c, m" 2>&1)
ok $([ "$seen" = 40000 ]; echo $?) \
    "typed columns: the same epoch over ROW(the model's columns in order) is pushed down and sees all 40,000 rows"
[ "$seen" = 40000 ] || diag "$seen"

echo "# d. bad input and empty shards"
# One row of 7 features on one shard: the worker's error, with mixrec's
# message and SQLSTATE, reaches the client
out=$(qscript <<'SQL' 2>&1
SET client_min_messages = warning;
CREATE TABLE clicks_bad (LIKE clicks_local);
SELECT create_distributed_table('clicks_bad', 'user_id', shard_count => 4);
INSERT INTO clicks_bad SELECT * FROM clicks_local WHERE i <= 2000;
INSERT INTO clicks_bad VALUES (0, 7, 7, '{1,2,3,4,5,6,7}', 1);
SELECT nodeport FROM citus_shards
WHERE shardid = get_shard_id_for_distribution_column('clicks_bad', 7);
SQL
)
bad_port=$(tail -n 1 <<<"$out")
err=$(qscript -v model="$model0" <<SQL 2>&1
SET citus.coordinator_aggregation_strategy = 'disabled';
$(fit_query clicks_bad "$fit_options")
SQL
)
ok $(grep -q 'ERROR:  22000: features have 7 elements, expected 8' <<<"$err" &&
     grep -q "CONTEXT:  while executing command on 127.0.0.1:$bad_port" <<<"$err"; echo $?) \
    "a row of 7 features on one shard: mixrec_fit fails with mixrec's message from the worker that holds it"
diag "$(tr '\n' ' ' <<<"$err" | sed 's/LOCATION: .*//') (the row's shard is on port $bad_port)"
err=$(qc "$cte SELECT sum(mixrec_score(m.weights, c.features)) FROM clicks_bad c, m" 2>&1)
ok $(grep -q 'ERROR:  22000: features have 7 elements, expected 8' <<<"$err" &&
     grep -q "CONTEXT:  while executing command on 127.0.0.1:$bad_port" <<<"$err"; echo $?) \
    "the same row: mixrec_score on the shards fails with mixrec's message from that worker"
diag "$(tr '\n' ' ' <<<"$err" | sed 's/LOCATION: .*//')"

# Rows on two of the four shards only, and a table with no rows at all
out=$(qscript <<'SQL' 2>&1
SET client_min_messages = warning;
CREATE TABLE clicks_sparse (LIKE clicks_local);
SELECT create_distributed_table('clicks_sparse', 'user_id', shard_count => 4);
INSERT INTO clicks_sparse SELECT * FROM clicks_local
WHERE get_shard_id_for_distribution_column('clicks_sparse', user_id) IN
      (SELECT shardid FROM pg_dist_shard WHERE logicalrelid = 'clicks_sparse'::regclass ORDER BY shardid LIMIT 2);
CREATE TABLE clicks_empty (LIKE clicks_local);
SELECT create_distributed_table('clicks_empty', 'user_id', shard_count => 4);
SELECT string_agg(result, ' ' ORDER BY shardid) FROM run_command_on_shards('clicks_sparse', 'SELECT count(*) FROM %s');
SQL
)
per_shard=$(tail -n 1 <<<"$out")
sparse_rows=$(qc "SELECT count(*) FROM clicks_sparse" 2>&1)
info=$(qscript -v model="$model0" <<SQL 2>&1
SET citus.coordinator_aggregation_strategy = 'disabled';
SELECT mixrec_state_info(mixrec_fit_state(m.model, features, label, 1.0, NULL, '{$fit_options}'))->>'rows_seen'
FROM clicks_sparse, (SELECT :'model'::bytea AS model) AS m;
SELECT mixrec_info(mixrec_fit(m.model, features, label, 1.0, NULL, '{$fit_options}'))->'optimizer'->>'step'
FROM clicks_sparse, (SELECT :'model'::bytea AS model) AS m;
SELECT version FROM mixrec_train('sparse', 'clicks_sparse', 'features', 'label', $train_args);
SQL
)
read -r seen steps version <<<"$(tr '\n' ' ' <<<"$info")"
ok $([ "$(tr ' ' '\n' <<<"$per_shard" | grep -cx 0)" = 2 ] && [ "$seen" = "$sparse_rows" ] &&
     [ "${steps:-0}" -gt 0 ] 2>/dev/null && [ "$version" = 1 ]; echo $?) \
    "two of four shards empty: an epoch of mixrec_fit sees every row and steps, and mixrec_train trains"
diag "rows per shard: $per_shard; rows_seen: $seen; Adam steps: $steps; mixrec_train's version: $version"
[ "$version" = 1 ] || diag "$(head -n 4 <<<"$info")"
empty=$(qscript -v model="$model0" <<SQL 2>&1
SET citus.coordinator_aggregation_strategy = 'disabled';
SELECT coalesce(length(mixrec_fit(m.model, features, label, 1.0, NULL, '{$fit_options}'))::text, 'null')
FROM clicks_empty, (SELECT :'model'::bytea AS model) AS m
SQL
)
ok $([ "$empty" = null ]; echo $?) "every shard empty: an epoch of mixrec_fit returns NULL, as over an empty plain table"
[ "$empty" = null ] || diag "$empty"

diag "$(( ($(now_ms) - start) / 1000 )) s in all"
done_testing
