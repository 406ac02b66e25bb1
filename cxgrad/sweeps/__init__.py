"""Sweeps: configurations x seeds trained, tested and recorded through submitit.

On this machine or on a SLURM cluster (``cxgrad sweep run`` / ``cxgrad sweep status``).

- ``plan``: which runs (record configurations, presets, or a sweep file's tables)
- ``executors``: resource checks and the submitit executor for ``local`` or ``slurm``
- ``job``: what each job runs (train or resume, test, write the record)
- ``runner``: submit, follow, report failures with their logs
- ``status``: done / running / queued / failed per configuration
"""

from cxgrad.sweeps.executors import EXECUTORS, Resources
from cxgrad.sweeps.job import RunOptions
from cxgrad.sweeps.plan import SweepRun, plan
from cxgrad.sweeps.runner import Outcome, run_local, submit_slurm, to_do, wait
from cxgrad.sweeps.status import format_status, sweep_status

__all__ = [
    "EXECUTORS",
    "Outcome",
    "Resources",
    "RunOptions",
    "SweepRun",
    "format_status",
    "plan",
    "run_local",
    "submit_slurm",
    "sweep_status",
    "to_do",
    "wait",
]
