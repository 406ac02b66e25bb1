"""Where and how a run executes: device, execution path, CUDA graph, data, progress, threads.

These options are declared here once, as ``TrainConfig``'s are in ``config.py``, and the
command line, ``Trainer``, ``evaluate_run``, ``run_record``, the book's model cache and the
sweeps all take a ``RuntimeOptions``. None of them is part of a run's configuration: on a
CPU they change how fast a run goes, not what it computes (the execution path changes float
rounding only, which is why ``path=auto`` keeps the arithmetic of the results of record).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from cxgrad.errors import ConfigError
from cxgrad.meta.execution import CUDA_GRAPH_OPTIONS, EXECUTION_PATHS
from cxgrad.options import check_choices, check_minimums, option, options

DATA_ROOT_HELP = "data folder (default $CXGRAD_DATA_ROOT or ~/.cache)"


@dataclass(frozen=True)
class RuntimeOptions:
    """How to run; every field is also an option of ``cxgrad train``, ``evaluate`` and
    ``sweep run`` (``python -m cxgrad train --help`` lists them with these texts)."""

    device: str = option("auto", "auto (a GPU where there is one), cpu, cuda or cuda:N")
    path: str = option(
        "auto",
        "compute a meta-batch task by task (sequential) or all at once as grouped "
        "convolutions (batched); auto: batched on a GPU, sequential on a CPU (the arithmetic "
        "of the results of record); fastest: on a CPU, batched for images up to 32x32, else "
        "sequential with a channels-last query pass (same maths, other float32 rounding)",
        choices=EXECUTION_PATHS,
    )
    cuda_graph: str = option(
        "auto",
        "capture the training step once as a CUDA graph and replay it (same maths, far "
        "fewer kernel launches); auto: on a GPU",
        choices=CUDA_GRAPH_OPTIONS,
    )
    data_root: str | Path | None = option(None, DATA_ROOT_HELP)
    progress: bool = option(True, "no progress bars", flag="--no-progress")
    threads: int | None = option(None, "torch threads (default: torch's, one per core)", minimum=1)

    def __post_init__(self) -> None:
        check_choices(self, ConfigError)
        check_minimums(self, ConfigError)

    @classmethod
    def of(cls, runtime: RuntimeOptions | None = None, **changes: Any) -> RuntimeOptions:
        """``runtime`` (or the defaults) with ``changes``: how every entry point accepts
        both a ``RuntimeOptions`` and its fields as keywords (``device="cpu"``)."""
        names = {f.name for f in options(cls)}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise TypeError(
                f"unknown runtime option(s) {', '.join(unknown)}; "
                f"the runtime options are {', '.join(sorted(names))}"
            )
        return dataclasses.replace(runtime or cls(), **changes)

    def replace(self, **changes: Any) -> RuntimeOptions:
        return RuntimeOptions.of(self, **changes)

    def apply_threads(self) -> None:
        """Set torch's intra-op threads where ``threads`` is given (process-wide)."""
        if self.threads is not None:
            torch.set_num_threads(self.threads)
