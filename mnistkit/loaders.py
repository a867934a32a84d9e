"""The fast data path: a whole split as one tensor on the device, batched by indexing.

MNIST is small (60,000 × 784 bytes = 47 MB), so instead of decoding one PIL image at a time in
a :class:`torch.utils.data.DataLoader`, :class:`DeviceLoader` moves the ``uint8`` images to the
target device once and builds each mini-batch with one index operation and one conversion to
float pixels in [0, 1] (the model normalises them itself, see
:class:`mnistkit.models.Normalize`). On a CPU this is two orders of magnitude faster than
``torchvision.datasets.MNIST`` with ``ToTensor``/``Normalize`` (``benchmarks/bench_data.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch

from mnistkit._validation import check_bool, check_int, check_number
from mnistkit.datasets import Split
from mnistkit.devices import DeviceLike, resolve_device
from mnistkit.exceptions import ConfigError

__all__ = ["Augment", "DeviceLoader", "train_val_split"]

#: An on-device augmentation: takes a float batch (B, 1, 28, 28) and a CPU generator for
#: randomness, returns a batch of the same shape.
Augment = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


class DeviceLoader:
    """Iterate over shuffled mini-batches of a split held on one device.

    Parameters
    ----------
    split : Split
        The examples.
    batch_size : int, default=128
        Examples per batch.
    device : str or torch.device, default="cpu"
        Where the whole split and every batch live (see :func:`mnistkit.devices.resolve_device`).
    shuffle : bool, default=False
        Draw a new permutation each epoch from ``generator``.
    generator : torch.Generator, optional
        CPU generator for shuffling and augmentation; seed it for reproducible order. A fresh
        generator seeded with 0 is used if omitted.
    drop_last : bool, default=False
        Drop the last, smaller batch.
    augment : callable, optional
        Applied to each batch of [0, 1] pixels (see :data:`Augment`).

    Yields
    ------
    images : torch.Tensor
        float32 pixels in [0, 1], shape (B, 1, 28, 28), on ``device``.
    labels : torch.Tensor
        int64, shape (B,), on ``device``.

    Examples
    --------
    >>> loader = DeviceLoader(mnist.train, batch_size=64, shuffle=True)  # doctest: +SKIP
    >>> images, labels = next(iter(loader))  # doctest: +SKIP
    """

    def __init__(
        self,
        split: Split,
        *,
        batch_size: int = 128,
        device: DeviceLike = "cpu",
        shuffle: bool = False,
        generator: torch.Generator | None = None,
        drop_last: bool = False,
        augment: Augment | None = None,
    ) -> None:
        self.batch_size = check_int(batch_size, "batch_size")
        self.device = resolve_device(device)
        self.shuffle = check_bool(shuffle, "shuffle")
        self.drop_last = check_bool(drop_last, "drop_last")
        self.augment = augment
        if generator is None:
            generator = torch.Generator()
            generator.manual_seed(0)
        self.generator = generator
        self.split = split
        self.classes = split.classes
        self.images = split.images.to(self.device)  # (N, 28, 28) uint8, resident
        self.labels = split.labels.to(self.device)  # (N,) int64

    def __len__(self) -> int:
        n = int(self.images.shape[0])
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    @property
    def num_examples(self) -> int:
        """Number of examples per epoch (before ``drop_last``)."""
        return int(self.images.shape[0])

    def __repr__(self) -> str:
        return (
            f"DeviceLoader(n={self.num_examples}, batch_size={self.batch_size}, "
            f"device={str(self.device)!r}, shuffle={self.shuffle})"
        )

    @staticmethod
    def to_float(images: torch.Tensor) -> torch.Tensor:
        """Turn ``uint8`` images into float32 pixels in [0, 1] with a channel axis.

        Parameters
        ----------
        images : torch.Tensor
            uint8, shape (B, H, W).

        Returns
        -------
        torch.Tensor
            float32, shape (B, 1, H, W).
        """
        return images.unsqueeze(1).to(torch.float32).mul_(1.0 / 255.0)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = self.num_examples
        order: torch.Tensor | None = None
        if self.shuffle:
            order = torch.randperm(n, generator=self.generator).to(self.device)
        stop = n - n % self.batch_size if self.drop_last else n
        for start in range(0, stop, self.batch_size):
            end = min(start + self.batch_size, n)
            if order is None:
                images, labels = self.images[start:end], self.labels[start:end]
            else:
                index = order[start:end]
                images, labels = self.images[index], self.labels[index]
            batch = self.to_float(images)  # (B, 1, 28, 28)
            if self.augment is not None:
                batch = self.augment(batch, self.generator)
            yield batch, labels


def train_val_split(
    split: Split,
    *,
    val_fraction: float = 0.1,
    seed: int = 0,
) -> tuple[Split, Split]:
    """Split ``split`` into training and validation parts, stratified by class.

    Parameters
    ----------
    split : Split
        Usually the training split of a data set.
    val_fraction : float, default=0.1
        Share of each class moved to the validation part, in (0, 1).
    seed : int, default=0
        Seed of the permutation, so the same call always gives the same parts.

    Returns
    -------
    (Split, Split)
        The training part and the validation part; each keeps the class balance of ``split``.
    """
    check_number(val_fraction, "val_fraction", low=0, high=1, low_open=True, high_open=True)
    generator = torch.Generator()
    generator.manual_seed(seed)
    labels = split.labels.cpu()
    train_parts: list[torch.Tensor] = []
    val_parts: list[torch.Tensor] = []
    for label in range(split.num_classes):
        members = torch.nonzero(labels == label).flatten()
        members = members[torch.randperm(len(members), generator=generator)]
        n_val = round(len(members) * val_fraction)
        val_parts.append(members[:n_val])
        train_parts.append(members[n_val:])
    train_index = torch.cat(train_parts).sort().values
    val_index = torch.cat(val_parts).sort().values
    if len(train_index) == 0 or len(val_index) == 0:
        raise ConfigError(
            f"val_fraction={val_fraction} leaves an empty part for a split of {len(split)} "
            "examples; use a fraction nearer 0.5 or a larger split."
        )
    train = split.subset(train_index)
    val = split.subset(val_index)
    train.name = f"{split.name}[train]"
    val.name = f"{split.name}[val]"
    return train, val
