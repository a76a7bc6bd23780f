#!/usr/bin/python3
"""Generate the reference fixture for mixrec_evaluate.

Writes (relative to the repository root):

  test/fixtures/eval_data.csv      400 rows to evaluate, for COPY ... CSV HEADER
  test/fixtures/eval_cases.jsonl   one line per case: the model (mixrec's
                                   interchange JSON), k and the expected
                                   metrics of the open, commercial and
                                   blended models

Usage (from anywhere):

  /usr/bin/python3 test/torch/make_eval_fixture.py

Needs Debian's python3-torch, python3-numpy and python3-sklearn. The model
and the scores are computed in float32 on the CPU with one thread, so the
output is deterministic for a given PyTorch version (generated with PyTorch
1.13 and scikit-learn 1.2.1; the JSON records the scikit-learn version).
After writing the files, the script reads them back the way PostgreSQL does,
recomputes every metric with scikit-learn (must give the same numbers bit for
bit) and a second time in plain Python (no scikit-learn), and prints the
largest difference between the two.

eval_data.csv: header "row_id,user_id,item_id,features,label,domain".
  row_id    1..400
  user_id   30 users, 1..30, each with 5 to 25 rows (uneven), the rows of
            the users interleaved; user ALL_ZERO_USER has only label 0, user
            ALL_ONE_USER only label 1, user MIN_USER exactly 5 rows (= k)
            and user MAX_USER exactly 25 rows
  item_id   an int in 100..999, unique within a user
  features  6 float32 values drawn N(0, 1) as an array literal, each printed
            as the shortest decimal that reads back as the same float32
  label     0 or 1, Bernoulli(sigmoid(LABEL_SCALE * logit(p_blend) + noise)),
            noise N(0, 0.5^2), p_blend the model's own blended score; the
            freshly initialised model scores every row close to 0.5
            (about 0.35..0.65), hence the large LABEL_SCALE (8), which puts
            the AUCs well away from 0.5
  domain    open, commercial, or empty (SQL NULL), about 40/40/20

Model: two MLPs [6, 8, 1] (Linear, ReLU, Linear) with PyTorch's default
initialisation, open then commercial, after torch.manual_seed(11);
alpha 0.35, no standardisation.

Scores, per row, with the float32 parameters and features:
  p_open       = sigmoid(open(x))         MLP in float32, sigmoid in float64
  p_commercial = sigmoid(commercial(x))   of the float32 logit
  p_blend      = alpha * p_open + (1 - alpha) * p_commercial   (float64)

Metrics, for each model m in open, commercial, blend:
  rows that count: open: domain open or NULL; commercial: domain commercial
  or NULL; blend: every row.
  log_loss   sklearn.metrics.log_loss(y, p_m, labels=[0, 1])  (rows that count)
  auc        sklearn.metrics.roc_auc_score(y, p_m)             (rows that count)
  accuracy   sklearn.metrics.accuracy_score(y, p_m >= 0.5)     (rows that count)
  rows       the number of rows that count
  per user, over ALL of the user's rows whatever their domain, the user's
  rows ranked by p_m descending:
  precision_at_k  mean over all users of
                  (label-1 rows among the top min(k, n_user)) / k
  recall_at_k     mean over the users with at least one label-1 row of
                  (label-1 rows among the top k) / (label-1 rows of the user)
  ndcg_at_k       mean over all users of
                  sklearn.metrics.ndcg_score([y_user], [p_user], k=k)
                  (0 for a user without a label-1 row)
  and "users" (30) next to the three models.

The data seed is chosen so that the metrics do not hinge on the last bits
of a score: every score is at least MARGIN from 0.5, and any two scores
that are compared (two rows of one user; a label-1 and a label-0 row that
both count for a model) differ by at least MARGIN, for each of the three
models. The script checks this and fails otherwise.
"""

import csv
import ctypes
import io
import json
import math
import os
import sys

import numpy as np
import sklearn
import torch
from sklearn.metrics import accuracy_score, log_loss, ndcg_score, roc_auc_score

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True

from make_fixtures import DT, make_mlp  # noqa: E402
from shortest_f32 import f32_text, interchange  # noqa: E402

ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
CSV_PATH = os.path.join(ROOT, "test", "fixtures", "eval_data.csv")
JSONL_PATH = os.path.join(ROOT, "test", "fixtures", "eval_cases.jsonl")

CASE = "e1"
DIMS = [6, 8, 1]
ALPHA = 0.35
MODEL_SEED = 11
DATA_SEED = 2133
N_ROWS = 400
N_USERS = 30
MIN_ROWS_PER_USER = 5
MAX_ROWS_PER_USER = 25
ALL_ZERO_USER = 4
ALL_ONE_USER = 17
MIN_USER = 9
MAX_USER = 23
K = 5
LABEL_SCALE = 8.0
MARGIN = 1e-6
MODELS = ("open", "commercial", "blend")
CSV_HEADER = ["row_id", "user_id", "item_id", "features", "label", "domain"]


# --------------------------------------------------------------------------
# Numbers
# --------------------------------------------------------------------------


def dec_to_f32(s):
    """Decimal text -> double (correctly rounded) -> float32."""
    return float(np.float32(float(s)))


def sigmoid64(z):
    """Logistic sigmoid in float64 of each (float32) logit."""
    out = []
    for v in z:
        v = float(v)
        e = math.exp(-abs(v))
        out.append(1.0 / (1.0 + e) if v >= 0 else e / (1.0 + e))
    return np.array(out, dtype=np.float64)


# --------------------------------------------------------------------------
# Model and scores
# --------------------------------------------------------------------------


def make_model():
    torch.manual_seed(MODEL_SEED)
    m_open = make_mlp(DIMS)
    m_comm = make_mlp(DIMS)
    return m_open, m_comm


def load_model(m_json):
    def mlp(d):
        m = make_mlp(DIMS)
        m.load_state_dict({k: torch.tensor(v, dtype=DT) for k, v in d.items()})
        return m
    return mlp(m_json["open"]), mlp(m_json["commercial"])


def scores(m_open, m_comm, alpha, x):
    """x: float32 tensor [n, 6] -> dict of float64 numpy arrays [n]."""
    with torch.no_grad():
        z_open = m_open(x).reshape(-1)
        z_comm = m_comm(x).reshape(-1)
    if z_open.dtype != DT or z_comm.dtype != DT:
        raise AssertionError("logits are not float32")
    p_open = sigmoid64(z_open.numpy())
    p_comm = sigmoid64(z_comm.numpy())
    p_blend = alpha * p_open + (1.0 - alpha) * p_comm
    return {"open": p_open, "commercial": p_comm, "blend": p_blend}


def scores_float64(m_open, m_comm, alpha, x):
    """The same scores with the MLPs run in float64 (same float32 inputs and
    parameters): shows how far float32 rounding moves a score."""
    with torch.no_grad():
        o64 = make_mlp(DIMS).to(torch.float64)
        c64 = make_mlp(DIMS).to(torch.float64)
        o64.load_state_dict({k: v.to(torch.float64) for k, v in m_open.state_dict().items()})
        c64.load_state_dict({k: v.to(torch.float64) for k, v in m_comm.state_dict().items()})
        xd = x.to(torch.float64)
        p_open = torch.sigmoid(o64(xd).reshape(-1)).numpy()
        p_comm = torch.sigmoid(c64(xd).reshape(-1)).numpy()
    return {"open": p_open, "commercial": p_comm,
            "blend": alpha * p_open + (1.0 - alpha) * p_comm}


# --------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------


def user_row_counts(g):
    """Rows per user (index u-1 for user u): 5..25, summing to N_ROWS, with
    MIN_USER at 5 and MAX_USER at 25."""
    counts = torch.randint(MIN_ROWS_PER_USER, MAX_ROWS_PER_USER + 1, (N_USERS,),
                           generator=g).tolist()
    fixed = {MIN_USER: MIN_ROWS_PER_USER, MAX_USER: MAX_ROWS_PER_USER}
    for u, n in fixed.items():
        counts[u - 1] = n
    free = [u for u in range(1, N_USERS + 1) if u not in fixed]
    while sum(counts) != N_ROWS:
        u = free[int(torch.randint(0, len(free), (1,), generator=g))]
        step = 1 if sum(counts) < N_ROWS else -1
        if MIN_ROWS_PER_USER + 1 <= counts[u - 1] + step <= MAX_ROWS_PER_USER - 1:
            counts[u - 1] += step
    return counts


def make_data(m_open, m_comm):
    """Return the rows as dicts with the CSV text fields."""
    g = torch.Generator().manual_seed(DATA_SEED)
    counts = user_row_counts(g)
    owners = torch.tensor([u for u in range(1, N_USERS + 1)
                           for _ in range(counts[u - 1])])
    owners = owners[torch.randperm(N_ROWS, generator=g)].tolist()
    items = {u: (torch.randperm(900, generator=g)[:counts[u - 1]] + 100).tolist()
             for u in range(1, N_USERS + 1)}
    x = torch.randn(N_ROWS, DIMS[0], generator=g, dtype=DT)
    noise = torch.randn(N_ROWS, generator=g, dtype=torch.float64).numpy() * 0.5
    u_label = torch.rand(N_ROWS, generator=g, dtype=torch.float64).numpy()
    u_domain = torch.rand(N_ROWS, generator=g, dtype=torch.float64).numpy()

    p_blend = scores(m_open, m_comm, ALPHA, x)["blend"]
    logit = np.log(p_blend) - np.log1p(-p_blend)
    p_label = 1.0 / (1.0 + np.exp(-(LABEL_SCALE * logit + noise)))

    rows = []
    next_item = {u: 0 for u in items}
    for i in range(N_ROWS):
        u = owners[i]
        item = items[u][next_item[u]]
        next_item[u] += 1
        label = 1 if u_label[i] < p_label[i] else 0
        if u == ALL_ZERO_USER:
            label = 0
        elif u == ALL_ONE_USER:
            label = 1
        domain = ("open" if u_domain[i] < 0.4 else
                  "commercial" if u_domain[i] < 0.8 else None)
        rows.append(dict(row_id=i + 1, user_id=u, item_id=int(item),
                         features=[f32_text(v) for v in x[i].numpy()],
                         label=label, domain=domain))
    return rows


def csv_text(rows):
    lines = [",".join(CSV_HEADER)]
    for r in rows:
        lines.append('%d,%d,%d,"{%s}",%d,%s' % (
            r["row_id"], r["user_id"], r["item_id"], ",".join(r["features"]),
            r["label"], "" if r["domain"] is None else r["domain"]))
    text = "\n".join(lines) + "\n"
    if "\\" in text:
        raise ValueError("backslash in CSV")
    return text


def arrays(rows, to_f32):
    """Rows (text fields) -> x (float32 tensor), y, user, domain (numpy)."""
    x = torch.tensor([[to_f32(s) for s in r["features"]] for r in rows], dtype=DT)
    y = np.array([r["label"] for r in rows], dtype=np.int64)
    user = np.array([r["user_id"] for r in rows], dtype=np.int64)
    domain = np.array([r["domain"] or "" for r in rows], dtype=object)
    return x, y, user, domain


def counts_mask(model, domain):
    if model == "open":
        return (domain == "open") | (domain == "")
    if model == "commercial":
        return (domain == "commercial") | (domain == "")
    return np.ones(len(domain), dtype=bool)


# --------------------------------------------------------------------------
# Metrics with scikit-learn (the reference)
# --------------------------------------------------------------------------


def top_k(p_user, k):
    """Indices of the user's rows ranked by score descending, the first
    min(k, n); scores are distinct (checked), so the order is unique."""
    return np.argsort(-p_user, kind="stable")[:min(k, len(p_user))]


def sklearn_metrics(sc, y, user, domain, k):
    users = sorted(set(user.tolist()))
    out = {}
    for m in MODELS:
        p = sc[m]
        mask = counts_mask(m, domain)
        ys, ps = y[mask], p[mask]
        precision, recall, ndcg = [], [], []
        for u in users:
            sel = user == u
            yu, pu = y[sel], p[sel]
            hits = int(yu[top_k(pu, k)].sum())
            precision.append(hits / k)
            if yu.sum() > 0:
                recall.append(hits / int(yu.sum()))
            ndcg.append(float(ndcg_score([yu], [pu], k=k)))
        out[m] = {
            "log_loss": float(log_loss(ys, ps, labels=[0, 1])),
            "auc": float(roc_auc_score(ys, ps)),
            "accuracy": float(accuracy_score(ys, ps >= 0.5)),
            "precision_at_k": float(np.mean(precision)),
            "recall_at_k": float(np.mean(recall)),
            "ndcg_at_k": float(np.mean(ndcg)),
            "rows": int(mask.sum()),
        }
    out["users"] = len(users)
    return out


# --------------------------------------------------------------------------
# The same metrics in plain Python (the cross-check)
# --------------------------------------------------------------------------


def plain_log_loss(ys, ps):
    eps = np.finfo(np.float64).eps
    total = 0.0
    for yi, pi in zip(ys, ps):
        pi = min(max(float(pi), eps), 1.0 - eps)
        total += -math.log(pi) if yi == 1 else -math.log(1.0 - pi)
    return total / len(ys)


def plain_auc(ys, ps):
    """Mann-Whitney U / (n1 n0), average ranks for ties."""
    order = sorted(range(len(ps)), key=lambda i: float(ps[i]))
    ranks = [0.0] * len(ps)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and ps[order[j + 1]] == ps[order[i]]:
            j += 1
        for t in range(i, j + 1):
            ranks[order[t]] = (i + j) / 2.0 + 1.0
        i = j + 1
    n1 = sum(1 for yi in ys if yi == 1)
    n0 = len(ys) - n1
    r1 = sum(r for r, yi in zip(ranks, ys) if yi == 1)
    return (r1 - n1 * (n1 + 1) / 2.0) / (n1 * n0)


def plain_accuracy(ys, ps):
    return sum(1 for yi, pi in zip(ys, ps) if (1 if pi >= 0.5 else 0) == yi) / len(ys)


def plain_user_metrics(yu, pu, k):
    ranked = [yi for _, yi in sorted(zip([-float(v) for v in pu], yu))]
    top = ranked[:min(k, len(ranked))]
    hits = sum(top)
    positives = sum(yu)
    dcg = sum(yi / math.log2(r + 2) for r, yi in enumerate(top))
    ideal = sorted(yu, reverse=True)[:min(k, len(yu))]
    idcg = sum(yi / math.log2(r + 2) for r, yi in enumerate(ideal))
    return (hits / k,
            hits / positives if positives > 0 else None,
            dcg / idcg if idcg > 0 else 0.0)


def plain_metrics(sc, y, user, domain, k):
    users = sorted(set(int(u) for u in user))
    out = {}
    for m in MODELS:
        p = [float(v) for v in sc[m]]
        yl = [int(v) for v in y]
        cnt = counts_mask(m, domain)
        ys = [yl[i] for i in range(len(yl)) if cnt[i]]
        ps = [p[i] for i in range(len(p)) if cnt[i]]
        per_user = []
        for u in users:
            idx = [i for i in range(len(yl)) if user[i] == u]
            per_user.append(plain_user_metrics([yl[i] for i in idx], [p[i] for i in idx], k))
        recalls = [r for _, r, _ in per_user if r is not None]
        out[m] = {
            "log_loss": plain_log_loss(ys, ps),
            "auc": plain_auc(ys, ps),
            "accuracy": plain_accuracy(ys, ps),
            "precision_at_k": sum(pr for pr, _, _ in per_user) / len(users),
            "recall_at_k": sum(recalls) / len(recalls),
            "ndcg_at_k": sum(nd for _, _, nd in per_user) / len(users),
            "rows": len(ys),
        }
    out["users"] = len(users)
    return out


def max_difference(a, b):
    worst = 0.0
    for m in MODELS:
        if a[m]["rows"] != b[m]["rows"]:
            raise AssertionError("%s: row counts differ" % m)
        for key, v in a[m].items():
            worst = max(worst, abs(v - b[m][key]))
    if a["users"] != b["users"]:
        raise AssertionError("user counts differ")
    return worst


# --------------------------------------------------------------------------
# Checks on the data
# --------------------------------------------------------------------------


def min_gap(values):
    v = np.sort(np.asarray(values, dtype=np.float64))
    return float(np.min(np.diff(v))) if len(v) > 1 else math.inf


def margins(sc, y, user, domain):
    """Smallest distance of a score from 0.5, between two scores of one user,
    and between a label-1 and a label-0 score that count for a model."""
    to_half = within_user = pos_neg = math.inf
    for m in MODELS:
        p = sc[m]
        mask = counts_mask(m, domain)
        to_half = min(to_half, float(np.min(np.abs(p[mask] - 0.5))))
        for u in set(user.tolist()):
            within_user = min(within_user, min_gap(p[user == u]))
        pos = np.sort(p[mask & (y == 1)])
        neg = p[mask & (y == 0)]
        j = np.searchsorted(pos, neg)
        lo = np.abs(neg - pos[np.clip(j - 1, 0, len(pos) - 1)])
        hi = np.abs(neg - pos[np.clip(j, 0, len(pos) - 1)])
        pos_neg = min(pos_neg, float(np.min(np.minimum(lo, hi))))
    return to_half, within_user, pos_neg


def check_data(rows):
    ids = [r["row_id"] for r in rows]
    if ids != list(range(1, N_ROWS + 1)):
        raise AssertionError("row ids are not 1..%d in order" % N_ROWS)
    per_user = {}
    for r in rows:
        per_user.setdefault(r["user_id"], []).append(r)
    if sorted(per_user) != list(range(1, N_USERS + 1)):
        raise AssertionError("users are not 1..%d" % N_USERS)
    for u, rs in per_user.items():
        if not MIN_ROWS_PER_USER <= len(rs) <= MAX_ROWS_PER_USER:
            raise AssertionError("user %d has %d rows" % (u, len(rs)))
        if len(set(r["item_id"] for r in rs)) != len(rs):
            raise AssertionError("user %d repeats an item" % u)
    labels = {u: set(r["label"] for r in rs) for u, rs in per_user.items()}
    if [u for u, s in labels.items() if s == {0}] != [ALL_ZERO_USER]:
        raise AssertionError("exactly one user must have only label 0")
    if [u for u, s in labels.items() if s == {1}] != [ALL_ONE_USER]:
        raise AssertionError("exactly one user must have only label 1")
    if len(per_user[MIN_USER]) != MIN_ROWS_PER_USER or \
            len(per_user[MAX_USER]) != MAX_ROWS_PER_USER:
        raise AssertionError("MIN_USER/MAX_USER row counts")
    return per_user


# --------------------------------------------------------------------------
# Verification: read the files back as PostgreSQL would
# --------------------------------------------------------------------------


def read_csv():
    with open(CSV_PATH, newline="") as f:
        text = f.read()
    if "\\" in text:
        raise AssertionError("backslash in CSV")
    for line in text.splitlines()[1:]:
        if line.endswith('""'):
            raise AssertionError("quoted empty domain")
        if "e" in line.split('"')[1].lower():
            raise AssertionError("exponent in features: " + line)
    reader = csv.reader(io.StringIO(text))
    if next(reader) != CSV_HEADER:
        raise AssertionError("bad CSV header")
    rows = []
    for rec in reader:
        arr = rec[3]
        if not (arr.startswith("{") and arr.endswith("}")):
            raise AssertionError("bad array literal " + arr)
        rows.append(dict(row_id=int(rec[0]), user_id=int(rec[1]), item_id=int(rec[2]),
                         features=arr[1:-1].split(","), label=int(rec[4]),
                         domain=rec[5] if rec[5] != "" else None))
    return rows


def verify():
    libc = ctypes.CDLL(None)
    libc.strtof.restype = ctypes.c_float
    libc.strtof.argtypes = [ctypes.c_char_p, ctypes.c_void_p]

    def strtof(s):
        return float(libc.strtof(s.encode(), None))

    rows = read_csv()
    per_user = check_data(rows)
    x, y, user, domain = arrays(rows, dec_to_f32)
    if not torch.equal(x, arrays(rows, strtof)[0]):
        raise AssertionError("strtof and double->float32 disagree")
    for r in rows:
        for s in r["features"]:
            if f32_text(dec_to_f32(s)) != s:
                raise AssertionError("feature %s is not the shortest float32 text" % s)

    with open(JSONL_PATH) as f:
        text = f.read()
    lines = text.split("\n")
    if lines[-1] != "" or len(lines) != 2 or "\\" in text:
        raise AssertionError("bad JSONL layout")
    obj = json.loads(lines[0])
    if obj["case"] != CASE or obj["k"] != K or obj["sklearn"] != sklearn.__version__:
        raise AssertionError("case, k or sklearn version")

    m_open, m_comm = load_model(obj["model"])
    if interchange(DIMS, obj["model"]["alpha"], m_open, m_comm) != obj["model"]:
        raise AssertionError("model does not round-trip")
    sc = scores(m_open, m_comm, obj["model"]["alpha"], x)

    ref = sklearn_metrics(sc, y, user, domain, obj["k"])
    if json.dumps(ref) != json.dumps(obj["metrics"]):
        raise AssertionError("recomputed sklearn metrics differ from the file")
    plain = plain_metrics(sc, y, user, domain, obj["k"])
    diff = max_difference(ref, plain)
    if diff > 1e-12:
        raise AssertionError("plain and sklearn metrics differ by %g" % diff)

    to_half, within_user, pos_neg = margins(sc, y, user, domain)
    if min(to_half, within_user, pos_neg) < MARGIN:
        raise AssertionError("a metric depends on a score difference below %g: "
                             "%g %g %g" % (MARGIN, to_half, within_user, pos_neg))
    sc64 = scores_float64(m_open, m_comm, obj["model"]["alpha"], x)
    f32_effect = max(float(np.max(np.abs(sc[m] - sc64[m]))) for m in MODELS)

    return dict(rows=rows, per_user=per_user, metrics=ref, diff=diff,
                margins=(to_half, within_user, pos_neg), f32_effect=f32_effect)


# --------------------------------------------------------------------------


def main():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)

    m_open, m_comm = make_model()
    model = interchange(DIMS, ALPHA, m_open, m_comm)
    m_open, m_comm = load_model(model)     # score with the model as written

    rows = make_data(m_open, m_comm)
    check_data(rows)
    text = csv_text(rows)
    x, y, user, domain = arrays(rows, dec_to_f32)
    sc = scores(m_open, m_comm, ALPHA, x)
    obj = {
        "case": CASE,
        "sklearn": sklearn.__version__,
        "model": model,
        "k": K,
        "metrics": sklearn_metrics(sc, y, user, domain, K),
    }
    line = json.dumps(obj, separators=(",", ":"), allow_nan=False)
    if "\\" in line or "\n" in line:
        raise ValueError("backslash or newline in JSON line")

    os.makedirs(os.path.dirname(CSV_PATH), exist_ok=True)
    with open(CSV_PATH, "w", newline="") as f:
        f.write(text)
    with open(JSONL_PATH, "w") as f:
        f.write(line + "\n")

    v = verify()
    rows = v["rows"]
    n_dom = [sum(r["domain"] == d for r in rows) for d in ("open", "commercial", None)]
    sizes = sorted(len(rs) for rs in v["per_user"].values())
    print("wrote %s (%d bytes): %d rows, %d positive, domain open/commercial/NULL %d/%d/%d, "
          "rows per user %d..%d"
          % (CSV_PATH, os.path.getsize(CSV_PATH), len(rows), sum(r["label"] for r in rows),
             n_dom[0], n_dom[1], n_dom[2], sizes[0], sizes[-1]))
    print("wrote %s (%d bytes), scikit-learn %s"
          % (JSONL_PATH, os.path.getsize(JSONL_PATH), sklearn.__version__))
    print("metrics: " + json.dumps(v["metrics"]))
    print("largest |sklearn - plain Python| over all metrics: %.3g" % v["diff"])
    print("smallest score distance: from 0.5 %.3g, within a user %.3g, label-1 vs label-0 %.3g"
          " (float32 rounding moves a score by at most %.3g)"
          % (v["margins"] + (v["f32_effect"],)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
