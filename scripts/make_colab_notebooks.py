"""Generate what Colab opens from the book's jupytext sources, deterministically.

    .venv/bin/python scripts/make_colab_notebooks.py          # write what is stale
    .venv/bin/python scripts/make_colab_notebooks.py --check  # exit 1 if anything is stale

Three things come out of one pass over notebooks/*.py:

1. The Colab bootstrap cell (the code cell tagged ``remove-cell``) of every .py source,
   written from two settings: the repository URL (``_config.yml``, ``repository.url``) and
   the package version (``pyproject.toml``, ``[project] version``), which pins the install
   to the tag ``v<version>``. The .py and the .ipynb carry the same cell, so their code
   cells stay identical; nothing else in the .py is touched.
2. notebooks/*.ipynb: the same cells, with the markdown cells' MyST (citations,
   cross-references, admonitions, solutions) rewritten as plain Markdown
   (scripts/myst_to_markdown.py), a reference list at the end, no outputs.
3. README.md's table of chapters with an "Open in Colab" badge each, between the markers
   ``<!-- chapters:start -->`` and ``<!-- chapters:end -->``.

tests/test_notebooks.py fails when any of them is stale.
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import jupytext
import nbformat
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from myst_to_markdown import Bibliography, Converter  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
BOOTSTRAP_TAG = "remove-cell"
README_START = "<!-- chapters:start -->"
README_END = "<!-- chapters:end -->"
COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
DRIVE_RUNS = "/content/drive/MyDrive/cxgrad/runs"

BOOTSTRAP = """\
# Colab: install the cxgrad release this book was written for, and say where the notebook
# runs. A checkout, not a plain pip install: chapters 6, 7 and 10-12 also read the results of
# record in its results/ folder. (Omniglot and Fashion-MNIST are downloaded by the loaders.)
# Written by scripts/make_colab_notebooks.py from _config.yml and pyproject.toml.
import importlib.util
import os
import subprocess
import sys

CXGRAD_REPOSITORY = "{url}"
CXGRAD_REF = "{ref}"
CXGRAD_DIR = "/content/cxgrad"
# True: keep trained models (CXGRAD_RUNS) on Google Drive, so a new Colab VM need not retrain.
RUNS_ON_DRIVE = False

if "google.colab" in sys.modules:
    if importlib.util.find_spec("cxgrad") is None:
        if not os.path.isdir(CXGRAD_DIR):
            print(f"Installing cxgrad {{CXGRAD_REF}} from {{CXGRAD_REPOSITORY}} in {{CXGRAD_DIR}}")
            clone = ["git", "clone", "-q", "--depth", "1", "--branch", CXGRAD_REF]
            subprocess.run([*clone, CXGRAD_REPOSITORY, CXGRAD_DIR], check=True)
            pip = [sys.executable, "-m", "pip", "install", "-q", "-e", CXGRAD_DIR]
            subprocess.run(pip, check=True)
        sys.path.insert(0, CXGRAD_DIR)  # an editable install is seen by new kernels only
    if RUNS_ON_DRIVE:
        from google.colab import drive

        drive.mount("/content/drive")
        os.environ["CXGRAD_RUNS"] = "{drive_runs}"
        print(f"Trained models are kept in {{os.environ['CXGRAD_RUNS']}}")

import torch

if torch.cuda.is_available():
    print(f"Running on a GPU: {{torch.cuda.get_device_name(0)}}")
else:
    print(
        "Running on the CPU. In Colab, choose Runtime > Change runtime type > GPU "
        "(T4 is enough) and run the notebook again to train faster."
    )
"""


@dataclass(frozen=True)
class Settings:
    """The settings every generated file is written from, each read from its one place."""

    repo_url: str  # https://github.com/<owner>/<name>
    branch: str
    version: str
    book_url: str  # the published book, ending in /

    @property
    def ref(self) -> str:
        return f"v{self.version}"

    @property
    def owner_and_name(self) -> str:
        return self.repo_url.removeprefix("https://github.com/")

    def colab_url(self, stem: str) -> str:
        return (
            f"https://colab.research.google.com/github/{self.owner_and_name}"
            f"/blob/{self.branch}/notebooks/{stem}.ipynb"
        )

    def raw_url(self, path: str) -> str:
        return f"https://raw.githubusercontent.com/{self.owner_and_name}/{self.ref}/{path}"


def read_settings(repo: Path = REPO) -> Settings:
    config_path = repo / "_config.yml"
    config = yaml.safe_load(config_path.read_text())
    repository = config.get("repository") or {}
    url = str(repository.get("url", "")).rstrip("/")
    if not re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", url):
        raise SystemExit(
            f"{config_path}: repository.url is {url!r}; "
            "set it to the repository's https://github.com/<owner>/<name> URL"
        )
    book_url = str((config.get("html") or {}).get("baseurl") or "")
    if not book_url.startswith("https://"):
        raise SystemExit(
            f"{config_path}: html.baseurl is {book_url!r}; set it to the published book's "
            "https:// URL (the Colab notebooks link to the book's pages)"
        )
    pyproject_path = repo / "pyproject.toml"
    version = tomllib.loads(pyproject_path.read_text())["project"].get("version", "")
    if not re.fullmatch(r"\d+\.\d+\.\d+\S*", version):
        raise SystemExit(f"{pyproject_path}: [project] version is {version!r}; set e.g. 0.1.0")
    return Settings(
        url, str(repository.get("branch") or "main"), version, book_url.rstrip("/") + "/"
    )


def bootstrap_source(settings: Settings) -> str:
    return BOOTSTRAP.format(url=settings.repo_url, ref=settings.ref, drive_runs=DRIVE_RUNS)


# --- 1. the bootstrap cell of the .py sources ------------------------------------------------
def with_bootstrap(py_text: str, settings: Settings, name: str) -> str:
    """``py_text`` with its ``remove-cell`` code cell replaced by the bootstrap."""
    lines = py_text.split("\n")
    header = f'# %% tags=["{BOOTSTRAP_TAG}"]'
    if header not in lines:
        raise SystemExit(
            f"{name}: no cell '{header}'; add the Colab bootstrap cell after the title"
        )
    start = lines.index(header) + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("# %%")), len(lines))
    body = bootstrap_source(settings).rstrip("\n").split("\n") + [""]
    return "\n".join(lines[:start] + body + lines[end:])


# --- 2. the Colab notebooks ------------------------------------------------------------------
def make_linker(settings: Settings, titles: dict[str, str], labels: dict[str, tuple[str, str]]):
    """Links for cross-references: a chapter opens as its Colab notebook, any other page (or
    a labelled section) in the published book. ``titles`` maps a page (``book/intro``,
    ``notebooks/01_episodes``) to its title, ``labels`` a target to its page and title."""

    def link(role: str, target: str) -> tuple[str, str]:
        if role == "file":
            path = str(Path("notebooks", target)).replace("notebooks/../", "")
            return settings.raw_url(path), ""
        if role in ("ref", "numref"):
            if target not in labels:
                raise SystemExit(f"{{{role}}}`{target}`: no target ({target})= in the book")
            page, title = labels[target]
            return f"{settings.book_url}{page}.html#{target}", title
        page = target.removesuffix(".md").removesuffix(".py")
        page = page.removeprefix("../") if page.startswith("../") else f"notebooks/{page}"
        if page not in titles:
            raise SystemExit(f"{{{role}}}`{target}`: {page} is not a page of the book")
        if page.startswith("notebooks/"):  # a sibling chapter: stay in Colab
            return settings.colab_url(page.removeprefix("notebooks/")), titles[page]
        return f"{settings.book_url}{page}.html", titles[page]

    return link


def _book_pages(repo: Path) -> dict[str, str]:
    """Every page of the book (``notebooks/01_episodes``, ``book/intro``) and its markdown:
    the chapters' markdown cells, or the .md file."""
    pages = {}
    for path in sorted((repo / "notebooks").glob("[0-9][0-9]_*.py")):
        cells = jupytext.reads(path.read_text(), fmt="py:percent").cells
        text = "\n\n".join(c.source for c in cells if c.cell_type == "markdown")
        pages[f"notebooks/{path.stem}"] = text
    for path in sorted((repo / "book").glob("*.md")):
        pages[f"book/{path.stem}"] = path.read_text()
    return pages


def page_titles(repo: Path) -> dict[str, str]:
    """The title (first ``# `` heading) of every page of the book."""
    titles = {}
    for page, text in _book_pages(repo).items():
        match = re.search(r"^# (.+)$", text, re.MULTILINE)
        if match:
            titles[page] = match[1].strip()
    return titles


def book_labels(repo: Path) -> dict[str, tuple[str, str]]:
    """MyST targets ``(label)=`` of the book: the page that defines each, and the title of
    the heading that follows it (else the label)."""
    labels = {}
    target = re.compile(r"^\(([\w.:-]+)\)=[ \t]*\n(?:\s*\n)*(#+ (.+))?", re.MULTILINE)
    for page, text in _book_pages(repo).items():
        for match in target.finditer(text):
            labels[match[1]] = (page, (match[3] or match[1]).strip())
    return labels


def colab_notebook(py_text: str, stem: str, settings: Settings, repo: Path = REPO) -> str:
    """The .ipynb text that Colab opens for the chapter whose source is ``py_text``."""
    converter = Converter(
        Bibliography.read(repo / "book" / "references.bib"),
        make_linker(settings, page_titles(repo), book_labels(repo)),
        where=f"notebooks/{stem}.py",
    )
    source = jupytext.reads(py_text, fmt="py:percent")
    cells = []
    for cell in source.cells:
        tags = cell.metadata.get("tags", [])
        metadata = {"tags": list(tags)} if tags else {}
        if cell.cell_type == "code":
            cells.append(nbformat.v4.new_code_cell(cell.source, metadata=metadata))
        else:
            cells.append(
                nbformat.v4.new_markdown_cell(converter.convert(cell.source), metadata=metadata)
            )
    ending = [
        f"*This notebook is generated from `notebooks/{stem}.py`; the book shows it with its "
        f"outputs at {settings.book_url}notebooks/{stem}.html.*"
    ]
    if converter.cited:
        ending.insert(0, converter.reference_list() + "\n")
    cells.append(nbformat.v4.new_markdown_cell("\n".join(ending)))
    for i, cell in enumerate(cells):
        cell["id"] = f"{stem[:2]}-{i:03d}"  # stable ids: a regeneration changes nothing
    notebook = nbformat.v4.new_notebook(
        cells=cells,
        metadata={
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
            "colab": {"provenance": [], "toc_visible": True},
        },
    )
    return nbformat.writes(notebook) + "\n"


# --- 3. README's table of chapters -----------------------------------------------------------
def chapter_title(py_text: str, name: str) -> str:
    first = jupytext.reads(py_text, fmt="py:percent").cells[0]
    match = re.match(r"# (.+)", first.source)
    if first.cell_type != "markdown" or not match:
        raise SystemExit(f"{name}: the first cell must be markdown starting with '# <title>'")
    return match[1].strip()


def readme_table(titles: dict[str, str], settings: Settings) -> str:
    rows = [
        "| chapter | read it with its outputs | run it |",
        "| --- | --- | --- |",
    ]
    for stem, title in sorted(titles.items()):
        badge = f"[![Open in Colab]({COLAB_BADGE})]({settings.colab_url(stem)})"
        page = f"[book page]({settings.book_url}notebooks/{stem}.html)"
        rows.append(f"| {title} | {page} | {badge} |")
    return "\n".join(rows)


def with_readme_table(readme: str, table: str) -> str:
    if README_START not in readme or README_END not in readme:
        raise SystemExit(
            f"README.md: the markers {README_START} and {README_END} are missing; "
            "put them where the table of chapters belongs"
        )
    before, rest = readme.split(README_START, 1)
    _, after = rest.split(README_END, 1)
    return f"{before}{README_START}\n{table}\n{README_END}{after}"


# --- the whole pass --------------------------------------------------------------------------
def expected_files(repo: Path = REPO) -> dict[Path, str]:
    """Every generated file and the text it must have now."""
    settings = read_settings(repo)
    files: dict[Path, str] = {}
    titles = {}
    for source in sorted((repo / "notebooks").glob("[0-9][0-9]_*.py")):
        name = str(source.relative_to(repo))
        py_text = with_bootstrap(source.read_text(), settings, name)
        files[source] = py_text
        files[source.with_suffix(".ipynb")] = colab_notebook(py_text, source.stem, settings, repo)
        titles[source.stem] = chapter_title(py_text, name)
    readme = repo / "README.md"
    files[readme] = with_readme_table(readme.read_text(), readme_table(titles, settings))
    return files


def stale_files(repo: Path = REPO) -> list[Path]:
    return [
        path
        for path, text in expected_files(repo).items()
        if not path.exists() or path.read_text() != text
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only report stale files")
    args = parser.parse_args(argv)
    expected = expected_files()
    stale = [p for p, text in expected.items() if not p.exists() or p.read_text() != text]
    for path in stale:
        print(f"{'stale' if args.check else 'wrote'} {path.relative_to(REPO)}")
        if not args.check:
            path.write_text(expected[path])
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
