"""The "Draw a digit" page in a real browser: offline, faithful to PyTorch, usable by hand.

Needs the built site (see ``tests/test_docs_site.py``); ``tox -e docs`` builds it and runs
these tests. The page's model is the one the docs build trained (``_static/demo/``); these
tests compare the browser's answers with PyTorch's for that very model.

``tests/data/strokes.json`` holds one handwritten-style stroke path per digit (polylines in
coordinates relative to the drawing area, 0 to 1, drawn for these tests); the test moves the
mouse along them, as a person drawing would. :data:`SCRIBBLE` is a drawing that is no digit,
which the page must answer with "not sure".
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pytest
import torch
from _browser import SCREENSHOTS
from PIL import Image

import mnistkit
from mnistkit.datasets import DatasetSplits
from mnistkit.imaging import preprocess_image
from mnistkit.inference import predict_with_rejection

pytestmark = pytest.mark.docs

STROKES = Path(__file__).parent / "data" / "strokes.json"
#: Real test digits sent through the page's predict().
DIGITS = 300
#: A drawing that is no digit: a zigzag scribbled across the pad, then crossed by a wave
#: (strokes as in strokes.json).
SCRIBBLE = [
    [[0.15 + 0.7 * i / 12, 0.2 if i % 2 == 0 else 0.8] for i in range(13)],
    [[0.1 + 0.8 * t / 40, 0.5 + 0.3 * math.sin(t / 40 * 6 * math.pi)] for t in range(41)],
]


@pytest.fixture(scope="module")
def demo(browser: Any, base_url: str) -> Iterator[dict[str, Any]]:
    """The demo page, loaded with every request outside the site refused and recorded."""
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    record: dict[str, Any] = {"page": page, "errors": [], "foreign": [], "requests": []}
    host = urlsplit(base_url).netloc

    def route(request_route: Any) -> None:
        url = request_route.request.url
        record["requests"].append(url)
        if urlsplit(url).netloc != host and not url.startswith(("data:", "blob:")):
            record["foreign"].append(url)
            request_route.abort()
        else:
            request_route.continue_()

    page.route("**/*", route)
    page.on("console", lambda m: m.type == "error" and record["errors"].append(m.text))
    page.on("pageerror", lambda e: record["errors"].append(str(e)))
    page.goto(base_url + "demo.html")
    page.evaluate("() => window.mnistkitDemo.ready")
    yield record
    page.close()


@pytest.fixture(scope="module")
def demo_model(site: Path) -> torch.nn.Module:
    return mnistkit.load_model(site / "_static" / "demo" / "model.safetensors").model


def test_page_loads_offline_without_errors(demo: dict[str, Any]) -> None:
    page = demo["page"]
    assert demo["foreign"] == []
    assert demo["errors"] == []
    assert "Model loaded" in page.inner_text(".mnistkit-demo-status")
    # the model and the runtime came from the site itself
    assert any(u.endswith("/_static/demo/model.onnx") for u in demo["requests"])
    assert any(u.endswith("/_static/demo/ort-wasm-simd-threaded.wasm") for u in demo["requests"])


def test_page_states_how_its_model_was_trained(site: Path) -> None:
    info = json.loads((site / "_static" / "demo" / "demo.json").read_text())
    html = (site / "demo.html").read_text()
    assert f"{info['test_accuracy']:.2%}" in html
    assert f"in {info['train_seconds']} s" in html
    assert info["check"]["agreements"] == info["check"]["images"] == 10_000
    # the "not sure" threshold: chosen on held-out training digits, and said on the page
    rule = info["rejection"]
    assert rule["keep"] == 0.99 and rule["num_images"] > 1000
    assert f"Below an energy score of {rule['threshold']:.2f}" in html
    assert info["test_kept"] >= 0.985


def test_browser_predictions_match_pytorch(
    demo: dict[str, Any], demo_model: torch.nn.Module, mnist: DatasetSplits
) -> None:
    images = mnist.test.images[:DIGITS]
    expected = mnistkit.predict_proba(demo_model, images).numpy()
    pixels = (images.float() / 255).reshape(DIGITS, 784).tolist()
    got = np.array(
        demo["page"].evaluate(
            "(all) => Promise.all(all.map((p) => window.mnistkitDemo.predict(p)))", pixels
        )
    )
    assert got.shape == (DIGITS, 10)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-6)
    agreement = float((got.argmax(1) == expected.argmax(1)).mean())
    assert agreement >= 0.99
    assert float(np.abs(got - expected).max()) <= 1e-3
    # and the model is the trained one: it reads the real digits correctly
    accuracy = float((got.argmax(1) == mnist.test.labels[:DIGITS].numpy()).mean())
    assert accuracy >= 0.97


def test_browser_scores_match_mnistkit(
    demo: dict[str, Any], demo_model: torch.nn.Module, mnist: DatasetSplits, site: Path
) -> None:
    """The page's "not sure" score is mnistkit's, with the model file's threshold."""
    loaded = mnistkit.load_model(site / "_static" / "demo" / "model.safetensors")
    rule = loaded.metadata.rejection
    assert rule is not None
    assert demo["page"].evaluate("() => window.mnistkitDemo.rejection") == rule.to_dict()
    images = mnist.test.images[:DIGITS]
    expected = predict_with_rejection(demo_model, images, rule)
    pixels = (images.float() / 255).reshape(DIGITS, 784).tolist()
    got = demo["page"].evaluate(
        "(all) => Promise.all(all.map((p) => window.mnistkitDemo.classify(p)))", pixels
    )
    scores = np.array([answer["score"] for answer in got])
    np.testing.assert_allclose(scores, expected.scores.numpy(), rtol=1e-3, atol=1e-3)
    rejected = np.array([answer["rejected"] for answer in got])
    # the same answers, but for a score within rounding of the threshold
    assert (rejected != expected.rejected.numpy()).sum() <= 1
    assert rejected.mean() <= 0.03  # real test digits: about 1% are "not sure"


def _pictures(mnist: DatasetSplits) -> list[np.ndarray]:
    """Grey pictures in [0, 1] as a person might supply them: real digits enlarged, moved
    off centre, some dark on light, with a little noise; plus the stroke drawings."""
    rng = np.random.default_rng(0)
    pictures = []
    for i in range(24):
        digit = Image.fromarray(mnist.test.images[i].numpy())
        size = int(rng.integers(40, 160))
        big = np.asarray(digit.resize((size, size), Image.Resampling.BICUBIC), np.float32) / 255
        height, width = size + int(rng.integers(10, 90)), size + int(rng.integers(10, 90))
        canvas = np.zeros((height, width), np.float32)
        top, left = int(rng.integers(0, height - size)), int(rng.integers(0, width - size))
        canvas[top : top + size, left : left + size] = big
        canvas = np.clip(canvas + rng.normal(0, 0.02, canvas.shape), 0, 1).astype(np.float32)
        pictures.append(1 - canvas if i % 2 else canvas)
    return pictures


def test_preprocessing_matches_mnistkit_imaging(demo: dict[str, Any], mnist: DatasetSplits) -> None:
    """One description, two implementations: the page's JavaScript and mnistkit.imaging."""
    pictures = _pictures(mnist)
    for picture in pictures:
        height, width = picture.shape
        python = preprocess_image(picture).numpy().astype(np.int64)
        browser = np.array(
            demo["page"].evaluate(
                "([g, w, h]) => Array.from(window.mnistkitDemo.preprocess(g, w, h))",
                [picture.ravel().tolist(), width, height],
            )
        )
        levels = np.rint(browser * 255).astype(np.int64).reshape(28, 28)
        assert levels.max() > 0
        # identical up to float rounding: at most one grey level apart, almost everywhere equal
        assert np.abs(levels - python).max() <= 1, picture.shape
        assert (levels != python).mean() <= 0.01, picture.shape


def _draw(page: Any, strokes: list[list[list[float]]]) -> None:
    box = page.locator("canvas.mnistkit-demo-pad").bounding_box()
    for stroke in strokes:
        x, y = stroke[0]
        page.mouse.move(box["x"] + x * box["width"], box["y"] + y * box["height"])
        page.mouse.down()
        for x, y in stroke[1:]:
            page.mouse.move(box["x"] + x * box["width"], box["y"] + y * box["height"], steps=2)
        page.mouse.up()


def test_digits_drawn_with_the_mouse_are_recognised(demo: dict[str, Any]) -> None:
    page = demo["page"]
    strokes = json.loads(STROKES.read_text())
    read = {}
    for digit, paths in strokes.items():
        page.click(".mnistkit-demo-clear")
        _draw(page, paths)
        result = page.evaluate("() => window.mnistkitDemo.settled()")
        assert result is not None, f"nothing recognised for {digit}"
        assert page.get_attribute("#mnistkit-demo", "data-prediction") == str(result["label"])
        shown = "not sure" if result["rejected"] else str(result["label"])
        assert page.inner_text(".mnistkit-demo-label") == shown
        read[digit] = shown
        if digit == "3":
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.locator("#mnistkit-demo").screenshot(path=str(SCREENSHOTS / "demo-3.png"))
    right = [d for d, label in read.items() if d == label]
    assert len(right) >= 8, read
    page.click(".mnistkit-demo-clear")
    assert page.inner_text(".mnistkit-demo-label") == "?"
    assert demo["errors"] == []


def test_a_scribble_is_not_sure(demo: dict[str, Any]) -> None:
    """A drawing that is no digit gets "not sure", and a digit drawn next is read again."""
    page = demo["page"]
    page.click(".mnistkit-demo-clear")
    _draw(page, SCRIBBLE)
    result = page.evaluate("() => window.mnistkitDemo.settled()")
    assert result is not None and result["rejected"] is True, result
    assert result["score"] < page.evaluate("() => window.mnistkitDemo.rejection.threshold")
    assert page.inner_text(".mnistkit-demo-label") == "not sure"
    assert page.get_attribute("#mnistkit-demo", "data-rejected") == "true"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("#mnistkit-demo").screenshot(path=str(SCREENSHOTS / "demo-not-sure.png"))
    page.click(".mnistkit-demo-clear")
    _draw(page, json.loads(STROKES.read_text())["3"])
    again = page.evaluate("() => window.mnistkitDemo.settled()")
    assert again["rejected"] is False and again["label"] == 3, again
    assert page.inner_text(".mnistkit-demo-label") == "3"
    assert page.get_attribute("#mnistkit-demo", "data-rejected") == "false"
    page.click(".mnistkit-demo-clear")
    assert demo["errors"] == []


def test_page_fits_a_phone_and_a_finger_draws(browser: Any, base_url: str) -> None:
    """On a phone's screen the pad fits, and touch on it draws instead of scrolling."""
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=2, has_touch=True
    )
    page = context.new_page()
    try:
        page.goto(base_url + "demo.html")
        page.evaluate("() => window.mnistkitDemo.ready")
        pad = page.locator("canvas.mnistkit-demo-pad")
        box = pad.bounding_box()
        assert box["x"] >= 0
        assert box["x"] + box["width"] <= 390
        assert pad.evaluate("(el) => getComputedStyle(el).touchAction") == "none"
        widths = page.evaluate(
            "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        assert widths[0] <= widths[1]
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "phone-demo.png"), full_page=False)
    finally:
        context.close()
