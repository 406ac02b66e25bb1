"""The CUDA-graph training step: option handling everywhere, and on a GPU, that replaying
the captured step gives what the eager step gives.

The replay tests need a CUDA device and are skipped without one; the benchmark's device
runs (``benchmarks/results/``) execute them on a GPU.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from types import SimpleNamespace

import pytest
import torch
from helpers import assert_float32_parity, final_state, task_batch, tiny_learner
from helpers import tiny_run_config as tiny_config

from cxgrad.data import load_synthetic
from cxgrad.data.episodes import TaskBatch
from cxgrad.errors import ConfigError
from cxgrad.runs.runtime import RuntimeOptions
from cxgrad.training import Trainer, train
from cxgrad.training.cuda_graph import GraphedMetaGradient, use_cuda_graph

METHODS = ["maml", "anil", "boil", "cxgrad"]
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def test_auto_captures_only_on_a_gpu():
    assert use_cuda_graph("auto", torch.device("cpu")) is False
    assert use_cuda_graph("off", torch.device("cpu")) is False
    assert use_cuda_graph("auto", torch.device("cuda")) is True
    assert use_cuda_graph("off", torch.device("cuda")) is False
    assert use_cuda_graph("on", torch.device("cuda")) is True


def test_on_without_a_gpu_is_refused_with_the_fix():
    with pytest.raises(ConfigError, match="needs a CUDA device.*--cuda-graph auto or off"):
        use_cuda_graph("on", torch.device("cpu"))


def test_unknown_option_is_refused():
    with pytest.raises(ConfigError, match="--cuda-graph must be one of auto, on, off, got 'yes'"):
        use_cuda_graph("yes", torch.device("cpu"))


def test_capture_refuses_a_batch_on_the_cpu():
    learner = tiny_learner("maml")
    params = {k: v.requires_grad_() for k, v in learner.init_params(0).items()}
    with pytest.raises(ConfigError, match="need the batch on a CUDA device, got cpu"):
        GraphedMetaGradient(
            lambda p, b: learner.meta_batch_loss(p, b), params, task_batch(torch.float32)
        )


def test_trainer_refuses_graphs_on_the_cpu(tmp_path):
    glyphs = load_synthetic(num_classes=(12, 6, 6), images_per_class=8, image_size=16)
    with pytest.raises(ConfigError, match="needs a CUDA device"):
        Trainer(tiny_config(), tmp_path / "run", dataset=glyphs, device="cpu", cuda_graph="on")


def test_train_passes_the_graph_option_on(tmp_path):
    """``train(cuda_graph=...)`` reaches the trainer: ``on`` is refused on the CPU."""
    glyphs = load_synthetic(num_classes=(12, 6, 6), images_per_class=8, image_size=16)
    with pytest.raises(ConfigError, match="--cuda-graph on needs a CUDA device"):
        train(tiny_config(), tmp_path / "run", dataset=glyphs, device="cpu", cuda_graph="on")


def test_train_documents_every_option_of_the_trainer():
    """``train(config, out, **options)`` passes its options to ``Trainer``, whose keywords
    also take every field of ``RuntimeOptions``; its docstring is where a user learns them,
    so it names every one (``cuda_graph`` was missing once)."""
    parameters = inspect.signature(Trainer.__init__).parameters.values()
    options = [
        p.name
        for p in parameters
        if p.name not in ("self", "config", "out") and p.kind is not p.VAR_KEYWORD
    ] + [f.name for f in dataclasses.fields(RuntimeOptions)]
    documented = re.findall(r"``(\w+)``", train.__doc__)
    missing = [name for name in options if name not in documented]
    assert not missing, f"train's docstring does not name {missing}"


def test_after_capture_tasks_are_sampled_into_the_graph_inputs(tmp_path):
    """Once a graph exists the trainer fills its input buffers instead of making a second
    meta-batch (CPU stand-in for the captured graph: only ``static`` is read)."""
    glyphs = load_synthetic(num_classes=(12, 6, 6), images_per_class=8, image_size=16)
    trainer = Trainer(tiny_config(), tmp_path / "run", dataset=glyphs, device="cpu")
    first = trainer._train_batch()
    trainer.iteration = 5
    expected = trainer._train_batch()
    buffers = TaskBatch(*(torch.zeros_like(t) for t in first.tensors()))
    trainer._graphed = SimpleNamespace(static=buffers)
    assert trainer._train_batch() is buffers
    for written, fresh in zip(buffers.tensors(), expected.tensors(), strict=True):
        assert torch.equal(written, fresh)


# ---------------------------------------------------------------------------- on a GPU
def eager_step(learner, params, batch, batched):
    for p in params.values():
        p.grad = None
    loss, accuracy = learner.meta_batch_loss(params, batch, batched=batched)
    loss.backward()
    return loss.detach(), accuracy, {k: p.grad.clone() for k, p in params.items()}


@needs_cuda
@pytest.mark.parametrize("batched", [False, True], ids=["sequential", "batched"])
@pytest.mark.parametrize("method", METHODS)
def test_replay_matches_the_eager_step_on_new_batches(method, batched):
    """Two different batches after capture: the static inputs really are refilled, and the
    meta-gradients land in the parameters' ``.grad``."""
    learner = tiny_learner(method, inner_lr=0.01)
    params = {k: v.cuda().requires_grad_() for k, v in learner.init_params(0).items()}
    batches = [task_batch(torch.float32, seed=s).to("cuda") for s in range(3)]
    graphed = GraphedMetaGradient(
        lambda p, b: learner.meta_batch_loss(p, b, batched=batched), params, batches[0]
    )
    for batch in batches[1:]:
        loss, accuracy = graphed(batch)
        replayed = {k: p.grad.clone() for k, p in params.items()}
        ref_loss, ref_accuracy, ref_grads = eager_step(learner, params, batch, batched)
        torch.testing.assert_close(loss, ref_loss, rtol=1e-5, atol=1e-6)
        assert float(accuracy) == float(ref_accuracy)
        for name in params:
            torch.testing.assert_close(replayed[name], ref_grads[name], rtol=1e-4, atol=1e-6)


@needs_cuda
@pytest.mark.parametrize("method", METHODS)
def test_batched_path_matches_the_loop_on_the_gpu(method, monkeypatch):
    """The folded forward (grouped convolutions, cuDNN BatchNorm, in-place activation) against
    the task-by-task loop, in float32 on the GPU, second order, tensor by tensor.

    TF32 is off: it rounds convolution inputs to 10 mantissa bits, another precision rather
    than another path, and would hide a wrong small meta-gradient under its own rounding."""
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", False)
    learner = tiny_learner(method, inner_lr=0.01)
    params = {k: v.cuda().requires_grad_() for k, v in learner.init_params(0).items()}
    batch = task_batch(torch.float32).to("cuda")
    seq = eager_step(learner, params, batch, batched=False)
    vec = eager_step(learner, params, batch, batched=True)
    assert_float32_parity(vec, seq)


@needs_cuda
def test_capture_takes_the_example_as_its_input_buffers():
    """No copy of the example batch: the capture holds one meta-batch, not two."""
    learner = tiny_learner("maml")
    params = {k: v.cuda().requires_grad_() for k, v in learner.init_params(0).items()}
    example = task_batch(torch.float32).to("cuda")
    graphed = GraphedMetaGradient(lambda p, b: learner.meta_batch_loss(p, b), params, example)
    for buffer, given in zip(graphed.static.tensors(), example.tensors(), strict=True):
        assert buffer.data_ptr() == given.data_ptr()


@needs_cuda
def test_replay_refuses_another_shape():
    learner = tiny_learner("maml")
    params = {k: v.cuda().requires_grad_() for k, v in learner.init_params(0).items()}
    graphed = GraphedMetaGradient(
        lambda p, b: learner.meta_batch_loss(p, b), params, task_batch(torch.float32).to("cuda")
    )
    with pytest.raises(ConfigError, match="replays fixed shapes"):
        graphed(task_batch(torch.float32, tasks=2).to("cuda"))


@needs_cuda
def test_training_with_and_without_graph_agree(tmp_path):
    """From the second step on, the graphed run samples its tasks into the graph's inputs.

    Deterministic cuDNN algorithms without TF32, so that the two runs differ only by the
    graph: Adam turns a rounding difference in a near-zero gradient into a full step."""
    glyphs = load_synthetic(num_classes=(12, 6, 6), images_per_class=8, image_size=16)
    config = tiny_config()
    flags = torch.backends.cudnn.deterministic, torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.deterministic, torch.backends.cudnn.allow_tf32 = True, False
    try:
        for name, option in (("graph", "on"), ("eager", "off")):
            train(config, tmp_path / name, dataset=glyphs, progress=False, cuda_graph=option)
    finally:
        torch.backends.cudnn.deterministic, torch.backends.cudnn.allow_tf32 = flags
    graph, eager = final_state(tmp_path / "graph"), final_state(tmp_path / "eager")
    for name in eager["params"]:
        torch.testing.assert_close(graph["params"][name], eager["params"][name])


@needs_cuda
def test_resume_with_graph_continues_the_run(tmp_path):
    """Resuming restores the parameters in place, under the graph's fixed addresses."""
    glyphs = load_synthetic(num_classes=(12, 6, 6), images_per_class=8, image_size=16)
    full = tiny_config()
    train(full, tmp_path / "full", dataset=glyphs, progress=False, cuda_graph="on")
    cut = full.replace(iterations=3)
    train(cut, tmp_path / "split", dataset=glyphs, progress=False, cuda_graph="on")
    train(full, tmp_path / "split", resume=True, dataset=glyphs, progress=False, cuda_graph="on")
    a, b = final_state(tmp_path / "full"), final_state(tmp_path / "split")
    for name in a["params"]:
        torch.testing.assert_close(a["params"][name], b["params"][name])


@pytest.mark.parametrize("device", ["cpu", "cuda"])
@pytest.mark.parametrize("flag", [False, True])
def test_training_sets_the_cudnn_autotuner_for_its_run_and_restores_it(
    tmp_path, monkeypatch, device, flag
):
    """During the run the autotuner is on for a GPU run and as it was for a CPU run;
    afterwards (also after Ctrl-C) it is as it was. The trainer is built on the CPU and
    then told its device is a GPU, so that the flag's handling is checked on any machine;
    the training loop is replaced by a probe that reads the flag."""
    glyphs = load_synthetic(num_classes=(12, 6, 6), images_per_class=8, image_size=16)
    trainer = Trainer(tiny_config(), tmp_path / "run", dataset=glyphs, device="cpu")
    trainer.device = torch.device(device)
    seen = []

    def probe(self, interrupt: bool):
        seen.append(torch.backends.cudnn.benchmark)
        if interrupt:
            raise KeyboardInterrupt

    monkeypatch.setattr(torch.backends.cudnn, "benchmark", flag)
    monkeypatch.setattr(Trainer, "_train", lambda self: probe(self, interrupt=False))
    trainer.train()
    assert torch.backends.cudnn.benchmark is flag
    monkeypatch.setattr(Trainer, "_train", lambda self: probe(self, interrupt=True))
    with pytest.raises(KeyboardInterrupt):
        trainer.train()
    assert torch.backends.cudnn.benchmark is flag
    assert seen == [flag or device == "cuda"] * 2
