"""A Keras-style summary of a model: layers, output shapes and parameter counts."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["LayerInfo", "ModelSummary", "summary"]


@dataclass(frozen=True, slots=True)
class LayerInfo:
    """One row of a :class:`ModelSummary`.

    Parameters
    ----------
    name : str
        The layer's dotted name in the model, e.g. ``"features.0"``.
    kind : str
        Its class name, e.g. ``"Conv2d"``.
    output_shape : tuple of int
        The shape of its output for the summary's input.
    params : int
        Its number of parameters.
    """

    name: str
    kind: str
    output_shape: tuple[int, ...]
    params: int


@dataclass(frozen=True, slots=True)
class ModelSummary:
    """Layers of a model with output shapes and parameters; ``str()`` gives the table.

    Parameters
    ----------
    model_name : str
        The model's class name.
    input_shape : tuple of int
        The shape of the zeros the forward pass ran on.
    layers : tuple of LayerInfo
        One row per leaf module, in the order they ran.
    total_params : int
        All parameters of the model.
    trainable_params : int
        Those with ``requires_grad``.
    """

    model_name: str
    input_shape: tuple[int, ...]
    layers: tuple[LayerInfo, ...]
    total_params: int
    trainable_params: int

    def __str__(self) -> str:
        rows = [
            (f"{layer.name} ({layer.kind})", str(list(layer.output_shape)), f"{layer.params:,}")
            for layer in self.layers
        ]
        header = ("Layer (type)", "Output shape", "Param #")
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(3)]
        rule = "-" * (sum(widths) + 4)
        lines = [
            f"Model: {self.model_name}   input: {list(self.input_shape)}",
            rule.replace("-", "="),
            f"{header[0]:<{widths[0]}}  {header[1]:<{widths[1]}}  {header[2]:>{widths[2]}}",
            rule,
        ]
        lines += [f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c:>{widths[2]}}" for a, b, c in rows]
        lines += [
            rule.replace("-", "="),
            f"Total params: {self.total_params:,}",
            f"Trainable params: {self.trainable_params:,}",
            f"Non-trainable params: {self.total_params - self.trainable_params:,}",
        ]
        return "\n".join(lines)


def summary(model: nn.Module, input_shape: tuple[int, ...] = (1, 1, 28, 28)) -> ModelSummary:
    """Describe ``model`` layer by layer, as Keras's ``model.summary()`` does.

    Runs one forward pass on zeros of ``input_shape`` (in eval mode, without gradients) and
    records the output shape of every leaf module.

    Parameters
    ----------
    model : torch.nn.Module
        Any module that accepts a tensor of ``input_shape``.
    input_shape : tuple of int, default=(1, 1, 28, 28)
        Shape of the input, batch dimension included.

    Returns
    -------
    ModelSummary
        ``print(summary(model))`` shows the table.
    """
    records: list[LayerInfo] = []
    handles = []

    def hook(name: str) -> object:
        def record(module: nn.Module, _inputs: object, output: object) -> None:
            shape = tuple(output.shape) if isinstance(output, torch.Tensor) else ()
            params = sum(p.numel() for p in module.parameters(recurse=False))
            records.append(LayerInfo(name, type(module).__name__, shape, params))

        return record

    for name, module in model.named_modules():
        if name and not list(module.children()):
            handles.append(module.register_forward_hook(hook(name)))
    was_training = model.training
    try:
        parameter = next(model.parameters(), None)
        device = parameter.device if parameter is not None else torch.device("cpu")
        model.eval()
        with torch.no_grad():
            model(torch.zeros(input_shape, device=device))
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return ModelSummary(type(model).__name__, tuple(input_shape), tuple(records), total, trainable)
