"""What the benchmarks report about the machine they run on.

Imported by bench/train_bench.py, bench/score_bench.py and
bench/typed_bench.py (same folder).
"""

import ctypes
import hashlib
import os
import platform
import resource
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
