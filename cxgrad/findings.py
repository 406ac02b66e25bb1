"""The sentences of a chapter's "What we found", each tied to the numbers that support it.

A chapter states its conclusions in prose and then checks every sentence in one cell::

    found = Findings(FINDINGS)
    found.claim("CxGrad beats MAML on the test tasks.", cx_acc - maml_acc > ci)
    found.report()

``mode`` is one of:

* ``"assert"`` (the book's default size): print each sentence with ``holds``, and raise
  ``FindingNotSupported`` naming every sentence the numbers no longer support, so a rerun
  that changes a conclusion fails the book build instead of misleading the reader.
* ``"report"`` (other sizes, for example ``LARGE_SIZE``): print whether each sentence holds
  at this size, never raise; the prose was written for the default size.
* ``"skip"`` (the tiny CI parameters, where a few iterations decide nothing): print the
  sentences as not checked. The output does not depend on the numbers, so it is stable.

Sentences are fixed text (no numbers formatted into them): the prose above the cell says
the same thing in the same words, and the check is the condition beside it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MODES = ("assert", "report", "skip")


class FindingNotSupported(AssertionError):
    """A sentence of the book is no longer supported by the numbers the chapter computed."""


@dataclass
class Findings:
    mode: str = "assert"
    claims: list[tuple[str, bool]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"Findings mode must be one of {', '.join(MODES)}, got {self.mode!r}")

    def claim(self, sentence: str, holds: bool) -> None:
        """Record one sentence and whether the chapter's numbers support it."""
        self.claims.append((sentence, bool(holds)))

    def report(self) -> None:
        """Print every sentence with its verdict; in ``assert`` mode raise if any fails."""
        for sentence, holds in self.claims:
            if self.mode == "skip":
                verdict = "not checked at these parameters"
            else:
                verdict = "holds" if holds else "DOES NOT HOLD at this size"
            print(f"[{verdict}] {sentence}")
        failed = [sentence for sentence, holds in self.claims if not holds]
        if self.mode == "assert" and failed:
            raise FindingNotSupported(
                "the chapter's prose says what its numbers no longer support; rewrite "
                "these sentences (and their conditions) to match the new results:\n- "
                + "\n- ".join(failed)
            )
