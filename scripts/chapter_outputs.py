"""The chapters' checked outputs: executed with CI's small parameters, compared with references.

A code cell tagged ``check-output`` in a chapter has its printed text (stdout) compared with
the reference in ``tests/chapter_outputs/<chapter>.json``. The text must match word for word,
and so must every integer (counts, shapes, seeds) and every number of a cell without a
tolerance. A cell whose numbers come from training or a long float computation declares a
relative tolerance in its header, ``# %% tags=["check-output"] check_rtol=0.02``: each decimal
number of its output may then differ from the reference by that fraction, or by one unit of
its last printed digit (two roundings of nearly equal values differ by that much at a rounding
boundary). Machines whose CPU kernels sum in another order print other last digits; a change
of the library moves the numbers by more (``measure`` below shows both).

    python scripts/chapter_outputs.py refresh [CHAPTER ...]   # write the references
    python scripts/chapter_outputs.py check [CHAPTER ...]     # execute and compare
    python scripts/chapter_outputs.py measure [CHAPTER ...]   # spread across CPU kernels
    python scripts/chapter_outputs.py mutants [CHAPTER ...]   # are real changes caught?

``tests/test_chapter_outputs.py`` (marker ``chapter_outputs``) is the check that CI runs, once
with the default kernels and once with ATen's generic ones (``ATEN_CPU_CAPABILITY=default``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REFERENCES = REPO / "tests" / "chapter_outputs"
TAG = "check-output"
RTOL_KEY = "check_rtol"
# A number standing alone: not part of a word (conv1, x0.52) or of a longer number.
NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?(?!\w)")
# The environments in which `measure` executes the chapters: stand-ins for other CPUs (ATen's
# generic kernels; oneDNN limited to SSE4.1) and another thread count.
# (The references themselves are made with the default kernels and one thread.)
KERNELS: dict[str, dict[str, str]] = {
    "default kernels, 2 threads": {"OMP_NUM_THREADS": "2"},
    "ATEN_CPU_CAPABILITY=default": {"ATEN_CPU_CAPABILITY": "default"},
    "ATEN_CPU_CAPABILITY=default, 2 threads": {
        "ATEN_CPU_CAPABILITY": "default",
        "OMP_NUM_THREADS": "2",
    },
    "DNNL_MAX_CPU_ISA=SSE41": {"DNNL_MAX_CPU_ISA": "SSE41"},
    "DNNL_MAX_CPU_ISA=SSE41, 2 threads": {"DNNL_MAX_CPU_ISA": "SSE41", "OMP_NUM_THREADS": "2"},
}


# Deliberate changes of the library that the checks must catch: every learner built with its
# inner step size 1% larger, or with one inner step fewer (in training and evaluation). Each
# is applied in the chapters' kernels by a sitecustomize module on PYTHONPATH that wraps
# MetaLearner.__init__, so the library's files are not touched.
MUTANTS: dict[str, str] = {
    "inner step size x1.01": "inner_lr=meta.inner_lr * 1.01",
    "one inner step fewer": "inner_steps_train=max(meta.inner_steps_train - 1, 0), "
    "inner_steps_eval=max(meta.inner_steps_eval - 1, 0)",
}
MUTANT_HOOK = """
import dataclasses
from cxgrad.meta import learner as _learner
_init = _learner.MetaLearner.__init__
def _mutated(self, model, meta):
    _init(self, model, dataclasses.replace(meta, {change}))
_learner.MetaLearner.__init__ = _mutated
"""


def chapters() -> list[str]:
    return sorted(p.stem for p in (REPO / "notebooks").glob("[0-9][0-9]_*.py"))


@dataclass(frozen=True)
class Checked:
    """One checked cell: its code, its tolerance (0: exact) and what it printed."""

    source: str
    rtol: float
    output: str


def is_checked(cell) -> bool:  # noqa: ANN001 (an nbformat cell)
    return cell.cell_type == "code" and TAG in cell.metadata.get("tags", [])


def rtol_of(cell) -> float:  # noqa: ANN001
    rtol = cell.metadata.get(RTOL_KEY, 0.0)
    if not isinstance(rtol, int | float) or isinstance(rtol, bool) or not 0 <= rtol < 1:
        raise ValueError(
            f"{RTOL_KEY}={rtol!r} in the header of a check-output cell: write a relative "
            "tolerance between 0 and 1, for example check_rtol=0.02"
        )
    return float(rtol)


def checked_sources(stem: str) -> list[tuple[str, float]]:
    """The chapter's checked cells, as in its source: code and tolerance."""
    import jupytext

    nb = jupytext.read(REPO / "notebooks" / f"{stem}.py")
    return [(c.source.strip(), rtol_of(c)) for c in nb.cells if is_checked(c)]


def ci_parameters(stem: str) -> dict:
    import yaml

    return yaml.safe_load((REPO / "tests" / "ci_params" / f"{stem}.yaml").read_text()) or {}


def execute(stem: str) -> list[Checked]:
    """Execute the chapter's Colab notebook in a fresh kernel with CI's parameters (papermill)
    and return its checked cells. The kernel inherits this process's environment: thread
    count and kernel selection."""
    import papermill

    with tempfile.TemporaryDirectory() as scratch:
        executed = papermill.execute_notebook(
            str(REPO / "notebooks" / f"{stem}.ipynb"),
            str(Path(scratch) / f"{stem}.ipynb"),
            parameters=ci_parameters(stem),
            kernel_name="python3",
            cwd=str(REPO / "notebooks"),
            progress_bar=False,
        )
    printed = [
        "".join(
            o.get("text", "")
            for o in c.get("outputs", [])
            if o.output_type == "stream" and o.name == "stdout"
        )
        for c in executed.cells
        if is_checked(c)
    ]
    # the tolerances are read from the chapter's source (the Colab notebook keeps only tags)
    sources = checked_sources(stem)
    if len(sources) != len(printed):
        raise SystemExit(f"notebooks/{stem}.ipynb is stale: run scripts/make_colab_notebooks.py")
    return [
        Checked(source, rtol, text) for (source, rtol), text in zip(sources, printed, strict=True)
    ]


def _tokens(text: str) -> tuple[list[str], list[str]]:
    """The text around the numbers, and the numbers as printed."""
    return NUMBER.split(text), NUMBER.findall(text)


def _is_decimal(number: str) -> bool:
    return "." in number or "e" in number.lower()


def last_digit_unit(number: str) -> float:
    """One unit of the last printed digit: 0.01 for 3.28, 1e-7 for 1.5e-06."""
    mantissa, _, exponent = number.lower().partition("e")
    decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
    return 10.0 ** (int(exponent or 0) - decimals)


def differences(reference: str, actual: str, rtol: float) -> list[str]:
    """What differs between a reference output and a new one beyond the tolerance (empty:
    they agree). Text and integers must be equal; decimals within ``rtol`` relative or one
    unit of the last printed digit, when ``rtol`` > 0; otherwise equal as printed."""
    ref_text, ref_numbers = _tokens(reference)
    new_text, new_numbers = _tokens(actual)
    if ref_text != new_text or len(ref_numbers) != len(new_numbers):
        return [f"the text differs:\n--- reference\n{reference}\n--- this run\n{actual}"]
    problems = []
    for i, (old, new) in enumerate(zip(ref_numbers, new_numbers, strict=True)):
        if old == new:
            continue
        line = reference[: reference.find(old)].count("\n") + 1 if old in reference else "?"
        if rtol == 0 or not (_is_decimal(old) and _is_decimal(new)):
            problems.append(f"number {i + 1} (line {line}): {new}, reference {old} (exact)")
            continue
        a, b = float(new), float(old)
        allowed = max(rtol * abs(b), last_digit_unit(old), last_digit_unit(new))
        if not abs(a - b) <= allowed or not math.isfinite(a):
            relative = abs(a - b) / abs(b) if b else math.inf
            problems.append(
                f"number {i + 1} (line {line}): {new}, reference {old}: relative difference "
                f"{relative:.2e} > tolerance {rtol:g} (and more than one unit of the last digit)"
            )
    return problems


def reference_path(stem: str) -> Path:
    return REFERENCES / f"{stem}.json"


def read_reference(stem: str) -> dict:
    path = reference_path(stem)
    if not path.exists():
        raise SystemExit(f"{path} is missing: run python scripts/chapter_outputs.py refresh {stem}")
    return json.loads(path.read_text())


def refresh(stem: str) -> None:
    cells = execute(stem)
    reference = {
        "chapter": stem,
        "parameters": ci_parameters(stem),
        "made_on": hardware(),
        "cells": [{"source": c.source, "output": c.output} for c in cells],
    }
    path = reference_path(stem)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(reference, indent=1) + "\n")
    print(f"wrote {path.relative_to(REPO)}")


def hardware() -> dict:
    sys.path.insert(0, str(REPO))
    from cxgrad.hardware import describe

    return describe()


def _dump(stems: list[str], env: dict[str, str], cache: Path | None) -> dict[str, list[str]]:
    """Each chapter's checked outputs, executed in a child process with ``env`` added; with a
    ``cache`` folder, chapters dumped there before are read back (an interrupted measurement
    resumes)."""
    outputs = {}
    for stem in stems:
        saved = cache / f"{stem}.json" if cache else None
        if saved and saved.exists():
            outputs[stem] = json.loads(saved.read_text())
            continue
        out = subprocess.run(
            [sys.executable, __file__, "dump", stem],
            env={**os.environ, "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE", **env},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        outputs[stem] = json.loads(out.splitlines()[-1])[stem]
        if saved:
            saved.parent.mkdir(parents=True, exist_ok=True)
            saved.write_text(json.dumps(outputs[stem]))
        print(f"   {stem} done", flush=True)
    return outputs


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def measure(
    stems: list[str], kernels: dict[str, dict[str, str]], cache: Path | None = None
) -> dict:
    """Execute ``stems`` once per environment of ``kernels`` (each chapter in a child process
    with those variables) and return, per environment, each chapter's checked outputs."""
    values: dict[str, dict[str, list[str]]] = {}
    for name, env in kernels.items():
        print(f"== {name}", flush=True)
        values[name] = _dump(stems, env, cache / _slug(name) if cache else None)
    return values


def mutants(stems: list[str], cache: Path | None = None) -> dict[str, dict[str, int]]:
    """Execute ``stems`` once per mutant of the library and count, per chapter, the checked
    cells whose output differs from the reference beyond the tolerances (0: not caught)."""
    caught: dict[str, dict[str, int]] = {}
    for name, change in MUTANTS.items():
        print(f"== {name}", flush=True)
        with tempfile.TemporaryDirectory() as hook:
            Path(hook, "sitecustomize.py").write_text(MUTANT_HOOK.format(change=change))
            path = os.pathsep.join(p for p in (hook, os.environ.get("PYTHONPATH")) if p)
            outputs = _dump(stems, {"PYTHONPATH": path}, cache / _slug(name) if cache else None)
        caught[name] = {}
        for stem in stems:
            reference = read_reference(stem)["cells"]
            rtols = [rtol for _, rtol in checked_sources(stem)]
            caught[name][stem] = sum(
                bool(differences(ref["output"], new, rtol))
                for ref, new, rtol in zip(reference, outputs[stem], rtols, strict=True)
            )
        print(f"   cells that fail: {caught[name]}", flush=True)
    return caught


def spread_table(values: dict, stems: list[str]) -> list[dict]:
    """Per checked decimal number: the largest relative difference to the reference over the
    environments, and the cell's tolerance."""
    rows = []
    for stem in stems:
        reference = read_reference(stem)["cells"]
        sources = dict(checked_sources(stem))
        for cell_index, cell in enumerate(reference):
            _, ref_numbers = _tokens(cell["output"])
            for k, old in enumerate(ref_numbers):
                if not _is_decimal(old):
                    continue
                worst, where = 0.0, ""
                for env_name, outputs in values.items():
                    _, new_numbers = _tokens(outputs[stem][cell_index])
                    if len(new_numbers) != len(ref_numbers):
                        worst, where = math.inf, f"{env_name}: the text differs"
                        break
                    diff = abs(float(new_numbers[k]) - float(old))
                    rel = diff / abs(float(old)) if float(old) else (0.0 if diff == 0 else math.inf)
                    if rel > worst:
                        worst, where = rel, env_name
                rows.append(
                    {
                        "chapter": stem,
                        "cell": cell_index + 1,
                        "number": k + 1,
                        "reference": old,
                        "largest relative difference": worst,
                        "where": where,
                        "last digit, relative": last_digit_unit(old) / abs(float(old))
                        if float(old)
                        else math.inf,
                        "tolerance": sources.get(cell["source"], float("nan")),
                    }
                )
    return rows


def write_record(path: Path, command: str, stems: list[str], **results: object) -> None:
    """A measurement as JSON, with the command that made it and the machine it ran on."""
    record = {
        "command": f"python scripts/chapter_outputs.py {command} " + " ".join(stems),
        "made_on": hardware(),
        **results,
    }
    path.write_text(json.dumps(record, indent=1) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("refresh", "check", "measure", "mutants", "dump"))
    parser.add_argument("chapters", nargs="*", metavar="CHAPTER")
    parser.add_argument(
        "--json", type=Path, help="measure, mutants: also write the results here (JSON)"
    )
    parser.add_argument(
        "--cache",
        type=Path,
        help="measure, mutants: keep each chapter's outputs per environment here, and reuse them",
    )
    args = parser.parse_args(argv)
    # One thread unless told otherwise: the references are single-threaded (the kernels
    # inherit this), and `measure` sets two threads where it asks for them.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    stems = args.chapters or chapters()
    unknown = sorted(set(stems) - set(chapters()))
    if unknown:
        parser.error(f"no chapter {', '.join(unknown)}; choose from {', '.join(chapters())}")
    if args.command == "refresh":
        for stem in stems:
            refresh(stem)
    elif args.command == "dump":  # one environment's outputs, for measure
        print(json.dumps({stem: [c.output for c in execute(stem)] for stem in stems}))
    elif args.command == "check":
        failed = 0
        for stem in stems:
            reference = read_reference(stem)["cells"]
            for i, (ref, new) in enumerate(zip(reference, execute(stem), strict=True)):
                problems = differences(ref["output"], new.output, new.rtol)
                failed += bool(problems)
                print(f"{stem} cell {i + 1}: " + ("; ".join(problems) if problems else "ok"))
        return 1 if failed else 0
    elif args.command == "mutants":
        caught = mutants(stems, args.cache)
        missed = [name for name, cells in caught.items() if not sum(cells.values())]
        for name, cells in caught.items():
            print(f"{name}: {sum(cells.values())} checked cells fail")
        if args.json:
            write_record(args.json, "mutants", stems, mutants=MUTANTS, failing_cells=caught)
        return 1 if missed else 0
    else:
        rows = spread_table(measure(stems, KERNELS, args.cache), stems)
        print(
            f"{'chapter':28} cell num {'reference':>10} {'largest rel':>11} "
            f"{'last digit':>10} {'rtol':>6}  where"
        )
        for r in rows:
            print(
                f"{r['chapter']:28} {r['cell']:4} {r['number']:3} {r['reference']:>10} "
                f"{r['largest relative difference']:11.2e} {r['last digit, relative']:10.1e} "
                f"{r['tolerance']:6g}  {r['where']}"
            )
        if args.json:
            write_record(args.json, "measure", stems, environments=KERNELS, numbers=rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
