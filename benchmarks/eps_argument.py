"""Chapter 10's eps argument at the paper's geometry, at full width, on the CPU in float64.

For Conv4-48 and ResNet-12 (64-128-256-512) at 84x84, 5-way 1-shot and 5-shot, at the
initialization and after a few meta-training steps on synthetic glyphs: the support loss's
gradient with respect to the context with BatchNorm's eps (1e-5) and with 1e-30, the share
of it that exists only through eps, and the factors (if any) with a gradient beyond float64
rounding without eps. Then the controls that give the context a job, at the initialization:
BatchNorm eps 1e-3, 1e-2 and 1e-1, and the head gain (--context-gain head).

    python benchmarks/eps_argument.py                  # everything (ResNet-12: minutes)
    python benchmarks/eps_argument.py --geometries conv4-48 --steps 5 --tasks 4

Writes benchmarks/results/eps-argument.json (every number) and prints a table
(benchmarks/results/eps-argument.txt is the table of that run).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from cxgrad.analysis.eps import GEOMETRIES, EpsArgument, eps_argument, glyphs_84
from cxgrad.hardware import cpu_name
from cxgrad.meta import MetaConfig

RESULTS = Path(__file__).resolve().parent / "results" / "eps-argument.json"


def row(result: EpsArgument, label: str, seconds: float) -> dict:
    largest = np.abs(result.grad).max(axis=1, keepdims=True)
    return {
        "label": label,
        "geometry": result.geometry,
        "shots": result.shots,
        "iterations": result.iterations,
        "bn_eps": result.bn_eps,
        "factors": result.factors,
        "holds": result.holds(),
        "failures": result.failures(),
        "grad_nu": result.grad_nu.tolist(),
        "grad_nu_no_eps": result.grad_nu_no_eps.tolist(),
        "eps_share": result.eps_share.tolist(),
        "grad": result.grad.tolist(),
        "grad_no_eps": result.grad_no_eps.tolist(),
        # what is left without eps, against the task's largest factor gradient
        "no_eps_over_largest": (np.abs(result.grad_no_eps) / largest).max(axis=0).tolist(),
        "factor_move": result.factor_move.tolist(),
        "seconds": round(seconds, 1),
    }


def line(r: dict) -> str:
    when = "init" if r["iterations"] == 0 else f"{r['iterations']} steps"
    move = np.asarray(r["factor_move"])
    gain = "head gain" in r["factors"]
    gammas = move[:, :-1] if gain else move
    moves = f"gamma move median {np.median(gammas):.1e}"
    if gain:
        moves += f", head gain move median {np.median(move[:, -1]):.1e}"
    return (
        f"{r['label']:12s} {r['geometry']:22s} {r['shots']}-shot {when:9s} eps {r['bn_eps']:<6g} "
        f"||grad_nu|| median {np.median(r['grad_nu']):.2e} (no eps max "
        f"{max(r['grad_nu_no_eps']):.1e}); share through eps min {min(r['eps_share']):.9f}; "
        f"no-eps/largest max {max(r['no_eps_over_largest']):.1e}; {moves}; "
        f"{'holds' if r['holds'] else 'fails at ' + ', '.join(r['failures'])} [{r['seconds']} s]"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--geometries", nargs="+", default=list(GEOMETRIES))
    parser.add_argument("--shots", nargs="+", type=int, default=[1, 5])
    parser.add_argument("--steps", type=int, default=3, help="meta-training steps")
    parser.add_argument(
        "--train-inner-steps",
        type=int,
        default=1,
        help="inner steps of those meta-training steps (the paper's 5 cost minutes per "
        "ResNet-12 step on a CPU); the measurement is the first context update either way",
    )
    parser.add_argument("--tasks", type=int, default=2, help="test tasks per measurement")
    parser.add_argument("--no-controls", action="store_true", help="skip eps 1e-3..1e-1, head")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    data = glyphs_84()
    train_meta = MetaConfig(method="cxgrad", inner_steps_train=args.train_inner_steps)
    rows = []

    def run(label: str, model, shots: int, steps: int, meta: MetaConfig | None = None) -> None:
        start = time.perf_counter()
        result = eps_argument(
            model, shots, steps, args.tasks, meta=meta, train_meta=train_meta, data=data
        )
        rows.append(row(result, label, time.perf_counter() - start))
        print(line(rows[-1]), flush=True)

    for name in args.geometries:
        for shots in args.shots:
            for steps in (0, args.steps):
                run("paper", GEOMETRIES[name], shots, steps)
    if not args.no_controls:
        for name in args.geometries:
            for bn_eps in (1e-3, 1e-2, 1e-1):
                model = dataclasses.replace(GEOMETRIES[name], bn_eps=bn_eps)
                run(f"eps {bn_eps:g}", model, 1, 0)
            run(
                "head gain",
                GEOMETRIES[name],
                1,
                0,
                MetaConfig(method="cxgrad", context_gain="head"),
            )

    args.out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "data": "synthetic glyphs at 84x84 (10 classes per split, 20 images each), gray "
        "repeated over 3 channels; test tasks seeded 0..tasks-1",
        "meta_training": f"Adam 1e-3, meta-batch 1, 1 query per class, {args.train_inner_steps} "
        "second-order inner step(s), tasks of the measured shot count",
        "cpu": cpu_name(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
    args.out.write_text(json.dumps({"setup": meta, "rows": rows}, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
