"""scripts/execute_chapters.py, the first step of the book build: the chapters executed several
at a time into the jupyter-cache that the HTML build reads, a failing chapter named with its
traceback. Tiny books of two or three notebooks; the real build is scripts/build_book.sh."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import yaml
from jupyter_cache import get_cache

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
import execute_chapters  # noqa: E402


def test_the_schedule_names_every_chapter_of_the_book():
    """A new chapter must get its place in the longest-first order (it would run last)."""
    settings = execute_chapters.read_settings(REPO)
    found = execute_chapters.chapters(REPO, settings)
    assert sorted(found) == sorted(execute_chapters.LONGEST_FIRST)
    assert all(path.suffix == ".py" for path in found.values())


def test_the_book_takes_its_outputs_from_the_cache():
    config = yaml.safe_load((REPO / "_config.yml").read_text())
    assert config["execute"]["execute_notebooks"] == "cache"
    assert config["execute"]["allow_errors"] is False


CELL = """# %%
import os
import time

time.sleep(0.5)
print("{name} ran in", os.path.basename(os.getcwd()), "with", os.environ["BOOK_TEST"])
"""


def make_book(root: Path, chapters: dict[str, str]) -> None:
    config = yaml.safe_load((REPO / "_config.yml").read_text())
    (root / "_config.yml").write_text(
        yaml.safe_dump(
            {
                "execute": config["execute"],
                "sphinx": {
                    "config": {"nb_custom_formats": config["sphinx"]["config"]["nb_custom_formats"]}
                },
            }
        )
    )
    toc = {"format": "jb-book", "root": "intro", "chapters": []}
    (root / "intro.md").write_text("# A page that is not executed\n")
    (root / "chapters").mkdir()
    for name, code in chapters.items():
        (root / "chapters" / f"{name}.py").write_text(code.format(name=name))
        toc["chapters"].append({"file": f"chapters/{name}"})
    (root / "_toc.yml").write_text(yaml.safe_dump(toc))


def run(root: Path, *options: str) -> int:
    return execute_chapters.main(
        ["--book", str(root), "--cache", str(root / "cache"), "--times", str(root / "times.txt")]
        + list(options)
    )


@pytest.mark.integration
def test_every_chapter_is_executed_into_the_cache_the_html_build_matches(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("BOOK_TEST", "the build's environment")
    make_book(tmp_path, {"one": CELL, "two": CELL, "three": CELL})
    assert run(tmp_path, "--jobs", "2") == 0
    out = capsys.readouterr().out
    assert "3 chapters executed" in out
    settings = execute_chapters.read_settings(tmp_path)
    cache = get_cache(tmp_path / "cache")
    for name in ("one", "two", "three"):
        # What myst-nb does in the HTML build: read the source, look its code up in the cache.
        source = execute_chapters.read_notebook(tmp_path / "chapters" / f"{name}.py", settings)
        _, merged = cache.merge_match_into_notebook(source)
        (output,) = merged.cells[0].outputs
        assert output.text == f"{name} ran in chapters with the build's environment\n"
    times = (tmp_path / "times.txt").read_text().splitlines()
    assert [line.split(":")[0] for line in times] == [
        "chapters/one.py",
        "chapters/two.py",
        "chapters/three.py",
    ]


@pytest.mark.integration
def test_a_chapter_that_raises_fails_the_build_named_with_its_traceback(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("BOOK_TEST", "x")
    failing = "# %%\ndef check():\n    raise AssertionError('a finding does not hold')\n\ncheck()\n"
    make_book(tmp_path, {"good": CELL, "bad": failing})
    assert run(tmp_path, "--jobs", "2") == 1
    captured = capsys.readouterr()
    out = re.sub(r"\x1b\[[0-9;]*m", "", captured.out)  # the kernel colours its tracebacks
    assert "chapters/bad.py FAILED" in out
    assert "AssertionError: a finding does not hold" in out
    assert "in check()" in out  # the traceback, not only the message
    assert "chapter(s) failed, the book is not built: chapters/bad.py" in captured.err
    # the other chapter still ran and is cached
    cache = get_cache(tmp_path / "cache")
    assert len(cache.list_cache_records()) == 1
    assert "(FAILED)" in (tmp_path / "times.txt").read_text()


def test_the_cache_mode_is_required(tmp_path):
    make_book(tmp_path, {"one": CELL})
    config = yaml.safe_load((tmp_path / "_config.yml").read_text())
    config["execute"]["execute_notebooks"] = "force"
    (tmp_path / "_config.yml").write_text(yaml.safe_dump(config))
    with pytest.raises(SystemExit, match="set it to cache"):
        run(tmp_path)


@pytest.mark.integration
def test_a_cell_past_the_timeout_of_config_fails_its_chapter(tmp_path, capsys):
    """_config.yml's execute.timeout is per cell, as in jupyter-book's own execution."""
    make_book(tmp_path, {"slow": "# %%\nimport time\n\ntime.sleep(30)\n"})
    config = yaml.safe_load((tmp_path / "_config.yml").read_text())
    config["execute"]["timeout"] = 2
    (tmp_path / "_config.yml").write_text(yaml.safe_dump(config))
    assert run(tmp_path, "--jobs", "1") == 1
    out = capsys.readouterr().out
    assert "chapters/slow.py FAILED" in out
    assert "CellTimeoutError" in out and "after 2 seconds" in out
