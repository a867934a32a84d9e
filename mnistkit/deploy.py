"""Export a trained model for deployment: ONNX and ``torch.export`` programs, checked on export.

A model leaves Python as a file that another runtime executes: an ONNX graph (ONNX Runtime in
a web page, on a phone or in a C++ service) or a ``torch.export`` program (``.pt2``, for
PyTorch's ahead-of-time tools). Either file takes what every mnistkit model takes -- float32
pixels in [0, 1], white ink on black, shape ``(batch, 1, 28, 28)`` with any batch size -- and
returns class scores (logits; a softmax turns them into probabilities). The model's
normalisation (:class:`~mnistkit.models.Normalize`) is its first layer, so it is inside the
file too. Metadata (classes, data set, architecture, mnistkit version) travels in the file:
ONNX ``metadata_props`` with keys ``mnistkit.*``, or the ``.pt2`` archive's extra file
``mnistkit.json``::

    import mnistkit
    loaded = mnistkit.load_model("runs/mnist-default/model.safetensors")
    data = mnistkit.datasets.load("mnist")
    result = mnistkit.export(loaded, "model.onnx", check_images=data.test.images)
    print(result.check)   # agreement with PyTorch on the 10,000 test digits

**Checked on export.** With ``check_images``, the new file is run -- by ONNX Runtime for ONNX,
by PyTorch for ``.pt2`` -- on those images before it replaces anything at ``out``, and its
probabilities are compared with the PyTorch model's. When any probability differs by more
than ``tolerance`` the export fails with :class:`~mnistkit.exceptions.ExportError` and no
file is left behind.

**Loading back.** :func:`load_onnx` opens an ONNX file with ONNX Runtime and classifies like
:func:`mnistkit.predict_proba`. An ONNX file is data (a protobuf graph), safe to open from
anyone. A ``.pt2`` file is not: :func:`torch.export.load` may unpickle objects stored in it,
and unpickling can run code, so load only ``.pt2`` files you made yourself; mnistkit itself
only ever loads the one it has just written, to check it.

ONNX export needs the ``export`` extra (``pip install ".[export]"``: onnx, onnxscript,
ONNX Runtime); ``.pt2`` export needs only PyTorch.
"""

from __future__ import annotations

import copy
import io
import json
import math
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import numpy as np
import torch
from torch import nn

from mnistkit import _extras
from mnistkit._io import atomic_path
from mnistkit._validation import check_choice, check_int, check_number
from mnistkit._version import __version__
from mnistkit.checkpoints import LoadedModel, ModelMetadata, load_model
from mnistkit.exceptions import CheckpointError, ConfigError, ExportError
from mnistkit.inference import ImagesLike, as_image_batch, predict_proba

__all__ = [
    "DEFAULT_TOLERANCE",
    "FORMATS",
    "TARGETS",
    "ExportCheck",
    "ExportResult",
    "OnnxModel",
    "check_export",
    "export",
    "load_onnx",
    "read_pt2_metadata",
]

TARGETS: Final = ("onnx", "pt2")
"""What :func:`export` can write: an ONNX graph, or a ``torch.export`` program."""

FORMATS: Final = TARGETS
"""The former name of :data:`TARGETS`."""

DEFAULT_TOLERANCE: Final = 1e-4
"""Largest difference allowed between a probability from the exported file and PyTorch's.

Export changes how the arithmetic is done (ONNX Runtime fuses a batch norm into the
convolution before it, picks other convolution kernels and summation orders), not what is
computed, so float32 results differ in the last bits: for the ``fast`` recipe's CNN trained
two epochs, ONNX Runtime's probabilities on the 10,000 MNIST test digits differed from
PyTorch's by at most 1.1e-6 (a ``.pt2`` program's by 0). A difference above 1e-4 means the
graph computes something else.
"""

#: Name of the input and output of an exported graph.
INPUT_NAME: Final = "pixels"
OUTPUT_NAME: Final = "scores"
#: The ``.pt2`` archive's extra file with mnistkit's metadata.
PT2_METADATA: Final = "mnistkit.json"
_ONNX_PREFIX: Final = "mnistkit."
_CHECK_BATCH: Final = 1000
_INPUT_DOC: Final = "float32 (batch, 1, 28, 28): pixels in [0, 1], white ink on black"
_OUTPUT_DOC: Final = "float32 (batch, classes): class scores (logits); softmax gives probabilities"


@dataclass(frozen=True, slots=True)
class ExportCheck:
    """How an exported file's answers compare with the PyTorch model's.

    Parameters
    ----------
    images : int
        Images both classified.
    agreements : int
        Images given the same class by both.
    max_difference : float
        Largest absolute difference between two probabilities.
    tolerance : float
        Largest difference allowed.
    """

    images: int
    agreements: int
    max_difference: float
    tolerance: float

    @property
    def agreement(self) -> float:
        """Fraction of images given the same class (1.0 for no images)."""
        return self.agreements / self.images if self.images else 1.0

    @property
    def passed(self) -> bool:
        """Whether every probability is within :attr:`tolerance`."""
        return self.max_difference <= self.tolerance

    def __str__(self) -> str:
        verdict = "<=" if self.passed else ">"
        return (
            f"predictions agree on {self.agreements}/{self.images} images "
            f"({self.agreement:.2%}); max probability difference {self.max_difference:.1e} "
            f"{verdict} tolerance {self.tolerance:.0e}"
        )


@dataclass(frozen=True, slots=True)
class ExportResult:
    """What :func:`export` wrote.

    Parameters
    ----------
    path : pathlib.Path
        The exported file.
    target : str
        ``"onnx"`` or ``"pt2"`` (see :data:`TARGETS`).
    metadata : dict of str to str
        The metadata stored in the file.
    check : ExportCheck or None
        The comparison with PyTorch, when images were given.
    """

    path: Path
    target: str
    metadata: dict[str, str] = field(default_factory=dict)
    check: ExportCheck | None = None

    @property
    def format(self) -> str:
        """Deprecated name of :attr:`target` (removed in mnistkit 0.3)."""
        _deprecated_format(stacklevel=3)
        return self.target

    @property
    def size(self) -> int:
        """Size of the file in bytes."""
        return self.path.stat().st_size


def export(
    model: nn.Module | LoadedModel | str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    target: str | None = None,
    dataset: str | None = None,
    classes: Sequence[str] | None = None,
    check_images: ImagesLike | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    opset: int | None = None,
    format: str | None = None,
) -> ExportResult:
    """Export a model to ONNX or a ``torch.export`` program, and check the file.

    Parameters
    ----------
    model : torch.nn.Module, LoadedModel or path-like
        Takes (B, 1, 28, 28) pixels in [0, 1] and returns class scores, as every mnistkit
        model does; a path is read with :func:`mnistkit.load_model`. It is exported in eval
        mode, in float32, on the CPU; the object passed is not changed.
    out : path-like
        The file to write; written atomically (nothing is left at ``out`` on failure).
    target : {"onnx", "pt2"}, optional
        What to write (see :data:`TARGETS`); by default taken from ``out``'s suffix
        (``.onnx`` or ``.pt2``).
    dataset : str, optional
        Data set name stored in the metadata; by default the model file's.
    classes : sequence of str, optional
        Class names stored in the metadata; by default the model file's, else "0" to "9".
    check_images : tensor or array, optional
        Images (see :data:`mnistkit.inference.ImagesLike`) to run the exported file on and
        compare with PyTorch, e.g. the test set's.
    tolerance : float, default=DEFAULT_TOLERANCE
        Largest probability difference the check accepts.
    opset : int, optional
        ONNX opset version; by default the exporter's.
    format : {"onnx", "pt2"}, optional
        Deprecated name of ``target`` (it shadows Python's built-in ``format``); warns,
        and goes in mnistkit 0.3.

    Returns
    -------
    ExportResult
        The file, its metadata and the check.

    Raises
    ------
    ExportError
        If the exporter fails, or the check finds a difference above ``tolerance``.
    MissingExtraError
        For ONNX without onnxscript and ONNX Runtime installed.
    WriteError
        If ``out`` cannot be written (full disk, read-only folder...).
    """
    out = Path(out)
    loaded = _as_loaded(model)
    target = _target(_renamed(target, format), out)
    check_number(tolerance, "tolerance", low=0.0)
    if opset is not None:
        check_int(opset, "opset", minimum=7)
    images = None if check_images is None else as_image_batch(check_images).cpu()
    net = _export_copy(loaded.model)
    metadata = _metadata(loaded.metadata, dataset=dataset, classes=classes)
    example = torch.rand(2, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    check = None
    with atomic_path(out) as tmp:
        if target == "onnx":
            _export_onnx(net, example, tmp, metadata, opset)
        else:
            _export_pt2(net, example, tmp, metadata)
        if images is not None:
            check = check_export(tmp, net, images, tolerance=tolerance, target=target)
            if not check.passed:
                raise ExportError(f"{out}: the exported model does not match PyTorch: {check}")
    return ExportResult(path=out, target=target, metadata=metadata, check=check)


def check_export(
    path: str | os.PathLike[str],
    model: nn.Module,
    images: ImagesLike,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    target: str | None = None,
    format: str | None = None,
) -> ExportCheck:
    """Run an exported file and ``model`` on ``images`` and compare their probabilities.

    Parameters
    ----------
    path : path-like
        An ``.onnx`` file, or a ``.pt2`` file you made (see the module's note on safety).
    model : torch.nn.Module
        The PyTorch model to compare with; run in float32.
    images : tensor or array
        See :data:`mnistkit.inference.ImagesLike`.
    tolerance : float, default=DEFAULT_TOLERANCE
        Stored in the result, which :attr:`ExportCheck.passed` compares with.
    target : {"onnx", "pt2"}, optional
        What the file is; by default taken from the suffix of ``path``.
    format : {"onnx", "pt2"}, optional
        Deprecated name of ``target``; warns, and goes in mnistkit 0.3.

    Returns
    -------
    ExportCheck
        Agreement and the largest probability difference.
    """
    path = Path(path)
    target = _target(_renamed(target, format), path)
    batch = as_image_batch(images).cpu()
    expected = predict_proba(model, batch, device="cpu", precision="32").numpy()
    if target == "onnx":
        got = load_onnx(path).predict_proba(batch).numpy()
    else:
        # from a buffer: torch.export insists on a ".pt2" name, and the file being checked
        # is still the temporary one beside it
        program = torch.export.load(io.BytesIO(path.read_bytes())).module()
        # not mnistkit.predict_proba: it switches the model to eval mode, which an exported
        # program refuses ("Calling eval() is not supported yet"); it is already traced so
        with torch.inference_mode():
            scores = torch.cat([program(chunk) for chunk in torch.split(batch, _CHECK_BATCH)])
        got = torch.softmax(scores.float(), dim=1).numpy()
    if got.shape != expected.shape:
        raise ExportError(
            f"{path}: the exported model returned shape {got.shape} for {len(batch)} images, "
            f"but PyTorch returned {expected.shape}"
        )
    difference = float(np.abs(got - expected).max()) if got.size else 0.0
    if math.isnan(difference):
        difference = math.inf
    agreements = int((got.argmax(axis=1) == expected.argmax(axis=1)).sum())
    return ExportCheck(
        images=len(batch),
        agreements=agreements,
        max_difference=difference,
        tolerance=float(tolerance),
    )


class OnnxModel:
    """An ONNX classifier run by ONNX Runtime on the CPU, used like a PyTorch model.

    Made by :func:`load_onnx`.

    Parameters
    ----------
    path : path-like
        The ``.onnx`` file.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        ort = _extras.require("export", "Running an ONNX model", "onnxruntime")
        self.path = Path(path)
        if not self.path.is_file():
            raise CheckpointError(f"{self.path}: no such ONNX file")
        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only; its warnings are about graph rewrites
        try:
            self._session = ort.InferenceSession(
                str(self.path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # ONNX Runtime raises its own exception types
            raise CheckpointError(
                f"{self.path}: not a readable ONNX model ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0] if str(exc) else 'no detail'})"
            ) from None
        inputs = self._session.get_inputs()
        if len(inputs) != 1:
            raise CheckpointError(
                f"{self.path}: expected an ONNX model with one input (pixels), but it has "
                f"{len(inputs)}"
            )
        self._input = inputs[0].name
        props = self._session.get_modelmeta().custom_metadata_map
        self.metadata: dict[str, str] = {
            k.removeprefix(_ONNX_PREFIX): v for k, v in props.items() if k.startswith(_ONNX_PREFIX)
        }

    @property
    def classes(self) -> tuple[str, ...]:
        """Class names from the file's metadata ("0" to "9" when it has none)."""
        names = self.metadata.get("classes")
        if names is None:
            return tuple(str(i) for i in range(10))
        try:
            parsed = json.loads(names)
        except json.JSONDecodeError:
            parsed = None
        if not isinstance(parsed, list) or not all(isinstance(n, str) for n in parsed):
            raise CheckpointError(
                f"{self.path}: metadata 'mnistkit.classes' must be a JSON list of strings, "
                f"but is {names[:80]!r}"
            )
        return tuple(parsed)

    def scores(self, images: ImagesLike) -> torch.Tensor:
        """Class scores (logits) for ``images``.

        Parameters
        ----------
        images : tensor or array
            See :data:`mnistkit.inference.ImagesLike`.

        Returns
        -------
        torch.Tensor
            float32 (N, C) on the CPU.
        """
        batch = as_image_batch(images).cpu()
        outputs = [
            torch.from_numpy(self._session.run(None, {self._input: chunk.numpy()})[0])
            for chunk in torch.split(batch, _CHECK_BATCH)
        ]
        return torch.cat(outputs) if outputs else torch.empty(0, len(self.classes))

    def predict_proba(self, images: ImagesLike) -> torch.Tensor:
        """Class probabilities for ``images``, like :func:`mnistkit.predict_proba`.

        Parameters
        ----------
        images : tensor or array
            See :data:`mnistkit.inference.ImagesLike`.

        Returns
        -------
        torch.Tensor
            float32 (N, C) on the CPU; each row sums to 1.
        """
        return torch.softmax(self.scores(images).double(), dim=1).float()

    def predict(self, images: ImagesLike) -> torch.Tensor:
        """Predicted class indices for ``images``.

        Parameters
        ----------
        images : tensor or array
            See :data:`mnistkit.inference.ImagesLike`.

        Returns
        -------
        torch.Tensor
            int64 (N,).
        """
        return self.scores(images).argmax(dim=1)

    def __repr__(self) -> str:
        return f"OnnxModel({str(self.path)!r}, classes={len(self.classes)})"


def load_onnx(path: str | os.PathLike[str]) -> OnnxModel:
    """Open an ONNX file written by :func:`export` (or any one-input image classifier).

    Parameters
    ----------
    path : path-like
        The ``.onnx`` file.

    Returns
    -------
    OnnxModel
        With ``predict_proba``, ``predict``, ``classes`` and ``metadata``.

    Raises
    ------
    CheckpointError
        If the file is missing or ONNX Runtime cannot read it.
    MissingExtraError
        Without ONNX Runtime installed.
    """
    return OnnxModel(path)


# --------------------------------------------------------------------------------- helpers
def _as_loaded(model: nn.Module | LoadedModel | str | os.PathLike[str]) -> LoadedModel:
    if isinstance(model, LoadedModel):
        return model
    if isinstance(model, nn.Module):
        return LoadedModel(model=model, metadata=ModelMetadata.from_module(model))
    if isinstance(model, (str, os.PathLike)):
        return load_model(model)
    raise ConfigError(
        "Argument 'model' must be a torch.nn.Module, a LoadedModel or the path of a model "
        f"file, but got {type(model).__name__}"
    )


def _deprecated_format(*, stacklevel: int) -> None:
    """Warn about ``format``, attributed to the user's line ``stacklevel`` frames up."""
    warnings.warn(
        "'format' is deprecated and will be removed in mnistkit 0.3; use 'target' instead "
        "(the same values, 'onnx' or 'pt2').",
        DeprecationWarning,
        stacklevel=stacklevel,
    )


def _renamed(target: str | None, format: str | None) -> str | None:
    """``target``, or the deprecated ``format`` given in its place."""
    if format is None:
        return target
    _deprecated_format(stacklevel=4)  # past _renamed and export or check_export
    if target is not None and target != format:
        raise ConfigError(
            f"Pass only 'target' (got {target!r}), not also the deprecated 'format' "
            f"(got {format!r})"
        )
    return format


def _target(target: str | None, path: Path) -> str:
    if target is not None:
        return check_choice(target, "target", TARGETS)
    suffix = path.suffix.lower().lstrip(".")
    if suffix in TARGETS:
        return suffix
    raise ConfigError(
        f"Cannot tell the export target from {str(path)!r}: name a file ending in .onnx or "
        "'.pt2', or pass target='onnx' or 'pt2'"
    )


def _export_copy(model: nn.Module) -> nn.Module:
    """A float32 CPU copy of ``model`` in eval mode (the caller's model is left as it is)."""
    net = copy.deepcopy(model).to(device="cpu", dtype=torch.float32)
    net = net.to(memory_format=torch.contiguous_format)
    return net.eval().requires_grad_(False)


def _metadata(
    meta: ModelMetadata, *, dataset: str | None, classes: Sequence[str] | None
) -> dict[str, str]:
    names = tuple(classes) if classes is not None else meta.classes
    return {
        "classes": json.dumps(list(names)),
        "dataset": dataset or meta.dataset or "",
        "architecture": meta.architecture or "",
        "config": json.dumps(meta.config, sort_keys=True),
        "mnistkit_version": __version__,
        "input": _INPUT_DOC,
        "output": _OUTPUT_DOC,
    }


def _export_onnx(
    net: nn.Module,
    example: torch.Tensor,
    path: Path,
    metadata: Mapping[str, str],
    opset: int | None,
) -> None:
    _extras.require("export", "ONNX export", "onnxscript")
    onnx = _extras.require("export", "ONNX export", "onnx")
    batch = torch.export.Dim("batch", min=1)
    try:
        program = torch.onnx.export(
            net,
            (example,),
            dynamo=True,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_shapes=({0: batch},),
            opset_version=opset,
            optimize=True,
            verbose=False,
            external_data=False,
        )
    except Exception as exc:  # the exporter raises many types; name the model and the cause
        raise ExportError(f"{path}: ONNX export failed: {type(exc).__name__}: {exc}") from exc
    if program is None:  # pragma: no cover - only the legacy exporter returns None
        raise ExportError(f"{path}: ONNX export produced no program")
    proto = program.model_proto
    proto.doc_string = "mnistkit classifier: " + _INPUT_DOC + " -> " + _OUTPUT_DOC
    del proto.metadata_props[:]
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = _ONNX_PREFIX + key, value
    onnx.save_model(proto, str(path))


def _export_pt2(
    net: nn.Module, example: torch.Tensor, path: Path, metadata: Mapping[str, str]
) -> None:
    batch = torch.export.Dim("batch", min=1)
    try:
        program = torch.export.export(net, (example,), dynamic_shapes=({0: batch},))
    except Exception as exc:
        raise ExportError(f"{path}: torch.export failed: {type(exc).__name__}: {exc}") from exc
    buffer = io.BytesIO()
    torch.export.save(program, buffer, extra_files={PT2_METADATA: json.dumps(dict(metadata))})
    path.write_bytes(buffer.getvalue())


def read_pt2_metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    """The mnistkit metadata of a ``.pt2`` file written by :func:`export`, read without
    loading the program (the archive is a zip file; only its JSON entry is parsed).

    Parameters
    ----------
    path : path-like
        The ``.pt2`` file.

    Returns
    -------
    dict of str to str
        Empty when the file has no mnistkit metadata.
    """
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            # "<archive>/extra/<name>" in recent PyTorch, "extra_files/<name>" in 2.4
            names = [
                n
                for n in archive.namelist()
                if n.endswith("/extra/" + PT2_METADATA) or n == "extra_files/" + PT2_METADATA
            ]
            if not names:
                return {}
            info = archive.getinfo(names[0])
            if info.file_size > 1 << 20:
                raise CheckpointError(f"{path}: metadata entry of {info.file_size} bytes")
            data = json.loads(archive.read(info))
    except (OSError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: not a readable .pt2 archive ({exc})") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: metadata is not a JSON object")
    return {str(k): str(v) for k, v in data.items()}
