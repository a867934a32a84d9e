"""Inference: images in, class probabilities out, in batches and without autograd.

:func:`predict_proba` and :func:`predict` classify images; :func:`evaluate_model` scores a
model on a labelled split (the one path from a model to a :class:`~mnistkit.Report`,
used by :meth:`Trainer.evaluate <mnistkit.Trainer.evaluate>`, :func:`mnistkit.run_training`,
:func:`mnistkit.run_ensemble` and ``mnistkit evaluate``); :func:`with_test_time_augmentation`
wraps a model in the test-time views that suit its data set.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, overload

import numpy as np
import torch
from torch import nn

from mnistkit._pixels import pixels_to_float
from mnistkit._validation import check_int
from mnistkit.datasets import DatasetInfo, Split, get_info
from mnistkit.devices import DeviceLike, resolve_device, resolve_precision
from mnistkit.exceptions import ConfigError
from mnistkit.metrics import Report
from mnistkit.models import TestTimeAugmentation

__all__ = [
    "ImagesLike",
    "as_image_batch",
    "evaluate_model",
    "predict",
    "predict_proba",
    "with_test_time_augmentation",
]

#: Images accepted for prediction: a tensor or array of shape (N, 28, 28), (N, 1, 28, 28)
#: or one (28, 28) image; ``uint8`` pixels in [0, 255] or floats in [0, 1].
ImagesLike = torch.Tensor | np.ndarray


def as_image_batch(images: ImagesLike) -> torch.Tensor:
    """Bring images to a float32 tensor of shape (N, 1, H, W) with pixels in [0, 1].

    Parameters
    ----------
    images : tensor or array
        See :data:`ImagesLike`; ``uint8`` pixels are divided by 255, floats must already lie
        in [0, 1].

    Returns
    -------
    torch.Tensor
        float32, shape (N, 1, H, W), on the device ``images`` were on.

    Raises
    ------
    ConfigError
        For a type, shape or value range that is not an image batch.
    """
    if isinstance(images, np.ndarray):
        images = torch.from_numpy(np.ascontiguousarray(images))
    if not isinstance(images, torch.Tensor):
        raise ConfigError(
            f"Argument 'images' must be a torch.Tensor or numpy.ndarray but got "
            f"{type(images).__name__}."
        )
    if images.ndim == 2:
        images = images.unsqueeze(0)
    if images.ndim == 3:
        images = images.unsqueeze(1)
    if images.ndim != 4 or images.shape[1] != 1:
        raise ConfigError(
            f"Argument 'images' must have shape (N, 28, 28), (N, 1, 28, 28) or (28, 28) but got "
            f"{tuple(images.shape)}."
        )
    if images.dtype == torch.uint8:
        return pixels_to_float(images)
    if images.is_floating_point():
        images = images.to(torch.float32)
        if images.numel() and (float(images.min()) < 0.0 or float(images.max()) > 1.0):
            raise ConfigError(
                "Argument 'images' holds floats outside [0, 1] (range "
                f"[{float(images.min()):.3g}, {float(images.max()):.3g}]); pass uint8 pixels "
                "or floats scaled to [0, 1], not normalised values."
            )
        return images
    raise ConfigError(
        f"Argument 'images' must be uint8 or floating point but got dtype {images.dtype}."
    )


def predict_proba(
    model: nn.Module,
    images: ImagesLike,
    *,
    device: DeviceLike | None = None,
    batch_size: int = 256,
    precision: str = "32",
) -> torch.Tensor:
    """Class probabilities for ``images``.

    Parameters
    ----------
    model : torch.nn.Module
        Returns logits (B, C) for (B, 1, 28, 28) pixels in [0, 1]: models from
        :func:`mnistkit.get_model` and :func:`mnistkit.load_model` normalise their input
        themselves.
    images : tensor or array
        See :data:`ImagesLike`.
    device : str or torch.device, optional
        Defaults to the device of the model's parameters.
    batch_size : int, default=256
        Images per forward pass. The default is small so that a batch's activations stay
        in a CPU's caches, which is faster there than larger batches (measurements in
        ``benchmarks/RESULTS.md``).
    precision : {"32", "bf16-mixed", "16-mixed", "auto"}, default="32"
        Autocast for the forward passes (see :func:`mnistkit.devices.resolve_precision`):
        ``"auto"`` uses bfloat16 where the hardware computes it, which is faster on such
        CPUs (``benchmarks/RESULTS.md``) and may change a prediction whose two best
        classes are nearly tied.

    Returns
    -------
    torch.Tensor
        Probabilities, float32 (N, C) on the CPU; each row sums to 1.
    """
    check_int(batch_size, "batch_size")
    batch = as_image_batch(images)
    if device is None:
        parameter = next(model.parameters(), None)
        target = parameter.device if parameter is not None else torch.device("cpu")
    else:
        target = resolve_device(device)
    plan = resolve_precision(precision, target)
    was_training = model.training
    model.eval()
    outputs: list[torch.Tensor] = []
    try:
        with torch.inference_mode(), plan.autocast():
            for start in range(0, batch.shape[0], batch_size):
                chunk = batch[start : start + batch_size].to(target)  # (B, 1, 28, 28)
                logits = model(chunk).float()  # (B, C)
                outputs.append(torch.softmax(logits, dim=1).cpu())
    finally:
        model.train(was_training)
    if not outputs:
        return torch.empty(0, 0)
    return torch.cat(outputs)


def predict(
    model: nn.Module,
    images: ImagesLike,
    *,
    device: DeviceLike | None = None,
    batch_size: int = 256,
    precision: str = "32",
) -> torch.Tensor:
    """Predicted class index for each image.

    Parameters
    ----------
    model : torch.nn.Module
        As for :func:`predict_proba`.
    images : tensor or array
        See :data:`ImagesLike`.
    device : str or torch.device, optional
        Defaults to the device of the model's parameters.
    batch_size : int, default=256
        Images per forward pass.
    precision : {"32", "bf16-mixed", "16-mixed", "auto"}, default="32"
        As for :func:`predict_proba`.

    Returns
    -------
    torch.Tensor
        Class indices, int64 (N,) on the CPU.
    """
    probs = predict_proba(model, images, device=device, batch_size=batch_size, precision=precision)
    return probs.argmax(dim=1)


@overload
def evaluate_model(
    model: nn.Module,
    split: Split,
    *,
    device: DeviceLike | None = ...,
    batch_size: int = ...,
    precision: str = ...,
    top_k: int | Sequence[int] = ...,
    return_probabilities: Literal[False] = ...,
) -> Report: ...


@overload
def evaluate_model(
    model: nn.Module,
    split: Split,
    *,
    device: DeviceLike | None = ...,
    batch_size: int = ...,
    precision: str = ...,
    top_k: int | Sequence[int] = ...,
    return_probabilities: Literal[True],
) -> tuple[Report, torch.Tensor]: ...


def evaluate_model(
    model: nn.Module,
    split: Split,
    *,
    device: DeviceLike | None = None,
    batch_size: int = 256,
    precision: str = "32",
    top_k: int | Sequence[int] = (1, 3, 5),
    return_probabilities: bool = False,
) -> Report | tuple[Report, torch.Tensor]:
    """Evaluate ``model`` on a labelled split: its class probabilities, scored as a report.

    The probabilities come from :func:`predict_proba` (eval mode, no autograd, in batches,
    under ``precision``; the model's train/eval mode is restored afterwards) and are scored
    by :meth:`Report.from_probabilities <mnistkit.Report.from_probabilities>` with
    the split's class names.

    Parameters
    ----------
    model : torch.nn.Module
        As for :func:`predict_proba`: logits (B, C) for (B, 1, 28, 28) pixels in [0, 1].
    split : Split
        The images, labels and class names to evaluate on, usually a test split
        (:func:`mnistkit.load`).
    device : str or torch.device, optional
        Defaults to the device of the model's parameters.
    batch_size : int, default=256
        Images per forward pass.
    precision : {"32", "bf16-mixed", "16-mixed", "auto"}, default="32"
        Autocast for the forward passes, as for :func:`predict_proba`.
    top_k : int or sequence of int, default=(1, 3, 5)
        The ``k`` of the report's top-k accuracies.
    return_probabilities : bool, default=False
        Also return the probabilities the report was computed from (for figures, say),
        instead of computing them twice.

    Returns
    -------
    Report
        Accuracy, per-class precision/recall/F1, NLL, top-k accuracy and calibration error.
    torch.Tensor
        Only with ``return_probabilities=True``: float32 (N, C) on the CPU, each row summing
        to 1.

    Raises
    ------
    ConfigError
        If ``split`` is not a :class:`~mnistkit.datasets.Split`, or the model's outputs,
        the split's labels and classes and ``top_k`` do not fit together (as
        :meth:`Report.from_probabilities <mnistkit.Report.from_probabilities>`
        checks them).

    Examples
    --------
    >>> import mnistkit
    >>> from mnistkit.inference import evaluate_model
    >>> model = mnistkit.load_model("runs/cnn/model.safetensors").model  # doctest: +SKIP
    >>> report = evaluate_model(model, mnistkit.load("mnist").test)  # doctest: +SKIP
    >>> report.accuracy  # doctest: +SKIP
    """
    if not isinstance(split, Split):
        raise ConfigError(
            f"Argument 'split' must be a mnistkit Split, but got {type(split).__name__}"
        )
    probs = predict_proba(
        model, split.images, device=device, batch_size=batch_size, precision=precision
    )
    report = Report.from_probabilities(probs, split.labels, classes=split.classes, top_k=top_k)
    return (report, probs) if return_probabilities else report


def with_test_time_augmentation(
    model: nn.Module, dataset: str | DatasetInfo | None = None
) -> TestTimeAugmentation:
    """``model`` inside the test-time views that suit ``dataset``.

    Every image is classified as itself and moved one pixel right, left, down and up
    (:data:`~mnistkit.models.ONE_PIXEL_SHIFTS`), and, where mirroring keeps the class
    (:attr:`DatasetInfo.mirror_symmetric <mnistkit.datasets.DatasetInfo>`: clothes, never
    digits), as the mirror images of those too. This is what ``mnistkit evaluate --tta`` and
    ``mnistkit predict --tta`` apply.

    Parameters
    ----------
    model : torch.nn.Module
        The model to wrap, as for :class:`~mnistkit.models.TestTimeAugmentation`.
    dataset : str or DatasetInfo, optional
        The data set the model was trained on, usually ``metadata.dataset`` of a loaded
        model file. ``None`` or a name that is not registered (a model trained on data of
        your own) gets no mirrored views: mirroring is used only where it is known to keep
        the class.

    Returns
    -------
    TestTimeAugmentation
        5 views, or 10 with mirror images.

    Raises
    ------
    ConfigError
        If ``dataset`` is neither a str, a :class:`~mnistkit.datasets.DatasetInfo` nor
        ``None``, or ``model`` is not a module.
    """
    if isinstance(dataset, DatasetInfo):
        flip = dataset.mirror_symmetric
    elif isinstance(dataset, str):
        try:
            flip = get_info(dataset).mirror_symmetric
        except ConfigError:  # not registered: nothing says its classes survive mirroring
            flip = False
    elif dataset is None:
        flip = False
    else:
        raise ConfigError(
            "Argument 'dataset' must be a data set name, a DatasetInfo or None, but got "
            f"{type(dataset).__name__}"
        )
    return TestTimeAugmentation(model, flip=flip)
