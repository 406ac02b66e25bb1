#!/usr/bin/env bash
# Execute every chapter in a fresh kernel with the small parameters of tests/ci_params/ and
# compare the cells marked "# NBVAL_CHECK_OUTPUT" with their committed outputs (nbval): a
# change in the library's behaviour changes those numbers and fails here.
# The reference notebooks in tests/nbval/ are the Colab notebooks (notebooks/*.ipynb) run by
# papermill with those parameters; tests/test_notebooks.py checks that their code cells are
# the chapters' code cells, so nbval's run is a fresh-kernel run of each Colab notebook on
# the CPU (the Colab bootstrap does nothing outside Colab). After an intended change,
# refresh the references with: .venv/bin/python scripts/refresh_nbval.py
# Only outputs that every CPU reproduces are compared. Cells whose printed numbers come from
# a model trained for a few iterations at CI's tiny sizes and then measured finely (chapter
# 2's test accuracy of its trained run; chapter 10's context gradients, gammas and inner
# steps) differed in their leading digits between two machines of the same CPU family, so
# they are executed, not compared; their chapters' findings are asserted at the default size.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
# One thread, as scripts/refresh_nbval.py uses: at CI's tiny sizes the checked numbers are
# rounding-sensitive, and another thread count sums in another order.
export OMP_NUM_THREADS=1
# the notebooks are generated from the .py chapters; stale ones fail first
.venv/bin/python scripts/make_colab_notebooks.py --check
start=$(date +%s)
.venv/bin/python -m pytest --nbval-lax -p no:cacheprovider tests/nbval -q --durations=0
echo "nbval: $(( $(date +%s) - start )) s"
