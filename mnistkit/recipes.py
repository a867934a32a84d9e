"""Recipes: named, frozen bundles of a model and how to train it.

A recipe is what ``mnistkit train --recipe NAME`` runs: a registered model with its settings
and a :class:`~mnistkit.TrainConfig`. Flags given next to ``--recipe`` (``--epochs``,
``--lr``, ...) override its fields, and ``metrics.json`` records the recipe with every
resolved setting. From Python::

    from mnistkit import recipes, run_training
    run_training("runs/fast", recipe="fast")
    recipe = recipes.get_recipe("fast").replace(epochs=3)   # a changed copy

:func:`list_recipes` names them; :func:`register_recipe` adds your own.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from torch import nn

from mnistkit._validation import check_choice
from mnistkit.augment import (
    Compose,
    RandomAffine,
    RandomCrop,
    RandomErasing,
    RandomHorizontalFlip,
    describe,
)
from mnistkit.config import TrainConfig
from mnistkit.exceptions import ConfigError
from mnistkit.loaders import Augment
from mnistkit.models import get_model, list_models

__all__ = ["Recipe", "get_recipe", "list_recipes", "register_recipe"]


@dataclass(frozen=True, slots=True)
class Recipe:
    """A model and how to train it, under a name.

    Parameters
    ----------
    name : str
        Registry name, lower case.
    summary : str
        One line for ``mnistkit recipes``.
    model : str
        A registered model (see :func:`mnistkit.list_models`).
    model_config : mapping, optional
        The model's keyword arguments (``dataset`` and ``num_classes`` are set per run).
    config : TrainConfig, optional
        How to train.
    augment : callable, optional
        On-device augmentation of every training batch (see :mod:`mnistkit.augment`); its
        ``to_dict()``, when it has one, is what :meth:`to_dict` and ``metrics.json`` record.
    """

    name: str
    summary: str
    model: str
    model_config: Mapping[str, Any] = field(default_factory=dict)
    config: TrainConfig = field(default_factory=TrainConfig)
    augment: Augment | None = None

    def __post_init__(self) -> None:
        check_choice(self.model, "model", list_models(), who=f"Recipe {self.name!r}")
        if not isinstance(self.config, TrainConfig):
            raise ConfigError(
                f"Recipe {self.name!r}: argument 'config' must be a TrainConfig, but got "
                f"{type(self.config).__name__}"
            )
        if self.augment is not None and not callable(self.augment):
            raise ConfigError(
                f"Recipe {self.name!r}: argument 'augment' must be an augmentation (a callable "
                f"taking a batch and a torch.Generator, see mnistkit.augment) or None, but got "
                f"{self.augment!r}"
            )
        object.__setattr__(self, "model_config", MappingProxyType(dict(self.model_config)))

    def replace(self, **changes: Any) -> Recipe:
        """A copy with some fields changed; ``TrainConfig`` fields may be given directly.

        Parameters
        ----------
        **changes
            Recipe fields (``model``, ``model_config``, ...) or ``TrainConfig`` fields
            (``epochs``, ``lr``, ...).

        Returns
        -------
        Recipe
            A new recipe; this one is unchanged.
        """
        own = {f.name for f in dataclasses.fields(self)}
        config_changes = {k: v for k, v in changes.items() if k not in own}
        unknown = sorted(set(config_changes) - {f.name for f in dataclasses.fields(TrainConfig)})
        if unknown:
            raise ConfigError(
                f"Recipe.replace: unknown field(s) {', '.join(map(repr, unknown))}; a recipe "
                f"has {', '.join(sorted(own))} and the TrainConfig fields."
            )
        recipe_changes = {k: v for k, v in changes.items() if k in own}
        if recipe_changes.get("model", self.model) != self.model:
            # another model: this recipe's model settings belong to the old one
            recipe_changes.setdefault("model_config", {})
        config = recipe_changes.pop("config", self.config)
        return dataclasses.replace(self, config=config.replace(**config_changes), **recipe_changes)

    def build_model(self, dataset: str = "mnist", num_classes: int = 10) -> nn.Module:
        """Build the recipe's model for a data set.

        Parameters
        ----------
        dataset : str, default="mnist"
            Whose normalisation the model's first layer uses.
        num_classes : int, default=10
            Outputs.

        Returns
        -------
        torch.nn.Module
            Freshly initialised, normalising with ``dataset``'s statistics.
        """
        return get_model(
            self.model, **{"dataset": dataset, "num_classes": num_classes, **self.model_config}
        )

    def to_dict(self) -> dict[str, Any]:
        """Everything the recipe decides, as plain data.

        Returns
        -------
        dict
            JSON-serialisable.
        """
        return {
            "name": self.name,
            "summary": self.summary,
            "model": self.model,
            "model_config": {
                k: list(v) if isinstance(v, tuple) else v for k, v in self.model_config.items()
            },
            "config": self.config.to_dict(),
            "augment": describe(self.augment),
        }


_RECIPES: dict[str, Recipe] = {}


def register_recipe(recipe: Recipe) -> Recipe:
    """Add a recipe so that :func:`get_recipe` and ``mnistkit train --recipe`` know it.

    Parameters
    ----------
    recipe : Recipe
        Its name must be lower case and not taken.

    Returns
    -------
    Recipe
        The same recipe.
    """
    if not isinstance(recipe, Recipe):
        raise ConfigError(f"Argument 'recipe' must be a Recipe, but got {type(recipe).__name__}")
    if recipe.name != recipe.name.lower() or not recipe.name:
        raise ConfigError(
            f"A recipe name must be non-empty and lower case, but got {recipe.name!r}"
        )
    if recipe.name in _RECIPES:
        raise ConfigError(f"A recipe named {recipe.name!r} is already registered.")
    _RECIPES[recipe.name] = recipe
    return recipe


def list_recipes() -> list[str]:
    """Names accepted by :func:`get_recipe`, sorted.

    Returns
    -------
    list of str
        The registered names.
    """
    return sorted(_RECIPES)


def get_recipe(name: str | Recipe) -> Recipe:
    """A registered recipe by name (a :class:`Recipe` passes through).

    Parameters
    ----------
    name : str or Recipe
        One of :func:`list_recipes`.

    Returns
    -------
    Recipe
        The registered recipe.

    Raises
    ------
    ConfigError
        Unknown name; the message lists the known ones and the closest match.
    """
    if isinstance(name, Recipe):
        return name
    return _RECIPES[check_choice(name, "recipe", list_recipes())]


# `default`: batch norm after each stage's max-pool (half the CPU step time of batch norm
# before it) and no dropout (another 8%; batch norm regularises enough in 3 epochs): seeds
# 0/1/2 reached 99.42/99.30/99.44% (benchmarks/RESULTS.md).
register_recipe(
    Recipe(
        name="default",
        summary="the classic CNN (two convolution + max-pool stages, then dense layers) "
        "with batch norm after the pooling, 3 epochs: what `mnistkit train` runs",
        model="cnn",
        model_config={"batch_norm": True, "pool_before_norm": True, "dropout": 0.0},
        config=TrainConfig(epochs=3, lr=0.01, precision="auto", channels_last=True),
    )
)

register_recipe(
    Recipe(
        name="fast",
        summary="a 29k-parameter batch-norm CNN, one epoch: 99% in seconds on a laptop CPU",
        model="cnn",
        model_config={"channels": (16, 32, 64), "hidden": 0, "batch_norm": True, "dropout": 0.0},
        config=TrainConfig(epochs=1, lr=0.01, precision="auto", channels_last=True),
    )
)

# `best`: the augmentation was chosen on the 10% validation split held out of MNIST's
# training set (5-epoch runs, seed 0): random affine 10 degrees / 0.1 shift / 0.9-1.1 scale
# reached 99.62%, a stronger one (15 / 0.12 / 0.85-1.15, shear 8) 99.58%, the same plus
# elastic distortion 99.55%. The 20 epochs are what a 2-core CPU trains in about a quarter
# of an hour; the test set chose nothing (benchmarks/RESULTS.md).
register_recipe(
    Recipe(
        name="best",
        summary="accuracy: a 288k-parameter VGG-style batch-norm CNN, random affine "
        "augmentation, label smoothing, one-cycle AdamW, weight EMA",
        model="deepcnn",
        model_config={"stages": ((32, 32), (64, 64), (128, 128)), "dropout": 0.2},
        config=TrainConfig(
            epochs=20,
            lr=3e-3,
            weight_decay=0.01,
            label_smoothing=0.1,
            ema_decay=0.999,
            precision="auto",
            channels_last=True,
        ),
        augment=RandomAffine(degrees=10.0, translate=0.1, scale=(0.9, 1.1)),
    )
)

# `fashion`: `best`'s network and optimiser (so the two cannot drift apart) with the
# augmentation clothes allow and 40 epochs. Chosen on the 10% validation split held out of
# Fashion-MNIST's training set (full schedules, seed 0): flips + 2-pixel crops for 20 epochs
# 94.02%; with random erasing 94.17%; then, with erasing, a 1.5x wider network for 20
# epochs 94.33% and the same network for 40 epochs 94.48% (kept). The test set chose nothing
# (benchmarks/RESULTS.md).
register_recipe(
    get_recipe("best").replace(
        name="fashion",
        summary="Fashion-MNIST: the `best` network with horizontal flips, random crops and "
        "random erasing (clothes, not digits), 40 epochs, label smoothing, one-cycle AdamW, "
        "weight EMA",
        augment=Compose(
            RandomHorizontalFlip(0.5), RandomCrop(padding=2), RandomErasing(p=0.5, value="random")
        ),
        epochs=40,
    )
)
