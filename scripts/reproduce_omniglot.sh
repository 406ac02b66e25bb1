#!/usr/bin/env bash
# The README's main job: set up, meta-train MAML and CxGrad on Omniglot 5-way 1-shot on the
# CPU (preset omniglot-5w1s-cpu), then test both on 600 seeded tasks, single best checkpoint
# and the paper's top-5 ensemble. Interrupted? Run it again: finished parts are kept and an
# unfinished run resumes exactly where it stopped.
#
#   bash scripts/reproduce_omniglot.sh [RUNS_DIR]      (default: runs/)
#
# Data: $CXGRAD_DATA_ROOT/omniglot (downloaded there if missing; see README "Data").
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$repo/scripts/setup.sh"
runs="${1:-$repo/runs}"
cxgrad="$repo/.venv/bin/cxgrad"
mkdir -p "$runs"
for method in maml cxgrad; do
  out="$runs/omniglot-5w1s-$method"
  if [ -f "$out/config.json" ]; then
    "$cxgrad" train --out "$out" --resume
  else
    "$cxgrad" train --preset omniglot-5w1s-cpu --method "$method" --out "$out"
  fi
  "$cxgrad" evaluate --run "$out" --tasks 600 --json --no-progress | tee "$out/test-best.json"
  "$cxgrad" evaluate --run "$out" --tasks 600 --ensemble 5 --json --no-progress \
    | tee "$out/test-ensemble5.json"
done
"$repo/.venv/bin/python" - "$runs" <<'PY'
import json, sys
from pathlib import Path
print(f"\n{'method':8s} {'checkpoints':12s} {'accuracy':>9s} {'95% CI tasks':>13s} {'95% CI binom.':>14s}")
for method in ("maml", "cxgrad"):
    for kind in ("best", "ensemble5"):
        r = json.loads((Path(sys.argv[1]) / f"omniglot-5w1s-{method}" / f"test-{kind}.json").read_text())
        print(f"{method:8s} {kind:12s} {100*r['accuracy']:8.2f}% {100*r['ci95_tasks']:12.2f}% {100*r['ci95_binomial']:13.2f}%")
PY
