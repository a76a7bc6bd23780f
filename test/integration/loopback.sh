# test/integration/loopback.sh: throwaway PostgreSQL servers on 127.0.0.1
# for the multi-node tests (sourced; PG_BIN names the server's binaries).
# They run as the postgres OS user when the test runs as root, since the
# server refuses to run as root, and as the current user otherwise.

owner=$(id -un)
[ "$(id -u)" -eq 0 ] && owner=postgres
as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u "$owner" -- "$@"
    else
        "$@"
    fi
}

# port_taken PORT: something already listens on 127.0.0.1:PORT
port_taken() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# loopback_root NAME: a directory for the servers, which their owner may use
loopback_root() {
    local dir
    dir=$(mktemp -d "/tmp/mixrec-$1.XXXXXX") || return 1
    chmod 755 "$dir"
    [ "$(id -u)" -eq 0 ] && chown "$owner": "$dir"
    echo "$dir"
}

# loopback_start DIR AVOID SETTING...: initdb DIR/data and start it on a free
# port of 127.0.0.1 (not PGPORT, not one of the ports in AVOID), with the
# given postgresql.conf lines; sets loopback_port
loopback_start() {
    local dir=$1 avoid=" $2 " port attempt
    shift 2
    as_owner mkdir "$dir" "$dir/socket" || return 1
    as_owner "$PG_BIN/initdb" -D "$dir/data" -U postgres --auth=trust --no-sync -E UTF8 \
        --locale=C >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log"; return 1; }
    {
        echo "listen_addresses = '127.0.0.1'"
        echo "unix_socket_directories = '$dir/socket'"
        echo "fsync = off"
        printf '%s\n' "$@"
    } | as_owner tee -a "$dir/data/postgresql.conf" >/dev/null
    # Trust, and only from this host: the server lives for this test only
    printf '%s\n' "local all all trust" "host all all 127.0.0.1/32 trust" |
        as_owner tee "$dir/data/pg_hba.conf" >/dev/null
    for attempt in $(seq 1 20); do
        port=$((40000 + RANDOM % 20000))
        [ "$port" = "${PGPORT:-}" ] && continue
        [[ "$avoid" == *" $port "* ]] && continue
        port_taken "$port" && continue
        if as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -o "-p $port" \
            -w -t 60 start >/dev/null 2>&1; then
            loopback_port=$port
            return 0
        fi
        # Lost a race for the port: try another one; fail on anything else
        grep -qiE 'could not bind|could not create any TCP/IP sockets' "$dir/server.log" || {
            cat "$dir/server.log"
            return 1
        }
    done
    echo "no free port found for $dir"
    return 1
}

# loopback_stop DIR...: stop the servers that run in these directories
loopback_stop() {
    local dir
    for dir in "$@"; do
        [ -f "$dir/data/postmaster.pid" ] &&
            as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -m immediate -w -t 30 stop >/dev/null 2>&1
    done
    return 0
}
