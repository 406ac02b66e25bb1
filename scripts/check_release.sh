#!/usr/bin/env bash
# Check what a release would publish: build the sdist and the wheel, `twine check` them, then
# install the wheel into a fresh virtual environment and smoke-test it there
# (scripts/smoke_installed.sh: `cxgrad --help`, two training iterations and an evaluation on
# synthetic data).
#   bash scripts/check_release.sh            -> dist/cxgrad-<version>.tar.gz and .whl
#   bash scripts/check_release.sh --full     the wheel's dependencies installed too
# By default (CI) the fresh environment sees the pinned dependencies of .venv through a .pth
# file, only the wheel is installed into it, and `pip check` verifies that what the wheel
# declares is satisfied; this skips copying torch (several GB, about 80 s). --full installs
# the wheel with its dependencies, constrained to requirements.txt.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
full=false
case "${1-}" in
  "") ;;
  --full) full=true ;;
  *) echo "usage: $0 [--full] (got '$1')" >&2; exit 2 ;;
esac
cd "$repo"
# .ci/run has just set up .venv (scripts/test.sh); a checkout without it gets it here.
[ -x .venv/bin/twine ] || bash scripts/setup.sh
start=$(date +%s)
stage() { echo "--- $1 ($(( $(date +%s) - start )) s)"; }

stage "build"
rm -rf dist
# No build isolation: setuptools comes from the pinned environment, nothing is downloaded.
.venv/bin/python -m build --no-isolation --outdir dist . >/dev/null
ls dist
version="$(.venv/bin/python -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')"
for artifact in "dist/cxgrad-$version.tar.gz" "dist/cxgrad-$version-py3-none-any.whl"; do
  if [ ! -f "$artifact" ]; then
    echo "expected $artifact (version $version from pyproject.toml) in dist/" >&2
    exit 1
  fi
done
.venv/bin/twine check --strict dist/*

stage "install the wheel into a fresh virtual environment"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"${PYTHON:-python3}" -m venv "$work/venv"
pip=("$work/venv/bin/python" -m pip --disable-pip-version-check)
wheel="dist/cxgrad-$version-py3-none-any.whl"
if $full; then
  "${pip[@]}" install --quiet -c requirements.txt "$wheel"
else
  # .venv's packages go after the fresh environment's own on sys.path, so the installed
  # wheel, not .venv's editable cxgrad, is what `import cxgrad` finds.
  shared="$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  fresh="$("$work/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  echo "$shared" >"$fresh/pinned-environment.pth"
  # Python 3.11's venv seeds an old setuptools that would shadow the pinned one.
  "${pip[@]}" uninstall --quiet --yes setuptools
  "${pip[@]}" install --quiet --no-deps "$wheel"
  "${pip[@]}" check
fi

stage "smoke test of the installed wheel"
bash scripts/smoke_installed.sh "$work/venv"
installed="$("$work/venv/bin/python" -c 'import cxgrad; print(cxgrad.__version__)')"
if [ "$installed" != "$version" ]; then
  echo "the installed wheel says cxgrad.__version__ = $installed, pyproject.toml says $version" >&2
  exit 1
fi
stage "release check passed (cxgrad $version)"
