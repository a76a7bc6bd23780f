#!/usr/bin/env bash
# scripts/build_citus.sh: build and install Citus from a source checkout into
# the PostgreSQL that pg_config names (this machine's Debian PostgreSQL 15),
# for test/integration/citus.sh.  Citus is not in Debian's archive.
#
#   make citus CITUS_SRC=dir          (or: bash scripts/build_citus.sh dir)
#
# dir is a work tree of Citus's source (a clone, or `git archive` of a tag,
# e.g. v13.2.2).  As root, the script installs the Debian packages the build
# needs, if any is missing; it copies the work tree into a temporary
# directory and builds there, so the checkout is never modified, then
# installs citus.so, citus_columnar.so and the extension scripts with `make
# install`.  Running it again rebuilds and installs the same files.
#
# Configured --without-libcurl: libcurl only serves Citus's anonymous
# statistics and update checks, which need the network.
#
# The one change made to the copy: Citus 13.2 defines its own
# `static inline bool have_createdb_privilege(void)` for PostgreSQL < 16 in
# src/include/pg_version_compat.h, and PostgreSQL 15.20's
# commands/dbcommands.h declares `extern bool have_createdb_privilege(void)`
# ("static declaration follows non-static declaration").  When the installed
# server headers declare it, the static copy is renamed with a #define;
# otherwise the source is built as it is.
#
# Environment: PG_CONFIG (default pg_config), JOBS (default: the number of
# cores), KEEP_BUILD=1 keeps the build directory and prints its path.
set -euo pipefail

PG_CONFIG=${PG_CONFIG:-pg_config}
JOBS=${JOBS:-$(nproc)}

CITUS_PACKAGES=(
    build-essential
    postgresql-server-dev-15
    libpq-dev
    libkrb5-dev
    libssl-dev
    liblz4-dev
    libzstd-dev
)

die() {
    echo "build_citus: $*" >&2
    exit 1
}

src=${1:-}
[ -n "$src" ] || die "no Citus source given: make citus CITUS_SRC=dir"
[ -d "$src" ] || die "CITUS_SRC=$src is not a directory"
src=$(cd "$src" && pwd)
[ -x "$src/configure" ] && [ -f "$src/src/include/pg_version_compat.h" ] &&
    [ -f "$src/src/backend/distributed/citus.control" ] ||
    die "CITUS_SRC=$src is not a Citus source tree (no configure, src/include/pg_version_compat.h or src/backend/distributed/citus.control)"
command -v "$PG_CONFIG" >/dev/null || die "$PG_CONFIG not found: install postgresql-server-dev-15 or set PG_CONFIG"

# patch_createdb_privilege DIR: rename Citus's static have_createdb_privilege
# when the server headers declare the function themselves
patch_createdb_privilege() {
    local compat=$1/src/include/pg_version_compat.h
    local dbcommands line
    dbcommands=$("$PG_CONFIG" --includedir-server)/commands/dbcommands.h
    grep -q 'extern bool have_createdb_privilege(void)' "$dbcommands" || {
        echo "the server headers do not declare have_createdb_privilege: no change to the source"
        return 0
    }
    if grep -q '^#define have_createdb_privilege citus_have_createdb_privilege$' "$compat"; then
        echo "pg_version_compat.h renames its have_createdb_privilege already: no change to the source"
        return 0
    fi
    # The line holding the static definition's name, after "static inline bool"
    line=$(awk 'prev ~ /^static inline bool[[:space:]]*$/ && /^have_createdb_privilege\(void\)/ { print NR; exit }
                { prev = $0 }' "$compat")
    if [ -z "$line" ]; then
        echo "pg_version_compat.h has no static have_createdb_privilege: no change to the source"
        return 0
    fi
    sed -i "$((line - 1))i #define have_createdb_privilege citus_have_createdb_privilege" "$compat"
    echo "renamed the static have_createdb_privilege of pg_version_compat.h (line $((line - 1))):" \
        "$dbcommands declares it"
}

# shellcheck source=scripts/setup.sh
. "$(dirname "$0")/setup.sh"
install_debian_packages "${CITUS_PACKAGES[@]}" || die "could not install the packages the build needs"

build=$(mktemp -d /tmp/citus-build.XXXXXX)
if [ "${KEEP_BUILD:-0}" = 1 ]; then
    trap 'echo "build directory: $build"' EXIT
else
    trap 'rm -rf "$build"' EXIT
fi

# A copy without the repository's history: the build writes only there
tar -C "$src" --exclude=./.git -cf - . | tar -C "$build" -xf -
patch_createdb_privilege "$build"

cd "$build"
echo "configuring Citus $(sed -n 's/^AC_INIT(\[Citus\], \[\([^]]*\)\].*/\1/p' configure.ac) for $("$PG_CONFIG" --version)"
./configure PG_CONFIG="$PG_CONFIG" --without-libcurl >configure.log 2>&1 ||
    { tail -n 30 configure.log >&2; die "configure failed (log above)"; }
# A checkout that was built in place brings its objects along: start clean
make -s clean >/dev/null 2>&1 || true
make -s -j"$JOBS" >build.log 2>&1 ||
    { grep -E 'error|Error' build.log | head -n 30 >&2; die "the build failed (errors above)"; }
make -s install >install.log 2>&1 ||
    { tail -n 30 install.log >&2; die "make install failed (log above)"; }
echo "installed $("$PG_CONFIG" --pkglibdir)/citus.so, version $(sed -n "s/^default_version = '\(.*\)'/\1/p" \
    "$("$PG_CONFIG" --sharedir)/extension/citus.control")"
