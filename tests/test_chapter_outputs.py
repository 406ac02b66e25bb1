"""The chapters' checked outputs against their references (scripts/chapter_outputs.py).

Each chapter runs once, in a fresh kernel with CI's small parameters; then every cell tagged
``check-output`` is one test. Text and integers must match exactly; the decimals of a cell
with a ``check_rtol`` may move by that fraction (or one unit of the last printed digit), so
that another CPU's kernels pass and a change of the library does not. Marker
``chapter_outputs``: ``scripts/check_notebooks.sh`` runs these, ``scripts/test.sh`` does not.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
import chapter_outputs  # noqa: E402

pytestmark = pytest.mark.chapter_outputs


def _cases() -> list:
    cases = []
    for stem in chapter_outputs.chapters():
        for i, _ in enumerate(chapter_outputs.checked_sources(stem)):
            cases.append(pytest.param(stem, i, id=f"{stem}-cell{i + 1}"))
    return cases


@functools.cache
def executed(stem: str) -> tuple:
    return tuple(chapter_outputs.execute(stem))


@pytest.mark.parametrize(("stem", "index"), _cases())
def test_checked_output_matches_its_reference(stem: str, index: int) -> None:
    reference = chapter_outputs.read_reference(stem)["cells"]
    assert len(reference) == len(chapter_outputs.checked_sources(stem)), (
        f"tests/chapter_outputs/{stem}.json is stale: "
        f"run python scripts/chapter_outputs.py refresh {stem}"
    )
    cell = executed(stem)[index]
    problems = chapter_outputs.differences(reference[index]["output"], cell.output, cell.rtol)
    made_on = chapter_outputs.read_reference(stem)["made_on"]
    assert not problems, (
        f"{stem}, checked cell {index + 1}:\n{cell.source}\n\n" + "\n".join(problems) + "\n\n"
        f"(reference made on {made_on['cpu']}, {made_on['kernels']}; an intended change: "
        f"python scripts/chapter_outputs.py refresh {stem})"
    )
