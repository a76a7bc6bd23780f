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
     assembles.  Models of typed columns get phases of their own: their
     transform sections taken apart and put back with names, vocabularies,
     statistics, kinds and order changed (invalid UTF-8 too), or with one
     field (counts, lengths, positions, widths, entry ends and order) set
     to an edge value, lengths and checksums recomputed, or their
     interchange JSON damaged and imported; rows of missing columns, wrong
     types, odd values and odd row types, and tables whose row type
     changes under a prepared statement or a PL/pgSQL loop; and training,
     serving and evaluation on typed sources with random features, exclude
     and transform arguments.  Embedded columns and training from
     positives only have two more: training with random and partly hostile
     embed, embed_optimizer, transform (top_k), items, item_id, negatives
     and negative_sampling arguments, in memory and streamed; and models of
     embedded columns forged (E, the lazy flag, a table's numbers, the
     embed flag, dimensions and vocabularies changed, with E, the tables
     and the lengths made to fit or not, checksums recomputed), or their
     interchange JSON damaged (tables of other sizes or with bad numbers,
     "embed" keys out of range, missing or extra) or changed consistently,
     then read by mixrec_embeddings and mixrec_similar (with odd columns,
     values, k and modes too), scoring, mixrec_info, mixrec_fit, serving
     and continued training.  Errors are expected; what must never happen
     is a server restart, an internal error (SQLSTATE XX000: an elog(), or
     an ereport() without an errcode) or an error without a SQLSTATE, or
     text that is not valid in the database's encoding (UTF-8) reaching the
     client, in a result or in an error message: each phase with such calls
     adds a failing test.

After every call it checks that the call's connection is alive and that
the monitor session still reads the same pg_postmaster_start_time().  On a
restart it writes the call's SQL to sql_regressions/crash-SEED-N.sql
(self-contained but for the tables of step 1), waits for the server to
accept connections again (up to 30 s), reconnects and goes on, so that one
crash does not hide another; a phase stops after three crashes.  Git
ignores crash-* files: one worth keeping is cut down to a self-contained
script and committed under a name that says what it does.

The random choices depend only on --seed (default 1), so a run is
repeatable; --calls (default 8400) is the total number of fuzzing calls,
shared among the phases by fixed weights.  On an idle 2-core machine a run
takes about 45 s, plus about half a second for each crash.  So that a
loaded machine cannot stretch it without bound, each phase also stops
when it has used its share of --max-seconds (default 75): the calls it
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
CREATE TYPE {DATA_SCHEMA}.mood AS ENUM ('calm', 'busy', 'angry');
CREATE DOMAIN {DATA_SCHEMA}.grade AS int CHECK (VALUE >= 0);
CREATE DOMAIN {DATA_SCHEMA}.shelf AS text;
CREATE TABLE {DATA_SCHEMA}.typed AS
SELECT i AS id,
       (18 + i % 50)::int AS age,
       CASE WHEN i % 17 = 0 THEN NULL ELSE (1000 + (i * 37) % 5000)::numeric(10, 2) END AS income,
       CASE WHEN i % 11 = 0 THEN NULL ELSE i % 3 = 0 END AS premium,
       (ARRAY['fr', 'de', 'it', 'es', 'nl', 'be', 'pt', 'at', 'ch', 'se', 'dk'])[1 + i % 11] AS country,
       CASE WHEN i % 7 = 0 THEN NULL ELSE (ARRAY['phone', 'desktop'])[1 + i % 2]::varchar(10) END AS device,
       (ARRAY['calm', 'busy', 'angry'])[1 + i % 3]::{DATA_SCHEMA}.mood AS mood,
       CASE WHEN i % 13 = 0 THEN NULL
            ELSE (ARRAY['sale', 'new', 'gift', 'eco'])[1 + i % 4 : 1 + i % 4 + i % 2] END AS tags,
       ARRAY[sin(i), cos(i), (i % 9)::float8]::real[] AS embedding,
       timestamptz '2026-01-01 00:00:00+00' + i * interval '97 minutes' AS visited_at,
       date '2025-01-01' + i % 400 AS signup,
       timestamp '2024-06-01' + i * interval '1 hour' AS seen,
       (i % 9)::{DATA_SCHEMA}.grade AS grade,
       (ARRAY['a', 'b', 'c'])[1 + i % 3]::char(2) AS code,
       (ARRAY['x', 'y'])[1 + i % 2]::name AS handle,
       i % 4 AS bucket,
       (ARRAY['open', 'commercial', NULL])[1 + i % 3]::{DATA_SCHEMA}.shelf AS shelf,
       ARRAY[(ARRAY['calm', 'busy'])[1 + i % 2]]::{DATA_SCHEMA}.mood[] AS moods,
       i % 5 AS "Größe",
       (ARRAY['on', 'off'])[1 + i % 2] AS "odd ""name"", here",
       (i % 5 IN (0, 1)) <> (i % 4 = 0) AS label,
       (i % 3) * 0.5 AS weight
FROM generate_series(1, 400) AS i;
-- The same columns with values a model cannot encode, or barely
CREATE TABLE {DATA_SCHEMA}.typed_odd AS
SELECT i AS id,
       (ARRAY[NULL, -2147483648, 2147483647, 0])[1 + i % 4]::int AS age,
       (ARRAY[NULL, 'NaN', 'Infinity', '-Infinity', '1e300', '-5', '0'])[1 + i % 7]::numeric AS income,
       NULL::bool AS premium,
       (ARRAY[NULL, '', 'fr', repeat('x', 1025), E'\t', 'atlantis'])[1 + i % 6] AS country,
       NULL::varchar(10) AS device,
       (ARRAY[NULL, 'angry'])[1 + i % 2]::{DATA_SCHEMA}.mood AS mood,
       (ARRAY[NULL, '{{}}', '{{NULL}}', '{{{{sale,new}},{{eco,gift}}}}', '[3:4]={{sale,eco}}',
              '{{sale,sale}}'])[1 + i % 6]::text[] AS tags,
       (ARRAY[NULL, '{{}}', '{{1,2}}', '{{NaN,1,2}}', '{{1,NULL,3}}', '{{{{1,2,3}}}}', '{{Infinity,0,0}}',
              '{{1,2,3,4}}'])[1 + i % 8]::real[] AS embedding,
       (ARRAY[NULL, 'infinity', '-infinity', '4713-01-01 BC',
              '294276-12-31 23:59:59+00'])[1 + i % 5]::timestamptz AS visited_at,
       (ARRAY[NULL, 'infinity', '-infinity', '5874897-12-31'])[1 + i % 4]::date AS signup,
       (ARRAY[NULL, 'infinity', '-infinity'])[1 + i % 3]::timestamp AS seen,
       NULL::{DATA_SCHEMA}.grade AS grade,
       (ARRAY[NULL, '', ' '])[1 + i % 3]::char(2) AS code,
       (ARRAY[NULL, repeat('n', 63)])[1 + i % 2]::name AS handle,
       (ARRAY[NULL, -1, 2147483647])[1 + i % 3] AS bucket,
       NULL::{DATA_SCHEMA}.shelf AS shelf,
       (ARRAY[NULL, '{{}}', '{{NULL}}', '{{angry,angry}}'])[1 + i % 4]::{DATA_SCHEMA}.mood[] AS moods,
       NULL::int AS "Größe",
       NULL::text AS "odd ""name"", here",
       (ARRAY[NULL, true, false])[1 + i % 3] AS label,
       (ARRAY[NULL, -1, 'NaN', 0]::float8[])[1 + i % 4] AS weight
FROM generate_series(1, 40) AS i;
-- The same columns with values stored compressed, and out of line
CREATE TABLE {DATA_SCHEMA}.typed_toast AS SELECT * FROM {DATA_SCHEMA}.typed WHERE id <= 40;
ALTER TABLE {DATA_SCHEMA}.typed_toast ALTER COLUMN country SET STORAGE EXTERNAL,
    ALTER COLUMN tags SET STORAGE EXTERNAL;
UPDATE {DATA_SCHEMA}.typed_toast
SET country = CASE WHEN id % 2 = 0 THEN repeat('fr', 3000) ELSE country END,
    tags = CASE WHEN id % 3 = 0 THEN array_fill('sale'::text, ARRAY[2000]) ELSE tags END,
    device = CASE WHEN id % 4 = 0 THEN 'phone' ELSE device END,
    "odd ""name"", here" = repeat('on', 5000);
CREATE TABLE {DATA_SCHEMA}.typed_users AS
SELECT u AS user_id, (18 + u * 3)::int AS age, (ARRAY['fr', 'de', 'it'])[1 + u % 3] AS country
FROM generate_series(1, 12) AS u;
CREATE TABLE {DATA_SCHEMA}.typed_items AS
SELECT i AS item_id, (ARRAY['sale', 'new', 'gift', 'eco'])[1 + i % 4 : 2 + i % 3] AS tags,
       ARRAY[sin(i), cos(i), (i % 9)::float8]::real[] AS embedding
FROM generate_series(1, 40) AS i;
-- A catalogue of 30 items (i30 never liked) and a log of positives: 40
-- users, each liking about two thirds of the items of their category,
-- with the item's columns joined in
CREATE TABLE {DATA_SCHEMA}.catalogue AS
SELECT 'i' || i AS item_id, (ARRAY['book', 'film', 'game'])[1 + i % 3] AS item_cat, (i % 7)::float8 AS price
FROM generate_series(1, 30) AS i;
CREATE TABLE {DATA_SCHEMA}.likes AS
SELECT u AS user_id, (ARRAY['book', 'film', 'game'])[1 + u % 3] AS user_cat, c.item_id, c.item_cat, c.price
FROM generate_series(1, 40) AS u
JOIN {DATA_SCHEMA}.catalogue c ON c.item_cat = (ARRAY['book', 'film', 'game'])[1 + u % 3]
WHERE (u * 7 + ascii(right(c.item_id, 1))) % 3 <> 0 AND c.item_id <> 'i30';
"""

# The overrides of the typed models: an integer as a category, a log scale
TYPED_OVERRIDES = '{"bucket": "categorical", "income": {"scale": "log"}}'

# The models of embedded columns: four of the typed table's categorical
# columns embedded (text, an integer, an enum, a varchar whose dimension is
# its vocabulary's size + 2), one one-hot; and users and items embedded in
# a model trained from positives only.  An embedded column's top_k is set:
# its default (100,000) would budget its counters at 400 MB.
EMBED_SOURCE = 'SELECT age, country, bucket, mood, device, code, tags, label FROM mixrec_fuzz_data.typed'
EMBED_DIMS = '{"country": 3, "bucket": 2, "mood": 3, "device": 4}'
EMBED_TRANSFORM = ('{"country": {"top_k": 50, "min_frequency": 1}, "bucket": {"kind": "categorical", "top_k": 10}, '
                   '"mood": {"top_k": 10}, "device": {"top_k": 10}, "code": {"top_k": 10}}')
IMPLICIT_DIMS = '{"user_id": 3, "item_id": 4}'
IMPLICIT_TRANSFORM = '{"user_id": {"top_k": 100, "min_frequency": 1}, "item_id": {"top_k": 100, "min_frequency": 1}}'

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
    # typed columns: every kind, and a model whose columns come from users and items
    "SELECT 1 FROM mixrec_train('fz_typed', 'mixrec_fuzz_data.typed', label => 'label', "
    "exclude => ARRAY['id', 'weight'], transform => '" + TYPED_OVERRIDES + "', hidden => '{4}', epochs => 1)",
    "SELECT 1 FROM mixrec_train('fz_typed_ui', 'SELECT u.age, u.country, i.tags, i.embedding, "
    "(u.user_id + i.item_id) % 2 = 0 AS y FROM mixrec_fuzz_data.typed_users u, mixrec_fuzz_data.typed_items i', "
    "label => 'y', hidden => '{4}', epochs => 1)",
    # embedded columns; and users and items embedded, from positives only
    "SELECT 1 FROM mixrec_train('fz_emb', '" + EMBED_SOURCE + "', label => 'label', embed => '" + EMBED_DIMS +
    "', transform => '" + EMBED_TRANSFORM + "', hidden => '{4}', epochs => 1)",
    "SELECT 1 FROM mixrec_train('fz_emb_implicit', 'mixrec_fuzz_data.likes', items => 'mixrec_fuzz_data.catalogue', "
    "item_id => 'item_id', negatives => 2, embed => '" + IMPLICIT_DIMS + "', transform => '" + IMPLICIT_TRANSFORM +
    "', embed_optimizer => 'lazy', method => 'memory', hidden => '{4}', epochs => 1)",
]
MODEL_NAMES = ['fz_m', 'fz_ui', 'fz_multi']
TYPED_MODEL_NAMES = ['fz_typed', 'fz_typed_ui']
EMBED_MODEL_NAMES = ['fz_emb', 'fz_emb_implicit']


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


# --- typed models: the input transform section, taken apart and put back --
#
# A model of typed columns (format version 2, flag 0x4) carries, after alpha,
# the u32 length T of its transform and E (the numbers in its embedding
# tables, below); the transform is the last T bytes before the checksum.  Its layout is in the header comment
# of src/core/transform.c: a section header (columns, inputs), then per
# column 56 bytes of fixed fields, the name, the type name, and the element
# statistics (dense) or the vocabulary (categorical, multi-hot): entry ends,
# the entries' byte order, counts, text.

COLUMN_FIELDS = '<BBHHHIIIIQQdd'    # 56 bytes, the fixed fields of a column
KIND_NUMERIC, KIND_BOOLEAN, KIND_CATEGORICAL, KIND_MULTI_HOT, KIND_DENSE, KIND_TIME = range(1, 7)
FLAG_MISSING, FLAG_LOG, FLAG_DAY_TIME, FLAG_FROM_INTEGER, FLAG_EMBED = 0x1, 0x2, 0x4, 0x8, 0x10


def transform_at(blob):
    """Offset of a typed model's u32 transform length, and where its section starts"""
    k, = struct.unpack_from('<I', blob, 16)
    at = 20 + 4 * (k + 2) + 8
    t_len, = struct.unpack_from('<I', blob, at)
    return at, len(blob) - 4 - t_len


def parse_transform(blob):
    """The columns of a valid typed model's transform, as dicts"""
    _, start = transform_at(blob)
    section = blob[start:-4]
    n, = struct.unpack_from('<I', section, 0)
    off = 8
    columns = []
    for _ in range(n):
        (kind, flags, name_len, type_len, reserved, position, width, length, vocab_size,
         rows, nulls, mean, std) = struct.unpack_from(COLUMN_FIELDS, section, off)
        p = off + 56
        c = dict(kind=kind, flags=flags, reserved=reserved, length=length, rows=rows, nulls=nulls,
                 mean=mean, std=std, name=section[p:p + name_len],
                 type=section[p + name_len:p + name_len + type_len], element_mean=[], element_std=[],
                 entries=[], counts=[])
        c['original'] = c['name'].decode()
        p += name_len + type_len
        if kind == KIND_DENSE:
            c['element_mean'] = list(struct.unpack_from('<%dd' % length, section, p))
            c['element_std'] = list(struct.unpack_from('<%dd' % length, section, p + 8 * length))
            p += 16 * length
        elif vocab_size > 0:
            ends = struct.unpack_from('<%dI' % vocab_size, section, p)
            c['counts'] = list(struct.unpack_from('<%dQ' % vocab_size, section, p + 8 * vocab_size))
            text = section[p + 16 * vocab_size:p + 16 * vocab_size + ends[-1]]
            c['entries'] = [text[(ends[i - 1] if i else 0):ends[i]] for i in range(vocab_size)]
            p += 16 * vocab_size + ends[-1]
        columns.append(c)
        off = p
    return columns


def column_width(c):
    """The inputs a column of this shape fills"""
    missing = 1 if c['flags'] & FLAG_MISSING else 0
    if c['kind'] in (KIND_NUMERIC, KIND_BOOLEAN):
        return 1 + missing
    if c['kind'] == KIND_CATEGORICAL and c['flags'] & FLAG_EMBED:
        return c['length']
    if c['kind'] in (KIND_CATEGORICAL, KIND_MULTI_HOT):
        return len(c['entries']) + 2
    if c['kind'] == KIND_DENSE:
        return c['length'] + missing
    if c['kind'] == KIND_TIME:
        return 3 + (2 if c['flags'] & FLAG_DAY_TIME else 0) + missing
    return 1


def encode_transform(columns, input_dim=None):
    """A section of these columns, with every position, width, entry end and
    the byte order recomputed; and its fields as (offset, struct format) for
    patching one"""
    widths = [column_width(c) for c in columns]
    out = bytearray(struct.pack('<II', len(columns), (sum(widths) if input_dim is None else input_dim) % 2**32))
    fields = [(0, '<I'), (4, '<I')]
    position = 0
    for c, width in zip(columns, widths):
        at = len(out)
        dense = c['kind'] == KIND_DENSE
        v = 0 if dense else len(c['entries'])
        out += struct.pack(COLUMN_FIELDS, c['kind'] & 0xFF, c['flags'] & 0xFF, len(c['name']) & 0xFFFF,
                           len(c['type']) & 0xFFFF, c['reserved'] & 0xFFFF, position % 2**32, width % 2**32,
                           c['length'] % 2**32, v, c['rows'] % 2**64, c['nulls'] % 2**64, c['mean'], c['std'])
        fields += [(at, '<B'), (at + 1, '<B'), (at + 2, '<H'), (at + 4, '<H'), (at + 6, '<H'),
                   (at + 8, '<I'), (at + 12, '<I'), (at + 16, '<I'), (at + 20, '<I'), (at + 24, '<Q'),
                   (at + 32, '<Q'), (at + 40, '<d'), (at + 48, '<d')]
        out += c['name'] + c['type']
        if dense:
            fields += [(len(out) + 8 * e, '<d') for e in range(2 * len(c['element_mean']))]
            out += struct.pack('<%dd' % len(c['element_mean']), *c['element_mean'])
            out += struct.pack('<%dd' % len(c['element_std']), *c['element_std'])
        elif v > 0:
            ends, end = [], 0
            for e in c['entries']:
                end += len(e)
                ends.append(end)
            order = sorted(range(v), key=lambda i: c['entries'][i])
            fields += [(len(out) + 4 * i, '<I') for i in range(2 * v)]
            fields += [(len(out) + 8 * v + 8 * i, '<Q') for i in range(v)]
            out += struct.pack('<%dI' % v, *ends) + struct.pack('<%dI' % v, *order)
            out += struct.pack('<%dQ' % v, *c['counts']) + b''.join(c['entries'])
        position += width
    return bytes(out), fields


def with_transform(blob, section):
    """A typed model with another transform section, its lengths and checksum made to fit"""
    at, start = transform_at(blob)
    b = bytearray(blob[:start]) + section + b'\0\0\0\0'
    struct.pack_into('<I', b, at, len(section))
    struct.pack_into('<I', b, 12, len(b))
    return reseal_model(bytes(b))


# --- models with embedded columns: E, the tables, the lazy flag -----------
#
# An embedded column is a categorical column with flag 0x10, whose L is its
# dimensions and its width L.  Its model keeps in the 4 bytes after the
# transform's length E, the numbers in one model's tables; each parameter
# array (open, commercial, and with optimiser state their Adam moments
# m_open, v_open, m_commercial, v_commercial) is the MLP's parameters
# followed by the tables, in column order, [V + 2][L] each; the optimiser
# settings hold the lazy flag in the 4 bytes after the kind.  The layout is
# in the header comment of src/core/model_format.c.

MAX_FORGED_TABLE_FLOATS = 1 << 16   # per parameter array; beyond, a forgery keeps the old arrays


def model_layout(blob):
    """Where a valid model's fields are: E, the optimiser's kind, the
    parameter arrays; and the count of the MLP's parameters"""
    flags, k = struct.unpack_from('<I', blob, 8)[0], struct.unpack_from('<I', blob, 16)[0]
    dims = struct.unpack_from('<%dI' % (k + 2), blob, 20)
    at = 20 + 4 * (k + 2) + 8
    layout = {'flags': flags, 'dims': dims, 'E': 0, 'e_at': None, 'opt_at': None}
    if flags & 0x4:
        layout['e_at'] = at + 4
        layout['E'], = struct.unpack_from('<I', blob, at + 4)
        at += 8
    if flags & 0x2:
        layout['opt_at'] = at
        at += 56
    if flags & 0x1:
        at += 8 * dims[0]
    layout['mlp'] = sum(dims[i] * dims[i + 1] + dims[i + 1] for i in range(k + 1))
    p = layout['mlp'] + layout['E']
    layout['arrays'] = [at + 4 * p * j for j in range(6 if flags & 0x2 else 2)]
    return layout


def is_embedded(c):
    return c['kind'] == KIND_CATEGORICAL and bool(c['flags'] & FLAG_EMBED)


def embedded_columns(blob, layout):
    """The transform's columns of a valid model, each embedded one with its
    tables (one list of numbers per parameter array) and their shape"""
    columns = parse_transform(blob)
    off = layout['mlp']
    for c in columns:
        if is_embedded(c):
            rows, dim = len(c['entries']) + 2, c['length']
            c['shape'] = (rows, dim)
            c['tables'] = [list(struct.unpack_from('<%df' % (rows * dim), blob, at + 4 * off))
                           for at in layout['arrays']]
            off += rows * dim
    return columns


def embedded_tables(rng, columns, arrays):
    """Tables for these columns, one list per parameter array: the old ones
    where a column had them, cut or extended to its shape (new parameters
    drawn from N(0, 1), new moments 0); None when too large to send"""
    tables = [[] for _ in range(arrays)]
    for c in columns:
        if not is_embedded(c):
            continue
        rows, dim = len(c['entries']) + 2, c['length']
        if rows * dim + len(tables[0]) > MAX_FORGED_TABLE_FLOATS:
            return None
        old_rows, old_dim = c.get('shape', (0, 0))
        for j in range(arrays):
            old = c.get('tables', [[]] * arrays)[j]
            for r in range(rows):
                for d in range(dim):
                    if r < old_rows and d < old_dim:
                        tables[j].append(old[r * old_dim + d])
                    else:
                        tables[j].append(round(rng.gauss(0, 1), 3) if j < 2 else 0.0)
    return tables


def with_embedded(blob, section, tables):
    """A model with another transform section and other tables (one list
    per parameter array, E numbers each), E, lengths and checksum made to fit"""
    layout = model_layout(blob)
    e = len(tables[0])
    out = bytearray(blob[:layout['arrays'][0]])
    struct.pack_into('<II', out, layout['e_at'] - 4, len(section), e)
    for at, table in zip(layout['arrays'], tables):
        out += blob[at:at + 4 * layout['mlp']] + struct.pack('<%df' % e, *table)
    out += section + b'\0\0\0\0'
    struct.pack_into('<I', out, 12, len(out))
    return reseal_model(bytes(out))


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


# Names, type names and vocabulary entries for forged transforms: invalid
# UTF-8 (a lone byte, a cut sequence, a surrogate, beyond U+10FFFF,
# overlong), NUL, control characters, quotes, format directives, limits
NAME_BYTES = [b'\xff', b'c\xffountry', b'\xc3', b'\xc3(', b'\xed\xa0\x80', b'\xf4\x90\x80\x80', b'\xc0\xaf',
              b'\xe2\x82', b'a\x00b', b'', b'x' * 63, b'x' * 64, b'\x01\x1f\x7f', b'"', b"'", b'%s%n%x',
              b'f1', b'f2', b'age', b'country', b'tags', b'embedding', b'AGE', b' age', b'\xc3\xa9t\xc3\xa9',
              b'Gr\xc3\xb6\xc3\x9fe', b'\xe2\x80\xae', b'label', b'id', b'weight']
TYPE_BYTES = [b'integer', b'text', b'text[]', b'real[]', b'date', b'mixrec_fuzz_data.mood', b'x' * 63]
ENTRY_BYTES = [b'\xff', b'fr\xff', b'\xc3', b'\xed\xa0\x80', b'', b'x' * 1024, b'x' * 1025, b'\x00', b'fr\x00',
               b'fr', b'de', b'sale', b'calm', b'0', b'NaN', b'%s%s%s', b'\xc3\xa9', b'\xf0\x9f\x98\x80', b' ',
               b'\x01']


class Gen:
    """Random and edge SQL arguments, from one seeded generator"""

    def __init__(self, rng, models, states, export_json, typed=None, embedded=None):
        self.r = rng
        self.models = models          # {label: bytes} of valid models
        self.states = states          # {label: bytes} of valid training states
        self.export_json = export_json
        self.typed = typed            # valid typed models, their states and columns
        self.embedded = embedded      # valid models of embedded columns, a state, their columns

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

    # --- typed models ----------------------------------------------------

    def typed_model(self):
        """A typed model bytea and the label of the valid model it came from:
        valid, forged with its checksum recomputed, or damaged"""
        name = self.pick(sorted(self.typed['models']))
        blob = self.typed['models'][name]
        roll = self.r.random()
        if roll < 0.12:
            return lit_bytea(blob), name
        if roll < 0.91:
            return lit_bytea(self.forge_typed(blob)), name
        if roll < 0.97:
            return lit_bytea(self.damage(blob, model=True)), name
        # no typed model: NULL, empty, a model of feature arrays
        return self.pick(['NULL::bytea', "''::bytea", "mixrec_init(3, '{4}')", "mixrec_init(73, '{2}')"]), name

    def forge_typed(self, blob, same_length=False):
        """A typed model whose transform was rewritten, patched, cut or
        extended; usually with every length and checksum made to fit, so
        the checks behind them are reached"""
        columns = parse_transform(blob)
        if not same_length and self.chance(0.1):
            return self.patch_typed_header(blob)
        if not same_length and self.chance(0.08):
            # a section cut short, or longer than its columns
            section, _ = encode_transform(columns)
            if self.chance(0.5):
                section = section[:self.r.randrange(len(section))]
            else:
                section += bytes(self.r.getrandbits(8) if self.chance(0.3) else 0
                                 for _ in range(self.pick([1, 4, 8, 56, 100])))
            return with_transform(blob, section)
        for _ in range(self.r.randint(1, 2)):
            self.rewrite_columns(columns, same_length)
        dim = None
        if self.chance(0.85):
            # the section's count of inputs kept the model's while the columns
            # change, so that the checks of each column are reached
            dim, = struct.unpack_from('<I', blob, 20)
        section, fields = encode_transform(columns, dim)
        if same_length and len(section) != len(blob) - 4 - transform_at(blob)[1]:
            section, fields = encode_transform(parse_transform(blob))
        if self.chance(0.45):
            section = self.patch_field(section, fields)
        if self.chance(0.1):
            b = bytearray(section)
            for _ in range(self.r.randint(1, 3)):
                i = self.r.randrange(len(b))
                b[i] ^= 1 << self.r.randrange(8)
            section = bytes(b)
        out = with_transform(blob, section)
        if self.chance(0.05):
            # a stale checksum: the first check must catch it
            out = out[:-1] + bytes([out[-1] ^ 1])
        return out

    def patch_field(self, section, fields):
        """One field of a section set to an edge value of its size"""
        off, fmt = self.pick(fields)
        old, = struct.unpack_from(fmt, section, off)
        if fmt == '<d':
            val = self.pick([math.nan, math.inf, -math.inf, -1.0, 0.0, -0.0, 3.5e38, -3.5e38, 1e308, 5e-324,
                             3.4028234e38, old * 2, -old])
        else:
            bits = struct.calcsize(fmt) * 8
            val = self.pick([0, 1, 2, 3, 4, 5, 6, 7, 8, 63, 64, 255, 256, 1023, 1024, 1025, 1600, 1601,
                             65534, 65535, 65536, 65537, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 2**63, 2**64 - 1,
                             old + 1, old - 1, old * 2, old ^ (1 << self.r.randrange(bits)), len(section),
                             self.r.getrandbits(bits)]) % (1 << bits)
        b = bytearray(section)
        struct.pack_into(fmt, b, off, val)
        return bytes(b)

    def patch_typed_header(self, blob):
        """The header fields of a typed model: the transform's length and the
        reserved word after it, the version, the flags, the input dim"""
        b = bytearray(blob)
        at, start = transform_at(blob)
        t_len = len(blob) - 4 - start
        what = self.r.randrange(5)
        if what == 0:
            struct.pack_into('<I', b, at, self.pick([0, 1, 7, 8, 63, t_len - 1, t_len + 1, t_len - 8, t_len + 8,
                                                     len(b) - 4, len(b), len(b) + 1, 0x7FFFFFFF, 0xFFFFFFFF,
                                                     start, t_len + start]) % 2**32)
        elif what == 1:
            struct.pack_into('<I', b, at + 4, self.pick([1, 0x80000000, 0xFFFFFFFF]))
        elif what == 2:
            struct.pack_into('<H', b, 4, self.pick([0, 1, 3, 0xFFFF]))
        elif what == 3:
            flags, = struct.unpack_from('<I', b, 8)
            struct.pack_into('<I', b, 8, flags ^ self.pick([0x1, 0x2, 0x4, 0x8, 0x6, 0x80000000]))
        else:
            dim, = struct.unpack_from('<I', b, 20)
            struct.pack_into('<I', b, 20, self.pick([1, dim - 1, dim + 1, 65536, 65537]))
        return reseal_model(bytes(b))

    def rewrite_columns(self, columns, same_length):
        """Change the columns of a transform: names, types, entries,
        statistics, kinds, flags, order, count"""
        c = self.pick(columns)
        what = self.r.randrange(14 if not same_length else 5)
        if what == 0:
            c['name'] = self.byte_text(c['name'], NAME_BYTES, same_length,
                                       [o['name'] for o in columns])
        elif what == 1:
            c['type'] = self.byte_text(c['type'], NAME_BYTES + TYPE_BYTES, same_length, [])
        elif what == 2:
            vocab = [o for o in columns if o['entries']]
            if vocab:
                c = self.pick(vocab)
                i = self.r.randrange(len(c['entries']))
                c['entries'][i] = self.byte_text(c['entries'][i], ENTRY_BYTES, same_length, c['entries'])
        elif what == 3:
            key = self.pick(['mean', 'std', 'element_mean', 'element_std'])
            val = self.pick([math.nan, math.inf, -math.inf, -1.0, 0.0, -0.0, 3.5e38, 1e308, 5e-324, 1e-300,
                             3.4028234e38, 1e30])
            if key in ('mean', 'std'):
                c[key] = val
            elif c[key]:
                c[key][self.r.randrange(len(c[key]))] = val
        elif what == 4:
            key = self.pick(['rows', 'nulls'])
            c[key] = self.pick([0, 1, c['rows'] + 1, 2**63, 2**64 - 1])
        elif what == 5:
            # vocabulary order changed: still valid, entries and counts together
            vocab = [o for o in columns if len(o['entries']) > 1]
            if vocab:
                c = self.pick(vocab)
                pairs = list(zip(c['entries'], c['counts']))
                self.r.shuffle(pairs)
                c['entries'], c['counts'] = [p[0] for p in pairs], [p[1] for p in pairs]
        elif what == 6:
            # another kind: numeric and boolean, categorical and multi-hot
            # share their widths; any kind, and an unknown one
            swap = {KIND_NUMERIC: KIND_BOOLEAN, KIND_BOOLEAN: KIND_NUMERIC, KIND_CATEGORICAL: KIND_MULTI_HOT,
                    KIND_MULTI_HOT: KIND_CATEGORICAL}
            c['kind'] = swap.get(c['kind'], c['kind']) if self.chance(0.6) else self.pick([0, 1, 2, 3, 4, 5, 6, 7, 255])
        elif what == 7:
            c['flags'] = self.pick([0, FLAG_MISSING, FLAG_LOG, FLAG_DAY_TIME, FLAG_FROM_INTEGER, 0x10, 0x80,
                                    0xFF]) ^ (c['flags'] if self.chance(0.5) else 0)
        elif what == 8:
            i, j = self.r.randrange(len(columns)), self.r.randrange(len(columns))
            columns[i], columns[j] = columns[j], columns[i]
        elif what == 9:
            if len(columns) > 1 and self.chance(0.5):
                columns.remove(c)
            else:
                columns.insert(self.r.randrange(len(columns) + 1), dict(c))
        elif what == 10:
            if c['kind'] == KIND_DENSE:
                n = self.pick([0, 1, c['length'] - 1, c['length'] + 1, 65536, 65537])
                c['length'] = n
                if n < 1000:
                    c['element_mean'] = (c['element_mean'] * n)[:n] if c['element_mean'] else [0.0] * n
                    c['element_std'] = (c['element_std'] * n)[:n] if c['element_std'] else [1.0] * n
            else:
                c['length'] = self.pick([0, 2, 65536])
        elif what == 11:
            vocab = [o for o in columns if o['entries']]
            if vocab:
                c = self.pick(vocab)
                if self.chance(0.5):
                    c['entries'].append(self.pick(ENTRY_BYTES))
                    c['counts'].append(1)
                else:
                    c['entries'].pop()
                    c['counts'].pop()
            else:
                c['entries'], c['counts'] = [b'a'], [1]
        elif what == 12:
            c['reserved'] = self.pick([1, 0x8000, 0xFFFF])
        else:
            # every column the same name, or one column only
            if self.chance(0.5):
                columns[:] = [c]
            else:
                for o in columns:
                    o['name'] = c['name']

    def byte_text(self, old, pool, same_length, others):
        """Bytes for a name or an entry: from a pool, another one's, or the
        old ones with an invalid byte in them"""
        roll = self.r.random()
        if same_length or roll < 0.3:
            b = bytearray(old or b'x')
            b[self.r.randrange(len(b))] = self.pick([0xFF, 0xC3, 0x80, 0xED, 0xF4, 0x00, 0x01, 0x22, 0x27])
            return bytes(b)
        if roll < 0.45 and others:
            return self.pick(others)
        return self.pick(pool)

    def typed_import_json(self):
        """The interchange JSON of a typed model, its transform damaged"""
        d = json.loads(self.typed['exports'][self.pick(sorted(self.typed['exports']))])
        self.damage_transform_json(d)
        text = json.dumps(d)
        if len(text) > 1 << 21:
            # a long vocabulary copied into many columns: too big to send
            return self.typed_import_json()
        return lit_text(text) + '::jsonb'

    def damage_transform_json(self, d):
        """Damage the transform of an interchange JSON, one to three times"""
        t = d.get('transform')
        bad = [None, 0, -1, 1, 2, 65534, 65535, 65536, 2**31, 2**32, 2**63, 2**64, 1e308, 0.5, -0.0, 'x', '', [],
               {}, True, False, [1], [None], ['a', 'a'], 'numeric', 'categorical', 'multi_hot', 'NaN', 'Infinity',
               'x' * 63, 'x' * 64, 'é' * 40, 'f1', '\u202e', 1e39, -1e39, 5e-324]
        for _ in range(self.r.randint(1, 3)):
            if not isinstance(t, dict) or not isinstance(t.get('columns'), list) or not t['columns'] or \
                    self.chance(0.05):
                d['transform'] = t = self.pick([None, [], 'x', {}, {'columns': None}, {'columns': []},
                                               {'columns': [], 'extra': 1}, t])
                continue
            columns = t['columns']
            roll = self.r.random()
            c = self.pick(columns)
            if not isinstance(c, dict):
                columns.remove(c)
                continue
            if roll < 0.25:
                key = self.pick(sorted(c) + ['extra', 'Name', 'scale', 'day_time', 'from_integer', 'length',
                                             'vocabulary', 'counts', 'element_mean', 'element_std'])
                if self.chance(0.3):
                    c.pop(key, None)
                else:
                    c[key] = self.pick(bad)
            elif roll < 0.45:
                # a vocabulary: duplicates, long and empty entries, non-texts,
                # counts that disagree
                if isinstance(c.get('vocabulary'), list) and c['vocabulary']:
                    v, n = c['vocabulary'], c.get('counts')
                    what = self.r.randrange(6)
                    if what == 0:
                        v.append(v[0])
                    elif what == 1:
                        v[self.r.randrange(len(v))] = self.pick(['', 'x' * 1024, 'x' * 1025, 'é' * 513, 1, None,
                                                                 ['a'], '\\x00', 'ſ', 'S'])
                    elif what == 2:
                        v.pop()
                    elif what == 3 and isinstance(n, list) and n:
                        n[self.r.randrange(len(n))] = self.pick([-1, 0, 2**63, 2**64, 1.5, None, 'x'])
                    elif what == 4:
                        v.reverse()
                    else:
                        c['vocabulary'] = ['v%d' % i for i in range(self.pick([0, 65534, 65535]))]
                        c['counts'] = [1] * len(c['vocabulary'])
                else:
                    c['vocabulary'], c['counts'] = ['a', 'b'], [2, 1]
            elif roll < 0.6:
                # element statistics of a dense column
                for key in ('element_mean', 'element_std'):
                    if isinstance(c.get(key), list) and self.chance(0.6):
                        e = c[key]
                        what = self.r.randrange(3)
                        if what == 0 and e:
                            e[self.r.randrange(len(e))] = self.pick(bad)
                        elif what == 1:
                            e.append(0.0)
                        elif e:
                            e.pop()
                if self.chance(0.3):
                    c['length'] = self.pick(bad)
            elif roll < 0.75:
                # order and count of the columns
                what = self.r.randrange(4)
                if what == 0:
                    self.r.shuffle(columns)
                elif what == 1 and len(columns) > 1:
                    columns.remove(c)
                elif what == 2:
                    columns.append(json.loads(json.dumps(c)))
                else:
                    # many columns: numeric ones, so the JSON stays small
                    t['columns'] = [{'name': 'c%d' % i, 'type': 'integer', 'kind': 'numeric', 'position': i,
                                     'width': 1, 'missing': False, 'rows': 1, 'nulls': 0, 'mean': 0, 'std': 1,
                                     'scale': 'standard'} for i in range(self.pick([1601, 200]))]
            else:
                # position, width, rows and NULLs, statistics
                key = self.pick(['position', 'width', 'rows', 'nulls', 'mean', 'std', 'missing'])
                c[key] = self.pick(bad + [c.get(key, 0) + 1 if isinstance(c.get(key), int) else 1])

    def typed_state(self):
        """A training state of a typed model: valid, with its embedded
        model's transform forged (same length, every checksum recomputed),
        or damaged"""
        st = self.typed['states'][self.pick(sorted(self.typed['states']))]
        roll = self.r.random()
        if roll < 0.2:
            return st
        if roll < 0.75:
            s = bytearray(st)
            model_len, = struct.unpack_from('<I', s, 16)
            forged = self.forge_typed(bytes(s[128:128 + model_len]), same_length=True)
            if len(forged) == model_len:
                s[128:128 + model_len] = forged
            return reseal_state(bytes(s))
        return self.damage(st, model=False)

    # --- models with embedded columns ------------------------------------

    def embed_model(self):
        """A model bytea of embedded columns and the label of the valid one
        it came from: valid, forged with its checksum recomputed (its
        embeddings, or its transform as a typed model's), or damaged"""
        label = self.pick(sorted(self.embedded['models']))
        blob = self.embedded['models'][label]
        roll = self.r.random()
        if roll < 0.12:
            return lit_bytea(blob), label
        if roll < 0.8:
            return lit_bytea(self.forge_embedded(blob)), label
        if roll < 0.88:
            return lit_bytea(self.forge_typed(blob)), label
        if roll < 0.95:
            return lit_bytea(self.damage(blob, model=True)), label
        # a typed model without embedded columns that claims tables, or lazy ones
        b = bytearray(self.typed['models'][self.pick(['trained', 'fitted', 'prepared'])])
        layout = model_layout(b)
        if layout['opt_at'] is not None and self.chance(0.5):
            struct.pack_into('<I', b, layout['opt_at'] + 4, self.pick([1, 2, 0xFFFFFFFF]))
        else:
            struct.pack_into('<I', b, layout['e_at'], self.pick([1, 2, 4, len(b), 0xFFFFFFFF]))
        return lit_bytea(reseal_model(bytes(b))), 'trained'

    def forge_embedded(self, blob, same_length=False):
        """A model of embedded columns with E, the lazy flag, a number of a
        table or of its moments, or the transform's embedded columns (the
        flag, dimensions, vocabularies) changed, every checksum recomputed;
        unless same_length, with E, the tables and every length made to fit
        the new transform (mostly), so the checks behind them are reached"""
        layout = model_layout(blob)
        b = bytearray(blob)
        e = layout['E']
        what = self.r.randrange(4 if same_length else 9)
        if what == 0:
            # E alone
            shapes = [c['shape'] for c in embedded_columns(blob, layout) if is_embedded(c)] or [(1, 1)]
            rows, dim = self.pick(shapes)
            struct.pack_into('<I', b, layout['e_at'], self.pick([
                0, 1, e - 1, e + 1, 2 * e, e // 2, e - rows * dim, e + dim, e - dim, 0x7FFFFFFF, 0xFFFFFFFF,
                64 << 20, (64 << 20) + 1]) % 2**32)
            return reseal_model(bytes(b))
        if what == 1 and layout['opt_at'] is not None:
            # the lazy flag flipped or out of range; with it, sometimes the kind
            lazy, = struct.unpack_from('<I', b, layout['opt_at'] + 4)
            struct.pack_into('<I', b, layout['opt_at'] + 4, self.pick([lazy ^ 1, lazy ^ 1, lazy ^ 1, 2, 0x80000000,
                                                                       0xFFFFFFFF]))
            if self.chance(0.2):
                struct.pack_into('<I', b, layout['opt_at'], self.pick([0, 1, 2]))
            return reseal_model(bytes(b))
        if what <= 2:
            # numbers of the tables (or of their moments): NaN, infinite,
            # the largest float, a denormal, negative (a negative second moment)
            arrays = layout['arrays']
            for _ in range(self.r.randint(1, 2)):
                at = self.pick(arrays) + 4 * (layout['mlp'] + (self.r.randrange(e) if e else 0))
                struct.pack_into('<I', b, at, self.pick([
                    0x7FC00000, 0xFFC00000, 0x7FA00000, 0x7F800000, 0xFF800000, 0x7F7FFFFF, 0xFF7FFFFF,
                    0x00000001, 0x80000000, 0xBF800000, 0x7149F2CA]))
            return reseal_model(bytes(b))
        columns = embedded_columns(blob, layout)
        categorical = [c for c in columns if c['kind'] == KIND_CATEGORICAL]
        embedded = [c for c in columns if is_embedded(c)]
        if what == 3 or (what == 4 and categorical):
            # the embed flag toggled: an embedded column one-hot, a one-hot
            # one embedded, mostly with the dimension that keeps its width
            c = self.pick(categorical or columns)
            c['flags'] ^= FLAG_EMBED
            if same_length:
                pass
            elif is_embedded(c):
                c['length'] = len(c['entries']) + 2 if self.chance(0.6) else \
                    self.pick([0, 1, 2, 1024, 1025, 65536, 0xFFFFFFFF])
            elif self.chance(0.8):
                c['length'] = 1
        elif what == 5 and embedded:
            # dimensions: one column's to an edge value, or two columns
            # trading some, so the inputs stay the model's
            c = self.pick(embedded)
            others = [o for o in embedded if o is not c]
            if others and self.chance(0.5):
                o = self.pick(others)
                d = self.pick([1, -1, 2, c['length'], -o['length'], 1024 - c['length'], 1025 - c['length']])
                c['length'] += d
                o['length'] -= d
            else:
                c['length'] = self.pick([0, 1, 1024, 1025, 4096, 65536, 0xFFFFFFFF, c['length'] + 1,
                                         c['length'] - 1])
        elif what == 6 and embedded:
            # the vocabulary of an embedded column: entries added or removed
            # (its tables' rows with them), one twice, one too long or invalid
            c = self.pick(embedded)
            roll = self.r.random()
            if roll < 0.4:
                n = self.pick([1, 2, 100, 1000])
                c['entries'] += [b'zz%d' % i for i in range(n)]
                c['counts'] += [1] * n
            elif roll < 0.7:
                n = self.pick([1, len(c['entries'])])
                del c['entries'][len(c['entries']) - n:], c['counts'][len(c['counts']) - n:]
            elif c['entries']:
                i = self.r.randrange(len(c['entries']))
                c['entries'][i] = self.pick(ENTRY_BYTES + [self.pick(c['entries'])])
        else:
            # another change to the transform's columns, the tables kept
            # right for what the columns then say
            self.rewrite_columns(columns, False)
        dim = layout['dims'][0] if self.chance(0.85) else None
        section, fields = encode_transform(columns, dim)
        if same_length:
            if len(section) != len(blob) - 4 - transform_at(blob)[1]:
                return reseal_model(bytes(b))
            return with_transform(blob, section)
        if self.chance(0.1):
            section = self.patch_field(section, fields)
        tables = embedded_tables(self.r, columns, len(layout['arrays'])) if self.chance(0.85) else None
        if tables is None:
            # E and the arrays as they were
            return with_transform(blob, section)
        return with_embedded(blob, section, tables)

    def embed_state(self):
        """A training state of a model of embedded columns: valid, with its
        model forged in place (E, the lazy flag, a table's number, the embed
        flag; every checksum recomputed), or damaged"""
        st = self.embedded['state']
        roll = self.r.random()
        if roll < 0.2:
            return st
        if roll < 0.8:
            s = bytearray(st)
            model_len, = struct.unpack_from('<I', s, 16)
            forged = self.forge_embedded(bytes(s[128:128 + model_len]), same_length=True)
            if len(forged) == model_len:
                s[128:128 + model_len] = forged
            return reseal_state(bytes(s))
        return self.damage(st, model=False)

    def embed_import_json(self):
        """The interchange JSON of a model of embedded columns, damaged (its
        tables, its transform's "embed" keys, its transform, its other
        keys), or changed consistently (an embedding's dimension, a
        vocabulary); and the label of the model it came from"""
        label = self.pick(sorted(self.embedded['exports']))
        d = json.loads(self.embedded['exports'][label])
        for _ in range(self.r.randint(1, 2)):
            roll = self.r.random()
            if roll < 0.3:
                self.damage_embed_table(d)
            elif roll < 0.5:
                self.damage_embed_key(d)
            elif roll < 0.68:
                self.resize_embed_json(d)
            elif roll < 0.82:
                self.change_embed_vocabulary(d)
            elif roll < 0.93:
                self.damage_transform_json(d)
            else:
                self.damage_json(d)
        text = json.dumps(d)
        if len(text) > 1 << 21:
            return self.embed_import_json()
        return lit_text(text) + '::jsonb', label

    @staticmethod
    def json_columns(d):
        t = d.get('transform')
        if not isinstance(t, dict) or not isinstance(t.get('columns'), list):
            return []
        return [c for c in t['columns'] if isinstance(c, dict)]

    @staticmethod
    def json_tables(d, c):
        """The tables of a column in the JSON's two models, as (side, key)"""
        name = c.get('name')
        if not isinstance(name, str):
            return []
        return [(d[side], name + '.weight') for side in ('open', 'commercial')
                if isinstance(d.get(side), dict) and isinstance(d[side].get(name + '.weight'), list)]

    def damage_embed_table(self, d):
        """One table of the export: a row more or less, a row of another
        length, a bad number, another shape or type, the key gone, renamed,
        or another column's"""
        sides = [d[s] for s in ('open', 'commercial') if isinstance(d.get(s), dict)]
        if not sides:
            return
        side = self.pick(sides)
        keys = sorted(k for k in side if k.endswith('.weight') and not k.split('.')[0].isdigit()) or sorted(side)
        if not keys:
            return
        key = self.pick(keys)
        t = side[key]
        bad = [None, 'NaN', 'Infinity', '-Infinity', 'x', '1', 1e39, -1e39, 3.4028235e38, 3.5e38, 5e-324, 1e-46,
               True, [], {}, [1], 2**64, -0.0]
        what = self.r.randrange(9)
        if not isinstance(t, list) or not t or what == 0:
            side[key] = self.pick([None, [], {}, 1, 'x', [[]], [[None]], t[0] if isinstance(t, list) and t else t,
                                   [t], [r + r for r in t if isinstance(r, list)] if isinstance(t, list) else t])
        elif what == 1:
            t.pop(self.r.randrange(len(t)))
        elif what == 2:
            t.insert(self.r.randrange(len(t) + 1), list(t[-1]) if isinstance(t[-1], list) else t[-1])
        elif what == 3:
            row = self.pick(t)
            if isinstance(row, list):
                if row and self.chance(0.5):
                    row.pop()
                else:
                    row.append(0.5)
        elif what == 4:
            row = self.pick(t)
            if isinstance(row, list) and row:
                row[self.r.randrange(len(row))] = self.pick(bad)
        elif what == 5:
            del side[key]
        elif what == 6:
            name = key[:-len('.weight')]
            side[self.pick(['nosuch.weight', key + ' ', key.upper(), name + '.bias', 'age.weight', 'tags.weight',
                            'code.weight', '.weight', 'weight', key + '.weight', '99.weight', 'user_cat.weight',
                            'label.weight'])] = t
            if self.chance(0.5):
                del side[key]
        elif what == 7 and len(keys) > 1:
            other = self.pick([k for k in keys if k != key])
            side[key], side[other] = side[other], side[key]
        else:
            # the same table in both models, or one model's tables all gone
            for s in sides:
                if self.chance(0.5):
                    s[key] = t
                elif s is not side:
                    for k in keys:
                        s.pop(k, None)

    def damage_embed_key(self, d):
        """The "embed" key of the transform's columns: out of range, of
        another type, gone, on a column that is not embedded (with tables or
        without), or the width and position of an embedded column"""
        columns = self.json_columns(d)
        if not columns:
            return
        embedded = [c for c in columns if 'embed' in c]
        what = self.r.randrange(5)
        if what == 0 and embedded:
            c = self.pick(embedded)
            c['embed'] = self.pick([0, -1, 1025, 1024, 2**31, 2**32, -2**31, '4', 4.5, 4.0, None, True, [], {},
                                    [4], 1e308, c['embed'] + 1 if isinstance(c['embed'], int) else 1])
        elif what == 1 and embedded:
            c = self.pick(embedded)
            del c['embed']
            if self.chance(0.5) and isinstance(c.get('vocabulary'), list):
                c['width'] = len(c['vocabulary']) + 2
        elif what == 2:
            # a column that is not embedded gets a dimension: its width, or not
            c = self.pick([c for c in columns if 'embed' not in c] or columns)
            n = len(c['vocabulary']) + 2 if isinstance(c.get('vocabulary'), list) else 1
            dim = self.pick([c.get('width', 1), c.get('width', 1), n, 1, 3])
            c['embed'] = dim
            if self.chance(0.6) and isinstance(c.get('name'), str) and isinstance(dim, int) and 0 < dim <= 64:
                for side in ('open', 'commercial'):
                    if isinstance(d.get(side), dict):
                        d[side][c['name'] + '.weight'] = [[0.25] * dim for _ in range(n)]
        else:
            c = self.pick(embedded or columns)
            key = self.pick(['width', 'position', 'kind', 'from_integer', 'missing'])
            old = c.get(key)
            c[key] = self.pick([0, -1, 1024, 1025, 2**31, 'multi_hot', 'numeric', True, None] +
                               ([old + 1, old - 1] if isinstance(old, int) and not isinstance(old, bool) else []))

    def resize_embed_json(self, d):
        """An embedded column's dimension changed with all that follows from
        it: its width, the positions after it, input_dim, the
        standardisation, the first layer's columns and its tables"""
        columns = self.json_columns(d)
        embedded = [c for c in columns if isinstance(c.get('embed'), int) and not isinstance(c.get('embed'), bool)
                    and isinstance(c.get('position'), int)]
        if not embedded:
            return
        c = self.pick(embedded)
        old, p = c['embed'], c['position']
        new = self.pick([1, 2, old + 1, old - 1, 1024, 1025, 0, -1, 4096])
        delta = new - old
        c['embed'] = c['width'] = new

        def refit(vec, fill):
            if not isinstance(vec, list):
                return vec
            if delta > 0:
                return vec[:p + old] + [fill] * delta + vec[p + old:]
            return vec[:p + max(new, 0)] + vec[p + old:]

        for o in columns:
            if o is not c and isinstance(o.get('position'), int) and o['position'] > p:
                o['position'] += delta
        if isinstance(d.get('input_dim'), int):
            d['input_dim'] += delta
        st = d.get('standardize')
        if isinstance(st, dict):
            st['mean'], st['std'] = refit(st.get('mean'), 0), refit(st.get('std'), 1)
        for side in ('open', 'commercial'):
            layer = d.get(side, {}).get('0.weight') if isinstance(d.get(side), dict) else None
            if isinstance(layer, list):
                d[side]['0.weight'] = [refit(row, 0) for row in layer]
        for side, key in self.json_tables(d, c):
            side[key] = [(row + [0.125] * max(delta, 0))[:max(new, 0)] if isinstance(row, list) else row
                         for row in side[key]]

    def change_embed_vocabulary(self, d):
        """An embedded column's vocabulary and counts with entries added or
        removed, and mostly its tables' rows with them (the last two rows
        stay the out-of-vocabulary and NULL rows); or an entry twice, too
        long, of another type; or 65,535 entries, more than a one-hot
        column may have"""
        embedded = [c for c in self.json_columns(d) if 'embed' in c and isinstance(c.get('vocabulary'), list)
                    and isinstance(c.get('counts'), list)]
        if not embedded:
            return
        c = self.pick(embedded)
        v, n = c['vocabulary'], c['counts']
        dim = c['embed'] if isinstance(c['embed'], int) and 0 < c['embed'] <= 64 else 1
        roll = self.r.random()
        if roll < 0.4:
            k = self.pick([1, 2, 100])
            v += ['zz%d' % i for i in range(k)]
            n += [1] * k
        elif roll < 0.65:
            k = self.pick([1, len(v)])
            del v[len(v) - k:], n[len(n) - k:]
        elif roll < 0.7 and dim <= 2:
            c['vocabulary'] = v = ['v%d' % i for i in range(65535)]
            c['counts'] = n = [1] * 65535
        elif roll < 0.85 and v:
            v[self.r.randrange(len(v))] = self.pick([v[0], '', 'x' * 1025, 'é' * 513, 1, None, ['a'], '\u0000'])
            return
        else:
            v.reverse()
            return
        if self.chance(0.85):
            for side, key in self.json_tables(d, c):
                t = side[key]
                keep = min(len(v), max(0, len(t) - 2))
                side[key] = t[:keep] + [[0] * dim for _ in range(len(v) - keep)] + t[-2:]

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


def call_evaluate_ranking(g):
    users_items = "FROM mixrec_fuzz_data.users u, mixrec_fuzz_data.items i"
    typed_users_items = "FROM mixrec_fuzz_data.typed_users u, mixrec_fuzz_data.typed_items i"
    pairs = lambda: g.pick([
        "'SELECT u.user_id, i.item_id %s WHERE (u.user_id + i.item_id) %% 3 = 0'" % users_items,
        "'mixrec_fuzz_data.seen'", "'SELECT item_id AS user_id, user_id AS item_id FROM mixrec_fuzz_data.seen'",
        "'SELECT user_id, item_id FROM mixrec_fuzz_data.seen WHERE false'",
        "'SELECT NULL::int AS user_id, item_id FROM mixrec_fuzz_data.seen'",
        "'SELECT user_id, item_id, item_id AS item_id FROM mixrec_fuzz_data.seen'", source(g)])
    tests = lambda: g.pick([
        "'SELECT u.user_id, i.item_id, u.features %s WHERE (u.user_id + i.item_id) %% 5 = 0'" % users_items,
        "'SELECT u.user_id, i.item_id, i.features %s WHERE (u.user_id + i.item_id) %% 5 = 0'" % users_items,
        "'SELECT u.user_id, i.item_id, u.age, u.country %s WHERE (u.user_id + i.item_id) %% 5 = 0'" % typed_users_items,
        "'SELECT u.user_id, i.item_id, u.age, i.tags AS country %s'" % typed_users_items,
        "'SELECT user_id, NULL::int AS item_id, features FROM mixrec_fuzz_data.users'", source(g)])
    items = lambda: g.pick([
        "'mixrec_fuzz_data.items'", "'mixrec_fuzz_data.typed_items'",
        "'SELECT * FROM mixrec_fuzz_data.items UNION ALL SELECT * FROM mixrec_fuzz_data.items'",
        "'SELECT item_id, features[1:1] AS features FROM mixrec_fuzz_data.items'",
        "'SELECT * FROM mixrec_fuzz_data.items WHERE false'", source(g)])
    column = lambda: g.pick(["'user_id'", "'item_id'", "'\"user_id\"'", "'features'", "'user_id, item_id'", expr(g)])
    typed = g.chance(0.3)
    return ["SELECT count(*), sum(model), sum(popularity) FROM mixrec_evaluate_ranking(%s)" % sane_with_random(
        g, ["'fz_typed_ui'" if typed else "'fz_ui'",
            "'SELECT u.user_id, i.item_id %s WHERE (u.user_id + i.item_id) %% 3 = 0'" % (
                typed_users_items if typed else users_items),
            "'SELECT u.user_id, i.item_id, u.age, u.country %s WHERE (u.user_id + i.item_id) %% 5 = 0'" % typed_users_items
            if typed else
            "'SELECT u.user_id, i.item_id, u.features %s WHERE (u.user_id + i.item_id) %% 5 = 0'" % users_items,
            "'user_id'", "'item_id'", "'mixrec_fuzz_data.typed_items'" if typed else "'mixrec_fuzz_data.items'",
            '3', 'NULL' if typed else "'features'", 'NULL' if typed else "'features'", "'blend'", 'NULL'],
        [lambda: g.text(MODEL_NAMES + TYPED_MODEL_NAMES), pairs, tests, column, column, items, g.int_,
         lambda: g.pick(['NULL', expr(g)]), lambda: g.pick(['NULL', expr(g)]), lambda: typed_mode(g), g.int_])]


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


# --- typed columns -----------------------------------------------------------

def quote_ident(name):
    return '"' + name.replace('"', '""') + '"'


def typed_mode(g):
    return lit_text(g.pick(['blend', 'open', 'commercial', 'soup'])) if g.chance(0.85) else g.text(MODES)


def typed_call_settings(g):
    if g.chance(0.15):
        return ["SET LOCAL max_parallel_workers_per_gather = 2", "SET LOCAL parallel_setup_cost = 0",
                "SET LOCAL parallel_tuple_cost = 0", "SET LOCAL min_parallel_table_scan_size = 0"]
    return []


def call_typed_forged(g):
    m, label = g.typed_model()
    columns = g.typed['columns'][label]
    table = 'mixrec_fuzz_data.' + g.pick(['typed'] * 6 + ['typed_odd', 'typed_toast'])
    from_ = '%s t WHERE t.id <= %d' % (table, g.pick([1, 1, 2, 3, 8]))
    # the table's row, by name; or ROW() of the model's columns, by position
    row = 't' if g.chance(0.6) else 'ROW(%s)' % ', '.join('t.' + quote_ident(c[0]) for c in columns)
    stmts = typed_call_settings(g)
    roll = g.r.random()
    if roll < 0.2:
        fn = g.pick(['mixrec_score', 'mixrec_score', 'mixrec_score_all'])
        extra = ''
        if g.chance(0.4):
            extra = ', %s' % typed_mode(g) + (', ' + g.float_() if g.chance(0.5) else '')
        stmts.append("SELECT %s(%s, %s%s) FROM %s" % (fn, m, row, extra, from_))
    elif roll < 0.32:
        stmts.append("SELECT mixrec_transform(%s, %s) FROM %s" % (m, row, from_))
    elif roll < 0.47:
        stmts.append("SELECT * FROM mixrec_feature_info(%s)" % m)
    elif roll < 0.6:
        stmts.append("SELECT %s(%s)" % (g.pick(['mixrec_info', 'mixrec_shape', 'mixrec_export']), m))
    elif roll < 0.72:
        agg = g.pick(['mixrec_fit', 'mixrec_fit_state'])
        extra = ', t.weight, %s, %s' % (g.pick(['NULL', 't.shelf', "'open'"]), g.pick([
            "'{\"batch_size\": 2, \"pool_batches\": 1}'", "'{\"batch_size\": 2, \"pool_batches\": 2}'",
            g.options()]))
        stmts.append("SELECT length(%s(%s, %s, t.label::int::float8%s)) FROM %s" % (agg, m, row, extra, from_))
    elif roll < 0.8:
        # the forged model in the registry, read back by name (and
        # continued: its categories' counters need more than 1 MB)
        stmts.append("SET LOCAL mixrec.train_memory = '64MB'")
        stmts.append("UPDATE mixrec_models SET weights = %s WHERE name = 'fz_typed'" % m)
        stmts.append(g.pick([
            "SELECT mixrec_score('fz_typed', t) FROM mixrec_fuzz_data.typed t WHERE t.id <= 3",
            "SELECT mixrec_transform('fz_typed', t) FROM mixrec_fuzz_data.typed t WHERE t.id <= 3",
            "SELECT * FROM mixrec_feature_info('fz_typed')",
            "SELECT count(*) FROM mixrec_predict('fz_typed', 'mixrec_fuzz_data.typed', 'id')",
            "SELECT count(*) FROM mixrec_evaluate('fz_typed', 'mixrec_fuzz_data.typed', label => 'label')",
            "SELECT count(*), sum(bytes) FROM mixrec_model_versions",
            "SELECT * FROM mixrec_train('fz_typed', 'mixrec_fuzz_data.typed', label => 'label', "
            "exclude => ARRAY['id', 'weight'], epochs => 1, warm_start => true)",
        ]))
    elif roll < 0.88:
        # the interchange form, its transform damaged, imported and used
        j = "mixrec_import(%s)" % g.typed_import_json()
        stmts.append(g.pick([
            "SELECT length(%s)" % j,
            "SELECT * FROM mixrec_feature_info(%s)" % j,
            "SELECT mixrec_score(%s, t) FROM mixrec_fuzz_data.typed t WHERE t.id <= 2" % j,
            "SELECT mixrec_export(%s)" % j,
        ]))
    else:
        # typed training states, forged, through the state functions and as INITCOND
        st = g.typed_state()
        kind = g.r.randrange(5)
        if kind == 0:
            stmts.append("SELECT mixrec_state_info(%s)" % lit_bytea(st))
        elif kind == 1:
            stmts.append("SELECT length(mixrec_merge(s)) FROM (VALUES (%s), (%s)) v(s)" % (
                lit_bytea(st), lit_bytea(g.typed_state())))
        elif kind == 2:
            # the combine function as a transition function, from a forged state
            stmts.append(forged_aggregate(g, 'f', 'mixrec_fit_combine', 'bytea', st,
                                          g.pick([None, 'mixrec_fit_final'])))
            stmts.append("SELECT length(pg_temp.f(s)) FROM (VALUES (%s)) v(s)" % lit_bytea(g.typed_state()))
        else:
            five = kind == 4
            stmts.append(forged_aggregate(g, 'f', 'mixrec_fit_accum',
                                          'bytea, record, float8' + (', float8, text' if five else ''), st,
                                          g.pick([None, 'mixrec_fit_final']), g.chance(0.3)))
            stmts.append("SELECT length(pg_temp.f(%s, %s, t.label::int::float8%s)) FROM %s" % (
                g.pick(['NULL::bytea', m]), row, ', t.weight, t.shelf' if five else '', from_))
    return stmts


# Values of each kind of column, usual and not
TYPED_VALUES = {
    KIND_NUMERIC: ['1', '0', '-1', '42', 'NULL', "'NaN'::float8", "'Infinity'::float8", "'-Infinity'::float4",
                   "'NaN'::numeric", "'Infinity'::numeric", '1e308::float8', '3.4e38::float4',
                   '99999999999999999999999999999999::numeric', '1e-320::float8', '32767::int2',
                   '9223372036854775807::int8', '5::mixrec_fuzz_data.grade', "'7'", '-0.0::float8', '0.5::real',
                   "'1e-1000'::numeric"],
    KIND_BOOLEAN: ['true', 'false', 'NULL', 'NULL::bool', "'t'"],
    KIND_CATEGORICAL: ["'fr'", "'fr'::text", "'de'::varchar", "'it'::char(5)", "'es'::name", "'atlantis'", "''",
                       'NULL::text', 'NULL', "repeat('x', 1025)", "repeat('é', 600)", "repeat('z', 100000)",
                       "E'\\t\\n'", "'calm'::mixrec_fuzz_data.mood", "'busy'", "'u'::mixrec_fuzz_data.shelf",
                       "'a'::char(2)", "'a '::char(2)", "U&'\\00e9'", "'NaN'", "'phone'::varchar(3)"],
    KIND_MULTI_HOT: ["ARRAY['sale']", "ARRAY['sale', 'new', 'sale']", "'{}'::text[]", 'ARRAY[NULL]::text[]',
                     "ARRAY['gift', NULL]", "'{{sale,new},{eco,gift}}'::text[]", "array_fill('x'::text, ARRAY[100000])",
                     "'[5:6]={eco,gift}'::text[]", "ARRAY['calm']::mixrec_fuzz_data.mood[]", "ARRAY[repeat('y', 5000)]",
                     "ARRAY['a']::varchar[]", "ARRAY['a']::char(3)[]", "ARRAY['a']::name[]", 'NULL::text[]',
                     "'{}'::mixrec_fuzz_data.mood[]", "ARRAY['u']::mixrec_fuzz_data.shelf[]",
                     "'[-2147483648:-2147483647]={sale,new}'::text[]", "array_fill('sale'::text, ARRAY[1, 1, 1])"],
    KIND_DENSE: ["'{1,2,3}'::real[]", "'{1,2,3}'::float8[]", "'{1,2}'::real[]", "'{1,2,3,4}'::real[]", "'{}'::real[]",
                 "'{NaN,1,2}'::real[]", "'{Infinity,0,0}'::float8[]", "'{{1,2,3}}'::real[]", 'ARRAY[1,NULL,3]::real[]',
                 "'{1,2,3}'::int[]", "'{1,2,3}'::numeric[]", "'{1,2,3}'::int2[]", "'{1e300,1,1}'::float8[]",
                 "'{NaN,0,0}'::numeric[]", "'[0:2]={1,2,3}'::real[]", 'array_fill(1::real, ARRAY[65537])',
                 'NULL::real[]', "'{1,2,3}'::int8[]", "'{99999999999999999999999999999999,0,0}'::numeric[]",
                 "array_fill(1::real, ARRAY[3, 1])"],
    KIND_TIME: ['now()', "'2026-01-01'::date", "'2026-01-01 12:00'::timestamp", "'infinity'::timestamptz",
                "'-infinity'::date", "'infinity'::timestamp", "'4713-01-01 BC'::date",
                "'294276-12-31 23:59:59'::timestamp", "'5874897-12-31'::date", "'epoch'::timestamptz",
                'NULL::date', 'NULL', "'2026-01-01'", "'4714-11-24 00:00:00+00 BC'::timestamptz"],
}
# Values no typed column takes
ALIEN_VALUES = ["'1 day'::interval", "'12:00'::time", "point(1, 2)", "'{}'::jsonb", "'\\x00'::bytea",
                "'a'::\"char\"", "'{1,2}'::int[]", "ROW(1, 'x')", 't', "'(1,2)'::int4range",
                "'00000000-0000-0000-0000-000000000000'::uuid", "1::oid", "'pg_class'::regclass"]
# Changes to a column of the table whose row is scored, between two calls
TYPED_ALTERS = {
    KIND_NUMERIC: ['TYPE bigint', 'TYPE numeric', 'TYPE text', 'TYPE float4', 'TYPE boolean USING {c} > 30',
                   'TYPE int[] USING ARRAY[{c}::int]'],
    KIND_BOOLEAN: ['TYPE text', 'TYPE int USING {c}::int'],
    KIND_CATEGORICAL: ['TYPE text[] USING ARRAY[{c}::text]', 'TYPE varchar(1)', 'TYPE name',
                       'TYPE bytea USING {c}::text::bytea',
                       'TYPE int USING length({c}::text)'],
    KIND_MULTI_HOT: ['TYPE text USING {c}::text', 'TYPE varchar[]', 'TYPE text[][]'],
    KIND_DENSE: ['TYPE float8[]', 'TYPE numeric[]', 'TYPE int[]', 'TYPE text USING {c}::text',
                 'TYPE real[] USING {c} || 1::real'],
    KIND_TIME: ['TYPE date', 'TYPE timestamptz', 'TYPE timestamp', 'TYPE text', 'TYPE bigint USING 1'],
}


def typed_value(g, name, kind, alias='t'):
    roll = g.r.random()
    if roll < 0.6:
        return alias + '.' + quote_ident(name)
    if roll < 0.7:
        return 'o.' + quote_ident(name)
    if roll < 0.92:
        return g.pick(TYPED_VALUES.get(kind, ['NULL']))
    if roll < 0.96:
        return g.pick(TYPED_VALUES[g.pick(sorted(TYPED_VALUES))])
    return g.pick(ALIEN_VALUES)


def typed_row(g, columns):
    """A row for a model of these columns, over t (typed) and o (typed_odd):
    statements to run first, the FROM items, and the row expression"""
    roll = g.r.random()
    pre = []
    if roll < 0.15:
        return pre, '', g.pick(['t', 'o', 't', 'NULL::record', 'NULL::mixrec_fuzz_data.typed', 'ROW()', 'ROW(NULL)',
                                'ROW(t, o)', 'ROW(t.age)', "ROW(%s)" % ', '.join(['NULL'] * len(columns))])
    items = [(name, typed_value(g, name, kind)) for name, kind, _ in columns]
    if g.chance(0.08) and len(items) > 1:
        del items[g.r.randrange(len(items))]            # a column missing
    if g.chance(0.08):
        i = g.r.randrange(len(items))                   # another name, or a duplicate
        items[i] = (g.pick([items[i][0].upper(), items[i][0] + ' ', 'f1', columns[0][0]]), items[i][1])
    if g.chance(0.1):
        items.insert(g.r.randrange(len(items) + 1), (g.pick(['extra', 'id', 'label', 'f9']), typed_value(g, 'id', 0)))
    if g.chance(0.1):
        g.r.shuffle(items)
    if roll < 0.55:
        # a subquery's row, by name
        lateral = ', LATERAL (SELECT %s) r' % ', '.join('%s AS %s' % (v, quote_ident(n)) for n, v in items)
        return pre, lateral, 'r'
    if roll < 0.8:
        # ROW(), read by position when its width is the model's
        return pre, '', 'ROW(%s)' % ', '.join(v for _, v in items)
    if roll < 0.92:
        # a composite type of the role's, or a domain over one
        types = [(n, t) for n, _, t in columns]
        if g.chance(0.2):
            i = g.r.randrange(len(types))
            types[i] = (types[i][0], g.pick(['text', 'int', 'real[]', 'bytea', 'float8[]', 'varchar(1)']))
        pre.append("CREATE TYPE %s.rt AS (%s)" % (OWN_SCHEMA, ', '.join(
            '%s %s' % (quote_ident(n), t) for n, t in types)))
        target = '%s.rt' % OWN_SCHEMA
        if g.chance(0.3):
            pre.append("CREATE DOMAIN %s.rd AS %s.rt CHECK (VALUE IS NOT NULL)" % (OWN_SCHEMA, OWN_SCHEMA))
            target = '%s.rd' % OWN_SCHEMA
        return pre, '', 'ROW(%s)::%s' % (', '.join(typed_value(g, n, k) if g.chance(0.3) else 't.' + quote_ident(n)
                                                     for n, k, _ in columns), target)
    # a function whose rows change their type from one call to the next:
    # the row of a subquery, the table's, and the same in another order;
    # sometimes one that cannot be scored
    inner = ['%s AS %s' % (v.replace('t.', 'r.').replace('o.', 'r.'), quote_ident(n)) for n, v in items]
    shapes = ['(SELECT x FROM (SELECT %s) x)' % ', '.join(inner), '(SELECT r)']
    g.r.shuffle(inner)
    shapes.append('(SELECT x FROM (SELECT %s, 1 AS extra) x)' % ', '.join(inner))
    if g.chance(0.3):
        shapes.append(g.pick(['ROW(i)', 'ROW()', '(SELECT x FROM (SELECT r.age, r.country) x)']))
    pre.append("CREATE FUNCTION %s.varrow(i int) RETURNS record LANGUAGE plpgsql AS $f$ DECLARE r record; BEGIN "
               "SELECT * INTO r FROM mixrec_fuzz_data.typed WHERE id = i; "
               "RETURN CASE i %% %d %s END; END $f$" % (
                   OWN_SCHEMA, len(shapes), ' '.join('WHEN %d THEN %s' % (k, s) for k, s in enumerate(shapes))))
    return pre, '', '%s.varrow(t.id)' % OWN_SCHEMA


def typed_valid_model(g):
    """A valid typed model, as a bytea or by name, and its columns"""
    if g.chance(0.2):
        name = g.pick(TYPED_MODEL_NAMES)
        return lit_text(name), g.typed['columns']['trained' if name == 'fz_typed' else 'ui']
    label = g.pick(sorted(g.typed['models']))
    return lit_bytea(g.typed['models'][label]), g.typed['columns'][label]


def typed_function(g, m, row):
    """A call of a function that reads a typed row"""
    roll = g.r.random()
    if roll < 0.4:
        extra = ''
        if g.chance(0.3):
            extra = ', %s' % typed_mode(g) + (', ' + g.float_() if g.chance(0.5) else '')
        return "%s(%s, %s%s)" % (g.pick(['mixrec_score', 'mixrec_score', 'mixrec_score_all']), m, row, extra)
    if roll < 0.6:
        return "mixrec_transform(%s, %s)" % (m, row)
    if roll < 0.7:
        return "mixrec_holdout(%s, %s)" % (row, g.bigint())
    if m.startswith("'fz_"):
        m = lit_bytea(g.typed['models']['trained'])
    return "length(%s(%s, %s, %s, %s, %s, %s))" % (
        g.pick(['mixrec_fit', 'mixrec_fit_state']), m, row,
        g.pick(['t.label::int', 't.label::int', '1', '0.5', 'NULL', "'NaN'::float8"]),
        g.pick(['1', 't.weight', 'o.weight']), g.pick(['NULL', "'open'", 't.shelf']),
        g.pick(["'{\"batch_size\": 2, \"pool_batches\": 1}'", "'{\"batch_size\": 1, \"on_invalid\": \"skip\"}'",
                "'{\"batch_size\": 4, \"pool_batches\": 2, \"optimizer\": \"adamw\"}'"]))


def call_typed_rows(g):
    m, columns = typed_valid_model(g)
    stmts = typed_call_settings(g)
    if g.chance(0.25):
        return stmts + typed_altered(g, m, columns)
    pre, lateral, row = typed_row(g, columns)
    n = g.pick([1, 2, 3, 8, 40])
    return stmts + pre + ["SELECT %s FROM mixrec_fuzz_data.typed t JOIN mixrec_fuzz_data.%s o USING (id)%s "
                          "WHERE t.id <= %d" % (typed_function(g, m, row), g.pick(['typed_odd', 'typed_toast']),
                                                lateral, n)]


def typed_altered_type(g, m, columns):
    """Values of a composite type stored in a table, scored by a prepared
    statement while the type gains, loses and renames attributes: stored
    values then have fewer or more attributes than the type"""
    rt = '%s.rt' % OWN_SCHEMA
    stmts = ["DEALLOCATE ALL",
             "CREATE TYPE %s AS (%s)" % (rt, ', '.join('%s %s' % (quote_ident(n), t) for n, _, t in columns)),
             "CREATE TABLE %s.tc AS SELECT ROW(%s)::%s AS v FROM mixrec_fuzz_data.typed t WHERE t.id <= 3" % (
                 OWN_SCHEMA, ', '.join('t.' + quote_ident(n) for n, _, _ in columns), rt),
             "PREPARE p AS SELECT %s FROM %s.tc" % (g.pick([
                 'mixrec_score(%s, v)' % m, '(mixrec_transform(%s, v))[1]' % m, 'mixrec_holdout(v, 3)']),
                 OWN_SCHEMA),
             "EXECUTE p"]
    for k in range(g.r.randint(1, 3)):
        name = quote_ident(g.pick(columns)[0])
        roll = g.r.random()
        if roll < 0.3:
            stmts.append("ALTER TYPE %s ADD ATTRIBUTE extra%d int CASCADE" % (rt, k))
        elif roll < 0.6:
            stmts.append("ALTER TYPE %s DROP ATTRIBUTE IF EXISTS %s CASCADE" % (rt, name))
            if g.chance(0.5):
                stmts.append("ALTER TYPE %s ADD ATTRIBUTE %s %s CASCADE" % (rt, name, g.pick(
                    ['int', 'text', 'text[]', 'real[]', 'date'])))
        elif roll < 0.8:
            stmts.append("ALTER TYPE %s RENAME ATTRIBUTE %s TO renamed%d CASCADE" % (rt, name, k))
        else:
            stmts.append("UPDATE %s.tc SET v.%s = NULL" % (OWN_SCHEMA, name))
        stmts.append("EXECUTE p")
    return stmts


def typed_altered(g, m, columns):
    """A call site that outlives changes to the row type it reads: a
    prepared statement, or a PL/pgSQL loop"""
    if g.chance(0.2):
        return typed_altered_type(g, m, columns)
    table = '%s.tr' % OWN_SCHEMA
    stmts = ["DEALLOCATE ALL",
             "CREATE TABLE %s AS SELECT * FROM mixrec_fuzz_data.typed WHERE id <= %d" % (table, g.pick([1, 3, 10]))]
    alters = []
    for _ in range(g.r.randint(1, 4)):
        name, kind, _ = g.pick(columns) if g.chance(0.85) else ('id', KIND_NUMERIC, 'integer')
        c = quote_ident(name)
        roll = g.r.random()
        if roll < 0.4:
            alters.append("ALTER TABLE %s ALTER COLUMN %s %s" % (
                table, c, g.pick(TYPED_ALTERS.get(kind, ['TYPE text'])).format(c=c)))
        elif roll < 0.6:
            alters.append("ALTER TABLE %s DROP COLUMN IF EXISTS %s" % (table, c))
            if g.chance(0.6):
                alters.append("ALTER TABLE %s ADD COLUMN %s %s" % (table, c, g.pick(
                    ['int', 'text', 'text[]', 'real[]', 'date', 'bool', 'mixrec_fuzz_data.mood', 'numeric'])))
        elif roll < 0.7:
            alters.append("ALTER TABLE %s RENAME COLUMN %s TO %s" % (table, c, quote_ident(name + '_old')))
        elif roll < 0.8:
            alters.append("ALTER TABLE %s ADD COLUMN extra%d int DEFAULT 7" % (table, len(alters)))
        elif roll < 0.9:
            alters.append("UPDATE %s SET %s = NULL" % (table, c))
        else:
            alters.append("ALTER TABLE %s DROP COLUMN IF EXISTS id" % table)
    if m.startswith("'fz_"):
        m_fit = lit_bytea(g.typed['models']['trained'])
    else:
        m_fit = m
    query = g.pick(["SELECT mixrec_score(%s, r) FROM %s r" % (m, table),
                    "SELECT mixrec_transform(%s, r) FROM %s r" % (m, table),
                    "SELECT mixrec_holdout(r, 7) FROM %s r" % table,
                    "SELECT length(mixrec_fit(%s, r, 1, 1, NULL, '{\"batch_size\": 2}')) FROM %s r" % (m_fit, table),
                    "SELECT mixrec_score_all(%s, ROW(%s)) FROM %s r" % (
                        m, ', '.join('r.' + quote_ident(n) for n, _, _ in columns), table)])
    if g.chance(0.5):
        stmts.append("PREPARE p AS " + query)
        stmts.append("EXECUTE p")
        for a in alters:
            stmts.append(a)
            stmts.append("EXECUTE p")
        stmts.append("DEALLOCATE p")
        return stmts
    # the same in PL/pgSQL: a cached plan, a record variable filled before
    # the change and read after it, a variable of the table's type
    body = ("DECLARE rec record; trow %s.tr; x float8; alters text[] := ARRAY[%s]; BEGIN "
            "FOR i IN 1 .. cardinality(alters) + 1 LOOP "
            "SELECT * INTO rec FROM %s LIMIT 1; SELECT * INTO trow FROM %s LIMIT 1; "
            "PERFORM count(*) FROM (%s) q; "
            "IF i <= cardinality(alters) THEN EXECUTE alters[i]; END IF; "
            "x := %s; x := %s; "
            "END LOOP; END" % (OWN_SCHEMA, ', '.join(lit_text(a) for a in alters), table, table, query,
                               g.pick(['mixrec_score(%s, rec)' % m, 'mixrec_holdout(rec, 1)',
                                       '(mixrec_transform(%s, rec))[1]' % m]),
                               g.pick(['mixrec_score(%s, trow)' % m, 'mixrec_holdout(trow, 1)',
                                       '(mixrec_transform(%s, trow))[1]' % m])))
    stmts.append("DO $do$ %s $do$" % body)
    return stmts


# Sources of typed columns: tables, queries with odd columns and types
TYPED_SOURCES = [
    'mixrec_fuzz_data.typed', 'mixrec_fuzz_data.typed', 'mixrec_fuzz_data.typed_odd', 'mixrec_fuzz_data.typed_toast',
    'SELECT age, country, tags, label FROM mixrec_fuzz_data.typed',
    'SELECT * FROM mixrec_fuzz_data.typed WHERE false', 'SELECT * FROM mixrec_fuzz_data.typed WHERE id = 1',
    'SELECT * FROM mixrec_fuzz_data.typed_odd WHERE label IS NOT NULL',
    'SELECT t.*, o.age AS age2 FROM mixrec_fuzz_data.typed t JOIN mixrec_fuzz_data.typed_odd o USING (id)',
    'SELECT t.age, o.age, t.label FROM mixrec_fuzz_data.typed t JOIN mixrec_fuzz_data.typed_odd o USING (id)',
    'SELECT NULL::int AS a, NULL::text AS b, label FROM mixrec_fuzz_data.typed',
    "SELECT point(id, id) AS p, '{}'::jsonb AS j, id::text::bytea AS b, interval '1 day' * id AS i, label "
    "FROM mixrec_fuzz_data.typed",
    "SELECT ARRAY[[id, id]] AS m, ARRAY[[country]] AS mt, ROW(id, country) AS r, label FROM mixrec_fuzz_data.typed",
    'SELECT md5(id::text) AS token, id % 7 AS small, label FROM mixrec_fuzz_data.typed',
    'SELECT md5(id::text) AS token, label::int AS label FROM mixrec_fuzz_data.big',
    'SELECT id % 7 AS a, sin(id) AS b, label FROM mixrec_fuzz_data.big',
    "SELECT (ARRAY['x', 'y'])[1 + id % 2]::char(1) AS c, id::int2 AS s, id::int8 AS l, id::float4 AS f, label "
    "FROM mixrec_fuzz_data.typed",
    'SELECT tags AS tags, tags AS "Tags", embedding || embedding AS e6, label FROM mixrec_fuzz_data.typed',
    "SELECT CASE WHEN id % 2 = 0 THEN embedding ELSE embedding[1:2] END AS e, label FROM mixrec_fuzz_data.typed",
    "SELECT CASE WHEN id = 3 THEN 'NaN' ELSE id END::float8 AS x, label FROM mixrec_fuzz_data.typed",
    "SELECT CASE WHEN id = 3 THEN 'infinity' ELSE signup END AS d, label FROM mixrec_fuzz_data.typed",
    "SELECT repeat('v', 1025 + id % 2) AS long_text, label FROM mixrec_fuzz_data.typed",
    'SELECT ' + ', '.join('id %% %d AS c%d' % (k + 2, k) for k in range(300)) + ', label FROM mixrec_fuzz_data.typed',
    'SELECT label, label AS label FROM mixrec_fuzz_data.typed',
    'SELECT age, age, label FROM mixrec_fuzz_data.typed',
    'SELECT 1 AS "", label FROM mixrec_fuzz_data.typed',
    'SELECT "Größe", "odd ""name"", here", label FROM mixrec_fuzz_data.typed',
    'SELECT grade, shelf, moods, mood, label FROM mixrec_fuzz_data.typed',
    # the names PostgreSQL gives the fields of ROW(), in another order
    'SELECT country AS f2, age AS f1, label FROM mixrec_fuzz_data.typed',
    'SELECT age AS f2, income AS f1, id, label FROM mixrec_fuzz_data.typed',
    'mixrec_fuzz_data.typed_users', 'mixrec_fuzz_data.clicks', 'mixrec_fuzz_data.nonexistent', '', ';', ')',
]
TYPED_FEATURES = [
    None, None, None, 'age, country', '"age"', 'AGE', '"Age"', 'age,,country', 'age country', ' age ', 'age, "country',
    '"a""b"', 'age; DROP TABLE x', '"' + 'x' * 100 + '"', 'x' * 100, 'age, age', 'label', 'age, label', '*', '',
    'Größe', '"Größe"', 'U&"age"', 'age + 1', 'features', 'tags, embedding, signup, seen, visited_at',
    'mood, moods, grade, shelf',
    'code, handle, bucket', '"odd ""name"", here"', 'id', 'token', 'a, b', 'p, j, b, i', 'm, mt, r', 'c0, c1, c299',
    'age,\tcountry', 'age,\ncountry', 'age\\, country', '"age ", country', '$$', "'age'", 'age, /* */ country',
]
TYPED_LABELS = ['label', 'label', 'label::int', 'NOT label', 'age > 30', 'country', 'NULL', 'premium', 'tags',
                '(age % 2)::float8', 'label AND premium', "'NaN'::float8", 'embedding', 'y', 'id', 'weight',
                'label) FROM mixrec_fuzz_data.typed --', '']
TYPED_EXCLUDES = ['NULL', "ARRAY[]::text[]", 'ARRAY[NULL]::text[]', "ARRAY['id', NULL]", "ARRAY['nosuch']",
                  "ARRAY['id', 'weight']", "ARRAY['id', 'weight']", "ARRAY['ID']", "'{{id,weight}}'::text[]",
                  "ARRAY['label']", "ARRAY['id', 'id']", "ARRAY[repeat('x', 100)]", "ARRAY['']",
                  "(SELECT array_agg(attname::text) FROM pg_attribute "
                  "WHERE attrelid = 'mixrec_fuzz_data.typed'::regclass)",
                  "ARRAY['id', 'weight', 'tags', 'embedding', 'mood']", "'[2:3]={id,weight}'::text[]"]
TYPED_KINDS = ['numeric', 'boolean', 'categorical', 'multi_hot', 'dense', 'time', 'Categorical', '', 'unknown',
               'multi-hot', 'numeric ']
TYPED_COLUMN_NAMES = ['age', 'income', 'premium', 'country', 'device', 'mood', 'tags', 'embedding', 'visited_at',
                      'signup', 'seen', 'grade', 'code', 'handle', 'bucket', 'shelf', 'moods', 'Größe', 'id',
                      'label', 'weight', 'nosuch', '', 'AGE', 'token', 'small']


def typed_transform(g):
    """A transform argument: per-column overrides, valid or not"""
    roll = g.r.random()
    if roll < 0.25:
        return 'NULL'
    if roll < 0.35:
        return g.pick(["'{}'::jsonb", "'[]'::jsonb", "'\"categorical\"'::jsonb", "'1'::jsonb", "'null'::jsonb",
                       "'{\"age\": null}'::jsonb", "'{\"age\": []}'::jsonb", "'{\"age\": {}}'::jsonb",
                       "'{\"age\": {\"kind\": {\"kind\": \"numeric\"}}}'::jsonb",
                       "'" + TYPED_OVERRIDES + "'::jsonb", "'{\"country\": {\"top_k\": 1}}'::jsonb",
                       "'{\"token\": {\"top_k\": 65534, \"min_frequency\": 1}}'::jsonb"])
    values = [0, 1, -1, 2, 5, 65534, 65535, 2**31 - 1, 2**31, 1e10, 1.5, '5', None, [], {}, True, 'log', 'LOG',
              'standard', 1e308]
    d = {}
    for _ in range(g.r.randint(1, 3)):
        col = g.pick(TYPED_COLUMN_NAMES)
        if g.chance(0.4):
            d[col] = g.pick(TYPED_KINDS + [None, 1, [], {}])
        else:
            opts = {}
            for _ in range(g.r.randint(1, 3)):
                key = g.pick(['kind', 'top_k', 'min_frequency', 'scale', 'top_n', '', 'Kind'])
                opts[key] = g.pick(TYPED_KINDS) if key == 'kind' and g.chance(0.7) else g.pick(values)
            d[col] = opts
    return lit_jsonb(d)


def call_typed_train(g):
    # a sane training, up to two of whose arguments are random
    args = ["'mixrec_fuzz_data.typed'", 'NULL', "'label'", None, g.pick(['NULL', "'%s'" % TYPED_OVERRIDES])]
    gens = [lambda: lit_text(g.pick(TYPED_SOURCES)),
            lambda: 'NULL' if g.chance(0.2) else lit_text(g.pick(TYPED_FEATURES[3:])),
            lambda: lit_text(g.pick(TYPED_LABELS)), lambda: g.pick(TYPED_EXCLUDES), lambda: typed_transform(g)]
    for _ in range(g.r.randint(0, 2)):
        i = g.r.randrange(len(args))
        args[i] = gens[i]()
    if args[3] is None:
        # the table's own columns that are no features, if it is the source
        args[3] = "ARRAY['id', 'weight']" if args[0] == "'mixrec_fuzz_data.typed'" else 'NULL'
    src, feats, label, exclude, transform = args
    # category counters are budgeted at their most (4 x top_k values of
    # 1 kB each), so the 1 MB of the other phases fits a category or two
    stmts = ["SET LOCAL mixrec.train_memory = '%s'" % g.pick(['64MB'] * 5 + ['4MB', '1MB'])]
    # a streamed epoch may run as a parallel aggregate
    stmts += typed_call_settings(g)
    roll = g.r.random()
    if roll < 0.35:
        stmts.append("SELECT * FROM mixrec_train(%s, %s, %s, %s, exclude => %s, transform => %s, hidden => %s, "
                     "epochs => %s, batch_size => %s, method => %s%s%s)" % (
                         g.text(['fz_tt', 'fz_typed'], 0.95), src, feats, label, exclude, transform,
                         g.pick(["'{4}'", "'{}'", "'{2,2}'"]), g.pick(['1'] * 8 + ['2', '0']),
                         g.pick(['32', '32', '1', '400']), g.text(['memory', 'stream', 'auto', 'stream'], 0.95),
                         g.pick(['', '', ", domain => 'shelf'", ", weight => 'weight'", ", domain => 'country'",
                                 ", weight => 'age'", ", validation_fraction => 0", ", validation_fraction => 0.5"]),
                         g.pick(['', '', '', ', warm_start => true', ', initial_model => ' + g.typed_model()[0],
                                 ", on_invalid => 'skip'", ', standardize => false', ', shuffle => false'])))
    elif roll < 0.55:
        options = {'hidden': g.pick([[4], [], [2, 2]]), 'epochs': 1, 'method': g.pick(['memory', 'stream'])}
        if g.chance(0.6):
            options['exclude'] = g.pick([['id', 'weight'], [], [None], ['nosuch'], 'id', None, [1], [['id']]])
        if g.chance(0.6):
            options['transform'] = g.pick([json.loads(TYPED_OVERRIDES), {}, [], 'x', None,
                                           {'country': {'top_k': g.pick([0, 1, 3, 65535])}}, {'age': 'categorical'}])
        stmts.append("SELECT length(weights), metrics IS NULL FROM mixrec_train_model(%s, %s, %s, %s, %s, %s, %s, %s)"
                     % (src, feats, label, g.pick(['NULL', "'shelf'", "'country'"]), g.pick(['NULL', "'weight'"]),
                        lit_jsonb(options), g.pick(['NULL', 'NULL', g.typed_model()[0]]), g.text(['fz_tt'], 0.9)))
    else:
        # mixrec_prepare, and what it prepared, read back
        prepared = "mixrec_prepare(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)" % (
            src, feats, label if g.chance(0.8) else 'NULL', exclude, transform,
            g.pick(["'{4}'", "'{}'", "'{2,2}'"]) if g.chance(0.9) else g.hidden(),
            g.float_() if g.chance(0.2) else '0.5', g.pick(['true', 'false'] * 4 + ['NULL']),
            g.text(['independent', 'shared'], 0.95), g.bigint() if g.chance(0.2) else '42')
        stmts.append(g.pick([
            "SELECT length(%s)" % prepared,
            "SELECT * FROM mixrec_feature_info(%s)" % prepared,
            "SELECT length(mixrec_fit(m, t, t.label::int)) FROM mixrec_fuzz_data.typed t, (SELECT %s AS m) p "
            "WHERE t.id <= 30" % prepared,
            "SELECT mixrec_score(m, t) FROM mixrec_fuzz_data.typed t, (SELECT %s AS m) p WHERE t.id <= 3" % prepared,
        ]))
    return stmts


def sane_with_random(g, args, gens):
    """Sane arguments, up to three of them replaced by random ones"""
    args = list(args)
    for _ in range(g.r.randint(0, 3)):
        i = g.r.randrange(len(args))
        args[i] = gens[i]()
    return ', '.join(args)


def call_typed_serve(g):
    return typed_call_settings(g) + typed_serve(g)


def typed_serve(g):
    model = lambda: g.text(TYPED_MODEL_NAMES * 4 + ['fz_m'], 0.95)
    src = lambda: lit_text(g.pick(TYPED_SOURCES))
    roll = g.r.random()
    if roll < 0.1:
        return [g.pick([
            "SELECT * FROM mixrec_feature_info(%s, %s)" % (model(), g.int_()),
            "SELECT * FROM mixrec_feature_info(%s)" % model(),
            "SELECT mixrec_transform(%s, t) FROM mixrec_fuzz_data.typed t WHERE t.id <= 3" % model(),
            "SELECT mixrec_transform(%s, t) FROM mixrec_fuzz_data.typed_odd t" % model(),
        ])]
    if roll < 0.45:
        return ["SELECT count(*), sum(score) FROM mixrec_predict(%s)" % sane_with_random(
            g, ["'fz_typed'", "'mixrec_fuzz_data.typed'", "'id'", 'NULL', "'blend'", 'NULL'],
            [model, src, lambda: g.pick(["'label'", "'country'", "'t'", "'tags'", expr(g)]),
             lambda: g.pick(["'embedding'", "'age, country'", "'premium, device, signup, embedding'", expr(g)]),
             lambda: typed_mode(g), g.float_])]
    if roll < 0.7:
        return ["SELECT count(*), sum(value) FROM mixrec_evaluate(%s)" % sane_with_random(
            g, ["'fz_typed'", "'mixrec_fuzz_data.typed'", 'NULL', "'label'", 'NULL', 'NULL', '10'],
            [model, src, lambda: g.pick(["'embedding'", "'age'", expr(g)]), lambda: lit_text(g.pick(TYPED_LABELS)),
             lambda: g.pick(["'shelf'", "'shelf::text'", "'country'", "'label'", "'premium'", expr(g)]),
             lambda: g.pick(["'country'", "'age'", "'id'", "'tags'", "'embedding'", expr(g)]), g.int_])]
    users = lambda: g.pick([
        "'SELECT user_id, age::text AS age, country FROM mixrec_fuzz_data.typed_users'",
        "'SELECT user_id, age FROM mixrec_fuzz_data.typed_users'",
        "'SELECT user_id, age, country, ARRAY[''sale''] AS tags FROM mixrec_fuzz_data.typed_users'",
        "'SELECT * FROM mixrec_fuzz_data.typed_users WHERE false'", "'mixrec_fuzz_data.typed'",
        "'SELECT user_id, NULL::int AS age, ''''::text AS country FROM mixrec_fuzz_data.typed_users'", source(g)])
    items = lambda: g.pick([
        "'SELECT item_id, tags::text AS tags, embedding FROM mixrec_fuzz_data.typed_items'",
        "'SELECT item_id, tags, embedding[1:2] AS embedding FROM mixrec_fuzz_data.typed_items'",
        "'SELECT item_id, tags, embedding, 1 AS age FROM mixrec_fuzz_data.typed_items'",
        "'SELECT item_id, NULL::text[] AS tags, NULL::real[] AS embedding FROM mixrec_fuzz_data.typed_items'",
        "'SELECT item_id, tags, ''{NaN,0,0}''::real[] AS embedding FROM mixrec_fuzz_data.typed_items'",
        "'mixrec_fuzz_data.typed'", source(g)])
    return ["SELECT count(*), max(rank) FROM mixrec_recommend(%s)" % sane_with_random(
        g, ["'fz_typed_ui'", "'mixrec_fuzz_data.typed_users'", "'mixrec_fuzz_data.typed_items'", "'user_id'",
            "'item_id'", 'NULL', 'NULL', '3', 'NULL', "'blend'"],
        [lambda: g.text(['fz_typed', 'fz_typed_ui'], 0.9), users, items,
         lambda: g.pick(["'id'", "'age'", "'country'", expr(g)]), lambda: g.pick(["'id'", "'tags'", expr(g)]),
         lambda: g.pick(["'age'", "'age, country'", expr(g)]), lambda: g.pick(["'embedding'", "'tags, embedding'"]),
         g.int_, lambda: g.pick(["'mixrec_fuzz_data.seen'", "'SELECT 1, 2'",
                                 "'SELECT user_id, item_id FROM mixrec_fuzz_data.typed_users, "
                                 "mixrec_fuzz_data.typed_items'"]),
         lambda: typed_mode(g)])]


# --- embedded columns and training from positives only ------------------------

# Where the rows of each model of embedded columns come from: FROM items
# (%d: how many rows), and a label
EMBED_ROWS = {
    'typed': (['mixrec_fuzz_data.typed t WHERE t.id <= %d'] * 4 +
              ['mixrec_fuzz_data.typed_odd t WHERE t.id <= %d', 'mixrec_fuzz_data.typed_toast t WHERE t.id <= %d'],
              't.label::int::float8'),
    'likes': (['mixrec_fuzz_data.likes t WHERE t.user_id <= %d'] * 4 + [
        "(SELECT -user_id AS user_id, user_cat, item_id || 'x' AS item_id, item_cat, price "
        "FROM mixrec_fuzz_data.likes) t WHERE t.user_id >= -%d",
        "(SELECT NULL::int AS user_id, NULL::text AS user_cat, NULL::text AS item_id, item_cat, 'NaN'::float8 AS price "
        "FROM mixrec_fuzz_data.likes LIMIT %d) t",
        "(SELECT user_id::text AS user_id, user_cat, item_id, item_cat, price FROM mixrec_fuzz_data.likes "
        "WHERE user_id <= %d) t",
        "(SELECT 2147483647 AS user_id, user_cat, repeat(item_id, 600) AS item_id, item_cat, price "
        "FROM mixrec_fuzz_data.likes LIMIT %d) t"],
        '(t.price > 3)::int::float8'),
}
# Values no vocabulary has, or barely: case, spaces, integers' other texts,
# ids of the catalogue never liked, long and odd texts
ODD_VALUES = ['atlantis', '', ' fr', 'fr ', 'FR', '01', '-0', '1.0', '+1', '1e0', 'i0', 'i30', 'i031', 'a', 'a ',
              'é' * 600, 'x' * 1025, '\t', 'NaN', 'null', None]


def embed_rows(g, label):
    """FROM items and a label for rows of a model's columns"""
    froms, y = EMBED_ROWS['likes' if label == 'implicit' else 'typed']
    return g.pick(froms) % g.pick([1, 2, 3, 8]), y


def embed_column(g, label):
    """A column name for mixrec_embeddings or mixrec_similar: mostly an
    embedded one, else one that is not embedded, or none of the model's"""
    roll = g.r.random()
    if roll < 0.6:
        return lit_text(g.pick(sorted(g.embedded['vocab'][label])))
    if roll < 0.8:
        return lit_text(g.pick(g.embedded['others'][label]))
    return g.pick(['NULL::text', "repeat('x', 64)", "repeat('é', 100)"] + [lit_text(t) for t in [
        'nosuch', '', 'COUNTRY', 'country ', '"country"', 'country.weight', 'user_id', 'item_id', 'é', '0',
        'open', 'bucket', 'label']])


def embed_value(g, label, column):
    """A value for mixrec_similar: mostly an entry of the column's
    vocabulary (or another column's), else an odd one"""
    vocab = g.embedded['vocab'][label]
    name = column[1:-1].replace("''", "'") if column.startswith("'") else None
    entries = vocab.get(name) or vocab[g.pick(sorted(vocab))]
    if entries and g.chance(0.6):
        return lit_text(g.pick(entries))
    if g.chance(0.1):
        return "repeat('x', 100000)"
    return lit_text(g.pick(ODD_VALUES))


def embed_k(g, label):
    n = max(len(e) for e in g.embedded['vocab'][label].values())
    return g.pick(['1', '2', '3', '10', '10', '10000', '10001', '0', '-1', 'NULL', '2147483647', '-2147483648',
                   str(n), str(n - 1), str(n + 1)])


def embed_read(g, m, label, by_name=False):
    """A call of mixrec_embeddings or mixrec_similar; by name, with a version"""
    version = [g.pick(['NULL::int', 'NULL::int', 'NULL::int', '1', '2', '0', '-1', '2147483647'])] if by_name else []
    column = embed_column(g, label)
    if g.chance(0.45):
        special = [g.pick(['true', 'false', 'NULL'])] if g.chance(0.6) else []
        if by_name and special and not version:
            version = ['NULL::int']
        return "SELECT count(*), sum(cardinality(open)), sum(cardinality(commercial)), count(value) " \
               "FROM mixrec_embeddings(%s)" % ', '.join([m, column] + version + special)
    if g.chance(0.15):
        # many values in one query: a call per row
        return "SELECT count(*), sum(s.similarity) FROM (VALUES (%s), (%s), (%s)) v(x), " \
               "LATERAL mixrec_similar(%s, %s, v.x, %s) s" % (
                   embed_value(g, label, column), embed_value(g, label, column), embed_value(g, label, column),
                   m, column, embed_k(g, label))
    args = [m, column, embed_value(g, label, column)]
    if g.chance(0.8):
        args.append(embed_k(g, label))
        if g.chance(0.6):
            args.append(typed_mode(g))
    if by_name and g.chance(0.5):
        args += ['10', "'blend'"][len(args) - 3:] + version
    return "SELECT count(*), sum(similarity), min(similarity), max(length(value)) FROM mixrec_similar(%s)" % \
        ', '.join(args)


def embed_fit_options(g):
    if g.chance(0.3):
        return g.options()
    return lit_jsonb({'batch_size': g.pick([1, 2, 8]), 'pool_batches': g.pick([1, 2]),
                      'embed_optimizer': g.pick(['auto', 'dense', 'lazy', 'lazy', 'sparse', '', None, 1])})


def embed_use(g, m, label):
    """A call of a function that reads a model of embedded columns"""
    from_, y = embed_rows(g, label)
    roll = g.r.random()
    if roll < 0.16:
        return g.pick(["SELECT mixrec_info(%s)" % m, "SELECT length(mixrec_export(%s)::text)" % m,
                       "SELECT count(*), sum(inputs) FROM mixrec_feature_info(%s)" % m,
                       "SELECT mixrec_export(mixrec_import(mixrec_export(%s))) = mixrec_export(%s)" % (m, m)])
    if roll < 0.5:
        return embed_read(g, m, label)
    if roll < 0.75:
        fn = g.pick(['mixrec_score', 'mixrec_score', 'mixrec_score_all', 'mixrec_transform'])
        extra = ', %s' % typed_mode(g) if fn != 'mixrec_transform' and g.chance(0.3) else ''
        return "SELECT %s(%s, t%s) FROM %s" % (fn, m, extra, from_)
    return "SELECT length(%s(%s, t, %s, 1, NULL, %s)) FROM %s" % (
        g.pick(['mixrec_fit', 'mixrec_fit_state']), m, y, embed_fit_options(g), from_)


def embed_continue(g, start, label, name='fz_et'):
    """Training continued from a (forged) model of embedded columns"""
    if label == 'implicit':
        src = "'mixrec_fuzz_data.likes', items => 'mixrec_fuzz_data.catalogue', item_id => 'item_id', negatives => 2"
    else:
        src = "%s, label => 'label'" % lit_text(EMBED_SOURCE)
    return "SELECT * FROM mixrec_train('%s', %s, %s, epochs => 1, batch_size => %s, method => %s, " \
           "embed_optimizer => %s%s)" % (
               name, src, start, g.pick(['8', '32', '1']), g.pick(["'memory'", "'stream'"]),
               g.text(['auto', 'dense', 'lazy'], 0.9),
               g.pick(['', '', ', validation_fraction => 0', ", embed => '{\"country\": 2}'"]))


PARALLEL_SETTINGS = ["SET LOCAL max_parallel_workers_per_gather = 2", "SET LOCAL parallel_setup_cost = 0",
                     "SET LOCAL parallel_tuple_cost = 0", "SET LOCAL min_parallel_table_scan_size = 0"]


def embed_serve(g):
    """mixrec_recommend, mixrec_predict, mixrec_evaluate and
    mixrec_evaluate_ranking with the registered models of embedded columns:
    sane arguments, up to three of them odd (ids never seen, NULL, of
    another type; catalogues of duplicate, unseen or missing items)"""
    users = lambda: lit_text(g.pick([
        "SELECT -1 AS user_id, 'book' AS user_cat", 'SELECT NULL::int AS user_id, NULL::text AS user_cat',
        'SELECT DISTINCT user_id::text AS user_id, user_cat FROM mixrec_fuzz_data.likes',
        "SELECT 2147483647 AS user_id, 'x' AS user_cat", 'mixrec_fuzz_data.typed_users',
        'SELECT DISTINCT user_id, user_cat, 1.0::float8 AS price FROM mixrec_fuzz_data.likes',
        'SELECT user_id, user_cat FROM mixrec_fuzz_data.likes', 'mixrec_fuzz_data.likes']))
    items = lambda: lit_text(g.pick([
        'SELECT * FROM mixrec_fuzz_data.catalogue UNION ALL SELECT * FROM mixrec_fuzz_data.catalogue',
        "SELECT 'zz' || g AS item_id, 'book' AS item_cat, 1.0::float8 AS price FROM generate_series(1, 2000) g",
        'SELECT NULL::text AS item_id, item_cat, price FROM mixrec_fuzz_data.catalogue',
        'SELECT * FROM mixrec_fuzz_data.catalogue WHERE false', 'SELECT item_id, item_cat FROM mixrec_fuzz_data.catalogue',
        "SELECT item_id, item_cat, 'NaN'::float8 AS price FROM mixrec_fuzz_data.catalogue", 'mixrec_fuzz_data.typed_items']))
    model = lambda: g.text(EMBED_MODEL_NAMES + ['fz_typed', 'fz_m'], 0.9)
    roll = g.r.random()
    if roll < 0.35:
        return "SELECT count(*), max(rank), sum(score) FROM mixrec_recommend(%s)" % sane_with_random(
            g, ["'fz_emb_implicit'", "'SELECT DISTINCT user_id, user_cat FROM mixrec_fuzz_data.likes'",
                "'mixrec_fuzz_data.catalogue'", "'user_id'", "'item_id'", 'NULL', 'NULL', '3', 'NULL', "'blend'"],
            [model, users, items, lambda: g.pick(["'user_cat'", "'item_id'", expr(g)]),
             lambda: g.pick(["'item_cat'", "'user_id'", expr(g)]), lambda: g.pick(["'user_cat'", "'user_id'"]),
             lambda: g.pick(["'item_cat, price'", "'item_id'"]), g.int_,
             lambda: g.pick(["'SELECT user_id, item_id FROM mixrec_fuzz_data.likes'", "'mixrec_fuzz_data.likes'",
                             "'SELECT 1, 2'", "'SELECT item_id, user_id FROM mixrec_fuzz_data.likes'"]),
             lambda: typed_mode(g)])
    if roll < 0.55:
        return "SELECT count(*), sum(score) FROM mixrec_predict(%s)" % sane_with_random(
            g, ["'fz_emb_implicit'", "'mixrec_fuzz_data.likes'", "'item_id'", 'NULL', "'blend'"],
            [model, lambda: g.pick([users(), items(), "'mixrec_fuzz_data.typed'", lit_text(EMBED_SOURCE)]),
             lambda: g.pick(["'user_id'", "'price'", "'label'", expr(g)]), lambda: g.pick(["'user_id, item_id'", "'age'"]),
             lambda: typed_mode(g)])
    if roll < 0.75:
        return "SELECT count(*), sum(value) FROM mixrec_evaluate(%s)" % sane_with_random(
            g, ["'fz_emb'", "'mixrec_fuzz_data.typed'", 'NULL', "'label'", 'NULL', "'bucket'", '10'],
            [model, lambda: g.pick(["'mixrec_fuzz_data.typed_odd'", "'mixrec_fuzz_data.typed_toast'",
                                    "'mixrec_fuzz_data.likes'", lit_text(EMBED_SOURCE)]),
             lambda: g.pick(["'country'", "'country, bucket'", expr(g)]),
             lambda: g.pick(["'label'", "'bucket > 1'", "'country'"]), lambda: g.pick(["'shelf'", "'country'"]),
             lambda: g.pick(["'country'", "'mood'", "'id'", expr(g)]), g.int_])
    test = lambda: lit_text(g.pick([
        'SELECT user_id, item_id, user_cat FROM mixrec_fuzz_data.likes WHERE user_id % 3 = 0',
        "SELECT user_id, 'i30' AS item_id, user_cat FROM mixrec_fuzz_data.likes",
        "SELECT -user_id AS user_id, item_id, 'x' AS user_cat FROM mixrec_fuzz_data.likes",
        'SELECT user_id, item_id, user_cat, item_cat FROM mixrec_fuzz_data.likes',
        'SELECT user_id, NULL::text AS item_id, user_cat FROM mixrec_fuzz_data.likes']))
    return "SELECT count(*), sum(model), sum(popularity) FROM mixrec_evaluate_ranking(%s)" % sane_with_random(
        g, ["'fz_emb_implicit'", "'mixrec_fuzz_data.likes'",
            "'SELECT user_id, item_id, user_cat FROM mixrec_fuzz_data.likes WHERE user_id % 3 = 0'", "'user_id'",
            "'item_id'", "'mixrec_fuzz_data.catalogue'", '3'],
        [model, lambda: g.pick([test(), users()]), test, lambda: g.pick(["'user_cat'", "'item_id'"]),
         lambda: g.pick(["'item_cat'", "'user_id'"]), items, g.int_])


def call_embed_models(g):
    stmts = typed_call_settings(g)
    roll = g.r.random()
    if roll < 0.36:
        m, label = g.embed_model()
        if g.chance(0.08):
            # every row, a parallel plan: states with tables combined
            return PARALLEL_SETTINGS + ["SELECT length(mixrec_fit(%s, t, %s, 1, NULL, %s)) FROM %s t" % (
                m, EMBED_ROWS['likes' if label == 'implicit' else 'typed'][1], embed_fit_options(g),
                'mixrec_fuzz_data.likes' if label == 'implicit' else 'mixrec_fuzz_data.typed')]
        return stmts + [embed_use(g, m, label)]
    if roll < 0.5:
        # odd arguments for valid models (and models without embedded
        # columns), by bytea and by name
        if g.chance(0.5):
            name = g.pick(EMBED_MODEL_NAMES * 4 + TYPED_MODEL_NAMES + MODEL_NAMES + ['nope', '', None])
            label = 'implicit' if name == 'fz_emb_implicit' else 'trained' if name == 'fz_emb' else \
                g.pick(sorted(g.embedded['models']))
            return stmts + [embed_read(g, lit_text(name), label, by_name=True)]
        label = g.pick(sorted(g.embedded['models']))
        m = lit_bytea(g.embedded['models'][label]) if g.chance(0.8) else g.pick([
            lit_bytea(g.typed['models'][g.pick(sorted(g.typed['models']))]), lit_bytea(g.models['m4']),
            'NULL::bytea', "mixrec_init(3)"])
        return stmts + [embed_read(g, m, label)]
    if roll < 0.66:
        # the interchange form, damaged, imported and used
        j, label = g.embed_import_json()
        return stmts + [g.pick(["SELECT length(mixrec_import(%s))" % j, embed_use(g, "mixrec_import(%s)" % j, label)])]
    if roll < 0.75:
        # the forged model in the registry, read back by name
        m, label = g.embed_model()
        name = 'fz_emb_implicit' if label == 'implicit' else 'fz_emb'
        from_, _ = embed_rows(g, label)
        stmts += ["SET LOCAL mixrec.train_memory = '64MB'",
                  "UPDATE mixrec_models SET weights = %s WHERE name = '%s' AND active" % (m, name)]
        return stmts + [g.pick([
            "SELECT mixrec_score('%s', t) FROM %s" % (name, from_),
            embed_read(g, lit_text(name), label, by_name=True),
            "SELECT count(*) FROM mixrec_feature_info('%s')" % name,
            "SELECT count(*), sum(bytes) FROM mixrec_model_versions",
            "SELECT count(*), max(rank) FROM mixrec_recommend('fz_emb_implicit', "
            "'SELECT DISTINCT user_id, user_cat FROM mixrec_fuzz_data.likes', 'mixrec_fuzz_data.catalogue', "
            "'user_id', 'item_id', k => 3)",
            "SELECT count(*) FROM mixrec_predict('%s', %s, 'item_id')" % (name, lit_text(
                'SELECT * FROM mixrec_fuzz_data.likes' if label == 'implicit' else EMBED_SOURCE.replace(
                    'SELECT ', 'SELECT id::text AS item_id, ')))
            if g.chance(0.5) else embed_continue(g, 'warm_start => true', label, name),
        ])]
    if roll < 0.83:
        # training states holding a model of embedded columns, forged
        st = g.embed_state()
        kind = g.r.randrange(4)
        if kind == 0:
            return stmts + ["SELECT mixrec_state_info(%s)" % lit_bytea(st)]
        if kind == 1:
            return stmts + ["SELECT length(mixrec_merge(s)) FROM (VALUES (%s), (%s)) v(s)" % (
                lit_bytea(st), lit_bytea(g.embed_state()))]
        stmts.append(forged_aggregate(g, 'f', 'mixrec_fit_accum', 'bytea, record, float8, float8, text, jsonb', st,
                                      g.pick([None, 'mixrec_fit_final']), g.chance(0.3)))
        return stmts + ["SELECT length(pg_temp.f(%s, t, t.label::int::float8, 1, NULL, %s)) FROM %s" % (
            g.pick(['NULL::bytea', g.embed_model()[0]]), embed_fit_options(g), embed_rows(g, 'trained')[0])]
    if roll < 0.93:
        return stmts + ["SET LOCAL mixrec.train_memory = '64MB'", embed_serve(g)]
    # training continued from a forged model
    m, label = g.embed_model()
    return stmts + ["SET LOCAL mixrec.train_memory = '64MB'", embed_continue(g, 'initial_model => ' + m, label)]


# Sources for embedded columns, and the columns they offer for it: the
# typed tables, and queries of ids, of many distinct values (more than
# 10,000: tables stepped lazily on "auto"), of odd types and names, of no
# rows, and of 33 categorical columns
EMBED_CATEGORIES = ['country', 'bucket', 'mood', 'device', 'code', 'handle', 'shelf', 'grade', 'Größe',
                    'odd "name", here']
EMBED_SOURCES = [
    (EMBED_SOURCE, ['country', 'bucket', 'mood', 'device', 'code']),
    ('mixrec_fuzz_data.typed', EMBED_CATEGORIES), ('mixrec_fuzz_data.typed_odd', EMBED_CATEGORIES),
    ('mixrec_fuzz_data.typed_toast', EMBED_CATEGORIES),
    ('SELECT country, label FROM mixrec_fuzz_data.typed WHERE false', ['country']),
    ('SELECT country, bucket, label FROM mixrec_fuzz_data.typed WHERE id = 1', ['country', 'bucket']),
    ('SELECT md5(id::text) AS token, label::int AS label FROM mixrec_fuzz_data.big', ['token']),
    ('SELECT (id % 300)::text AS many, id % 7 AS small, label FROM mixrec_fuzz_data.typed', ['many', 'small']),
    ('SELECT grade, shelf, handle, "Größe", mood, moods, label FROM mixrec_fuzz_data.typed',
     ['grade', 'shelf', 'handle', 'Größe', 'mood', 'moods']),
    ('SELECT "odd ""name"", here", code, label FROM mixrec_fuzz_data.typed', ['odd "name", here', 'code']),
    ('SELECT country AS "0", country AS "2", label FROM mixrec_fuzz_data.typed', ['0', '2']),
    ('SELECT country, upper(country) AS "Country", label FROM mixrec_fuzz_data.typed', ['country', 'Country']),
    ('SELECT NULL::text AS country, label FROM mixrec_fuzz_data.typed', ['country']),
    ("SELECT ''::text AS country, -bucket AS bucket, label FROM mixrec_fuzz_data.typed", ['country', 'bucket']),
    ('SELECT ' + ', '.join('(id %% %d)::text AS c%d' % (i + 2, i) for i in range(33)) + ', label '
     'FROM mixrec_fuzz_data.typed', ['c%d' % i for i in range(33)]),
]
EMBED_BAD = ['age', 'income', 'premium', 'tags', 'embedding', 'visited_at', 'signup', 'label', 'weight', 'id', 'moods',
             'nosuch', '', 'COUNTRY', 'country ']
EMBED_BAD_DIMS = [0, -1, 1025, 65536, 2**31, 2**32, -2**31, 1.5, 4.0, '4', 'x', None, True, [], {}, [4], {'dim': 4},
                  1e308, 1e-300]
TOP_K = [10, 10, 50, 300, 0, 1, 65534, 65535, 16777214, 16777215, 2**31 - 1, -1, 1e10]
SQL_NULL = object()     # an argument that is SQL's NULL, not JSON's null


def jsonb_arg(v):
    return 'NULL' if v is SQL_NULL else lit_jsonb(v)


def embed_arguments(g, columns, odd=False):
    """Values of embed and transform: some of these columns embedded, each
    with a top_k that keeps its counters small, as its default (100,000)
    would budget them at 400 MB; if odd, with odd columns, dimensions,
    top_k and kinds, or not a JSON object"""
    if odd and g.chance(0.15):
        return g.pick([SQL_NULL, {}, [], 1, 'country', None, [{'country': 4}], {'country': {'dim': 4}}]), SQL_NULL
    if 'c32' in columns and (not odd or g.chance(0.8)):
        d = {'c%d' % i: 1 for i in range(g.pick([32, 33]))}
    else:
        d = {}
        for _ in range(g.r.randint(1, 3)):
            col = g.pick(EMBED_BAD) if odd and g.chance(0.3) else g.pick(columns)
            d[col] = g.pick(EMBED_BAD_DIMS + [1024]) if odd and g.chance(0.4) else g.pick([1, 2, 3, 4, 8])
    t = {}
    for col in d:
        if not odd or g.chance(0.9):
            t[col] = {'top_k': g.pick(TOP_K) if odd and g.chance(0.3) else g.pick(TOP_K[:4])}
            if g.chance(0.5):
                t[col]['min_frequency'] = g.pick([1, 1, 5, 1000, 0] if odd else [1, 1, 5])
            if odd and g.chance(0.1):
                t[col]['kind'] = g.pick(['numeric', 'multi_hot', 'categorical', 'dense'])
    if g.chance(0.1):
        t['bucket'] = 'categorical'
    return d, t


def odd_arguments(g, n):
    """Which of n arguments of a call are odd: mostly none or one"""
    return set(g.r.sample(range(n), g.pick([0, 0, 1, 1, 1, 2])))


def embed_training(g):
    """mixrec_train or mixrec_train_model with embedded columns: sane
    arguments, mostly up to two of them odd"""
    odd = odd_arguments(g, 6)
    src, columns = g.pick(EMBED_SOURCES) if 0 in odd else EMBED_SOURCES[0]
    embed, transform = embed_arguments(g, columns, 1 in odd)
    exclude = ['id', 'weight'] if src.startswith('mixrec_fuzz_data.') else None
    optimizer = g.text(['auto', 'dense', 'lazy', 'Lazy', 'sparse'], 0.5) if 3 in odd else \
        lit_text(g.pick(['auto', 'dense', 'lazy']))
    method = g.text(['memory', 'stream', 'auto', 'Stream']) if 5 in odd else lit_text(g.pick(['memory', 'stream', 'auto']))
    if g.chance(0.3):
        options = {'hidden': g.pick([[4], [], [2, 2]]), 'epochs': 1, 'method': g.pick(['memory', 'stream', 'auto']),
                   'embed_optimizer': g.pick(['auto', 'dense', 'lazy', 'Lazy', None, 1, []]) if 3 in odd else
                   g.pick(['auto', 'dense', 'lazy'])}
        for key, v in (('embed', embed), ('transform', transform), ('exclude', exclude)):
            if v is not SQL_NULL and v is not None:
                options[key] = v
        if 2 in odd:
            options[g.pick(['exclude', 'features', 'hidden', 'embed'])] = g.pick([['id'], 'x', None, [1], {}, [[4]]])
        return "SELECT length(weights), metrics IS NULL FROM mixrec_train_model(%s, NULL, 'label', NULL, NULL, %s, " \
               "%s, %s)" % (lit_text(src), lit_jsonb(options),
                            lit_bytea(g.embedded['models']['trained']) if 4 in odd else 'NULL',
                            g.text(['fz_et'], 0.9) if 5 in odd else "'fz_et'")
    exclude = "ARRAY['id', 'weight']" if exclude else 'NULL'
    if 2 in odd:
        exclude = g.pick(TYPED_EXCLUDES + ["NULL, features => 'age'", "NULL, features => 'country, label'",
                                           "NULL, features => 'country, bucket'"])
    extra = g.pick(['', '', ', validation_fraction => 0', ', shuffle => false', ', standardize => false',
                    ", init => 'shared'"])
    if 4 in odd:
        extra = g.pick([', warm_start => true', ', initial_model => ' + lit_bytea(g.embedded['models']['trained']),
                        ", domain => 'country'", ", weight => 'bucket'", ', validation_fraction => 1',
                        ', patience => 1, epochs => 3'])
    return "SELECT * FROM mixrec_train(%s, %s, label => 'label', exclude => %s, embed => %s, transform => %s, " \
           "embed_optimizer => %s, hidden => %s, batch_size => %s, method => %s%s)" % (
               g.text(['fz_et', 'fz_emb'], 0.9) if 5 in odd else "'fz_et'", lit_text(src), exclude, jsonb_arg(embed),
               jsonb_arg(transform), optimizer, g.pick(["'{4}'", "'{}'", "'{2,2}'"]),
               g.pick(['32', '32', '1', '400']), method, extra if 'epochs' in extra else extra + ', epochs => 1')


# Sources of positives and item catalogues: odd ids (NULL, unknown, of
# another type, text of an integer), missing and duplicate columns,
# duplicate and single items, no items, hostile queries
IMPLICIT_SOURCES = [
    'SELECT * FROM mixrec_fuzz_data.likes WHERE false', 'SELECT * FROM mixrec_fuzz_data.likes LIMIT 1',
    "SELECT * FROM mixrec_fuzz_data.likes WHERE item_id IN ('i1', 'i2')",
    'SELECT *, 1 AS liked FROM mixrec_fuzz_data.likes',
    'SELECT user_id, user_cat, NULL::text AS item_id, item_cat, price FROM mixrec_fuzz_data.likes',
    "SELECT user_id, user_cat, 'nope' AS item_id, item_cat, price FROM mixrec_fuzz_data.likes",
    'SELECT user_id, user_cat, item_id::varchar AS item_id, item_cat, price FROM mixrec_fuzz_data.likes',
    'SELECT user_id, user_cat, item_id, item_cat, price::text AS price FROM mixrec_fuzz_data.likes',
    'SELECT user_id, user_cat, item_id FROM mixrec_fuzz_data.likes',
    'SELECT user_cat, item_cat, price FROM mixrec_fuzz_data.likes',
    'SELECT * FROM mixrec_fuzz_data.likes UNION ALL SELECT * FROM mixrec_fuzz_data.likes',
    'SELECT user_id, user_cat, item_id, item_id AS item_id, item_cat, price FROM mixrec_fuzz_data.likes',
    "SELECT user_id, user_cat, item_id, item_cat, 'NaN'::float8 AS price FROM mixrec_fuzz_data.likes",
    'SELECT u.user_id, u.country, i.item_id, i.tags FROM mixrec_fuzz_data.typed_users u '
    'JOIN mixrec_fuzz_data.typed_items i ON (u.user_id + i.item_id) % 4 = 0',
]
IMPLICIT_ITEMS = [
    'SELECT * FROM mixrec_fuzz_data.catalogue UNION ALL SELECT * FROM mixrec_fuzz_data.catalogue',
    'SELECT * FROM mixrec_fuzz_data.catalogue LIMIT 1', 'SELECT * FROM mixrec_fuzz_data.catalogue LIMIT 2',
    "SELECT * FROM mixrec_fuzz_data.catalogue WHERE item_id IN ('i1', 'i30')",
    'SELECT * FROM mixrec_fuzz_data.catalogue WHERE false', 'SELECT item_cat, price FROM mixrec_fuzz_data.catalogue',
    'SELECT NULL::text AS item_id, item_cat, price FROM mixrec_fuzz_data.catalogue',
    'SELECT item_id, item_cat FROM mixrec_fuzz_data.catalogue',
    'SELECT item_id, item_cat, price::text AS price FROM mixrec_fuzz_data.catalogue',
    'SELECT item_id::varchar AS item_id, item_cat, price FROM mixrec_fuzz_data.catalogue',
    'SELECT *, 1 AS extra FROM mixrec_fuzz_data.catalogue',
    "SELECT * FROM mixrec_fuzz_data.catalogue WHERE item_id <> 'i1'",
    'mixrec_fuzz_data.likes', 'mixrec_fuzz_data.typed_items',
    "SELECT item_id, item_cat, 'NaN'::float8 AS price FROM mixrec_fuzz_data.catalogue",
    'SELECT item_id, NULL::text AS item_cat, NULL::float8 AS price FROM mixrec_fuzz_data.catalogue',
    'SELECT item_id, item_id AS item_id, item_cat, price FROM mixrec_fuzz_data.catalogue',
    'SELECT * FROM mixrec_fuzz_data.catalogue c, mixrec_fuzz_data.catalogue c2',
    "SELECT 'i' || g AS item_id, 'book' AS item_cat, 1.0::float8 AS price FROM generate_series(1, 100000) g",
    "SELECT item_id, item_cat, price FROM mixrec_fuzz_data.catalogue UNION ALL SELECT 'i' || g, 'film', 1 "
    "FROM generate_series(31, 40) g",
    'SELECT * FROM mixrec_fuzz_data.catalogue ORDER BY random()',
    'mixrec_fuzz_data.catalogue; SELECT 1', 'SELECT pg_sleep(0.001), * FROM mixrec_fuzz_data.catalogue',
    'INSERT INTO mixrec_fuzz.own VALUES (1) RETURNING *', 'SELECT * FROM mixrec_fuzz_data.catalogue --',
    'SELECT * FROM mixrec_fuzz_data.catalogue /*', 'mixrec_fuzz_data.catalogue) c, (SELECT 1',
    'SELECT * FROM mixrec_fuzz_data.catalogue FOR UPDATE', 'VALUES (1)', 'mixrec_models', '(', '', None,
]
ITEM_IDS = ['nosuch', 'ITEM_ID', '"item_id"', 'item_cat', 'price', 'user_id', '', None, 'item_id, item_cat',
            'item_id) --', "item_id || 'x'", 'item_id ']
IMPLICIT_COLUMNS = ['user_id', 'item_id', 'user_cat', 'item_cat', 'price']


def implicit_training(g):
    """mixrec_train or mixrec_train_model from positives only: sane
    arguments, mostly up to two of them odd"""
    odd = odd_arguments(g, 9)
    src = g.pick(IMPLICIT_SOURCES) if 0 in odd else 'mixrec_fuzz_data.likes'
    items = g.pick(IMPLICIT_ITEMS) if 1 in odd else 'mixrec_fuzz_data.catalogue'
    item_id = g.pick(ITEM_IDS) if 2 in odd else 'item_id'
    negatives = g.pick([100, 101, 0, -1, None, 2**31 - 1, -2**31, 50]) if 3 in odd else g.pick([1, 2, 4])
    sampling = g.pick(['Popularity', 'zipf', '', None, 'uniform ']) if 4 in odd else g.pick(['uniform', 'popularity'])
    label = g.pick(['price', 'item_cat', 'user_id', 'liked', '']) if 5 in odd else None
    embed, transform = SQL_NULL, SQL_NULL
    if 6 in odd:
        embed, transform = embed_arguments(g, IMPLICIT_COLUMNS, True)
    elif g.chance(0.4):
        embed, transform = (json.loads(IMPLICIT_DIMS), json.loads(IMPLICIT_TRANSFORM)) if g.chance(0.6) else \
            embed_arguments(g, IMPLICIT_COLUMNS)
    method = g.pick(['memory', 'stream', 'auto'])
    if g.chance(0.25):
        options = {'items': items, 'item_id': item_id, 'negatives': negatives, 'negative_sampling': sampling,
                   'hidden': [4], 'epochs': 1, 'method': method}
        if 7 in odd:
            key = g.pick(['items', 'item_id', 'negatives', 'negative_sampling', 'embed_optimizer'])
            options[key] = g.pick([1, [], {}, '', '4', 4.5, None, 1e10, 2**63, True, ['uniform']])
        for key, v in (('embed', embed), ('transform', transform)):
            if v is not SQL_NULL:
                options[key] = v
        return "SELECT length(weights), metrics IS NULL FROM mixrec_train_model(%s, NULL, %s, %s, %s, %s, NULL, " \
               "'fz_et')" % (lit_text(src), lit_text(label), "'user_cat'" if 8 in odd else 'NULL',
                             "'price'" if 8 in odd and g.chance(0.5) else 'NULL', lit_jsonb(options))
    exclude = g.pick(['NULL', 'NULL', "ARRAY['user_cat']"] if not isinstance(embed, dict) or 'user_cat' in embed else
                     ['NULL', 'NULL', "ARRAY['user_id']", "ARRAY['user_id', 'user_cat']"])
    if 8 in odd:
        exclude = g.pick(["ARRAY['item_id']", "ARRAY['item_cat', 'price']", "ARRAY['item_id', 'item_cat', 'price']",
                          "ARRAY['user_id', 'user_cat', 'item_cat', 'price']"])
    extra = g.pick(['', '', '', ', shuffle => false', ', validation_fraction => 0', ', validation_fraction => 0.5',
                    ", weight => 'price'", ', standardize => false', ', batch_size => 1', ', batch_size => 7'])
    if 7 in odd:
        extra = g.pick([", domain => 'user_cat'", ', validation_fraction => 1', ', warm_start => true',
                        ', initial_model => ' + lit_bytea(g.embedded['models']['implicit']),
                        ', initial_model => ' + lit_bytea(g.embedded['models']['trained']),
                        ', embed_optimizer => %s' % g.text(['Lazy', 'sparse'], 0.5)])
    return "SELECT * FROM mixrec_train('fz_et', %s, label => %s, exclude => %s, items => %s, item_id => %s, " \
           "negatives => %s, negative_sampling => %s, embed => %s, transform => %s, hidden => %s, epochs => %s, " \
           "method => '%s'%s)" % (
               lit_text(src), lit_text(label), exclude, lit_text(items), lit_text(item_id),
               'NULL' if negatives is None else str(negatives), lit_text(sampling), jsonb_arg(embed),
               jsonb_arg(transform), g.pick(["'{4}'", "'{}'"]), g.pick(['1'] * 5 + ['2']), method,
               extra if 'embed_optimizer' in extra else
               extra + ', embed_optimizer => %s' % lit_text(g.pick(['auto', 'dense', 'lazy'])))


def embed_prepare(g):
    """mixrec_prepare with embedded columns, and what it prepared, used"""
    src, columns = g.pick(EMBED_SOURCES[:8])
    embed, transform = embed_arguments(g, columns)
    prepared = "mixrec_prepare(%s, NULL, 'label', %s, %s, %s, 0.5, %s, %s, 42, %s)" % (
        lit_text(src), "ARRAY['id', 'weight']" if src.startswith('mixrec_fuzz_data.') else 'NULL',
        jsonb_arg(transform), g.pick(["'{4}'", "'{}'"]), g.pick(['true', 'false']),
        g.text(['independent', 'shared'], 0.95), jsonb_arg(embed))
    return g.pick([
        "SELECT mixrec_info(%s)->'embeddings'" % prepared,
        "SELECT count(*) FROM mixrec_embeddings(%s, %s, true)" % (prepared, embed_column(g, 'trained')),
        "SELECT count(*) FROM mixrec_similar(%s, 'country', 'fr', 3)" % prepared,
        "SELECT length(mixrec_fit(m, t, t.label::int, 1, NULL, %s)) FROM mixrec_fuzz_data.typed t, "
        "(SELECT %s AS m) p WHERE t.id <= 30" % (embed_fit_options(g), prepared),
        "SELECT mixrec_score(m, t) FROM mixrec_fuzz_data.typed t, (SELECT %s AS m) p WHERE t.id <= 3" % prepared,
        "SELECT length(mixrec_import(mixrec_export(%s)))" % prepared,
    ])


def call_embed_train(g):
    # category counters are budgeted at their most (4 x top_k values of
    # 1 kB each, at least 1,024 values a column)
    stmts = ["SET LOCAL mixrec.train_memory = '%s'" % g.pick(['64MB'] * 12 + ['16MB', '1MB'])]
    stmts += typed_call_settings(g)
    roll = g.r.random()
    if roll < 0.4:
        return stmts + [embed_training(g)]
    if roll < 0.88:
        return stmts + [implicit_training(g)]
    return stmts + [embed_prepare(g)]


def call_scale_and_explain(g):
    """Partitioned epochs, mixrec_store and mixrec_model, explanations,
    incremental training and drift, with odd arguments"""
    roll = g.r.random()
    methods = ['integrated_gradients', 'gradient_times_input', 'occlusion', '', 'IG', 'x' * 300]
    if roll < 0.15:
        m, _ = g.model()
        opts = {'partitions': g.pick([1, 2, 3, 32, 4096, 4097, 0, -1, 2 ** 31, 1.5, 'x', None]),
                'batch_size': g.pick([1, 2, 7, 256])}
        return ["SELECT length(mixrec_merge(s)) FROM (SELECT mixrec_fit_state(%s, features, clicked::int, 1.0, tier, %s) AS s "
                "FROM mixrec_fuzz_data.clicks GROUP BY id %% %d) AS p" % (m, lit_jsonb(opts), g.pick([1, 2, 5]))]
    if roll < 0.25:
        return ["SELECT * FROM mixrec_train(%s, 'mixrec_fuzz_data.clicks', 'features', 'clicked', hidden => '{4}', "
                "epochs => 1, method => 'stream', partitions => %s, rounds => %s)" % (
                    lit_text(g.pick(['fz_t', 'fz_m'])), g.int_(), g.int_())]
    if roll < 0.4:
        m, _ = g.model()
        return ["SELECT * FROM mixrec_store(%s, %s, %s)" % (
            g.text(['fz_t', 'fz_m', 'fz_typed']), m,
            g.pick(['NULL', "'[]'", "'[{\"epoch\": 1}]'", "'{}'", "'[1]'", "'null'"]))]
    if roll < 0.5:
        return ["SELECT length(mixrec_model(%s, %s))" % (
            g.text(MODEL_NAMES + TYPED_MODEL_NAMES + ['nope']), g.pick(['NULL', g.int_()]))]
    if roll < 0.7:
        m, name = g.model()
        dim = {'m4': 4, 'm4d': 4, 'm1': 1, 'mmulti': 4, 'mstd': 4, 'mbig': 4, 'mdeep': 4}.get(name, 4)
        return ["SELECT count(*) FROM mixrec_explain(%s, %s, top_k => %s, mode => %s, method => %s, steps => %s)" % (
            m if g.chance(0.8) else lit_text(g.pick(MODEL_NAMES)), g.array(dim), g.int_(), g.text(MODES),
            g.text(methods), g.pick([g.int_(), '1', '50', '10000', '10001'])),
            ]
    if roll < 0.8:
        m, _ = typed_valid_model(g)
        return ["SELECT count(*) FROM mixrec_fuzz_data.typed t, LATERAL mixrec_explain(%s, t, top_k => %s, "
                "method => %s, steps => %s) AS e WHERE t.id <= 3" % (
                    m, g.int_(), g.text(methods), g.pick(['1', '7', '50']))]
    if roll < 0.88:
        return ["SELECT count(*) FROM mixrec_global_explain(%s, %s, sample => %s, steps => %s)" % (
            g.text(TYPED_MODEL_NAMES + MODEL_NAMES), g.pick([
                "'mixrec_fuzz_data.typed'", "'mixrec_fuzz_data.clicks'", "'SELECT 1'", "''", "'nope'"]),
            g.pick([g.int_(), '5', '0']), g.pick(['1', '5', g.int_()]))]
    if roll < 0.95:
        return ["SELECT count(*) FROM mixrec_drift(%s, %s)" % (
            g.text(TYPED_MODEL_NAMES + MODEL_NAMES + ['nope']), g.pick([
                "'mixrec_fuzz_data.typed'", "'mixrec_fuzz_data.clicks'", "'SELECT 1 AS age'", "''"]))]
    return ["SELECT * FROM mixrec_train('fz_t', 'mixrec_fuzz_data.clicks', 'features', 'clicked', hidden => '{4}', "
            "epochs => 1, since => %s)" % g.text(['id', 'user_id', 'clicked', 'features', 'nope', ''])]


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
    ('mixrec_evaluate_ranking', call_evaluate_ranking, 25, 6, True),
    ('mixrec_activate, mixrec_drop, mixrec_training_info, mixrec_model_versions', call_registry, 60, 1, True),
    ('forged typed models and training states: scoring, mixrec_transform, mixrec_feature_info, mixrec_fit, '
     'mixrec_info', call_typed_forged, 150, 4, True),
    ('typed rows: odd values, odd row types, row types altered under a call site', call_typed_rows, 90, 4, True),
    ('typed training: mixrec_train, mixrec_train_model, mixrec_prepare', call_typed_train, 48, 2, True),
    ('mixrec_predict, mixrec_evaluate, mixrec_recommend with typed models', call_typed_serve, 32, 4, True),
    ('embedded columns and positives only: mixrec_train, mixrec_train_model, mixrec_prepare with embed, '
     'embed_optimizer, items, item_id, negatives, negative_sampling', call_embed_train, 79, 6, True),
    ('models of embedded columns, forged and imported: mixrec_embeddings, mixrec_similar, mixrec_score, '
     'mixrec_info, mixrec_fit, serving, training continued', call_embed_models, 150, 6, True),
    ('partitioned epochs, mixrec_store, mixrec_model, mixrec_explain, mixrec_global_explain, mixrec_drift, '
     'since', call_scale_and_explain, 90, 4, True),
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


def typed_setup(server):
    """Build the role's typed models and training states; return them with
    each model's columns (name, kind, type), in input order"""
    typed = {'models': {}, 'states': {}, 'columns': {}, 'exports': {}}
    with server.conn.cursor() as cur:
        cur.execute("SET client_min_messages = error")
        cur.execute("SET max_parallel_workers_per_gather = 0")
        for label, sql in [
            # every kind, and every type a kind reads, with overrides
            ('prepared', "SELECT mixrec_prepare('mixrec_fuzz_data.typed', label => 'label', exclude => "
                         "ARRAY['id', 'weight'], transform => '%s', hidden => '{4}')" % TYPED_OVERRIDES),
            # trained: with optimiser state
            ('trained', "SELECT weights FROM mixrec_models WHERE name = 'fz_typed' AND active"),
            ('ui', "SELECT weights FROM mixrec_models WHERE name = 'fz_typed_ui' AND active"),
            # one category of 11 values (a hashed vocabulary), no hidden layer, no standardisation
            ('small', "SELECT mixrec_prepare('SELECT country, label FROM mixrec_fuzz_data.typed', "
                      "label => 'label', hidden => '{}', standardize => false)"),
            # small vocabularies (bisection), a date, a dense column
            ('few', "SELECT mixrec_prepare('mixrec_fuzz_data.typed', 'premium, device, signup, embedding', "
                    "'label', hidden => '{2}', init => 'shared')"),
        ]:
            cur.execute(sql)
            typed['models'][label] = bytes(cur.fetchone()[0])
        # the aggregate's model: a transform and optimiser state
        cur.execute("SELECT mixrec_fit(%s, t, t.label::int::float8) FROM mixrec_fuzz_data.typed t "
                    "WHERE t.id <= 40" % lit_bytea(typed['models']['prepared']))
        typed['models']['fitted'] = bytes(cur.fetchone()[0])
        for label, sql in [
            ('pool', "SELECT mixrec_fit_state(%s, t, t.label::int, t.weight, t.shelf, "
                     "'{\"batch_size\": 8, \"pool_batches\": 4}') FROM mixrec_fuzz_data.typed t WHERE t.id <= 21"
                     % lit_bytea(typed['models']['prepared'])),
            ('flushed', "SELECT mixrec_fit_state(%s, t, t.label::int, 1, NULL, "
                        "'{\"batch_size\": 4, \"pool_batches\": 1}') FROM mixrec_fuzz_data.typed t WHERE t.id <= 8"
                        % lit_bytea(typed['models']['few'])),
        ]:
            cur.execute(sql)
            typed['states'][label] = bytes(cur.fetchone()[0])
        # their interchange forms, where mixrec_export carries the transform
        typed['exports'] = {}
        for label, blob in typed['models'].items():
            cur.execute("SELECT mixrec_export(%s)::text" % lit_bytea(blob))
            typed['exports'][label] = cur.fetchone()[0]
        cur.execute("RESET max_parallel_workers_per_gather")
    for label, blob in typed['models'].items():
        typed['columns'][label] = [(c['original'], c['kind'], c['type'].decode())
                                   for c in parse_transform(blob)]
    return typed


def embed_setup(server):
    """Build the role's models of embedded columns and a training state of
    one; return them with their exports, each model's embedded columns with
    their vocabularies, and its other columns"""
    embedded = {'models': {}, 'exports': {}, 'vocab': {}, 'others': {}}
    with server.conn.cursor() as cur:
        cur.execute("SET client_min_messages = error")
        cur.execute("SET max_parallel_workers_per_gather = 0")
        for label, sql in [
            # with optimiser state, the tables stepped with the rest
            ('trained', "SELECT weights FROM mixrec_models WHERE name = 'fz_emb' AND active"),
            # from positives only, the tables stepped lazily
            ('implicit', "SELECT weights FROM mixrec_models WHERE name = 'fz_emb_implicit' AND active"),
            # no optimiser state, no standardisation, no hidden layer; an
            # embedded column with no vocabulary (no value is that frequent)
            ('prepared', "SELECT mixrec_prepare('SELECT country, device, mood, age, label FROM mixrec_fuzz_data.typed', "
                         "label => 'label', transform => '{\"country\": {\"top_k\": 50, \"min_frequency\": 1}, "
                         "\"device\": {\"top_k\": 10}, \"mood\": {\"top_k\": 10, \"min_frequency\": 1000}}', "
                         "hidden => '{}', standardize => false, "
                         "embed => '{\"country\": 2, \"device\": 4, \"mood\": 1}')"),
        ]:
            cur.execute(sql)
            embedded['models'][label] = bytes(cur.fetchone()[0])
        # the aggregate's model, the tables stepped lazily
        cur.execute("SELECT mixrec_fit(%s, t, t.label::int::float8, 1, NULL, '{\"embed_optimizer\": \"lazy\", "
                    "\"batch_size\": 8}') FROM mixrec_fuzz_data.typed t WHERE t.id <= 40"
                    % lit_bytea(embedded['models']['prepared']))
        embedded['models']['fitted'] = bytes(cur.fetchone()[0])
        cur.execute("SELECT mixrec_fit_state(%s, t, t.label::int, 1, NULL, '{\"batch_size\": 8, \"pool_batches\": 4}') "
                    "FROM mixrec_fuzz_data.typed t WHERE t.id <= 21" % lit_bytea(embedded['models']['trained']))
        embedded['state'] = bytes(cur.fetchone()[0])
        for label, blob in embedded['models'].items():
            cur.execute("SELECT mixrec_export(%s)::text" % lit_bytea(blob))
            embedded['exports'][label] = cur.fetchone()[0]
        cur.execute("RESET max_parallel_workers_per_gather")
    for label, blob in embedded['models'].items():
        columns = parse_transform(blob)
        embedded['vocab'][label] = {c['original']: [e.decode() for e in c['entries']] for c in columns
                                    if is_embedded(c)}
        embedded['others'][label] = [c['original'] for c in columns if not is_embedded(c)]
        assert embedded['vocab'][label], label
    return embedded


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
        # the fixtures' category counters need more than the calls' budget
        lines.append("SET LOCAL client_min_messages = warning;")
        lines.append("SET LOCAL mixrec.train_memory = '64MB';")
        lines += [s + ';' for s in FIXTURE_MODELS]
        lines += [s + ';' for s in CALL_SETTINGS]
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
    ap.add_argument('--calls', type=int, default=8400, help='fuzzing calls in all, shared among the phases')
    ap.add_argument('--dbname', default=os.environ.get('PGDATABASE', 'postgres'))
    ap.add_argument('--max-seconds', type=float, default=75,
                    help='time for all the phases, shared by fixed weights')
    ap.add_argument('--replay-only', action='store_true', help='only replay the regression files')
    ap.add_argument('--no-write', action='store_true', help='write no crash files')
    ap.add_argument('--phase', help='run only the phases whose name contains this')
    ap.add_argument('--verbose', action='store_true', help='count the errors of each phase by SQLSTATE and message')
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
    typed = typed_setup(server)
    embedded = embed_setup(server)
    total_weight = sum(p[2] for p in PHASES)
    total_time = sum(p[3] for p in PHASES)
    started = time.time()
    for index, (phase, fn, weight, time_share, needs_models) in enumerate(PHASES):
        if args.phase and args.phase not in phase:
            continue
        count = max(1, args.calls * weight // total_weight)
        g = Gen(random.Random('%d/%d' % (args.seed, index)), models, states, exports, typed, embedded)
        crashes = []
        bad_texts = []
        internal = []
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
            if error is not None and not lost and not crashed and \
                    getattr(error, 'pgcode', None) in ('XX000', None):
                # an error the code did not expect (elog), or no error of the server's
                if len(internal) < 3:
                    tap.diag('call %d of phase "%s" raised %s: %s' % (
                        n, phase, 'an internal error (XX000)' if getattr(error, 'pgcode', None) else
                        'an error without a SQLSTATE', ' '.join(str(error).split())[:200]))
                    tap.diag('  ' + ' '.join(stmts[-1].split())[:300])
                internal.append(n)
            if error is not None:
                errors += 1
                if args.verbose:
                    key = '%s %s' % (getattr(error, 'pgcode', None) or '-----',
                                     re.sub(r'[0-9]+', 'N', str(error).split('\n')[0])[:100])
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
        if internal:
            tap.ok(False, '%d of %d calls of %s raised an internal error (XX000) or one without a SQLSTATE' % (
                len(internal), done, phase))
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
