#!/usr/bin/env bash
# Put MathJax 3 (npm package mathjax, pinned below) in _build/mathjax/mathjax/, where the book's
# Sphinx extension book/_ext/book_html.py copies it into the built HTML (_static/mathjax/).
# The book then renders its formulas without internet: MathJax from a CDN leaves every formula
# as raw TeX for a reader offline and in CI. Run by scripts/build_book.sh; safe to run again
# (nothing is fetched when the pinned version is already there). The fetched files are not
# committed (_build/ is ignored).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
version="3.2.2"
target="$repo/_build/mathjax"
if [ "$(cat "$target/VERSION" 2>/dev/null)" = "$version" ] \
  && [ -f "$target/mathjax/tex-mml-chtml.js" ]; then
  exit 0
fi
npm_dir="$(mktemp -d)"
trap 'rm -rf "$npm_dir"' EXIT
npm install --silent --no-save --no-audit --no-fund --prefix "$npm_dir" "mathjax@$version"
es5="$npm_dir/node_modules/mathjax/es5"
rm -rf "$target"
mkdir -p "$target/mathjax"
# The component that Sphinx's default configuration loads (TeX and MathML in, CommonHTML out),
# the fonts it loads, and what it loads on demand: TeX extensions (\boldsymbol, ...), the
# menu, and the accessibility extensions with their speech rules. The other combined
# components and the SVG output are not used (they would add 15 MB to the book).
cp "$es5/tex-mml-chtml.js" "$target/mathjax/"
cp -r "$es5/input" "$es5/ui" "$es5/a11y" "$es5/sre" "$es5/adaptors" "$target/mathjax/"
mkdir -p "$target/mathjax/output"
cp -r "$es5/output/chtml" "$es5/output/chtml.js" "$target/mathjax/output/"
cp "$npm_dir/node_modules/mathjax/LICENSE" "$target/mathjax/"
echo "$version" > "$target/VERSION"
echo "MathJax $version in $target/mathjax ($(du -sh "$target/mathjax" | cut -f1))"
