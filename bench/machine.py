"""What both benchmarks report about the machine they run on.

Imported by bench/train_bench.py and bench/score_bench.py (same folder).
"""


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
