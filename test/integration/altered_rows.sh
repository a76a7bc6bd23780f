#!/usr/bin/env bash
# A PL/pgSQL row variable filled before its table's column changes type,
# then handed to mixrec: PostgreSQL 15 and 17 stop the statement themselves
# ("row type of datum tuple was altered after the datum's creation"); 18
# passes the old bytes under the new row type, and mixrec must refuse them
# (src/record_check.c) instead of reading past the value.  Either way the
# call fails with a clear error and the server stays up.
set -uo pipefail
cd "$(dirname "$0")"
. ./tap.sh

db=mixrec_it_altered_rows
psql -X -q -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $db"
psql -X -q -d postgres -c "CREATE DATABASE $db"
q $db "CREATE EXTENSION mixrec"
q $db "CREATE TABLE tr AS SELECT i AS n, 'c' || (i % 3) AS c, (i % 2)::float8 AS y
       FROM generate_series(1, 50) AS i"
version=$(q $db "SET client_min_messages = warning;
                 SELECT version FROM mixrec_train('altered', 'tr', 'n, c', 'y', epochs => 1)")
ok $([ "$version" = "1" ]; echo $?) "a model of typed columns n (integer) and c (text): version $version"
major=$(q $db "SELECT current_setting('server_version_num')::int / 10000")

# try ALTER CALL: the row variable is filled, the column altered, then read
try() {
    psql -X -q -At -d $db 2>&1 <<SQL
DO \$\$ DECLARE trow tr; x float8; BEGIN
  SELECT * INTO trow FROM tr WHERE n = 5;
  $1;
  x := $2;
  RAISE NOTICE 'read %', x;
END \$\$;
SQL
}

check() {
    # check DESCRIPTION OUTPUT MIXREC_MESSAGE: an error, mixrec's on 18 and later
    local expected
    if [ "$major" -ge 18 ]; then expected=$3; else expected="row type of datum tuple was altered"; fi
    echo "$2" | grep -q "ERROR:  .*$expected"
    local status=$?
    ok $status "$1 (PostgreSQL $major): \"$expected\""
    [ $status -eq 0 ] || diag "$2"
}

out=$(try "ALTER TABLE tr ALTER COLUMN n TYPE numeric" "mixrec_score('altered', trow)")
check "integer altered to numeric under a row variable, mixrec_score" "$out" \
    "attribute 1 of the row value does not match its row type: it holds a pointer where a value belongs"

out=$(try "ALTER TABLE tr ALTER COLUMN c TYPE int USING length(c)" "mixrec_holdout(trow, 1)")
check "text altered to integer, mixrec_holdout" "$out" \
    "attribute 2 of the row value does not match its row type: it runs past the end of the row"

alive=$(q $db "SELECT 1")
ok $([ "$alive" = "1" ]; echo $?) "the server is up, the session not restarted"
psql -X -q -d postgres -c "DROP DATABASE $db"
done_testing
