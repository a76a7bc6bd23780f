#!/usr/bin/python3
"""Generate the PyTorch reference fixture of embedding tables.

Writes (relative to the repository root):

  test/fixtures/embed_reference.txt   training and scoring reference values
                                      of models with embedded categorical
                                      columns, for the C unit tests

Usage (from anywhere):

  /usr/bin/python3 test/torch/make_embed_fixture.py

Everything is computed in float32 on the CPU with one thread, so the output
is deterministic for a given PyTorch version (generated with PyTorch 1.13).
The format is that of torch_reference.txt (records "<name> <count>" and
their numbers, %.9g); the file's own header says what each record holds.

The columns and the layout (test/core/test_core.c builds the same transform
with TransformBuild and checks that it gives this layout):

  color   categorical, embedded in 3 dimensions, vocabulary red, green,
          blue, black (black is in no row: its table row is never used);
          inputs 0..2, table of 4 + 2 rows
  price   numeric, mean 10, std 4; input 3
  store   categorical, embedded in 4 dimensions, vocabulary s1..s5;
          inputs 4..7, table of 5 + 2 rows
  active  boolean; input 8
  qty     numeric, mean 3, std 2; input 9

An embedded column's first input holds its table's row (the vocabulary
index; vocabulary size for a value out of the vocabulary; vocabulary size
+ 1 for NULL), its other inputs 0.  The model standardises its inputs with
the mean and std the transform implies (0 and 1 for every input but price
and qty; the stds are powers of two, so standardising is exact on both
sides), then each of its two MLPs replaces an embedded column's inputs with
the row of its own table: per model an nn.Embedding per embedded column,
whose output takes the column's inputs, concatenated in input order with
the other inputs into nn.Sequential(Linear(10, 8), ReLU(), Linear(8, 1)).

The loss is make_train_fixture.py's: per batch
    L = alpha * sum(o*w*bce(O)) / sum(o*w) + (1-alpha) * sum(c*w*bce(C)) / sum(c*w)
with a term whose denominator is 0 equal to 0 with a zero gradient (one
step has no commercial rows).  Optimisers, one step per batch:
    dense   one torch.optim.Adam (or AdamW) over every parameter of both
            models, tables included (nn.Embedding(sparse=False)): every
            table row is stepped every step, with weight decay if any;
    lazy    nn.Embedding(sparse=True): torch.optim.SparseAdam over the
            tables (the rows a batch uses, no weight decay) and
            torch.optim.Adam (or AdamW) over the MLPs, same lr, betas, eps.
After writing the file the script checks what makes the fixture able to
fail: the batches use the out-of-vocabulary and NULL rows, repeat rows
within a batch and leave used rows out of later batches; dense and lazy
training end with different tables; lazy training leaves the unused row
exactly as it was, weight decay moves it in dense training.
"""

import copy
import math
import os
import sys

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True

from make_fixtures import DT, RefWriter, flat_params, make_mlp, make_optimizer, mixed_loss  # noqa: E402

ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
REF_PATH = os.path.join(ROOT, "test", "fixtures", "embed_reference.txt")

DATA_SEED = 31
MODEL_SEED = 32
BATCH_SEED = 33
N_ROWS = 40
HIDDEN = 8
ALPHA = 0.4
BATCH_SIZES = [8, 8, 8, 5, 8, 6]
NO_COMMERCIAL_STEP = 3      # this batch has only rows of the open domain

# (name, kind, first input, inputs, vocabulary size or 0, dim, mean, std)
COLUMNS = [
    ("color", "embed", 0, 3, 4, 3, 0.0, 1.0),
    ("price", "numeric", 3, 1, 0, 0, 10.0, 4.0),
    ("store", "embed", 4, 4, 5, 4, 0.0, 1.0),
    ("active", "boolean", 8, 1, 0, 0, 0.0, 1.0),
    ("qty", "numeric", 9, 1, 0, 0, 3.0, 2.0),
]
INPUT_DIM = 10
DIMS = [INPUT_DIM, HIDDEN, 1]
EMBEDDED = [c for c in COLUMNS if c[1] == "embed"]
UNUSED_COLOR = 3            # "black": no row has it

CASES = [
    dict(name="dense", adamw=False, lazy=False, lr=0.02, betas=(0.9, 0.999), eps=1e-8,
         weight_decay=0.0),
    dict(name="dense_decay", adamw=False, lazy=False, lr=0.02, betas=(0.9, 0.999), eps=1e-8,
         weight_decay=0.01),
    dict(name="dense_adamw", adamw=True, lazy=False, lr=0.02, betas=(0.85, 0.995), eps=1e-7,
         weight_decay=0.05),
    dict(name="lazy", adamw=False, lazy=True, lr=0.02, betas=(0.9, 0.999), eps=1e-8,
         weight_decay=0.0),
    dict(name="lazy_adamw", adamw=True, lazy=True, lr=0.02, betas=(0.85, 0.995), eps=1e-7,
         weight_decay=0.05),
]

# --------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------


def table_row(code, vocab):
    """A category code (index, -1 out of vocabulary, -2 NULL) -> table row."""
    if code == -1:
        return vocab
    if code == -2:
        return vocab + 1
    return code


def make_data():
    g = torch.Generator().manual_seed(DATA_SEED)
    # colors: red, green, blue, out of vocabulary, NULL; never black
    color = [[0, 1, 2, -1, -2][int(i)] for i in
             torch.multinomial(torch.tensor([0.35, 0.25, 0.2, 0.1, 0.1]), N_ROWS, True, generator=g)]
    store = [[0, 1, 2, 3, 4, -1, -2][int(i)] for i in
             torch.multinomial(torch.tensor([0.3, 0.2, 0.15, 0.1, 0.1, 0.1, 0.05]), N_ROWS, True,
                               generator=g)]
    price = (10.0 + 4.0 * torch.randn(N_ROWS, generator=g)).to(DT)
    qty = torch.randint(0, 8, (N_ROWS,), generator=g).to(DT)
    active = (torch.rand(N_ROWS, generator=g) < 0.5).to(DT)
    y = (torch.rand(N_ROWS, generator=g) < 0.5).to(DT)
    w = (0.5 + 1.5 * torch.rand(N_ROWS, generator=g)).to(DT)
    u = torch.rand(N_ROWS, generator=g)
    o = ((u < 0.4) | (u >= 0.8)).to(DT)     # open, or NULL domain
    c = (u >= 0.4).to(DT)                   # commercial, or NULL domain

    x = torch.zeros(N_ROWS, INPUT_DIM, dtype=DT)
    for r in range(N_ROWS):
        x[r, 0] = table_row(color[r], 4)
        x[r, 3] = price[r]
        x[r, 4] = table_row(store[r], 5)
        x[r, 8] = active[r]
        x[r, 9] = qty[r]
    return dict(color=color, store=store, price=price, qty=qty, active=active,
                x=x, y=y.reshape(-1, 1), w=w, o=o, c=c)


def standardization():
    mean = torch.zeros(INPUT_DIM, dtype=DT)
    std = torch.ones(INPUT_DIM, dtype=DT)
    for _, kind, pos, _, _, _, m, s in COLUMNS:
        if kind == "numeric":
            mean[pos] = m
            std[pos] = s
    return mean, std


def make_batches(data):
    g = torch.Generator().manual_seed(BATCH_SEED)
    open_only = [r for r in range(N_ROWS) if data["c"][r] == 0]
    batches = []
    for s, n in enumerate(BATCH_SIZES):
        if s == NO_COMMERCIAL_STEP:
            pick = torch.randperm(len(open_only), generator=g)[:n]
            batches.append([open_only[int(i)] for i in pick])
        else:
            batches.append([int(i) for i in torch.randperm(N_ROWS, generator=g)[:n]])
    return batches


# --------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------


class Side(nn.Module):
    """One of the two models: its embedding tables and its MLP."""

    def __init__(self, sparse):
        super().__init__()
        self.mlp = make_mlp(DIMS)
        self.tables = nn.ModuleList(
            [nn.Embedding(vocab + 2, dim, sparse=sparse) for _, _, _, _, vocab, dim, _, _ in EMBEDDED])

    def forward(self, x):
        pieces = []
        t = 0
        for _, kind, pos, width, _, _, _, _ in COLUMNS:
            if kind == "embed":
                pieces.append(self.tables[t](x[:, pos].long()))
                t += 1
            else:
                pieces.append(x[:, pos:pos + width])
        return self.mlp(torch.cat(pieces, dim=1))

    def flat(self):
        """The parameters in mixrec's layout: the MLP's, then each table."""
        return torch.cat([flat_params(self.mlp)] +
                         [t.weight.detach().reshape(-1) for t in self.tables])

    def mlp_parameters(self):
        return list(self.mlp.parameters())

    def table_parameters(self):
        return [t.weight for t in self.tables]


def initial_state():
    torch.manual_seed(MODEL_SEED)
    m_open = Side(False)
    m_comm = Side(False)
    return m_open.state_dict(), m_comm.state_dict()


def side(state, sparse):
    m = Side(sparse)
    m.load_state_dict(copy.deepcopy(state))
    return m


def soup(m_open, m_comm, alpha):
    a = torch.tensor(alpha, dtype=DT)
    one_minus_a = torch.tensor(1.0, dtype=DT) - a
    s = Side(False)
    so, sc = m_open.state_dict(), m_comm.state_dict()
    with torch.no_grad():
        s.load_state_dict({k: a * so[k] + one_minus_a * sc[k] for k in so})
    return s


# --------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------


def train(case, init, xs, data, batches):
    m_open = side(init[0], case["lazy"])
    m_comm = side(init[1], case["lazy"])
    if case["lazy"]:
        optimizers = [
            make_optimizer(case, m_open.mlp_parameters() + m_comm.mlp_parameters()),
            torch.optim.SparseAdam(m_open.table_parameters() + m_comm.table_parameters(),
                                   lr=case["lr"], betas=case["betas"], eps=case["eps"]),
        ]
    else:
        optimizers = [make_optimizer(case, list(m_open.parameters()) + list(m_comm.parameters()))]
    params = list(m_open.parameters()) + list(m_comm.parameters())
    tables = set(id(t) for t in m_open.table_parameters() + m_comm.table_parameters())
    losses = []
    after = []
    for rows in batches:
        for opt in optimizers:
            opt.zero_grad(set_to_none=True)
        idx = torch.tensor(rows)
        loss = mixed_loss(ALPHA, m_open(xs[idx]), m_comm(xs[idx]), data["y"][idx],
                          data["w"][idx], data["o"][idx], data["c"][idx])
        loss.backward()
        for p in params:
            if p.grad is None:
                raise AssertionError("a parameter has no gradient")
            if p.grad.is_sparse != (case["lazy"] and id(p) in tables):
                raise AssertionError("a gradient is %s" % ("sparse" if p.grad.is_sparse else "dense"))
        for opt in optimizers:
            opt.step()
        losses.append(float(loss.item()))
        after.append((m_open.flat().clone(), m_comm.flat().clone()))
    return losses, after


def table_slice(t):
    """Where table t of one model's flat parameters lies."""
    start = sum(p.numel() for p in make_mlp(DIMS).parameters())
    for _, _, _, _, vocab, dim, _, _ in EMBEDDED[:t]:
        start += (vocab + 2) * dim
    _, _, _, _, vocab, dim, _, _ = EMBEDDED[t]
    return start, (vocab + 2) * dim, dim


# --------------------------------------------------------------------------
# Checks that the fixture can fail
# --------------------------------------------------------------------------


def check_batches(data, batches):
    for t, (name, _, pos, _, vocab, _, _, _) in enumerate(EMBEDDED):
        used = [set(int(data["x"][r, pos]) for r in rows) for rows in batches]
        every = set().union(*used)
        if vocab not in every or vocab + 1 not in every:
            raise AssertionError("%s: the batches miss the out-of-vocabulary or NULL row" % name)
        if not any(len(rows) > len(u) for rows, u in zip(batches, used)):
            raise AssertionError("%s: no batch repeats a row" % name)
        if not any(r in used[s] and r not in used[s + 1]
                   for s in range(len(batches) - 1) for r in used[s]):
            raise AssertionError("%s: every row a batch uses is in the next batch" % name)
    if any(data["c"][r] != 0 for r in batches[NO_COMMERCIAL_STEP]):
        raise AssertionError("the no-commercial batch has commercial rows")
    if any(int(data["x"][r, 0]) == UNUSED_COLOR for r in range(N_ROWS)):
        raise AssertionError("a row uses the unused color")


def check_results(results, init_flat):
    start, _, dim = table_slice(0)
    unused = slice(start + UNUSED_COLOR * dim, start + (UNUSED_COLOR + 1) * dim)
    for dense, lazy in (("dense", "lazy"), ("dense_adamw", "lazy_adamw")):
        for k in range(2):
            a = results[dense][-1][k]
            b = results[lazy][-1][k]
            gap = float((a[start:] - b[start:]).abs().max())
            if gap < 1e-3:
                raise AssertionError("%s and %s end with tables %g apart" % (dense, lazy, gap))
    for name in results:
        for k in range(2):
            moved = not torch.equal(results[name][-1][k][unused], init_flat[k][unused])
            want = name in ("dense_decay", "dense_adamw")
            if moved != want:
                raise AssertionError("%s: the unused row %s" % (name, "moved" if moved else "stayed"))


# --------------------------------------------------------------------------

HEADER = """\
mixrec reference values of embedding tables, computed with PyTorch
(float32, CPU, 1 thread).
Regenerate with:  /usr/bin/python3 test/torch/make_embed_fixture.py
(its docstring describes the columns, the models, the loss and the
optimisers; the format is torch_reference.txt's).

layout.input_dim, layout.embed: the inputs, and per embedded column its
first input, dimensions and table rows.
data.*: N rows. data.color and data.store are category codes: the
vocabulary index, -1 for a text out of the vocabulary, -2 for NULL.
data.price, data.qty, data.active are the other columns' values; data.x
[N][input_dim] the encoded inputs before standardisation; data.y, data.w,
data.o, data.c the labels, weights and domain flags.
model.dims, model.alpha; init.open, init.commercial: each model's
parameters in mixrec's layout, the MLP's in state_dict order, then each
table [rows][dim] in column order.
score.*: the initial models' probabilities for the rows of data.x,
standardised first: blend = a*pO + (1-a)*pC, open, commercial, soup (one
model whose parameters, tables included, are a*thetaO + (1-a)*thetaC).
eval.loss: the initial models' blended loss over all rows.
<case>.*: the optimiser's settings (adamw 1 for AdamW, lazy 1 for
SparseAdam on the tables), then per step the rows of data in the batch,
the loss before the step and both models' parameters after it."""


def main():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)

    data = make_data()
    mean, std = standardization()
    xs = (data["x"] - mean) / std
    batches = make_batches(data)
    check_batches(data, batches)
    init = initial_state()
    m_open0 = side(init[0], False)
    m_comm0 = side(init[1], False)
    init_flat = (m_open0.flat().clone(), m_comm0.flat().clone())

    out = RefWriter()
    out.comment(HEADER)
    out.comment("")
    out.comment("---- layout and data ----")
    out.record("layout.input_dim", INPUT_DIM)
    out.record("layout.embed", [v for _, _, pos, _, vocab, dim, _, _ in EMBEDDED
                                for v in (pos, dim, vocab + 2)])
    out.record("data.n", N_ROWS)
    out.record("data.color", data["color"])
    out.record("data.price", data["price"])
    out.record("data.store", data["store"])
    out.record("data.active", data["active"])
    out.record("data.qty", data["qty"])
    out.record("data.x", data["x"])
    out.record("data.y", data["y"])
    out.record("data.w", data["w"])
    out.record("data.o", data["o"])
    out.record("data.c", data["c"])
    out.record("model.dims", DIMS)
    out.record("model.alpha", ALPHA)
    out.record("init.open", init_flat[0])
    out.record("init.commercial", init_flat[1])

    with torch.no_grad():
        a = torch.tensor(ALPHA, dtype=DT)
        one_minus_a = torch.tensor(1.0, dtype=DT) - a
        p_o = torch.sigmoid(m_open0(xs))
        p_c = torch.sigmoid(m_comm0(xs))
        out.record("score.blend", a * p_o + one_minus_a * p_c)
        out.record("score.open", p_o)
        out.record("score.commercial", p_c)
        out.record("score.soup", torch.sigmoid(soup(m_open0, m_comm0, ALPHA)(xs)))
        out.record("eval.loss", float(mixed_loss(ALPHA, m_open0(xs), m_comm0(xs), data["y"],
                                                 data["w"], data["o"], data["c"]).item()))

    results = {}
    for case in CASES:
        name = case["name"]
        losses, after = train(case, init, xs, data, batches)
        results[name] = after
        out.comment("")
        out.comment("---- %s ----" % name)
        out.record(name + ".lr", case["lr"])
        out.record(name + ".beta1", case["betas"][0])
        out.record(name + ".beta2", case["betas"][1])
        out.record(name + ".eps", case["eps"])
        out.record(name + ".weight_decay", case["weight_decay"])
        out.record(name + ".adamw", 1 if case["adamw"] else 0)
        out.record(name + ".lazy", 1 if case["lazy"] else 0)
        out.record(name + ".steps", len(batches))
        for s, rows in enumerate(batches):
            prefix = "%s.step%d." % (name, s)
            out.record(prefix + "rows", rows)
            out.record(prefix + "loss", losses[s])
            out.record(prefix + "after.open", after[s][0])
            out.record(prefix + "after.commercial", after[s][1])
        if not all(math.isfinite(v) for v in losses):
            raise AssertionError("%s: a loss is not finite" % name)
    check_results(results, init_flat)

    os.makedirs(os.path.dirname(REF_PATH), exist_ok=True)
    with open(REF_PATH, "w") as f:
        f.write(out.text())
    print("wrote %s (%d bytes)" % (REF_PATH, os.path.getsize(REF_PATH)))
    for dense, lazy in (("dense", "lazy"), ("dense_adamw", "lazy_adamw")):
        start = table_slice(0)[0]
        gap = max(float((results[dense][-1][k][start:] - results[lazy][-1][k][start:]).abs().max())
                  for k in range(2))
        print("%s and %s: tables end up to %.4g apart" % (dense, lazy, gap))
    return 0


if __name__ == "__main__":
    sys.exit(main())
