"""What machine a number was measured on: the CPU, and which of PyTorch's CPU kernels ran.

PyTorch picks its CPU kernels when it starts (ATen's by the CPU's capability, oneDNN's by
its instruction set), and kernels of another set sum floating-point numbers in another order:
the same training run on another CPU ends at a slightly different model. Records, findings
and the chapters' output references say which kernels made them, so a reader who sees a
difference can tell a change of the library from a change of the machine.
"""

from __future__ import annotations

import functools
import os
import platform
import subprocess
import sys
from pathlib import Path

# Set to select kernels other than the defaults (each a stand-in for another CPU).
KERNEL_VARIABLES = ("ATEN_CPU_CAPABILITY", "DNNL_MAX_CPU_ISA")


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def aten_capability() -> str:
    """The instruction set of ATen's CPU kernels in this process (AVX512, AVX2, DEFAULT...)."""
    import torch

    return torch.backends.cpu.get_cpu_capability()


@functools.cache
def onednn_isa() -> str:
    """The instruction set oneDNN's CPU kernels use here ("unknown" where it cannot be read).

    oneDNN reports it only in its verbose log, so a child process with this environment runs
    one convolution with ``DNNL_VERBOSE=1`` and reads the ``isa:`` line."""
    code = (
        "import torch; torch.nn.functional.conv2d(torch.ones(2, 3, 8, 8), torch.ones(4, 3, 3, 3))"
    )
    try:
        out = subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "DNNL_VERBOSE": "1", "ONEDNN_VERBOSE": "1"},
            capture_output=True,
            text=True,
            timeout=120,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    for line in out.splitlines():
        if ",cpu,isa:" in line:
            return line.split(",cpu,isa:", 1)[1].strip()
    return "unknown"


def kernels() -> str:
    """One line: ATen's capability and oneDNN's instruction set, with any selection made by
    environment variable."""
    chosen = [f"{name}={os.environ[name]}" for name in KERNEL_VARIABLES if os.environ.get(name)]
    line = f"ATen {aten_capability()}, oneDNN {onednn_isa()}"
    return line + (f" ({', '.join(chosen)})" if chosen else "")


def describe() -> dict[str, str | int]:
    """The CPU, its kernels, the thread count and the versions: a hardware note."""
    import torch

    return {
        "cpu": cpu_name(),
        "kernels": kernels(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": sys.version.split()[0],
    }
