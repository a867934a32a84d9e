"""The model registry: names mapped to builders, explicitly (no module crawling).

Every model, built-in or a user's, enters the registry the same way, through
:func:`register_model` (as a decorator or a call); the registry knows no model by name.
The modules that define models register them when :mod:`mnistkit.models` is imported, and
importing any of its modules imports the package first, so the registry is full before
:func:`get_model` can be called.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar, overload

from torch import nn

from mnistkit.exceptions import ConfigError

__all__ = [
    "ARCHITECTURE_ATTR",
    "architecture_of",
    "get_model",
    "list_models",
    "record_architecture",
    "register_model",
]

#: Attribute set on models built by :func:`get_model`: ``{"name": ..., "config": {...}}``.
ARCHITECTURE_ATTR = "mnistkit_architecture"

_Builder = TypeVar("_Builder", bound=Callable[..., nn.Module])


@dataclass(frozen=True, slots=True)
class _Entry:
    builder: Callable[..., nn.Module]
    #: False for models built from trained models (ensembles): :func:`get_model` and
    #: :func:`mnistkit.load_model` know them, :func:`list_models` (what one trains) does not.
    listed: bool


_REGISTRY: dict[str, _Entry] = {}


def list_models() -> list[str]:
    """Names accepted by :func:`get_model`, sorted.

    Returns
    -------
    list of str
        The registered model names, built-in and added by :func:`register_model`; models
        made of trained models (``"ensemble"``) are left out.
    """
    return sorted(name for name, entry in _REGISTRY.items() if entry.listed)


@overload
def register_model(
    name: str, builder: None = None, *, listed: bool = True
) -> Callable[[_Builder], _Builder]: ...
@overload
def register_model(name: str, builder: _Builder, *, listed: bool = True) -> _Builder: ...
def register_model(
    name: str, builder: _Builder | None = None, *, listed: bool = True
) -> _Builder | Callable[[_Builder], _Builder]:
    """Add a builder to the registry so :func:`get_model` and :func:`mnistkit.load_model` know it.

    Call it with the builder, ``register_model("wide", Wide)``, or use it as a class or
    function decorator, ``@register_model("wide")``.

    Parameters
    ----------
    name : str
        Lower-case registry name; must not be taken.
    builder : callable, optional
        Called with keyword arguments only; returns an :class:`torch.nn.Module`. Leave it
        out to get a decorator.
    listed : bool, default=True
        Whether :func:`list_models` lists the name; ``False`` for models built from trained
        models, such as ``"ensemble"``.

    Returns
    -------
    callable
        ``builder`` itself, unchanged; without ``builder``, a decorator that registers and
        returns what it decorates.

    Raises
    ------
    ConfigError
        A name that is empty, not lower-case or already registered.
    """
    if not isinstance(name, str) or not name or name != name.lower():
        raise ConfigError(f"Argument 'name' must be a non-empty lower-case str but got {name!r}.")
    if name in _REGISTRY:
        raise ConfigError(f"A model named {name!r} is already registered.")
    if not isinstance(listed, bool):
        raise ConfigError(f"Argument 'listed' must be True or False, but got {listed!r}")

    def add(builder: _Builder) -> _Builder:
        if not callable(builder):
            raise ConfigError(
                f"Argument 'builder' must be a class or function returning a torch.nn.Module, "
                f"but got {builder!r}"
            )
        if name in _REGISTRY:
            raise ConfigError(f"A model named {name!r} is already registered.")
        _REGISTRY[name] = _Entry(builder, listed)
        return builder

    return add if builder is None else add(builder)


def get_model(name: str, **config: Any) -> nn.Module:
    """Build a registered model.

    Parameters
    ----------
    name : str
        One of :func:`list_models`: ``"linear"``, ``"mlp"``, ``"cnn"`` (the default of the
        CLI), ``"lenet5"``, ``"deepcnn"``, ``"resnet"``; or ``"ensemble"`` with
        ``members=[{"name": ..., "config": {...}}, ...]``, which builds a
        :class:`~mnistkit.models.Ensemble` of those (not listed by :func:`list_models`: it
        is made of trained models, see :func:`mnistkit.run.run_ensemble`).
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
        builder = _REGISTRY[key].builder
    except (KeyError, TypeError):
        close = difflib.get_close_matches(str(name).lower(), list_models(), n=1)
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
    record_architecture(model, key, config)
    return model


def record_architecture(model: nn.Module, name: str, config: Mapping[str, Any]) -> None:
    """Record on ``model`` the registry name and keyword arguments that rebuild it.

    :func:`get_model` does this for every model it builds; a model that is put together
    another way but equals ``get_model(name, **config)`` (an
    :class:`~mnistkit.models.Ensemble` of registered models) records itself with it, so
    :func:`mnistkit.save_model` can write it and :func:`mnistkit.load_model` rebuild it.

    Parameters
    ----------
    model : torch.nn.Module
        The model to label.
    name : str
        A registered name.
    config : mapping
        Keyword arguments for the builder; tuples are stored as lists (JSON).
    """
    setattr(model, ARCHITECTURE_ATTR, {"name": name, "config": _jsonable(config)})


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


def _jsonable(config: Mapping[str, Any]) -> dict[str, Any]:
    return {key: list(val) if isinstance(val, tuple) else val for key, val in config.items()}
