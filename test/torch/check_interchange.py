#!/usr/bin/python3
"""Check that models move both ways between mixrec and PyTorch.

Connects to PostgreSQL through libpq's environment (PGHOST, PGPORT,
PGDATABASE, PGUSER, ...), in a database where the mixrec extension is
installed, and prints TAP:

  1. a model made by mixrec_init() and exported with mixrec_export() loads
     into torch nn.Sequential modules, and torch's probabilities for it
     match mixrec_score() in all four modes;
  2. a model pair built in torch (with standardisation) and imported with
     mixrec_import() scores the same in SQL as in torch, in all four modes;
  3. mixrec_export(mixrec_import(json)) gives back exactly the same
     float32 parameters;
  4. a model trained with embedded columns (an integer id and a text, on a
     synthetic table) and exported loads into torch as an nn.Embedding per
     embedded column before each nn.Sequential; the row each column looks
     up is its vocabulary index, the out-of-vocabulary row for an unseen
     value and the NULL row for NULL; torch's probabilities match
     mixrec_score() in all four modes, for seen, unseen and NULL values;
  5. the same model with tables and layers drawn in torch imports with
     mixrec_import(), scores the same in SQL as in torch, and exports back
     to the same float32 values.

Exit status 0 if every test passed, 1 otherwise.

Usage:  /usr/bin/python3 test/torch/check_interchange.py
"""

import json
import sys

# Largest absolute difference allowed between a probability computed by
# mixrec (C, float32) and the same probability computed by PyTorch (float32).
# Both work in float32 but may accumulate sums in a different order, which
# moves the logits by a few ulps; the sigmoid's slope is at most 1/4.
TOL = 1e-6

N_ROWS = 20
MODES = ("blend", "open", "commercial", "soup")

try:
    import torch
except ImportError:
    print("1..0 # SKIP python3-torch is not installed")
    sys.exit(0)

try:
    import psycopg2
except ImportError:
    print("1..0 # SKIP python3-psycopg2 is not installed")
    sys.exit(0)

from shortest_f32 import interchange  # noqa: E402
from torch_models import (EmbeddedSide, as_json, embedded_columns, load_side,  # noqa: E402
                          make_mlp, model_dims, soup_embedded, soup_mlp)

DT = torch.float32

# ---------------------------------------------------------------------------
# TAP helpers

PLAN = 1 + len(MODES) + 1 + len(MODES) + 1 + (2 + len(MODES)) + (1 + len(MODES) + 1)
_results = []


def tap(ok, description, diag=None):
    n = len(_results) + 1
    _results.append(bool(ok))
    print("%s %d - %s" % ("ok" if ok else "not ok", n, description))
    if diag:
        for line in str(diag).rstrip().split("\n"):
            print("# " + line)
    sys.stdout.flush()


def skip_rest(reason, descriptions):
    for d in descriptions:
        tap(False, d, reason)


# ---------------------------------------------------------------------------
# torch side


def torch_scores(model_json, m_open, m_comm, x):
    """Probabilities [n, d_out] for every mode, following mixrec's rules."""
    dims = model_dims(model_json)
    alpha = float(model_json["alpha"])
    std = model_json.get("standardize")
    with torch.no_grad():
        if std is not None:
            mean = torch.tensor(std["mean"], dtype=DT)
            sd = torch.tensor(std["std"], dtype=DT)
            x = (x - mean) / sd
        a = torch.tensor(alpha, dtype=DT)
        b = torch.tensor(1.0, dtype=DT) - a
        p_o = torch.sigmoid(m_open(x))
        p_c = torch.sigmoid(m_comm(x))
        p_s = torch.sigmoid(soup_mlp(dims, m_open, m_comm, alpha)(x))
        return {"blend": a * p_o + b * p_c, "open": p_o,
                "commercial": p_c, "soup": p_s}


def f32(v):
    """Python float that prints so it round-trips to the same float32."""
    return float("%.9g" % torch.tensor(float(v), dtype=DT).item())


def f32_list(t):
    t = t.detach().to(DT)
    if t.dim() == 1:
        return [float("%.9g" % v) for v in t.tolist()]
    return [f32_list(r) for r in t]


# ---------------------------------------------------------------------------
# SQL side


def sql_scores(cur, table, x, mode):
    """Score each row of x with the model stored in table(m)."""
    out = []
    for row in x.tolist():
        cur.execute("SELECT mixrec_score(m, %%s::real[], %%s) FROM %s" % table,
                    (row, mode))
        v = cur.fetchone()[0]
        if isinstance(v, (list, tuple)):
            out.append([float(e) for e in v])
        else:
            out.append([float(v)])
    return torch.tensor(out, dtype=torch.float64)


def compare_modes(cur, table, model_json, m_open, m_comm, x, label):
    ref = torch_scores(model_json, m_open, m_comm, x)
    for mode in MODES:
        desc = "%s, mode %s" % (label, mode)
        try:
            got = sql_scores(cur, table, x, mode)
            want = ref[mode].to(torch.float64)
            if got.shape != want.shape:
                tap(False, desc, "shape %s from SQL, %s from torch"
                    % (tuple(got.shape), tuple(want.shape)))
                continue
            diff = (got - want).abs().max().item()
            ok = diff <= TOL
            tap(ok, "%s: max abs diff %.3g %s %g"
                % (desc, diff, "<=" if ok else ">", TOL),
                None if ok else "SQL   %s\ntorch %s"
                % (got.reshape(-1).tolist(), want.reshape(-1).tolist()))
        except Exception as e:  # report and go on with the next mode
            tap(False, desc, "%s: %s" % (type(e).__name__, e))


def same_f32(a, b):
    ta = torch.tensor(a, dtype=DT)
    tb = torch.tensor(b, dtype=DT)
    return ta.shape == tb.shape and torch.equal(ta, tb)


def roundtrip_problems(sent, back):
    problems = []
    if back.get("format") != "mixrec" or back.get("version") != 1:
        problems.append("format/version: %r/%r"
                        % (back.get("format"), back.get("version")))
    if model_dims(back) != model_dims(sent):
        problems.append("dims %s != %s" % (model_dims(back), model_dims(sent)))
    if f32(back["alpha"]) != f32(sent["alpha"]):
        problems.append("alpha %r != %r" % (back["alpha"], sent["alpha"]))
    s_std, b_std = sent["standardize"], back.get("standardize")
    if (s_std is None) != (b_std is None):
        problems.append("standardize %r != %r" % (b_std, s_std))
    elif s_std is not None:
        for k in ("mean", "std"):
            if not same_f32(b_std[k], s_std[k]):
                problems.append("standardize.%s differs" % k)
    for side in ("open", "commercial"):
        if sorted(back[side].keys()) != sorted(sent[side].keys()):
            problems.append("%s keys %s != %s" % (side, sorted(back[side].keys()),
                                                  sorted(sent[side].keys())))
            continue
        for k in sent[side]:
            if not same_f32(back[side][k], sent[side][k]):
                problems.append("%s.%s differs" % (side, k))
    return problems


# ---------------------------------------------------------------------------
# Embedded columns

EMBED_SETUP = r"""
SET client_min_messages = warning;
CREATE TEMP TABLE ci_emb_data AS
SELECT i AS id, (i * 7) % 40 AS user_id, 'm' || (i * 11) % 25 AS movie,
       ((i % 9) - 4) * 0.25::float8 AS x,
       ((i * 7) % 40 + (i * 11) % 25) % 3 = 0 AS liked
FROM generate_series(1, 1200) AS i;
SELECT count(*) FROM mixrec_train('ci_emb', 'ci_emb_data', 'user_id, movie, x', 'liked',
    embed => '{"user_id": 4, "movie": 3}', hidden => '{8}', epochs => 2, seed => 5,
    transform => '{"user_id": {"min_frequency": 1}, "movie": {"min_frequency": 1}}');
CREATE TEMP TABLE ci_emb AS SELECT weights AS m FROM mixrec_models WHERE name = 'ci_emb' AND active;
-- Seen values, an id and a movie never seen in training, and NULLs
CREATE TEMP TABLE ci_emb_rows (id int, user_id int, movie text, x float8);
INSERT INTO ci_emb_rows VALUES
    (1, 7, 'm11', 0.25), (2, 14, 'm22', -1), (3, 33, 'm3', 0.5), (4, 0, 'm0', 0),
    (5, 100000, 'm5', 0), (6, NULL, 'm6', 0.75), (7, 21, 'zzz', -0.5),
    (8, 28, NULL, 1), (9, NULL, NULL, 0), (10, -3, 'm24', 0.25);
"""


def expected_row(c, value):
    """The table row a value of an embedded column looks up: its vocabulary
    index, then the out-of-vocabulary row, then the NULL row."""
    vocabulary = c["vocabulary"]
    if value is None:
        return len(vocabulary) + 1
    text = str(value)
    return vocabulary.index(text) if text in vocabulary else len(vocabulary)


def embedded_scores(m, s_open, s_comm, x):
    """Probabilities [n, 1] in every mode of a model with embedded columns,
    for standardised inputs x (as mixrec_transform gives them)."""
    alpha = float(m["alpha"])
    with torch.no_grad():
        a = torch.tensor(alpha, dtype=DT)
        b = torch.tensor(1.0, dtype=DT) - a
        p_o = torch.sigmoid(s_open(x))
        p_c = torch.sigmoid(s_comm(x))
        p_s = torch.sigmoid(soup_embedded(m, s_open, s_comm, alpha)(x))
        return {"blend": a * p_o + b * p_c, "open": p_o, "commercial": p_c, "soup": p_s}


def row_scores(cur, table, mode):
    """mixrec_score of each row of ci_emb_rows, by id, with table(m)'s model."""
    cur.execute("SELECT mixrec_score(t.m, r, %%s) FROM ci_emb_rows r, %s t ORDER BY r.id" % table,
                (mode,))
    return torch.tensor([[float(v)] for (v,) in cur.fetchall()], dtype=torch.float64)


def compare_embedded(cur, table, m, s_open, s_comm, x, label):
    ref = embedded_scores(m, s_open, s_comm, x)
    for mode in MODES:
        desc = "%s, mode %s" % (label, mode)
        try:
            got = row_scores(cur, table, mode)
            want = ref[mode].to(torch.float64)
            diff = (got - want).abs().max().item()
            ok = got.shape == want.shape and diff <= TOL
            tap(ok, "%s: max abs diff %.3g %s %g" % (desc, diff, "<=" if ok else ">", TOL),
                None if ok else "SQL   %s\ntorch %s"
                % (got.reshape(-1).tolist(), want.reshape(-1).tolist()))
        except Exception as e:  # report and go on with the next mode
            tap(False, desc, "%s: %s" % (type(e).__name__, e))


def check_embedded(cur):
    """Parts 4 and 5 (2 + MODES + 1 + MODES + 1 results)."""
    load_desc = "an exported model with embedded columns loads into nn.Embedding + nn.Sequential"
    rows_desc = "each embedded column's input names its table row: vocabulary index, out of vocabulary, NULL"
    label = "embedded model scored by torch"
    try:
        cur.execute(EMBED_SETUP)
        cur.execute("SELECT mixrec_export(m) FROM ci_emb")
        m = as_json(cur.fetchone()[0])
        columns = embedded_columns(m)
        if [c["name"] for c in columns] != ["user_id", "movie"]:
            raise ValueError("embedded columns %s" % [c["name"] for c in columns])
        s_open = EmbeddedSide(m, m["open"])
        s_comm = EmbeddedSide(m, m["commercial"])
        tap(True, load_desc)
    except Exception as e:
        tap(False, load_desc, "%s: %s" % (type(e).__name__, e))
        skip_rest("no model to compare", [rows_desc] + ["%s, mode %s" % (label, mode) for mode in MODES]
                  + ["not run"] * (1 + len(MODES) + 1))
        return

    # The standardised input vectors mixrec encodes (standardisation leaves
    # the row inputs as they are); those checked against the vocabularies
    cur.execute("SELECT r.user_id, r.movie, mixrec_transform(t.m, r) FROM ci_emb_rows r, ci_emb t "
                "ORDER BY r.id")
    fetched = cur.fetchall()
    x = torch.tensor([list(v) for (_, _, v) in fetched], dtype=DT)
    problems = []
    for user_id, movie, v in fetched:
        for c, value in zip(columns, (user_id, movie)):
            want = expected_row(c, value)
            if v[c["position"]] != want or any(v[c["position"] + 1:c["position"] + c["width"]]):
                problems.append("%s = %r: inputs %s, expected row %d"
                                % (c["name"], value, v[c["position"]:c["position"] + c["width"]], want))
    tap(not problems, rows_desc, "\n".join(problems) if problems else None)
    compare_embedded(cur, "ci_emb", m, s_open, s_comm, x, label)

    # -- 5. torch -> mixrec, with tables ---------------------------------
    torch.manual_seed(505)
    sent = dict(m)
    for side in ("open", "commercial"):
        sent[side] = {k: f32_list(0.5 * torch.randn(torch.tensor(v).shape))
                      for k, v in m[side].items()}
    t_open = EmbeddedSide(sent, sent["open"])
    t_comm = EmbeddedSide(sent, sent["commercial"])
    imp_desc = "mixrec_import accepts embedding tables written from torch"
    imp_label = "torch model with embeddings scored by mixrec"
    try:
        cur.execute("CREATE TEMP TABLE ci_emb_imp AS SELECT mixrec_import(%s::jsonb) AS m",
                    (json.dumps(sent, separators=(",", ":")),))
        tap(True, imp_desc)
    except Exception as e:
        tap(False, imp_desc, "%s: %s" % (type(e).__name__, e))
        skip_rest("import failed", ["%s, mode %s" % (imp_label, mode) for mode in MODES] + ["round trip"])
        return
    compare_embedded(cur, "ci_emb_imp", sent, t_open, t_comm, x, imp_label)
    desc = "mixrec_export(mixrec_import(json)) returns the same tables and layers"
    try:
        cur.execute("SELECT mixrec_export(m) FROM ci_emb_imp")
        back = as_json(cur.fetchone()[0])
        problems = roundtrip_problems(sent, back)
        if back.get("transform") != sent["transform"]:
            problems.append("transform differs")
        tap(not problems, desc, "\n".join(problems) if problems else None)
    except Exception as e:
        tap(False, desc, "%s: %s" % (type(e).__name__, e))


# ---------------------------------------------------------------------------


def main():
    torch.set_num_threads(1)
    print("1..%d" % PLAN)
    sys.stdout.flush()

    try:
        conn = psycopg2.connect("")
        conn.autocommit = True
        cur = conn.cursor()
        cur.execute("SET extra_float_digits = 3")
    except Exception as e:
        print("Bail out! cannot connect to PostgreSQL: %s" % e)
        return 1

    # -- 1. mixrec -> torch ------------------------------------------------
    init_modes = ["mixrec_init model scored by torch, mode %s" % m for m in MODES]
    m_json = None
    try:
        cur.execute("CREATE TEMP TABLE ci_init AS "
                    "SELECT mixrec_init(8, '{16,8}', 1, 0.4, 7) AS m")
        cur.execute("SELECT mixrec_export(m) FROM ci_init")
        m_json = as_json(cur.fetchone()[0])
        dims = model_dims(m_json)
        if dims != [8, 16, 8, 1] or f32(m_json["alpha"]) != f32(0.4):
            raise ValueError("unexpected dims %s / alpha %r" % (dims, m_json["alpha"]))
        t_open = load_side(dims, m_json["open"])
        t_comm = load_side(dims, m_json["commercial"])
        tap(True, "mixrec_export(mixrec_init(...)) loads into torch with load_state_dict")
    except Exception as e:
        tap(False, "mixrec_export(mixrec_init(...)) loads into torch with load_state_dict",
            "%s: %s" % (type(e).__name__, e))
        m_json = None
    if m_json is None:
        skip_rest("no model to compare", init_modes)
    else:
        torch.manual_seed(101)
        x = torch.randn(N_ROWS, 8, dtype=DT)
        compare_modes(cur, "ci_init", m_json, t_open, t_comm, x,
                      "mixrec_init model scored by torch")

    # -- 2. torch -> mixrec ------------------------------------------------
    dims = [4, 6, 1]
    alpha = 0.6
    torch.manual_seed(202)
    t_open = make_mlp(dims)
    t_comm = make_mlp(dims)
    mean = (torch.randn(dims[0]) * 3.0).to(DT)
    std = (0.3 + 2.7 * torch.rand(dims[0])).to(DT)
    sent = interchange(dims, alpha, t_open, t_comm, mean, std, floats=f32_list)
    # torch computes with exactly the float32 values that were sent
    t_open = load_side(dims, sent["open"])
    t_comm = load_side(dims, sent["commercial"])
    x = (mean + std * torch.randn(N_ROWS, dims[0])).to(DT)
    x = torch.tensor(f32_list(x), dtype=DT)

    imported = False
    try:
        cur.execute("CREATE TEMP TABLE ci_imp AS SELECT mixrec_import(%s::jsonb) AS m",
                    (json.dumps(sent, separators=(",", ":")),))
        imported = True
        tap(True, "mixrec_import accepts a model written from torch")
    except Exception as e:
        tap(False, "mixrec_import accepts a model written from torch",
            "%s: %s" % (type(e).__name__, e))
    imp_label = "torch model scored by mixrec"
    if imported:
        compare_modes(cur, "ci_imp", sent, t_open, t_comm, x, imp_label)
    else:
        skip_rest("import failed", ["%s, mode %s" % (imp_label, m) for m in MODES])

    # -- 3. round trip -----------------------------------------------------
    desc = "mixrec_export(mixrec_import(json)) returns the same float32 values"
    if not imported:
        tap(False, desc, "import failed")
    else:
        try:
            cur.execute("SELECT mixrec_export(m) FROM ci_imp")
            back = as_json(cur.fetchone()[0])
            problems = roundtrip_problems(sent, back)
            tap(not problems, desc, "\n".join(problems) if problems else None)
        except Exception as e:
            tap(False, desc, "%s: %s" % (type(e).__name__, e))

    # -- 4 and 5. embedded columns -----------------------------------------
    check_embedded(cur)

    conn.close()
    return 0 if len(_results) == PLAN and all(_results) else 1


if __name__ == "__main__":
    sys.exit(main())
