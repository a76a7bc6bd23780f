# scripts/setup.sh: shared by `make test` and `make demo` (sourced, not run).
#
# mixrec_install_packages  installs the Debian packages mixrec needs, if any
#                          is missing (needs root; a non-root user who has
#                          them all installed can run everything too)
# install_debian_packages  the same for the packages it is given
# mixrec_build_install     builds and installs the extension
# mixrec_cluster_start     starts a throwaway PostgreSQL cluster that
#                          listens only on a unix socket in a new temporary
#                          directory, as the postgres user when run as root
# mixrec_cluster_stop      stops it and removes the directory
#
# MIXREC_PG_MAJOR (default 15, Debian 12's) picks the PostgreSQL major
# version: its server binaries, its pg_config and its Debian packages.
# scripts/versions.sh sets it inside a Debian root of a newer release.

MIXREC_PG_MAJOR=${MIXREC_PG_MAJOR:-15}
export MIXREC_PG_MAJOR
PG_BIN=/usr/lib/postgresql/$MIXREC_PG_MAJOR/bin

# What building mixrec and testing it against a server need
MIXREC_SERVER_PACKAGES=(
    build-essential
    postgresql-$MIXREC_PG_MAJOR
    postgresql-server-dev-$MIXREC_PG_MAJOR
    libopenblas-dev
    postgresql-$MIXREC_PG_MAJOR-pgtap
    postgresql-$MIXREC_PG_MAJOR-cron
    postgresql-$MIXREC_PG_MAJOR-plproxy
    libtap-parser-sourcehandler-pgtap-perl
    python3-psycopg2
)

# All of `make test`: the above, the sanitizers and the fuzzer of the core
# tests (clang), the PyTorch checks
MIXREC_PACKAGES=(
    "${MIXREC_SERVER_PACKAGES[@]}"
    clang
    libclang-rt-14-dev
    python3-torch
)

mixrec_install_packages() {
    install_debian_packages "${MIXREC_PACKAGES[@]}" "$@"
}

# install_debian_packages PACKAGE...: those of them that are missing
install_debian_packages() {
    local missing=() pkg
    for pkg in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
            missing+=("$pkg")
        fi
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "missing Debian packages: ${missing[*]}" >&2
        echo "run as root, or: sudo apt-get install ${missing[*]}" >&2
        return 1
    fi
    echo "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null &&
        apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}

mixrec_build_install() {
    # -Werror here, not in the Makefile: a packager's newer compiler must
    # not break their build over a new warning
    local flags="-Wall -Wextra -Wno-unused-parameter -Wno-sign-compare"
    flags+=" -Wno-missing-field-initializers -Werror -DUSE_ASSERT_CHECKING"
    make -s PG_CFLAGS="$flags" >/dev/null && make -s install >/dev/null
}

# mixrec_cluster_start [extra postgresql.conf lines...]
# Sets MIXREC_CLUSTER_DIR, PGHOST, PGPORT, PGUSER.
mixrec_cluster_start() {
    local dir port owner
    dir=$(mktemp -d /tmp/mixrec-cluster.XXXXXX)
    chmod 755 "$dir"
    port=$((20000 + RANDOM % 20000))
    owner=$(id -un)
    if [ "$(id -u)" -eq 0 ]; then
        owner=postgres
        chown postgres: "$dir"
    fi
    MIXREC_CLUSTER_DIR=$dir
    MIXREC_CLUSTER_OWNER=$owner
    _as_owner "$PG_BIN/initdb" -D "$dir/data" -U postgres --auth=trust \
        --no-sync -E UTF8 --locale=C >"$dir/initdb.log" 2>&1 || {
        cat "$dir/initdb.log" >&2
        return 1
    }
    {
        echo "listen_addresses = ''"
        echo "unix_socket_directories = '$dir'"
        echo "port = $port"
        echo "fsync = off"
        echo "max_connections = 40"
        local line
        for line in "$@"; do echo "$line"; done
    } | _as_owner tee -a "$dir/data/postgresql.conf" >/dev/null
    _as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null || {
        cat "$dir/server.log" >&2
        return 1
    }
    export PGHOST=$dir PGPORT=$port PGUSER=postgres
}

mixrec_cluster_stop() {
    [ -n "${MIXREC_CLUSTER_DIR:-}" ] || return 0
    _as_owner "$PG_BIN/pg_ctl" -D "$MIXREC_CLUSTER_DIR/data" -m fast -w stop >/dev/null 2>&1
    rm -rf "$MIXREC_CLUSTER_DIR"
    MIXREC_CLUSTER_DIR=
}

_as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u "$MIXREC_CLUSTER_OWNER" -- "$@"
    else
        "$@"
    fi
}
