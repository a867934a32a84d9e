"""The names a setting accepts, without the code behind them (private, torch-free).

:class:`~mnistkit.TrainConfig` validates against these and the command line offers them as
choices; neither needs PyTorch for that, so they live here, below every module that does.
The modules that own the behaviour re-export them under their public paths
(:data:`mnistkit.devices.PRECISIONS`, :data:`mnistkit.distributed.STRATEGIES`) or map each
name to its implementation (:data:`mnistkit.optim.OPTIMIZERS`, :data:`mnistkit.optim.SCHEDULES`,
whose keys a test holds equal to the names here).

The models, data sets and recipes that ship with mnistkit are named here too, for the
command line's ``--model``, ``--dataset`` and ``--recipe``: their registries import PyTorch,
which ``mnistkit train --help`` has no use for. :func:`registered` asks a registry itself
once something has imported it, so a name registered from Python is offered as well.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = [
    "DATASET_NAMES",
    "MODEL_NAMES",
    "OPTIMIZER_NAMES",
    "PRECISIONS",
    "RECIPE_NAMES",
    "SCHEDULE_NAMES",
    "STRATEGIES",
    "registered",
]

#: The precisions mnistkit accepts, in the spelling Lightning popularised, and ``"auto"``.
PRECISIONS: tuple[str, ...] = ("32", "bf16-mixed", "16-mixed", "auto")

#: Accepted values of ``TrainConfig.distributed``.
STRATEGIES: tuple[str, ...] = ("auto", "off", "gloo", "nccl")

#: The keys of :data:`mnistkit.optim.OPTIMIZERS`.
OPTIMIZER_NAMES: tuple[str, ...] = ("sgd", "momentum", "adam", "adamw", "adadelta")

#: The keys of :data:`mnistkit.optim.SCHEDULES`.
SCHEDULE_NAMES: tuple[str, ...] = ("none", "step", "cosine", "onecycle")

#: What :func:`mnistkit.list_models` returns before any model is registered from Python.
MODEL_NAMES: tuple[str, ...] = ("cnn", "deepcnn", "lenet5", "linear", "mlp", "resnet")

#: What :func:`mnistkit.datasets.list_datasets` returns.
DATASET_NAMES: tuple[str, ...] = (
    "emnist-balanced",
    "emnist-byclass",
    "emnist-bymerge",
    "emnist-digits",
    "emnist-letters",
    "emnist-mnist",
    "fashion-mnist",
    "kmnist",
    "mnist",
    "qmnist",
)

#: What :func:`mnistkit.recipes.list_recipes` returns before any recipe is registered.
RECIPE_NAMES: tuple[str, ...] = (
    "best",
    "cnn",
    "deepcnn",
    "default",
    "fashion",
    "fast",
    "lenet5",
    "linear",
    "mlp",
    "resnet",
)

# each kind of name: the built-in ones, and the module and function of its registry
_REGISTRIES: dict[str, tuple[tuple[str, ...], str, str]] = {
    "models": (MODEL_NAMES, "mnistkit.models._registry", "list_models"),
    "datasets": (DATASET_NAMES, "mnistkit.datasets._registry", "list_datasets"),
    "recipes": (RECIPE_NAMES, "mnistkit.recipes", "list_recipes"),
}


def registered(kind: str) -> Sequence[str]:
    """The names of the models, data sets or recipes, without importing PyTorch.

    Parameters
    ----------
    kind : {"models", "datasets", "recipes"}
        Which registry.

    Returns
    -------
    sequence of str
        The registry's own list when its module has been imported (it then holds what was
        registered from Python as well), else the built-in names, which are the same when
        nothing was registered (``tests/test_cli_help.py`` holds them equal).
    """
    builtin, module, function = _REGISTRIES[kind]
    loaded = sys.modules.get(module)
    lister = getattr(loaded, function, None)  # None while the module is still loading
    return builtin if lister is None else list(lister())
