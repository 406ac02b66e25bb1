#!/usr/bin/env bash
# Set up the environment, then lint and run the whole test suite on the CPU.
# Real-data tests read <root>/omniglot/ with root $CXGRAD_TEST_DATA, else $CXGRAD_DATA_ROOT;
# without it they are skipped (under CI=true they fail). The browser test of the built book
# (pytest -m browser, tests/test_book_browser.py) needs scripts/build_book.sh first: .ci/run
# runs it after the build, and it is left out here, as are the chapters' output checks
# (pytest -m chapter_outputs, scripts/check_notebooks.sh).
# The SLURM tests (marker slurm) need slurm-wlm, munge, slurmdbd, mariadb-server and root;
# without them they are skipped (under CI=true they fail). `-m 'not slurm'` leaves them out.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$repo/scripts/setup.sh"
cd "$repo"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/lint-imports --no-cache  # the direction of imports (pyproject.toml, [tool.importlinter])
.venv/bin/python -m pytest -m "not browser and not chapter_outputs" "$@"
