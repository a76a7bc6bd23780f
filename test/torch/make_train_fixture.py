#!/usr/bin/python3
"""Generate the PyTorch reference fixture for mixrec_train.

Writes (relative to the repository root):

  test/fixtures/train_data.csv      200 training rows, for COPY ... CSV HEADER
  test/fixtures/train_cases.jsonl   one line per training case: the settings,
                                    the initial and the final model (mixrec's
                                    interchange JSON), the loss of every
                                    epoch and the number of optimiser steps

Usage (from anywhere):

  /usr/bin/python3 test/torch/make_train_fixture.py

Everything is computed in float32 on the CPU with one thread, so the output
is deterministic for a given PyTorch version (generated with PyTorch 1.13).
After writing the files, the script reads them back the way PostgreSQL does
and replays both cases from the "initial" models; it fails unless the replay
gives the "final" models bit for bit.

train_data.csv: header "id,features,label,weight,domain".
  id        1..200, the training order (ORDER BY id)
  features  6 float32 values as an array literal, each printed as the
            shortest decimal that reads back as the same float32
  label     0 or 1, Bernoulli(sigmoid(a fixed linear function of the
            features plus noise))
  weight    uniform in [0.5, 2.0], exactly 3 decimals; used as float32
  domain    open, commercial, or empty (SQL NULL), about 40/40/20

Training (what mixrec_train does with shuffle => false,
validation_fraction => 0, standardize => false):
  - two MLPs [6, 8, 1] (Linear, ReLU, Linear) with PyTorch's default
    initialisation, open then commercial, after torch.manual_seed(seed);
  - mini-batches of batch_size consecutive rows in id order, the last
    partial batch included; every epoch goes over the rows in the same order;
  - per batch
      L = alpha * sum(o*w*bce(O)) / sum(o*w)
          + (1-alpha) * sum(c*w*bce(C)) / sum(c*w)
    with o = 1 for domain open or NULL, c = 1 for domain commercial or NULL,
    w the weight, bce the mean over outputs of BCE-with-logits; a term whose
    denominator is 0 is 0 (zero gradient). alpha multiplies in float32 and
    1 - alpha is computed in double, then rounded to float32;
  - one Adam/AdamW (foreach=False) over open's then commercial's
    parameters, one step per batch; every parameter is stepped every batch;
  - epoch_losses[e] = sum over the batches of epoch e of
    (batch loss * batch rows) / total rows, accumulated in double and
    rounded to float32.
Numbers in the JSON are the shortest decimals that read back as the same
float32 values.
"""

import csv
import ctypes
import io
import json
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True

from make_fixtures import DT, make_mlp, make_optimizer, mixed_loss  # noqa: E402
from shortest_f32 import f32_json, f32_list, f32_text, interchange  # noqa: E402

ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
CSV_PATH = os.path.join(ROOT, "test", "fixtures", "train_data.csv")
JSONL_PATH = os.path.join(ROOT, "test", "fixtures", "train_cases.jsonl")

DATA_SEED = 2024
N_ROWS = 200
DIMS = [6, 8, 1]

CASES = [
    dict(name="adam", seed=7, alpha=0.4, adamw=False,
         lr=0.01, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
         batch_size=32, epochs=3),
    dict(name="adamw", seed=8, alpha=0.6, adamw=True,
         lr=0.005, betas=(0.85, 0.995), eps=1e-7, weight_decay=0.05,
         batch_size=50, epochs=2),
]


# --------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------


def make_data():
    """Return the rows as dicts with the CSV text and the float32 tensors."""
    g = torch.Generator().manual_seed(DATA_SEED)
    x = torch.randn(N_ROWS, DIMS[0], generator=g, dtype=DT)
    beta = torch.randn(DIMS[0], generator=g, dtype=torch.float64) * 1.5
    bias = 0.3
    noise = torch.randn(N_ROWS, generator=g, dtype=torch.float64) * 0.5
    p = torch.sigmoid(x.to(torch.float64) @ beta + bias + noise)
    label = (torch.rand(N_ROWS, generator=g, dtype=torch.float64) < p).to(torch.int64)
    weight_milli = torch.randint(500, 2001, (N_ROWS,), generator=g)
    u = torch.rand(N_ROWS, generator=g, dtype=torch.float64)

    rows = []
    for i in range(N_ROWS):
        k = int(weight_milli[i])
        domain = "open" if u[i] < 0.4 else ("commercial" if u[i] < 0.8 else None)
        rows.append(dict(
            id=i + 1,
            features=[f32_text(v) for v in x[i].numpy()],
            label=int(label[i]),
            weight="%d.%03d" % (k // 1000, k % 1000),
            domain=domain,
        ))
    return rows


def csv_text(rows):
    lines = ["id,features,label,weight,domain"]
    for r in rows:
        lines.append('%d,"{%s}",%d,%s,%s' % (
            r["id"], ",".join(r["features"]), r["label"], r["weight"],
            "" if r["domain"] is None else r["domain"]))
    text = "\n".join(lines) + "\n"
    if "\\" in text:
        raise ValueError("backslash in CSV")
    return text


def tensors(rows, to_f32):
    """Rows (text fields) -> x, y, w, o, c float32 tensors; to_f32 turns a
    decimal string into a float32-exact Python float."""
    x = torch.tensor([[to_f32(s) for s in r["features"]] for r in rows], dtype=DT)
    y = torch.tensor([[float(r["label"])] for r in rows], dtype=DT)
    w = torch.tensor([to_f32(r["weight"]) for r in rows], dtype=DT)
    o = torch.tensor([1.0 if r["domain"] in (None, "open") else 0.0 for r in rows], dtype=DT)
    c = torch.tensor([1.0 if r["domain"] in (None, "commercial") else 0.0 for r in rows], dtype=DT)
    return x, y, w, o, c


def dec_to_f32(s):
    """Decimal text -> double (correctly rounded) -> float32."""
    return float(np.float32(float(s)))


# --------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------


def train(case, m_open, m_comm, data):
    x, y, w, o, c = data
    n = x.shape[0]
    bs = case["batch_size"]
    params = list(m_open.parameters()) + list(m_comm.parameters())
    opt = make_optimizer(case, params)
    epoch_losses = []
    steps = 0
    for _ in range(case["epochs"]):
        total = 0.0
        for start in range(0, n, bs):
            end = min(start + bs, n)
            opt.zero_grad()
            loss = mixed_loss(case["alpha"], m_open(x[start:end]), m_comm(x[start:end]),
                              y[start:end], w[start:end], o[start:end], c[start:end])
            loss.backward()
            for p in params:
                if p.grad is None:
                    p.grad = torch.zeros_like(p)
            opt.step()
            steps += 1
            total += float(loss.item()) * (end - start)
        epoch_losses.append(f32_json(total / n))
    opt.zero_grad()
    return epoch_losses, steps


def case_line(case, data):
    torch.manual_seed(case["seed"])
    m_open = make_mlp(DIMS)
    m_comm = make_mlp(DIMS)
    initial = interchange(DIMS, case["alpha"], m_open, m_comm)
    epoch_losses, steps = train(case, m_open, m_comm, data)
    obj = {
        "case": case["name"],
        "config": {
            "alpha": case["alpha"],
            "lr": case["lr"],
            "beta1": case["betas"][0],
            "beta2": case["betas"][1],
            "eps": case["eps"],
            "weight_decay": case["weight_decay"],
            "optimizer": "adamw" if case["adamw"] else "adam",
            "batch_size": case["batch_size"],
            "epochs": case["epochs"],
        },
        "initial": initial,
        "final": interchange(DIMS, case["alpha"], m_open, m_comm),
        "epoch_losses": epoch_losses,
        "steps": steps,
    }
    line = json.dumps(obj, separators=(",", ":"), allow_nan=False)
    if "\\" in line or "\n" in line:
        raise ValueError("backslash or newline in JSON line")
    return line


# --------------------------------------------------------------------------
# Verification: read the files back as PostgreSQL would and replay
# --------------------------------------------------------------------------


def verify():
    libc = ctypes.CDLL(None)
    libc.strtof.restype = ctypes.c_float
    libc.strtof.argtypes = [ctypes.c_char_p, ctypes.c_void_p]

    def strtof(s):
        return float(libc.strtof(s.encode(), None))

    with open(CSV_PATH, newline="") as f:
        text = f.read()
    if "\\" in text:
        raise AssertionError("backslash in CSV")
    rows = []
    reader = csv.reader(io.StringIO(text))
    if next(reader) != ["id", "features", "label", "weight", "domain"]:
        raise AssertionError("bad CSV header")
    for rec in reader:
        arr = rec[1]
        if not (arr.startswith("{") and arr.endswith("}")):
            raise AssertionError("bad array literal " + arr)
        rows.append(dict(id=int(rec[0]), features=arr[1:-1].split(","),
                         label=int(rec[2]), weight=rec[3],
                         domain=rec[4] if rec[4] != "" else None))
    if [r["id"] for r in rows] != list(range(1, N_ROWS + 1)):
        raise AssertionError("ids are not 1..%d in order" % N_ROWS)
    # an empty unquoted field is NULL for COPY CSV; quoted empties must not occur
    for line in text.splitlines()[1:]:
        if line.endswith('""'):
            raise AssertionError("quoted empty domain")

    # real columns (strtof) and float8 columns cast to float32 agree
    data = tensors(rows, dec_to_f32)
    data_strtof = tensors(rows, strtof)
    for a, b in zip(data, data_strtof):
        if not torch.equal(a, b):
            raise AssertionError("strtof and double->float32 disagree")

    def load(m_json, f32):
        def mlp(d):
            m = make_mlp(DIMS)
            m.load_state_dict({k: torch.tensor(v, dtype=DT) for k, v in d.items()})
            for k, v in m.state_dict().items():
                if f32_list(v) != d[k] or not torch.equal(v, torch.tensor(
                        json.loads(json.dumps(d[k]), parse_float=f32), dtype=DT)):
                    raise AssertionError("parameter %s does not round-trip" % k)
            return m
        return mlp(m_json["open"]), mlp(m_json["commercial"])

    results = []
    with open(JSONL_PATH) as f:
        lines = f.read().split("\n")
    if lines[-1] != "" or "\\" in "".join(lines):
        raise AssertionError("bad JSONL layout")
    for line, case in zip(lines[:-1], CASES):
        obj = json.loads(line)
        if obj["case"] != case["name"]:
            raise AssertionError("case order")
        cfg = obj["config"]
        replay_case = dict(
            name=obj["case"], alpha=cfg["alpha"], adamw=cfg["optimizer"] == "adamw",
            lr=cfg["lr"], betas=(cfg["beta1"], cfg["beta2"]), eps=cfg["eps"],
            weight_decay=cfg["weight_decay"], batch_size=cfg["batch_size"],
            epochs=cfg["epochs"])
        m_open, m_comm = load(obj["initial"], strtof)
        init_flat = torch.cat([p.detach().reshape(-1).clone()
                               for p in list(m_open.parameters()) + list(m_comm.parameters())])
        epoch_losses, steps = train(replay_case, m_open, m_comm, data)
        final = interchange(DIMS, cfg["alpha"], m_open, m_comm)
        if final != obj["final"]:
            raise AssertionError("%s: replay does not reproduce final" % obj["case"])
        if epoch_losses != obj["epoch_losses"] or steps != obj["steps"]:
            raise AssertionError("%s: replay losses/steps differ" % obj["case"])
        f_open, f_comm = load(obj["final"], strtof)
        fin_flat = torch.cat([p.detach().reshape(-1)
                              for p in list(f_open.parameters()) + list(f_comm.parameters())])
        results.append((obj["case"], epoch_losses, steps,
                        float((fin_flat - init_flat).abs().max())))
    if len(results) != len(CASES):
        raise AssertionError("missing cases")
    return rows, results


# --------------------------------------------------------------------------


def main():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)

    rows = make_data()
    text = csv_text(rows)
    data = tensors(rows, dec_to_f32)
    lines = [case_line(case, data) for case in CASES]

    os.makedirs(os.path.dirname(CSV_PATH), exist_ok=True)
    with open(CSV_PATH, "w", newline="") as f:
        f.write(text)
    with open(JSONL_PATH, "w") as f:
        f.write("\n".join(lines) + "\n")

    rows, results = verify()
    n_open = sum(r["domain"] == "open" for r in rows)
    n_comm = sum(r["domain"] == "commercial" for r in rows)
    n_null = sum(r["domain"] is None for r in rows)
    n_pos = sum(r["label"] for r in rows)
    print("wrote %s (%d bytes): %d rows, %d positive, domain open/commercial/NULL %d/%d/%d"
          % (CSV_PATH, os.path.getsize(CSV_PATH), len(rows), n_pos, n_open, n_comm, n_null))
    print("wrote %s (%d bytes)" % (JSONL_PATH, os.path.getsize(JSONL_PATH)))
    for name, losses, steps, max_change in results:
        print("%s: steps %d, epoch losses %s, max |final - initial| %.6g"
              % (name, steps, losses, max_change))
    print("replay from the files reproduces every final model exactly")
    return 0


if __name__ == "__main__":
    sys.exit(main())
