"""Trained models that ship inside the package: predict without training first.

Each bundled model is an ordinary model file (safetensors weights + JSON metadata, see
:func:`mnistkit.load_model`) made by ``mnistkit train`` with a named recipe, and listed in
``manifest.json`` beside it with its SHA-256 sum, the recipe, seed and data set, the test
accuracy it scored (in float32, so every CPU gives the same answer) and the command that
made it. The sum is checked before a file is read::

    from mnistkit import pretrained
    pretrained.list_pretrained()            # ['best', 'default', 'fashion', 'fast']
    loaded = pretrained.load("default")     # a LoadedModel, as load_model returns
    probs = loaded.model(images)            # [0, 1] pixels, shape (B, 1, 28, 28)

On the command line, ``pretrained:NAME`` stands wherever a model file is expected
(``mnistkit evaluate pretrained:best``), and ``mnistkit predict IMAGE...`` with no model uses
``pretrained:default``. ``benchmarks/make_pretrained.py`` remakes the files.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mnistkit._validation import check_choice
from mnistkit.exceptions import CheckpointError

if TYPE_CHECKING:
    from mnistkit.checkpoints import LoadedModel
    from mnistkit.devices import DeviceLike

__all__ = ["PREFIX", "PretrainedInfo", "get_info", "list_pretrained", "load", "resolve_path"]

#: What names a bundled model where a model file is expected: ``pretrained:default``.
PREFIX = "pretrained:"

_MANIFEST = "manifest.json"


@dataclass(frozen=True, slots=True)
class PretrainedInfo:
    """What the manifest says about one bundled model.

    Parameters
    ----------
    name : str
        Its name, as :func:`list_pretrained` gives it (the recipe's name).
    file : str
        The file's name inside the package.
    sha256 : str
        SHA-256 of the file, checked before it is read.
    recipe : str
        The recipe that trained it (see :func:`mnistkit.get_recipe`).
    dataset : str
        The data set it was trained on (all of its training split).
    seed : int
        The training seed.
    test_accuracy : float
        Accuracy on the data set's 10,000 test images, evaluated in float32.
    test_errors : int
        Misclassified test images.
    command : str
        The command that trained it.
    """

    name: str
    file: str
    sha256: str
    recipe: str
    dataset: str
    seed: int
    test_accuracy: float
    test_errors: int
    command: str

    def to_dict(self) -> dict[str, Any]:
        """The manifest entry as plain data.

        Returns
        -------
        dict
            JSON-serialisable.
        """
        return {field: getattr(self, field) for field in self.__slots__}


@cache
def _manifest() -> dict[str, PretrainedInfo]:
    text = resources.files(__name__).joinpath(_MANIFEST).read_text(encoding="utf-8")
    entries = json.loads(text)
    return {entry["name"]: PretrainedInfo(**entry) for entry in entries["models"]}


def list_pretrained() -> list[str]:
    """The names of the bundled models.

    Returns
    -------
    list of str
        Sorted.
    """
    return sorted(_manifest())


def get_info(name: str) -> PretrainedInfo:
    """What the manifest records about a bundled model.

    Parameters
    ----------
    name : str
        One of :func:`list_pretrained`; a leading ``pretrained:`` is allowed.

    Returns
    -------
    PretrainedInfo
        Its recipe, data set, seed, measured accuracy, command and checksum.

    Raises
    ------
    ConfigError
        Unknown name; the message lists the bundled ones and the closest match.
    """
    name = name.removeprefix(PREFIX)
    return _manifest()[check_choice(name, "name", list_pretrained(), who="pretrained model")]


def resolve_path(name: str) -> Path:
    """The bundled file of a model, after checking its SHA-256 sum.

    Parameters
    ----------
    name : str
        One of :func:`list_pretrained`; a leading ``pretrained:`` is allowed.

    Returns
    -------
    pathlib.Path
        The file inside the installed package.

    Raises
    ------
    CheckpointError
        The file is missing or its content differs from the manifest's sum (a damaged or
        replaced installation: reinstall mnistkit).
    """
    entry = get_info(name)
    path = Path(str(resources.files(__name__).joinpath(entry.file)))
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        raise CheckpointError(
            f"{path}: the bundled model {entry.name!r} cannot be read ({exc.strerror or exc}); "
            "reinstall mnistkit."
        ) from None
    if digest != entry.sha256:
        raise CheckpointError(
            f"{path}: the bundled model {entry.name!r} has SHA-256 {digest}, but the manifest "
            f"says {entry.sha256}; the installation is damaged: reinstall mnistkit."
        )
    return path


def load(name: str, *, device: DeviceLike = "cpu") -> LoadedModel:
    """Load a bundled model, its checksum verified first.

    Parameters
    ----------
    name : str
        One of :func:`list_pretrained` (``"fast"``, ``"default"``, ``"best"``,
        ``"fashion"``); a leading ``pretrained:`` is allowed.
    device : str or torch.device, default="cpu"
        Where the model is put.

    Returns
    -------
    LoadedModel
        The model in eval mode (it takes [0, 1] pixels and normalises them itself) and its
        metadata, whose ``metrics`` hold the recipe, seed, command and test accuracy.

    Raises
    ------
    ConfigError
        Unknown name.
    CheckpointError
        A damaged installation (see :func:`resolve_path`).
    """
    from mnistkit.checkpoints import load_model

    return load_model(resolve_path(name), device=device)
