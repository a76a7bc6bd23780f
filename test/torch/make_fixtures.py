#!/usr/bin/python3
"""Generate the PyTorch reference fixtures used by the mixrec tests.

Writes (relative to the repository root):

  test/fixtures/torch_reference.txt   training/scoring/standardisation
                                      reference values for the C unit tests
  test/fixtures/score_cases.jsonl     interchange-format models with
                                      expected scores, for the SQL tests

Usage (from anywhere):

  /usr/bin/python3 test/torch/make_fixtures.py

Everything is computed in float32 on the CPU with one thread, so the output
is deterministic for a given PyTorch version (generated with PyTorch 1.13).
"""

import copy
import json
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

from shortest_f32 import interchange

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
REF_PATH = os.path.join(ROOT, "test", "fixtures", "torch_reference.txt")
JSONL_PATH = os.path.join(ROOT, "test", "fixtures", "score_cases.jsonl")

DT = torch.float32
NUMS_PER_LINE = 8
SCORE_ROWS = 7          # rows scored per training case
JSONL_SCORE_ROWS = 6    # rows scored per score_cases.jsonl line
ALPHA2 = 0.25           # second alpha used for the blend score check

# --------------------------------------------------------------------------
# Model helpers
# --------------------------------------------------------------------------


def make_mlp(dims):
    """Linear/ReLU stack; always an nn.Sequential so state_dict keys are
    "0.weight", "0.bias", "2.weight", ... (no hidden layer: "0.*" only)."""
    layers = []
    for i in range(len(dims) - 1):
        if i > 0:
            layers.append(nn.ReLU())
        layers.append(nn.Linear(dims[i], dims[i + 1]))
    return nn.Sequential(*layers).to(DT)


def flat_params(model):
    """weight [out][in] row-major then bias [out], layer by layer."""
    return torch.cat([v.detach().reshape(-1) for v in model.state_dict().values()])


def flat_grads(model):
    out = []
    for p in model.parameters():
        g = p.grad if p.grad is not None else torch.zeros_like(p)
        out.append(g.detach().reshape(-1))
    return torch.cat(out)


def soup_model(dims, m_open, m_comm, alpha):
    """One MLP whose parameters are a*theta_O + (1-a)*theta_C, with
    a = float32(alpha) and (1 - a) evaluated in float32."""
    a = torch.tensor(alpha, dtype=DT)
    one_minus_a = torch.tensor(1.0, dtype=DT) - a
    s = make_mlp(dims)
    so, sc = m_open.state_dict(), m_comm.state_dict()
    with torch.no_grad():
        s.load_state_dict({k: a * so[k] + one_minus_a * sc[k] for k in so})
    return s


def standardise(x, mean, std):
    return (x - mean) / std


def scores(dims, m_open, m_comm, alpha, x, mean=None, std=None):
    """Return dict of blend/open/commercial/soup probabilities, each [n, d_out]."""
    with torch.no_grad():
        if mean is not None:
            x = standardise(x, mean, std)
        a = torch.tensor(alpha, dtype=DT)
        one_minus_a = torch.tensor(1.0, dtype=DT) - a
        p_o = torch.sigmoid(m_open(x))
        p_c = torch.sigmoid(m_comm(x))
        p_s = torch.sigmoid(soup_model(dims, m_open, m_comm, alpha)(x))
        return {
            "blend": a * p_o + one_minus_a * p_c,
            "open": p_o,
            "commercial": p_c,
            "soup": p_s,
        }


def blend_only(m_open, m_comm, alpha, x):
    with torch.no_grad():
        a = torch.tensor(alpha, dtype=DT)
        one_minus_a = torch.tensor(1.0, dtype=DT) - a
        return a * torch.sigmoid(m_open(x)) + one_minus_a * torch.sigmoid(m_comm(x))


def mixed_loss(alpha, logits_o, logits_c, y, w, o, c):
    """alpha * weighted-mean BCE of O over rows with o=1
       + (1-alpha) * weighted-mean BCE of C over rows with c=1.
    A term whose weight sum is 0 is 0 (multiplied by zero so the autograd
    graph, and hence a zero gradient, still exists)."""
    def term(logits, flag):
        bce = F.binary_cross_entropy_with_logits(logits, y, reduction="none").mean(dim=1)
        num = (flag * w * bce).sum()
        den = (flag * w).sum()
        if den.item() > 0:
            return num / den
        return num * 0.0
    return alpha * term(logits_o, o) + (1.0 - alpha) * term(logits_c, c)


# --------------------------------------------------------------------------
# Output helpers
# --------------------------------------------------------------------------


def fmt_num(v):
    if isinstance(v, bool):
        return str(int(v))
    if isinstance(v, int):
        return str(v)
    v = float(v)
    if not math.isfinite(v):
        raise ValueError("non-finite value in fixture")
    return "%.9g" % v


class RefWriter:
    def __init__(self):
        self.lines = []
        self.names = set()

    def comment(self, text=""):
        for line in text.split("\n"):
            self.lines.append(("# " + line).rstrip())

    def record(self, name, values):
        if name in self.names:
            raise ValueError("duplicate record " + name)
        self.names.add(name)
        if isinstance(values, torch.Tensor):
            values = values.detach().to(DT).reshape(-1).tolist()
        elif not isinstance(values, (list, tuple)):
            values = [values]
        values = list(values)
        self.lines.append("%s %d" % (name, len(values)))
        for i in range(0, len(values), NUMS_PER_LINE):
            self.lines.append(" ".join(fmt_num(v) for v in values[i:i + NUMS_PER_LINE]))

    def text(self):
        return "\n".join(self.lines) + "\n"


def f32(v):
    """Float rounded to float32, as the Python float of its shortest %.9g
    representation (so the JSON text round-trips to the same float32)."""
    return float("%.9g" % torch.tensor(float(v), dtype=DT).item())


def f32_list(t):
    """Tensor -> (nested) list of float32-exact Python floats."""
    t = t.detach().to(DT)
    if t.dim() == 0:
        return f32(t.item())
    if t.dim() == 1:
        return [float("%.9g" % v) for v in t.tolist()]
    return [f32_list(r) for r in t]


# --------------------------------------------------------------------------
# Random data
# --------------------------------------------------------------------------


def random_flags(n):
    """o, c in {0,1}, every row has at least one set, and (for n >= 2) each
    of o and c is set on at least one row."""
    while True:
        o = (torch.rand(n) < 0.7).to(DT)
        c = (torch.rand(n) < 0.7).to(DT)
        neither = (o + c) == 0
        pick = torch.rand(n) < 0.5
        o[neither & pick] = 1.0
        c[neither & ~pick] = 1.0
        if n < 2 or (o.sum() > 0 and c.sum() > 0):
            return o, c


# --------------------------------------------------------------------------
# Training cases
# --------------------------------------------------------------------------

CASES = [
    dict(name="case1", seed=1, dims=[5, 7, 4, 1], alpha=0.3, adamw=False,
         lr=0.01, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
         batch=6, steps=4, labels="binary", weights="random", flags="random",
         no_commercial_steps=[2]),
    dict(name="case2", seed=2, dims=[4, 8, 3], alpha=0.7, adamw=False,
         lr=0.02, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01,
         batch=5, steps=3, labels="fractional", weights="random", flags="random",
         no_commercial_steps=[]),
    dict(name="case3", seed=3, dims=[6, 5, 1], alpha=0.5, adamw=True,
         lr=0.005, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1,
         batch=8, steps=5, labels="binary", weights="ones", flags="all",
         no_commercial_steps=[]),
    dict(name="case4", seed=4, dims=[3, 1], alpha=0.0, adamw=False,
         lr=0.05, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
         batch=4, steps=3, labels="binary", weights="random", flags="random",
         no_commercial_steps=[]),
]


def make_optimizer(case, params):
    cls = torch.optim.AdamW if case["adamw"] else torch.optim.Adam
    kw = dict(lr=case["lr"], betas=case["betas"], eps=case["eps"],
              weight_decay=case["weight_decay"])
    try:
        return cls(params, foreach=False, **kw)
    except TypeError:
        return cls(params, **kw)


def run_case(case, out):
    name = case["name"]
    dims = case["dims"]
    d_in, d_out = dims[0], dims[-1]
    n = case["batch"]

    torch.manual_seed(case["seed"])
    m_open = make_mlp(dims)
    m_comm = make_mlp(dims)
    init_open = copy.deepcopy(m_open)
    init_comm = copy.deepcopy(m_comm)

    out.comment("")
    out.comment("---- %s ----" % name)
    out.record(name + ".dims", [int(d) for d in dims])
    out.record(name + ".alpha", case["alpha"])
    out.record(name + ".lr", case["lr"])
    out.record(name + ".beta1", case["betas"][0])
    out.record(name + ".beta2", case["betas"][1])
    out.record(name + ".eps", case["eps"])
    out.record(name + ".weight_decay", case["weight_decay"])
    out.record(name + ".adamw", 1 if case["adamw"] else 0)
    out.record(name + ".batch", int(n))
    out.record(name + ".steps", int(case["steps"]))
    out.record(name + ".init.open", flat_params(m_open))
    out.record(name + ".init.commercial", flat_params(m_comm))

    opt = make_optimizer(case, list(m_open.parameters()) + list(m_comm.parameters()))

    for s in range(case["steps"]):
        x = torch.randn(n, d_in, dtype=DT)
        if case["labels"] == "binary":
            y = (torch.rand(n, d_out) < 0.5).to(DT)
        else:
            y = torch.rand(n, d_out, dtype=DT)
        if case["weights"] == "ones":
            w = torch.ones(n, dtype=DT)
        else:
            w = 0.5 + 1.5 * torch.rand(n, dtype=DT)
        if case["flags"] == "all":
            o = torch.ones(n, dtype=DT)
            c = torch.ones(n, dtype=DT)
        else:
            o, c = random_flags(n)
        if s in case["no_commercial_steps"]:
            # commercial term's denominator is 0 in this batch; rows that had
            # only c set are left with no flag at all (they contribute nothing)
            c = torch.zeros(n, dtype=DT)
            if o.sum() == 0:
                o[0] = 1.0

        prefix = "%s.step%d." % (name, s)
        out.record(prefix + "x", x)
        out.record(prefix + "y", y)
        out.record(prefix + "w", w)
        out.record(prefix + "o", o)
        out.record(prefix + "c", c)

        opt.zero_grad()
        logits_o = m_open(x)
        logits_c = m_comm(x)
        loss = mixed_loss(case["alpha"], logits_o, logits_c, y, w, o, c)
        loss.backward()
        for p in list(m_open.parameters()) + list(m_comm.parameters()):
            if p.grad is None:
                p.grad = torch.zeros_like(p)

        out.record(prefix + "logits.open", logits_o)
        out.record(prefix + "logits.commercial", logits_c)
        out.record(prefix + "loss", float(loss.item()))
        out.record(prefix + "grad.open", flat_grads(m_open))
        out.record(prefix + "grad.commercial", flat_grads(m_comm))

        opt.step()
        opt.zero_grad()

        out.record(prefix + "after.open", flat_params(m_open))
        out.record(prefix + "after.commercial", flat_params(m_comm))

    # scores with the initial parameters
    xs = torch.randn(SCORE_ROWS, d_in, dtype=DT)
    sc = scores(dims, init_open, init_comm, case["alpha"], xs)
    out.record(name + ".score.x", xs)
    for mode in ("blend", "open", "commercial", "soup"):
        out.record(name + ".score." + mode, sc[mode])
    out.record(name + ".score.alpha2", ALPHA2)
    out.record(name + ".score.blend_alpha2", blend_only(init_open, init_comm, ALPHA2, xs))


def std_fit(x):
    """Per-feature mean and population std (ddof=0) in float64, cast to
    float32; std 0 -> 1."""
    xd = x.to(torch.float64)
    mean = xd.mean(dim=0)
    std = ((xd - mean) ** 2).mean(dim=0).sqrt()
    std = torch.where(std == 0, torch.ones_like(std), std)
    return mean.to(DT), std.to(DT)


def run_std(out):
    torch.manual_seed(100)
    n, d = 10, 4
    col0 = 100.0 + 20.0 * torch.randn(n, dtype=torch.float64)
    col1 = 0.01 * torch.randn(n, dtype=torch.float64)
    col2 = torch.full((n,), 3.5, dtype=torch.float64)
    col3 = torch.randint(0, 6, (n,)).to(torch.float64)
    x = torch.stack([col0, col1, col2, col3], dim=1).to(DT)
    mean, std = std_fit(x)
    out.comment("")
    out.comment("---- standardisation fit ----")
    out.record("std.n", n)
    out.record("std.d", d)
    out.record("std.x", x)
    out.record("std.mean", mean)
    out.record("std.std", std)


# --------------------------------------------------------------------------
# score_cases.jsonl
# --------------------------------------------------------------------------


def score_line(name, dims, alpha, m_open, m_comm, x, mean=None, std=None):
    sc = scores(dims, m_open, m_comm, alpha, x, mean, std)
    xin = x if mean is None else standardise(x, mean, std)
    b2 = blend_only(m_open, m_comm, ALPHA2, xin)
    obj = {
        "case": name,
        "model": interchange(dims, alpha, m_open, m_comm, mean, std, floats=f32_list),
        "x": f32_list(x),
        "blend": f32_list(sc["blend"].reshape(-1)),
        "open": f32_list(sc["open"].reshape(-1)),
        "commercial": f32_list(sc["commercial"].reshape(-1)),
        "soup": f32_list(sc["soup"].reshape(-1)),
        "alpha2": ALPHA2,
        "blend_alpha2": f32_list(b2.reshape(-1)),
    }
    line = json.dumps(obj, separators=(",", ":"), allow_nan=False)
    if "\\" in line:
        raise ValueError("backslash in JSON line")
    return line


def make_score_cases():
    lines = []

    # s1: same initial parameters as case1
    dims = [5, 7, 4, 1]
    torch.manual_seed(1)
    m_o, m_c = make_mlp(dims), make_mlp(dims)
    torch.manual_seed(11)
    x = torch.randn(JSONL_SCORE_ROWS, dims[0], dtype=DT)
    lines.append(score_line("s1", dims, 0.3, m_o, m_c, x))

    # s2: with standardisation; x is raw
    dims = [6, 5, 1]
    torch.manual_seed(12)
    m_o, m_c = make_mlp(dims), make_mlp(dims)
    mean = (torch.randn(dims[0]) * 5.0).to(DT)
    std = (0.2 + 3.8 * torch.rand(dims[0])).to(DT)
    x = (mean + std * torch.randn(JSONL_SCORE_ROWS, dims[0])).to(DT)
    lines.append(score_line("s2", dims, 0.5, m_o, m_c, x, mean, std))

    # s3: no hidden layer
    dims = [3, 1]
    torch.manual_seed(13)
    m_o, m_c = make_mlp(dims), make_mlp(dims)
    x = torch.randn(JSONL_SCORE_ROWS, dims[0], dtype=DT)
    lines.append(score_line("s3", dims, 0.8, m_o, m_c, x))

    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------

HEADER = """\
mixrec reference values computed with PyTorch (float32, CPU, 1 thread).
Regenerate with:  /usr/bin/python3 test/torch/make_fixtures.py

Format: lines starting with '#' are comments. Every record is
    <name> <count>
followed by <count> whitespace-separated numbers, possibly spread over
several lines. Floats are printed with %.9g (round-trip exact for float32).

Models: MLP dims [d_in, h1, ..., d_out], Linear/ReLU/.../Linear, logits out.
Flat parameter order: per Linear layer, weight [out][in] row-major, then
bias [out]. Matrices (x, y, logits, scores) are row-major [row][column].

Training cases <c>: two models, open (O) and commercial (C), initialised
independently (O first) after torch.manual_seed(seed). Per step the loss is
  L = alpha * sum(o*w*bce(O)) / sum(o*w) + (1-alpha) * sum(c*w*bce(C)) / sum(c*w)
with bce the mean over outputs of BCE-with-logits; a term whose denominator
is 0 is 0 with zero gradient. One Adam/AdamW over O's then C's parameters;
every parameter is stepped every step (zero gradient included):
  Adam : g += weight_decay * p
  AdamW: p *= 1 - lr * weight_decay
  m = beta1*m + (1-beta1)*g ;  v = beta2*v + (1-beta2)*g*g
  p -= lr/(1-beta1^t) * m / (sqrt(v)/sqrt(1-beta2^t) + eps)
<c>.stepN.{logits,loss,grad} are before the step, <c>.stepN.after after it.
<c>.score.* use the INITIAL parameters: blend = a*pO + (1-a)*pC,
soup = sigmoid(S(x)) with S's parameters a*thetaO + (1-a)*thetaC (float32).

std.*: per-feature mean and population std (ddof=0) of std.x, computed in
float64 and rounded to float32; a zero std is replaced by 1."""


def main():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)

    out = RefWriter()
    out.comment(HEADER)
    for case in CASES:
        run_case(case, out)
    run_std(out)

    os.makedirs(os.path.dirname(REF_PATH), exist_ok=True)
    with open(REF_PATH, "w") as f:
        f.write(out.text())
    with open(JSONL_PATH, "w") as f:
        f.write(make_score_cases())
    print("wrote %s (%d bytes)" % (REF_PATH, os.path.getsize(REF_PATH)))
    print("wrote %s (%d bytes)" % (JSONL_PATH, os.path.getsize(JSONL_PATH)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
