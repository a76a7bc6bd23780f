#!/usr/bin/env bash
# Scoring by name in a PL/pgSQL loop sees a version another session
# activates between two iterations, even while an older transaction holds
# the snapshot's xmin back.
#
# The interleaving: session A holds an old transaction with an xid (a
# snapshot's xmin is the oldest running xid), session C activates version 2
# and keeps its transaction open, session D commits a newer transaction (so
# C's commit will not move the snapshot's xmax), session B scores once, then
# C commits, then B scores again at the same call site.  B's two snapshots
# then have the same xmin, xmax and command id, and differ only in what has
# committed: a cache keyed on those three kept scoring version 1.
#
# Advisory locks and polling order the steps; every wait is bounded.
set -uo pipefail
cd "$(dirname "$0")"
. ./tap.sh

db=mixrec_it_score_cache
app=mixrec_score_cache
features="'{0.5,-1,2,0.25}'::real[]"
psql -X -q -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
q $db "CREATE EXTENSION mixrec"
q $db "INSERT INTO mixrec_model_counters (name, last_version, owner) VALUES ('m', 2, current_user::regrole)"
q $db "INSERT INTO mixrec_models (name, version, weights, active)
       VALUES ('m', 1, mixrec_init(4, '{8}', seed => 1), true),
              ('m', 2, mixrec_init(4, '{8}', seed => 2), false)"
score_v1=$(q $db "SELECT mixrec_score(weights, $features) FROM mixrec_models WHERE version = 1")
score_v2=$(q $db "SELECT mixrec_score(weights, $features) FROM mixrec_models WHERE version = 2")
ok $([ -n "$score_v1" ] && [ "$score_v1" != "$score_v2" ]; echo $?) "versions 1 and 2 score differently ($score_v1, $score_v2)"

tmp=$(mktemp -d)
b_pid=
cleanup() {
    exec 3>&- 4>&- 2>/dev/null
    psql -X -q -At -d postgres -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                                   WHERE application_name LIKE '${app}_%'" >/dev/null 2>&1
    [ -n "$b_pid" ] && kill "$b_pid" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

# wait_for FILE TEXT: wait up to 10 s for a line in a session's output
wait_for() {
    for _ in $(seq 1 200); do
        grep -qx -- "$2" "$1" 2>/dev/null && return 0
        sleep 0.05
    done
    diag "timed out waiting for '$2' in $(basename "$1"): $(tr '\n' ' ' <"$1")"
    return 1
}

# Sessions A and C read their statements from a pipe, so they stay open
mkfifo "$tmp/a.in" "$tmp/c.in"
PGAPPNAME=${app}_a psql -X -q -At -v ON_ERROR_STOP=1 -d $db <"$tmp/a.in" >"$tmp/a.out" 2>&1 &
exec 3>"$tmp/a.in"
PGAPPNAME=${app}_c psql -X -q -At -v ON_ERROR_STOP=1 -d $db <"$tmp/c.in" >"$tmp/c.out" 2>&1 &
exec 4>"$tmp/c.in"

# A: an old snapshot and an xid; advisory lock 42 will hold B between iterations
cat >&3 <<'SQL'
SELECT pg_advisory_lock(42);
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT 1;
SELECT 'a xid ' || txid_current();
\echo a-ready
SQL
wait_for "$tmp/a.out" a-ready
ok $? "session A holds an old transaction with an xid"

# C: activate version 2, without committing yet
cat >&4 <<'SQL'
BEGIN;
SELECT mixrec_activate('m', 2);
SELECT 'c xid ' || txid_current();
\echo c-ready
SQL
wait_for "$tmp/c.out" c-ready
ok $? "session C activates version 2 in an open transaction"

# D: a newer transaction commits, so the snapshot's xmax is past C's xid
d_xid=$(q $db "SELECT txid_current()")
diag "$(grep -h 'xid' "$tmp/a.out" "$tmp/c.out" | tr '\n' ' ')d xid $d_xid"

# B: the loop, in READ COMMITTED, one call site evaluated twice
PGAPPNAME=${app}_b psql -X -q -At -v ON_ERROR_STOP=1 -d $db >"$tmp/b.out" 2>&1 <<SQL &
SET client_min_messages = notice;
DO \$\$
DECLARE
	score float8;
BEGIN
	FOR i IN 1..2 LOOP
		score := mixrec_score('m', $features);
		RAISE NOTICE 'iteration % snapshot % score %', i, pg_current_snapshot(), score;
		IF i = 1 THEN
			-- wait here while session C commits
			PERFORM pg_advisory_lock(42);
			PERFORM pg_advisory_unlock(42);
		END IF;
	END LOOP;
END
\$\$;
\echo b-done
SQL
b_pid=$!

waiting=0
for _ in $(seq 1 200); do
    waiting=$(q $db "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
                     WHERE a.application_name = '${app}_b' AND l.locktype = 'advisory' AND NOT l.granted")
    [ "$waiting" = 1 ] && break
    sleep 0.05
done
ok $([ "$waiting" = 1 ]; echo $?) "session B scored once and waits between iterations"

echo "COMMIT;" >&4
echo '\echo c-committed' >&4
wait_for "$tmp/c.out" c-committed
ok $? "session C commits the activation"

echo "SELECT pg_advisory_unlock(42);" >&3
wait_for "$tmp/b.out" b-done
ok $? "session B finishes its loop"
diag "$(grep -h 'iteration' "$tmp/b.out" | sed 's/^.*NOTICE: *//' | tr '\n' ';')"

snap1=$(sed -n 's/.*iteration 1 snapshot \([0-9]*:[0-9]*\):.*/\1/p' "$tmp/b.out")
snap2=$(sed -n 's/.*iteration 2 snapshot \([0-9]*:[0-9]*\):.*/\1/p' "$tmp/b.out")
ok $([ -n "$snap1" ] && [ "$snap1" = "$snap2" ]; echo $?) \
    "both iterations ran under the same xmin and xmax ($snap1, $snap2)"
score1=$(sed -n 's/.*iteration 1 snapshot .* score \(.*\)$/\1/p' "$tmp/b.out")
score2=$(sed -n 's/.*iteration 2 snapshot .* score \(.*\)$/\1/p' "$tmp/b.out")
ok $([ "$score1" = "$score_v1" ]; echo $?) "the first iteration scores with version 1 ($score1)"
ok $([ "$score2" = "$score_v2" ]; echo $?) "the second iteration scores with the newly active version 2 ($score2)"

echo "COMMIT;" >&3
exec 3>&- 4>&-
wait
psql -X -q -d postgres -c "DROP DATABASE $db"
done_testing
