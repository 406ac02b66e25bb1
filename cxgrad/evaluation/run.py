"""Evaluate a finished (or running) run directory: its best checkpoint or an ensemble."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cxgrad.data.registry import get_spec
from cxgrad.errors import ConfigError
from cxgrad.evaluation.accuracy import TEST_TASKS, EvalResult, evaluate
from cxgrad.meta.execution import use_batched_path
from cxgrad.runs.checkpoint import load_checkpoint
from cxgrad.runs.config import TrainConfig
from cxgrad.runs.directory import RunDir
from cxgrad.runs.runtime import RuntimeOptions
from cxgrad.runs.setup import SPLITS, build_learner, load_config_dataset, run_device, samplers


def select_checkpoints(run: RunDir, ensemble: int) -> list[Path]:
    """The ``ensemble`` best validation checkpoints, best first (``last.pt`` if none)."""
    if ensemble < 1:
        raise ConfigError(f"--ensemble must be >= 1, got {ensemble}")
    best = run.read_best()
    if not best:
        if run.last_path.exists():
            return [run.last_path]
        raise ConfigError(
            f"{run.path} has no checkpoints yet; train it first (`cxgrad train --out {run.path}`)"
        )
    if ensemble > len(best):
        raise ConfigError(
            f"--ensemble {ensemble} asks for more checkpoints than {run.path} keeps "
            f"({len(best)} best validation checkpoints); use --ensemble {len(best)} or fewer"
        )
    paths = [run.checkpoints / entry["file"] for entry in best[:ensemble]]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise ConfigError(
            f"checkpoint file(s) listed in {run.best_index_path} are missing: {', '.join(missing)}"
        )
    return paths


def _cross_domain(config: TrainConfig, dataset: str) -> TrainConfig:
    """The run's configuration pointed at another dataset's splits, same image size."""
    target = config.replace(dataset=dataset, split="alphabet", rotations=None)
    source_channels = get_spec(config.dataset).channels
    if target.model_config().in_channels != source_channels:
        raise ConfigError(
            f"the run was trained on {config.dataset} ({source_channels} channel(s)); "
            f"{dataset} has {get_spec(dataset).channels}: cross-domain testing needs images "
            "with the same number of channels"
        )
    return target


def evaluate_run(
    run_dir: str | Path,
    tasks: int = TEST_TASKS,
    ensemble: int = 1,
    split: str = "test",
    dataset: str | None = None,
    runtime: RuntimeOptions | None = None,
    **runtime_changes: Any,
) -> EvalResult:
    """Test a run on ``split`` of its own dataset, or of ``dataset`` (cross-domain, as in
    the paper's Table 2). The checkpoints are always chosen by the run's own validation
    accuracy, so another domain's test data never influences model selection.

    ``runtime`` (or its fields as keywords, ``cxgrad.runs.runtime``) says where to run;
    its ``cuda_graph`` is for training and unused here. ``data_root=None`` uses the
    ``--data-root`` the run was trained with (where another dataset is looked for too), if
    it recorded one. Only ``split`` is sampled (and moved to a GPU); the others are never
    touched."""
    runtime = RuntimeOptions.of(runtime, **runtime_changes)
    run = RunDir(Path(run_dir))
    config = run.read_config()
    target = config if dataset in (None, config.dataset) else _cross_domain(config, dataset)
    if tasks < 1:
        raise ConfigError(f"--tasks must be >= 1, got {tasks}")
    if split not in SPLITS:
        raise ConfigError(f"--split must be one of {', '.join(SPLITS)}, got {split!r}")
    paths = select_checkpoints(run, ensemble)
    models = [load_checkpoint(p, config)["params"] for p in paths]
    torch_device = run_device(runtime.device)
    runtime.apply_threads()
    data_root = runtime.data_root if runtime.data_root is not None else run.read_data_root()
    data = load_config_dataset(target, data_root, runtime.progress)
    sampler = samplers(target, data, torch_device, (split,))[split]
    return evaluate(
        build_learner(config),
        models,
        sampler,
        tasks=tasks,
        device=torch_device,
        progress=runtime.progress,
        batched=use_batched_path(runtime.path, torch_device, config.model_config()),
        description=f"{split} ({len(models)} model{'s' if len(models) > 1 else ''})",
    )
