"""The "Watch a network learn" page: real MNIST digits for a network trained in the browser.

When an HTML build starts (``builder-inited``), this extension draws ``TRAIN + VAL`` distinct
digits at random (seed ``SEED``) from the MNIST training set in ``$MNISTKIT_DATA_DIR`` and
writes them to ``<build>/learn/``:

``digits.bin``
    The images, ``TRAIN + VAL`` rows of 784 ``uint8`` pixels (row-major 28x28, white ink
    on black, as MNIST stores them), then one ``uint8`` label per image, in the same
    order: the first ``TRAIN`` are the page's training digits, the rest its validation
    digits.
``learn.json``
    The counts and the layout of ``digits.bin``, the indices of the digits in MNIST's
    training set, and the key the files are reused under.

The files are reused while the key (counts, seed, format) stays the same. When the build
finishes (``build-finished``) they are copied to ``_static/learn/`` in the site, next to the
page's scripts (``docs/_static/learn/``), so the page works offline.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from sphinx.application import Sphinx
from sphinx.util import logging

log = logging.getLogger(__name__)

#: Training and validation digits shipped with the page.
TRAIN = 5_000
VAL = 1_000
#: Seed of the draw from MNIST's 60,000 training digits.
SEED = 0
#: Version of the layout of ``digits.bin``; a change makes the build write the files again.
FORMAT = 1
#: The files the page loads.
FILES = ("digits.bin", "learn.json")
#: The page that loads them, and its stylesheet (in ``docs/_static/learn/``).
PAGE = "learn"
STYLESHEET = "learn/mnistkit-learn.css"


def _key() -> str:
    spec = {"train": TRAIN, "val": VAL, "seed": SEED, "format": FORMAT, "source": "mnist"}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def _write(folder: Path) -> dict[str, Any]:
    info_path = folder / "learn.json"
    if info_path.is_file() and (folder / "digits.bin").is_file():
        info: dict[str, Any] = json.loads(info_path.read_text())
        if info.get("key") == _key():
            log.info("[mnistkit_learn] reusing the digits in %s", folder)
            return info
    import numpy as np

    import mnistkit

    log.info("[mnistkit_learn] drawing %d + %d MNIST training digits", TRAIN, VAL)
    train = mnistkit.datasets.load("mnist").train
    images = train.images.numpy().reshape(len(train), 784).astype(np.uint8)
    labels = train.labels.numpy().astype(np.uint8)
    chosen = np.random.default_rng(SEED).choice(len(train), size=TRAIN + VAL, replace=False)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "digits.bin").write_bytes(images[chosen].tobytes() + labels[chosen].tobytes())
    info = {
        "key": _key(),
        "source": "MNIST training set",
        "seed": SEED,
        "train": TRAIN,
        "val": VAL,
        "pixels": 784,
        "layout": "uint8 images (N x 784, row-major 28x28), then N uint8 labels",
        "indices": chosen.tolist(),
    }
    info_path.write_text(json.dumps(info) + "\n")
    return info


def _folder(app: Sphinx) -> Path:
    return Path(app.outdir).parent / "learn"


def _builder_inited(app: Sphinx) -> None:
    if app.builder.format != "html":
        return
    _write(_folder(app))


def _page_context(
    app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree: Any
) -> None:
    # The stylesheet is the learn page's own: added to the builder while that page is
    # written, it goes into that page's <head> only (the builder restores its list after
    # each page). Not through app.add_css_file, which would also register it for all pages
    # of a later build in this process.
    if pagename == PAGE:
        app.builder.add_css_file(STYLESHEET)  # type: ignore[attr-defined]


def _build_finished(app: Sphinx, exception: Exception | None) -> None:
    if exception is not None or app.builder.format != "html":
        return
    target = Path(app.outdir) / "_static" / "learn"
    target.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        shutil.copyfile(_folder(app) / name, target / name)


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("builder-inited", _builder_inited)
    app.connect("html-page-context", _page_context)
    app.connect("build-finished", _build_finished)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
