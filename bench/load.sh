# bench/load.sh: how busy the CPUs were during a measurement (sourced by
# bench/parallel.sh and bench/partitions.sh, not run).
#
# On a shared machine a timing means little without the load it was taken
# under.  load_start before a measurement and load_end after it print
#   own X.XX  others Y.YY
# where own is the CPU time of the throwaway cluster's processes (the
# postmaster's children: the backend and any parallel workers, counted once
# the postmaster has reaped them) over the wall time, and others is the
# rest of the busy CPU time of the whole machine (/proc/stat) over the same
# wall time, in CPUs.  A serial epoch shows own 1.00, a parallel one with two
# workers up to 2.00; others well above 0 means another process took CPU
# time meanwhile.  Needs MIXREC_CLUSTER_DIR (scripts/setup.sh).

_load_ticks() {
    # busy jiffies of all CPUs together, then the cluster's own
    local pm
    pm=$(head -1 "$MIXREC_CLUSTER_DIR/data/postmaster.pid")
    awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat
    # utime stime cutime cstime of the postmaster (after its command name)
    sed 's/.*) //' "/proc/$pm/stat" | awk '{ print $12 + $13 + $14 + $15 }'
}

load_start() {
    _load_before=$(_load_ticks | tr '\n' ' ')
    _load_t0=$(date +%s%N)
}

# load_end: prints "own X.XX  others Y.YY" for the time since load_start
load_end() {
    local after t1
    t1=$(date +%s%N)
    # let the postmaster reap the backend and workers that just exited; the
    # CPU time others take meanwhile counts against them
    sleep 0.2
    after=$(_load_ticks | tr '\n' ' ')
    awk -v b="$_load_before" -v a="$after" -v s="$(((t1 - _load_t0) / 1000000))" \
        -v hz="$(getconf CLK_TCK)" 'BEGIN {
        split(b, x, " "); split(a, y, " ")
        s /= 1000
        own = (y[2] - x[2]) / hz / s
        others = (y[1] - x[1]) / hz / s - own
        if (others < 0) others = 0
        printf "own %.2f  others %.2f\n", own, others
    }'
}
