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

"""LinkNet (Chaurasia & Culurciello, VCIP 2017): ResNet-18 encoder, additive skips.

Encoder: 7x7/2 conv, 3x3/2 max-pool and the four ResNet-18 stages (64, 128, 256, 512
channels, strides 4-32). Each decoder block is 1x1 conv (m → m/4), 3x3 transposed conv with
stride 2 (m/4 → m/4), 1x1 conv (m/4 → n), all with BN + ReLU; its output is *added* to the
encoder map of the same resolution (the "link"), which keeps the decoder light. The final
classifier is a 3x3/2 transposed conv (64 → 32), a 3x3 conv (32 → 32) and a 2x2/2
transposed conv to the logit map, as in the paper. Logits (N, 1, H, W).
"""
from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from franet_core.models.blocks import ConvBNReLU, check_input_shape, init_weights
from franet_core.models.encoders import ResNetEncoder

__all__ = ["LinkNet", "LinkNetConfig"]


@dataclass(frozen=True)
class LinkNetConfig:
    """LinkNet options; ``encoder_depth`` 18 is the paper's ResNet-18 (34 also accepted)."""

    in_channels: int = 1
    encoder_depth: int = 18

    def __post_init__(self) -> None:
        """LinkNet's decoder widths assume a basic-block ResNet."""
        if self.encoder_depth not in (18, 34):
            raise ValueError(f"LinkNetConfig.encoder_depth must be 18 or 34, "
                             f"got {self.encoder_depth}")


def _up2(in_channels: int, out_channels: int) -> nn.Sequential:
    """3x3 transposed conv, stride 2, exact doubling; BN + ReLU."""
    return nn.Sequential(
        nn.ConvTranspose2d(in_channels, out_channels, 3, stride=2, padding=1, output_padding=1,
                           bias=False),
        nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


class LinkDecoder(nn.Sequential):
    """LinkNet decoder block m → n channels; spatial size doubled if ``upsample``."""

    def __init__(self, in_channels: int, out_channels: int, upsample: bool = True) -> None:
        mid = in_channels // 4
        middle = _up2(mid, mid) if upsample else ConvBNReLU(mid, mid)
        super().__init__(ConvBNReLU(in_channels, mid, kernel_size=1), middle,
                         ConvBNReLU(mid, out_channels, kernel_size=1))


class LinkNet(nn.Module):
    """LinkNet segmentation network."""

    def __init__(self, config: LinkNetConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or LinkNetConfig()
        self.encoder = ResNetEncoder(config.encoder_depth, config.in_channels)
        widths = self.encoder.out_channels[1:]  # 64, 128, 256, 512 at strides 4..32
        self.decoder = nn.ModuleList(LinkDecoder(widths[k + 1], widths[k])
                                     for k in reversed(range(len(widths) - 1)))
        # Encoder block 1 does not down-sample, so neither does decoder block 1 (stride 4).
        self.decoder1 = LinkDecoder(widths[0], widths[0], upsample=False)
        self.final = nn.Sequential(_up2(widths[0], 32), ConvBNReLU(32, 32),
                                   nn.ConvTranspose2d(32, 1, 2, stride=2))
        init_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        """Map (N, in_channels, H, W) to logits (N, 1, H, W)."""
        check_input_shape(x, self.config.in_channels)
        feats = self.encoder(x)[1:]  # strides 4, 8, 16, 32
        y = feats[-1]
        for block, skip in zip(self.decoder, feats[-2::-1]):
            y = block(y) + skip
        return self.final(self.decoder1(y))
