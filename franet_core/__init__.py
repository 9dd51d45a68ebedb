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

"""franet_core: framework-free guidewire segmentation and tracking (FRA-Net).

Never imports rclpy or ROS message packages (a test enforces it). The public entry point is
:class:`franet_core.pipeline.FramePipeline`; heavy modules are imported lazily so that
``import franet_core`` stays cheap for the CLI.
"""
from importlib import import_module
from typing import Any

__version__ = "0.1.0"
__all__ = ["FramePipeline", "FrameResult", "WireState", "WireStatus", "__version__"]

_LAZY = {
    "FramePipeline": "franet_core.pipeline",
    "FrameResult": "franet_core.types",
    "WireState": "franet_core.types",
    "WireStatus": "franet_core.types",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'franet_core' has no attribute {name!r}")
