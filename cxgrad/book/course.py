"""Small conveniences for the course notebooks (they never re-implement the library).

``trained_run`` trains a configuration once and reuses it: runs live in a cache keyed by a
hash of the whole configuration, the device type and the data root, so chapters that need
the same model share it, a rerun of a chapter is fast, and an interrupted training resumes
exactly where it stopped (a run cached on the CPU never resumes on a GPU, whose rounding
differs, nor on another copy of the data). Chapters executed at the same time (the book
build runs two at once) may ask for the same run: a lock file beside the run directory lets
the first train it while the others wait and then load it.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cxgrad.data import FewShotDataset, resolve_data_root
from cxgrad.device import resolve_device
from cxgrad.runs.config import TrainConfig
from cxgrad.runs.directory import RunDir
from cxgrad.runs.runtime import RuntimeOptions
from cxgrad.training import train

try:
    import fcntl
except ImportError:  # Windows: no flock; there, run one chapter at a time
    fcntl = None

RUNS_ENV = "CXGRAD_RUNS"


def runs_root() -> Path:
    """``$CXGRAD_RUNS``, else ``~/.cache/cxgrad/runs`` (or under ``$XDG_CACHE_HOME``)."""
    if os.environ.get(RUNS_ENV):
        return Path(os.environ[RUNS_ENV]).expanduser()
    cache = Path(os.environ.get("XDG_CACHE_HOME", "~/.cache")).expanduser()
    return cache / "cxgrad" / "runs"


def config_key(config: TrainConfig, device: str = "cpu", data_root: str = "") -> str:
    """Hash of everything a cached run depends on: the configuration, the device type it
    trains on (float rounding differs between CPU and GPU) and the resolved data root."""
    text = json.dumps(
        {"config": config.to_dict(), "device": device, "data_root": data_root}, sort_keys=True
    )
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def trained_run(
    name: str,
    config: TrainConfig,
    dataset: FewShotDataset | None = None,
    runtime: RuntimeOptions | None = None,
    **runtime_changes: Any,
) -> Path:
    """The run directory of ``config``, training (or resuming) it first if needed.

    The cache entry is ``runs_root() / "<name>-<key>"`` with the key of ``config_key``: the
    same configuration on another device type or data root is another run. ``runtime`` (or its
    fields as keywords: ``device``, ``data_root``, ``progress``, ...) says where to train;
    its ``data_root`` is resolved as everywhere (argument, ``$CXGRAD_DATA_ROOT``, the
    default folder), also when a loaded ``dataset`` is passed.

    Processes that ask for the same entry at the same time train it once: the check and the
    training hold an exclusive lock on ``<name>-<key>.lock`` beside the entry, so a second
    process waits for the first and then finds the run finished (or resumes it, if the
    first died while training).
    """
    runtime = RuntimeOptions.of(runtime, **runtime_changes)
    torch_device = resolve_device(runtime.device)
    key = config_key(config, torch_device.type, str(resolve_data_root(runtime.data_root)))
    out = runs_root() / f"{name}-{key}"
    run = RunDir(out)
    with _exclusive(out.with_name(out.name + ".lock"), runtime.progress):
        if not (run.last_path.exists() and _finished(run, config)):
            train(
                config,
                out,
                resume=run.has_run(),
                dataset=dataset,
                runtime=runtime.replace(device=str(torch_device)),
            )
    return out


# flock's answers on a file system that has no locks (some network and FUSE mounts, such as
# Google Drive in Colab): there the cache works as it did without the lock.
_NO_LOCKS = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL}


@contextmanager
def _exclusive(path: Path, progress: bool) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if missing) for the ``with`` block.

    The kernel drops the lock when its holder exits, even on a crash, so a stale lock file
    blocks nobody. Where ``fcntl`` is missing, or the file system refuses locks, nothing is
    locked.
    """
    if fcntl is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if progress:
                print(f"waiting for another process to finish training {path.stem}", flush=True)
            fcntl.flock(handle, fcntl.LOCK_EX)
        except OSError as error:
            if error.errno not in _NO_LOCKS:
                raise
            yield
            return
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _finished(run: RunDir, config: TrainConfig) -> bool:
    """Trained for ``config.iterations`` and validated after the last one (a run stopped
    during that validation still lacks it, and resuming runs it)."""
    trained = max((r["iteration"] for r in run.read_metrics() if "loss" in r), default=0)
    return trained >= config.iterations and run.validated(config.iterations)


def in_colab() -> bool:
    try:
        import google.colab  # noqa: F401
    except ImportError:
        return False
    return True
