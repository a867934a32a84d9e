"""Attributions (mnistkit.explain) checked by the methods' own properties, on real digits.

* Softmax regression: its score is z_k = Σ_j w_kj (x_j − μ)/σ + b_k, with the model's own
  Normalize layer inside, so the gradient with respect to the [0, 1] pixels is w_kj/σ for
  every image. Saliency (signed) must return w/σ and gradient × input (w/σ)·x, exactly:
  autograd computes the very same float32 products.
* Integrated gradients are complete: the attributions of an image add up to
  score(image) − score(baseline). For the linear model that holds to rounding; for a CNN
  up to the integration error of the Gauss-Legendre rule, here bounded with 256 steps.
"""

from __future__ import annotations

import sys

import pytest
import torch
from torch import nn

import mnistkit
from mnistkit import explain, plotting
from mnistkit.datasets import DatasetSplits, Split


@pytest.fixture(scope="module")
def digits(mnist: DatasetSplits) -> torch.Tensor:
    return mnist.test.images[:6]  # uint8 (6, 28, 28), real test digits


def _fit(model: nn.Module, train: Split) -> nn.Module:
    mnistkit.seed_everything(0)
    mnistkit.Trainer(model, mnistkit.TrainConfig(epochs=1, progress=False)).fit(train)
    return model.eval()


@pytest.fixture(scope="module")
def linear(mnist: DatasetSplits) -> nn.Module:
    return _fit(mnistkit.get_model("linear"), mnist.train.subset(slice(0, 2_000)))


@pytest.fixture(scope="module")
def cnn(mnist: DatasetSplits) -> nn.Module:
    small = mnistkit.get_model("cnn", channels=(8, 16), hidden=32)
    return _fit(small, mnist.train.subset(slice(0, 2_000)))


def _pixels(digits: torch.Tensor) -> torch.Tensor:
    return digits.unsqueeze(1).to(torch.float32) / 255.0  # (N, 1, 28, 28) in [0, 1]


def _score(model: nn.Module, images: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(images).gather(1, targets[:, None])[:, 0]


def test_linear_gradient_is_weight_over_sigma_exactly(
    linear: nn.Module, digits: torch.Tensor
) -> None:
    x = _pixels(digits)
    targets = linear(x).argmax(1)
    weight = linear.fc.weight.detach()[targets].reshape(-1, 1, 28, 28)  # w_k per image
    sigma = linear.normalize.std
    gradient = explain.saliency(linear, digits, absolute=False)
    assert torch.equal(gradient, weight / sigma)
    assert torch.equal(explain.saliency(linear, digits), (weight / sigma).abs())
    # gradient × input = (w/σ)·x: the pixel's share of Σ_j w_kj x_j / σ, zero on black
    assert torch.equal(explain.input_x_gradient(linear, digits), (weight / sigma) * x)


def test_linear_integrated_gradients_are_the_exact_terms(
    linear: nn.Module, digits: torch.Tensor
) -> None:
    x = _pixels(digits)
    targets = linear(x).argmax(1)
    weight = linear.fc.weight.detach()[targets].reshape(-1, 1, 28, 28)
    sigma = linear.normalize.std
    mean = float(linear.normalize.mean.flatten()[0])
    from_black = explain.integrated_gradients(linear, digits)
    torch.testing.assert_close(from_black, weight / sigma * x, rtol=1e-5, atol=1e-7)
    from_mean = explain.integrated_gradients(linear, digits, baseline=mean)
    torch.testing.assert_close(from_mean, weight * (x - mean) / sigma, rtol=1e-5, atol=1e-7)
    gap = _score(linear, x, targets) - _score(linear, torch.full_like(x, mean), targets)
    torch.testing.assert_close(from_mean.sum(dim=(1, 2, 3)), gap, rtol=1e-5, atol=1e-5)


def test_cnn_integrated_gradients_are_complete(cnn: nn.Module, digits: torch.Tensor) -> None:
    # the stated tolerance: with 256 steps the sum misses the score difference by less
    # than 0.01 + 1% of it (measured: below 0.002 on these digits)
    x = _pixels(digits)
    targets = cnn(x).argmax(1)
    for baseline in (0.0, 0.5):
        attributions = explain.integrated_gradients(cnn, digits, baseline=baseline, steps=256)
        gap = _score(cnn, x, targets) - _score(cnn, torch.full_like(x, baseline), targets)
        error = (attributions.sum(dim=(1, 2, 3)) - gap).abs()
        assert bool((error <= 0.01 + 0.01 * gap.abs()).all()), (baseline, error, gap)


def test_black_pixels_get_no_integrated_gradient_but_do_get_saliency(
    cnn: nn.Module, digits: torch.Tensor
) -> None:
    black = digits.unsqueeze(1) == 0
    ig = explain.integrated_gradients(cnn, digits, steps=16)
    assert float(ig[black].abs().max()) == 0.0
    assert float(explain.saliency(cnn, digits)[black].sum()) > 0.0


def test_every_method_explains_the_same_targets(cnn: nn.Module, digits: torch.Tensor) -> None:
    maps = explain.attributions(cnn, digits, methods=explain.METHODS)
    assert list(maps) == list(explain.METHODS)
    for name, values in maps.items():
        assert values.shape == (6, 1, 28, 28) and values.dtype == torch.float32, name
        assert values.device.type == "cpu" and bool(values.isfinite().all()), name
    assert float(maps["grad_cam"].min()) >= 0.0  # ReLU'd
    # an explicit target changes the answer; None means the prediction
    predicted = cnn(_pixels(digits)).argmax(1)
    same = explain.saliency(cnn, digits, target=predicted)
    assert torch.equal(same, maps["saliency"])
    other = explain.saliency(cnn, digits, target=(predicted + 1) % 10)
    assert not torch.equal(other, same)


def test_occlusion_of_black_patches_with_black_changes_nothing(
    cnn: nn.Module, digits: torch.Tensor
) -> None:
    x = _pixels(digits)
    maps = explain.occlusion(cnn, digits, window=4, stride=4)
    # a 4×4 patch with no ink, covered with black, leaves the score as it was
    patches = x.unfold(2, 4, 4).unfold(3, 4, 4)  # (N, 1, 7, 7, 4, 4)
    empty = (patches.amax(dim=(-1, -2)) == 0).repeat_interleave(4, 2).repeat_interleave(4, 3)
    assert float(maps[empty].abs().max()) == 0.0
    assert float(maps[~empty].abs().max()) > 0.0


def test_grad_cam_finds_the_last_convolution(cnn: nn.Module, linear: nn.Module) -> None:
    assert explain.last_convolution(cnn) is cnn.features[4]
    with pytest.raises(mnistkit.ConfigError, match="Grad-CAM needs a convolution"):
        explain.grad_cam(linear, torch.zeros(1, 28, 28))


def test_the_callers_images_and_model_mode_are_left_alone(
    cnn: nn.Module, digits: torch.Tensor
) -> None:
    images = _pixels(digits)
    before = images.clone()
    cnn.train()
    try:
        explain.integrated_gradients(cnn, images, steps=4)
        assert cnn.training
    finally:
        cnn.eval()
    assert torch.equal(images, before) and not images.requires_grad


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"target": 1.5}, "'target'"),
        ({"target": [1, 2]}, "'target'"),
        ({"baseline": 2.0}, "'baseline'"),
        ({"baseline": torch.zeros(3, 28, 28)}, "'baseline'"),
        ({"steps": 0}, "'steps'"),
    ],
)
def test_bad_arguments_name_themselves(
    cnn: nn.Module, digits: torch.Tensor, kwargs: dict[str, object], match: str
) -> None:
    with pytest.raises(mnistkit.ConfigError, match=match):
        explain.integrated_gradients(cnn, digits, **kwargs)  # type: ignore[arg-type]


def test_unknown_method_suggests_a_name(cnn: nn.Module, digits: torch.Tensor) -> None:
    with pytest.raises(mnistkit.ConfigError, match="saliency"):
        explain.attributions(cnn, digits, methods=["salency"])


def test_without_captum_the_error_names_the_extra(
    cnn: nn.Module, digits: torch.Tensor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "captum.attr", None)  # what a missing package gives
    with pytest.raises(mnistkit.MissingExtraError) as caught:
        explain.saliency(cnn, digits)
    message = str(caught.value)
    assert 'pip install ".[explain]"' in message and "\n" not in message
    assert isinstance(caught.value, ImportError)


def test_plot_attributions_lays_out_digit_heat_map_and_overlay(
    cnn: nn.Module, digits: torch.Tensor
) -> None:
    import matplotlib.pyplot as plt

    maps = explain.attributions(cnn, digits[:3], methods=["saliency", "grad_cam"])
    fig = plotting.plot_attributions(digits[:3], maps, targets=[7, 2, 1], labels=[7, 2, 1])
    try:
        assert len(fig.axes) == 3 * (1 + 2 * 2)
        titles = [ax.get_title() for ax in fig.axes[:5]]
        assert titles == ["explains 7\ntrue 7", "saliency", "overlay", "grad cam", "overlay"]
    finally:
        plt.close(fig)
    with pytest.raises(mnistkit.ConfigError, match="shape"):
        plotting.plot_attributions(digits[:3], {"saliency": maps["saliency"][:2]})
    with pytest.raises(mnistkit.ConfigError, match="non-empty mapping"):
        plotting.plot_attributions(digits[:3], {})
