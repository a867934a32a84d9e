"""What a model has learnt: linear weights, convolution filters and feature maps."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from mnistkit._validation import as_int, check_int, fail
from mnistkit.exceptions import ConfigError
from mnistkit.metrics import ArrayLike
from mnistkit.plotting._common import (
    _array,
    _classes,
    _FloatArray,
    _grid,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["plot_feature_maps", "plot_filters", "plot_weights"]

# --------------------------------------------------------------------------- #
# model internals
# --------------------------------------------------------------------------- #


def _module(model: object, name: str) -> nn.Module:
    if not isinstance(model, nn.Module):
        raise ConfigError(
            f"Argument {name!r} must be a torch.nn.Module, but got {type(model).__name__}"
        )
    return model


def _symmetric_limit(values: _FloatArray) -> float:
    limit = float(np.abs(values).max()) if values.size else 0.0
    return limit if limit > 0 else 1.0


def plot_weights(
    model_or_weight: nn.Module | ArrayLike,
    *,
    classes: Sequence[str] | None = None,
    ncols: int = 5,
    cmap: str = "RdBu_r",
) -> Figure:
    """Show the weights of a fully connected layer as one image per output unit.

    For :class:`mnistkit.models.Linear` (softmax regression) each class has one weight
    per pixel, so its 784 weights form a 28×28 "template" of the class: pixels that
    raise the class's score are red, pixels that lower it blue. All images share one
    colour scale, symmetric around 0, shown by the colour bar.

    Parameters
    ----------
    model_or_weight : torch.nn.Module, tensor, ndarray or nested sequence
        A model (its first :class:`torch.nn.Linear` layer is used: the classifier of
        ``Linear``, the first hidden layer of ``MLP``), an ``nn.Linear``, or a weight
        matrix of shape (K, H·W) or (K, H, W). ``H·W`` must be a square number.
    classes : sequence of str, optional
        Names of the ``K`` outputs; default: ``"0"``, ``"1"``, ...
    ncols : int, default=5
        Images per row.
    cmap : str, default="RdBu_r"
        A diverging colormap.

    Returns
    -------
    matplotlib.figure.Figure
        One image axes per output unit, in order, plus the colour bar's axes.

    Raises
    ------
    ConfigError
        If the model has no linear layer or the weights cannot be drawn as square images.
    """
    columns = check_int(ncols, "ncols")
    if isinstance(model_or_weight, nn.Module):
        linear = next((m for m in model_or_weight.modules() if isinstance(m, nn.Linear)), None)
        if linear is None:
            raise ConfigError(
                f"Argument 'model_or_weight' must contain a torch.nn.Linear layer, but "
                f"{type(model_or_weight).__name__} has none; use plot_filters for convolutions"
            )
        weight = linear.weight.detach().cpu().double().numpy()
    else:
        weight = _array(model_or_weight, "model_or_weight").astype(np.float64)
    if weight.ndim == 3:
        weight = weight.reshape(weight.shape[0], -1)
    side = math.isqrt(weight.shape[1]) if weight.ndim == 2 else 0
    if weight.ndim != 2 or weight.shape[0] == 0 or side == 0 or side * side != weight.shape[1]:
        raise ConfigError(
            f"Argument 'model_or_weight' must give a (K, H*W) weight matrix with a square "
            f"number of inputs, such as (10, 784), but got shape {weight.shape}"
        )
    if not np.isfinite(weight).all():
        raise ConfigError("Argument 'model_or_weight' must be finite, but it has NaN or inf")
    units = weight.shape[0]
    names = _classes(classes, units) or tuple(str(i) for i in range(units))
    limit = _symmetric_limit(weight)
    fig, axes = _grid(units, columns, cell=1.5)
    for ax, row, name in zip(axes, weight, names, strict=True):
        ax.imshow(
            row.reshape(side, side), cmap=cmap, vmin=-limit, vmax=limit, interpolation="nearest"
        )
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(name, fontsize=10)
    fig.colorbar(axes[0].images[0], ax=axes, shrink=0.8, label="weight")
    fig.suptitle(f"Weights of {units} units over {side}×{side} inputs")
    return fig


def _convolutions(model: nn.Module) -> list[tuple[str, nn.Conv2d]]:
    return [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Conv2d)]


def _conv_layer(model: nn.Module, layer: int | str, name: str) -> tuple[str, nn.Conv2d]:
    """The chosen Conv2d of ``model``: by index among its Conv2d layers, or by name."""
    convs = _convolutions(model)
    if not convs:
        raise ConfigError(
            f"Argument {name!r} must contain a torch.nn.Conv2d layer, but "
            f"{type(model).__name__} has none; use plot_weights for fully connected models"
        )
    listing = ", ".join(repr(n or type(m).__name__) for n, m in convs)
    if isinstance(layer, str):
        for conv_name, conv in convs:
            if conv_name == layer:
                return conv_name, conv
        raise ConfigError(
            f"Argument 'layer' must name a Conv2d layer of {type(model).__name__}, but got "
            f"{layer!r}; expected one of: {listing}"
        )
    index = as_int(layer)
    count = len(convs)
    if index is None or not -count <= index < count:
        raise fail(
            "layer",
            layer,
            f"an index in [{-count}, {count}) among the {count} Conv2d layer(s) of "
            f"{type(model).__name__} ({listing}), or one of their names",
        )
    return convs[index]


def plot_filters(
    model_or_conv: nn.Module,
    *,
    layer: int | str = 0,
    ncols: int = 8,
    in_channel: int | None = None,
    max_filters: int = 64,
    cmap: str = "RdBu_r",
) -> Figure:
    """Show the kernels of a convolution layer, one image per output channel.

    A kernel of a layer with several input channels is a stack of 2-D kernels, one per
    input channel; by default their mean is shown, or pass ``in_channel`` to see one of
    them. For the first layer of an MNIST model there is one input channel and the
    choice does not matter. All kernels share one colour scale, symmetric around 0.

    Parameters
    ----------
    model_or_conv : torch.nn.Module
        A model or a :class:`torch.nn.Conv2d`.
    layer : int or str, default=0
        Which Conv2d: its index among the model's Conv2d layers in definition order
        (0 is the first, -1 the last), or its name in ``model.named_modules()`` such as
        ``"features.3"``.
    ncols : int, default=8
        Images per row.
    in_channel : int, optional
        Show this input channel of each kernel instead of the mean over input channels.
    max_filters : int, default=64
        Show at most this many output channels, from the first.
    cmap : str, default="RdBu_r"
        A diverging colormap.

    Returns
    -------
    matplotlib.figure.Figure
        One image axes per shown filter, in channel order, plus the colour bar's axes.

    Raises
    ------
    ConfigError
        If the model has no Conv2d layer, or ``layer`` or ``in_channel`` is out of range.
    """
    model = _module(model_or_conv, "model_or_conv")
    columns = check_int(ncols, "ncols")
    limit_count = check_int(max_filters, "max_filters")
    name, conv = _conv_layer(model, layer, "model_or_conv")
    weight = conv.weight.detach().cpu().double().numpy()  # (out, in / groups, kh, kw)
    inputs = weight.shape[1]
    if in_channel is None:
        kernels = weight.mean(axis=1)
        source = "" if inputs == 1 else f", mean over {inputs} input channels"
    else:
        channel = as_int(in_channel)
        if channel is None or not 0 <= channel < inputs:
            raise fail("in_channel", in_channel, f"an index in [0, {inputs}) or None")
        kernels = weight[:, channel]
        source = f", input channel {channel}"
    total = kernels.shape[0]
    kernels = kernels[:limit_count]
    limit = _symmetric_limit(kernels)
    fig, axes = _grid(len(kernels), columns, cell=1.0)
    for i, (ax, kernel) in enumerate(zip(axes, kernels, strict=True)):
        ax.imshow(kernel, cmap=cmap, vmin=-limit, vmax=limit, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(str(i), fontsize=8)
    fig.colorbar(axes[0].images[0], ax=axes, shrink=0.8, label="weight")
    height, width = kernels.shape[1:]
    shown = f"{len(kernels)} of {total}" if len(kernels) < total else f"{total}"
    fig.suptitle(
        f"{name or type(conv).__name__}: {shown} filters of {height}×{width}{source}", fontsize=11
    )
    return fig


def _one_image(image: object) -> torch.Tensor:
    """One image as a float32 (1, 1, H, W) tensor in [0, 1]."""
    array = _array(image, "image")
    if array.ndim == 4 and array.shape[:2] == (1, 1):
        array = array[0, 0]
    elif array.ndim == 3 and array.shape[0] == 1:
        array = array[0]
    if array.ndim != 2 or 0 in array.shape:
        raise ConfigError(
            f"Argument 'image' must be one image of shape (H, W), (1, H, W) or (1, 1, H, W), "
            f"but got shape {array.shape}; pick one, e.g. images[0]"
        )
    if array.dtype == np.uint8:
        values = array.astype(np.float32) / 255.0
    elif array.dtype.kind == "f":
        values = array.astype(np.float32)
        if not np.isfinite(values).all() or values.min() < 0.0 or values.max() > 1.0:
            raise ConfigError(
                f"Argument 'image' must hold uint8 pixels or floats in [0, 1], but got floats "
                f"from {values.min():.4g} to {values.max():.4g}; pass the pixels before "
                "normalisation: the model normalises them itself"
            )
    else:
        raise ConfigError(
            f"Argument 'image' must hold uint8 pixels or floats in [0, 1], "
            f"but got dtype {array.dtype}"
        )
    return torch.from_numpy(np.ascontiguousarray(values))[None, None]


#: Activation modules whose output ``plot_feature_maps(..., activated=True)`` shows.
_ACTIVATIONS: tuple[type[nn.Module], ...] = (
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.PReLU,
    nn.ELU,
    nn.SELU,
    nn.CELU,
    nn.GELU,
    nn.SiLU,
    nn.Mish,
    nn.Hardswish,
    nn.Softplus,
    nn.Tanh,
    nn.Sigmoid,
)


def _record_layer(
    net: nn.Module, conv: nn.Conv2d, batch: torch.Tensor
) -> tuple[torch.Tensor | None, tuple[nn.Module, torch.Tensor] | None]:
    """What ``conv`` outputs in one forward pass, and the activation that follows it.

    Returns the convolution's output (``None`` if the pass does not call it) and
    ``(module, output)`` of the first activation module called after it, before any other
    convolution, with as many channels (``None`` if there is none): of the same size, or
    smaller when the network pools before its activation.
    """
    # (module, output) in call order; outputs are cloned, since an in-place activation
    # (nn.ReLU(inplace=True)) would otherwise overwrite the convolution's recorded output
    calls: list[tuple[nn.Module, torch.Tensor]] = []

    def record(module: nn.Module, inputs: tuple[Any, ...], output: object) -> None:
        if isinstance(output, torch.Tensor):
            calls.append((module, output.detach().clone()))

    watched = dict.fromkeys(m for m in net.modules() if isinstance(m, (nn.Conv2d, *_ACTIVATIONS)))
    handles = [module.register_forward_hook(record) for module in watched]
    was_training = net.training
    net.eval()
    try:
        with torch.inference_mode():
            net(batch)
    finally:
        for handle in handles:
            handle.remove()
        net.train(was_training)
    start = next((i for i, (module, _) in enumerate(calls) if module is conv), None)
    if start is None:
        return None, None
    output = calls[start][1]
    for module, value in calls[start + 1 :]:
        if isinstance(module, nn.Conv2d):
            break
        if value.ndim == output.ndim and value.shape[:2] == output.shape[:2]:
            return output, (module, value)
    return output, None


def plot_feature_maps(
    model: nn.Module,
    image: ArrayLike,
    *,
    layer: int | str = 0,
    activated: bool = False,
    ncols: int = 8,
    max_maps: int = 32,
    cmap: str = "viridis",
) -> Figure:
    """Show what a convolution layer outputs for one image, one panel per channel.

    The image, as pixels in [0, 1], is passed through ``model`` in evaluation mode under
    :func:`torch.inference_mode` (the training flag is restored afterwards); forward
    hooks record the chosen layer's output.

    By default that is the convolution's own output, before any batch normalisation,
    activation or pooling that follows it, so it can be negative; each map is coloured on
    its own range, and the title names the layer by its module path (``features.0``).

    With ``activated=True`` it is what the layer passes on: the output of the activation
    module (such as :class:`torch.nn.ReLU`) that the forward pass calls next after the
    convolution, with any batch normalisation between them applied (and any pooling: a
    network that pools before its activation, such as ``CNN(pool_before_norm=True)``,
    shows maps of half the size). All maps then share
    one colour scale, shown by a colour bar, so that their brightness can be compared (a
    map that is 0 everywhere is as dark as the scale's bottom), and the title names the
    layer by its place among the model's convolutions: ``conv1``, ``conv2``, ...

    Parameters
    ----------
    model : torch.nn.Module
        A model taking (1, 1, H, W) pixels in [0, 1]; models from
        :func:`~mnistkit.models.get_model` normalise inside; for your own module, see
        ``mnistkit.models.Normalize``.
    image : tensor, ndarray or nested sequence
        One image of shape (H, W), (1, H, W) or (1, 1, H, W): ``uint8`` pixels or floats
        in [0, 1], as in :class:`~mnistkit.datasets.Split`.
    layer : int or str, default=0
        Which Conv2d: its index among the model's Conv2d layers in definition order
        (0 is the first, -1 the last), or its name in ``model.named_modules()``.
    activated : bool, default=False
        Show the activations after the convolution's activation function, on one shared
        colour scale with a colour bar and a human layer name, instead of the
        convolution's raw output on per-map scales.
    ncols : int, default=8
        Maps per row.
    max_maps : int, default=32
        Show at most this many channels, from the first.
    cmap : str, default="viridis"
        Colormap of the maps.

    Returns
    -------
    matplotlib.figure.Figure
        One axes per shown channel, in channel order; with ``activated=True``, then the
        colour bar's axes.

    Raises
    ------
    ConfigError
        If the model has no Conv2d layer, ``layer`` is out of range, the chosen layer is
        not used by the forward pass, no activation module follows it when
        ``activated=True``, or another argument is invalid.
    """
    net = _module(model, "model")
    columns = check_int(ncols, "ncols")
    limit_count = check_int(max_maps, "max_maps")
    if not isinstance(activated, bool):
        raise fail("activated", activated, "True or False")
    name, conv = _conv_layer(net, layer, "model")
    batch = _one_image(image)
    parameter = next(net.parameters(), None)
    if parameter is not None:
        batch = batch.to(device=parameter.device, dtype=parameter.dtype)

    conv_output, following = _record_layer(net, conv, batch)
    label = name or type(conv).__name__
    if conv_output is None:
        raise ConfigError(
            f"Argument 'layer' chose {label!r}, but the model's forward pass does not use it"
        )
    if activated and following is None:
        kinds = ", ".join(kind.__name__ for kind in _ACTIVATIONS[:4])
        raise ConfigError(
            f"Argument 'activated' asks for the activation after {label!r}, but the forward "
            f"pass calls no activation module ({kinds}, ...) with its channels before the "
            "next convolution (a functional call such as torch.relu cannot be seen); pass "
            "activated=False to show the convolution's output"
        )
    activation, output = following if activated and following else (None, conv_output)
    maps = output[0].float().cpu().numpy()  # (C, H', W')
    total = maps.shape[0]
    maps = maps[:limit_count]
    height, width = maps.shape[1:]
    shown = f"{len(maps)} of {total}" if len(maps) < total else f"{total}"
    fig, axes = _grid(len(maps), columns, cell=1.1)
    vmin = vmax = None  # per-map scales, unless one is shared
    if activation is not None:
        vmin = min(float(maps.min()), 0.0)  # 0 for ReLU: a silent unit is the darkest colour
        vmax = max(float(maps.max()), vmin + 1e-6)
    for i, (ax, feature) in enumerate(zip(axes, maps, strict=True)):
        ax.imshow(feature, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(str(i), fontsize=8)
    if activation is None:
        fig.suptitle(f"{label} output: {shown} channels of {height}×{width}", fontsize=11)
        return fig
    index = next(i for i, (_, c) in enumerate(_convolutions(net)) if c is conv)
    kind = type(activation).__name__
    fig.colorbar(axes[0].images[0], ax=axes, shrink=0.8, label=f"activation ({kind})")
    fig.suptitle(f"conv{index + 1} after {kind}: {shown} maps of {height}×{width}", fontsize=11)
    return fig
