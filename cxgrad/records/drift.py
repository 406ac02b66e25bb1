"""The drift check: does today's library still train a record's first iterations as it did?"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cxgrad.records.catalogue import record_config

# The drift check: a record's first iterations, retrained, must give the recorded losses up
# to rounding, on any CPU and thread count. Measured by benchmarks/record_drift.py on the
# records' CPU (2026-12-06, AMD EPYC): with 2 threads instead of 1 the first loss (the
# initialization's, before any outer step) moved by at most 3e-7 relative; from the first
# Adam step on, rounding grows like a change of seed (up to 3e-2 by iteration 5, 1e-1 by
# iteration 10). An inner step 1% larger moved the first loss by 2e-3 (maml-lslr) to 1e-2
# (cxgrad), one inner step fewer by 1e-2 to 1e-1. So the first loss is checked tightly and
# the next few only for gross breakage.
DRIFT_ITERATIONS = 5
DRIFT_FIRST_RTOL = 2e-5
DRIFT_LATER_RTOL = 0.15


def retrain_losses(
    name: str,
    seed: int,
    runs: Path,
    iterations: int = DRIFT_ITERATIONS,
    data_root: str | Path | None = None,
    **changes: Any,
) -> list[float]:
    """The training losses of the first ``iterations`` of record run ``name`` with ``seed``,
    retrained on the CPU (``changes`` alter the configuration, to show that they are caught).
    Validation, which does not touch the parameters, runs once on a few tasks."""
    from cxgrad.runs.directory import RunDir
    from cxgrad.training.trainer import train

    config = record_config(name, seed, iterations).replace(
        val_every=iterations, val_tasks=2, **changes
    )
    changed = "".join(f"-{key}={value}" for key, value in sorted(changes.items()))
    out = Path(runs) / f"{name}-seed{seed}-{iterations}{changed}"
    train(config, out, data_root=data_root, device="cpu", progress=False)
    return [r["loss"] for r in RunDir(out).read_metrics() if "loss" in r]


def drift(
    recorded: Sequence[float],
    fresh: Sequence[float],
    first_rtol: float = DRIFT_FIRST_RTOL,
    later_rtol: float = DRIFT_LATER_RTOL,
) -> list[str]:
    """What differs between recorded and retrained losses beyond rounding (empty: nothing).

    The first loss is checked tightly (no outer step has amplified anything yet), the later
    ones loosely."""
    problems = []
    for i, (old, new) in enumerate(zip(recorded, fresh, strict=False)):
        tolerance = first_rtol if i == 0 else later_rtol
        relative = abs(new - old) / max(abs(old), 1e-12)
        if not relative <= tolerance:  # also catches NaN
            problems.append(
                f"iteration {i + 1}: loss {new!r}, recorded {old!r} "
                f"(relative difference {relative:.2e} > {tolerance:.0e})"
            )
    if len(fresh) < len(recorded):
        problems.append(f"only {len(fresh)} of {len(recorded)} iterations were retrained")
    return problems
