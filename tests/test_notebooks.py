"""The book's chapters: Colab notebooks and bootstrap, CI parameters, output references."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import jupytext
import nbformat
import pytest
import torch
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
import chapter_outputs  # noqa: E402
import make_colab_notebooks  # noqa: E402
import myst_to_markdown  # noqa: E402

CHAPTERS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.py"))
INJECTED = "injected-parameters"


def code_cells(nb) -> list[str]:
    return [
        c.source.strip()
        for c in nb.cells
        if c.cell_type == "code" and INJECTED not in c.metadata.get("tags", [])
    ]


def test_every_chapter_is_in_the_book_in_order():
    """The chapters the tests check are the book's, in the table of contents' order."""
    toc = re.findall(r"file: notebooks/(\S+)", (REPO / "_toc.yml").read_text())
    assert [c.stem for c in CHAPTERS] == toc


@pytest.fixture(scope="module")
def expected() -> dict[Path, str]:
    return make_colab_notebooks.expected_files(REPO)


@pytest.fixture(scope="module")
def settings() -> make_colab_notebooks.Settings:
    return make_colab_notebooks.read_settings(REPO)


def _regenerate(path: Path) -> str:
    return (
        f"{path.relative_to(REPO)} is stale: run "
        ".venv/bin/python scripts/make_colab_notebooks.py and commit the result"
    )


@pytest.mark.integration
@pytest.mark.parametrize("source", CHAPTERS, ids=lambda p: p.stem)
def test_colab_notebook_is_generated_from_the_chapter(source, expected):
    notebook = source.with_suffix(".ipynb")
    assert notebook.exists(), _regenerate(notebook)
    assert notebook.read_text() == expected[notebook], _regenerate(notebook)


@pytest.mark.parametrize("source", CHAPTERS, ids=lambda p: p.stem)
def test_bootstrap_cell_of_the_source_is_generated(source, expected):
    assert source.read_text() == expected[source], _regenerate(source)


def test_readme_table_of_chapters_is_generated(expected):
    readme = REPO / "README.md"
    assert readme.read_text() == expected[readme], _regenerate(readme)
    for source in CHAPTERS:  # one Colab badge per chapter
        assert f"/blob/main/notebooks/{source.stem}.ipynb)" in readme.read_text()


@pytest.mark.parametrize("source", CHAPTERS, ids=lambda p: p.stem)
def test_colab_notebook_has_the_chapters_code_cells_and_no_outputs(source):
    notebook = nbformat.read(source.with_suffix(".ipynb"), as_version=4)
    chapter = jupytext.read(source)
    assert [
        (c.source, c.metadata.get("tags", [])) for c in chapter.cells if c.cell_type == "code"
    ] == [(c.source, c.metadata.get("tags", [])) for c in notebook.cells if c.cell_type == "code"]
    for cell in notebook.cells:  # committed for Colab without outputs
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, notebook
    assert "jupytext" not in notebook.metadata, "no pairing: the .ipynb is generated, not synced"


@pytest.mark.parametrize("source", CHAPTERS, ids=lambda p: p.stem)
def test_colab_notebook_has_no_myst(source):
    notebook = nbformat.read(source.with_suffix(".ipynb"), as_version=4)
    markdown = "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")
    left = myst_to_markdown.MYST_CONSTRUCTS.findall(markdown)
    assert myst_to_markdown.count_myst(markdown) == 0, f"MyST left in {source.stem}: {left}"
    chapter = "\n".join(c.source for c in jupytext.read(source).cells if c.cell_type == "markdown")
    if "{cite}" in chapter:
        assert "## References" in markdown


@pytest.mark.parametrize("source", CHAPTERS, ids=lambda p: p.stem)
def test_bootstrap_is_the_first_code_cell_and_precedes_the_parameters(source, settings):
    cells = [c for c in jupytext.read(source).cells if c.cell_type == "code"]
    assert "remove-cell" in cells[0].metadata.get("tags", [])
    assert "parameters" in cells[1].metadata.get("tags", []), "papermill injects after it"
    bootstrap = cells[0].source
    assert f'CXGRAD_REPOSITORY = "{settings.repo_url}"' in bootstrap
    assert f'CXGRAD_REF = "v{settings.version}"' in bootstrap


def test_bootstrap_outside_colab_installs_nothing_and_names_the_device(settings):
    source = make_colab_notebooks.bootstrap_source(settings)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(source, "bootstrap", "exec"), {"__name__": "bootstrap"})
    printed = out.getvalue()
    assert "Installing" not in printed
    if torch.cuda.is_available():
        assert printed.startswith("Running on a GPU")
    else:
        assert "Running on the CPU" in printed
        assert "Runtime > Change runtime type > GPU" in printed


def test_bootstrap_pins_the_version_of_pyproject(tmp_path):
    (tmp_path / "_config.yml").write_text((REPO / "_config.yml").read_text())
    pyproject = (REPO / "pyproject.toml").read_text()
    (tmp_path / "pyproject.toml").write_text(
        re.sub(r'(?m)^version = ".*"$', 'version = "9.8.7"', pyproject, count=1)
    )
    settings = make_colab_notebooks.read_settings(tmp_path)
    assert 'CXGRAD_REF = "v9.8.7"' in make_colab_notebooks.bootstrap_source(settings)


def test_settings_name_the_file_and_the_fix(tmp_path):
    (tmp_path / "_config.yml").write_text("repository:\n  url: github.com/x\n")
    (tmp_path / "pyproject.toml").write_text('[project]\nversion = "1.0.0"\n')
    with pytest.raises(SystemExit, match=r"_config.yml: repository.url is 'github.com/x'"):
        make_colab_notebooks.read_settings(tmp_path)


def _tracked_text_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True
    ).stdout.decode()
    paths = [REPO / name for name in listed.split("\0") if name]
    return [p for p in paths if p.is_file() and p.suffix not in BINARY_SUFFIXES]


BINARY_SUFFIXES = {".png", ".jpg", ".pt", ".zip", ".gz", ".npz", ".pdf", ".svg"}


def test_repository_url_is_written_in_config_only(settings):
    """Only _config.yml names the repository for the scripts and bootstraps; generated files
    (the Colab notebooks and the chapters' bootstrap cells, the output references) are written
    from it. README.md is prose for people: its links (badges, the book's address, the
    chapter table) are checked against _config.yml by tests/test_release.py."""
    owner, name = settings.owner_and_name.split("/")
    pattern = re.compile(
        rf"github\.com[/:]{owner}/{name}\b|{owner}\.github\.io/{name}\b"
        rf"|colab\.research\.google\.com/github/{owner}/{name}\b",
        re.IGNORECASE,
    )
    generated = {REPO / "_config.yml", REPO / "README.md"}
    generated |= set((REPO / "notebooks").glob("*.ipynb")) | set(
        (REPO / "tests/chapter_outputs").glob("*")
    )
    offenders = []
    for path in _tracked_text_files() + CHAPTERS:
        if path in generated:
            continue
        text = path.read_text(errors="replace")
        if path in CHAPTERS:
            text = text.replace(make_colab_notebooks.bootstrap_source(settings), "")
        offenders += [f"{path.relative_to(REPO)}: {m[0]}" for m in pattern.finditer(text)]
    assert not offenders, (
        "the repository's URL is hard-coded; read repository.url / html.baseurl from "
        f"_config.yml instead: {offenders}"
    )


@pytest.mark.parametrize("source", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_structure(source):
    nb = jupytext.read(source)
    tags = [c.metadata.get("tags", []) for c in nb.cells]
    assert sum("parameters" in t for t in tags) == 1, "one papermill parameters cell"
    assert any("remove-cell" in t for t in tags), "a Colab bootstrap cell tagged remove-cell"
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    assert any(chapter_outputs.is_checked(c) for c in nb.cells), "no cell tagged check-output"
    assert not any("NBVAL" in c.source for c in nb.cells), "a check marker in the code"
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
def test_output_reference_matches_the_chapter(source):
    """The reference holds one output per checked cell, of the chapter's current code."""
    reference = REPO / "tests" / "chapter_outputs" / f"{source.stem}.json"
    refresh = f"run .venv/bin/python scripts/chapter_outputs.py refresh {source.stem}"
    assert reference.exists(), refresh
    cells = json.loads(reference.read_text())["cells"]
    sources = [code for code, _ in chapter_outputs.checked_sources(source.stem)]
    assert [c["source"] for c in cells] == sources, f"{reference.name} is stale: {refresh}"


@pytest.mark.parametrize(
    ("reference", "actual", "rtol", "problem"),
    [
        ("conv1 3.28  conv2 4.18", "conv1 3.27  conv2 4.18", 0.0, "exact"),
        ("conv1 3.28  conv2 4.18", "conv1 3.27  conv2 4.18", 1e-3, None),  # one last digit
        ("loss 1.7907", "loss 1.7950", 1e-3, "relative difference 2.40e-03 > tolerance 0.001"),
        ("loss 1.7907", "loss 1.7925", 2e-3, None),
        ("964 characters", "965 characters", 0.5, "exact"),  # integers: always exact
        ("head has the largest norm: True", "head has the largest norm: False", 0.1, "text"),
        ("conv2 > conv3", "conv3 > conv2", 0.5, "text"),  # digits inside words are text
        ("ratio 2.106", "ratio nan", 0.1, "text"),
        ("a 1.5e-06 b", "a 1.6e-06 b", 0.01, None),  # one unit of the last digit
        ("a 1.50e-06 b", "a 1.60e-06 b", 0.01, "relative difference 6.67e-02"),
        ("x 1.0", "x 1.0\ny 2.0", 0.1, "text"),
    ],
)
def test_output_comparison(reference, actual, rtol, problem):
    problems = chapter_outputs.differences(reference, actual, rtol)
    if problem is None:
        assert problems == []
    else:
        assert len(problems) == 1 and problem in problems[0]


def test_last_digit_unit():
    assert chapter_outputs.last_digit_unit("3.28") == pytest.approx(0.01)
    assert chapter_outputs.last_digit_unit("3.") == 1
    assert chapter_outputs.last_digit_unit("1.5e-06") == pytest.approx(1e-7)
    assert chapter_outputs.last_digit_unit("12") == 1


def test_a_bad_tolerance_names_the_fix():
    cell = nbformat.v4.new_code_cell(
        "print(1)", metadata={"tags": ["check-output"], "check_rtol": 2}
    )
    with pytest.raises(ValueError, match="check_rtol=2 .* between 0 and 1, for example"):
        chapter_outputs.rtol_of(cell)


def test_cross_references_open_chapters_in_colab_and_pages_in_the_book(settings):
    link = make_colab_notebooks.make_linker(
        settings,
        make_colab_notebooks.page_titles(REPO),
        {"sec-eps": ("notebooks/04_batchnorm_invariance", "Where eps matters")},
    )
    url, title = link("doc", CHAPTERS[0].stem)
    assert url == settings.colab_url(CHAPTERS[0].stem)
    assert title.startswith("1. ")  # the chapter's own title, as the book shows it
    assert link("doc", "../book/reproduction") == (
        f"{settings.book_url}book/reproduction.html",
        "Reproducing the paper",
    )
    assert link("ref", "sec-eps") == (
        f"{settings.book_url}notebooks/04_batchnorm_invariance.html#sec-eps",
        "Where eps matters",
    )
    with pytest.raises(SystemExit, match="book/nowhere is not a page of the book"):
        link("doc", "../book/nowhere")


def test_labels_are_found_with_the_heading_they_name(tmp_path):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "guide.md").write_text("# Guide\n\n(sec-setup)=\n## Setting up\n")
    assert make_colab_notebooks.book_labels(tmp_path) == {"sec-setup": ("book/guide", "Setting up")}


def test_bootstrap_in_colab_checks_out_the_pinned_release(settings, monkeypatch):
    import importlib.util
    import os
    import types

    commands = []
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.setattr(sys, "path", list(sys.path))
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "cxgrad" else real_find_spec(name, *a),
    )
    monkeypatch.setattr(os.path, "isdir", lambda path: False)
    monkeypatch.setattr(subprocess, "run", lambda command, check: commands.append(command))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(make_colab_notebooks.bootstrap_source(settings), {"__name__": "bootstrap"})
    clone, pip = commands
    assert clone[:2] == ["git", "clone"] and clone[-2:] == [settings.repo_url, "/content/cxgrad"]
    assert clone[clone.index("--branch") + 1] == f"v{settings.version}"
    assert pip[-4:] == ["install", "-q", "-e", "/content/cxgrad"]
    assert sys.path[0] == "/content/cxgrad"
    assert f"Installing cxgrad v{settings.version} from {settings.repo_url}" in out.getvalue()


@pytest.mark.integration
@pytest.mark.parametrize(
    ("mutant", "expected"),
    [("inner step size x1.01", "0.0101 5 5"), ("one inner step fewer", "0.01 4 4")],
)
def test_a_mutant_changes_every_learner_the_chapters_build(tmp_path, mutant, expected):
    """`chapter_outputs.py mutants` changes the library in the chapters' kernels through a
    sitecustomize hook; a learner built there has the changed inner loop."""
    change = chapter_outputs.MUTANTS[mutant]
    (tmp_path / "sitecustomize.py").write_text(chapter_outputs.MUTANT_HOOK.format(change=change))
    code = (
        "from cxgrad.runs import TrainConfig, build_learner\n"
        "m = build_learner(TrainConfig(method='maml')).meta\n"
        "print(round(m.inner_lr, 6), m.inner_steps_train, m.inner_steps_eval)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join(
                filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")])
            ),
        },
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip() == expected
