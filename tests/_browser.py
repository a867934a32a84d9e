"""The built documentation site, served on 127.0.0.1 and opened in headless Chromium.

Shared by the browser tests (``tests/test_docs_site.py``, ``tests/test_docs_demo.py``); the
fixtures are made available to them by ``tests/conftest.py``.
"""

from __future__ import annotations

import functools
import http.server
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
SITE = Path(os.environ.get("MNISTKIT_DOCS_HTML", REPO / "docs" / "_build" / "html")).resolve()
SCREENSHOTS = REPO / "docs" / "_build" / "screenshots"
CHROMIUM = os.environ.get("MNISTKIT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-proxy-server",
]
BUILD_HINT = (
    "build the docs first: MNISTKIT_DATA_DIR=/path/to/data MNISTKIT_DOCS_OFFLINE=1 "
    "sphinx-build -W --keep-going -b html docs docs/_build/html "
    "(or point MNISTKIT_DOCS_HTML at a built site)"
)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def site() -> Path:
    if not (SITE / "index.html").is_file():
        pytest.fail(f"no built documentation at {SITE} (index.html missing); {BUILD_HINT}")
    return SITE


@pytest.fixture(scope="module")
def base_url(site: Path) -> Iterator[str]:
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail(
            "Playwright for Python is needed: pip install playwright (its browser downloads "
            "are not; the system Chromium is used)"
        )
    if not Path(CHROMIUM).is_file():
        pytest.fail(
            f"no Chromium at {CHROMIUM}: apt-get install chromium, or set MNISTKIT_CHROMIUM"
        )
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
