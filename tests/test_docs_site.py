"""Check the built documentation site in a real browser (headless Chromium).

These tests read the HTML that Sphinx wrote; build it first::

    MNISTKIT_DATA_DIR=/path/to/data MNISTKIT_DOCS_OFFLINE=1 \\
        sphinx-build -W --keep-going -b html docs docs/_build/html
    python -m pytest -m docs tests/test_docs_site.py

The site is served from ``127.0.0.1`` by :mod:`http.server` in a thread, exactly as a web
server would serve it, and opened with Playwright driving the system's Chromium
(``/usr/bin/chromium``, Debian's ``chromium`` package; ``MNISTKIT_CHROMIUM`` names another
binary). Playwright's own browser downloads are never used. Screenshots of the pages opened
are written to ``docs/_build/screenshots/`` for a person to look at: the key pages at desktop
width, and every page with figures at a phone's width (``phone-*.png``).

Environment: ``MNISTKIT_DOCS_HTML`` overrides the site folder (default
``docs/_build/html``).
"""

from __future__ import annotations

import urllib.error
import urllib.request
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import unquote, urljoin, urlsplit

import pytest
from _browser import BUILD_HINT, SCREENSHOTS

pytestmark = pytest.mark.docs

REPO = Path(__file__).resolve().parents[1]
#: Pages opened in the browser: (path in the site, screenshot name, whole page or not).
KEY_PAGES = [
    ("index.html", "index", False),
    ("auto_examples/index.html", "gallery", True),
    ("auto_examples/use/plot_quickstart.html", "example-quickstart", False),
    ("concepts.html", "concepts", False),
    ("concepts/network.html", "concepts-network", False),
    ("api/generated/mnistkit.Trainer.html", "api-trainer", False),
]

#: A phone's screen in CSS pixels (390 wide, as an iPhone 12 to 15) and its pixel density.
PHONE = {"width": 390, "height": 844}
PHONE_SCALE = 2
#: The smallest a figure may be shrunk to fit a phone's screen, as a fraction of its width.
#: Below it, the text in the figure gets too small to read (a figure made 7 inches wide or
#: less passes; one of 11 inches or several rows of 9 panels does not).
MIN_FIGURE_SCALE = 0.4
#: Pages drawn by their own scripts (canvases rather than figures), checked at a phone's
#: width too.
SCRIPTED_PAGES = ("demo.html", "learn.html")
#: The longest line a code box shows on a desktop without scrolling sideways.
MAX_CODE_COLUMNS = 88

#: Submodules whose ``__all__`` the API reference must cover.
PUBLIC_MODULES = (
    "datasets",
    "loaders",
    "augment",
    "devices",
    "distributed",
    "models",
    "config",
    "optim",
    "trainer",
    "callbacks",
    "history",
    "metrics",
    "checkpoints",
    "deploy",
    "run",
    "recipes",
    "inference",
    "imaging",
    "plotting",
    "explain",
    "tensorboard",
    "mlflow",
    "tune",
    "sklearn",
    "scratch",
    "exceptions",
)

# Decode every image, lazy ones included, and report the ones that fail.
_IMAGES_JS = """
async () => {
  const images = Array.from(document.images);
  await Promise.all(images.map((img) => {
    img.loading = "eager";
    return img.decode().catch(() => null);
  }));
  return images.map((img) => ({
    src: img.currentSrc || img.src,
    complete: img.complete,
    width: img.naturalWidth,
    height: img.naturalHeight,
  }));
}
"""


# Elements that stick out of the viewport sideways. Content inside a box of the article
# that scrolls sideways (a code block, a wide table's wrapper, a long equation) is fine: the
# reader scrolls that box, which itself must fit. Scrolling containers around the article
# do not count (furo's ".content" scrolls sideways: the whole text would have to be
# scrolled). Fixed-position elements are skipped: furo's navigation drawers wait off
# screen until opened.
_OVERFLOW_JS = """
() => {
  const limit = document.documentElement.clientWidth;
  const article = document.querySelector("article");
  const scrollsSideways = (el) => ["auto", "scroll"].includes(getComputedStyle(el).overflowX);
  const excused = (el) => {
    for (let node = el; node && node !== document.body; node = node.parentElement) {
      if (getComputedStyle(node).position === "fixed") return true;
      if (node !== el && node !== article && article && article.contains(node)
          && scrollsSideways(node)) return true;
    }
    return false;
  };
  const offenders = [];
  for (const el of document.body.querySelectorAll("*")) {
    const box = el.getBoundingClientRect();
    if (box.width === 0 || box.height === 0) continue;
    if (box.left >= -1 && box.right <= limit + 1) continue;
    if (excused(el)) continue;
    const classes = typeof el.className === "string" ? el.className : "";
    offenders.push(`<${el.tagName.toLowerCase()} class="${classes}"> from ${Math.round(box.left)}`
      + ` to ${Math.round(box.right)} px`);
  }
  return {limit, scrollWidth: document.documentElement.scrollWidth, offenders};
}
"""

# The figures of the article, with the width they are shown at and their own width, both
# in CSS pixels (for an image chosen from a srcset, the browser divides its pixels by the
# density it was chosen for, so a 2x image's own width is half its pixel count).
_FIGURE_SCALE_JS = """
() => Array.from(document.querySelectorAll("article img"))
  .filter((img) => img.getAttribute("src").includes("_images/")
    && !img.getAttribute("src").includes("_thumb"))
  .map((img) => ({
    src: img.getAttribute("src"),
    shown: img.getBoundingClientRect().width,
    own: img.naturalWidth,
  }))
"""

# The images a high-density screen is offered through srcset, and which one it chose.
_SRCSET_JS = """
() => Array.from(document.images)
  .filter((img) => img.srcset)
  .map((img) => ({src: img.getAttribute("src"), chosen: img.currentSrc}))
"""


# --------------------------------------------------------------------------- HTML parsing
class _PageParser(HTMLParser):
    """Collects the ids on a page and the URLs it links to or loads."""

    _URL_ATTRS: ClassVar[dict[str, str]] = {
        "a": "href",
        "link": "href",
        "img": "src",
        "script": "src",
        "source": "src",
    }

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.links: list[tuple[str, str]] = []  # (tag, url)
        self.problems: list[str] = []  # markers of reST errors or theme misuse

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value for name, value in attrs if value is not None}
        for key in ("id", "name") if tag == "a" else ("id",):
            if key in values:
                self.ids.add(values[key])
        classes = values.get("class", "").split()
        if {"system-message", "problematic"} & set(classes):
            self.problems.append(f"<{tag} class={values['class']!r}>")
        elif "contents" in classes and "this-will-duplicate-information" not in values["class"]:
            # furo flags a ".. contents::" with an error banner: it has its own page TOC
            self.problems.append(f"<{tag} class={values['class']!r}> (furo: no contents)")
        wanted = self._URL_ATTRS.get(tag)
        if wanted and wanted in values:
            self.links.append((tag, values[wanted]))
        if tag == "img" and "srcset" in values:
            for candidate in values["srcset"].split(","):
                if candidate.strip():
                    self.links.append((tag, candidate.split()[0]))


def _parse(html: str) -> _PageParser:
    parser = _PageParser()
    parser.feed(html)
    parser.close()
    return parser


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _fetch(url: str) -> tuple[int, str, bytes]:
    """(status, content type, body) of a URL on the local server."""
    try:
        with _OPENER.open(url, timeout=30) as response:
            return response.status, response.headers.get_content_type(), response.read()
    except urllib.error.HTTPError as error:
        return error.code, "", b""


def _is_internal(url: str, base_url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in ("mailto", "javascript", "data", "tel"):
        return False
    if parts.scheme in ("http", "https") or parts.netloc:
        return url.startswith(base_url)
    return True


def _site_pages(site: Path) -> list[str]:
    return sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html"))


def _pages_with_figures(site: Path) -> list[str]:
    """Pages that show figures (not only gallery thumbnails), and the gallery's index."""
    pages = ["auto_examples/index.html"]
    for relative in _site_pages(site):
        images = [
            url
            for tag, url in _parse((site / relative).read_text("utf-8")).links
            if tag == "img" and "_images/" in url and "_thumb" not in url
        ]
        if images and relative not in pages:
            pages.append(relative)
    return pages


class _CodeParser(HTMLParser):
    """The text of every code box of a page, with its language, outputs left out."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.divs: list[list[str]] = []  # the classes of the open <div>s
        self.blocks: list[tuple[str, str]] = []  # (language, text)
        self._text: list[str] | None = None
        self._language = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "div":
            self.divs.append((dict(attrs).get("class") or "").split())
        elif tag == "pre" and self._text is None:
            classes = [c for div in self.divs for c in div]
            if "sphx-glr-script-out" in classes:  # printed output of a gallery example
                return
            languages = [
                c.removeprefix("highlight-") for c in classes if c.startswith("highlight-")
            ]
            self._language = languages[-1] if languages else ""
            self._text = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "div" and self.divs:
            self.divs.pop()
        elif tag == "pre" and self._text is not None:
            self.blocks.append((self._language, "".join(self._text)))
            self._text = None

    def handle_data(self, data: str) -> None:
        if self._text is not None:
            self._text.append(data)


# --------------------------------------------------------------------------- tests
def test_site_has_the_expected_pages(site: Path) -> None:
    expected = [
        "index.html",
        "getting_started.html",
        "concepts.html",
        "concepts/network.html",
        "concepts/learning.html",
        "concepts/convolution.html",
        "concepts/generalisation.html",
        "changelog.html",
        "user_guide/index.html",
        "user_guide/datasets.html",
        "user_guide/models.html",
        "user_guide/training.html",
        "user_guide/devices.html",
        "user_guide/checkpoints.html",
        "user_guide/cli.html",
        "user_guide/notebooks.html",
        "user_guide/tensorboard.html",
        "user_guide/explain.html",
        "user_guide/tune.html",
        "user_guide/lr_find.html",
        "user_guide/mlflow.html",
        "user_guide/sklearn.html",
        "user_guide/hyperparameters.html",
        "user_guide/confidence.html",
        "project/benchmarks.html",
        "learn.html",
        "glossary.html",
        "faq.html",
        "results.html",
        "accuracy.html",
        "project/index.html",
        "project/contributing.html",
        "project/support.html",
        "project/stability.html",
        "project/security.html",
        "api/index.html",
        "api/mnistkit.html",
        "api/generated/mnistkit.Trainer.html",
        "auto_examples/index.html",
        "auto_examples/learn/plot_backprop_by_hand.html",
        "auto_examples/use/plot_quickstart.html",
    ]
    missing = [page for page in expected if not (site / page).is_file()]
    assert not missing, f"pages missing from {site}: {missing}; {BUILD_HINT}"


@pytest.mark.parametrize(("path", "shot", "full_page"), KEY_PAGES, ids=[p[1] for p in KEY_PAGES])
def test_page_renders_in_chromium(
    browser: Any, base_url: str, path: str, shot: str, full_page: bool
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    broken: list[str] = []
    script_errors: list[str] = []

    def on_response(response: Any) -> None:
        if response.url.startswith(base_url) and response.status >= 400:
            broken.append(f"{response.status} {response.url}")

    def on_request_failed(request: Any) -> None:
        if request.url.startswith(base_url):
            broken.append(f"failed {request.url}")

    page.on("response", on_response)
    page.on("requestfailed", on_request_failed)
    page.on("pageerror", lambda error: script_errors.append(str(error)))
    try:
        response = page.goto(base_url + path, wait_until="load")
        assert response is not None and response.status == 200, f"{path}: {response}"
        assert "mnistkit" in page.title(), f"{path}: title {page.title()!r}"
        # furo's layout: the sidebar brand and the article are there
        assert page.locator(".sidebar-brand").count() >= 1, f"{path}: not a furo page"
        assert page.locator("article").count() >= 1, f"{path}: no article"

        images = page.evaluate(_IMAGES_JS)
        bad = [img["src"] for img in images if not img["complete"] or img["width"] <= 0]
        assert not bad, f"{path}: images that did not decode: {bad}"

        if path == "auto_examples/index.html":
            thumbnails = page.locator(".sphx-glr-thumbcontainer")
            assert thumbnails.count() >= 6, f"gallery has {thumbnails.count()} thumbnails"
            # two sections, the examples that teach first
            headings = [h.strip() for h in page.locator("h2").all_inner_texts()]
            sections = [h.split(":")[0] for h in headings if h.startswith(("Learn", "Use"))]
            assert sections == ["Learn", "Use"], f"gallery sections: {headings}"
            assert len(images) >= thumbnails.count()
        if path.startswith("auto_examples/") and "/plot_" in path:
            assert page.locator("img.sphx-glr-single-img, img.sphx-glr-multi-img").count() >= 1
        if path == "concepts/network.html":
            # the figures of the plot directive, and equations typeset by the local MathJax
            assert len(images) >= 6, f"{path} has {len(images)} images"
            page.wait_for_selector("mjx-container", timeout=20_000)

        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        png = page.screenshot(path=str(SCREENSHOTS / f"{shot}.png"), full_page=full_page)
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000, f"{shot}.png"
        assert not broken, f"{path}: internal requests that failed: {broken}"
        assert not script_errors, f"{path}: JavaScript errors: {script_errors}"
    finally:
        page.close()


def test_pages_with_figures_fit_a_phone(browser: Any, site: Path, base_url: str) -> None:
    """At a phone's width, nothing sticks out sideways, and figures come at 2x resolution.

    Every page with figures, and every page drawn by its own scripts (``SCRIPTED_PAGES``),
    is opened at 390 CSS pixels and a pixel density of 2. The page must not scroll
    sideways, no element may reach past the screen's edge (except inside a box that
    scrolls, such as a code block), every image must decode, every image that offers a
    high-resolution version through ``srcset`` must be shown in it, and no figure may be
    shrunk below ``MIN_FIGURE_SCALE`` of its width to fit (a figure for a phone is laid
    out narrower: fewer columns, more rows). A screenshot of each whole page is written
    for a person to judge the rest: whether the text of the figures can be read.
    """
    pages = _pages_with_figures(site)
    assert len(pages) >= 10, f"only {len(pages)} pages with figures: {pages}"
    pages += [path for path in SCRIPTED_PAGES if path not in pages]
    missing = [path for path in SCRIPTED_PAGES if not (site / path).is_file()]
    assert not missing, f"pages missing from {site}: {missing}; {BUILD_HINT}"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport=PHONE, device_scale_factor=PHONE_SCALE)
    problems: list[str] = []
    try:
        for path in pages:
            page = context.new_page()
            try:
                response = page.goto(base_url + path, wait_until="load")
                assert response is not None and response.status == 200, f"{path}: {response}"
                images = page.evaluate(_IMAGES_JS)
                problems += [
                    f"{path}: image did not decode: {img['src']}"
                    for img in images
                    if not img["complete"] or img["width"] <= 0
                ]
                problems += [
                    f"{path}: {img['src']} shown at 1x on a 2x screen"
                    for img in page.evaluate(_SRCSET_JS)
                    if img["chosen"].endswith(img["src"].rsplit("/", 1)[-1])
                ]
                problems += [
                    f"{path}: {img['src']} shrunk to {img['shown'] / img['own']:.0%} of its "
                    f"width ({img['own']} px shown in {img['shown']:.0f} px)"
                    for img in page.evaluate(_FIGURE_SCALE_JS)
                    if img["own"] > 0 and img["shown"] < MIN_FIGURE_SCALE * img["own"]
                ]
                layout = page.evaluate(_OVERFLOW_JS)
                if layout["scrollWidth"] > layout["limit"]:
                    problems.append(
                        f"{path}: the page is {layout['scrollWidth']} px wide on a "
                        f"{layout['limit']} px screen"
                    )
                problems += [f"{path}: {offender}" for offender in layout["offenders"][:5]]
                name = "phone-" + path.removesuffix(".html").replace("/", "-")
                page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
            finally:
                page.close()
    finally:
        context.close()
    assert not problems, f"{len(problems)} problems at phone width:\n" + "\n".join(problems)


def test_code_fits_88_columns(site: Path) -> None:
    """Code boxes hold lines of at most 88 characters, so they show whole on a desktop.

    Printed output of the gallery is left out (it wraps), and so are the output lines of
    console sessions; the commands, the ``$`` lines, are checked.
    """
    long_lines = []
    for relative in _site_pages(site):
        parser = _CodeParser()
        parser.feed((site / relative).read_text("utf-8"))
        for language, text in parser.blocks:
            for line in text.splitlines():
                if language == "console" and not line.startswith("$ "):
                    continue
                if len(line) > MAX_CODE_COLUMNS:
                    long_lines.append(f"{relative}: {len(line)} characters: {line[:60]}...")
    assert not long_lines, f"{len(long_lines)} code lines too long:\n" + "\n".join(long_lines)


def test_every_example_offers_python_and_notebook_downloads(site: Path, base_url: str) -> None:
    examples = sorted((site / "auto_examples").glob("*/plot_*.html"))
    assert len(examples) >= 6, f"only {len(examples)} example pages in {site / 'auto_examples'}"
    problems = []
    for html_file in examples:
        page_url = base_url + html_file.relative_to(site).as_posix()
        links = [url for tag, url in _parse(html_file.read_text("utf-8")).links if tag == "a"]
        for suffix in (".py", ".ipynb"):
            wanted = [url for url in links if urlsplit(url).path.endswith(html_file.stem + suffix)]
            if not wanted:
                problems.append(f"{html_file.name}: no {suffix} download link")
                continue
            status, _, body = _fetch(urljoin(page_url, wanted[0]))
            if status != 200 or not body:
                problems.append(f"{html_file.name}: {suffix} download gives {status}")
    assert not problems, "\n".join(problems)


def test_no_broken_internal_links(site: Path, base_url: str) -> None:
    """Every internal link, image, stylesheet and script of every page resolves.

    A link with a fragment (``page.html#section``) must also find that id on the target.
    Pages must not carry docutils' error markers either.
    """
    ids_cache: dict[str, set[str] | None] = {}
    status_cache: dict[str, int] = {}

    def ids_of(url: str) -> set[str] | None:
        if url not in ids_cache:
            status, kind, body = _fetch(url)
            status_cache[url] = status
            ok = status == 200 and kind == "text/html"
            ids_cache[url] = _parse(body.decode("utf-8", "replace")).ids if ok else None
        return ids_cache[url]

    def status_of(url: str) -> int:
        if url not in status_cache:
            status_cache[url] = _fetch(url)[0]
        return status_cache[url]

    pages = _site_pages(site)
    assert len(pages) > 50, f"only {len(pages)} HTML pages in {site}"
    broken: list[str] = []
    checked = 0
    for relative in pages:
        page_url = base_url + relative
        parser = _parse((site / relative).read_text("utf-8"))
        broken += [f"{relative}: {problem}" for problem in parser.problems]
        for tag, raw in parser.links:
            if not raw or not _is_internal(raw, base_url):
                continue
            target = urljoin(page_url, raw)
            parts = urlsplit(target)
            resource = parts._replace(query="", fragment="").geturl()
            fragment = unquote(parts.fragment)
            checked += 1
            if fragment and tag == "a":
                ids = parser.ids if resource == page_url else ids_of(resource)
                if ids is None:
                    broken.append(f"{relative}: {raw} -> {status_cache.get(resource)}")
                elif fragment not in ids:
                    broken.append(f"{relative}: {raw} -> no id {fragment!r} on the target")
            elif status_of(resource) != 200:
                broken.append(f"{relative}: {raw} -> HTTP {status_cache[resource]}")
    assert checked > 1000, f"only {checked} internal links found; is the site complete?"
    assert not broken, f"{len(broken)} broken internal links:\n" + "\n".join(broken[:50])


def test_api_reference_covers_every_public_name(site: Path) -> None:
    """Each name in the ``__all__`` of mnistkit and its public modules has an API entry."""
    import importlib

    import mnistkit

    documented = set()
    for html_file in (site / "api").rglob("*.html"):
        documented |= _parse(html_file.read_text("utf-8")).ids
    missing = []
    for module_name in ("", *PUBLIC_MODULES):
        module = importlib.import_module("mnistkit" + (f".{module_name}" if module_name else ""))
        for name in module.__all__:
            value = getattr(module, name)
            if isinstance(value, type(mnistkit)):  # a submodule: documented as a module
                candidates = {f"module-{value.__name__}"}
            else:
                candidates = {f"{module.__name__}.{name}", f"mnistkit.{name}"}
            if not candidates & documented:
                missing.append(f"{module.__name__}.{name}")
    assert not missing, f"public names without an API entry: {missing}"
