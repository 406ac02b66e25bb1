"""Process-wide settings that make CPU training faster without changing a single number.

Meta-training allocates and frees the same large tensors at every step: at the paper's
84x84 shape one query batch's first-layer activations are 100 MB, a dozen of them per
step. glibc's ``malloc`` hands every block above its mmap threshold (32 MB at most) to the
kernel and takes it back when freed, so each step faults those pages in again and the
kernel zeroes them: a third of a step's time at that shape went to the system, not to
arithmetic (measured by ``benchmarks/cpu_step.py``). ``configure_cpu`` tells glibc to keep
freed memory in the process's heap for reuse instead. The values computed are bit for bit
the same; the process keeps its peak memory instead of returning it between steps.

It also gives every thread glibc's one main heap (one malloc arena): the task-parallel CPU
step (``cxgrad.meta.task_parallel``) allocates those activations from worker threads, and
a heap per thread, whose large blocks are mapped and unmapped, faulted them in at every
step (CxGrad at the paper's shape, 6 steps of two threads: 3.5 million page faults and
6.4 s of system time with a heap per thread, 0.96 million and 2.1 s with one).

The trainer applies it on a CPU; other programs may call it themselves. Where the C
library is not glibc (macOS, Windows, musl) it does nothing and says so in its result.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys

# glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_M_ARENA_MAX = -8
# Free memory at the top of the heap is returned to the kernel only above this much (the
# largest value mallopt's int takes: 2 GiB).
_KEEP_FREED_BYTES = 2**31 - 1


@functools.cache
def configure_cpu() -> str:
    """Keep freed tensor memory for reuse (glibc only); idempotent. Returns what it did."""
    if not sys.platform.startswith("linux"):
        return f"unchanged: the allocator tuning is for glibc on Linux, not {sys.platform}"
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return "unchanged: the C library has no mallopt (not glibc)"
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    # No mmap for large blocks: they come from the heap and go back to it when freed.
    # mallopt returns 1 on success.
    kept = mallopt(_M_MMAP_MAX, 0) == 1
    kept &= mallopt(_M_TRIM_THRESHOLD, _KEEP_FREED_BYTES) == 1
    kept &= mallopt(_M_ARENA_MAX, 1) == 1  # threads allocate from the main heap, kept too
    if not kept:
        return "unchanged: mallopt refused the settings"
    return "glibc malloc keeps freed memory for reuse (no mmap, no trim, one arena)"
