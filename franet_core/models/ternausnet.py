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

"""TernausNet-11 (Iglovikov & Shvets, 2018): U-Net with a VGG-11 encoder.

Encoder: torchvision's VGG-11 ``features`` (grayscale first conv), tapped before each
max-pool. Decoder blocks as in the paper: 3x3 conv + ReLU (in → middle), then a 3x3
transposed conv with stride 2 + ReLU (middle → out); ``num_filters`` = 32 sets the widths
(centre 512 → 256; then 256, 128, 64, 32 and a final 3x3 conv at full resolution).
Logits (N, 1, H, W).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from franet_core.models.blocks import check_input_shape, init_weights
from franet_core.models.encoders import VGGEncoder

__all__ = ["TernausNet", "TernausNetConfig"]


@dataclass(frozen=True)
class TernausNetConfig:
    """TernausNet options (paper: ``num_filters`` = 32, VGG-11 encoder)."""

    in_channels: int = 1
    num_filters: int = 32

    def __post_init__(self) -> None:
        """Refuse a width that cannot build a network."""
        if self.num_filters < 1:
            raise ValueError(f"TernausNetConfig.num_filters must be >= 1, got {self.num_filters}")


def _conv_relu(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, padding=1),
                         nn.ReLU(inplace=True))


class TernausDecoder(nn.Sequential):
    """3x3 conv + ReLU, then 3x3 stride-2 transposed conv + ReLU (doubles H and W)."""

    def __init__(self, in_channels: int, middle: int, out_channels: int) -> None:
        super().__init__(
            _conv_relu(in_channels, middle),
            nn.ConvTranspose2d(middle, out_channels, 3, stride=2, padding=1, output_padding=1),
            nn.ReLU(inplace=True))


class TernausNet(nn.Module):
    """TernausNet-11 segmentation network."""

    def __init__(self, config: TernausNetConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or TernausNetConfig()
        nf = config.num_filters
        self.encoder = VGGEncoder(11, config.in_channels)
        e = self.encoder.out_channels  # 64, 128, 256, 512, 512 (strides 1-16), 512 (32)
        self.center = TernausDecoder(e[5], nf * 16, nf * 8)
        self.dec5 = TernausDecoder(nf * 8 + e[4], nf * 16, nf * 8)
        self.dec4 = TernausDecoder(nf * 8 + e[3], nf * 16, nf * 4)
        self.dec3 = TernausDecoder(nf * 4 + e[2], nf * 8, nf * 2)
        self.dec2 = TernausDecoder(nf * 2 + e[1], nf * 4, nf)
        self.dec1 = _conv_relu(nf + e[0], nf)
        self.head = nn.Conv2d(nf, 1, 1)
        init_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        """Map (N, in_channels, H, W) to logits (N, 1, H, W)."""
        check_input_shape(x, self.config.in_channels)
        c1, c2, c3, c4, c5, bottom = self.encoder(x)
        y = self.center(bottom)
        for block, skip in ((self.dec5, c5), (self.dec4, c4), (self.dec3, c3), (self.dec2, c2)):
            y = block(torch.cat([y, skip], dim=1))
        return self.head(self.dec1(torch.cat([y, c1], dim=1)))
