"""The book's chapters: paired files in sync, parameters for CI, references for nbval."""

from __future__ import annotations

from pathlib import Path

import jupytext
import nbformat
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.py"))
INJECTED = "injected-parameters"


def code_cells(nb) -> list[str]:
    return [
        c.source.strip()
        for c in nb.cells
        if c.cell_type == "code" and INJECTED not in c.metadata.get("tags", [])
    ]


def test_there_are_chapters():
    assert len(CHAPTERS) >= 1


@pytest.mark.parametrize("source", CHAPTERS, ids=lambda p: p.stem)
def test_py_and_ipynb_are_in_sync(source):
    paired = source.with_suffix(".ipynb")
    assert paired.exists(), f"{paired.name} is missing: run jupytext --sync {source.name}"
    text = jupytext.read(source)
    notebook = nbformat.read(paired, as_version=4)
    assert [(c.cell_type, c.source) for c in text.cells] == [
        (c.cell_type, c.source) for c in notebook.cells
    ], f"{paired.name} differs from {source.name}: run jupytext --to ipynb {source.name}"
    assert [c.metadata.get("tags", []) for c in text.cells] == [
        c.metadata.get("tags", []) for c in notebook.cells
    ]
    for cell in notebook.cells:  # committed for Colab without outputs
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, paired.name


@pytest.mark.parametrize("source", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_structure(source):
    nb = jupytext.read(source)
    tags = [c.metadata.get("tags", []) for c in nb.cells]
    assert sum("parameters" in t for t in tags) == 1, "one papermill parameters cell"
    assert any("remove-cell" in t for t in tags), "a Colab bootstrap cell tagged remove-cell"
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    assert any("NBVAL_CHECK_OUTPUT" in c.source for c in nb.cells), "no nbval-checked cell"
    toc = (REPO / "_toc.yml").read_text()
    assert f"notebooks/{source.stem}" in toc, f"{source.stem} is not in _toc.yml"


@pytest.mark.parametrize("source", CHAPTERS, ids=lambda p: p.stem)
def test_ci_parameters_exist_and_are_declared(source):
    params_file = REPO / "tests" / "ci_params" / f"{source.stem}.yaml"
    assert params_file.exists(), f"{params_file} is missing"
    params = yaml.safe_load(params_file.read_text()) or {}
    cell = next(
        c for c in jupytext.read(source).cells if "parameters" in c.metadata.get("tags", [])
    )
    declared = {line.split("=")[0].strip() for line in cell.source.splitlines() if "=" in line}
    assert set(params) <= declared, f"undeclared parameters: {set(params) - declared}"


@pytest.mark.parametrize("source", CHAPTERS, ids=lambda p: p.stem)
def test_nbval_reference_matches_the_chapter(source):
    reference = REPO / "tests" / "nbval" / f"{source.stem}.ipynb"
    assert reference.exists(), f"run scripts/refresh_nbval.py {source.stem}"
    ref = nbformat.read(reference, as_version=4)
    assert code_cells(ref) == code_cells(jupytext.read(source)), (
        f"{reference.name} is stale: run .venv/bin/python scripts/refresh_nbval.py {source.stem}"
    )
