"""Argument checks shared by several modules (private)."""

from __future__ import annotations

from collections.abc import Sequence

from mnistkit.exceptions import ConfigError

__all__ = ["class_names"]


def class_names(
    classes: object, num_classes: int | None, *, needed: int = 0, distinct: bool = False
) -> tuple[str, ...]:
    """Validate class names: strings, exactly ``num_classes`` of them (when given), at least
    ``needed``, and (with ``distinct``) no name twice."""
    if isinstance(classes, str) or not isinstance(classes, Sequence):
        raise ConfigError(
            f"Argument 'classes' must be a sequence of class-name strings, but got {classes!r}"
        )
    names = tuple(classes)
    if not all(isinstance(name, str) for name in names):
        raise ConfigError(
            f"Argument 'classes' must contain only strings, but got {names!r}; "
            "use [str(c) for c in classes]"
        )
    if num_classes is not None and len(names) != num_classes:
        raise ConfigError(
            f"Argument 'classes' must name all {num_classes} classes, "
            f"but got {len(names)} names: {names!r}"
        )
    if len(names) < needed:
        raise ConfigError(
            f"Argument 'classes' must name every class up to label {needed - 1}, "
            f"but got {len(names)} names: {names!r}"
        )
    if distinct and len(set(names)) != len(names):
        duplicates = sorted({name for name in names if names.count(name) > 1})
        raise ConfigError(
            f"Argument 'classes' must contain distinct names, but got duplicates {duplicates!r}"
        )
    return names
