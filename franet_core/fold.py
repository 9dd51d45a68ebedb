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

"""Fold eval-mode BatchNorm2d into the convolution that feeds it, for inference.

At inference a batch norm is a fixed per-channel affine map ``y = s * x + t`` with
``s = gamma / sqrt(var + eps)`` and ``t = beta - s * mean``. When the only consumer of a
convolution's output is that batch norm, the map can be moved into the convolution's weights
and bias, which removes one full read and write of every feature map.

Pairs are found by *running* the model once on a small input and watching the data flow, not
by guessing from module names or ``nn.Sequential`` order, because FRA-Net style blocks call
modules from ``forward`` (attribute pairs ``self.conv`` / ``self.bn``) and recurrent blocks call
the same convolution several times. A convolution is folded only if, on every call, its output
tensor was consumed by exactly one operation, that operation was the same batch norm, and that
batch norm never received anything else. The folded copy is then checked numerically against
the original; any disagreement raises :class:`FoldError` instead of returning a wrong model.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
import logging

import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten

__all__ = ["FoldError", "FoldReport", "fold_batchnorm"]

log = logging.getLogger(__name__)

_CONV = (nn.Conv2d, nn.ConvTranspose2d)


class FoldError(RuntimeError):
    """The folded model does not reproduce the original: folding must not be used."""


@dataclass(frozen=True)
class FoldReport:
    """What :func:`fold_batchnorm` did.

    ``folded``: ``(conv name, batch-norm name)`` pairs that were merged; ``skipped``: batch
    norms left in place with the reason; ``max_abs_diff``: largest |output difference|
    between the original and the folded model on the check input (units of the output).
    """

    folded: tuple[tuple[str, str], ...]
    skipped: tuple[tuple[str, str], ...]
    max_abs_diff: float


def fold_batchnorm(model: nn.Module, example: torch.Tensor, *, atol: float = 1e-4,
                   rtol: float = 1e-4) -> tuple[nn.Module, FoldReport]:
    """Return ``(folded copy of model, report)``; ``model`` itself is not modified.

    ``example`` is a representative input (e.g. ``(1, 1, 64, 64)`` noise in [0, 1]) used both
    to discover the conv → batch-norm data flow and to verify the result: the folded copy must
    satisfy ``|folded(x) - model(x)| <= atol + rtol * |model(x)|`` everywhere, else
    :class:`FoldError`. Both models are evaluated in eval mode and float32; the copy is
    returned in eval mode on the model's device.
    """
    if model.training:
        model = copy.deepcopy(model).eval()
    folded = copy.deepcopy(model).eval()
    names = _module_names(folded)
    pairs, skipped = _find_pairs(folded, example, names)
    for conv, bn in pairs:
        _fuse_into(conv, bn)
    for conv, bn in pairs:
        _replace_everywhere(folded, bn, nn.Identity())
    with torch.inference_mode():
        ref = _first_tensor(model(example)).float()
        out = _first_tensor(folded(example)).float()
    diff = (out - ref).abs()
    max_diff = float(diff.max()) if diff.numel() else 0.0
    if not torch.all(diff <= atol + rtol * ref.abs()):
        raise FoldError(f"batch-norm folding changed the output by up to {max_diff:.3g} "
                        f"(tolerance {atol:g} + {rtol:g}·|y|); refusing the folded model")
    report = FoldReport(tuple((names[c], names[b]) for c, b in pairs),
                        tuple((names[b], why) for b, why in skipped), max_diff)
    log.debug("folded %d conv+BN pairs, skipped %d, max |diff| %.2e",
              len(report.folded), len(report.skipped), max_diff)
    return folded, report


class _Consumers(TorchFunctionMode):
    """Count, per tracked tensor id, how many torch operations take that tensor as input."""

    def __init__(self) -> None:
        super().__init__()
        self.tracked: dict[int, torch.Tensor] = {}  # id → tensor, kept alive so ids stay unique
        self.uses: dict[int, int] = {}

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: D105
        result = func(*args, **(kwargs or {}))
        if self.tracked and any(isinstance(r, torch.Tensor) for r in tree_flatten(result)[0]):
            for leaf in tree_flatten((args, kwargs or {}))[0]:
                if isinstance(leaf, torch.Tensor) and id(leaf) in self.tracked:
                    self.uses[id(leaf)] = self.uses.get(id(leaf), 0) + 1
        return result


def _find_pairs(model: nn.Module, example: torch.Tensor, names: dict[nn.Module, str]
                ) -> tuple[list[tuple[nn.Module, nn.Module]], list[tuple[nn.Module, str]]]:
    """Run ``model`` once and return the foldable (conv, bn) pairs and the skipped BNs."""
    mode = _Consumers()
    conv_calls: dict[nn.Module, list[int]] = {}   # conv → ids of its outputs
    bn_inputs: dict[nn.Module, list[int]] = {}    # bn → ids of its inputs
    alive: list[torch.Tensor] = []                # keeps recorded ids from being reused
    producer: dict[int, nn.Module] = {}           # output id → conv that produced it

    def after_conv(module: nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
        mode.tracked[id(output)] = output
        producer[id(output)] = module
        conv_calls.setdefault(module, []).append(id(output))

    def before_bn(module: nn.Module, inputs: tuple) -> None:
        alive.append(inputs[0])
        bn_inputs.setdefault(module, []).append(id(inputs[0]))

    handles = []
    for module in names:
        if isinstance(module, _CONV):
            handles.append(module.register_forward_hook(after_conv))
        elif isinstance(module, nn.BatchNorm2d):
            handles.append(module.register_forward_pre_hook(before_bn))
    try:
        with torch.inference_mode(), mode:
            model(example)
    finally:
        for handle in handles:
            handle.remove()

    pairs, skipped = [], []
    bn_of_conv: dict[nn.Module, list[nn.Module]] = {}
    for bn, inputs in bn_inputs.items():
        sources = {producer.get(i) for i in inputs}
        conv = next(iter(sources)) if len(sources) == 1 else None
        reason = _bn_unfoldable(bn)
        if reason is None and conv is None:
            reason = "its input is not always the output of one convolution"
        if reason is None and any(mode.uses.get(i, 0) != 1 for i in conv_calls[conv]):
            reason = f"the output of {names[conv]} is also used elsewhere"
        if reason is None:
            bn_of_conv.setdefault(conv, []).append(bn)
        else:
            skipped.append((bn, reason))
    for conv, bns in bn_of_conv.items():
        if len(bns) == 1 and len(conv_calls[conv]) == len(bn_inputs[bns[0]]):
            pairs.append((conv, bns[0]))
        else:
            skipped.extend((bn, f"{names[conv]} also feeds other layers") for bn in bns)
    return pairs, skipped


def _bn_unfoldable(bn: nn.BatchNorm2d) -> str | None:
    if bn.running_mean is None or bn.running_var is None:
        return "it has no running statistics (uses batch statistics at inference)"
    return None


def _fuse_into(conv: nn.Module, bn: nn.BatchNorm2d) -> None:
    """Rewrite ``conv``'s weight and bias in place so that ``conv(x) == bn(conv_old(x))``.

    Computed in float64. Conv2d weights are (out, in/groups, kh, kw): scale along dim 0.
    ConvTranspose2d weights are (in, out/groups, kh, kw): output channel
    ``g * out/groups + j`` sits at column ``j`` of the rows of input group ``g``.
    """
    weight = conv.weight.detach().double()
    out_ch = conv.out_channels
    bias = (conv.bias.detach().double() if conv.bias is not None
            else torch.zeros(out_ch, dtype=torch.float64, device=weight.device))
    gamma = (bn.weight.detach().double() if bn.weight is not None
             else torch.ones(out_ch, dtype=torch.float64, device=weight.device))
    beta = (bn.bias.detach().double() if bn.bias is not None
            else torch.zeros(out_ch, dtype=torch.float64, device=weight.device))
    scale = gamma / torch.sqrt(bn.running_var.double() + bn.eps)
    shift = beta - scale * bn.running_mean.double()
    if isinstance(conv, nn.ConvTranspose2d):
        groups = conv.groups
        per_group_in = weight.shape[0] // groups
        grid = scale.reshape(groups, 1, out_ch // groups).expand(groups, per_group_in, -1)
        new_weight = weight * grid.reshape(weight.shape[0], weight.shape[1], 1, 1)
    else:
        new_weight = weight * scale.reshape(-1, 1, 1, 1)
    dtype = conv.weight.dtype
    conv.weight = nn.Parameter(new_weight.to(dtype), requires_grad=False)
    conv.bias = nn.Parameter((bias * scale + shift).to(dtype), requires_grad=False)


def _module_names(model: nn.Module) -> dict[nn.Module, str]:
    """First qualified name of every module (a module reachable twice keeps one name)."""
    names: dict[nn.Module, str] = {}
    for name, module in model.named_modules(remove_duplicate=False):
        names.setdefault(module, name or type(model).__name__)
    return names


def _replace_everywhere(model: nn.Module, old: nn.Module, new: nn.Module) -> None:
    """Point every attribute that references ``old`` (it may be shared) at ``new``."""
    for parent in list(model.modules()):
        for key, child in list(parent._modules.items()):
            if child is old:
                parent._modules[key] = new


def _first_tensor(output: object) -> torch.Tensor:
    leaves = [x for x in tree_flatten(output)[0] if isinstance(x, torch.Tensor)]
    if not leaves:
        raise FoldError("the model returned no tensor; cannot verify folding")
    return leaves[0]
