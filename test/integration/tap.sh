# test/integration/tap.sh: TAP helpers for the integration tests (sourced).
# Each test runs against the cluster in PGHOST/PGPORT/PGUSER.

tap_count=0
tap_failed=0

ok() {
    # ok CONDITION_EXIT_STATUS DESCRIPTION
    tap_count=$((tap_count + 1))
    if [ "$1" -eq 0 ]; then
        echo "ok $tap_count - $2"
    else
        tap_failed=$((tap_failed + 1))
        echo "not ok $tap_count - $2"
    fi
}

diag() {
    echo "# $*"
}

done_testing() {
    echo "1..$tap_count"
    [ "$tap_failed" -eq 0 ]
}

# Stop here with a failed test and a reason
bail() {
    ok 1 "$1"
    shift
    local line
    for line in "$@"; do diag "$line"; done
    done_testing
    exit 1
}

q() {
    # q DATABASE SQL: one value, unaligned, no headers
    psql -X -q -At -v ON_ERROR_STOP=1 -d "$1" -c "$2"
}

now_ms() {
    date +%s%3N
}
