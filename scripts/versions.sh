#!/usr/bin/env bash
# scripts/versions.sh: what `make test-versions` runs.  For each PostgreSQL
# major version in PG_VERSIONS (default "17 18") it makes, or takes from
# its cache, a minimal root of the Debian release whose own archive ships
# that server (debootstrap --variant=minbase), with the server, its headers,
# the build tools, OpenBLAS, pgTAP, pg_cron, PL/Proxy and pgvector installed
# from Debian's archive.  It copies the work tree in (the files git tracks
# or would track, without build products) and, under chroot, runs
# test/run.sh --server-only: the build against that server's headers with
# -Werror, its installation, pg_regress, pgTAP and every integration test.
# The machine's own PostgreSQL and packages are not touched.
#
# It first checks its own failure path (test/versions_failures.sh), then
# prints one "N passed, N failed" line per version and a total line, and
# exits non-zero on any failure, a root that cannot be made among them.
#
# Needs root (debootstrap, mount, chroot) and Debian's archive.
#   PG_VERSIONS           major versions: 15 (bookworm), 17 (trixie),
#                         18 (forky, Debian testing)
#   MIXREC_ROOTS_CACHE    where the roots are kept, outside the source tree
#                         (default /var/cache/mixrec-roots); a root is
#                         named by its version, suite and a hash of its
#                         package list, so a changed list makes a new root
#   MIXREC_DEBIAN_MIRROR  the archive (default http://deb.debian.org/debian)
set -uo pipefail
cd "$(dirname "$0")/.."
src=$PWD

versions=${PG_VERSIONS:-17 18}
cache=${MIXREC_ROOTS_CACHE:-/var/cache/mixrec-roots}
mirror=${MIXREC_DEBIAN_MIRROR:-http://deb.debian.org/debian}

# suite_of MAJOR: the Debian release whose own archive ships that server.
# No Debian release ships 16 (bookworm has 15, trixie 17).
suite_of() {
    case $1 in
        15) echo bookworm ;;
        17) echo trixie ;;
        18) echo forky ;;
        *) return 1 ;;
    esac
}

# root_packages MAJOR: what the root gets, scripts/setup.sh's list for
# that version (what test/run.sh --server-only checks) and pgvector
root_packages() {
    (
        MIXREC_PG_MAJOR=$1
        . scripts/setup.sh
        echo "${MIXREC_SERVER_PACKAGES[@]}" "postgresql-$1-pgvector"
    )
}

passed=0
failed=0
summary=()
started=$(date +%s)

# The roots in use, for the EXIT trap: nothing may stay mounted in them
# and no process may stay running in them, whatever happens
active=()

# stop_processes_in DIR: the processes whose root is DIR (started by this
# script under chroot), by their ids: TERM, then KILL after 10 s
stop_processes_in() {
    local dir=$1 p pids=() i
    for p in /proc/[0-9]*; do
        [ "$(readlink "$p/root" 2>/dev/null)" = "$dir" ] && pids+=("${p#/proc/}")
    done
    [ ${#pids[@]} -eq 0 ] && return 0
    kill -TERM "${pids[@]}" 2>/dev/null
    for i in $(seq 1 20); do
        for p in "${pids[@]}"; do
            [ -e "/proc/$p" ] && break
        done
        [ -e "/proc/$p" ] || return 0
        sleep 0.5
    done
    kill -KILL "${pids[@]}" 2>/dev/null
    sleep 0.5
}

# unmount_under DIR: every mount point under DIR, the deepest first
unmount_under() {
    local dir=$1 m
    awk -v d="$dir/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r |
        while read -r m; do
            umount "$m" 2>/dev/null || umount -l "$m"
        done
}

mounted_under() {
    awk -v d="$1/" 'index($2, d) == 1 { found = 1 } END { exit !found }' /proc/mounts
}

release_roots() {
    local dir
    for dir in "${active[@]}"; do
        stop_processes_in "$dir"
        unmount_under "$dir"
        if mounted_under "$dir"; then
            echo "still mounted under $dir:" >&2
            awk -v d="$dir/" 'index($2, d) == 1 { print "  " $2 }' /proc/mounts >&2
        fi
    done
    active=()
}
trap release_roots EXIT
trap 'echo "interrupted"; exit 130' INT
trap 'echo "terminated"; exit 143' TERM

# remove_root DIR: only once nothing is mounted in it; --one-file-system
# as a second guard, so that no mount can take the host's files with it
remove_root() {
    local dir=$1
    [ -e "$dir" ] || return 0
    active+=("$dir")
    release_roots
    if mounted_under "$dir"; then
        echo "not removing $dir: something is still mounted in it" >&2
        return 1
    fi
    rm -rf --one-file-system "$dir"
}

# mount_root DIR: what PostgreSQL and the tests need of the kernel.  The
# root's /dev already has the device nodes debootstrap made; /dev/shm is a
# fresh tmpfs (PostgreSQL's dynamic shared memory)
mount_root() {
    local dir=$1
    active+=("$dir")
    mount -t proc proc "$dir/proc" &&
        mount -t sysfs -o ro sysfs "$dir/sys" &&
        mkdir -p "$dir/dev/shm" &&
        mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$dir/dev/shm"
}

# in_root DIR COMMAND...: COMMAND in the root, in a clean environment
in_root() {
    local dir=$1
    shift
    chroot "$dir" /usr/bin/env -i HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"
}

# make_root MAJOR SUITE DIR LOG PACKAGE...: a new root in DIR.  Built in
# DIR.new and renamed when complete, so that an interrupted or failed
# build is never taken for a root
make_root() {
    local major=$1 suite=$2 dir=$3 log=$4
    shift 4
    local new=$dir.new script=/usr/share/debootstrap/scripts/$suite
    # bookworm's debootstrap has no script for forky: testing's (sid's)
    # is the same
    [ -e "$script" ] || script=/usr/share/debootstrap/scripts/sid
    remove_root "$new" || return 1
    mkdir -p "$new"
    active+=("$new")
    echo "  debootstrap --variant=minbase $suite from $mirror"
    if ! debootstrap --variant=minbase "$suite" "$new" "$mirror" "$script" >"$log" 2>&1; then
        echo "  debootstrap failed:"
        grep -E '^E:|^W:' "$log" | tail -n 5 | sed 's/^/    /'
        return 1
    fi
    cp /etc/resolv.conf "$new/etc/resolv.conf"
    # No service may start in the root, and no cluster is made by the
    # server package: the tests make their own
    printf '#!/bin/sh\nexit 101\n' >"$new/usr/sbin/policy-rc.d"
    chmod 755 "$new/usr/sbin/policy-rc.d"
    mkdir -p "$new/etc/postgresql-common/createcluster.d"
    echo "create_main_cluster = false" >"$new/etc/postgresql-common/createcluster.d/mixrec.conf"
    if [ "$suite" = forky ]; then
        # The archive's testing Release file may be past its Valid-Until
        # date between two publications; its signature is still checked
        echo 'Acquire::Check-Valid-Until "false";' >"$new/etc/apt/apt.conf.d/99mixrec-valid-until"
    fi
    echo "  apt-get install of $# packages: $*"
    mount_root "$new" || return 1
    if ! in_root "$new" sh -c 'apt-get -q update && apt-get install -y -q --no-install-recommends "$@" &&
            apt-get clean' sh "$@" >>"$log" 2>&1; then
        echo "  apt-get failed:"
        grep -E '^E:' "$log" | tail -n 5 | sed 's/^/    /'
        return 1
    fi
    release_roots
    printf 'PostgreSQL %s from Debian %s, made %s\npackages: %s\n' "$major" "$suite" \
        "$(date -u +%FT%TZ)" "$*" >"$new/etc/mixrec-root"
    # A directory of that name without the mark was never finished
    remove_root "$dir" && mv "$new" "$dir"
}

# copy_source DIR: the work tree's files that git tracks or would track
# (none of the build's or the tests' products), into DIR
copy_source() {
    local dir=$1
    rm -rf --one-file-system "$dir" && mkdir -p "$dir" || return 1
    if git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        git -C "$src" ls-files -z --cached --others --exclude-standard |
            tar -C "$src" --null -T - --ignore-failed-read -cf - 2>/dev/null | tar -C "$dir" -xf -
    else
        tar -C "$src" --exclude-vcs --exclude='*.o' --exclude='*.so' --exclude='*.bc' \
            --exclude=results --exclude='regression.*' --exclude=tmp_check -cf - . | tar -C "$dir" -xf -
    fi
}

# fail_version MAJOR REASON: a version that could not be tested
fail_version() {
    echo "  $2"
    echo "PostgreSQL $1: 0 passed, 1 failed"
    summary+=("PostgreSQL $1: 0 passed, 1 failed ($2)")
    failed=$((failed + 1))
}

test_version() {
    local major=$1 suite packages key dir log out rc t0 line ok bad server
    t0=$(date +%s)
    echo "== PostgreSQL $major"
    if ! [[ $major =~ ^[0-9]+$ ]] || ! suite=$(suite_of "$major"); then
        fail_version "$major" "no Debian release is known to ship PostgreSQL $major (15: bookworm, 17: trixie, 18: forky)"
        return
    fi
    packages=$(root_packages "$major")
    key=$(printf 'minbase %s %s\n' "$suite" "$packages" | sha256sum | cut -c1-12)
    dir=$cache/pg$major-$suite-$key
    log=$cache/pg$major-$suite-$key.log
    if [ -f "$dir/etc/mixrec-root" ]; then
        echo "  reusing $dir"
    else
        echo "  making $dir (log: $log)"
        # shellcheck disable=SC2086 # a list of package names
        if ! make_root "$major" "$suite" "$dir" "$log" $packages; then
            release_roots
            remove_root "$dir.new"
            fail_version "$major" "could not make the Debian $suite root from $mirror: see $log"
            return
        fi
        # The roots of this version for other package lists
        local old
        for old in "$cache/pg$major-"*; do
            if [ -d "$old" ] && [ "$old" != "$dir" ]; then
                remove_root "$old" && rm -f "$old.log" "$old.out"
            fi
        done
        echo "  root made in $(($(date +%s) - t0)) s"
    fi
    server=$(chroot "$dir" "/usr/lib/postgresql/$major/bin/postgres" --version 2>/dev/null |
        grep -oE '[0-9]+\.[0-9]+' | head -n 1)

    # Last run's source, build, logs and clusters go
    copy_source "$dir/mixrec" || {
        fail_version "$major" "could not copy the source into $dir"
        return
    }
    find "$dir/tmp" -mindepth 1 -maxdepth 1 -exec rm -rf --one-file-system {} +
    mount_root "$dir" || {
        release_roots
        fail_version "$major" "could not mount /proc, /sys and /dev/shm in $dir"
        return
    }
    out=$cache/pg$major-$suite-$key.out
    # Made here, so that tail never looks for it before the run made it
    : >"$out"
    # In the background, so that INT and TERM are handled at once (the
    # EXIT trap stops what runs in the root)
    in_root "$dir" MIXREC_PG_MAJOR="$major" bash /mixrec/test/run.sh --server-only >"$out" 2>&1 &
    local child=$!
    tail -n +1 -f --pid=$child "$out" 2>/dev/null | sed -u -e "s|^logs: /|logs: $dir/|" -e 's/^/  /' &
    local follower=$!
    wait $child
    rc=$?
    wait $follower
    release_roots

    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1)
    ok=0
    bad=1
    if [ -n "$line" ]; then
        ok=${line%% passed*}
        bad=${line#*passed, }
        bad=${bad%% failed}
        if [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ]; then
            echo "  test/run.sh exited with status $rc"
            bad=1
        fi
    else
        echo "  test/run.sh ended without a summary (status $rc): see $out"
    fi
    passed=$((passed + ok))
    failed=$((failed + bad))
    line="PostgreSQL ${server:-$major} (Debian $suite): $ok passed, $bad failed"
    echo "$line ($(($(date +%s) - t0)) s)"
    summary+=("$line")
}

if [ "$(id -u)" -ne 0 ]; then
    echo "make test-versions needs root (debootstrap, mount, chroot)"
    echo "0 passed, 1 failed"
    exit 1
fi
if [[ $cache != /* ]] || [[ $cache =~ [[:space:]] ]]; then
    echo "MIXREC_ROOTS_CACHE must be an absolute path without spaces: $cache"
    echo "0 passed, 1 failed"
    exit 1
fi
case "$(cd -P "$cache" 2>/dev/null && pwd)/" in
    "$(cd -P "$src" && pwd)"/*)
        echo "MIXREC_ROOTS_CACHE must be outside the source tree: $cache"
        echo "0 passed, 1 failed"
        exit 1
        ;;
esac
. scripts/setup.sh
install_debian_packages debootstrap || {
    echo "could not install debootstrap"
    echo "0 passed, 1 failed"
    exit 1
}
mkdir -p "$cache"
cache=$(cd -P "$cache" && pwd)
# One run at a time uses a cache: the roots' source and clusters are shared
exec 9>"$cache/.lock"
if ! flock -n 9; then
    echo "waiting for another run that uses $cache"
    flock 9
fi

if [ -z "${MIXREC_VERSIONS_NESTED:-}" ]; then
    echo "== the failure path (test/versions_failures.sh)"
    failures_tap=$(mktemp /tmp/mixrec-versions-failures.XXXXXX)
    bash test/versions_failures.sh >"$failures_tap" 2>&1
    ok=$(grep -cE '^ok [0-9]+' "$failures_tap")
    bad=$(grep -cE '^not ok [0-9]+' "$failures_tap")
    plan=$(grep -oE '^1\.\.[0-9]+' "$failures_tap" | sed 's/^1\.\.//')
    if [ "${plan:-0}" -ne $((ok + bad)) ] || [ $((ok + bad)) -eq 0 ]; then
        bad=$((bad + 1))
        echo "  incomplete: see $failures_tap"
    fi
    sed 's/^/  /' "$failures_tap"
    passed=$((passed + ok))
    failed=$((failed + bad))
    summary+=("failure path: $ok passed, $bad failed")
    rm -f "$failures_tap"
fi

for major in $versions; do
    test_version "$major"
done

echo "== summary ($(($(date +%s) - started)) s)"
for line in "${summary[@]}"; do echo "$line"; done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
