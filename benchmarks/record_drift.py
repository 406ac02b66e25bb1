"""How far retrained record runs drift from their records: rounding against real changes.

Retrains the first iterations of record runs on the CPU with 1 and 2 threads (and, with
``--float64``, in double precision), and with deliberate changes of the configuration, and
prints the relative difference of each iteration's loss from the recorded one. This is the
measurement behind the tolerances of ``cxgrad.records.drift`` (the drift test in
tests/test_records.py): rounding must stay inside them, every change outside.

    python benchmarks/record_drift.py                       # cxgrad and maml-lslr, seed 0
    python benchmarks/record_drift.py --configs maml igs --iterations 20
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from cxgrad.records import (
    DRIFT_FIRST_RTOL,
    DRIFT_ITERATIONS,
    DRIFT_LATER_RTOL,
    RESULTS_DIR,
    load_records,
    record_config,
    retrain_losses,
)


def relative(recorded: list[float], fresh: list[float]) -> list[float]:
    return [abs(b - a) / abs(a) for a, b in zip(recorded, fresh, strict=False)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", nargs="+", default=["cxgrad", "maml-lslr"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--iterations", type=int, default=DRIFT_ITERATIONS)
    parser.add_argument("--data-root", default=None)
    args = parser.parse_args()
    records = load_records(RESULTS_DIR)
    print(f"tolerances: first iteration {DRIFT_FIRST_RTOL:.0e}, later {DRIFT_LATER_RTOL:.0e}")
    print("relative difference of each iteration's loss from the record:")
    print(
        f"{'configuration':14s} {'run':22s} "
        + " ".join(f"{i:>7d}" for i in range(1, args.iterations + 1))
    )
    for name in args.configs:
        recorded = records[name][args.seed]["losses"][: args.iterations]
        base = record_config(name, args.seed)
        variants: list[tuple[str, int, dict]] = [
            ("1 thread", 1, {}),
            ("2 threads", 2, {}),
            ("inner lr x 1.01", 1, {"inner_lr": base.inner_lr * 1.01}),
            ("one inner step fewer", 1, {"inner_steps_train": base.inner_steps_train - 1}),
            ("outer lr x 1.01", 1, {"outer_lr": base.outer_lr * 1.01}),
        ]
        for label, threads, changes in variants:
            previous = torch.get_num_threads()
            torch.set_num_threads(threads)
            try:
                with tempfile.TemporaryDirectory() as runs:
                    fresh = retrain_losses(
                        name, args.seed, Path(runs), args.iterations, args.data_root, **changes
                    )
            finally:
                torch.set_num_threads(previous)
            diffs = relative(recorded, fresh)
            print(f"{name:14s} {label:22s} " + " ".join(f"{d:7.0e}" for d in diffs), flush=True)


if __name__ == "__main__":
    main()
