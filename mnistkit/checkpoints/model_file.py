"""The model file: weights in a `safetensors <https://huggingface.co/docs/safetensors>`_ file
whose header carries mnistkit's metadata as JSON, and the migration of older versions.

One file, no pickle: loading never runs code from the file. The input normalisation is part
of the weights (the model's :class:`~mnistkit.models.Normalize` buffers).

File format versions: 1 (mnistkit 0.1) kept ``mean``/``std`` in the metadata and models
expected normalised input; :func:`load_model` still reads such files and puts their
normalisation into the model's :class:`~mnistkit.models.Normalize` layer
(``_upgrade_version_1``). Version 2 (:data:`FORMAT_VERSION`) stores it in the weights.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import safetensors
import safetensors.torch
import torch
from torch import nn

from mnistkit._io import atomic_open
from mnistkit._version import __version__
from mnistkit.devices import DeviceLike, resolve_device
from mnistkit.exceptions import CheckpointError, ConfigError
from mnistkit.metrics.ood import RejectionThreshold
from mnistkit.models._registry import architecture_of, get_model
from mnistkit.models.normalize import Normalize

__all__ = [
    "FORMAT_VERSION",
    "LoadedModel",
    "ModelMetadata",
    "load_model",
    "save_model",
    "set_rejection_threshold",
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
    rejection : RejectionThreshold or None, default=None
        When the model's answer is "not a digit" (see
        :class:`~mnistkit.metrics.RejectionThreshold`): stored by ``mnistkit train`` when
        it has a validation split, or later by ``mnistkit threshold`` /
        :func:`set_rejection_threshold`; ``None`` in files without one. mnistkit versions
        before 0.3 ignore it.
    """

    architecture: str | None
    config: dict[str, Any] = field(default_factory=dict)
    dataset: str | None = None
    classes: tuple[str, ...] = tuple(str(i) for i in range(10))
    mnistkit_version: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION
    rejection: RejectionThreshold | None = None

    @classmethod
    def from_module(
        cls,
        model: nn.Module,
        *,
        dataset: str | None = None,
        classes: Sequence[str] | None = None,
        metrics: Mapping[str, Any] | None = None,
        rejection: RejectionThreshold | None = None,
    ) -> ModelMetadata:
        """The metadata of ``model`` as this mnistkit writes it.

        Parameters
        ----------
        model : torch.nn.Module
            Its registered architecture and configuration are recorded (``None`` and ``{}``
            for a module not built by :func:`mnistkit.get_model`).
        dataset : str, optional
            The data set it was trained on.
        classes : sequence of str, optional
            Class names; ``"0"`` to ``"9"`` by default.
        metrics : mapping, optional
            Numbers to record, e.g. the test accuracy.
        rejection : RejectionThreshold, optional
            When the model's answer is "not a digit".

        Returns
        -------
        ModelMetadata
            With this mnistkit's version and :data:`FORMAT_VERSION`.
        """
        arch = architecture_of(model)
        return cls(
            architecture=arch["name"] if arch else None,
            config=arch["config"] if arch else {},
            dataset=dataset,
            classes=tuple(classes) if classes is not None else tuple(str(i) for i in range(10)),
            mnistkit_version=__version__,
            metrics=dict(metrics or {}),
            rejection=rejection,
        )

    def to_dict(self) -> dict[str, Any]:
        """The metadata as plain data.

        Returns
        -------
        dict
            JSON-serialisable; what the file's header holds.
        """
        out = asdict(self)
        out["classes"] = list(self.classes)
        out["rejection"] = self.rejection.to_dict() if self.rejection is not None else None
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
            *((("rejection", str(self.rejection)),) if self.rejection is not None else ()),
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
    rejection: RejectionThreshold | None = None,
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
    rejection : RejectionThreshold, optional
        When the model's answer is "not a digit" (see
        :meth:`RejectionThreshold.from_scores <mnistkit.metrics.RejectionThreshold.from_scores>`).

    Returns
    -------
    pathlib.Path
        The written file.

    Raises
    ------
    CheckpointError
        If ``metrics`` is not JSON-serialisable.
    WriteError
        If the file cannot be written (full disk, read-only folder...); a file already at
        ``path`` is left as it was.
    """
    path = Path(path)
    if rejection is not None and not isinstance(rejection, RejectionThreshold):
        raise CheckpointError(
            f"{path}: argument 'rejection' must be a RejectionThreshold or None, but got "
            f"{type(rejection).__name__}"
        )
    metadata = ModelMetadata.from_module(
        model, dataset=dataset, classes=classes, metrics=metrics, rejection=rejection
    )
    try:
        header = json.dumps(metadata.to_dict())
    except TypeError as exc:
        raise CheckpointError(f"{path}: metadata is not JSON-serialisable ({exc}).") from None
    tensors = {
        name: tensor.detach().to("cpu").contiguous() for name, tensor in model.state_dict().items()
    }
    _write(path, tensors, header)
    return path


def _write(path: Path, tensors: dict[str, torch.Tensor], header: str) -> None:
    # the bytes go through a Python file object, so that a refused write is an OSError
    # (see mnistkit._io); a model file is small next to the model in memory
    data = safetensors.torch.save(tensors, metadata={_METADATA_KEY: header})
    with atomic_open(path, "wb") as handle:
        handle.write(data)


def set_rejection_threshold(
    path: str | os.PathLike[str],
    rejection: RejectionThreshold | None,
    *,
    out: str | os.PathLike[str] | None = None,
) -> Path:
    """Store (or remove) a model file's rejection threshold, leaving the rest unchanged.

    The weights and every other metadata field (its format version and the mnistkit
    version that wrote it included) are copied as they are; only ``rejection`` changes.
    The file is replaced atomically: a failed write leaves the old one.

    Parameters
    ----------
    path : path-like
        A model file written by :func:`save_model` (any format version).
    rejection : RejectionThreshold or None
        The new threshold; ``None`` removes the stored one.
    out : path-like, optional
        Write the result here instead of replacing ``path``.

    Returns
    -------
    pathlib.Path
        The written file.

    Raises
    ------
    CheckpointError
        If ``path`` is not a readable model file or ``rejection`` is not a
        :class:`~mnistkit.metrics.RejectionThreshold` or None.
    WriteError
        If the file cannot be written.
    """
    path = Path(path)
    if rejection is not None and not isinstance(rejection, RejectionThreshold):
        raise CheckpointError(
            f"{path}: argument 'rejection' must be a RejectionThreshold or None, but got "
            f"{type(rejection).__name__}"
        )
    header = _read_header(path)
    try:
        tensors = safetensors.torch.load_file(str(path), device="cpu")
    except Exception as exc:
        raise CheckpointError(f"{path}: cannot read the weights ({exc}).") from None
    header["rejection"] = rejection.to_dict() if rejection is not None else None
    target = Path(out) if out is not None else path
    _write(target, tensors, json.dumps(header))
    return target


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
            rejection=_rejection(header.get("rejection"), path),
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
    held = model.state_dict(keep_vars=True)
    assign = any(t.is_meta for t in held.values())
    if assign:
        # The file's tensors become the model's, in the dtypes it was built with: no copy,
        # and none of to_empty's meta kernels, whose first use imports sympy (0.4 s of
        # `mnistkit predict`). A tensor the file cannot fill (a non-persistent buffer) would
        # stay on the meta device, so such a model is given memory first, as before.
        state = {name: tensor.to(held[name].dtype) for name, tensor in state.items()}
        kept = {id(t) for t in held.values()}
        if any(t.is_meta and id(t) not in kept for t in (*model.parameters(), *model.buffers())):
            model, assign = model.to_empty(device="cpu"), False
    try:
        model.load_state_dict(state, strict=True, assign=assign)
    except RuntimeError as exc:
        raise CheckpointError(
            f"{path}: the weights do not fit the model {type(model).__name__}: {exc}"
        ) from None
    model.to(resolve_device(device)).eval()
    return LoadedModel(model=model, metadata=metadata)


def _rejection(value: object, path: Path) -> RejectionThreshold | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise CheckpointError(f"{path}: malformed rejection threshold {value!r} in the metadata.")
    try:
        return RejectionThreshold.from_dict(value)
    except ConfigError as exc:
        raise CheckpointError(f"{path}: malformed rejection threshold ({exc}).") from None


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
