"""The PyTorch side of the interchange checks: a mixrec model's MLPs as
nn.Sequential modules, built from the interchange JSON that mixrec_export
writes (check_interchange.py, check_transform.py), and a model with
embedded columns as an nn.Embedding per column before its nn.Sequential
(EmbeddedSide).

Import it after checking that torch is installed.
"""

import json

import torch
import torch.nn as nn

DT = torch.float32


def make_mlp(dims):
    """Linear/ReLU/.../Linear as nn.Sequential (state_dict keys "0.weight",
    "0.bias", "2.weight", ...)."""
    layers = []
    for i in range(len(dims) - 1):
        if i > 0:
            layers.append(nn.ReLU())
        layers.append(nn.Linear(dims[i], dims[i + 1]))
    return nn.Sequential(*layers).to(DT)


def model_dims(m):
    """The layer sizes of an exported model: input, hidden..., output."""
    return [int(m["input_dim"])] + [int(h) for h in m["hidden"]] + [int(m["output_dim"])]


def load_side(dims, params):
    """Build an nn.Sequential and load the interchange parameters into it
    (strict: every key must be present and have the right shape)."""
    mlp = make_mlp(dims)
    state = {k: torch.as_tensor(v, dtype=DT) for k, v in params.items()}
    mlp.load_state_dict(state, strict=True)
    return mlp


def soup_mlp(dims, m_open, m_comm, alpha):
    """One MLP of parameters alpha * open + (1 - alpha) * commercial."""
    a = torch.tensor(alpha, dtype=DT)
    b = torch.tensor(1.0, dtype=DT) - a
    so, sc = m_open.state_dict(), m_comm.state_dict()
    s = make_mlp(dims)
    with torch.no_grad():
        s.load_state_dict({k: a * so[k] + b * sc[k] for k in so})
    return s


def embedded_columns(m):
    """The embedded columns of an exported model's transform, in input
    order (those with an "embed" key)."""
    transform = m.get("transform") or {}
    return [c for c in transform.get("columns", []) if "embed" in c]


class EmbeddedSide(nn.Module):
    """One model ("open" or "commercial") of an export with embedded
    columns: an nn.Embedding per embedded column, whose output takes the
    column's place among the (standardised) inputs, then the nn.Sequential.

    A column's first input holds the row to look up: its vocabulary index,
    len(vocabulary) out of vocabulary, len(vocabulary) + 1 for NULL; any
    other value (negative, fractional, too large, NaN) looks up the
    out-of-vocabulary row, as mixrec does."""

    def __init__(self, m, params):
        super().__init__()
        self.columns = embedded_columns(m)
        tables = {c["name"] + ".weight" for c in self.columns}
        self.embeddings = nn.ModuleList()
        for c in self.columns:
            table = torch.as_tensor(params[c["name"] + ".weight"], dtype=DT)
            rows, dim = len(c["vocabulary"]) + 2, int(c["embed"])
            emb = nn.Embedding(rows, dim).to(DT)
            emb.load_state_dict({"weight": table}, strict=True)
            self.embeddings.append(emb)
        self.mlp = load_side(model_dims(m), {k: v for k, v in params.items() if k not in tables})

    def forward(self, x):
        parts, at = [], 0
        for c, emb in zip(self.columns, self.embeddings):
            position, oov = int(c["position"]), len(c["vocabulary"])
            idx = x[:, position]
            ok = (idx >= 0) & (idx < oov + 2) & (idx == torch.floor(idx))
            rows = torch.where(ok, idx, torch.full_like(idx, float(oov))).long()
            parts += [x[:, at:position], emb(rows)]
            at = position + int(c["width"])
        return self.mlp(torch.cat(parts + [x[:, at:]], dim=1))

    def params(self):
        """The interchange keys of this side: the nn.Sequential's
        state_dict, and "<column>.weight" for each table."""
        out = dict(self.mlp.state_dict())
        for c, emb in zip(self.columns, self.embeddings):
            out[c["name"] + ".weight"] = emb.weight.detach()
        return out


def soup_embedded(m, s_open, s_comm, alpha):
    """One EmbeddedSide of parameters alpha * open + (1 - alpha) *
    commercial, tables included."""
    a = torch.tensor(alpha, dtype=DT)
    b = torch.tensor(1.0, dtype=DT) - a
    po, pc = s_open.params(), s_comm.params()
    with torch.no_grad():
        return EmbeddedSide(m, {k: a * po[k] + b * pc[k] for k in po})


def as_json(v):
    """A json or jsonb value as psycopg2 returns it, parsed."""
    if isinstance(v, (bytes, bytearray, memoryview)):
        v = bytes(v).decode("utf-8")
    if isinstance(v, str):
        return json.loads(v)
    return v
