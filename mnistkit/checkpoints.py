"""Model files and training state, saved so that loading never runs code from the file.

* :func:`save_model` / :func:`load_model`: the weights in a `safetensors
  <https://huggingface.co/docs/safetensors>`_ file, whose header carries mnistkit's metadata
  as JSON (architecture and configuration, data set, class names, normalisation, mnistkit
  version, metrics). One file, no pickle.
* :func:`save_training_state` / :func:`load_training_state`: optimiser, scheduler, random
  generators and history for resuming, written with :func:`torch.save` and read with
  ``torch.load(weights_only=True)``, which only rebuilds tensors and plain containers.

Both write to a temporary file in the target folder and rename it into place.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import safetensors
import safetensors.torch
import torch
from torch import nn

from mnistkit.devices import DeviceLike, resolve_device
from mnistkit.exceptions import CheckpointError
from mnistkit.models._registry import architecture_of, get_model

__all__ = [
    "LoadedModel",
    "ModelMetadata",
    "load_model",
    "load_training_state",
    "save_model",
    "save_training_state",
]

_METADATA_KEY = "mnistkit"
_FORMAT_VERSION = 1


def _version() -> str:
    from mnistkit import __version__

    return __version__


@dataclass(frozen=True, slots=True)
class ModelMetadata:
    """What a model file says about the model it holds.

    Attributes
    ----------
    architecture : str or None
        Registry name (``"cnn"``...), or ``None`` for a user's own module.
    config : dict
        Keyword arguments that rebuild it with :func:`mnistkit.get_model`.
    dataset : str or None
        Data set it was trained on.
    classes : tuple of str
        Class names, indexed by output unit.
    mean, std : float
        Input normalisation used in training (pixels on a [0, 1] scale).
    mnistkit_version : str
        Version that wrote the file.
    metrics : dict
        Free-form numbers, e.g. ``{"test_accuracy": 0.993}``.
    """

    architecture: str | None
    config: dict[str, Any] = field(default_factory=dict)
    dataset: str | None = None
    classes: tuple[str, ...] = tuple(str(i) for i in range(10))
    mean: float = 0.1307
    std: float = 0.3081
    mnistkit_version: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-serialisable form."""
        out = asdict(self)
        out["classes"] = list(self.classes)
        out["format_version"] = _FORMAT_VERSION
        return out


@dataclass(frozen=True, slots=True)
class LoadedModel:
    """A model read by :func:`load_model`, with its metadata."""

    model: nn.Module
    metadata: ModelMetadata


@contextmanager
def _atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only on success."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def save_model(
    model: nn.Module,
    path: str | os.PathLike[str],
    *,
    dataset: str | None = None,
    classes: Sequence[str] | None = None,
    mean: float = 0.1307,
    std: float = 0.3081,
    metrics: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``model``'s weights and metadata to a safetensors file.

    Parameters
    ----------
    model : torch.nn.Module
        Built by :func:`mnistkit.get_model` (then :func:`load_model` can rebuild it), or any
        module (then pass ``model=`` when loading).
    path : path-like
        Destination, conventionally ``*.safetensors``.
    dataset : str, optional
    classes : sequence of str, optional
        Defaults to ``"0"`` … ``"9"`` for ten outputs.
    mean, std : float
        Input normalisation the model expects.
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
        mean=float(mean),
        std=float(std),
        mnistkit_version=_version(),
        metrics=dict(metrics or {}),
    )
    try:
        header = json.dumps(metadata.to_dict())
    except TypeError as exc:
        raise CheckpointError(f"{path}: metadata is not JSON-serialisable ({exc}).") from None
    tensors = {
        name: tensor.detach().to("cpu").contiguous() for name, tensor in model.state_dict().items()
    }
    with _atomic_path(path) as tmp:
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

    Returns
    -------
    LoadedModel
        The model, in eval mode on ``device``, and its :class:`ModelMetadata`.

    Raises
    ------
    CheckpointError
        Missing or malformed file, unknown architecture, or weights that do not fit.
    """
    path = Path(path)
    header = _read_header(path)
    try:
        metadata = ModelMetadata(
            architecture=header.get("architecture"),
            config=dict(header.get("config") or {}),
            dataset=header.get("dataset"),
            classes=tuple(header.get("classes") or ()),
            mean=float(header.get("mean", 0.1307)),
            std=float(header.get("std", 0.3081)),
            mnistkit_version=str(header.get("mnistkit_version", "")),
            metrics=dict(header.get("metrics") or {}),
        )
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: malformed mnistkit metadata ({exc}).") from None
    if model is None:
        if metadata.architecture is None:
            raise CheckpointError(
                f"{path}: holds a custom model (no registered architecture); pass the module "
                "to load into as load_model(path, model=YourModel())."
            )
        try:
            model = get_model(metadata.architecture, **metadata.config)
        except Exception as exc:
            raise CheckpointError(f"{path}: cannot rebuild the model: {exc}") from None
    try:
        state = safetensors.torch.load_file(str(path), device="cpu")
    except Exception as exc:
        raise CheckpointError(f"{path}: cannot read the weights ({exc}).") from None
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(
            f"{path}: the weights do not fit the model {type(model).__name__}: {exc}"
        ) from None
    model.to(resolve_device(device)).eval()
    return LoadedModel(model=model, metadata=metadata)


def save_training_state(state: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write a training-state dictionary (tensors and plain containers only) atomically."""
    path = Path(path)
    with _atomic_path(path) as tmp:
        torch.save(dict(state), tmp)
    return path


def load_training_state(
    path: str | os.PathLike[str], *, check: Callable[[dict[str, Any]], None] | None = None
) -> dict[str, Any]:
    """Read a training state with ``torch.load(weights_only=True)``: no code is executed.

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
