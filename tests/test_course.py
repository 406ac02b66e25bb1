"""The course's run cache: one run per configuration, device type and data root."""

from __future__ import annotations

import json

import pytest
import torch
from helpers import tiny_run_config

import cxgrad.course
import cxgrad.train
from cxgrad.config import TrainConfig
from cxgrad.course import trained_run


def tiny_config(**changes) -> TrainConfig:
    """MAML for 3 iterations with one inner step: the cache's behaviour, not training's."""
    base = dict(method="maml", iterations=3, inner_steps_train=1, inner_steps_eval=1)
    return tiny_run_config(**dict(base, **changes))


def record_training(monkeypatch) -> list[dict]:
    """Replace the course's ``train`` by a recorder: each call's run folder and options."""
    calls: list[dict] = []
    monkeypatch.setattr(
        cxgrad.course, "train", lambda config, out, **options: calls.append(dict(options, out=out))
    )
    return calls


def test_a_cached_run_is_reused_only_on_the_same_device_type_and_data_root(
    tmp_path, glyphs, monkeypatch
):
    config = tiny_config()
    data = tmp_path / "data"
    cpu_run = trained_run(
        "maml", config, data_root=data, dataset=glyphs, progress=False, root=tmp_path, device="cpu"
    )
    assert (cpu_run / "checkpoints" / "last.pt").exists()

    calls = record_training(monkeypatch)
    again = trained_run(
        "maml", config, data_root=data, dataset=glyphs, progress=False, root=tmp_path, device="cpu"
    )
    assert again == cpu_run and calls == []  # finished: reused, not trained again

    other_data = trained_run(
        "maml",
        config,
        data_root=tmp_path / "elsewhere",
        dataset=glyphs,
        progress=False,
        root=tmp_path,
        device="cpu",
    )
    # On a GPU (resolve_device stubbed: this machine may have none) the CPU run is not
    # resumed: the same configuration gets a run folder of its own.
    monkeypatch.setattr(cxgrad.course, "resolve_device", lambda name: torch.device("cuda"))
    on_gpu = trained_run(
        "maml", config, data_root=data, dataset=glyphs, progress=False, root=tmp_path, device="cuda"
    )
    assert len({cpu_run, other_data, on_gpu}) == 3
    assert [(c["out"], c["resume"], c["device"]) for c in calls] == [
        (other_data, False, "cpu"),
        (on_gpu, False, "cuda"),
    ]


def test_a_run_stopped_during_its_final_validation_is_resumed(tmp_path, glyphs, monkeypatch):
    """The last iteration was trained and saved, but its validation was cut short: the
    cache does not count the run as finished, and resuming adds the final validation."""
    config = tiny_config()
    real_evaluate = cxgrad.train.evaluate
    calls = {"n": 0}

    def interrupted_evaluate(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:  # iteration 3, after the one at iteration 2
            raise KeyboardInterrupt
        return real_evaluate(*args, **kwargs)

    monkeypatch.setattr(cxgrad.train, "evaluate", interrupted_evaluate)
    options = dict(dataset=glyphs, progress=False, root=tmp_path, device="cpu")
    with pytest.raises(KeyboardInterrupt):
        trained_run("maml", config, **options)
    monkeypatch.setattr(cxgrad.train, "evaluate", real_evaluate)
    run = trained_run("maml", config, **options)
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert [r["iteration"] for r in map(json.loads, lines) if "val_accuracy" in r] == [2, 3]
