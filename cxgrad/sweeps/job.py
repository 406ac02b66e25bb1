"""One run of a sweep as submitit executes it, wherever that is: train (or resume), test,
write the record, and leave a small state file that ``cxgrad sweep status`` reads."""

from __future__ import annotations

import json
import os
import socket
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import submitit

from cxgrad.runs import atomic_write_text
from cxgrad.runs.runtime import RuntimeOptions
from cxgrad.sweeps.plan import SweepRun

ERROR_LINES = 12  # lines of a failed run's traceback kept in its state file


@dataclass(frozen=True)
class RunOptions:
    """What every run of a sweep shares (pickled with each job)."""

    runs: Path  # run directories, one per run, and the sweep's own files
    results: Path  # one record JSON per run
    test_tasks: int
    # one thread per run by default: runs side by side must not oversubscribe cores
    runtime: RuntimeOptions = RuntimeOptions(threads=1, progress=False)
    cross_domain: tuple[str, ...] = ()

    @property
    def state_dir(self) -> Path:
        return Path(self.runs) / "sweep" / "state"


def state_path(options: RunOptions, run: SweepRun) -> Path:
    return options.state_dir / f"{run.key}.json"


def read_state(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def _write_state(path: Path, **state: Any) -> None:
    stamped = dict(state, time=time.strftime("%Y-%m-%d %H:%M:%S"))
    atomic_write_text(path, json.dumps(stamped) + "\n")  # status never reads half a file


def _trained_iterations(run_dir: Path) -> int:
    """The iteration of the run's last checkpoint: where a resumed run continues."""
    last = run_dir / "checkpoints" / "last.pt"
    if not last.exists():
        return 0
    import torch

    return int(torch.load(last, map_location="cpu", weights_only=False)["iteration"])


class RecordJob(submitit.helpers.Checkpointable):
    """The callable submitit pickles into each job.

    Checkpointable: on a preemption or time-limit signal submitit calls ``checkpoint``,
    requeues the job, and the new attempt calls this object again. The run directory is
    the checkpoint (``last.pt`` is written atomically at every validation), so the new
    attempt resumes it exactly as ``cxgrad train --resume`` would; a job requeued from
    outside (``scontrol requeue``, a node failure) gets no signal and resumes the same way.
    """

    def __call__(self, run: SweepRun, options: RunOptions) -> str:
        from cxgrad.records.run import run_record

        options.runtime.apply_threads()
        state = state_path(options, run)
        run_dir = Path(options.runs) / run.key
        previous = read_state(state)
        resumed_from = _trained_iterations(run_dir)
        if resumed_from:
            print(f"resuming {run.key} from iteration {resumed_from}", flush=True)
        where = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "job_id": os.environ.get("SLURM_JOB_ID") or os.environ.get("SUBMITIT_LOCAL_JOB_ID"),
            "attempt": int(previous.get("attempt", 0)) + 1,
            "resumed_from": resumed_from,
        }
        _write_state(state, state="running", **where)
        try:
            path = run_record(
                run.name,
                run.seed,
                runs=options.runs,
                results=options.results,
                test_tasks=options.test_tasks,
                cross_domain=options.cross_domain,
                config=run.config,
                description=run.description,
                command=run.command,
                runtime=options.runtime,
            )
        except Exception as err:
            # The whole traceback is in the job's log; the state keeps its end for status.
            lines = traceback.format_exception(err)
            tail = "".join(lines).rstrip().splitlines()[-ERROR_LINES:]
            _write_state(state, state="failed", error=tail, **where)
            raise
        # KeyboardInterrupt and SystemExit (submitit's requeue) fall through: the state
        # stays "running" and the next attempt, or status, says what happened.
        _write_state(state, state="done", record=str(path), **where)
        return str(path)

    def checkpoint(self, run: SweepRun, options: RunOptions) -> submitit.helpers.DelayedSubmission:
        # Nothing to save here: the run directory already holds the last checkpoint, and
        # saving from inside a signal handler could catch an optimizer step halfway.
        return submitit.helpers.DelayedSubmission(self, run, options)
