"""The claims table of book/reproduction.md is made from its one source (book/claims.toml and
results/findings.json by scripts/claims_table.py): no number there is typed by hand."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
import claims_table  # noqa: E402

RESULTS = json.loads(claims_table.SAVED.read_text())
REMAKE = "remake it: .venv/bin/python scripts/claims_table.py --write-book"


@pytest.fixture(scope="module")
def claims() -> list:
    """The claims with their findings; a reference that names no finding fails the tests
    that read them (with the script's message), not the whole test session."""
    try:
        return claims_table.load_claims(RESULTS)
    except SystemExit as error:
        pytest.fail(str(error))


def test_the_books_table_is_the_one_its_sources_make(claims):
    assert claims_table.shown_in_book() == claims_table.markdown(claims), REMAKE


def test_every_finding_a_claim_quotes_held_in_every_run(claims):
    """A verdict rests on sentences that held in all runs of the robustness check."""
    quoted = [f for claim in claims for f in claim.findings]
    weak = [f"{f.chapter}: {f.sentence}" for f in quoted if f.held[0] < f.held[1]]
    assert not weak, weak


def test_a_reproduced_claim_rests_on_findings(claims):
    bare = [c.paper for c in claims if c.verdict.startswith("reproduced") and not c.findings]
    assert not bare, bare


@pytest.mark.parametrize("word", ["as much as", "recover", "equal", "the same as"])
def test_no_verdict_writes_an_unresolved_comparison_as_equality(claims, word):
    assert not [c.verdict for c in claims if word in c.verdict.lower()]


def _claims_file(tmp_path: Path, findings: str, verdict: str = "reproduced") -> Path:
    path = tmp_path / "claims.toml"
    text = f'paper = "a claim"\nfindings = [{findings}]\nverdict = "{verdict}"\n'
    path.write_text("[[claim]]\n" + text)
    return path


@pytest.mark.parametrize(
    ("findings", "message"),
    [
        ('"05_cxgrad: No sentence starts so"', "matches no sentence of 05_cxgrad"),
        ('"05_cxgrad: The"', r"matches \d+ sentences of 05_cxgrad"),
        ('"99_missing: Anything"', "names chapter '99_missing', which asserts no findings"),
    ],
)
def test_a_reference_that_names_no_one_sentence_is_refused(tmp_path, findings, message):
    with pytest.raises(SystemExit, match=message):
        claims_table.load_claims(RESULTS, _claims_file(tmp_path, findings))


def test_a_verdict_outside_the_vocabulary_is_refused(tmp_path):
    path = _claims_file(tmp_path, "", verdict="roughly equal")
    with pytest.raises(SystemExit, match="starts with none of reproduced in direction"):
        claims_table.load_claims(RESULTS, path)


def test_the_book_without_markers_is_refused(tmp_path):
    book = tmp_path / "reproduction.md"
    book.write_text("# no table here\n")
    with pytest.raises(SystemExit, match="no <!-- claims-table:start -->"):
        claims_table.write_book("| table |\n", book)
