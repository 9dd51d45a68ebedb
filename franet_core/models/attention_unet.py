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

"""Attention U-Net (Oktay et al., MIDL 2018), 2-D: U-Net with additive attention gates.

Encoder and decoder are the U-Net of :mod:`franet_core.models.unet`; before a skip is
concatenated in the decoder it is multiplied by the coefficients of an
:class:`~franet_core.models.blocks.AttentionGate` driven by the coarser decoder map (the
gating signal). As in the authors' network, the full-resolution skip is not gated (its
coarse context is too small to be useful) and widths start at 16 (their
``feature_scale = 4``: 16, 32, 64, 128, 256). Logits (N, 1, H, W).
"""
from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from franet_core.models.blocks import AttentionGate, check_input_shape, init_weights
from franet_core.models.unet import DoubleConv, UpBlock

__all__ = ["AttentionUNet", "AttentionUNetConfig"]


@dataclass(frozen=True)
class AttentionUNetConfig:
    """Attention U-Net options (paper: base width 16, four down-steps)."""

    in_channels: int = 1
    base_channels: int = 16
    depth: int = 4

    def __post_init__(self) -> None:
        """Refuse depths the 32-px input contract cannot serve."""
        if not 2 <= self.depth <= 5:
            raise ValueError(f"AttentionUNetConfig.depth must be in 2..5, got {self.depth}")
        if self.base_channels < 1:
            raise ValueError("AttentionUNetConfig.base_channels must be >= 1, got "
                             f"{self.base_channels}")


class AttentionUNet(nn.Module):
    """U-Net whose skips at strides 2 .. 2^(depth-1) pass through attention gates."""

    def __init__(self, config: AttentionUNetConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or AttentionUNetConfig()
        widths = [config.base_channels * 2 ** k for k in range(config.depth + 1)]
        self.inc = DoubleConv(config.in_channels, widths[0])
        self.pool = nn.MaxPool2d(2)
        self.down = nn.ModuleList(DoubleConv(widths[k], widths[k + 1])
                                  for k in range(config.depth))
        levels = list(reversed(range(config.depth)))
        # Gate for skip level k, driven by the decoder map at level k + 1 (width widths[k+1]).
        self.gates = nn.ModuleList(
            AttentionGate(widths[k], widths[k + 1], max(widths[k] // 2, 8)) if k else
            nn.Identity() for k in levels)
        self.up = nn.ModuleList(UpBlock(widths[k + 1], widths[k], widths[k]) for k in levels)
        self.head = nn.Conv2d(widths[0], 1, 1)
        init_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        """Map (N, in_channels, H, W) to logits (N, 1, H, W)."""
        check_input_shape(x, self.config.in_channels)
        skips = [self.inc(x)]
        for down in self.down:
            skips.append(down(self.pool(skips[-1])))
        y = skips.pop()
        for gate, up in zip(self.gates, self.up):
            skip = skips.pop()
            if isinstance(gate, AttentionGate):
                skip = gate(skip, y)
            y = up(y, skip)
        return self.head(y)
