#!/usr/bin/env python3
"""Scaling sweep: memreport against memray along one axis at a time, on captures made by real
memray on demand (never committed; they go to bench-data/scale/).

Axes (each point varies one of them and keeps the others small):
  threads    Flask on Werkzeug's threaded server, 4,096 requests over N keep-alive connections:
             one thread per connection, every thread running the same handlers, the same work
             at every point (fixtures/workloads/real/flask_threads.py, CONNECTIONS=N)
  stacks     a generated module whose two layers of functions make N distinct call stacks
  native     the Flask workload with and without --native
  native-stacks
             the stacks module under --native: N distinct Python stacks (that share their few
             native paths), for the cost of naming native frames (symbolization)
  native-paths
             --native, every path of N levels through six C functions that call back into
             Python (map, filter, sorted, min, max and functools.reduce): 6^N distinct native
             stacks, for the cost of naming them
  length     a generated module with one function of N lines, each line allocating
  records    the synthetic service of scripts/bench_capture.py, N allocation records
  flask-pyalloc, django-pyalloc
             the captures of the issue that asked for this sweep: Flask (Werkzeug) or Django
             `runserver`, thread per request, N requests, --trace-python-allocators

For each capture it records the records read, then the wall time (median of --runs) and peak RSS
of `memreport stats`, `memreport leaks` and `memreport report`, next to `memray stats` and
`memray flamegraph` (one run each unless --memray-runs), and prints a Markdown table with the
time per record, for docs/performance.md.

Needs: cargo build --release -p memreport-cli; a venv with memray and the framework packages of
fixtures/workloads/real/requirements.txt (fixtures/generate.sh makes one at
~/.cache/memreport-venvs/m1.20.0+frameworks).

Usage: scripts/scale_bench.py [--axis threads,stacks,native,length,records] [--points 1,64,512,4096]
                              [--venv DIR] [--runs 3] [--memray-runs 1]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REAL = os.path.join(ROOT, "fixtures", "workloads", "real")
OUT = os.path.join(ROOT, "bench-data", "scale")
MEMREPORT = os.path.join(ROOT, "target", "release", "memreport")

DEFAULT_POINTS = {
    "threads": [1, 16, 256, 4096],
    "stacks": [1000, 10000, 100000, 1000000],
    "native": [0, 1],
    "native-stacks": [1000, 10000, 100000],
    "native-paths": [3, 4, 5, 6],
    "length": [10, 1000, 10000, 50000],
    "records": [1000000, 4000000, 16000000],
    "flask-pyalloc": [3064],
    "django-pyalloc": [754],
}


def stacks_module(n):
    """Two layers of functions: a_i calls every b_j it is given, so each (i, j) is a stack."""
    side = max(1, int(round(n ** 0.5)))
    lines = ["B = []"]
    for j in range(side):
        lines.append(f"def b{j}():\n    return bytearray(1024)\nB.append(b{j})")
    lines.append("A = []")
    for i in range(side):
        lines.append(f"def a{i}():\n    for b in B:\n        b()\nA.append(a{i})")
    # About a million calls at every point, so that the work stays the same along the axis.
    rounds = max(1, 1_000_000 // (side * side))
    lines.append(f"for _ in range({rounds}):\n    for a in A:\n        a()")
    return "\n".join(lines) + "\n", side * side


def native_paths_module(n):
    """Every path of n levels through six C functions that call back into Python."""
    source = """import functools, itertools
def leaf():
    return bytearray(64)
CALLERS = [
    lambda f: list(map(lambda _: f(), [0])),
    lambda f: list(filter(lambda _: f() is None, [0])),
    lambda f: sorted([0], key=lambda _: (f(), 0)[1]),
    lambda f: min([0], key=lambda _: (f(), 0)[1]),
    lambda f: max([0], key=lambda _: (f(), 0)[1]),
    lambda f: functools.reduce(lambda a, _: f(), [0], None),
]
def through(path):
    f = leaf
    for i in path:
        f = (lambda g, c: (lambda: c(g)))(f, CALLERS[i])
    return f
for path in itertools.product(range(6), repeat=%d):
    through(path)()
""" % n
    return source, 6 ** n


def length_module(n):
    """One function of n lines, each allocating a block that the next line frees."""
    body = "\n".join(f"    x = bytearray({1024 + i % 7})" for i in range(n))
    # About 200,000 lines run at every point, so that the work stays the same along the axis.
    rounds = max(1, 200_000 // n)
    return f"def long_function():\n{body}\n\nfor _ in range({rounds}):\n    long_function()\n", n


def make_capture(axis, point, venv):
    os.makedirs(OUT, exist_ok=True)
    capture = os.path.join(OUT, f"{axis}-{point}.bin")
    if os.path.exists(capture):
        return capture
    memray = os.path.join(venv, "bin", "memray")
    env = dict(os.environ)
    if axis in ("threads", "native"):
        env["REQUESTS"] = "4096" if axis == "threads" else "1024"
        if axis == "threads":
            env["CONNECTIONS"] = str(point)
        opts = ["--native"] if axis == "native" and point else []
        cmd = [memray, "run", "-q", *opts, "-o", capture, "flask_threads.py"]
        cwd = REAL
    elif axis in ("flask-pyalloc", "django-pyalloc"):
        env["REQUESTS"] = str(point)
        workload = "flask_threads.py" if axis == "flask-pyalloc" else "django_runserver.py"
        cmd = [memray, "run", "-q", "--trace-python-allocators", "-o", capture, workload]
        cwd = REAL
    elif axis in ("stacks", "length", "native-stacks", "native-paths"):
        module = {"length": length_module, "native-paths": native_paths_module}
        source, _ = module.get(axis, stacks_module)(point)
        cwd = OUT
        name = f"gen_{axis.replace('-', '_')}_{point}.py"
        with open(os.path.join(OUT, name), "w") as f:
            f.write(source)
        opts = ["--native"] if axis.startswith("native-") else []
        cmd = [memray, "run", "-q", *opts, "-o", capture, name]
    else:
        cmd = [
            sys.executable, os.path.join(ROOT, "scripts", "bench_capture.py"),
            "--records", str(point), "--memray", memray, "--out", capture,
        ]
        cwd = ROOT
    subprocess.run(cmd, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL)
    return capture


def measure(cmd, runs):
    times, rss = [], []
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.run(["/usr/bin/time", "-f", "%M"] + cmd, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
        times.append(time.perf_counter() - start)
        if proc.returncode != 0:
            sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr}")
        rss.append(int(proc.stderr.strip().splitlines()[-1]))
    return statistics.median(times), statistics.median(rss) / 1024


def records_of(capture):
    out = subprocess.run([MEMREPORT, "info", "--json", capture], capture_output=True, check=True)
    info = json.loads(out.stdout)
    return info["n_records"]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--axis", default="threads,stacks,native,length,records")
    p.add_argument("--points", help="comma-separated points (one axis only)")
    p.add_argument("--venv", default=os.path.expanduser("~/.cache/memreport-venvs/m1.20.0+frameworks"))
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--memray-runs", type=int, default=1)
    args = p.parse_args()
    memray = os.path.join(args.venv, "bin", "memray")
    rows = []
    for axis in args.axis.split(","):
        points = [int(x) for x in args.points.split(",")] if args.points else DEFAULT_POINTS[axis]
        for point in points:
            capture = make_capture(axis, point, args.venv)
            records = records_of(capture)
            html = os.path.join(OUT, "out.html")
            ours = {
                "stats": measure([MEMREPORT, "--quiet", "stats", capture], args.runs),
                "leaks": measure([MEMREPORT, "--quiet", "leaks", capture], args.runs),
                "report": measure([MEMREPORT, "--quiet", "report", capture, "-o", html], args.runs),
            }
            theirs = {
                "stats": measure([memray, "stats", "--json", "-f", "-o", os.path.join(OUT, "stats.json"), capture],
                                 args.memray_runs),
                "flamegraph": measure([memray, "flamegraph", "-f", "-o", html, capture], args.memray_runs),
            }
            row = (axis, point, records, ours, theirs)
            rows.append(row)
            print_row(row, file=sys.stderr)
    print("| axis | point | records | memreport stats | leaks | report | memray stats | memray flamegraph | stats × | report RSS ≤ flamegraph |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        print_row(row)


def cell(t, rss, records):
    return f"{t:.2f} s, {t / records * 1e9:.0f} ns/rec, {rss:.0f} MiB"


def print_row(row, file=sys.stdout):
    axis, point, records, ours, theirs = row
    label = {"native": ["off", "on"][point] if axis == "native" else point}.get(axis, point)
    speedup = theirs["stats"][0] / ours["stats"][0]
    lean = "yes" if ours["report"][1] <= theirs["flamegraph"][1] else "no"
    print(f"| {axis} | {label} | {records:,} | {cell(*ours['stats'], records)} | {cell(*ours['leaks'], records)} | "
          f"{cell(*ours['report'], records)} | {cell(*theirs['stats'], records)} | "
          f"{cell(*theirs['flamegraph'], records)} | {speedup:.1f}× | {lean} |", file=file, flush=True)


if __name__ == "__main__":
    main()
