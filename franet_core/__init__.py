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
