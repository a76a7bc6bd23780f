"""The PyTorch side of the interchange checks: a mixrec model's MLPs as
nn.Sequential modules, built from the interchange JSON that mixrec_export
writes (check_interchange.py, check_transform.py).

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
    state = {k: torch.tensor(v, dtype=DT) for k, v in params.items()}
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


def as_json(v):
    """A json or jsonb value as psycopg2 returns it, parsed."""
    if isinstance(v, (bytes, bytearray, memoryview)):
        v = bytes(v).decode("utf-8")
    if isinstance(v, str):
        return json.loads(v)
    return v
