"""Regenerate the nbval reference notebooks in tests/nbval/ from the chapters.

Each chapter runs with its small CI parameters (papermill); the result is kept with the
text outputs of the cells marked ``# NBVAL_CHECK_OUTPUT`` only (nbval compares nothing
else, and figures would bloat the repository). Run after an intended change of behaviour
(after scripts/make_colab_notebooks.py: stale notebooks are refused), review the diff of
tests/nbval/, and commit it.

    .venv/bin/python scripts/refresh_nbval.py [CHAPTER_STEM ...]
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat
import papermill
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_colab_notebooks import expected_files  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
MARK = "# NBVAL_CHECK_OUTPUT"


def require_current_notebooks(stems: list[str], repo: Path = REPO) -> None:
    """The references are executed from notebooks/*.ipynb, which are generated from the .py
    chapters: a stale notebook would give references of code the chapter no longer has."""
    expected = expected_files(repo)
    stale = [
        stem
        for stem in stems
        for path in (repo / "notebooks" / f"{stem}.py", repo / "notebooks" / f"{stem}.ipynb")
        if not path.exists() or path.read_text() != expected.get(path)
    ]
    if stale:
        raise SystemExit(
            f"notebooks of {sorted(set(stale))} are stale: run "
            ".venv/bin/python scripts/make_colab_notebooks.py first"
        )


def keep_checked_text(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    for cell in nb.cells:
        # papermill's timings change on every run; keep the references' diffs meaningful
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
        if cell.cell_type != "code":
            continue
        checked = cell.source.lstrip().startswith(MARK)
        cell.outputs = [
            o
            for o in cell.get("outputs", [])
            if checked and o.output_type == "stream" and o.name == "stdout"
        ]
        if not checked:
            cell.execution_count = None
        cell.metadata.pop("execution", None)
        cell.metadata.pop("papermill", None)
    nb.metadata.pop("papermill", None)
    return nb


def refresh(stem: str) -> None:
    # One thread, as scripts/check_notebooks.sh checks them: the kernel inherits this, and
    # another thread count would round the checked numbers differently.
    os.environ["OMP_NUM_THREADS"] = "1"
    params = yaml.safe_load((REPO / "tests" / "ci_params" / f"{stem}.yaml").read_text()) or {}
    out = REPO / "tests" / "nbval" / f"{stem}.ipynb"
    out.parent.mkdir(exist_ok=True)
    executed = papermill.execute_notebook(
        str(REPO / "notebooks" / f"{stem}.ipynb"),
        None,
        parameters=params,
        kernel_name="python3",
        cwd=str(REPO / "notebooks"),
        progress_bar=False,
    )
    nbformat.write(keep_checked_text(executed), out)
    print(f"wrote {out.relative_to(REPO)}")


if __name__ == "__main__":
    stems = sys.argv[1:] or sorted(p.stem for p in (REPO / "notebooks").glob("[0-9]*.ipynb"))
    require_current_notebooks(stems)
    for stem in stems:
        refresh(stem)
