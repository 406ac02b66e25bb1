#!/usr/bin/env bash
# Test cxgrad against the oldest releases its pyproject.toml admits: every `name>=X` in
# [project] dependencies is installed as `name==X` into a fresh virtual environment, then the
# core tests (tests/test_meta.py) and a short training run on synthetic data are run there.
#   bash scripts/test_min_versions.sh [VENV_DIR]        (default: a new temporary folder)
#   MIN_VERSIONS="torch==2.2.0 torchvision==0.17.0" bash scripts/test_min_versions.sh
# MIN_VERSIONS overrides single pins, to look for the lowest release that passes.
# Not part of CI: torch's old releases come from PyPI as CUDA builds of several GB (see the
# README's "Supported versions" for when it was last run and what it took).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-python3}"
venv="${1:-$(mktemp -d)/venv}"
if [ -e "$venv" ]; then
  echo "$venv exists: give a new folder for the virtual environment" >&2
  exit 2
fi
start=$(date +%s)
pins="$("$python" - "$repo/pyproject.toml" "${MIN_VERSIONS:-}" <<'PY'
import re
import sys
import tomllib

pyproject, overrides = sys.argv[1], sys.argv[2].split()
pins = {}
for requirement in tomllib.load(open(pyproject, "rb"))["project"]["dependencies"]:
    match = re.fullmatch(r"([A-Za-z0-9_.-]+)\s*>=\s*([0-9][0-9A-Za-z.]*)", requirement)
    if match is None:
        sys.exit(f"{pyproject}: dependency {requirement!r} is not of the form name>=version")
    pins[match[1].lower()] = match[2]
for override in overrides:
    name, _, version = override.partition("==")
    if name.lower() not in pins or not version:
        sys.exit(f"MIN_VERSIONS: {override!r} is not name==version for one of {sorted(pins)}")
    pins[name.lower()] = version
print(" ".join(f"{name}=={version}" for name, version in pins.items()))
PY
)"
echo "minimum versions: $pins"
"$python" -m venv "$venv"
pip=("$venv/bin/python" -m pip install --quiet --disable-pip-version-check --only-binary=:all:)
# shellcheck disable=SC2086  # $pins is a list of requirements
"${pip[@]}" $pins "$(grep '^pytest==' "$repo/requirements.txt")"
"${pip[@]}" --no-deps "$repo"
"$venv/bin/python" -m pip list --disable-pip-version-check 2>/dev/null \
  | grep -iE '^(torch|torchvision|numpy|pillow|tqdm|cxgrad) '
echo "installed in $(( $(date +%s) - start )) s"
# The tests import the installed package: run them from a copy of tests/ outside the repository.
tests="$(mktemp -d)"
trap 'rm -rf "$tests"' EXIT
cp -r "$repo/tests/." "$tests/"
(cd "$tests" && OMP_NUM_THREADS=1 "$venv/bin/python" -m pytest -q -p no:cacheprovider \
  test_meta.py)
bash "$repo/scripts/smoke_installed.sh" "$venv"
echo "minimum versions passed ($pins) in $(( $(date +%s) - start )) s"
