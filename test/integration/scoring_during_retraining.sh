#!/usr/bin/env bash
# Scoring by model name under load: pgbench runs many concurrent sessions,
# each scoring every row of a table in one query, while another session
# retrains the model twice and rolls back to version 1 twice.  Every query
# must score all its rows with one version, the active one under its
# snapshot: two call sites over the same rows agree, and both agree with
# the version read explicitly from the registry in the same query.  A query
# that fails the check raises an error, which aborts its pgbench client.
set -uo pipefail
cd "$(dirname "$0")"
. ./tap.sh

db=mixrec_it_concurrency
rows=6000
duration=10
psql -X -q -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
q $db "CREATE EXTENSION mixrec"
q $db "CREATE TABLE items AS
       SELECT i AS id, ARRAY[sin(i), cos(i), sin(2 * i), cos(3 * i)]::real[] AS features,
              sin(i) + cos(2 * i) > 0 AS label
       FROM generate_series(1, $rows) AS i"
# What each pgbench query saw: the version it scored with, and when it ran
q $db "CREATE TABLE observed (id bigserial, version int, parallel boolean, started timestamptz, finished timestamptz)"

train_sql() {
    # train_sql SEED: the SQL that trains a new version of m and returns it
    echo "SELECT version FROM mixrec_train('m', 'items', 'features', 'label',
                                           hidden => '{16}', epochs => 3, seed => $1)"
}

version=$(q $db "SET client_min_messages = warning; $(train_sql 1)")
ok $([ "$version" = 1 ]; echo $?) "version 1 is trained before the load starts"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# wait_until_sleeping APPNAME: until the session of that application_name
# is inside pg_sleep (at most about two seconds)
wait_until_sleeping() {
    for _ in $(seq 1 100); do
        [ "$(q $db "SELECT count(*) FROM pg_stat_activity
                    WHERE application_name = '$1' AND wait_event = 'PgSleep'")" = 1 ] && return
        sleep 0.02
    done
}
# The check: every row scored twice with the active version (two call sites)
# and once with the version the same query reads from the registry.  OFFSET
# 0 keeps the planner from duplicating the calls into the aggregates.  On a
# mismatch the cast of the report to int raises an error (an error that
# depends on the data, so the planner cannot raise it while folding).
check_query="SELECT CASE WHEN count(*) = $rows AND bool_and(a = b AND a = c) THEN min(v)
            ELSE ('inconsistent scores under version ' || min(v) || ': ' || count(*) || ' rows, '
                  || count(*) FILTER (WHERE a <> b) || ' differ between the two call sites, '
                  || count(*) FILTER (WHERE a <> c) || ' differ from the explicit version')::int
       END AS version,
       statement_timestamp() AS started, clock_timestamp() AS finished
FROM (SELECT mixrec_score('m', features) AS a,
             mixrec_score('m', features) AS b,
             mixrec_score('m', features, version => (SELECT version FROM mixrec_models WHERE name = 'm' AND active)) AS c,
             (SELECT version FROM mixrec_models WHERE name = 'm' AND active) AS v
      FROM items OFFSET 0) AS s"
cat >"$tmp/serial.sql" <<EOF
$check_query
\gset
INSERT INTO observed (version, parallel, started, finished) VALUES (:version, false, :started, :finished);
EOF
# The same check in a parallel plan: workers read the registry themselves,
# under the leader's snapshot
cat >"$tmp/parallel.sql" <<EOF
BEGIN;
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL max_parallel_workers_per_gather = 2;
$check_query
\gset
COMMIT;
INSERT INTO observed (version, parallel, started, finished) VALUES (:version, true, :started, :finished);
EOF

plan=$(psql -X -q -At -d $db -c "SET parallel_setup_cost = 0" -c "SET parallel_tuple_cost = 0" \
           -c "SET min_parallel_table_scan_size = 0" -c "SET max_parallel_workers_per_gather = 2" \
           -c "EXPLAIN (COSTS OFF) $check_query")
ok $(grep -q 'Parallel Seq Scan' <<<"$plan"; echo $?) "the parallel variant of the check gets a parallel plan"

pgbench -n -M prepared -c 8 -j 2 -T $duration -f "$tmp/serial.sql@3" -f "$tmp/parallel.sql@1" $db \
    >"$tmp/pgbench.log" 2>&1 &
bench=$!

# Wait until the clients are scoring
for _ in $(seq 1 100); do
    [ "$(q $db "SELECT count(*) > 0 FROM observed")" = t ] && break
    sleep 0.05
done

# The changes, each in its own transaction between two timestamps taken by
# the server in the same round trip (the first in that transaction, the
# second after its commit): the version expected active after each, what
# each returned, and when it ran
steps=("$(train_sql 2)" "SELECT mixrec_activate('m', 1)" "$(train_sql 3)" "SELECT mixrec_activate('m', 1)")
expected=(2 1 3 1)
returned=()
t0=()
t1=()
# Besides the load's own queries, which straddle a change only by chance,
# one check query that pauses after it has started is sure to be running
# while the first rollback commits
cat >"$tmp/straddle.sql" <<EOF
${check_query/FROM items OFFSET 0/FROM items, (SELECT pg_sleep(2)) AS pause OFFSET 0}
\gset
INSERT INTO observed (version, parallel, started, finished) VALUES (:version, false, :'started', :'finished');
EOF
for step in "${steps[@]}"; do
    if [ ${#t0[@]} -eq 1 ]; then
        PGAPPNAME=mixrec_straddle psql -X -q -v ON_ERROR_STOP=1 -d $db -f "$tmp/straddle.sql" \
            >"$tmp/straddle.out" 2>&1 &
        straddler=$!
        wait_until_sleeping mixrec_straddle
    else
        sleep 1
    fi
    out=$(psql -X -q -At -v ON_ERROR_STOP=1 -d $db -c "SET client_min_messages = warning" \
              -c "SELECT clock_timestamp(); BEGIN; $step; COMMIT; SELECT clock_timestamp()" 2>&1)
    t0+=("$(sed -n 1p <<<"$out")")
    returned+=("$(sed -n 2p <<<"$out")")
    t1+=("$(sed -n 3p <<<"$out")")
    [ "$(wc -l <<<"$out")" -eq 3 ] || diag "unexpected output of a change: $out"
done
kill -0 $bench 2>/dev/null
still_running=$?
wait $straddler
straddler_rc=$?
[ $straddler_rc -eq 0 ] || diag "the pausing check query failed: $(cat "$tmp/straddle.out")"

wait $bench
bench_rc=$?
ok $bench_rc "pgbench exits 0 (no client aborted on an inconsistent query)"
if [ $bench_rc -ne 0 ]; then
    grep -E 'ERROR|abort' "$tmp/pgbench.log" | head -n 5 | while read -r line; do diag "$line"; done
fi
failed_tx=$(sed -nE 's/^number of failed transactions: ([0-9]+).*/\1/p' "$tmp/pgbench.log")
errors=$(grep -cE 'ERROR|aborted' "$tmp/pgbench.log")
ok $([ "$failed_tx" = 0 ] && [ "$errors" = 0 ]; echo $?) \
    "no failed transactions and no errors (failed: ${failed_tx:-not reported}, error lines: $errors)"
processed=$(sed -nE 's/^number of transactions actually processed: ([0-9]+).*/\1/p' "$tmp/pgbench.log")
ok $([ "${processed:-0}" -ge 50 ]; echo $?) "at least 50 transactions processed (${processed:-none})"
diag "$(grep -E '^(latency average|tps)' "$tmp/pgbench.log" | tr '\n' ' ')"

ok $([ "${returned[0]}" = 2 ] && [ "${returned[1]}" = 1 ] && [ "${returned[2]}" = 3 ] && [ "${returned[3]}" = 1 ]; echo $?) \
    "during the load, training gives versions 2 and 3 and mixrec_activate rolls back to 1 twice (${returned[*]})"
ok $still_running "pgbench was still running when the last change committed"

# Every query that ran entirely between two changes scored with the version
# active then; and every such interval served some queries
intervals=$(for i in 0 1 2 3 4; do
    lo=$([ $i -gt 0 ] && echo "'${t1[$((i - 1))]}'::timestamptz" || echo "'-infinity'::timestamptz")
    hi=$([ $i -lt 4 ] && echo "'${t0[$i]}'::timestamptz" || echo "'infinity'::timestamptz")
    exp=$([ $i -gt 0 ] && echo "${expected[$((i - 1))]}" || echo 1)
    echo "($i, $exp, $lo, $hi)"
done | paste -sd, -)
report=$(q $db "SELECT string_agg(format('%s:%s/%s', i, exp, n), ' ' ORDER BY i) || '|' || sum(bad)
                FROM (SELECT i, exp, count(o.id) AS n, count(o.id) FILTER (WHERE o.version <> exp) AS bad
                      FROM (VALUES $intervals) AS iv(i, exp, lo, hi)
                      LEFT JOIN observed o ON o.started > iv.lo AND o.finished < iv.hi
                      GROUP BY i, exp) AS per_interval")
diag "queries between changes (interval:expected version/queries): ${report%|*}"
ok $([ "${report#*|}" = 0 ]; echo $?) "every query between two changes scored with the version active then"
if [ "${report#*|}" != 0 ]; then
    diag "changes (start, end): $(for i in 0 1 2 3; do printf '%s..%s ' "${t0[$i]}" "${t1[$i]}"; done)"
    q $db "SELECT format('interval %s expected v%s: v%s parallel=%s %s..%s', i, exp, o.version, o.parallel, o.started, o.finished)
           FROM (VALUES $intervals) AS iv(i, exp, lo, hi)
           JOIN observed o ON o.started > iv.lo AND o.finished < iv.hi AND o.version <> iv.exp
           LIMIT 5" | while read -r line; do diag "$line"; done
fi
ok $(q $db "SELECT count(*) FROM (VALUES $intervals) AS iv(i, exp, lo, hi)
            WHERE NOT EXISTS (SELECT FROM observed o WHERE o.started > iv.lo AND o.finished < iv.hi)" | grep -qx 0; echo $?) \
    "each version served queries while it was active"
straddling=$(q $db "SELECT count(*) FROM observed o,
                           unnest(ARRAY['${t0[0]}', '${t0[1]}', '${t0[2]}', '${t0[3]}']::timestamptz[],
                                  ARRAY['${t1[0]}', '${t1[1]}', '${t1[2]}', '${t1[3]}']::timestamptz[]) AS c(t0, t1)
                    WHERE o.started < c.t0 AND o.finished > c.t1")
ok $([ "$straddling" -ge 1 ] && [ $straddler_rc -eq 0 ]; echo $?) \
    "queries were running while a change committed ($straddling, one of them paused on purpose), and stayed consistent"
diag "versions seen: $(q $db "SELECT string_agg(format('v%s %s (%s parallel)', version, n, p), ', ' ORDER BY version)
                              FROM (SELECT version, count(*) AS n, count(*) FILTER (WHERE parallel) AS p
                                    FROM observed GROUP BY version) AS v")"

# A query whose first registry read comes after a concurrent activation
# committed still reads the version of its own snapshot
PGAPPNAME=mixrec_late_read psql -X -q -At -d $db -c "SELECT string_agg(CASE WHEN i > 1 THEN
                                   (mixrec_score('m', f) = mixrec_score('m', f, version => 1))::text END, ',')
                           FROM (SELECT i, ARRAY[sin(i), cos(i), sin(2 * i), cos(3 * i)]::real[] AS f,
                                        CASE WHEN i = 1 THEN pg_sleep(1.5) END
                                 FROM generate_series(1, 4) AS i OFFSET 0) AS s" >"$tmp/late.out" 2>&1 &
late=$!
wait_until_sleeping mixrec_late_read
q $db "SELECT mixrec_activate('m', 2)" >/dev/null
wait $late
ok $([ "$(cat "$tmp/late.out")" = "true,true,true" ]; echo $?) \
    "a query that first reads the registry after an activation committed scores with its snapshot's version ($(cat "$tmp/late.out"))"
q $db "SELECT mixrec_activate('m', 1)" >/dev/null

# After the load: the rollback holds, and the versions really differ
ok $([ "$(q $db "SELECT bool_and(mixrec_score('m', features) = mixrec_score('m', features, version => 1)) FROM items")" = t ]; echo $?) \
    "queries after the rollback score with version 1"
differ=$(q $db "SELECT count(*) FILTER (WHERE s1 <> s2 AND s1 <> s3 AND s2 <> s3)
                FROM (SELECT mixrec_score('m', features, version => 1) AS s1,
                             mixrec_score('m', features, version => 2) AS s2,
                             mixrec_score('m', features, version => 3) AS s3 FROM items) AS s")
ok $([ "$differ" -ge $((rows * 9 / 10)) ]; echo $?) "versions 1, 2 and 3 score most rows differently ($differ of $rows)"
ok $([ "$(q $db "SELECT string_agg(version || ':' || active, ',' ORDER BY version) FROM mixrec_model_versions WHERE name = 'm'")" = "1:true,2:false,3:false" ]; echo $?) \
    "the registry ends with versions 1, 2 and 3, only version 1 active"

psql -X -q -d postgres -c "DROP DATABASE $db"
done_testing
