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

"""The one rule for naming an inference device: ``cpu``, ``cuda`` or ``cuda:N``.

Kept free of torch so the command line can check ``--device`` while parsing, before any
heavy import; :func:`franet_core.segmenter.resolve_device` applies the same rule and then
decides whether the named GPU is usable.
"""
from __future__ import annotations

import re

__all__ = ["DEVICE_FORMS", "parse_device"]

#: What a device name may look like, for help texts and error messages.
DEVICE_FORMS = "'cpu', 'cuda' or 'cuda:N'"

_DEVICE = re.compile(r"cpu|cuda(:[0-9]+)?")


def parse_device(name: str) -> str:
    """Return ``name`` if it is ``cpu``, ``cuda`` or ``cuda:N`` (N a GPU index), else raise.

    Raises ValueError naming the accepted forms. Whether the GPU exists is not checked here.
    """
    text = str(name)
    if not _DEVICE.fullmatch(text):
        raise ValueError(f"unknown device {text!r}; use {DEVICE_FORMS}")
    return text
