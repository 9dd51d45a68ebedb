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

"""Segmentation losses on logits: augmented focal (FRA-Net), focal, GHM-C, BCE and clDice.

Each loss is a pure function ``f(logits, target, ...) -> Tensor`` plus a thin ``nn.Module``
so it can live in a training config. ``logits`` are raw network outputs (any shape, any
float dtype), ``target`` the same shape with 1 = guidewire pixel, 0 = background.

Numerics: probabilities are never formed and logged. With ``z`` the logit,
``log p = logsigmoid(z)``, ``log(1 - p) = logsigmoid(-z)``, ``p^γ = exp(γ log p)``, all finite
for any finite ``z`` (checked at ±1e4). Everything is computed in float32 with autocast
disabled, so fp16/bf16 logits from a mixed-precision forward pass neither overflow nor
lose the small background terms.

Reduction: the default is the mean over all pixels. See :func:`augmented_focal_loss` for
why this, and not a sum normalised by the number of guidewire pixels, is the stable choice.

>>> import torch
>>> z, y = torch.randn(2, 1, 8, 8), (torch.rand(2, 1, 8, 8) > 0.9).float()
>>> bce = torch.nn.functional.binary_cross_entropy_with_logits(z, y)
>>> bool(torch.isclose(augmented_focal_loss(z, y, alpha=1.0, gamma=0.0), bce))
True
>>> bool(torch.isclose(focal_loss(z, y, alpha=-1.0, gamma=0.0), bce))
True
"""
from __future__ import annotations

import inspect

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "LOSS_NAMES",
    "AugmentedFocalLoss",
    "BCELoss",
    "FocalLoss",
    "GHMCLoss",
    "augmented_focal_loss",
    "bce_loss",
    "build_loss",
    "cldice_loss",
    "focal_loss",
    "ghmc_loss",
    "hard_negative_weights",
    "mark_weights",
    "soft_skeleton",
    "tip_weights",
]

_REDUCTIONS = ("mean", "sum", "none")


def augmented_focal_loss(logits: Tensor, target: Tensor, alpha: float = 100.0,
                         gamma: float = 2.5, reduction: str = "mean") -> Tensor:
    """FRA-Net's augmented focal loss (paper eq. for L_AF, optimum α = 100, γ = 2.5).

    Per pixel with ``p = sigmoid(logit)``::

        guidewire (y = 1):   -α (1 - p)^γ log p
        background (y = 0):  -p^γ log(1 - p)

    Soft targets y ∈ [0, 1] interpolate linearly between the two terms.

    Why the mean over pixels: with ~1 wire pixel per 1000 background pixels, α = 100 makes
    the two classes contribute comparably (each wire pixel weighs like 100 background ones
    before focusing), which is the purpose of α. Normalising the sum by the number of wire
    pixels instead (RetinaNet style) makes the loss scale depend on how much wire a batch
    happens to contain: a random crop with 20 wire pixels gets a ~50x larger loss and
    gradient than one with 1000, and a crop without wire divides by max(0, 1) = 1, i.e. a
    loss ~1000x larger than typical. Combined with α = 100 this produces gradient spikes
    that destabilise training. The per-pixel mean keeps every pixel's weight constant
    across batches (the rare class is boosted by α alone, as the paper intends), its scale
    is bounded, and adaptive optimisers (Adam) are insensitive to the overall constant.
    """
    _check(logits, target, reduction)
    with torch.autocast(device_type=logits.device.type, enabled=False):
        z, y = logits.float(), target.float()
        log_p, log_q = F.logsigmoid(z), F.logsigmoid(-z)  # log p, log(1 - p)
        pos = -alpha * torch.exp(gamma * log_q) * log_p  # -α (1-p)^γ log p
        neg = -torch.exp(gamma * log_p) * log_q  # -p^γ log(1-p)
        return _reduce(y * pos + (1.0 - y) * neg, reduction)


def focal_loss(logits: Tensor, target: Tensor, alpha: float = 0.25, gamma: float = 2.0,
               reduction: str = "mean") -> Tensor:
    """Focal loss (Lin et al., ICCV 2017): ``-α_t (1 - p_t)^γ log p_t``, mean over pixels.

    ``α_t = α`` for guidewire pixels and ``1 - α`` for background; ``alpha < 0`` disables the
    weighting (α_t = 1), so ``alpha=-1, gamma=0`` is plain binary cross-entropy.
    """
    _check(logits, target, reduction)
    with torch.autocast(device_type=logits.device.type, enabled=False):
        z, y = logits.float(), target.float()
        log_p, log_q = F.logsigmoid(z), F.logsigmoid(-z)
        pos = -torch.exp(gamma * log_q) * log_p  # -(1-p)^γ log p
        neg = -torch.exp(gamma * log_p) * log_q  # -p^γ log(1-p)
        if alpha >= 0:
            pos, neg = alpha * pos, (1.0 - alpha) * neg
        return _reduce(y * pos + (1.0 - y) * neg, reduction)


def hard_negative_weights(target: Tensor, hard: Tensor, weight: float,
                          guard_px: int = 0) -> Tensor:
    """Per-pixel loss weights: ``weight`` on marked distractor pixels that are not wire, else 1.

    ``target`` (wire, {0, 1}) and ``hard`` (the simulator's distractor marks: ECG and pacing
    leads, catheters, stents, filling vessels; {0, 1}) have the same shape, (N, C, H, W).
    Multiplying a per-pixel loss by these weights makes a false mark on a lead cost
    ``weight`` times a false mark elsewhere; the wire's own pixels keep weight 1 where a
    mark overlaps them, and so does every pixel within ``guard_px`` px (Chebyshev distance)
    of a wire pixel. The guard matters because a wire runs inside marked objects: the
    catheter it leaves and the filled vessel it is in, which goes on past the tip. Weighting
    that lumen next to the wire teaches the model to stop short of the tip.
    """
    if target.shape != hard.shape:
        raise ValueError(f"target {tuple(target.shape)} and hard {tuple(hard.shape)} must "
                         "have the same shape")
    if guard_px < 0:
        raise ValueError(f"guard_px must be >= 0, got {guard_px}")
    near_wire = target
    if guard_px:
        near_wire = F.max_pool2d(target, 2 * guard_px + 1, stride=1, padding=guard_px)
    return 1.0 + (float(weight) - 1.0) * hard * (1.0 - near_wire)


def tip_weights(tips: Tensor, weight: float) -> Tensor:
    """Per-pixel loss weights: ``weight`` inside the disks marked around the wires' tips, else 1.

    ``tips`` ({0, 1}, any shape) is the tip channel of ``with_marks`` training targets
    (franet_core.datasets.TIP_MARK_RADIUS). Wire and background pixels there weigh alike: the
    loss asks harder both for the coil up to the tip and for nothing past it, which is where
    a tracker's published tip is decided.
    """
    return 1.0 + (float(weight) - 1.0) * tips


def mark_weights(target: Tensor, hard: Tensor, tips: Tensor, hard_weight: float,
                 guard_px: int, tip_weight: float) -> Tensor:
    """Per-pixel loss weights of a ``with_marks`` target: the larger of the two weightings.

    ``target`` (wire), ``hard`` (distractor marks) and ``tips`` (tip disks) are {0, 1}
    tensors of one shape, (N, 1, H, W). A pixel near a tip that is also on a distractor
    (a lead crossing the coil) takes ``max(hard, tip)`` rather than their product, so no
    pixel weighs more than the larger of ``hard_weight`` and ``tip_weight``.
    """
    return torch.maximum(hard_negative_weights(target, hard, hard_weight, guard_px),
                         tip_weights(tips, tip_weight))


def soft_skeleton(x: Tensor, iterations: int = 3) -> Tensor:
    """Differentiable skeleton of a soft mask ``x`` in [0, 1], shape (N, C, H, W).

    Shit et al., "clDice", CVPR 2021, Alg. 1: erosion is a min-pool over the 4-neighbourhood,
    opening = dilate(erode(x)) with a 3×3 max-pool, and the skeleton collects what each
    erosion's opening removes, ``skel ← skel + relu(δ − skel·δ)`` with
    ``δ = relu(x_k − open(x_k))``. ``iterations`` must reach the largest half-width to be
    thinned (guidewires are 1–4 px wide, so 3 suffices); a 1 px line is its own skeleton.
    """
    if iterations < 0:
        raise ValueError(f"iterations must be >= 0, got {iterations}")

    def erode(t: Tensor) -> Tensor:
        return torch.minimum(-F.max_pool2d(-t, (3, 1), 1, (1, 0)),
                             -F.max_pool2d(-t, (1, 3), 1, (0, 1)))

    def opening(t: Tensor) -> Tensor:
        return F.max_pool2d(erode(t), 3, 1, 1)

    skel = F.relu(x - opening(x))
    for _ in range(iterations):
        x = erode(x)
        delta = F.relu(x - opening(x))
        skel = skel + F.relu(delta - skel * delta)
    return skel


def cldice_loss(logits: Tensor, target: Tensor, iterations: int = 3,
                smooth: float = 1.0) -> Tensor:
    """Soft clDice loss, ``1 − clDice``, averaged over the batch (Shit et al., CVPR 2021).

    With P = sigmoid(logits), L = target and S_· their soft skeletons (:func:`soft_skeleton`)::

        Tprec = (Σ S_P·L + s) / (Σ S_P + s)     the predicted centreline lying on the wire
        Tsens = (Σ S_L·P + s) / (Σ S_L + s)     the wire's centreline covered by the prediction
        clDice = 2·Tprec·Tsens / (Tprec + Tsens)

    sums taken per sample (dims C, H, W), ``s = smooth``. It rewards a prediction that follows
    the wire's centreline without gaps: a wire found in two pieces loses Tsens over the
    gap whatever the gap's pixel count, which a per-pixel loss weighs by area alone. A
    sample without wire scores Tsens = 1 and Tprec = s / (Σ S_P + s), so predicted
    centreline there is penalised. Computed in float32 with autocast disabled.
    """
    _check(logits, target, "mean")
    with torch.autocast(device_type=logits.device.type, enabled=False):
        p, y = torch.sigmoid(logits.float()), target.float()
        skel_p, skel_y = soft_skeleton(p, iterations), soft_skeleton(y, iterations)
        dims = tuple(range(1, p.dim()))
        t_prec = ((skel_p * y).sum(dims) + smooth) / (skel_p.sum(dims) + smooth)
        t_sens = ((skel_y * p).sum(dims) + smooth) / (skel_y.sum(dims) + smooth)
        return (1.0 - 2.0 * t_prec * t_sens / (t_prec + t_sens)).mean()


def bce_loss(logits: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Binary cross-entropy on logits, computed in float32."""
    _check(logits, target, reduction)
    with torch.autocast(device_type=logits.device.type, enabled=False):
        return F.binary_cross_entropy_with_logits(logits.float(), target.float(),
                                                  reduction=reduction)


def ghmc_weights(logits: Tensor, target: Tensor, bins: int = 10,
                 accumulated: Tensor | None = None, momentum: float = 0.0) -> Tensor:
    """Per-pixel GHM-C weights (Li, Liu, Wang, AAAI 2019), detached from the graph.

    The gradient norm of BCE w.r.t. the logit is ``g = |p - y|`` ∈ [0, 1]; it is histogrammed
    into ``bins`` equal bins. A pixel in a bin holding ``n_b`` of the ``N`` pixels gets weight
    ``N / (n_b · m)``, with ``m`` the number of non-empty bins, so every populated bin
    (easy background, hard wire pixels, outliers) contributes equally in total. With
    ``momentum > 0`` the counts are an exponential moving average kept in ``accumulated``
    (a float tensor of length ``bins``, updated in place), as in the paper's GHM-C with EMA.
    """
    if bins < 1:
        raise ValueError(f"GHM-C bins must be >= 1, got {bins}")
    with torch.no_grad():
        g = (torch.sigmoid(logits.float()) - target.float()).abs()
        index = torch.clamp((g * bins).long(), max=bins - 1)  # edges k/bins; g = 1 → last bin
        counts = torch.bincount(index.flatten(), minlength=bins).to(g.dtype)
        if momentum > 0:
            if accumulated is None:
                raise ValueError("GHM-C momentum needs an accumulated-count tensor")
            nonempty = counts > 0
            accumulated[nonempty] = momentum * accumulated[nonempty] + \
                (1 - momentum) * counts[nonempty]
            density = accumulated.to(g.dtype)
        else:
            density = counts
        populated = int((counts > 0).sum())
        per_bin = torch.where(counts > 0, g.numel() / density.clamp_min(1e-12) / populated,
                              torch.zeros_like(density))
        return per_bin[index]


def ghmc_loss(logits: Tensor, target: Tensor, bins: int = 10, reduction: str = "mean",
              accumulated: Tensor | None = None, momentum: float = 0.0) -> Tensor:
    """GHM-C loss: BCE weighted by :func:`ghmc_weights`, mean over pixels by default."""
    _check(logits, target, reduction)
    with torch.autocast(device_type=logits.device.type, enabled=False):
        weights = ghmc_weights(logits, target, bins, accumulated, momentum)
        loss = F.binary_cross_entropy_with_logits(logits.float(), target.float(),
                                                  reduction="none")
        return _reduce(weights * loss, reduction)


class AugmentedFocalLoss(nn.Module):
    """Module form of :func:`augmented_focal_loss` (defaults α = 100, γ = 2.5)."""

    def __init__(self, alpha: float = 100.0, gamma: float = 2.5,
                 reduction: str = "mean") -> None:
        super().__init__()
        self.alpha, self.gamma, self.reduction = float(alpha), float(gamma), reduction

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        """Return the loss of ``logits`` against ``target``."""
        return augmented_focal_loss(logits, target, self.alpha, self.gamma, self.reduction)


class FocalLoss(nn.Module):
    """Module form of :func:`focal_loss` (defaults α = 0.25, γ = 2)."""

    def __init__(self, alpha: float = 0.25, gamma: float = 2.0, reduction: str = "mean") -> None:
        super().__init__()
        self.alpha, self.gamma, self.reduction = float(alpha), float(gamma), reduction

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        """Return the loss of ``logits`` against ``target``."""
        return focal_loss(logits, target, self.alpha, self.gamma, self.reduction)


class GHMCLoss(nn.Module):
    """Module form of :func:`ghmc_loss`; with ``momentum > 0`` the bin counts are an EMA."""

    def __init__(self, bins: int = 10, momentum: float = 0.0, reduction: str = "mean") -> None:
        super().__init__()
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"GHM-C momentum must be in [0, 1), got {momentum}")
        self.bins, self.momentum, self.reduction = int(bins), float(momentum), reduction
        self.register_buffer("accumulated", torch.zeros(self.bins), persistent=False)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        """Return the loss of ``logits`` against ``target`` (updates the EMA in training)."""
        momentum = self.momentum if self.training else 0.0
        return ghmc_loss(logits, target, self.bins, self.reduction, self.accumulated, momentum)


class BCELoss(nn.Module):
    """Module form of :func:`bce_loss`."""

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = reduction

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        """Return the loss of ``logits`` against ``target``."""
        return bce_loss(logits, target, self.reduction)


_LOSSES: dict[str, type[nn.Module]] = {
    "augmented_focal": AugmentedFocalLoss,
    "focal": FocalLoss,
    "ghm": GHMCLoss,
    "bce": BCELoss,
}
#: Names accepted by :func:`build_loss`.
LOSS_NAMES = tuple(_LOSSES)


def build_loss(name: str, **kwargs: float | int | str) -> nn.Module:
    """Build a loss module by name; ValueError names unknown losses or options."""
    if name not in _LOSSES:
        raise ValueError(f"unknown loss {name!r}; choose one of {list(LOSS_NAMES)}")
    cls = _LOSSES[name]
    allowed = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        raise ValueError(f"loss {name!r}: unknown option(s) {unknown}; allowed: {allowed}")
    return cls(**kwargs)


def _check(logits: Tensor, target: Tensor, reduction: str) -> None:
    if logits.shape != target.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and target {tuple(target.shape)} "
                         "must have the same shape")
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {list(_REDUCTIONS)}, got {reduction!r}")


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss
