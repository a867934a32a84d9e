"""The figure of :func:`mnistkit.imaging.explain_preprocessing` (private)."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import torch

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["draw"]

_Row = tuple[npt.NDArray[np.float32], npt.NDArray[np.bool_], torch.Tensor | None, str, str | None]
_COLUMNS = ("picture", "kept as the digit", "what the model sees")


def draw(rows: Sequence[_Row], titles: Sequence[str]) -> Figure:
    """One row per picture: the picture, its kept ink in red over it, the 28x28 digit."""
    import matplotlib.pyplot as plt

    # 7.5 in wide: on a 390 px phone the three columns keep half their size
    fig = plt.figure(figsize=(7.5, 2.5 * len(rows)), layout="constrained")
    axes = fig.subplots(len(rows), 3, squeeze=False)
    for (picture, mask, digit, route, error), title, row in zip(rows, titles, axes, strict=True):
        for ax in row:
            ax.set_xticks([])
            ax.set_yticks([])
        row[0].imshow(picture, cmap="gray", vmin=0.0, vmax=1.0)
        row[0].set_title(f"{title}\n{route}", fontsize=9)
        if error is not None or digit is None:
            row[1].set_axis_off()
            row[2].set_axis_off()
            row[1].text(0.0, 0.5, textwrap.fill(str(error), 60), fontsize=8, va="center", wrap=True)
            continue
        overlay = np.stack([picture] * 3, axis=-1) * 0.6
        overlay[mask] = (1.0, 0.15, 0.1)
        row[1].imshow(overlay)
        row[1].set_title(_COLUMNS[1], fontsize=9)
        row[2].imshow(digit.numpy(), cmap="gray", vmin=0, vmax=255)
        row[2].set_title(_COLUMNS[2], fontsize=9)
    return fig
