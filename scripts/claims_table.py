"""The table "The paper's claims, tested on Omniglot" of book/reproduction.md, made from its
one source: each claim's findings in results/findings.json.

``book/claims.toml`` names, for every claim of the paper, the chapters' findings that test it
and a verdict in words; this script looks the findings up in ``results/findings.json`` (the
robustness check of ``scripts/check_findings.py``) and writes each one with its numbers over
every run and the runs it held in. Nothing in the table is typed twice, so a number there
cannot drift from the run that produced it; ``tests/test_claims_table.py`` fails when the
book's table differs from what this script makes.

    .venv/bin/python scripts/claims_table.py               # print the table
    .venv/bin/python scripts/claims_table.py --write-book  # ... into book/reproduction.md
"""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from check_findings import BOOK, SAVED, numbers_across_runs  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CLAIMS = REPO / "book" / "claims.toml"
START, END = "<!-- claims-table:start -->", "<!-- claims-table:end -->"

# The words a verdict starts with; "not resolved" is never written as "equal".
VERDICTS = (
    "reproduced in direction",
    "reproduced",
    "contradicted",
    "not supported",
    "not resolved",
    "not testable here",
)


@dataclass(frozen=True)
class Finding:
    chapter: str  # the chapter's stem, 05_cxgrad
    sentence: str
    row: dict  # results/findings.json's entry: the runs, each with holds and numbers

    @property
    def held(self) -> tuple[int, int]:
        runs = self.row["runs"].values()
        return sum(bool(r["holds"]) for r in runs), len(runs)


@dataclass(frozen=True)
class Claim:
    paper: str
    findings: tuple[Finding, ...]
    verdict: str


def chapter_number(stem: str) -> int:
    return int(stem.split("_", 1)[0])


def find(results: dict, reference: str) -> Finding:
    """The one finding that ``"stem: first words"`` names, with a clear error otherwise."""
    stem, _, start = reference.partition(": ")
    chapters = results["chapters"]
    if stem not in chapters:
        raise SystemExit(
            f"{CLAIMS}: {reference!r} names chapter {stem!r}, which asserts no findings in "
            f"{SAVED} (chapters there: {', '.join(chapters)})"
        )
    matches = [s for s in chapters[stem] if s.startswith(start)]
    if len(matches) != 1:
        what = "no sentence" if not matches else f"{len(matches)} sentences"
        raise SystemExit(
            f"{CLAIMS}: {reference!r} matches {what} of {stem}; write enough of the "
            "sentence's first words to name exactly one (the chapter may have reworded it)"
        )
    return Finding(stem, matches[0], chapters[stem][matches[0]])


def load_claims(results: dict, path: Path = CLAIMS) -> list[Claim]:
    claims = []
    for entry in tomllib.loads(path.read_text())["claim"]:
        verdict = entry["verdict"]
        if not verdict.startswith(VERDICTS):
            raise SystemExit(
                f"{path}: the verdict of {entry['paper']!r} starts with none of "
                f"{', '.join(VERDICTS)}: {verdict!r}"
            )
        found = tuple(find(results, reference) for reference in entry["findings"])
        claims.append(Claim(entry["paper"], found, verdict))
    return claims


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _chapters(claim: Claim) -> str:
    stems = sorted({f.chapter for f in claim.findings}, key=chapter_number)
    if not stems:
        return "none"
    return ", ".join(f"{{doc}}`chapter {chapter_number(s)} <../notebooks/{s}>`" for s in stems)


def _result(finding: Finding) -> str:
    held, runs = finding.held
    numbers = numbers_across_runs(finding.row)
    where = f"held in {held} of {runs} runs" if held < runs else f"held in all {runs} runs"
    return f"chapter {chapter_number(finding.chapter)}: {finding.sentence} ({numbers}; {where})"


def markdown(claims: list[Claim]) -> str:
    lines = [
        "| the paper's claim | tested in | what the chapters found, with their numbers over "
        "the runs of the robustness check | verdict |",
        "| --- | --- | --- | --- |",
    ]
    for claim in claims:
        result = " ".join(_result(f) for f in claim.findings) or "none"
        lines.append(
            f"| {_cell(claim.paper)} | {_chapters(claim)} | {_cell(result)} | "
            f"{_cell(claim.verdict)} |"
        )
    return "\n".join(lines) + "\n"


def shown_in_book(book: Path = BOOK) -> str:
    text = book.read_text()
    if START not in text or END not in text:
        raise SystemExit(f"{book}: no {START} ... {END} markers to write the table between")
    return text.split(START, 1)[1].split(END, 1)[0].strip("\n") + "\n"


def write_book(table: str, book: Path = BOOK) -> None:
    shown_in_book(book)  # the markers are there
    head, rest = book.read_text().split(START, 1)
    _, tail = rest.split(END, 1)
    book.write_text(f"{head}{START}\n{table}{END}{tail}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write-book", action="store_true", help=f"write the table into {BOOK}")
    args = parser.parse_args(argv)
    results = json.loads(SAVED.read_text())
    table = markdown(load_claims(results))
    if args.write_book:
        write_book(table)
        print(f"wrote the claims table into {BOOK.relative_to(REPO)}")
    else:
        print(table, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
