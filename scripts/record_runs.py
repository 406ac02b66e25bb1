"""Train the results of record (cxgrad.records) on the CPU and write one JSON per run.

    python scripts/record_runs.py                        # the comparison set, seeds 0-2
    python scripts/record_runs.py --configs maml-alpha0.1 maml-alpha0.4 boil boil-alpha0.1 \\
        boil-alpha0.4                                    # the inner-step sweep
    python scripts/record_runs.py --table                # print the summary of results/

Each run trains with one thread (``--workers`` runs side by side), resumes where it
stopped if interrupted (runs live in ``--runs``), is tested on 600 seeded test tasks, and
writes ``results/omniglot-5w1s/<name>-seed<k>.json``. A run whose JSON exists is skipped
(``--force`` redoes it). Data: ``--data-root`` or ``$CXGRAD_DATA_ROOT``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

from tqdm.auto import tqdm

from cxgrad.records import (
    COMPARISON,
    CONFIGURATIONS,
    RECORD_ITERATIONS,
    RECORD_TEST_TASKS,
    RESULTS_DIR,
    load_records,
    markdown_comparisons,
    markdown_table,
    record_path,
    run_record,
)

REPO = Path(__file__).resolve().parents[1]


def _one(name: str, seed: int, args: dict) -> tuple[str, int, float, str]:
    import torch

    torch.set_num_threads(args.pop("threads"))
    start = time.time()
    path = run_record(name, seed, **args)
    return name, seed, time.time() - start, str(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", nargs="+", default=list(COMPARISON), choices=CONFIGURATIONS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--iterations", type=int, default=RECORD_ITERATIONS)
    parser.add_argument("--test-tasks", type=int, default=RECORD_TEST_TASKS)
    parser.add_argument("--workers", type=int, default=2, help="runs side by side")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run")
    parser.add_argument("--results", type=Path, default=RESULTS_DIR)
    parser.add_argument("--runs", type=Path, default=REPO / "runs" / "records")
    parser.add_argument("--data-root", default=os.environ.get("CXGRAD_DATA_ROOT"))
    parser.add_argument(
        "--cross-domain",
        nargs="*",
        default=[],
        metavar="DATASET",
        help="also test on these datasets' test splits (chapter 7: fashionmnist)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="redo runs whose JSON exists (a trained run is only tested again)",
    )
    parser.add_argument("--table", action="store_true", help="only print the summary table")
    args = parser.parse_args(argv)
    if args.table:
        records = load_records(args.results)
        print(markdown_table(records) + "\n\n" + markdown_comparisons(records))
        return 0
    if min(args.seeds) < 0 or args.workers < 1 or args.threads < 1:
        parser.error("--seeds must be >= 0, --workers and --threads >= 1")
    # Seed-major order: every configuration has seed 0 before any has seed 1.
    jobs = [
        (name, seed)
        for seed in args.seeds
        for name in args.configs
        if args.force or not record_path(name, seed, args.results).exists()
    ]
    print(f"{len(jobs)} run(s) to do; results in {args.results}", file=sys.stderr)
    common = dict(
        runs=args.runs,
        results=args.results,
        iterations=args.iterations,
        test_tasks=args.test_tasks,
        data_root=args.data_root,
        threads=args.threads,
        cross_domain=tuple(args.cross_domain),
    )
    failed = 0
    with ProcessPoolExecutor(args.workers, mp_context=get_context("spawn")) as pool:
        futures = {pool.submit(_one, name, seed, dict(common)): (name, seed) for name, seed in jobs}
        for future in tqdm(as_completed(futures), total=len(futures), desc="record runs"):
            name, seed = futures[future]
            try:
                _, _, seconds, path = future.result()
                tqdm.write(f"{name} seed {seed}: {seconds / 60:.1f} min -> {path}")
            except Exception as err:  # report and go on: the others are independent
                failed += 1
                tqdm.write(f"{name} seed {seed} FAILED: {err!r}")
    print(markdown_table(load_records(args.results)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
