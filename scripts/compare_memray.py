#!/usr/bin/env python3
"""Times memreport against memray on the same capture, whole process, median of several runs.

For each pair of equivalent commands (`report` is set against memray's flame graph, its nearest
page; memray has no single report), runs memreport N times and memray M times, measuring wall
time with perf_counter and peak RSS with GNU time, and prints the medians and the ratios, as
text and as Markdown rows for docs/performance.md.

It also times what has no memray counterpart, so the distance from the physical limit is visible:
the LZ4 frame alone, LZ4 + record decoding, + stacks (the `scan` example), and `diff` of the
capture against itself (two full analyses at once).

Build first:
    cargo build --release -p memreport-cli
    cargo build --release -p memreport-format --example scan

Usage: scripts/compare_memray.py CAPTURE [--memray PATH] [--runs N] [--memray-runs M] [--only NAME,...]
"""

import argparse
import os
import statistics
import subprocess
import sys
import time


def measure(cmd, runs):
    times, rss = [], []
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.run(
            ["/usr/bin/time", "-f", "%M"] + cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        times.append(time.perf_counter() - start)
        if proc.returncode not in (0, 1):  # diff exits 1 on a regression verdict only with a gate
            sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr}")
        rss.append(int(proc.stderr.strip().splitlines()[-1]))
    return statistics.median(times), statistics.median(rss) / 1024


def seconds(t):
    return f"{t*1000:.0f} ms" if t < 1 else f"{t:.2f} s"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("capture")
    ap.add_argument("--memray", default="memray")
    ap.add_argument("--memreport", default="target/release/memreport")
    ap.add_argument("--scan", default="target/release/examples/scan")
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--memray-runs", type=int, default=7)
    ap.add_argument("--only", default="", help="comma-separated row names to run")
    args = ap.parse_args()
    cap, mr, mine = args.capture, args.memray, args.memreport
    out = "/tmp/memreport-compare"
    pairs = [
        ("stats --json", [mine, "stats", "--json", cap],
         [mr, "stats", "--json", "-f", "-o", f"{out}-stats.json", cap]),
        ("stats", [mine, "stats", cap], [mr, "stats", cap]),
        # memray's flame graph pages fetch their scripts from a CDN unless --no-web; ours never do,
        # so --no-web is the equivalent page.
        ("flamegraph", [mine, "-q", "flamegraph", cap, "-o", f"{out}-fg.html"],
         [mr, "flamegraph", "--no-web", "-f", "-o", f"{out}-memray-fg.html", cap]),
        ("flamegraph --leaks", [mine, "-q", "flamegraph", "--leaks", cap, "-o", f"{out}-fg.html"],
         [mr, "flamegraph", "--leaks", "--no-web", "-f", "-o", f"{out}-memray-fg.html", cap]),
        ("report", [mine, "-q", "report", cap, "-o", f"{out}-report.html"],
         [mr, "flamegraph", "--no-web", "-f", "-o", f"{out}-memray-fg.html", cap]),
    ]
    alone = [
        ("limit: LZ4 only", [args.scan, "lz4", cap]),
        ("limit: LZ4 + records", [args.scan, "records", cap]),
        ("limit: + stacks", [args.scan, "events", cap]),
        ("leaks", [mine, "-q", "leaks", cap]),
        ("diff (against itself)", [mine, "-q", "diff", cap, cap]),
    ]
    only = set(filter(None, args.only.split(",")))
    rows = []
    print(f"{os.path.basename(cap)}: {os.path.getsize(cap) / 2**20:.1f} MiB")
    print(f"{'command':<24} {'memreport':>20} {'memray':>20} {'time ratio':>11} {'RSS ratio':>10}")
    memray_seen = {}  # `report` is set against the same memray run as `flamegraph`
    for name, ours, theirs in pairs:
        if only and name not in only:
            continue
        t1, r1 = measure(ours, args.runs)
        key = tuple(theirs)
        if key not in memray_seen:
            memray_seen[key] = measure(theirs, args.memray_runs)
        t2, r2 = memray_seen[key]
        print(f"{name:<24} {seconds(t1):>9} {r1:>6.1f} MiB {seconds(t2):>9} {r2:>6.1f} MiB "
              f"{t2/t1:>10.1f}x {r2/r1:>9.1f}x", flush=True)
        rows.append(f"| `{name}` | {seconds(t1)}, {r1:.0f} MiB | {seconds(t2)}, {r2:.0f} MiB "
                    f"| {t2/t1:.1f}× | {r2/r1:.1f}× |")
    for name, ours in alone:
        if only and name not in only:
            continue
        if not os.path.exists(ours[0]):
            print(f"{name:<24} (skipped: build {ours[0]} first)")
            continue
        t1, r1 = measure(ours, args.runs)
        print(f"{name:<24} {seconds(t1):>9} {r1:>6.1f} MiB", flush=True)
        rows.append(f"| `{name}` | {seconds(t1)}, {r1:.0f} MiB | | | |")
    print("\nMarkdown rows:")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
