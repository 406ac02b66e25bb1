#!/usr/bin/env bash
# Build the course book from scratch: every chapter executed at its default size.
#   bash scripts/build_book.sh                -> _build/html/index.html
#   BOOK_JOBS=1 bash scripts/build_book.sh    (one chapter at a time; the default is 2)
# Data: $CXGRAD_DATA_ROOT (Omniglot is downloaded there when missing). Trained models are
# cached in $CXGRAD_RUNS (default ~/.cache/cxgrad/runs) and shared between chapters.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$repo/scripts/setup.sh"
cd "$repo"
# MathJax 3 into _build/mathjax (npm, once): the book serves it itself, so formulas render
# offline (book/_ext/book_html.py copies it into _static/mathjax).
bash scripts/fetch_mathjax.sh
# One thread: the numbers a chapter prints depend on the order of floating-point sums, and
# so on the thread count; the book's numbers are those of a single-threaded build (as are the
# results of record). Its findings hold with 1 and 2 threads (scripts/check_findings.py).
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
# The build asserts every chapter's "What we found" (cxgrad.book.findings): a sentence its numbers
# no longer support fails the build. A reader's notebook only reports (the default).
export CXGRAD_FINDINGS=assert
# Chapters executed at once, each in a kernel of its own with OMP_NUM_THREADS threads: two
# one-thread kernels keep both cores of a 2-core machine busy. The chapters share trained
# models through $CXGRAD_RUNS, where a lock makes a chapter that needs a model another one is
# training wait for it (cxgrad/book/course.py, trained_run).
jobs="${BOOK_JOBS:-2}"
# jupyter-cache keys only on notebook code, never on the library: always build clean.
rm -rf _build/html _build/jupyter_execute _build/.doctrees _build/.jupyter_cache \
  _build/browser-screenshots
mkdir -p _build
start=$(date +%s)
# 1. Every chapter executed into jupyter-book's cache, longest first, $jobs at a time, as
# myst-nb would execute it (_config.yml's execute section: timeout per cell, no errors
# allowed). A chapter that raises stops the build here, named, with its traceback.
.venv/bin/python scripts/execute_chapters.py --jobs "$jobs" --cache _build/.jupyter_cache \
  --times _build/execution-times.txt 2>&1 | tee _build/execution.log
executed=$(date +%s)
# 2. The HTML, with every warning an error and every reference checked; execute_notebooks:
# cache (_config.yml) takes each chapter's outputs from the cache step 1 filled.
.venv/bin/jupyter-book build . -W -n --keep-going 2>&1 | tee _build/book-build.log
# Had a chapter's code cells not matched its cached outputs, the HTML build would have
# executed it once more, alone: a book built right, at the old speed. Say so and fail.
if grep -q "Executing notebook" _build/book-build.log; then
  echo "error: the HTML build executed these chapters again (no match in the cache that" \
    "scripts/execute_chapters.py filled):" >&2
  grep -o "[^ ]*: Executing notebook" _build/book-build.log | sed 's/: Executing notebook//' >&2
  exit 1
fi
echo "execution time per chapter ($jobs at a time):"
cat _build/execution-times.txt
echo "chapters executed in $(( executed - start )) s, HTML built in $(( $(date +%s) - executed )) s"
echo "book built in $(( $(date +%s) - start )) s: open $repo/_build/html/index.html"
