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

"""Parameter and operation counts of a network at a given input size.

Operations are counted as multiply-accumulates (MACs) of ``Conv2d``, ``ConvTranspose2d`` and
``Linear`` layers through forward hooks on one forward pass; batch norm, activations,
pooling, interpolation and element-wise ops are not counted (they are memory-bound and
small in MACs, but not in CPU time at high resolution: time real latency separately).
Reported GFLOPs are ``2 × MACs / 1e9`` (one multiply plus one add); many papers, MobileNetV2
included, quote MACs ("multiply-adds") instead, so both are given.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["ModelCost", "count_macs", "count_parameters", "model_cost"]


@dataclass(frozen=True)
class ModelCost:
    """Cost of one forward pass of one image: ``params``, ``macs``, output shape (C, H, W)."""

    params: int
    macs: int
    output_shape: tuple[int, ...]

    @property
    def gflops(self) -> float:
        """Giga floating-point operations, counted as 2 × MACs."""
        return 2.0 * self.macs / 1e9


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameter elements (all, or only those with ``requires_grad``)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def _layer_macs(module: nn.Module, inputs: tuple[torch.Tensor, ...],
                output: torch.Tensor) -> int:
    if isinstance(module, nn.Conv2d):
        kh, kw = module.kernel_size
        return output.numel() * (module.in_channels // module.groups) * kh * kw
    if isinstance(module, nn.ConvTranspose2d):
        kh, kw = module.kernel_size
        return inputs[0].numel() * (module.out_channels // module.groups) * kh * kw
    if isinstance(module, nn.Linear):
        return output.numel() * module.in_features
    return 0


def count_macs(model: nn.Module, input_shape: tuple[int, int, int, int]) -> tuple[int, tuple]:
    """MACs of one forward pass on zeros of ``input_shape`` (N, C, H, W), and output shape.

    The model is run in eval mode under ``torch.inference_mode`` and restored to its
    previous training mode afterwards.
    """
    total = 0

    def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal total
        total += _layer_macs(module, inputs, output)

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))]
    was_training = model.training
    try:
        model.eval()
        with torch.inference_mode():
            out = model(torch.zeros(input_shape))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return total, tuple(out.shape)


def model_cost(model: nn.Module, height: int = 512, width: int | None = None,
               in_channels: int = 1) -> ModelCost:
    """Parameters, MACs and output shape for one ``in_channels`` × height × width image (px)."""
    macs, shape = count_macs(model, (1, in_channels, height, width or height))
    return ModelCost(count_parameters(model), macs, shape[1:])
