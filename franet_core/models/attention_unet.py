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
from typing import ClassVar

from torch import Tensor, nn

from franet_core.models.blocks import AttentionGate
from franet_core.models.unet import UNet, UNetConfig

__all__ = ["AttentionUNet", "AttentionUNetConfig"]


@dataclass(frozen=True)
class AttentionUNetConfig(UNetConfig):
    """Attention U-Net options (paper: base width 16, four down-steps; at least two)."""

    MIN_DEPTH: ClassVar[int] = 2

    base_channels: int = 16


class AttentionUNet(UNet):
    """U-Net whose skips at strides 2 .. 2^(depth-1) pass through attention gates."""

    def __init__(self, config: AttentionUNetConfig | None = None) -> None:
        super().__init__(config or AttentionUNetConfig())

    def build_skip_gates(self, widths: list[int]) -> None:
        """One gate per decoder step, coarsest first; the full-resolution skip is not gated.

        The gate for skip level k is driven by the decoder map at level k + 1.
        """
        self.gates = nn.ModuleList(
            AttentionGate(widths[k], widths[k + 1], max(widths[k] // 2, 8)) if k else
            nn.Identity() for k in reversed(range(len(widths) - 1)))

    def gate_skip(self, step: int, skip: Tensor, coarse: Tensor) -> Tensor:
        """Multiply the skip by the attention coefficients of gate ``step`` (if gated)."""
        gate = self.gates[step]
        return gate(skip, coarse) if isinstance(gate, AttentionGate) else skip
