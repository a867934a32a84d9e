"""Synthetic pictures that are no digit, for outlier exposure.

A digit classifier learns what digits look like, never what they do not. Showing it
pictures that are no digit and teaching it to give them a uniform answer (outlier exposure:
Hendrycks, Mazeika and Dietterich, ICLR 2019) makes its scores (:func:`mnistkit.metrics.ood_scores`)
tell digits from other pictures far better. :func:`synthetic_non_digits` draws such
pictures from four families that need no data set: noise, blobs, scribbles of straight
strokes and geometric shapes. :class:`mnistkit.TrainConfig`'s ``outlier_exposure`` weight
makes the :class:`~mnistkit.Trainer` add a batch of them to every training step.

Every picture comes from the :class:`torch.Generator` given, so the same generator state
gives the same pictures; :func:`step_generator` derives one from a run's seed and a step's
position, so that a resumed run draws the pictures an uninterrupted one would have.
"""

from __future__ import annotations

import hashlib
import itertools

import torch
import torch.nn.functional as F

from mnistkit._validation import check_int, fail

__all__ = ["KINDS", "step_generator", "synthetic_non_digits"]

#: The four families of pictures, in the order of the ``kind`` drawn for each.
KINDS: tuple[str, ...] = ("noise", "blobs", "scribble", "shapes")

_SIZE = 28


def step_generator(seed: int, *position: int) -> torch.Generator:
    """A CPU generator seeded from a run's ``seed`` and a position in it.

    Parameters
    ----------
    seed : int
        The run's seed.
    *position : int
        Where in the run, e.g. ``(epoch, step, rank)``.

    Returns
    -------
    torch.Generator
        Seeded from a hash of all the numbers, so that nearby positions give unrelated
        streams.
    """
    key = "/".join(str(int(n)) for n in (seed, *position)).encode()
    digest = hashlib.blake2b(key, digest_size=8, person=b"mnistkit-oe").digest()
    return torch.Generator().manual_seed(int.from_bytes(digest, "little") >> 1)


def synthetic_non_digits(count: int, *, generator: torch.Generator) -> torch.Tensor:
    """``count`` 28x28 pictures that are no digit, float32 (N, 1, 28, 28) in [0, 1].

    Each picture is, with equal chance, one of :data:`KINDS`: uniform noise (sometimes
    smoothed, sometimes thresholded to black and white); one to four Gaussian blobs; a
    scribble of 3 to 11 random straight strokes of random width; one to three filled or
    hollow rectangles and ellipses. Each is scaled so that its brightest pixel is about 1,
    as a digit's is, so brightness alone does not give it away.

    Parameters
    ----------
    count : int
        How many pictures (>= 0).
    generator : torch.Generator
        A CPU generator; all the randomness comes from it, so the same state gives the
        same pictures.

    Returns
    -------
    torch.Tensor
        float32 (count, 1, 28, 28), on the CPU, pixels in [0, 1] like a
        :class:`~mnistkit.loaders.DeviceLoader`'s batches (``(x * 255).round()`` gives the
        ``uint8`` pixels of a :class:`~mnistkit.datasets.Split`).
    """
    count = check_int(count, "count", minimum=0, who="synthetic_non_digits")
    if not isinstance(generator, torch.Generator) or generator.device.type != "cpu":
        raise fail("generator", generator, "a CPU torch.Generator", who="synthetic_non_digits")
    yy, xx = torch.meshgrid(torch.arange(float(_SIZE)), torch.arange(float(_SIZE)), indexing="ij")
    out = torch.empty(count, _SIZE, _SIZE)
    for i in range(count):
        kind = _integer(generator, 0, len(KINDS))
        if kind == 0:
            image = _noise(generator)
        elif kind == 1:
            image = _blobs(generator, yy, xx)
        elif kind == 2:
            image = _scribble(generator, torch.stack([yy, xx], -1))
        else:
            image = _shapes(generator, yy, xx)
        out[i] = image / (image.max() + 1e-6)
    return out.unsqueeze(1)


def _uniform(generator: torch.Generator, n: int = 1) -> torch.Tensor:
    return torch.rand(n, generator=generator)


def _integer(generator: torch.Generator, low: int, high: int) -> int:
    return int(torch.randint(low, high, (1,), generator=generator))


def _noise(generator: torch.Generator) -> torch.Tensor:
    image = torch.rand(1, 1, _SIZE, _SIZE, generator=generator)
    radius = _integer(generator, 0, 3)
    if radius:  # smoothed noise looks like texture rather than static
        image = F.avg_pool2d(image, 2 * radius + 1, 1, radius, count_include_pad=False)
    image = image[0, 0]
    image = (image - image.min()) / (image.max() - image.min() + 1e-6)
    if float(_uniform(generator)) < 0.5:
        image = (image > float(_uniform(generator)) * 0.5 + 0.3).float()
    return image


def _blobs(generator: torch.Generator, yy: torch.Tensor, xx: torch.Tensor) -> torch.Tensor:
    image = torch.zeros(_SIZE, _SIZE)
    for _ in range(_integer(generator, 1, 5)):
        cy, cx = (_uniform(generator, 2) * 24 + 2).tolist()
        sy, sx = (_uniform(generator, 2) * 6 + 1.5).tolist()
        image += torch.exp(-((yy - cy) ** 2 / (2 * sy**2) + (xx - cx) ** 2 / (2 * sx**2)))
    return image


def _scribble(generator: torch.Generator, grid: torch.Tensor) -> torch.Tensor:
    # strokes drawn as a Gaussian of each pixel's distance to the nearest segment: pen-like,
    # the closest family to a digit
    points = torch.rand(_integer(generator, 4, 12), 2, generator=generator) * 24 + 2
    width = float(_uniform(generator)) * 1.2 + 0.8
    distance = torch.full((_SIZE, _SIZE), 1e9)
    for a, b in itertools.pairwise(points):
        ab = b - a
        t = (((grid - a) @ ab) / (ab @ ab + 1e-9)).clamp(0, 1)
        nearest = a + t[..., None] * ab
        distance = torch.minimum(distance, ((grid - nearest) ** 2).sum(-1))
    return torch.exp(-distance / (2 * width**2))


def _shapes(generator: torch.Generator, yy: torch.Tensor, xx: torch.Tensor) -> torch.Tensor:
    image = torch.zeros(_SIZE, _SIZE)
    for _ in range(_integer(generator, 1, 4)):
        cy, cx = (_uniform(generator, 2) * 20 + 4).tolist()
        ry, rx = (_uniform(generator, 2) * 10 + 2).tolist()
        if float(_uniform(generator)) < 0.5:  # ellipse
            r = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2
        else:  # rectangle
            r = torch.maximum(((yy - cy) / ry).abs(), ((xx - cx) / rx).abs()) ** 2
        shape = (r <= 1).float()
        if float(_uniform(generator)) < 0.4:  # hollow
            shape = shape * (r >= 0.5).float()
        image = torch.maximum(image, shape * (0.5 + 0.5 * float(_uniform(generator))))
    return image
