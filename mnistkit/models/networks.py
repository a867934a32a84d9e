"""The networks: softmax regression, a multi-layer perceptron, CNNs, LeNet-5 and a ResNet.

Every model takes pixels in [0, 1] of shape (B, 1, 28, 28) and starts with a
:class:`~mnistkit.models.Normalize` layer holding its data set's mean and standard deviation
(``dataset=``, MNIST's by default), then returns raw class scores (logits) of shape
(B, num_classes); the softmax that turns scores into probabilities lives in the loss
(:func:`torch.nn.functional.cross_entropy`) and in :func:`mnistkit.predict_proba`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from mnistkit._validation import check_choice, check_int, check_number
from mnistkit.datasets import list_datasets
from mnistkit.exceptions import ConfigError
from mnistkit.models._registry import register_model
from mnistkit.models.normalize import Normalize

__all__ = ["CNN", "MLP", "DeepCNN", "LeNet5", "Linear", "ResNet"]

_ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "silu": nn.SiLU,
    "leaky_relu": nn.LeakyReLU,
}


def _activation(name: str) -> nn.Module:
    return _ACTIVATIONS[check_choice(name, "activation", _ACTIVATIONS)]()


def _probability(name: str, value: object) -> float:
    return check_number(value, name, low=0.0, high=1.0, high_open=True)


def _normalize(dataset: object) -> Normalize:
    return Normalize.for_dataset(check_choice(dataset, "dataset", list_datasets()))


@register_model("linear")
class Linear(nn.Module):
    """Softmax regression: one fully connected layer from the 784 pixels to the classes.

    Each class ``k`` has a weight per pixel and a bias; its score is ``x · w_k + b_k``. With
    784 × 10 weights and 10 biases it has 7,850 parameters. A score linear in the pixels
    cannot follow the many ways one digit is written, so this is the baseline the other
    models are measured against (test accuracies in ``benchmarks/RESULTS.md``).

    Parameters
    ----------
    num_classes : int, default=10
        Number of outputs, one score per class.
    in_features : int, default=784
        Pixels per image (28 × 28).
    dataset : str, default="mnist"
        Whose pixel mean and standard deviation the first layer normalises with.
    """

    def __init__(
        self, *, num_classes: int = 10, in_features: int = 784, dataset: str = "mnist"
    ) -> None:
        super().__init__()
        self.normalize = _normalize(dataset)
        self.num_classes = check_int(num_classes, "num_classes")
        self.in_features = check_int(in_features, "in_features")
        self.fc = nn.Linear(self.in_features, self.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores for a batch of images.

        Parameters
        ----------
        x : torch.Tensor
            Pixels in [0, 1], shape (B, 1, 28, 28).

        Returns
        -------
        torch.Tensor
            Logits, shape (B, num_classes).
        """
        x = self.normalize(x).flatten(1)  # (B, 1, 28, 28) -> (B, 784)
        logits: torch.Tensor = self.fc(x)  # -> (B, C)
        return logits


@register_model("mlp")
class MLP(nn.Module):
    """A multi-layer perceptron: fully connected hidden layers with a non-linear activation.

    The default (784 → 256 → 128 → 10, ReLU, dropout 0.1) has 235,146 parameters. It sees
    the image as a flat vector, with no notion of neighbouring pixels, which is why the
    convolutional models beat it with fewer parameters (test accuracies in
    ``benchmarks/RESULTS.md``).

    Parameters
    ----------
    hidden_sizes : sequence of int, default=(256, 128)
        Width of each hidden layer.
    activation : str, default="relu"
        One of ``"relu"``, ``"gelu"``, ``"tanh"``, ``"sigmoid"``, ``"silu"``, ``"leaky_relu"``.
    dropout : float, default=0.1
        Dropout probability after each hidden activation.
    num_classes : int, default=10
        Number of outputs, one score per class.
    in_features : int, default=784
        Pixels per image (28 × 28).
    dataset : str, default="mnist"
        Whose pixel mean and standard deviation the first layer normalises with.
    """

    def __init__(
        self,
        *,
        hidden_sizes: Sequence[int] = (256, 128),
        activation: str = "relu",
        dropout: float = 0.1,
        num_classes: int = 10,
        in_features: int = 784,
        dataset: str = "mnist",
    ) -> None:
        super().__init__()
        self.normalize = _normalize(dataset)
        if isinstance(hidden_sizes, int | str) or not isinstance(hidden_sizes, Sequence):
            raise ConfigError(
                f"Argument 'hidden_sizes' must be a sequence of positive integers, e.g. (256, 128),"
                f" but got {hidden_sizes!r}."
            )
        self.hidden_sizes = tuple(check_int(h, "hidden_sizes") for h in hidden_sizes)
        self.activation = activation
        self.dropout = _probability("dropout", dropout)
        self.num_classes = check_int(num_classes, "num_classes")
        self.in_features = check_int(in_features, "in_features")
        layers: list[nn.Module] = [nn.Flatten()]
        width = self.in_features
        for hidden in self.hidden_sizes:
            layers += [nn.Linear(width, hidden), _activation(activation)]
            if self.dropout > 0:
                layers.append(nn.Dropout(self.dropout))
            width = hidden
        layers.append(nn.Linear(width, self.num_classes))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores for a batch of images.

        Parameters
        ----------
        x : torch.Tensor
            Pixels in [0, 1], shape (B, 1, 28, 28).

        Returns
        -------
        torch.Tensor
            Logits, shape (B, num_classes).
        """
        logits: torch.Tensor = self.layers(self.normalize(x))  # (B, 1, 28, 28) -> (B, C)
        return logits


@register_model("cnn")
class CNN(nn.Module):
    """The classic convolutional network: convolution + max-pooling stages, then dense layers.

    Each stage is a 3×3 convolution (padding 1), ReLU and 2×2 max-pooling, halving the image:
    28 → 14 → 7. The feature maps are flattened into fully connected layers. The default
    (channels (32, 64), hidden 128, dropout 0.25) has 421,642 parameters.

    Parameters
    ----------
    channels : sequence of int, default=(32, 64)
        Output channels of each convolution stage (one to four stages).
    hidden : int, default=128
        Width of the fully connected hidden layer (0 for none).
    dropout : float, default=0.25
        Dropout before each fully connected layer.
    batch_norm : bool, default=False
        Batch normalisation after each convolution (then the convolutions have no bias).
        Off by default, as in the classic network this model teaches; the ``default``
        recipe (what ``mnistkit train`` runs) turns it on. Its cost on a CPU depends on
        where it sits: before the pooling it normalises four times as many values as after
        it (see ``pool_before_norm``; step timings from ``benchmarks/bench_steps.py`` in
        ``benchmarks/README.md``).
    pool_before_norm : bool, default=False
        With ``batch_norm``: pool each convolution's output first, then normalise it (the
        statistics are those of the pooled values), then apply the ReLU. Batch norm and
        ReLU then work on a quarter of the values, which makes a CPU training step cheaper
        (timings: above); the ``default`` recipe uses it. Off by default so that networks
        saved before it existed load unchanged. Without ``batch_norm`` it only moves the
        ReLU after the pooling, which computes the same function (the two commute).
    num_classes : int, default=10
        Number of outputs, one score per class.
    dataset : str, default="mnist"
        Whose pixel mean and standard deviation the first layer normalises with.
    """

    def __init__(
        self,
        *,
        channels: Sequence[int] = (32, 64),
        hidden: int = 128,
        dropout: float = 0.25,
        batch_norm: bool = False,
        pool_before_norm: bool = False,
        num_classes: int = 10,
        dataset: str = "mnist",
    ) -> None:
        super().__init__()
        self.normalize = _normalize(dataset)
        if isinstance(channels, int | str) or not isinstance(channels, Sequence):
            raise ConfigError(
                f"Argument 'channels' must be a sequence of positive integers, e.g. (32, 64), "
                f"but got {channels!r}."
            )
        if not 1 <= len(channels) <= 4:
            raise ConfigError(
                f"Argument 'channels' must have 1 to 4 stages (28 → 14 → 7 → 3 → 1 pixels) but "
                f"got {len(channels)}: {tuple(channels)!r}."
            )
        self.channels = tuple(check_int(c, "channels") for c in channels)
        self.hidden = check_int(hidden, "hidden", minimum=0)
        self.dropout = _probability("dropout", dropout)
        self.batch_norm = bool(batch_norm)
        self.pool_before_norm = bool(pool_before_norm)
        self.num_classes = check_int(num_classes, "num_classes")
        stages: list[nn.Module] = []
        in_channels, size = 1, 28
        for out_channels in self.channels:
            # four modules a stage, whatever the options, so that parameter names stay
            # `features.<4 * stage + i>.*` (saved networks load by those names)
            conv = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=not self.batch_norm)
            norm = nn.BatchNorm2d(out_channels) if self.batch_norm else nn.Identity()
            pool = nn.MaxPool2d(2)
            if self.pool_before_norm:
                stages += [conv, pool, norm, nn.ReLU()]
            else:
                stages += [conv, norm, nn.ReLU(), pool]
            in_channels, size = out_channels, size // 2
        self.features = nn.Sequential(*stages)
        flat = in_channels * size * size
        head: list[nn.Module] = [nn.Flatten(), nn.Dropout(self.dropout)]
        if self.hidden:
            head += [nn.Linear(flat, self.hidden), nn.ReLU(), nn.Dropout(self.dropout)]
            flat = self.hidden
        head.append(nn.Linear(flat, self.num_classes))
        self.classifier = nn.Sequential(*head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores for a batch of images.

        Parameters
        ----------
        x : torch.Tensor
            Pixels in [0, 1], shape (B, 1, 28, 28).

        Returns
        -------
        torch.Tensor
            Logits, shape (B, num_classes).
        """
        x = self.features(self.normalize(x))  # (B, 1, 28, 28) -> (B, C_last, 7, 7) for two
        logits: torch.Tensor = self.classifier(x)  # -> (B, num_classes)
        return logits


@register_model("lenet5")
class LeNet5(nn.Module):
    """LeNet-5 (LeCun et al., 1998) in its common modern form.

    Two 5×5 convolution + pooling stages (6 and 16 channels; the first padded so 28×28 inputs
    match the original 32×32), then 120 → 84 → 10 fully connected layers: 61,706 parameters.

    Parameters
    ----------
    activation : str, default="relu"
        ``"tanh"`` with ``pooling="avg"`` is closest to the 1998 network.
    pooling : {"max", "avg"}, default="max"
        Max-pooling or average pooling after each convolution.
    num_classes : int, default=10
        Number of outputs, one score per class.
    dataset : str, default="mnist"
        Whose pixel mean and standard deviation the first layer normalises with.
    """

    def __init__(
        self,
        *,
        activation: str = "relu",
        pooling: str = "max",
        num_classes: int = 10,
        dataset: str = "mnist",
    ) -> None:
        super().__init__()
        self.normalize = _normalize(dataset)
        check_choice(pooling, "pooling", ("max", "avg"))
        self.activation = activation
        self.pooling = pooling
        self.num_classes = check_int(num_classes, "num_classes")
        pool: type[nn.Module] = nn.MaxPool2d if pooling == "max" else nn.AvgPool2d
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2),  # (B, 6, 28, 28)
            _activation(activation),
            pool(2),  # (B, 6, 14, 14)
            nn.Conv2d(6, 16, 5),  # (B, 16, 10, 10)
            _activation(activation),
            pool(2),  # (B, 16, 5, 5)
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(16 * 5 * 5, 120),
            _activation(activation),
            nn.Linear(120, 84),
            _activation(activation),
            nn.Linear(84, self.num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores for a batch of images.

        Parameters
        ----------
        x : torch.Tensor
            Pixels in [0, 1], shape (B, 1, 28, 28).

        Returns
        -------
        torch.Tensor
            Logits, shape (B, num_classes).
        """
        x = self.features(self.normalize(x))  # (B, 1, 28, 28) -> (B, 16, 5, 5)
        logits: torch.Tensor = self.classifier(x)  # -> (B, C)
        return logits


def _is_sequence(value: object) -> bool:
    """Whether ``value`` is a sequence other than a string."""
    return isinstance(value, Sequence) and not isinstance(value, str)


def _is_nested_sequence(value: object) -> bool:
    """Whether ``value`` is a sequence of non-empty sequences (no strings at either level)."""
    return _is_sequence(value) and all(
        _is_sequence(item) and len(item) > 0
        for item in value  # type: ignore[attr-defined]
    )


def _conv_bn_relu(in_channels: int, out_channels: int) -> list[nn.Module]:
    """A 3×3 convolution (padding 1, no bias: the batch norm has one), batch norm, ReLU."""
    return [
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(),
    ]


def _pooled_classifier(in_channels: int, dropout: float, num_classes: int) -> nn.Sequential:
    """Global average pooling, dropout and one linear layer: (B, C, H, W) -> (B, classes)."""
    return nn.Sequential(
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Dropout(dropout),
        nn.Linear(in_channels, num_classes),
    )


@register_model("deepcnn")
class DeepCNN(nn.Module):
    """A deeper convolutional network for accuracy: VGG-style stages, batch norm, global pooling.

    Each stage is one or more 3×3 convolutions (padding 1, no bias), each followed by batch
    normalisation and ReLU; 2×2 max-pooling separates the stages (28 → 14 → 7 for three).
    After the last stage the feature maps are averaged over the image (global average
    pooling), dropped out and mapped to the classes by one linear layer. The default
    (stages (32, 32), (64, 64), (128, 128)) has 288,170 parameters; it is the network of
    the ``best`` and ``fashion`` recipes.

    Parameters
    ----------
    stages : sequence of sequence of int, default=((32, 32), (64, 64), (128, 128))
        Output channels of each convolution, stage by stage (one to four stages).
    dropout : float, default=0.2
        Dropout before the linear layer.
    num_classes : int, default=10
        Number of outputs, one score per class.
    dataset : str, default="mnist"
        Whose pixel mean and standard deviation the first layer normalises with.
    """

    def __init__(
        self,
        *,
        stages: Sequence[Sequence[int]] = ((32, 32), (64, 64), (128, 128)),
        dropout: float = 0.2,
        num_classes: int = 10,
        dataset: str = "mnist",
    ) -> None:
        super().__init__()
        self.normalize = _normalize(dataset)
        if not _is_nested_sequence(stages) or not 1 <= len(stages) <= 4:
            raise ConfigError(
                "Argument 'stages' must be one to four non-empty sequences of positive "
                f"integers, e.g. ((32, 32), (64, 64)), but got {stages!r}."
            )
        self.stages = tuple(tuple(check_int(c, "stages") for c in stage) for stage in stages)
        self.dropout = _probability("dropout", dropout)
        self.num_classes = check_int(num_classes, "num_classes")
        layers: list[nn.Module] = []
        in_channels = 1
        for index, stage in enumerate(self.stages):
            if index:
                layers.append(nn.MaxPool2d(2))
            for out_channels in stage:
                layers += _conv_bn_relu(in_channels, out_channels)
                in_channels = out_channels
        self.features = nn.Sequential(*layers)
        self.classifier = _pooled_classifier(in_channels, self.dropout, self.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores for a batch of images.

        Parameters
        ----------
        x : torch.Tensor
            Pixels in [0, 1], shape (B, 1, 28, 28).

        Returns
        -------
        torch.Tensor
            Logits, shape (B, num_classes).
        """
        x = self.features(self.normalize(x))  # (B, 1, 28, 28) -> (B, C_last, 7, 7) for three
        logits: torch.Tensor = self.classifier(x)  # -> (B, num_classes)
        return logits


class _ResidualBlock(nn.Module):
    """Two 3×3 convolutions with batch norm, added to the input (projected when shapes differ)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU()
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        out: torch.Tensor = self.relu(y + self.shortcut(x))
        return out


@register_model("resnet")
class ResNet(nn.Module):
    """A small residual network (He et al., 2016) sized for 28×28 images.

    A 3×3 convolution (the stem) with batch norm and ReLU, then stages of residual blocks:
    each block is two 3×3 convolutions with batch norm whose output is added to the block's
    input, so that the layers learn a correction to it. The first block of every stage
    after the first halves the image with a stride-2 convolution (28 → 14 → 7 for three
    stages) instead of max-pooling, and its shortcut becomes a strided 1×1 convolution. After
    the last stage the feature maps are averaged over the image, dropped out and mapped to
    the classes by one linear layer. The default (widths 32, 64, 128, one block each) has
    308,074 parameters, about as many as :class:`DeepCNN`'s default, from a differently
    shaped network: what an ensemble of both can gain from.

    Parameters
    ----------
    widths : sequence of int, default=(32, 64, 128)
        Output channels of each stage (one to four stages).
    blocks : sequence of int, default=(1, 1, 1)
        Residual blocks per stage, as many entries as ``widths``.
    stem : int, default=32
        Output channels of the first convolution.
    dropout : float, default=0.2
        Dropout before the linear layer.
    num_classes : int, default=10
        Number of outputs, one score per class.
    dataset : str, default="mnist"
        Whose pixel mean and standard deviation the first layer normalises with.
    """

    def __init__(
        self,
        *,
        widths: Sequence[int] = (32, 64, 128),
        blocks: Sequence[int] = (1, 1, 1),
        stem: int = 32,
        dropout: float = 0.2,
        num_classes: int = 10,
        dataset: str = "mnist",
    ) -> None:
        super().__init__()
        self.normalize = _normalize(dataset)
        if not _is_sequence(widths) or not 1 <= len(widths) <= 4:
            raise ConfigError(
                "Argument 'widths' must be one to four positive integers, e.g. (32, 64, 128), "
                f"but got {widths!r}."
            )
        if not _is_sequence(blocks) or len(blocks) != len(widths):
            raise ConfigError(
                f"Argument 'blocks' must give a number of blocks for each of the {len(widths)} "
                f"stages in 'widths', e.g. {(1,) * len(widths)!r}, but got {blocks!r}."
            )
        self.widths = tuple(check_int(w, "widths") for w in widths)
        self.blocks = tuple(check_int(b, "blocks") for b in blocks)
        self.stem_channels = check_int(stem, "stem")
        self.dropout = _probability("dropout", dropout)
        self.num_classes = check_int(num_classes, "num_classes")
        self.stem = nn.Sequential(*_conv_bn_relu(1, self.stem_channels))
        layers: list[nn.Module] = []
        in_channels = self.stem_channels
        for index, (width, count) in enumerate(zip(self.widths, self.blocks, strict=True)):
            for block in range(count):
                stride = 2 if index and not block else 1
                layers.append(_ResidualBlock(in_channels, width, stride))
                in_channels = width
        self.features = nn.Sequential(*layers)
        self.classifier = _pooled_classifier(in_channels, self.dropout, self.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores for a batch of images.

        Parameters
        ----------
        x : torch.Tensor
            Pixels in [0, 1], shape (B, 1, 28, 28).

        Returns
        -------
        torch.Tensor
            Logits, shape (B, num_classes).
        """
        x = self.stem(self.normalize(x))  # (B, 1, 28, 28) -> (B, stem, 28, 28)
        x = self.features(x)  # -> (B, widths[-1], 7, 7) for three stages
        logits: torch.Tensor = self.classifier(x)  # -> (B, num_classes)
        return logits
