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

"""Value checks shared by the commands: each raises ValueError naming the flag.

argparse checks types (``type=float``) but lets ``nan``, ``inf``, ``-3`` and a file where a
folder is wanted through; these helpers refuse them in ``run()`` with one line that the CLI
prints (franet_core/cli.py's error policy). No heavy imports here.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any


def probability(value: float | None, flag: str, *, closed: bool = False) -> float | None:
    """Return ``value`` if None or a finite number in (0, 1) ([0, 1] when ``closed``)."""
    if value is None:
        return None
    inside = 0.0 <= value <= 1.0 if closed else 0.0 < value < 1.0
    if not (math.isfinite(value) and inside):
        raise ValueError(f"{flag} must be a probability in {'[0, 1]' if closed else '(0, 1)'}"
                         f", got {value}")
    return value


def weights_threshold(meta: dict[str, Any], flag_value: float | None, source: Any) -> float:
    """Threshold to use: the flag's, else the weights' own (checked), else 0.5."""
    if flag_value is not None:
        return probability(flag_value, "--threshold")
    value = meta.get("threshold", 0.5)
    value = 0.5 if value is None else value
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not (math.isfinite(value) and 0.0 < value < 1.0):
        raise ValueError(f"{source or 'shipped weights'}: the weights' threshold must be in "
                         f"(0, 1), got {value!r}; pass --threshold")
    return float(value)


def positive(value: float | None, flag: str, *, minimum: float = 0.0,
             inclusive: bool = False) -> Any:
    """Return ``value`` if None or finite and above ``minimum`` (or equal if ``inclusive``)."""
    if value is None:
        return None
    ok = math.isfinite(value) and (value >= minimum if inclusive else value > minimum)
    if not ok:
        relation = ">=" if inclusive else ">"
        raise ValueError(f"{flag} must be {relation} {minimum:g}, got {value}")
    return value


def at_least(value: int | None, flag: str, minimum: int = 1) -> int | None:
    """Return integer ``value`` if None or >= ``minimum``."""
    if value is not None and value < minimum:
        raise ValueError(f"{flag} must be >= {minimum}, got {value}")
    return value


def input_size(value: int | None, flag: str = "--input-size") -> int | None:
    """Return ``value`` if None or a positive multiple of 32 px."""
    if value is not None and (value < 32 or value % 32):
        raise ValueError(f"{flag} must be a positive multiple of 32 px, got {value}")
    return value


def device(value: str | None, where: str, *, auto: bool = False) -> str | None:
    """Return ``value`` if None or a device :func:`franet_core.devices.parse_device` accepts.

    For a device named outside the ``--device`` flag (a config field); ``auto`` also allows
    ``"auto"``.
    """
    from franet_core.devices import parse_device

    if value is None or (auto and value == "auto"):
        return value
    try:
        return parse_device(value)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None


def existing(path: Path, flag: str, *, kind: str = "any") -> Path:
    """Return ``path`` if it exists (``kind``: "any", "file" or "dir")."""
    if not path.exists():
        raise FileNotFoundError(f"{flag} {path}: not found")
    if kind == "dir" and not path.is_dir():
        raise NotADirectoryError(f"{flag} {path}: not a folder")
    if kind == "file" and not path.is_file():
        raise IsADirectoryError(f"{flag} {path}: not a file")
    return path


def out_dir(path: Path, flag: str = "--out") -> Path:
    """Return ``path`` if it is a folder or can become one (no file in the way)."""
    path = Path(path)
    for parent in (path, *path.parents):
        if parent.exists():
            if not parent.is_dir():
                raise FileExistsError(f"{flag} {path}: {parent} is a file, expected a folder")
            break
    return path


def out_file(path: Path, flag: str = "--out") -> Path:
    """Return ``path`` if a file can be written there (not a folder, parent not a file)."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{flag} {path}: is a folder, expected a file name")
    out_dir(path.parent, flag)
    return path
