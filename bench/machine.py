"""What the benchmarks report about the machine they run on.

Imported by bench/train_bench.py, bench/score_bench.py and
bench/typed_bench.py (same folder).
"""

import ctypes
import hashlib
import os
import platform
import resource
import statistics
import time

# What decides how many threads a BLAS runs and which kernels it picks
ENV_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
            "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_VERBOSE",
            "GOTO_NUM_THREADS")


def out(line=""):
    print(line, flush=True)


def section(title):
    out()
    out("=" * 78)
    out(title)
    out("=" * 78)


def cpu_info():
    model, flags, cores = "unknown", set(), 0
    with open("/proc/cpuinfo") as f:
        for line in f:
            key, _, value = line.partition(":")
            key = key.strip()
            if key == "model name" and model == "unknown":
                model = value.strip()
            elif key == "flags" and not flags:
                flags = set(value.split())
            elif key == "processor":
                cores += 1
    return model, flags, cores


def print_machine():
    """The section header and the CPU and kernel lines both reports open with."""
    section("Machine, kernels and threads")
    model, flags, cores = cpu_info()
    out("CPU model            : %s" % model)
    out("logical CPUs         : %d" % cores)
    out("CPU flags            : %s" % " ".join(
        f for f in ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl")
        if f in flags))
    out("kernel               : %s" % platform.release())


def file_info(path):
    """Size, time and checksum of a file, to tie a result to a build."""
    try:
        st = os.stat(path)
        with open(path, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()[:16]
    except OSError as e:
        return "%s (%s)" % (path, e.strerror)
    return "%s, %d bytes, modified %s, sha256 %s..." % (
        path, st.st_size, time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(st.st_mtime)),
        digest)


def openblas_info():
    """OpenBLAS's configuration and the core it picked, read in this process."""
    try:
        lib = ctypes.CDLL("libopenblas.so.0")
        lib.openblas_get_config.restype = ctypes.c_char_p
        lib.openblas_get_corename.restype = ctypes.c_char_p
        return lib.openblas_get_config().decode(), lib.openblas_get_corename().decode()
    except (OSError, AttributeError) as e:
        return "(cannot load libopenblas.so.0: %s)" % e, "?"


def process_env(pid):
    try:
        with open("/proc/%s/environ" % pid, "rb") as f:
            items = f.read().split(b"\0")
    except OSError as e:
        return None, e.strerror
    env = {}
    for item in items:
        k, sep, v = item.decode(errors="replace").partition("=")
        if sep:
            env[k] = v
    return env, None


def thread_count(pid="self"):
    try:
        with open("/proc/%s/status" % pid) as f:
            for line in f:
                if line.startswith("Threads:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def blas_libraries(pid="self"):
    """The BLAS/LAPACK/OpenMP libraries mapped into a process."""
    libs = set()
    try:
        with open("/proc/%s/maps" % pid) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 6:
                    path = parts[5]
                    base = os.path.basename(path)
                    if any(s in base for s in ("blas", "lapack", "gomp", "mkl", "dnnl")):
                        libs.add(path)
    except OSError as e:
        return ["(cannot read /proc/%s/maps: %s)" % (pid, e.strerror)]
    return sorted(libs)


def print_backend_blas(pid):
    """The BLAS variables in a backend's environment and the BLAS libraries
    it has mapped; returns the environment (None where it cannot be read)."""
    env, err = process_env(pid)
    for var in ENV_VARS:
        if env is None:
            out("%-21s: (cannot read the backend's environment: %s)" % (var, err))
            break
        out("%-21s: %s" % (var, env.get(var, "(unset)")))
    for path in blas_libraries(pid):
        out("mapped library       : %s -> %s" % (path, os.path.realpath(path)))
    return env


class Load:
    """CPU use while something is measured: the CPU time of the benchmark's
    own processes (the given ones and this process's finished children)
    over the wall time, and how many CPUs the rest of the machine kept busy
    meanwhile (from /proc/stat). 'others' well above 0 means the numbers
    were taken under contention."""

    TICK = os.sysconf("SC_CLK_TCK")

    def __init__(self, *pids):
        self.pids = pids

    @staticmethod
    def _machine():
        with open("/proc/stat") as f:
            v = [int(t) for t in f.readline().split()[1:]]
        idle = v[3] + v[4]
        steal = v[7] if len(v) > 7 else 0
        return sum(v[:8]) - idle - steal, sum(v[:8]), steal

    def _proc(self):
        seconds = 0.0
        for pid in self.pids:
            try:
                with open("/proc/%s/stat" % pid) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                seconds += (int(fields[11]) + int(fields[12])) / self.TICK
            except (OSError, IndexError, ValueError):
                return float("nan")
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return seconds + children.ru_utime + children.ru_stime

    def __enter__(self):
        self.t0 = time.perf_counter()
        self.cpu0 = self._proc()
        self.m0 = self._machine()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.t0
        cpu = self._proc() - self.cpu0
        busy, total, steal = (b - a for a, b in zip(self.m0, self._machine()))
        ncpu = os.cpu_count() or 1
        self.own = cpu / self.wall if self.wall > 0 else float("nan")
        self.busy = ncpu * busy / total if total > 0 else float("nan")
        self.others = max(self.busy - self.own, 0.0)
        self.steal = ncpu * steal / total if total > 0 else 0.0
        return False

    def describe(self):
        text = ("CPU use: benchmark's processes %.2f CPUs, other processes %.2f CPUs "
                "(machine busy %.2f of %d)" % (self.own, self.others, self.busy,
                                               os.cpu_count() or 1))
        if self.steal > 0.005:
            text += ", steal %.2f CPUs" % self.steal
        return text


# ---------------------------------------------------------------------------
# The limit meter: what the machine allows, measured in the same run
#
# The rates come from bench/floor (extension mixrec_floor), measured inside
# the backend, so that SGEMM is the library mixrec calls with the thread
# count mixrec.threads set.  The FLOPs are those of the math, layer by
# layer, not of any one implementation: bench/README.md ("The limit meter")
# gives every formula.

SERVE_BLOCK_ROWS = 1024       # src/serve.h: rows per matrix product in batch scoring
MODELS = 2                    # an open and a commercial MLP of the same shape


class Spread:
    """A median and the least and greatest of the runs it is the median of."""

    def __init__(self, median, lo, hi, n=None):
        self.median, self.lo, self.hi, self.n = median, lo, hi, n

    @classmethod
    def of(cls, values):
        v = sorted(values)
        return cls(statistics.median(v), v[0], v[-1], len(v))

    def scaled(self, f):
        return Spread(self.median * f, self.lo * f, self.hi * f, self.n)

    def __add__(self, other):
        return Spread(self.median + other.median, self.lo + other.lo, self.hi + other.hi)

    def fmt(self, spec="%.1f"):
        return (spec + " [" + spec + ".." + spec + "]") % (self.median, self.lo, self.hi)


def layers(d_in, hidden):
    """(n_in, n_out) of each layer of one MLP: d_in -> hidden... -> 1"""
    dims = [d_in] + list(hidden) + [1]
    return list(zip(dims[:-1], dims[1:]))


def row_flops(d_in, hidden):
    """FLOPs of scoring one row with both MLPs: 2 n_in n_out per layer
    (a multiply and an add per weight); biases, ReLU and sigmoid left out."""
    return MODELS * sum(2 * i * o for i, o in layers(d_in, hidden))


def predict_gemms(d_in, hidden, rows, block=SERVE_BLOCK_ROWS):
    """The GEMMs of batch scoring `rows` rows in blocks of `block`: per block,
    model and layer, out (block x n_out) = in (block x n_in) W^T, row-major,
    W stored [n_out][n_in]: cblas_sgemm(RowMajor, N, T, block, n_out, n_in).
    Returns [((order, ta, tb, m, n, k), calls)]."""
    gemms = []
    for m, count in ((block, rows // block), (rows % block, 1)):
        if m and count:
            for i, o in layers(d_in, hidden):
                gemms.append((("RowMajor", "N", "T", m, o, i), MODELS * count))
    return gemms


def train_gemms(d_in, hidden, batch, rows):
    """The GEMMs of one epoch of `rows` rows in mini-batches of `batch`
    (the last one smaller), per model and layer l (n_in -> n_out):
      forward   Z  = A W^T    (RowMajor, N, T, batch, n_out, n_in)
      weights   dW = dZ^T A   (RowMajor, T, N, n_out, n_in, batch)
      inputs    dA = dZ W     (RowMajor, N, N, batch, n_in, n_out), l > 0
    Returns [((order, ta, tb, m, n, k), calls)]."""
    gemms = []
    for b, count in ((batch, rows // batch), (rows % batch, 1)):
        if not (b and count):
            continue
        for l, (i, o) in enumerate(layers(d_in, hidden)):
            gemms.append((("RowMajor", "N", "T", b, o, i), MODELS * count))
            gemms.append((("RowMajor", "T", "N", o, i, b), MODELS * count))
            if l > 0:
                gemms.append((("RowMajor", "N", "N", b, i, o), MODELS * count))
    return gemms


def gemm_flops(gemms):
    return sum(2.0 * s[3] * s[4] * s[5] * calls for s, calls in gemms)


class Meter:
    """The machine's limits, measured through mixrec_floor in the backend of
    `cur` (mixrec loaded there first), cached per shape and thread count."""

    def __init__(self, cur, seconds=0.5):
        self.cur, self.seconds = cur, seconds
        self.sgemm_cache = {}
        self._fma = None
        cur.execute("SELECT pg_backend_pid()")
        self.pid = cur.fetchone()[0]

    def threads(self):
        self.cur.execute("SHOW mixrec.threads")
        return int(self.cur.fetchone()[0])

    def fma_peak(self):
        """GFLOP/s of one core: Spread, kernel description"""
        if self._fma is None:
            with Load("self", self.pid) as load:
                self.cur.execute("SELECT gflops, gflops_min, gflops_max, kernel "
                                 "FROM mixrec_floor_fma_peak(%s)", (self.seconds,))
                g, lo, hi, kernel = self.cur.fetchone()
            self._fma = (Spread(g, lo, hi, 5), kernel, load.others)
        return self._fma[:2]

    def sgemm(self, shape):
        """GFLOP/s of cblas_sgemm at shape (order, ta, tb, m, n, k): Spread"""
        key = (self.threads(),) + tuple(shape)
        if key not in self.sgemm_cache:
            with Load("self", self.pid) as load:
                self.cur.execute("SELECT gflops, gflops_min, gflops_max, calls, threads "
                                 "FROM mixrec_floor_sgemm(%s, %s, %s, %s, %s, %s, %s)",
                                 tuple(shape) + (self.seconds,))
                g, lo, hi, calls, threads = self.cur.fetchone()
            self.sgemm_cache[key] = (Spread(g, lo, hi, 5), threads, load.others)
        return self.sgemm_cache[key][0]

    def gemm_seconds(self, gemms):
        """Least seconds of these GEMMs at the measured rates (Spread: at the
        median rates, and at the greatest and least)."""
        med = lo = hi = 0.0
        for shape, calls in gemms:
            rate = self.sgemm(shape)
            flops = 2.0 * shape[3] * shape[4] * shape[5] * calls
            med += flops / (rate.median * 1e9)
            lo += flops / (rate.hi * 1e9)
            hi += flops / (rate.lo * 1e9)
        return Spread(med, lo, hi)

    def print_rates(self, title="limits measured in this run (bench/floor, in the backend)"):
        out()
        out("-- %s" % title)
        if self._fma is not None:
            out("FMA peak, one core   : %s GFLOP/s (median [least..greatest] of 5 trials; "
                "others %.2f CPUs); %s" % (self._fma[0].fmt(), self._fma[2], self._fma[1]))
        for key in sorted(self.sgemm_cache):
            rate, threads, others = self.sgemm_cache[key]
            threads_set, order, ta, tb, m, n, k = key
            out("SGEMM %-8s %s%s %5d x %4d x %4d (M, N, K), %d thread%s: %s GFLOP/s "
                "(others %.2f CPUs)" % (order, ta, tb, m, n, k, threads,
                                        "" if threads == 1 else "s", rate.fmt(), others))
        out("(others: CPUs other processes kept busy meanwhile; well above 0, the rate was "
            "measured under contention)")


def limit_table(title, rows, spec="%.1f"):
    """Print rows of (path, result Spread, limit Spread, unit, what the limit
    is): result and limit in the same unit of time, and result / limit,
    which is 1.00 at the limit and grows with the time spent beyond it."""
    out()
    out("-- %s" % title)
    out("%-40s %28s %28s %6s  %s" % ("path", "result, median [range]", "limit, median [range]",
                                     "ratio", "limit ="))
    for path, result, limit, unit, what in rows:
        if result is None or limit is None:
            out("%-40s %28s %28s %6s  %s" % (path, "", "", "", what))
            continue
        out("%-40s %28s %28s %6.2f  %s"
            % (path, result.fmt(spec) + " " + unit, limit.fmt(spec) + " " + unit,
               result.median / limit.median, what))
    out("ratio = result / limit (medians): 1.00 would be the machine's limit; "
        "2.00 takes twice as long")
