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

"""U-Net (Ronneberger, Fischer, Brox, MICCAI 2015), the paper's first baseline.

Four 2x2 max-pool down-steps of two 3x3 conv-BN-ReLU layers each, a bottleneck at stride
16, then 2x2 transposed-convolution up-steps concatenating the matching encoder maps. As in
the paper the width doubles at each level from ``base_channels`` = 64. Two deliberate
departures, both standard today: "same" padding (output size = input size, no cropping) and
batch norm after every convolution. Logits (N, 1, H, W).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor, nn

from franet_core.models.blocks import ConvBNReLU, check_input_shape, init_weights

__all__ = ["DoubleConv", "UNet", "UNetConfig", "UpBlock"]


@dataclass(frozen=True)
class UNetConfig:
    """U-Net options; ``base_channels`` = 64 and ``depth`` = 4 down-steps as in the paper."""

    #: Fewest down-steps this network accepts (a class constant, not an option).
    MIN_DEPTH: ClassVar[int] = 1

    in_channels: int = 1
    base_channels: int = 64
    depth: int = 4

    def __post_init__(self) -> None:
        """Refuse depths the 32-px input contract cannot serve."""
        name = type(self).__name__
        if not self.MIN_DEPTH <= self.depth <= 5:
            raise ValueError(f"{name}.depth must be in {self.MIN_DEPTH}..5, got {self.depth}")
        if self.base_channels < 1:
            raise ValueError(f"{name}.base_channels must be >= 1, got {self.base_channels}")


class DoubleConv(nn.Sequential):
    """Two 3x3 conv-BN-ReLU layers (the U-Net unit)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(ConvBNReLU(in_channels, out_channels),
                         ConvBNReLU(out_channels, out_channels))


class UpBlock(nn.Module):
    """2x2 transposed conv (halving the width), concatenate the skip, :class:`DoubleConv`."""

    def __init__(self, in_channels: int, skip_channels: int, out_channels: int) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(in_channels, out_channels, 2, stride=2)
        self.conv = DoubleConv(out_channels + skip_channels, out_channels)

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:
        """(N, C_in, H, W) and skip (N, C_skip, 2H, 2W) → (N, C_out, 2H, 2W)."""
        return self.conv(torch.cat([self.up(x), skip], dim=1))


class UNet(nn.Module):
    """U-Net with widths ``base · 2^level``, level 0 .. depth.

    Subclasses change what a skip carries into the decoder by overriding
    :meth:`build_skip_gates` and :meth:`gate_skip` (see
    :class:`~franet_core.models.attention_unet.AttentionUNet`); the encoder, the decoder and
    the order of the loops stay here.
    """

    def __init__(self, config: UNetConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or UNetConfig()
        widths = [config.base_channels * 2 ** k for k in range(config.depth + 1)]
        self.inc = DoubleConv(config.in_channels, widths[0])
        self.pool = nn.MaxPool2d(2)
        self.down = nn.ModuleList(DoubleConv(widths[k], widths[k + 1])
                                  for k in range(config.depth))
        self.build_skip_gates(widths)
        self.up = nn.ModuleList(UpBlock(widths[k + 1], widths[k], widths[k])
                                for k in reversed(range(config.depth)))
        self.head = nn.Conv2d(widths[0], 1, 1)
        init_weights(self)

    def build_skip_gates(self, widths: list[int]) -> None:
        """Create modules acting on the skips (none in U-Net); ``widths`` per level 0..depth.

        Called between the encoder and the decoder, so submodules keep that order.
        """

    def gate_skip(self, step: int, skip: Tensor, coarse: Tensor) -> Tensor:
        """Return the skip fed to decoder step ``step`` (0 = coarsest); U-Net passes it as is.

        ``skip`` (N, C_k, 2H, 2W) is the encoder map, ``coarse`` (N, C_k+1, H, W) the decoder
        map about to be upsampled.
        """
        return skip

    def forward(self, x: Tensor) -> Tensor:
        """Map (N, in_channels, H, W) to logits (N, 1, H, W)."""
        check_input_shape(x, self.config.in_channels)
        skips = [self.inc(x)]
        for down in self.down:
            skips.append(down(self.pool(skips[-1])))
        y = skips.pop()
        for step, up in enumerate(self.up):
            y = up(y, self.gate_skip(step, skips.pop(), y))
        return self.head(y)
