"""Models used like one model that average probabilities: of several members (an ensemble),
or of one model over shifted copies of each image (test-time augmentation)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from mnistkit.exceptions import ConfigError
from mnistkit.models._registry import (
    architecture_of,
    get_model,
    record_architecture,
    register_model,
)

__all__ = ["ONE_PIXEL_SHIFTS", "Ensemble", "TestTimeAugmentation", "shift_images"]


class Ensemble(nn.Module):
    """Average the class probabilities of several models.

    ``forward`` returns the *logarithm of the mean probabilities*,
    ``log(mean_k softmax(member_k(x)))``: a softmax of it gives back the mean
    probabilities exactly (they already sum to one), so :func:`mnistkit.predict_proba`,
    :meth:`mnistkit.metrics.Report.from_probabilities` and the CLI treat an ensemble like
    any model whose output are logits, and :func:`torch.nn.functional.cross_entropy` of it
    is the ensemble's negative log-likelihood.

    An ensemble of registered models (built by :func:`mnistkit.get_model`, or loaded with
    :func:`mnistkit.load_model`) records their architectures, so :func:`mnistkit.save_model`
    writes it as one safetensors file and :func:`mnistkit.load_model` rebuilds it (as the
    registered model ``"ensemble"``).

    Parameters
    ----------
    members : sequence of torch.nn.Module
        At least one; each maps (B, 1, 28, 28) pixels in [0, 1] to logits (B, C), all with the
        same C.

    Examples
    --------
    >>> import torch
    >>> from mnistkit import get_model
    >>> from mnistkit.models import Ensemble
    >>> ensemble = Ensemble([get_model("linear"), get_model("linear")])
    >>> ensemble(torch.rand(3, 1, 28, 28)).exp().sum(1)  # doctest: +SKIP
    tensor([1.0000, 1.0000, 1.0000], grad_fn=<SumBackward1>)
    """

    def __init__(self, members: Sequence[nn.Module]) -> None:
        super().__init__()
        if isinstance(members, nn.Module) or not isinstance(members, Sequence) or not members:
            raise ConfigError(
                f"Argument 'members' must be a non-empty sequence of torch.nn.Module, but got "
                f"{members!r}"
            )
        for i, member in enumerate(members):
            if not isinstance(member, nn.Module):
                raise ConfigError(
                    f"Argument 'members' must hold torch.nn.Module objects, but members[{i}] "
                    f"is a {type(member).__name__}"
                )
        self.members = nn.ModuleList(members)
        records = [architecture_of(m) for m in members]
        if all(r is not None for r in records):
            record_architecture(self, "ensemble", {"members": records})

    def __len__(self) -> int:
        return len(self.members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The log of the members' mean class probabilities.

        Parameters
        ----------
        x : torch.Tensor
            Pixels in [0, 1], shape (B, 1, 28, 28).

        Returns
        -------
        torch.Tensor
            float32 (B, C): ``log(mean_k softmax(member_k(x)))``; use it as logits.
        """
        # (K, B, C): each member's log-probabilities, in float32 even under autocast
        log_probs = torch.stack([torch.log_softmax(m(x).float(), dim=1) for m in self.members])
        return _log_mean_probabilities(log_probs)


@register_model("ensemble", listed=False)
def _build_ensemble(*, members: Sequence[Mapping[str, Any]]) -> Ensemble:
    """Build an :class:`Ensemble` from its members' ``{"name", "config"}`` records (what
    :func:`~mnistkit.models.architecture_of` gives and a model file's metadata holds)."""
    if isinstance(members, str | Mapping) or not isinstance(members, Sequence) or not members:
        raise ConfigError(
            "Argument 'members' must be a non-empty list of {'name': ..., 'config': {...}} "
            f"records, but got {members!r}"
        )
    built = []
    for i, record in enumerate(members):
        if not isinstance(record, Mapping) or not isinstance(record.get("name"), str):
            raise ConfigError(
                f"Argument 'members' must hold {{'name': ..., 'config': {{...}}}} records, but "
                f"members[{i}] is {record!r}"
            )
        if record["name"] == "ensemble":
            raise ConfigError("An ensemble cannot be a member of an ensemble.")
        config = record.get("config") or {}
        if not isinstance(config, Mapping):
            raise ConfigError(f"members[{i}]['config'] must be a mapping, but got {config!r}")
        built.append(get_model(record["name"], **config))
    return Ensemble(built)


def _log_mean_probabilities(log_probs: torch.Tensor) -> torch.Tensor:
    """(K, B, C) log-probabilities -> (B, C) log of their mean over K, computed stably."""
    return torch.logsumexp(log_probs, dim=0) - math.log(log_probs.shape[0])


#: The views :class:`TestTimeAugmentation` averages by default: the image itself and the
#: image moved by one pixel right, left, down and up, as ``(dx, dy)``.
ONE_PIXEL_SHIFTS: tuple[tuple[int, int], ...] = ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1))


def _check_shifts(shifts: object) -> tuple[tuple[int, int], ...]:
    if isinstance(shifts, str | bytes) or not isinstance(shifts, Sequence) or not shifts:
        raise ConfigError(
            f"Argument 'shifts' must be a non-empty sequence of (dx, dy) pixel pairs, e.g. "
            f"((0, 0), (1, 0)), but got {shifts!r}"
        )
    out = []
    for shift in shifts:
        ok = isinstance(shift, Sequence) and len(shift) == 2
        ok = ok and all(isinstance(v, int) and not isinstance(v, bool) for v in shift)
        if not ok or max(abs(shift[0]), abs(shift[1])) > 27:
            raise ConfigError(
                f"Argument 'shifts' must hold (dx, dy) pairs of integers between -27 and 27, "
                f"but got {shift!r}"
            )
        out.append((int(shift[0]), int(shift[1])))
    return tuple(out)


def shift_images(images: torch.Tensor, dx: int, dy: int) -> torch.Tensor:
    """Move images ``dx`` pixels right and ``dy`` down, filling with zeros (black).

    Parameters
    ----------
    images : torch.Tensor
        Shape (..., H, W).
    dx, dy : int
        Pixels to the right and down; negative values move left and up.

    Returns
    -------
    torch.Tensor
        The same shape; pixels moved past an edge are dropped.
    """
    # a negative pad crops: pad (dx, -dx) on the width moves the content right by dx
    return F.pad(images, (dx, -dx, dy, -dy))


class TestTimeAugmentation(nn.Module):
    """Average a model's class probabilities over shifted copies of each image.

    Each image is classified as itself and as copies moved by a pixel or so
    (:data:`ONE_PIXEL_SHIFTS` by default), and with ``flip=True`` as the mirror images of
    those; ``forward`` returns the log of the mean probabilities, like :class:`Ensemble`,
    so it is used like any model (``predict_proba``, :func:`mnistkit.evaluate`, export).
    No randomness: the views are fixed, the result is deterministic. It costs one forward
    pass per view; all views of a batch go through the model as one batch.

    Test-time augmentation is an inference-time choice: it is not saved in the model file.
    ``mnistkit evaluate --tta`` and ``mnistkit predict --tta`` apply it to a loaded model.

    Parameters
    ----------
    model : torch.nn.Module
        Maps (B, 1, 28, 28) pixels in [0, 1] to logits (B, C); it is switched to eval mode
        with this module.
    shifts : sequence of (int, int), default=ONE_PIXEL_SHIFTS
        The ``(dx, dy)`` moves, in pixels (right and down positive), one view each. Include
        ``(0, 0)`` for the image itself.
    flip : bool, default=False
        Also classify the mirror image (left-right) of every view, doubling the views. For
        data sets whose classes are unchanged by mirroring (clothes: ``mirror_symmetric`` in
        :class:`~mnistkit.datasets.DatasetInfo`), never for digits.
    """

    # not a test class, whatever pytest's name rule says
    __test__ = False

    def __init__(
        self,
        model: nn.Module,
        shifts: Sequence[tuple[int, int]] = ONE_PIXEL_SHIFTS,
        flip: bool = False,
    ) -> None:
        super().__init__()
        if not isinstance(model, nn.Module):
            raise ConfigError(
                f"Argument 'model' must be a torch.nn.Module, but got {type(model).__name__}"
            )
        self.model = model
        self.shifts = _check_shifts(shifts)
        if not isinstance(flip, bool):
            raise ConfigError(f"Argument 'flip' must be True or False, but got {flip!r}")
        self.flip = flip

    @property
    def num_views(self) -> int:
        """How many views each image is classified as (one forward pass each)."""
        return len(self.shifts) * (2 if self.flip else 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The log of the model's mean class probabilities over the views.

        Parameters
        ----------
        x : torch.Tensor
            Pixels in [0, 1], shape (B, 1, 28, 28).

        Returns
        -------
        torch.Tensor
            float32 (B, C): ``log(mean_v softmax(model(view_v(x))))``; use it as logits.
        """
        sources = (x, x.flip(-1)) if self.flip else (x,)
        views = torch.cat([shift_images(s, dx, dy) for s in sources for dx, dy in self.shifts])
        log_probs = torch.log_softmax(self.model(views).float(), dim=1)  # (V*B, C)
        return _log_mean_probabilities(log_probs.reshape(self.num_views, x.shape[0], -1))

    def extra_repr(self) -> str:
        return f"shifts={self.shifts}, flip={self.flip}"
