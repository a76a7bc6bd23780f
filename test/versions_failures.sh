#!/usr/bin/env bash
# test/versions_failures.sh: the failure path of scripts/versions.sh (TAP),
# which `make test-versions` runs first.  A root that cannot be made (an
# unreachable archive stands for no network or a failing debootstrap) and
# a version no Debian release ships: each must be reported with its
# reason, counted as a failure and end in a non-zero status, leaving
# nothing mounted and no root behind.  Needs root; no network.
set -uo pipefail
cd "$(dirname "$0")/.."
. test/integration/tap.sh

cache=$(mktemp -d /tmp/mixrec-roots-check.XXXXXX)
trap 'rm -rf --one-file-system "$cache"' EXIT

# versions.sh VERSIONS MIRROR: a run on its own cache; sets out and rc
versions() {
    out=$(MIXREC_VERSIONS_NESTED=1 MIXREC_ROOTS_CACHE=$cache MIXREC_DEBIAN_MIRROR=$2 \
        PG_VERSIONS=$1 bash scripts/versions.sh 2>&1)
    rc=$?
}

# Nothing listens on port 9 (discard) of the loopback
mirror=http://127.0.0.1:9/debian
versions 17 $mirror
[ $rc -ne 0 ]
ok $? "an unreachable archive: the run fails (status $rc)"
grep -qF "could not make the Debian trixie root from $mirror" <<<"$out"
ok $? "an unreachable archive: the root and the archive are named"
[ "$(tail -n 1 <<<"$out")" = "0 passed, 1 failed" ]
ok $? "an unreachable archive: counted as one failure"
! grep -qF " $cache/" /proc/mounts
ok $? "an unreachable archive: nothing left mounted"
[ -z "$(find "$cache" -mindepth 1 -maxdepth 1 -type d)" ]
ok $? "an unreachable archive: no root left behind"
[ "$tap_failed" -eq 0 ] || diag "$out"

versions 16 $mirror
[ $rc -ne 0 ]
ok $? "PostgreSQL 16: the run fails (status $rc)"
grep -qF "no Debian release is known to ship PostgreSQL 16" <<<"$out"
ok $? "PostgreSQL 16: the reason is given"
[ "$tap_failed" -eq 0 ] || diag "$out"

done_testing
