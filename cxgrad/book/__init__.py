"""The book's helpers: the chapters' model cache, their checked findings, the schematics, verdicts.

Nothing in the library imports this package; it may import any part of the library.
"""

from cxgrad.book.course import RUNS_ENV, config_key, in_colab, runs_root, trained_run
from cxgrad.book.findings import FindingNotSupported, Findings, resolve_mode
from cxgrad.book.schematics import cxgrad_algorithm_figure, maml_loops_figure

__all__ = [
    "FindingNotSupported",
    "Findings",
    "RUNS_ENV",
    "config_key",
    "cxgrad_algorithm_figure",
    "in_colab",
    "maml_loops_figure",
    "resolve_mode",
    "runs_root",
    "trained_run",
]
