"""The course's run cache: one run per configuration, device type and data root."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from helpers import tiny_run_config

import cxgrad.book.course
import cxgrad.training.trainer
from cxgrad.book import trained_run
from cxgrad.runs import TrainConfig


@pytest.fixture(autouse=True)
def runs_in_tmp_path(tmp_path, monkeypatch):
    """The cache's runs under the test's own folder (``$CXGRAD_RUNS``)."""
    monkeypatch.setenv("CXGRAD_RUNS", str(tmp_path))


def tiny_config(**changes) -> TrainConfig:
    """MAML for 3 iterations with one inner step: the cache's behaviour, not training's."""
    base = dict(method="maml", iterations=3, inner_steps_train=1, inner_steps_eval=1)
    return tiny_run_config(**dict(base, **changes))


def record_training(monkeypatch) -> list[dict]:
    """Replace the course's ``train`` by a recorder: each call's run folder and options."""
    calls: list[dict] = []
    monkeypatch.setattr(
        cxgrad.book.course,
        "train",
        lambda config, out, **options: calls.append(dict(options, out=out)),
    )
    return calls


def test_a_cached_run_is_reused_only_on_the_same_device_type_and_data_root(
    tmp_path, glyphs, monkeypatch
):
    config = tiny_config()
    data = tmp_path / "data"
    cpu_run = trained_run(
        "maml", config, data_root=data, dataset=glyphs, progress=False, device="cpu"
    )
    assert (cpu_run / "checkpoints" / "last.pt").exists()

    calls = record_training(monkeypatch)
    again = trained_run(
        "maml", config, data_root=data, dataset=glyphs, progress=False, device="cpu"
    )
    assert again == cpu_run and calls == []  # finished: reused, not trained again

    other_data = trained_run(
        "maml",
        config,
        data_root=tmp_path / "elsewhere",
        dataset=glyphs,
        progress=False,
        device="cpu",
    )
    # On a GPU (resolve_device stubbed: this machine may have none) the CPU run is not
    # resumed: the same configuration gets a run folder of its own.
    monkeypatch.setattr(cxgrad.book.course, "resolve_device", lambda name: torch.device("cuda"))
    on_gpu = trained_run(
        "maml", config, data_root=data, dataset=glyphs, progress=False, device="cuda"
    )
    assert len({cpu_run, other_data, on_gpu}) == 3
    assert [(c["out"], c["resume"], c["runtime"].device) for c in calls] == [
        (other_data, False, "cpu"),
        (on_gpu, False, "cuda"),
    ]


def test_a_run_stopped_during_its_final_validation_is_resumed(tmp_path, glyphs, monkeypatch):
    """The last iteration was trained and saved, but its validation was cut short: the
    cache does not count the run as finished, and resuming adds the final validation."""
    config = tiny_config()
    real_evaluate = cxgrad.training.trainer.evaluate
    calls = {"n": 0}

    def interrupted_evaluate(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:  # iteration 3, after the one at iteration 2
            raise KeyboardInterrupt
        return real_evaluate(*args, **kwargs)

    monkeypatch.setattr(cxgrad.training.trainer, "evaluate", interrupted_evaluate)
    options = dict(dataset=glyphs, progress=False, device="cpu")
    with pytest.raises(KeyboardInterrupt):
        trained_run("maml", config, **options)
    monkeypatch.setattr(cxgrad.training.trainer, "evaluate", real_evaluate)
    run = trained_run("maml", config, **options)
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert [r["iteration"] for r in map(json.loads, lines) if "val_accuracy" in r] == [2, 3]


# One process of the test below: it waits for the go file, then asks for the tiny run, with
# the course's ``train`` wrapped to log each call and to take a second longer, so that without
# the lock the other process would find the run unfinished and train it too.
ASK_FOR_THE_RUN = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path

    import cxgrad.book.course
    from cxgrad.data import load_synthetic
    from helpers import tiny_run_config

    root, log, go = map(Path, sys.argv[1:])
    os.environ["CXGRAD_RUNS"] = str(root / "runs")
    real_train = cxgrad.book.course.train

    def logged_train(config, out, **options):
        with open(log, "a") as f:
            f.write(f"train {os.getpid()}\\n")
        time.sleep(1.0)
        return real_train(config, out, **options)

    cxgrad.book.course.train = logged_train
    glyphs = load_synthetic(num_classes=(12, 6, 6), images_per_class=8, image_size=16)
    config = tiny_run_config(method="maml", iterations=3, inner_steps_train=1, inner_steps_eval=1)
    (root / f"ready-{os.getpid()}").touch()
    while not go.exists():
        time.sleep(0.01)
    run = cxgrad.book.course.trained_run(
        "maml", config, data_root=root / "data", dataset=glyphs, progress=False,
        device="cpu",
    )
    print(run)
    """
)


@pytest.mark.integration
@pytest.mark.skipif(sys.platform == "win32", reason="no flock on Windows: nothing is locked")
def test_two_processes_asking_for_the_same_run_train_it_once(tmp_path):
    """Two chapters executed at the same time share a model: the first trains it, the second
    waits for the lock and then loads the finished run."""
    log, go = tmp_path / "train.log", tmp_path / "go"
    tests = Path(__file__).resolve().parent
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tests.parent), str(tests)]))
    command = [sys.executable, "-c", ASK_FOR_THE_RUN, str(tmp_path), str(log), str(go)]
    processes = [
        subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    try:
        deadline = time.monotonic() + 120
        while len(list(tmp_path.glob("ready-*"))) < 2:
            assert all(p.poll() is None for p in processes), [p.communicate() for p in processes]
            assert time.monotonic() < deadline, "the two processes did not start"
            time.sleep(0.05)
        go.touch()
        outputs = [p.communicate(timeout=120) for p in processes]
    finally:
        for p in processes:
            p.kill()
    assert [p.returncode for p in processes] == [0, 0], outputs
    runs = {out.strip() for out, _ in outputs}
    assert len(runs) == 1, outputs
    assert len(log.read_text().splitlines()) == 1  # trained once
    assert (Path(runs.pop()) / "checkpoints" / "last.pt").exists()


@pytest.mark.parametrize("why", ["no fcntl", "no locks on the file system"])
def test_the_cache_works_without_locks(tmp_path, glyphs, monkeypatch, why):
    """Where flock is missing (Windows) or refused (some network and FUSE mounts, Google
    Drive in Colab), the cache trains as it did without the lock."""
    if why == "no fcntl":
        monkeypatch.setattr(cxgrad.book.course, "fcntl", None)
    elif cxgrad.book.course.fcntl is None:
        pytest.skip("no fcntl here")
    else:

        def refuse(handle, operation):
            raise OSError(errno.ENOLCK, "No locks available")

        monkeypatch.setattr(cxgrad.book.course.fcntl, "flock", refuse)
    calls = record_training(monkeypatch)
    run = trained_run("maml", tiny_config(), dataset=glyphs, device="cpu")
    assert [c["out"] for c in calls] == [run]
