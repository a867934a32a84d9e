"""Every public import path still works: the API reference's modules and names (what the
API-stability page promises) and the paths it names explicitly."""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

import pytest

API = Path(__file__).resolve().parents[1] / "docs" / "api"


def _resolve(dotted: str) -> Any:
    """The object at a dotted path: the longest importable module, then attributes."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found: Any = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for name in parts[cut:]:
            found = getattr(found, name)
        return found
    raise ModuleNotFoundError(dotted)


def _documented() -> tuple[list[str], list[str]]:
    """The modules the API pages document, and each name they list, as dotted paths."""
    modules, names = [], []
    for page in sorted(API.glob("*.rst")):
        current = None
        in_summary = False
        for line in page.read_text(encoding="utf-8").splitlines():
            if match := re.match(r"\.\. (?:currentmodule|automodule):: (\S+)", line):
                current = match[1]
                modules.append(current)
                in_summary = False
            elif line.startswith(".. autosummary::"):
                in_summary = True
            elif in_summary and re.match(r"   [~\w]", line) and not line.strip().startswith(":"):
                entry = line.strip().lstrip("~")
                names.append(entry if entry.startswith("mnistkit") else f"{current}.{entry}")
            elif in_summary and line and not line.startswith(" "):
                in_summary = False
    return sorted(set(modules)), sorted(set(names))


MODULES, DOCUMENTED = _documented()

#: Paths the API-stability page and the packaging promise by name.
PROMISED = [
    "mnistkit.cli.main",
    "mnistkit.loaders.Augment",
    "mnistkit.loaders.train_val_split",
    "mnistkit.checkpoints.save_training_state",
    "mnistkit.checkpoints.load_training_state",
    "mnistkit.checkpoints.FORMAT_VERSION",
]


def test_the_reference_documents_every_module_and_many_names() -> None:
    assert {"mnistkit", "mnistkit.datasets", "mnistkit.pretrained", "mnistkit.cli"} <= set(MODULES)
    assert len(DOCUMENTED) > 150  # the parse found the autosummary entries


@pytest.mark.parametrize("path", MODULES + DOCUMENTED + PROMISED)
def test_public_path_imports(path: str) -> None:
    assert _resolve(path) is not None


@pytest.mark.parametrize("module", MODULES)
def test_each_documented_module_declares_all_and_every_name_resolves(module: str) -> None:
    imported = importlib.import_module(module)
    assert isinstance(imported.__all__, list) and imported.__all__
    for name in imported.__all__:
        assert hasattr(imported, name), f"{module}.{name}"
