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
    recipes,
)
from mnistkit._version import __version__
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
)
from mnistkit.history import History
from mnistkit.inference import predict, predict_proba
from mnistkit.loaders import DeviceLoader, train_val_split
from mnistkit.metrics import Report
from mnistkit.models import Normalize, get_model, list_models, summary
from mnistkit.recipes import Recipe, get_recipe, list_recipes
from mnistkit.run import EnsembleResult, RunResult, run_ensemble, run_training
from mnistkit.tensorboard import TensorBoardLogger
from mnistkit.trainer import Trainer

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
    "recipes",
    "resolve_device",
    "run_ensemble",
    "run_training",
    "save_model",
    "seed_everything",
    "summary",
    "train_val_split",
]
