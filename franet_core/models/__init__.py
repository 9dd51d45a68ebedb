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

"""Model registry: one name per network, one frozen dataclass config per name.

Every model maps (N, C, H, W) float32 images in [0, 1] (C = ``in_channels``, 1 by default;
H, W multiples of 32, otherwise a ValueError names the padded size) to logits (N, 1, H, W).

``build_model(name, **config)`` and ``model_config(name, **config)`` are the only entry
points the rest of franet uses; ``model_config`` returns the full config with defaults as a
plain dict, which checkpoints store so that ``build_model(name, **model_config(...))``
rebuilds the same network.
"""
from __future__ import annotations

from typing import Any

from torch import nn

from franet_core.config import from_dict, to_dict
from franet_core.models.attention_unet import AttentionUNet, AttentionUNetConfig
from franet_core.models.encoders import load_backbone_weights
from franet_core.models.franet import FRANet, FRANetConfig
from franet_core.models.linknet import LinkNet, LinkNetConfig
from franet_core.models.ternausnet import TernausNet, TernausNetConfig
from franet_core.models.unet import UNet, UNetConfig

__all__ = ["MODEL_NAMES", "build_model", "config_class", "load_backbone_weights",
           "model_config"]

_REGISTRY: dict[str, tuple[type, type[nn.Module]]] = {
    "franet": (FRANetConfig, FRANet),
    "unet": (UNetConfig, UNet),
    "linknet": (LinkNetConfig, LinkNet),
    "ternausnet": (TernausNetConfig, TernausNet),
    "attention_unet": (AttentionUNetConfig, AttentionUNet),
}
#: Names accepted by :func:`build_model` (the ``--model`` flag everywhere).
MODEL_NAMES = tuple(_REGISTRY)


def config_class(name: str) -> type:
    """The frozen dataclass holding the options of model ``name``."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; choose one of {list(MODEL_NAMES)}")
    return _REGISTRY[name][0]


def _config(name: str, config: dict[str, Any]) -> Any:
    return from_dict(config_class(name), config, where=f"model {name!r}")


def build_model(name: str, **config: Any) -> nn.Module:
    """Build model ``name`` with ``config`` overriding its defaults (unknown keys refused)."""
    cfg = _config(name, config)
    return _REGISTRY[name][1](cfg)


def model_config(name: str, **config: Any) -> dict[str, Any]:
    """Full config of model ``name`` (defaults filled in) as a JSON-ready dict."""
    return to_dict(_config(name, config))
