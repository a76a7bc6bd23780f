#!/usr/bin/python3
"""Scoring benchmark: per-row mixrec_score and batch mixrec_predict against
the per-row floor of PostgreSQL and a plain C loop.

Run by bench/score.sh, which starts a throwaway cluster with the installed
mixrec and the floor extension of bench/floor (built and installed by the
script) and connects this script to it through libpq's environment (PGHOST,
PGPORT, PGUSER, PGDATABASE).

Over a table of 1,000,000 rows of 64 features (real[]), in one run:
  - the floor: SELECT sum(mixrec_floor_sum(features)) FROM t, a trivial C
    function that detoasts the array and sums it (bench/floor/floor.c);
  - the arithmetic: bench/floor/mlp_loop.c, two (64, {64}) MLPs run one row
    at a time with plain loops, compiled here with pg_config's flags;
  - per-row mixrec_score by name and by bytea, and mixrec_predict, for a
    (64, {64}) and a (64, {256,128}) model (per-row scoring of the larger
    model over the first 20,000 rows only, to keep the run short).
Each query: parallel query and JIT off, run once untimed, then the best of
three runs timed by the client (as psql's \\timing does). Nothing is
subtracted.

It prints every number and every ratio next to its aim; it does not judge.

Usage:  /usr/bin/python3 bench/score_bench.py
"""

import os

# This process only reads OpenBLAS's configuration; keep it from starting threads
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import shlex  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import psycopg2  # noqa: E402
from machine import (ENV_VARS, Load, file_info, loadavg, openblas_info,  # noqa: E402
                     out, print_backend_blas, print_machine, section, thread_count)

ROWS = 1_000_000
SUBSET_ROWS = 20_000          # per-row scoring of the large model
DIM = 64
SMALL = (64, "{64}")
LARGE = (64, "{256,128}")
RUNS = 3                      # timed runs per query, after one untimed run
TABLE = "bench_rows"
SUBSET = "bench_rows_20k"

HERE = os.path.dirname(os.path.abspath(__file__))
MLP_LOOP_SRC = os.path.join(HERE, "floor", "mlp_loop.c")

# ---------------------------------------------------------------------------
# Environment and kernels

def pg_config(*args):
    return subprocess.run(["pg_config"] + list(args), check=True, capture_output=True,
                          text=True).stdout.strip()


def compiler_version(cc):
    try:
        res = subprocess.run(shlex.split(cc) + ["--version"], capture_output=True, text=True)
        return res.stdout.splitlines()[0] if res.stdout else "?"
    except OSError as e:
        return "(%s)" % e.strerror


def print_environment(cur):
    print_machine()

    out()
    out("-- PostgreSQL backend")
    cur.execute("SELECT version()")
    out("server               : %s" % cur.fetchone()[0])
    cur.execute("SELECT extname, extversion FROM pg_extension "
                "WHERE extname IN ('mixrec', 'mixrec_floor') ORDER BY 1")
    for name, version in cur.fetchall():
        out("extension            : %s %s" % (name, version))
    cur.execute("SELECT setting FROM pg_config WHERE name = 'PKGLIBDIR'")
    libdir = cur.fetchone()[0]
    out("installed mixrec     : %s" % file_info(os.path.join(libdir, "mixrec.so")))
    out("installed floor      : %s" % file_info(os.path.join(libdir, "floor.so")))
    # Load mixrec in this backend, then read its settings
    cur.execute("SELECT mixrec_info(mixrec_init(2, '{2}'))")
    for guc in ("mixrec.threads", "max_parallel_workers_per_gather", "jit",
                "shared_buffers", "work_mem"):
        cur.execute("SHOW %s" % guc)
        out("%-21s: %s" % (guc, cur.fetchone()[0]))
    cur.execute("SELECT pg_backend_pid()")
    pid = cur.fetchone()[0]
    out("backend pid          : %d" % pid)
    env = print_backend_blas(pid)
    config, corename = openblas_info()
    out("openblas_get_config  : %s" % config)
    out("openblas_get_corename: %s" % corename)
    same = env is not None and all(env.get(v) == os.environ.get(v) for v in ENV_VARS
                                   if v != "OPENBLAS_NUM_THREADS")
    out("(read in this process, loading the same libopenblas.so.0; its OPENBLAS_* "
        "variables %s" % ("match the backend's, so the backend picks the same core)"
                          if same else "DIFFER from the backend's: the core may differ)"))
    return pid


# ---------------------------------------------------------------------------
# Data and models

def make_tables(cur):
    section("Data and models (set-up, not timed as part of any result)")
    t0 = time.perf_counter()
    for table in (SUBSET, TABLE):
        cur.execute("DROP TABLE IF EXISTS %s" % table)
    cur.execute("CREATE UNLOGGED TABLE %s (id int NOT NULL, features real[] NOT NULL)" % TABLE)
    cur.execute("SELECT setseed(0.25)")
    cur.execute(
        "INSERT INTO " + TABLE + " "
        "SELECT g, ARRAY(SELECT (random() * 2 - 1)::real FROM generate_series(1, %s) "
        "                WHERE g > 0) "
        "FROM generate_series(1, %s) AS g", (DIM, ROWS))
    cur.execute("CREATE UNLOGGED TABLE %s AS SELECT * FROM %s WHERE id <= %%s ORDER BY id"
                % (SUBSET, TABLE), (SUBSET_ROWS,))
    # Set hint bits and freeze now, and write every dirty page out, so that no
    # timed scan pays for either
    for table in (TABLE, SUBSET):
        cur.execute("VACUUM (FREEZE, ANALYZE) %s" % table)
    cur.execute("CHECKPOINT")
    seconds = time.perf_counter() - t0
    for table in (TABLE, SUBSET):
        cur.execute("SELECT count(*), pg_size_pretty(pg_table_size(%s)), "
                    "min(cardinality(features)), max(cardinality(features)) FROM " + table,
                    (table,))
        n, size, lo, hi = cur.fetchone()
        out("table %-15s: %9d rows x %d..%d features (real[], uniform in [-1, 1)), %s"
            % (table, n, lo, hi, size))
    out("generated in %.1f s (INSERT, VACUUM (FREEZE, ANALYZE), CHECKPOINT)" % seconds)

    cur.execute("DELETE FROM mixrec_models WHERE name IN ('bench_small', 'bench_large')")
    for name, (d_in, hidden) in (("bench_small", SMALL), ("bench_large", LARGE)):
        cur.execute("INSERT INTO mixrec_models(name, version, weights, active) "
                    "VALUES (%s, 1, mixrec_init(%s, %s::int[]), true)", (name, d_in, hidden))
        cur.execute("SELECT mixrec_info(weights), weights = mixrec_init(%s, %s::int[]), "
                    "pg_column_size(weights) FROM mixrec_models WHERE name = %s AND active",
                    (d_in, hidden, name))
        info, same, stored = cur.fetchone()
        out("model %-11s: (%d, %s), %d parameters, %d bytes (%d stored), alpha %s, "
            "standardize %s; registered weights = mixrec_init(%d, '%s'): %s"
            % (name, d_in, hidden, info["parameters"]["total"], info["bytes"], stored,
               info["alpha"], str(info["standardize"]).lower(), d_in, hidden, same))
    out("(untrained models from mixrec_init's default seed: scoring costs the same for "
        "any weights)")


def check_folded(cur, sql):
    """True when the planner turned mixrec_init(...) into a constant bytea."""
    cur.execute("EXPLAIN (VERBOSE, COSTS OFF) " + sql)
    plan = "\n".join(r[0] for r in cur.fetchall())
    return "mixrec_init" not in plan and "'\\x" in plan


# ---------------------------------------------------------------------------
# Timing

class Result:
    def __init__(self, label, short, rows, times, value, load):
        self.label, self.short, self.rows, self.times, self.value, self.load = (
            label, short, rows, times, value, load)
        self.best = min(times)

    @property
    def ns(self):
        return 1e9 * self.best / self.rows


def time_query(cur, backend_pid, label, short, sql, rows):
    """One untimed run, then the best of RUNS runs timed from the client."""
    cur.execute(sql)
    cur.fetchall()
    times = []
    with Load("self", backend_pid) as load:
        for _ in range(RUNS):
            t0 = time.perf_counter()
            cur.execute(sql)
            value = cur.fetchall()
            times.append(time.perf_counter() - t0)
    r = Result(label, short, rows, times, value[0], load)
    out()
    out("-- %s" % label)
    out("   %s" % sql)
    out("   runs %s ms; best %.1f ms over %d rows = %.1f ns/row"
        % (", ".join("%.1f" % (1000 * t) for t in times), 1000 * r.best, rows, r.ns))
    out("   result %s" % ", ".join(str(v) for v in r.value))
    out("   %s" % load.describe())
    return r


def run_mlp_loop(tmpdir):
    section("A plain C loop doing the same arithmetic (bench/floor/mlp_loop.c, no PostgreSQL)")
    cc = pg_config("--cc")
    cflags = pg_config("--cflags") + " " + pg_config("--cflags_sl")
    binary = os.path.join(tmpdir, "mlp_loop")
    cmd = shlex.split(cc) + shlex.split(cflags) + ["-o", binary, MLP_LOOP_SRC, "-lm"]
    out("compiler: %s" % compiler_version(cc))
    out("compiled: %s" % " ".join(shlex.quote(a) for a in cmd))
    out("          (pg_config's CC, CFLAGS and CFLAGS_SL: what PGXS compiles an extension "
        "with; no -march)")
    subprocess.run(cmd, check=True)
    with Load("self") as load:
        res = subprocess.run([binary, str(ROWS)], check=True, capture_output=True, text=True)
    ns = None
    for line in res.stdout.splitlines():
        if line.startswith("loop_ns_per_row "):
            ns = float(line.split()[1])
        else:
            out("  " + line)
    if ns is None:
        raise RuntimeError("mlp_loop printed no loop_ns_per_row:\n" + res.stdout)
    out("  %s" % load.describe())
    out("loop: %.1f ns/row (the column-sum form)" % ns)
    return ns, load


# ---------------------------------------------------------------------------

def main():
    started = time.perf_counter()
    conn = psycopg2.connect("")
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("SET max_parallel_workers_per_gather = 0")
    cur.execute("SET jit = off")

    out("mixrec scoring benchmark, %s" % time.strftime("%Y-%m-%d %H:%M:%S %Z"))
    out("load average at start: %s" % loadavg())
    backend_pid = print_environment(cur)
    make_tables(cur)

    with tempfile.TemporaryDirectory(prefix="mixrec-score-bench.") as tmpdir:
        loop_ns, loop_load = run_mlp_loop(tmpdir)

    section("Queries (parallel query off, JIT off; one untimed run, then best of %d)" % RUNS)
    out("by bytea: mixrec_init(...) in the query, which the planner folds into one constant")
    out("          bytea, the same bytes as the registered model (checked above)")
    out("by name : the registered model, its registry row read once per query")

    floor = time_query(cur, backend_pid, "floor: detoast and sum each real[64]", "floor",
                       "SELECT sum(mixrec_floor_sum(features)) FROM %s" % TABLE, ROWS)

    sql = "SELECT sum(mixrec_score(mixrec_init(64, '{64}'), features)) FROM %s" % TABLE
    out()
    out("planner folded mixrec_init(64, '{64}') into a constant: %s" % check_folded(cur, sql))
    s_bytea = time_query(cur, backend_pid, "(64, {64}) per row, by bytea",
                         "(64, {64}) mixrec_score, bytea", sql, ROWS)
    s_name = time_query(cur, backend_pid, "(64, {64}) per row, by name",
                        "(64, {64}) mixrec_score, name",
                        "SELECT sum(mixrec_score('bench_small', features)) FROM %s" % TABLE,
                        ROWS)
    s_pred = time_query(cur, backend_pid, "(64, {64}) mixrec_predict",
                        "(64, {64}) mixrec_predict",
                        "SELECT count(*), sum(score) FROM mixrec_predict('bench_small', "
                        "'%s', 'id', 'features')" % TABLE, ROWS)

    sql = ("SELECT sum(mixrec_score(mixrec_init(64, '{256,128}'), features)) FROM %s"
           % SUBSET)
    out()
    out("planner folded mixrec_init(64, '{256,128}') into a constant: %s"
        % check_folded(cur, sql))
    l_bytea = time_query(cur, backend_pid,
                         "(64, {256,128}) per row, by bytea, first %d rows" % SUBSET_ROWS,
                         "(64, {256,128}) mixrec_score, bytea",
                         sql, SUBSET_ROWS)
    l_name = time_query(cur, backend_pid,
                        "(64, {256,128}) per row, by name, first %d rows" % SUBSET_ROWS,
                        "(64, {256,128}) mixrec_score, name",
                        "SELECT sum(mixrec_score('bench_large', features)) FROM %s" % SUBSET,
                        SUBSET_ROWS)
    l_pred = time_query(cur, backend_pid, "(64, {256,128}) mixrec_predict",
                        "(64, {256,128}) mixrec_predict",
                        "SELECT count(*), sum(score) FROM mixrec_predict('bench_large', "
                        "'%s', 'id', 'features')" % TABLE, ROWS)

    # Context, not an aim: the form the README shows for scoring with the
    # registry's bytea, a scalar subquery (on the 20,000-row table)
    readme = time_query(cur, backend_pid,
                        "context: (64, {64}) per row, by bytea from a scalar subquery on "
                        "mixrec_models (the README's form), first %d rows" % SUBSET_ROWS,
                        "context: (64, {64}) score, subquery",
                        "SELECT sum(mixrec_score((SELECT weights FROM mixrec_models "
                        "WHERE name = 'bench_small' AND active), features)) FROM %s" % SUBSET,
                        SUBSET_ROWS)
    out("   backend threads after the queries: %s" % thread_count(backend_pid))

    section("Results (raw times, nothing subtracted; the script does not judge)")
    out("%-38s %9s %10s %10s %5s %6s" % ("measurement", "rows", "best ms", "ns/row", "own",
                                         "others"))
    for r in (floor, s_bytea, s_name, s_pred, l_bytea, l_name, l_pred, readme):
        out("%-38s %9d %10.1f %10.1f %5.2f %6.2f" % (r.short, r.rows, 1000 * r.best, r.ns,
                                                     r.load.own, r.load.others))
    out("%-38s %9d %10s %10.1f %5.2f %6.2f" % ("plain C loop (mlp_loop)", ROWS, "", loop_ns,
                                               loop_load.own, loop_load.others))
    out("own, others: CPUs kept busy by the benchmark's processes and by other processes "
        "on the")
    out("             machine during that measurement (own well below 1: the measurement "
        "waited")
    out("             for the CPU)")

    out()
    ref = floor.ns + loop_ns
    out("1. per-row scoring, (64, {64}), against floor + plain C loop "
        "(%.1f + %.1f = %.1f ns/row); aim: at most 1.5" % (floor.ns, loop_ns, ref))
    out("   mixrec_score by bytea / (floor + loop) = %6.1f / %.1f = %.2f"
        % (s_bytea.ns, ref, s_bytea.ns / ref))
    out("   mixrec_score by name  / (floor + loop) = %6.1f / %.1f = %.2f"
        % (s_name.ns, ref, s_name.ns / ref))
    out("2. batch against per-row, (64, {256,128}), per-row ns/row (%d rows) / "
        "mixrec_predict ns/row (%d rows); aim: at least 3" % (SUBSET_ROWS, ROWS))
    out("   by name : %.1f / %.1f = %.2f" % (l_name.ns, l_pred.ns, l_name.ns / l_pred.ns))
    out("   by bytea: %.1f / %.1f = %.2f" % (l_bytea.ns, l_pred.ns, l_bytea.ns / l_pred.ns))
    out("3. batch against reading the rows, (64, {64}), mixrec_predict time / floor time "
        "(%d rows each); aim: at most 1.3" % ROWS)
    out("   %.1f ms / %.1f ms = %.2f" % (1000 * s_pred.best, 1000 * floor.best,
                                        s_pred.best / floor.best))
    out()
    out("context: per-row by bytea from a scalar subquery / by name, (64, {64}): "
        "%.1f / %.1f ns/row = %.2f" % (readme.ns, s_name.ns, readme.ns / s_name.ns))
    out("load average at end: %s" % loadavg())
    out("score_bench.py wall time: %.0f s" % (time.perf_counter() - started))
    conn.close()


if __name__ == "__main__":
    sys.exit(main())
