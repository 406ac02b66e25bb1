"""Submit a sweep's runs through submitit, follow them, report each failure with its log.

The sweep's folder (``--runs``) holds one run directory per run and ``sweep/``:
``sweep.json`` (which run is which job, on which executor), ``logs/<job id>/`` (submitit's
pickles and each job's stdout/stderr) and ``state/<run>.json`` (written by the run itself).
"""

from __future__ import annotations

import json
import sys
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import submitit
from tqdm.auto import tqdm

from cxgrad.records.catalogue import record_path
from cxgrad.runs import atomic_write_text
from cxgrad.sweeps.executors import Resources, gpu_count, local_workers, make_executor
from cxgrad.sweeps.job import RecordJob, RunOptions
from cxgrad.sweeps.plan import SweepRun

LOG_LINES = 10  # last lines of a failed run's log in its report
POLL_S = 1.0


def sweep_dir(options: RunOptions) -> Path:
    return Path(options.runs) / "sweep"


def logs_dir(options: RunOptions) -> Path:
    return sweep_dir(options) / "logs"


@dataclass
class Outcome:
    run: SweepRun
    ok: bool
    log: Path | None = None
    error: list[str] | None = None  # the last lines of the run's log

    def report(self) -> str:
        if self.ok:
            return f"{self.run.key}: done"
        lines = [f"{self.run.key}: FAILED; log: {self.log}"]
        lines += [f"    {line}" for line in self.error or []]
        return "\n".join(lines)


def tail(path: Path | None, lines: int = LOG_LINES) -> list[str]:
    if path is None or not path.exists():
        return [f"(no log at {path})"]
    text = path.read_text(errors="replace").rstrip().splitlines()
    return text[-lines:]


def _job_log(job: submitit.Job) -> Path:
    return Path(job.paths.stderr)


def _outcome(job: submitit.Job, run: SweepRun) -> Outcome:
    try:
        job.result()
    except Exception:  # the run's own error (or the scheduler's): its log says which
        return Outcome(run, False, _job_log(job), tail(_job_log(job)))
    return Outcome(run, True, _job_log(job))


# ---------------------------------------------------------------------- the manifest
def manifest_path(options: RunOptions) -> Path:
    return sweep_dir(options) / "sweep.json"


def read_manifest(runs: Path) -> dict[str, Any]:
    path = Path(runs) / "sweep" / "sweep.json"
    if not path.exists():
        return {}
    return json.loads(path.read_text())


def _write_manifest(options: RunOptions, executor: str, jobs: dict[str, dict[str, Any]]) -> None:
    manifest = read_manifest(options.runs)
    manifest.update(executor=executor, results=str(options.results), logs=str(logs_dir(options)))
    manifest.setdefault("runs", {}).update(jobs)
    atomic_write_text(manifest_path(options), json.dumps(manifest, indent=1) + "\n")


def _entry(run: SweepRun, job: submitit.Job) -> dict[str, Any]:
    return {
        "name": run.name,
        "seed": run.seed,
        "job_id": job.job_id,
        "log": str(_job_log(job)),
        "submitted": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


# ---------------------------------------------------------------------- running
def to_do(runs: list[SweepRun], options: RunOptions, force: bool) -> list[SweepRun]:
    """The runs without a record (all of them with ``force``): finished runs are skipped."""
    return [r for r in runs if force or not record_path(r.name, r.seed, options.results).exists()]


def _follow(active: dict[submitit.Job, SweepRun], bar: tqdm, outcomes: list[Outcome]) -> None:
    """Move the finished jobs of ``active`` to ``outcomes``, reporting each as it ends."""
    for job in [j for j in active if j.done()]:
        outcome = _outcome(job, active.pop(job))
        outcomes.append(outcome)
        bar.update(1)
        tqdm.write(outcome.report(), file=sys.stderr)


def run_local(
    runs: list[SweepRun], options: RunOptions, resources: Resources, progress: bool = True
) -> list[Outcome]:
    """At most ``local_workers`` runs at once on this machine, one GPU each where there are
    GPUs. submitit's LocalExecutor starts every job it is given at once, so the runs are
    handed to it one by one as earlier ones finish."""
    executor = make_executor(resources, logs_dir(options))
    workers = local_workers(resources)
    per_run = resources.gpus if resources.gpus is not None else (1 if gpu_count() else 0)
    free_gpus = deque(range(gpu_count()))
    pending = deque(runs)
    active: dict[submitit.Job, SweepRun] = {}
    gpus_of: dict[submitit.Job, list[int]] = {}
    outcomes: list[Outcome] = []
    bar = tqdm(total=len(runs), desc="sweep", unit="run", disable=not progress, file=sys.stderr)
    try:
        while pending or active:
            while pending and len(active) < workers and len(free_gpus) >= per_run:
                gpus = [free_gpus.popleft() for _ in range(per_run)]
                executor.update_parameters(gpus_per_node=per_run, visible_gpus=gpus)
                run = pending.popleft()
                job = executor.submit(RecordJob(), run, options)
                active[job], gpus_of[job] = run, gpus
                _write_manifest(options, "local", {run.key: _entry(run, job)})
            finished = set(active)
            _follow(active, bar, outcomes)
            for job in finished - set(active):
                free_gpus.extend(gpus_of.pop(job))
            time.sleep(POLL_S if active else 0)
    except KeyboardInterrupt:
        # SIGINT reaches the runs as Ctrl-C: each saves its last step and stops; the same
        # command resumes them.
        for job in active:
            job.cancel()
        raise
    finally:
        bar.close()
    return outcomes


def submit_slurm(
    runs: list[SweepRun], options: RunOptions, resources: Resources
) -> dict[submitit.Job, SweepRun]:
    """Every run as one task of a job array (``--array-limit`` of them at once)."""
    executor = make_executor(resources, logs_dir(options))
    jobs = executor.map_array(RecordJob(), runs, [options] * len(runs))
    _write_manifest(
        options, "slurm", {r.key: _entry(r, j) for r, j in zip(runs, jobs, strict=True)}
    )
    return dict(zip(jobs, runs, strict=True))


def wait(jobs: dict[submitit.Job, SweepRun], progress: bool = True) -> list[Outcome]:
    """Follow submitted jobs to their end (a requeued job is followed through its restarts)."""
    active = dict(jobs)
    outcomes: list[Outcome] = []
    bar = tqdm(total=len(jobs), desc="sweep", unit="run", disable=not progress, file=sys.stderr)
    try:
        while active:
            _follow(active, bar, outcomes)
            if active:
                time.sleep(POLL_S)
    finally:
        bar.close()
    return outcomes
