"""scripts/myst_to_markdown.py: the book's MyST becomes Markdown that Colab renders."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
from myst_to_markdown import Bibliography, Converter, count_myst  # noqa: E402

BOOK = "https://example.org/book/"


def link(role: str, target: str) -> tuple[str, str]:
    if target.startswith("0"):
        return f"https://colab.example/{target}.ipynb", f"Chapter {target[:2]}"
    return f"{BOOK}{target.removeprefix('../')}.html", "Reproducing the paper"


@pytest.fixture
def convert():
    bibliography = Bibliography.read(REPO / "book" / "references.bib")
    return Converter(bibliography, link, where="notebooks/99_test.py")


def test_citations_use_the_books_author_year_style(convert):
    text = convert.convert("MAML {cite}`finn2017maml`; {cite:t}`lake2015omniglot` showed it.")
    assert text == "MAML (Finn et al., 2017); Lake et al. (2015) showed it."
    assert convert.cited == ["finn2017maml", "lake2015omniglot"]


def test_several_keys_and_works_with_one_label_are_told_apart(convert):
    text = convert.convert("{cite}`baik2020alfa,baik2020l2f`")
    assert text in (
        "(Baik et al., 2020a; Baik et al., 2020b)",
        "(Baik et al., 2020b; Baik et al., 2020a)",
    )
    assert text.count("2020a") == text.count("2020b") == 1


def test_reference_list_names_every_cited_work(convert):
    convert.convert("{cite}`lee2022cxgrad` and {cite}`finn2017maml`")
    references = convert.reference_list()
    assert references.startswith("## References\n")
    assert "- Finn, C., Abbeel, P. and Levine, S. (2017). *Model-Agnostic" in references
    assert references.index("Finn") < references.index("Lee, S.")  # sorted by author


def test_unknown_citation_names_the_file_and_key(convert):
    with pytest.raises(KeyError, match=r"notebooks/99_test.py: citation key 'nobody2030'"):
        convert.convert("{cite}`nobody2030`")


def test_cross_references_become_links(convert):
    text = convert.convert("See {doc}`../book/reproduction` and {doc}`chapter five <05_cxgrad>`.")
    assert text == (
        f"See [Reproducing the paper]({BOOK}book/reproduction.html) and "
        "[chapter five](https://colab.example/05_cxgrad.ipynb)."
    )


def test_admonition_becomes_a_blockquote_with_a_bold_title(convert):
    source = "```{admonition} The paper's numbers\n:class: note\n\nMAML: 48.70\n```\nafter"
    assert convert.convert(source) == "> **The paper's numbers**\n>\n> MAML: 48.70\nafter"


def test_named_admonition_and_colon_fence(convert):
    assert convert.convert(":::{warning}\nCareful.\n:::") == "> **Warning**\n>\n> Careful."


def test_dropdown_solutions_become_collapsed_details(convert):
    source = (
        "```{admonition} Solutions\n:class: dropdown\n\n1. Use ```x``` here.\n\n"
        "````bash\ncxgrad train\n````\n```"
    )
    # a code block inside the solution must not close it
    source = source.replace("```x```", "`x`")
    assert convert.convert(source) == (
        "<details>\n<summary>Solutions</summary>\n\n1. Use `x` here.\n\n"
        "````bash\ncxgrad train\n````\n\n</details>"
    )


def test_a_solution_is_collapsed_even_without_the_dropdown_class(convert):
    source = "```{admonition} Solution\n\nTwo.\n```"
    assert convert.convert(source) == "<details>\n<summary>Solution</summary>\n\nTwo.\n\n</details>"


def test_nested_code_block_with_three_backticks_stays_inside(convert):
    source = "```{admonition} Run\n:class: tip\n\n```bash\ncxgrad train\n```\n```\nafter"
    assert convert.convert(source) == "> **Run**\n>\n> ```bash\n> cxgrad train\n> ```\nafter"


def test_targets_and_comments_disappear_and_math_stays(convert):
    source = "(sec-inner)=\n## Inner loop\n% a note for authors\n$\\alpha$ and $$x^2$$"
    assert convert.convert(source) == "## Inner loop\n$\\alpha$ and $$x^2$$"


def test_plain_code_blocks_are_left_alone(convert):
    source = "```python\nx = {'a': 1}  # {cite}`not_a_role`\n```"
    assert convert.convert(source) == source


def test_count_myst_finds_every_kind_of_construct():
    assert count_myst("{cite}`a` {doc}`b`") == 2
    assert count_myst("```{note}\nx\n```") == 1
    assert count_myst(":::{tip}\nx\n:::") == 1
    assert count_myst("(label)=\n# T") == 1
    assert count_myst(":class: dropdown") == 1
    assert count_myst("plain $x$ and `code` and > **Note**") == 0
