"""The "Watch a network learn" page in a real browser: it learns, and its backpropagation is
NumpyMLP's.

Needs the built site (see ``tests/test_docs_site.py``); ``tox -e docs`` builds it and runs
these tests. The page trains a multi-layer perceptron in a Web Worker, in JavaScript, on the
digits the docs build shipped (``_static/learn/digits.bin``, written by
``docs/sphinxext/mnistkit_learn.py``); these tests read the same file, so the JavaScript and
:class:`mnistkit.scratch.NumpyMLP` see the very same pixels.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import numpy.typing as npt
import pytest
from _browser import SCREENSHOTS

from mnistkit.datasets import DatasetSplits
from mnistkit.scratch import NumpyMLP

pytestmark = pytest.mark.docs

STROKES = Path(__file__).parent / "data" / "strokes.json"
#: The run every check below starts from: fixed settings and seed.
RUN: dict[str, Any] = {"steps": 500, "lr": 0.1, "hidden": 32, "batchSize": 32, "seed": 0}
#: Digits drawn with the mouse on the page's pad (of tests/data/strokes.json; a few, for time).
DRAWN = ("0", "2", "4", "7")
#: The network and learning rate of the one step compared with NumpyMLP's.
STEP_HIDDEN = 32
STEP_LR = 0.25


@pytest.fixture(scope="module")
def learn(browser: Any, base_url: str) -> Iterator[dict[str, Any]]:
    """The learn page, loaded with every request outside the site refused and recorded."""
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
    page.goto(base_url + "learn.html")
    page.evaluate("() => window.mnistkitLearn.ready")
    yield record
    page.close()


@pytest.fixture(scope="module")
def digits(site: Path) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64], dict[str, Any]]:
    """The page's digits as NumpyMLP takes them: pixels / 255 in rows, and the labels."""
    info = json.loads((site / "_static" / "learn" / "learn.json").read_text())
    raw = np.fromfile(site / "_static" / "learn" / "digits.bin", dtype=np.uint8)
    count = info["train"] + info["val"]
    assert raw.size == count * 785
    pixels = raw[: count * 784].reshape(count, 784) / 255.0
    labels = raw[count * 784 :].astype(np.int64)
    return pixels, labels, info


@pytest.fixture(scope="module")
def trained(learn: dict[str, Any]) -> dict[str, Any]:
    run: dict[str, Any] = learn["page"].evaluate("(o) => window.mnistkitLearn.train(o)", RUN)
    return run


def test_page_loads_offline_without_errors(learn: dict[str, Any]) -> None:
    assert learn["foreign"] == []
    assert learn["errors"] == []
    assert any(u.endswith("/_static/learn/digits.bin") for u in learn["requests"])
    assert any(u.endswith("/_static/learn/mnistkit-learn-worker.js") for u in learn["requests"])


def test_shipped_digits_are_real_mnist_training_digits(
    digits: tuple[npt.NDArray[np.float64], npt.NDArray[np.int64], dict[str, Any]],
    mnist: DatasetSplits,
    site: Path,
) -> None:
    pixels, labels, info = digits
    assert (info["train"], info["val"]) == (5_000, 1_000)
    assert "5,000 training digits and 1,000 validation" in (site / "learn.html").read_text()
    indices = np.array(info["indices"])
    assert len(set(indices.tolist())) == indices.size  # no digit twice: val is held out
    source = mnist.train.images.numpy().reshape(-1, 784)[indices] / 255.0
    np.testing.assert_array_equal(pixels, source)
    np.testing.assert_array_equal(labels, mnist.train.labels.numpy()[indices])
    assert np.bincount(labels, minlength=10).min() > 400  # every digit is there


def test_network_learns(trained: dict[str, Any]) -> None:
    loss = np.array(trained["loss"])
    assert loss.shape == (RUN["steps"],)
    assert np.all(np.isfinite(loss))
    # the first batches cost about ln 10, guessing; the last ones far less
    assert abs(float(loss[:10].mean()) - math.log(10)) < 0.5
    assert float(loss[-50:].mean()) < 0.5 * float(loss[:50].mean())
    assert trained["valAccuracy"] >= 0.85


def test_training_is_deterministic_with_the_seed(
    learn: dict[str, Any], trained: dict[str, Any]
) -> None:
    page = learn["page"]
    short = {**RUN, "steps": 50}
    again = page.evaluate("(o) => window.mnistkitLearn.train(o)", short)
    assert again["loss"] == trained["loss"][:50]
    other = page.evaluate("(o) => window.mnistkitLearn.train(o)", {**short, "seed": 1})
    assert other["loss"] != again["loss"]


@pytest.fixture(scope="module")
def one_step(learn: dict[str, Any]) -> dict[str, Any]:
    """One SGD step of a fresh page network on 32 training digits, as the page reports it."""
    batch = np.random.default_rng(0).choice(5_000, size=32, replace=False)
    step: dict[str, Any] = learn["page"].evaluate(
        "(o) => window.mnistkitLearn.gradients(o)",
        {"hidden": STEP_HIDDEN, "seed": 7, "batch": batch.tolist(), "lr": STEP_LR},
    )
    step["batch"] = batch
    return step


def _arrays(part: dict[str, list[list[float]]]) -> tuple[list[Any], list[Any]]:
    """Weights (reshaped as NumpyMLP holds them) and biases of one of one_step's parts."""
    shapes = [(784, STEP_HIDDEN), (STEP_HIDDEN, 10)]
    weights = [
        np.array(w, dtype=np.float64).reshape(s)
        for w, s in zip(part["weights"], shapes, strict=True)
    ]
    return weights, [np.array(b, dtype=np.float64) for b in part["biases"]]


def test_one_step_equals_numpy_mlp(
    one_step: dict[str, Any],
    digits: tuple[npt.NDArray[np.float64], npt.NDArray[np.int64], dict[str, Any]],
) -> None:
    """The page's gradients and SGD step are NumpyMLP's, given the same weights and batch."""
    pixels, labels, _ = digits
    network = NumpyMLP([784, STEP_HIDDEN, 10], activation="relu", dtype=np.float64)
    network.weights, network.biases = _arrays(one_step["before"])
    x, y = pixels[one_step["batch"]], labels[one_step["batch"]]
    grad_weights, grad_biases = network.backward(x, y)
    js_weights, js_biases = _arrays(one_step["gradients"])
    for ours, theirs in zip(js_weights + js_biases, grad_weights + grad_biases, strict=True):
        assert float(np.abs(theirs).max()) > 1e-4  # not trivially zero
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-5)
    assert one_step["loss"] == pytest.approx(network.loss(x, y), abs=1e-9)
    network.step(STEP_LR)
    after_weights, after_biases = _arrays(one_step["after"])
    for ours, theirs in zip(
        after_weights + after_biases, network.weights + network.biases, strict=True
    ):
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-5)


def test_initialisation_is_numpy_mlps_scheme(one_step: dict[str, Any]) -> None:
    """He normal into the ReLU layer, Glorot uniform into the output, zero biases."""
    (w1, w2), biases = _arrays(one_step["before"])
    assert all(not b.any() for b in biases)
    assert float(w1.mean()) == pytest.approx(0, abs=0.003)
    assert float(w1.std()) == pytest.approx(math.sqrt(2 / 784), rel=0.02)
    assert abs(float(((w1 / w1.std()) ** 4).mean()) - 3) < 0.2  # normal: kurtosis 3
    limit = math.sqrt(6 / (STEP_HIDDEN + 10))
    assert float(np.abs(w2).max()) <= limit
    assert float(w2.std()) == pytest.approx(limit / math.sqrt(3), rel=0.1)  # uniform


def test_trained_network_reads_validation_digits_as_numpy_does(
    learn: dict[str, Any],
    trained: dict[str, Any],
    digits: tuple[npt.NDArray[np.float64], npt.NDArray[np.int64], dict[str, Any]],
) -> None:
    """predict(), which reads the drawings, uses the weights the page trained."""
    pixels, labels, _ = digits
    page = learn["page"]
    page.evaluate("(o) => window.mnistkitLearn.train(o)", RUN)
    state = page.evaluate("() => window.mnistkitLearn.weights()")
    assert state["steps"] == RUN["steps"]
    hidden = RUN["hidden"]
    network = NumpyMLP([784, hidden, 10], activation="relu", dtype=np.float64)
    network.weights = [
        np.array(state["weights"][0]).reshape(784, hidden),
        np.array(state["weights"][1]).reshape(hidden, 10),
    ]
    network.biases = [np.array(b, dtype=np.float64) for b in state["biases"]]
    val = pixels[5_000:5_040]
    got = np.array(
        page.evaluate(
            "(all) => Promise.all(all.map((p) => window.mnistkitLearn.predict(p)))",
            val.tolist(),
        )
    )
    np.testing.assert_allclose(got, network.forward(val), rtol=0, atol=1e-9)
    # the accuracy the page reports is this network's on the 1,000 validation digits
    accuracy = float((network.predict(pixels[5_000:]) == labels[5_000:]).mean())
    assert accuracy == trained["valAccuracy"]


def _draw(page: Any, strokes: list[list[list[float]]]) -> None:
    box = page.locator("canvas.mnistkit-learn-pad").bounding_box()
    for stroke in strokes:
        x, y = stroke[0]
        page.mouse.move(box["x"] + x * box["width"], box["y"] + y * box["height"])
        page.mouse.down()
        for x, y in stroke[1:]:
            page.mouse.move(box["x"] + x * box["width"], box["y"] + y * box["height"])
        page.mouse.up()


def test_the_trained_network_reads_a_drawing(learn: dict[str, Any]) -> None:
    page = learn["page"]
    page.evaluate("(o) => window.mnistkitLearn.train(o)", RUN)
    assert page.locator(".mnistkit-learn-pad").is_hidden()
    page.click("button.mnistkit-learn-try")
    assert page.locator(".mnistkit-learn-pad").is_visible()
    strokes = json.loads(STROKES.read_text())
    read = {}
    for digit in DRAWN:
        paths = strokes[digit]
        page.click(".mnistkit-learn-clear")
        assert page.inner_text(".mnistkit-learn-answer") == "?"
        _draw(page, paths)
        probabilities = page.evaluate("() => window.mnistkitLearn.tryDrawing()")
        assert probabilities is not None, f"nothing read for {digit}"
        answer = page.inner_text(".mnistkit-learn-answer")
        assert answer == str(int(np.argmax(probabilities)))
        read[digit] = answer
    # a small MLP trained on 5,000 digits for 500 steps: most drawings, not all
    assert sum(d == a for d, a in read.items()) >= len(DRAWN) - 1, read
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("#mnistkit-learn").screenshot(path=str(SCREENSHOTS / "learn.png"))
    assert learn["errors"] == []


def test_page_fits_a_phone_and_a_finger_draws(browser: Any, base_url: str) -> None:
    """On a phone's screen the controls, charts and pad fit, and touch on the pad draws."""
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=2, has_touch=True
    )
    page = context.new_page()
    try:
        page.goto(base_url + "learn.html")
        page.evaluate("() => window.mnistkitLearn.ready")
        page.click("button.mnistkit-learn-try")
        for selector in (
            "input.mnistkit-learn-lr",
            "input.mnistkit-learn-batch",
            "canvas.mnistkit-learn-loss",
            "canvas.mnistkit-learn-accuracy",
            "canvas.mnistkit-learn-units",
            "canvas.mnistkit-learn-pad",
        ):
            box = page.locator(selector).bounding_box()
            assert box is not None and box["width"] > 100, selector
            assert box["x"] >= 0 and box["x"] + box["width"] <= 390, selector
        pad = page.locator("canvas.mnistkit-learn-pad")
        assert pad.evaluate("(el) => getComputedStyle(el).touchAction") == "none"
        widths = page.evaluate(
            "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        assert widths[0] <= widths[1]
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "phone-learn-controls.png"), full_page=False)
    finally:
        context.close()
