#!/usr/bin/env bash
# test/run.sh: what `make test` runs.  On a fresh Debian 12 machine, as root,
# it installs what is missing, builds and installs mixrec, runs the core
# unit tests (plain and under AddressSanitizer/UBSan) and the core's fuzz
# target for a fixed number of runs, starts a throwaway
# cluster, runs the pg_regress suite, the pgTAP suite, the PyTorch
# interchange check, the PyTorch reference of the input transform and the
# integration tests (cancel, Citus where installed, concurrency, pg_cron, dump and restore,
# pgvector where installed, PL/Proxy, the score cache, the SQL-level fuzzer), stops the cluster, and
# ends with "N passed, N failed".
#
# test/run.sh --server-only: only what depends on the server's version (the
# build against its headers, pg_regress, pgTAP, the integration tests), for
# the PostgreSQL major version MIXREC_PG_MAJOR (scripts/setup.sh); what
# scripts/versions.sh runs inside a root of each version.  The core C tests,
# the fuzzer and the PyTorch checks run in `make test` alone.
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh

server_only=false
case "${1:-}" in
    "") ;;
    --server-only) server_only=true ;;
    *)
        echo "usage: test/run.sh [--server-only]" >&2
        exit 2
        ;;
esac

passed=0
failed=0
log_dir=$(mktemp -d /tmp/mixrec-test-logs.XXXXXX)
trap 'mixrec_cluster_stop' EXIT

# count_tap NAME FILE: add a TAP stream's results; a stream that reports
# nothing, or fewer results than its plan, counts as one failure
count_tap() {
    local name=$1 file=$2 ok notok plan
    ok=$(grep -cE '^[[:space:]]*ok [0-9]+' "$file")
    notok=$(grep -cE '^[[:space:]]*not ok [0-9]+' "$file")
    plan=$(grep -oE '^[[:space:]]*1\.\.[0-9]+' "$file" | tail -n 1 | sed 's/.*\.\.//')
    if grep -qE '^[[:space:]]*1\.\.0 # SKIP' "$file"; then
        echo "  $name: skipped ($(grep -oE 'SKIP.*' "$file" | head -n 1 | sed 's/^SKIP *//'))"
        return
    fi
    passed=$((passed + ok))
    failed=$((failed + notok))
    if [ $((ok + notok)) -eq 0 ] || [ -z "$plan" ] || [ "$plan" -ne $((ok + notok)) ]; then
        failed=$((failed + 1))
        echo "  $name: incomplete (ran $((ok + notok)), planned ${plan:-none}): see $file"
    fi
    echo "  $name: $ok passed, $notok failed"
    grep -E '^[[:space:]]*not ok' "$file" | sed 's/^/    /'
}

fail_setup() {
    echo "$1"
    echo "$passed passed, $((failed + 1)) failed"
    exit 1
}

echo "== setting up"
if $server_only; then
    install_debian_packages "${MIXREC_SERVER_PACKAGES[@]}" ||
        fail_setup "could not install the packages mixrec needs"
else
    mixrec_install_packages || fail_setup "could not install the packages mixrec needs"
fi
mixrec_build_install || fail_setup "the build failed"

if ! $server_only; then
    echo "== core unit tests"
    make -s test/core/test_core test/core/test_core_sanitized >"$log_dir/core-build.log" 2>&1 ||
        fail_setup "the core unit tests did not build: $(cat "$log_dir/core-build.log")"
    test/core/test_core test/fixtures/torch_reference.txt >"$log_dir/core.tap" 2>&1
    count_tap "core (plain)" "$log_dir/core.tap"
    test/core/test_core_sanitized test/fixtures/torch_reference.txt >"$log_dir/core-sanitized.tap" 2>&1
    sanitized_rc=$?
    count_tap "core (AddressSanitizer, UBSan)" "$log_dir/core-sanitized.tap"
    if [ $sanitized_rc -ne 0 ] && ! grep -q '^not ok' "$log_dir/core-sanitized.tap"; then
        failed=$((failed + 1))
        echo "  the sanitizers reported an error:"
        grep -E 'ERROR|runtime error' "$log_dir/core-sanitized.tap" | head -n 5 | sed 's/^/    /'
    fi

    echo "== fuzzing the core (libFuzzer, AddressSanitizer, UBSan)"
    # One test for each past crash input, one for the fuzzing run
    make -s fuzz >"$log_dir/fuzz.log" 2>&1
    fuzz_rc=$?
    if [ $fuzz_rc -eq 0 ]; then
        passed=$((passed + $(ls test/fuzz/regressions | wc -l) + 1))
        echo "  fuzz: past crash inputs read cleanly; $(grep -oE 'Done [0-9]+ runs in [0-9]+ second' "$log_dir/fuzz.log" | head -n 1), no crash"
    else
        failed=$((failed + 1))
        echo "  fuzz: failed, see $log_dir/fuzz.log"
        grep -E "ERROR|runtime error|Test unit written" "$log_dir/fuzz.log" | head -n 5 | sed 's/^/    /'
    fi
fi

echo "== starting a throwaway cluster"
# pg_cron runs its jobs in background workers, so the cluster needs no TCP
mixrec_cluster_start "shared_preload_libraries = 'pg_cron'" \
    "cron.database_name = 'postgres'" "cron.use_background_workers = on" \
    "max_worker_processes = 32" || fail_setup "the test cluster did not start"

echo "== pg_regress (make installcheck)"
make -s installcheck >"$log_dir/regress.log" 2>&1
# "name ... ok" up to PostgreSQL 15, TAP ("ok 1 - name") from 16 on
ok=$(grep -cE '\.\.\. ok|^ok [0-9]+ ' "$log_dir/regress.log")
bad=$(grep -cE '\.\.\. FAILED|\.\.\. failed|^not ok [0-9]+ ' "$log_dir/regress.log")
if [ $((ok + bad)) -eq 0 ]; then
    bad=1
    cat "$log_dir/regress.log"
fi
passed=$((passed + ok))
failed=$((failed + bad))
echo "  pg_regress: $ok passed, $bad failed"
if [ "$bad" -ne 0 ] && [ -f regression.diffs ]; then
    head -n 80 regression.diffs | sed 's/^/    /'
fi

echo "== pgTAP (pg_prove)"
psql -q -X -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS mixrec_tap" -c "CREATE DATABASE mixrec_tap" >/dev/null
pg_prove --verbose -d mixrec_tap test/pgtap/*.sql >"$log_dir/pgtap.log" 2>&1
count_tap "pgTAP" "$log_dir/pgtap.log"

if ! $server_only; then
    echo "== PyTorch interchange"
    psql -q -X -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS mixrec_torch" -c "CREATE DATABASE mixrec_torch" >/dev/null
    psql -q -X -d mixrec_torch -c "CREATE EXTENSION mixrec" >/dev/null
    PGDATABASE=mixrec_torch /usr/bin/python3 test/torch/check_interchange.py >"$log_dir/interchange.tap" 2>&1
    count_tap "interchange with PyTorch" "$log_dir/interchange.tap"

    echo "== PyTorch reference of the input transform"
    psql -q -X -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS mixrec_torch_transform" -c "CREATE DATABASE mixrec_torch_transform" >/dev/null
    psql -q -X -d mixrec_torch_transform -c "CREATE EXTENSION mixrec" >/dev/null
    PGDATABASE=mixrec_torch_transform /usr/bin/python3 test/torch/check_transform.py >"$log_dir/transform.tap" 2>&1
    count_tap "input transform against a reference" "$log_dir/transform.tap"
fi

echo "== integration (cancel, Citus, concurrent trainings, pg_cron, dump and restore, PL/Proxy, score cache, scoring during retraining, SQL fuzzer)"
for t in test/integration/*.sh; do
    case "$(basename "$t")" in tap.sh | loopback.sh) continue ;; esac
    bash "$t" >"$log_dir/$(basename "$t" .sh).tap" 2>&1
    count_tap "$(basename "$t" .sh)" "$log_dir/$(basename "$t" .sh).tap"
done

mixrec_cluster_stop
echo "logs: $log_dir"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
