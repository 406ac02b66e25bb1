"""One meta-gradient computation captured as a CUDA graph and replayed every iteration.

A second-order meta-step of a Conv4 is thousands of small kernels (every task's inner loop,
its gradients, and the backward through all of it). Launched one by one from Python, the GPU
mostly waits for the host: the time goes into dispatch, not arithmetic. A training meta-batch
has the same shapes at every iteration, so the whole sequence of kernels can be recorded
once (``torch.cuda.graph``) and replayed with a single launch. The maths is untouched: the
replay runs the very kernels the eager step runs, on the same memory.

What is captured: the meta-batch loss and accuracy and ``loss.backward()``, which leaves the
meta-gradients in each parameter's ``.grad``. The optimizer step stays outside, in eager
mode, so any optimizer and checkpoint restore (in-place ``copy_`` into the parameters) work
unchanged. The replay reads its inputs from fixed buffers (``static``): a new meta-batch is
either sampled straight into them (``EpisodeSampler.batch(..., out=graphed.static)``, what
the trainer does, so that only one meta-batch is ever alive) or copied in by ``__call__``.

Rules that follow from the replay reading fixed addresses:

* The parameters must be updated in place (``optimizer.step()``, ``param.copy_``), never
  replaced by new tensors.
* ``.grad`` must not be set to ``None`` (``optimizer.zero_grad(set_to_none=True)``) between
  replays: the graph writes the gradients into the tensors it captured, and ``__call__``
  puts those back if something else replaced them.
* Every meta-batch must have the shapes of the one the graph was captured with.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from cxgrad.data.episodes import TaskBatch
from cxgrad.errors import ConfigError
from cxgrad.meta.execution import CUDA_GRAPH_OPTIONS

Params = dict[str, torch.Tensor]
LossFn = Callable[[Params, TaskBatch], tuple[torch.Tensor, torch.Tensor]]


def use_cuda_graph(option: str, device: torch.device) -> bool:
    """Whether to capture the training step as a CUDA graph.

    ``auto`` captures on a GPU, where ``benchmarks/throughput.py`` measures replay to be
    several times faster than eager launching; graphs do not exist on the CPU.
    """
    if option not in CUDA_GRAPH_OPTIONS:
        raise ConfigError(
            f"--cuda-graph must be one of {', '.join(CUDA_GRAPH_OPTIONS)}, got {option!r}"
        )
    if option == "on" and device.type != "cuda":
        raise ConfigError(
            f"--cuda-graph on needs a CUDA device, but training runs on {device}; "
            "use --cuda-graph auto or off"
        )
    return option == "on" or (option == "auto" and device.type == "cuda")


class GraphedMetaGradient:
    """``loss_fn(params, batch)`` and its backward, captured once and replayed.

    ``example`` fixes the shapes and device of every later batch, and its tensors become the
    graph's input buffers (``static``) without a copy, so that the capture, the step with
    the highest memory, holds one meta-batch rather than two: later calls overwrite them, so
    hand over a batch you do not need afterwards. Construction runs
    ``warmup`` eager passes on a side stream (cuDNN and cuBLAS choose their algorithms and
    allocate workspaces there, which must not happen during capture), then captures one.
    Neither touches the parameters' values; both leave ``.grad`` holding a meta-gradient.
    """

    def __init__(
        self,
        loss_fn: LossFn,
        params: Params,
        example: TaskBatch,
        warmup: int = 3,
    ) -> None:
        if example.x_support.device.type != "cuda":
            raise ConfigError(
                f"CUDA graphs need the batch on a CUDA device, got {example.x_support.device}"
            )
        self.params = params
        # contiguous() is a no-op for a freshly sampled batch; the replay and
        # EpisodeSampler.batch(out=...) need dense buffers.
        self.static = TaskBatch(*(t.contiguous() for t in example.tensors()))

        def forward_backward() -> tuple[torch.Tensor, torch.Tensor]:
            loss, accuracy = loss_fn(params, self.static)
            loss.backward()
            return loss.detach(), accuracy.detach()

        side = torch.cuda.Stream(device=example.x_support.device)
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(warmup):
                self._clear_grads()
                forward_backward()
        torch.cuda.current_stream().wait_stream(side)
        self._clear_grads()  # backward inside the capture allocates .grad from the graph pool
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.loss, self.accuracy = forward_backward()
        self.grads = {name: p.grad for name, p in params.items()}
        self.graph.replay()  # the capture only recorded; leave a real gradient in .grad

    def _clear_grads(self) -> None:
        for p in self.params.values():
            p.grad = None

    def __call__(self, batch: TaskBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """Meta-gradient of ``batch`` into ``.grad``; returns (loss, accuracy) as 0-d
        tensors that the next call overwrites (copy them to keep them). ``batch`` may be
        ``self.static`` itself, already filled with the new tasks."""
        for static, new in zip(self.static.tensors(), batch.tensors(), strict=True):
            if new is static:
                continue
            if new.shape != static.shape:
                raise ConfigError(
                    "a CUDA graph replays fixed shapes: it was captured with a batch of "
                    f"{tuple(static.shape)}, got {tuple(new.shape)}; use --cuda-graph off "
                    "for varying task sizes"
                )
            static.copy_(new, non_blocking=True)
        for name, p in self.params.items():
            if p.grad is not self.grads[name]:
                p.grad = self.grads[name]
        self.graph.replay()
        return self.loss, self.accuracy
