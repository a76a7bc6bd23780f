#!/usr/bin/python3
"""The limit meter from the shell: the least time the machine allows for the
GEMMs of training epochs or of batch scoring, measured now in a backend.

For the shell benchmarks (bench/parallel.sh); the Python ones import
machine.py directly. It connects through libpq's environment (PGHOST,
PGPORT, PGUSER, PGDATABASE), loads mixrec, sets mixrec.threads and measures
SGEMM at every shape with mixrec_floor (bench/floor), which must be
installed in the database. It prints the rates, then one last line
"limit_ms <median> <least> <greatest>".

Usage:
  meter.py train D_IN HIDDEN BATCH ROWS [--epochs E] [--threads T]
      the GEMMs of E epochs (default 1) of ROWS rows in mini-batches of
      BATCH, HIDDEN like 64 or 256,128 (bench/README.md, "The limit meter")
  meter.py predict D_IN HIDDEN ROWS [--threads T]
      the GEMMs of batch scoring ROWS rows in blocks of 1,024
"""

import argparse
import os
import sys

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import psycopg2  # noqa: E402
from machine import Meter, gemm_flops, out, predict_gemms, train_gemms  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("kind", choices=("train", "predict"))
    ap.add_argument("numbers", nargs="+")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--dbname", default=None)
    args = ap.parse_args()
    try:
        if args.kind == "train":
            d_in, hidden, batch, rows = args.numbers
            hidden = [int(h) for h in hidden.strip("{}").split(",")]
            gemms = [(s, c * args.epochs)
                     for s, c in train_gemms(int(d_in), hidden, int(batch), int(rows))]
            what = ("%d epoch%s of %s rows, (%s, {%s}), batch %s"
                    % (args.epochs, "" if args.epochs == 1 else "s", rows, d_in,
                       ",".join(map(str, hidden)), batch))
        else:
            d_in, hidden, rows = args.numbers
            hidden = [int(h) for h in hidden.strip("{}").split(",")]
            gemms = predict_gemms(int(d_in), hidden, int(rows))
            what = "batch scoring %s rows, (%s, {%s})" % (rows, d_in, ",".join(map(str, hidden)))
    except ValueError:
        ap.error("wrong numbers for %s: %s" % (args.kind, " ".join(args.numbers)))

    conn = psycopg2.connect(dbname=args.dbname) if args.dbname else psycopg2.connect("")
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("SELECT mixrec_info(mixrec_init(2, '{2}'))")
    cur.execute("SET mixrec.threads = %s", (args.threads,))
    meter = Meter(cur)
    limit = meter.gemm_seconds(gemms)
    meter.print_rates("SGEMM rates measured now (bench/floor, in a backend)")
    out("limit of %s: %.2f GFLOP of GEMMs at those rates, %s ms (at the median [greatest.."
        "least] rates)" % (what, gemm_flops(gemms) / 1e9, limit.scaled(1e3).fmt()))
    out("limit_ms %.3f %.3f %.3f" % (1e3 * limit.median, 1e3 * limit.lo, 1e3 * limit.hi))
    conn.close()


if __name__ == "__main__":
    sys.exit(main())
