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

"""Encoders with explicit skip taps, and loading of local torchvision backbone weights.

Every encoder maps a grayscale batch (N, in_channels, H, W) to a list of feature maps, one
per entry of ``out_strides`` (down-sampling factor w.r.t. the input, increasing) with
``out_channels`` channels. Taps are named by module, never found by magic shape checks
(the habit of segmentation_models_pytorch's ``_out_indexes``).

Parameter names follow torchvision (``features.N.conv...`` for MobileNetV2 and VGG,
``conv1`` / ``layerK.B...`` for ResNet) so :func:`load_backbone_weights` can fill an encoder
from a checkpoint file the user already has. Nothing is ever downloaded.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from franet_core.models.blocks import ConvBNReLU, InvertedResidual, make_divisible

__all__ = [
    "ENCODER_NAMES",
    "BackboneLoadReport",
    "Encoder",
    "MobileNetV2Encoder",
    "ResNetEncoder",
    "VGGEncoder",
    "build_encoder",
    "load_backbone_weights",
]


class Encoder(nn.Module):
    """Base class: ``forward(x) -> list[Tensor]``, one map per ``out_strides`` entry."""

    out_strides: tuple[int, ...]
    out_channels: tuple[int, ...]
    #: Name (in this module's state dict) of the convolution that sees the input image.
    first_conv: str


class MobileNetV2Encoder(Encoder):
    """FRA-Net's encoder: 7x7/2 conv stem, 3x3/2 max-pool, MobileNetV2 inverted residuals.

    As the FRA-Net paper describes, the stem is a 7x7 stride-2 convolution followed by 3x3
    stride-2 max-pooling (torchvision's MobileNetV2 has a 3x3 stride-2 conv instead), so the
    inverted-residual stages start at stride 4. They are torchvision's ``features.1`` to
    ``features.13`` (t, c, n, s below), which bring the maps to stride 32, i.e. 16x16 for a
    512x512 input; torchvision's ``features.14``-``18`` (stride 64 here) are not used.
    ``width_mult`` scales every width as torchvision does. Taps: the stem (stride 2, before
    pooling) and the ends of ``features.1``, ``.3``, ``.6``, ``.13`` (strides 4, 8, 16, 32).
    """

    #: (expansion t, channels c, repeats n, first stride s), torchvision's table up to /32.
    SETTING = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1))
    _out_indexes = (1, 3, 6, 13)

    def __init__(self, in_channels: int = 1, width_mult: float = 1.0) -> None:
        super().__init__()
        if width_mult <= 0:
            raise ValueError(f"width_mult must be > 0, got {width_mult}")
        channels = make_divisible(32 * width_mult)
        self.stem = ConvBNReLU(in_channels, channels, kernel_size=7, stride=2, relu6=True)
        self.pool = nn.MaxPool2d(3, stride=2, padding=1)
        blocks: OrderedDict[str, nn.Module] = OrderedDict()
        out_channels = [channels]
        for t, c, n, s in self.SETTING:
            width = make_divisible(c * width_mult)
            for i in range(n):
                index = len(blocks) + 1
                blocks[str(index)] = InvertedResidual(channels, width, s if i == 0 else 1, t)
                channels = width
                if index in self._out_indexes:
                    out_channels.append(channels)
        self.features = nn.Sequential(blocks)  # keys "1".."13", as torchvision's features.N
        self.out_strides = (2, 4, 8, 16, 32)
        self.out_channels = tuple(out_channels)
        self.first_conv = "stem.0.weight"

    def forward(self, x: Tensor) -> list[Tensor]:
        """Return the five tapped maps at strides 2, 4, 8, 16, 32."""
        x = self.stem(x)
        feats = [x]
        x = self.pool(x)
        for name, block in self.features.named_children():
            x = block(x)
            if int(name) in self._out_indexes:
                feats.append(x)
        return feats


class BasicBlock(nn.Module):
    """ResNet-18/34 residual block (two 3x3 convs), torchvision naming."""

    expansion = 1

    def __init__(self, in_channels: int, width: int, stride: int) -> None:
        super().__init__()
        out = width * self.expansion
        self.conv1 = nn.Conv2d(in_channels, width, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _downsample(in_channels, out, stride)

    def forward(self, x: Tensor) -> Tensor:
        """Map (N, C_in, H, W) to (N, width, H/stride, W/stride)."""
        identity = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(y)) + identity)


class Bottleneck(nn.Module):
    """ResNet-50/101 bottleneck block (1x1, 3x3 with the stride, 1x1 x4), torchvision naming."""

    expansion = 4

    def __init__(self, in_channels: int, width: int, stride: int) -> None:
        super().__init__()
        out = width * self.expansion
        self.conv1 = nn.Conv2d(in_channels, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _downsample(in_channels, out, stride)

    def forward(self, x: Tensor) -> Tensor:
        """Map (N, C_in, H, W) to (N, 4 * width, H/stride, W/stride)."""
        identity = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        return self.relu(self.bn3(self.conv3(y)) + identity)


def _downsample(in_channels: int, out_channels: int, stride: int) -> nn.Sequential | None:
    if stride == 1 and in_channels == out_channels:
        return None
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                         nn.BatchNorm2d(out_channels))


class ResNetEncoder(Encoder):
    """ResNet-18/34/50/101 (He et al., 2016) with a grayscale first convolution.

    ``conv1`` 7x7/2 + BN + ReLU is tapped at stride 2, then max-pool and ``layer1``-``4``
    at strides 4, 8, 16, 32. No classifier.
    """

    DEPTHS = {18: (BasicBlock, (2, 2, 2, 2)), 34: (BasicBlock, (3, 4, 6, 3)),
              50: (Bottleneck, (3, 4, 6, 3)), 101: (Bottleneck, (3, 4, 23, 3))}

    def __init__(self, depth: int, in_channels: int = 1) -> None:
        super().__init__()
        if depth not in self.DEPTHS:
            raise ValueError(f"ResNet depth must be one of {sorted(self.DEPTHS)}, got {depth}")
        block, repeats = self.DEPTHS[depth]
        self.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        channels, out_channels = 64, [64]
        for k, (width, n) in enumerate(zip((64, 128, 256, 512), repeats), start=1):
            layers = []
            for i in range(n):
                layers.append(block(channels, width, 2 if i == 0 and k > 1 else 1))
                channels = width * block.expansion
            setattr(self, f"layer{k}", nn.Sequential(*layers))
            out_channels.append(channels)
        self.out_strides = (2, 4, 8, 16, 32)
        self.out_channels = tuple(out_channels)
        self.first_conv = "conv1.weight"

    def forward(self, x: Tensor) -> list[Tensor]:
        """Return the five tapped maps at strides 2, 4, 8, 16, 32."""
        x = self.relu(self.bn1(self.conv1(x)))
        feats = [x]
        x = self.maxpool(x)
        for layer in (self.layer1, self.layer2, self.layer3, self.layer4):
            x = layer(x)
            feats.append(x)
        return feats


class VGGEncoder(Encoder):
    """VGG-11 / VGG-16 (Simonyan & Zisserman, 2015) without batch norm, torchvision layout.

    ``features`` is torchvision's ``vgg11`` / ``vgg16`` ``features`` (conv, ReLU, ..., max-pool)
    with a grayscale first convolution. Taps: the ReLU before each of the five max-pools
    (strides 1, 2, 4, 8, 16) and the output of the last max-pool (stride 32).
    """

    CONFIGS = {
        11: (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
        16: (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
             512, 512, 512, "M"),
    }

    def __init__(self, depth: int, in_channels: int = 1) -> None:
        super().__init__()
        if depth not in self.CONFIGS:
            raise ValueError(f"VGG depth must be one of {sorted(self.CONFIGS)}, got {depth}")
        layers: list[nn.Module] = []
        taps: list[int] = []
        out_channels: list[int] = []
        channels = in_channels
        for item in self.CONFIGS[depth]:
            if item == "M":
                taps.append(len(layers) - 1)
                out_channels.append(channels)
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(channels, int(item), 3, padding=1), nn.ReLU(inplace=True)]
                channels = int(item)
        taps.append(len(layers) - 1)
        out_channels.append(channels)
        self.features = nn.Sequential(*layers)
        self._out_indexes = tuple(taps)
        self.out_strides = (1, 2, 4, 8, 16, 32)
        self.out_channels = tuple(out_channels)
        self.first_conv = "features.0.weight"

    def forward(self, x: Tensor) -> list[Tensor]:
        """Return the six tapped maps at strides 1, 2, 4, 8, 16, 32."""
        feats = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in self._out_indexes:
                feats.append(x)
        return feats


#: Encoder names accepted by :func:`build_encoder` (and FRA-Net's ``encoder`` option).
ENCODER_NAMES = ("mobilenetv2", "resnet18", "resnet34", "resnet50", "resnet101",
                 "vgg11", "vgg16")


def build_encoder(name: str, in_channels: int = 1, width_mult: float = 1.0) -> Encoder:
    """Build an encoder by name; ``width_mult`` applies to ``mobilenetv2`` only."""
    if name not in ENCODER_NAMES:
        raise ValueError(f"unknown encoder {name!r}; choose one of {list(ENCODER_NAMES)}")
    if name == "mobilenetv2":
        return MobileNetV2Encoder(in_channels, width_mult)
    if width_mult != 1.0:
        raise ValueError(f"width_mult applies to the mobilenetv2 encoder only, not {name!r}")
    if name.startswith("resnet"):
        return ResNetEncoder(int(name[len("resnet"):]), in_channels)
    return VGGEncoder(int(name[len("vgg"):]), in_channels)


@dataclass
class BackboneLoadReport:
    """What :func:`load_backbone_weights` did, by encoder parameter name."""

    loaded: list[str] = field(default_factory=list)
    #: First convolution adapted to the encoder's input channels (RGB kernels summed).
    adapted: list[str] = field(default_factory=list)
    #: Present in both, but with different shapes (not loaded), e.g. torchvision's 3x3 stem.
    shape_mismatch: list[str] = field(default_factory=list)
    #: In the checkpoint, not in the encoder (classifier, torchvision features.14-18, ...).
    unused: list[str] = field(default_factory=list)
    #: In the encoder, not in the checkpoint (kept at their initial values).
    missing: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for logs."""
        return (f"loaded {len(self.loaded)} tensors ({len(self.adapted)} adapted to grayscale), "
                f"{len(self.shape_mismatch)} shape mismatches, {len(self.unused)} unused, "
                f"{len(self.missing)} missing")


def load_backbone_weights(model: nn.Module, path: str | Path) -> BackboneLoadReport:
    """Fill ``model``'s encoder from a LOCAL torchvision checkpoint; return what matched.

    ``model`` is an :class:`Encoder` or a network with an ``encoder`` attribute. ``path`` is
    a ``.safetensors`` file (preferred: no code can run while reading it) or a ``.pth`` /
    ``.pt`` state dict read with ``torch.load(weights_only=True)`` (tensors only, never
    arbitrary pickles). Keys are torchvision's (``features.3.conv.1.0.weight``,
    ``layer2.0.conv1.weight``, ...); ``module.`` / ``_orig_mod.`` prefixes are stripped.

    Grayscale: torchvision's first convolution takes RGB. A gray image fed to an RGB network
    is the same image in all three channels, so ``conv(gray, W)`` equals ``conv([g, g, g],
    W_rgb)`` exactly when ``W = W_r + W_g + W_b``: the RGB kernels are summed over the input
    channel. (The ImageNet mean/std normalisation is not reproduced; the BatchNorm after the
    convolution adapts during fine-tuning.) FRA-Net's 7x7 stem has no torchvision
    counterpart and is reported under ``shape_mismatch``. Raises FileNotFoundError for a
    missing file and ValueError when no tensor matches.
    """
    encoder = getattr(model, "encoder", model)
    if not isinstance(encoder, Encoder):
        raise ValueError(f"{type(model).__name__} has no encoder to load backbone weights into")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"backbone weights not found: {path}")
    source = _read_state_dict(path)
    own = encoder.state_dict()
    report = BackboneLoadReport()
    new_state: dict[str, Tensor] = {}
    for key, tensor in source.items():
        if key not in own:
            report.unused.append(key)
            continue
        target = own[key]
        if (key == encoder.first_conv and tensor.ndim == 4 and tensor.shape[1] == 3
                and target.shape[1] == 1 and tensor.shape[2:] == target.shape[2:]
                and tensor.shape[0] == target.shape[0]):
            tensor = tensor.sum(dim=1, keepdim=True)  # gray = R = G = B
            report.adapted.append(key)
        if tensor.shape != target.shape:
            report.shape_mismatch.append(key)
            continue
        new_state[key] = tensor.to(target.dtype)
        report.loaded.append(key)
    if not new_state:
        raise ValueError(f"{path}: no tensor matches the {type(encoder).__name__} "
                         f"(is it a torchvision checkpoint of that backbone?)")
    report.missing = sorted(set(own) - set(new_state))
    encoder.load_state_dict(new_state, strict=False)
    return report


def _read_state_dict(path: Path) -> dict[str, Tensor]:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(path))
    elif path.suffix in (".pth", ".pt"):
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # unpickling refused or corrupt file: say which file
            raise ValueError(f"{path}: not a plain tensor state dict ({exc})") from exc
        for nested in ("state_dict", "model"):
            if isinstance(state, dict) and isinstance(state.get(nested), dict):
                state = state[nested]
    else:
        raise ValueError(f"{path}: backbone weights must be .safetensors, .pth or .pt")
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a state dict, got {type(state).__name__}")
    out: dict[str, Tensor] = {}
    for key, value in state.items():
        if not isinstance(value, Tensor):
            continue
        for prefix in ("module.", "_orig_mod."):
            while key.startswith(prefix):
                key = key[len(prefix):]
        out[key] = value
    return out
