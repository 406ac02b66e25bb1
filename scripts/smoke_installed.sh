#!/usr/bin/env bash
# Smoke test of an installed cxgrad: the command answers, and it meta-trains and evaluates on
# the offline synthetic dataset (no data, a few seconds on one CPU thread).
#   bash scripts/smoke_installed.sh VENV
# VENV is a virtual environment with cxgrad installed (not in editable mode: this checks
# what a user gets from the wheel). Used by check_release.sh and test_min_versions.sh.
set -euo pipefail
if [ $# -ne 1 ] || [ ! -x "$1/bin/python" ]; then
  echo "usage: $0 VENV (a virtual environment with cxgrad installed; got '${1-}')" >&2
  exit 2
fi
venv="$(cd "$1" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# Run outside the repository, so that `import cxgrad` can only find the installed package.
cd "$work"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
"$venv/bin/python" -c 'import cxgrad; print("cxgrad", cxgrad.__version__, "from", cxgrad.__file__)'
"$venv/bin/cxgrad" --help >/dev/null
"$venv/bin/cxgrad" train --preset synthetic-demo --iterations 2 --val-every 1 --val-tasks 2 \
  --out "$work/run"
"$venv/bin/cxgrad" evaluate --run "$work/run" --tasks 4 --json >"$work/eval.json"
"$venv/bin/python" - "$work/eval.json" <<'PY'
import json
import sys

result = json.load(open(sys.argv[1]))
if result["tasks"] != 4 or not 0.0 <= result["accuracy"] <= 1.0:
    sys.exit(f"cxgrad evaluate gave an impossible result: {result}")
print(f"smoke evaluation: {result['accuracy']:.2%} on {result['tasks']} synthetic tasks")
PY
# An installed wheel has no results of record: the sweep's table asks for the folder by name
# instead of looking inside site-packages.
if "$venv/bin/cxgrad" sweep table >"$work/table.txt" 2>&1; then
  echo "cxgrad sweep table found results of record inside the installed package" >&2
  exit 1
fi
grep -q -- "--results DIR" "$work/table.txt" || {
  echo "cxgrad sweep table without results did not name --results:" >&2
  cat "$work/table.txt" >&2
  exit 1
}
echo "smoke test passed"
