"""How a meta-batch is computed: task by task or all at once, channels-last or not, in how
many threads. Every path computes the same function; only speed and float rounding differ."""

from __future__ import annotations

import torch

from cxgrad.errors import ConfigError

EXECUTION_PATHS = ("auto", "sequential", "batched", "fastest")
# whether the training step is captured once as a CUDA graph and replayed (training/cuda_graph.py)
CUDA_GRAPH_OPTIONS = ("auto", "on", "off")

# Largest image side at which the batched path beats the task loop on a CPU, for a backbone
# that folds tasks into grouped convolutions (Conv4). Measured by benchmarks/cpu_step.py on
# 2 cores: batched 1.2-1.6x faster at Omniglot's 28x28; at the paper's 84x84 the two are
# level in one thread (both with the channels-last query pass of cxgrad.meta._layout), and
# the task loop with its tasks in one thread per core (cxgrad.meta.task_parallel) is faster.
CPU_BATCHED_MAX_IMAGE_SIDE = 32


def use_batched_path(path: str, device: torch.device, model: object | None = None) -> bool:
    """Whether to compute a meta-batch all at once (batched) or task by task.

    The batched path is ``MetaLearner.meta_batch_loss(batched=True)``: grouped convolutions
    on Conv4, ``vmap`` on other backbones.

    ``auto`` is the batched path on a GPU, where a Python loop over tasks leaves the device
    idle, and the task loop on a CPU: the arithmetic the results of record and the book's
    numbers were made with. ``fastest`` is what ``benchmarks/cpu_step.py`` measured to be
    fastest on a CPU (on a GPU it is ``auto``): the batched path for a ``model`` that folds
    tasks and has small images (at most ``CPU_BATCHED_MAX_IMAGE_SIDE`` pixels a side, where
    a step is dominated by per-operation overhead, which folding the tasks divides), and
    otherwise the task loop; on both the query pass runs channels-last
    (``uses_channels_last_query``).
    Both compute the same function; float32 rounding differs.
    """
    if path not in EXECUTION_PATHS:
        raise ConfigError(f"--path must be one of {', '.join(EXECUTION_PATHS)}, got {path!r}")
    if device.type == "cuda" and path in ("auto", "fastest"):
        return True
    if path == "fastest":
        side = getattr(model, "image_size", None)
        folds = bool(getattr(model, "folds_tasks", False))
        return folds and side is not None and side <= CPU_BATCHED_MAX_IMAGE_SIDE
    return path == "batched"


def uses_channels_last_query(path: str, device: torch.device) -> bool:
    """Whether the query pass runs channels-last (``cxgrad.meta._layout``): with ``fastest``
    on a CPU, where it measured faster; never on the reference paths."""
    return path == "fastest" and device.type == "cpu"


def cpu_task_workers(path: str, device: torch.device, batched: bool) -> int:
    """How many threads compute a meta-batch's tasks side by side
    (``cxgrad.meta.task_parallel``), each on one core: with ``fastest`` on a CPU's task loop,
    one per intra-op thread (``torch.get_num_threads()``), where ``benchmarks/cpu_step.py``
    measured it faster at the paper's 84x84 shape; 0 (the meta-batch in the calling thread)
    otherwise. On the batched path at 28x28 two workers measured no faster than one."""
    if path != "fastest" or device.type != "cpu" or batched:
        return 0
    threads = torch.get_num_threads()
    return threads if threads > 1 else 0
