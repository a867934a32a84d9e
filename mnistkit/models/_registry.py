"""The model registry: names mapped to builders, explicitly (no module crawling)."""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from torch import nn

from mnistkit.exceptions import ConfigError
from mnistkit.models.networks import CNN, MLP, DeepCNN, LeNet5, Linear, ResNet

__all__ = ["ARCHITECTURE_ATTR", "architecture_of", "get_model", "list_models", "register_model"]

#: Attribute set on models built by :func:`get_model`: ``{"name": ..., "config": {...}}``.
ARCHITECTURE_ATTR = "mnistkit_architecture"

_BUILDERS: dict[str, Callable[..., nn.Module]] = {
    "linear": Linear,
    "mlp": MLP,
    "cnn": CNN,
    "lenet5": LeNet5,
    "deepcnn": DeepCNN,
    "resnet": ResNet,
}


def _ensemble(*, members: Sequence[Mapping[str, Any]]) -> nn.Module:
    """Build an :class:`~mnistkit.models.Ensemble` from its members' ``{"name", "config"}``
    records (what :func:`architecture_of` gives and a model file's metadata holds)."""
    from mnistkit.models.ensemble import Ensemble

    if isinstance(members, str | Mapping) or not isinstance(members, Sequence) or not members:
        raise ConfigError(
            "Argument 'members' must be a non-empty list of {'name': ..., 'config': {...}} "
            f"records, but got {members!r}"
        )
    built = []
    for i, record in enumerate(members):
        if not isinstance(record, Mapping) or not isinstance(record.get("name"), str):
            raise ConfigError(
                f"Argument 'members' must hold {{'name': ..., 'config': {{...}}}} records, but "
                f"members[{i}] is {record!r}"
            )
        if record["name"] == "ensemble":
            raise ConfigError("An ensemble cannot be a member of an ensemble.")
        config = record.get("config") or {}
        if not isinstance(config, Mapping):
            raise ConfigError(f"members[{i}]['config'] must be a mapping, but got {config!r}")
        built.append(get_model(record["name"], **config))
    return Ensemble(built)


#: Models built from other models: :func:`get_model` and :func:`mnistkit.load_model` know
#: them, but :func:`list_models` (what one trains) does not list them.
_COMPOSITES: dict[str, Callable[..., nn.Module]] = {"ensemble": _ensemble}


def list_models() -> list[str]:
    """Names accepted by :func:`get_model`, sorted.

    Returns
    -------
    list of str
        The registered model names, built-in and added by :func:`register_model`.
    """
    return sorted(_BUILDERS)


def register_model(name: str, builder: Callable[..., nn.Module]) -> None:
    """Add a builder to the registry so :func:`get_model` and :func:`mnistkit.load_model` know it.

    Parameters
    ----------
    name : str
        Lower-case registry name; must not be taken.
    builder : callable
        Called with keyword arguments only; returns an :class:`torch.nn.Module`.
    """
    if not isinstance(name, str) or not name or name != name.lower():
        raise ConfigError(f"Argument 'name' must be a non-empty lower-case str but got {name!r}.")
    if name in _BUILDERS or name in _COMPOSITES:
        raise ConfigError(f"A model named {name!r} is already registered.")
    _BUILDERS[name] = builder


def get_model(name: str, **config: Any) -> nn.Module:
    """Build a registered model.

    Parameters
    ----------
    name : str
        One of :func:`list_models`: ``"linear"``, ``"mlp"``, ``"cnn"`` (the default of the
        CLI), ``"lenet5"``, ``"deepcnn"``; or ``"ensemble"`` with ``members=[{"name": ...,
        "config": {...}}, ...]``, which builds a :class:`~mnistkit.models.Ensemble` of those
        (not listed by :func:`list_models`: it is made of trained models, see
        :func:`mnistkit.run.run_ensemble`).
    **config
        Keyword arguments of the model's class, e.g. ``hidden_sizes=(512,)`` for ``"mlp"``.

    Returns
    -------
    torch.nn.Module
        The model, with its name and configuration recorded (used by
        :func:`mnistkit.save_model`).

    Raises
    ------
    ConfigError
        Unknown name (with a "did you mean" hint) or an argument the model does not take.

    Examples
    --------
    >>> from mnistkit import get_model
    >>> model = get_model("mlp", hidden_sizes=(128,))
    >>> sum(p.numel() for p in model.parameters())
    101770
    """
    key = name.strip().lower() if isinstance(name, str) else name
    try:
        builder = _BUILDERS[key] if key in _BUILDERS else _COMPOSITES[key]
    except (KeyError, TypeError):
        close = difflib.get_close_matches(str(name).lower(), list(_BUILDERS), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(
            f"Unknown model {name!r}; expected one of: {', '.join(list_models())}.{hint}"
        ) from None
    accepted = [
        p.name
        for p in inspect.signature(builder).parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    ]
    unknown = sorted(set(config) - set(accepted))
    if unknown:
        raise ConfigError(
            f"Model {key!r} does not take argument(s) {', '.join(map(repr, unknown))}; it "
            f"accepts: {', '.join(accepted) or 'no arguments'}."
        )
    try:
        model = builder(**config)
    except TypeError as exc:
        raise ConfigError(f"Model {key!r}: {exc}") from None
    setattr(model, ARCHITECTURE_ATTR, {"name": key, "config": _jsonable(config)})
    return model


def architecture_of(model: nn.Module) -> dict[str, Any] | None:
    """The ``{"name", "config"}`` record of a model built by :func:`get_model`, else ``None``.

    Parameters
    ----------
    model : torch.nn.Module
        Any module.

    Returns
    -------
    dict or None
        A copy of the registry name and keyword arguments that rebuild the model, or
        ``None`` for a module not built by :func:`get_model`.
    """
    record = getattr(model, ARCHITECTURE_ATTR, None)
    return dict(record) if isinstance(record, dict) else None


def _jsonable(config: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in config.items():
        out[key] = list(value) if isinstance(value, tuple) else value
    return out
