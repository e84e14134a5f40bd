#!/usr/bin/env bash
# Builds the `pip install memreport` wheel with maturin, installs it into a fresh virtualenv made
# from the system's /usr/bin/python3 (where a Python team's memray lives), and runs the installed
# binary on a shipped capture. CI runs this (.ci/run); nothing is uploaded anywhere.
#
# Usage: scripts/wheel_check.sh [WORKDIR]   (default: target/wheel-check)
set -euo pipefail
cd "$(dirname "$0")/.."
work="${1:-target/wheel-check}"
rm -rf "$work"
mkdir -p "$work"
work="$(cd "$work" && pwd)"

# maturin itself comes from PyPI, into a venv of its own.
/usr/bin/python3 -m venv "$work/build-env"
"$work/build-env/bin/pip" install --quiet --disable-pip-version-check "maturin>=1.5,<2"
"$work/build-env/bin/maturin" build --release --out "$work/dist"
wheel=$(ls "$work"/dist/memreport-*.whl)
echo "built $wheel"

# A fresh venv, as a user would have one, with only the wheel installed.
/usr/bin/python3 -m venv "$work/user-env"
"$work/user-env/bin/pip" install --quiet --disable-pip-version-check --no-index "$wheel"
bin="$work/user-env/bin/memreport"
test -x "$bin"
"$bin" --version
capture=fixtures/v13-service/capture.bin
"$bin" info "$capture" | grep -q "^format version *13$"
"$bin" top --json "$capture" > "$work/top.json"
"$work/user-env/bin/python" - "$work/top.json" fixtures/v13-service/stats.json <<'PY'
import json, sys
top = json.load(open(sys.argv[1]))
stats = json.load(open(sys.argv[2]))
assert top["total_bytes"] == stats["metadata"]["peak_memory"], (top["total_bytes"], stats["metadata"]["peak_memory"])
print("installed memreport gives memray's peak:", top["total_bytes"])
PY
# The gate's exit status reaches the caller through the installed entry point.
set +e
"$bin" check "$capture" --max-peak 1KB > /dev/null
status=$?
set -e
test "$status" -eq 1
echo "wheel check passed"
