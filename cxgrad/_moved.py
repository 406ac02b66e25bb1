"""The module paths of release 0.3 and earlier, kept importable for one more release.

Notebooks written for earlier releases import ``cxgrad.train``, ``cxgrad.course``,
``cxgrad.evaluate`` and the other modules that used to sit at the package's root. Importing
one of those paths still works: it gives a module with the names of the modules it moved
to, and warns once (a ``FutureWarning``, shown by default) with the path to use instead.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types
import warnings

# old path -> the modules its names live in now (the first is the one to import instead)
MOVED: dict[str, tuple[str, ...]] = {
    "cxgrad.train": ("cxgrad.training.trainer", "cxgrad.runs.setup"),
    "cxgrad.course": ("cxgrad.book.course", "cxgrad.runs.presets"),
    "cxgrad.evaluate": ("cxgrad.evaluation.accuracy",),
    "cxgrad.evaluate_run": ("cxgrad.evaluation.run",),
    "cxgrad.config": ("cxgrad.runs.config", "cxgrad.runs.presets"),
    "cxgrad.run_dir": ("cxgrad.runs.directory",),
    "cxgrad.run_setup": ("cxgrad.runs.setup",),
    "cxgrad.checkpoint": ("cxgrad.runs.checkpoint",),
    "cxgrad.cuda_graph": ("cxgrad.training.cuda_graph",),
    "cxgrad.runtime": ("cxgrad.training._cpu_memory",),
    "cxgrad.record_models": ("cxgrad.records.models",),
    "cxgrad.power": ("cxgrad.records.power",),
    "cxgrad.findings": ("cxgrad.book.findings",),
    "cxgrad.schematics": ("cxgrad.book.schematics",),
}


class MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds the old paths of ``MOVED`` and builds each from the modules it moved to."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname in MOVED:
            return importlib.machinery.ModuleSpec(fullname, self)
        return None

    def create_module(self, spec):
        return types.ModuleType(spec.name)

    def exec_module(self, module: types.ModuleType) -> None:
        new = MOVED[module.__name__]
        warnings.warn(
            f"{module.__name__} moved to {' and '.join(new)}; import from there "
            "(the old path goes in the next release)",
            FutureWarning,
            stacklevel=2,
        )
        for name in reversed(new):  # the first module's names win
            source = importlib.import_module(name)
            module.__dict__.update(
                {k: v for k, v in vars(source).items() if not k.startswith("__")}
            )
        module.__doc__ = f"Moved to {', '.join(new)}."


def install() -> None:
    if not any(isinstance(finder, MovedModules) for finder in sys.meta_path):
        sys.meta_path.insert(0, MovedModules())
