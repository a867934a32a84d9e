"""An ensemble of classifiers that is used like one model: the mean of their probabilities."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from mnistkit.exceptions import ConfigError
from mnistkit.models._registry import ARCHITECTURE_ATTR, architecture_of

__all__ = ["Ensemble"]


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
            setattr(self, ARCHITECTURE_ATTR, {"name": "ensemble", "config": {"members": records}})

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
        return torch.logsumexp(log_probs, dim=0) - math.log(len(self.members))  # (B, C)
