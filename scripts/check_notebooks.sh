#!/usr/bin/env bash
# Execute every chapter with the small parameters of tests/ci_params/ (papermill), then
# re-execute the reference notebooks of tests/nbval/ and compare the cells marked
# "# NBVAL_CHECK_OUTPUT" with their committed outputs (nbval): a change in the library's
# behaviour changes those numbers and fails here. After an intended change, refresh the
# references with: .venv/bin/python scripts/refresh_nbval.py
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
# the notebooks executed here are generated from the .py chapters; stale ones fail first
.venv/bin/python scripts/make_colab_notebooks.py --check
mkdir -p _build/papermill
for notebook in notebooks/[0-9]*.ipynb; do
  stem="$(basename "$notebook" .ipynb)"
  start=$(date +%s)
  .venv/bin/papermill --no-progress-bar -k python3 "$notebook" "_build/papermill/$stem.ipynb" \
    -f "tests/ci_params/$stem.yaml" --cwd notebooks
  echo "papermill $stem: $(( $(date +%s) - start )) s"
done
.venv/bin/python -m pytest --nbval-lax -p no:cacheprovider tests/nbval -q
