"""The command line end to end: synthetic data and the real Omniglot."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from helpers import SMALL, run_cli

from cxgrad.cli import build_parser, main


@pytest.mark.integration
@pytest.mark.parametrize("method", ["maml", "cxgrad"])
def test_train_then_evaluate_json_on_synthetic(tmp_path, capsys, method):
    run = tmp_path / "run"
    code, out, _ = run_cli(
        capsys,
        "train",
        "--method",
        method,
        "--dataset",
        "synthetic",
        "--iterations",
        4,
        "--seed",
        3,
        "--out",
        run,
        *SMALL,
    )
    assert code == 0 and "evaluate with: cxgrad evaluate" in out
    code, out, _ = run_cli(
        capsys, "evaluate", "--run", run, "--tasks", 7, "--json", "--ensemble", 2
    )
    assert code == 0
    result = json.loads(out)
    assert {"accuracy", "ci95_tasks", "ci95_binomial", "tasks", "ways", "shots"} <= set(result)
    assert (result["tasks"], result["ways"], result["shots"], result["models"]) == (7, 3, 1, 2)


@pytest.mark.integration
def test_resume_continues_with_the_runs_own_options(tmp_path, capsys):
    run = tmp_path / "run"
    run_cli(capsys, "train", "--dataset", "synthetic", "--iterations", 2, "--out", run, *SMALL)
    code, out, _ = run_cli(
        capsys, "train", "--out", run, "--resume", "--iterations", 4, "--no-progress"
    )
    assert code == 0 and "finished 4 iterations" in out


@pytest.mark.integration
def test_train_and_evaluate_on_real_omniglot(tmp_path, capsys, omniglot_root):
    run = tmp_path / "omniglot"
    code, _, err = run_cli(
        capsys,
        "train",
        "--method",
        "cxgrad",
        "--dataset",
        "omniglot",
        "--data-root",
        omniglot_root,
        "--iterations",
        2,
        "--out",
        run,
        *SMALL,
    )
    assert code == 0, err
    code, out, _ = run_cli(
        capsys, "evaluate", "--run", run, "--tasks", 5, "--json", "--data-root", omniglot_root
    )
    assert code == 0 and json.loads(out)["tasks"] == 5


def test_cross_domain_evaluation(tmp_path, capsys, omniglot_root):
    """Meta-train on synthetic glyphs, test on the real Omniglot (Table 2's protocol)."""
    run = tmp_path / "glyphs"
    code, _, err = run_cli(
        capsys,
        "train",
        "--dataset",
        "synthetic",
        "--image-size",
        28,
        "--iterations",
        2,
        "--out",
        run,
        *SMALL,
    )
    assert code == 0, err
    code, out, _ = run_cli(
        capsys,
        "evaluate",
        "--run",
        run,
        "--dataset",
        "omniglot",
        "--tasks",
        4,
        "--json",
        "--data-root",
        omniglot_root,
    )
    assert code == 0
    result = json.loads(out)
    assert (result["dataset"], result["tasks"], result["ways"]) == ("omniglot", 4, 3)
    code, _, err = run_cli(capsys, "evaluate", "--run", run, "--dataset", "cub")
    assert code == 2 and "same number of channels" in err


def test_data_prepare_and_check_fashion_mnist_like_flow(tmp_path, capsys):
    code, _, err = run_cli(
        capsys, "data", "prepare", "cub", "--source", tmp_path / "nothing", "--data-root", tmp_path
    )
    assert code == 2 and "cxgrad: error:" in err and "Traceback" not in err
    code, out, _ = run_cli(
        capsys, "data", "check", "--dataset", "miniimagenet", "--data-root", tmp_path
    )
    assert code == 1 and "miniimagenet" in out.lower()


def test_data_check(capsys, omniglot_root, tmp_path):
    code, out, _ = run_cli(
        capsys, "data", "check", "--dataset", "omniglot", "--data-root", omniglot_root
    )
    assert code == 0 and "964" in out
    code, out, _ = run_cli(
        capsys, "data", "check", "--dataset", "omniglot", "--data-root", tmp_path
    )
    assert code == 1 and "images_background.zip" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            [
                "train",
                "--preset",
                "miniimagenet-5w1s",
                "--data-root",
                "{tmp}/nothing",
                "--out",
                "{tmp}/r",
            ],
            "miniImageNet not found under",
        ),
        (
            ["train", "--dataset", "synthetic", "--ways", "50", "--out", "{tmp}/r"],
            "50-way tasks need at least 50 classes",
        ),
        (
            [
                "train",
                "--dataset",
                "synthetic",
                "--shots",
                "15",
                "--queries",
                "15",
                "--out",
                "{tmp}/r",
            ],
            "15 shots + 15 queries = 30 images per class",
        ),
        (
            ["train", "--dataset", "omniglot", "--data-root", "{tmp}/nothing", "--out", "{tmp}/r"],
            "images_background.zip",
        ),
        (["evaluate", "--run", "{tmp}/missing"], "not a cxgrad run directory"),
        (
            ["train", "--dataset", "synthetic", "--inner-lr", "-1", "--out", "{tmp}/r"],
            "--inner-lr must be > 0",
        ),
        (
            ["train", "--dataset", "synthetic", "--device", "cpu", "--cuda-graph", "on"]
            + ["--out", "{tmp}/r"],
            "--cuda-graph on needs a CUDA device, but training runs on cpu",
        ),
    ],
)
def test_bad_input_gives_one_clear_line_not_a_traceback(
    tmp_path, capsys, monkeypatch, args, message
):
    # no network here, and none needed: make a download attempt fail at once
    import cxgrad.data.omniglot as omniglot

    def offline(*_a, **_k):
        raise OSError("network unreachable")

    monkeypatch.setattr(omniglot, "download_url", offline, raising=False)
    code, _, err = run_cli(capsys, *[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert code == 2
    error = err[err.index("cxgrad: error:") :]
    assert message in error
    assert "Traceback" not in err


def test_unknown_method_and_preset_are_rejected_by_the_parser(capsys):
    for args in (
        ["train", "--method", "reptile", "--out", "x"],
        ["train", "--preset", "nope", "--out", "x"],
    ):
        with pytest.raises(SystemExit) as exit_info:
            main(args)
        assert exit_info.value.code == 2
        assert "invalid choice" in capsys.readouterr().err


@pytest.mark.integration
def test_console_script_help():
    out = subprocess.run(
        [sys.executable, "-m", "cxgrad", "train", "--help"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    for option in (
        "--preset",
        "--method",
        "--inner-lr",
        "--context-lr",
        "--resume",
        "--first-order",
        "--context-scheme",
    ):
        assert option in out
    # every option of a run shows its real default, none "None"
    assert "(default: None)" not in out
    for default in ("(default: 0.01)", "(default: cxgrad)", "(default: 2000)"):
        assert default in out


def test_every_run_option_has_one_flag():
    from dataclasses import fields

    from cxgrad.options import flag
    from cxgrad.runs import TrainConfig

    parser = build_parser()
    train_parser = parser._subparsers._group_actions[0].choices["train"]
    dests = [a.dest for a in train_parser._actions]
    for field in fields(TrainConfig):
        assert dests.count(field.name) == 1, field.name
        assert flag(field) in train_parser._option_string_actions


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--inner-steps-eval", "10"], "--inner-steps-eval: run has 1, you asked for 10"),
        (["--preset", "synthetic-demo"], "--preset cannot be combined with --resume"),
    ],
)
def test_resume_refuses_options_that_would_change_the_run(tmp_path, capsys, extra, message):
    run = tmp_path / "run"
    run_cli(capsys, "train", "--dataset", "synthetic", "--iterations", 2, "--out", run, *SMALL)
    code, _, err = run_cli(capsys, "train", "--out", run, "--resume", *extra, "--no-progress")
    assert code == 2 and message in err


@pytest.mark.integration
def test_the_data_root_of_a_run_is_the_default_of_evaluate(tmp_path, capsys, monkeypatch):
    import cxgrad.evaluation.run

    run, data = tmp_path / "run", tmp_path / "my data"
    data.mkdir()
    args = ["--dataset", "synthetic", "--iterations", 2, "--data-root", data]
    code, out, _ = run_cli(capsys, "train", *args, "--out", run, *SMALL)
    assert code == 0 and f"cxgrad evaluate --run {run} --data-root '{data}'" in out
    roots = []
    load = cxgrad.evaluation.run.load_config_dataset

    def recording(config, data_root, progress):
        roots.append(data_root)
        return load(config, data_root, progress)

    monkeypatch.setattr(cxgrad.evaluation.run, "load_config_dataset", recording)
    assert run_cli(capsys, "evaluate", "--run", run, "--tasks", 2, "--no-progress")[0] == 0
    other = tmp_path / "other"
    run_cli(capsys, "evaluate", "--run", run, "--tasks", 2, "--data-root", other, "--no-progress")
    data.rmdir()  # a run folder moved to another machine: the default data root again
    run_cli(capsys, "evaluate", "--run", run, "--tasks", 2, "--no-progress")
    assert [str(r) for r in roots] == [str(data), str(other), "None"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--seed", "-1"], "--seed must be >= 0, got -1"),
        (["--device", "cuda:3"], "--device cuda:3: this machine has 2 CUDA device(s)"),
    ],
)
def test_bad_seed_or_device_fails_before_the_run_folder_is_written(
    tmp_path, capsys, monkeypatch, args, message
):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    run = tmp_path / "run"
    code, _, err = run_cli(capsys, "train", "--dataset", "synthetic", *args, "--out", run, *SMALL)
    assert code == 2 and message in err
    assert not run.exists()


def test_data_prepare_caches_at_the_size_train_uses(capsys, monkeypatch, tmp_path):
    import cxgrad.data
    from cxgrad.runs import build_config

    sizes = []
    monkeypatch.setattr(
        cxgrad.data, "prepare_dataset", lambda *a, image_size, **k: sizes.append(image_size)
    )
    for name in ("cifarfs", "miniimagenet"):
        assert run_cli(capsys, "data", "prepare", name, "--source", tmp_path)[0] == 0
    assert sizes == [build_config(dataset="cifarfs").image_size, 84]
