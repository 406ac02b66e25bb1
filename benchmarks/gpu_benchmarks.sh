#!/usr/bin/env bash
# Everything we measure on a GPU, in one go (about five minutes on an H200, plus up to four
# for step 4):
#   1. the CUDA-graph and batched-path tests, on the GPU;
#   2. benchmarks/throughput.py at the paper's shapes, every method and path, with cuDNN's
#      autotuner (cudnn.benchmark) off, then on (cxgrad train turns it on on a GPU);
#   3. a real meta-training run with the defaults a GPU user gets (batched path, CUDA graph,
#      cudnn.benchmark): CxGrad, Omniglot 5-way 1-shot, preset omniglot-5w1s-cpu, then 600
#      test tasks;
#   4. last, as it may not finish in its time limit: torch.compile of the batched path
#      (CxGrad, miniImageNet 5w1s) beside the eager paths; skipped with COMPILE=0.
#
#   bash benchmarks/gpu_benchmarks.sh OUT_DIR [DATA_ROOT]
#
# The book's chapters on a GPU, each timed at both sizes, take longer (hours with
# LARGE_SIZE = True) and have their own script: benchmarks/gpu_chapters.sh.
#
# Runs from a checkout without installing it (PYTHONPATH); needs torch, torchvision, numpy,
# pillow, tqdm and pytest. DATA_ROOT (default $CXGRAD_DATA_ROOT) must hold omniglot/ for
# step 3, which is skipped otherwise. Each step has its own time limit, so one that fails
# or hangs does not take the others' results with it.
set -uo pipefail
out="${1:?usage: gpu_benchmarks.sh OUT_DIR [DATA_ROOT]}"
data="${2:-${CXGRAD_DATA_ROOT:-}}"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
py="${PYTHON:-python3}"
mkdir -p "$out"
cd "$repo"
export PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
log="$out/gpu-benchmarks.txt"

{
  date -u
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv
  "$py" -c "import torch, sys; print('python', sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.version.cuda)"
  echo "== tests on the GPU"
  timeout 180 "$py" -m pytest -q -p no:cacheprovider tests/test_cuda_graph.py tests/test_batched.py
} 2>&1 | tee "$log"

for autotune in off on; do
  echo "== benchmark: every method, shape and path; cudnn.benchmark $autotune" | tee -a "$log"
  flag=""; [ "$autotune" = on ] && flag="--cudnn-benchmark"
  timeout 240 "$py" benchmarks/throughput.py --device cuda --iterations 8 --warmup 2 $flag \
    --json "$out/throughput-gpu-cudnn-$autotune.json" 2>&1 \
    | tee "$out/throughput-gpu-cudnn-$autotune.txt" | tee -a "$log"
done

if [ -n "$data" ] && [ -d "$data/omniglot" ]; then
  echo "== training: CxGrad, preset omniglot-5w1s-cpu, defaults of a GPU" | tee -a "$log"
  run="$(mktemp -d)/omniglot-5w1s-cxgrad"
  started=$(date +%s)
  timeout 300 "$py" -m cxgrad train --preset omniglot-5w1s-cpu --method cxgrad --out "$run" \
    --data-root "$data" --no-progress 2>&1 | tee -a "$log"
  echo "training wall time: $(($(date +%s) - started)) s" | tee -a "$log"
  cp "$run/metrics.jsonl" "$out/train-metrics.jsonl" 2>/dev/null
  timeout 120 "$py" -m cxgrad evaluate --run "$run" --tasks 600 --data-root "$data" --json \
    --no-progress 2>&1 | tee "$out/train-test.json" | tee -a "$log"
  "$py" - "$run/metrics.jsonl" <<'PY' 2>&1 | tee -a "$log"
import json, statistics, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
steps = [r["seconds"] for r in rows if "seconds" in r]
print(f"training steps: {len(steps)}; median {1000 * statistics.median(steps):.1f} ms per "
      f"iteration; first (capture) {steps[0]:.2f} s")
PY
else
  echo "== training skipped: no omniglot/ under DATA_ROOT '$data'" | tee -a "$log"
fi

if [ "${COMPILE:-1}" != 0 ]; then
  echo "== benchmark: torch.compile, CxGrad miniImageNet 5w1s; cudnn.benchmark on" | tee -a "$log"
  timeout 240 "$py" benchmarks/throughput.py --device cuda --iterations 8 --warmup 2 \
    --cudnn-benchmark --methods cxgrad --shapes miniimagenet-5w1s \
    --paths sequential batched+graph batched+compile --json "$out/throughput-gpu-compile.json" \
    2>&1 | tee "$out/throughput-gpu-compile.txt" | tee -a "$log"
fi
