#!/usr/bin/python3
"""Training benchmark: mixrec_train inside PostgreSQL against PyTorch.

Run by bench/train.sh, which starts a throwaway cluster with the installed
mixrec and connects this script to it through libpq's environment (PGHOST,
PGPORT, PGUSER, PGDATABASE). Both sides use ONE thread: this process sets
OPENBLAS_NUM_THREADS, OMP_NUM_THREADS and MKL_NUM_THREADS to 1 before it
imports torch, and the backend runs with mixrec.threads = 1 (the default).

(a) In-memory training throughput (samples/s of one epoch) for three
    (d_in, hidden, batch) shapes: mixrec's rows_per_second per epoch from
    mixrec_training_info(), against a plain PyTorch loop over the same rows
    already in float32 tensors. Best of epochs 2..3 and the median of 1..3.
(b) End to end, 1,000,000 rows x 64 features, 5 epochs: the wall time of one
    mixrec_train() call, against exporting the rows with binary COPY, parsing
    them with numpy, training in PyTorch and writing the model back with
    mixrec_import().

(c) Threads: the largest shape of (a) again with mixrec.threads = 2, its
    speed-up over one thread.
(d) Limits, measured in the same run in the backend (bench/floor): each
    epoch's GEMMs (forward, weight and input gradients, both models, the
    exact shapes of the calls) at the SGEMM rates of those shapes, and the
    fraction of that the epoch reaches (bench/README.md, "The limit meter").

It prints every number it uses and every ratio; it does not judge them.

Usage:  /usr/bin/python3 bench/train_bench.py [--scale S]
"""

import os

# One thread in this process, set before torch (and its BLAS) is loaded
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import ctypes  # noqa: E402
import gc  # noqa: E402
import hashlib  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import struct  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import psycopg2  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from machine import (ENV_VARS, Load, Meter, Spread, blas_libraries,  # noqa: E402
                     gemm_flops, limit_table, loadavg, out, print_backend_blas,
                     print_machine, section, thread_count, train_gemms)

torch.set_num_threads(1)
torch.set_num_interop_threads(1)

# (d_in, hidden, batch, rows) of benchmark (a); rows chosen so that an epoch
# takes a second or more on either side on the development machine
SHAPES = (
    (64, 64, 256, 1_000_000),
    (128, 256, 1024, 300_000),
    (256, 512, 4096, 120_000),
)
A_EPOCHS = 3

# Benchmark (b)
E2E_ROWS = 1_000_000
E2E_DIM = 64
E2E_HIDDEN = 64
E2E_BATCH = 256
E2E_EPOCHS = 5

ALPHA = 0.5
LR = 1e-3
TORCH_SEED = 42

def fmt_rate(x):
    return "%12.0f" % x


# ---------------------------------------------------------------------------
# Environment and kernels

def openblas_info():
    lib = ctypes.CDLL("libopenblas.so.0")
    lib.openblas_get_config.restype = ctypes.c_char_p
    lib.openblas_get_corename.restype = ctypes.c_char_p
    info = {
        "config": lib.openblas_get_config().decode(),
        "corename": lib.openblas_get_corename().decode(),
    }
    try:
        lib.openblas_get_num_threads.restype = ctypes.c_int
        info["threads"] = lib.openblas_get_num_threads()
    except AttributeError:
        info["threads"] = "?"
    return info


def torch_config_lines():
    keep = []
    for line in torch.__config__.show().splitlines():
        s = line.strip().lstrip("- ")
        if s.startswith("Build settings"):
            for tok in s.split(":", 1)[1].split(","):
                tok = tok.strip()
                if tok.startswith(("BLAS_INFO", "LAPACK_INFO", "USE_MKLDNN", "USE_OPENMP",
                                   "PERF_WITH_AVX")):
                    keep.append(tok)
        elif any(k in s for k in ("CPU capability", "MKL-DNN", "OpenMP", "LAPACK", "MKL")):
            keep.append(s)
    return keep


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
    for line in torch_config_lines():
        out("torch config         : %s" % line)
    out("mkldnn available     : %s" % torch.backends.mkldnn.is_available())
    # Make sure the BLAS is loaded and initialised before asking it
    torch.mm(torch.ones(8, 8), torch.ones(8, 8))
    ob = openblas_info()
    out("openblas_get_config  : %s" % ob["config"])
    out("openblas_get_corename: %s" % ob["corename"])
    out("openblas threads     : %s" % ob["threads"])
    for path in blas_libraries():
        out("mapped library       : %s -> %s" % (path, os.path.realpath(path)))

    out()
    out("-- PostgreSQL backend (mixrec side)")
    cur.execute("SELECT version()")
    out("server               : %s" % cur.fetchone()[0])
    cur.execute("SELECT extversion FROM pg_extension WHERE extname = 'mixrec'")
    out("mixrec extension     : %s" % cur.fetchone()[0])
    cur.execute("SELECT setting FROM pg_config WHERE name = 'PKGLIBDIR'")
    so = os.path.join(cur.fetchone()[0], "mixrec.so")
    try:
        st = os.stat(so)
        with open(so, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()[:16]
        out("installed build      : %s, %d bytes, modified %s, sha256 %s..." % (
            so, st.st_size, time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(st.st_mtime)),
            digest))
    except OSError as e:
        out("installed build      : %s (%s)" % (so, e.strerror))
    # Load the library in this backend, then read its settings
    cur.execute("SELECT mixrec_info(mixrec_init(2, '{2}'))")
    cur.execute("SHOW mixrec.threads")
    out("mixrec.threads       : %s" % cur.fetchone()[0])
    cur.execute("SHOW mixrec.train_memory")
    out("mixrec.train_memory  : %s" % cur.fetchone()[0])
    cur.execute("SELECT pg_backend_pid()")
    pid = cur.fetchone()[0]
    out("backend pid          : %d" % pid)
    print_backend_blas(pid)
    out("(the backend calls the same OpenBLAS; with the same OPENBLAS_CORETYPE it picks the")
    out(" same core as reported above for this process)")
    return pid


# ---------------------------------------------------------------------------
# Data

def make_table(cur, name, rows, dim, seed):
    """An unlogged table of `rows` random feature vectors in [-1, 1) and a label
    that is a fixed function of a few of them; returns seconds taken."""
    t0 = time.perf_counter()
    cur.execute("DROP TABLE IF EXISTS %s" % name)
    cur.execute("CREATE UNLOGGED TABLE %s (id int, features real[] NOT NULL, "
                "label boolean NOT NULL)" % name)
    cur.execute("SELECT setseed(%s)", (seed,))
    cur.execute(
        "INSERT INTO " + name + " "
        "SELECT g, f, f[1] - f[2] + 0.5 * (f[3] - f[4]) + f[5] * f[6] + 0.25 * f[7] > 0 "
        "FROM (SELECT g, ARRAY(SELECT (random() * 2 - 1)::real "
        "                      FROM generate_series(1, %s) WHERE g > 0) AS f "
        "      FROM generate_series(1, %s) AS g) s",
        (dim, rows))
    # Set hint bits and freeze now, so that neither side pays for it later
    cur.execute("VACUUM (FREEZE, ANALYZE) %s" % name)
    seconds = time.perf_counter() - t0
    cur.execute("SELECT pg_size_pretty(pg_table_size(%s)), avg(label::int) FROM " + name,
                (name,))
    size, positive = cur.fetchone()
    out("  %-28s %9d rows x %3d features: %6.1f s, %s, %.1f%% positive labels"
        % (name, rows, dim, seconds, size, 100 * float(positive)))
    return seconds


PGCOPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
FLOAT4OID = 700


def parse_binary_copy(buf):
    """Parse `COPY (SELECT features, label ...) TO STDOUT (FORMAT binary)`
    with numpy: every row has the same layout (field count, then the real[]
    with its 20-byte array header and a length word before every element,
    then the boolean), so the rows are one structured array, checked field
    by field, and the features are one strided big-endian view."""
    mv = memoryview(buf)
    if bytes(mv[:11]) != PGCOPY_SIGNATURE:
        raise ValueError("not a binary COPY stream")
    flags, ext = struct.unpack_from(">iI", mv, 11)
    pos = 19 + ext
    if len(mv) - pos == 2:
        raise ValueError("no rows")
    # The first row gives the number of features
    nfields, alen, ndim, _, _, dim = struct.unpack_from(">hiiiIi", mv, pos)
    if nfields != 2 or ndim != 1:
        raise ValueError("unexpected first row: %d fields, %d array dimensions" % (nfields, ndim))
    elem = np.dtype([("len", ">i4"), ("val", ">f4")])
    row = np.dtype([
        ("nfields", ">i2"), ("alen", ">i4"), ("ndim", ">i4"), ("hasnull", ">i4"),
        ("elemtype", ">u4"), ("dim", ">i4"), ("lbound", ">i4"),
        ("elems", elem, (dim,)),
        ("blen", ">i4"), ("label", "u1"),
    ])
    assert row.itemsize == 31 + 8 * dim
    body = len(mv) - pos - 2
    if body % row.itemsize or struct.unpack_from(">h", mv, len(mv) - 2)[0] != -1:
        raise ValueError("rows of different layouts (arrays of different lengths or NULLs?)")
    n = body // row.itemsize
    rows = np.frombuffer(mv, dtype=row, count=n, offset=pos)
    ok = ((rows["nfields"] == 2).all() and (rows["alen"] == 20 + 8 * dim).all()
          and (rows["ndim"] == 1).all() and (rows["hasnull"] == 0).all()
          and (rows["elemtype"] == FLOAT4OID).all() and (rows["dim"] == dim).all()
          and (rows["elems"]["len"] == 4).all() and (rows["blen"] == 1).all())
    if not ok:
        raise ValueError("a row does not have the layout of the first")
    x = rows["elems"]["val"].astype(np.float32)      # (n, dim), native, contiguous
    y = rows["label"].astype(np.float32).reshape(n, 1)
    return x, y


def fetch(cur, table):
    """Rows of a table as float32 numpy arrays, with binary COPY; returns
    (x, y, copy seconds, parse seconds, bytes). psycopg2 writes every row's
    COPY message to the file object; io.BytesIO takes them in C."""
    sink = io.BytesIO()
    t0 = time.perf_counter()
    cur.copy_expert("COPY (SELECT features, label FROM %s) TO STDOUT WITH (FORMAT binary)"
                    % table, sink)
    data = sink.getbuffer()
    t1 = time.perf_counter()
    x, y = parse_binary_copy(data)
    t2 = time.perf_counter()
    size = len(data)
    data.release()
    sink.close()
    return x, y, t1 - t0, t2 - t1, size


# ---------------------------------------------------------------------------
# The two sides

def mixrec_train(cur, backend_pid, model, table, hidden, batch, epochs):
    """Train with mixrec; returns (wall seconds, metrics, per-epoch rows, Load)."""
    cur.execute("DELETE FROM mixrec_models WHERE name = %s", (model,))
    with Load("self", backend_pid) as load:
        t0 = time.perf_counter()
        cur.execute(
            "SELECT * FROM mixrec_train(%s, %s, 'features', 'label', alpha => %s, "
            "hidden => %s::int[], batch_size => %s, epochs => %s, learning_rate => %s, "
            "validation_fraction => 0, standardize => false, shuffle => true)",
            (model, table, ALPHA, [hidden], batch, epochs, LR))
        cur.fetchall()
        wall = time.perf_counter() - t0
    cur.execute("SELECT epoch, rows_per_second, train_loss, elapsed_ms "
                "FROM mixrec_training_info(%s) ORDER BY epoch", (model,))
    per_epoch = cur.fetchall()
    cur.execute("SELECT metrics FROM mixrec_models WHERE name = %s AND active", (model,))
    metrics = cur.fetchone()[0]
    del cur.connection.notices[:]
    return wall, metrics, per_epoch, load


def mlp(d_in, hidden):
    return nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(), nn.Linear(hidden, 1))


def torch_train(x, y, d_in, hidden, batch, epochs):
    """A plain PyTorch loop; returns (open, commercial, [(epoch, s, samples/s, loss)])."""
    torch.manual_seed(TORCH_SEED)
    open_model = mlp(d_in, hidden)
    commercial_model = mlp(d_in, hidden)
    opt = torch.optim.Adam(list(open_model.parameters()) + list(commercial_model.parameters()),
                           lr=LR)
    n = x.shape[0]
    results = []
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        perm = torch.randperm(n)
        total = 0.0
        for first in range(0, n, batch):
            idx = perm[first:first + batch]
            xb = x.index_select(0, idx)
            yb = y.index_select(0, idx)
            opt.zero_grad()
            loss = (ALPHA * F.binary_cross_entropy_with_logits(open_model(xb), yb)
                    + (1 - ALPHA) * F.binary_cross_entropy_with_logits(commercial_model(xb), yb))
            loss.backward()
            opt.step()
            total += loss.item() * idx.shape[0]
        seconds = time.perf_counter() - t0
        results.append((epoch, seconds, n / seconds, total / n))
    return open_model, commercial_model, results


def best_and_median(rates):
    """Best of epochs 2.. (epoch 1 has warm-up effects) and the median of all."""
    later = rates[1:] if len(rates) > 1 else rates
    return max(later), statistics.median(rates)


# ---------------------------------------------------------------------------
# (a)

def report_mixrec(metrics, per_epoch, wall, load):
    """Print mixrec's epochs and check its speeds against its own clock and
    the wall time; returns the seconds of its training loop."""
    n_train = metrics["train_rows"]
    loop_s = sum(n_train / r[1] for r in per_epoch)
    out("mixrec : mixrec_train wall %.2f s = training loop %.2f s (sum of train_rows / "
        "rows_per_second) + rest %.2f s (reading %d rows, setup, storing); registry "
        "elapsed_ms %.0f" % (wall, loop_s, wall - loop_s, metrics["rows"], metrics["elapsed_ms"]))
    prev_ms = None
    for epoch, rate, loss, elapsed_ms in per_epoch:
        epoch_s = n_train / rate
        note = ""
        if prev_ms is not None:
            delta = elapsed_ms - prev_ms
            note = ", elapsed_ms delta %.0f ms" % delta
            if abs(delta - 1000 * epoch_s) > 0.1 * delta + 5:
                note += " (NOTE: does not match rows_per_second)"
        out("  mixrec  epoch %d: %s samples/s  %7.3f s  loss %.4f%s"
            % (epoch, fmt_rate(rate), epoch_s, loss, note))
        prev_ms = elapsed_ms
    if loop_s > wall or metrics["elapsed_ms"] > 1000 * wall:
        out("  NOTE: mixrec's own times exceed the wall time measured by the client")
    out("  %s" % load.describe())
    return loop_s


def report_torch(t_res, load):
    for epoch, seconds, rate, loss in t_res:
        out("  PyTorch epoch %d: %s samples/s  %7.3f s  loss %.4f"
            % (epoch, fmt_rate(rate), seconds, loss))
    out("  %s" % load.describe())


def bench_a(cur, scale, backend_pid):
    section("(a) In-memory training throughput, %d epochs, alpha %.1f, Adam lr %g, "
            "one thread each" % (A_EPOCHS, ALPHA, LR))
    out("samples/s of one epoch; 'best' is the best of epochs 2..%d, 'median' the median of "
        "epochs 1..%d" % (A_EPOCHS, A_EPOCHS))
    out("mixrec : rows_per_second from mixrec_training_info() (training loop only, not reading)")
    out("PyTorch: the same rows in float32 tensors (fetched beforehand, not timed), a plain loop")
    out()
    out("data generation (not counted):")
    tables = []
    for d_in, hidden, batch, rows in SHAPES:
        n = max(int(rows * scale), batch)
        shape = "%dx%dx%d" % (d_in, hidden, batch)
        table = "bench_data_%s" % shape
        make_table(cur, table, n, d_in, 0.1 + 0.1 * len(tables))
        tables.append((d_in, hidden, batch, n, shape, table))

    results = []
    for d_in, hidden, batch, n, shape, table in tables:
        out()
        out("-- shape (d_in %d, hidden %d, batch %d), %d rows, %d batches per epoch"
            % (d_in, hidden, batch, n, -(-n // batch)))
        wall, metrics, per_epoch, m_load = mixrec_train(cur, backend_pid, "bench_" + shape,
                                                        table, hidden, batch, A_EPOCHS)
        report_mixrec(metrics, per_epoch, wall, m_load)
        out("  backend threads after training: %s" % thread_count(backend_pid))

        x, y, copy_s, parse_s, size = fetch(cur, table)
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)
        out("PyTorch: rows fetched in %.2f s (COPY %.2f s, %.0f MB; parse %.2f s), not counted"
            % (copy_s + parse_s, copy_s, size / 1e6, parse_s))
        gc.collect()
        with Load("self", backend_pid) as t_load:
            _, _, t_res = torch_train(xt, yt, d_in, hidden, batch, A_EPOCHS)
        report_torch(t_res, t_load)
        out("  this process's threads after training: %s" % thread_count())
        del x, y, xt, yt
        gc.collect()

        m_best, m_median = best_and_median([r[1] for r in per_epoch])
        t_best, t_median = best_and_median([r[2] for r in t_res])
        out("result : mixrec %s samples/s (median %s), PyTorch %s samples/s (median %s)"
            % (fmt_rate(m_best).strip(), fmt_rate(m_median).strip(),
               fmt_rate(t_best).strip(), fmt_rate(t_median).strip()))
        out("         ratio mixrec/PyTorch: best %.2f, median %.2f"
            % (m_best / t_best, m_median / t_median))
        results.append(dict(label="(a) %s samples/s" % shape, rows=n,
                            mixrec="%.0f" % m_best, torch="%.0f" % t_best,
                            ratio=m_best / t_best, median=m_median / t_median,
                            others=(m_load.others, t_load.others),
                            shape=(d_in, hidden, batch), table=table,
                            train_rows=metrics["train_rows"],
                            m_epoch_s=Spread.of([metrics["train_rows"] / r[1]
                                                 for r in per_epoch]),
                            t_epoch_s=Spread.of([r[1] for r in t_res])))
    return results


# ---------------------------------------------------------------------------
# (c) threads, (d) limits

def bench_c(cur, backend_pid, a_rows):
    """The largest shape of (a) with mixrec.threads = 2; returns the epoch
    seconds (Spread) and the row of (a) it compares with."""
    one = a_rows[-1]
    d_in, hidden, batch = one["shape"]
    section("(c) Threads: (d_in %d, hidden %d, batch %d), mixrec.threads = 2 against 1 "
            "(%d CPUs)" % (d_in, hidden, batch, os.cpu_count() or 1))
    cur.execute("SET mixrec.threads = 2")
    try:
        wall, metrics, per_epoch, load = mixrec_train(cur, backend_pid, "bench_threads",
                                                      one["table"], hidden, batch, A_EPOCHS)
        report_mixrec(metrics, per_epoch, wall, load)
        out("  backend threads after training: %s" % thread_count(backend_pid))
    finally:
        cur.execute("SET mixrec.threads = 1")
    two = Spread.of([metrics["train_rows"] / r[1] for r in per_epoch])
    out("result : epoch %s s with 2 threads, %s s with 1 (the runs of (a)); speed-up of the "
        "medians %.2f (aim: at least 1.7)" % (two.fmt("%.3f"), one["m_epoch_s"].fmt("%.3f"),
                                              one["m_epoch_s"].median / two.median))
    return two, one


def bench_d(meter, a_rows, threads):
    """Every epoch of (a) and (c) against the time its GEMMs take at the
    SGEMM rates of their shapes; returns [(label, fraction of SGEMM)]."""
    section("(d) Training against the machine: each epoch's GEMMs at SGEMM rates measured "
            "in this run")
    table, fractions = [], []
    for r in a_rows:
        d_in, hidden, batch = r["shape"]
        gemms = train_gemms(d_in, [hidden], batch, r["train_rows"])
        limit = meter.gemm_seconds(gemms)
        flops = gemm_flops(gemms)
        what = ("%.1f GFLOP at SGEMM of the exact calls, %.1f GFLOP/s overall"
                % (flops / 1e9, flops / limit.median / 1e9))
        label = "(%d, {%d}), batch %d" % (d_in, hidden, batch)
        table.append(("mixrec  " + label, r["m_epoch_s"], limit, "s", what))
        table.append(("PyTorch " + label, r["t_epoch_s"], limit, "s", "the same"))
        fractions.append(("mixrec  " + label, flops, r["m_epoch_s"], limit))
        fractions.append(("PyTorch " + label, flops, r["t_epoch_s"], limit))
    two, one = threads
    d_in, hidden, batch = one["shape"]
    gemms = train_gemms(d_in, [hidden], batch, one["train_rows"])
    meter.cur.execute("SET mixrec.threads = 2")
    try:
        limit2 = meter.gemm_seconds(gemms)
    finally:
        meter.cur.execute("SET mixrec.threads = 1")
    label = "mixrec  (%d, {%d}), batch %d, 2 threads" % (d_in, hidden, batch)
    table.append((label, two, limit2, "s", "the same GEMMs at SGEMM with 2 threads, "
                  "%.1f GFLOP/s overall" % (gemm_flops(gemms) / limit2.median / 1e9)))
    fractions.append((label, gemm_flops(gemms), two, limit2))
    meter.fma_peak()          # printed with the rates, for reference: no limit here uses it
    meter.print_rates()
    limit_table("each epoch (median [range] of %d epochs) against its limit" % A_EPOCHS,
                [(path, r.scaled(1e3), lim.scaled(1e3), "ms", what)
                 for path, r, lim, unit, what in table])
    out()
    out("-- the fraction of SGEMM peak a training step reaches: executed GEMM FLOPs / epoch "
        "time / SGEMM rate")
    out("   (SGEMM rate = the epoch's GEMM FLOPs over the limit's time, i.e. each call at the "
        "rate of its shape)")
    for label, flops, epoch, limit in fractions:
        out("   %-44s %6.1f GFLOP/s of %6.1f: %.2f"
            % (label, flops / epoch.median / 1e9, flops / limit.median / 1e9,
               limit.median / epoch.median))
    out("   (an epoch also does the rest of the step, bias, ReLU, loss, Adam and shuffling, "
        "which the limit leaves out: 1.00 is out of reach)")
    return [(label, limit.median / epoch.median) for label, _, epoch, limit in fractions]


# ---------------------------------------------------------------------------
# (b)

def interchange_json(open_model, commercial_model, d_in, hidden):
    def sd(model):
        return {k: v.tolist() for k, v in model.state_dict().items()}
    return json.dumps({
        "format": "mixrec", "version": 1, "alpha": ALPHA,
        "input_dim": d_in, "hidden": [hidden], "output_dim": 1, "standardize": None,
        "open": sd(open_model), "commercial": sd(commercial_model),
    })


def bench_b(cur, scale, backend_pid):
    n = max(int(E2E_ROWS * scale), E2E_BATCH)
    table = "bench_e2e"
    section("(b) End to end: %d rows x %d features, %d epochs, hidden {%d}, batch %d"
            % (n, E2E_DIM, E2E_EPOCHS, E2E_HIDDEN, E2E_BATCH))
    out("mixrec : the wall time of one mixrec_train() call (it reads the table itself)")
    out("Python : binary COPY export + numpy parse + tensors, PyTorch training, "
        "write-back with mixrec_import()")
    out()
    out("data generation (not counted):")
    make_table(cur, table, n, E2E_DIM, 0.5)

    # mixrec: one call that reads the table, trains and stores the model
    out()
    wall, metrics, per_epoch, m_load = mixrec_train(cur, backend_pid, "bench_mixrec", table,
                                                    E2E_HIDDEN, E2E_BATCH, E2E_EPOCHS)
    loop_s = report_mixrec(metrics, per_epoch, wall, m_load)

    # Python: export, train, write back
    out()
    cur.execute("DELETE FROM mixrec_models WHERE name = 'bench_py'")
    gc.collect()
    with Load("self", backend_pid) as p_load:
        t0 = time.perf_counter()
        x, y, copy_s, parse_s, size = fetch(cur, table)
        t1 = time.perf_counter()
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)
        t2 = time.perf_counter()
        open_model, commercial_model, t_res = torch_train(xt, yt, E2E_DIM, E2E_HIDDEN,
                                                          E2E_BATCH, E2E_EPOCHS)
        t3 = time.perf_counter()
        doc = interchange_json(open_model, commercial_model, E2E_DIM, E2E_HIDDEN)
        cur.execute("INSERT INTO mixrec_models(name, version, weights, active) "
                    "VALUES ('bench_py', 1, mixrec_import(%s::jsonb), true)", (doc,))
        t4 = time.perf_counter()
    export_s, train_s, write_s = t2 - t0, t3 - t2, t4 - t3
    py_total = t4 - t0
    out("Python : total %.2f s" % py_total)
    out("         export %.2f s (binary COPY %.2f s, %.0f MB; numpy parse %.2f s; "
        "tensors %.3f s)" % (export_s, copy_s, size / 1e6, parse_s, t2 - t1))
    out("         training %.2f s" % train_s)
    out("         write-back %.3f s (interchange JSON %d kB, mixrec_import, INSERT)"
        % (write_s, len(doc) // 1024))
    report_torch(t_res, p_load)

    # Not timed: the model written back scores in SQL as in PyTorch
    cur.execute("SELECT features FROM %s ORDER BY id LIMIT 5" % table)
    feats = [r[0] for r in cur.fetchall()]
    diffs = []
    with torch.no_grad():
        for f in feats:
            cur.execute("SELECT mixrec_score(weights, %s::real[]) FROM mixrec_models "
                        "WHERE name = 'bench_py' AND active", (f,))
            sql = cur.fetchone()[0]
            xf = torch.tensor([f], dtype=torch.float32)
            ref = (ALPHA * torch.sigmoid(open_model(xf))
                   + (1 - ALPHA) * torch.sigmoid(commercial_model(xf))).item()
            diffs.append(abs(sql - ref))
    out("check  : the written-back model scores 5 rows in SQL as in PyTorch, "
        "max |difference| %.2e (not timed)" % max(diffs))
    # And the other way: mixrec's model, exported, scores in PyTorch as in SQL
    cur.execute("SELECT mixrec_export(weights) FROM mixrec_models "
                "WHERE name = 'bench_mixrec' AND active")
    exported = cur.fetchone()[0]
    models = []
    for side in ("open", "commercial"):
        m = mlp(E2E_DIM, E2E_HIDDEN)
        m.load_state_dict({k: torch.tensor(v, dtype=torch.float32)
                           for k, v in exported[side].items()})
        models.append(m)
    diffs2 = []
    with torch.no_grad():
        for f in feats:
            cur.execute("SELECT mixrec_score(weights, %s::real[]) FROM mixrec_models "
                        "WHERE name = 'bench_mixrec' AND active", (f,))
            sql = cur.fetchone()[0]
            xf = torch.tensor([f], dtype=torch.float32)
            a = exported["alpha"]
            ref = (a * torch.sigmoid(models[0](xf))
                   + (1 - a) * torch.sigmoid(models[1](xf))).item()
            diffs2.append(abs(sql - ref))
    out("check  : mixrec's model, exported to PyTorch, scores 5 rows there as in SQL, "
        "max |difference| %.2e (not timed)" % max(diffs2))
    out("check  : within float32 rounding (1e-6): %s" % (max(diffs + diffs2) <= 1e-6))

    out()
    out("result : mixrec %.2f s, Python %.2f s, python_time / mixrec_time = %.2f"
        % (wall, py_total, py_total / wall))
    del x, y, xt, yt
    gc.collect()
    return dict(label="(b) end to end, time", rows=n, mixrec="%.2f s" % wall,
                torch="%.2f s" % py_total, ratio=py_total / wall, median=None,
                others=(m_load.others, p_load.others),
                parts=(export_s, train_s, write_s, loop_s, wall - loop_s),
                wall=wall, py_total=py_total, table=table,
                train_rows=metrics["train_rows"])


def bench_b_limit(cur, meter, b):
    """(b) against the machine: the read floor of its table (the per-row
    floor query, median of 3 after one untimed run) plus the GEMMs of its
    epochs at SGEMM rates."""
    section("(b) End to end against the machine's limit")
    sql = "SELECT sum(mixrec_floor_sum(features)) FROM %s" % b["table"]
    cur.execute(sql)
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        cur.execute(sql)
        cur.fetchall()
        times.append(time.perf_counter() - t0)
    floor = Spread.of(times)
    out("read floor: %s, %s s" % (sql, floor.fmt("%.3f")))
    gemms = [(shape, calls * E2E_EPOCHS)
             for shape, calls in train_gemms(E2E_DIM, [E2E_HIDDEN], E2E_BATCH, b["train_rows"])]
    limit = floor + meter.gemm_seconds(gemms)
    out("(SGEMM rates as measured for (d); any new shape measured now)")
    one = lambda v: Spread(v, v, v)  # noqa: E731  (a single run: no range)
    limit_table("one run each against the limit (read floor + %d epochs' GEMMs, %.1f GFLOP, at "
                "SGEMM rates)" % (E2E_EPOCHS, gemm_flops(gemms) / 1e9),
                [("mixrec_train, wall", one(b["wall"]), limit, "s", "read floor + GEMMs"),
                 ("Python: export, PyTorch, write back", one(b["py_total"]), limit, "s",
                  "the same")], "%.2f")
    return b["wall"] / limit.median


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

    out("mixrec training benchmark, %s" % time.strftime("%Y-%m-%d %H:%M:%S %Z"))
    if args.scale != 1.0:
        out("NOTE: --scale %g: row counts differ from the standard benchmark" % args.scale)
    out("load average at start: %s" % loadavg())
    backend_pid = print_environment(cur)
    rows = bench_a(cur, args.scale, backend_pid)
    threads = bench_c(cur, backend_pid, rows)
    meter = Meter(cur)
    fractions = bench_d(meter, rows, threads)
    a_rows = list(rows)
    rows.append(bench_b(cur, args.scale, backend_pid))
    b_ratio = bench_b_limit(cur, meter, rows[-1])

    section("Summary (one thread on each side; ratio > 1 means mixrec is faster)")
    out("%-28s %9s %12s %12s %7s %7s %11s" % (
        "benchmark", "rows", "mixrec", "PyTorch", "ratio", "median", "others m/p"))
    for r in rows:
        out("%-28s %9d %12s %12s %7.2f %7s %5.2f/%4.2f" % (
            r["label"], r["rows"], r["mixrec"], r["torch"], r["ratio"],
            "" if r["median"] is None else "%.2f" % r["median"], r["others"][0], r["others"][1]))
    export_s, train_s, write_s, loop_s, rest_s = rows[-1]["parts"]
    out()
    out("ratio : (a) mixrec samples/s / PyTorch samples/s, best of epochs 2..%d; median: the "
        "same of the medians" % A_EPOCHS)
    out("        (b) python_time / mixrec_time")
    out("(b)   : Python export %.2f s + training %.2f s + write-back %.3f s; "
        "mixrec training loop %.2f s + rest %.2f s" % (export_s, train_s, write_s, loop_s, rest_s))
    out("others m/p: CPUs kept busy by other processes on the machine while mixrec / PyTorch "
        "was measured")
    out()
    out("(c) threads, (d_in %d, hidden %d, batch %d): epoch median %.3f s with 1 thread, "
        "%.3f s with 2: speed-up %.2f (aim: at least 1.7)"
        % (a_rows[-1]["shape"] + (threads[1]["m_epoch_s"].median, threads[0].median,
                                  threads[1]["m_epoch_s"].median / threads[0].median)))
    out("(d) fraction of SGEMM peak an epoch reaches (GEMM FLOPs / epoch time / SGEMM rate at "
        "the exact shapes):")
    for label, fraction in fractions:
        out("    %-44s %.2f" % (label, fraction))
    out("(b) mixrec_train wall / (read floor + GEMMs of its epochs at SGEMM rates): %.2f" % b_ratio)
    out("load average at end: %s" % loadavg())
    out("train_bench.py wall time: %.0f s" % (time.perf_counter() - started))
    conn.close()


if __name__ == "__main__":
    main()
