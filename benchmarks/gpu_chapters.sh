#!/usr/bin/env bash
# Every chapter of the book executed on a GPU with papermill, first all at the default size,
# then, for the chapters with a LARGE_SIZE parameter, all with LARGE_SIZE = True. Each
# chapter's wall time and outcome go to benchmarks/results/<gpu>-chapters.tsv (<gpu> from
# nvidia-smi, e.g. h200) and to OUT_DIR/chapters.tsv; the executed notebooks and their logs
# go to OUT_DIR/<size>/.
#
#   bash benchmarks/gpu_chapters.sh OUT_DIR [DATA_ROOT]
#
# DATA_ROOT (default $CXGRAD_DATA_ROOT) must hold the chapters' data (omniglot/,
# fashionmnist/). Trained runs are cached in OUT_DIR/runs ($CXGRAD_RUNS), so the times
# include training, and chapters 7 and 8 reuse chapter 6's runs as they do in the book.
# Environment:
#   PYTHON           interpreter with cxgrad's requirements, papermill and ipykernel
#                    (default python3); the checkout is used without installing it
#   SIZES            "default large" (the default), or one of the two
#   CHAPTERS         chapter stems to run, e.g. "03_gradient_norms 09_ablations_landscape"
#                    (default: every notebooks/[0-9]*.ipynb)
#   FINDINGS         passed to the chapters that declare it; default "report", as the
#                    asserted findings were written for single-threaded CPU runs
#   CHAPTER_TIMEOUT  seconds for one chapter at one size (default 3600)
#   DRY_RUN=1        print the papermill commands and exit, without a GPU
# Exits 1 if a chapter failed or ran out of time (the others still run).
set -uo pipefail
out="${1:?usage: gpu_chapters.sh OUT_DIR [DATA_ROOT]}"
data="${2:-${CXGRAD_DATA_ROOT:-}}"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
py="${PYTHON:-python3}"
sizes="${SIZES:-default large}"
findings="${FINDINGS:-report}"
limit="${CHAPTER_TIMEOUT:-3600}"
dry_run="${DRY_RUN:-0}"
cd "$repo"

for size in $sizes; do
  case "$size" in
    default | large) ;;
    *) echo "SIZES: unknown size '$size'; use default, large or both" >&2; exit 2 ;;
  esac
done

if [ -n "${CHAPTERS:-}" ]; then
  read -r -a chapters <<<"$CHAPTERS"
else
  chapters=()
  for notebook in notebooks/[0-9]*.ipynb; do chapters+=("$(basename "$notebook" .ipynb)"); done
fi
for stem in "${chapters[@]}"; do
  if [ ! -f "notebooks/$stem.ipynb" ] || [ ! -f "notebooks/$stem.py" ]; then
    echo "CHAPTERS: no chapter '$stem' (notebooks/$stem.ipynb and .py); see notebooks/" >&2
    exit 2
  fi
done

declares() { grep -q "^$2 = " "notebooks/$1.py"; }  # the parameters cell sets it

command_for() {  # the papermill command line of chapter $1 at size $2
  local args=(-m papermill --no-progress-bar --log-output -k python3
    "notebooks/$1.ipynb" "$out/$2/$1.ipynb" --cwd notebooks)
  declares "$1" FINDINGS && args+=(-p FINDINGS "$findings")
  [ "$2" = large ] && args+=(-p LARGE_SIZE True)
  printf '%s\n' "${args[@]}"
}

if [ "$dry_run" = 1 ]; then
  for size in $sizes; do
    for stem in "${chapters[@]}"; do
      [ "$size" = large ] && ! declares "$stem" LARGE_SIZE && continue
      mapfile -t args < <(command_for "$stem" "$size")
      echo "$size $stem: $py ${args[*]}"
    done
  done
  exit 0
fi

if ! gpu="$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1)" \
  || [ -z "$gpu" ]; then
  echo "gpu_chapters.sh needs an NVIDIA GPU (nvidia-smi found none); DRY_RUN=1 shows the plan" >&2
  exit 2
fi
# "NVIDIA H200" -> h200: the name benchmarks/results/ already uses for this GPU.
slug="$(echo "$gpu" | tr '[:upper:]' '[:lower:]' | sed -e 's/^nvidia //' -e 's/[^a-z0-9]\+/-/g' -e 's/-$//')"
results="benchmarks/results/$slug-chapters.tsv"
mkdir -p "$out" benchmarks/results
out="$(cd "$out" && pwd)"  # papermill runs the kernels in notebooks/
export PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
export CXGRAD_RUNS="$out/runs"
[ -n "$data" ] && export CXGRAD_DATA_ROOT="$data"

{
  echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown), $gpu"
  echo "# $("$py" -c 'import sys, torch; print("python", sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda, "cuda available", torch.cuda.is_available())')"
  echo "# FINDINGS=$findings; seconds include training (runs cached in OUT_DIR/runs, fresh per OUT_DIR)"
  printf 'chapter\tsize\tstatus\tseconds\n'
} >"$out/chapters.tsv"

failed=0
for size in $sizes; do
  mkdir -p "$out/$size"
  for stem in "${chapters[@]}"; do
    [ "$size" = large ] && ! declares "$stem" LARGE_SIZE && continue
    mapfile -t args < <(command_for "$stem" "$size")
    echo "== $stem, $size size"
    started=$(date +%s)
    timeout "$limit" "$py" "${args[@]}" >"$out/$size/$stem.log" 2>&1
    rc=$?
    seconds=$(($(date +%s) - started))
    case $rc in
      0) status=ok ;;
      124) status="timeout after ${limit} s"; failed=1 ;;
      *) status="failed (exit $rc, see $size/$stem.log)"; failed=1 ;;
    esac
    echo "   $status, $seconds s"
    printf '%s\t%s\t%s\t%s\n' "$stem" "$size" "$status" "$seconds" >>"$out/chapters.tsv"
  done
done
cp "$out/chapters.tsv" "$results"
echo "chapter times: $results"
exit $failed
