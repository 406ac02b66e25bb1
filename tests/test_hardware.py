"""The hardware note: which CPU kernels PyTorch runs, read in a child with the same environment."""

import platform

import pytest

from cxgrad import hardware


@pytest.mark.integration
def test_describe_names_cpu_kernels_threads_and_versions() -> None:
    note = hardware.describe()
    assert set(note) == {"cpu", "kernels", "threads", "torch", "python"}
    assert note["kernels"].startswith(f"ATen {hardware.aten_capability()}, oneDNN ")


@pytest.mark.integration
def test_a_kernel_selection_by_environment_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DNNL_MAX_CPU_ISA", "SSE41")
    hardware.onednn_isa.cache_clear()
    try:
        line = hardware.kernels()
    finally:
        hardware.onednn_isa.cache_clear()
    assert line.endswith("(DNNL_MAX_CPU_ISA=SSE41)")
    if platform.machine() in ("x86_64", "AMD64"):  # oneDNN read the variable in the child
        assert "oneDNN Intel SSE4.1 (" in line
