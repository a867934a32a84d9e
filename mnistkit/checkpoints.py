"""Model files and training state, saved so that loading never runs code from the file.

* :func:`save_model` / :func:`load_model`: the weights in a `safetensors
  <https://huggingface.co/docs/safetensors>`_ file, whose header carries mnistkit's metadata
  as JSON (file format version, architecture and configuration, data set, class names,
  mnistkit version, metrics). One file, no pickle. The input normalisation is part of the
  weights (the model's :class:`~mnistkit.models.Normalize` buffers).
* :class:`TrainingState`, :func:`save_training_state` / :func:`load_training_state`:
  optimiser, schedule, random generators and history for resuming, written with
  :func:`torch.save` and read with ``torch.load(weights_only=True)``, which only rebuilds
  tensors and plain containers.

Every file is written atomically (a temporary file in the target folder, fsynced, then
renamed into place), with the mode a new file gets under the user's umask.

Model file format versions: 1 (mnistkit 0.1) kept ``mean``/``std`` in the metadata and
models expected normalised input; :func:`load_model` still reads such files and puts their
normalisation into the model's :class:`~mnistkit.models.Normalize` layer. Version 2 (this
release) stores it in the weights.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import safetensors
import safetensors.torch
import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel

from mnistkit._io import atomic_path
from mnistkit._version import __version__
from mnistkit.config import TrainConfig
from mnistkit.devices import DeviceLike, resolve_device
from mnistkit.exceptions import CheckpointError
from mnistkit.history import History
from mnistkit.models._registry import architecture_of, get_model
from mnistkit.models.normalize import Normalize
from mnistkit.optim import Schedule

__all__ = [
    "FORMAT_VERSION",
    "LoadedModel",
    "ModelMetadata",
    "TrainingState",
    "load_model",
    "load_training_state",
    "save_model",
    "save_training_state",
]

_METADATA_KEY = "mnistkit"
#: Version of the model file format that :func:`save_model` writes.
FORMAT_VERSION = 2


@dataclass(frozen=True, slots=True)
class ModelMetadata:
    """What a model file says about the model it holds.

    Parameters
    ----------
    architecture : str or None
        Registry name (``"cnn"``...), or ``None`` for a user's own module.
    config : dict
        Keyword arguments that rebuild it with :func:`mnistkit.get_model`.
    dataset : str or None
        Data set it was trained on.
    classes : tuple of str
        Class names, indexed by output unit.
    mnistkit_version : str
        Version that wrote the file.
    metrics : dict
        Free-form numbers, e.g. ``{"test_accuracy": 0.993}``.
    format_version : int
        Version of the file format (see :data:`FORMAT_VERSION`).
    """

    architecture: str | None
    config: dict[str, Any] = field(default_factory=dict)
    dataset: str | None = None
    classes: tuple[str, ...] = tuple(str(i) for i in range(10))
    mnistkit_version: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    def to_dict(self) -> dict[str, Any]:
        """The metadata as plain data.

        Returns
        -------
        dict
            JSON-serialisable; what the file's header holds.
        """
        out = asdict(self)
        out["classes"] = list(self.classes)
        return out

    def _repr_html_(self) -> str:
        """Jupyter's rich display: the metadata as a two-column table."""
        from mnistkit import _html

        rows: list[tuple[str, object]] = [
            ("architecture", self.architecture or "(a custom module)"),
            *((f"config.{k}", str(v)) for k, v in self.config.items()),
            ("dataset", self.dataset or "(unknown)"),
            ("classes", ", ".join(self.classes)),
            *((f"metrics.{k}", v) for k, v in self.metrics.items()),
            ("written by mnistkit", self.mnistkit_version or "(unknown)"),
            ("file format version", self.format_version),
        ]
        return _html.table(rows, caption="Model metadata")


@dataclass(frozen=True, slots=True)
class LoadedModel:
    """A model read by :func:`load_model`, with its metadata.

    Parameters
    ----------
    model : torch.nn.Module
        In eval mode; takes pixels in [0, 1].
    metadata : ModelMetadata
        What the file says about the model.
    """

    model: nn.Module
    metadata: ModelMetadata


def save_model(
    model: nn.Module,
    path: str | os.PathLike[str],
    *,
    dataset: str | None = None,
    classes: Sequence[str] | None = None,
    metrics: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``model``'s weights and metadata to a safetensors file.

    Parameters
    ----------
    model : torch.nn.Module
        Built by :func:`mnistkit.get_model` (then :func:`load_model` can rebuild it), or any
        module (then pass ``model=`` when loading). Its normalisation, if it has a
        :class:`~mnistkit.models.Normalize` layer, is saved with the weights.
    path : path-like
        Destination, conventionally ``*.safetensors``.
    dataset : str, optional
        The data set it was trained on.
    classes : sequence of str, optional
        Defaults to ``"0"`` … ``"9"`` for ten outputs.
    metrics : mapping, optional
        JSON-serialisable numbers to store, e.g. test accuracy.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    path = Path(path)
    arch = architecture_of(model)
    metadata = ModelMetadata(
        architecture=arch["name"] if arch else None,
        config=arch["config"] if arch else {},
        dataset=dataset,
        classes=tuple(classes) if classes is not None else tuple(str(i) for i in range(10)),
        mnistkit_version=__version__,
        metrics=dict(metrics or {}),
    )
    try:
        header = json.dumps(metadata.to_dict())
    except TypeError as exc:
        raise CheckpointError(f"{path}: metadata is not JSON-serialisable ({exc}).") from None
    tensors = {
        name: tensor.detach().to("cpu").contiguous() for name, tensor in model.state_dict().items()
    }
    with atomic_path(path) as tmp:
        safetensors.torch.save_file(tensors, str(tmp), metadata={_METADATA_KEY: header})
    return path


def _read_header(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise CheckpointError(
            f"{path}: no such model file; expected a .safetensors file written by "
            "mnistkit.save_model or 'mnistkit train'."
        )
    try:
        with safetensors.safe_open(str(path), framework="pt") as handle:
            raw = (handle.metadata() or {}).get(_METADATA_KEY)
    except Exception as exc:  # safetensors raises its own error types for bad headers
        raise CheckpointError(f"{path}: not a valid safetensors file ({exc}).") from None
    if raw is None:
        raise CheckpointError(
            f"{path}: a safetensors file without mnistkit metadata; it was not written by "
            "mnistkit.save_model. Load its tensors with safetensors.torch.load_file instead."
        )
    try:
        header: dict[str, Any] = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path}: the mnistkit metadata is not valid JSON ({exc}).") from None
    return header


def load_model(
    path: str | os.PathLike[str],
    *,
    model: nn.Module | None = None,
    device: DeviceLike = "cpu",
) -> LoadedModel:
    """Read a model file written by :func:`save_model`.

    Parameters
    ----------
    path : path-like
        The ``.safetensors`` file.
    model : torch.nn.Module, optional
        A module to load the weights into; needed for models not built by
        :func:`mnistkit.get_model`. By default the registered architecture is rebuilt from
        the file's metadata.
    device : str or torch.device, default="cpu"
        Where the model is put.

    Returns
    -------
    LoadedModel
        The model, in eval mode on ``device``, and its :class:`ModelMetadata`.

    Raises
    ------
    CheckpointError
        Missing or malformed file, a format version this mnistkit cannot read, unknown
        architecture, or weights that do not fit.
    """
    path = Path(path)
    header = _read_header(path)
    version = header.get("format_version", 1)
    if not isinstance(version, int) or not 1 <= version <= FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: model file format version {version!r} is not supported; this mnistkit "
            f"({__version__}) reads versions 1 to {FORMAT_VERSION}. The file was written by "
            f"mnistkit {header.get('mnistkit_version', '?')}: upgrade mnistkit to read it."
        )
    try:
        metadata = ModelMetadata(
            architecture=header.get("architecture"),
            config=dict(header.get("config") or {}),
            dataset=header.get("dataset"),
            classes=tuple(header.get("classes") or ()),
            mnistkit_version=str(header.get("mnistkit_version", "")),
            metrics=dict(header.get("metrics") or {}),
            format_version=version,
        )
        legacy_norm = (float(header["mean"]), float(header["std"])) if version == 1 else None
    except (TypeError, ValueError, KeyError) as exc:
        raise CheckpointError(f"{path}: malformed mnistkit metadata ({exc!r}).") from None
    if model is None:
        if metadata.architecture is None:
            raise CheckpointError(
                f"{path}: holds a custom model (no registered architecture); pass the module "
                "to load into as load_model(path, model=YourModel())."
            )
        _check_config_size(metadata.config, path)
        try:
            # On the meta device: shapes only, no memory, whatever sizes the file asks for.
            with torch.device("meta"):
                model = get_model(metadata.architecture, **metadata.config)
        except Exception as exc:
            raise CheckpointError(f"{path}: cannot rebuild the model: {exc}") from None
    try:
        state = safetensors.torch.load_file(str(path), device="cpu")
    except Exception as exc:
        raise CheckpointError(f"{path}: cannot read the weights ({exc}).") from None
    if legacy_norm is not None:
        state = _upgrade_version_1(state, model, legacy_norm, path)
    _check_shapes(state, model, path)
    if any(t.is_meta for t in model.state_dict().values()):
        # the shapes match the file's tensors, so this allocates no more than the file holds
        model = model.to_empty(device="cpu")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(
            f"{path}: the weights do not fit the model {type(model).__name__}: {exc}"
        ) from None
    model.to(resolve_device(device)).eval()
    return LoadedModel(model=model, metadata=metadata)


#: Most numbers a model file's architecture configuration may hold (the registered models
#: need a handful); a file asking for more is refused before anything is built.
_MAX_CONFIG_NUMBERS = 256


def _check_config_size(config: dict[str, Any], path: Path) -> None:
    count = 0
    stack: list[Any] = list(config.values())
    while stack:
        value = stack.pop()
        if isinstance(value, list | tuple | dict):
            stack.extend(value.values() if isinstance(value, dict) else value)
        count += 1
        if count > _MAX_CONFIG_NUMBERS:
            raise CheckpointError(
                f"{path}: the model configuration holds more than {_MAX_CONFIG_NUMBERS} "
                "values; this is not a model mnistkit wrote."
            )


def _check_shapes(state: dict[str, torch.Tensor], model: nn.Module, path: Path) -> None:
    """Name every tensor whose shape differs between the file and the model, or that one of
    them lacks, before any memory is spent on the model."""
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    found = {k: tuple(v.shape) for k, v in state.items()}
    problems = [
        f"{k}: file {found[k]} vs model {expected[k]}"
        for k in sorted(expected.keys() & found.keys())
        if found[k] != expected[k]
    ]
    problems += [f"{k}: missing from the file" for k in sorted(expected.keys() - found.keys())]
    problems += [f"{k}: not in the model" for k in sorted(found.keys() - expected.keys())]
    if problems:
        shown = "; ".join(problems[:5]) + (
            f"; and {len(problems) - 5} more" if len(problems) > 5 else ""
        )
        raise CheckpointError(
            f"{path}: the weights do not fit the model {type(model).__name__}: {shown}."
        )


def _upgrade_version_1(
    state: dict[str, torch.Tensor], model: nn.Module, norm: tuple[float, float], path: Path
) -> dict[str, torch.Tensor]:
    """Put a version-1 file's normalisation (kept in its metadata) into the weights of the
    model's first :class:`~mnistkit.models.Normalize` layer, wherever it sits."""
    layer = next((n for n, m in model.named_modules() if isinstance(m, Normalize)), None)
    if layer is None:
        raise CheckpointError(
            f"{path}: a version-1 model file (mnistkit 0.1), whose model expects input "
            f"normalised with mean {norm[0]} and std {norm[1]}; the module to load into has no "
            "Normalize layer to hold them. Put mnistkit.models.Normalize(mean, std) first "
            "in your module."
        )
    expected = model.state_dict()
    upgraded = dict(state)
    for buffer, value in zip(("mean", "std"), norm, strict=True):
        key = f"{layer}.{buffer}" if layer else buffer
        upgraded[key] = torch.full(expected[key].shape, value, dtype=expected[key].dtype)
    return upgraded


def save_training_state(state: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write a training-state dictionary (tensors and plain containers only) atomically.

    Parameters
    ----------
    state : mapping
        Usually :meth:`TrainingState.state_dict`'s output.
    path : path-like
        Destination, conventionally ``state.pt``.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(dict(state), tmp)
    return path


def load_training_state(
    path: str | os.PathLike[str], *, check: Callable[[dict[str, Any]], None] | None = None
) -> dict[str, Any]:
    """Read a training state with ``torch.load(weights_only=True)``: no code is executed.

    Parameters
    ----------
    path : path-like
        A file written by :func:`save_training_state`.
    check : callable, optional
        Called with the state; may raise to reject it.

    Returns
    -------
    dict
        The state.

    Raises
    ------
    CheckpointError
        If the file is missing, is not a training state, or holds anything but tensors and
        plain containers.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such training-state file.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(
            f"{path}: not a training-state file that can be loaded safely ({exc})."
        ) from None
    if not isinstance(state, dict) or state.get("format") != "mnistkit-training-state":
        raise CheckpointError(f"{path}: not an mnistkit training-state file.")
    if check is not None:
        check(state)
    return state


# Settings that may differ when resuming (more epochs, another device...); all others must
# match the saved run's, or the resumed run would not be the same training.
_FREE_ON_RESUME = frozenset(
    {
        "epochs",
        "device",
        "progress",
        "log_every",
        "eval_batch_size",
        "compile",
        "distributed",
        "distributed_timeout",
    }
)


@dataclass(eq=False, slots=True)
class TrainingState:
    """The live objects of a training run that a training-state file captures.

    :class:`~mnistkit.Trainer` builds one per :meth:`~mnistkit.Trainer.fit`; use it to save
    and restore a run of your own loop the same way.

    Parameters
    ----------
    config : TrainConfig
        The run's settings; a state saved under other settings is refused by :meth:`restore`.
    model : torch.nn.Module
        The model being trained.
    optimizer : torch.optim.Optimizer
        Its optimiser (see :func:`mnistkit.optim.build_optimizer`).
    schedule : mnistkit.optim.Schedule
        Its learning-rate schedule (see :func:`mnistkit.optim.build_schedule`).
    scaler : torch.amp.GradScaler or None
        The gradient scaler of ``"16-mixed"`` on CUDA, else ``None``.
    generator : torch.Generator
        The shuffling (and augmentation) generator.
    device : torch.device
        Where the run trains; CUDA's random state is saved too on a GPU.
    averaged : torch.optim.swa_utils.AveragedModel, optional
        The weight average of a run with ``config.ema_decay``; saved and restored with the
        rest, so a resumed run continues the same average.
    """

    config: TrainConfig
    model: nn.Module
    optimizer: torch.optim.Optimizer
    schedule: Schedule
    scaler: torch.amp.GradScaler | None
    generator: torch.Generator
    device: torch.device
    averaged: AveragedModel | None = None

    def state_dict(self, history: History) -> dict[str, Any]:
        """Everything needed to resume after the epochs in ``history``.

        Parameters
        ----------
        history : History
            The epochs done so far.

        Returns
        -------
        dict
            Tensors and plain containers only (loadable with ``weights_only=True``).
        """
        state: dict[str, Any] = {
            "format": "mnistkit-training-state",
            "epoch": len(history),
            "config": self.config.to_dict(),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.schedule.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "rng_torch": torch.get_rng_state(),
            "rng_generator": self.generator.get_state(),
            "history": history.to_dict(),
            "averaged": self.averaged.state_dict() if self.averaged is not None else None,
        }
        if self.device.type == "cuda":
            state["rng_cuda"] = torch.cuda.get_rng_state(self.device)
        return state

    def save(self, path: str | os.PathLike[str], history: History) -> Path:
        """Write :meth:`state_dict` atomically to ``path``.

        Parameters
        ----------
        path : path-like
            Destination, conventionally ``state.pt``.
        history : History
            The epochs done so far.

        Returns
        -------
        pathlib.Path
            The written file.
        """
        return save_training_state(self.state_dict(history), path)

    def restore(self, path: str | os.PathLike[str]) -> History:
        """Load a state saved by :meth:`save` into these objects.

        Parameters
        ----------
        path : path-like
            The training-state file.

        Returns
        -------
        History
            The epochs the saved run had done; training continues after them.

        Raises
        ------
        CheckpointError
            If the file is unreadable, was saved with different settings, or does not fit
            the model.
        """
        path = Path(path)
        state = load_training_state(path)
        # a setting added after the state was written had its default value then
        saved = {**TrainConfig().to_dict(), **dict(state.get("config") or {})}
        current = self.config.to_dict()
        different = sorted(
            k for k in current if k not in _FREE_ON_RESUME and saved.get(k) != current[k]
        )
        if different:
            raise CheckpointError(
                f"{path}: the training state was saved with a different configuration "
                f"({', '.join(f'{k}: {saved.get(k)!r} != {current[k]!r}' for k in different)})."
            )
        if saved.get("epochs") != current["epochs"] and self.schedule.per_batch:
            raise CheckpointError(
                f"{path}: cannot change 'epochs' ({saved.get('epochs')} -> {current['epochs']}) "
                f"when resuming a {self.config.schedule!r} schedule, whose length depends on it."
            )
        try:
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.schedule.load_state_dict(state.get("scheduler"))
            if self.scaler is not None and state.get("scaler") is not None:
                self.scaler.load_state_dict(state["scaler"])
            if self.averaged is not None:
                if state.get("averaged") is None:
                    raise ValueError("it holds no weight average (ema_decay)")
                self.averaged.load_state_dict(state["averaged"])
            torch.set_rng_state(state["rng_torch"])
            self.generator.set_state(state["rng_generator"])
            if "rng_cuda" in state and self.device.type == "cuda":
                torch.cuda.set_rng_state(state["rng_cuda"], self.device)
            history = History.from_dict(state.get("history") or {})
            if len(history) != int(state["epoch"]):
                raise ValueError(f"{state['epoch']} epochs but {len(history)} history records")
        except (KeyError, RuntimeError, ValueError, TypeError) as exc:
            raise CheckpointError(
                f"{path}: the training state does not fit this model: {exc}"
            ) from None
        return history
