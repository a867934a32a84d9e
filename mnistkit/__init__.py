"""mnistkit: train, evaluate and explain neural-network digit classifiers on MNIST.

The public surface is re-exported here once; submodules hold the details::

    import mnistkit
    data = mnistkit.datasets.load("mnist")
    train, val = mnistkit.train_val_split(data.train, val_fraction=0.1)
    trainer = mnistkit.Trainer(mnistkit.get_model("cnn"), mnistkit.TrainConfig(epochs=3))
    trainer.fit(train, val=val)
    print(trainer.evaluate(data.test))

or the whole run, files and figures included, as ``mnistkit train`` does it::

    config = mnistkit.TrainConfig(epochs=3)
    mnistkit.run_training("runs/mnist-cnn", model="cnn", config=config)
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any

# Errors and the version are cheap and wanted first (``except mnistkit.ConfigError``).
from mnistkit._version import __version__
from mnistkit.exceptions import (
    CheckpointError,
    ConfigError,
    CorruptFileError,
    DatasetError,
    DatasetNotFoundError,
    DeviceError,
    DeviceFallbackWarning,
    DistributedError,
    DownloadError,
    ExportError,
    FolderLockedError,
    ImageError,
    MissingExtraError,
    MnistkitError,
    MnistkitWarning,
    PrecisionFallbackWarning,
    TrainingDivergedError,
    WriteError,
)

# Everything else is imported on first use (PEP 562), so that ``import mnistkit`` and
# ``mnistkit --version`` do not pay for PyTorch, Matplotlib and the rest until a name
# needs them. The table says where each public name lives; the block below gives type
# checkers and editors the same names (tests/test_layering.py checks that they agree).
_SUBMODULES = (
    "augment",
    "callbacks",
    "datasets",
    "deploy",
    "devices",
    "distributed",
    "loaders",
    "metrics",
    "models",
    "optim",
    "plotting",
    "pretrained",
    "recipes",
)
_NAMES = {
    "mnistkit.callbacks": (
        "Callback",
        "EarlyStopping",
        "EpochLog",
        "MetricsLogger",
        "ModelCheckpoint",
        "ProgressBar",
        "RunView",
        "TrainingStateCheckpoint",
    ),
    "mnistkit.checkpoints": ("LoadedModel", "ModelMetadata", "load_model", "save_model"),
    "mnistkit.config": ("TrainConfig",),
    "mnistkit.datasets": ("DatasetSplits", "Split", "list_datasets"),
    "mnistkit.deploy": ("export", "load_onnx"),
    "mnistkit.devices": ("resolve_device", "seed_everything"),
    "mnistkit.history": ("History",),
    "mnistkit.inference": ("predict", "predict_proba"),
    "mnistkit.loaders": ("DeviceLoader", "train_val_split"),
    "mnistkit.metrics": ("Report",),
    "mnistkit.models": ("Normalize", "get_model", "list_models", "summary"),
    "mnistkit.recipes": ("Recipe", "get_recipe", "list_recipes"),
    "mnistkit.run": ("EnsembleResult", "RunResult", "run_ensemble", "run_training"),
    "mnistkit.tensorboard": ("TensorBoardLogger",),
    "mnistkit.trainer": ("Trainer",),
}
_HOME = {name: module for module, names in _NAMES.items() for name in names}

if TYPE_CHECKING:
    from mnistkit import (
        augment,
        callbacks,
        datasets,
        deploy,
        devices,
        distributed,
        loaders,
        metrics,
        models,
        optim,
        plotting,
        pretrained,
        recipes,
    )
    from mnistkit.callbacks import (
        Callback,
        EarlyStopping,
        EpochLog,
        MetricsLogger,
        ModelCheckpoint,
        ProgressBar,
        RunView,
        TrainingStateCheckpoint,
    )
    from mnistkit.checkpoints import LoadedModel, ModelMetadata, load_model, save_model
    from mnistkit.config import TrainConfig
    from mnistkit.datasets import DatasetSplits, Split, list_datasets
    from mnistkit.deploy import export, load_onnx
    from mnistkit.devices import resolve_device, seed_everything
    from mnistkit.history import History
    from mnistkit.inference import predict, predict_proba
    from mnistkit.loaders import DeviceLoader, train_val_split
    from mnistkit.metrics import Report
    from mnistkit.models import Normalize, get_model, list_models
    from mnistkit.models.summary import summary
    from mnistkit.recipes import Recipe, get_recipe, list_recipes
    from mnistkit.run import EnsembleResult, RunResult, run_ensemble, run_training
    from mnistkit.tensorboard import TensorBoardLogger
    from mnistkit.trainer import Trainer


def __getattr__(name: str) -> Any:
    """Import a public name's module the first time the name is used (PEP 562)."""
    if name in _HOME:
        value: Any = getattr(importlib.import_module(_HOME[name]), name)
    elif name in _SUBMODULES or (
        # any other module of the package (mnistkit.trainer, mnistkit.scratch, ...), as
        # when importing the package imported them all
        not name.startswith("_") and importlib.util.find_spec(f"mnistkit.{name}") is not None
    ):
        value = importlib.import_module(f"mnistkit.{name}")
    else:
        raise AttributeError(f"module 'mnistkit' has no attribute {name!r}")
    globals()[name] = value  # later uses are plain attribute look-ups
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "Callback",
    "CheckpointError",
    "ConfigError",
    "CorruptFileError",
    "DatasetError",
    "DatasetNotFoundError",
    "DatasetSplits",
    "DeviceError",
    "DeviceFallbackWarning",
    "DeviceLoader",
    "DistributedError",
    "DownloadError",
    "EarlyStopping",
    "EnsembleResult",
    "EpochLog",
    "ExportError",
    "FolderLockedError",
    "History",
    "ImageError",
    "LoadedModel",
    "MetricsLogger",
    "MissingExtraError",
    "MnistkitError",
    "MnistkitWarning",
    "ModelCheckpoint",
    "ModelMetadata",
    "Normalize",
    "PrecisionFallbackWarning",
    "ProgressBar",
    "Recipe",
    "Report",
    "RunResult",
    "RunView",
    "Split",
    "TensorBoardLogger",
    "TrainConfig",
    "Trainer",
    "TrainingDivergedError",
    "TrainingStateCheckpoint",
    "WriteError",
    "__version__",
    "augment",
    "callbacks",
    "datasets",
    "deploy",
    "devices",
    "distributed",
    "export",
    "get_model",
    "get_recipe",
    "list_datasets",
    "list_models",
    "list_recipes",
    "load_model",
    "load_onnx",
    "loaders",
    "metrics",
    "models",
    "optim",
    "plotting",
    "predict",
    "predict_proba",
    "pretrained",
    "recipes",
    "resolve_device",
    "run_ensemble",
    "run_training",
    "save_model",
    "seed_everything",
    "summary",
    "train_val_split",
]
