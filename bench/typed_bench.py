#!/usr/bin/python3
"""Typed-columns benchmark: scoring and training a model straight from typed
columns, against the same model on a prebuilt real[] of its inputs.

Run by bench/typed.sh, which starts a throwaway cluster with the installed
mixrec and the floor extension of bench/floor and connects this script to
it through libpq's environment (PGHOST, PGPORT, PGUSER, PGDATABASE).

The table: 300,000 rows of 6 number columns (numeric, integer, real, double
precision), 2 text categories (20 and 50 values, skewed) and 1 text[] of
tags (1 to 4 distinct tags of 30, skewed), and a boolean label.

(1) Scoring.  A (typed, {64}) model trained on the table.  Its export,
    without "transform" and with "standardize": null, imported as an array
    model: the same weights, taking the standardised input vector.  A table
    of those vectors, mixrec_transform(model, row) of every row.  Then, in
    one run and interleaved round by round, per row:
      SELECT sum(mixrec_score('typed', t)) FROM rows t
      SELECT sum(mixrec_score('array', v.x)) FROM vectors v
    by name and by bytea (a literal, a Const of the query), PostgreSQL's
    per-row floor (mixrec_floor_sum of each vector), and for context
    reading a typed row as a record, mixrec_transform alone, and ROW() of
    the model's columns in place of the table's row.  The two models give
    identical scores (checked).
(2) Training.  mixrec_train from the typed columns against mixrec_train on
    a real[] holding the inputs the typed path builds before
    standardisation; the same shape, epochs, batch size, seed, validation
    fraction, method 'memory', standardisation on, for 10 epochs and for 1;
    and mixrec_prepare, which runs the pass that fits the transform.

Parallel query and JIT off.  Scoring: one untimed round, then 7 timed
rounds; training: one untimed run of each, then 5 timed runs.  Medians
count, best and every run are printed; nothing is subtracted.  It prints
every number and ratio next to its aim; it does not judge.

(3) Limits, measured in the same run in the backend (bench/floor): per-row
scoring against the per-row floor of the vectors plus the model's dense
FLOPs at the FMA peak of one core; the training loop against its GEMMs at
the SGEMM rates of their exact shapes (bench/README.md, "The limit meter").

Usage:  /usr/bin/python3 bench/typed_bench.py [--scale S]
"""

import os

# This process only reads OpenBLAS's configuration; keep it from starting threads
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import psycopg2  # noqa: E402
from machine import (Load, Meter, Spread, file_info, limit_table, loadavg,  # noqa: E402
                     openblas_info, out, print_backend_blas, print_machine, row_flops,
                     section, train_gemms)

ROWS = 300_000
HIDDEN = "{64}"
BATCH = 256
SEED = 42
SCORE_ROUNDS = 7              # timed rounds of every scoring query, after one untimed
TRAIN_RUNS = 5                # timed runs of every training, after one untimed
TRAIN_EPOCHS = (10, 1)
SCORE_MODEL_EPOCHS = 3        # the model scored (its training is not timed)

TABLE = "typed_rows"          # the typed columns and the label
VECTORS = "typed_vectors"     # mixrec_transform of every row: standardised inputs
INPUTS = "typed_inputs"       # the inputs before standardisation, and the label
MODEL = "typed_bench"
ARRAY_MODEL = "typed_bench_array"

# The feature columns, in the table's order
NUMBER_COLUMNS = ("price", "age", "visits", "dwell_seconds", "rating", "discount")
FEATURES = NUMBER_COLUMNS + ("country", "category", "tags")

# 20 countries and 50 categories, skewed (the first ones most frequent);
# 1 to 4 distinct tags of 30, skewed; a label that depends on numbers,
# categories and tags, with noise
GENERATE = """
INSERT INTO typed_rows
SELECT id, price, age, visits, dwell_seconds, rating, discount, country, category, tags,
       0.04 * (age - 45) + 0.004 * (dwell_seconds - 120) + 0.3 * discount
       + 0.6 * (country IN ('country_0', 'country_3', 'country_7'))::int
       - 0.5 * (category LIKE '%%1')::int
       + 0.8 * ('tag_2' = ANY (tags))::int - 0.3 * ('tag_5' = ANY (tags))::int
       + 2.5 * (noise - 0.5) > 0.3
FROM (SELECT g AS id,
             round((5 + 200 * r1 ^ 2)::numeric, 2)::numeric(10, 2) AS price,
             (18 + floor(60 * r2))::int AS age,
             floor(-10 * ln(1 - r3))::int AS visits,
             -120 * ln(1 - r4) AS dwell_seconds,
             (5 * r5)::real AS rating,
             2 * r6 - 1 AS discount,
             'country_' || floor(20 * r7 ^ 2)::int AS country,
             'category_' || floor(50 * r8 ^ 1.5)::int AS category,
             ARRAY(SELECT DISTINCT 'tag_' || floor(30 * random() ^ 1.5)::int
                   FROM generate_series(1, 1 + floor(4 * r9)::int) WHERE g > 0) AS tags,
             noise
      FROM (SELECT g, random() AS r1, random() AS r2, random() AS r3, random() AS r4,
                   random() AS r5, random() AS r6, random() AS r7, random() AS r8,
                   random() AS r9, random() AS noise
            FROM generate_series(1, %s) AS g) AS draws) AS rows
"""


def median(values):
    return statistics.median(values)


def fmt_runs(seconds):
    return ", ".join("%.1f" % (1000 * s) for s in seconds)


# ---------------------------------------------------------------------------
# Environment

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
    so = os.path.join(cur.fetchone()[0], "mixrec.so")
    build = file_info(so)
    out("installed mixrec     : %s" % build)
    # Load mixrec in this backend, then read its settings
    cur.execute("SELECT mixrec_info(mixrec_init(2, '{2}'))")
    for guc in ("mixrec.threads", "mixrec.train_memory", "max_parallel_workers_per_gather",
                "jit", "shared_buffers", "work_mem"):
        cur.execute("SHOW %s" % guc)
        out("%-21s: %s" % (guc, cur.fetchone()[0]))
    cur.execute("SELECT pg_backend_pid()")
    pid = cur.fetchone()[0]
    out("backend pid          : %d" % pid)
    print_backend_blas(pid)
    config, corename = openblas_info()
    out("openblas_get_config  : %s" % config)
    out("openblas_get_corename: %s" % corename)
    out("(read in this process, loading the same libopenblas.so.0: training's SGEMM kernels;")
    out(" per-row scoring runs mixrec's own kernels)")
    return pid, so, build


# ---------------------------------------------------------------------------
# Data and models

def make_table(cur, rows):
    section("Data and models (set-up, not timed as part of any result)")
    t0 = time.perf_counter()
    cur.execute("DROP TABLE IF EXISTS %s, %s, %s" % (TABLE, VECTORS, INPUTS))
    cur.execute("CREATE UNLOGGED TABLE " + TABLE + " (id int NOT NULL, "
                "price numeric(10, 2), age int, visits int, dwell_seconds double precision, "
                "rating real, discount double precision, country text, category text, "
                "tags text[], label boolean NOT NULL)")
    cur.execute("SELECT setseed(0.25)")
    cur.execute(GENERATE, (rows,))
    cur.execute("VACUUM (FREEZE, ANALYZE) %s" % TABLE)
    cur.execute("SELECT count(*), count(DISTINCT country), count(DISTINCT category), "
                "min(cardinality(tags)), max(cardinality(tags)), avg(cardinality(tags)), "
                "avg(label::int), pg_size_pretty(pg_table_size(%s)) FROM " + TABLE, (TABLE,))
    n, countries, categories, lo, hi, avg_tags, positive, size = cur.fetchone()
    cur.execute("SELECT count(DISTINCT tag) FROM %s, unnest(tags) AS tag" % TABLE)
    tags = cur.fetchone()[0]
    out("table %s: %d rows, %s" % (TABLE, n, size))
    out("  number columns  : price numeric(10,2), age int, visits int, dwell_seconds double "
        "precision, rating real, discount double precision")
    out("  text categories : country (%d values), category (%d values)" % (countries, categories))
    out("  text[] tags     : %d tags, %d to %d per row (mean %.2f)"
        % (tags, lo, hi, float(avg_tags)))
    out("  label           : boolean, %.1f%% true" % (100 * float(positive)))
    out("generated in %.1f s" % (time.perf_counter() - t0))


def train_score_model(cur):
    """The model that scoring measures, and its array twin; returns both blobs."""
    cur.execute("DELETE FROM mixrec_models WHERE name IN (%s, %s)", (MODEL, ARRAY_MODEL))
    t0 = time.perf_counter()
    cur.execute("SELECT * FROM mixrec_train(%s, %s, label => 'label', exclude => ARRAY['id'], "
                "hidden => %s, epochs => %s, batch_size => %s, seed => %s, method => 'memory')",
                (MODEL, TABLE, HIDDEN, SCORE_MODEL_EPOCHS, BATCH, SEED))
    _, _, epochs, _, _, auc = cur.fetchone()
    out()
    out("model %s: mixrec_train(%s, label => 'label', exclude => ARRAY['id'], hidden => '%s', "
        "epochs => %d), %.1f s, validation AUC %.3f"
        % (MODEL, TABLE, HIDDEN, epochs, time.perf_counter() - t0, auc))
    cur.execute("SELECT column_name, type, kind, first_input, inputs, vocabulary_size "
                "FROM mixrec_feature_info(%s)", (MODEL,))
    for name, typ, kind, first, inputs, vocab in cur.fetchall():
        out("  %-14s %-17s %-12s inputs %3d..%3d%s"
            % (name, typ, kind, first, first + inputs - 1,
               "" if vocab is None else "  (vocabulary %d)" % vocab))

    cur.execute("SELECT weights, mixrec_info(weights), mixrec_export(weights) "
                "FROM mixrec_models WHERE name = %s AND active", (MODEL,))
    typed_blob, typed_info, doc = cur.fetchone()
    had_transform = "transform" in doc
    standardize = doc.get("standardize")
    doc.pop("transform", None)
    doc["standardize"] = None
    cur.execute("INSERT INTO mixrec_models(name, version, weights, active) "
                "VALUES (%s, 1, mixrec_import(%s::jsonb), true)", (ARRAY_MODEL, json.dumps(doc)))
    cur.execute("SELECT weights, mixrec_info(weights) FROM mixrec_models "
                "WHERE name = %s AND active", (ARRAY_MODEL,))
    array_blob, array_info = cur.fetchone()
    out("  %d inputs, %d parameters, format version %s, standardize %s, %d bytes"
        % (typed_info["input_dim"], typed_info["parameters"]["total"],
           typed_info["format_version"], str(typed_info["standardize"]).lower(),
           len(typed_blob)))
    out("model %s: mixrec_import(mixrec_export(%s) without \"transform\", with "
        "\"standardize\": null)" % (ARRAY_MODEL, MODEL))
    out("  (the export %s)" % ("had a \"transform\" key" if had_transform
                                else "had no \"transform\" key"))
    out("  %d inputs, %d parameters, format version %s, standardize %s, %d bytes"
        % (array_info["input_dim"], array_info["parameters"]["total"],
           array_info["format_version"], str(array_info["standardize"]).lower(),
           len(array_blob)))
    return bytes(typed_blob), bytes(array_blob), standardize


def make_vectors(cur):
    """The standardised input vectors, in the order of the typed table's rows
    (so that a scan of either sums the same scores in the same order)."""
    t0 = time.perf_counter()
    cur.execute("CREATE UNLOGGED TABLE %s AS SELECT t.id, mixrec_transform(%%s, t) AS x "
                "FROM %s t ORDER BY t.ctid" % (VECTORS, TABLE), (MODEL,))
    cur.execute("VACUUM (FREEZE, ANALYZE) %s" % VECTORS)
    cur.execute("SELECT count(*), min(cardinality(x)), max(cardinality(x)), "
                "pg_size_pretty(pg_table_size(%s)) FROM " + VECTORS, (VECTORS,))
    n, lo, hi, size = cur.fetchone()
    out()
    out("table %s: %d rows, x real[%d..%d] = mixrec_transform('%s', row) (standardised), %s, "
        "%.1f s" % (VECTORS, n, lo, hi, MODEL, size, time.perf_counter() - t0))
    # The two models compute the same thing: every row's two scores
    cur.execute("SELECT count(*), max(abs(mixrec_score(%s, t) - mixrec_score(%s, v.x))) "
                "FROM " + TABLE + " t JOIN " + VECTORS + " v USING (id)", (MODEL, ARRAY_MODEL))
    n, diff = cur.fetchone()
    out("check: %d rows scored by both models, max |typed - array| = %s" % (n, diff))


def make_inputs(cur, standardize):
    """The inputs the typed path builds before standardisation, as real[]:
    the number columns as real, the one-hot and multi-hot inputs as
    mixrec_transform gives them (which standardisation leaves alone)."""
    cur.execute("SELECT column_name, kind, first_input, inputs, scale, missing_input "
                "FROM mixrec_feature_info(%s) ORDER BY first_input", (MODEL,))
    parts = []
    for name, kind, first, inputs, scale, missing in cur.fetchall():
        if kind == "numeric" and inputs == 1 and scale == "standard" and not missing:
            parts.append("ARRAY[t.%s::float8::real]" % name)
        elif kind in ("categorical", "multi_hot"):
            for j in range(first - 1, first - 1 + inputs):
                if standardize["mean"][j] != 0 or standardize["std"][j] != 1:
                    raise RuntimeError("input %d of %s is standardised" % (j + 1, name))
            parts.append("(mixrec_transform(%%(model)s, t))[%d:%d]" % (first, first + inputs - 1))
        else:
            raise RuntimeError("column %s (%s): not handled here" % (name, kind))
    t0 = time.perf_counter()
    cur.execute("CREATE UNLOGGED TABLE %s AS SELECT t.id, %s AS x, t.label FROM %s t "
                "ORDER BY t.ctid" % (INPUTS, " || ".join(parts), TABLE), {"model": MODEL})
    cur.execute("VACUUM (FREEZE, ANALYZE) %s" % INPUTS)
    cur.execute("SELECT count(*), min(cardinality(x)), pg_size_pretty(pg_table_size(%s)) "
                "FROM " + INPUTS, (INPUTS,))
    n, dim, size = cur.fetchone()
    out()
    out("table %s: %d rows, x real[%d] (inputs before standardisation), label, %s, %.1f s"
        % (INPUTS, n, dim, size, time.perf_counter() - t0))
    # Standardised with the typed model's statistics, they are its inputs
    cur.execute("SELECT i.x, v.x FROM %s i JOIN %s v USING (id) ORDER BY id LIMIT 2000"
                % (INPUTS, VECTORS))
    worst = 0.0
    mean, std = standardize["mean"], standardize["std"]
    for raw, x in cur.fetchall():
        for j, (r, s) in enumerate(zip(raw, x)):
            worst = max(worst, abs((r - mean[j]) / std[j] - s))
    out("check: (x - mean) / std with the typed model's statistics against mixrec_transform, "
        "2,000 rows: max |difference| %.2e" % worst)
    return dim


# ---------------------------------------------------------------------------
# (1) Scoring

class Query:
    def __init__(self, key, label, sql, params=None):
        self.key, self.label, self.sql, self.params = key, label, sql, params
        self.times, self.own, self.others, self.value = [], [], [], None

    def run(self, cur, backend_pid, timed):
        with Load("self", backend_pid) as load:
            t0 = time.perf_counter()
            cur.execute(self.sql, self.params)
            value = cur.fetchone()[0]
            seconds = time.perf_counter() - t0
        if timed:
            self.times.append(seconds)
            self.own.append(load.own)
            self.others.append(load.others)
        self.value = value

    def ns(self, rows):
        return 1e9 * median(self.times) / rows


def bench_scoring(cur, backend_pid, rows, dim, typed_blob, array_blob):
    section("(1) Scoring: per row, typed columns against the same model on a prebuilt real[] "
            "(%d rows)" % rows)
    columns = ", ".join(FEATURES)
    queries = [
        Query("floor", "floor: mixrec_floor_sum of each vector",
              "SELECT sum(mixrec_floor_sum(x)) FROM %s" % VECTORS),
        Query("array_name", "array model, by name",
              "SELECT sum(mixrec_score('%s', x)) FROM %s" % (ARRAY_MODEL, VECTORS)),
        Query("typed_name", "typed model, by name",
              "SELECT sum(mixrec_score('%s', t)) FROM %s t" % (MODEL, TABLE)),
        Query("array_bytea", "array model, by bytea",
              "SELECT sum(mixrec_score(%%s, x)) FROM %s" % VECTORS,
              (psycopg2.Binary(array_blob),)),
        Query("typed_bytea", "typed model, by bytea",
              "SELECT sum(mixrec_score(%%s, t)) FROM %s t" % TABLE,
              (psycopg2.Binary(typed_blob),)),
        Query("record", "context: reading each typed row as a record (no mixrec)",
              "SELECT sum(pg_column_size(t)) FROM %s t" % TABLE),
        Query("transform", "context: mixrec_transform alone, by name (summed by the floor "
              "function)",
              "SELECT sum(mixrec_floor_sum(mixrec_transform('%s', t))) FROM %s t"
              % (MODEL, TABLE)),
        Query("typed_row", "context: typed model, by name, ROW() of its 9 columns",
              "SELECT sum(mixrec_score('%s', ROW(%s))) FROM %s" % (MODEL, columns, TABLE)),
    ]
    by_key = {q.key: q for q in queries}
    out("Each query reads every row; parallel query off, JIT off. By bytea: the model's bytes as a")
    out("literal in the query (a Const, decoded once). Rounds interleave the queries: one untimed")
    out("round, then %d timed rounds; each query's median counts." % SCORE_ROUNDS)
    out()
    for q in queries:
        out("%-12s %s" % (q.key, q.sql if q.params is None
                          else q.sql.replace("%s", "'\\x...'::bytea")))

    for q in queries:
        q.run(cur, backend_pid, False)
    for _ in range(SCORE_ROUNDS):
        for q in queries:
            q.run(cur, backend_pid, True)

    out()
    out("%-12s %10s %10s %10s %6s %6s  %s" % ("query", "median ms", "best ms", "ns/row",
                                              "own", "others", "result"))
    for q in queries:
        out("%-12s %10.1f %10.1f %10.1f %6.2f %6.2f  %s"
            % (q.key, 1000 * median(q.times), 1000 * min(q.times), q.ns(rows),
               median(q.own), median(q.others), q.value))
    out("every run, ms:")
    for q in queries:
        out("  %-12s %s" % (q.key, fmt_runs(q.times)))
    out("own, others: CPUs kept busy by the benchmark's processes and by other processes during")
    out("             the query (medians over its runs; own well below 1: it waited for the CPU)")
    # A typed row's first layer reads only its nonzero inputs, so its sums
    # run in another order than the array's: equal up to float rounding
    out("the sums of the scores agree (typed - array, relative): by name %.2g, by bytea %.2g"
        % (abs(float(by_key["typed_name"].value) - float(by_key["array_name"].value))
           / abs(float(by_key["array_name"].value)),
           abs(float(by_key["typed_bytea"].value) - float(by_key["array_bytea"].value))
           / abs(float(by_key["array_bytea"].value))))

    f, r = by_key["floor"], by_key["record"]
    an, tn = by_key["array_name"], by_key["typed_name"]
    ab, tb = by_key["array_bytea"], by_key["typed_bytea"]
    tr, tw = by_key["transform"], by_key["typed_row"]
    ratios = {}
    out()
    out("typed / array, per row (aim: at most 1.5): the ratio of the medians; then the median of")
    out("the %d rounds' ratios, and the ratio of the best times (both less sensitive to load)"
        % SCORE_ROUNDS)
    for how, t, a in (("by name", tn, an), ("by bytea", tb, ab)):
        per_round = median([x / y for x, y in zip(t.times, a.times)])
        ratios[how] = t.ns(rows) / a.ns(rows)
        out("  %-9s %7.1f / %7.1f ns/row = %.2f   (per round: %.2f, best: %.2f)"
            % (how, t.ns(rows), a.ns(rows), ratios[how], per_round, min(t.times) / min(a.times)))
    out()
    out("where a typed row's time goes (medians of this run, ns/row; differences of measured")
    out("times, not a profile):")
    out("  PostgreSQL's per-row floor, a real[%d] vector        %8.1f" % (dim, f.ns(rows)))
    out("  array model by name                                   %8.1f" % an.ns(rows))
    out("  reading a typed row as a record (whole-row reference) %8.1f" % r.ns(rows))
    out("  mixrec_transform alone, + the floor sum of its result %8.1f" % tr.ns(rows))
    out("  typed model by name                                   %8.1f" % tn.ns(rows))
    out("  typed model by name, ROW() of its columns             %8.1f" % tw.ns(rows))
    out("  typed - array, by name                                %8.1f" % (tn.ns(rows) - an.ns(rows)))
    out("  mixrec_transform alone - reading a typed row          %8.1f" % (tr.ns(rows) - r.ns(rows)))
    return dict(queries=by_key, ratios=ratios)


# ---------------------------------------------------------------------------
# (2) Training

class Training:
    def __init__(self, key, label, sql, params):
        self.key, self.label, self.sql, self.params = key, label, sql, params
        self.walls, self.loops, self.own, self.others = [], [], [], []

    def run(self, cur, backend_pid, timed, model=None):
        if model is not None:
            cur.execute("DELETE FROM mixrec_models WHERE name = %s", (model,))
        with Load("self", backend_pid) as load:
            t0 = time.perf_counter()
            cur.execute(self.sql, self.params)
            cur.fetchall()
            wall = time.perf_counter() - t0
        loop = None
        if model is not None:
            cur.execute("SELECT metrics FROM mixrec_models WHERE name = %s AND active", (model,))
            metrics = cur.fetchone()[0]
            loop = sum(metrics["train_rows"] / e["rows_per_second"] for e in metrics["epochs"])
        del cur.connection.notices[:]
        if timed:
            self.walls.append(wall)
            self.loops.append(loop)
            self.own.append(load.own)
            self.others.append(load.others)


def bench_training(cur, backend_pid, rows, dim):
    section("(2) Training: from typed columns against a prebuilt real[] of the same inputs "
            "(%d rows)" % rows)
    common = ("hidden => '%s', batch_size => %d, seed => %d, method => 'memory'"
              % (HIDDEN, BATCH, SEED))
    out("both : mixrec_train(..., epochs => E, %s)," % common)
    out("       standardize and validation_fraction at their defaults (true, 0.1)")
    out("typed: mixrec_train(name, '%s', label => 'label', exclude => ARRAY['id'], ...)" % TABLE)
    out("array: mixrec_train(name, '%s', 'x', 'label', ...), x real[%d] the typed path's inputs"
        % (INPUTS, dim))
    out("       before standardisation")
    out("fit  : mixrec_prepare('%s', label => 'label', exclude => ARRAY['id'], hidden => '%s'):"
        % (TABLE, HIDDEN))
    out("       the pass over the source that fits the transform, and a new untrained model")
    out("       (without the validation split: it fits on every row)")
    out("runs : one untimed run of each, then %d rounds; the median counts" % TRAIN_RUNS)

    runs = {}
    for epochs in TRAIN_EPOCHS:
        runs[("typed", epochs)] = Training(
            "typed", "typed", "SELECT * FROM mixrec_train(%%s, '%s', label => 'label', "
            "exclude => ARRAY['id'], epochs => %d, %s)" % (TABLE, epochs, common),
            ("bench_typed_%d" % epochs,))
        runs[("array", epochs)] = Training(
            "array", "array", "SELECT * FROM mixrec_train(%%s, '%s', 'x', 'label', "
            "epochs => %d, %s)" % (INPUTS, epochs, common), ("bench_array_%d" % epochs,))
    fit = Training("fit", "fit", "SELECT length(mixrec_prepare('%s', label => 'label', "
                   "exclude => ARRAY['id'], hidden => '%s'))" % (TABLE, HIDDEN), None)
    order = [(runs[(side, e)], "bench_%s_%d" % (side, e))
             for e in TRAIN_EPOCHS for side in ("typed", "array")] + [(fit, None)]

    cur.execute("SET client_min_messages = warning")
    for t, model in order:
        t.run(cur, backend_pid, False, model)
    for _ in range(TRAIN_RUNS):
        for t, model in order:
            t.run(cur, backend_pid, True, model)
    cur.execute("RESET client_min_messages")

    out()
    out("%-16s %9s %9s %9s %9s %5s %6s  %s" % ("training", "median s", "best s", "loop s",
                                               "rest s", "own", "others", "runs, s"))
    for epochs in TRAIN_EPOCHS:
        for side in ("typed", "array"):
            t = runs[(side, epochs)]
            loop = median(t.loops)
            out("%-16s %9.2f %9.2f %9.2f %9.2f %5.2f %6.2f  %s"
                % ("%s, %d epoch%s" % (side, epochs, "s" if epochs > 1 else ""),
                   median(t.walls), min(t.walls), loop, median(t.walls) - loop,
                   median(t.own), median(t.others), ", ".join("%.2f" % w for w in t.walls)))
    out("%-16s %9.2f %9.2f %9s %9s %5.2f %6.2f  %s"
        % ("fit pass", median(fit.walls), min(fit.walls), "", "", median(fit.own),
           median(fit.others), ", ".join("%.2f" % w for w in fit.walls)))
    out("loop: the training loop, sum over epochs of train_rows / rows_per_second (from the")
    out("      model's metrics); rest: the wall time beyond it (reading the source, the fit")
    out("      pass, set-up, validation, storing); own, others: CPUs kept busy by the")
    out("      benchmark's processes and by other processes (medians over the runs)")

    out()
    out("typed / array, wall time (aim: at most 1.3); medians, and the median of the rounds' "
        "ratios")
    ratios = {}
    for epochs in TRAIN_EPOCHS:
        t, a = runs[("typed", epochs)], runs[("array", epochs)]
        ratios[epochs] = median(t.walls) / median(a.walls)
        per_round = median([x / y for x, y in zip(t.walls, a.walls)])
        out("  %2d epoch%s  %6.2f / %6.2f s = %.2f   (per round: %.2f)"
            % (epochs, "s" if epochs > 1 else " ", median(t.walls), median(a.walls),
               ratios[epochs], per_round))
    long_e, short_e = max(TRAIN_EPOCHS), min(TRAIN_EPOCHS)
    t_long, a_long = median(runs[("typed", long_e)].walls), median(runs[("array", long_e)].walls)
    t_short = median(runs[("typed", short_e)].walls)
    a_short = median(runs[("array", short_e)].walls)
    f = median(fit.walls)
    out()
    out("the typed path's extra time (medians):")
    out("  typed - array, %2d epochs            %6.2f s" % (long_e, t_long - a_long))
    out("  typed - array, %2d epoch             %6.2f s" % (short_e, t_short - a_short))
    out("  the fit pass (mixrec_prepare)       %6.2f s = %.0f%% of the typed %d-epoch time, "
        "%.0f%% of the %d-epoch one" % (f, 100 * f / t_long, long_e, 100 * f / t_short, short_e))
    out("  typed - array - fit pass, %2d epochs %6.2f s (reading and encoding the typed rows "
        "beyond" % (long_e, t_long - a_long - f))
    out("                                               reading the arrays, and any difference "
        "in the loop)")
    return dict(runs=runs, fit=fit, ratios=ratios)


# ---------------------------------------------------------------------------
# (3) Limits

def bench_limits(cur, scoring, training, rows, dim):
    section("(3) Against the machine's limits, measured in this run")
    meter = Meter(cur)
    peak, _ = meter.fma_peak()
    hidden = [int(h) for h in HIDDEN.strip("{}").split(",")]
    q = scoring["queries"]
    floor = Spread.of(q["floor"].times).scaled(1e9 / rows)
    flops = row_flops(dim, hidden)
    limit = floor + Spread(flops / peak.median, flops / peak.hi, flops / peak.lo)
    what = ("floor of the real[%d] %.0f ns + %d FLOP/row (dense) at the FMA peak (%.0f ns)"
            % (dim, floor.median, flops, flops / peak.median))
    table = []
    for key, label in (("array_name", "score, array, by name"),
                       ("array_bytea", "score, array, by bytea"),
                       ("typed_name", "score, typed, by name"),
                       ("typed_bytea", "score, typed, by bytea")):
        table.append((label, Spread.of(q[key].times).scaled(1e9 / rows), limit, "ns", what))
    epochs = max(TRAIN_EPOCHS)
    cur.execute("SELECT (metrics->>'train_rows')::bigint FROM mixrec_models "
                "WHERE name = %s AND active", ("bench_array_%d" % epochs,))
    train_rows = cur.fetchone()[0]
    gemms = [(shape, calls * epochs)
             for shape, calls in train_gemms(dim, hidden, BATCH, train_rows)]
    loop_limit = meter.gemm_seconds(gemms)
    for side in ("typed", "array"):
        t = training["runs"][(side, epochs)]
        table.append(("training loop, %s, %d epochs" % (side, epochs), Spread.of(t.loops),
                      loop_limit, "s", "%d epochs of %d rows, batch %d: the GEMMs at SGEMM "
                      "rates" % (epochs, train_rows, BATCH)))
    meter.print_rates()
    limit_table("each path against its limit (medians [range])", table, "%.2f")
    out("(a typed row's first layer reads only its nonzero inputs, fewer FLOPs than the dense")
    out(" count the limit uses: its ratio may come closer to 1, or below it)")


# ---------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", type=float, default=1.0,
                    help="multiply the row count (quick looks only; default 1)")
    args = ap.parse_args()
    rows = max(int(ROWS * args.scale), 1000)

    started = time.perf_counter()
    conn = psycopg2.connect("")
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("SET max_parallel_workers_per_gather = 0")
    cur.execute("SET jit = off")

    out("mixrec typed-columns benchmark, %s" % time.strftime("%Y-%m-%d %H:%M:%S %Z"))
    if args.scale != 1.0:
        out("NOTE: --scale %g: the row count differs from the standard benchmark" % args.scale)
    out("load average at start: %s" % loadavg())
    backend_pid, so, build = print_environment(cur)

    make_table(cur, rows)
    typed_blob, array_blob, standardize = train_score_model(cur)
    make_vectors(cur)
    dim = make_inputs(cur, standardize)
    cur.execute("CHECKPOINT")

    scoring = bench_scoring(cur, backend_pid, rows, dim, typed_blob, array_blob)
    training = bench_training(cur, backend_pid, rows, dim)

    bench_limits(cur, scoring, training, rows, dim)

    section("Summary (medians of this run; the script does not judge)")
    q = scoring["queries"]
    out("%-44s %12s %12s %7s %6s" % ("measurement", "typed", "array", "ratio", "aim"))
    out("%-44s %9.1f ns %9.1f ns %7.2f %6s" % (
        "per-row scoring, by name, %d rows" % rows, q["typed_name"].ns(rows),
        q["array_name"].ns(rows), scoring["ratios"]["by name"], "<= 1.5"))
    out("%-44s %9.1f ns %9.1f ns %7.2f %6s" % (
        "per-row scoring, by bytea, %d rows" % rows, q["typed_bytea"].ns(rows),
        q["array_bytea"].ns(rows), scoring["ratios"]["by bytea"], "<= 1.5"))
    for epochs in TRAIN_EPOCHS:
        out("%-44s %10.2f s %10.2f s %7.2f %6s" % (
            "training, %d epoch%s, %d rows" % (epochs, "s" if epochs > 1 else "", rows),
            median(training["runs"][("typed", epochs)].walls),
            median(training["runs"][("array", epochs)].walls), training["ratios"][epochs],
            "<= 1.3" if epochs == max(TRAIN_EPOCHS) else ""))
    out("%-44s %10.2f s" % ("the fit pass of the typed path", median(training["fit"].walls)))
    out("PostgreSQL's per-row floor (a real[] vector): %.1f ns/row" % q["floor"].ns(rows))
    after = file_info(so)
    if after != build:
        out("WARNING: the installed mixrec.so changed during the run: %s" % after)
    out("load average at end: %s" % loadavg())
    out("typed_bench.py wall time: %.0f s" % (time.perf_counter() - started))
    conn.close()


if __name__ == "__main__":
    sys.exit(main())
