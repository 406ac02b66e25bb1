"""The two places a sweep runs, both through submitit: this machine, or a SLURM cluster.

Resource values are checked here, before submitit or sbatch sees them, so that a wrong
value is named with its fix instead of surfacing as an sbatch error in a log.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import submitit

from cxgrad.errors import ConfigError

EXECUTORS = ("local", "slurm")
# A local run has no scheduler to stop it; submitit's local default (2 minutes) would.
LOCAL_TIME_LIMIT = "30-00:00:00"
_MEMORY = re.compile(r"^[1-9][0-9]*[KMGT]?$")
_TIME = re.compile(r"^(?:(\d+)-)?(\d+)(?::(\d{1,2}))?(?::(\d{1,2}))?$")


@dataclass(frozen=True)
class Resources:
    """What each run of a sweep asks for (the SLURM names in brackets)."""

    executor: str = "local"
    workers: int | None = None  # local: runs side by side (default: one per GPU, else core)
    threads: int = 1  # torch threads per run
    gpus: int | None = None  # GPUs per run [--gpus-per-node]; local default: 1 if any
    cpus: int | None = None  # CPUs per run [--cpus-per-task]; default: threads
    mem: str | None = None  # memory per run [--mem], e.g. 16G
    time: str = "24:00:00"  # time limit per attempt [--time]; local runs ignore it
    partition: str | None = None  # [--partition]
    array_limit: int = 64  # runs of the array at once [--array=...%N]
    sbatch_args: tuple[str, ...] = field(default_factory=tuple)  # e.g. --account=lab


def minutes(value: str, option: str = "--time") -> int:
    """SLURM's time formats (``MM``, ``HH:MM:SS``, ``D-HH:MM:SS``, ...) in whole minutes."""
    match = _TIME.match(value.strip())
    if not match:
        raise ConfigError(
            f"{option} {value!r} is not a time limit; write minutes (90), HH:MM:SS "
            "(24:00:00) or D-HH:MM:SS (2-00:00:00)"
        )
    days, first, second, third = (int(g) if g else 0 for g in match.groups())
    if match.group(4):  # H:MM:SS
        total = days * 1440 + first * 60 + second + third / 60
    elif match.group(3):  # with days: D-HH:MM, else MM:SS
        total = days * 1440 + first * 60 + second if match.group(1) else first + second / 60
    else:  # minutes, or D-HH
        total = days * 1440 + first * 60 if match.group(1) else first
    if total < 1:
        raise ConfigError(f"{option} {value!r} is under a minute; give a run at least 1 minute")
    return max(1, round(total))


def sbatch_parameters(args: tuple[str, ...]) -> dict[str, str | bool]:
    """``--key=value`` / ``--flag`` sbatch options as submitit's ``additional_parameters``."""
    parameters: dict[str, str | bool] = {}
    for arg in args:
        match = re.match(r"^--([a-z][a-z0-9-]*)(?:=(.+))?$", arg)
        if not match:
            raise ConfigError(
                f"--sbatch-arg {arg!r}: give one long sbatch option per --sbatch-arg, as "
                "--name=value or --flag (for example --sbatch-arg=--account=mylab)"
            )
        parameters[match.group(1).replace("-", "_")] = match.group(2) or True
    return parameters


def gpu_count() -> int:
    import torch

    return torch.cuda.device_count()


def check(resources: Resources) -> None:
    """Refuse values no executor can use, naming the value and the fix."""
    if resources.executor not in EXECUTORS:
        raise ConfigError(f"--executor {resources.executor!r}: choose {' or '.join(EXECUTORS)}")
    for option, value, floor in (
        ("--workers", resources.workers, 1),
        ("--threads", resources.threads, 1),
        ("--gpus", resources.gpus, 0),
        ("--cpus", resources.cpus, 1),
        ("--array-limit", resources.array_limit, 1),
    ):
        if value is not None and value < floor:
            raise ConfigError(f"{option} {value}: must be an integer >= {floor}")
    if resources.mem is not None and not _MEMORY.match(resources.mem):
        raise ConfigError(
            f"--mem {resources.mem!r} is not an amount of memory; write a number with an "
            "optional unit K, M, G or T (16G, 8000M)"
        )
    minutes(resources.time)
    sbatch_parameters(resources.sbatch_args)
    if resources.executor == "local":
        gpus = gpu_count()
        if resources.gpus and resources.gpus > max(gpus, 0):
            raise ConfigError(
                f"--gpus {resources.gpus}: this machine has {gpus} GPU(s); ask for at most "
                f"{gpus}, or run on a cluster with --executor slurm"
            )
    elif shutil.which("sbatch") is None:
        raise ConfigError(
            "--executor slurm needs SLURM's sbatch, which is not on PATH here "
            f"(PATH={os.environ.get('PATH', '')}); run the sweep on the cluster's login node, "
            "or use --executor local to run it on this machine"
        )


def local_workers(resources: Resources) -> int:
    """Runs side by side on this machine: --workers, else one per GPU, else one per core
    (each run has ``threads`` threads)."""
    if resources.workers is not None:
        return resources.workers
    gpus = gpu_count()
    if gpus:
        return max(1, gpus // max(resources.gpus or 1, 1))
    return max(1, (os.cpu_count() or 1) // resources.threads)


def make_executor(resources: Resources, folder: Path) -> submitit.Executor:
    """A submitit executor whose logs go to ``folder/<job id>/``."""
    check(resources)
    logs = Path(folder) / "%j"
    threads = f"export OMP_NUM_THREADS={resources.threads}"
    if resources.executor == "local":
        executor = submitit.LocalExecutor(folder=logs)
        executor.update_parameters(timeout_min=minutes(LOCAL_TIME_LIMIT), setup=[threads])
        return executor
    executor = submitit.SlurmExecutor(folder=logs)
    executor.update_parameters(
        job_name="cxgrad-sweep",
        time=minutes(resources.time),
        cpus_per_task=resources.cpus or resources.threads,
        array_parallelism=resources.array_limit,
        setup=[threads],
        **({"partition": resources.partition} if resources.partition else {}),
        **({"gpus_per_node": resources.gpus} if resources.gpus else {}),
        **({"mem": resources.mem} if resources.mem else {}),
        **(
            {"additional_parameters": sbatch_parameters(resources.sbatch_args)}
            if resources.sbatch_args
            else {}
        ),
    )
    return executor
