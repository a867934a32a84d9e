"""Inference: images in, class probabilities out, in batches and without autograd.

:func:`predict_proba` and :func:`predict` classify images (:func:`predict_logits` gives
the scores before the softmax); with a :class:`~mnistkit.metrics.RejectionThreshold`,
:func:`predict` answers :data:`REJECTED` for an image that is not a digit, and
:func:`predict_with_rejection` gives each answer with its best guess, probability and
score; :func:`choose_rejection_threshold` picks the threshold on held-out digits.
:func:`evaluate_model` scores a model on a labelled split (the one path from a model to a
:class:`~mnistkit.Report`, used by :meth:`Trainer.evaluate <mnistkit.Trainer.evaluate>`,
:func:`mnistkit.run_training`, :func:`mnistkit.run_ensemble` and ``mnistkit evaluate``);
:func:`with_test_time_augmentation` wraps a model in the test-time views that suit its data set.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, overload

import numpy as np
import torch
from torch import nn

from mnistkit._pixels import pixels_to_float
from mnistkit._validation import check_int
from mnistkit.datasets import DatasetInfo, Split, get_info
from mnistkit.devices import DeviceLike, resolve_device, resolve_precision
from mnistkit.exceptions import ConfigError
from mnistkit.metrics import RejectionThreshold, Report
from mnistkit.models import Ensemble, TestTimeAugmentation

__all__ = [
    "REJECTED",
    "ImagesLike",
    "Predictions",
    "as_image_batch",
    "choose_rejection_threshold",
    "default_score",
    "evaluate_model",
    "predict",
    "predict_logits",
    "predict_proba",
    "predict_with_rejection",
    "with_test_time_augmentation",
]

#: The label :func:`predict` gives an image its rejection threshold rejects: not a digit.
REJECTED = -1

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


def predict_logits(
    model: nn.Module,
    images: ImagesLike,
    *,
    device: DeviceLike | None = None,
    batch_size: int = 256,
    precision: str = "32",
) -> torch.Tensor:
    """The model's class scores before the softmax (logits) for ``images``.

    What the "not a digit" scores (:func:`mnistkit.metrics.ood_scores`) are computed from:
    the energy score keeps the logits' scale, which the probabilities have lost.

    Parameters
    ----------
    model : torch.nn.Module
        Returns logits (B, C) for (B, 1, 28, 28) pixels in [0, 1]: models from
        :func:`mnistkit.get_model` and :func:`mnistkit.load_model` normalise their input
        themselves. (An :class:`~mnistkit.models.Ensemble` or
        :class:`~mnistkit.models.TestTimeAugmentation` returns log-probabilities.)
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
        float32 (N, C) on the CPU.
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
                outputs.append(model(chunk).float().cpu())  # (B, C)
    finally:
        model.train(was_training)
    if not outputs:
        return torch.empty(0, 0)
    return torch.cat(outputs)


def predict_proba(
    model: nn.Module,
    images: ImagesLike,
    *,
    device: DeviceLike | None = None,
    batch_size: int = 256,
    precision: str = "32",
) -> torch.Tensor:
    """Class probabilities for ``images``.

    Probabilities always sum to 1 over the classes, whatever the image: a shoe gets its
    digit too. To tell digits from other pictures, see :func:`predict_with_rejection`.

    Parameters
    ----------
    model : torch.nn.Module
        As for :func:`predict_logits`.
    images : tensor or array
        See :data:`ImagesLike`.
    device : str or torch.device, optional
        Defaults to the device of the model's parameters.
    batch_size : int, default=256
        Images per forward pass (see :func:`predict_logits`).
    precision : {"32", "bf16-mixed", "16-mixed", "auto"}, default="32"
        Autocast for the forward passes, as for :func:`predict_logits`.

    Returns
    -------
    torch.Tensor
        Probabilities, float32 (N, C) on the CPU; each row sums to 1.
    """
    logits = predict_logits(
        model, images, device=device, batch_size=batch_size, precision=precision
    )
    if logits.numel() == 0:
        return logits
    return torch.softmax(logits, dim=1)


def predict(
    model: nn.Module,
    images: ImagesLike,
    *,
    device: DeviceLike | None = None,
    batch_size: int = 256,
    precision: str = "32",
    reject: RejectionThreshold | None = None,
) -> torch.Tensor:
    """Predicted class index for each image, or :data:`REJECTED` for one that is no digit.

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
    reject : RejectionThreshold, optional
        Answer :data:`REJECTED` (-1) for the images it rejects, usually
        ``loaded.metadata.rejection`` of a model file (``None`` there when the file has
        no threshold: then nothing is rejected; check it, or use
        :func:`predict_with_rejection`, which requires one).

    Returns
    -------
    torch.Tensor
        Class indices, int64 (N,) on the CPU; -1 where rejected.

    Examples
    --------
    >>> import mnistkit
    >>> loaded = mnistkit.load_model("runs/mnist-default/model.safetensors")  # doctest: +SKIP
    >>> mnistkit.predict(loaded.model, images, reject=loaded.metadata.rejection)  # doctest: +SKIP
    tensor([ 7,  2, -1])
    """
    if reject is None:
        probs = predict_proba(
            model, images, device=device, batch_size=batch_size, precision=precision
        )
        return probs.argmax(dim=1)
    answers = predict_with_rejection(
        model, images, reject, device=device, batch_size=batch_size, precision=precision
    )
    return answers.labels


@dataclass(frozen=True, slots=True, eq=False)
class Predictions:
    """Answers with a rejection threshold, from :func:`predict_with_rejection`.

    Parameters
    ----------
    labels : torch.Tensor
        int64 (N,): the class index, or :data:`REJECTED` (-1) where rejected.
    best_guess : torch.Tensor
        int64 (N,): the most probable class, rejected or not.
    probabilities : torch.Tensor
        float32 (N, C): the class probabilities.
    scores : torch.Tensor
        float64 (N,): each image's score of the threshold's kind (higher = more like
        the training digits).
    rejected : torch.Tensor
        bool (N,): score below the threshold.
    threshold : RejectionThreshold
        The rule applied.
    """

    labels: torch.Tensor
    best_guess: torch.Tensor
    probabilities: torch.Tensor
    scores: torch.Tensor
    rejected: torch.Tensor
    threshold: RejectionThreshold

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def __repr__(self) -> str:
        return f"Predictions(n={len(self)}, rejected={int(self.rejected.sum())})"


def _check_rule(reject: object) -> RejectionThreshold:
    if not isinstance(reject, RejectionThreshold):
        raise ConfigError(
            "Argument 'reject' must be a RejectionThreshold (e.g. the metadata.rejection of "
            f"a model file that has one), but got {reject!r}; a model file gets one from "
            "'mnistkit train' with a validation split or from 'mnistkit threshold'"
        )
    return reject


def predict_with_rejection(
    model: nn.Module,
    images: ImagesLike,
    reject: RejectionThreshold,
    *,
    device: DeviceLike | None = None,
    batch_size: int = 256,
    precision: str = "32",
) -> Predictions:
    """Classify ``images``, rejecting those whose score is below ``reject``'s threshold.

    One forward pass gives the logits; the probabilities and the score
    (:meth:`RejectionThreshold.scores <mnistkit.metrics.RejectionThreshold.scores>`) both
    come from them.

    Parameters
    ----------
    model : torch.nn.Module
        As for :func:`predict_logits`; the model the threshold was chosen for.
    images : tensor or array
        See :data:`ImagesLike`.
    reject : RejectionThreshold
        The rule, usually ``loaded.metadata.rejection`` of a model file.
    device : str or torch.device, optional
        Defaults to the device of the model's parameters.
    batch_size : int, default=256
        Images per forward pass.
    precision : {"32", "bf16-mixed", "16-mixed", "auto"}, default="32"
        As for :func:`predict_logits`. The thresholds mnistkit stores are chosen in float32.

    Returns
    -------
    Predictions
        Labels (-1 where rejected), best guesses, probabilities, scores and the mask.

    Raises
    ------
    ConfigError
        If ``reject`` is not a :class:`~mnistkit.metrics.RejectionThreshold` (a model
        file without a threshold has ``None`` there).
    """
    rule = _check_rule(reject)
    logits = predict_logits(
        model, images, device=device, batch_size=batch_size, precision=precision
    )
    if logits.numel() == 0:
        empty = torch.empty(0, dtype=torch.int64)
        return Predictions(
            empty, empty, logits, torch.empty(0, dtype=torch.float64),
            torch.empty(0, dtype=torch.bool), rule,
        )  # fmt: skip
    probs = torch.softmax(logits, dim=1)
    scores = rule.scores(logits)
    rejected = scores < rule.threshold
    best = probs.argmax(dim=1)
    labels = torch.where(rejected, torch.full_like(best, REJECTED), best)
    return Predictions(labels, best, probs, scores, rejected, rule)


def default_score(model: nn.Module) -> str:
    """The kind of "not a digit" score that suits ``model``.

    ``"energy"`` (:func:`mnistkit.metrics.ood_scores`), which separated digits from
    Fashion-MNIST better than the maximum probability for every recipe measured
    (``benchmarks/RESULTS.md``), for a model returning logits; ``"msp"`` for an
    :class:`~mnistkit.models.Ensemble` or :class:`~mnistkit.models.TestTimeAugmentation`,
    which return log-probabilities, whose energy is always 0.

    Parameters
    ----------
    model : torch.nn.Module
        The model.

    Returns
    -------
    str
        ``"energy"`` or ``"msp"``.
    """
    return "msp" if isinstance(model, Ensemble | TestTimeAugmentation) else "energy"


def choose_rejection_threshold(
    model: nn.Module,
    images: ImagesLike,
    *,
    keep: float = 0.99,
    score: str | None = None,
    temperature: float = 1.0,
    chosen_on: str = "",
    device: DeviceLike | None = None,
    batch_size: int = 256,
) -> RejectionThreshold:
    """The rejection threshold that keeps a share ``keep`` of ``images``.

    Give it digits the model was not trained on (a validation split): on its own training
    digits a model is more confident than on new ones, so a threshold chosen there keeps
    fewer than ``keep`` of new digits. Computed in float32.

    Parameters
    ----------
    model : torch.nn.Module
        As for :func:`predict_logits`.
    images : tensor or array
        Held-out in-distribution images (see :data:`ImagesLike`).
    keep : float, default=0.99
        Share of them to keep, in ``(0, 1]``.
    score : {"msp", "energy"}, optional
        The kind of score; default: :func:`default_score` of ``model``.
    temperature : float, default=1.0
        The score's temperature.
    chosen_on : str, default=""
        Which images these are, in words; stored with the threshold.
    device : str or torch.device, optional
        Defaults to the device of the model's parameters.
    batch_size : int, default=256
        Images per forward pass.

    Returns
    -------
    RejectionThreshold
        Store it with :func:`mnistkit.checkpoints.set_rejection_threshold`, or pass it to
        :func:`predict`.

    Raises
    ------
    ConfigError
        For no images, an unknown score or ``keep`` outside ``(0, 1]``.
    """
    kind = default_score(model) if score is None else score
    logits = predict_logits(model, images, device=device, batch_size=batch_size)
    if logits.numel() == 0:
        raise ConfigError("Argument 'images' must hold at least one image, but it is empty")
    scores = RejectionThreshold(0.0, score=kind, temperature=temperature).scores(logits)
    return RejectionThreshold.from_scores(
        scores, keep=keep, score=kind, temperature=temperature, chosen_on=chosen_on
    )


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
