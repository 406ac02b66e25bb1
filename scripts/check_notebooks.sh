#!/usr/bin/env bash
# Execute every chapter in a fresh kernel with the small parameters of tests/ci_params/
# (papermill) and compare the cells tagged "check-output" with their references in
# tests/chapter_outputs/ (tests/test_chapter_outputs.py, scripts/chapter_outputs.py): text and
# integers exactly, decimals within the tolerance each cell declares (check_rtol), measured
# across CPU kernels with `python scripts/chapter_outputs.py measure`. A change in the
# library's behaviour moves those numbers by more and fails here; another CPU does not.
# After an intended change: .venv/bin/python scripts/chapter_outputs.py refresh [CHAPTER ...]
#   bash scripts/check_notebooks.sh                            # this CPU's default kernels
#   ATEN_CPU_CAPABILITY=default bash scripts/check_notebooks.sh  # ATen's generic kernels
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
# One thread, as the references were made (the kernels inherit this).
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
# the notebooks are generated from the .py chapters; stale ones fail first
.venv/bin/python scripts/make_colab_notebooks.py --check
start=$(date +%s)
echo "CPU kernels: $(.venv/bin/python -c 'from cxgrad.hardware import kernels; print(kernels())')"
.venv/bin/python -m pytest -m chapter_outputs -p no:cacheprovider tests/test_chapter_outputs.py -q
echo "chapter outputs: $(( $(date +%s) - start )) s"
