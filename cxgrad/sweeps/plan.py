"""What a sweep runs: configurations x seeds, each one a ``TrainConfig`` with a name.

A configuration is named in one of three ways: a record configuration
(``cxgrad.records.CONFIGURATIONS``), a preset of the paper (``cxgrad.runs.PRESETS``), or
a table of a sweep file (TOML or JSON) that starts from either and changes options::

    seeds = [0, 1, 2]                 # optional; --seeds replaces it

    [configurations.cxgrad-beta0.1]
    base = "cxgrad"                   # a record configuration or a preset (optional)
    description = "CxGrad with beta = 0.1"
    context_lr = 0.1                  # any option of cxgrad train, by its field name

Every configuration is built (and so validated) before anything is submitted: a typo
fails in a second on the login node, not hours later in a queue.
"""

from __future__ import annotations

import json
import shlex
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cxgrad.errors import ConfigError
from cxgrad.records.catalogue import CONFIGURATIONS, RECORD_ITERATIONS, record_config
from cxgrad.runs.config import TrainConfig
from cxgrad.runs.presets import PRESETS, build_config

# Keys of a sweep-file table that are not options of a run.
_TABLE_KEYS = ("base", "description")


@dataclass(frozen=True)
class SweepRun:
    """One run of a sweep: configuration ``name`` with ``seed``."""

    name: str
    seed: int
    description: str
    config: TrainConfig
    command: str  # how to make this one run's record again

    @property
    def key(self) -> str:
        """The run's name in folders and records: ``<name>-seed<k>``."""
        return f"{self.name}-seed{self.seed}"


def read_sweep_file(path: str | Path) -> dict[str, Any]:
    """A sweep file's contents: ``{"seeds": [...], "configurations": {name: table}}``."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"sweep file {path} does not exist; pass the path of a .toml or .json")
    text = path.read_text()
    try:
        data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as err:
        raise ConfigError(
            f"sweep file {path} is not valid {path.suffix[1:].upper()}: {err}"
        ) from err
    tables = data.get("configurations")
    if not isinstance(tables, dict) or not tables:
        raise ConfigError(
            f"sweep file {path} has no configurations: add a table "
            "[configurations.NAME] per configuration (see `cxgrad sweep run --help`)"
        )
    unknown = sorted(set(data) - {"seeds", "configurations"})
    if unknown:
        raise ConfigError(
            f"sweep file {path}: unknown key(s) {unknown}; known: seeds, configurations"
        )
    return data


def known_names(file_tables: dict[str, Any] | None = None) -> list[str]:
    """Every configuration name a sweep accepts: the file's, the records', the presets'."""
    return [*(file_tables or {}), *CONFIGURATIONS, *sorted(PRESETS)]


def _unknown(name: str, file_tables: dict[str, Any] | None) -> ConfigError:
    where = "the sweep file's configurations, " if file_tables else ""
    return ConfigError(
        f"unknown configuration {name!r}; choose from {where}the record configurations "
        f"({', '.join(CONFIGURATIONS)}) or the presets ({', '.join(sorted(PRESETS))})"
    )


def _base_config(base: str, seed: int, iterations: int | None) -> tuple[TrainConfig, str]:
    """A record configuration or a preset with ``seed`` (and ``iterations`` if given)."""
    if base in CONFIGURATIONS:
        config = record_config(base, seed, iterations or RECORD_ITERATIONS)
        return config, CONFIGURATIONS[base][0]
    config = build_config(base, seed=seed, iterations=iterations)
    return config, f"preset {base}"


def build_run(
    name: str,
    seed: int,
    iterations: int | None = None,
    test_tasks: int | None = None,
    file_tables: dict[str, Any] | None = None,
    file: str | Path | None = None,
) -> SweepRun:
    """The run of configuration ``name`` with ``seed``; ``iterations`` (if given) replaces
    every configuration's own, a record configuration's validation schedule included."""
    if seed < 0:
        raise ConfigError(f"--seeds {seed}: seeds are integers >= 0")
    options = ["--configs", name, "--seeds", str(seed)]
    if file is not None:
        options = ["--file", str(file), *options]
    options += [] if iterations is None else ["--iterations", str(iterations)]
    options += [] if test_tasks is None else ["--test-tasks", str(test_tasks)]
    command = shlex.join(["cxgrad", "sweep", "run", *options])
    table = (file_tables or {}).get(name)
    if table is None:
        if name not in CONFIGURATIONS and name not in PRESETS:
            raise _unknown(name, file_tables)
        config, description = _base_config(name, seed, iterations)
        return SweepRun(name, seed, description, config, command)
    if not isinstance(table, dict):
        raise ConfigError(f"sweep file: configuration {name!r} must be a table of options")
    changes = {k: v for k, v in table.items() if k not in _TABLE_KEYS}
    if "seed" in changes:
        raise ConfigError(
            f"sweep file: configuration {name!r} sets seed; seeds come from --seeds or the "
            "file's top-level seeds = [...], remove it from the table"
        )
    base = table.get("base")
    if base is not None and base not in CONFIGURATIONS and base not in PRESETS:
        raise ConfigError(
            f"sweep file: configuration {name!r} has base {base!r}: " + str(_unknown(base, None))
        )
    if iterations is not None:
        changes["iterations"] = iterations
    try:
        if base is None:
            config = TrainConfig.from_dict(dict(changes, seed=seed), source=f"sweep file {name}")
            description = name
        else:
            config, description = _base_config(base, seed, changes.pop("iterations", None))
            known = set(config.to_dict())
            wrong = sorted(set(changes) - known)
            if wrong:
                raise ConfigError(f"unknown option(s) {wrong}; known: {sorted(known)}")
            config = config.replace(**changes)
    except (TypeError, ValueError, ConfigError) as err:
        raise ConfigError(f"sweep file: configuration {name!r}: {err}") from err
    return SweepRun(name, seed, str(table.get("description", description)), config, command)


def plan(
    names: list[str] | None,
    seeds: list[int] | None,
    file: str | Path | None = None,
    iterations: int | None = None,
    test_tasks: int | None = None,
    default_names: tuple[str, ...] = (),
) -> list[SweepRun]:
    """Configurations x seeds, seed-major (every configuration has seed 0 before any has
    seed 1, so a sweep stopped halfway has whole seeds to compare)."""
    tables: dict[str, Any] | None = None
    file_seeds = None
    if file is not None:
        data = read_sweep_file(file)
        tables, file_seeds = data["configurations"], data.get("seeds")
    names = list(names or (list(tables) if tables else list(default_names)))
    seeds = list(seeds if seeds is not None else (file_seeds or [0, 1, 2]))
    if not names:
        raise ConfigError("no configurations given: pass --configs NAME ... or --file FILE")
    if len(set(names)) != len(names) or len(set(seeds)) != len(seeds):
        raise ConfigError(f"--configs {names} / --seeds {seeds}: each must be given once")
    for name in names:
        if name not in known_names(tables):
            raise _unknown(name, tables)
    return [
        build_run(name, seed, iterations, test_tasks, tables, file)
        for seed in seeds
        for name in names
    ]
