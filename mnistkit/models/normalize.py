"""The normalising layer every registered model starts with.

Networks train best on inputs with mean 0 and standard deviation 1, so the pixels in
[0, 1] are shifted and scaled by the training images' mean and standard deviation. Keeping
that step inside the model, with the two numbers stored as buffers (saved in the model
file), means a model file plus ``model(x)`` on [0, 1] pixels is all anyone needs after
training: no constants to carry into prediction code, exports or a web page.
"""

from __future__ import annotations

import torch
from torch import nn

from mnistkit._validation import check_number
from mnistkit.datasets import normalization

__all__ = ["Normalize"]


class Normalize(nn.Module):
    """Shift and scale pixels: ``(x - mean) / std``.

    Parameters
    ----------
    mean : float
        Mean pixel value of the training images, on the [0, 1] scale.
    std : float
        Standard deviation of the training pixels, on the [0, 1] scale; positive.

    Examples
    --------
    Put it first in your own module so that it, too, takes [0, 1] pixels:

    >>> import torch
    >>> from torch import nn
    >>> from mnistkit.models import Normalize
    >>> model = nn.Sequential(
    ...     Normalize.for_dataset("mnist"), nn.Flatten(), nn.Linear(784, 10)
    ... )
    >>> model(torch.rand(2, 1, 28, 28)).shape
    torch.Size([2, 10])
    """

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, mean: float, std: float) -> None:
        super().__init__()
        mean = check_number(mean, "mean", who="Normalize")
        std = check_number(std, "std", low=0, low_open=True, who="Normalize")
        # (1, 1, 1): broadcasts over (B, C, H, W); buffers travel with state_dict()
        self.register_buffer("mean", torch.full((1, 1, 1), mean, dtype=torch.float32))
        self.register_buffer("std", torch.full((1, 1, 1), std, dtype=torch.float32))

    @classmethod
    def for_dataset(cls, name: str) -> Normalize:
        """The normalisation of a registered data set (see :func:`mnistkit.datasets.normalization`).

        Parameters
        ----------
        name : str
            A name from :func:`mnistkit.datasets.list_datasets`.

        Returns
        -------
        Normalize
            With the mean and standard deviation measured on that data set's training
            images (for MNIST and Fashion-MNIST, the published values when the files are
            not on this machine).
        """
        mean, std = normalization(name)
        return cls(mean, std)

    @classmethod
    def from_images(cls, images: torch.Tensor) -> Normalize:
        """Measure the normalisation on your own training images.

        Parameters
        ----------
        images : torch.Tensor
            ``uint8`` pixels in [0, 255] or floats in [0, 1], any shape.

        Returns
        -------
        Normalize
            With the images' mean and standard deviation on the [0, 1] scale.
        """
        values = images.to(torch.float64)
        if images.dtype == torch.uint8:
            values = values / 255.0
        return cls(float(values.mean()), float(values.std()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise a batch.

        Parameters
        ----------
        x : torch.Tensor
            Pixels in [0, 1], shape (B, C, H, W).

        Returns
        -------
        torch.Tensor
            ``(x - mean) / std``, same shape.
        """
        return (x - self.mean) / self.std

    def extra_repr(self) -> str:
        return f"mean={float(self.mean.flatten()[0]):.4f}, std={float(self.std.flatten()[0]):.4f}"
