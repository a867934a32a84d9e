r"""Which pixels made the model say what it said: attributions through Captum.

Each function takes a model and a batch of digits and returns one number per pixel, an
*attribution*: how much that pixel pushed the score (logit) of the target class up
(positive) or down (negative). The work is done by `Captum <https://captum.ai>`_, PyTorch's
library for model interpretability; it needs the ``explain`` extra::

    pip install ".[explain]"

==================================  ==========================================================
function                            what it measures
==================================  ==========================================================
:func:`saliency`                    the gradient of the score with respect to each pixel
                                    (its absolute value by default): how sensitive the
                                    score is to the pixel, whatever the pixel holds
:func:`input_x_gradient`            gradient × pixel: a first-order share of the score
:func:`integrated_gradients`        the gradient averaged along the straight path from a
                                    *baseline* image to the digit, times (digit − baseline);
                                    the attributions add up to score(digit) −
                                    score(baseline) (*completeness*)
:func:`occlusion`                   how much the score drops when a square patch is painted
                                    over with the baseline value
:func:`grad_cam`                    Grad-CAM: the last convolution's feature maps weighted
                                    by their mean gradient, ReLU, upsampled to 28×28
                                    (convolutional models only)
:func:`attributions`                several of them at once, for
                                    :func:`mnistkit.plotting.plot_attributions`
==================================  ==========================================================

Every function takes pixels in [0, 1] (or ``uint8``), as the models do, and attributes to
*those* pixels: the model's own :class:`~mnistkit.models.Normalize` layer is part of the
function explained. For softmax regression (:class:`mnistkit.models.Linear`), class
:math:`k`'s score is

.. math::

    z_k(x) = \sum_j w_{kj} \, \frac{x_j - \mu}{\sigma} + b_k ,

so its gradient is :math:`\partial z_k / \partial x_j = w_{kj} / \sigma` whatever the image:
:func:`saliency` (with ``absolute=False``) returns :math:`w_{kj}/\sigma`,
:func:`input_x_gradient` returns :math:`(w_{kj}/\sigma)\,x_j`, and integrated gradients
from a baseline :math:`x'` return :math:`(w_{kj}/\sigma)(x_j - x'_j)`, which add up to
:math:`z_k(x) - z_k(x')` exactly. With the black baseline (:math:`x' = 0`) that is
gradient × input again; with the mean pixel as baseline (:math:`x' = \mu`) it is the term
:math:`w_{kj}(x_j - \mu)/\sigma` of the sum above, pixel by pixel.

Targets default to the model's own prediction for each digit. Models are put in eval mode
for the attribution and put back as they were; results are float32 tensors of shape
(N, 1, 28, 28) on the CPU.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from mnistkit._extras import require
from mnistkit._validation import check_choice, check_int, fail
from mnistkit.exceptions import ConfigError
from mnistkit.inference import ImagesLike, as_image_batch

__all__ = [
    "METHODS",
    "attributions",
    "grad_cam",
    "input_x_gradient",
    "integrated_gradients",
    "last_convolution",
    "occlusion",
    "saliency",
]

#: The methods :func:`attributions` knows, in the order it draws them.
METHODS = ("saliency", "input_x_gradient", "integrated_gradients", "occlusion", "grad_cam")

#: What a baseline may be: one pixel value in [0, 1] for every pixel, or a tensor that
#: broadcasts to the images' shape (N, 1, 28, 28), e.g. a blurred copy of the digits.
Baseline = float | torch.Tensor

TargetLike = int | Sequence[int] | torch.Tensor | None


def _captum_attr() -> Any:
    return require("explain", "mnistkit.explain")


def _module(model: object) -> nn.Module:
    if not isinstance(model, nn.Module):
        raise ConfigError(
            f"Argument 'model' must be a torch.nn.Module, but got {type(model).__name__}"
        )
    return model


def _device(model: nn.Module) -> torch.device:
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


def _targets(model: nn.Module, batch: torch.Tensor, target: TargetLike) -> torch.Tensor:
    """One class index per image: ``target`` broadcast, or the model's predictions."""
    n = batch.shape[0]
    if target is None:
        with torch.no_grad():
            predicted: torch.Tensor = model(batch).argmax(1)
        return predicted
    if isinstance(target, bool):
        raise fail("target", target, "a class index, one per image, or None")
    if isinstance(target, int):
        return torch.full((n,), target, dtype=torch.int64, device=batch.device)
    values = torch.as_tensor(target)
    if values.ndim != 1 or values.shape[0] != n or values.is_floating_point():
        raise fail("target", target, f"an int, or {n} class indices (one per image), or None")
    return values.to(device=batch.device, dtype=torch.int64)


def _baseline(baseline: Baseline, batch: torch.Tensor) -> torch.Tensor:
    if isinstance(baseline, torch.Tensor):
        try:
            return torch.broadcast_to(baseline.to(batch.device, batch.dtype), batch.shape)
        except RuntimeError:
            raise fail(
                "baseline",
                f"a tensor of shape {tuple(baseline.shape)}",
                f"one that broadcasts to the images' shape {tuple(batch.shape)}",
            ) from None
    if isinstance(baseline, bool) or not isinstance(baseline, int | float):
        raise fail("baseline", baseline, "a pixel value in [0, 1] or a tensor")
    if not 0.0 <= float(baseline) <= 1.0:
        raise fail("baseline", baseline, "a pixel value in [0, 1] (0 is black)")
    return torch.full_like(batch, float(baseline))


def _attribute(
    model: nn.Module,
    images: ImagesLike,
    target: TargetLike,
    run: Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor],
) -> torch.Tensor:
    """Prepare the batch and targets, run ``run(model, batch, targets)`` in eval mode."""
    model = _module(model)
    # a copy that requires gradients, so that the caller's tensor is never changed
    batch = as_image_batch(images).to(_device(model)).clone()  # (N, 1, 28, 28) in [0, 1]
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad():
            targets = _targets(model, batch, target)
            result = run(model, batch.requires_grad_(True), targets)
    finally:
        model.train(was_training)
    return result.detach().float().cpu()


def saliency(
    model: nn.Module, images: ImagesLike, *, target: TargetLike = None, absolute: bool = True
) -> torch.Tensor:
    """The gradient of the target score with respect to each pixel.

    Parameters
    ----------
    model : torch.nn.Module
        Takes (N, 1, 28, 28) pixels in [0, 1]; returns logits.
    images : tensor or array
        ``uint8`` pixels or floats in [0, 1] (see :data:`mnistkit.inference.ImagesLike`).
    target : int, sequence of int or None, default=None
        The class whose score is explained, for all images or one per image; ``None``
        explains each image's predicted class.
    absolute : bool, default=True
        Return the gradient's absolute value (the usual saliency map) instead of the signed
        gradient.

    Returns
    -------
    torch.Tensor
        float32, shape (N, 1, 28, 28), on the CPU.

    Notes
    -----
    A gradient says how the score would change if a pixel changed, not what the pixel
    contributed: it is non-zero on the black background, where the pixel holds nothing.
    """
    attr = _captum_attr()
    return _attribute(
        model,
        images,
        target,
        lambda m, x, t: attr.Saliency(m).attribute(x, target=t, abs=bool(absolute)),
    )


def input_x_gradient(
    model: nn.Module, images: ImagesLike, *, target: TargetLike = None
) -> torch.Tensor:
    """Gradient × pixel: each pixel's first-order share of the target score.

    Parameters
    ----------
    model : torch.nn.Module
        Takes (N, 1, 28, 28) pixels in [0, 1]; returns logits.
    images : tensor or array
        ``uint8`` pixels or floats in [0, 1].
    target : int, sequence of int or None, default=None
        The class whose score is explained; ``None`` explains the predicted class.

    Returns
    -------
    torch.Tensor
        float32, shape (N, 1, 28, 28), on the CPU; zero wherever the pixel is 0 (black).
    """
    attr = _captum_attr()
    return _attribute(
        model, images, target, lambda m, x, t: attr.InputXGradient(m).attribute(x, target=t)
    )


def integrated_gradients(
    model: nn.Module,
    images: ImagesLike,
    *,
    target: TargetLike = None,
    baseline: Baseline = 0.0,
    steps: int = 64,
) -> torch.Tensor:
    """Integrated gradients (Sundararajan et al., 2017) from a baseline image to each digit.

    Parameters
    ----------
    model : torch.nn.Module
        Takes (N, 1, 28, 28) pixels in [0, 1]; returns logits.
    images : tensor or array
        ``uint8`` pixels or floats in [0, 1].
    target : int, sequence of int or None, default=None
        The class whose score is explained; ``None`` explains the predicted class.
    baseline : float or torch.Tensor, default=0.0
        The image that stands for "no information": a pixel value in [0, 1] for every pixel
        (0, black, is MNIST's background), or a tensor broadcasting to (N, 1, 28, 28).
        Pixels equal to the baseline get exactly zero attribution.
    steps : int, default=64
        Points of the Gauss-Legendre rule along the path; more is closer to the integral.

    Returns
    -------
    torch.Tensor
        float32, shape (N, 1, 28, 28), on the CPU. Each image's attributions add up to
        ``score(image) - score(baseline)`` for its target, up to the integration error
        (exactly, up to rounding, for a linear model).
    """
    attr = _captum_attr()
    check_int(steps, "steps")

    def run(m: nn.Module, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        start = _baseline(baseline, x.detach())
        result: torch.Tensor = attr.IntegratedGradients(m).attribute(
            x, baselines=start, target=t, n_steps=steps, internal_batch_size=x.shape[0]
        )
        return result

    return _attribute(model, images, target, run)


def occlusion(
    model: nn.Module,
    images: ImagesLike,
    *,
    target: TargetLike = None,
    window: int = 5,
    stride: int = 2,
    baseline: float = 0.0,
) -> torch.Tensor:
    """Score drop when a ``window`` × ``window`` patch is covered with the baseline value.

    Parameters
    ----------
    model : torch.nn.Module
        Takes (N, 1, 28, 28) pixels in [0, 1]; returns logits.
    images : tensor or array
        ``uint8`` pixels or floats in [0, 1].
    target : int, sequence of int or None, default=None
        The class whose score is explained; ``None`` explains the predicted class.
    window : int, default=5
        Side of the square patch, in pixels.
    stride : int, default=2
        Step between two patch positions, in pixels.
    baseline : float, default=0.0
        The pixel value painted over the patch (0 is black).

    Returns
    -------
    torch.Tensor
        float32, shape (N, 1, 28, 28), on the CPU: for each pixel, the mean score drop of
        the patches covering it. Covering a black patch with black changes nothing, so the
        background gets zero with the default baseline.
    """
    attr = _captum_attr()
    check_int(window, "window")
    check_int(stride, "stride")
    fill = float(_baseline(baseline, torch.zeros(1)).item())

    def run(m: nn.Module, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        result: torch.Tensor = attr.Occlusion(m).attribute(
            x,
            target=t,
            sliding_window_shapes=(1, window, window),
            strides=(1, stride, stride),
            baselines=fill,
        )
        return result

    return _attribute(model, images, target, run)


def last_convolution(model: nn.Module) -> nn.Conv2d:
    """The model's last :class:`torch.nn.Conv2d` in definition order: Grad-CAM's layer.

    Parameters
    ----------
    model : torch.nn.Module
        A convolutional model, e.g. ``get_model("cnn")`` or ``get_model("lenet5")``.

    Returns
    -------
    torch.nn.Conv2d
        For the CNN, the convolution of its last stage (64 channels of 14×14 by default).

    Raises
    ------
    ConfigError
        The model has no convolution (``linear``, ``mlp``).
    """
    convolutions = [m for m in _module(model).modules() if isinstance(m, nn.Conv2d)]
    if not convolutions:
        raise ConfigError(
            f"Grad-CAM needs a convolution layer, but {type(model).__name__} has none; use "
            "saliency, integrated_gradients or occlusion for it."
        )
    return convolutions[-1]


def grad_cam(
    model: nn.Module,
    images: ImagesLike,
    *,
    target: TargetLike = None,
    layer: nn.Module | None = None,
) -> torch.Tensor:
    """Grad-CAM (Selvaraju et al., 2017): where the last convolution saw the target class.

    Parameters
    ----------
    model : torch.nn.Module
        A convolutional model taking (N, 1, 28, 28) pixels in [0, 1].
    images : tensor or array
        ``uint8`` pixels or floats in [0, 1].
    target : int, sequence of int or None, default=None
        The class whose score is explained; ``None`` explains the predicted class.
    layer : torch.nn.Module, optional
        The layer whose output is weighted; by default :func:`last_convolution`.

    Returns
    -------
    torch.Tensor
        float32, shape (N, 1, 28, 28), on the CPU, non-negative: the layer's feature maps
        weighted by the mean gradient of the score over each map, summed, passed through
        ReLU, and upsampled bilinearly to the image size. Coarse: one value per position
        of the layer's output (14×14 for the CNN).

    Raises
    ------
    ConfigError
        The model has no convolution and no ``layer`` was given.
    """
    attr = _captum_attr()
    chosen = last_convolution(model) if layer is None else layer

    def run(m: nn.Module, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        coarse = attr.LayerGradCam(m, chosen).attribute(x, target=t, relu_attributions=True)
        result: torch.Tensor = F.interpolate(
            coarse, size=x.shape[-2:], mode="bilinear", align_corners=False
        )
        return result

    return _attribute(model, images, target, run)


_FUNCTIONS: dict[str, Callable[..., torch.Tensor]] = {
    "saliency": saliency,
    "input_x_gradient": input_x_gradient,
    "integrated_gradients": integrated_gradients,
    "occlusion": occlusion,
    "grad_cam": grad_cam,
}


def attributions(
    model: nn.Module,
    images: ImagesLike,
    *,
    methods: Sequence[str] = ("saliency", "integrated_gradients", "occlusion", "grad_cam"),
    target: TargetLike = None,
    options: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, torch.Tensor]:
    """Several attribution methods on the same digits and targets.

    Parameters
    ----------
    model : torch.nn.Module
        Takes (N, 1, 28, 28) pixels in [0, 1]; returns logits.
    images : tensor or array
        ``uint8`` pixels or floats in [0, 1].
    methods : sequence of str, default=("saliency", "integrated_gradients", "occlusion", \
"grad_cam")
        Names from :data:`METHODS`; ``"grad_cam"`` only for convolutional models.
    target : int, sequence of int or None, default=None
        The class whose score is explained; ``None`` explains the predicted class (the
        same for every method).
    options : mapping, optional
        Keyword arguments per method, e.g. ``{"integrated_gradients": {"baseline": 0.13}}``.

    Returns
    -------
    dict of str to torch.Tensor
        Method name -> attributions, float32 (N, 1, 28, 28) on the CPU, in the order asked;
        ready for :func:`mnistkit.plotting.plot_attributions`.
    """
    if isinstance(methods, str) or not methods:
        raise fail("methods", methods, f"a non-empty sequence of names from {METHODS}")
    chosen = [check_choice(name, "methods", METHODS) for name in methods]
    extra = dict(options or {})
    for name in extra:
        check_choice(name, "options", chosen)
    batch = as_image_batch(images)
    model = _module(model)
    if target is None:  # decide the targets once, so every method explains the same class
        was_training = model.training
        model.eval()
        with torch.no_grad():
            target = model(batch.to(_device(model))).argmax(1).cpu()
        model.train(was_training)
    return {
        name: _FUNCTIONS[name](model, batch, target=target, **dict(extra.get(name, {})))
        for name in chosen
    }
