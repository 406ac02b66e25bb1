"""The book's API reference covers the library's public modules and is in the table of contents."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PUBLIC = [
    "cxgrad.meta",
    "cxgrad.meta.cxgrad",  # Algorithm 1 as functions: read beside the paper
    "cxgrad.models",
    "cxgrad.data",
    "cxgrad.runs",
    "cxgrad.training",
    "cxgrad.evaluation",
    "cxgrad.analysis",
    "cxgrad.records",
    "cxgrad.book",
]


def documented() -> list[str]:
    text = (REPO / "book" / "api.md").read_text()
    return re.findall(r"^\.\. automodule:: (\S+)$", text, flags=re.M)


def test_every_public_module_is_documented():
    assert sorted(documented()) == sorted(PUBLIC)


@pytest.mark.parametrize("module", PUBLIC)
def test_documented_module_imports(module):
    assert importlib.import_module(module).__doc__, f"{module} has no module docstring"


def test_reference_pages_are_in_the_toc():
    toc = (REPO / "_toc.yml").read_text()
    for page in ("book/notation", "book/api", "book/instructor_guide"):
        assert f"file: {page}\n" in toc, f"{page} is not in _toc.yml"


def test_autodoc_is_enabled():
    assert "sphinx.ext.autodoc" in (REPO / "_config.yml").read_text()
