"""Write the student edition of the course: every chapter as a notebook without solutions.

The chapters (notebooks/NN_*.py, jupytext percent) end with exercises followed by their
solutions in a collapsed box, a MyST block that opens with a line of three or more
backticks and ``{admonition} Solutions`` and closes with the same fence. This script
removes those blocks and converts each chapter as scripts/make_colab_notebooks.py does
for the published notebooks (plain Markdown that Colab renders, the Colab bootstrap cell,
no outputs), writing one .ipynb per chapter to the output folder (default
_build/student/), ready to hand out or to open in Colab.

Usage: python scripts/make_student_edition.py [--out DIR] [--chapters NOTEBOOKS_DIR]
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import jupytext

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_colab_notebooks import colab_notebook, read_settings  # noqa: E402

SOLUTIONS_OPENING = re.compile(r"^(`{3,}|:{3,})\{admonition\}\s+Solutions\s*$")


def strip_solutions(markdown: str, where: str) -> tuple[str, int]:
    """``markdown`` without its Solutions admonitions, and how many were removed.

    ``where`` names the cell in the error raised for a block that is never closed.
    """
    kept: list[str] = []
    fence: str | None = None
    removed = 0
    for line in markdown.splitlines():
        if fence is None:
            opening = SOLUTIONS_OPENING.match(line.strip())
            if opening:
                fence = opening.group(1)
                removed += 1
            else:
                kept.append(line)
        elif line.strip() == fence:
            fence = None
    if fence is not None:
        raise ValueError(
            f"{where}: a '{{admonition}} Solutions' block opened with {fence} is never "
            f"closed; close it with a line holding only {fence}"
        )
    while kept and not kept[-1].strip():
        kept.pop()
    return "\n".join(kept), removed


def student_source(chapter: Path) -> str:
    """The chapter's jupytext source without solutions; refuses a chapter that has none."""
    notebook = jupytext.read(chapter)
    removed = 0
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "markdown":
            cell.source, count = strip_solutions(cell.source, f"{chapter.name}, cell {index}")
            removed += count
    if removed == 0:
        raise ValueError(
            f"{chapter.name}: no '{{admonition}} Solutions' block found; the student edition "
            "expects every chapter's solutions in one (see book/instructor_guide.md)"
        )
    notebook.cells = [c for c in notebook.cells if c.cell_type != "markdown" or c.source]
    return jupytext.writes(notebook, fmt="py:percent")


def write_student_edition(chapters_dir: Path, out: Path) -> list[Path]:
    """Write one solution-free .ipynb per chapter of ``chapters_dir`` into ``out``."""
    chapters = sorted(chapters_dir.glob("[0-9][0-9]_*.py"))
    if not chapters:
        raise ValueError(f"{chapters_dir}: no chapters (NN_name.py) found; pass --chapters")
    settings = read_settings(REPO)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for chapter in chapters:
        target = out / f"{chapter.stem}.ipynb"
        target.write_text(colab_notebook(student_source(chapter), chapter.stem, settings, REPO))
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "_build" / "student")
    parser.add_argument("--chapters", type=Path, default=REPO / "notebooks")
    args = parser.parse_args(argv)
    try:
        written = write_student_edition(args.chapters, args.out)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"{len(written)} chapters without solutions written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
