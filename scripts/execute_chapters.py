"""Execute the book's chapters, several at a time, into jupyter-book's execution cache.

    .venv/bin/python scripts/execute_chapters.py --jobs 2 --cache _build/.jupyter_cache

scripts/build_book.sh runs this before ``jupyter-book build``: with ``execute_notebooks: cache``
(_config.yml) the HTML build then takes every chapter's outputs from the cache instead of
executing the chapters one after the other itself. Each chapter is executed exactly as
myst-nb executes it (jupyter-cache's ``single_nb_execution``, with the ``execute`` section of
_config.yml: timeout per cell, allow_errors, run_in_temp) in a fresh kernel that inherits
this process's environment (``OMP_NUM_THREADS``, ``CXGRAD_FINDINGS``, ``CXGRAD_RUNS``), and
cached under the hash of its code cells, as myst-nb caches what it executes itself.

The chapters are independent (they share trained models only through the model cache,
whose lock lets one chapter train a model while another waits for it: cxgrad/book/course.py), so
``--jobs`` workers take them longest first from LONGEST_FIRST, and each free worker takes the
next: the long chapters start at once and the short ones fill in at the end. With one job
they run in the book's order, one after the other, as a reader would run them.

A chapter that raises (or whose cell runs past the timeout) is reported with its traceback;
the others still run, and the script exits 1 naming every chapter that failed. Each
chapter's execution time is printed as it ends, and all of them, in the order of the table
of contents, are written to ``--times``.
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import sys
import tempfile
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import nullcontext
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path, PurePosixPath

import nbformat
import yaml
from jupyter_cache import get_cache
from jupyter_cache.base import CacheBundleIn
from jupyter_cache.executors.utils import single_nb_execution

REPO = Path(__file__).resolve().parents[1]

# Longest first, in the order of the chapters' execution times when they run one after the
# other (the instructor guide's table: 9 takes a third of the whole, 4 and 1 the least), so
# that the long chapters start at once and the short ones even out the end. Chapters 10-12 read
# the results of record and their kept models and train nothing. The first chapter to ask
# for one of the course's shared models trains it: chapter 6 trains MAML, CxGrad, ANIL and
# BOIL while chapter 9 trains its own small ablation models, and chapters 5, 2, 7 and 8,
# which start later, find the four trained. Had a chapter started while another was still
# training a model it needs, it would wait for the lock and then load it
# (cxgrad/book/course.py): the order matters for speed only, not for the results.
# tests/test_book_build.py checks that this names every chapter of _toc.yml.
LONGEST_FIRST = [
    "notebooks/09_ablations_landscape",
    "notebooks/06_same_domain",
    "notebooks/05_cxgrad",
    "notebooks/10_why_the_context_cannot_learn",
    "notebooks/12_context_with_a_job",
    "notebooks/11_controls_and_verdict",
    "notebooks/02_maml",
    "notebooks/03_gradient_norms",
    "notebooks/07_cross_domain",
    "notebooks/08_representation_change",
    "notebooks/04_batchnorm_invariance",
    "notebooks/01_episodes",
]


@dataclass(frozen=True)
class Settings:
    """What myst-nb's execution reads from _config.yml."""

    mode: str
    timeout: int | None
    allow_errors: bool
    in_temp: bool
    exclude: tuple[str, ...]
    readers: dict[str, tuple[str, dict]]  # source suffix -> (reader, its keyword arguments)
    source_exclude: tuple[str, ...]


def read_settings(book: Path) -> Settings:
    config = yaml.safe_load((book / "_config.yml").read_text()) or {}
    execute = config.get("execute") or {}
    formats = ((config.get("sphinx") or {}).get("config") or {}).get("nb_custom_formats") or {}
    readers = {}
    for suffix, spec in formats.items():
        name, kwargs = (spec, {}) if isinstance(spec, str) else (spec[0], dict(spec[1]))
        readers[suffix] = (name, kwargs)
    return Settings(
        mode=str(execute.get("execute_notebooks", "auto")),
        timeout=execute.get("timeout", 30),
        allow_errors=bool(execute.get("allow_errors", False)),
        in_temp=bool(execute.get("run_in_temp", False)),
        exclude=tuple(execute.get("exclude_patterns") or ()),
        readers=readers,
        source_exclude=tuple(config.get("exclude_patterns") or ()),
    )


def toc_files(book: Path) -> list[str]:
    """Every file of _toc.yml in its order, as written there (no suffix)."""
    toc = yaml.safe_load((book / "_toc.yml").read_text())
    files = [toc["root"]]

    def walk(entries: list[dict]) -> None:
        for entry in entries:
            if "file" in entry:
                files.append(entry["file"])
            for key in ("chapters", "sections", "parts"):
                walk(entry.get(key, []))

    walk(toc.get("parts", []))
    walk(toc.get("chapters", []))
    return files


def chapters(book: Path, settings: Settings) -> dict[str, Path]:
    """toc entry -> source file, for the entries that are notebooks: a source with a suffix of
    nb_custom_formats or .ipynb that _config.yml does not exclude (the Markdown pages are not
    executed). Patterns of execute.exclude_patterns skip execution, as in myst-nb."""
    found = {}
    for entry in toc_files(book):
        for suffix in [*settings.readers, ".ipynb"]:
            path = book / f"{entry}{suffix}"
            relative = f"{entry}{suffix}"
            if not path.is_file() or any(
                fnmatch.fnmatch(relative, p) for p in settings.source_exclude
            ):
                continue
            if not any(PurePosixPath(path.as_posix()).match(p) for p in settings.exclude):
                found[entry] = path
            break
    return found


def read_notebook(path: Path, settings: Settings):
    """The notebook as myst-nb reads it (its reader for the suffix, nbformat for .ipynb): the
    cache matches the HTML build's notebook by the hash of these code cells."""
    text = path.read_text(encoding="utf-8")
    if path.suffix in settings.readers:
        from importlib import import_module

        name, kwargs = settings.readers[path.suffix]
        module, _, function = name.rpartition(".")
        return getattr(import_module(module), function)(text, **kwargs)
    return nbformat.reads(text, as_version=4)


@dataclass
class Outcome:
    seconds: float
    notebook: str | None  # the executed notebook (nbformat JSON) when it succeeded
    error: str | None  # the failing cell and its traceback, when it failed


def execute(path: Path, settings: Settings) -> Outcome:
    """Execute one chapter in a fresh kernel, as myst-nb does (in the chapter's folder)."""
    notebook = read_notebook(path, settings)
    folder = tempfile.TemporaryDirectory() if settings.in_temp else nullcontext(path.parent)
    with folder as cwd:
        result = single_nb_execution(
            notebook,
            cwd=os.path.abspath(cwd),
            timeout=settings.timeout,
            allow_errors=settings.allow_errors,
            meta_override=True,
        )
    if result.err is not None:
        # nbclient's message holds the failing cell and the kernel's traceback; the Python
        # traceback around it (jupyter-cache, nbclient, asyncio) says nothing about the chapter.
        return Outcome(result.time, None, f"{type(result.err).__name__}: {result.err}")
    return Outcome(result.time, nbformat.writes(notebook), None)


def schedule(found: dict[str, Path], jobs: int) -> list[str]:
    """One job: the book's order, as a reader runs the chapters (a chapter then trains the
    shared models that no earlier chapter trained, and its time is the one the instructor
    guide tabulates). Several: LONGEST_FIRST, then any chapter it lacks in the book's order."""
    if jobs == 1:
        return list(found)
    rest = [entry for entry in found if entry not in LONGEST_FIRST]
    if rest:
        print(f"not in LONGEST_FIRST, so executed last: {', '.join(rest)}")
    return [entry for entry in LONGEST_FIRST if entry in found] + rest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="chapters executed at once")
    parser.add_argument("--book", type=Path, default=REPO, help="the book's root")
    parser.add_argument(
        "--cache", type=Path, required=True, help="the jupyter-cache the HTML build reads"
    )
    parser.add_argument("--times", type=Path, help="write each chapter's execution time here")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    book = args.book.resolve()
    settings = read_settings(book)
    if settings.mode != "cache":
        raise SystemExit(
            f"{book / '_config.yml'}: execute.execute_notebooks is {settings.mode!r}; the HTML "
            "build must take the chapters' outputs from the cache this script fills: set it "
            "to cache"
        )
    # Progress lines as they happen, also through a pipe (build_book.sh tees them to a log).
    sys.stdout.reconfigure(line_buffering=True)
    found = chapters(book, settings)
    order = schedule(found, args.jobs)
    cache = get_cache(args.cache.resolve())
    start = time.monotonic()

    def stamp() -> str:
        return f"[{time.monotonic() - start:5.0f} s]"

    def name(entry: str) -> str:
        return found[entry].relative_to(book).as_posix()

    print(
        f"executing {len(order)} chapters, {args.jobs} at a time"
        + (", longest first" if args.jobs > 1 else "")
        + " "
        f"(OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')} in each kernel)"
    )
    times: dict[str, float] = {}
    failed: dict[str, str] = {}
    # spawn: a worker holds no copy of this process's state, only the chapter it is given.
    with ProcessPoolExecutor(max_workers=args.jobs, mp_context=get_context("spawn")) as pool:
        running: dict[Future, tuple[str, float]] = {}
        queue = list(order)

        def submit() -> None:
            while queue and len(running) < args.jobs:
                entry = queue.pop(0)
                future = pool.submit(execute, found[entry], settings)
                running[future] = (entry, time.monotonic())
                print(f"{stamp()} started {name(entry)}")

        submit()
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                entry, started = running.pop(future)
                try:
                    outcome = future.result()
                except Exception as error:  # the kernel died, or the worker did
                    trace = "".join(traceback.format_exception(error))
                    outcome = Outcome(time.monotonic() - started, None, trace)
                times[entry] = outcome.seconds
                if outcome.error is not None:
                    failed[entry] = outcome.error
                    print(
                        f"{stamp()} {name(entry)} FAILED after {outcome.seconds:.0f} s:\n"
                        f"{outcome.error}"
                    )
                    continue
                cache.cache_notebook_bundle(
                    CacheBundleIn(
                        nbformat.reads(outcome.notebook, as_version=4),
                        str(found[entry]),
                        data={"execution_seconds": outcome.seconds},
                    ),
                    check_validity=False,
                    overwrite=True,
                )
                print(f"{stamp()} {name(entry)}: executed in {outcome.seconds:.2f} seconds")
            submit()

    lines = [
        f"{name(entry)}: {times[entry]:.2f} seconds" + (" (FAILED)" if entry in failed else "")
        for entry in found
    ]
    if args.times:
        args.times.write_text("\n".join(lines) + "\n")
    print(f"{len(found)} chapters executed in {time.monotonic() - start:.0f} s")
    if failed:
        print(
            f"{len(failed)} chapter(s) failed, the book is not built: "
            + ", ".join(name(entry) for entry in found if entry in failed),
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
