#!/usr/bin/env python3
"""Capture sets along the number of processes: how long `memreport top` takes over a set of a
parent and W forked workers, with the total work fixed (TASKS tasks shared by the pool), so that
the records stay about the same and only the processes change.

Usage: scripts/set_bench.py [--venv VENV] [--runs N] [W ...]   (default W: 1 2 4 8 16)
Captures go to bench-data/sets/W/ (not committed); memreport is target/release/memreport.
Prints one row per W: processes, records in all, `top` (the combined peak: two passes over the
processes that held memory then), `top --leaks` (one pass), and the sum of `top` on each capture
alone, in seconds (median of N runs), with the largest RSS.
"""

import argparse
import glob
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BIN = os.path.join(ROOT, "target", "release", "memreport")
TASKS = "4800"


def make_set(workers, venv):
    out = os.path.join(ROOT, "bench-data", "sets", str(workers))
    if glob.glob(os.path.join(out, "capture.bin*")):
        return sorted(glob.glob(os.path.join(out, "capture.bin*")))
    os.makedirs(out, exist_ok=True)
    env = dict(os.environ, WORKERS=str(workers), TASKS=TASKS)
    subprocess.run(
        [os.path.join(venv, "bin", "memray"), "run", "-q", "--follow-fork", "-o",
         os.path.join(out, "capture.bin"), "pool_fork.py"],
        cwd=os.path.join(ROOT, "fixtures", "workloads"), env=env, check=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    return sorted(glob.glob(os.path.join(out, "capture.bin*")))


def measure(cmd, runs):
    times, rss = [], 0
    for _ in range(runs):
        start = time.perf_counter()
        r = subprocess.run(["/usr/bin/time", "-f", "%M"] + cmd, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        if r.returncode != 0:
            sys.exit(f"{cmd}: {r.stderr}")
        rss = max(rss, int(r.stderr.strip().splitlines()[-1]))
    times.sort()
    return times[len(times) // 2], rss // 1024


def records(files):
    total = 0
    for f in files:
        out = subprocess.run([BIN, "-q", "info", f, "--json"], capture_output=True, text=True)
        total += json.loads(out.stdout)["n_records"]
    return total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--venv", default=os.path.expanduser("~/.cache/memreport-venvs/m1.20.0"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("workers", nargs="*", type=int, default=[1, 2, 4, 8, 16])
    args = ap.parse_args()
    print("| workers | files | records | `top` (peak) | `top --leaks` | `top` on each file alone |")
    print("|---|---|---|---|---|---|")
    for w in args.workers:
        files = make_set(w, args.venv)
        peak, peak_rss = measure([BIN, "-q", "top", "-n", "5"] + files, args.runs)
        leaks, leaks_rss = measure([BIN, "-q", "top", "--leaks", "-n", "5"] + files, args.runs)
        alone = sum(measure([BIN, "-q", "top", "-n", "5", f], args.runs)[0] for f in files)
        print(f"| {w} | {len(files)} | {records(files):,} | {peak:.3f} s, {peak_rss} MiB | "
              f"{leaks:.3f} s, {leaks_rss} MiB | {alone:.3f} s |")


if __name__ == "__main__":
    main()
