"""Frozen dataclasses from plain dicts (YAML, ``--set``): every key and value checked,
errors naming the dotted key and what it must be."""

from __future__ import annotations

import contextlib
import dataclasses
import types
import typing
from dataclasses import fields
from typing import Any, Literal

from reslab.errors import OptionError, unknown


def build(cls: type, data: Any, path: str = "") -> Any:
    """``cls(**data)`` recursively, checking keys and value types; errors name the key."""
    if not isinstance(data, dict):
        raise OptionError(f"{path or 'config'} must be a mapping; got {data!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in fields(cls)]
    kwargs = {}
    for key, value in data.items():
        full = f"{path}.{key}" if path else str(key)
        if key not in names:
            raise unknown("config key", full, [f"{path}.{n}" if path else n for n in names])
        kwargs[key] = _coerce(hints[key], value, full)
    return cls(**kwargs)


def _coerce(hint: Any, value: Any, key: str) -> Any:
    if dataclasses.is_dataclass(hint):
        return build(hint, value, key)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1:
            return _coerce(inner[0], value, key)
        for option in inner:  # the first member that takes the value
            with contextlib.suppress(OptionError):
                return _coerce(option, value, key)
        raise OptionError(
            f"{key} must be {' or '.join(_describe(a) for a in inner)}; got {value!r}"
        )
    if origin is Literal:
        if value not in args:
            allowed = ", ".join(repr(a) for a in args)
            raise OptionError(f"{key} must be one of {allowed}; got {value!r}")
        return value
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise OptionError(f"{key} must be a list; got {value!r}")
        return tuple(_coerce(args[0], v, f"{key}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise OptionError(f"{key} must be a mapping; got {value!r}")
        return dict(value)
    if hint is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if hint is float and isinstance(value, str):  # YAML 1.1 reads 1e-3 (no dot) as a string
        with contextlib.suppress(ValueError):
            return float(value)
    if hint is Any or (isinstance(value, hint) and not (hint is int and isinstance(value, bool))):
        return value
    raise OptionError(f"{key} must be of type {hint.__name__}; got {value!r}")


def _describe(hint: Any) -> str:
    if typing.get_origin(hint) is Literal:
        return " or ".join(repr(a) for a in typing.get_args(hint))
    return getattr(hint, "__name__", str(hint))
