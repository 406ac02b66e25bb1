"""Meta-training: Adam over meta-batches of seeded tasks, validation, checkpoints, resume.

Task ``b`` of iteration ``t`` is training task ``t * meta_batch + b``, drawn from the
seeded ``EpisodeSampler``; the parameters are initialized from ``config.seed``. Nothing
else is random, so a run is a pure function of its configuration: stopping it and
resuming from ``last.pt`` (parameters and Adam state) ends, on the CPU, with exactly the
parameters of an uninterrupted run, and with its validations and best checkpoints: a
validation cut short is run again first, and a run extended with more ``iterations``
forgets the final validation it made off the longer run's ``val_every`` schedule.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import torch
from tqdm.auto import tqdm

from cxgrad.data import FewShotDataset
from cxgrad.data.episodes import TaskBatch
from cxgrad.data.registry import get_spec
from cxgrad.errors import TrainingDiverged
from cxgrad.evaluation.accuracy import evaluate
from cxgrad.meta.execution import use_batched_path, uses_channels_last_query
from cxgrad.meta.learner import Params
from cxgrad.meta.step import meta_gradient
from cxgrad.meta.task_parallel import cpu_task_parallel
from cxgrad.runs.checkpoint import load_checkpoint, save_checkpoint
from cxgrad.runs.config import TrainConfig
from cxgrad.runs.directory import RunDir
from cxgrad.runs.runtime import RuntimeOptions
from cxgrad.runs.setup import (
    build_learner,
    check_image_shape,
    load_config_dataset,
    run_device,
    samplers,
)
from cxgrad.training._cpu_memory import configure_cpu
from cxgrad.training.cuda_graph import GraphedMetaGradient, use_cuda_graph

__all__ = ["TrainResult", "Trainer", "train"]


@dataclass
class TrainResult:
    run_dir: Path
    iterations: int
    best_val_accuracy: float | None
    last_val_accuracy: float | None


class Trainer:
    """Runs (or resumes) one meta-training run in a run directory."""

    def __init__(
        self,
        config: TrainConfig,
        out: str | Path,
        resume: bool = False,
        runtime: RuntimeOptions | None = None,
        dataset: FewShotDataset | None = None,
        **runtime_changes: Any,
    ) -> None:
        """``runtime`` (or its fields as keywords: ``device="cpu"``, ``progress=False``)
        says where and how to run (``cxgrad.runs.runtime``); ``dataset`` replaces the one
        the configuration names (the course passes one already loaded)."""
        runtime = RuntimeOptions.of(runtime, **runtime_changes)
        self.run = RunDir(Path(out))
        self.run.check_start(config, resume)
        get_spec(config.dataset).check_trainable()  # test-only sets are refused, unwritten
        self.config = config
        self.runtime = runtime
        self.device = run_device(runtime.device)
        runtime.apply_threads()
        self.batched = use_batched_path(runtime.path, self.device, config.model_config())
        self.channels_last_query = uses_channels_last_query(runtime.path, self.device)
        if self.device.type == "cpu":
            configure_cpu()  # reuse freed tensor memory (_cpu_memory.py); no number changes
        self.use_cuda_graph = use_cuda_graph(runtime.cuda_graph, self.device)
        self._graphed: GraphedMetaGradient | None = None  # captured at the first step
        self.progress = progress = runtime.progress
        data_root = runtime.data_root
        if data_root is None and resume:
            data_root = self.run.read_data_root()  # the data the run started with
        # Load and check the data before writing anything, so a failure leaves no half run.
        self.dataset = dataset or load_config_dataset(config, data_root, progress)
        check_image_shape(self.config, self.dataset)
        self.samplers = samplers(self.config, self.dataset, self.device, ("train", "val"))
        self.run.write_config(config)
        if data_root is not None and dataset is None:
            self.run.write_data_root(data_root)
        self.learner = build_learner(self.config)
        self.learner.channels_last_query = self.channels_last_query
        # The tasks of a meta-batch side by side in threads (CPU, ``fastest``, task loop).
        self.task_parallel = cpu_task_parallel(
            self.learner, runtime.path, self.device, self.batched
        )
        params = self.learner.init_params(self.config.seed)
        self.params: Params = {
            k: v.to(self.device).requires_grad_() for k, v in sorted(params.items())
        }
        self.optimizer = torch.optim.Adam(self.params.values(), lr=self.config.outer_lr)
        self.iteration = 0
        self.best = []
        if resume and self.run.last_path.exists():
            self._restore()
        elif resume:
            self.run.truncate_metrics(0)

    # ------------------------------------------------------------------ state
    def _restore(self) -> None:
        state = load_checkpoint(self.run.last_path, self.config)
        with torch.no_grad():
            for name, value in state["params"].items():
                self.params[name].copy_(value)
        self.optimizer.load_state_dict(state["optimizer"])
        self.iteration = int(state["iteration"])
        self.best = [e for e in self.run.read_best() if e["iteration"] <= self.iteration]
        self.run.truncate_metrics(self.iteration)
        self._forget_off_schedule_validations()

    def _state(self, val_accuracy: float | None) -> dict:
        return {
            "params": {k: v.detach().cpu() for k, v in self.params.items()},
            "optimizer": self.optimizer.state_dict(),
            "iteration": self.iteration,
            "config": self.config.to_dict(),
            "val_accuracy": val_accuracy,
        }

    def save_last(self, val_accuracy: float | None = None) -> None:
        save_checkpoint(self.run.last_path, self._state(val_accuracy))

    # ------------------------------------------------------------------ steps
    def step(self) -> tuple[float, float]:
        """One outer update on meta-batch ``self.iteration``; returns (loss, accuracy)."""
        loss, accuracy = self._meta_gradient(self._train_batch())
        # One host-device synchronization per iteration: loss, accuracy and a finiteness
        # flag per meta-gradient come back together.
        grads = [(name, p.grad) for name, p in self.params.items() if p.grad is not None]
        norms = [torch.linalg.vector_norm(g) for _, g in grads]
        values = torch.stack([loss.detach(), accuracy, *norms]).tolist()
        loss_value, accuracy_value, grad_norms = values[0], values[1], values[2:]
        if not math.isfinite(loss_value):
            self._diverged("loss", loss_value)
        for (name, _), norm in zip(grads, grad_norms, strict=True):
            if not math.isfinite(norm):
                self._diverged(f"meta-gradient of {name}", loss_value)
        self.optimizer.step()
        self.iteration += 1
        return loss_value, accuracy_value

    def _train_batch(self) -> TaskBatch:
        """Meta-batch ``self.iteration``; once a CUDA graph is captured, sampled straight
        into its input buffers, so that no second copy of the batch stays alive."""
        b = self.config.meta_batch
        sampler = self.samplers["train"]
        if self._graphed is not None:
            return sampler.batch(self.iteration * b, b, out=self._graphed.static)
        return sampler.batch(self.iteration * b, b).to(self.device)

    def _meta_loss(self, params: Params, batch: TaskBatch) -> tuple[torch.Tensor, torch.Tensor]:
        return self.learner.meta_batch_loss(params, batch, training=True, batched=self.batched)

    def _meta_gradient(self, batch: TaskBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """Meta-batch loss and accuracy, with the meta-gradient left in each ``.grad``."""
        if self.use_cuda_graph:
            if self._graphed is None:
                self._graphed = GraphedMetaGradient(self._meta_loss, self.params, batch)
            return self._graphed(batch)
        return meta_gradient(self.learner, self.params, batch, self.batched, self.task_parallel)

    def _diverged(self, where: str, loss_value: float) -> NoReturn:
        self.run.append_metrics({"iteration": self.iteration + 1, "event": "diverged"})
        kept = (
            f"the last good checkpoint is {self.run.last_path} (iteration "
            f"{self._last_saved_iteration()})"
            if self.run.last_path.exists()
            else "no checkpoint had been saved yet"
        )
        raise TrainingDiverged(
            f"the {where} became non-finite (value {loss_value}) at iteration "
            f"{self.iteration + 1}; training stopped and {kept}. Lower --outer-lr or "
            f"--inner-lr (now {self.config.outer_lr} and {self.config.inner_lr}), then train "
            "again or resume."
        )

    def _last_saved_iteration(self) -> int:
        return int(load_checkpoint(self.run.last_path)["iteration"])

    def validate(self) -> float:
        result = evaluate(
            self.learner,
            [self.params],
            self.samplers["val"],
            tasks=self.config.val_tasks,
            device=self.device,
            progress=False,
            batched=self.batched,
        )
        return result.accuracy

    def _validation_due(self, iteration: int) -> bool:
        """Validations run every ``val_every`` iterations and after the last one."""
        return iteration % self.config.val_every == 0 or iteration == self.config.iterations

    def _best_entry(self, iteration: int, val_accuracy: float) -> dict:
        return {
            "iteration": iteration,
            "val_accuracy": val_accuracy,
            "file": self.run.best_path(iteration).name,
        }

    @staticmethod
    def _ranked(entries: list[dict]) -> list[dict]:
        """Best validation accuracy first; ties: the earlier iteration stays ahead."""
        return sorted(entries, key=lambda e: (-e["val_accuracy"], e["iteration"]))

    def _update_best(self, val_accuracy: float) -> None:
        """Keep the k best validation checkpoints (ties: the earlier one stays ahead).

        A final validation off the ``val_every`` schedule (``iterations`` not a multiple
        of it) does not delete the checkpoint it pushes out of the k best: if the run is
        later extended, that validation is off the longer run's schedule and is
        forgotten, and the checkpoint it displaced ranks again (see
        ``_forget_off_schedule_validations``).
        """
        entry = self._best_entry(self.iteration, val_accuracy)
        ranked = self._ranked([e for e in self.best if e["iteration"] != self.iteration] + [entry])
        kept, dropped = ranked[: self.config.keep_best], ranked[self.config.keep_best :]
        if entry in kept:
            save_checkpoint(self.run.best_path(self.iteration), self._state(val_accuracy))
        self.run.write_best(kept)
        if self.iteration % self.config.val_every == 0:
            for old in dropped:
                (self.run.checkpoints / old["file"]).unlink(missing_ok=True)
        self.best = kept

    def _validate_and_record(self) -> float:
        """Validate at ``self.iteration``; the metrics record is written last, so a run
        stopped before it validates this iteration again on resume (the best-k update
        for an iteration that is already ranked replaces its entry)."""
        val_accuracy = self.validate()
        self._update_best(val_accuracy)
        self.run.append_metrics({"iteration": self.iteration, "val_accuracy": val_accuracy})
        self.save_last(val_accuracy)
        return val_accuracy

    def _validation_missing(self) -> bool:
        """Whether the run stopped (Ctrl-C) after the step of a due validation but before
        its record: resuming then validates first, as the uninterrupted run did."""
        if self.iteration == 0 or not self._validation_due(self.iteration):
            return False
        return not self.run.validated(self.iteration)

    def _forget_off_schedule_validations(self) -> None:
        """On resume with more ``--iterations``, forget the validation the shorter run made
        after its last iteration, off this run's schedule, and rank the k best as an
        uninterrupted run would have: its validations, best-k and checkpoint files are
        then those of a run trained for the new ``iterations`` in one go."""
        records = self.run.read_metrics()
        validations = [r for r in records if "val_accuracy" in r]
        # Only before the new last iteration: resuming a longer run with fewer --iterations
        # trains nothing and leaves its validations alone.
        stale = {
            r["iteration"]
            for r in validations
            if r["iteration"] < self.config.iterations and not self._validation_due(r["iteration"])
        }
        if not stale:
            return
        self.run.rewrite_metrics(
            [r for r in records if not ("val_accuracy" in r and r["iteration"] in stale)]
        )
        ranked = self._ranked(
            [
                self._best_entry(r["iteration"], r["val_accuracy"])
                for r in validations
                if r["iteration"] not in stale
            ]
        )
        self.best = ranked[: self.config.keep_best]
        self.run.write_best(self.best)
        kept = {e["iteration"] for e in self.best}
        for r in validations:
            if r["iteration"] not in kept:
                self.run.best_path(r["iteration"]).unlink(missing_ok=True)

    # ------------------------------------------------------------------ loop
    def train(self) -> TrainResult:
        # The training shapes never change, so on a GPU let cuDNN time its convolution
        # algorithms once and keep the fastest (the global flag is restored afterwards).
        previous = torch.backends.cudnn.benchmark
        torch.backends.cudnn.benchmark = previous or self.device.type == "cuda"
        try:
            return self._train()
        finally:
            torch.backends.cudnn.benchmark = previous

    def _train(self) -> TrainResult:
        config = self.config
        last_val = None
        bar = tqdm(
            total=config.iterations,
            initial=self.iteration,
            desc=f"{config.method} {config.ways}w{config.shots}s",
            disable=not self.progress,
            dynamic_ncols=True,
        )
        try:
            if self._validation_missing():
                last_val = self._validate_and_record()
            while self.iteration < config.iterations:
                started = time.perf_counter()
                loss, accuracy = self.step()
                record = {
                    "iteration": self.iteration,
                    "loss": loss,
                    "accuracy": accuracy,
                    "seconds": time.perf_counter() - started,
                }
                self.run.append_metrics(record)
                postfix = {"loss": f"{loss:.3f}", "acc": f"{accuracy:.3f}"}
                if self._validation_due(self.iteration):
                    last_val = self._validate_and_record()
                if last_val is not None:
                    postfix["val"] = f"{last_val:.3f}"
                bar.set_postfix(postfix, refresh=False)
                bar.update(1)
        except KeyboardInterrupt:
            # Everything up to the last completed step is kept; --resume continues exactly,
            # first validating that step if its due validation was cut short.
            self.save_last()
            bar.close()
            raise
        bar.close()
        if not self.run.last_path.exists():
            self.save_last(last_val)
        best = self.best[0]["val_accuracy"] if self.best else None
        return TrainResult(self.run.path, self.iteration, best, last_val)


def train(config: TrainConfig, out: str | Path, **options: Any) -> TrainResult:
    """Meta-train ``config`` into run directory ``out``; ``options`` are ``Trainer``'s
    (``resume``, ``runtime``, ``dataset``) and the fields of ``RuntimeOptions``
    (``device``, ``path``, ``cuda_graph``, ``data_root``, ``progress``, ``threads``).

    ``path`` chooses how a meta-batch is computed (``sequential``, ``batched``, ``auto`` or
    ``fastest``, see ``cxgrad.meta.execution.use_batched_path``); it changes speed, not the maths,
    but float rounding differs between paths, so resume a run with the path it started with.
    ``cuda_graph`` (``auto``, ``on``, ``off``) chooses whether the step is replayed as a
    CUDA graph (see ``cxgrad.training.cuda_graph.use_cuda_graph``).
    """
    return Trainer(config, out, **options).train()
