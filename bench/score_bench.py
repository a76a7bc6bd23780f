#!/usr/bin/python3
"""Scoring benchmark: per-row mixrec_score, batch mixrec_predict and
mixrec_recommend against the per-row floor of PostgreSQL, a plain C loop and
the machine's limits.

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
    model over the first 20,000 rows only, to keep the run short);
  - mixrec_recommend of the (64, {64}) model over 256 users x 4,096 items
    of 32 features each, and the floor of reading them.
Each query: parallel query and JIT off, run once untimed, then five runs
timed by the client (as psql's \\timing does); reported is their median and
range. Nothing is subtracted.

In the same run it measures the machine's limits in the backend
(bench/floor: the FMA peak of one core, SGEMM at the exact shapes of batch
scoring) and prints each path's time against its limit (bench/README.md,
"The limit meter"); it runs mixrec_predict with mixrec.threads = 2 against
1; and it checks that per-row scoring, mixrec_predict and a NumPy
reference computed from mixrec_export() give the same scores.

It prints every number and every ratio next to its aim; it does not judge.

Usage:  /usr/bin/python3 bench/score_bench.py [--scale S]
(--scale multiplies the row counts, for a quick look; the report is only
meaningful at the default scale of 1.)
"""

import os

# This process only reads OpenBLAS's configuration; keep it from starting threads
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import shlex  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import psycopg2  # noqa: E402
from machine import (ENV_VARS, Load, Meter, Spread, file_info, gemm_flops,  # noqa: E402
                     limit_table, loadavg, openblas_info, out, predict_gemms,
                     print_backend_blas, print_machine, row_flops, section, thread_count)

ROWS = 1_000_000
SUBSET_ROWS = 20_000          # per-row scoring of the large model
DIM = 64
SMALL = (64, "{64}")
LARGE = (64, "{256,128}")
RUNS = 5                      # timed runs per query, after one untimed run
CHECK_ROWS = 2_000            # rows scored by the NumPy reference
REC_USERS = 256               # mixrec_recommend: users x items candidates,
REC_ITEMS = 4_096             # 32 user and 32 item features each (the (64, {64}) model)
REC_K = 10
REC_CHECK_USERS = 3
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

    for table, n, seed in (("bench_users", REC_USERS, 0.5), ("bench_items", REC_ITEMS, 0.75)):
        cur.execute("DROP TABLE IF EXISTS %s" % table)
        cur.execute("CREATE UNLOGGED TABLE %s (id int NOT NULL, features real[] NOT NULL)"
                    % table)
        cur.execute("SELECT setseed(%s)", (seed,))
        cur.execute("INSERT INTO " + table + " SELECT g, ARRAY(SELECT (random() * 2 - 1)::real "
                    "FROM generate_series(1, %s) WHERE g > 0) FROM generate_series(1, %s) g",
                    (DIM // 2, n))
        cur.execute("VACUUM (FREEZE, ANALYZE) %s" % table)
        out("table %-15s: %9d rows x %d features (real[]), for mixrec_recommend"
            % (table, n, DIM // 2))
    cur.execute("CHECKPOINT")

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
        self.spread = Spread.of(times)
        self.median = self.spread.median

    @property
    def ns(self):
        return 1e9 * self.median / self.rows

    @property
    def ns_spread(self):
        return self.spread.scaled(1e9 / self.rows)


def time_query(cur, backend_pid, label, short, sql, rows):
    """One untimed run, then RUNS runs timed from the client (median, range)."""
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
    out("   runs %s ms; median %.1f ms over %d rows = %.1f ns/row"
        % (", ".join("%.1f" % (1000 * t) for t in times), 1000 * r.median, rows, r.ns))
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
# Threads, correctness and limits

CHECK_TOL = 1e-6   # scores are probabilities in (0, 1): float32 rounding is ~6e-8


def bench_threads(cur, backend_pid, one):
    """mixrec_predict of the large model with mixrec.threads = 2; returns
    (time with 1 thread, time with 2) as Spreads of seconds."""
    section("Threads: mixrec_predict, (64, {256,128}), mixrec.threads = 2 against 1 "
            "(%d CPUs)" % (os.cpu_count() or 1))
    cur.execute("SET mixrec.threads = 2")
    try:
        two = time_query(cur, backend_pid, "(64, {256,128}) mixrec_predict, mixrec.threads = 2",
                         "(64, {256,128}) predict, 2 threads",
                         "SELECT count(*), sum(score) FROM mixrec_predict('bench_large', "
                         "'%s', 'id', 'features')" % TABLE, ROWS)
        out("   backend threads meanwhile: %s" % thread_count(backend_pid))
    finally:
        cur.execute("SET mixrec.threads = 1")
    out()
    out("speed-up, median 1 thread / median 2 threads: %.1f / %.1f ms = %.2f (aim: at least 1.7; "
        "the 1-thread runs are those of the section above)"
        % (1000 * one.median, 1000 * two.median, one.median / two.median))
    out("result sums: 1 thread %s, 2 threads %s" % (one.value[1], two.value[1]))
    return one.spread, two.spread


def numpy_scores(doc, x):
    """Scores of rows x (float64) by the exported model, in float64: the
    reference the SQL paths must equal to float32 rounding."""
    def mlp(sd, a):
        n = len(doc["hidden"]) + 1
        for l in range(n):
            w = np.array(sd["%d.weight" % (2 * l)], dtype=np.float64)
            b = np.array(sd["%d.bias" % (2 * l)], dtype=np.float64)
            a = a @ w.T + b
            if l < n - 1:
                a = np.maximum(a, 0.0)
        return 1.0 / (1.0 + np.exp(-a[:, 0]))
    if doc.get("standardize"):
        raise RuntimeError("the check assumes a model without standardisation")
    alpha = doc["alpha"]
    return alpha * mlp(doc["open"], x) + (1 - alpha) * mlp(doc["commercial"], x)


def check_scores(cur):
    """Per-row mixrec_score against mixrec_predict on every row scored in
    the timings, and both against NumPy on the first CHECK_ROWS rows;
    returns [(what, max |difference|)]. Not timed."""
    section("Correctness (not timed): the same scores on every path")
    checks = []
    for model, table, rows in (("bench_small", TABLE, ROWS), ("bench_large", SUBSET, SUBSET_ROWS)):
        cur.execute("SELECT count(*), max(abs(p.score - mixrec_score(%s, t.features))) "
                    "FROM mixrec_predict(%s, %s, 'id', 'features') p "
                    "JOIN " + table + " t ON t.id = p.id::int", (model, model, table))
        n, diff = cur.fetchone()
        out("%-11s: mixrec_score against mixrec_predict, %7d rows: max |difference| %.2e"
            % (model, n, diff))
        checks.append(("%s score/predict" % model, diff if n == rows else float("inf")))

        cur.execute("SELECT mixrec_export(weights) FROM mixrec_models WHERE name = %s AND active",
                    (model,))
        doc = cur.fetchone()[0]
        cur.execute("SELECT t.features, mixrec_score(%s, t.features), p.score "
                    "FROM " + table + " t JOIN mixrec_predict(%s, %s, 'id', 'features') p "
                    "ON t.id = p.id::int WHERE t.id <= %s ORDER BY t.id",
                    (model, model, table, CHECK_ROWS))
        got = cur.fetchall()
        x = np.array([r[0] for r in got], dtype=np.float64)
        ref = numpy_scores(doc, x)
        for i, what in ((1, "mixrec_score"), (2, "mixrec_predict")):
            d = float(np.max(np.abs(np.array([r[i] for r in got]) - ref)))
            out("%-11s: %-14s against NumPy (float64, weights from mixrec_export), "
                "%5d rows: max |difference| %.2e" % (model, what, len(got), d))
            checks.append(("%s %s/NumPy" % (model, what), d if len(got) == CHECK_ROWS
                           else float("inf")))
    # mixrec_recommend's top k against ranking every candidate by mixrec_score
    cur.execute("SELECT user_id, item_id, score FROM mixrec_recommend('bench_small', "
                "'SELECT * FROM bench_users WHERE id <= %d', 'bench_items', 'id', 'id', "
                "'features', 'features', k => %d) ORDER BY user_id::int, rank"
                % (REC_CHECK_USERS, REC_K))
    got = cur.fetchall()
    cur.execute("SELECT u, i, s FROM (SELECT u.id AS u, i.id AS i, "
                "mixrec_score('bench_small', u.features || i.features) AS s, "
                "row_number() OVER (PARTITION BY u.id ORDER BY mixrec_score('bench_small', "
                "u.features || i.features) DESC) AS r "
                "FROM bench_users u CROSS JOIN bench_items i WHERE u.id <= %s) x "
                "WHERE r <= %s ORDER BY u, r", (REC_CHECK_USERS, REC_K))
    ref = cur.fetchall()
    same_items = [(str(u), str(i)) for u, i, _ in ref] == [(u, i) for u, i, _ in got]
    d = max((abs(a[2] - b[2]) for a, b in zip(got, ref)), default=float("inf"))
    out("bench_small: mixrec_recommend's top %d against ranking all %d items by mixrec_score, "
        "%d users: same items and order %s, max |score difference| %.2e"
        % (REC_K, REC_ITEMS, REC_CHECK_USERS, same_items, d))
    checks.append(("recommend/score", d if same_items and len(got) == len(ref) > 0
                   else float("inf")))
    out("agree within %.0e (float32 rounding of scores in (0, 1)): %s"
        % (CHECK_TOL, all(c[1] <= CHECK_TOL for c in checks)))
    return checks


def report_limits(meter, floor, loop_ns, small, large, threads, rec, rec_floor):
    """Measure the limits and print every path against its own; returns
    [(path, result ns/row Spread, limit ns/row Spread)]."""
    section("The machine's limits, measured in this run, and each path against its limit")
    peak, kernel = meter.fma_peak()
    floor_ns = floor.ns_spread
    rows = []
    table = []
    for (d_in, hidden), (p_bytea, p_name, pred), per_row_rows in (
            ((64, (64,)), small, ROWS), ((64, (256, 128)), large, SUBSET_ROWS)):
        shape = "(%d, {%s})" % (d_in, ",".join(map(str, hidden)))
        flops = row_flops(d_in, hidden)
        arith = Spread(flops / peak.median, flops / peak.hi, flops / peak.lo)
        per_row_limit = floor_ns + arith
        what = ("floor %.0f ns + %d FLOP/row at the FMA peak (%.1f ns)"
                % (floor_ns.median, flops, arith.median))
        for r, name in ((p_bytea, "score, bytea"), (p_name, "score, name")):
            table.append(("%s %s" % (shape, name), r.ns_spread, per_row_limit, "ns", what))
            rows.append(("%s %s" % (shape, name), r.ns_spread, per_row_limit))
        gemms = predict_gemms(d_in, hidden, ROWS)
        gemm_s = meter.gemm_seconds(gemms)
        pred_limit = floor_ns + gemm_s.scaled(1e9 / ROWS)
        what = ("floor %.0f ns + %.1f GFLOP/1M rows at SGEMM (RowMajor, N, T, %d, n_out, n_in), "
                "%.0f ns" % (floor_ns.median, gemm_flops(gemms) / 1e9 * 1e6 / ROWS,
                             gemms[0][0][3], 1e9 * gemm_s.median / ROWS))
        table.append(("%s predict" % shape, pred.ns_spread, pred_limit, "ns", what))
        rows.append(("%s predict" % shape, pred.ns_spread, pred_limit))
        if shape == "(64, {256,128})":
            meter.cur.execute("SET mixrec.threads = 2")
            try:
                gemm2 = meter.gemm_seconds(gemms)
            finally:
                meter.cur.execute("SET mixrec.threads = 1")
            two = threads[1].scaled(1e9 / ROWS)
            table.append(("%s predict, 2 threads" % shape, two,
                          floor_ns + gemm2.scaled(1e9 / ROWS), "ns",
                          "floor %.0f ns + the same GEMMs at SGEMM with 2 threads, %.0f ns"
                          % (floor_ns.median, 1e9 * gemm2.median / ROWS)))
            rows.append(("%s predict, 2 threads" % shape, two,
                         floor_ns + gemm2.scaled(1e9 / ROWS)))
    # mixrec_recommend: every user's candidates, in blocks of 1,024 per user
    cands = REC_USERS * REC_ITEMS
    gemms = predict_gemms(64, (64,), REC_ITEMS)
    gemms = [(shape, calls * REC_USERS) for shape, calls in gemms]
    gemm_s = meter.gemm_seconds(gemms)
    rec_limit = (rec_floor.spread + gemm_s).scaled(1e9 / cands)
    table.append(("(64, {64}) recommend, per candidate", rec.ns_spread, rec_limit, "ns",
                  "users' and items' floor %.1f ms + %.1f GFLOP at SGEMM (blocks of each "
                  "user's items), %.0f ms"
                  % (1e3 * rec_floor.median, gemm_flops(gemms) / 1e9, 1e3 * gemm_s.median)))
    rows.append(("(64, {64}) recommend, per candidate", rec.ns_spread, rec_limit))
    flops = row_flops(64, (64,))
    loop = Spread(loop_ns, loop_ns, loop_ns)
    table.append(("plain C loop (64, {64}), no PG", loop,
                  Spread(flops / peak.median, flops / peak.hi, flops / peak.lo), "ns",
                  "%d FLOP/row at the FMA peak (loop: best of 3 passes)" % flops))
    meter.print_rates()
    out("per-row floor        : %s ns/row (SELECT sum(mixrec_floor_sum(features)), median "
        "[range] of %d runs)" % (floor_ns.fmt(), RUNS))
    limit_table("each path against its limit, ns/row (%d rows; per-row (64, {256,128}) on %d)"
                % (ROWS, SUBSET_ROWS), table)
    out("per-row limit = per-row floor + the row's FLOPs (2 x n_in x n_out per layer, both "
        "models) at the FMA peak")
    out("batch limit   = per-row floor + the GEMMs of blocks of %d rows at the SGEMM rates of "
        "their exact shapes" % 1024)
    return rows


# ---------------------------------------------------------------------------

def main():
    global ROWS, SUBSET_ROWS, CHECK_ROWS
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", type=float, default=1.0,
                    help="multiply the row counts (quick looks only; default 1)")
    args = ap.parse_args()
    ROWS = max(int(ROWS * args.scale), 2048)
    SUBSET_ROWS = min(max(int(SUBSET_ROWS * args.scale), 1024), ROWS)
    CHECK_ROWS = min(CHECK_ROWS, SUBSET_ROWS)

    started = time.perf_counter()
    conn = psycopg2.connect("")
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("SET max_parallel_workers_per_gather = 0")
    cur.execute("SET jit = off")

    out("mixrec scoring benchmark, %s" % time.strftime("%Y-%m-%d %H:%M:%S %Z"))
    if args.scale != 1.0:
        out("NOTE: --scale %g: %d rows (%d for per-row scoring of the large model), not the "
            "standard benchmark's" % (args.scale, ROWS, SUBSET_ROWS))
    out("load average at start: %s" % loadavg())
    backend_pid = print_environment(cur)
    make_tables(cur)

    with tempfile.TemporaryDirectory(prefix="mixrec-score-bench.") as tmpdir:
        loop_ns, loop_load = run_mlp_loop(tmpdir)

    section("Queries (parallel query off, JIT off; one untimed run, then the median of %d)"
            % RUNS)
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
    rec = time_query(cur, backend_pid,
                     "(64, {64}) mixrec_recommend, %d users x %d items, k %d"
                     % (REC_USERS, REC_ITEMS, REC_K),
                     "(64, {64}) mixrec_recommend",
                     "SELECT count(*), sum(score) FROM mixrec_recommend('bench_small', "
                     "'bench_users', 'bench_items', 'id', 'id', 'features', 'features', k => %d)"
                     % REC_K, REC_USERS * REC_ITEMS)
    rec_floor = time_query(cur, backend_pid,
                           "recommend's floor: detoast and sum each user's and item's real[32]",
                           "recommend floor",
                           "SELECT (SELECT sum(mixrec_floor_sum(features)) FROM bench_users) + "
                           "(SELECT sum(mixrec_floor_sum(features)) FROM bench_items)",
                           REC_USERS + REC_ITEMS)
    out("   backend threads after the queries: %s" % thread_count(backend_pid))

    threads = bench_threads(cur, backend_pid, l_pred)
    checks = check_scores(cur)
    meter = Meter(cur)
    limits = report_limits(meter, floor, loop_ns, (s_bytea, s_name, s_pred),
                           (l_bytea, l_name, l_pred), threads, rec, rec_floor)

    section("Results (raw times, nothing subtracted; the script does not judge)")
    out("%-38s %9s %10s %10s %5s %6s" % ("measurement", "rows", "median ms", "ns/row", "own",
                                         "others"))
    for r in (floor, s_bytea, s_name, s_pred, l_bytea, l_name, l_pred, rec, rec_floor, readme):
        out("%-38s %9d %10.1f %10.1f %5.2f %6.2f" % (r.short, r.rows, 1000 * r.median, r.ns,
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
    out("   %.1f ms / %.1f ms = %.2f" % (1000 * s_pred.median, 1000 * floor.median,
                                        s_pred.median / floor.median))
    out("4. mixrec_predict, (64, {256,128}), mixrec.threads = 2 against 1: speed-up %.2f; "
        "aim: at least 1.7" % (threads[0].median / threads[1].median))
    out("5. every path against the machine's limit measured in this run (ratio 1.00 = at the "
        "limit):")
    for path, result, limit in limits:
        out("   %-34s %8.1f / %8.1f ns/row = %.2f" % (path, result.median, limit.median,
                                                      result.median / limit.median))
    out("6. scores agree (float32 rounding, at most %.0e): %s" % (
        CHECK_TOL, "yes" if all(c[1] <= CHECK_TOL for c in checks) else
        "NO: " + ", ".join(c[0] for c in checks if c[1] > CHECK_TOL)))
    out()
    out("context: per-row by bytea from a scalar subquery / by name, (64, {64}): "
        "%.1f / %.1f ns/row = %.2f" % (readme.ns, s_name.ns, readme.ns / s_name.ns))
    out("load average at end: %s" % loadavg())
    out("score_bench.py wall time: %.0f s" % (time.perf_counter() - started))
    conn.close()


if __name__ == "__main__":
    sys.exit(main())
