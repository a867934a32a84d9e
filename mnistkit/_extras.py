"""Optional libraries, imported when a feature first needs them (private).

TensorBoard, Captum, Optuna and ONNX are optional extras: ``import mnistkit`` never loads them,
and a feature that needs one calls :func:`require`, which maps the ImportError of a missing
library to a one-line :class:`~mnistkit.MissingExtraError` naming the extra to install.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from mnistkit.exceptions import MissingExtraError

__all__ = ["EXTRAS", "require"]

#: Extra name -> (what it brings, the module whose import shows it is there).
EXTRAS: dict[str, tuple[str, str]] = {
    "tensorboard": ("TensorBoard", "torch.utils.tensorboard"),
    "explain": ("Captum", "captum.attr"),
    "tune": ("Optuna", "optuna"),
    "export": ("ONNX and ONNX Runtime", "onnxruntime"),
}


def require(extra: str, feature: str, module: str | None = None) -> ModuleType:
    """Import the library of ``extra`` (or its submodule ``module``) for ``feature``.

    Raises :class:`MissingExtraError` when it is not installed, e.g.
    ``mnistkit.explain needs Captum, which is not installed: pip install "mnistkit[explain]"``.
    """
    library, default = EXTRAS[extra]
    try:
        return importlib.import_module(module or default)
    except ImportError as exc:
        raise MissingExtraError(
            f'{feature} needs {library}, which is not installed: pip install "mnistkit[{extra}]"'
            f" ({exc})"
        ) from exc
