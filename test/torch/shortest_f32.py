"""Float32 numbers and mixrec interchange documents as the SQL fixtures
write them: every number as the shortest decimal that reads back as the same
float32, so the fixture text stays small and exact.

Shared by the scripts in this folder.  (make_fixtures.py and
check_interchange.py spell numbers with %.9g instead, and pass their own
f32_list to interchange(): score_cases.jsonl was written that way.)
"""

import numpy as np

def f32_text(v):
    """Shortest decimal that reads back as the same float32, no exponent."""
    return np.format_float_positional(np.float32(v), unique=True, trim="-")


def f32_json(v):
    """A Python float whose repr is the shortest decimal of float32(v)."""
    return float(np.format_float_scientific(np.float32(v), unique=True, trim="-"))


def f32_list(t):
    """A float32 tensor as (nested) lists of f32_json numbers."""
    t = t.detach().float()
    if t.dim() == 1:
        return [f32_json(v) for v in t.numpy()]
    return [f32_list(r) for r in t]


def interchange(dims, alpha, m_open, m_comm, mean=None, std=None, floats=f32_list):
    """The mixrec_import document of two torch MLPs and, if given, the
    standardisation vectors; floats spells a tensor as lists of numbers."""
    def params(m):
        return {k: floats(v) for k, v in m.state_dict().items()}
    return {
        "format": "mixrec",
        "version": 1,
        "alpha": alpha,
        "input_dim": dims[0],
        "hidden": list(dims[1:-1]),
        "output_dim": dims[-1],
        "standardize": None if mean is None else {"mean": floats(mean), "std": floats(std)},
        "open": params(m_open),
        "commercial": params(m_comm),
    }
