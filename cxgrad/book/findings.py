"""The sentences of a chapter's "What we found", each tied to the numbers that support it.

A chapter states its conclusions in prose and then checks every sentence in one cell::

    found = Findings(FINDINGS)
    found.claim("CxGrad beats MAML on the test tasks.", cx_acc - maml_acc > ci,
                numbers={"CxGrad - MAML": cx_acc - maml_acc, "95% CI": ci})
    found.report()

``mode`` is one of:

* ``"auto"`` (the chapters' default): ``$CXGRAD_FINDINGS`` if set, else ``"report"``. The book
  build (``scripts/build_book.sh``) and CI set ``CXGRAD_FINDINGS=assert``; a reader's run in
  Jupyter or Colab reports.
* ``"assert"``: print each sentence with its verdict and numbers, and raise
  ``FindingNotSupported`` naming every sentence the numbers no longer support, so a change
  that alters a conclusion fails the book build instead of misleading the reader.
* ``"report"``: print the same, never raise. A sentence that does not hold on this run is
  flagged with its numbers and a note on why another machine can differ.
* ``"skip"`` (the tiny CI parameters, where a few iterations decide nothing): print the
  sentences as not checked. The output does not depend on the numbers, so it is stable.

Sentences are fixed text (no numbers formatted into them): the prose above the cell says
the same thing in the same words, and the check is the condition beside it. With
``$CXGRAD_FINDINGS_JSON`` set, ``report`` also appends one JSON line per sentence to that file
(``scripts/check_findings.py`` collects them across seeds and thread counts).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

MODES = ("auto", "assert", "report", "skip")
MODE_ENV = "CXGRAD_FINDINGS"
JSON_ENV = "CXGRAD_FINDINGS_JSON"

WHY_RUNS_DIFFER = (
    "These sentences were written for the book's build: the default size, one thread, and "
    "checked for seeds 0-2 with 1 and 2 threads and under two other sets of CPU kernels "
    "(book/reproduction.md). Another CPU, a GPU, another thread count or another seed adds "
    "floating-point numbers in another order, so training ends at a slightly different "
    "model and a sentence near its bound can flip."
)


class FindingNotSupported(AssertionError):
    """A sentence of the book is no longer supported by the numbers the chapter computed."""


def resolve_mode(mode: str) -> str:
    """The mode in force: ``auto`` reads ``$CXGRAD_FINDINGS`` and falls back to ``report``."""
    if mode not in MODES:
        raise ValueError(f"Findings mode must be one of {', '.join(MODES)}, got {mode!r}")
    if mode != "auto":
        return mode
    chosen = os.environ.get(MODE_ENV, "").strip() or "report"
    if chosen not in MODES or chosen == "auto":
        raise ValueError(
            f"${MODE_ENV}={chosen!r} is not a findings mode: set it to assert, report or skip"
        )
    return chosen


def _format(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return f"{value:.4g}"


def _plain(value: object) -> object:
    """A JSON-friendly copy of a number (numpy and torch scalars included)."""
    if isinstance(value, bool | int | str) or value is None:
        return value
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(value)


@dataclass
class Findings:
    mode: str = "auto"
    claims: list[tuple[str, bool, dict[str, object]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.mode = resolve_mode(self.mode)

    def claim(self, sentence: str, holds: bool, numbers: dict[str, object] | None = None) -> None:
        """Record one sentence, whether the chapter's numbers support it, and those numbers
        (shown beside the verdict, and in the robustness table of book/reproduction.md)."""
        self.claims.append((sentence, bool(holds), dict(numbers or {})))

    def failed(self) -> list[str]:
        return [sentence for sentence, holds, _ in self.claims if not holds]

    def report(self) -> None:
        """Print every sentence with its verdict; in ``assert`` mode raise if any fails."""
        for sentence, holds, numbers in self.claims:
            if self.mode == "skip":
                print(f"[not checked at these parameters] {sentence}")
                continue
            print(f"[{'holds' if holds else 'DOES NOT HOLD on this run'}] {sentence}")
            if numbers:
                print("    " + ", ".join(f"{k} = {_format(v)}" for k, v in numbers.items()))
        self._write_json()
        failed = self.failed()
        if self.mode == "skip" or not failed:
            return
        if self.mode == "assert":
            raise FindingNotSupported(
                "the chapter's prose says what its numbers no longer support; rewrite "
                "these sentences (and their conditions) to match the new results:\n- "
                + "\n- ".join(failed)
            )
        print(f"\n{len(failed)} of {len(self.claims)} sentences do not hold on this run. ")
        print(WHY_RUNS_DIFFER)

    def _write_json(self) -> None:
        path = os.environ.get(JSON_ENV)
        if not path or self.mode == "skip":
            return
        with Path(path).open("a") as out:
            for sentence, holds, numbers in self.claims:
                line = {
                    "sentence": sentence,
                    "holds": holds,
                    "numbers": {k: _plain(v) for k, v in numbers.items()},
                }
                out.write(json.dumps(line) + "\n")
