#!/usr/bin/python3
"""Extract the MovieLens ratings that Debian's r-cran-dslabs package ships.

usage: load_movielens.py [--deb FILE] OUTPUT_DIR

Downloads r-cran-dslabs with `apt-get download` into a temporary directory
(or takes the .deb given with --deb), unpacks it with `dpkg -x`, reads the
`movielens` data frame from R's lazy-load database
(dslabs/data/Rdata.rdx and Rdata.rdb) with python3-rdata, and writes two
CSV files for PostgreSQL's COPY ... (FORMAT csv, HEADER true):

  movies.csv   movie_id, title, year, genres
               year is empty (NULL) where the data has R's NA; genres is a
               text[] literal such as {Comedy,Drama}
  ratings.csv  user_id, movie_id, rating, rated_at (Unix seconds)

Needs /usr/bin/python3 with Debian's python3-rdata and python3-pandas.
"""

import bz2
import glob
import gzip
import lzma
import math
import os
import subprocess
import sys
import tempfile
import zlib

PACKAGE = "r-cran-dslabs"
DATA_DIR = "usr/lib/R/site-library/dslabs/data"
OBJECT = "movielens"
R_NA_INTEGER = -(2**31)
COLUMNS = ["movieId", "title", "year", "genres", "userId", "rating", "timestamp"]


class LoadError(Exception):
    pass


def run(cmd, cwd=None):
    """Run a command; return (exit status, combined output)."""
    try:
        proc = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    except FileNotFoundError:
        return 127, f"{cmd[0]}: command not found"
    return proc.returncode, proc.stdout.strip()


def download_package(workdir):
    """apt-get download the package into workdir; return the .deb's path."""
    download_dir = os.path.join(workdir, "download")
    os.mkdir(download_dir)
    if os.geteuid() == 0:
        # apt fetches as the unprivileged _apt user where it can; let it
        # write here instead of warning that it has to fetch as root
        try:
            import pwd
            os.chown(download_dir, pwd.getpwnam("_apt").pw_uid, -1)
            os.chmod(workdir, 0o711)
        except (KeyError, OSError):
            pass

    cmd = ["apt-get", "download", "-q", PACKAGE]
    status, output = run(cmd, cwd=download_dir)
    if status != 0 and os.geteuid() == 0:
        # most often the package lists are empty or stale: refresh, retry
        print("apt-get download failed; running apt-get update and retrying",
              flush=True)
        update_status, update_output = run(["apt-get", "update", "-q"])
        if update_status != 0:
            output += "\n" + update_output
        else:
            status, output = run(cmd, cwd=download_dir)
    if status != 0:
        hint = ("run `apt-get update` as root first"
                if os.geteuid() != 0 else
                "check that this machine reaches the Debian archive")
        raise LoadError(
            f"could not download the Debian package {PACKAGE} "
            f"(apt-get download exited with {status}); {hint}.\n"
            f"apt-get said:\n{tail(output)}")
    debs = glob.glob(os.path.join(download_dir, f"{PACKAGE}_*.deb"))
    if len(debs) != 1:
        raise LoadError(f"apt-get download reported success, but "
                        f"{download_dir} holds {len(debs)} {PACKAGE} packages")
    return debs[0]


def tail(text, lines=15):
    return "\n".join("  " + line for line in text.splitlines()[-lines:])


def unpack(deb, workdir):
    root = os.path.join(workdir, "root")
    status, output = run(["dpkg", "-x", deb, root])
    if status != 0:
        raise LoadError(f"dpkg -x {deb} failed:\n{tail(output)}")
    data = os.path.join(root, DATA_DIR)
    for name in ("Rdata.rdx", "Rdata.rdb"):
        if not os.path.isfile(os.path.join(data, name)):
            raise LoadError(f"{os.path.basename(deb)} has no {DATA_DIR}/{name}: "
                            f"not the package layout this script knows")
    return data


def import_rdata():
    try:
        import rdata.conversion
        try:
            from rdata.parser import parse_rdata_binary
        except ImportError:  # python3-rdata 0.5 keeps it in the private module
            from rdata.parser._parser import parse_rdata_binary
    except ImportError as e:
        raise LoadError(f"python3-rdata is missing or too old ({e}): "
                        f"apt-get install python3-rdata python3-pandas")
    return parse_rdata_binary, rdata.conversion.convert


def lazyload_object(data_dir, name):
    """Read one object of an R lazy-load database (NAME.rdx + NAME.rdb).

    The .rdx is a gzip-compressed serialized list whose `variables` element
    maps each object's name to its (offset, length) in the .rdb; there, an
    object is a 4-byte big-endian uncompressed length and then the
    compressed serialization: a bare zlib stream when `compressed` is 1, or
    a type byte ('0' none, '1' zlib, '2' bzip2, 'Z' xz) and the data when it
    is 2 or 3 (as R's lazyLoadDBfetch reads it).
    """
    parse_rdata_binary, convert = import_rdata()
    with gzip.open(os.path.join(data_dir, "Rdata.rdx"), "rb") as f:
        index = convert(parse_rdata_binary(memoryview(f.read())))
    variables = index.get("variables") or {}
    if name not in variables:
        raise LoadError(f"the package's data has no object {name!r}; it has: "
                        f"{', '.join(sorted(variables))}")
    offset, length = (int(v) for v in variables[name])
    compressed = int(index["compressed"][0])

    with open(os.path.join(data_dir, "Rdata.rdb"), "rb") as f:
        f.seek(offset)
        blob = f.read(length)
    if len(blob) != length or length < 5:
        raise LoadError(f"Rdata.rdb is truncated at object {name!r}")
    expected = int.from_bytes(blob[:4], "big")
    if compressed == 1:
        raw = zlib.decompress(blob[4:])
    elif compressed in (2, 3):
        kind, payload = blob[4:5], blob[5:]
        decompress = {b"0": bytes, b"1": zlib.decompress,
                      b"2": bz2.decompress, b"Z": lzma.decompress}.get(kind)
        if decompress is None:
            raise LoadError(f"unknown compression type {kind!r} in Rdata.rdb")
        raw = decompress(payload)
    else:
        raise LoadError(f"unsupported lazy-load compression {compressed}")
    if len(raw) != expected:
        raise LoadError(f"object {name!r} decompressed to {len(raw)} bytes, "
                        f"expected {expected}")
    if raw[:2] != b"X\n":
        raise LoadError(f"object {name!r} is not in R's XDR serialization")
    return convert(parse_rdata_binary(memoryview(raw)))


def csv_text(value):
    """A quoted CSV field: never confused with NULL, which is unquoted empty."""
    if "\0" in value:
        raise LoadError(f"text with a NUL character: {value!r}")
    return '"' + value.replace('"', '""') + '"'


def array_element(value):
    """One element of a PostgreSQL array literal, quoted where needed."""
    if value == "" or value.upper() == "NULL" or any(
            c in value for c in '{}",\\') or any(c.isspace() for c in value):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return value


def text_array(values):
    return "{" + ",".join(array_element(v) for v in values) + "}"


def check(df):
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise LoadError(f"the movielens data frame lacks columns {missing}; "
                        f"it has {list(df.columns)}")
    for col in ("movieId", "userId", "rating", "timestamp"):
        if df[col].isna().any():
            raise LoadError(f"column {col} has missing values")
    if not df["rating"].between(0.5, 5).all():
        raise LoadError("a rating is outside 0.5 to 5")
    if df.duplicated(["userId", "movieId"]).any():
        raise LoadError("a user rated the same movie twice")
    per_movie = df.groupby("movieId")[["title", "year", "genres"]].nunique(dropna=False)
    if (per_movie > 1).any().any():
        raise LoadError("a movie has more than one title, year or genre list")


def write_csvs(df, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    movies = df.drop_duplicates("movieId").sort_values("movieId")
    with open(os.path.join(out_dir, "movies.csv"), "w", encoding="utf-8",
              newline="") as f:
        f.write("movie_id,title,year,genres\n")
        for movie_id, title, year, genres in zip(
                movies["movieId"], movies["title"], movies["year"], movies["genres"]):
            title = "" if title is None or title != title else csv_text(str(title))
            year = "" if year == R_NA_INTEGER or year != year else str(int(year))
            genres = str(genres).split("|") if genres == genres else []
            f.write(f"{int(movie_id)},{title},{year},{csv_text(text_array(genres))}\n")

    ratings = df.sort_values(["userId", "timestamp", "movieId"])
    with open(os.path.join(out_dir, "ratings.csv"), "w", encoding="utf-8",
              newline="") as f:
        f.write("user_id,movie_id,rating,rated_at\n")
        for user_id, movie_id, rating, ts in zip(
                ratings["userId"], ratings["movieId"], ratings["rating"],
                ratings["timestamp"]):
            if not math.isfinite(rating):
                raise LoadError(f"rating {rating!r} is not finite")
            f.write(f"{int(user_id)},{int(movie_id)},{float(rating):g},{int(ts)}\n")
    return movies, ratings


def main(argv):
    args = argv[1:]
    deb = None
    if len(args) == 3 and args[0] == "--deb":
        deb, args = os.path.abspath(args[1]), args[2:]
    if len(args) != 1 or args[0].startswith("-"):
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    out_dir = args[0]

    try:
        with tempfile.TemporaryDirectory(prefix="mixrec-dslabs.") as workdir:
            if deb is None:
                print(f"downloading the Debian package {PACKAGE} with apt-get download",
                      flush=True)
                deb = download_package(workdir)
            print(f"unpacking {os.path.basename(deb)}", flush=True)
            data_dir = unpack(deb, workdir)
            print(f"reading the {OBJECT} data frame", flush=True)
            df = lazyload_object(data_dir, OBJECT)
        if not hasattr(df, "columns"):
            raise LoadError(f"{OBJECT} is a {type(df).__name__}, not a data frame")
        check(df)
        movies, ratings = write_csvs(df, out_dir)
    except LoadError as e:
        print(f"load_movielens.py: error: {e}", file=sys.stderr)
        return 1

    no_year = int(((movies["year"] == R_NA_INTEGER) | movies["year"].isna()).sum())
    no_title = int(movies["title"].isna().sum())
    print(f"wrote {os.path.join(out_dir, 'movies.csv')}: {len(movies):,} movies "
          f"({no_year} without a year, {no_title} without a title)")
    print(f"wrote {os.path.join(out_dir, 'ratings.csv')}: {len(ratings):,} ratings "
          f"by {ratings['userId'].nunique():,} users")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
