"""Recipes: named, frozen bundles of a model and how to train it.

A recipe is what ``mnistkit train --recipe NAME`` runs: a registered model with its settings
and a :class:`~mnistkit.TrainConfig`. Flags given next to ``--recipe`` (``--epochs``,
``--lr``, ...) override its fields, and ``metrics.json`` records the recipe with every
resolved setting. From Python::

    from mnistkit import recipes, run_training
    run_training("runs/fast", recipe="fast")
    recipe = recipes.get_recipe("fast").replace(epochs=3)   # a changed copy

Every registered model has a recipe of its own, under the model's name: ``mnistkit train
--model mlp`` (``run_training(out, model="mlp")``) trains the ``mlp`` recipe, while
``--recipe fast --model mlp`` trains the ``mlp`` network with the ``fast`` recipe's settings
(:func:`resolve_recipe` is that rule). Ensembles are not among them: an ensemble is made of
trained members (``mnistkit ensemble``), not trained itself.

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

__all__ = ["Recipe", "get_recipe", "list_recipes", "register_recipe", "resolve_recipe"]


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


def resolve_recipe(recipe: str | Recipe | None = None, *, model: str | None = None) -> Recipe:
    """The recipe a run trains, from the recipe and the model its caller named.

    The rule ``mnistkit train --recipe/--model`` and :func:`mnistkit.run_training` follow:

    - ``recipe`` given: that recipe; with ``model`` too, the recipe's settings with that
      model (through :meth:`Recipe.replace`, so another model drops the recipe's model
      settings and builds with its own defaults).
    - only ``model``: the recipe named after the model (every built-in model has one); a
      model without one (registered by you) trains with the ``default`` recipe's settings.
    - neither: the ``default`` recipe.

    Parameters
    ----------
    recipe : str or Recipe, optional
        One of :func:`list_recipes`, or a recipe.
    model : str, optional
        A registered model (see :func:`mnistkit.list_models`).

    Returns
    -------
    Recipe
        Its ``name`` says whose settings it holds, its ``model`` what it builds.

    Raises
    ------
    ConfigError
        Unknown recipe or model; the message lists the known ones.
    """
    if model is not None:
        check_choice(model, "model", list_models())
    if recipe is None:
        recipe = model if model in _RECIPES else "default"
    chosen = get_recipe(recipe)
    return chosen if model in (None, chosen.model) else chosen.replace(model=model)


# `default`: batch norm after each stage's max-pool (half the CPU step time of batch norm
# before it: batch norm and ReLU see a quarter of the values) and no dropout (the random
# numbers cost another 8%, and batch norm regularises enough in 3 epochs). The variants and
# their seeds: benchmarks/RESULTS.md, "compare_reference.py ... (session 4, earlier)".
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

# `fast`: like `default`, batch norm after each stage's max-pool, and batches of 256 at twice
# the rate: 0.2's `fast` (normalise, then pool; batches of 128 at 0.01) trained 45% longer for
# the same validation accuracy (three seeds, the 10% validation split: 98.66% against 98.64%,
# median 7.51 s against 5.18 s). benchmarks/select_fast.py; benchmarks/RESULTS.md, "Issue 30,
# step three".
register_recipe(
    Recipe(
        name="fast",
        summary="a 29k-parameter batch-norm CNN, one epoch: 99% in seconds on a laptop CPU",
        model="cnn",
        model_config={
            "channels": (16, 32, 64),
            "hidden": 0,
            "batch_norm": True,
            "pool_before_norm": True,
            "dropout": 0.0,
        },
        config=TrainConfig(epochs=1, batch_size=256, lr=0.02, precision="auto", channels_last=True),
    )
)

# `best`: the augmentation was chosen on the 10% validation split held out of MNIST's
# training set (5-epoch runs, seed 0; the test set chose nothing); the 20 epochs are what a
# 2-core CPU trains in about a quarter of an hour, not an accuracy choice. The candidates
# and the final runs: benchmarks/RESULTS.md, "Accuracy recipes (issue 12)".
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
# augmentation clothes allow (mirror images, shifts, occlusion; no rotation) and 40 epochs,
# both chosen on the 10% validation split held out of Fashion-MNIST's training set:
# benchmarks/RESULTS.md, "Fashion-MNIST: the `fashion` recipe chosen on a validation split".
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

# ----------------------------------------------------------------- a recipe for every model
# What `mnistkit train --model X` trains. Each keeps the network its documentation
# describes (the model's own defaults: the `cnn` recipe is the classic CNN without batch
# norm, unlike `default`) and trains it with AdamW and the one-cycle schedule; the number of
# epochs was chosen on the validation split by benchmarks/select_model_recipes.py, whose
# rule and table are in benchmarks/RESULTS.md, "A recipe for every model (issue 24)".
# linear and mlp train in float32: they take seconds either way, and then their result does
# not depend on whether the CPU has bfloat16; the convolutional ones use bfloat16 where the
# CPU computes it natively (their targets hold in float32 too: the same section).
register_recipe(
    Recipe(
        name="linear",
        summary="softmax regression on the pixels (7,850 parameters), float32",
        model="linear",
        config=TrainConfig(epochs=20),
    )
)

register_recipe(
    Recipe(
        name="mlp",
        summary="the multi-layer perceptron 784-256-128-10 with dropout 0.1, float32",
        model="mlp",
        config=TrainConfig(epochs=10),
    )
)

register_recipe(
    Recipe(
        name="lenet5",
        summary="LeNet-5 (LeCun et al., 1998) in its modern form: ReLU, max-pooling",
        model="lenet5",
        config=TrainConfig(epochs=15, precision="auto", channels_last=True),
    )
)

register_recipe(
    Recipe(
        name="cnn",
        summary="the classic CNN of the documentation (two convolution + max-pool stages, "
        "dense layers, dropout 0.25, no batch norm)",
        model="cnn",
        config=TrainConfig(epochs=8, precision="auto", channels_last=True),
    )
)

# deepcnn is the `best` network: its recipe is `best` under the model's name, the one
# schedule measured for it on the test set (20 epochs; a shorter one would be a number
# nobody measured).
register_recipe(
    get_recipe("best").replace(
        name="deepcnn",
        summary="the `best` recipe under the model's name: the VGG-style batch-norm CNN with "
        "random affine augmentation, label smoothing, one-cycle AdamW, weight EMA",
    )
)

# resnet: `best`'s schedule, which is what it was measured with (on the validation split,
# as an ensemble partner: benchmarks/RESULTS.md, "Another network as partner: `resnet`").
register_recipe(
    get_recipe("best").replace(
        name="resnet",
        summary="the small residual network with the `best` recipe's settings (random affine "
        "augmentation, label smoothing, one-cycle AdamW, weight EMA, 20 epochs)",
        model="resnet",
    )
)
