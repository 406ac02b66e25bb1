"""The built book (_build/html) as a reader sees it: every page of the table of contents in a
real headless Chromium (Debian's ``chromium`` and ``chromium-driver``) driven by Selenium.

    bash scripts/build_book.sh                      # the book, every chapter executed
    .venv/bin/python -m pytest -m browser           # this file only (about a minute)

The book is served by Python's http.server on 127.0.0.1, and the browser may reach nothing
else (every other host name fails to resolve): the book must work offline, as in CI. Every
page is loaded once at desktop size and once as a phone (390x844, Chrome's mobile
emulation); screenshots of both are written to ``_build/browser-screenshots/`` (SHOTS).

Skipped when the book is not built or Chromium, chromedriver or Selenium are missing; under
``CI=true`` those fail instead. scripts/test.sh leaves this file out (``-m "not browser"``):
.ci/run runs it after building the book.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import sys
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
import execute_chapters  # noqa: E402

# The built book; CXGRAD_BOOK_HTML tests another build of it (a copy built elsewhere).
BOOK = Path(os.environ.get("CXGRAD_BOOK_HTML") or REPO / "_build" / "html")
SHOTS = REPO / "_build" / "browser-screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
# Chapter 8's t-SNE across tasks: a live slider in Jupyter/Colab, small multiples in the book.
CHAPTER_8 = "notebooks/08_representation_change.html"
CHAPTER_8_FIGURE_CELL = "plot_task_grid("
# A phrase of chapter 4 that the search page must find, and the page it must find it on.
SEARCH_PHRASE = "scale invariance"
SEARCH_PAGE = "notebooks/04_batchnorm_invariance.html"

pytestmark = pytest.mark.browser

sys.path.insert(0, str(REPO / "scripts"))
from make_colab_notebooks import read_settings  # noqa: E402


def toc_pages() -> list[str]:
    """Every page of _toc.yml, as its path in the built HTML (``book/intro.html``): the
    book build's own reading of the table of contents."""
    return [f"{file}.html" for file in execute_chapters.toc_files(REPO)]


PAGES = toc_pages()


def unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must run the browser test, not skip it)")
    pytest.skip(reason)


# --- the server ------------------------------------------------------------------------------
class _QuietHandler(SimpleHTTPRequestHandler):
    """http.server that records every request's path and status instead of printing it."""

    requests: list[tuple[str, int]]
    lock: threading.Lock

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        status = int(code) if str(code).isdigit() else 0
        with self.lock:
            self.requests.append((urllib.parse.urlsplit(self.path).path, status))

    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class BookServer:
    base: str  # http://127.0.0.1:PORT/
    requests: list[tuple[str, int]]
    lock: threading.Lock

    def take_requests(self) -> list[tuple[str, int]]:
        with self.lock:
            taken = list(self.requests)
            self.requests.clear()
        return taken


@pytest.fixture(scope="session")
def server() -> Iterator[BookServer]:
    if not (BOOK / "index.html").is_file():
        unavailable(
            f"the book is not built ({BOOK / 'index.html'} is missing): run "
            "bash scripts/build_book.sh"
        )
    requests: list[tuple[str, int]] = []
    lock = threading.Lock()
    handler = type("Handler", (_QuietHandler,), {"requests": requests, "lock": lock})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(BOOK)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield BookServer(f"http://127.0.0.1:{httpd.server_address[1]}/", requests, lock)
    finally:
        httpd.shutdown()
        httpd.server_close()


# --- the browser -----------------------------------------------------------------------------
def new_driver(phone: bool) -> Any:
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        unavailable("selenium is not installed: bash scripts/setup.sh")
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not path.exists():
            unavailable(f"{path} is missing: apt-get install chromium chromium-driver ({package})")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    # Offline like CI: any host but the local server fails, so a page that needs the
    # internet (a CDN's script or font) fails here too, on any machine.
    options.add_argument("--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    if phone:
        # A phone's own viewport: resizing a desktop window instead leaves a desktop layout
        # that reports overflow no phone has.
        options.add_experimental_option(
            "mobileEmulation", {"deviceMetrics": {**PHONE, "pixelRatio": 2.0, "mobile": True}}
        )
    else:
        options.add_argument(f"--window-size={DESKTOP['width']},{DESKTOP['height']}")
    # Debian's chromedriver, not Selenium Manager (which would try to download one).
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(30)
    return driver


@pytest.fixture(scope="session")
def shots() -> Path:
    shutil.rmtree(SHOTS, ignore_errors=True)
    (SHOTS / "desktop").mkdir(parents=True)
    (SHOTS / "phone").mkdir(parents=True)
    print(f"\nbrowser screenshots: {SHOTS}")
    return SHOTS


# MathJax typesets after the page's load event; wait for it (and for the fonts) before looking.
WAIT_FOR_PAGE = """
const done = arguments[arguments.length - 1];
const start = Date.now();
function settle(mathjax) {
  document.fonts.ready.then(() => done(mathjax));
}
function poll() {
  const mj = window.MathJax;
  if (mj && mj.startup && mj.startup.promise) {
    mj.startup.promise.then(() => settle("typeset"), (e) => settle("failed: " + e));
  } else if (!document.querySelector("script[src*='mathjax']")) {
    settle("not on this page");
  } else if (Date.now() - start > 15000) {
    settle("never started (the MathJax script did not load)");
  } else {
    setTimeout(poll, 50);
  }
}
poll();
"""

# A readable name of an element for the failure messages: tag#id.class.class
DESCRIBE = """
const describe = (e) => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "")
  + (typeof e.className === "string" && e.className.trim()
     ? "." + e.className.trim().split(/\\s+/).join(".") : "");
const all = (selector, root = document) => Array.from(root.querySelectorAll(selector));
"""

# Everything the desktop checks need, read from the DOM in one round trip.
READ_PAGE = (
    DESCRIBE
    + """
const main = document.querySelector("main") || document.body;
const text = (root, drop) => {
  const copy = root.cloneNode(true);
  copy.querySelectorAll(drop).forEach((e) => e.remove());
  return copy.textContent;
};
const figureCaption = (img) => {
  const caption = img.closest("figure") && img.closest("figure").querySelector("figcaption");
  return caption ? caption.textContent.trim() : "";
};
return {
  links: all("a[href]").map((a) => [a.href, a.textContent.trim().slice(0, 60)]),
  ids: all("[id], a[name]").map((e) => e.id || e.name),
  math: all(".math", main).map((e) => ({
    rendered: e.querySelector("mjx-container") !== null,
    source: e.textContent.trim().slice(0, 80),
  })),
  mathErrors: all("mjx-merror, .MathJax_Error").map(
    (e) => (e.getAttribute("data-mjx-error") || e.textContent).slice(0, 120)),
  prose: text(main, "pre, code, script, style, mjx-container, .highlight, .cell_output, textarea"),
  images: Array.from(document.images).map((img) => ({
    src: img.getAttribute("src"),
    loaded: img.complete && img.naturalWidth > 0,
    alt: (img.getAttribute("alt") || "").trim(),
    caption: figureCaption(img),
    inOutput: img.closest(".cell_output") !== null,
    where: describe(img.parentElement),
  })),
  hiddenInputs: all(".cell.tag_hide-input").map((cell) => {
    const input = cell.querySelector(".cell_input");
    return { where: describe(cell), shown: input !== null && input.checkVisibility() };
  }),
  removedInputs: all(".cell.tag_remove-input .cell_input").length,
  markers: (document.body.textContent.match(/NBVAL_CHECK_OUTPUT/g) || []).length,
  launch: all(".dropdown-launch-buttons a").map((a) => a.href),
  repository: all("a.btn-source-repository-button").map((a) => a.href),
  issues: all("a.btn-source-issues-button").map((a) => a.href),
};
"""
)

# The phone checks: the layout viewport (innerWidth) stays the phone's when nothing is wider
# than it; a wider element makes the page scroll sideways or zooms it out to tiny text. The
# elements reported are those of the page's content that reach past the screen's right edge
# without a scrolling box of their own; the theme's drawers (position: fixed, off screen
# until opened) do not widen the page and are left out.
READ_PHONE = (
    DESCRIBE
    + """
const width = window.visualViewport ? Math.min(window.visualViewport.width, 390) : 390;
const inDrawerOrScroller = (e) => {
  for (let p = e; p && p !== document.body; p = p.parentElement) {
    const style = getComputedStyle(p);
    if (style.position === "fixed" || style.display === "none") return true;
    if (p !== e && ["auto", "scroll", "hidden"].includes(style.overflowX)
        && p.getBoundingClientRect().right <= width + 1) return true;
  }
  return false;
};
const wide = all("body *")
  .map((e) => [e, e.getBoundingClientRect()])
  .filter(([e, box]) => box.width > 0 && box.right > width + 1 && !inDrawerOrScroller(e))
  .map(([e, box]) => [describe(e), Math.round(box.right)]);
const main = document.querySelector("main") || document.body;
return {
  innerWidth: window.innerWidth,
  scrollWidth: document.documentElement.scrollWidth,
  fontSize: parseFloat(getComputedStyle(main.querySelector("p") || main).fontSize),
  wide: wide.sort((a, b) => b[1] - a[1]).slice(0, 6),
};
"""
)


def screenshot(driver: Any, path: Path, max_height: int = 16000) -> None:
    """The whole page (up to max_height CSS pixels) as a JPEG: a broken page can be seen
    below the first screen, and JPEG keeps the chapters' long pages small."""
    metrics = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
    size = metrics.get("cssContentSize") or metrics["contentSize"]
    clip = {
        "x": 0,
        "y": 0,
        "width": size["width"],
        "height": min(size["height"], max_height),
        "scale": 1,
    }
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot",
        {"format": "jpeg", "quality": 60, "captureBeyondViewport": True, "clip": clip},
    )
    import base64

    path.write_bytes(base64.b64decode(shot["data"]))


@dataclass
class PageReport:
    page: str
    mathjax: str = ""
    console: list[str] = field(default_factory=list)
    failed_requests: list[tuple[str, int]] = field(default_factory=list)
    dom: dict[str, Any] = field(default_factory=dict)


def shot_name(page: str) -> str:
    return page.removesuffix(".html").replace("/", "__") + ".jpg"


def severe_console(driver: Any) -> list[str]:
    # The browser asks for /favicon.ico on its own; the book declares no icon.
    return [
        entry["message"]
        for entry in driver.get_log("browser")
        if entry["level"] == "SEVERE" and "/favicon.ico" not in entry["message"]
    ]


def failed(requests: list[tuple[str, int]]) -> list[tuple[str, int]]:
    return [(path, status) for path, status in requests if status >= 400 and path != "/favicon.ico"]


@pytest.fixture(scope="session")
def desktop(server: BookServer, shots: Path) -> Iterator[dict[str, PageReport]]:
    """Every page loaded once at desktop size; the per-page tests read these reports."""
    driver = new_driver(phone=False)
    reports: dict[str, PageReport] = {}
    try:
        for page in PAGES:
            server.take_requests()
            driver.get_log("browser")  # drop the previous page's messages
            driver.get(server.base + page)
            report = PageReport(page, mathjax=driver.execute_async_script(WAIT_FOR_PAGE))
            report.dom = driver.execute_script(READ_PAGE)
            report.console = severe_console(driver)
            report.failed_requests = failed(server.take_requests())
            screenshot(driver, shots / "desktop" / shot_name(page))
            reports[page] = report
        yield reports
    finally:
        driver.quit()


@pytest.fixture(scope="session")
def phone(server: BookServer, shots: Path) -> Iterator[dict[str, dict[str, Any]]]:
    driver = new_driver(phone=True)
    reports: dict[str, dict[str, Any]] = {}
    try:
        for page in PAGES:
            driver.get(server.base + page)
            driver.execute_async_script(WAIT_FOR_PAGE)
            reports[page] = driver.execute_script(READ_PHONE)
            screenshot(driver, shots / "phone" / shot_name(page))
        yield reports
    finally:
        driver.quit()


# --- anchors of the built pages ----------------------------------------------------------------
class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name == "id" or (tag == "a" and name == "name"):
                self.ids.add(value or "")


@functools.cache
def anchors(path: Path) -> frozenset[str]:
    parser = _Anchors()
    parser.feed(path.read_text(encoding="utf-8", errors="replace"))
    return frozenset(parser.ids)


# --- the tests -------------------------------------------------------------------------------
@pytest.mark.parametrize("page", PAGES)
def test_page_loads_without_errors(desktop: dict[str, PageReport], page: str) -> None:
    report = desktop[page]
    assert not report.failed_requests, (
        f"{page}: requests that failed (path, HTTP status): {report.failed_requests}; "
        "a stylesheet, script, image or font the page links is missing from _build/html"
    )
    assert not report.console, (
        f"{page}: the browser console has errors: {report.console}; fix the script or "
        "resource each names (an external URL means the page needs the internet)"
    )


@pytest.mark.parametrize("page", PAGES)
def test_internal_links_resolve(desktop: dict[str, PageReport], server: BookServer, page: str):
    broken = []
    for href, text in desktop[page].dom["links"]:
        if not href.startswith(server.base):
            continue  # other sites: the buttons are checked below, the rest need internet
        url = urllib.parse.urlsplit(href)
        relative = urllib.parse.unquote(url.path).lstrip("/")
        target = BOOK / (relative or "index.html")
        if target.is_dir():
            target /= "index.html"
        if not target.is_file():
            broken.append(f"{text!r} -> {relative} (no such page)")
        elif url.fragment and urllib.parse.unquote(url.fragment) not in anchors(target):
            broken.append(f"{text!r} -> {relative}#{url.fragment} (no such anchor there)")
    assert not broken, (
        f"{page}: internal links that lead nowhere: {broken}; fix the link or the label it names"
    )


@pytest.mark.parametrize("page", PAGES)
def test_math_is_rendered(desktop: dict[str, PageReport], page: str) -> None:
    report = desktop[page]
    math = report.dom["math"]
    if math:
        assert report.mathjax == "typeset", (
            f"{page}: MathJax {report.mathjax}; the page has {len(math)} formulas. The book "
            "serves MathJax from _static/mathjax (scripts/fetch_mathjax.sh, book/_ext)"
        )
    raw = [m["source"] for m in math if not m["rendered"]]
    assert not raw, f"{page}: formulas left as raw TeX (no mjx-container): {raw[:5]}"
    assert not report.dom["mathErrors"], (
        f"{page}: MathJax error nodes (mjx-merror): {report.dom['mathErrors']}; fix the TeX"
    )
    tex = re.compile(r".{0,30}(\$\$|\\\(|\\\[|\\begin\{).{0,30}")
    leftovers = [m.group(0) for m in tex.finditer(report.dom["prose"])]
    assert not leftovers, (
        f"{page}: TeX delimiters in the text outside code: {leftovers[:5]}; the formula was "
        "not parsed as math (check the dollarmath syntax) or not typeset"
    )


@pytest.mark.parametrize("page", PAGES)
def test_images_load_and_are_described(desktop: dict[str, PageReport], page: str) -> None:
    images = desktop[page].dom["images"]
    missing = [f"{i['src']} in {i['where']}" for i in images if not i["loaded"]]
    assert not missing, f"{page}: images that did not load (natural width 0): {missing}"
    undescribed = [f"{i['src']} in {i['where']}" for i in images if not (i["alt"] or i["caption"])]
    assert not undescribed, (
        f"{page}: images with neither alt text nor a caption: {undescribed}; give the figure a "
        "caption or the image an alt text"
    )


def tagged_cells(page: str, tag: str) -> int:
    """How many code cells of the chapter behind ``page`` carry the tag ``tag``, or, for
    ``mystnb``, that metadata (0 for pages that are no chapter)."""
    source = REPO / Path(page).with_suffix(".py")
    if not source.is_file():
        return 0
    headers = re.findall(r"^# %%(?! \[markdown\])(.*)$", source.read_text(), flags=re.M)
    if tag == "mystnb":
        return sum(" mystnb=" in header for header in headers)
    return sum(re.search(rf'tags=\[[^\]]*"{tag}"', header) is not None for header in headers)


@pytest.mark.parametrize("page", PAGES)
def test_plumbing_stays_off_the_page(desktop: dict[str, PageReport], page: str) -> None:
    """Findings and parameter cells show their output and keep their code out of the way:
    a hide-input cell's code is folded until the reader opens it, a remove-input cell's is
    not on the page, and no output-check marker is shown."""
    dom = desktop[page].dom
    assert not dom["markers"], f"{page}: shows NBVAL_CHECK_OUTPUT {dom['markers']} time(s)"
    hidden = dom["hiddenInputs"]
    assert len(hidden) == tagged_cells(page, "hide-input"), (
        f"{page}: {len(hidden)} cells render as hide-input, the chapter tags "
        f"{tagged_cells(page, 'hide-input')}; the theme's cell classes changed?"
    )
    shown = [cell["where"] for cell in hidden if cell["shown"]]
    assert not shown, f"{page}: hide-input cells whose code is shown unopened: {shown}"
    assert not dom["removedInputs"], f"{page}: remove-input cells whose code is on the page"


@pytest.mark.parametrize("page", PAGES)
def test_every_figure_a_chapter_draws_has_a_caption_and_alt_text(
    desktop: dict[str, PageReport], page: str
) -> None:
    """A figure says what to look at (its caption, from the cell's ``mystnb.figure``
    metadata) and what it shows to a reader who cannot see it (``mystnb.image.alt``)."""
    drawn = [image for image in desktop[page].dom["images"] if image["inOutput"]]
    captioned = tagged_cells(page, "mystnb")  # some draw only with a parameter set
    assert drawn or not captioned, f"{page}: {captioned} figure cells are captioned, none drew"
    bare = [f"{i['src']} in {i['where']}" for i in drawn if not (i["caption"] and i["alt"])]
    assert not bare, f"{page}: figures without a caption or alt text: {bare}"


@pytest.mark.parametrize("page", PAGES)
def test_launch_and_repository_buttons(desktop: dict[str, PageReport], page: str) -> None:
    settings = read_settings(REPO)
    dom = desktop[page].dom
    colab = [url for url in dom["launch"] if "colab.research.google.com" in url]
    if page.startswith("notebooks/"):
        expected = settings.colab_url(page.removeprefix("notebooks/").removesuffix(".html"))
        assert colab == [expected], (
            f"{page}: the Colab launch button opens {colab}, not the chapter's paired notebook "
            f"{expected} (built from repository.url and branch in _config.yml)"
        )
    else:
        assert not colab, f"{page}: a prose page has a Colab launch button: {colab}"
    assert dom["repository"] == [settings.repo_url], (
        f"{page}: the repository button opens {dom['repository']}, not repository.url "
        f"{settings.repo_url} of _config.yml (html.use_repository_button)"
    )
    assert len(dom["issues"]) == 1 and dom["issues"][0].startswith(
        f"{settings.repo_url}/issues/new"
    ), f"{page}: the issue button opens {dom['issues']}, not {settings.repo_url}/issues/new"


@pytest.mark.parametrize("page", PAGES)
def test_phone_layout(phone: dict[str, dict[str, Any]], page: str) -> None:
    report = phone[page]
    assert report["innerWidth"] == PHONE["width"] and report["scrollWidth"] <= PHONE["width"], (
        f"{page}: at {PHONE['width']} px the page is {report['scrollWidth']} px wide (layout "
        f"viewport {report['innerWidth']} px): the body scrolls sideways or the text is zoomed "
        f"out. Widest elements (selector, right edge in px): {report['wide']}; wrap them or "
        "let them scroll in their own box (_static/book.css)"
    )
    assert report["fontSize"] >= 14, (
        f"{page}: text at {report['fontSize']} px on a phone; too small to read"
    )


def test_screenshots_are_written(desktop: dict[str, PageReport], phone: Any, shots: Path):
    for size in ("desktop", "phone"):
        missing = [p for p in PAGES if not (shots / size / shot_name(p)).stat().st_size]
        assert not missing, f"no {size} screenshot of {missing} in {shots / size}"


def test_search_finds_a_phrase_of_chapter_4(server: BookServer) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver = new_driver(phone=False)
    try:
        query = urllib.parse.urlencode({"q": SEARCH_PHRASE})
        driver.get(f"{server.base}search.html?{query}")
        # Sphinx's search writes its summary when it has finished, results or none.
        WebDriverWait(driver, 20).until(
            lambda d: d.find_elements(By.CSS_SELECTOR, "#search-results p.search-summary")
        )
        found = [
            a.get_attribute("href")
            for a in driver.find_elements(By.CSS_SELECTOR, "#search-results ul.search li a")
        ]
        screenshot(driver, SHOTS / "desktop" / "search.jpg")
    finally:
        driver.quit()
    assert any(urllib.parse.urlsplit(url).path == "/" + SEARCH_PAGE for url in found), (
        f"search.html?q={SEARCH_PHRASE}: results {found} do not include {SEARCH_PAGE}; the "
        "search index (searchindex.js) or the search page's scripts are broken"
    )


def public_callables() -> list[str]:
    """The public functions and classes of the modules the API page documents."""
    import importlib
    import inspect

    from test_api_page import PUBLIC

    names = []
    for module_name in PUBLIC:
        module = importlib.import_module(module_name)
        exported = getattr(module, "__all__", None) or [
            n
            for n, v in vars(module).items()
            if not n.startswith("_") and getattr(v, "__module__", None) == module_name
        ]
        for name in exported:
            value = getattr(module, name)
            if inspect.isfunction(value) or inspect.isclass(value):
                names.append(f"{module_name}.{name}")
    return names


def test_api_page_lists_the_public_functions(desktop: dict[str, PageReport]) -> None:
    ids = set(desktop["book/api.html"].dom["ids"])
    expected = public_callables()
    assert len(expected) > 20, f"found only {expected} as cxgrad's public functions"
    missing = [name for name in expected if name not in ids]
    assert not missing, (
        f"book/api.html: no entry for {missing}; document them (book/api.md's automodule "
        "directives, the modules' __all__)"
    )


def test_chapter_8_shows_the_t_sne_of_other_tasks(server: BookServer) -> None:
    """Chapter 8's slider over test tasks is live in Jupyter and Colab; the static book shows
    the same thing as small multiples. The cell that draws them must show a loaded image,
    and no widget (which the static book cannot run) may be left on the page."""
    from selenium.webdriver.common.by import By

    driver = new_driver(phone=False)
    try:
        driver.get(server.base + CHAPTER_8)
        driver.execute_async_script(WAIT_FOR_PAGE)
        cells = [  # cells whose input is on the page (remove-input cells have none)
            cell
            for cell in driver.find_elements(By.CSS_SELECTOR, "div.cell")
            if any(
                CHAPTER_8_FIGURE_CELL in source.text
                for source in cell.find_elements(By.CSS_SELECTOR, ".cell_input")
            )
        ]
        assert cells, f"{CHAPTER_8}: no code cell calls {CHAPTER_8_FIGURE_CELL}"
        if not driver.find_elements(By.CSS_SELECTOR, "div.cell_output"):
            unavailable(f"{CHAPTER_8} was built without executing its cells: no figure to check")
        width = "return arguments[0].naturalWidth"
        images = [
            (img.get_attribute("src"), driver.execute_script(width, img))
            for img in cells[-1].find_elements(By.CSS_SELECTOR, ".cell_output img")
        ]
        widgets = driver.find_elements(
            By.CSS_SELECTOR, ".jupyter-widgets, script[type*='jupyter-widget']"
        )
    finally:
        driver.quit()
    assert images and all(width > 0 for _, width in images), (
        f"{CHAPTER_8}: the small multiples of the t-SNE over test tasks ({CHAPTER_8_FIGURE_CELL}"
        f"...) show no loaded image: {images}; the cell must draw its figure when not interactive"
    )
    assert not widgets, (
        f"{CHAPTER_8}: {len(widgets)} widget elements in the static book, where they cannot run; "
        "draw a static figure there and keep the widget for Jupyter/Colab"
    )
