#!/usr/bin/python3
"""Check a model of typed columns against an independent reference of its
input transform, built from mixrec_export() alone.

Connects to PostgreSQL through libpq's environment (PGHOST, PGPORT,
PGDATABASE, PGUSER, ...), in a database where the mixrec extension is
installed, and prints TAP:

  1. mixrec_train() fits a model on a table with every kind of typed column
     (numbers, a log-scaled number, booleans, text, varchar, char(n), an
     enum and an integer as categories, text[] tags, a real[3] embedding,
     a date, a timestamptz and a timestamp), NULLs in each;
  2. mixrec_export() describes each column as the table and the overrides
     say (kind, scale, flags, type);
  3. the positions and widths the export states follow from the kinds,
     flags, lengths and vocabularies, as include/mixrec/transform.h lays
     them out, and add up to input_dim;
  4. the model's standardisation is the one the transform implies: the
     fitted statistics for numbers, times and dense elements, 0 and 1 for
     indicator inputs;
  5. the rows scored include NULLs in every column and a value outside the
     vocabulary in every vocabulary column;
  6. this script's own encoding of each row, standardised in float32 like
     the C code, equals mixrec_transform(model, row);
  7. torch's nn.Sequential models loaded from the export's state_dicts,
     fed those vectors, give mixrec_score(model, row) in all four modes;
  8. mixrec_export(mixrec_import(json)) = json for the typed model, the
     same after a trip through Python's json module, and the imported
     model scores every row exactly as the original.

The reference encoding is written from the header comment of
include/mixrec/transform.h and the value rules of src/typed_values.c: it
reads only the exported JSON and the rows' values, never mixrec_transform.

Exit status 0 if every test passed, 1 otherwise.

Usage:  /usr/bin/python3 test/torch/check_transform.py
"""

import datetime
import json
import math
import sys

# Largest absolute difference allowed between this script's input vector and
# mixrec_transform's.  Both compute in double and round to float32 in the
# same order with the same libm, so the vectors are expected to be equal;
# the tolerance only keeps a last-bit difference of libm from failing it.
TOL_VECTOR = 1e-6

# Largest absolute difference allowed between a probability computed by
# mixrec and by torch (see check_interchange.py: float32 sums in another
# order move a logit by a few ulps).
TOL_SCORE = 1e-6

MODES = ("blend", "open", "commercial", "soup")

try:
    import numpy as np
    import torch
except ImportError:
    print("1..0 # SKIP python3-torch is not installed")
    sys.exit(0)

try:
    import psycopg2
except ImportError:
    print("1..0 # SKIP python3-psycopg2 is not installed")
    sys.exit(0)

from torch_models import as_json, load_side, model_dims, soup_mlp  # noqa: E402

DT = torch.float32
F32 = np.float32

# ---------------------------------------------------------------------------
# TAP helpers

PLAN = 6 + len(MODES) + 3
_results = []


def tap(ok, description, diag=None):
    n = len(_results) + 1
    _results.append(bool(ok))
    print("%s %d - %s" % ("ok" if ok else "not ok", n, description))
    if diag:
        for line in str(diag).rstrip().split("\n"):
            print("# " + line)
    sys.stdout.flush()


def bail(reason):
    """Fail every test not yet run."""
    while len(_results) < PLAN:
        tap(False, "not run", reason)


# ---------------------------------------------------------------------------
# The data: every kind of typed column, NULLs in each

SETUP = r"""
SET client_min_messages = warning;
SET max_parallel_workers_per_gather = 0;
-- Times are read as instants (timestamptz) or as UTC (timestamp), whatever
-- the session's zone: train and score under one that is not UTC
SET TimeZone = 'Asia/Kathmandu';
DROP TABLE IF EXISTS ct_train, ct_score, ct_model;
DROP TYPE IF EXISTS ct_mood;
-- 'sleepy' never occurs in training: out of vocabulary when scoring
CREATE TYPE ct_mood AS ENUM ('calm', 'busy', 'angry', 'sleepy');
CREATE TABLE ct_train AS
SELECT i AS id,
       (i % 50 - 10)::int AS n_int,
       CASE WHEN i % 7 = 0 THEN NULL ELSE ((i * 37) % 5000 / 100.0)::numeric(10, 2) END AS n_num,
       CASE WHEN i % 3 = 0 THEN -((i * 13) % 1000)::float8 * 1.5
            ELSE ((i * 101) % 100000)::float8 / 7 END AS n_log,
       CASE WHEN i % 11 = 0 THEN NULL ELSE i % 3 = 0 END AS flag,
       CASE WHEN i <= 3 THEN 'rare'
            WHEN i % 13 = 0 THEN NULL
            ELSE (ARRAY['fr', 'de', 'it', 'es', 'nl', 'ch'])[1 + (i * i) % 6] END AS country,
       (i % 9) * 10 AS code,
       (ARRAY['calm', 'busy', 'angry'])[1 + i % 3]::ct_mood AS mood,
       CASE WHEN i % 19 = 0 THEN NULL
            ELSE (ARRAY['phone', 'desktop', 'tablet'])[1 + i % 3]::varchar(10) END AS device,
       (ARRAY['a', 'bb', 'ccc'])[1 + i % 3]::char(4) AS grade,
       CASE WHEN i % 17 = 0 THEN NULL
            WHEN i % 19 = 0 THEN '{}'::text[]
            WHEN i % 23 = 0 THEN ARRAY['sale', NULL]
            ELSE (ARRAY['sale', 'new', 'gift', 'eco', 'x1'])[1 + i % 5 : 1 + i % 5 + i % 3] END AS tags,
       CASE WHEN i % 29 = 0 THEN NULL
            WHEN i % 31 = 0 THEN ARRAY[1.5, NULL, -2]::real[]
            ELSE ARRAY[sin(i), cos(i), (i % 9)::float8 / 3]::real[] END AS emb,
       CASE WHEN i % 37 = 0 THEN NULL ELSE date '1965-03-01' + (i * 13) % 30000 END AS d,
       CASE WHEN i % 41 = 0 THEN NULL
            ELSE timestamptz '2020-01-01 00:00:00+00' + i * interval '97 minutes 13.25 seconds' END AS ts,
       CASE WHEN i % 43 = 0 THEN NULL
            ELSE timestamp '1969-12-25 12:00' + i * interval '5 hours 7.5 seconds' END AS tsn,
       ((i % 50 - 10) > 15) <> ((i * i) % 6 < 2) OR (i % 3 = 0 AND i % 5 = 0) AS bought
FROM generate_series(1, 1500) AS i;

CREATE TABLE ct_score (LIKE ct_train);
INSERT INTO ct_score SELECT * FROM ct_train WHERE id <= 80 OR id % 97 = 0;
INSERT INTO ct_score (id) VALUES (100001);  -- NULL in every column
INSERT INTO ct_score VALUES
    (100002, 1000, 1e6, -1e6, true, 'atlantis', 7, 'sleepy', 'tv', 'zz',
     ARRAY['never', NULL, 'sale'], ARRAY[NULL, 0.25, 1e3]::real[], date '1900-01-01',
     timestamptz '1960-07-04 13:14:15.123456+05', timestamp '2100-02-28 23:59:59.999999', true),
    (100003, -7, 0, 0, false, '', 11, 'calm', '', '', ARRAY[''], ARRAY[0, 0, 0]::real[],
     date '1970-01-01', timestamptz '1970-01-01 00:00:00+00', timestamp '1970-01-01 00:00:00', false),
    (100004, NULL, -3.25, NULL, NULL, 'rare', NULL, NULL, NULL, 'a', '{}', NULL, NULL,
     NULL, timestamp '1969-12-31 23:59:59.5', NULL),
    (100005, 3, NULL, 12.5, true, NULL, 40, 'busy', 'phone', 'bb', NULL, ARRAY[NULL, NULL, NULL]::real[],
     date '2000-02-29', NULL, NULL, NULL);
"""

TRAIN = """
SELECT model, version FROM mixrec_train('ct_model', 'ct_train', label => 'bought',
    exclude => ARRAY['id'], hidden => '{8}', epochs => 3, batch_size => 64,
    learning_rate => 0.01, validation_fraction => 0.1, seed => 5,
    transform => '{"code": "categorical", "n_log": {"scale": "log"}}')
"""

# What the export must say of each column: kind, SQL type, and flags
EXPECTED = {
    "n_int": ("numeric", "integer", {"scale": "standard", "missing": False}),
    "n_num": ("numeric", "numeric", {"scale": "standard", "missing": True}),
    "n_log": ("numeric", "double precision", {"scale": "log", "missing": False}),
    "flag": ("boolean", "boolean", {"missing": True}),
    "country": ("categorical", "text", {"from_integer": False, "missing": False}),
    "code": ("categorical", "integer", {"from_integer": True, "missing": False}),
    "mood": ("categorical", "ct_mood", {"from_integer": False, "missing": False}),
    "device": ("categorical", "character varying", {"from_integer": False, "missing": False}),
    "grade": ("categorical", "bpchar", {"from_integer": False, "missing": False}),
    "tags": ("multi_hot", "text[]", {"missing": False}),
    "emb": ("dense", "real[]", {"length": 3, "missing": True}),
    "d": ("time", "date", {"day_time": False, "missing": True}),
    "ts": ("time", "timestamp with time zone", {"day_time": True, "missing": True}),
    "tsn": ("time", "timestamp without time zone", {"day_time": True, "missing": True}),
}

# ---------------------------------------------------------------------------
# The reference transform (include/mixrec/transform.h, src/typed_values.c)

TWO_PI = 2.0 * math.pi          # the double nearest 2*pi, as the C constant
SECONDS_PER_DAY = 86400.0
# Seconds from 1970-01-01 to PostgreSQL's epoch, 2000-01-01
POSTGRES_EPOCH_SECONDS = 10957 * 86400.0
UTC = datetime.timezone.utc
POSTGRES_EPOCH = datetime.datetime(2000, 1, 1)
POSTGRES_EPOCH_UTC = datetime.datetime(2000, 1, 1, tzinfo=UTC)
POSTGRES_EPOCH_DATE = datetime.date(2000, 1, 1)


def width(c):
    """Inputs a column fills (transform.h: "Inputs each kind fills")."""
    missing = 1 if c["missing"] else 0
    kind = c["kind"]
    if kind in ("numeric", "boolean"):
        return 1 + missing
    if kind in ("categorical", "multi_hot"):
        return len(c["vocabulary"]) + 2     # out-of-vocabulary, NULL buckets
    if kind == "dense":
        return int(c["length"]) + missing
    if kind == "time":
        return 3 + (2 if c["day_time"] else 0) + missing
    raise ValueError("unknown kind %r" % kind)


def scale(std):
    """The divisor of a fitted std: a constant input stays unscaled."""
    s = F32(std)
    return s if std > 0.0 and s > 0.0 else F32(1.0)


def implied_standardization(columns, input_dim):
    """The mean and std a transform implies for each input."""
    mean = np.zeros(input_dim, dtype=F32)
    std = np.ones(input_dim, dtype=F32)
    position = 0
    for c in columns:
        if c["kind"] in ("numeric", "time"):
            mean[position] = F32(c["mean"])
            std[position] = scale(c["std"])
        elif c["kind"] == "dense":
            for e in range(int(c["length"])):
                mean[position + e] = F32(c["element_mean"][e])
                std[position + e] = scale(c["element_std"][e])
        position += width(c)
    return mean, std


def category_text(type_name, value):
    """A category's text: an integer or an enum as its output text, char(n)
    without its trailing blanks (as char(n) compares), other texts as is."""
    if isinstance(value, bool):
        raise ValueError("a boolean is no category")
    if isinstance(value, int):
        return str(value)
    if type_name.split("[")[0] in ("bpchar", "character"):
        return value.rstrip(" ")
    return value


def number(value):
    """A NUMERIC value as the double the C code reads."""
    return float(value)     # int exactly; Decimal and float rounded once


def seconds_of(value):
    """A date, timestamptz or timestamp as seconds since 1970-01-01 UTC,
    computed as src/typed_values.c does: a date's days times 86400, or a
    timestamp's microseconds since 2000-01-01 (a timestamp without time
    zone read as UTC) divided by 1e6, then PostgreSQL's epoch added."""
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            delta = value - POSTGRES_EPOCH
        else:
            delta = value - POSTGRES_EPOCH_UTC
        usec = (delta.days * 86400 + delta.seconds) * 1000000 + delta.microseconds
        return float(usec) / 1000000.0 + POSTGRES_EPOCH_SECONDS
    if isinstance(value, datetime.date):
        days = (value - POSTGRES_EPOCH_DATE).days
        return float(days) * SECONDS_PER_DAY + POSTGRES_EPOCH_SECONDS
    raise ValueError("not a date or timestamp: %r" % (value,))


class Encoder:
    """One column of the exported transform."""

    def __init__(self, c):
        self.c = c
        self.kind = c["kind"]
        self.width = width(c)
        self.index = {t: i for i, t in enumerate(c.get("vocabulary", []))}
        self.out_of_vocabulary = 0     # values seen that set the bucket
        self.nulls = 0                 # NULL values (or elements) seen

    def lookup(self, text, out):
        i = self.index.get(text)
        if i is None:
            self.out_of_vocabulary += 1
            i = len(self.index)
        out[i] = 1.0

    def encode(self, value):
        """The column's inputs for one value, as float32."""
        c, kind = self.c, self.kind
        out = np.zeros(self.width, dtype=F32)
        if value is None:
            self.nulls += 1
        if kind == "numeric":
            if value is None:
                v = float(c["mean"])
            else:
                v = number(value)
                if c["scale"] == "log":
                    v = -math.log1p(-v) if v < 0.0 else math.log1p(v)
            out[0] = F32(v)
            if c["missing"]:
                out[1] = 1.0 if value is None else 0.0
        elif kind == "boolean":
            out[0] = 1.0 if value else 0.0
            if c["missing"]:
                out[1] = 1.0 if value is None else 0.0
        elif kind == "categorical":
            if value is None:
                out[len(self.index) + 1] = 1.0
            else:
                self.lookup(category_text(c["type"], value), out)
        elif kind == "multi_hot":
            if value is None:
                out[len(self.index) + 1] = 1.0
            else:
                for item in value:
                    if item is None:
                        self.nulls += 1
                        out[len(self.index) + 1] = 1.0
                    else:
                        self.lookup(category_text(c["type"], item), out)
        elif kind == "dense":
            length = int(c["length"])
            if value is not None and len(value) != length:
                raise ValueError("%s has %d elements, expected %d"
                                 % (c["name"], len(value), length))
            for e in range(length):
                if value is None or value[e] is None:
                    if value is not None:
                        self.nulls += 1
                    x = float(c["element_mean"][e])
                else:
                    x = number(value[e])
                    if c["type"].startswith("real"):
                        x = float(F32(x))   # a real's value, not its decimal
                out[e] = F32(x)
            if c["missing"]:
                out[length] = 1.0 if value is None else 0.0
        elif kind == "time":
            pairs = 2 if c["day_time"] else 1
            if value is None:
                out[0] = F32(float(c["mean"]))
            else:
                s = seconds_of(value)
                day = math.floor(s / SECONDS_PER_DAY)
                weekday = math.fmod(day + 4.0, 7.0)    # 1970-01-01 was a Thursday
                if weekday < 0.0:
                    weekday += 7.0
                out[0] = F32(s)
                if c["day_time"]:
                    angle = TWO_PI * (s - SECONDS_PER_DAY * day) / SECONDS_PER_DAY
                    out[1] = F32(math.sin(angle))
                    out[2] = F32(math.cos(angle))
                out[2 * pairs - 1] = F32(math.sin(TWO_PI * weekday / 7.0))
                out[2 * pairs] = F32(math.cos(TWO_PI * weekday / 7.0))
            if c["missing"]:
                out[2 * pairs + 1] = 1.0 if value is None else 0.0
        else:
            raise ValueError("unknown kind %r" % kind)
        return out


def reference_vector(encoders, row, mean, std):
    """A row's standardised input vector: encoded, stored as float32, then
    (x - mean) / std in float32 where the model standardises."""
    x = np.concatenate([e.encode(row[e.c["name"]]) for e in encoders])
    if mean is not None:
        x = (x - mean) / std      # float32 arrays: float32 arithmetic
    return x.astype(F32)


# ---------------------------------------------------------------------------
# torch side (the modules in torch_models.py)


def torch_scores(m, x):
    """Probabilities of standardised inputs x [n, d_in] in every mode."""
    dims = model_dims(m)
    m_open = load_side(dims, m["open"])
    m_comm = load_side(dims, m["commercial"])
    with torch.no_grad():
        a = torch.tensor(float(m["alpha"]), dtype=DT)
        b = torch.tensor(1.0, dtype=DT) - a
        soup = soup_mlp(dims, m_open, m_comm, float(m["alpha"]))
        p_o = torch.sigmoid(m_open(x))
        p_c = torch.sigmoid(m_comm(x))
        return {"blend": a * p_o + b * p_c, "open": p_o, "commercial": p_c,
                "soup": torch.sigmoid(soup(x))}


# ---------------------------------------------------------------------------


def exact_equal(a, b, path="$"):
    """Where two JSON values differ (numbers compared exactly), or None."""
    if isinstance(a, dict) and isinstance(b, dict):
        if sorted(a) != sorted(b):
            return "%s: keys %s != %s" % (path, sorted(a), sorted(b))
        for k in a:
            d = exact_equal(a[k], b[k], "%s.%s" % (path, k))
            if d:
                return d
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return "%s: %d elements != %d" % (path, len(a), len(b))
        for i, (x, y) in enumerate(zip(a, b)):
            d = exact_equal(x, y, "%s[%d]" % (path, i))
            if d:
                return d
        return None
    if type(a) != type(b) or a != b:     # 1 and 1.0 differ in type: fine,
        if isinstance(a, (int, float)) and isinstance(b, (int, float)) \
                and not isinstance(a, bool) and float(a) == float(b):
            return None
        return "%s: %r != %r" % (path, a, b)
    return None


def check_columns(columns):
    problems = []
    names = [c["name"] for c in columns]
    if sorted(names) != sorted(EXPECTED):
        problems.append("columns %s, expected %s" % (names, sorted(EXPECTED)))
    for c in columns:
        want = EXPECTED.get(c["name"])
        if want is None:
            continue
        kind, type_name, flags = want
        if c["kind"] != kind or c["type"] != type_name:
            problems.append("%s: %s %s, expected %s %s"
                            % (c["name"], c["kind"], c["type"], kind, type_name))
        for k, v in flags.items():
            if c.get(k) != v:
                problems.append("%s: %s is %r, expected %r" % (c["name"], k, c.get(k), v))
        if kind in ("categorical", "multi_hot") and len(c["vocabulary"]) < 2:
            problems.append("%s: vocabulary %r" % (c["name"], c["vocabulary"]))
    country = [c for c in columns if c["name"] == "country"]
    if country and "rare" in country[0]["vocabulary"]:
        problems.append("country: 'rare' (3 rows) is in the vocabulary")
    return problems


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

    # -- 1. training -------------------------------------------------------
    desc = "mixrec_train fits a model on every kind of typed column, with NULLs"
    try:
        cur.execute(SETUP)
        cur.execute(TRAIN)
        cur.fetchall()
        cur.execute("CREATE TABLE ct_model AS SELECT weights AS m FROM mixrec_models "
                    "WHERE name = 'ct_model' AND active")
        cur.execute("SELECT mixrec_export(m) FROM ct_model")
        exported = as_json(cur.fetchone()[0])
        tap(True, desc)
    except Exception as e:
        tap(False, desc, "%s: %s" % (type(e).__name__, e))
        bail("no model")
        return 1

    # -- 2. the columns ----------------------------------------------------
    transform = exported.get("transform")
    columns = transform["columns"] if isinstance(transform, dict) else []
    problems = check_columns(columns)
    tap(not problems, "mixrec_export describes every column: kind, type, flags",
        "\n".join(problems))
    if not columns:
        bail("no transform in the export")
        return 1

    # -- 3. layout ---------------------------------------------------------
    problems = []
    position = 0
    for c in columns:
        if c["position"] != position or c["width"] != width(c):
            problems.append("%s: position %s width %s, expected %d and %d"
                            % (c["name"], c["position"], c["width"], position, width(c)))
        position += width(c)
    if position != exported["input_dim"]:
        problems.append("the columns fill %d inputs, input_dim is %s"
                        % (position, exported["input_dim"]))
    tap(not problems, "positions and widths follow from the kinds (%d inputs)" % position,
        "\n".join(problems))

    # -- 4. standardisation ------------------------------------------------
    std_json = exported.get("standardize")
    mean = std = None
    if std_json is not None:
        mean = np.array(std_json["mean"], dtype=F32)
        std = np.array(std_json["std"], dtype=F32)
    try:
        want_mean, want_std = implied_standardization(columns, position)
        ok = mean is not None and np.array_equal(mean, want_mean) and \
            np.array_equal(std, want_std)
        tap(ok, "the model standardises as its transform implies",
            None if ok else "model %s %s\nimplied %s %s"
            % (mean, std, want_mean, want_std))
    except Exception as e:
        tap(False, "the model standardises as its transform implies",
            "%s: %s" % (type(e).__name__, e))

    # -- rows, the reference vectors and SQL's -----------------------------
    names = [c["name"] for c in columns]
    encoders = [Encoder(c) for c in columns]
    select = ", ".join('s."%s"' % n for n in names)
    cur.execute("SELECT s.id, %s, mixrec_transform(m.m, s), %s FROM ct_score s, ct_model m "
                "ORDER BY s.id"
                % (select, ", ".join("mixrec_score(m.m, s, '%s')" % mode for mode in MODES)))
    rows = cur.fetchall()
    ref, got, scores = [], [], []
    for r in rows:
        values = dict(zip(names, r[1:1 + len(names)]))
        ref.append(reference_vector(encoders, values, mean, std))
        got.append(np.array(r[1 + len(names)], dtype=F32))
        scores.append([float(v) for v in r[2 + len(names):]])

    # -- 5. coverage of the rows -------------------------------------------
    problems = []
    for e in encoders:
        if e.nulls == 0:
            problems.append("%s: no NULL among the rows" % e.c["name"])
        if e.kind in ("categorical", "multi_hot") and e.out_of_vocabulary == 0:
            problems.append("%s: no value outside the vocabulary" % e.c["name"])
    tap(not problems, "the %d rows hold NULLs in every column and unseen values in every "
        "vocabulary" % len(rows), "\n".join(problems))

    # -- 6. the input vectors ----------------------------------------------
    desc = "the reference transform equals mixrec_transform"
    try:
        ref_m = np.stack(ref)
        got_m = np.stack(got)
        diff = float(np.abs(ref_m.astype(np.float64) - got_m.astype(np.float64)).max())
        exact = int(sum(np.array_equal(a, b) for a, b in zip(ref, got)))
        ok = diff <= TOL_VECTOR
        diag = None
        if not ok:
            i = int(np.abs(ref_m - got_m).max(axis=1).argmax())
            j = int(np.abs(ref_m[i] - got_m[i]).argmax())
            diag = "row id %s input %d: reference %r, mixrec %r" % (
                rows[i][0], j, float(ref_m[i, j]), float(got_m[i, j]))
        tap(ok, "%s: max abs diff %.3g %s %g, %d of %d rows bit for bit"
            % (desc, diff, "<=" if ok else ">", TOL_VECTOR, exact, len(rows)), diag)
    except Exception as e:
        tap(False, desc, "%s: %s" % (type(e).__name__, e))
        ref_m = None

    # -- 7. scores ---------------------------------------------------------
    want = torch_scores(exported, torch.tensor(ref_m if ref_m is not None else
                                               np.stack(got), dtype=DT))
    sql = torch.tensor(scores, dtype=torch.float64)
    for k, mode in enumerate(MODES):
        w = want[mode].to(torch.float64).reshape(-1)
        diff = (sql[:, k] - w).abs().max().item()
        ok = diff <= TOL_SCORE
        worst = int((sql[:, k] - w).abs().argmax().item())
        tap(ok, "torch on the reference vectors gives mixrec_score, mode %s: "
            "max abs diff %.3g %s %g" % (mode, diff, "<=" if ok else ">", TOL_SCORE),
            None if ok else "row id %s: SQL %r, torch %r"
            % (rows[worst][0], sql[worst, k].item(), w[worst].item()))

    # -- 8. round trips ----------------------------------------------------
    desc = "mixrec_export(mixrec_import(json)) = json for a model of typed columns"
    try:
        cur.execute("SELECT mixrec_export(mixrec_import(mixrec_export(m))) = mixrec_export(m) "
                    "FROM ct_model")
        tap(cur.fetchone()[0] is True, desc)
    except Exception as e:
        tap(False, desc, "%s: %s" % (type(e).__name__, e))

    desc = "the export read and written by Python's json imports back to the same export"
    imported = False
    try:
        text = json.dumps(exported)
        cur.execute("CREATE TEMP TABLE ct_imported AS SELECT mixrec_import(%s::jsonb) AS m",
                    (text,))
        imported = True
        cur.execute("SELECT mixrec_export(m) FROM ct_imported")
        problem = exact_equal(exported, as_json(cur.fetchone()[0]))
        tap(problem is None, desc, problem)
    except Exception as e:
        tap(False, desc, "%s: %s" % (type(e).__name__, e))

    desc = "the imported model scores and transforms every row as the original"
    if not imported:
        tap(False, desc, "import failed")
    else:
        try:
            cur.execute(
                "SELECT count(*), "
                "count(*) FILTER (WHERE mixrec_transform(i.m, s) = mixrec_transform(o.m, s) "
                "AND %s) FROM ct_score s, ct_model o, ct_imported i"
                % " AND ".join("mixrec_score(i.m, s, '%s') = mixrec_score(o.m, s, '%s')"
                               % (mode, mode) for mode in MODES))
            n, same = cur.fetchone()
            ok = n == same and n == len(rows)
            tap(ok, desc, None if ok else "%d of %d rows the same" % (same, n))
        except Exception as e:
            tap(False, desc, "%s: %s" % (type(e).__name__, e))

    conn.close()
    return 0 if len(_results) == PLAN and all(_results) else 1


if __name__ == "__main__":
    sys.exit(main())
