# Copyright 2026 The franet authors
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

"""Frozen-dataclass configs: load from YAML/JSON/dicts with unknown keys refused.

Every config in franet is a frozen dataclass whose defaults match the paper. This module is
the one place that turns files and dicts into them, so errors read the same everywhere.

Values are checked against the fields' annotations before the dataclass is built, so a
wrong type is a ValueError naming the field (``train config.batch_size must be an int, got
str 'abc'``) instead of a TypeError deep inside training. The checker knows the annotations
franet's configs use: ``bool``, ``int``, ``float``, ``str``, ``X | None``, ``tuple[X, ...]``,
``tuple[X, Y]``, ``dict[str, Any]``, ``Any`` and nested dataclasses. ``int`` never accepts a
bool; ``float`` accepts an int, and a numeric string such as ``'1e-3'`` (which YAML 1.1 reads
as a string), but never NaN or infinity.
"""
from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
import types
import typing
from typing import Any, Mapping, TypeVar, Union

import yaml

T = TypeVar("T")
_NONE = type(None)


def from_dict(cls: type[T], data: Mapping[str, Any] | None, *, where: str = "config") -> T:
    """Build dataclass ``cls`` from ``data``; raise ValueError naming any unknown key.

    Nested dataclass fields are built recursively from nested dicts; lists become tuples
    when the field's default is a tuple (so frozen configs stay hashable). Every value is
    checked against its field's annotation (see the module docstring); a mismatch is a
    ValueError naming ``where.field``.
    """
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ValueError(f"{where}: expected a mapping of {cls.__name__} fields, "
                         f"got {type(data).__name__}")
    data = dict(data)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(str(k) for k in set(data) - set(fields))
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown} for {cls.__name__}; "
                         f"known keys: {sorted(fields)}")
    hints = _type_hints(cls)
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        f = fields[name]
        default = _default_of(f)
        if dataclasses.is_dataclass(default) and isinstance(value, Mapping):
            value = from_dict(type(default), value, where=f"{where}.{name}")
        elif isinstance(default, tuple) and isinstance(value, list):
            value = tuple(value)
        if name in hints:
            value = check_type(value, hints[name], f"{where}.{name}")
        kwargs[name] = value
    try:
        return cls(**kwargs)
    except TypeError as exc:  # a required field without a value
        raise ValueError(f"{where}: {exc}") from exc


def apply_overrides(data: dict[str, Any], pairs: list[str], *, flag: str = "--set") -> None:
    """Apply ``KEY=VALUE`` pairs to ``data`` in place; values are read as YAML.

    Dotted keys reach nested configs (``sim.kind=dual``). A pair without ``=`` or a dotted
    key through a non-mapping is a ValueError naming ``flag`` and the pair; unknown keys
    and wrong types are left to :func:`from_dict`, which names the field.
    """
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{flag} expects KEY=VALUE, got {pair!r}")
        *parents, leaf = key.strip().split(".")
        node = data
        for name in parents:
            node = node.setdefault(name, {})
            if not isinstance(node, dict):
                raise ValueError(f"{flag} {key}: {name} is not a nested config")
        node[leaf] = yaml.safe_load(value)


def check_type(value: Any, hint: Any, where: str) -> Any:
    """Return ``value`` (an int widened to float, a list to a tuple) if it fits ``hint``.

    Raises ValueError naming ``where`` and the expected type otherwise.
    """
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any or hint is object:
        return value
    if origin in (Union, types.UnionType):
        if value is None and _NONE in args:
            return None
        options = [a for a in args if a is not _NONE]
        errors = []
        for option in options:
            try:
                return check_type(value, option, where)
            except ValueError as exc:
                errors.append(exc)
        if len(options) == 1 and _NONE in args:
            raise ValueError(str(errors[0]).replace(", got ", " or null, got ", 1)) from None
        raise ValueError(f"{where} must be {' or '.join(map(_type_name, args))}, "
                         f"got {_describe(value)}")
    if hint is _NONE:
        if value is not None:
            raise ValueError(f"{where} must be null, got {_describe(value)}")
        return None
    if dataclasses.is_dataclass(hint):
        if isinstance(value, hint):
            return value
        raise ValueError(f"{where} must be a mapping of {hint.__name__} fields, "
                         f"got {_describe(value)}")
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ValueError(f"{where} must be true or false, got {_describe(value)}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ValueError(f"{where} must be an integer, got {_describe(value)}")
    if hint is float:
        return _finite_float(value, where)
    if hint is str:
        if isinstance(value, str):
            return value
        raise ValueError(f"{where} must be a string, got {_describe(value)}")
    if hint is tuple or origin is tuple:
        if not isinstance(value, (tuple, list)):
            raise ValueError(f"{where} must be a list, got {_describe(value)}")
        if not args:
            return tuple(value)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(check_type(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ValueError(f"{where} must be a list of {len(args)} values, got "
                             f"{len(value)}")
        return tuple(check_type(v, a, f"{where}[{i}]")
                     for i, (v, a) in enumerate(zip(value, args)))
    if hint is dict or origin in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise ValueError(f"{where} must be a mapping, got {_describe(value)}")
        if args and args[0] is str and any(not isinstance(k, str) for k in value):
            raise ValueError(f"{where} must have string keys, got {sorted(map(repr, value))}")
        return dict(value)
    if isinstance(hint, type) and hint is not Path:
        if isinstance(value, hint):
            return value
        raise ValueError(f"{where} must be {hint.__name__}, got {_describe(value)}")
    return value  # an annotation this checker does not know: the dataclass decides


def _finite_float(value: Any, where: str) -> float:
    number = value
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            number = None
    if isinstance(number, bool) or not isinstance(number, (int, float)):
        raise ValueError(f"{where} must be a number, got {_describe(value)}")
    number = float(number)
    if not math.isfinite(number):
        raise ValueError(f"{where} must be a finite number, got {value!r}")
    return number


def _type_hints(cls: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls)
    except (NameError, TypeError):  # an annotation that cannot be resolved: no type checks
        return {}


def _type_name(hint: Any) -> str:
    return "null" if hint is _NONE else getattr(hint, "__name__", str(hint))


def _describe(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 40 else text[:37] + '...'}"


def to_dict(config: Any) -> dict[str, Any]:
    """Plain dict of a (nested) dataclass config, tuples as lists: JSON/YAML-ready."""
    return json.loads(json.dumps(dataclasses.asdict(config), default=_jsonable))


def load_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML (``yaml.safe_load``) or JSON file into a dict, with a clear error."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        kind = "JSON" if path.suffix == ".json" else "YAML"
        raise ValueError(f"{path}: not valid {kind}: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def save_file(config: Any, path: str | Path) -> None:
    """Write a dataclass config (or dict) as JSON (``.json``) or YAML (anything else)."""
    path = Path(path)
    data = config if isinstance(config, dict) else to_dict(config)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".json":
        path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    else:
        path.write_text(yaml.safe_dump(data, sort_keys=True), encoding="utf-8")


def _default_of(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return f.default_factory()  # type: ignore[misc]
    return None


def _jsonable(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "value"):  # enums
        return value.value
    raise TypeError(f"not JSON-serialisable: {value!r}")
