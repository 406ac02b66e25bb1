"""The throughput benchmark's own measuring tools (its numbers live in benchmarks/results/)."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHELL_SCRIPTS = sorted([*REPO.glob("benchmarks/*.sh"), *REPO.glob("scripts/*.sh")])


def load_benchmark(name: str):
    """A script of benchmarks/ as a module (benchmarks/ is not a package)."""
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def throughput():
    return load_benchmark("throughput")


def test_storage_bytes_counts_views_once(throughput) -> None:
    a = torch.zeros(1000)  # 4000 bytes
    b = torch.zeros(10, dtype=torch.float64)  # 80 bytes
    assert throughput.storage_bytes([a, a[10:], a.view(10, 100), b]) == 4080


def test_cpu_tensor_peak_follows_allocations_and_frees(throughput) -> None:
    existing = torch.ones(2**18)  # 1 MiB that the step frees

    def step() -> None:
        nonlocal existing
        first = torch.empty(2**20)  # 4 MiB
        second = torch.empty(2**19)  # 2 MiB: 6 MiB alive at the peak
        del first, second
        existing = None  # -1 MiB
        third = torch.empty(2**20)  # 4 MiB, below the earlier peak
        del third

    assert throughput.cpu_tensor_peak(step) == 6 * 2**20


@pytest.mark.integration
def test_measure_reports_one_configuration(throughput) -> None:
    result = throughput.measure("anil", "omniglot-5w1s", "batched", 1, 1, "cpu", True, 1)
    assert result["path"] == "batched" and result["order"] == "first"
    # At least the parameters and the meta-batch (4 tasks x 80 images of 28x28 floats).
    assert result["peak_memory_mib"] > 4 * 80 * 28 * 28 * 4 / 2**20
    assert result["peak_rss_mib"] > result["peak_memory_mib"]
    with pytest.raises(SystemExit, match="needs a CUDA device"):
        throughput.measure("anil", "omniglot-5w1s", "batched+graph", 1, 1, "cpu", True, 1)
    with pytest.raises(SystemExit, match="--warmup must be at least 1"):
        throughput.measure("anil", "omniglot-5w1s", "batched", 1, 0, "cpu", True, 1)


def test_cpu_tensor_peak_refuses_a_step_with_no_allocation_events(throughput) -> None:
    with pytest.raises(RuntimeError, match="recorded no allocation events"):
        throughput.cpu_tensor_peak(lambda: None)


def test_the_gpu_scripts_are_among_the_shell_scripts() -> None:
    names = {path.name for path in SHELL_SCRIPTS}
    assert {"gpu_benchmarks.sh", "gpu_chapters.sh", "setup.sh"} <= names


@pytest.mark.parametrize("script", SHELL_SCRIPTS, ids=lambda path: path.name)
def test_shell_script_parses(script: Path) -> None:
    """``bash -n``: scripts meant for a GPU machine cannot be run here, but can be read."""
    result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, f"{script.relative_to(REPO)}: {result.stderr}"


def run_chapters_script(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(REPO / "benchmarks" / "gpu_chapters.sh"), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHON": "python-of-the-gpu", **env},
    )


def test_gpu_chapters_plan_every_chapter_at_both_sizes(tmp_path: Path) -> None:
    result = run_chapters_script(tmp_path, DRY_RUN="1")
    assert result.returncode == 0, result.stderr
    planned = re.findall(r"^(default|large) (\S+): (.*)$", result.stdout, flags=re.M)
    chapters = sorted(path.stem for path in (REPO / "notebooks").glob("[0-9]*.ipynb"))
    large = [
        stem
        for stem in chapters
        if re.search(r"^LARGE_SIZE = ", (REPO / "notebooks" / f"{stem}.py").read_text(), re.M)
    ]
    assert [stem for size, stem, _ in planned if size == "default"] == chapters
    assert [stem for size, stem, _ in planned if size == "large"] == large
    assert len(large) >= 8  # chapters 2-9 have a larger size
    for size, stem, command in planned:
        assert command.startswith("python-of-the-gpu -m papermill")
        assert f"notebooks/{stem}.ipynb {tmp_path}/out/{size}/{stem}.ipynb" in command
        assert ("-p LARGE_SIZE True" in command) == (size == "large")
    findings = dict(((size, stem), command) for size, stem, command in planned)
    assert "-p FINDINGS report" in findings[("default", "03_gradient_norms")]
    assert "FINDINGS" not in findings[("default", "01_episodes")]  # it declares none
    assert not (tmp_path / "out").exists()


def test_gpu_chapters_refuses_unknown_chapters_and_sizes(tmp_path: Path) -> None:
    result = run_chapters_script(tmp_path, DRY_RUN="1", CHAPTERS="11_missing")
    assert result.returncode == 2 and "no chapter '11_missing'" in result.stderr
    result = run_chapters_script(tmp_path, DRY_RUN="1", SIZES="huge")
    assert result.returncode == 2 and "unknown size 'huge'" in result.stderr
    one = run_chapters_script(tmp_path, DRY_RUN="1", CHAPTERS="04_batchnorm_invariance")
    assert one.stdout.count("04_batchnorm_invariance:") == 2 and one.stdout.count("\n") == 2


@pytest.fixture(scope="module")
def cpu_step():
    return load_benchmark("cpu_step")


def test_cpu_step_times_this_checkout_on_its_fastest_path(cpu_step) -> None:
    """The child measurement: one real step, on the path --path fastest takes (batched at
    28x28), with this checkout's package."""
    measured = cpu_step.child("maml", "omniglot-28-conv4-32", iterations=1, warmup=0, threads=1)
    assert measured["seconds_per_iteration"] > 0 and measured["batched"]
    assert Path(measured["package"]).resolve() == (REPO / "cxgrad").resolve()


def test_cpu_step_states_every_goal(cpu_step) -> None:
    """Every shape and method the benchmark times has a goal, and the verdict reads it."""
    assert set(cpu_step.GOALS) == {(s, m) for s in cpu_step.SHAPES for m in cpu_step.METHODS}
    assert cpu_step.goal_verdict("paper-84-conv4-48", "cxgrad", 1.5) == "goal 1.5x met"
    assert cpu_step.goal_verdict("omniglot-28-conv4-64", "maml", 1.99) == "goal 2.0x not met"


def test_cpu_step_refuses_bad_counts() -> None:
    script = REPO / "benchmarks" / "cpu_step.py"
    result = subprocess.run(
        [sys.executable, str(script), "--repeats", "0"], capture_output=True, text=True, cwd=REPO
    )
    assert result.returncode == 2 and "--repeats must be at least 1, got 0" in result.stderr


@pytest.mark.integration
def test_cpu_roofline_measures_flops_time_and_convolution_share() -> None:
    roofline = load_benchmark("cpu_roofline")
    row = roofline.measure(roofline._cpu_step(), "maml", "omniglot-28-conv4-32", 1, steps=1)
    # Conv4-32 on 28x28, 4 tasks, second order: about 9 GFLOP a step, mostly convolutions.
    assert 5 < row["gflop"] < 15 and row["seconds"] > 0
    assert 0.2 < row["convolution_share"] < 1


def test_cpu_roofline_states_what_a_goal_asks() -> None:
    roofline = load_benchmark("cpu_roofline")
    row = {"gflop": 10.0, "seconds": 0.2, "convolution_share": 0.5}
    # Goal: 0.3 s / 2 = 0.15 s, 66.7 GFLOP/s; convolutions keep 0.1 s, the rest 0.1 -> 0.05.
    text = roofline.goal_row(row, {"baseline_seconds": 0.3, "goal": 2.0}, peak=100.0)
    assert text == (
        "goal 2.0x: 0.150 s, 67 GFLOP/s (67% of peak); the rest 0.100 s -> 0.050 s (2.0x)"
    )
    beyond = roofline.goal_row(row, {"baseline_seconds": 0.15, "goal": 2.0}, peak=100.0)
    assert beyond.endswith("the rest 0.100 s -> 0.000 s (impossible)")


def test_cpu_roofline_refuses_bad_arguments(tmp_path: Path, monkeypatch, capsys) -> None:
    roofline = load_benchmark("cpu_roofline")
    missing = tmp_path / "nope.json"
    for args, message in (
        (["--goals", str(missing)], f"no file {missing}"),
        (["--shapes", "huge"], "unknown shape 'huge'"),
        (["--steps", "0"], "must be at least 1"),
    ):
        monkeypatch.setattr(sys, "argv", ["cpu_roofline.py", *args])
        with pytest.raises(SystemExit) as exit_:
            roofline.main()
        assert exit_.value.code == 2 and message in capsys.readouterr().err


def test_max_pool_benchmark_compares_the_same_bits() -> None:
    bench = load_benchmark("max_pool")
    times, same = bench.measure((1, 2, 6, 6), repeats=1)
    assert same and len(times) == 4 and all(t > 0 for t in times)
