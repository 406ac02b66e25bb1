"""Every chapter states its learning objectives and prerequisites first and ends with a summary."""

from __future__ import annotations

import re
from pathlib import Path

import jupytext
import pytest

REPO = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.py"))


def markdown_cells(chapter: Path) -> list[str]:
    return [c.source for c in jupytext.read(chapter).cells if c.cell_type == "markdown"]


def section(text: str, heading: str) -> str:
    """The body of ``## heading`` in ``text``, up to the next heading of level 1 or 2."""
    match = re.search(rf"^## {heading}\n(.*?)(?=^#{{1,2}} |\Z)", text, flags=re.M | re.S)
    return match.group(1).strip() if match else ""


def bullets(body: str) -> int:
    return len(re.findall(r"^- ", body, flags=re.M))


def test_there_are_twelve_chapters():
    assert len(CHAPTERS) == 12


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_objectives_and_prerequisites_open_the_chapter(chapter):
    opening = "\n".join(markdown_cells(chapter)[:2])
    objectives = section(opening, "Learning objectives")
    assert 3 <= bullets(objectives) <= 5, f"{chapter.name}: 3-5 learning objectives"
    assert section(opening, "Prerequisites"), f"{chapter.name}: no prerequisites"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_summary_closes_the_chapter(chapter):
    text = "\n".join(markdown_cells(chapter))
    summary = section(text, "Summary")
    assert bullets(summary) >= 3, f"{chapter.name}: a summary of at least three points"
    # Only the exercises (and their solutions) follow the summary.
    after = text[text.index("## Summary") :]
    assert re.findall(r"^## .*$", after, flags=re.M) == ["## Summary", "## Exercises"]
    if "## What we found" in text:
        assert text.index("## What we found") < text.index("## Summary")


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_lines_fit_the_page(chapter):
    """Prose and code stay within 100 characters (ruff leaves the chapters' long lines to
    this test: a cell header carries its figure's caption and alt text and cannot wrap)."""
    long = [
        number
        for number, line in enumerate(chapter.read_text().splitlines(), 1)
        if len(line) > 100 and not line.startswith("# %%")
    ]
    assert not long, f"{chapter.name}: lines over 100 characters: {long}"
