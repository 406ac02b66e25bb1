#!/usr/bin/env bash
# Create .venv (if missing) with the pinned environment and cxgrad installed in editable mode.
# Sourced by the other scripts; safe to run again (pip skips what is already installed).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-python3}"
if [ ! -x "$repo/.venv/bin/python" ]; then
  "$python" -m venv "$repo/.venv"
fi
"$repo/.venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$repo/requirements.txt"
"$repo/.venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -e "$repo"
