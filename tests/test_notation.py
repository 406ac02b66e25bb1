"""Every code name in the book's notation table (book/notation.md) exists in the library."""

from __future__ import annotations

import dataclasses
import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGE = REPO / "book" / "notation.md"


def code_names() -> list[str]:
    """The backticked names in the last column of every table row of the page."""
    names = []
    for line in PAGE.read_text().splitlines():
        if line.startswith("| ") and not line.startswith("| ---") and "in the code" not in line:
            names += re.findall(r"`([^`]+)`", line.rstrip(" |").rsplit(" | ", 1)[1])
    return names


def resolve(dotted: str) -> object:
    """The object a dotted name refers to: the longest importable module, then attributes.

    A dataclass field without a class-level default is looked up among the fields.
    """
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            fields = (
                {f.name: f for f in dataclasses.fields(obj)}
                if dataclasses.is_dataclass(obj)
                else {}
            )
            if hasattr(obj, attr):
                obj = getattr(obj, attr)
            elif attr in fields:
                obj = fields[attr]
            else:
                raise AttributeError(f"{dotted}: {obj!r} has no attribute {attr!r}")
        return obj
    raise ModuleNotFoundError(f"{dotted}: no importable module")


def test_the_table_names_the_code():
    names = code_names()
    assert len(names) >= 30
    assert all(n.startswith(("cxgrad.", "--")) for n in names), names


@pytest.mark.parametrize("name", [n for n in code_names() if n.startswith("cxgrad.")])
def test_library_name_exists(name):
    resolve(name)


def test_resolve_rejects_a_missing_name():
    with pytest.raises(AttributeError, match="inner_learning_rate"):
        resolve("cxgrad.runs.config.TrainConfig.inner_learning_rate")


@pytest.mark.integration
def test_command_line_options_exist():
    options = sorted({n for n in code_names() if n.startswith("--")})
    assert "--inner-lr" in options
    usage = subprocess.run(
        [sys.executable, "-m", "cxgrad", "train", "--help"],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    ).stdout
    missing = [o for o in options if not re.search(rf"{re.escape(o)}\b", usage)]
    assert not missing, f"book/notation.md names options that `cxgrad train` lacks: {missing}"


def test_the_intro_links_the_page():
    assert "{doc}`notation`" in (REPO / "book" / "intro.md").read_text()
