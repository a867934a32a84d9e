"""``uint8`` pixels to float pixels in [0, 1], in one place (private).

A data set's :class:`~mnistkit.datasets.Split` indexed one image at a time, the
:class:`~mnistkit.loaders.DeviceLoader`'s batches and the images handed to
:func:`~mnistkit.inference.predict_proba` all turn ``uint8`` pixels into floats here, so a
digit is the same float tensor whichever way it reaches a model.
"""

from __future__ import annotations

import torch

__all__ = ["pixels_to_float"]


def pixels_to_float(images: torch.Tensor) -> torch.Tensor:
    """``uint8`` pixels in [0, 255] as float32 pixels in [0, 1], of the same shape.

    Dividing by 255 (not multiplying by its rounded reciprocal) gives the correctly rounded
    value for each of the 256 levels, which is also what torchvision's ``ToTensor`` gives.

    Parameters
    ----------
    images : torch.Tensor
        ``uint8``, any shape, on any device.

    Returns
    -------
    torch.Tensor
        float32, a new tensor on the same device.
    """
    return images.to(torch.float32).div_(255.0)
