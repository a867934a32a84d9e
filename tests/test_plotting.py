"""Tests for mnistkit.plotting on real MNIST digits and a really trained model.

The figures are inspected, not only drawn: titles, colours, image data, bar heights and
annotations are compared with what the model and the data say they should be.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import numpy.typing as npt
import pytest
import torch
from matplotlib.axes import Axes
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.text import Text
from PIL import Image
from torch import nn

from mnistkit import TrainConfig, Trainer, get_model, plotting
from mnistkit.datasets import DatasetSplits
from mnistkit.exceptions import ConfigError
from mnistkit.history import History
from mnistkit.metrics import Report, calibration_bins
from mnistkit.plotting._common import save_png

#: Test images the trained model is evaluated on (enough for a few dozen mistakes).
N_EVAL = 1000


@dataclass(frozen=True)
class Trained:
    model: nn.Module
    history: History
    images: torch.Tensor  # (N_EVAL, 28, 28) uint8
    labels: torch.Tensor  # (N_EVAL,)
    probs: torch.Tensor  # (N_EVAL, 10)

    @property
    def pred(self) -> torch.Tensor:
        return self.probs.argmax(dim=1)


@pytest.fixture(scope="module")
def trained(mnist: DatasetSplits) -> Trained:
    """Softmax regression trained for 2 epochs on 5,000 real digits (a few seconds)."""
    model = get_model("linear")
    trainer = Trainer(model, TrainConfig(epochs=2, progress=False, device="cpu", seed=0))
    history = trainer.fit(mnist.train.subset(slice(0, 5_000)), val=mnist.test.subset(slice(0, 500)))
    images, labels = mnist.test.images[:N_EVAL], mnist.test.labels[:N_EVAL]
    probs = trainer.predict_proba(images)
    accuracy = float((probs.argmax(1) == labels).double().mean())
    assert 0.8 < accuracy < 1.0, accuracy  # some right, some wrong: both kinds get drawn
    return Trained(model, history, images, labels, probs)


@pytest.fixture(scope="module")
def lenet() -> nn.Module:
    torch.manual_seed(0)
    return get_model("lenet5")


@pytest.fixture(autouse=True)
def _close_figures() -> Iterator[None]:
    yield
    plt.close("all")


def _image_axes(fig: Figure) -> list[Axes]:
    """The axes that show an image (not colour bars)."""
    return [ax for ax in fig.axes if ax.images]


def _data(values: object) -> npt.NDArray[np.float64]:
    """What an artist holds (image array, line data), as a float array."""
    return np.asarray(values, dtype=np.float64)


@dataclass(frozen=True)
class Cell:
    """One image of a labelled grid: its title, pixels, frame and position."""

    title: Text
    pixels: npt.NDArray[np.float64]
    frame: tuple[float, float, float, float]  # RGBA
    linewidth: float
    corner: tuple[float, float]  # (x, y) of the top-left pixel's corner


def _cells(fig: Figure) -> list[Cell]:
    """The images of a labelled grid (show_samples, ...), read back from its one axes.

    The grid is one mosaic image; each image's frame lies exactly around it, so the frames
    cut the mosaic back into the images, and the axes' texts are their titles in order.
    """
    (ax,) = fig.axes
    (mosaic,) = ax.images
    assert mosaic.get_clim() == (0.0, 1.0)
    shown = _data(mosaic.get_array())  # the gaps' NaN are masked; the images are not
    (frames,) = ax.collections
    paths = frames.get_paths()
    edges, widths = _data(frames.get_edgecolor()), _data(frames.get_linewidth())
    assert len(paths) == len(ax.texts) == len(edges) == len(widths)
    cells = []
    for path, text, edge, width in zip(paths, ax.texts, edges, widths, strict=True):
        corners = _data(path.vertices)
        (x0, y0), (x1, y1) = corners.min(axis=0), corners.max(axis=0)
        rows, cols = slice(round(y0), round(y1)), slice(round(x0), round(x1))
        r, g, b, a = (float(v) for v in edge)
        cells.append(Cell(text, shown[rows, cols], (r, g, b, a), float(width), (x0, y0)))
    return cells


def _shape(cells: list[Cell]) -> tuple[int, int]:
    """(rows, columns) of a labelled grid."""
    xs, ys = {cell.corner[0] for cell in cells}, {cell.corner[1] for cell in cells}
    return len(ys), len(xs)


def _pixels(ax: Axes) -> npt.NDArray[np.float64]:
    """The array shown by the (first) image of ``ax``."""
    return _data(ax.images[0].get_array())


def _geometry(ax: Axes) -> tuple[int, int]:
    """(rows, columns) of the grid ``ax`` belongs to."""
    spec = ax.get_subplotspec()
    assert spec is not None
    rows, cols, *_ = spec.get_geometry()
    return rows, cols


def _convs(model: nn.Module) -> list[nn.Conv2d]:
    return [m for m in model.modules() if isinstance(m, nn.Conv2d)]


def _is_red(color: object) -> bool:
    r, g, b = to_rgb(color)  # type: ignore[arg-type]
    return r > 0.7 and g < 0.35 and b < 0.35


def _mixed_indices(trained: Trained, wrong: int = 5, right: int = 20) -> torch.Tensor:
    """Indices of ``wrong`` misclassified and ``right`` correct test digits, interleaved."""
    bad = (trained.pred != trained.labels).nonzero().flatten()[:wrong]
    good = (trained.pred == trained.labels).nonzero().flatten()[:right]
    return torch.cat([bad, good])[torch.randperm(wrong + right, generator=torch.manual_seed(1))]


# --------------------------------------------------------------------------- #
# image grids
# --------------------------------------------------------------------------- #


def test_show_samples_titles_images_and_grid(mnist: DatasetSplits) -> None:
    fig = plotting.show_samples(mnist.test, n=10, title="MNIST test")
    cells = _cells(fig)
    assert len(cells) == 10
    labels = mnist.test.labels[:10].tolist()
    assert [cell.title.get_text() for cell in cells] == [mnist.classes[y] for y in labels]
    for cell, image in zip(cells, mnist.test.images[:10], strict=True):
        np.testing.assert_allclose(cell.pixels, image.numpy() / 255.0)
        assert not _is_red(cell.frame[:3]) and cell.linewidth < 1
    assert _shape(cells) == (3, 4)  # square-ish default grid, filled row by row
    assert [cell.corner[1] for cell in cells[:4]] == [cells[0].corner[1]] * 4
    assert fig.get_suptitle() == "MNIST test"


def test_show_samples_arrays_classes_and_ncols(fashion: DatasetSplits) -> None:
    images = fashion.train.images[:7].numpy()
    labels = fashion.train.labels[:7].numpy()
    fig = plotting.show_samples(images, labels, classes=fashion.classes, ncols=7)
    cells = _cells(fig)
    assert [cell.title.get_text() for cell in cells] == [fashion.classes[y] for y in labels]
    assert _shape(cells) == (1, 7)
    untitled = plotting.show_samples(images, n=3)
    assert [cell.title.get_text() for cell in _cells(untitled)] == ["", "", ""]


def test_show_samples_floats_each_on_its_own_scale(mnist: DatasetSplits) -> None:
    images = mnist.test.images[:4].double() * 3.0 - 100.0  # not in [0, 1]
    images[3] = 7.0  # a blank image
    cells = _cells(plotting.show_samples(images))
    for cell, image in zip(cells[:3], images[:3], strict=True):
        low, high = float(image.min()), float(image.max())
        np.testing.assert_allclose(cell.pixels, (image.numpy() - low) / (high - low))
    np.testing.assert_array_equal(cells[3].pixels, 0.0)


def test_labelled_grid_keeps_long_titles_apart(fashion: DatasetSplits) -> None:
    labels = fashion.test.labels[:6]
    wrong = (labels + 3) % 10  # all wrong: bold titles such as "Pullover / Ankle boot"
    probs = torch.full((6, 10), 0.02)
    probs[torch.arange(6), wrong] = 0.82
    fig = plotting.show_top_losses(
        fashion.test.images[:6], probs, labels, classes=fashion.classes, ncols=6
    )
    cells = _cells(fig)
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    boxes = [cell.title.get_window_extent(renderer) for cell in cells]
    for left, right in itertools.pairwise(boxes):
        assert left.x1 < right.x0  # side by side, not overlapping
    for box in boxes:  # and inside the figure
        assert box.x0 >= 0 and box.x1 <= fig.bbox.width
    for cell, box in zip(cells, boxes, strict=True):
        x0 = cell.corner[0]
        centre = cell.title.get_position()[0]
        assert centre == pytest.approx(x0 + 14)  # over the middle of its 28-pixel image
        assert box.y0 > 0


def test_show_samples_rejects_bad_input(mnist: DatasetSplits) -> None:
    images = mnist.test.images[:5]
    with pytest.raises(ConfigError, match=r"'n' must be a positive integer, but got 0"):
        plotting.show_samples(images, n=0)
    with pytest.raises(ConfigError, match=r"'labels' must be a 1-D vector .* \(5\)"):
        plotting.show_samples(images, mnist.test.labels[:4])
    with pytest.raises(ConfigError, match=r"'classes' must name every class up to label"):
        plotting.show_samples(images, mnist.test.labels[:5], classes=["zero"])
    with pytest.raises(ConfigError, match=r"'images' must have shape \(N, H, W\)"):
        plotting.show_samples(torch.zeros(5, 3, 28, 28))
    with pytest.raises(ConfigError, match=r"'labels' must hold integer class labels"):
        plotting.show_samples(images, mnist.test.labels[:5].float())


def test_show_predictions_marks_wrong_ones_red(mnist: DatasetSplits, trained: Trained) -> None:
    index = _mixed_indices(trained)
    images, probs, truth = trained.images[index], trained.probs[index], trained.labels[index]
    pred = probs.argmax(1)
    fig = plotting.show_predictions(images, pred, truth, classes=mnist.classes, probabilities=probs)
    cells = _cells(fig)
    assert len(cells) == 25 and _shape(cells) == (5, 5)
    n_red = 0
    for cell, p, t, row, image in zip(
        cells, pred.tolist(), truth.tolist(), probs, images, strict=True
    ):
        title = cell.title
        text = title.get_text()
        assert text.startswith(f"{mnist.classes[p]} · {float(row[p]):.0%}")
        np.testing.assert_allclose(cell.pixels, image.numpy() / 255.0)
        if p != t:
            n_red += 1
            assert f"(true {mnist.classes[t]})" in text
            assert _is_red(title.get_color()) and title.get_fontweight() == "bold"
            assert _is_red(cell.frame[:3]) and cell.linewidth > 2
        else:
            assert "true" not in text
            assert not _is_red(title.get_color())
            r, g, b = to_rgb(title.get_color())
            assert g > r and g > b  # green for right
            assert not _is_red(cell.frame[:3]) and cell.linewidth < 1
    assert n_red == 5


def test_show_predictions_numpy_without_truth(trained: Trained) -> None:
    fig = plotting.show_predictions(trained.images[:6].numpy(), trained.pred[:6].numpy(), n=4)
    cells = _cells(fig)
    assert [cell.title.get_text() for cell in cells] == [str(p) for p in trained.pred[:4].tolist()]
    for cell in cells:
        assert not _is_red(cell.title.get_color()) and not _is_red(cell.frame[:3])


def test_show_predictions_png_has_expected_size(trained: Trained, tmp_path: Path) -> None:
    fig = plotting.show_predictions(
        trained.images[:25],
        trained.pred[:25],
        trained.labels[:25],
        probabilities=trained.probs[:25],
    )
    dpi = 40
    path = tmp_path / "predictions.png"
    fig.savefig(path, dpi=dpi)
    width, height = fig.get_size_inches() * dpi
    with Image.open(path) as png:
        assert png.format == "PNG"
        assert abs(png.size[0] - width) <= 1 and abs(png.size[1] - height) <= 1
        pixels = np.asarray(png.convert("RGB"))
    assert pixels.std() > 10  # digits were drawn, not a blank page


def test_save_png_keeps_a_grid_whole_and_crops_a_laid_out_figure(
    trained: Trained, tmp_path: Path
) -> None:
    grid = plotting.show_misclassified(trained.images, trained.probs, trained.labels, n=5)
    width, height = grid.get_size_inches() * 100
    save_png(grid, tmp_path / "grid.png")
    with Image.open(tmp_path / "grid.png") as png:  # the grid is sized to its mosaic
        assert abs(png.size[0] - width) <= 1 and abs(png.size[1] - height) <= 1
    report = Report.from_probabilities(trained.probs, trained.labels)
    matrix = plotting.plot_confusion_matrix(report)
    figure = matrix.get_figure(root=True)
    assert figure is not None
    width, height = figure.get_size_inches() * 100
    save_png(figure, tmp_path / "matrix.png")
    with Image.open(tmp_path / "matrix.png") as png:  # cropped to what it shows
        assert png.size[0] < width - 5 or png.size[1] < height - 5
    assert not plt.get_fignums()  # both closed


def test_show_predictions_rejects_bad_input(trained: Trained) -> None:
    images, pred, truth = trained.images[:10], trained.pred[:10], trained.labels[:10]
    with pytest.raises(ConfigError, match=r"'true' must be a 1-D vector with one label per image"):
        plotting.show_predictions(images, pred, truth[:9])
    scores = (torch.randn(10, 10, generator=torch.manual_seed(0)) + 5.0).clamp(0, 1)
    with pytest.raises(ConfigError, match=r"'probabilities' must have rows that sum to 1"):
        plotting.show_predictions(images, pred, probabilities=scores)
    with pytest.raises(ConfigError, match=r"'probabilities' must have one row per image \(10\)"):
        plotting.show_predictions(images, pred, probabilities=trained.probs[:3])
    with pytest.raises(ConfigError, match=r"'predicted' must hold labels in \[0, 10\)"):
        plotting.show_predictions(images, pred + 10, probabilities=trained.probs[:10])
    with pytest.raises(ConfigError, match=r"'classes' must name all 10 classes"):
        plotting.show_predictions(images, pred, probabilities=trained.probs[:10], classes=["a"])
    with pytest.raises(ConfigError, match=r"'ncols' must be a positive integer, but got -1"):
        plotting.show_predictions(images, pred, ncols=-1)


def test_show_misclassified(trained: Trained) -> None:
    fig = plotting.show_misclassified(trained.images, trained.probs, trained.labels, n=12)
    wrong = (trained.pred != trained.labels).nonzero().flatten()
    cells = _cells(fig)
    assert len(cells) == 12
    assert fig.get_suptitle().startswith(f"{len(wrong)} of {N_EVAL} misclassified")
    for cell, i in zip(cells, wrong[:12].tolist(), strict=True):
        p, t = int(trained.pred[i]), int(trained.labels[i])
        assert cell.title.get_text() == f"{p} · {float(trained.probs[i, p]):.0%}\n(true {t})"
        assert _is_red(cell.title.get_color()) and _is_red(cell.frame[:3])
        np.testing.assert_allclose(cell.pixels, trained.images[i].numpy() / 255.0)


def test_show_misclassified_when_all_right(trained: Trained) -> None:
    fig = plotting.show_misclassified(trained.images[:50], trained.probs[:50], trained.pred[:50])
    assert len(fig.axes) == 1
    assert "No misclassified images among 50" in fig.axes[0].texts[0].get_text()


def test_show_top_losses_sorted_by_loss(trained: Trained) -> None:
    fig = plotting.show_top_losses(trained.images, trained.probs, trained.labels, k=6)
    cells = _cells(fig)
    assert len(cells) == 6
    losses = -torch.log(trained.probs[torch.arange(N_EVAL), trained.labels].clamp(min=1e-12))
    expected = losses.double().sort(descending=True).values[:6].tolist()
    shown = []
    for cell in cells:
        first, second = cell.title.get_text().split("\n")
        pred, true = first.split(" / ")
        loss, prob = (float(v) for v in second.split(" / "))
        shown.append(loss)
        assert math.exp(-loss) == pytest.approx(prob, abs=0.006)
        assert _is_red(cell.title.get_color()) == (pred != true) == _is_red(cell.frame[:3])
    assert shown == sorted(shown, reverse=True)
    assert shown == pytest.approx(expected, abs=0.006)


def test_show_top_losses_rejects_bad_k(trained: Trained) -> None:
    with pytest.raises(ConfigError, match=r"'k' must be a positive integer, but got 0"):
        plotting.show_top_losses(trained.images, trained.probs, trained.labels, k=0)
    with pytest.raises(ConfigError, match=r"'labels' must be a 1-D vector .* \(1000\)"):
        plotting.show_top_losses(trained.images, trained.probs, trained.labels[:5])


# --------------------------------------------------------------------------- #
# evaluation plots
# --------------------------------------------------------------------------- #


def test_confusion_matrix_annotates_counts(trained: Trained) -> None:
    names = tuple(f"digit {i}" for i in range(10))
    report = Report.from_probabilities(trained.probs, trained.labels, classes=names)
    ax = plotting.plot_confusion_matrix(report)
    counts = report.confusion_matrix.numpy()
    assert [t.get_text() for t in ax.texts] == [str(v) for v in counts.ravel()]
    assert [t.get_text() for t in ax.get_xticklabels()] == list(names)
    assert [t.get_text() for t in ax.get_yticklabels()] == list(names)
    assert ax.get_xlabel() == "Predicted label" and ax.get_ylabel() == "True label"
    assert f"{report.accuracy:.2%}" in ax.get_title()
    np.testing.assert_array_equal(_pixels(ax), counts)
    # contrasting text: white on the darkest cell, black on an empty one
    texts = np.array(ax.texts).reshape(10, 10)
    i, j = np.unravel_index(counts.argmax(), counts.shape)
    assert to_rgb(texts[i, j].get_color()) == (1.0, 1.0, 1.0)
    i, j = np.argwhere(counts == 0)[0]
    assert to_rgb(texts[i, j].get_color()) == (0.0, 0.0, 0.0)
    assert len(ax.figure.axes) == 2  # the matrix and its colour bar


@pytest.mark.parametrize(("normalize", "axis"), [("true", 1), ("pred", 0), ("all", None)])
def test_confusion_matrix_normalised(trained: Trained, normalize: str, axis: int | None) -> None:
    report = Report.from_probabilities(trained.probs, trained.labels)
    ax = plotting.plot_confusion_matrix(
        report.confusion_matrix, normalize=normalize, colorbar=False
    )
    values = _pixels(ax)
    sums = values.sum(axis=axis)
    np.testing.assert_allclose(sums, np.ones_like(sums))
    assert [t.get_text() for t in ax.texts] == [f"{v:.2f}" for v in values.ravel()]
    assert [t.get_text() for t in ax.get_xticklabels()] == [str(i) for i in range(10)]
    assert len(ax.figure.axes) == 1


def test_confusion_matrix_into_given_axes_without_annotations() -> None:
    _, given = plt.subplots()
    ax = plotting.plot_confusion_matrix([[3, 1], [0, 2]], annotate=False, colorbar=False)
    assert len(ax.texts) == 0
    drawn = plotting.plot_confusion_matrix(
        np.array([[3, 1], [0, 2]]), classes=["cat", "dog"], ax=given
    )
    assert drawn is given
    assert [t.get_text() for t in drawn.texts] == ["3", "1", "0", "2"]


def test_confusion_matrix_rejects_bad_input() -> None:
    with pytest.raises(ConfigError, match=r"'normalize' must be None, 'true', 'pred' or 'all'"):
        plotting.plot_confusion_matrix([[1, 0], [0, 1]], normalize="rows")
    with pytest.raises(ConfigError, match=r"square \(C, C\) matrix, but got shape \(2, 3\)"):
        plotting.plot_confusion_matrix(np.ones((2, 3), dtype=int))
    with pytest.raises(ConfigError, match=r"finite non-negative counts"):
        plotting.plot_confusion_matrix([[1, -1], [0, 1]])
    with pytest.raises(ConfigError, match=r"'classes' must name all 2 classes"):
        plotting.plot_confusion_matrix([[1, 0], [0, 1]], classes=["a", "b", "c"])
    with pytest.raises(ConfigError, match=r"'ax' must be a matplotlib Axes"):
        plotting.plot_confusion_matrix([[1, 0], [0, 1]], ax="left")  # type: ignore[arg-type]


def test_plot_history_train_and_validation(trained: Trained) -> None:
    history = trained.history
    fig = plotting.plot_history(history)
    assert len(fig.axes) == 2
    for ax, metric in zip(fig.axes, ("loss", "accuracy"), strict=True):
        lines = ax.get_lines()
        assert len(lines) == 2
        legend = ax.get_legend()
        assert legend is not None
        assert [t.get_text() for t in legend.get_texts()] == ["train", "validation"]
        assert ax.get_xlabel() == "epoch" and ax.get_title() == metric
        np.testing.assert_allclose(_data(lines[0].get_xdata()), [1, 2])
        np.testing.assert_allclose(_data(lines[0].get_ydata()), history.metric(f"train_{metric}"))
        np.testing.assert_allclose(_data(lines[1].get_ydata()), history.metric(f"val_{metric}"))


def test_plot_history_without_validation_and_other_keys(trained: Trained) -> None:
    records = [
        {k: v for k, v in r.items() if not k.startswith("val_")} for r in trained.history.records
    ]
    fig = plotting.plot_history(records, metrics=("loss", "lr"))
    loss_ax, lr_ax = fig.axes
    assert [line.get_label() for line in loss_ax.get_lines()] == ["train"]
    np.testing.assert_allclose(_data(lr_ax.get_lines()[0].get_ydata()), trained.history.lr)
    with pytest.raises(ConfigError, match=r"got 'f1'; expected some of: .*accuracy.*loss"):
        plotting.plot_history(trained.history, metrics="f1")
    with pytest.raises(ConfigError, match=r"'history' must hold at least one epoch"):
        plotting.plot_history(History())


def test_plot_probabilities_bars(trained: Trained) -> None:
    wrong = int((trained.pred != trained.labels).nonzero()[0])
    probs, truth = trained.probs[wrong], int(trained.labels[wrong])
    ax = plotting.plot_probabilities(probs, true=truth)
    bars = ax.containers[0]
    heights = [bar.get_height() for bar in bars]
    np.testing.assert_allclose(heights, probs.numpy(), rtol=1e-6)
    assert ax.get_ylim() == (0.0, 1.0)
    pred = int(probs.argmax())
    assert _is_red(bars[pred].get_facecolor())
    assert ax.get_xticklabels()[truth].get_fontweight() == "bold"
    assert f"true {truth}" in ax.get_title()
    _, given = plt.subplots()
    right = int((trained.pred == trained.labels).nonzero()[0])
    drawn = plotting.plot_probabilities(trained.probs[right : right + 1], ax=given)
    assert drawn is given and len(drawn.containers[0]) == 10
    with pytest.raises(ConfigError, match=r"'true' must be a class index in \[0, 10\)"):
        plotting.plot_probabilities(probs, true=10)
    with pytest.raises(ConfigError, match=r"one sample's vector of shape \(C,\)"):
        plotting.plot_probabilities(trained.probs[:2])


def test_plot_calibration(trained: Trained) -> None:
    ax = plotting.plot_calibration(trained.probs, trained.labels, n_bins=10)
    bins = calibration_bins(trained.probs, trained.labels, n_bins=10)
    filled = bins.count > 0
    accuracy, gap = ax.containers
    assert accuracy.get_label() == "accuracy" and gap.get_label() == "gap"
    heights = [bar.get_height() for bar in accuracy]
    np.testing.assert_allclose(heights, bins.accuracy[filled].numpy())
    tops = [bar.get_y() + bar.get_height() for bar in gap]
    np.testing.assert_allclose(tops, bins.confidence[filled].numpy())
    assert f"ECE = {bins.ece:.2%}" in ax.get_title()
    diagonal = ax.get_lines()[0]
    np.testing.assert_allclose(_data(diagonal.get_xydata()), [[0, 0], [1, 1]])
    with pytest.raises(ConfigError, match=r"'labels' must be a 1-D vector .* \(1000\)"):
        plotting.plot_calibration(trained.probs, trained.labels[:10])
    with pytest.raises(ConfigError, match=r"'n_bins' must be a positive integer"):
        plotting.plot_calibration(trained.probs, trained.labels, n_bins=0)


@pytest.mark.parametrize(
    "bad",
    [
        [[0.5, 0.3]],  # a row that does not sum to 1
        [[-0.2, 0.6, 0.6]],  # outside [0, 1]
        [[math.nan, 1.0]],
        torch.tensor([[True, False]]),
        [[]],  # no column
        [0.5, 0.5],  # one dimension
    ],
)
def test_plotting_checks_probabilities_as_metrics_does(bad: object) -> None:
    # one check for the package: same tolerances, same words, the argument's own name
    from mnistkit.metrics import negative_log_likelihood

    with pytest.raises(ConfigError) as from_metrics:
        negative_log_likelihood(bad, [0])  # type: ignore[arg-type]
    with pytest.raises(ConfigError) as from_plotting:
        plotting.plot_calibration(bad, [0])  # type: ignore[arg-type]
    expected = str(from_metrics.value).replace("'probs'", "'probabilities'")
    assert str(from_plotting.value) == expected


# --------------------------------------------------------------------------- #
# model internals
# --------------------------------------------------------------------------- #


def test_plot_weights_of_linear_model(mnist: DatasetSplits, trained: Trained) -> None:
    fig = plotting.plot_weights(trained.model, classes=mnist.classes)
    axes = _image_axes(fig)
    linear = next(m for m in trained.model.modules() if isinstance(m, nn.Linear))
    weight = linear.weight.detach().numpy()
    limit = float(np.abs(weight).max())
    assert len(axes) == 10
    for ax, row, name in zip(axes, weight, mnist.classes, strict=True):
        image = ax.images[0]
        assert _data(image.get_array()).shape == (28, 28)
        np.testing.assert_allclose(_data(image.get_array()), row.reshape(28, 28), rtol=1e-6)
        low, high = image.get_clim()
        assert low == pytest.approx(-limit) and high == pytest.approx(limit)
        assert ax.get_title() == name
    assert len(fig.axes) == 11  # and a colour bar
    from_matrix = plotting.plot_weights(weight.reshape(10, 28, 28), ncols=10)
    assert _geometry(_image_axes(from_matrix)[0]) == (1, 10)


def test_plot_weights_rejects_bad_input() -> None:
    with pytest.raises(ConfigError, match=r"square number of inputs.*\(10, 50\)"):
        plotting.plot_weights(np.zeros((10, 50)))
    with pytest.raises(ConfigError, match=r"must contain a torch.nn.Linear layer.*Conv2d has none"):
        plotting.plot_weights(nn.Conv2d(1, 4, 3))
    with pytest.raises(ConfigError, match=r"'classes' must name all 10 classes"):
        plotting.plot_weights(np.zeros((10, 784)), classes=["a"])


def test_plot_filters(lenet: nn.Module) -> None:
    first = _convs(lenet)[0].weight.detach().numpy()
    fig = plotting.plot_filters(lenet)
    axes = _image_axes(fig)
    assert len(axes) == 6
    for i, ax in enumerate(axes):
        np.testing.assert_allclose(_pixels(ax), first[i, 0], rtol=1e-6)
        low, high = ax.images[0].get_clim()
        assert low == -high == pytest.approx(-np.abs(first).max())
    second = _convs(lenet)[1].weight.detach().numpy()
    for layer in (1, -1, "features.3"):
        axes = _image_axes(plotting.plot_filters(lenet, layer=layer, max_filters=4))
        assert len(axes) == 4
        np.testing.assert_allclose(_pixels(axes[3]), second[3].mean(axis=0), rtol=1e-5)
    one = _image_axes(plotting.plot_filters(lenet, layer=1, in_channel=2))
    assert len(one) == 16
    np.testing.assert_allclose(_pixels(one[5]), second[5, 2], rtol=1e-6)


def test_plot_filters_rejects_bad_layers(lenet: nn.Module) -> None:
    with pytest.raises(ConfigError, match=r"in \[-2, 2\) among the 2 Conv2d layer\(s\) of LeNet5"):
        plotting.plot_filters(lenet, layer=2)
    with pytest.raises(ConfigError, match=r"expected one of: 'features.0', 'features.3'"):
        plotting.plot_filters(lenet, layer="features.1")
    with pytest.raises(ConfigError, match=r"must contain a torch.nn.Conv2d layer, but Linear"):
        plotting.plot_filters(get_model("linear"))
    with pytest.raises(ConfigError, match=r"'in_channel' must be an index in \[0, 6\)"):
        plotting.plot_filters(lenet, layer=1, in_channel=6)


def test_plot_feature_maps_show_conv_output(mnist: DatasetSplits) -> None:
    torch.manual_seed(0)
    cnn = get_model("cnn")  # convolutions of 32 and 64 channels
    cnn.train()
    image = mnist.test.images[0]
    pixels = image.float().div(255)[None, None]  # (1, 1, 28, 28) in [0, 1]
    conv = _convs(cnn)[0]
    seen: list[torch.Tensor] = []
    watch = cnn.register_forward_pre_hook(lambda module, args: seen.append(args[0].clone()))
    fig = plotting.plot_feature_maps(cnn, image)
    watch.remove()
    assert cnn.training  # restored
    assert not conv._forward_hooks  # removed
    # The [0, 1] pixels reach the model as they are: normalising is the model's business.
    assert len(seen) == 1
    torch.testing.assert_close(seen[0], pixels)
    assert len(fig.axes) == 32
    # The maps are the first convolution's output in a plain forward pass on those pixels.
    outputs: list[torch.Tensor] = []
    probe = conv.register_forward_hook(lambda module, args, out: outputs.append(out.detach()))
    with torch.no_grad():
        cnn.eval()(pixels)
    probe.remove()
    expected = outputs[0][0].numpy()  # (32, 28, 28)
    for i, ax in enumerate(fig.axes):
        np.testing.assert_allclose(_pixels(ax), expected[i], rtol=1e-4, atol=1e-5)
    capped = plotting.plot_feature_maps(cnn, image.numpy() / 255.0, layer=1, ncols=8)
    assert len(capped.axes) == 32  # 64 channels, capped at max_maps
    assert "32 of 64 channels of 14×14" in capped.get_suptitle()
    few = plotting.plot_feature_maps(cnn, image, layer="features.4", max_maps=5)
    assert len(few.axes) == 5


class _InPlaceNet(nn.Module):
    """A convolution followed by an in-place ReLU, which overwrites the convolution's output."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv(x)).mean(dim=(2, 3))  # (B, 4)


class _FunctionalNet(nn.Module):
    """A convolution whose ReLU is a function call, invisible to module hooks."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv(x)).mean(dim=(2, 3))  # (B, 4)


def test_plot_feature_maps_activated_after_a_pool_first_stage(mnist: DatasetSplits) -> None:
    """The default recipe's CNN pools before batch norm and ReLU: the maps it passes on are
    14 × 14."""
    torch.manual_seed(0)
    cnn = get_model("cnn", batch_norm=True, pool_before_norm=True)
    image = mnist.test.images[0]
    fig = plotting.plot_feature_maps(cnn, image, activated=True, ncols=4, max_maps=8)
    with torch.no_grad():
        pixels = image.float().div(255)[None, None]
        expected = cnn.eval().features[:4](cnn.normalize(pixels))[0].numpy()  # (32, 14, 14)
    axes = _image_axes(fig)
    assert len(axes) == 8 and expected.shape == (32, 14, 14)
    for i, ax in enumerate(axes):
        np.testing.assert_allclose(_pixels(ax), expected[i], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("batch_norm", [False, True])
def test_plot_feature_maps_activated_share_one_scale(
    mnist: DatasetSplits, batch_norm: bool
) -> None:
    torch.manual_seed(0)
    cnn = get_model("cnn", batch_norm=batch_norm)
    if batch_norm:  # statistics other than the initial 0 and 1, so the layer does something
        for module in cnn.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
    cnn.train()
    image = mnist.test.images[0]
    pixels = image.float().div(255)[None, None]
    fig = plotting.plot_feature_maps(cnn, image, activated=True, ncols=4, max_maps=16)
    assert cnn.training  # restored
    assert not any(m._forward_hooks for m in cnn.modules())  # every hook removed
    # the shown maps are what the first stage's ReLU passes on: after batch norm, if any
    with torch.no_grad():
        expected = cnn.eval().features[:3](cnn.normalize(pixels))[0].numpy()  # (32, 28, 28)
    cnn.train()
    axes = _image_axes(fig)
    assert len(axes) == 16 and len(fig.axes) == 17  # 16 maps and the colour bar
    assert _geometry(axes[0]) == (4, 4)
    for i, ax in enumerate(axes):
        np.testing.assert_allclose(_pixels(ax), expected[i], rtol=1e-4, atol=1e-5)
    # one colour scale for all, from 0 (ReLU's floor) to the largest activation shown
    (scale,) = {ax.images[0].get_clim() for ax in axes}
    assert scale == (0.0, pytest.approx(float(expected[:16].max())))
    assert (expected[:16] >= 0).all()
    assert fig.get_suptitle() == "conv1 after ReLU: 16 of 32 maps of 28×28"
    assert fig.axes[-1].get_ylabel() == "activation (ReLU)"
    second = plotting.plot_feature_maps(cnn, image, layer="features.4", activated=True)
    assert second.get_suptitle() == "conv2 after ReLU: 32 of 64 maps of 14×14"


def test_plot_feature_maps_activated_after_an_in_place_relu(mnist: DatasetSplits) -> None:
    torch.manual_seed(0)
    net = _InPlaceNet()
    image = mnist.test.images[0]
    with torch.no_grad():
        raw = net.conv(image.float().div(255)[None, None])[0].numpy()
    assert (raw < 0).any()
    before = plotting.plot_feature_maps(net, image)
    after = plotting.plot_feature_maps(net, image, activated=True)
    for i in range(4):  # the raw output keeps its negative values despite the in-place ReLU
        np.testing.assert_allclose(_pixels(before.axes[i]), raw[i], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(
            _pixels(_image_axes(after)[i]), np.maximum(raw[i], 0), rtol=1e-5, atol=1e-6
        )
    assert after.get_suptitle() == "conv1 after ReLU: 4 maps of 28×28"


def test_plot_feature_maps_activated_needs_an_activation_module(mnist: DatasetSplits) -> None:
    image = mnist.test.images[0]
    fig = plotting.plot_feature_maps(_FunctionalNet(), image)  # the raw output works
    assert len(fig.axes) == 4
    with pytest.raises(ConfigError, match=r"calls no activation module .* activated=False"):
        plotting.plot_feature_maps(_FunctionalNet(), image, activated=True)
    with pytest.raises(ConfigError, match=r"'activated' must be True or False"):
        plotting.plot_feature_maps(_FunctionalNet(), image, activated="yes")  # type: ignore[arg-type]


def test_plot_feature_maps_rejects_bad_input(mnist: DatasetSplits, lenet: nn.Module) -> None:
    images = mnist.test.images
    with pytest.raises(ConfigError, match=r"'image' must be one image of shape \(H, W\)"):
        plotting.plot_feature_maps(lenet, images[:2])
    with pytest.raises(ConfigError, match=r"'image' must hold uint8 pixels or floats in \[0, 1\]"):
        plotting.plot_feature_maps(lenet, images[0].float())
    with pytest.raises(ConfigError, match=r"must contain a torch.nn.Conv2d layer, but MLP"):
        plotting.plot_feature_maps(get_model("mlp"), images[0])
    with pytest.raises(ConfigError, match=r"'max_maps' must be a positive integer"):
        plotting.plot_feature_maps(lenet, images[0], max_maps=0)
