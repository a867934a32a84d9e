"""On-device augmentation of training batches: small steps that compose.

Every class here is an :data:`Augment`: called with a float batch
(B, C, H, W) of [0, 1] pixels on any device and a CPU :class:`torch.Generator`, it returns a
new batch of the same shape, dtype and device. The random parameters of a whole batch are
drawn at once from that generator on the CPU and then moved to the batch's device, so a
seeded run draws the same augmentations on a CPU and a GPU, and the warping itself is one
batched call (:func:`torch.nn.functional.affine_grid` + :func:`~torch.nn.functional.grid_sample`)
wherever the batch lives. The labels are untouched: each image stays in its place in the
batch.

Digits must not be flipped (a mirrored 2 is not a 2); small rotations, scalings, shifts and
elastic distortions keep them what they are. Clothes keep their class when mirrored left to
right and when shifted, so Fashion-MNIST takes :class:`RandomHorizontalFlip` and
:class:`RandomCrop`::

    from mnistkit.augment import Compose, RandomAffine, RandomCrop, RandomHorizontalFlip
    digits = RandomAffine(degrees=10, translate=0.1, scale=(0.9, 1.1))
    clothes = Compose(RandomHorizontalFlip(), RandomCrop(padding=2))
    Trainer(model, config, augment=digits)

:class:`RandomErasing` blanks out a random rectangle of some images (Zhong et al., "Random
Erasing Data Augmentation", 2017), which teaches a network not to rely on any one part of
the picture.

Each step is a frozen dataclass whose arguments are checked when it is made; its ``repr``
and its ``to_dict()`` (recorded in ``metrics.json``) are both read off its fields.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeAlias, cast

import torch
import torch.nn.functional as F

from mnistkit._validation import check_int, check_number, fail

__all__ = [
    "Augment",
    "Compose",
    "ElasticDistortion",
    "RandomAffine",
    "RandomCrop",
    "RandomErasing",
    "RandomHorizontalFlip",
    "describe",
]


#: An on-device augmentation: takes a float batch (B, 1, 28, 28) and a CPU generator for
#: randomness, returns a batch of the same shape. Also importable as
#: :data:`mnistkit.loaders.Augment`.
Augment: TypeAlias = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


def describe(augment: Augment | None) -> Any:
    """An augmentation as plain data, for records such as ``metrics.json``.

    Parameters
    ----------
    augment : callable or None
        An :data:`Augment`.

    Returns
    -------
    dict, str or None
        Its ``to_dict()`` when it has one (every class of this module does), else its
        ``repr``; ``None`` for ``None``.
    """
    if augment is None:
        return None
    to_dict = getattr(augment, "to_dict", None)
    return to_dict() if callable(to_dict) else repr(augment)


class _Step:
    """What every augmentation step shares: its ``repr`` and ``to_dict()``, both read off its
    dataclass fields, so that a new setting shows in both without further code.

    A field with ``repr=False`` is derived state, in neither; a field with
    ``metadata={"varargs": True}`` holds the steps given positionally (:class:`Compose`).
    """

    __slots__ = ()
    #: The step's name in :meth:`to_dict`, e.g. ``"random_affine"``.
    _name: ClassVar[str]

    def _settings(self) -> list[tuple[dataclasses.Field[Any], Any]]:
        return [(f, getattr(self, f.name)) for f in dataclasses.fields(cast(Any, self)) if f.repr]

    def __repr__(self) -> str:
        parts: list[str] = []
        for f, value in self._settings():
            if f.metadata.get("varargs"):
                parts.extend(repr(v) for v in value)
            else:
                parts.append(f"{f.name}={value!r}")
        return f"{type(self).__name__}({', '.join(parts)})"

    def to_dict(self) -> dict[str, Any]:
        """The step's name and settings.

        Returns
        -------
        dict
            JSON-serialisable: pairs become lists, steps their own ``to_dict()``.
        """
        return {"name": self._name, **{f.name: _plain(v) for f, v in self._settings()}}

    def _set(self, name: str, value: object) -> None:
        """Store a checked value on the frozen instance (from ``__post_init__`` only)."""
        object.__setattr__(self, name, value)


def _plain(value: object) -> Any:
    """A setting as JSON data: tuples as lists, augmentations as :func:`describe` gives them."""
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if callable(value):
        return describe(value)
    return value


def _pair(value: float | tuple[float, float]) -> tuple[float, float]:
    """A range field after ``__post_init__``, which made every number a ``(low, high)`` pair."""
    return cast(tuple[float, float], value)


def _check_batch(images: torch.Tensor, who: str) -> None:
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise fail("images", shape, "a float tensor of shape (B, C, H, W)", who=who)
    if not images.is_floating_point():
        raise fail("images", images.dtype, "floating point pixels in [0, 1]", who=who)


def _uniform(n: int, low: float, high: float, generator: torch.Generator) -> torch.Tensor:
    """``n`` float64 numbers drawn uniformly from [low, high) on the CPU."""
    return torch.rand(n, generator=generator, dtype=torch.float64) * (high - low) + low


def _range(
    value: object, name: str, who: str, *, low: float, default_centre: float
) -> tuple[float, float]:
    """A number ``v`` (meaning ``[centre - v, centre + v]``) or a pair ``(lo, hi)``."""
    if isinstance(value, tuple | list):
        if len(value) != 2:
            raise fail(name, value, "a number or a pair (low, high)", who=who)
        lo = check_number(value[0], name, low=low, who=who)
        hi = check_number(value[1], name, low=low, who=who)
        if lo > hi:
            raise fail(name, value, "a pair (low, high) with low <= high", who=who)
        return lo, hi
    half = check_number(value, name, low=0, who=who)
    return default_centre - half, default_centre + half


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class RandomAffine(_Step):
    """Random rotation, scaling, shift and shear of every image: one warp per batch.

    Each image gets its own angle, scale, shift and shear, drawn uniformly; the batch is
    resampled bilinearly in one :func:`~torch.nn.functional.grid_sample` call, with zeros
    (the black background) shown where the warp reaches outside the image.

    Parameters
    ----------
    degrees : float or (float, float), default=10.0
        Rotation in degrees: ``d`` draws from [-d, d], a pair from [low, high]. Stored as
        the pair, like ``scale`` and ``shear``.
    translate : float, default=0.1
        Largest shift as a fraction of the image's width (horizontally) and height
        (vertically), in [0, 1): 0.1 moves a 28-pixel digit by up to 2.8 pixels.
    scale : (float, float), default=(0.9, 1.1)
        Range of the zoom factor (positive); ``(1, 1)`` keeps the size.
    shear : float or (float, float), default=0.0
        Horizontal shear angle in degrees, as ``degrees``.

    Examples
    --------
    >>> import torch
    >>> from mnistkit.augment import RandomAffine
    >>> g = torch.Generator().manual_seed(0)
    >>> RandomAffine(degrees=10)(torch.rand(4, 1, 28, 28), g).shape
    torch.Size([4, 1, 28, 28])
    """

    _name: ClassVar[str] = "random_affine"

    degrees: float | tuple[float, float] = 10.0
    translate: float = 0.1
    scale: tuple[float, float] = (0.9, 1.1)
    shear: float | tuple[float, float] = 0.0

    def __post_init__(self) -> None:
        who = "RandomAffine"
        degrees = _range(self.degrees, "degrees", who, low=-180, default_centre=0.0)
        translate = check_number(
            self.translate, "translate", low=0, high=1, high_open=True, who=who
        )
        if not isinstance(self.scale, tuple | list) or len(self.scale) != 2:
            raise fail("scale", self.scale, "a pair (low, high) of positive numbers", who=who)
        scale = _range(self.scale, "scale", who, low=1e-3, default_centre=1.0)
        shear = _range(self.shear, "shear", who, low=-89, default_centre=0.0)
        for name, (lo, hi), limit in (("degrees", degrees, 180), ("shear", shear, 89)):
            if hi > limit:
                raise fail(name, (lo, hi), f"angles in [-{limit}, {limit}]", who=who)
        self._set("degrees", degrees)
        self._set("translate", translate)
        self._set("scale", scale)
        self._set("shear", shear)

    def matrices(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """Draw ``n`` sampling matrices for :func:`~torch.nn.functional.affine_grid`.

        Parameters
        ----------
        n : int
            Images in the batch.
        generator : torch.Generator
            CPU generator the parameters are drawn from.

        Returns
        -------
        torch.Tensor
            float64 (n, 2, 3) on the CPU, in normalised coordinates ([-1, 1] across the
            image): each maps an output pixel to the input position it samples, so it is
            the inverse of the rotation/scale/shear/shift applied to the image.
        """
        angle = torch.deg2rad(_uniform(n, *_pair(self.degrees), generator))
        scale = _uniform(n, *self.scale, generator)
        shear = torch.deg2rad(_uniform(n, *_pair(self.shear), generator))
        shift = _uniform(2 * n, -self.translate, self.translate, generator).view(n, 2) * 2
        cos, sin = torch.cos(angle), torch.sin(angle)
        # forward map: x_out = scale * R(angle) @ Shear(shear) @ x_in + shift
        forward = torch.zeros(n, 3, 3, dtype=torch.float64)
        forward[:, 0, 0] = cos
        forward[:, 0, 1] = cos * torch.tan(shear) - sin
        forward[:, 1, 0] = sin
        forward[:, 1, 1] = sin * torch.tan(shear) + cos
        forward[:, :2, :2] *= scale.view(n, 1, 1)
        forward[:, :2, 2] = shift
        forward[:, 2, 2] = 1.0
        inverse: torch.Tensor = torch.linalg.inv(forward)
        return inverse[:, :2, :]  # (n, 2, 3): output -> input

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Warp each image of the batch.

        Parameters
        ----------
        images : torch.Tensor
            float (B, C, H, W), pixels in [0, 1], on any device.
        generator : torch.Generator
            CPU generator for the random parameters.

        Returns
        -------
        torch.Tensor
            The warped batch: same shape, dtype and device.
        """
        _check_batch(images, "RandomAffine")
        theta = self.matrices(images.shape[0], generator).to(images.device, images.dtype)
        grid = F.affine_grid(theta, list(images.shape), align_corners=False)  # (B, H, W, 2)
        return F.grid_sample(
            images, grid, mode="bilinear", padding_mode="zeros", align_corners=False
        )


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class ElasticDistortion(_Step):
    """Elastic distortion (Simard et al., 2003): a smooth random displacement of the pixels.

    A displacement field of uniform noise in [-1, 1] per pixel and direction is smoothed by
    a Gaussian of standard deviation ``sigma`` pixels and scaled by ``alpha`` pixels, then
    the batch is resampled along it in one :func:`~torch.nn.functional.grid_sample` call.

    Parameters
    ----------
    alpha : float, default=8.0
        Strength: the noise's scale in pixels before smoothing (non-negative).
    sigma : float, default=3.0
        Smoothness: the Gaussian's standard deviation in pixels (positive).
    """

    _name: ClassVar[str] = "elastic_distortion"

    alpha: float = 8.0
    sigma: float = 3.0
    #: (2r + 1,) Gaussian, applied along rows then columns; made from ``sigma``.
    _kernel: torch.Tensor = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        sigma = check_number(self.sigma, "sigma", low=0, low_open=True, who="ElasticDistortion")
        self._set("alpha", check_number(self.alpha, "alpha", low=0, who="ElasticDistortion"))
        self._set("sigma", sigma)
        radius = max(1, math.ceil(3 * sigma))
        offsets = torch.arange(-radius, radius + 1, dtype=torch.float64)
        kernel = torch.exp(-(offsets**2) / (2 * sigma**2))
        self._set("_kernel", kernel / kernel.sum())

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Distort each image of the batch.

        Parameters
        ----------
        images : torch.Tensor
            float (B, C, H, W), pixels in [0, 1], on any device.
        generator : torch.Generator
            CPU generator for the random fields.

        Returns
        -------
        torch.Tensor
            The distorted batch: same shape, dtype and device.
        """
        _check_batch(images, "ElasticDistortion")
        b, _, h, w = images.shape
        noise = torch.rand(b, 2, h, w, generator=generator) * 2 - 1  # (B, 2, H, W), CPU
        noise = noise.to(images.device, images.dtype)
        k = self._kernel.to(images.device, images.dtype)
        pad = k.numel() // 2
        # separable Gaussian blur of both displacement channels, zero beyond the border
        field = F.conv2d(
            F.pad(noise, (pad, pad, 0, 0)), k.view(1, 1, 1, -1).expand(2, 1, 1, -1), groups=2
        )
        field = F.conv2d(
            F.pad(field, (0, 0, pad, pad)), k.view(1, 1, -1, 1).expand(2, 1, -1, 1), groups=2
        )
        # pixels -> normalised coordinates ([-1, 1] spans the width / height)
        scale = torch.tensor([2.0 / w, 2.0 / h], device=images.device, dtype=images.dtype)
        displacement = field.permute(0, 2, 3, 1) * (self.alpha * scale)  # (B, H, W, 2)
        identity = torch.eye(2, 3, device=images.device, dtype=images.dtype).expand(b, 2, 3)
        grid = F.affine_grid(identity, [b, 1, h, w], align_corners=False) + displacement
        return F.grid_sample(
            images, grid, mode="bilinear", padding_mode="zeros", align_corners=False
        )


@dataclass(frozen=True, slots=True, repr=False)
class RandomCrop(_Step):
    """Pad every image with zeros, then cut a random window of the original size back out.

    The same as shifting each image by a random whole number of pixels in
    ``[-padding, padding]`` along each axis, filling with the black background.

    Parameters
    ----------
    padding : int, default=2
        Pixels added on each side (non-negative; 0 returns the batch unchanged).
    """

    _name: ClassVar[str] = "random_crop"

    padding: int = 2

    def __post_init__(self) -> None:
        self._set("padding", check_int(self.padding, "padding", minimum=0, who="RandomCrop"))

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Crop each image of the batch at its own random offset.

        Parameters
        ----------
        images : torch.Tensor
            float (B, C, H, W), on any device.
        generator : torch.Generator
            CPU generator for the offsets.

        Returns
        -------
        torch.Tensor
            The cropped batch: same shape, dtype and device.
        """
        _check_batch(images, "RandomCrop")
        p = self.padding
        b, _, h, w = images.shape
        offsets = torch.randint(0, 2 * p + 1, (b, 2), generator=generator).to(images.device)
        if p == 0:
            return images.clone()
        padded = F.pad(images, (p, p, p, p))  # (B, C, H + 2p, W + 2p)
        rows = offsets[:, :1] + torch.arange(h, device=images.device)  # (B, H)
        cols = offsets[:, 1:] + torch.arange(w, device=images.device)  # (B, W)
        batch = torch.arange(b, device=images.device).view(b, 1, 1)
        # advanced indices around a slice: the result is (B, H, W, C)
        cropped = padded[batch, :, rows[:, :, None], cols[:, None, :]]
        return cropped.permute(0, 3, 1, 2).contiguous()


@dataclass(frozen=True, slots=True, repr=False)
class RandomHorizontalFlip(_Step):
    """Mirror each image left to right with probability ``p``. Not for digits.

    Parameters
    ----------
    p : float, default=0.5
        Probability that an image is flipped, in [0, 1].
    """

    _name: ClassVar[str] = "random_horizontal_flip"

    p: float = 0.5

    def __post_init__(self) -> None:
        self._set("p", check_number(self.p, "p", low=0, high=1, who="RandomHorizontalFlip"))

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Flip a random part of the batch.

        Parameters
        ----------
        images : torch.Tensor
            float (B, C, H, W), on any device.
        generator : torch.Generator
            CPU generator for the coin tosses.

        Returns
        -------
        torch.Tensor
            The batch, some images mirrored: same shape, dtype and device.
        """
        _check_batch(images, "RandomHorizontalFlip")
        flip = torch.rand(images.shape[0], generator=generator) < self.p
        flip = flip.to(images.device).view(-1, 1, 1, 1)
        return torch.where(flip, images.flip(-1), images)


@dataclass(frozen=True, slots=True, repr=False)
class RandomErasing(_Step):
    """Blank out a random rectangle in a random part of the batch.

    Each image is erased with probability ``p``: a rectangle whose area is a fraction of the
    image drawn uniformly from ``scale`` and whose height/width ratio is drawn
    log-uniformly from ``ratio`` (the scheme of Zhong et al., 2017, and of
    :class:`torchvision.transforms.RandomErasing`) is placed at a random position inside the
    image and filled with ``value``. A rectangle too tall or too wide for the image is cut
    to its height or width (torchvision draws again instead), so every erased image has
    exactly one rectangle. The whole batch is erased in one masked operation on its device.

    Parameters
    ----------
    p : float, default=0.5
        Probability that an image is erased, in [0, 1].
    scale : (float, float), default=(0.02, 0.33)
        Least and most area of the rectangle, as fractions of the image, in (0, 1].
    ratio : (float, float), default=(0.3, 3.3)
        Least and most height/width ratio of the rectangle, positive.
    value : float or "random", default=0.0
        The fill: a grey level in [0, 1] (0 is the black background of MNIST-style images),
        or ``"random"`` for uniform noise in [0, 1), drawn per pixel.
    """

    _name: ClassVar[str] = "random_erasing"

    p: float = 0.5
    scale: tuple[float, float] = (0.02, 0.33)
    ratio: tuple[float, float] = (0.3, 3.3)
    value: float | str = 0.0

    def __post_init__(self) -> None:
        who = "RandomErasing"
        p = check_number(self.p, "p", low=0, high=1, who=who)
        scale = _range(self.scale, "scale", who, low=0, default_centre=0.0)
        if not isinstance(self.scale, tuple | list) or scale[0] <= 0 or scale[1] > 1:
            raise fail("scale", self.scale, "a pair (low, high) with 0 < low <= high <= 1", who=who)
        ratio = _range(self.ratio, "ratio", who, low=0, default_centre=0.0)
        if not isinstance(self.ratio, tuple | list) or ratio[0] <= 0:
            raise fail("ratio", self.ratio, "a pair (low, high) with 0 < low <= high", who=who)
        value = self.value
        if value != "random":
            if isinstance(value, str):
                raise fail("value", value, 'a grey level in [0, 1] or "random"', who=who)
            value = check_number(value, "value", low=0, high=1, who=who)
        self._set("p", p)
        self._set("scale", scale)
        self._set("ratio", ratio)
        self._set("value", value)

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Erase a rectangle in a random part of the batch.

        Parameters
        ----------
        images : torch.Tensor
            float (B, C, H, W), on any device.
        generator : torch.Generator
            CPU generator for the choices, the rectangles and the noise.

        Returns
        -------
        torch.Tensor
            The batch, some images with a blank rectangle: same shape, dtype and device.
        """
        _check_batch(images, "RandomErasing")
        b, c, h, w = images.shape
        erase = torch.rand(b, generator=generator) < self.p
        area = _uniform(b, *self.scale, generator) * (h * w)
        log_ratio = _uniform(b, math.log(self.ratio[0]), math.log(self.ratio[1]), generator)
        aspect = torch.exp(log_ratio)  # height / width
        heights = (area * aspect).sqrt().round().clamp(1, h).to(torch.int64)
        widths = (area / aspect).sqrt().round().clamp(1, w).to(torch.int64)
        # a uniform position among those that keep the rectangle inside the image
        tops = torch.rand(b, generator=generator, dtype=torch.float64) * (h - heights + 1)
        lefts = torch.rand(b, generator=generator, dtype=torch.float64) * (w - widths + 1)
        tops, lefts = tops.floor().to(torch.int64), lefts.floor().to(torch.int64)
        rows = torch.arange(h).view(1, h)
        cols = torch.arange(w).view(1, w)
        in_rows = (rows >= tops[:, None]) & (rows < (tops + heights)[:, None])  # (B, H)
        in_cols = (cols >= lefts[:, None]) & (cols < (lefts + widths)[:, None])  # (B, W)
        mask = (in_rows[:, :, None] & in_cols[:, None, :] & erase[:, None, None]).unsqueeze(1)
        mask = mask.to(images.device)  # (B, 1, H, W), broadcast over the channels
        if self.value == "random":
            noise = torch.rand(b, c, h, w, generator=generator).to(images.device, images.dtype)
            return torch.where(mask, noise, images)
        return images.masked_fill(mask, float(self.value))


@dataclass(frozen=True, slots=True, init=False, repr=False)
class Compose(_Step):
    """Apply several augmentations one after the other.

    Parameters
    ----------
    *steps : callable
        Each an :data:`Augment`, taking and returning a batch; they share
        the generator, in order.
    """

    _name: ClassVar[str] = "compose"

    steps: tuple[Augment, ...] = field(metadata={"varargs": True})

    def __init__(self, *steps: Augment) -> None:
        # the steps come positionally, which a generated __init__ cannot take
        self._set("steps", steps)
        self.__post_init__()

    def __post_init__(self) -> None:
        for i, step in enumerate(self.steps):
            if not callable(step):
                raise fail(
                    f"steps[{i}]",
                    step,
                    "an augmentation (a callable, see mnistkit.augment)",
                    who="Compose",
                )

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Run every step on the batch.

        Parameters
        ----------
        images : torch.Tensor
            float (B, C, H, W), on any device.
        generator : torch.Generator
            CPU generator, passed to each step.

        Returns
        -------
        torch.Tensor
            The augmented batch: same shape, dtype and device.
        """
        for step in self.steps:
            images = step(images, generator)
        return images
