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

"""FRA-Net: MobileNetV2 encoder, recurrent residual blocks and attention-gated skips.

Zhou, Xie, Bian, Hou, "FRA-Net ... for real-time guidewire segmentation", ECAI 2020.
Input (N, in_channels, H, W) float32 in [0, 1] with H, W multiples of 32 (512x512 in the
paper); output logits (N, 1, H, W) — the sigmoid belongs to the loss and the predictor.

Data flow for a 512x512 input (defaults; channels in brackets)::

    encoder   stem 7x7/2 [32] 256² ─────────────────────────────┐ skip /2
              max-pool 3x3/2, features.1 [16] 128² ────────────┐│ skip /4
              features.2-3 [24] 64² ──────────────────────────┐││ skip /8
              features.4-6 [32] 32² ─────────────────────────┐│││ skip /16
              features.7-13 [96] 16²                         ││││
    bottleneck recurrent residual block [64] 16²             ││││
    decoder   up → 32²  ⊕ gate(skip /16) → recurrent [32] ◄──┘│││
              up → 64²  ⊕ gate(skip /8)  → recurrent [16] ◄───┘││
              up → 128² ⊕ gate(skip /4)  → separable [16] ◄────┘│
              up → 256² ⊕ gate(skip /2)  → separable [8]  ◄─────┘
              up → 512²                          [8]
    head      1x1 conv → 1 logit map 512²

"up" is ConvTranspose2d(2, stride 2) + BN + ReLU; "gate" the additive attention gate driven
by the coarser decoder map; "recurrent" a recurrent residual block with ``t`` steps. Where
the paper leaves details open (decoder widths, which decoder levels are recurrent) the
choices favour CPU latency and are explained in docs/model.md.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from franet_core.models.blocks import (ConvBNReLU, DecoderBlock, RecurrentResidualBlock,
                                       check_input_shape, init_weights)
from franet_core.models.encoders import ENCODER_NAMES, build_encoder

__all__ = ["FRANet", "FRANetConfig", "franet"]


@dataclass(frozen=True)
class FRANetConfig:
    """FRA-Net hyper-parameters; defaults are the paper's model (Table 3 switches below).

    Paper ablations: ``attention=False`` (no attention gates), ``recurrent=False`` (the
    recurrent layers become plain conv-BN-ReLU, residual connections kept), ``t`` (recurrent
    steps, paper: 3), ``width_mult`` (MobileNetV2 width multiplier, encoder only) and
    ``encoder`` in ``mobilenetv2 | resnet18 | resnet34 | resnet50 | resnet101 | vgg11 |
    vgg16``. ``decoder_channels`` are the widths of the five up-sampling steps (to strides
    16, 8, 4, 2, 1); the first ``recurrent_decoder_stages`` of them fuse with recurrent
    residual blocks, the others (at high resolution) with depthwise-separable convolutions.
    ``full_res_channels`` (not in the paper; 0 = off) adds a skip at stride 1: a 3x3
    conv-BN-ReLU of the input with that many channels, fused into the last up-sampling step,
    so that a 1 px wire is not recovered from half-resolution features alone (measured as a
    lever in docs/results.md).
    """

    in_channels: int = 1
    encoder: str = "mobilenetv2"
    width_mult: float = 1.0
    attention: bool = True
    recurrent: bool = True
    t: int = 3
    bottleneck_channels: int = 64
    decoder_channels: tuple[int, ...] = (32, 16, 16, 8, 8)
    recurrent_decoder_stages: int = 2
    full_res_channels: int = 0

    def __post_init__(self) -> None:
        """Validate values so that a bad config fails at build time with a clear message."""
        if self.encoder not in ENCODER_NAMES:
            raise ValueError(f"FRANetConfig.encoder: unknown {self.encoder!r}; "
                             f"choose one of {list(ENCODER_NAMES)}")
        if len(self.decoder_channels) != 5 or min(self.decoder_channels) < 1:
            raise ValueError("FRANetConfig.decoder_channels: need 5 positive widths (strides "
                             f"16, 8, 4, 2, 1), got {self.decoder_channels}")
        if not 0 <= self.recurrent_decoder_stages <= 4:
            raise ValueError("FRANetConfig.recurrent_decoder_stages must be in 0..4, got "
                             f"{self.recurrent_decoder_stages}")
        if self.t < 1:
            raise ValueError(f"FRANetConfig.t must be >= 1 (use recurrent=False to remove "
                             f"recurrence), got {self.t}")
        if self.in_channels < 1 or self.bottleneck_channels < 1:
            raise ValueError("FRANetConfig: in_channels and bottleneck_channels must be >= 1")
        if self.full_res_channels < 0:
            raise ValueError("FRANetConfig.full_res_channels must be >= 0 (0: no stride-1 "
                             f"skip), got {self.full_res_channels}")


class FRANet(nn.Module):
    """The FRA-Net segmentation network; see the module docstring for the data flow."""

    def __init__(self, config: FRANetConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or FRANetConfig()
        steps = config.t if config.recurrent else 0

        self.encoder = build_encoder(config.encoder, config.in_channels, config.width_mult)
        # Taps at strides 2, 4, 8, 16, 32 (VGG also taps stride 1, unused here).
        self._taps = [i for i, s in enumerate(self.encoder.out_strides) if s >= 2]
        skips = [self.encoder.out_channels[i] for i in self._taps]

        self.bottleneck = RecurrentResidualBlock(skips[-1], config.bottleneck_channels, steps)

        blocks = []
        in_channels = config.bottleneck_channels
        # Skips at strides 16, 8, 4, 2, then the optional one at stride 1.
        self.full_res = (ConvBNReLU(config.in_channels, config.full_res_channels)
                         if config.full_res_channels else None)
        skip_channels = skips[-2::-1] + [config.full_res_channels]
        for level, (out_channels, skip) in enumerate(zip(config.decoder_channels,
                                                         skip_channels)):
            if level < config.recurrent_decoder_stages:
                fusion = "recurrent"
            else:
                fusion = "separable" if skip else "none"
            blocks.append(DecoderBlock(in_channels, skip, out_channels, fusion=fusion, t=steps,
                                       attention=config.attention))
            in_channels = out_channels
        self.decoder = nn.ModuleList(blocks)

        self.head = nn.Conv2d(in_channels, 1, 1)
        init_weights(self)
        # NHWC weights make every activation NHWC: depthwise and small-channel convolutions
        # are several times faster on CPU in that layout (docs/model.md).
        self.to(memory_format=torch.channels_last)

    def forward(self, x: Tensor) -> Tensor:
        """Map (N, in_channels, H, W) in [0, 1] to logits (N, 1, H, W)."""
        check_input_shape(x, self.config.in_channels)
        feats = self.encoder(x)
        feats = [feats[i] for i in self._taps]
        y = self.bottleneck(feats[-1])
        skips: list[Tensor | None] = [*feats[-2::-1],
                                      self.full_res(x) if self.full_res is not None else None]
        for block, skip in zip(self.decoder, skips):
            y = block(y, skip)
        return self.head(y).contiguous()


def franet(**config: object) -> FRANet:
    """Build FRA-Net from keyword options of :class:`FRANetConfig` (paper defaults)."""
    return FRANet(FRANetConfig(**config))  # type: ignore[arg-type]
