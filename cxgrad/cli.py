"""The ``cxgrad`` command line: train, evaluate, data check, presets, sweep."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import typing
from pathlib import Path

from cxgrad.data.base import SPLITS
from cxgrad.data.prepare import PREPARABLE
from cxgrad.data.registry import DATASETS
from cxgrad.errors import ConfigError, CxGradError
from cxgrad.evaluation.accuracy import TEST_TASKS
from cxgrad.options import choices, flag, options
from cxgrad.runs.config import TrainConfig
from cxgrad.runs.directory import RunDir
from cxgrad.runs.presets import PRESETS, build_config
from cxgrad.runs.runtime import DATA_ROOT_HELP, RuntimeOptions

DATASET_CHOICES = tuple(DATASETS)


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows a default only where there is one to show: the options of a run have none
    on the parser (so that a preset's values survive) and name theirs in the help."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default in (None, False) or action.nargs == 0:  # no default for a flag
            return action.help or ""
        return super()._get_help_string(action)


def _add_options(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    cls: type,
    names: tuple[str, ...] | None = None,
    helps: dict[str, str] | None = None,
    defaults: dict[str, object] | None = None,
) -> None:
    """One command-line option per field of dataclass ``cls`` (``TrainConfig`` or
    ``RuntimeOptions``) made with ``option``, from the field's own metadata; ``names``
    picks fields, ``helps`` and ``defaults`` replace a field's text or default here."""
    hints = typing.get_type_hints(cls)
    picked = [f for f in options(cls) if names is None or f.name in names]
    # --preset first: the other options are read as changes to it
    for field in sorted(picked, key=lambda f: f.name != "preset"):
        text = (helps or {}).get(field.name, field.metadata["help"])
        default = (defaults or {}).get(field.name, field.default)
        kind = hints[field.name]
        if cls is TrainConfig:
            # no default on the parser, so that a preset's values survive: named in the help
            if field.default is not None:
                text += f" (default: {field.default})"
            default = None
        extra: dict = {"dest": field.name, "default": default, "help": text}
        if kind is bool:
            extra["action"] = "store_false" if field.default else "store_true"
        elif kind == bool | None:
            extra["action"] = argparse.BooleanOptionalAction
        else:
            # int | None (a default filled in later) parses as int; a path as a string
            types = [t for t in typing.get_args(kind) or (kind,) if t is not type(None)]
            extra["type"] = types[0]
            extra["choices"] = choices(field)
        parser.add_argument(flag(field), **extra)


def _runtime(args: argparse.Namespace, **changes: object) -> RuntimeOptions:
    """The ``RuntimeOptions`` of the fields this command has as options."""
    given = {f.name: getattr(args, f.name) for f in options(RuntimeOptions) if f.name in args}
    return RuntimeOptions(**dict(given, **changes))


def _train_parser(sub) -> None:
    p = sub.add_parser(
        "train",
        help="meta-train MAML, ANIL, BOIL or CxGrad",
        description="Meta-train a model into a run directory. Options not given come from "
        "--preset (if any), then from the paper's defaults. Interrupt with Ctrl-C and "
        "continue with --resume.",
        formatter_class=_HelpFormatter,
    )
    _add_options(p, TrainConfig)
    p.add_argument("--out", required=True, help="run directory to create or resume")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out with its own options (only --iterations may change)",
    )
    _add_options(
        p.add_argument_group("where and how to run"),
        RuntimeOptions,
        helps={"data_root": DATA_ROOT_HELP + "; recorded in the run for evaluate"},
    )
    p.set_defaults(handler=_cmd_train)


def _train_config(args: argparse.Namespace) -> TrainConfig:
    """The run's configuration: a new one from --preset and the options given, or, with
    --resume, the run's own with the options given on top (checked by the Trainer)."""
    given = {
        f.name: getattr(args, f.name)
        for f in options(TrainConfig)
        if getattr(args, f.name) is not None
    }
    run = RunDir(Path(args.out))
    if not (args.resume and run.has_run()):
        return build_config(given.pop("preset", None), **given)
    if "preset" in given:
        raise ConfigError(
            f"--preset cannot be combined with --resume: the run in {args.out} continues "
            "with its own options (only --iterations may change); drop --preset"
        )
    return run.read_config().replace(**given)


def _quoted(*words: object) -> str:
    return " ".join(shlex.quote(str(w)) for w in words)


def _cmd_train(args: argparse.Namespace) -> int:
    from cxgrad.training import train

    config = _train_config(args)
    runtime = _runtime(args)  # checked before anything is printed or written
    print(
        f"cxgrad: {config.method} {config.ways}-way {config.shots}-shot on {config.dataset}, "
        f"{config.iterations} iterations -> {args.out} (all options: {args.out}/config.json)",
        file=sys.stderr,
    )
    try:
        result = train(config, args.out, resume=args.resume, runtime=runtime)
    except KeyboardInterrupt:
        command = _quoted("cxgrad", "train", "--out", args.out, "--resume")
        print(f"\ninterrupted; continue with: {command}", file=sys.stderr)
        return 130
    best = result.best_val_accuracy
    data_root = () if args.data_root is None else ("--data-root", args.data_root)
    print(
        f"finished {result.iterations} iterations; best validation accuracy "
        f"{'n/a' if best is None else f'{100 * best:.2f}%'}; evaluate with: "
        + _quoted("cxgrad", "evaluate", "--run", args.out, *data_root)
    )
    return 0


def _evaluate_parser(sub) -> None:
    p = sub.add_parser(
        "evaluate",
        help="test a run on seeded test tasks",
        description="Adapt the run's best checkpoint (or an ensemble of the K best) to T test "
        "tasks and report accuracy with two 95%% intervals.",
        formatter_class=_HelpFormatter,
    )
    p.add_argument("--run", required=True, help="run directory made by cxgrad train")
    p.add_argument("--tasks", type=int, default=TEST_TASKS, help="number of test tasks")
    p.add_argument(
        "--ensemble",
        type=int,
        default=1,
        help="average the logits of the K best validation checkpoints (paper: 5)",
    )
    p.add_argument("--split", choices=SPLITS, default="test", help="the run's split to test on")
    p.add_argument(
        "--dataset",
        choices=DATASET_CHOICES,
        help="test on another dataset's split (cross-domain, Table 2); checkpoints "
        "are still chosen by the run's own validation accuracy",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object to stdout")
    _add_options(
        p.add_argument_group("where and how to run"),
        RuntimeOptions,
        names=("device", "path", "data_root", "progress", "threads"),
        helps={
            "data_root": "data folder (default: the one the run was trained with, if it "
            "was given one; else $CXGRAD_DATA_ROOT or ~/.cache)",
            "path": "adapt tasks one by one (sequential) or several at once (batched); "
            "auto: batched on a GPU, sequential on a CPU",
        },
    )
    p.set_defaults(handler=_cmd_evaluate)


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from cxgrad.evaluation.run import evaluate_run

    runtime = _runtime(args, progress=args.progress and not args.json)
    result = evaluate_run(
        args.run, args.tasks, args.ensemble, args.split, dataset=args.dataset, runtime=runtime
    )
    if args.json:
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
    _add_options(check, RuntimeOptions, names=("data_root",))
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
    _add_options(prepare, RuntimeOptions, names=("data_root",))
    prepare.add_argument(
        "--image-size",
        type=int,
        help="side of the cached images (default: the size cxgrad train uses for the "
        "dataset, " + ", ".join(f"{name} {DATASETS[name].image_size}" for name in PREPARABLE) + ")",
    )
    _add_options(prepare, RuntimeOptions, names=("progress",))
    prepare.set_defaults(handler=_cmd_data_prepare)


def _cmd_data_check(args: argparse.Namespace) -> int:
    from cxgrad.data import check_dataset

    report = check_dataset(args.dataset, args.data_root)
    print(report.message)
    return 0 if report.ok else 1


def _cmd_data_prepare(args: argparse.Namespace) -> int:
    from cxgrad.data import prepare_dataset

    size = args.image_size or DATASETS[args.name].image_size
    path = prepare_dataset(
        args.name,
        args.source,
        data_root=args.data_root,
        image_size=size,
        progress=args.progress,
    )
    print(f"prepared {args.name} ({size}x{size}) in {path}")
    return 0


def _presets_parser(sub) -> None:
    p = sub.add_parser("presets", help="list the paper's configurations")
    p.set_defaults(handler=_cmd_presets)


def _cmd_presets(args: argparse.Namespace) -> int:
    for name in sorted(PRESETS):
        values = PRESETS[name]
        print(f"{name:32s} " + " ".join(f"{k}={v}" for k, v in values.items()))
    return 0


SWEEP_FILE_HELP = (
    "TOML or JSON file of configurations: [configurations.NAME] tables with an optional "
    "base (a record configuration or preset), description, and options of cxgrad train by "
    "field name (context_lr = 0.1); an optional top-level seeds = [0, 1, 2]"
)


def _sweep_parser(sub) -> None:
    from cxgrad.records.catalogue import RECORD_TEST_TASKS, RESULTS_DIR

    p = sub.add_parser(
        "sweep",
        help="run configurations x seeds here or on a SLURM cluster",
        description="Train, test and record configurations x seeds through submitit: on "
        "this machine (--executor local) or as a SLURM job array (--executor slurm).",
    )
    sweep_sub = p.add_subparsers(dest="sweep_command", required=True)
    run = sweep_sub.add_parser(
        "run",
        help="run a sweep (runs with a record are skipped)",
        description="Each run is `cxgrad train` (resumed if it was stopped) and a test on "
        "--test-tasks seeded tasks, written as one record JSON to --results. Runs whose "
        "record exists are skipped; a failed run is reported with its log and the rest go "
        "on. Without --configs and --file: the comparison set of record.",
        formatter_class=_HelpFormatter,
    )
    run.add_argument(
        "--configs",
        nargs="+",
        metavar="NAME",
        help="record configurations (cxgrad.records), presets (cxgrad presets) or the "
        "configurations of --file",
    )
    run.add_argument("--file", type=Path, help=SWEEP_FILE_HELP)
    run.add_argument("--seeds", nargs="+", type=int, help="seeds (default: the file's, or 0 1 2)")
    run.add_argument("--iterations", type=int, help="replaces every configuration's (records: 500)")
    run.add_argument("--test-tasks", type=int, default=RECORD_TEST_TASKS)
    run.add_argument("--results", type=Path, default=RESULTS_DIR, help="one record JSON per run")
    run.add_argument(
        "--runs",
        type=Path,
        default=Path("runs") / "records",
        help="run directories, and the sweep's logs and state (sweep/)",
    )
    run.add_argument(
        "--cross-domain",
        nargs="*",
        default=[],
        metavar="DATASET",
        help="also test on these datasets' test splits (chapter 7: fashionmnist)",
    )
    run.add_argument(
        "--force",
        action="store_true",
        help="redo runs whose record exists (a trained run is only tested again)",
    )
    run.add_argument("--executor", choices=("local", "slurm"), default="local")
    _add_options(
        run,
        RuntimeOptions,
        names=("device", "data_root", "threads", "progress"),
        helps={"threads": "torch threads per run", "progress": "no progress bar"},
        defaults={"threads": 1},
    )
    run.add_argument(
        "--workers",
        type=int,
        help="local: runs side by side (default: one per GPU, else one per core)",
    )
    run.add_argument("--gpus", type=int, help="GPUs per run (local default: 1 where there are)")
    slurm = run.add_argument_group("SLURM (--executor slurm)")
    slurm.add_argument("--partition", help="partition to submit to")
    slurm.add_argument("--cpus", type=int, help="CPUs per run (default: --threads)")
    slurm.add_argument("--mem", help="memory per run, e.g. 16G")
    slurm.add_argument(
        "--time",
        default="24:00:00",
        help="time limit per attempt; a run that reaches it is requeued and resumes",
    )
    slurm.add_argument("--array-limit", type=int, default=64, help="runs of the array at once")
    slurm.add_argument(
        "--sbatch-arg",
        action="append",
        default=[],
        metavar="--NAME=VALUE",
        help="any other sbatch option, repeatable (--sbatch-arg=--account=mylab)",
    )
    slurm.add_argument(
        "--no-wait", action="store_true", help="submit and return; follow with cxgrad sweep status"
    )
    run.set_defaults(handler=_cmd_sweep_run)
    status = sweep_sub.add_parser(
        "status",
        help="done / running / queued / failed per configuration",
        description="The state of every run of the sweep in --runs, per configuration, and "
        "the log and last error lines of each failed run.",
    )
    status.add_argument("--runs", type=Path, default=Path("runs") / "records")
    status.set_defaults(handler=_cmd_sweep_status)
    table = sweep_sub.add_parser(
        "table", help="print the summary tables of the records in --results"
    )
    table.add_argument("--results", type=Path, default=RESULTS_DIR)
    table.set_defaults(handler=_cmd_sweep_table)
    plan = sweep_sub.add_parser(
        "plan",
        help="the power calculation that fixes how many seeds the deciding records get",
        description="From the spread of the first ten seeds' paired differences, the seeds "
        "that each deciding comparison's equivalence test (TOST, 1-point margin) needs for "
        "80% power, and the planned size of record.",
    )
    plan.add_argument("--results", type=Path, default=RESULTS_DIR)
    plan.set_defaults(handler=_cmd_sweep_plan)


def _sweeps():  # noqa: ANN202 (the module, imported only when a sweep command runs)
    try:
        from cxgrad import sweeps
    except ModuleNotFoundError as err:
        if err.name != "submitit":
            raise
        raise ConfigError(
            "cxgrad sweep runs its jobs through submitit, which is not installed; "
            "pip install 'cxgrad[sweep]' (or pip install submitit)"
        ) from err
    return sweeps


def _cmd_sweep_run(args: argparse.Namespace) -> int:
    from cxgrad.records.catalogue import COMPARISON, results_folder

    sweeps = _sweeps()
    resources = sweeps.Resources(
        executor=args.executor,
        workers=args.workers,
        threads=args.threads,
        gpus=args.gpus,
        cpus=args.cpus,
        mem=args.mem,
        time=args.time,
        partition=args.partition,
        array_limit=args.array_limit,
        sbatch_args=tuple(args.sbatch_arg),
    )
    sweeps.executors.check(resources)  # before planning: a wrong value fails first
    if args.test_tasks < 1:
        raise ConfigError(f"--test-tasks {args.test_tasks}: test on at least 1 task")
    runs = sweeps.plan(
        args.configs,
        args.seeds,
        file=args.file,
        iterations=args.iterations,
        test_tasks=args.test_tasks,
        default_names=tuple(COMPARISON),
    )
    options = sweeps.RunOptions(
        runs=args.runs.resolve(),
        results=results_folder(args.results).resolve(),
        test_tasks=args.test_tasks,
        runtime=_runtime(args, progress=False),  # a sweep shows one bar of its own
        cross_domain=tuple(args.cross_domain),
    )
    todo = sweeps.to_do(runs, options, args.force)
    print(
        f"cxgrad sweep: {len(todo)} of {len(runs)} run(s) to do ({len(runs) - len(todo)} have "
        f"records in {options.results}); executor {args.executor}; runs in {options.runs}",
        file=sys.stderr,
    )
    progress = args.progress
    if args.executor == "local":
        outcomes = sweeps.run_local(todo, options, resources, progress)
    else:
        jobs = sweeps.submit_slurm(todo, options, resources) if todo else {}
        ids = sorted({j.job_id.split("_")[0] for j in jobs})
        print(f"submitted job array {', '.join(ids) or '(none)'}", file=sys.stderr)
        if args.no_wait:
            print(f"follow with: {_quoted('cxgrad', 'sweep', 'status', '--runs', args.runs)}")
            return 0
        outcomes = sweeps.wait(jobs, progress)
    failed = [o for o in outcomes if not o.ok]
    print(
        f"cxgrad sweep: {len(outcomes) - len(failed)} run(s) done, {len(failed)} failed"
        + "".join(f"\n{o.report()}" for o in failed),
        file=sys.stderr,
    )
    return 1 if failed else 0


def _cmd_sweep_status(args: argparse.Namespace) -> int:
    sweeps = _sweeps()
    print(sweeps.format_status(sweeps.sweep_status(args.runs)))
    return 0


def _cmd_sweep_table(args: argparse.Namespace) -> int:
    from cxgrad.records.catalogue import CONTEXT_JOB_PAIRS, PAIRS, RECORD_ITERATIONS, load_records
    from cxgrad.records.tables import markdown_comparisons, markdown_table, planned_size_note

    records = load_records(args.results)
    print(markdown_table(records) + "\n\n" + markdown_comparisons(records, PAIRS))
    iterations = {r["config"]["iterations"] for seeds in records.values() for r in seeds.values()}
    if iterations == {RECORD_ITERATIONS}:  # the planned size is that of the 500-iteration set
        print("\n" + planned_size_note(records))
    context_jobs = markdown_comparisons(records, CONTEXT_JOB_PAIRS)
    if context_jobs:
        print("\n" + context_jobs)
    return 0


def _cmd_sweep_plan(args: argparse.Namespace) -> int:
    from cxgrad.records.catalogue import load_records
    from cxgrad.records.statistics import sample_size_plan

    print(sample_size_plan(load_records(args.results)))
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
    _sweep_parser(sub)
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
