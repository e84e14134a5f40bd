#!/usr/bin/env python3
"""Builds a large memray capture for benchmarks, on demand (never committed).

It writes a synthetic service (many call sites, nested stacks, several threads, churn and a slow
leak) into bench-data/, then runs it under real memray until the capture holds about the number
of allocation records asked for.

Usage: scripts/bench_capture.py --records 5000000 [--memray PATH] [--out bench-data/service-5M.bin]
"""

import argparse
import os
import subprocess
import sys
import time

WORKLOAD = r'''
"""Synthetic service for memreport benchmarks: {functions} call sites in nested chains, {threads}
threads, churn, and a slow leak."""
import random
import threading

ITERATIONS = {iterations}
LEAK = []

{functions_src}

def worker(seed):
    rng = random.Random(seed)
    for i in range(ITERATIONS):
        entry = rng.randrange({functions})
        FUNCTIONS[entry](rng.randrange(1, 18), i)
        if i % 50 == 0:
            LEAK.append(bytes(700 + i % 300))

threads = [threading.Thread(target=worker, args=(s,), name="worker-%d" % s) for s in range({threads})]
for t in threads:
    t.start()
for t in threads:
    t.join()
'''

FUNCTION = '''
def f{n}(depth, i):
    scratch = bytes({size} + (i % 97))
    if depth > 0:
        return FUNCTIONS[({n} * 7 + depth) % {count}](depth - 1, i) + len(scratch)
    kept = [bytes(600 + (i % 50)) for _ in range(3)]
    return len(kept)
'''


def write_workload(path, iterations, functions=300, threads=4):
    body = "".join(FUNCTION.format(n=n, size=520 + (n * 37) % 3000, count=functions) for n in range(functions))
    body += "\nFUNCTIONS = [%s]\n" % ", ".join("f%d" % n for n in range(functions))
    with open(path, "w") as fh:
        fh.write(WORKLOAD.format(functions=functions, threads=threads, iterations=iterations, functions_src=body))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, required=True, help="approximate allocation records")
    ap.add_argument("--memray", default="memray")
    ap.add_argument("--out")
    args = ap.parse_args()
    os.makedirs("bench-data", exist_ok=True)
    out = args.out or "bench-data/service-%d.bin" % args.records
    workload = "bench-data/bench_service.py"
    # Each iteration makes about 2 * (depth + 3) + 2 records (allocations and frees), depth ~9.
    per_iteration = 26
    iterations = max(1, args.records // (per_iteration * 4))
    write_workload(workload, iterations)
    start = time.perf_counter()
    subprocess.run([args.memray, "run", "-q", "-f", "-o", os.path.abspath(out), os.path.basename(workload)],
                   cwd="bench-data", check=True, stdout=subprocess.DEVNULL)
    print("%s: %d bytes in %.1f s" % (out, os.path.getsize(out), time.perf_counter() - start), file=sys.stderr)


if __name__ == "__main__":
    main()
