#!/usr/bin/env python3
"""Times memreport against memray on the same capture, whole process, median of several runs.

For each pair of equivalent commands (`report` is set against memray's flame graph, its nearest
page; memray has no single report), runs each one N times (memreport) and M times (memray),
measuring wall time with perf_counter and peak RSS with GNU time, and prints the medians and the
ratios. memreport must be built first (cargo build --release -p memreport-cli).

Usage: scripts/compare_memray.py CAPTURE [--memray PATH] [--runs N] [--memray-runs M]
"""

import argparse
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
        if proc.returncode != 0:
            sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr}")
        rss.append(int(proc.stderr.strip().splitlines()[-1]))
    return statistics.median(times), statistics.median(rss) / 1024


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("capture")
    ap.add_argument("--memray", default="memray")
    ap.add_argument("--memreport", default="target/release/memreport")
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--memray-runs", type=int, default=7)
    args = ap.parse_args()
    pairs = [
        ("stats --json", [args.memreport, "stats", "--json", args.capture],
         [args.memray, "stats", "--json", "-f", "-o", "/tmp/memreport-compare-stats.json", args.capture]),
        ("stats", [args.memreport, "stats", args.capture], [args.memray, "stats", args.capture]),
        # memray's flame graph pages fetch their scripts from a CDN unless --no-web; ours never do,
        # so --no-web is the equivalent page.
        ("flamegraph", [args.memreport, "-q", "flamegraph", args.capture, "-o", "/tmp/memreport-compare-fg.html"],
         [args.memray, "flamegraph", "--no-web", "-f", "-o", "/tmp/memreport-compare-memray-fg.html", args.capture]),
        ("flamegraph --leaks",
         [args.memreport, "-q", "flamegraph", "--leaks", args.capture, "-o", "/tmp/memreport-compare-fg.html"],
         [args.memray, "flamegraph", "--leaks", "--no-web", "-f", "-o", "/tmp/memreport-compare-memray-fg.html",
          args.capture]),
        ("report", [args.memreport, "-q", "report", args.capture, "-o", "/tmp/memreport-compare-report.html"],
         [args.memray, "flamegraph", "--no-web", "-f", "-o", "/tmp/memreport-compare-memray-fg.html", args.capture]),
    ]
    print(f"{'command':<20} {'memreport':>18} {'memray':>18} {'time ratio':>11} {'RSS ratio':>10}")
    for name, ours, theirs in pairs:
        t1, r1 = measure(ours, args.runs)
        t2, r2 = measure(theirs, args.memray_runs)
        print(f"{name:<20} {t1*1000:>8.1f} ms {r1:>5.1f} MiB {t2*1000:>8.1f} ms {r2:>5.1f} MiB {t2/t1:>10.1f}x {r2/r1:>9.1f}x")


if __name__ == "__main__":
    main()
