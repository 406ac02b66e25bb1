"""The throughput benchmark's own measuring tools (its numbers live in benchmarks/results/)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "throughput.py"


@pytest.fixture(scope="module")
def throughput():
    spec = importlib.util.spec_from_file_location("throughput", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
