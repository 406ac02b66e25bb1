#!/usr/bin/env bash
# Build the course book from scratch: every chapter executed at its default size.
#   bash scripts/build_book.sh        -> _build/html/index.html
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
# The build asserts every chapter's "What we found" (cxgrad.findings): a sentence its numbers
# no longer support fails the build. A reader's notebook only reports (the default).
export CXGRAD_FINDINGS=assert
# jupyter-cache keys only on notebook code, never on the library: always build clean.
rm -rf _build/html _build/jupyter_execute _build/.doctrees _build/browser-screenshots
mkdir -p _build
start=$(date +%s)
.venv/bin/jupyter-book build . -W -n --keep-going 2>&1 | tee _build/book-build.log
echo "execution time per chapter:"
grep -o "notebooks/[^:]*: Executed notebook in [0-9.]* seconds" _build/book-build.log \
  | sed 's/: Executed notebook in/:/' || true
echo "book built in $(( $(date +%s) - start )) s: open $repo/_build/html/index.html"
