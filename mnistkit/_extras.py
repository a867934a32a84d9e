"""Optional libraries, imported when a feature first needs them (private).

TensorBoard, Captum, Optuna, ONNX, MLflow and scikit-learn are optional extras: ``import
mnistkit`` never loads them, and a feature that needs one calls :func:`require`, which maps
the ImportError of a missing library to a one-line :class:`~mnistkit.MissingExtraError`
naming the extra to install.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from mnistkit._version import __version__
from mnistkit.exceptions import MissingExtraError

__all__ = ["EXTRAS", "require"]

#: Extra name -> (what it brings, the module whose import shows it is there).
EXTRAS: dict[str, tuple[str, str]] = {
    "tensorboard": ("TensorBoard", "torch.utils.tensorboard"),
    "explain": ("Captum", "captum.attr"),
    "tune": ("Optuna", "optuna"),
    "export": ("ONNX and ONNX Runtime", "onnxruntime"),
    "mlflow": ("MLflow", "mlflow"),
    "sklearn": ("scikit-learn", "sklearn"),
}


def require(extra: str, feature: str, module: str | None = None) -> ModuleType:
    """Import the library of ``extra`` (or its submodule ``module``) for ``feature``.

    Raises :class:`MissingExtraError` when it is not installed, e.g. ``mnistkit.explain needs
    Captum, which is not installed: install mnistkit's 'explain' extra (in a checkout: pip
    install ".[explain]"; from a wheel: pip install "mnistkit[explain] @ file:///path/to/
    mnistkit-<version>-py3-none-any.whl")``. mnistkit is not on the package index yet, so the
    message offers the two ways that work today (and never a bare ``mnistkit[...]``, which
    would install whatever else carries that name there).
    """
    library, default = EXTRAS[extra]
    try:
        return importlib.import_module(module or default)
    except ImportError as exc:
        raise MissingExtraError(
            f"{feature} needs {library}, which is not installed: install mnistkit's {extra!r} "
            f'extra (in a checkout: pip install ".[{extra}]"; from a wheel: pip install '
            f'"mnistkit[{extra}] @ file:///path/to/mnistkit-{__version__}-py3-none-any.whl") '
            f"({exc})"
        ) from exc
