"""Do the chapters' "What we found" sentences hold for other seeds and thread counts?

Executes the chapters that assert findings at their default size once per (seed, threads)
run, in parallel processes, each run with a model cache of its own (chapters 7 and 8 reuse
chapter 6's models within a run, as in the book). Each chapter's findings cell, in report
mode, writes its sentences, verdicts and numbers to a JSON-lines file; this script
collects them into a table, sentence x run, and saves everything under ``--out``:

    .venv/bin/python scripts/check_findings.py                 # the eight runs of the book:
                                      # seeds 0 1 2 x threads 1 2, and seed 0 with one thread
                                      # under ATen's generic kernels and oneDNN's SSE4.1 path
    .venv/bin/python scripts/check_findings.py --runs 0:1:ATEN_CPU_CAPABILITY=default
    .venv/bin/python scripts/check_findings.py --seeds 3 --threads 1 --chapters 07_cross_domain
    .venv/bin/python scripts/check_findings.py --table         # the table of the last check
    .venv/bin/python scripts/check_findings.py --write-book    # ... into book/reproduction.md
    .venv/bin/python scripts/check_findings.py --runs 0:2 --add --save --write-book
                                      # one more run, added to the saved table (made on
                                      # another machine, say); each run keeps its machine

Interrupted checks resume: a chapter whose findings were collected from its current text
is not executed again (a chapter edited since is; ``--force`` re-executes everything).
Trained models stay cached under ``--out``/runs, so re-checking a rewritten sentence costs
little more than the chapter's analysis. The collected results go
to ``results/findings.json`` (``--save``), which ``tests/test_findings_table.py`` holds
against the chapters' current sentences.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHAPTERS = [  # in the order that shares trained models best (5 and 6 train the same runs)
    "05_cxgrad",
    "06_same_domain",
    "07_cross_domain",
    "08_representation_change",
    "10_why_the_context_cannot_learn",
    "11_controls_and_verdict",
    "12_context_with_a_job",
    "09_ablations_landscape",
    "03_gradient_norms",
]
SAVED = REPO / "results" / "findings.json"
BOOK = REPO / "book" / "reproduction.md"
START, END = "<!-- findings-table:start -->", "<!-- findings-table:end -->"


# Variables that select other CPU kernels than the defaults: ATen's generic kernels
# (ATEN_CPU_CAPABILITY=default) and oneDNN limited to an older instruction set
# (DNNL_MAX_CPU_ISA=SSE41) are two stand-ins for another CPU on one machine.
from cxgrad.hardware import KERNEL_VARIABLES  # noqa: E402

KERNEL_SETS = ("ATEN_CPU_CAPABILITY=default", "DNNL_MAX_CPU_ISA=SSE41")


@dataclass(frozen=True)
class Run:
    seed: int
    threads: int
    kernels: str = ""  # "" (the defaults) or VARIABLE=VALUE

    @property
    def name(self) -> str:
        name = f"seed {self.seed}, {self.threads} thread{'s' if self.threads > 1 else ''}"
        return name + (f", {self.kernels}" if self.kernels else "")

    @property
    def slug(self) -> str:
        slug = f"seed{self.seed}-threads{self.threads}"
        return slug + (f"-{self.kernels.replace('=', '-').lower()}" if self.kernels else "")

    @property
    def spec(self) -> str:
        return f"{self.seed}:{self.threads}" + (f":{self.kernels}" if self.kernels else "")


def chapter_order(stems: list[str]) -> list[str]:
    unknown = sorted(set(stems) - set(CHAPTERS))
    if unknown:
        raise SystemExit(
            f"--chapters: {', '.join(unknown)} assert no findings; choose from "
            + ", ".join(sorted(CHAPTERS))
        )
    return [stem for stem in CHAPTERS if stem in stems]


def execute(run: Run, stems: list[str], out: Path, force: bool) -> dict[str, str]:
    """Execute ``stems`` in order for one run; returns each chapter's status."""
    import jupytext
    import papermill

    folder = out / run.slug
    folder.mkdir(parents=True, exist_ok=True)
    # The kernels inherit this environment: the thread count, the run's own model cache,
    # report mode (a reader's default) and where to write the findings.
    os.environ.update(
        OMP_NUM_THREADS=str(run.threads),
        MKL_NUM_THREADS=str(run.threads),
        # Runs side by side oversubscribe the cores; OpenMP threads that spin while they
        # wait would then slow every run (scheduling only: the sums are split as before).
        OMP_WAIT_POLICY="PASSIVE",
        CXGRAD_RUNS=str(out / "runs" / run.slug),
        CXGRAD_FINDINGS="report",
    )
    # this worker process may have run another run's kernels before
    for variable in KERNEL_VARIABLES:
        os.environ.pop(variable, None)
    if run.kernels:
        variable, value = run.kernels.split("=", 1)
        os.environ[variable] = value
    status = {}
    for stem in stems:
        claims = folder / f"{stem}.jsonl"
        chapter = REPO / "notebooks" / f"{stem}.py"
        if not force and is_current(claims, chapter):
            status[stem] = "done before"
            continue
        partial = claims.with_suffix(".partial")
        partial.unlink(missing_ok=True)
        os.environ["CXGRAD_FINDINGS_JSON"] = str(partial)
        source = folder / f"{stem}.source.ipynb"
        executed_source = _digest(chapter)  # the text executed, even if it changes meanwhile
        jupytext.write(jupytext.read(chapter), source)
        start = time.time()
        try:
            papermill.execute_notebook(
                str(source),
                str(folder / f"{stem}.ipynb"),
                parameters={"SEED": run.seed},
                kernel_name="python3",
                cwd=str(REPO / "notebooks"),
                progress_bar=False,
            )
        except Exception as error:  # a chapter that fails is reported, the others go on
            status[stem] = f"error: {type(error).__name__}: {str(error).splitlines()[-1:]}"
            continue
        finally:
            source.unlink(missing_ok=True)
        partial.replace(claims)
        claims.with_suffix(".sha256").write_text(executed_source)
        status[stem] = f"{time.time() - start:.0f} s"
    return status


def _digest(chapter: Path) -> str:
    """The chapter's text, less the output checks' tolerances (``check_rtol=`` in a cell's
    header changes what CI compares, not what the chapter computes or says)."""
    text = re.sub(r" check_rtol=\S+", "", chapter.read_text())
    return hashlib.sha256(text.encode()).hexdigest()


def is_current(claims: Path, chapter: Path) -> bool:
    """The chapter's findings were collected from its current source (a chapter whose text
    changed since, prose or code, is executed again)."""
    digest = claims.with_suffix(".sha256")
    if not claims.exists():
        return False
    if digest.exists():
        return digest.read_text() == _digest(chapter)
    return claims.stat().st_mtime > chapter.stat().st_mtime  # collected before digests


def collect(out: Path, runs: list[Run], stems: list[str]) -> dict:
    """Every run's sentences, verdicts and numbers, per chapter."""
    chapters: dict[str, dict[str, dict]] = {}
    for stem in stems:
        sentences: dict[str, dict] = {}
        for run in runs:
            path = out / run.slug / f"{stem}.jsonl"
            if not path.exists():
                continue
            for line in path.read_text().splitlines():
                claim = json.loads(line)
                row = sentences.setdefault(claim["sentence"], {"runs": {}})
                row["runs"][run.name] = {"holds": claim["holds"], "numbers": claim["numbers"]}
        chapters[stem] = sentences
    return {
        "command": command_for(runs),
        "hardware": _hardware(),
        "runs": [run.name for run in runs],
        "chapters": chapters,
    }


def command_for(runs: list[Run]) -> str:
    """The command that checks exactly ``runs``: a grid of seeds x threads, or a list."""
    seeds = sorted({r.seed for r in runs})
    threads = sorted({r.threads for r in runs})
    command = "python scripts/check_findings.py"
    if len(runs) == len(seeds) * len(threads) and not any(r.kernels for r in runs):
        return (
            f"{command} --seeds {' '.join(map(str, seeds))} --threads {' '.join(map(str, threads))}"
        )
    return f"{command} --runs " + " ".join(r.spec for r in runs)


def parse_run(text: str) -> Run:
    """SEED:THREADS, or SEED:THREADS:VARIABLE=VALUE to run with other CPU kernels."""
    parts = text.split(":", 2)
    usage = (
        f"run {text!r}: write SEED:THREADS, for example 2:1 (seed 2, one thread), or "
        "SEED:THREADS:VARIABLE=VALUE with VARIABLE one of "
        f"{', '.join(KERNEL_VARIABLES)} (0:1:ATEN_CPU_CAPABILITY=default)"
    )
    try:
        seed, threads = int(parts[0]), int(parts[1])
    except (ValueError, IndexError):
        raise argparse.ArgumentTypeError(usage) from None
    kernels = parts[2] if len(parts) == 3 else ""
    if kernels and (kernels.split("=", 1)[0] not in KERNEL_VARIABLES or "=" not in kernels):
        raise argparse.ArgumentTypeError(usage)
    return Run(seed, threads, kernels)


def _hardware() -> dict[str, str]:
    import torch

    from cxgrad.hardware import cpu_name, kernels

    return {
        "cpu": cpu_name(),
        "kernels": kernels(),
        "cores": str(os.cpu_count()),
        "torch": torch.__version__,
        "date": time.strftime("%Y-%m-%d"),
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
        ).stdout.strip(),
    }


def _range(values: list[float]) -> str:
    numeric = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    if len(numeric) != len(values):
        distinct = sorted({str(v) for v in values})
        return distinct[0] if len(distinct) == 1 else " / ".join(distinct)
    low, high = min(numeric), max(numeric)
    return f"{low:.3g}" if f"{low:.3g}" == f"{high:.3g}" else f"{low:.3g} to {high:.3g}"


def numbers_across_runs(row: dict) -> str:
    names: list[str] = []
    for result in row["runs"].values():
        names += [n for n in result["numbers"] if n not in names]
    return "; ".join(
        f"{name}: "
        + _range([r["numbers"][name] for r in row["runs"].values() if name in r["numbers"]])
        for name in names
    )


def checks(results: dict) -> list[dict]:
    """The checks that made a table: one, or more when runs were added (``--add``)."""
    return results.get("checks") or [
        {"command": results["command"], "hardware": results["hardware"], "runs": results["runs"]}
    ]


def _machine(hw: dict) -> str:
    return (
        f"{hw['cpu']}, {hw['cores']} cores, "
        f"{hw.get('kernels', 'CPU kernels not recorded')} unless a run names others, "
        f"torch {hw['torch']}, commit {hw['commit']}"
    )


def add_runs(saved: dict, new: dict, again: dict | None = None, why: str = "") -> dict:
    """``saved`` with the runs of ``new`` added (each check keeps its command and machine),
    and the chapters of ``again``, every run of both executed anew after their sentences
    changed, in place of the saved ones."""
    twice = sorted(set(saved["runs"]) & set(new["runs"]))
    if twice:
        raise SystemExit(
            f"--add: {', '.join(twice)} are in {SAVED.relative_to(REPO)} already; "
            "leave them out of --runs, or make a new table without --add"
        )
    if sorted(saved["chapters"]) != sorted(new["chapters"]):
        raise SystemExit(
            "--add: check the same chapters as the saved table: " + " ".join(saved["chapters"])
        )
    merged = json.loads(json.dumps(saved))
    merged["checks"] = checks(saved) + checks(new)
    merged["runs"] = saved["runs"] + new["runs"]
    rechecked = sorted((again or {}).get("chapters", {}))
    for stem, sentences in new["chapters"].items():
        if stem in rechecked:
            continue
        for sentence, row in sentences.items():
            merged["chapters"][stem].setdefault(sentence, {"runs": {}})["runs"].update(row["runs"])
    if rechecked:
        assert again is not None
        merged["chapters"].update(again["chapters"])
        merged.setdefault("rechecked", []).append(
            {"chapters": rechecked, "hardware": again["hardware"], "why": why}
        )
    return merged


def recheck(saved: dict, again: dict, dropped: list[str], why: str) -> dict:
    """``saved`` with the chapters of ``again`` (every saved run executed anew on them) in
    place of their saved results, and the ``dropped`` chapters removed: how a chapter that
    was split, renamed or rewritten is checked again without re-executing the others."""
    unknown = sorted(set(dropped) - set(saved["chapters"]))
    if unknown:
        raise SystemExit(f"--drop: {', '.join(unknown)} are not in {SAVED.relative_to(REPO)}")
    if sorted(again["runs"]) != sorted(saved["runs"]):
        raise SystemExit("--recheck runs every run of the saved table, and only those")
    merged = json.loads(json.dumps(saved))
    for stem in dropped:
        del merged["chapters"][stem]
    merged["chapters"].update(again["chapters"])
    merged["chapters"] = dict(
        sorted(merged["chapters"].items(), key=lambda item: CHAPTERS.index(item[0]))
    )
    merged.setdefault("rechecked", []).append(
        {"chapters": sorted(again["chapters"]), "hardware": again["hardware"], "why": why}
    )
    return merged


def parse_run_name(name: str) -> Run:
    """The run a table's column names (``seed 0, 1 thread, VARIABLE=VALUE``)."""
    parts = [part.strip() for part in name.split(",")]
    seed, threads = int(parts[0].split()[1]), int(parts[1].split()[0])
    return Run(seed, threads, parts[2] if len(parts) > 2 else "")


def chapters_changed_since(commit: str, stems: list[str]) -> list[str]:
    """Chapters whose text differs from ``commit``'s: their saved runs are not comparable."""
    changed = subprocess.run(
        ["git", "diff", "--name-only", commit, "--", *(f"notebooks/{s}.py" for s in stems)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return [Path(name).stem for name in changed]


def markdown(results: dict) -> str:
    runs = results["runs"]
    made = checks(results)
    if len(made) == 1:
        hw = made[0]["hardware"]
        intro = f"Made with `{made[0]['command']}` on {hw['date']} ({_machine(hw)})"
    else:
        intro = "Made in {} checks: {}".format(
            len(made),
            "; ".join(
                f"{', '.join(check['runs'])} with `{check['command']}` on "
                f"{check['hardware']['date']} ({_machine(check['hardware'])})"
                for check in made
            ),
        )
    lines = [
        f"{intro}: every chapter at its default size, "
        "once per run, each run with a fresh model cache. A cell says whether the sentence "
        "held in that run; the last column gives the range of its numbers over the runs.",
        "",
    ]
    for again in results.get("rechecked", []):  # chapters whose sentences changed later
        h = again["hardware"]
        lines[-1:-1] = [
            f"{', '.join(again['chapters'])} checked again with the same runs on {h['date']} "
            f"({h['cpu']}, {h['cores']} cores, {h.get('kernels', 'CPU kernels not recorded')}, "
            f"torch {h['torch']}, commit {h['commit']}) after "
            f"their sentences changed: {again['why']}",
        ]
    header = "| sentence | " + " | ".join(runs) + " | numbers over the runs |"
    for stem, sentences in results["chapters"].items():
        lines += [f"**{stem}**", "", header, "|" + " --- |" * (len(runs) + 2)]
        for sentence, row in sentences.items():
            cells = [
                ("holds" if row["runs"][r]["holds"] else "**fails**")
                if r in row["runs"]
                else "not run"
                for r in runs
            ]
            escaped = sentence.replace("|", "\\|")
            numbers = numbers_across_runs(row).replace("|", "\\|")
            lines.append(f"| {escaped} | " + " | ".join(cells) + f" | {numbers} |")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def plain_table(results: dict) -> str:
    runs = results["runs"]
    out = []
    for stem, sentences in results["chapters"].items():
        out.append(f"\n{stem}")
        for sentence, row in sentences.items():
            verdicts = [
                ("holds" if row["runs"][r]["holds"] else "FAILS") if r in row["runs"] else "-"
                for r in runs
            ]
            held = sum(v == "holds" for v in verdicts)
            out.append(f"  [{held}/{len(runs)}] {sentence}")
            out.append(
                "      " + "  ".join(f"{r}: {v}" for r, v in zip(runs, verdicts, strict=True))
            )
            out.append("      " + numbers_across_runs(row))
    return "\n".join(out)


def write_book(results: dict, book: Path = BOOK) -> None:
    text = book.read_text()
    if START not in text or END not in text:
        raise SystemExit(f"{book}: no {START} ... {END} markers to write the table between")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    book.write_text(f"{head}{START}\n{markdown(results)}{END}{tail}")
    print(f"wrote the table into {book.relative_to(REPO)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--kernels",
        nargs="*",
        default=list(KERNEL_SETS),
        metavar="VARIABLE=VALUE",
        help="besides the seeds x threads grid, one run of seed 0 with one thread per other "
        "kernel set (stand-ins for another CPU)",
    )
    parser.add_argument(
        "--runs",
        type=parse_run,
        nargs="+",
        metavar="SEED:THREADS",
        help="exactly these runs instead of every seed with every thread count",
    )
    parser.add_argument("--chapters", nargs="+", default=CHAPTERS, metavar="STEM")
    parser.add_argument("--jobs", type=int, default=2, help="runs executed at once")
    parser.add_argument("--out", type=Path, default=REPO / "_build" / "findings")
    parser.add_argument(
        "--data-root", help="Omniglot and Fashion-MNIST (default: $CXGRAD_DATA_ROOT)"
    )
    parser.add_argument("--force", action="store_true", help="execute chapters checked before")
    parser.add_argument("--table", action="store_true", help="print the table, execute nothing")
    parser.add_argument("--save", action="store_true", help=f"write {SAVED.relative_to(REPO)}")
    parser.add_argument("--write-book", action="store_true", help="table into the book")
    parser.add_argument(
        "--add",
        action="store_true",
        help=f"add these runs to the table saved in {SAVED.relative_to(REPO)} (runs made "
        "later or on another machine; each keeps the machine it ran on); chapters changed "
        "since the saved table are executed again for every run, with --why",
    )
    parser.add_argument("--why", default="", help="--add, --recheck: why the chapters changed")
    parser.add_argument(
        "--recheck",
        nargs="+",
        metavar="STEM",
        help=f"execute these chapters for every run of {SAVED.relative_to(REPO)} and put "
        "their results in place of the saved ones (a chapter split or rewritten), with --why",
    )
    parser.add_argument(
        "--drop",
        nargs="*",
        default=[],
        metavar="STEM",
        help="--recheck: chapters to remove from the saved table (the chapters they became "
        "are rechecked)",
    )
    args = parser.parse_args(argv)
    runs = args.runs or [Run(seed, threads) for threads in args.threads for seed in args.seeds] + [
        parse_run(f"0:1:{kernels}") for kernels in args.kernels
    ]
    if min(r.seed for r in runs) < 0 or min(r.threads for r in runs) < 1 or args.jobs < 1:
        parser.error("seeds must be >= 0, threads and --jobs >= 1")
    stems = chapter_order(args.chapters)
    out = args.out.resolve()
    if args.data_root:
        os.environ["CXGRAD_DATA_ROOT"] = str(Path(args.data_root).expanduser().resolve())

    # Which chapters each run executes: every chapter, except with --add, where a run
    # of the saved table executes only the chapters changed since (it is checked again).
    plan = {run: stems for run in runs}
    saved, changed = None, []
    if args.recheck:
        if args.add or args.runs:
            parser.error("--recheck runs the saved table's runs: leave out --add and --runs")
        if not SAVED.exists() or not args.why:
            parser.error(f"--recheck needs {SAVED.relative_to(REPO)} and --why")
        saved = json.loads(SAVED.read_text())
        runs = [parse_run_name(name) for name in saved["runs"]]
        stems = chapter_order(args.recheck)
        plan = {run: stems for run in runs}
    elif args.add:
        if not SAVED.exists():
            parser.error(f"--add: no saved table {SAVED.relative_to(REPO)} to add runs to")
        saved = json.loads(SAVED.read_text())
        changed = sorted(
            {
                stem
                for check in checks(saved)
                for stem in chapters_changed_since(check["hardware"]["commit"], stems)
            }
        )
        again = {run.name for run in runs} & set(saved["runs"])
        if changed and again != set(saved["runs"]):
            parser.error(
                f"--add: {', '.join(changed)} changed since the saved table was made, so every "
                "run of the saved table is checked again on them: add "
                + " ".join(parse_run_name(name).spec for name in saved["runs"] if name not in again)
                + " to --runs"
            )
        if again and not changed:
            parser.error(
                f"--add: {', '.join(sorted(again))} are in {SAVED.relative_to(REPO)} already; "
                "leave them out of --runs, or make a new table without --add"
            )
        if changed and not args.why:
            parser.error(f"--add: {', '.join(changed)} changed; say why with --why")
        plan = {run: (changed if run.name in again else stems) for run in runs}

    if not args.table:
        print(f"{len(runs)} runs, {sum(map(len, plan.values()))} chapters, {args.jobs} at once")
        with ProcessPoolExecutor(max_workers=args.jobs) as pool:
            futures = {pool.submit(execute, run, plan[run], out, args.force): run for run in runs}
            for future in as_completed(futures):
                run = futures[future]
                print(f"{run.name}: " + ", ".join(f"{s} {v}" for s, v in future.result().items()))
    if saved is None:
        results = collect(out, runs, stems)
    elif args.recheck:
        again = collect(out, runs, stems)
        results = recheck(saved, again, args.drop, args.why)
    else:
        fresh = [run for run in runs if run.name not in saved["runs"]]
        new = collect(out, fresh, stems)
        new["command"] = command_for(runs) + " --add"
        results = add_runs(saved, new, collect(out, runs, changed), args.why)
    print(plain_table(results))
    stale = [
        f"{run.name}: {stem}"
        for run in runs
        for stem in plan[run]
        if not is_current(out / run.slug / f"{stem}.jsonl", REPO / "notebooks" / f"{stem}.py")
    ]
    if stale:
        print(f"\nnot collected from the chapters' current text (run without --table): {stale}")
        if args.save or args.write_book:
            parser.error("refusing to save a table of stale or missing runs")
    if args.save:
        SAVED.write_text(json.dumps(results, indent=1) + "\n")
        print(f"wrote {SAVED.relative_to(REPO)}")
    if args.write_book:
        write_book(results)
    failing = [
        s
        for chapter in results["chapters"].values()
        for s, row in chapter.items()
        if not all(r["holds"] for r in row["runs"].values())
    ]
    print(f"\n{len(failing)} sentences fail in at least one run")
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main())
