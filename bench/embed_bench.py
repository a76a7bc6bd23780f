#!/usr/bin/python3
"""Embedding benchmark: training and scoring a model with embedded id
columns, mixrec inside PostgreSQL against PyTorch.

Run by bench/embed.sh, which starts a throwaway cluster with the installed
mixrec and connects this script to it through libpq's environment (PGHOST,
PGPORT, PGUSER, PGDATABASE). Both sides use ONE thread: this process sets
OPENBLAS_NUM_THREADS, OMP_NUM_THREADS and MKL_NUM_THREADS to 1 before it
imports torch, and the backend runs with mixrec.threads = 1 (the default).

The rows: two integer id columns, user_id and item_id, each embedded in 16
dimensions (embed => '{"user_id": 16, "item_id": 16}'), 8 real columns and
a boolean label; the ids uniform over a vocabulary of 1,000 or 1,000,000
per column. The model: hidden {64}, one output, batch 256, Adam lr 1e-3,
alpha 0.5, no weights or domains; tables of vocabulary + 2 rows (the
out-of-vocabulary and NULL rows), 40 inputs to the first layer.

(1) Training throughput (rows/s of one epoch), for each vocabulary, with the
    tables stepped
      dense: every row every step (embed_optimizer => 'dense'; PyTorch
             nn.Embedding and one torch.optim.Adam over every parameter);
      lazy:  the rows a batch uses (embed_optimizer => 'lazy'; PyTorch
             nn.Embedding(sparse=True) with torch.optim.SparseAdam, and
             torch.optim.Adam over the MLPs).
    mixrec: mixrec_train's rows_per_second per epoch from
    mixrec_training_info() (the training loop only). For the 1,000,000-id
    vocabulary the transform is fitted once by mixrec_prepare on a table
    holding every id once (top_k 1,000,000, min_frequency 1), and the
    trainings continue that model (initial_model), so the vocabulary is
    complete whatever rows they train on. PyTorch: the same rows as tensors
    (not timed to make), a plain loop over a torch.randperm per epoch with
    index_select, zero_grad, backward, step and loss.item(). Best of epochs
    2..3 and the median of 1..3 for each side, and their ratios.
(2) Scoring, with the lazily trained models. mixrec: SELECT
    sum(mixrec_score(name, t)) over the first n rows of a table (a LIMIT),
    for a tenth of the table (100,000 or 400,000 rows) and all of it; the
    per-row time is the difference of the two medians over the difference
    of n (so the per-query work, reading and decoding the model, drops
    out), and the per-query time is a query over one row. PyTorch: the
    blended probability of one row per call (torch.no_grad, each row's
    tensors made beforehand), and for context 65,536 rows per call.

It prints every number it uses and every ratio; it does not judge them.

Usage:  /usr/bin/python3 bench/embed_bench.py [--scale S]
"""

import os

# One thread in this process, set before torch (and its BLAS) is loaded
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import gc  # noqa: E402
import io  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import psycopg2  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from machine import (ENV_VARS, MODELS, Load, Meter, Spread, blas_libraries,  # noqa: E402
                     file_info, gemm_flops, limit_table, loadavg, openblas_info, out,
                     print_backend_blas, print_machine, row_flops, section, train_gemms)

torch.set_num_threads(1)
torch.set_num_interop_threads(1)

DIM = 16                    # dimensions of each embedding
NUMBERS = 8                 # real columns
HIDDEN = 64
BATCH = 256
EPOCHS = 3
ALPHA = 0.5
LR = 1e-3
SEED = 42

# (vocabulary, rows trained on, rows of the table, which scoring reads);
# the dense runs over 1,000,000 ids train on the first DENSE_1M_ROWS rows:
# each of their steps moves 64 Mi numbers of tables (two columns, two
# models) and their moments. A scoring query over the 1,000,000-id model
# first reads and decodes its 800 MB, seconds that vary from query to
# query, hence its many rows.
VOCABULARIES = ((1_000, 1_000_000, 1_000_000), (1_000_000, 500_000, 4_000_000))
DENSE_1M_ROWS = 7_680       # 30 batches
SCORE_ROUNDS = 5            # timed rounds, after one untimed
TORCH_SCORE_ROWS = 20_000   # rows PyTorch scores one per call
# The budget mixrec checks before it allocates: counting a vocabulary of
# 1,000,000 ids reserves 4 x top_k counters of up to 64 + 1,024 bytes per
# column (its worst case; the rows here use a few bytes each)
TRAIN_MEMORY = "12GB"

COLUMNS = ["user_id", "item_id"] + ["x%d" % (j + 1) for j in range(NUMBERS)]


def median(values):
    return statistics.median(values)


def fmt_rate(x):
    return "%10.0f" % x


def peak_rss_mb(pid):
    """The peak resident size of a process in MB (VmHWM), or None."""
    try:
        with open("/proc/%s/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


# ---------------------------------------------------------------------------
# Environment

def print_environment(cur):
    print_machine()
    out()
    out("-- this process (PyTorch side)")
    out("python               : %s (%s)" % (sys.version.split()[0], sys.executable))
    out("torch                : %s, numpy %s, psycopg2 %s" % (
        torch.__version__, np.__version__, psycopg2.__version__.split()[0]))
    for var in ENV_VARS:
        out("%-21s: %s" % (var, os.environ.get(var, "(unset)")))
    out("torch threads        : intra-op %d, inter-op %d" % (
        torch.get_num_threads(), torch.get_num_interop_threads()))
    for line in torch.__config__.show().splitlines():
        if "CPU capability" in line:
            out("torch config         : %s" % line.strip().lstrip("- "))
    torch.mm(torch.ones(8, 8), torch.ones(8, 8))
    config, corename = openblas_info()
    out("openblas_get_config  : %s" % config)
    out("openblas_get_corename: %s" % corename)
    for path in blas_libraries():
        out("mapped library       : %s -> %s" % (path, os.path.realpath(path)))

    out()
    out("-- PostgreSQL backend (mixrec side)")
    cur.execute("SELECT version()")
    out("server               : %s" % cur.fetchone()[0])
    cur.execute("SELECT extversion FROM pg_extension WHERE extname = 'mixrec'")
    out("mixrec extension     : %s" % cur.fetchone()[0])
    cur.execute("SELECT setting FROM pg_config WHERE name = 'PKGLIBDIR'")
    out("installed mixrec     : %s" % file_info(os.path.join(cur.fetchone()[0], "mixrec.so")))
    cur.execute("SELECT mixrec_info(mixrec_init(2, '{2}'))")
    cur.execute("SET mixrec.max_train_memory = %s", (TRAIN_MEMORY,))
    cur.execute("SET mixrec.train_memory = %s", (TRAIN_MEMORY,))
    for guc in ("mixrec.threads", "mixrec.train_memory", "max_parallel_workers_per_gather",
                "jit", "shared_buffers"):
        cur.execute("SHOW %s" % guc)
        out("%-21s: %s" % (guc, cur.fetchone()[0]))
    cur.execute("SELECT pg_backend_pid()")
    pid = cur.fetchone()[0]
    out("backend pid          : %d" % pid)
    print_backend_blas(pid)
    return pid


# ---------------------------------------------------------------------------
# Data: made here with numpy, copied into PostgreSQL in binary, so both
# sides read exactly the same numbers

ROW_DTYPE = np.dtype([("nfields", ">i2"), ("l_id", ">i4"), ("id", ">i4"),
                      ("l_user", ">i4"), ("user", ">i4"), ("l_item", ">i4"), ("item", ">i4"),
                      ("x", [("len", ">i4"), ("val", ">f4")], (NUMBERS,)),
                      ("l_label", ">i4"), ("label", "u1")])


def make_rows(rng, n, vocab, every_id=False):
    """ids, numbers and labels of n rows: the label depends on the numbers
    and on an effect of each id, so that the tables have something to learn"""
    if every_id:
        user = np.arange(n, dtype=np.int32)
        item = np.arange(n, dtype=np.int32)
    else:
        user = rng.integers(0, vocab, n, dtype=np.int32)
        item = rng.integers(0, vocab, n, dtype=np.int32)
    x = rng.standard_normal((n, NUMBERS), dtype=np.float32)
    effect = np.random.default_rng(vocab).standard_normal(vocab)
    logit = x[:, 0] - 0.5 * x[:, 1] + 0.25 * x[:, 2] * x[:, 3] + effect[user] - effect[item]
    label = rng.random(n) < 1.0 / (1.0 + np.exp(-logit))
    return dict(user=user, item=item, x=x, label=label)


def copy_rows(cur, table, rows):
    n = len(rows["user"])
    rec = np.zeros(n, dtype=ROW_DTYPE)
    rec["nfields"] = 3 + NUMBERS + 1
    rec["l_id"] = rec["l_user"] = rec["l_item"] = 4
    rec["id"] = np.arange(n)
    rec["user"] = rows["user"]
    rec["item"] = rows["item"]
    rec["x"]["len"] = 4
    rec["x"]["val"] = rows["x"]
    rec["l_label"] = 1
    rec["label"] = rows["label"]
    data = (b"PGCOPY\n\xff\r\n\x00" + np.array([0, 0], ">i4").tobytes() + rec.tobytes()
            + np.array([-1], ">i2").tobytes())
    cur.execute("DROP TABLE IF EXISTS %s" % table)
    cur.execute("CREATE UNLOGGED TABLE %s (id int NOT NULL, user_id int, item_id int, %s, "
                "label boolean NOT NULL)"
                % (table, ", ".join("x%d real" % (j + 1) for j in range(NUMBERS))))
    cur.copy_expert("COPY %s FROM STDIN WITH (FORMAT binary)" % table, io.BytesIO(data))
    cur.execute("VACUUM (FREEZE, ANALYZE) %s" % table)


def subset(rows, n):
    return {k: v[:n] for k, v in rows.items()}


def tensors(rows, vocab):
    """PyTorch's inputs: table rows (an id is its own row: ids are 0..vocab-1),
    numbers standardised with their mean and population std, labels"""
    x = rows["x"].astype(np.float64)
    x = ((x - x.mean(axis=0)) / x.std(axis=0)).astype(np.float32)
    return (torch.from_numpy(rows["user"].astype(np.int64)),
            torch.from_numpy(rows["item"].astype(np.int64)),
            torch.from_numpy(x),
            torch.from_numpy(rows["label"].astype(np.float32)).reshape(-1, 1))


# ---------------------------------------------------------------------------
# mixrec

def mixrec_prepare_1m(cur, backend_pid, rng):
    """A table holding every id of the 1,000,000-id vocabulary once, and the
    model mixrec_prepare fits on it (kept in a table, not timed)"""
    vocab = 1_000_000
    t0 = time.perf_counter()
    copy_rows(cur, "embed_vocab_1m", make_rows(rng, vocab, vocab, every_id=True))
    out("  embed_vocab_1m: %d rows, every id once, %.1f s" % (vocab, time.perf_counter() - t0))
    t0 = time.perf_counter()
    cur.execute("DROP TABLE IF EXISTS embed_prepared")
    cur.execute(
        "CREATE TABLE embed_prepared AS SELECT mixrec_prepare('embed_vocab_1m', "
        "label => 'label', exclude => ARRAY['id'], hidden => %s::int[], alpha => %s, seed => %s, "
        "transform => '{\"user_id\": {\"top_k\": 1000000, \"min_frequency\": 1}, "
        "\"item_id\": {\"top_k\": 1000000, \"min_frequency\": 1}}', "
        "embed => %s) AS model",
        ([HIDDEN], ALPHA, SEED, '{"user_id": %d, "item_id": %d}' % (DIM, DIM)))
    cur.execute("SELECT length(model), mixrec_info(model) FROM embed_prepared")
    size, info = cur.fetchone()
    out("  mixrec_prepare over it: %.1f s, a model of %.0f MB, tables %s"
        % (time.perf_counter() - t0, size / 1e6,
           ", ".join("%s %d x %d" % (k, v["rows"], v["dim"])
                     for k, v in sorted(info["embeddings"].items()))))
    out("  backend peak resident size so far: %.0f MB" % peak_rss_mb(backend_pid))


def mixrec_train(cur, backend_pid, name, table, optimizer, prepared):
    cur.execute("DELETE FROM mixrec_models WHERE name = %s", (name,))
    with Load("self", backend_pid) as load:
        t0 = time.perf_counter()
        if prepared:
            cur.execute(
                "SELECT * FROM mixrec_train(%s, %s, label => 'label', exclude => ARRAY['id'], "
                "initial_model => (SELECT model FROM embed_prepared), embed_optimizer => %s, "
                "batch_size => %s, epochs => %s, learning_rate => %s, "
                "validation_fraction => 0, shuffle => true, method => 'memory')",
                (name, table, optimizer, BATCH, EPOCHS, LR))
        else:
            cur.execute(
                "SELECT * FROM mixrec_train(%s, %s, label => 'label', exclude => ARRAY['id'], "
                "embed => %s, embed_optimizer => %s, hidden => %s::int[], alpha => %s, "
                "batch_size => %s, epochs => %s, learning_rate => %s, seed => %s, "
                "validation_fraction => 0, shuffle => true, method => 'memory')",
                (name, table, '{"user_id": %d, "item_id": %d}' % (DIM, DIM), optimizer,
                 [HIDDEN], ALPHA, BATCH, EPOCHS, LR, SEED))
        cur.fetchall()
        wall = time.perf_counter() - t0
    cur.execute("SELECT epoch, rows_per_second, train_loss FROM mixrec_training_info(%s) "
                "ORDER BY epoch", (name,))
    per_epoch = cur.fetchall()
    cur.execute("SELECT mixrec_info(weights), length(weights) FROM mixrec_models "
                "WHERE name = %s AND active", (name,))
    info, size = cur.fetchone()
    del cur.connection.notices[:]
    return wall, per_epoch, info, size, load


# ---------------------------------------------------------------------------
# PyTorch

class Side(nn.Module):
    """One of the two models: its two tables and its MLP"""

    def __init__(self, rows, sparse):
        super().__init__()
        self.user = nn.Embedding(rows, DIM, sparse=sparse)
        self.item = nn.Embedding(rows, DIM, sparse=sparse)
        self.mlp = nn.Sequential(nn.Linear(2 * DIM + NUMBERS, HIDDEN), nn.ReLU(),
                                 nn.Linear(HIDDEN, 1))

    def forward(self, user, item, x):
        return self.mlp(torch.cat([self.user(user), self.item(item), x], dim=1))


def torch_train(data, vocab, optimizer):
    """A plain loop; returns (open, commercial, [(epoch, s, rows/s, loss)])"""
    user, item, x, y = data
    torch.manual_seed(SEED)
    sparse = optimizer == "lazy"
    open_model = Side(vocab + 2, sparse)
    commercial_model = Side(vocab + 2, sparse)
    models = (open_model, commercial_model)
    if sparse:
        tables = [p for m in models for p in (m.user.weight, m.item.weight)]
        mlps = [p for m in models for p in m.mlp.parameters()]
        opts = [torch.optim.SparseAdam(tables, lr=LR), torch.optim.Adam(mlps, lr=LR)]
    else:
        opts = [torch.optim.Adam([p for m in models for p in m.parameters()], lr=LR)]
    n = x.shape[0]
    results = []
    for epoch in range(1, EPOCHS + 1):
        t0 = time.perf_counter()
        perm = torch.randperm(n)
        total = 0.0
        for first in range(0, n, BATCH):
            idx = perm[first:first + BATCH]
            ub, ib = user.index_select(0, idx), item.index_select(0, idx)
            xb, yb = x.index_select(0, idx), y.index_select(0, idx)
            for opt in opts:
                opt.zero_grad(set_to_none=True)
            loss = (ALPHA * F.binary_cross_entropy_with_logits(open_model(ub, ib, xb), yb)
                    + (1 - ALPHA) * F.binary_cross_entropy_with_logits(
                        commercial_model(ub, ib, xb), yb))
            loss.backward()
            for opt in opts:
                opt.step()
            total += loss.item() * idx.shape[0]
        seconds = time.perf_counter() - t0
        results.append((epoch, seconds, n / seconds, total / n))
    return open_model, commercial_model, results


def best_and_median(rates):
    """Best of epochs 2.. (epoch 1 has warm-up effects) and the median of all"""
    later = rates[1:] if len(rates) > 1 else rates
    return max(later), median(rates)


# ---------------------------------------------------------------------------
# (1) Training

def bench_training(cur, backend_pid, scale, rng):
    section("(1) Training throughput: two id columns embedded in %d dimensions, %d real "
            "columns, hidden {%d}, batch %d, %d epochs, Adam lr %g, one thread each"
            % (DIM, NUMBERS, HIDDEN, BATCH, EPOCHS, LR))
    out("rows/s of one epoch; 'best' is the best of epochs 2..%d, 'median' the median of "
        "epochs 1..%d" % (EPOCHS, EPOCHS))
    out("mixrec : rows_per_second from mixrec_training_info() (the training loop only)")
    out("PyTorch: the same rows as tensors (made beforehand, not timed), a plain loop")
    results = []
    models = {}
    for vocab, train_rows, table_rows in VOCABULARIES:
        n = max(int(train_rows * scale), BATCH)
        n_table = max(int(table_rows * scale), n)
        prepared = vocab >= 1_000_000
        n_dense = max(int(DENSE_1M_ROWS * scale), BATCH) if prepared else n
        out()
        out("-- vocabulary %d ids per column: data (not counted)" % vocab)
        t0 = time.perf_counter()
        data = make_rows(rng, n_table, vocab)
        table = "embed_%d" % vocab
        copy_rows(cur, table, data)
        out("  %s: %d rows, %d and %d distinct user and item ids, %.1f%% positive labels, %.1f s"
            % (table, n_table, len(np.unique(data["user"])), len(np.unique(data["item"])),
               100 * data["label"].mean(), time.perf_counter() - t0))
        sources = {}
        for optimizer, rows_here in (("dense", n_dense), ("lazy", n)):
            if rows_here >= n_table:
                sources[optimizer] = table
                continue
            sources[optimizer] = "embed_%d_%s_rows" % (vocab, optimizer)
            cur.execute("DROP TABLE IF EXISTS %s" % sources[optimizer])
            cur.execute("CREATE UNLOGGED TABLE %s AS SELECT * FROM %s WHERE id < %%s"
                        % (sources[optimizer], table), (rows_here,))
            out("  %s: its first %d rows (%d batches), for the %s runs"
                % (sources[optimizer], rows_here, -(-rows_here // BATCH), optimizer))
        if prepared:
            mixrec_prepare_1m(cur, backend_pid, rng)
        for optimizer in ("dense", "lazy"):
            rows_here = n_dense if optimizer == "dense" else n
            source = sources[optimizer]
            name = "embed_%d_%s" % (vocab, optimizer)
            out()
            out("-- vocabulary %d, %s tables, %d rows, %d batches per epoch"
                % (vocab, optimizer, rows_here, -(-rows_here // BATCH)))
            wall, per_epoch, info, size, m_load = mixrec_train(cur, backend_pid, name, source,
                                                               optimizer, prepared)
            loop_s = sum(rows_here / r[1] for r in per_epoch)
            out("mixrec : mixrec_train wall %.1f s = training loop %.1f s + rest %.1f s (reading "
                "the rows%s, setting up, storing a model of %.0f MB)"
                % (wall, loop_s, wall - loop_s, ", copying the prepared model" if prepared else "",
                   size / 1e6))
            out("         tables: %s; embedding optimizer %s"
                % (", ".join("%s %d x %d" % (k, v["rows"], v["dim"])
                             for k, v in sorted(info["embeddings"].items())),
                   (info.get("optimizer") or {}).get("embeddings")))
            for epoch, rate, loss in per_epoch:
                out("  mixrec  epoch %d: %s rows/s  %7.3f s  loss %.4f"
                    % (epoch, fmt_rate(rate), rows_here / rate, loss))
            out("  %s" % m_load.describe())

            tdata = tensors(subset(data, rows_here), vocab)
            gc.collect()
            with Load("self", backend_pid) as t_load:
                open_model, commercial_model, t_res = torch_train(tdata, vocab, optimizer)
            for epoch, seconds, rate, loss in t_res:
                out("  PyTorch epoch %d: %s rows/s  %7.3f s  loss %.4f"
                    % (epoch, fmt_rate(rate), seconds, loss))
            out("  %s" % t_load.describe())
            if optimizer == "lazy":
                models[vocab] = (open_model, commercial_model, name, table, data)
            del open_model, commercial_model, tdata
            gc.collect()

            m_best, m_median = best_and_median([r[1] for r in per_epoch])
            t_best, t_median = best_and_median([r[2] for r in t_res])
            out("result : mixrec %.0f rows/s (median %.0f), PyTorch %.0f rows/s (median %.0f); "
                "mixrec/PyTorch best %.2f, median %.2f"
                % (m_best, m_median, t_best, t_median, m_best / t_best, m_median / t_median))
            out("         peak resident size so far: backend %.0f MB, this process %.0f MB"
                % (peak_rss_mb(backend_pid),
                   resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))
            results.append(dict(label="%s, %s ids, %s" % ("train rows/s", format(vocab, ","),
                                                          optimizer),
                                 rows=rows_here, mixrec="%.0f" % m_best, torch="%.0f" % t_best,
                                 ratio=m_best / t_best, median=m_median / t_median,
                                 others=(m_load.others, t_load.others),
                                 vocab=vocab, optimizer=optimizer, train_rows=rows_here,
                                 m_epoch_s=Spread.of([rows_here / r[1] for r in per_epoch]),
                                 t_epoch_s=Spread.of([r[1] for r in t_res])))
    return results, models


def bench_limits(cur, rows, scoring):
    """Training epochs against their GEMMs at SGEMM rates, per-row scoring
    against the row's FLOPs at the FMA peak (bench/README.md, "The limit
    meter"); the embedding tables' optimiser step is memory-bound and left
    out of the limit."""
    section("(3) Against the machine's limits, measured in this run")
    meter = Meter(cur)
    d_in = 2 * DIM + NUMBERS
    table = []
    for r in rows:
        gemms = train_gemms(d_in, [HIDDEN], BATCH, r["train_rows"])
        # The embeddings' gradient: dX = dZ W on each embedded column's
        # inputs, per mini-batch and model (RowMajor, N, N, batch, DIM, HIDDEN)
        for b, count in ((BATCH, r["train_rows"] // BATCH), (r["train_rows"] % BATCH, 1)):
            if b and count:
                gemms.append((("RowMajor", "N", "N", b, DIM, HIDDEN), MODELS * 2 * count))
        limit = meter.gemm_seconds(gemms).scaled(1e3)
        what = "%.2f GFLOP of GEMMs at SGEMM rates" % (gemm_flops(gemms) / 1e9)
        label = "%s ids, %s, epoch" % (format(r["vocab"], ","), r["optimizer"])
        table.append(("mixrec  " + label, r["m_epoch_s"].scaled(1e3), limit, "ms", what))
        table.append(("PyTorch " + label, r["t_epoch_s"].scaled(1e3), limit, "ms", "the same"))
    peak, _ = meter.fma_peak()
    flops = row_flops(d_in, [HIDDEN])
    arith = Spread(flops / peak.median, flops / peak.hi, flops / peak.lo)
    for r in scoring:
        ns = 1e9 * r["per_row"]
        table.append((r["label"], Spread(ns, ns, ns), arith, "ns",
                      "%d FLOP/row at the FMA peak (no floor: rows are typed)" % flops))
    meter.print_rates()
    limit_table("each path against its limit (training: median [range] of %d epochs; "
                "scoring: from medians)" % EPOCHS, table)
    out("(a dense step over 1,000,000 ids is bound by memory bandwidth, which the limit leaves "
        "out)")


# ---------------------------------------------------------------------------
# (2) Scoring

def mixrec_scoring(cur, backend_pid, name, table, small, large):
    queries = {
        n: "SELECT sum(mixrec_score('%s', t)) FROM (SELECT * FROM %s LIMIT %d) t"
        % (name, table, n) for n in (1, small, large)}
    for n in (1, small, large):
        out("  mixrec  %s" % queries[n])
    times = {n: [] for n in queries}
    values = {}
    for timed in [False] + [True] * SCORE_ROUNDS:
        for n, sql in queries.items():
            with Load("self", backend_pid) as load:
                t0 = time.perf_counter()
                cur.execute(sql)
                values[n] = cur.fetchone()[0]
                seconds = time.perf_counter() - t0
            if timed:
                times[n].append((seconds, load.others))
    med = {n: median([s for s, _ in times[n]]) for n in times}
    best = {n: min(s for s, _ in times[n]) for n in times}
    per_row = (med[large] - med[small]) / (large - small)
    for n in (1, small, large):
        out("  mixrec  %-7d rows: median %8.1f ms (runs %s ms; others %.2f CPUs)"
            % (n, 1000 * med[n], ", ".join("%.1f" % (1000 * s) for s, _ in times[n]),
               median([o for _, o in times[n]])))
    out("  mixrec  per row: (%.1f - %.1f) ms / %d rows = %.0f ns (from the best times: %.0f ns); "
        "per query (one row): %.1f ms"
        % (1000 * med[large], 1000 * med[small], large - small, 1e9 * per_row,
           1e9 * (best[large] - best[small]) / (large - small), 1000 * med[1]))
    return per_row, med[1], median([o for _, o in times[large]])


def torch_scoring(open_model, commercial_model, data, vocab, n):
    open_model.eval()
    commercial_model.eval()
    user, item, x, _ = tensors(subset(data, n), vocab)
    rows = [(user[r:r + 1], item[r:r + 1], x[r:r + 1]) for r in range(n)]
    with torch.no_grad():
        total = 0.0
        t0 = time.perf_counter()
        for u, i, xr in rows:
            total += float(ALPHA * torch.sigmoid(open_model(u, i, xr))
                           + (1 - ALPHA) * torch.sigmoid(commercial_model(u, i, xr)))
        one = (time.perf_counter() - t0) / n
        t0 = time.perf_counter()
        batched = 0.0
        for first in range(0, n, 65536):
            sl = slice(first, first + 65536)
            batched += float((ALPHA * torch.sigmoid(open_model(user[sl], item[sl], x[sl]))
                              + (1 - ALPHA) * torch.sigmoid(
                                  commercial_model(user[sl], item[sl], x[sl]))).sum())
        batch = (time.perf_counter() - t0) / n
    return one, batch, total, batched


def bench_scoring(cur, backend_pid, scale, models):
    section("(2) Scoring one row at a time, with the lazily trained models of (1)")
    out("mixrec : SELECT sum(mixrec_score(name, t)) FROM (SELECT * FROM table LIMIT n) t, for")
    out("         n = 1, a tenth of the table and all of it; one untimed round then %d timed"
        % SCORE_ROUNDS)
    out("         rounds, interleaved; per row: the difference of the larger two medians over")
    out("         the difference of n (each query first reads and decodes the model)")
    out("PyTorch: blend of both models' sigmoid for one row per call under torch.no_grad, each")
    out("         row's three tensors made beforehand; for context, batches of 65,536 rows")
    results = []
    for vocab, (open_model, commercial_model, name, table, data) in models.items():
        large = len(data["user"])
        small = large // 10
        out()
        out("-- vocabulary %d: model %s, rows of %s" % (vocab, name, table))
        per_row, per_query, m_others = mixrec_scoring(cur, backend_pid, name, table, small, large)
        n_torch = min(max(int(TORCH_SCORE_ROWS * scale), 100), large)
        gc.collect()
        with Load("self") as t_load:
            one, batch, total, batched = torch_scoring(open_model, commercial_model, data,
                                                       vocab, n_torch)
        out("  PyTorch %d rows, one per call: %.1f us per row (sum %.4f); batched: %.0f ns "
            "per row (sum %.4f)" % (n_torch, 1e6 * one, total, 1e9 * batch, batched))
        out("  %s" % t_load.describe())
        out("result : per row mixrec %.0f ns, PyTorch %.0f ns; PyTorch/mixrec %.1f"
            % (1e9 * per_row, 1e9 * one, one / per_row))
        results.append(dict(label="score ns/row, %s ids" % format(vocab, ","), rows=large - small,
                            mixrec="%.0f" % (1e9 * per_row), torch="%.0f" % (1e9 * one),
                            ratio=one / per_row, median=None, others=(m_others, t_load.others),
                            per_row=per_row,
                            per_query=per_query, batched=batch))
    return results


# ---------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", type=float, default=1.0,
                    help="multiply every row count (quick looks only; default 1)")
    args = ap.parse_args()

    started = time.perf_counter()
    conn = psycopg2.connect("")
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("SET max_parallel_workers_per_gather = 0")
    cur.execute("SET jit = off")

    out("mixrec embedding benchmark, %s" % time.strftime("%Y-%m-%d %H:%M:%S %Z"))
    if args.scale != 1.0:
        out("NOTE: --scale %g: row counts differ from the standard benchmark" % args.scale)
    out("load average at start: %s" % loadavg())
    backend_pid = print_environment(cur)
    rng = np.random.default_rng(SEED)
    rows, models = bench_training(cur, backend_pid, args.scale, rng)
    scoring = bench_scoring(cur, backend_pid, args.scale, models)
    bench_limits(cur, rows, scoring)

    section("Summary (one thread on each side; ratio > 1 means mixrec is faster)")
    out("%-34s %8s %10s %10s %7s %7s %11s" % ("benchmark", "rows", "mixrec", "PyTorch",
                                              "ratio", "median", "others m/p"))
    for r in rows + scoring:
        out("%-34s %8d %10s %10s %7.2f %7s %5.2f/%4.2f" % (
            r["label"], r["rows"], r["mixrec"], r["torch"], r["ratio"],
            "" if r["median"] is None else "%.2f" % r["median"], r["others"][0], r["others"][1]))
    out()
    out("ratio : training, mixrec rows/s / PyTorch rows/s, best of epochs 2..%d (median: the same "
        "of the medians);" % EPOCHS)
    out("        scoring, PyTorch's time for one row per call / mixrec's per-row time in a query")
    for r in scoring:
        out("%s: a scoring query's own cost (one row): %.1f ms; PyTorch batched: %.0f ns/row"
            % (r["label"], 1000 * r["per_query"], 1e9 * r["batched"]))
    out("peak resident size: backend %.0f MB, this process %.0f MB"
        % (peak_rss_mb(backend_pid), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))
    out("load average at end: %s" % loadavg())
    out("embed_bench.py wall time: %.0f s" % (time.perf_counter() - started))
    conn.close()


if __name__ == "__main__":
    main()
