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

"""Building blocks shared by the segmentation networks.

Tensors are ``(N, C, H, W)`` float32 throughout; "stride" means the down-sampling factor
relative to the network input. The blocks follow the papers they come from:

- :class:`ConvBNReLU`, :class:`InvertedResidual`: MobileNetV2 (Sandler et al., CVPR 2018),
  with torchvision's parameter layout (``conv.0.0.weight`` ...) so its checkpoints load.
- :class:`RecurrentConv`, :class:`RecurrentResidualBlock`: R2U-Net (Alom et al., 2018), the
  recurrent residual convolutional unit used by FRA-Net.
- :class:`AttentionGate`: additive attention gate of Attention U-Net (Oktay et al., 2018).
- :class:`DecoderBlock`: FRA-Net's up-sampling step (transposed convolution + batch norm,
  then a fusion block over the up-sampled and the (gated) skip features).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "SIZE_MULTIPLE",
    "AttentionGate",
    "ConvBNReLU",
    "DecoderBlock",
    "InvertedResidual",
    "RecurrentConv",
    "RecurrentResidualBlock",
    "SeparableConvBlock",
    "check_input_shape",
    "init_weights",
    "make_divisible",
]

#: Every network here down-samples five times, so inputs must be multiples of 32 px.
SIZE_MULTIPLE = 32


def check_input_shape(x: Tensor, in_channels: int, multiple: int = SIZE_MULTIPLE) -> None:
    """Refuse inputs the networks cannot take, naming the padded size to use instead.

    ``x`` must be ``(N, in_channels, H, W)`` with H and W multiples of ``multiple`` (px).
    Padding is the caller's job (``franet_core.preprocess.Letterbox`` does it) because a
    network that padded silently would return logits of a different size than its input.
    """
    if x.ndim != 4:
        raise ValueError(f"input must be (N, C, H, W), got shape {tuple(x.shape)}")
    if x.shape[1] != in_channels:
        raise ValueError(f"input has {x.shape[1]} channel(s), the model expects {in_channels}")
    h, w = int(x.shape[2]), int(x.shape[3])
    if h % multiple or w % multiple or h == 0 or w == 0:
        ph = max(multiple, -(-h // multiple) * multiple)
        pw = max(multiple, -(-w // multiple) * multiple)
        raise ValueError(f"input size {h}x{w} (HxW) is not a multiple of {multiple}; pad it to "
                         f"{ph}x{pw} (e.g. with franet_core.preprocess.Letterbox)")


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round a channel count to a multiple of ``divisor`` as torchvision's MobileNetV2 does.

    Never rounds down by more than 10 % (so a width multiplier keeps its meaning).
    """
    min_value = divisor if min_value is None else min_value
    new = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if new < 0.9 * value:
        new += divisor
    return new


class ConvBNReLU(nn.Sequential):
    """Conv2d (no bias) → BatchNorm2d → ReLU (or ReLU6), "same" padding.

    Parameter names ``0.weight`` / ``1.weight`` ... match torchvision's
    ``Conv2dNormActivation`` so MobileNetV2 checkpoints map one to one.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3,
                 stride: int = 1, groups: int = 1, relu6: bool = False) -> None:
        padding = (kernel_size - 1) // 2
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, groups=groups,
                      bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU6(inplace=True) if relu6 else nn.ReLU(inplace=True),
        )
        self.out_channels = out_channels


class InvertedResidual(nn.Module):
    """MobileNetV2 inverted residual: 1x1 expansion, 3x3 depthwise, 1x1 linear projection.

    Identical in structure and parameter naming to torchvision's ``InvertedResidual``
    (``conv.0`` expansion, ``conv.1`` depthwise, ``conv.2`` projection, ``conv.3`` its BN;
    without expansion the indices shift down by one). The residual connection is used when
    the stride is 1 and the channel count is unchanged.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int,
                 expand_ratio: int) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, got {stride}")
        self.stride = stride
        hidden = int(round(in_channels * expand_ratio))
        self.use_res_connect = stride == 1 and in_channels == out_channels
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(ConvBNReLU(in_channels, hidden, kernel_size=1, relu6=True))
        layers += [
            ConvBNReLU(hidden, hidden, stride=stride, groups=hidden, relu6=True),
            nn.Conv2d(hidden, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
        ]
        self.conv = nn.Sequential(*layers)
        self.out_channels = out_channels

    def forward(self, x: Tensor) -> Tensor:
        """Map (N, C_in, H, W) to (N, C_out, H/stride, W/stride)."""
        if self.use_res_connect:
            return x + self.conv(x)
        return self.conv(x)


class RecurrentConv(nn.Module):
    """Recurrent convolutional layer (RCL) unfolded for ``t`` steps, channels unchanged.

    The feed-forward input is constant over the unfolded steps, so ``w_c * x`` is computed
    once and each step adds the recurrent convolution of the previous state. Every step has
    its own BatchNorm (the bias ``b`` of the equation), since the statistics of the state
    change from step to step. ``t = 0`` leaves a plain Conv-BN-ReLU (no ``conv_r``), which
    is what the "without recurrent blocks" ablation uses. Cost: ``1 + t`` 3x3 convolutions.
    """

    def __init__(self, channels: int, t: int) -> None:
        super().__init__()
        if t < 0:
            raise ValueError(f"recurrent steps t must be >= 0, got {t}")
        self.t = t
        self.conv_f = nn.Conv2d(channels, channels, 3, padding=1, bias=False)  # w_c
        self.conv_r = nn.Conv2d(channels, channels, 3, padding=1, bias=False) if t else None
        self.norms = nn.ModuleList(nn.BatchNorm2d(channels) for _ in range(t + 1))

    def forward(self, x: Tensor) -> Tensor:
        """Return the state after ``t`` recurrent steps, same shape as ``x``."""
        feed = self.conv_f(x)
        h = F.relu(self.norms[0](feed))  # O(0) = ReLU(w_c * x + b)
        for step in range(1, self.t + 1):
            assert self.conv_r is not None
            # O(t) = w_c * x(t) + w_r * x(t-1) + b, followed by ReLU   (R2U-Net, eq. 1-2)
            h = F.relu(self.norms[step](feed + self.conv_r(h)))
        return h


class RecurrentResidualBlock(nn.Module):
    """Recurrent residual convolutional unit: ``x_{l+1} = x_l + F(x_l)``, F = two stacked RCLs.

    A 1x1 projection (conv + BN) first maps ``in_channels`` to ``out_channels`` when they
    differ, as in R2U-Net, so that the identity path and F have the same width.
    """

    def __init__(self, in_channels: int, out_channels: int, t: int) -> None:
        super().__init__()
        self.proj: nn.Module = nn.Identity()
        if in_channels != out_channels:
            self.proj = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, bias=False),
                                      nn.BatchNorm2d(out_channels))
        self.body = nn.Sequential(RecurrentConv(out_channels, t), RecurrentConv(out_channels, t))
        self.out_channels = out_channels

    def forward(self, x: Tensor) -> Tensor:
        """Map (N, C_in, H, W) to (N, C_out, H, W)."""
        x = self.proj(x)
        return x + self.body(x)  # x_{l+1} = x_l + F(x_l)


class SeparableConvBlock(nn.Sequential):
    """Pointwise 1x1 conv-BN-ReLU (in → out channels), then depthwise 3x3 conv-BN-ReLU.

    FRA-Net's fusion step at high resolution (strides 4 and 2), where a dense 3x3 stack
    would dominate the CPU latency of the whole network. Reducing the channels before the
    depthwise convolution (not after) keeps the memory-bound passes at full width to one.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            ConvBNReLU(in_channels, out_channels, kernel_size=1),
            ConvBNReLU(out_channels, out_channels, groups=out_channels),
        )
        self.out_channels = out_channels


class AttentionGate(nn.Module):
    """Additive attention gate: ``α = σ2(ψᵀ σ1(W_xᵀ x + W_gᵀ g + b_g) + b_ψ)``, output ``x·α``.

    ``x`` is the skip feature map (N, C_x, H, W); ``g`` the gating signal from the coarser
    decoder level (N, C_g, H/s, W/s) with ``s = stride``. ``W_x`` is a 1x1 convolution with
    stride ``s`` (x down-sampled to g's resolution), ``W_g`` and ``ψ`` are 1x1 convolutions,
    σ1 = ReLU and σ2 = sigmoid. The coefficients α ∈ [0, 1], one per pixel, are resampled
    back to x's resolution bilinearly. ``forward(..., return_alpha=True)`` also returns α
    (N, 1, H, W) for inspection and tests.

    The stride of ``W_x`` is applied as ``x[..., ::s, ::s]`` before a stride-1 convolution,
    which is the same operation: PyTorch's CPU backward of a strided 1x1 channels-last
    convolution with fewer than 16 channels and an odd batch crashes the process (seen with
    torch 2.13.0; test_models.py keeps the reproducer).
    """

    def __init__(self, x_channels: int, g_channels: int, inter_channels: int,
                 stride: int = 2) -> None:
        super().__init__()
        self.stride = stride
        self.w_x = nn.Conv2d(x_channels, inter_channels, 1, bias=False)
        self.w_g = nn.Conv2d(g_channels, inter_channels, 1, bias=True)  # bias = b_g
        self.psi = nn.Conv2d(inter_channels, 1, 1, bias=True)  # bias = b_ψ

    def forward(self, x: Tensor, g: Tensor,
                return_alpha: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        """Return the gated skip ``x·α`` (same shape as ``x``), and α if asked."""
        x_down = x[:, :, ::self.stride, ::self.stride]
        q = F.relu(self.w_x(x_down) + self.w_g(g))  # σ1(W_xᵀ x + W_gᵀ g + b_g)
        alpha = torch.sigmoid(self.psi(q))  # σ2(ψᵀ q + b_ψ)
        alpha = F.interpolate(alpha, size=x.shape[2:], mode="bilinear", align_corners=False)
        out = x * alpha
        return (out, alpha) if return_alpha else out


class DecoderBlock(nn.Module):
    """One FRA-Net up-sampling step: ConvTranspose2d(2, stride 2) + BN + ReLU, then fusion.

    ``forward(x, skip)``: x (N, C_in, H, W) → (N, C_out, 2H, 2W). When ``skip_channels > 0``
    the skip (N, C_skip, 2H, 2W), gated by an :class:`AttentionGate` on x if ``attention``,
    is concatenated to the up-sampled features. The concatenation then goes through the
    fusion block: ``"recurrent"`` = :class:`RecurrentResidualBlock` (the paper's recurrent
    up-convolution, ``t`` steps; ``t = 0`` for the non-recurrent ablation), ``"separable"`` =
    :class:`SeparableConvBlock`, ``"none"`` = nothing (the last, full-resolution step).
    """

    def __init__(self, in_channels: int, skip_channels: int, out_channels: int, *,
                 fusion: str, t: int = 3, attention: bool = True) -> None:
        super().__init__()
        if fusion not in ("recurrent", "separable", "none"):
            raise ValueError(f"unknown decoder fusion {fusion!r}")
        if fusion == "none" and skip_channels:
            raise ValueError("a decoder block with a skip connection needs a fusion block")
        self.up = nn.Sequential(
            nn.ConvTranspose2d(in_channels, out_channels, 2, stride=2, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )
        self.gate = None
        if attention and skip_channels:
            self.gate = AttentionGate(skip_channels, in_channels,
                                      max(skip_channels // 2, 8))
        cat = out_channels + skip_channels
        self.fuse: nn.Module = nn.Identity()
        if fusion == "recurrent":
            self.fuse = RecurrentResidualBlock(cat, out_channels, t)
        elif fusion == "separable":
            self.fuse = SeparableConvBlock(cat, out_channels)
        self.out_channels = out_channels

    def forward(self, x: Tensor, skip: Tensor | None = None) -> Tensor:
        """Up-sample ``x`` by 2 and fuse it with ``skip`` (if this block has one)."""
        up = self.up(x)
        if skip is None:
            return self.fuse(up)
        if self.gate is not None:
            skip = self.gate(skip, x)
        return self.fuse(torch.cat([up, skip], dim=1))


def init_weights(module: nn.Module) -> None:
    """Kaiming-normal (fan-out) convolutions, unit BatchNorm, as torchvision's MobileNetV2."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.kaiming_normal_(m.weight, mode="fan_out")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.zeros_(m.bias)
