"""Sphinx extension of the course book: what the HTML needs to work offline and without errors.

Loaded through ``sphinx: local_extensions`` in ``_config.yml``. It does two things, each for a
defect that the browser test (tests/test_book_browser.py) found in the built book:

1. MathJax from the book itself. ``mathjax_path`` in ``_config.yml`` names a path under
   ``_static``; this extension adds the folder that scripts/fetch_mathjax.sh fills
   (``_build/mathjax``, with ``mathjax/`` inside) to ``html_static_path``, so Sphinx copies
   MathJax into ``_static/mathjax/``. It is added here rather than in ``_config.yml``
   because Jupyter Book links every ``.js`` file of a configured static path into every
   page, and MathJax has hundreds. Without the folder the build stops and says how to
   fetch it: a book whose formulas need a CDN shows raw TeX to a reader offline.
2. Each inline script once. Sphinx 7.4 adds the scripts that extensions register after the
   builder starts (sphinx-thebe's ``const THEBE_JS_URL = ...``, sphinx-togglebutton's
   selector) a second time when it prepares writing: the first copy is stored with the
   file name ``None``, the second with ``""``, so its duplicate check misses them. A
   repeated ``const`` is a SyntaxError on every page. Sphinx 8 fixed it; Jupyter Book 1
   needs Sphinx 7.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sphinx.application import Sphinx
from sphinx.errors import ExtensionError

MATHJAX_COMPONENT = "mathjax/tex-mml-chtml.js"


def add_local_mathjax(app: Sphinx) -> None:
    if app.builder.format != "html":
        return
    folder = Path(app.srcdir) / app.config.book_mathjax_dir
    if not (folder / MATHJAX_COMPONENT).is_file():
        raise ExtensionError(
            f"MathJax is not at {folder / MATHJAX_COMPONENT}: run bash scripts/fetch_mathjax.sh "
            "(scripts/build_book.sh does), or the book's formulas stay raw TeX offline"
        )
    if app.config.mathjax_path != MATHJAX_COMPONENT:
        raise ExtensionError(
            f"_config.yml: sphinx.config.mathjax_path is {app.config.mathjax_path!r}; set it to "
            f"{MATHJAX_COMPONENT!r} so that pages load the MathJax copied into _static"
        )
    app.config.html_static_path.append(str(folder))


def _script_key(script: Any) -> tuple[str, int, tuple[tuple[str, str], ...]]:
    attributes = getattr(script, "attributes", {}) or {}
    return (
        str(getattr(script, "filename", script) or ""),
        int(getattr(script, "priority", 500)),
        tuple(sorted((str(k), str(v)) for k, v in attributes.items())),
    )


def drop_repeated_scripts(
    app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree: Any
) -> None:
    scripts = context.get("script_files")
    if not isinstance(scripts, list):
        return
    seen: set[tuple[str, int, tuple[tuple[str, str], ...]]] = set()
    unique = []
    for script in scripts:
        key = _script_key(script)
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def setup(app: Sphinx) -> dict[str, Any]:
    # The folder with mathjax/ inside, relative to the book's root (_config.yml's folder).
    app.add_config_value("book_mathjax_dir", "_build/mathjax", "html")
    app.connect("builder-inited", add_local_mathjax)
    # Late (priority 900), after every extension has added its page scripts.
    app.connect("html-page-context", drop_repeated_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
