"""Argument checks, in one place (private).

Each public function checks its arguments once, at the boundary, with these helpers; the
private code below it works on checked values and checks nothing again. Every message has
the same shape: ``[who: ]Argument 'name' must be <what is accepted>, but got <value>``.
"""

from __future__ import annotations

import difflib
import math
import numbers
import sys
from collections.abc import Iterable, Sequence

from mnistkit.exceptions import ConfigError

__all__ = [
    "as_int",
    "as_real",
    "check_bool",
    "check_choice",
    "check_int",
    "check_number",
    "check_optional_number",
    "class_names",
    "fail",
]


def fail(name: str, value: object, accepted: str, *, who: str | None = None) -> ConfigError:
    """The :class:`ConfigError` for argument ``name`` holding ``value`` instead of ``accepted``."""
    prefix = f"{who}: a" if who else "A"
    return ConfigError(f"{prefix}rgument {name!r} must be {accepted}, but got {value!r}")


# This module imports neither NumPy nor PyTorch, so that the command line can check its
# arguments (``mnistkit --help`` builds TrainConfig's flags) without loading them: a value
# can only be an array scalar or a tensor once its library is loaded, so the checks look the
# library up in ``sys.modules``. NumPy's integer and floating scalars register with
# :mod:`numbers` (``numbers.Integral`` / ``numbers.Real``); its ``bool_`` does not.


def _is_numpy_bool(value: object) -> bool:
    numpy = sys.modules.get("numpy")
    return numpy is not None and isinstance(value, numpy.bool_)


def as_int(value: object) -> int | None:
    """``value`` as an int if it is a Python, NumPy or 0-d tensor integer (not a bool)."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(value, torch.Tensor):
        if value.ndim != 0 or value.is_floating_point() or value.dtype == torch.bool:
            return None
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        return None
    return int(value)


def as_real(value: object) -> float | None:
    """``value`` as a float if it is a real Python or NumPy number (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    return float(value)


def check_int(value: object, name: str, *, minimum: int = 1, who: str | None = None) -> int:
    """An integer of at least ``minimum`` (a positive integer by default)."""
    number = as_int(value)
    if number is None or number < minimum:
        accepted = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise fail(name, value, accepted, who=who)
    return number


def check_number(
    value: object,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    who: str | None = None,
) -> float:
    """A finite real number in the interval given by ``low``/``high`` (closed by default)."""
    number = as_real(value)
    ok = number is not None and math.isfinite(number)
    if ok and number is not None and low is not None:
        ok = number > low if low_open else number >= low
    if ok and number is not None and high is not None:
        ok = number < high if high_open else number <= high
    if not ok or number is None:
        raise fail(name, value, _interval(low, high, low_open, high_open), who=who)
    return number


def check_optional_number(
    value: object,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    who: str | None = None,
) -> float | None:
    """Like :func:`check_number`, but ``None`` passes through."""
    if value is None:
        return None
    try:
        return check_number(
            value, name, low=low, high=high, low_open=low_open, high_open=high_open, who=who
        )
    except ConfigError:
        accepted = _interval(low, high, low_open, high_open) + " or None"
        raise fail(name, value, accepted, who=who) from None


def _interval(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    if low is None and high is None:
        return "a finite number"
    if high is None:
        if low == 0:
            return "a positive number" if low_open else "a number >= 0"
        return f"a number {'>' if low_open else '>='} {low}"
    if low is None:
        return f"a number {'<' if high_open else '<='} {high}"
    return f"a number in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"


def check_bool(value: object, name: str, *, who: str | None = None) -> bool:
    """Exactly ``True`` or ``False`` (not 0/1, not a string)."""
    if not (isinstance(value, bool) or _is_numpy_bool(value)):
        raise fail(name, value, "True or False", who=who)
    return bool(value)


def check_choice(
    value: object, name: str, choices: Iterable[str], *, who: str | None = None
) -> str:
    """One of ``choices``; the message lists them and suggests the closest one."""
    options = list(choices)
    if isinstance(value, str) and value in options:
        return value
    close = difflib.get_close_matches(str(value), options, n=1) if isinstance(value, str) else []
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ConfigError(
        str(fail(name, value, f"one of {', '.join(map(repr, options))}", who=who)) + hint
    )


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
