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

"""Model-loading flags shared by the commands: ``--weights``, ``--backend``, ``--device``.

Declared here once so every command spells, defaults and checks them the same way. The
leading underscore keeps :mod:`franet_core.cli` from taking this module for a command.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from franet_core.devices import DEVICE_FORMS, parse_device

BACKENDS = ("torch", "onnx")


def device_arg(text: str) -> str:
    """Argparse ``type`` for ``--device``: the rule of :func:`franet_core.devices.parse_device`."""
    try:
        return parse_device(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_weights(parser: Any, *, onnx: bool = True) -> None:
    """``--weights FILE`` (default None: the shipped model); ``parser`` may be a group.

    ``onnx=False`` for commands that need .safetensors weights (no ``--backend``).
    """
    kinds = ".safetensors weights (or .onnx with --backend onnx)" if onnx else \
        ".safetensors weights"
    parser.add_argument("--weights", type=Path, default=None, metavar="FILE",
                        help=f"{kinds}; default: the shipped model")


def add_tip_check(parser: Any) -> None:
    """``--tip-check auto|off|FILE`` (default auto: the check fitted for the weights, if any)
    and ``--min-tip-score S`` (default: that check's own gate)."""
    parser.add_argument("--tip-check", default="auto", metavar="auto|off|FILE",
                        help="withhold tips the tip check scores under its gate: 'auto' uses "
                             "the check beside the weights (<stem>.tipcheck.json) when there "
                             "is one, 'off' publishes every tracked tip (default: auto)")
    parser.add_argument("--min-tip-score", type=float, default=None, metavar="S",
                        help="gate of the tip check, in [0, 1] (default: the check's own, "
                             "chosen on validation data for a false-tip rate <= 1 %%)")


def add_backend(parser: Any) -> None:
    """``--backend {torch,onnx}``, default torch."""
    parser.add_argument("--backend", choices=BACKENDS, default="torch",
                        help="inference backend (default: %(default)s)")


def add_device(parser: Any, *, auto: bool = False) -> None:
    """``--device``: cpu, cuda or cuda:N, checked while parsing (a clear usage error).

    Inference commands default to cpu, and CUDA without a usable GPU falls back to the CPU
    with a warning. ``auto=True`` (training) also accepts ``auto``, the GPU when there is
    one, and defaults to None so the training config decides.
    """
    def check(text: str) -> str:
        return text if auto and text == "auto" else device_arg(text)

    if auto:
        help_ = f"'auto' (default: the GPU if there is one), {DEVICE_FORMS}"
    else:
        help_ = (f"{DEVICE_FORMS} (default: cpu); CUDA without a usable GPU falls back to "
                 "the CPU with a warning")
    parser.add_argument("--device", type=check, default=None if auto else "cpu",
                        metavar="DEVICE", help=help_)


def add_model_flags(parser: argparse.ArgumentParser, *, backend: bool = True,
                    weights_to: Any = None) -> None:
    """``--weights``, ``--device`` and (unless ``backend=False``) ``--backend``.

    ``weights_to``: an argument group to put ``--weights`` in (e.g. one exclusive with
    ``--model``); by default ``parser``.
    """
    add_weights(parser if weights_to is None else weights_to, onnx=backend)
    if backend:
        add_backend(parser)
    add_device(parser)
