#!/usr/bin/env bash
# A training shows its progress to other sessions, reports each epoch, and
# stops within a second when cancelled, leaving the registry as it was.
set -uo pipefail
cd "$(dirname "$0")"
. ./tap.sh

db=mixrec_it_cancel
psql -X -q -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
q $db "CREATE EXTENSION mixrec"
q $db "CREATE TABLE rows_for_training AS
       SELECT ARRAY[sin(i), cos(i), sin(2 * i), cos(3 * i)]::real[] AS features, sin(i) > 0 AS label
       FROM generate_series(1, 20000) AS i"

log=$(mktemp)
PGAPPNAME=mixrec_cancel_test psql -X -q -d $db -c \
    "SELECT * FROM mixrec_train('slow', 'rows_for_training', 'features', 'label', epochs => 100000, batch_size => 4)" \
    >"$log" 2>&1 &
client=$!

# Progress: pg_stat_activity shows the epoch once the first one is done
progress=""
for _ in $(seq 1 200); do
    progress=$(q $db "SELECT query FROM pg_stat_activity
                      WHERE application_name = 'mixrec_cancel_test' AND query LIKE '%mixrec_train slow: epoch%train loss%'")
    [ -n "$progress" ] && break
    sleep 0.05
done
ok $([ -n "$progress" ]; echo $?) "another session sees the progress in pg_stat_activity.query"
diag "${progress:0:90}"
grep -q "NOTICE:  epoch 1/100000: train loss" "$log"
ok $? "each epoch sends a NOTICE"

pid=$(q $db "SELECT pid FROM pg_stat_activity WHERE application_name = 'mixrec_cancel_test'")
start=$(now_ms)
q $db "SELECT pg_cancel_backend($pid)" >/dev/null
wait $client
elapsed=$(($(now_ms) - start))
ok $([ "$elapsed" -lt 1000 ]; echo $?) "pg_cancel_backend stops the training within a second (${elapsed} ms)"
grep -q "canceling statement due to user request" "$log"
ok $? "the training ends with the cancel error"
ok $([ "$(q $db "SELECT count(*) FROM mixrec_models")" = 0 ]; echo $?) "a cancelled training stores nothing"

rm -f "$log"
psql -X -q -d postgres -c "DROP DATABASE $db"
done_testing
