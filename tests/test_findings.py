"""The chapters' findings: asserted in the book build, reported in a reader's notebook."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from cxgrad.book.findings import JSON_ENV, MODE_ENV, WHY_RUNS_DIFFER, FindingNotSupported, Findings

REPO = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((REPO / "notebooks").glob("[0-9]*.py"))


def _two_claims(mode: str) -> Findings:
    found = Findings(mode)
    found.claim("CxGrad beats MAML.", True, numbers={"CxGrad - MAML": np.float64(0.1234567)})
    found.claim("BOIL beats MAML.", False, numbers={"BOIL - MAML": -0.02, "seeds": 3})
    return found


def test_assert_mode_raises_naming_the_failed_sentence(capsys):
    with pytest.raises(FindingNotSupported, match="BOIL beats MAML") as error:
        _two_claims("assert").report()
    assert "CxGrad beats MAML" not in str(error.value)
    out = capsys.readouterr().out
    assert "[holds] CxGrad beats MAML." in out
    assert "CxGrad - MAML = 0.1235" in out and "BOIL - MAML = -0.02, seeds = 3" in out


def test_report_mode_prints_what_fails_and_why_without_raising(capsys):
    _two_claims("report").report()
    out = capsys.readouterr().out
    assert "[DOES NOT HOLD on this run] BOIL beats MAML." in out
    assert "BOIL - MAML = -0.02" in out
    assert "1 of 2 sentences do not hold on this run" in out
    assert WHY_RUNS_DIFFER in out


def test_report_mode_says_nothing_more_when_everything_holds(capsys):
    found = Findings("report")
    found.claim("CxGrad beats MAML.", True)
    found.report()
    assert capsys.readouterr().out == "[holds] CxGrad beats MAML.\n"


def test_skip_mode_output_does_not_depend_on_the_numbers(capsys):
    _two_claims("skip").report()
    first = capsys.readouterr().out
    found = Findings("skip")
    found.claim("CxGrad beats MAML.", False, numbers={"CxGrad - MAML": -5.0})
    found.claim("BOIL beats MAML.", True)
    found.report()
    assert capsys.readouterr().out == first
    assert "not checked at these parameters" in first and "=" not in first


def test_auto_mode_reads_the_environment(monkeypatch, capsys):
    monkeypatch.delenv(MODE_ENV, raising=False)
    assert Findings("auto").mode == "report"
    assert Findings().mode == "report"  # a reader's notebook never raises
    monkeypatch.setenv(MODE_ENV, "assert")
    with pytest.raises(FindingNotSupported):
        _two_claims("auto").report()
    monkeypatch.setenv(MODE_ENV, "skip")
    assert Findings("auto").mode == "skip"
    assert Findings("report").mode == "report"  # an explicit mode wins over the environment
    monkeypatch.setenv(MODE_ENV, "strict")
    with pytest.raises(ValueError, match=r"\$CXGRAD_FINDINGS='strict'.*assert, report or skip"):
        Findings("auto")


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="one of auto, assert, report, skip, got 'loud'"):
        Findings("loud")


def test_claims_are_written_as_json_lines(monkeypatch, tmp_path, capsys):
    path = tmp_path / "claims.jsonl"
    monkeypatch.setenv(JSON_ENV, str(path))
    _two_claims("report").report()
    _two_claims("report").report()  # a chapter with two findings cells appends
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(lines) == 4
    assert lines[0] == {
        "sentence": "CxGrad beats MAML.",
        "holds": True,
        "numbers": {"CxGrad - MAML": pytest.approx(0.1234567)},
    }
    assert lines[1]["holds"] is False and lines[1]["numbers"]["seeds"] == 3


def test_skip_mode_writes_no_json(monkeypatch, tmp_path):
    path = tmp_path / "claims.jsonl"
    monkeypatch.setenv(JSON_ENV, str(path))
    _two_claims("skip").report()
    assert not path.exists()


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_chapters_leave_the_mode_to_the_environment(chapter):
    """A chapter asserts only where the build asks it to: its FINDINGS default is "auto"
    (LARGE_SIZE switches to report, CI's parameters to skip)."""
    text = chapter.read_text()
    if "Findings(" not in text:
        return
    assert re.search(r'^FINDINGS = "auto"', text, re.M), chapter.name
    assert 'FINDINGS == "assert"' not in text, f"{chapter.name}: check through Findings instead"
    built = re.findall(r"Findings\([^)]*\)", text)
    assert built and set(built) == {"Findings(FINDINGS)"}, chapter.name


def test_the_book_build_asserts_the_findings():
    build = (REPO / "scripts" / "build_book.sh").read_text()
    assert re.search(rf"^export {MODE_ENV}=assert$", build, re.M)


@pytest.mark.integration
def test_a_readers_run_reports_failing_findings_instead_of_raising(
    omniglot_root, tmp_path, monkeypatch
):
    """Chapter 3 at CI's tiny size, as a reader would run it (no $CXGRAD_FINDINGS): the
    numbers of four iterations support few sentences, and the chapter still runs to its end,
    printing which sentences do not hold and why runs differ."""
    import jupytext
    import papermill
    import yaml

    monkeypatch.delenv(MODE_ENV, raising=False)
    monkeypatch.setenv("CXGRAD_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("CXGRAD_DATA_ROOT", str(omniglot_root))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    stem = "03_gradient_norms"
    params = yaml.safe_load((REPO / "tests" / "ci_params" / f"{stem}.yaml").read_text())
    params.update(FINDINGS="auto", PAPER_GEOMETRY=False)
    source = tmp_path / f"{stem}.ipynb"
    jupytext.write(jupytext.read(REPO / "notebooks" / f"{stem}.py"), source)
    # papermill raises if any cell raises: getting past this call is the chapter running on
    executed = papermill.execute_notebook(
        str(source),
        None,
        parameters=params,
        kernel_name="python3",
        cwd=str(REPO / "notebooks"),
        progress_bar=False,
    )
    out = "".join(
        o.get("text", "")
        for cell in executed.cells
        for o in cell.get("outputs", [])
        if o.get("output_type") == "stream"
    )
    assert "[DOES NOT HOLD on this run]" in out
    assert WHY_RUNS_DIFFER in out
