#!/usr/bin/env bash
# Two trainings of the same model name at the same time both succeed, with
# distinct versions, and exactly one of them ends up active.
set -uo pipefail
cd "$(dirname "$0")"
. ./tap.sh

db=mixrec_it_concurrent
psql -X -q -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
q $db "CREATE EXTENSION mixrec"
q $db "CREATE TABLE t AS
       SELECT ARRAY[sin(i), cos(i)]::real[] AS features, sin(i) > 0 AS label
       FROM generate_series(1, 20000) AS i"

pids=()
for seed in 1 2 3; do
    psql -X -q -v ON_ERROR_STOP=1 -d $db -c \
        "SET client_min_messages = warning; SELECT version FROM mixrec_train('shared_name', 't', 'features', 'label', epochs => 3, seed => $seed)" \
        >/dev/null 2>&1 &
    pids+=($!)
done
failures=0
for pid in "${pids[@]}"; do
    wait "$pid" || failures=$((failures + 1))
done
ok $failures "three concurrent trainings of one name all succeed"
ok $([ "$(q $db "SELECT string_agg(version::text, ',' ORDER BY version) FROM mixrec_models")" = "1,2,3" ]; echo $?) \
    "they get versions 1, 2 and 3"
ok $([ "$(q $db "SELECT count(*) FROM mixrec_models WHERE active")" = 1 ]; echo $?) "exactly one version is active"

psql -X -q -d postgres -c "DROP DATABASE $db"
done_testing
