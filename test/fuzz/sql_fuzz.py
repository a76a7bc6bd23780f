#!/usr/bin/python3
"""Fuzz every SQL function and aggregate of mixrec as an unprivileged role.

Connects through libpq's environment (PGHOST, PGPORT, PGUSER: a superuser)
to a database where the mixrec extension is installed (PGDATABASE, or
--dbname), and:

  1. as the superuser, creates the role mixrec_fuzzer (LOGIN, nothing more),
     a schema where it may create objects (USAGE, CREATE), small tables in a
     schema of their own that it may only SELECT, and the grants README.md
     tells a trainer to give (the registry tables); reads
     pg_postmaster_start_time() and keeps that session open as a monitor;
  2. replays every file of test/fuzz/sql_regressions/ with psql, as the
     role: one test each, "no restart";
  3. as the role, builds valid models and training states, then runs the
     fuzzing phases, one test each: every call is a few statements in a
     transaction of its own (rolled back), with a statement_timeout and a
     low mixrec.train_memory, on random and edge arguments: NULLs, empty,
     huge, negative, NaN and infinite numbers, empty, multi-dimensional,
     NULL-holding and oddly bounded arrays, random bytes, truncated,
     bit-flipped and field-patched copies of valid models and training
     states (checksums recomputed, so the checks behind them are reached),
     forged states as the INITCOND of the role's own aggregates, and SQL
     text that tries to shift the columns of the statements mixrec
     assembles.  Errors are expected; what must never happen is a server
     restart, or text that is not valid in the database's encoding (UTF-8)
     reaching the client, in a result or in an error message: each phase
     with such calls adds a failing test.

After every call it checks that the call's connection is alive and that
the monitor session still reads the same pg_postmaster_start_time().  On a
restart it writes the call's SQL to sql_regressions/crash-SEED-N.sql
(self-contained but for the tables of step 1), waits for the server to
accept connections again (up to 30 s), reconnects and goes on, so that one
crash does not hide another; a phase stops after three crashes.  Git
ignores crash-* files: one worth keeping is cut down to a self-contained
script and committed under a name that says what it does.

The random choices depend only on --seed (default 1), so a run is
repeatable; --calls (default 5000) is the total number of fuzzing calls,
shared among the phases by fixed weights.  On an idle 2-core machine a run
takes about 35 s, plus about half a second for each crash.  So that a
loaded machine cannot stretch it without bound, each phase also stops
when it has used its share of --max-seconds (default 55): the calls it
made are then the first ones of the same sequence, and it says so.
Prints TAP; exit status 0 when every test passed.

Usage:  /usr/bin/python3 test/fuzz/sql_fuzz.py [--seed N] [--calls N]
            [--max-seconds S] [--dbname DB] [--phase TEXT] [--replay-only]
            [--no-write] [--verbose]
"""
import argparse
import json
import math
import os
import random
import re
import struct
import subprocess
import sys
import time

import psycopg2
import psycopg2.extensions

ROLE = 'mixrec_fuzzer'
OWN_SCHEMA = 'mixrec_fuzz'       # the role may create objects here
DATA_SCHEMA = 'mixrec_fuzz_data'  # tables the role may only read
HERE = os.path.dirname(os.path.abspath(__file__))
REGRESSIONS = os.path.join(HERE, 'sql_regressions')
RECOVERY_SECONDS = 30
MAX_CRASHES_PER_PHASE = 3

# Set for every call, inside its transaction
CALL_SETTINGS = [
    "SET LOCAL statement_timeout = '2s'",
    "SET LOCAL mixrec.train_memory = '1MB'",
    "SET LOCAL client_min_messages = error",
]

# Tables the role reads (built by the superuser).  Input dimension 4.
DATA_TABLES = f"""
CREATE SCHEMA {DATA_SCHEMA};
CREATE TABLE {DATA_SCHEMA}.clicks AS
SELECT i AS id,
       ARRAY[sin(i * 0.37), cos(i * 0.73), sin(i * 1.31) * 3, (i % 10) / 10.0]::real[] AS features,
       ARRAY[sin(i * 0.37), cos(i * 0.73), sin(i * 1.31) * 3, (i % 10) / 10.0]::float8[] AS features8,
       sin(i * 0.37) + cos(i * 0.73) > 0.2 AS clicked,
       CASE WHEN i % 3 = 0 THEN 'commercial' WHEN i % 7 = 0 THEN NULL ELSE 'open' END AS tier,
       (i % 5) * 0.5 AS weight,
       i % 20 AS user_id
FROM generate_series(1, 300) AS i;
CREATE TABLE {DATA_SCHEMA}.odd AS
SELECT i AS id,
       CASE i % 6 WHEN 0 THEN NULL WHEN 1 THEN '{{}}'::real[] WHEN 2 THEN '{{1,2,3}}'::real[]
            WHEN 3 THEN '{{NaN,1,2,3}}'::real[] WHEN 4 THEN '{{{{1,2}},{{3,4}}}}'::real[]
            ELSE ARRAY[1, NULL, 3, 4]::real[] END AS features,
       CASE i % 4 WHEN 0 THEN NULL WHEN 1 THEN true ELSE false END AS clicked,
       (ARRAY['open', 'commercial', 'neither', NULL])[i % 4 + 1] AS tier,
       (ARRAY[-1, 0, 'NaN', 'Infinity', NULL, 1]::float8[])[i % 6 + 1] AS weight,
       (ARRAY[-1, 0.5, 2, 'NaN', NULL]::float8[])[i % 5 + 1] AS label
FROM generate_series(1, 60) AS i;
CREATE TABLE {DATA_SCHEMA}.users AS
SELECT u AS user_id, ARRAY[sin(u), cos(u)]::real[] AS features FROM generate_series(1, 12) AS u;
CREATE TABLE {DATA_SCHEMA}.items AS
SELECT i AS item_id, ARRAY[sin(i * 2), cos(i * 3)]::real[] AS features FROM generate_series(1, 40) AS i;
CREATE TABLE {DATA_SCHEMA}.seen AS
SELECT u AS user_id, (u * 7) % 40 + 1 AS item_id FROM generate_series(1, 12) AS u;
CREATE TABLE {DATA_SCHEMA}.multi AS
SELECT i AS id, ARRAY[sin(i), cos(i), i % 3, 1]::real[] AS features,
       ARRAY[(i % 2), (i % 3 = 0)::int]::real[] AS labels
FROM generate_series(1, 100) AS i;
CREATE TABLE {DATA_SCHEMA}.big AS
SELECT i AS id, ARRAY[sin(i), cos(i), sin(i * 3), cos(i * 5)]::real[] AS features, (i % 2)::float8 AS label
FROM generate_series(1, 20000) AS i;
ANALYZE {DATA_SCHEMA}.big;
"""

# Registered models, trained by the role.  Used at set-up (committed) and at
# the head of every crash file that names one (rolled back there).
FIXTURE_MODELS = [
    "SELECT 1 FROM mixrec_train('fz_m', 'mixrec_fuzz_data.clicks', 'features', 'clicked', "
    "domain => 'tier', hidden => '{4}', epochs => 2, batch_size => 16)",
    "SELECT 1 FROM mixrec_train('fz_m', 'mixrec_fuzz_data.clicks', 'features', 'clicked', "
    "hidden => '{3,3}', epochs => 1, batch_size => 32, optimizer => 'adamw', seed => 7)",
    "SELECT 1 FROM mixrec_train('fz_ui', 'SELECT u.features || i.features AS f, (u.user_id + i.item_id) % 2 = 0 AS y "
    "FROM mixrec_fuzz_data.users u, mixrec_fuzz_data.items i', 'f', 'y', hidden => '{4}', epochs => 1)",
    "SELECT 1 FROM mixrec_train('fz_multi', 'mixrec_fuzz_data.multi', 'features', 'labels', "
    "hidden => '{}', epochs => 1, standardize => false)",
]
MODEL_NAMES = ['fz_m', 'fz_ui', 'fz_multi']


# --- CRC-32C, to reseal damaged blobs -----------------------------------

def _crc_table():
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


CRC_TABLE = _crc_table()


def crc_update(crc, data):
    for b in data:
        crc = CRC_TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc


def crc32c(data):
    return crc_update(0xFFFFFFFF, data) ^ 0xFFFFFFFF


def reseal_model(blob):
    """Recompute a model blob's trailing checksum"""
    b = bytearray(blob)
    if len(b) >= 8:
        b[-4:] = struct.pack('<I', crc32c(bytes(b[:-4])))
    return bytes(b)


def pad8(n):
    return (n + 7) & ~7


def reseal_state(state):
    """Recompute a training state's three checksums, as far as its header allows"""
    s = bytearray(state)
    if len(s) < 128:
        return bytes(s)
    model_len, = struct.unpack_from('<I', s, 16)
    if 8 <= model_len <= len(s) - 128:
        s[128:128 + model_len] = reseal_model(bytes(s[128:128 + model_len]))
        pool_rows, row_bytes = struct.unpack_from('<II', s, 28)
        start = 128 + pad8(model_len)
        pool = bytes(s[start:start + pool_rows * row_bytes])
        struct.pack_into('<I', s, 36, crc_update(0xFFFFFFFF, pool))
    struct.pack_into('<I', s, 12, crc32c(bytes(s[16:128])))
    return bytes(s)


# --- SQL literals ----------------------------------------------------------

def lit_bytea(b):
    return "'\\x" + b.hex() + "'::bytea"


def lit_text(s):
    if s is None:
        return 'NULL::text'
    if '\0' in s:
        s = s.replace('\0', '')
    return "'" + s.replace("'", "''") + "'"


def lit_jsonb(v):
    return lit_text(json.dumps(v, allow_nan=True)) + '::jsonb'


EDGE_INTS = ['NULL', '0', '1', '-1', '2', '3', '4', '5', '16', '17', '255', '1024', '65536', '65537',
             '2147483647', '-2147483648', '1000000']
EDGE_BIGINTS = EDGE_INTS + ['9223372036854775807', '-9223372036854775808']
EDGE_FLOATS = ['NULL', '0', "'-0'", '0.5', '1', '-1', '1.5', '2', '1e-300', '1e300', '5e-324',
               "'NaN'", "'Infinity'", "'-Infinity'", '3.4028235e38', '3.5e38', '1e-45', '0.999999999',
               '-1e-300', '100']
MODES = ['blend', 'open', 'commercial', 'soup', '', 'BLEND', 'Soup', 'blend ', 'average', 'x' * 5000,
         'soup\n', "o'pen"]


class Gen:
    """Random and edge SQL arguments, from one seeded generator"""

    def __init__(self, rng, models, states, export_json):
        self.r = rng
        self.models = models          # {label: bytes} of valid models
        self.states = states          # {label: bytes} of valid training states
        self.export_json = export_json

    def pick(self, seq):
        return self.r.choice(seq)

    def chance(self, p):
        return self.r.random() < p

    def int_(self):
        if self.chance(0.7):
            return self.pick(EDGE_INTS)
        return str(self.r.randint(-100, 100))

    def bigint(self):
        if self.chance(0.7):
            return self.pick(EDGE_BIGINTS)
        return str(self.r.randint(-2**63, 2**63 - 1))

    def float_(self):
        if self.chance(0.7):
            return self.pick(EDGE_FLOATS) + '::float8'
        return repr(self.r.uniform(-5, 5)) + '::float8'

    def text(self, choices=(), p_choice=0.6):
        roll = self.r.random()
        if choices and roll < p_choice:
            return lit_text(self.pick(choices))
        if roll < 0.7:
            return 'NULL::text'
        if roll < 0.8:
            return "''"
        if roll < 0.9:
            return lit_text(''.join(chr(self.r.choice([self.r.randint(1, 127), self.r.randint(128, 0x2fff)]))
                                    for _ in range(self.r.randint(1, 40))))
        return "repeat('x', %d)" % self.pick([63, 64, 1000, 100000, 1000000])

    def number(self):
        roll = self.r.random()
        if roll < 0.5:
            return self.pick(['0', '1', '-1', '0.5', 'NaN', 'Infinity', '-Infinity', '1e38', '-1e38',
                              '3.4e38', '1e-40', '1e-45', '7', '100'])
        return repr(self.r.uniform(-3, 3))

    def array(self, dim=4, typ=None):
        """A feature array: usually of the right length, often not"""
        typ = typ or self.pick(['real[]', 'float8[]'])
        roll = self.r.random()
        if roll < 0.45:
            return "'{%s}'::%s" % (','.join(repr(self.r.uniform(-3, 3)) for _ in range(dim)), typ)
        if roll < 0.5:
            n = self.pick([0, 1, dim - 1, dim + 1, 2 * dim, 65536, 65537])
            return "'{%s}'::%s" % (','.join(self.number() for _ in range(min(n, 64))), typ) \
                if n <= 64 else "array_fill(0.5::%s, ARRAY[%d])" % (typ[:-2], n)
        if roll < 0.55:
            vals = [self.number() for _ in range(dim)]
            return "'{%s}'::%s" % (','.join(vals), typ)
        if roll < 0.75:
            return self.pick([
                'NULL::%s' % typ, "'{}'::%s" % typ, "ARRAY[NULL]::%s" % typ,
                "'{{1,2},{3,4}}'::%s" % typ, "'{{1,2,3,4}}'::%s" % typ,
                "'[0:3]={1,2,3,4}'::%s" % typ, "'[-2147483648:-2147483645]={1,2,3,4}'::%s" % typ,
                "'[2147483644:2147483647]={1,2,3,4}'::%s" % typ,
                "ARRAY[1,NULL,3,4]::%s" % typ, "'{1,2,3,NULL}'::%s" % typ,
                "'{NaN,1,2,3}'::%s" % typ, "'{Infinity,-Infinity,0,0}'::%s" % typ,
                "'{1e300,1,2,3}'::float8[]", "'{1e-320,1,2,3}'::float8[]",
                "array_fill(1::%s, ARRAY[2,2])" % typ[:-2], "array_fill(1::%s, ARRAY[1,1,1,4])" % typ[:-2],
                "array_fill(NULL::%s, ARRAY[%d])" % (typ[:-2], dim),
                "(SELECT array_agg(x)::%s FROM generate_series(1, %d) x)" % (typ, dim),
                "'{1,2,3,4}'::int[]::%s" % typ,
                "array_fill(0::%s, ARRAY[0])" % typ[:-2],
            ])
        if roll < 0.85:
            n = self.pick([dim, 1 << 20, 3000000])
            return "array_fill(%s::%s, ARRAY[%d])" % (self.number(), typ[:-2], n)
        return "(SELECT features%s FROM mixrec_fuzz_data.clicks ORDER BY id LIMIT 1)" % (
            '8' if typ == 'float8[]' else '')

    def hidden(self):
        roll = self.r.random()
        if roll < 0.4:
            return "'{%s}'::int[]" % ','.join(str(self.r.randint(1, 8)) for _ in range(self.r.randint(0, 3)))
        return self.pick([
            'NULL::int[]', "'{}'::int[]", "'{0}'::int[]", "'{-1}'::int[]", "'{65536}'::int[]",
            "'{65537}'::int[]", "'{4096,4096}'::int[]", "'{65536,65536}'::int[]",
            "'{2147483647}'::int[]", "'{1,NULL}'::int[]", "'{{1,2}}'::int[]", "'[5:5]={3}'::int[]",
            "array_fill(1, ARRAY[16])", "array_fill(1, ARRAY[17])", "array_fill(2, ARRAY[100000])",
            "array_fill(4096, ARRAY[16])", "'{16777216}'::int[]", "'{1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1}'::int[]",
        ])

    def model(self):
        """A model bytea: valid, damaged, or not a model at all"""
        roll = self.r.random()
        name = self.pick(sorted(self.models))
        blob = self.models[name]
        if roll < 0.35:
            return lit_bytea(blob), name
        if roll < 0.8:
            return lit_bytea(self.damage(blob, model=True)), name
        if roll < 0.9:
            state = self.states[self.pick(sorted(self.states))]
            return lit_bytea(self.damage(state, model=False) if self.chance(0.5) else state), name
        return self.pick([
            'NULL::bytea', "''::bytea", "'\\x4d585243'::bytea", "'MXRC'::bytea",
            lit_bytea(bytes(self.r.getrandbits(8) for _ in range(self.r.randint(1, 300)))),
            "decode(repeat('00', 100000), 'hex')",
        ]), name

    def state(self):
        """A training state bytea: valid, damaged, a model, or random"""
        roll = self.r.random()
        name = self.pick(sorted(self.states))
        st = self.states[name]
        if roll < 0.2:
            return lit_bytea(st)
        if roll < 0.45:
            return lit_bytea(self.forge_state())
        if roll < 0.85:
            return lit_bytea(self.damage(st, model=False))
        if roll < 0.92:
            return lit_bytea(self.damage(self.models[self.pick(sorted(self.models))], model=True))
        return self.pick(['NULL::bytea', "''::bytea", "'MXRS'::bytea",
                          lit_bytea(b'MXRS\x01\x00\x00\x00' + bytes(self.r.getrandbits(8) for _ in range(200)))])

    def damage(self, blob, model):
        """Truncate, extend, flip or patch a blob; usually reseal its checksums"""
        b = bytearray(blob)
        roll = self.r.random()
        reseal = self.chance(0.8)
        if roll < 0.15:
            b = b[:self.r.randint(0, len(b) - 1)]
            if self.chance(0.5) and len(b) >= 16:
                struct.pack_into('<I', b, 12 if model else 8, len(b))
        elif roll < 0.25:
            b += bytes(self.r.getrandbits(8) if self.chance(0.3) else 0 for _ in range(self.pick([1, 3, 4, 8, 64])))
            if self.chance(0.7) and len(b) >= 16:
                struct.pack_into('<I', b, 12 if model else 8, len(b))
        elif roll < 0.45:
            for _ in range(self.r.randint(1, 4)):
                i = self.r.randrange(len(b))
                b[i] ^= 1 << self.r.randrange(8)
        elif roll < 0.9:
            # Patch one field: header fields mostly, else anywhere aligned
            if model:
                k = b[16] if len(b) > 20 else 0
                fields = [4, 8, 12, 16] + [20 + 4 * j for j in range(min(k, 16) + 2)]
            else:
                fields = [8, 16, 20, 24, 28, 32, 40, 44, 48, 52, 112, 120,
                          128 + 12, 128 + 16, 128 + 20, 128 + 24, 128 + 28]
            off = self.pick(fields) if self.chance(0.8) else self.r.randrange(0, max(1, len(b) - 4)) & ~3
            if off + 4 <= len(b):
                old, = struct.unpack_from('<I', b, off)
                val = self.pick([0, 1, 2, 3, 4, 7, 8, 16, 17, 255, 256, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF,
                                 0xFFFF, 0x10000, 0x10001, len(b), len(b) - 128, old + 1, old - 1, old * 2,
                                 old + 8, old - 8, self.r.getrandbits(32)]) & 0xFFFFFFFF
                struct.pack_into('<I', b, off, val)
                if not model and self.chance(0.3) and off in (20, 24, 28, 32):
                    # keep the sizes consistent with one another
                    struct.pack_into('<I', b, 8, len(b))
        else:
            # Overwrite a float with NaN, infinity or a huge value
            off = self.r.randrange(0, max(1, len(b) - 8)) & ~3
            b[off:off + 4] = struct.pack('<f', self.pick([math.nan, math.inf, -math.inf, 3e38, -0.0, 1e-45]))
        b = bytes(b)
        if reseal:
            b = reseal_model(b) if model else reseal_state(b)
        return b

    def forge_state(self):
        """A training state whose fields disagree, with every checksum valid"""
        s = bytearray(self.states[self.pick(sorted(self.states))])
        model_len, batch, cap, rows, row_bytes = struct.unpack_from('<IIIII', s, 16)
        edge = [0, 1, 2, 3, 4, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0x40000000, 0x10000, 0x10001, 0x3FFFFFFF]
        for _ in range(self.r.randint(1, 3)):
            what = self.r.randrange(6)
            if what == 0:
                # a dim or the layer count of the embedded model
                k, = struct.unpack_from('<I', s, 128 + 16)
                off = 128 + self.pick([16] + [20 + 4 * j for j in range(min(k, 16) + 2)])
                struct.pack_into('<I', s, off, self.pick(edge))
            elif what == 1:
                # rows in the pool, with values in them
                cap_now, = struct.unpack_from('<I', s, 24)
                n = self.pick([0, 1, max(0, cap_now - 1), cap_now, self.r.randrange(max(1, cap_now))])
                struct.pack_into('<I', s, 28, n)
                start = 128 + pad8(model_len)
                for i in range(start, min(len(s), start + n * row_bytes)):
                    s[i] = self.pick([0, 0, 0x3f, 0x80, 0xff, 1])
            elif what == 2:
                # batch size and pool capacity, the buffer resized to match
                b = self.pick([1, 2, batch, 3, 7, 65536, 0x80000000])
                c = b * self.pick([1, 2, 8]) if self.chance(0.8) else self.pick(edge)
                struct.pack_into('<II', s, 20, b & 0xFFFFFFFF, c & 0xFFFFFFFF)
                want = 128 + pad8(model_len) + (c & 0xFFFFFFFF) * row_bytes
                if want <= 1 << 22:
                    s = s[:want] + bytearray(max(0, want - len(s)))
            elif what == 3:
                struct.pack_into('<I', s, 32, self.pick([0, 1, 4, row_bytes - 4, row_bytes + 4, 0xFFFFFFFF]))
            elif what == 4:
                struct.pack_into('<Q', s, self.pick([40, 48, 120]), self.pick([0, 1, 2**63, 2**64 - 1]))
                struct.pack_into('<I', s, 112, self.pick([0, 1, 2, 3, 4]))
            else:
                # the embedded model's length
                struct.pack_into('<I', s, 16, self.pick([0, 8, model_len - 8, model_len + 8, len(s) - 128]) & 0xFFFFFFFF)
        struct.pack_into('<I', s, 8, len(s))
        if len(s) >= 128 + 16:
            ml, = struct.unpack_from('<I', s, 16)
            if 16 <= ml <= len(s) - 128:
                struct.pack_into('<I', s, 128 + 12, ml)
        return reseal_state(bytes(s))

    def options(self):
        """A jsonb options argument for mixrec_fit"""
        roll = self.r.random()
        if roll < 0.15:
            return self.pick(['NULL::jsonb', "'{}'::jsonb", "'[]'::jsonb", "'1'::jsonb", "'null'::jsonb",
                              "'\"x\"'::jsonb", "'{\"batch_size\": {\"a\": 1}}'::jsonb"])
        keys = ['batch_size', 'learning_rate', 'beta1', 'beta2', 'eps', 'weight_decay', 'optimizer',
                'alpha', 'shuffle', 'pool_batches', 'seed', 'on_invalid', 'unknown', '']
        vals = [0, 1, -1, 2, 7, 64, 65536, 65537, 2**31 - 1, 2**31, 2**63, -2**63, 1e308, 1e-308, 0.5, 1.5,
                'adam', 'adamw', 'skip', 'error', 'x', '', True, False, None, [], {}, [1, 2], 'NaN', '1e400']
        d = {}
        for _ in range(self.r.randint(1, 4)):
            d[self.pick(keys)] = self.pick(vals)
        text = json.dumps(d)
        if self.chance(0.1):
            text = text.replace('1e+308', '1e400')
        return lit_text(text) + '::jsonb'

    def import_json(self):
        """Interchange JSON: a valid export, damaged"""
        base = json.loads(self.export_json[self.pick(sorted(self.export_json))])
        for _ in range(self.r.randint(1, 3)):
            self.damage_json(base)
        return lit_text(json.dumps(base)) + '::jsonb'

    def damage_json(self, d):
        roll = self.r.random()
        keys = ['format', 'version', 'alpha', 'input_dim', 'hidden', 'output_dim', 'standardize', 'open',
                'commercial']
        key = self.pick(keys)
        bad = self.pick([None, 0, -1, 1, 2, 65537, 2**31, 2**63, 1e308, 0.5, 'x', '', [], {}, [1, 2],
                         [[1]], [None], {'mean': [], 'std': []}, True, [0] * 17, [65536, 65536]])
        if roll < 0.3:
            d.pop(key, None)
        elif roll < 0.6:
            d[key] = bad
        elif roll < 0.9 and isinstance(d.get('open'), dict) and d['open']:
            layer = self.pick(['open', 'commercial'])
            if isinstance(d.get(layer), dict) and d[layer]:
                k = self.pick(sorted(d[layer]))
                v = d[layer][k]
                r2 = self.r.random()
                if r2 < 0.3:
                    d[layer].pop(k)
                elif r2 < 0.5 and isinstance(v, list) and v:
                    v.pop()
                elif r2 < 0.7 and isinstance(v, list):
                    v.append(v[0] if v else 1)
                elif r2 < 0.8:
                    d[layer][self.pick(['4.weight', '1.weight', '0.weight ', '-2.bias', '99999999999.weight'])] = v
                else:
                    d[layer][k] = bad
        else:
            d[self.pick(['extra', 'Format', ''])] = bad


# --- fragments of SQL text for the functions that assemble statements ---

SOURCES = [
    'mixrec_fuzz_data.clicks', 'clicks', '"mixrec_fuzz_data"."clicks"', 'mixrec_fuzz_data.odd',
    'SELECT * FROM mixrec_fuzz_data.clicks', 'TABLE mixrec_fuzz_data.clicks',
    'VALUES (1)', 'SELECT 1', 'SELECT', 'WITH x AS (SELECT * FROM mixrec_fuzz_data.clicks) SELECT * FROM x',
    'SELECT * FROM mixrec_fuzz_data.clicks LIMIT 0', 'SELECT * FROM mixrec_fuzz_data.clicks WHERE false',
    'mixrec_fuzz_data.clicks; SELECT 1', 'SELECT * FROM mixrec_fuzz_data.clicks; SELECT 1',
    'SELECT * FROM mixrec_fuzz_data.clicks --', 'SELECT * FROM mixrec_fuzz_data.clicks /*',
    '(SELECT * FROM mixrec_fuzz_data.clicks)', 'mixrec_models', 'mixrec_model_versions', 'pg_class',
    'mixrec_fuzz_data.nonexistent', 'SELECT * FROM mixrec_fuzz_data.clicks FOR UPDATE',
    'SELECT features, id FROM mixrec_fuzz_data.clicks', 'SELECT id AS features, features AS id, clicked FROM mixrec_fuzz_data.clicks',
    'SELECT * FROM mixrec_fuzz_data.clicks, mixrec_fuzz_data.clicks c2', 'mixrec_fuzz_data.big',
    'SELECT * FROM mixrec_fuzz_data.clicks ORDER BY random()', 'mixrec_fuzz_data.multi',
    'SELECT pg_sleep(0.001), * FROM mixrec_fuzz_data.clicks', "SELECT * FROM mixrec_fuzz_data.clicks WHERE id = 1",
    'SELECT NULL::real[] AS features, NULL::bool AS clicked, NULL AS id', 'mixrec_fuzz.own',
    'SELECT * FROM mixrec_fuzz_data.clicks UNION ALL SELECT * FROM mixrec_fuzz_data.clicks',
    'INSERT INTO mixrec_fuzz.own VALUES (1) RETURNING *', 'EXPLAIN SELECT 1', 'SHOW work_mem',
    '$$', "'", ')', '(', '--', '/*', ';', '',
]

EXPRESSIONS = [
    'features', 'features8', 'clicked', 'id', 'tier', 'weight', 'user_id', 'label', 'labels',
    'features::float8[]', 'features::numeric[]', "features::int[]", 'features || features',
    'features[1:3]', 'features[1:0]', 'ARRAY[]::real[]', "'{{1,2},{3,4}}'::real[]", 'ARRAY[NULL]::real[]',
    "'{NaN,1,2,3}'::real[]", 'array_fill(0.5::real, ARRAY[100000])', 'NULL', "''", '1', '(SELECT 1)',
    'clicked::int', 'clicked::text', 'id::text::bytea', '/* c */ features', 'features /*', 'features --',
    'features)', '(features', 'features), (features', 'features, features', 'id), (id',
    'id)::text FROM mixrec_fuzz_data.clicks --', 'features) FROM mixrec_fuzz_data.clicks --',
    'features FROM mixrec_fuzz_data.clicks) s --', 'clicked) FROM mixrec_fuzz_data.clicks --',
    '1), (2), (3', '*', 'id, features', 'features FROM x; DROP TABLE x; --', '$$', "'", '"features"',
    '"Features"', 'features::real[]::float8[]::real[]', 'pg_sleep(0.001)', 'random()::real',
    "CASE WHEN id % 2 = 0 THEN features END", 'tier::bool', "'open'", "'commercial'", "'neither'",
    'clicked = true', 'weight * -1', "'NaN'::float8", "'Infinity'::float8", '1e308::float8',
    'id)::text, (features', 'features) AS x, (features', 'id) FROM mixrec_fuzz_data.users --',
    'user_id::text) FROM mixrec_fuzz_data.clicks GROUP BY (user_id --',
]


def expr(g):
    e = g.pick(EXPRESSIONS)
    if g.chance(0.15):
        e = e + g.pick([' ', '--', '/* */', ')', ',', ' ,1', '::text'])
    return lit_text(e)


def source(g):
    return lit_text(g.pick(SOURCES))


# --- the fuzzing phases: each returns the statements of one call --------

def call_model_functions(g):
    roll = g.r.random()
    if roll < 0.3:
        return ["SELECT length(mixrec_init(%s, %s, %s, %s, %s, %s))" % (
            g.int_() if g.chance(0.6) else str(g.r.randint(1, 8)), g.hidden(),
            g.int_() if g.chance(0.4) else '1', g.float_(), g.bigint(),
            g.text(['independent', 'shared', 'Shared', 'random']))]
    m, _ = g.model()
    if roll < 0.5:
        return ["SELECT mixrec_info(%s)" % m]
    if roll < 0.7:
        return ["SELECT length(mixrec_export(%s)::text)" % m]
    if roll < 0.9:
        return ["SELECT length(mixrec_import(%s))" % g.import_json()]
    return ["SELECT length(mixrec_import(%s))" % g.pick([
        'NULL::jsonb', "'{}'::jsonb", "'[]'::jsonb", "'1'::jsonb",
        "mixrec_export(mixrec_init(4, '{8}'))", "jsonb_set(mixrec_export(mixrec_init(2, '{2}')), '{hidden}', '[65536]')",
        "jsonb_set(mixrec_export(mixrec_init(2, '{2}')), '{open,0.weight}', '[[1e39, 1], [1, 1]]')",
        "jsonb_set(mixrec_export(mixrec_init(2, '{2}')), '{open,0.weight}', '[[\"1\", 1], [1, 1]]')",
        "jsonb_set(mixrec_export(mixrec_init(2, '{2}')), '{standardize}', '{\"mean\": [0, 0], \"std\": [0, -1]}')",
        "jsonb_set(mixrec_export(mixrec_init(2, '{}')), '{input_dim}', '65536')",
    ])]


def call_score(g):
    m, name = g.model()
    dim = {'m4': 4, 'm4d': 4, 'm1': 1, 'mmulti': 4, 'mstd': 4, 'mbig': 4, 'mdeep': 4}.get(name, 4)
    fn = g.pick(['mixrec_score', 'mixrec_score_all'])
    args = [m, g.array(dim)]
    if g.chance(0.6):
        args.append(g.text(MODES))
        if g.chance(0.6):
            args.append(g.float_())
    if g.chance(0.2):
        # one model for many rows, then one per row: the decoded-model cache
        return ["SELECT count(%s(%s, features%s)) FROM mixrec_fuzz_data.clicks" % (
            fn, m, g.pick(['', '8'])),
            "SELECT count(%s(CASE WHEN id %% 2 = 0 THEN %s ELSE %s END, features)) FROM mixrec_fuzz_data.clicks" % (
                fn, m, g.model()[0])]
    return ["SELECT %s(%s)" % (fn, ', '.join(args))]


def call_score_name(g):
    fn = g.pick(['mixrec_score', 'mixrec_score_all'])
    name = g.pick(MODEL_NAMES + ['nope', '', 'fz_m;', "fz_m' OR '1'='1"]) if g.chance(0.9) else None
    args = [lit_text(name), g.array(g.pick([4, 4, 4, 1, 5]))]
    if g.chance(0.7):
        args.append(g.text(MODES))
        args.append(g.float_())
        args.append(g.int_())
    if g.chance(0.2):
        return ["SELECT count(%s(%s, features%s)) FROM mixrec_fuzz_data.clicks" % (fn, lit_text(name), g.pick(['', '8']))]
    return ["SELECT %s(%s)" % (fn, ', '.join(args))]


def forged_aggregate(g, agg, sfunc, argtypes, initcond, finalfunc=None, combine=False):
    parts = ["SFUNC = %s" % sfunc, "STYPE = bytea"]
    if initcond is not None:
        parts.append("INITCOND = '\\x%s'" % initcond.hex())
    if finalfunc:
        parts.append("FINALFUNC = %s" % finalfunc)
    if combine:
        parts.append("COMBINEFUNC = mixrec_fit_combine, PARALLEL = SAFE")
    return "CREATE AGGREGATE pg_temp.%s(%s) (%s)" % (agg, argtypes, ', '.join(parts))


def forged_state_bytes(g):
    roll = g.r.random()
    if roll < 0.4:
        return g.forge_state()
    if roll < 0.7:
        return g.damage(g.states[g.pick(sorted(g.states))], model=False)
    if roll < 0.85:
        return g.states[g.pick(sorted(g.states))]
    return bytes(g.r.getrandbits(8) for _ in range(g.r.randint(0, 200)))


def call_aggregates(g):
    roll = g.r.random()
    src = g.pick(['mixrec_fuzz_data.clicks', 'mixrec_fuzz_data.odd', 'mixrec_fuzz_data.big'])
    feat = g.pick(['features', 'features', "features::real[]", "'{1,2,3}'::real[]", "ARRAY[NULL,1,2,3]::real[]"]) \
        if src != 'mixrec_fuzz_data.big' else 'features'
    label = g.pick(['clicked::int', 'id % 2', '0.5', "'NaN'::float8", '-1', '2', 'NULL', 'weight'] if src != 'mixrec_fuzz_data.big'
                   else ['label', 'label * 2'])
    limit = ' LIMIT %d' % g.pick([1, 10, 300, 3000]) if src == 'mixrec_fuzz_data.big' else ''
    stmts = []
    if g.chance(0.3):
        stmts += ["SET LOCAL max_parallel_workers_per_gather = 2", "SET LOCAL parallel_setup_cost = 0",
                  "SET LOCAL parallel_tuple_cost = 0", "SET LOCAL min_parallel_table_scan_size = 0"]
    if roll < 0.08 and src != 'mixrec_fuzz_data.big':
        # the streamed path's aggregate takes columns of any type ("any")
        m, _ = g.model()
        stmts.append("SELECT length(mixrec_fit_rows(%s, %s, %s, %s, %s, %s)) FROM %s" % (
            m, g.pick(['features', 'features::float8[]', 'features::numeric[]', 'features::text', 'id',
                       'ARRAY[id, id, id]', "ARRAY[id, NULL, 1]", "'{1,2,3}'", 'NULL::real[]']),
            g.pick(['clicked', 'clicked::int', 'clicked::text', 'id', 'ARRAY[0.5]', "'NaN'::float8",
                    'NULL::bool', "ARRAY['1']"]),
            g.pick(['weight', 'id', "'x'::text", "'NaN'::numeric", 'NULL::int', '1']),
            g.pick(['tier', 'clicked', 'id', "'open'::varchar", "'commercial'::char(12)", 'NULL::text',
                    "'x'::name", 'features']),
            g.options(), src))
    elif roll < 0.3:
        m, _ = g.model()
        agg = g.pick(['mixrec_fit', 'mixrec_fit_state'])
        form = g.r.randint(0, 2)
        extra = ''
        if form >= 1:
            extra += ', %s, %s' % (g.pick(['weight', '1.0', '0', '-1', "'NaN'::float8", 'NULL']),
                                   g.pick(['tier', 'NULL', "'open'", "'neither'", "''"]))
        if form == 2:
            extra += ', ' + g.options()
        from_ = '(SELECT * FROM %s%s) s' % (src, limit) if limit else src
        stmts.append("SELECT length(%s(%s, %s, %s%s)) FROM %s" % (agg, m, feat, label, extra, from_))
    elif roll < 0.45:
        stmts.append("SELECT length(mixrec_merge(s)) FROM (VALUES %s) v(s)" % ', '.join(
            '(%s)' % g.state() for _ in range(g.r.randint(1, 3))))
    elif roll < 0.55:
        stmts.append("SELECT mixrec_state_info(%s)" % g.state())
    elif roll < 0.65:
        # the support functions called directly
        stmts.append(g.pick([
            "SELECT length(mixrec_fit_accum(%s, %s, %s, 1))" % (g.state(), g.model()[0], g.array(4, 'real[]')),
            "SELECT length(mixrec_fit_accum(%s, %s, %s, 1, 1, 'open'))" % (g.state(), g.model()[0], g.array(4, 'real[]')),
            "SELECT length(mixrec_fit_accum(%s, %s, %s, 1, 1, NULL, %s))" % (g.state(), g.model()[0],
                                                                            g.array(4, 'real[]'), g.options()),
            "SELECT length(mixrec_fit_combine(%s, %s))" % (g.state(), g.state()),
            "SELECT length(mixrec_fit_final(%s))" % g.state(),
            "SELECT length(mixrec_merge_accum(%s, %s))" % (g.state(), g.state()),
        ]))
    else:
        # forged states as the INITCOND of the role's own aggregates
        init = forged_state_bytes(g)
        kind = g.r.randint(0, 5)
        if kind == 0:
            stmts.append(forged_aggregate(g, 'f', 'mixrec_fit_accum', 'bytea, real[], float8', init,
                                          g.pick([None, 'mixrec_fit_final']), g.chance(0.3)))
            stmts.append("SELECT length(pg_temp.f(%s, %s, %s)) FROM %s" % (
                g.pick(['NULL::bytea', g.model()[0]]), feat, label, '(SELECT * FROM %s%s) s' % (src, limit)))
        elif kind == 1:
            stmts.append(forged_aggregate(g, 'f', 'mixrec_fit_accum', 'bytea, real[], float8, float8, text', init,
                                          g.pick([None, 'mixrec_fit_final'])))
            stmts.append("SELECT length(pg_temp.f(NULL::bytea, ARRAY[1,2,3,4]::real[], %s, 1, %s)) "
                         "FROM generate_series(1, %d)" % (g.pick(['1', '0', '0.5']), g.pick(["'open'", 'NULL']),
                                                          g.pick([1, 8, 100, 2000])))
        elif kind == 2:
            stmts.append(forged_aggregate(g, 'f', 'mixrec_merge_accum', 'bytea', init,
                                          g.pick([None, 'mixrec_fit_final'])))
            stmts.append("SELECT length(pg_temp.f(s)) FROM (VALUES %s) v(s)" % ', '.join(
                '(%s)' % g.state() for _ in range(g.r.randint(1, 2))))
        elif kind == 3:
            # the combine function as a transition function
            stmts.append(forged_aggregate(g, 'f', 'mixrec_fit_combine', 'bytea', init,
                                          g.pick([None, 'mixrec_fit_final'])))
            stmts.append("SELECT length(pg_temp.f(s)) FROM (VALUES %s) v(s)" % ', '.join(
                '(%s)' % g.state() for _ in range(g.r.randint(1, 2))))
        elif kind == 4:
            # only the final function sees the forged state
            stmts.append(forged_aggregate(g, 'f', 'mixrec_fit_accum', 'bytea, real[], float8', init,
                                          'mixrec_fit_final'))
            stmts.append("SELECT length(pg_temp.f(m, f, y)) FROM (SELECT NULL::bytea m, NULL::real[] f, "
                         "NULL::float8 y WHERE false) s")
        else:
            # the forged state in a parallel plan: combined in the leader
            stmts += ["SET LOCAL max_parallel_workers_per_gather = 2", "SET LOCAL parallel_setup_cost = 0",
                      "SET LOCAL parallel_tuple_cost = 0", "SET LOCAL min_parallel_table_scan_size = 0"]
            stmts.append(forged_aggregate(g, 'f', 'mixrec_fit_accum', 'bytea, real[], float8', init,
                                          g.pick([None, 'mixrec_fit_final']), True))
            stmts.append("SELECT length(pg_temp.f(%s, features, label)) FROM mixrec_fuzz_data.big" % (
                g.pick(['NULL::bytea', lit_bytea(g.models['m4'])])))
    return stmts


def call_holdout(g):
    arr = g.pick([g.array(4), "'{}'::int[]", "'{a,b}'::text[]", "'{{1,2},{3,4}}'::int[]", "ARRAY[NULL]::int[]",
                  "array_fill(1, ARRAY[1000000])", "'{1,2}'::bytea[]", "ARRAY['{1}'::jsonb]",
                  "ARRAY[ROW(1, 'x')]", "'[-5:-4]={1,2}'::int[]", "'{t,f}'::bool[]", "ARRAY[1.5]::numeric[]"])
    return ["SELECT mixrec_holdout(%s, %s)" % (arr, g.bigint())]


def call_train(g):
    if g.chance(0.5):
        method = g.text(['auto', 'memory', 'stream', 'Stream'], 0.9)
        params = [
            ('domain', expr(g) if g.chance(0.4) else 'NULL'),
            ('weight', expr(g) if g.chance(0.3) else 'NULL'),
            ('alpha', g.float_() if g.chance(0.3) else '0.5'),
            ('hidden', g.hidden() if g.chance(0.4) else "'{4}'"),
            ('epochs', g.int_() if g.chance(0.3) else '1'),
            ('batch_size', g.int_() if g.chance(0.3) else '32'),
            ('learning_rate', g.float_() if g.chance(0.3) else '0.01'),
            ('beta1', g.float_() if g.chance(0.1) else '0.9'),
            ('beta2', g.float_() if g.chance(0.1) else '0.999'),
            ('eps', g.float_() if g.chance(0.1) else '1e-8'),
            ('weight_decay', g.float_() if g.chance(0.1) else '0'),
            ('optimizer', g.text(['adam', 'adamw']) if g.chance(0.2) else "'adam'"),
            ('validation_fraction', g.float_() if g.chance(0.3) else '0.1'),
            ('patience', g.int_() if g.chance(0.2) else 'NULL'),
            ('standardize', g.pick(['true', 'false', 'true', 'false', 'NULL'])),
            ('shuffle', g.pick(['true', 'false', 'true', 'false', 'NULL'])),
            ('init', g.text(['independent', 'shared']) if g.chance(0.2) else "'independent'"),
            ('seed', g.bigint() if g.chance(0.2) else '42'),
            ('initial_model', g.model()[0] if g.chance(0.3) else 'NULL'),
            ('on_invalid', g.text(['error', 'skip']) if g.chance(0.4) else "'error'"),
            ('method', method),
        ]
        src, feat, lab = source(g), expr(g), expr(g)
        if g.chance(0.5):
            src, feat, lab = lit_text(g.pick(['mixrec_fuzz_data.clicks', 'mixrec_fuzz_data.odd'])), \
                lit_text(g.pick(['features', 'features8'])), lit_text(g.pick(['clicked', 'weight', 'tier', 'id']))
        if g.chance(0.5):
            # domain and weight, the options as one jsonb, initial_model and model_name
            options = ', '.join("'%s', %s" % (k, v) for k, v in params
                                if k not in ('domain', 'weight', 'initial_model') and g.chance(0.6))
            values = dict(params)
            return ["SELECT length(weights), metrics IS NULL FROM mixrec_train_model(%s, %s, %s, %s, %s, "
                    "jsonb_build_object(%s), %s, %s)" % (
                        src, feat, lab, values['domain'], values['weight'], options,
                        values['initial_model'], g.text(['fz_x'], 0.9))]
        named = ', '.join('%s => %s' % (k, v) for k, v in params if g.chance(0.6))
        name = g.text(['fz_t', 'fz_m'], 0.9)
        return ["SELECT * FROM mixrec_train(%s, %s, %s, %s%s)" % (name, src, feat, lab,
                                                                 (', ' + named) if named else '')]
    # mostly sane, with one argument shifted
    src = source(g) if g.chance(0.5) else "'mixrec_fuzz_data.clicks'"
    feat = expr(g) if g.chance(0.5) else "'features'"
    lab = expr(g) if g.chance(0.5) else "'clicked'"
    extra = ''
    if g.chance(0.5):
        extra += ', domain => ' + expr(g)
    if g.chance(0.3):
        extra += ', weight => ' + expr(g)
    if g.chance(0.3):
        extra += ', warm_start => true'
    return ["SELECT * FROM mixrec_train(%s, %s, %s, %s, hidden => '{3}', epochs => 1%s, method => %s)" % (
        g.text(['fz_m', 'fz_t']), src, feat, lab, extra, g.text(['auto', 'memory', 'stream']))]


def call_predict(g):
    name = g.text(MODEL_NAMES)
    if g.chance(0.5):
        return ["SELECT count(*), sum(score) FROM mixrec_predict(%s, %s, %s, %s, %s, %s, %s)" % (
            name, source(g), expr(g), expr(g), g.text(MODES), g.float_(), g.int_())]
    # one shifted argument among sane ones
    args = ["'fz_m'", "'mixrec_fuzz_data.clicks'", "'id'", "'features'"]
    i = g.r.randrange(4)
    args[i] = [name, source(g), expr(g), expr(g)][i]
    return ["SELECT count(*), sum(score) FROM mixrec_predict(%s)" % ', '.join(args)]


def call_recommend(g):
    args = ["'fz_ui'", "'mixrec_fuzz_data.users'", "'mixrec_fuzz_data.items'", "'user_id'", "'item_id'",
            "'features'", "'features'", '3', 'NULL', "'blend'", 'NULL', 'NULL']
    gens = [lambda: g.text(MODEL_NAMES), lambda: source(g), lambda: source(g), lambda: expr(g), lambda: expr(g),
            lambda: expr(g), lambda: expr(g), g.int_,
            lambda: g.pick([source(g), "'mixrec_fuzz_data.seen'", "'SELECT item_id, user_id FROM mixrec_fuzz_data.seen'",
                            "'SELECT 1'", "'SELECT NULL, NULL'", "'SELECT user_id FROM mixrec_fuzz_data.seen'"]),
            lambda: g.text(MODES), g.float_, g.int_]
    for _ in range(g.r.randint(1, 3)):
        i = g.r.randrange(len(args))
        args[i] = gens[i]()
    return ["SELECT count(*), max(rank) FROM mixrec_recommend(%s)" % ', '.join(args)]


def call_evaluate(g):
    args = ["'fz_m'", "'mixrec_fuzz_data.clicks'", "'features'", "'clicked'", 'NULL', 'NULL', '10', 'NULL']
    gens = [lambda: g.text(MODEL_NAMES), lambda: source(g), lambda: expr(g), lambda: expr(g),
            lambda: expr(g), lambda: g.pick([expr(g), "'user_id'", "'tier'"]), g.int_, g.int_]
    for _ in range(g.r.randint(1, 3)):
        i = g.r.randrange(len(args))
        args[i] = gens[i]()
    return ["SELECT count(*), sum(value) FROM mixrec_evaluate(%s)" % ', '.join(args)]


def call_registry(g):
    name = g.text(MODEL_NAMES + ['nope', 'fz_m '])
    return [g.pick([
        "SELECT mixrec_activate(%s, %s)" % (name, g.int_()),
        "SELECT mixrec_drop(%s, %s)" % (name, g.int_()),
        "SELECT mixrec_drop(%s)" % name,
        "SELECT count(*) FROM mixrec_training_info(%s, %s)" % (name, g.int_()),
        "SELECT count(*) FROM mixrec_training_info(%s)" % name,
        "SELECT count(*), sum(input_dim), sum(bytes) FROM mixrec_model_versions",
        # a damaged model in the registry, then read back through every path
        "UPDATE mixrec_models SET weights = %s WHERE name = %s" % (g.model()[0], name),
        "UPDATE mixrec_models SET metrics = %s WHERE name = %s" % (g.pick([
            "'{}'", "'{\"epochs\": 5}'", "'{\"epochs\": [1, {\"epoch\": \"x\"}], \"best_epoch\": 99999}'",
            "'{\"best_epoch\": -2147483648, \"epochs_run\": 2147483647}'", "'[]'", "'null'"]), name),
    ])] + ([g.pick([
        "SELECT count(*), sum(input_dim) FROM mixrec_model_versions",
        "SELECT count(*) FROM mixrec_training_info(%s)" % name,
        "SELECT mixrec_score(%s, '{1,2,3,4}'::real[])" % name,
        "SELECT count(*) FROM mixrec_predict(%s, 'mixrec_fuzz_data.clicks', 'id', 'features')" % name,
        "SELECT count(*) FROM mixrec_evaluate(%s, 'mixrec_fuzz_data.clicks', 'features', 'clicked')" % name,
        "SELECT * FROM mixrec_train(%s, 'mixrec_fuzz_data.clicks', 'features', 'clicked', epochs => 1, warm_start => true)" % name,
    ])] if g.chance(0.6) else [])


# (name, generator, share of the calls, share of the time, whether its crash
# files need the registered models).  The functions that run SQL of their
# own take 20 to 40 ms a call, the others well under 10 ms.
PHASES = [
    ('mixrec_init, mixrec_info, mixrec_export, mixrec_import', call_model_functions, 140, 2, False),
    ('mixrec_score and mixrec_score_all with a model bytea', call_score, 160, 3, False),
    ('mixrec_score and mixrec_score_all by name', call_score_name, 60, 1, True),
    ('mixrec_fit, mixrec_fit_state, mixrec_merge, their support functions and forged aggregates',
     call_aggregates, 200, 10, False),
    ('mixrec_holdout', call_holdout, 30, 1, False),
    ('mixrec_train and mixrec_train_model', call_train, 50, 15, True),
    ('mixrec_predict', call_predict, 40, 12, True),
    ('mixrec_recommend', call_recommend, 35, 13, True),
    ('mixrec_evaluate', call_evaluate, 25, 12, True),
    ('mixrec_activate, mixrec_drop, mixrec_training_info, mixrec_model_versions', call_registry, 60, 1, True),
]


# --- the harness -------------------------------------------------------------

class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, cond, desc):
        self.n += 1
        if not cond:
            self.failed += 1
        print('%s %d - %s' % ('ok' if cond else 'not ok', self.n, desc), flush=True)

    def diag(self, msg):
        for line in str(msg).splitlines():
            print('# ' + line, flush=True)


class Server:
    """The superuser monitor session and the role's fuzzing session"""

    def __init__(self, dbname, tap):
        self.dbname = dbname
        self.tap = tap
        self.monitor = None
        self.conn = None
        self.start_time = None

    def connect_super(self):
        c = psycopg2.connect(dbname=self.dbname, application_name='mixrec_sql_fuzz_monitor')
        c.autocommit = True
        return c

    def connect_role(self):
        c = psycopg2.connect(dbname=self.dbname, user=ROLE, application_name='mixrec_sql_fuzz')
        c.autocommit = True
        with c.cursor() as cur:
            cur.execute("SET search_path = public, %s" % OWN_SCHEMA)
        return c

    def open(self):
        self.monitor = self.connect_super()
        self.start_time = self.read_start_time()
        self.conn = self.connect_role()

    def read_start_time(self):
        with self.monitor.cursor() as cur:
            cur.execute("SELECT pg_postmaster_start_time(), pg_backend_pid()")
            return cur.fetchone()[0]

    def restarted(self, connection_lost):
        """Did the server restart (or is it restarting)?"""
        deadline = time.time() + (1.0 if connection_lost else 0)
        while True:
            try:
                if self.read_start_time() != self.start_time:
                    return True
            except psycopg2.Error:
                return True
            if time.time() >= deadline:
                return False
            time.sleep(0.05)

    def recover(self):
        """Wait until the server accepts connections again, and reconnect"""
        for c in (self.conn, self.monitor):
            try:
                c.close()
            except Exception:
                pass
        deadline = time.time() + RECOVERY_SECONDS
        while True:
            try:
                self.monitor = self.connect_super()
                self.start_time = self.read_start_time()
                self.conn = self.connect_role()
                return True
            except psycopg2.Error:
                if time.time() > deadline:
                    return False
                time.sleep(0.2)

    def reconnect_role(self):
        try:
            self.conn.close()
        except Exception:
            pass
        self.conn = self.connect_role()

    def run_call(self, stmts):
        """Run one call in its own transaction; return (crashed, lost, error,
        bad_text): bad_text says where text invalid in the database's
        encoding (UTF-8) reached the client, if it did"""
        error = None
        lost = False
        bad_text = None
        try:
            with self.conn.cursor() as cur:
                cur.execute('BEGIN')
                for s in CALL_SETTINGS:
                    cur.execute(s)
                try:
                    for s in stmts:
                        cur.execute(s)
                        if cur.description:
                            try:
                                cur.fetchall()
                            except UnicodeError as e:
                                # psycopg2 decodes text results strictly
                                bad_text = 'a result: %s' % e
                except psycopg2.Error as e:
                    error = e
                    # and error messages leniently, invalid bytes as U+FFFD
                    if '\ufffd' in (e.pgerror or ''):
                        bad_text = 'the error: %s' % ' '.join(e.pgerror.split())[:200]
                cur.execute('ROLLBACK')
        except (psycopg2.OperationalError, psycopg2.InterfaceError) as e:
            lost = True
            error = error or e
        except psycopg2.Error as e:
            error = error or e
        if self.conn.closed:
            lost = True
        # a parallel worker's crash reaches the leader as an error first
        suspicious = error is not None and ('terminated' in str(error) or 'crash' in str(error))
        crashed = self.restarted(lost or suspicious)
        return crashed, lost, error, bad_text


def superuser_setup(dbname, tap):
    c = psycopg2.connect(dbname=dbname)
    c.autocommit = True
    with c.cursor() as cur:
        cur.execute("SET client_min_messages = warning")
        cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (ROLE,))
        if not cur.fetchone():
            cur.execute("CREATE ROLE %s LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE" % ROLE)
        cur.execute("DROP SCHEMA IF EXISTS %s CASCADE" % OWN_SCHEMA)
        cur.execute("DROP SCHEMA IF EXISTS %s CASCADE" % DATA_SCHEMA)
        cur.execute(DATA_TABLES)
        cur.execute("GRANT USAGE ON SCHEMA %s TO %s" % (DATA_SCHEMA, ROLE))
        cur.execute("GRANT SELECT ON ALL TABLES IN SCHEMA %s TO %s" % (DATA_SCHEMA, ROLE))
        cur.execute("CREATE SCHEMA %s" % OWN_SCHEMA)
        cur.execute("GRANT USAGE, CREATE ON SCHEMA %s TO %s" % (OWN_SCHEMA, ROLE))
        # What README.md tells a trainer to grant: the registry tables
        cur.execute("GRANT SELECT, INSERT, UPDATE, DELETE ON mixrec_models, mixrec_model_counters TO %s" % ROLE)
        cur.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", (ROLE,))
        assert cur.fetchone()[0] is False
    c.close()


def role_setup(server):
    """Build the role's own table and models; return valid models and states"""
    with server.conn.cursor() as cur:
        cur.execute("SET client_min_messages = error")
        cur.execute("CREATE TABLE %s.own (id int)" % OWN_SCHEMA)
        cur.execute("SELECT mixrec_drop(name) FROM (SELECT DISTINCT name FROM mixrec_models "
                    "WHERE name LIKE 'fz\\_%%') n")
        for s in FIXTURE_MODELS:
            cur.execute(s)
        cur.execute("SET max_parallel_workers_per_gather = 0")
        models = {}
        for label, sql in [
            ('m4', "SELECT mixrec_init(4, '{8}', 1, 0.7, 3)"),
            ('m4d', "SELECT mixrec_init(4, '{3,2}', 1, 0.5, 5, 'shared')"),
            ('m1', "SELECT mixrec_init(1, '{}', 1, 0, 1)"),
            ('mmulti', "SELECT mixrec_init(4, '{2}', 3, 1, 9)"),
            ('mstd', "SELECT weights FROM mixrec_models WHERE name = 'fz_m' AND version = 1"),
            ('mdeep', "SELECT mixrec_init(4, array_fill(2, ARRAY[16]), 1, 0.5, 2)"),
        ]:
            cur.execute(sql)
            models[label] = bytes(cur.fetchone()[0])
        states = {}
        for label, sql in [
            ('s_pool', "SELECT mixrec_fit_state(%s, features, clicked::int, weight, tier, "
                       "'{\"batch_size\": 8, \"pool_batches\": 4}') FROM mixrec_fuzz_data.clicks WHERE id <= 21"
                       % lit_bytea(models['m4'])),
            ('s_flushed', "SELECT mixrec_fit_state(%s, features, clicked::int, 1, NULL, "
                          "'{\"batch_size\": 4, \"pool_batches\": 1}') FROM mixrec_fuzz_data.clicks WHERE id <= 8"
                          % lit_bytea(models['m4'])),
            ('s_std', "SELECT mixrec_fit_state(%s, features, clicked::int) FROM mixrec_fuzz_data.clicks "
                      "WHERE id <= 5" % lit_bytea(models['mstd'])),
            ('s_deep', "SELECT mixrec_fit_state(%s, features, clicked::int, 1, 'open', '{\"batch_size\": 2, "
                       "\"optimizer\": \"adamw\", \"on_invalid\": \"skip\"}') FROM mixrec_fuzz_data.clicks "
                       "WHERE id <= 3" % lit_bytea(models['m4d'])),
        ]:
            cur.execute(sql)
            states[label] = bytes(cur.fetchone()[0])
        exports = {}
        for label in ('m4', 'mstd', 'm4d'):
            cur.execute("SELECT mixrec_export(%s)::text" % lit_bytea(models[label]))
            exports[label] = cur.fetchone()[0]
        cur.execute("RESET max_parallel_workers_per_gather")
    return models, states, exports


def crash_file_text(seed, n, phase, stmts, needs_models, error):
    lines = [
        '-- The server restarted while running this call of test/fuzz/sql_fuzz.py',
        '-- (seed %d, call %d, phase: %s).' % (seed, n, phase),
        '-- Run it as an unprivileged role (mixrec_fuzzer) in a database that',
        '-- sql_fuzz.py has prepared: it reads the tables of %s.' % DATA_SCHEMA,
    ]
    if error is not None:
        lines.append('-- The client saw: %s' % ' '.join(str(error).split())[:200])
    lines.append('BEGIN;')
    lines += [s + ';' for s in CALL_SETTINGS]
    if needs_models:
        lines.append("SET LOCAL client_min_messages = warning;")
        lines += [s + ';' for s in FIXTURE_MODELS]
    lines += [s + ';' for s in stmts]
    lines.append('ROLLBACK;')
    return '\n'.join(lines) + '\n'


def replay(server, tap, dbname, path):
    """Run one regression file with psql as the role; ok when the server did not restart"""
    env = dict(os.environ, PGUSER=ROLE, PGDATABASE=dbname, PGOPTIONS='-c statement_timeout=10s')
    env.pop('PGPASSWORD', None)
    name = os.path.basename(path)
    try:
        out = subprocess.run(['psql', '-X', '-q', '-f', path], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, timeout=60).stdout.decode(errors='replace')
    except subprocess.TimeoutExpired:
        out = 'psql timed out'
    lost = 'connection to server was lost' in out or 'server closed the connection' in out
    crashed = server.restarted(lost)
    if crashed or lost:
        for line in out.splitlines():
            if 'server closed' in line or 'terminat' in line or 'lost' in line:
                tap.diag('%s: %s' % (name, line.strip()))
                break
    tap.ok(not crashed, 'regression file %s: no restart' % name)
    if crashed:
        if not server.recover():
            return False
    else:
        server.reconnect_role()
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--calls', type=int, default=5000, help='fuzzing calls in all, shared among the phases')
    ap.add_argument('--dbname', default=os.environ.get('PGDATABASE', 'postgres'))
    ap.add_argument('--max-seconds', type=float, default=55,
                    help='time for all the phases, shared by fixed weights')
    ap.add_argument('--replay-only', action='store_true', help='only replay the regression files')
    ap.add_argument('--no-write', action='store_true', help='write no crash files')
    ap.add_argument('--phase', help='run only the phases whose name contains this')
    ap.add_argument('--verbose', action='store_true', help='count the errors of each phase by message')
    args = ap.parse_args()

    run_started = time.time()
    tap = Tap()
    superuser_setup(args.dbname, tap)
    server = Server(args.dbname, tap)
    server.open()
    tap.diag('seed %d, %d calls, postmaster started at %s' % (args.seed, args.calls, server.start_time))

    # 1. past crash inputs, first
    files = sorted(f for f in os.listdir(REGRESSIONS) if f.endswith('.sql')) if os.path.isdir(REGRESSIONS) else []
    for f in files:
        if not replay(server, tap, args.dbname, os.path.join(REGRESSIONS, f)):
            tap.diag('the server did not come back within %d s' % RECOVERY_SECONDS)
            print('1..%d' % tap.n)
            return 1
    if args.replay_only:
        print('1..%d' % tap.n)
        return 0 if tap.failed == 0 else 1

    # 2. the phases
    models, states, exports = role_setup(server)
    total_weight = sum(p[2] for p in PHASES)
    total_time = sum(p[3] for p in PHASES)
    started = time.time()
    for index, (phase, fn, weight, time_share, needs_models) in enumerate(PHASES):
        if args.phase and args.phase not in phase:
            continue
        count = max(1, args.calls * weight // total_weight)
        g = Gen(random.Random('%d/%d' % (args.seed, index)), models, states, exports)
        crashes = []
        bad_texts = []
        errors = 0
        messages = {}
        t0 = time.time()
        done = 0
        budget = args.max_seconds * time_share / total_time
        for i in range(count):
            if time.time() - t0 > budget:
                tap.diag('%s: out of time after %d of %d calls' % (phase, done, count))
                break
            n = index * 100000 + i
            stmts = fn(g)
            crashed, lost, error, bad_text = server.run_call(stmts)
            done += 1
            if bad_text is not None:
                if len(bad_texts) < 3:
                    tap.diag('call %d of phase "%s" returned invalid text in %s' % (n, phase, bad_text))
                    tap.diag('  ' + ' '.join(stmts[-1].split())[:300])
                bad_texts.append(n)
            if error is not None:
                errors += 1
                if args.verbose:
                    key = re.sub(r'[0-9]+', 'N', str(error).split('\n')[0])[:100]
                    messages[key] = messages.get(key, 0) + 1
            if crashed:
                text = crash_file_text(args.seed, n, phase, stmts, needs_models, error)
                fname = 'crash-%d-%d.sql' % (args.seed, n)
                crashes.append(fname)
                tap.diag('the server restarted during call %d of phase "%s": %s' % (n, phase, fname))
                tap.diag('  ' + ' '.join(stmts[-1].split())[:300])
                if not args.no_write:
                    os.makedirs(REGRESSIONS, exist_ok=True)
                    with open(os.path.join(REGRESSIONS, fname), 'w') as out:
                        out.write(text)
                if not server.recover():
                    tap.diag('the server did not come back within %d s' % RECOVERY_SECONDS)
                    tap.ok(False, '%d calls of %s: no restart' % (done, phase))
                    print('1..%d' % tap.n)
                    return 1
                if len(crashes) >= MAX_CRASHES_PER_PHASE:
                    tap.diag('phase stopped after %d crashes' % len(crashes))
                    break
            elif lost:
                tap.diag('call %d of phase "%s" lost its connection without a restart: %s' % (
                    n, phase, ' '.join(str(error).split())[:200]))
                server.reconnect_role()
        tap.diag('%s: %d calls, %d ended in an error, %.1f s' % (phase, done, errors, time.time() - t0))
        for key, c in sorted(messages.items(), key=lambda kv: -kv[1])[:12]:
            tap.diag('  %5d  %s' % (c, key))
        tap.ok(not crashes, '%d calls of %s: no restart' % (done, phase))
        if bad_texts:
            tap.ok(False, '%d of %d calls of %s returned text invalid in UTF-8' % (len(bad_texts), done, phase))
    tap.diag('fuzzing took %.1f s, %.1f s in all' % (time.time() - started, time.time() - run_started))
    print('1..%d' % tap.n)
    return 0 if tap.failed == 0 else 1


if __name__ == '__main__':
    try:
        sys.exit(main())
    except Exception as e:
        # still a complete TAP stream, so the failure is counted
        print('not ok 999 - the fuzzer itself failed: %s' % ' '.join(str(e).split())[:300])
        print('1..999')
        raise
