"""The student edition keeps every chapter's exercises and code and drops its solutions."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import jupytext
import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.py"))

_spec = importlib.util.spec_from_file_location(
    "make_student_edition", REPO / "scripts" / "make_student_edition.py"
)
student = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(student)
import myst_to_markdown  # noqa: E402  (scripts/ is on sys.path once the script is loaded)


@pytest.fixture(scope="module")
def edition(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("student")
    assert student.main(["--out", str(out)]) == 0
    return out


def markdown(notebook) -> str:
    return "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")


@pytest.mark.integration
def test_every_chapter_is_written(edition):
    assert sorted(p.stem for p in edition.glob("*.ipynb")) == [c.stem for c in CHAPTERS]


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_exercises_stay_and_solutions_go(edition, chapter):
    original = jupytext.read(chapter)
    handout = nbformat.read(edition / f"{chapter.stem}.ipynb", as_version=4)
    text = markdown(handout)
    assert "## Exercises" in text
    assert "{admonition} Solutions" in markdown(original)
    assert "Solutions" not in text and "<details>" not in text
    assert myst_to_markdown.count_myst(text) == 0, "Colab would show raw MyST"
    # Code cells (bootstrap, parameters, the chapter's code) are handed out unchanged.
    code = [(c.source, c.metadata.get("tags", [])) for c in original.cells if c.cell_type == "code"]
    assert [
        (c.source, c.metadata.get("tags", [])) for c in handout.cells if c.cell_type == "code"
    ] == code
    assert all(c.outputs == [] for c in handout.cells if c.cell_type == "code")


def test_a_known_solution_is_gone(edition):
    handout = nbformat.read(edition / "01_episodes.ipynb", as_version=4)
    assert "Turn on rotations" in markdown(handout)  # exercise 2
    assert "964 x 4 = 3,856" not in markdown(handout)  # its solution


def test_only_the_solutions_block_is_removed():
    cell = (
        "## Exercises\n\n1. Do this.\n\n"
        "````{admonition} Solutions\n:class: dropdown\n\n"
        "```python\nanswer = 42\n```\n"
        "````\n\nAfter the box."
    )
    text, removed = student.strip_solutions(cell, "cell")
    assert removed == 1
    assert text == "## Exercises\n\n1. Do this.\n\n\nAfter the box."


def test_an_unclosed_solutions_block_is_named():
    with pytest.raises(ValueError, match=r"ch\.py, cell 3.*never closed"):
        student.strip_solutions("```{admonition} Solutions\n1. x", "ch.py, cell 3")


def test_a_chapter_without_solutions_is_refused(tmp_path):
    chapter = tmp_path / "01_demo.py"
    chapter.write_text("# %% [markdown]\n# # 1. Demo\n#\n# ## Exercises\n\n# %%\nx = 1\n")
    with pytest.raises(ValueError, match="01_demo.py: no '\\{admonition\\} Solutions'"):
        student.student_source(chapter)
    assert student.main(["--chapters", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
