#!/usr/bin/env bash
# The SQL-level fuzzer (test/fuzz/sql_fuzz.py), with a fixed seed and a
# bounded number of calls, as an unprivileged role: first the past crash
# inputs of test/fuzz/sql_regressions/, then every function and aggregate
# on random and edge arguments, models of typed and embedded columns among
# them, and training from positives only.  No input may restart the server
# or bring back text invalid in UTF-8.
set -uo pipefail
cd "$(dirname "$0")"

db=mixrec_it_sql_fuzz
psql -X -q -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
psql -X -q -d $db -c "CREATE EXTENSION mixrec"
psql -X -q -d postgres -c "SET client_min_messages = warning" -c "DROP ROLE IF EXISTS mixrec_fuzzer" \
    -c "CREATE ROLE mixrec_fuzzer LOGIN"

/usr/bin/python3 ../fuzz/sql_fuzz.py --dbname $db --seed "${MIXREC_SQL_FUZZ_SEED:-1}" \
    --calls "${MIXREC_SQL_FUZZ_CALLS:-8400}"
status=$?

psql -X -q -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $db" \
    -c "DROP ROLE IF EXISTS mixrec_fuzzer"
exit $status
