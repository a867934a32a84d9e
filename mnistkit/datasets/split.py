"""The in-memory containers: :class:`Split` (one split of a data set) and :class:`DatasetSplits`.

A :class:`Split` holds a whole split as one ``uint8`` tensor of images (N×28×28) and one
``int64`` tensor of labels, with the class names and the registry name of the data set it
came from; :func:`~mnistkit.datasets.load` returns the train and test splits of a data set
as a :class:`DatasetSplits`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from mnistkit._pixels import pixels_to_float
from mnistkit.datasets._registry import DatasetInfo
from mnistkit.exceptions import ConfigError

__all__ = ["DatasetSplits", "Split"]


class Split(torch.utils.data.Dataset[tuple[torch.Tensor, int]]):
    """One split of a data set, held whole in memory.

    Parameters
    ----------
    images : torch.Tensor
        ``uint8`` tensor of shape (N, 28, 28), white ink on black as in MNIST.
    labels : torch.Tensor
        ``int64`` tensor of shape (N,).
    classes : sequence of str
        Class names, indexed by label.
    name : str, default=""
        A label for messages and plots, e.g. ``"mnist/test"``.
    dataset : str, optional
        The registry name of the data set the examples come from (``"mnist"``,
        ``"fashion-mnist"``), ``None`` for other data. :func:`~mnistkit.datasets.load` sets it,
        :meth:`subset` and :func:`~mnistkit.loaders.train_val_split` keep it, and a model
        trained on the split records it (see :class:`mnistkit.Trainer`).
    label_columns : mapping of str to torch.Tensor, optional
        Further labels of each example, as a table of named columns beside ``labels``, each
        of shape (N,): QMNIST's extended labels (``"writer_id"``, ``"nist_series"``, ...).
        ``pandas.DataFrame(split.label_columns)`` shows them as a table. Kept by
        :meth:`subset`.

    Notes
    -----
    Indexing (``split[i]``) returns ``(image, label)`` with the image as a float32 tensor of
    shape (1, 28, 28) scaled to [0, 1] (what torchvision's ``ToTensor`` gives), so a ``Split``
    can be handed to a :class:`torch.utils.data.DataLoader`. For speed, train through
    :class:`mnistkit.loaders.DeviceLoader` instead, which batches by indexing whole tensors.
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        classes: Sequence[str],
        name: str = "",
        *,
        dataset: str | None = None,
        label_columns: Mapping[str, torch.Tensor] | None = None,
    ) -> None:
        if dataset is not None and not isinstance(dataset, str):
            raise ConfigError(
                f"Argument 'dataset' must be a data set name (str) or None but got {dataset!r}."
            )
        if images.dtype != torch.uint8 or images.ndim != 3:
            raise ConfigError(
                f"Argument 'images' must be a uint8 tensor of shape (N, H, W) but got dtype "
                f"{images.dtype} and shape {tuple(images.shape)}."
            )
        if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
            raise ConfigError(
                f"Argument 'labels' must be a 1-D tensor with one label per image "
                f"({images.shape[0]}) but got shape {tuple(labels.shape)}."
            )
        columns = dict(label_columns or {})
        for column, values in columns.items():
            if values.ndim != 1 or values.shape[0] != images.shape[0]:
                raise ConfigError(
                    f"Argument 'label_columns' must hold 1-D tensors with one value per image "
                    f"({images.shape[0]}) but column {column!r} has shape {tuple(values.shape)}."
                )
        self.label_columns: dict[str, torch.Tensor] = columns
        self.images = images
        self.labels = labels.to(torch.int64)
        self.classes: tuple[str, ...] = tuple(classes)
        self.name = name
        self.dataset = dataset
        if len(self.labels) and (
            int(self.labels.min()) < 0 or int(self.labels.max()) >= len(self.classes)
        ):
            raise ConfigError(
                f"Argument 'labels' must lie in [0, {len(self.classes)}) for "
                f"{len(self.classes)} classes but ranges over "
                f"[{int(self.labels.min())}, {int(self.labels.max())}]."
            )

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image = pixels_to_float(self.images[index].unsqueeze(0))  # (1, 28, 28)
        return image, int(self.labels[index])

    def __repr__(self) -> str:
        return (
            f"Split(name={self.name!r}, n={len(self)}, image_shape={tuple(self.images.shape[1:])},"
            f" classes={len(self.classes)})"
        )

    def _repr_html_(self, *, shown: int = 12) -> str:
        """Jupyter's rich display: size, classes, and a strip of the first digits."""
        from mnistkit import _html

        title = f"Split {self.name!r}" if self.name else "Split"
        facts = [
            ("images", len(self)),
            ("image shape", " × ".join(str(d) for d in self.images.shape[1:])),
            ("classes", f"{len(self.classes)}: {', '.join(self.classes)}"),
        ]
        strip = _html.digit_strip(
            self.images[:shown], self.labels[:shown], self.classes, alt=f"{title}: first digits"
        )
        return f"<div>{_html.table(facts, caption=title)}{strip}</div>"

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.classes)

    def class_counts(self) -> torch.Tensor:
        """Number of examples of each class.

        Returns
        -------
        torch.Tensor
            ``int64``, of length :attr:`num_classes`.
        """
        return torch.bincount(self.labels, minlength=self.num_classes)

    def subset(self, indices: torch.Tensor | Sequence[int] | slice) -> Split:
        """A new split holding the examples at ``indices`` (copied, not a view).

        Parameters
        ----------
        indices : torch.Tensor, sequence of int or slice
            Positions of the examples to keep, in the order wanted.

        Returns
        -------
        Split
            With the same class names, name and data set.
        """
        if isinstance(indices, slice):
            images, labels = self.images[indices].clone(), self.labels[indices].clone()
            columns = {k: v[indices].clone() for k, v in self.label_columns.items()}
        else:
            index = torch.as_tensor(indices, dtype=torch.int64)
            images, labels = self.images[index], self.labels[index]
            columns = {k: v[index] for k, v in self.label_columns.items()}
        return Split(
            images,
            labels,
            self.classes,
            name=self.name,
            dataset=self.dataset,
            label_columns=columns or None,
        )


@dataclass(frozen=True, slots=True)
class DatasetSplits:
    """The train and test splits of one data set, as :func:`load` returns them.

    Parameters
    ----------
    info : DatasetInfo
        What mnistkit knows about the data set.
    train : Split
        The training split.
    test : Split
        The test split.
    root : pathlib.Path
        The data folder the files were read from.
    """

    info: DatasetInfo
    train: Split
    test: Split
    root: Path

    @property
    def classes(self) -> tuple[str, ...]:
        """Class names, indexed by label."""
        return self.info.classes

    @property
    def name(self) -> str:
        """The registry name."""
        return self.info.name

    def _repr_html_(self) -> str:
        """Jupyter's rich display: the data set's splits, each with a strip of digits."""
        from mnistkit import _html

        parts = [
            _html.table(
                [
                    ("train", len(self.train)),
                    ("test", len(self.test)),
                    ("classes", ", ".join(self.classes)),
                    ("folder", str(self.root)),
                ],
                caption=f"{self.info.title} ({self.info.name!r})",
            )
        ]
        for label, split in (("train", self.train), ("test", self.test)):
            parts.append(f'<div style="font-size:smaller">{label}: the first digits</div>')
            parts.append(
                _html.digit_strip(
                    split.images[:12],
                    split.labels[:12],
                    self.classes,
                    alt=f"{split.name or self.name}: first digits",
                )
            )
        return "<div>" + "".join(parts) + "</div>"

    def __repr__(self) -> str:
        return (
            f"DatasetSplits(name={self.info.name!r}, train={len(self.train)}, "
            f"test={len(self.test)}, root={str(self.root)!r})"
        )
