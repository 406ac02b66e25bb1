"""``cxgrad sweep status``: done / running / queued / failed, per configuration.

Read from files any machine of the sweep can see (records, the runs' state files,
submitit's logs) and, for a SLURM sweep where ``sacct`` answers, from the scheduler: a job
that SLURM ended without its run saying so (killed at its time limit with no requeue left,
cancelled, out of memory) counts as failed.
"""

from __future__ import annotations

import os
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path

import submitit

from cxgrad.errors import ConfigError
from cxgrad.records.catalogue import record_path
from cxgrad.sweeps.job import read_state
from cxgrad.sweeps.runner import read_manifest, tail

STATES = ("done", "running", "queued", "failed")
_SLURM_QUEUED = {"PENDING", "REQUEUED", "CONFIGURING", "SUSPENDED", "PREEMPTED", "RESIZING"}
_SLURM_RUNNING = {"RUNNING", "COMPLETING"}


@dataclass
class RunStatus:
    key: str
    name: str
    seed: int
    state: str  # one of STATES
    detail: str = ""  # why it failed, where it runs
    log: str | None = None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _slurm_state(logs: str, job_id: str) -> str | None:
    if shutil.which("sacct") is None:
        return None
    state = submitit.SlurmJob(folder=Path(logs) / "%j", job_id=job_id).state
    return None if state.upper() == "UNKNOWN" else state.upper().split()[0]


def _run_status(key: str, entry: dict, manifest: dict, runs: Path) -> RunStatus:
    status = RunStatus(key, entry["name"], int(entry["seed"]), "queued", log=entry.get("log"))
    if record_path(entry["name"], status.seed, Path(manifest["results"])).exists():
        status.state = "done"
        return status
    state = read_state(runs / "sweep" / "state" / f"{key}.json")
    if state.get("state") == "failed":
        status.state, status.detail = "failed", (state.get("error") or ["?"])[-1]
        return status
    if manifest.get("executor") == "slurm":
        scheduler = _slurm_state(manifest["logs"], str(entry["job_id"]))
        if scheduler in _SLURM_QUEUED:
            status.state, status.detail = "queued", scheduler.lower()
        elif scheduler in _SLURM_RUNNING:
            status.state, status.detail = "running", f"job {entry['job_id']}"
        elif scheduler is not None:
            status.state = "failed"
            status.detail = f"SLURM says {scheduler} and the run wrote no record"
        elif state.get("state") == "running":
            status.state = "running"
        return status
    if state.get("state") == "running":
        here = state.get("host") == socket.gethostname()
        if here and not _alive(int(state.get("pid", 0))):
            status.state = "failed"
            status.detail = "stopped before it finished (killed?); the same sweep resumes it"
        else:
            status.state, status.detail = "running", f"on {state.get('host')}"
    return status


def sweep_status(runs: str | Path) -> list[RunStatus]:
    """The state of every run a sweep in ``runs`` has submitted."""
    runs = Path(runs)
    manifest = read_manifest(runs)
    if not manifest:
        raise ConfigError(
            f"no sweep in {runs} (no {runs}/sweep/sweep.json); pass the --runs folder "
            "that `cxgrad sweep run` was given"
        )
    return [_run_status(k, e, manifest, runs) for k, e in manifest["runs"].items()]


def format_status(statuses: list[RunStatus]) -> str:
    """One line per configuration with its counts, then one per run that is not done."""
    names = list(dict.fromkeys(s.name for s in statuses))
    width = max(len("configuration"), *(len(n) for n in names))
    lines = [f"{'configuration':{width}s}  " + "  ".join(f"{s:>7s}" for s in STATES)]
    for name in names:
        counts = [sum(s.name == name and s.state == state for s in statuses) for state in STATES]
        lines.append(f"{name:{width}s}  " + "  ".join(f"{c:7d}" for c in counts))
    totals = [sum(s.state == state for s in statuses) for state in STATES]
    lines.append(f"{'all':{width}s}  " + "  ".join(f"{c:7d}" for c in totals))
    for s in statuses:
        if s.state == "failed":
            lines.append(f"\n{s.key}: failed: {s.detail}\n  log: {s.log}")
            lines += [f"    {line}" for line in tail(Path(s.log) if s.log else None)]
        elif s.state == "running" and s.detail:
            lines.append(f"{s.key}: running ({s.detail})")
    return "\n".join(lines)
