"""The ``cxgrad`` command line: train, evaluate, data check, presets."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields
from pathlib import Path

from cxgrad.config import (
    BACKBONES,
    DATASET_CHANNELS,
    POLARITIES,
    PRESETS,
    TrainConfig,
    build_config,
)
from cxgrad.cuda_graph import CUDA_GRAPH_OPTIONS
from cxgrad.data.prepare import PREPARABLE
from cxgrad.device import EXECUTION_PATHS
from cxgrad.errors import CxGradError
from cxgrad.meta.config import CONTEXT_SCHEMES, METHODS

DATASET_CHOICES = tuple(DATASET_CHANNELS)

# (option, TrainConfig field, type, help). Every default is None so that a preset's value
# survives unless the option is given; the effective default is TrainConfig's.
TRAIN_OPTIONS: list[tuple[str, str, type, str]] = [
    ("--ways", "ways", int, "N: classes per task"),
    ("--shots", "shots", int, "K: support images per class"),
    ("--queries", "queries", int, "query images per class"),
    ("--iterations", "iterations", int, "outer-loop iterations (meta-batches)"),
    ("--seed", "seed", int, "seed of the initialization and of the training tasks"),
    (
        "--meta-batch",
        "meta_batch",
        int,
        "tasks per outer update (paper: 4 for 1-shot, 2 for 5-shot)",
    ),
    ("--outer-lr", "outer_lr", float, "eta, Adam's learning rate"),
    ("--inner-lr", "inner_lr", float, "alpha, inner-loop SGD learning rate"),
    ("--inner-steps", "inner_steps_train", int, "inner steps during meta-training"),
    ("--inner-steps-eval", "inner_steps_eval", int, "inner steps at validation and test time"),
    (
        "--context-lr",
        "context_lr",
        float,
        "beta, CxGrad's context learning rate; 0 freezes the context (nu = 0, so every task "
        "gets gamma = g_phi(0), a meta-learned factor per layer)",
    ),
    ("--context-dim", "context_dim", int, "dimension of CxGrad's context parameters nu"),
    ("--context-hidden", "context_hidden", int, "hidden width of g_phi"),
    ("--filters", "filters", int, "Conv4 filters per layer (paper: 48 at 84x84)"),
    ("--image-size", "image_size", int, "images are resized to SIZE x SIZE"),
    ("--val-every", "val_every", int, "validate (and checkpoint) every N iterations"),
    ("--val-tasks", "val_tasks", int, "number of fixed validation tasks"),
    ("--keep-best", "keep_best", int, "keep the K best validation checkpoints"),
    ("--task-seed", "task_seed", int, "seed of the validation and test tasks"),
]


def _train_parser(sub) -> None:
    p = sub.add_parser(
        "train",
        help="meta-train MAML, ANIL, BOIL or CxGrad",
        description="Meta-train a model into a run directory. Options not given come from "
        "--preset (if any), then from the paper's defaults. Interrupt with Ctrl-C and "
        "continue with --resume.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--preset", choices=sorted(PRESETS), help="a configuration from the paper")
    p.add_argument(
        "--method",
        choices=METHODS,
        help="meta-learning method (default cxgrad); igs is a control: IGS with a fixed "
        "gamma = 1 (each conv weight reset to unit norm before every inner step), no context",
    )
    p.add_argument("--dataset", choices=DATASET_CHOICES, help="dataset (default omniglot)")
    p.add_argument(
        "--backbone",
        choices=BACKBONES,
        help="conv4 (default) or resnet12 (appendix B; --filters is its first width)",
    )
    for flag, name, kind, text in TRAIN_OPTIONS:
        p.add_argument(flag, dest=name, type=kind, help=text)
    p.add_argument(
        "--first-order",
        dest="first_order",
        action="store_true",
        default=None,
        help="first-order meta-gradients (FOMAML); the paper uses second order",
    )
    p.add_argument(
        "--learned-inner-lr",
        dest="learned_inner_lr",
        action="store_true",
        default=None,
        help="meta-learn one inner step size per adapted tensor and inner step, starting at "
        "--inner-lr (MAML++'s LSLR; for maml, anil and boil)",
    )
    p.add_argument(
        "--polarity",
        choices=POLARITIES,
        help="task distribution: normal, or mixed (a seeded half of all tasks have inverted "
        "images; chapter 10's test of whether the context detects the task)",
    )
    p.add_argument(
        "--context-scheme",
        dest="context_scheme",
        choices=CONTEXT_SCHEMES,
        help="CxGrad context updates: task-wise (paper) or step-wise (Table 3)",
    )
    p.add_argument(
        "--activation",
        choices=("leaky_relu", "relu"),
        help="leaky_relu (authors' code) or relu (paper text)",
    )
    p.add_argument(
        "--split",
        choices=("alphabet", "maml"),
        help="Omniglot split: alphabet-disjoint or the MAML 1200/423 protocol",
    )
    p.add_argument(
        "--rotations",
        dest="rotations",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="Omniglot: add 90/180/270-degree rotations as classes",
    )
    p.add_argument("--data-root", help="data folder (default $CXGRAD_DATA_ROOT or ~/.cache)")
    p.add_argument("--out", required=True, help="run directory to create or resume")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument(
        "--path",
        choices=EXECUTION_PATHS,
        default="auto",
        help="compute a meta-batch task by task (sequential) or all at once as grouped "
        "convolutions (batched); auto: batched on a GPU, sequential on a CPU",
    )
    p.add_argument(
        "--cuda-graph",
        choices=CUDA_GRAPH_OPTIONS,
        default="auto",
        help="capture the training step once as a CUDA graph and replay it (same maths, "
        "far fewer kernel launches); auto: on a GPU",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(handler=_cmd_train)


def _cmd_train(args: argparse.Namespace) -> int:
    from cxgrad.run_dir import RunDir
    from cxgrad.train import train

    names = {f.name for f in fields(TrainConfig)}
    given = {k: v for k, v in vars(args).items() if k in names and v is not None}
    run = RunDir(Path(args.out))
    if args.resume and run.has_run():
        # Resuming reuses the run's own options; only the explicitly given ones are checked.
        config = run.read_config().replace(**given)
    else:
        config = build_config(args.preset, **given)
    print(
        f"cxgrad: {config.method} {config.ways}-way {config.shots}-shot on {config.dataset}, "
        f"{config.iterations} iterations -> {args.out} (all options: {args.out}/config.json)",
        file=sys.stderr,
    )
    try:
        result = train(
            config,
            args.out,
            resume=args.resume,
            data_root=args.data_root,
            device=args.device,
            path=args.path,
            cuda_graph=args.cuda_graph,
            progress=not args.no_progress,
        )
    except KeyboardInterrupt:
        print(
            f"\ninterrupted; continue with: cxgrad train --out {args.out} --resume", file=sys.stderr
        )
        return 130
    best = result.best_val_accuracy
    print(
        f"finished {result.iterations} iterations; best validation accuracy "
        f"{'n/a' if best is None else f'{100 * best:.2f}%'}; evaluate with: "
        f"cxgrad evaluate --run {args.out}"
    )
    return 0


def _evaluate_parser(sub) -> None:
    p = sub.add_parser(
        "evaluate",
        help="test a run on seeded test tasks",
        description="Adapt the run's best checkpoint (or an ensemble of the K best) to T test "
        "tasks and report accuracy with two 95%% intervals.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--run", required=True, help="run directory made by cxgrad train")
    p.add_argument("--tasks", type=int, default=600, help="number of test tasks")
    p.add_argument(
        "--ensemble",
        type=int,
        default=1,
        help="average the logits of the K best validation checkpoints (paper: 5)",
    )
    p.add_argument("--split", choices=("test", "val", "train"), default="test")
    p.add_argument(
        "--dataset",
        choices=DATASET_CHOICES,
        help="test on another dataset's split (cross-domain, Table 2); checkpoints "
        "are still chosen by the run's own validation accuracy",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object to stdout")
    p.add_argument("--data-root", help="data folder (default $CXGRAD_DATA_ROOT or ~/.cache)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument(
        "--path",
        choices=EXECUTION_PATHS,
        default="auto",
        help="adapt tasks one by one (sequential) or several at once (batched)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(handler=_cmd_evaluate)


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from cxgrad.evaluate_run import evaluate_run

    result = evaluate_run(
        args.run,
        tasks=args.tasks,
        ensemble=args.ensemble,
        split=args.split,
        data_root=args.data_root,
        device=args.device,
        path=args.path,
        progress=not args.no_progress and not args.json,
        dataset=args.dataset,
    )
    if args.json:
        from cxgrad.run_dir import RunDir

        dataset = args.dataset or RunDir(Path(args.run)).read_config().dataset
        where = {"run": str(args.run), "split": args.split, "dataset": dataset}
        print(json.dumps(dict(result.to_dict(), **where)))
    else:
        print(result)
    return 0


def _data_parser(sub) -> None:
    p = sub.add_parser("data", help="check datasets")
    data_sub = p.add_subparsers(dest="data_command", required=True)
    check = data_sub.add_parser(
        "check",
        help="is the data there and usable?",
        description="Say whether a dataset is present and usable, and how to get it if not.",
    )
    check.add_argument("--dataset", required=True, choices=DATASET_CHOICES)
    check.add_argument("--data-root", help="data folder (default $CXGRAD_DATA_ROOT or ~/.cache)")
    check.set_defaults(handler=_cmd_data_check)
    prepare = data_sub.add_parser(
        "prepare",
        help="convert downloaded files into a fast on-disk cache",
        description="Convert what you downloaded (an archive, a pickle, or a folder in any "
        "format `cxgrad data check` lists) into one uint8 array per split under "
        "<data-root>/NAME/cxgrad-cache-SIZE/; later runs load it in seconds.",
    )
    prepare.add_argument("name", choices=PREPARABLE)
    prepare.add_argument("--source", required=True, help="the downloaded file or folder")
    prepare.add_argument("--data-root", help="data folder (default $CXGRAD_DATA_ROOT or ~/.cache)")
    prepare.add_argument("--image-size", type=int, default=84)
    prepare.add_argument("--no-progress", action="store_true", help="no progress bars")
    prepare.set_defaults(handler=_cmd_data_prepare)


def _cmd_data_check(args: argparse.Namespace) -> int:
    from cxgrad.data import check_dataset

    report = check_dataset(args.dataset, args.data_root)
    print(report.message)
    return 0 if report.ok else 1


def _cmd_data_prepare(args: argparse.Namespace) -> int:
    from cxgrad.data import prepare_dataset

    path = prepare_dataset(
        args.name,
        args.source,
        data_root=args.data_root,
        image_size=args.image_size,
        progress=not args.no_progress,
    )
    print(f"prepared {args.name} ({args.image_size}x{args.image_size}) in {path}")
    return 0


def _presets_parser(sub) -> None:
    p = sub.add_parser("presets", help="list the paper's configurations")
    p.set_defaults(handler=_cmd_presets)


def _cmd_presets(args: argparse.Namespace) -> int:
    for name in sorted(PRESETS):
        values = PRESETS[name]
        print(f"{name:32s} " + " ".join(f"{k}={v}" for k, v in values.items()))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cxgrad",
        description="MAML, ANIL, BOIL and CxGrad (Contextual Gradient Scaling, WACV 2022).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    _train_parser(sub)
    _evaluate_parser(sub)
    _data_parser(sub)
    _presets_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except CxGradError as err:
        print(f"cxgrad: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
