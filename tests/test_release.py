"""Release metadata: one version everywhere, a valid CITATION.cff, the book's URL and the
repository URL derived from _config.yml's `repository.url`, and the publishing workflows."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

import cxgrad

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
CONFIG = yaml.safe_load((REPO / "_config.yml").read_text())
VERSION = PYPROJECT["project"]["version"]


def repository() -> tuple[str, str]:
    """(owner, name) of _config.yml's repository.url, the project's one copy of it."""
    url = urlparse(CONFIG["repository"]["url"])
    owner, name = url.path.strip("/").split("/")
    assert url.scheme == "https" and url.netloc == "github.com", url
    return owner, name


def workflow(name: str) -> dict:
    text = (REPO / ".github" / "workflows" / name).read_text()
    # YAML 1.1 reads the key `on` as True.
    return {("on" if key is True else key): value for key, value in yaml.safe_load(text).items()}


def test_installed_version_is_pyprojects():
    assert cxgrad.__version__ == VERSION, (
        f"installed metadata says {cxgrad.__version__}, pyproject.toml {VERSION}: an editable "
        "install keeps the version it was installed with; run bash scripts/setup.sh"
    )


def test_changelog_has_a_section_for_this_version():
    headings = re.findall(r"^## (\S+)", (REPO / "CHANGELOG.md").read_text(), flags=re.M)
    # changes not yet released are listed first, under "Unreleased"
    headings = [h for h in headings if h != "Unreleased"]
    assert headings[0] == VERSION, f"CHANGELOG.md's latest section is {headings[0]}"


def test_license_is_mit_for_the_cxgrad_authors():
    text = (REPO / "LICENSE").read_text()
    assert text.startswith("MIT License")
    assert "Copyright (c) 2026 The cxgrad authors" in text
    assert PYPROJECT["project"]["license"] == "MIT"


def test_citation_cff_structure():
    cff = yaml.safe_load((REPO / "CITATION.cff").read_text())
    # The keys that the Citation File Format 1.2.0 schema requires.
    assert cff["cff-version"] == "1.2.0"
    for key in ("message", "title", "authors"):
        assert cff[key], key
    assert cff["type"] == "software"
    assert cff["version"] == VERSION
    assert cff["license"] == PYPROJECT["project"]["license"]
    paper = cff["preferred-citation"]
    for key in ("type", "title", "authors"):
        assert paper[key], key
    assert paper["type"] == "conference-paper"
    assert paper["title"] == "Contextual Gradient Scaling for Few-Shot Learning"
    assert paper["year"] == 2022
    assert "WACV" in paper["conference"]["name"]
    every_author = cff["authors"] + paper["authors"]
    assert all("name" in a or {"given-names", "family-names"} <= a.keys() for a in every_author)


def test_citation_authors_match_the_bibliography():
    cff = yaml.safe_load((REPO / "CITATION.cff").read_text())
    cited = [
        f"{a['family-names']}, {a['given-names']}" for a in cff["preferred-citation"]["authors"]
    ]
    bib = (REPO / "book" / "references.bib").read_text()
    entry = re.search(r"title = \{Contextual Gradient Scaling.*?author = \{(.*?)\}", bib, re.S)
    assert entry is not None, "book/references.bib has no CxGrad entry"
    assert cited == entry[1].split(" and ")


def test_book_url_is_the_repositorys_pages_site():
    owner, name = repository()
    assert CONFIG["html"]["baseurl"] == f"https://{owner}.github.io/{name}/"
    assert CONFIG["html"]["use_issues_button"] is True


@pytest.mark.parametrize(
    "path",
    [
        "README.md",
        "CITATION.cff",
        "pyproject.toml",
        *[str(p.relative_to(REPO)) for p in sorted((REPO / ".github" / "workflows").glob("*.yml"))],
    ],
)
def test_repository_url_is_never_a_second_copy_that_disagrees(path):
    """Wherever the repository or its Pages site is named, it is _config.yml's repository."""
    owner, name = repository()
    text = (REPO / path).read_text()
    for found in re.findall(rf"github(?:\.com)?/({re.escape(owner)})/([\w.-]+)", text, re.I):
        assert found == (owner, name), f"{path} names {found}, _config.yml says {owner}/{name}"
    for found in re.findall(r"([\w-]+)\.github\.io/([\w.-]+)", text):
        assert found == (owner, name), f"{path} names {found}, _config.yml says {owner}/{name}"
    if path.startswith(".github"):
        assert f"{owner}/{name}" not in text, f"{path}: use ${{{{ github.repository }}}}"


def test_pyproject_has_no_copy_of_the_repository_url():
    assert "urls" not in PYPROJECT["project"]


def test_readme_links_the_published_book():
    readme = (REPO / "README.md").read_text()
    assert f"]({CONFIG['html']['baseurl']})" in readme


def test_readme_states_the_tested_dependency_floors():
    """scripts/test_min_versions.sh installs every `name>=X` as `name==X`; the README says
    which floors were tested, so a changed floor must be tested and documented again."""
    section = (REPO / "README.md").read_text().split("### Supported versions")[1]
    for requirement in PYPROJECT["project"]["dependencies"]:
        assert re.fullmatch(r"[\w.-]+>=[\w.]+", requirement), requirement
        assert f"`{requirement}`" in section, f"README's Supported versions lacks {requirement}"


def test_book_workflow_tests_builds_and_deploys_to_pages():
    book = workflow("book.yml")
    assert book["on"]["push"]["branches"] == ["main"]
    jobs = book["jobs"]
    assert jobs["tests"]["uses"] == "./.github/workflows/tests.yml"
    assert jobs["build"]["needs"] == "tests"
    steps = jobs["build"]["steps"]
    assert any(s.get("run", "").endswith("bash scripts/build_book.sh") for s in steps)
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-pages-artifact"))
    assert upload["with"]["path"] == "_build/html"
    assert jobs["deploy"]["needs"] == "build"
    assert jobs["deploy"]["permissions"] == {"pages": "write", "id-token": "write"}
    assert jobs["deploy"]["steps"][0]["uses"].startswith("actions/deploy-pages")


def test_pull_requests_run_the_tests_and_the_release_check():
    tests = workflow("tests.yml")
    assert "pull_request" in tests["on"] and "workflow_call" in tests["on"]
    runs = [s.get("run", "") for s in tests["jobs"]["tests"]["steps"]]
    assert any(r.startswith("bash scripts/test.sh") for r in runs)
    assert "bash scripts/check_release.sh" in runs
