"""A small declarative schema for recipe sections, with precise error messages.

Every check reports the full key path, the offending value and what is allowed, e.g.
``solver.rtol: must be > 0, got -1``. All problems in a recipe are collected and
reported together (:class:`RecipeError`), so users fix them in one pass.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from typing import Any, Callable

MISSING = object()


class RecipeError(ValueError):
    """One or more problems in a recipe; ``problems`` lists ``"key.path: message"``."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("invalid recipe:\n  " + "\n  ".join(self.problems))


def show(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def type_name(value: Any) -> str:
    return {bool: "boolean", int: "integer", float: "number", str: "string",
            list: "list", dict: "mapping", type(None): "null"}.get(type(value), type(value).__name__)


@dataclass
class Key:
    """One key of a mapping: its kind, default and constraints.

    kind: "int", "number", "bool", "str", "list", "mapping" or "any".
    choices: allowed values; low/high: numeric bounds (strict when *_open).
    check: extra callable(value) -> message or None.
    """

    kind: str
    default: Any = MISSING
    choices: tuple | None = None
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    nullable: bool = False
    check: Callable[[Any], str | None] | None = None
    doc: str = ""

    @property
    def required(self) -> bool:
        return self.default is MISSING


def coerce(path: str, value: Any, key: Key, problems: list[str]) -> Any:
    """Check one value against a key; returns the (possibly converted) value."""
    if value is None and key.nullable:
        return None
    kind = key.kind
    bad = lambda what: problems.append(f"{path}: must be {what}, got {show(value)} ({type_name(value)})")  # noqa: E731
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                bad("an integer")
                return value
    elif kind == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            bad("a number")
            return value
        value = float(value)
        if not math.isfinite(value):
            bad("a finite number")
            return value
    elif kind == "bool":
        if not isinstance(value, bool):
            bad("true or false")
            return value
    elif kind == "str":
        if not isinstance(value, str):
            bad("a string")
            return value
    elif kind == "list":
        if not isinstance(value, list):
            bad("a list")
            return value
    elif kind == "mapping":
        if not isinstance(value, dict):
            bad("a mapping")
            return value
    if key.choices is not None and value not in key.choices:
        allowed = ", ".join(show(c) for c in key.choices)
        problems.append(f"{path}: must be one of {allowed}; got {show(value)}{did_you_mean(value, key.choices)}")
        return value
    if key.low is not None and (value <= key.low if key.low_open else value < key.low):
        problems.append(f"{path}: must be {'>' if key.low_open else '>='} {show(key.low)}, got {show(value)}")
    if key.high is not None and (value >= key.high if key.high_open else value > key.high):
        problems.append(f"{path}: must be {'<' if key.high_open else '<='} {show(key.high)}, got {show(value)}")
    if key.check is not None:
        message = key.check(value)
        if message:
            problems.append(f"{path}: {message}, got {show(value)}")
    return value


def did_you_mean(name: Any, choices) -> str:
    """" (did you mean 'x'?)" for the closest of ``choices`` to a mistyped ``name``, or ""."""
    if not isinstance(name, str):
        return ""
    close = difflib.get_close_matches(name, [str(c) for c in choices], n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def validate_mapping(path: str, data: Any, keys: dict[str, Key], problems: list[str]) -> dict:
    """Validate a mapping against ``keys``; unknown keys are errors; defaults filled in."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        problems.append(f"{path or 'recipe'}: must be a mapping, got {show(data)} ({type_name(data)})")
        return {}
    prefix = f"{path}." if path else ""
    for name in data:
        if name not in keys:
            allowed = ", ".join(keys) or "(none)"
            problems.append(f"{prefix}{name}: unknown key{did_you_mean(name, keys)}; allowed keys are {allowed}")
    out: dict = {}
    for name, key in keys.items():
        if name in data:
            out[name] = coerce(prefix + name, data[name], key, problems)
        elif key.required:
            problems.append(f"{prefix}{name}: required key is missing ({key.doc or key.kind})")
        else:
            out[name] = key.default() if callable(key.default) else key.default
    return out
