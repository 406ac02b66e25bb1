"""The robustness table of the chapters' findings is current, and every asserted sentence held
in every run of it (scripts/check_findings.py; book/reproduction.md shows the table)."""

from __future__ import annotations

import ast
import json
import re
import sys
from pathlib import Path

import jupytext
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
import check_findings  # noqa: E402

SAVED = json.loads(check_findings.SAVED.read_text()) if check_findings.SAVED.exists() else None
RERUN = (
    "re-run .venv/bin/python scripts/check_findings.py --save --write-book (it re-executes "
    "only what changed when its model caches in _build/findings are kept)"
)


def asserted_sentences(chapter: Path) -> list[str]:
    """The sentences a chapter passes to ``Findings.claim``, in order."""
    sentences = []
    for node in ast.walk(ast.parse(chapter.read_text())):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "claim"
        ):
            first = node.args[0]
            assert isinstance(first, ast.Constant) and isinstance(first.value, str), (
                f"{chapter.name}, line {node.lineno}: a finding's sentence is fixed text"
            )
            sentences.append((node.lineno, first.value))
    return [sentence for _, sentence in sorted(sentences)]


def _words(text: str) -> str:
    """Text as a reader sees it, for comparing sentences: no TeX markup, one space, lower."""
    return re.sub(r"\s+", " ", re.sub(r"[$\\{}]", "", text)).strip().lower()


@pytest.mark.parametrize("stem", check_findings.CHAPTERS)
def test_no_finding_is_typed_twice_in_its_chapter(stem):
    """A finding's sentence lives in its ``claim`` (shown by the findings cell); the prose
    around it explains and interprets, and never retypes it, so the two cannot drift."""
    chapter = REPO / "notebooks" / f"{stem}.py"
    prose = _words(
        " ".join(c.source for c in jupytext.read(chapter).cells if c.cell_type == "markdown")
    )
    twice = [s for s in asserted_sentences(chapter) if _words(s).rstrip(".") in prose]
    assert not twice, f"{stem}: the prose retypes these findings: {twice}"


def test_the_check_was_saved():
    assert SAVED is not None, f"{check_findings.SAVED} is missing: {RERUN}"


def test_every_chapter_that_asserts_findings_is_checked():
    asserting = {p.stem for p in (REPO / "notebooks").glob("[0-9]*.py") if asserted_sentences(p)}
    assert asserting == set(check_findings.CHAPTERS)


@pytest.mark.parametrize("stem", check_findings.CHAPTERS)
def test_the_table_has_the_chapters_current_sentences(stem):
    assert SAVED is not None
    chapter = REPO / "notebooks" / f"{stem}.py"
    assert sorted(SAVED["chapters"][stem]) == sorted(asserted_sentences(chapter)), (
        f"{stem}: its sentences changed since the robustness check; {RERUN}"
    )


def test_every_sentence_held_in_every_run():
    assert SAVED is not None
    runs = set(SAVED["runs"])
    # the eight runs of scripts/check_findings.py's default: seeds 0-2 with one and two
    # threads, and seed 0 under ATen's generic kernels and under oneDNN's SSE4.1 path
    expected = {f"seed {s}, {t}" for s in (0, 1, 2) for t in ("1 thread", "2 threads")} | {
        "seed 0, 1 thread, ATEN_CPU_CAPABILITY=default",
        "seed 0, 1 thread, DNNL_MAX_CPU_ISA=SSE41",
    }
    assert expected <= runs, f"the check covers too few runs: {RERUN}"
    failing = [
        f"{stem}: {sentence} (fails in "
        + ", ".join(r for r, v in row["runs"].items() if not v["holds"])
        + ")"
        for stem, sentences in SAVED["chapters"].items()
        for sentence, row in sentences.items()
        if not all(v["holds"] for v in row["runs"].values())
    ]
    missing = [
        f"{stem}: {sentence} (not run: {', '.join(sorted(runs - set(row['runs'])))})"
        for stem, sentences in SAVED["chapters"].items()
        for sentence, row in sentences.items()
        if set(row["runs"]) != runs
    ]
    assert not failing and not missing, "\n".join(failing + missing)


def test_the_book_shows_the_saved_table():
    assert SAVED is not None
    text = check_findings.BOOK.read_text()
    shown = text.split(check_findings.START, 1)[1].split(check_findings.END, 1)[0]
    assert shown.strip() == check_findings.markdown(SAVED).strip(), (
        f"book/reproduction.md shows another table than {check_findings.SAVED.name}: "
        "run scripts/check_findings.py --table --write-book"
    )


def test_a_rewritten_sentence_is_caught(tmp_path):
    chapter = tmp_path / "05_cxgrad.py"
    chapter.write_text(
        'found.claim("CxGrad is ahead.", True)\n'
        'found.claim("MAML " "is behind.", True, numbers={"x": 1})\n'
    )
    assert asserted_sentences(chapter) == ["CxGrad is ahead.", "MAML is behind."]
    chapter.write_text('sentence = "x"\nfound.claim(sentence, True)\n')
    with pytest.raises(AssertionError, match="fixed text"):
        asserted_sentences(chapter)


def test_the_table_marks_a_failing_run():
    results = {
        "command": "python scripts/check_findings.py --seeds 0 1 --threads 1",
        "hardware": {
            "cpu": "AMD EPYC",
            "cores": "2",
            "torch": "2.14.1",
            "date": "2026-12-06",
            "commit": "abc1234",
        },
        "runs": ["seed 0, 1 thread", "seed 1, 1 thread"],
        "chapters": {
            "05_cxgrad": {
                "CxGrad | MAML.": {
                    "runs": {
                        "seed 0, 1 thread": {"holds": True, "numbers": {"gap": 0.12}},
                        "seed 1, 1 thread": {"holds": False, "numbers": {"gap": 0.07}},
                    }
                }
            }
        },
    }
    table = check_findings.markdown(results)
    assert "| CxGrad \\| MAML. | holds | **fails** | gap: 0.07 to 0.12 |" in table
    assert "AMD EPYC" in table and "seed 1, 1 thread" in table


def test_a_chapter_edited_since_its_check_is_executed_again(tmp_path):
    chapter, claims = tmp_path / "05_cxgrad.py", tmp_path / "05_cxgrad.jsonl"
    chapter.write_text("print(1)\n")
    assert not check_findings.is_current(claims, chapter)  # never checked
    claims.write_text("{}\n")
    claims.with_suffix(".sha256").write_text(check_findings._digest(chapter))
    assert check_findings.is_current(claims, chapter)
    chapter.write_text("print(2)\n")
    assert not check_findings.is_current(claims, chapter)


def test_a_run_names_its_kernels():
    run = check_findings.parse_run("0:1:ATEN_CPU_CAPABILITY=default")
    assert run.name == "seed 0, 1 thread, ATEN_CPU_CAPABILITY=default"
    assert run.slug == "seed0-threads1-aten_cpu_capability-default"
    assert check_findings.parse_run("2:2").name == "seed 2, 2 threads"
    runs = [check_findings.parse_run(t) for t in ("0:1", "0:1:DNNL_MAX_CPU_ISA=SSE41")]
    assert check_findings.command_for(runs).endswith("--runs 0:1 0:1:DNNL_MAX_CPU_ISA=SSE41")


@pytest.mark.parametrize("text", ["0", "a:1", "0:1:OMP_NUM_THREADS=4", "0:1:ATEN_CPU_CAPABILITY"])
def test_a_bad_run_says_how_to_write_one(text):
    with pytest.raises(Exception, match="write SEED:THREADS.*ATEN_CPU_CAPABILITY"):
        check_findings.parse_run(text)


def test_an_output_tolerance_does_not_make_a_chapter_stale(tmp_path):
    chapter, claims = tmp_path / "03_gradient_norms.py", tmp_path / "03_gradient_norms.jsonl"
    chapter.write_text('# %% tags=["check-output"]\nprint(1.5)\n')
    claims.write_text("{}\n")
    claims.with_suffix(".sha256").write_text(check_findings._digest(chapter))
    chapter.write_text('# %% tags=["check-output"] check_rtol=0.01\nprint(1.5)\n')
    assert check_findings.is_current(claims, chapter)
    chapter.write_text('# %% tags=["check-output"] check_rtol=0.01\nprint(2.5)\n')
    assert not check_findings.is_current(claims, chapter)


def _table(runs: dict[str, bool], cpu: str, command: str) -> dict:
    hardware = {"cpu": cpu, "cores": "2", "torch": "2.14.1", "date": "2026-12-07", "commit": "c0"}
    return {
        "command": command,
        "hardware": hardware,
        "runs": list(runs),
        "chapters": {
            "05_cxgrad": {
                "CxGrad is ahead.": {
                    "runs": {r: {"holds": h, "numbers": {"gap": 1.0}} for r, h in runs.items()}
                }
            }
        },
    }


def test_runs_added_later_keep_their_machine():
    saved = _table({"seed 0, 1 thread": True}, "Intel Xeon", "python scripts/check_findings.py")
    new = _table({"seed 0, 2 threads": False}, "AMD EPYC", "python ... --runs 0:2 --add")
    merged = check_findings.add_runs(saved, new)
    assert merged["runs"] == ["seed 0, 1 thread", "seed 0, 2 threads"]
    row = merged["chapters"]["05_cxgrad"]["CxGrad is ahead."]["runs"]
    assert set(row) == {"seed 0, 1 thread", "seed 0, 2 threads"}
    table = check_findings.markdown(merged)
    assert "Made in 2 checks: seed 0, 1 thread with" in table
    assert "Intel Xeon" in table and "seed 0, 2 threads with `python ... --runs 0:2 --add`" in table
    assert "| CxGrad is ahead. | holds | **fails** | gap: 1 |" in table
    assert saved["runs"] == ["seed 0, 1 thread"]  # the saved table itself is not changed
    again = check_findings.add_runs(merged, _table({"seed 1, 1 thread": True}, "ARM", "c"))
    assert len(check_findings.checks(again)) == 3


def test_a_run_cannot_be_added_twice():
    saved = _table({"seed 0, 1 thread": True}, "Intel Xeon", "a")
    with pytest.raises(SystemExit, match="seed 0, 1 thread are in .* already"):
        check_findings.add_runs(saved, _table({"seed 0, 1 thread": True}, "AMD EPYC", "b"))


def test_a_chapter_changed_since_is_checked_again_in_every_run():
    saved = _table({"seed 0, 1 thread": True}, "Intel Xeon", "a")
    new = _table({"seed 0, 2 threads": True}, "AMD EPYC", "b")
    again = _table({"seed 0, 1 thread": True, "seed 0, 2 threads": True}, "AMD EPYC", "b")
    again["chapters"]["05_cxgrad"] = {
        "CxGrad is ahead in conv2.": again["chapters"]["05_cxgrad"]["CxGrad is ahead."]
    }
    merged = check_findings.add_runs(saved, new, again, "a clause failed in one run")
    assert list(merged["chapters"]["05_cxgrad"]) == ["CxGrad is ahead in conv2."]
    assert merged["rechecked"][0]["chapters"] == ["05_cxgrad"]
    table = check_findings.markdown(merged)
    assert "05_cxgrad checked again with the same runs on" in table
    assert "AMD EPYC" in table and "a clause failed in one run" in table


@pytest.mark.parametrize("spec", ["0:1", "2:2", "0:1:ATEN_CPU_CAPABILITY=default"])
def test_a_column_names_its_run(spec):
    run = check_findings.parse_run(spec)
    assert check_findings.parse_run_name(run.name) == run
