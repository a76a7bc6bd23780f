#!/usr/bin/env bash
# demo/run.sh: what `make demo` runs.  On a Debian 12 machine, as root (or
# as a user who has every package installed), it installs what is missing,
# builds and installs mixrec, starts a throwaway PostgreSQL 15 cluster,
# loads the MovieLens ratings that Debian's r-cran-dslabs package ships into
# a database `demo` and builds typed feature columns (demo/schema.sql),
# trains a model on them and recommends movies (demo/recommend.sql), trains
# a second model on feature vectors built by hand (demo/baseline.sql),
# compares both on the held-out ratings (demo/compare.sql), trains a third
# from the likes alone with user and movie embeddings and ranks movies
# against the popularity baseline (demo/implicit.sql), then stops the
# cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh

echo "mixrec demo: this downloads the Debian package r-cran-dslabs (about 4.6 MB)"
echo "from the Debian archive with apt-get download, for the MovieLens ratings it ships."

data_dir=$(mktemp -d /tmp/mixrec-demo-data.XXXXXX)
current_step=
timings=()

on_exit() {
    local status=$?
    if [ $status -ne 0 ] && [ -n "$current_step" ]; then
        echo "mixrec demo: failed while: $current_step" >&2
    fi
    mixrec_cluster_stop || true
    rm -rf "$data_dir"
    exit $status
}
trap on_exit EXIT

step_start() {
    current_step=$1
    echo
    echo "== $1"
    step_t0=$(date +%s%N)
}

step_end() {
    local ms=$((($(date +%s%N) - step_t0) / 1000000))
    local took
    took=$(printf '%d.%d s' $((ms / 1000)) $((ms % 1000 / 100)))
    echo "   took $took"
    timings+=("$(printf '  %-46s %8s' "$current_step" "$took")")
    current_step=
}

psql_demo() {
    psql -X -q -v ON_ERROR_STOP=1 -d demo "$@"
}

step_start "installing missing Debian packages"
mixrec_install_packages python3-rdata python3-pandas
step_end

step_start "building and installing mixrec"
mixrec_build_install
step_end

step_start "starting a throwaway PostgreSQL 15 cluster"
mixrec_cluster_start
step_end

step_start "creating the database demo"
psql -X -q -v ON_ERROR_STOP=1 -d postgres \
    -c "SET client_min_messages = warning" \
    -c "DROP DATABASE IF EXISTS demo" \
    -c "CREATE DATABASE demo"
psql_demo -c "CREATE EXTENSION mixrec"
step_end

step_start "downloading and extracting the MovieLens data"
/usr/bin/python3 demo/load_movielens.py "$data_dir"
step_end

step_start "loading the data, building the typed columns"
psql_demo -v data_dir="$data_dir" -f demo/schema.sql
step_end

step_start "training on typed columns, recommending"
psql_demo -f demo/recommend.sql
step_end

step_start "building vectors by hand, training on them"
psql_demo -f demo/baseline.sql
step_end

step_start "comparing both models on held-out ratings"
psql_demo -f demo/compare.sql
step_end

step_start "training from likes, ranking against popularity"
psql_demo -f demo/implicit.sql
step_end

echo
echo "== time per step"
printf '%s\n' "${timings[@]}"
