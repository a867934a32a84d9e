"""The fast data path: a whole split as one tensor on the device, batched by indexing.

MNIST is small (60,000 × 784 bytes = 47 MB), so instead of decoding one PIL image at a time in
a :class:`torch.utils.data.DataLoader`, :class:`DeviceLoader` moves the ``uint8`` images to the
target device once and builds each mini-batch with one index operation and one conversion to
float pixels in [0, 1] (the model normalises them itself, see
:class:`mnistkit.models.Normalize`). On a CPU this is two orders of magnitude faster than
``torchvision.datasets.MNIST`` with ``ToTensor``/``Normalize`` (``benchmarks/bench_data.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypeAlias

import torch

from mnistkit._pixels import pixels_to_float
from mnistkit._validation import check_bool, check_int, check_number
from mnistkit.augment import Augment as _Augment
from mnistkit.datasets import Split
from mnistkit.devices import DeviceLike, resolve_device
from mnistkit.exceptions import ConfigError

__all__ = ["Augment", "DeviceLoader", "train_val_split"]

#: An on-device augmentation: takes a float batch (B, 1, 28, 28) and a CPU generator for
#: randomness, returns a batch of the same shape. Defined in :mod:`mnistkit.augment`
#: (:data:`mnistkit.augment.Augment`, the same object); also importable from here.
Augment: TypeAlias = _Augment


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
    num_replicas : int, default=1
        The number of data-parallel ranks sharing each epoch (see
        :mod:`mnistkit.distributed`). Every rank must pass a generator seeded alike: they
        all draw the same permutation and each takes its part of every global batch of
        ``batch_size`` examples (:func:`torch.tensor_split`: parts differ by at most one
        example; the last, smaller batch is split the same way and may leave a rank an
        empty part). So within an epoch no example is seen twice and, unless
        ``drop_last``, every example once; every rank has ``len(loader)`` batches.
    rank : int, default=0
        This rank's index, in ``[0, num_replicas)``.

    Attributes
    ----------
    last_order : torch.Tensor or None
        int64 indices (into ``split``, on the CPU) of the examples this rank drew in the
        last epoch iterated, in the order drawn; ``None`` before the first.

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
        num_replicas: int = 1,
        rank: int = 0,
    ) -> None:
        self.batch_size = check_int(batch_size, "batch_size")
        self.num_replicas = check_int(num_replicas, "num_replicas")
        self.rank = check_int(rank, "rank", minimum=0)
        if self.rank >= self.num_replicas:
            raise ConfigError(
                f"Argument 'rank' must be in [0, num_replicas={num_replicas}), but got {rank}"
            )
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
        self.last_order: torch.Tensor | None = None

    def __len__(self) -> int:
        n = int(self.images.shape[0])
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    @property
    def num_examples(self) -> int:
        """Number of examples per epoch over all ranks (before ``drop_last``)."""
        return int(self.images.shape[0])

    def global_batch_size(self, batch: int) -> int:
        """The number of examples in step ``batch`` of an epoch, over all ranks.

        Parameters
        ----------
        batch : int
            Index of the step in the epoch, from 0.

        Returns
        -------
        int
            ``batch_size``, or fewer for the last step.
        """
        return max(0, min(self.batch_size, self.num_examples - batch * self.batch_size))

    def __repr__(self) -> str:
        return (
            f"DeviceLoader(n={self.num_examples}, batch_size={self.batch_size}, "
            f"device={str(self.device)!r}, shuffle={self.shuffle}"
            + (f", rank={self.rank}/{self.num_replicas})" if self.num_replicas > 1 else ")")
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
        return pixels_to_float(images.unsqueeze(1))

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        if self.num_replicas > 1:
            yield from self._iter_shard()
            return
        n = self.num_examples
        order: torch.Tensor | None = None
        stop = n - n % self.batch_size if self.drop_last else n
        if self.shuffle:
            cpu_order = torch.randperm(n, generator=self.generator)
            self.last_order = cpu_order[:stop]
            order = cpu_order.to(self.device)
        else:
            self.last_order = torch.arange(stop)
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

    def _iter_shard(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """This rank's part of every global batch of the epoch's shared permutation."""
        n = self.num_examples
        order = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        augment_generator = self.generator
        if self.augment is not None:
            # the shared generator must advance alike on every rank (their parts differ in
            # size), so each rank augments with its own generator seeded from it
            seed = int(torch.randint(2**62, (), generator=self.generator))
            augment_generator = torch.Generator()
            augment_generator.manual_seed(seed + self.rank)
        stop = n - n % self.batch_size if self.drop_last else n
        parts = [
            order[start : min(start + self.batch_size, n)].tensor_split(self.num_replicas)[
                self.rank
            ]
            for start in range(0, stop, self.batch_size)
        ]
        self.last_order = torch.cat(parts) if parts else order[:0]
        local = self.last_order.to(self.device)
        offset = 0
        for part in parts:
            index = local[offset : offset + len(part)]
            offset += len(part)
            batch = self.to_float(self.images[index])  # (b, 1, 28, 28)
            if self.augment is not None:
                batch = self.augment(batch, augment_generator)
            yield batch, self.labels[index]


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
