"""The library's layout: a few modules at the root, one package per part, each part placed in
the import contract, and the module paths of release 0.3 still importable with a warning."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
import tomllib
import warnings
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "cxgrad"
LAYERS = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"][
    0
]["layers"]
IN_A_LAYER = {name.strip() for layer in LAYERS for name in layer.split("|")}


def test_the_root_holds_few_modules():
    modules = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(modules) <= 8, modules


@pytest.mark.parametrize("package", sorted(p.parent.name for p in PACKAGE.glob("*/__init__.py")))
def test_every_part_says_what_it_is_and_has_its_layer(package):
    doc = ast.get_docstring(ast.parse((PACKAGE / package / "__init__.py").read_text()))
    assert doc and doc.splitlines()[0].endswith("."), f"cxgrad.{package}: no one-line docstring"
    assert f"cxgrad.{package}" in IN_A_LAYER, f"cxgrad.{package} is in no layer of the contract"


def test_every_public_root_module_has_its_layer():
    public = {f"cxgrad.{p.stem}" for p in PACKAGE.glob("[!_]*.py")}
    assert public <= IN_A_LAYER, public - IN_A_LAYER


def _imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_a_private_module_is_imported_only_inside_its_package():
    """A module whose name starts with ``_`` is its package's plumbing: other parts import
    what they need from the package itself, so it may move without breaking them."""
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        here = ".".join(path.relative_to(REPO).with_suffix("").parts[:-1])
        for name in _imported_modules(path):
            parts = name.split(".")
            private = [  # modules only: a private function imported by name is no module
                i
                for i, part in enumerate(parts)
                if i > 0
                and part.startswith("_")
                and REPO.joinpath(*parts[: i + 1]).with_suffix(".py").exists()
            ]
            if private and parts[0] == "cxgrad":
                owner = ".".join(parts[: private[0]])
                if owner != here:
                    wrong.append(f"{path.relative_to(REPO)} imports {name}")
    assert not wrong, wrong


def test_the_contract_is_kept():
    out = subprocess.run(
        [str(Path(sys.executable).with_name("lint-imports")), "--no-cache"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout[-3000:]


# an old path, a name it had, and the package that has the name now
OLD_NAMES = {
    "cxgrad.train": {"train": "cxgrad.training", "build_learner": "cxgrad.runs"},
    "cxgrad.course": {"trained_run": "cxgrad.book", "omniglot_config": "cxgrad.runs"},
    "cxgrad.evaluate": {"evaluate": "cxgrad.evaluation"},
    "cxgrad.config": {"build_config": "cxgrad.runs"},
    "cxgrad.record_models": {"load_record_model": "cxgrad.records"},
}


@pytest.mark.parametrize(
    ("old", "name", "new"),
    [(old, name, new) for old, names in OLD_NAMES.items() for name, new in names.items()],
)
def test_an_old_path_still_imports_and_says_where_it_went(old, name, new):
    sys.modules.pop(old, None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = importlib.import_module(old)
    assert getattr(module, name) is getattr(importlib.import_module(new), name)
    messages = [str(w.message) for w in caught if issubclass(w.category, FutureWarning)]
    assert len(messages) == 1 and f"{old} moved to" in messages[0]


def test_a_choice_is_checked_from_its_declaration():
    from cxgrad.errors import ConfigError
    from cxgrad.meta import MetaConfig
    from cxgrad.runs import TrainConfig

    with pytest.raises(ConfigError, match=r"unknown backbone 'vgg'; choose one of conv4, "):
        TrainConfig(backbone="vgg")
    with pytest.raises(ConfigError, match=r"unknown activation 'gelu'.*\(--activation\)"):
        TrainConfig(activation="gelu")
    with pytest.raises(ConfigError, match=r"unknown context scheme 'x'.*\(--context-scheme\)"):
        MetaConfig(method="cxgrad", context_scheme="x")
