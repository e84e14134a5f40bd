#!/usr/bin/env python3
"""The leak detector on captures it was never tuned on: the corpus workloads and the real
services at other loads and other memray options than the fixtures, captured fresh by real memray
(into bench-data/unseen/, never committed), each with the truth of its workload.

The labelled corpus (`fixtures/workloads/expected-leaks.json`, `tests/leaks.rs`) is what the
detector is tuned against; this is the check that it generalises. It prints one line per capture
(truth, verdict, the first finding) and the precision and recall of "leak".

Needs: cargo build --release -p memreport-cli; the venvs of fixtures/generate.sh
(~/.cache/memreport-venvs/m1.20.0 and m1.20.0+frameworks, or $MEMRAY_VENVS).

Usage: scripts/leak_unseen.py [--only NAME...] [--keep]   (--keep reuses captures already made)
"""

import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKLOADS = os.path.join(ROOT, "fixtures", "workloads")
OUT = os.path.join(ROOT, "bench-data", "unseen")
VENVS = os.environ.get("MEMRAY_VENVS", os.path.expanduser("~/.cache/memreport-venvs"))
MEMREPORT = os.environ.get('MEMREPORT', os.path.join(ROOT, 'target', 'release', 'memreport'))

PYALLOC = ["--trace-python-allocators"]

# name, venv, folder under workloads/, workload, memray options, environment, truth, where.
# "where" is the function:file a leak finding must name; the truth of the real services is what
# their code does (a bounded cache that has not filled within the run is still "no-leak").
CASES = [
    ("flask-300", "frameworks", "real", "flask_threads.py", [], {"REQUESTS": "300"}, "no-leak", None),
    ("flask-leak-1200", "frameworks", "real", "flask_threads.py", [], {"REQUESTS": "1200", "LEAK": "1"}, "leak", "remember:flask_threads.py"),
    ("django-300", "frameworks", "real", "django_runserver.py", [], {"REQUESTS": "300"}, "leak", "middleware:django_runserver.py"),
    ("aiohttp-1500", "frameworks", "real", "aiohttp_app.py", [], {"REQUESTS": "1500"}, "no-leak", None),
    ("fastapi-2000", "frameworks", "real", "fastapi_uvicorn.py", [], {"REQUESTS": "2000"}, "leak", "items:fastapi_uvicorn.py"),
    ("waitress-300", "frameworks", "real", "waitress_sqlalchemy.py", [], {"REQUESTS": "300"}, "leak", "search:waitress_sqlalchemy.py"),
    ("pyalloc-flask-400", "frameworks", "real", "flask_threads.py", PYALLOC, {"REQUESTS": "400"}, "no-leak", None),
    ("pyalloc-fastapi-600", "frameworks", "real", "fastapi_uvicorn.py", PYALLOC, {"REQUESTS": "600"}, "leak", "items:fastapi_uvicorn.py"),
    ("pyalloc-aiohttp-600", "frameworks", "real", "aiohttp_app.py", PYALLOC, {"REQUESTS": "600"}, "no-leak", None),
    ("pyalloc-waitress-300", "frameworks", "real", "waitress_sqlalchemy.py", PYALLOC, {"REQUESTS": "300"}, "leak", "app:waitress_sqlalchemy.py"),
    ("nopy-leak-late", "", "", "leak_late.py", [], {}, "leak", "work:leak_late.py"),
    ("nopy-leak-listeners", "", "", "leak_listeners.py", [], {}, "leak", "subscribe"),
    ("nopy-leak-slow", "", "", "leak_slow.py", [], {}, "leak", "handle:leak_slow.py"),
    ("nopy-ok-bounded-cache", "", "", "ok_bounded_cache.py", [], {}, "no-leak", None),
    ("nopy-ok-churn", "", "", "ok_churn.py", [], {}, "no-leak", None),
    ("nopy-ok-sawtooth", "", "", "ok_sawtooth.py", [], {}, "no-leak", None),
    ("nopy-ok-thread-pool", "", "", "ok_thread_pool.py", [], {}, "no-leak", None),
    # Without --trace-python-allocators (pytest-memray's default) the audit records, small
    # objects in pymalloc, are not in the capture: the honest answer is "cannot tell".
    ("nopy-leak-test-audit", "", "", "leak_test_audit.py", [], {}, "inconclusive", None),
    ("leak-test-audit", "", "", "leak_test_audit.py", PYALLOC, {}, "leak", "audit:leak_test_audit.py"),
]


def capture(case, keep):
    name, venv, folder, workload, options, env, _, _ = case
    out = os.path.join(OUT, name + ".bin")
    if keep and os.path.exists(out):
        return out
    if os.path.exists(out):
        os.remove(out)
    memray = os.path.join(VENVS, "m1.20.0" + ("+" + venv if venv else ""), "bin", "memray")
    cwd = os.path.join(WORKLOADS, folder) if folder else WORKLOADS
    subprocess.run(
        [memray, "run", "-q", *options, "-o", out, workload],
        cwd=cwd,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=True,
    )
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", nargs="*")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    os.makedirs(OUT, exist_ok=True)
    tp = fp = fn = 0
    for case in CASES:
        name, truth, where = case[0], case[6], case[7]
        if args.only and name not in args.only:
            continue
        path = capture(case, args.keep)
        run = subprocess.run([MEMREPORT, "leaks", "--json", path], capture_output=True, text=True)
        got = json.loads(run.stdout)
        heap = [f for f in got["findings"] if f["kind"] != "allocator-retention"]
        said = got["verdict"]
        named = where is None or any(f["location"].startswith(where) for f in heap)
        if said == "leak" and truth == "leak" and named:
            tp += 1
        elif said == "leak":
            fp += 1
        if truth == "leak" and not (said == "leak" and named):
            fn += 1
        first = heap[0] if heap else (got["findings"][0] if got["findings"] else None)
        what = f"{first['kind']} {first['location']} +{first['growth_bytes']} c{first['confidence']}" if first else ""
        mark = "ok " if (said == truth and named) else "BAD"
        print(f"{mark} {name:24} {truth:8} {said:13} {what[:110]}")
    precision = tp / max(tp + fp, 1)
    recall = tp / max(tp + fn, 1)
    print(f"precision {precision:.2f}, recall {recall:.2f} ({tp} found, {fp} false, {fn} missed)")


if __name__ == "__main__":
    sys.exit(main())
