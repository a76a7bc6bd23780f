#!/usr/bin/env bash
# Multi-node training with PL/Proxy: two throwaway shard clusters on
# 127.0.0.1 each hold part of the data and run one epoch of
# mixrec_fit_state over their own rows; the test cluster is the coordinator,
# which calls every shard through a PL/Proxy function (RUN ON ALL) and
# averages the shards' states into the next model with mixrec_merge.
set -uo pipefail
cd "$(dirname "$0")"
. ./tap.sh

PG_BIN=/usr/lib/postgresql/${MIXREC_PG_MAJOR:-15}/bin
db=mixrec_it_plproxy
shard_db=(mixrec_shard_0 mixrec_shard_1)
shard_port=()
epochs=3
options='{"learning_rate": 0.01, "batch_size": 64, "partitions": 2}'

# The data set, the same on every node: 20,000 rows, 8 features, a label
# that the features decide (with an interaction term), a domain; row i
# belongs to shard 0 when i % 3 = 0, to shard 1 otherwise (6,666 and
# 13,334 rows)
data_sql="SELECT i, f AS features,
       (f[1] + f[2] - 0.5 * f[3] + 1.5 * f[4] * f[5] + 0.8 * f[7] > 0.3)::int::float8 AS label,
       CASE WHEN i % 4 = 1 THEN 'commercial' ELSE 'open' END AS domain
FROM (SELECT i, ARRAY[sin(i * 0.37), cos(i * 0.73), sin(i * 1.31), cos(i * 0.21),
                      sin(i * 2.03), cos(i * 0.57), ((i * 7919) % 1000) / 1000.0,
                      ((i * 104729) % 997) / 997.0 - 0.5]::real[] AS f
      FROM generate_series(1, 20000) AS i) AS g"
shard_filter=("i % 3 = 0" "i % 3 <> 0")

. ./loopback.sh

root=""
cleanup() {
    if [ -n "$root" ]; then
        loopback_stop "$root/shard0" "$root/shard1"
        rm -rf "$root"
    fi
    psql -X -q -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

# qs SHARD SQL: one value from a shard, over 127.0.0.1
qs() {
    psql -X -q -At -v ON_ERROR_STOP=1 \
        "host=127.0.0.1 port=${shard_port[$1]} dbname=${shard_db[$1]} user=postgres" -c "$2"
}



root=$(loopback_root plproxy) || bail "a temporary directory for the shards"

for k in 0 1; do
    loopback_start "$root/shard$k" "${shard_port[*]:-}" "max_connections = 20" "log_connections = on" \
        >"$root/start$k.log" 2>&1 || bail "shard $k starts" "$(tail -n 20 "$root/start$k.log")"
    shard_port[$k]=$loopback_port
done

# Each shard: its database, mixrec, its part of the rows, and one epoch
# over them as a plain SQL function
for k in 0 1; do
    out=$(psql -X -q -At -v ON_ERROR_STOP=1 \
        "host=127.0.0.1 port=${shard_port[$k]} dbname=postgres user=postgres" \
        -c "CREATE DATABASE ${shard_db[$k]}" 2>&1 &&
        qs $k "CREATE EXTENSION mixrec" 2>&1 &&
        qs $k "CREATE TABLE clicks AS SELECT * FROM ($data_sql) AS d WHERE ${shard_filter[$k]} ORDER BY i" 2>&1 &&
        qs $k "CREATE FUNCTION partial_epoch(model bytea, options jsonb) RETURNS bytea
               LANGUAGE sql AS
               'SELECT mixrec_fit_state(model, features, label, 1.0, domain, options) FROM clicks'" 2>&1) ||
        bail "shard $k gets its database, mixrec and its rows" "$out"
done

# shard_conninfo K: how the coordinator reaches shard K
shard_conninfo() {
    echo "host=127.0.0.1 port=${shard_port[$1]} dbname=${shard_db[$1]} connect_timeout=10" \
        "application_name=mixrec_coordinator"
}

# The coordinator: mixrec, PL/Proxy, the whole data set (to check the model
# against), the cluster of the two shards and the proxy function
out=$(psql -X -q -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $db" \
        -c "CREATE DATABASE $db" 2>&1 &&
    q $db "CREATE EXTENSION mixrec" 2>&1 &&
    q $db "CREATE EXTENSION plproxy" 2>&1 &&
    q $db "CREATE TABLE clicks AS SELECT *, CASE WHEN i % 3 = 0 THEN 0 ELSE 1 END AS shard
           FROM ($data_sql) AS d ORDER BY i" 2>&1 &&
    q $db "CREATE SERVER mixrec_shards FOREIGN DATA WRAPPER plproxy OPTIONS (
               connection_lifetime '60',
               partition_0 '$(shard_conninfo 0)',
               partition_1 '$(shard_conninfo 1)')" 2>&1 &&
    # PL/Proxy wants a user mapping for an SQL/MED cluster even when the
    # shards need no password ("user mapping not found" otherwise)
    q $db "CREATE USER MAPPING FOR PUBLIC SERVER mixrec_shards OPTIONS (user 'postgres')" 2>&1 &&
    q $db "CREATE FUNCTION proxy_partial_epoch(model bytea, options jsonb) RETURNS SETOF bytea
           LANGUAGE plproxy AS \$\$
               CLUSTER 'mixrec_shards';
               RUN ON ALL;
               TARGET partial_epoch;
           \$\$" 2>&1 &&
    q $db "CREATE TABLE models (epoch int PRIMARY KEY, model bytea NOT NULL)" 2>&1 &&
    q $db "CREATE TABLE states (epoch int NOT NULL, state bytea NOT NULL)" 2>&1 &&
    q $db "INSERT INTO models VALUES (0, mixrec_init(8, '{16}'))" 2>&1) ||
    bail "the coordinator gets mixrec, PL/Proxy, the cluster and the proxy function" "$out"

counts=$(qs 0 "SELECT count(*) FROM clicks")/$(qs 1 "SELECT count(*) FROM clicks")
ok $([ "$counts" = "$(q $db "SELECT count(*) FILTER (WHERE shard = 0) || '/' || count(*) FILTER (WHERE shard = 1) FROM clicks")" ] &&
     [ "$counts" = 6666/13334 ]; echo $?) \
    "two shards on 127.0.0.1 (ports ${shard_port[0]} and ${shard_port[1]}) hold 6,666 and 13,334 of the 20,000 rows"
diag "shard rows: $counts; positive labels: $(q $db "SELECT round(avg(label)::numeric, 3) FROM clicks")"

# Train: each epoch, every shard runs one epoch over its rows from the
# current model, and the coordinator averages the states into the next
start=$(now_ms)
for epoch in $(seq 1 $epochs); do
    out=$(q $db "INSERT INTO states
                 SELECT $epoch, s FROM proxy_partial_epoch((SELECT model FROM models WHERE epoch = $epoch - 1),
                                                           '$options') AS s" 2>&1 &&
        q $db "INSERT INTO models
               SELECT $epoch, mixrec_merge(state ORDER BY state) FROM states WHERE epoch = $epoch" 2>&1)
    ok $? "epoch $epoch: the shards train through PL/Proxy and the coordinator merges their states"
    [ -n "$out" ] && diag "$out"
done
diag "$epochs epochs in $(($(now_ms) - start)) ms"

# The shards listen on 127.0.0.1 only, and PL/Proxy reached them there
# (log_connections: every connection came from 127.0.0.1, and the
# coordinator's name shows in each shard's log once per epoch at least)
for k in 0 1; do
    listen=$(qs $k "SHOW listen_addresses" 2>&1)
    from=$(grep -oE 'connection received: host=[^ ]+' "$root/shard$k/server.log" | sort | uniq -c | xargs)
    proxied=$(grep -cE "connection authorized: user=postgres database=${shard_db[$k]} application_name=mixrec_coordinator" \
        "$root/shard$k/server.log")
    ok $([ "$listen" = 127.0.0.1 ] && [ "$from" = "$(grep -c 'connection received:' "$root/shard$k/server.log") connection received: host=127.0.0.1" ] &&
         [ "$proxied" -ge "$epochs" ]; echo $?) \
        "shard $k listens on 127.0.0.1 only and the coordinator's PL/Proxy connections came from there"
    diag "shard $k: listen_addresses '$listen'; $from; $proxied from the coordinator"
done

per_epoch=$(q $db "SELECT string_agg(n::text, ',' ORDER BY e)
                   FROM (SELECT e, (SELECT count(*) FROM states WHERE epoch = e) AS n
                         FROM generate_series(1, $epochs) AS e) AS x")
ok $([ "$per_epoch" = "$(seq -s, $epochs | sed 's/[0-9]\+/2/g')" ]; echo $?) "the proxy function returns one state per shard each epoch"
diag "states per epoch: $per_epoch"

# Each state saw exactly the rows of one shard
seen=$(q $db "SELECT string_agg(rows, ' ' ORDER BY epoch, rows::int)
              FROM (SELECT epoch, mixrec_state_info(state)->>'rows_seen' AS rows FROM states) AS x")
ok $([ "$seen" = "$(seq -s ' ' $epochs | sed 's/[0-9]\+/6666 13334/g')" ]; echo $?) \
    "each state has seen exactly one shard's rows (rows_seen)"
diag "rows_seen per epoch: $seen"

# A shard's state is the very state the aggregate computes on the
# coordinator over that shard's rows: the shards trained on nothing else
same=$(q $db "SELECT bool_and(s.state = l.state) AND count(*) = 2
              FROM states s
              JOIN (SELECT shard, mixrec_fit_state(m.model, features, label, 1.0, domain, '$options'
                                                   ORDER BY i) AS state
                    FROM clicks, (SELECT model FROM models WHERE epoch = 0) AS m
                    GROUP BY shard) AS l
                ON (mixrec_state_info(s.state)->>'rows_seen')::int =
                   (SELECT count(*) FROM clicks c WHERE c.shard = l.shard)
              WHERE s.epoch = 1" 2>&1)
ok $([ "$same" = t ]; echo $?) \
    "epoch 1's shard states are byte for byte the states of the same epoch run locally on each shard's rows"
[ "$same" = t ] || diag "$same"

# The same epoch in one statement: the shards' work is reproducible
ok $(q $db "SELECT (SELECT mixrec_merge(s ORDER BY s)
                    FROM proxy_partial_epoch((SELECT model FROM models WHERE epoch = 0), '$options') AS s)
                   = (SELECT model FROM models WHERE epoch = 1)" 2>&1 | grep -qx t; echo $?) \
    "epoch 1 again, as one statement over the proxy function, gives the same model bytes"

# The merged model is a model with an optimizer that has stepped
info=$(q $db "SELECT jsonb_build_object('input_dim', i->'input_dim', 'hidden', i->'hidden', 'optimizer', i->'optimizer')
              FROM (SELECT mixrec_info(model) AS i FROM models WHERE epoch = $epochs) AS x" 2>&1)
ok $(q $db "SELECT (i->>'input_dim')::int = 8 AND i->'hidden' = '[16]' AND (i->'optimizer'->>'step')::int > 0
            FROM (SELECT mixrec_info(model) AS i FROM models WHERE epoch = $epochs) AS x" 2>&1 |
     grep -qx t; echo $?) "the merged model is a valid model of 8 inputs whose optimizer has stepped"
diag "$info"
steps=$(q $db "SELECT string_agg(mixrec_info(model)->'optimizer'->>'step', ',' ORDER BY epoch)
               FROM models WHERE epoch > 0")
ok $(q $db "SELECT bool_and(s > p) FROM (SELECT (mixrec_info(model)->'optimizer'->>'step')::int AS s,
                   lag((mixrec_info(model)->'optimizer'->>'step')::int, 1, 0) OVER (ORDER BY epoch) AS p
            FROM models WHERE epoch > 0) AS x" | grep -qx t; echo $?) \
    "the optimizer step grows every epoch"
diag "optimizer steps after each epoch: $steps"

# Merging averages: the merged model is neither shard's own model
ok $(q $db "SELECT count(*) = 2 AND bool_and(own <> (SELECT mixrec_merge(state ORDER BY state)
                                                    FROM states WHERE epoch = $epochs))
            FROM (SELECT mixrec_merge(state) AS own FROM states WHERE epoch = $epochs GROUP BY state) AS x" |
     grep -qx t; echo $?) "the merged model differs from each shard's own model"

# The order of the states does not matter
ok $(q $db "SELECT mixrec_merge(state ORDER BY state) = mixrec_merge(state ORDER BY state DESC)
            FROM states WHERE epoch = $epochs" | grep -qx t; echo $?) \
    "merging the two shards' states in either order gives the same model bytes"

# The training loss the shards report (row-weighted) falls
losses=$(q $db "SELECT string_agg(round(l::numeric, 4)::text, ' ' ORDER BY epoch)
                FROM (SELECT epoch, sum((i->>'train_loss')::float8 * (i->>'rows_seen')::int)
                                    / sum((i->>'rows_seen')::int) AS l
                      FROM (SELECT epoch, mixrec_state_info(state) AS i FROM states) AS x
                      GROUP BY epoch) AS y")
read -r loss1 _ loss3 <<<"$losses"
ok $(q $db "SELECT ${loss3:-1} < ${loss1:-0}" | grep -qx t; echo $?) \
    "the shards' training loss falls from epoch 1 to epoch $epochs"
diag "training loss by epoch: $losses"

# On the coordinator's copy of all the rows: log loss falls, and the final
# model separates the classes
logloss=$(q $db "SELECT string_agg(round(l::numeric, 4)::text, ' ' ORDER BY epoch)
                 FROM (SELECT m.epoch,
                              -avg(label * ln(greatest(p, 1e-7)) + (1 - label) * ln(greatest(1 - p, 1e-7))) AS l
                       FROM models m, clicks, LATERAL (SELECT mixrec_score(m.model, features) AS p) AS s
                       GROUP BY m.epoch) AS x")
ok $(q $db "SELECT count(*) = $epochs + 1 AND bool_and(l < p)
            FROM (SELECT l, lag(l, 1, 'infinity') OVER (ORDER BY n) AS p
                  FROM unnest(string_to_array('$logloss', ' ')::float8[]) WITH ORDINALITY AS x(l, n)) AS y" |
     grep -qx t; echo $?) \
    "the log loss over all rows falls epoch by epoch from the untrained model to epoch $epochs"
diag "log loss over all rows, epochs 0 to $epochs: $logloss"

separation=$(q $db "WITH s AS (SELECT label, mixrec_score((SELECT model FROM models WHERE epoch = $epochs),
                                                           features) AS p FROM clicks),
                         r AS (SELECT label, rank() OVER (ORDER BY p) AS r FROM s)
                    SELECT round((SELECT avg(p) FILTER (WHERE label = 1) - avg(p) FILTER (WHERE label = 0)
                                  FROM s)::numeric, 3) || ' ' ||
                           round(((sum(r) FILTER (WHERE label = 1)
                                   - count(*) FILTER (WHERE label = 1) * (count(*) FILTER (WHERE label = 1) + 1) / 2.0)
                                  / (count(*) FILTER (WHERE label = 1) * count(*) FILTER (WHERE label = 0)))::numeric, 4)
                    FROM r")
read -r gap auc <<<"$separation"
ok $(q $db "SELECT ${gap:-0} > 0.4 AND ${auc:-0} > 0.95" | grep -qx t; echo $?) \
    "the final model separates the classes on all 20,000 rows"
diag "mean score of positives minus negatives: $gap, AUC: $auc"

done_testing
