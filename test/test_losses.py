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

"""Losses against float64 NumPy references, special cases, and numerical robustness."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from franet_core.losses import (LOSS_NAMES, augmented_focal_loss, build_loss, cldice_loss,
                                focal_loss, ghmc_loss, hard_negative_weights, mark_weights,
                                soft_skeleton, tip_weights)


def _np_logsig(z: np.ndarray) -> np.ndarray:
    return -np.logaddexp(0.0, -z)


def ref_augmented(z: np.ndarray, y: np.ndarray, alpha: float, gamma: float) -> float:
    p = 1.0 / (1.0 + np.exp(-z))
    loss = -alpha * (1 - p) ** gamma * _np_logsig(z) * y - p ** gamma * _np_logsig(-z) * (1 - y)
    return float(loss.mean())


def ref_focal(z: np.ndarray, y: np.ndarray, alpha: float, gamma: float) -> float:
    p = 1.0 / (1.0 + np.exp(-z))
    pos = -alpha * (1 - p) ** gamma * _np_logsig(z)
    neg = -(1 - alpha) * p ** gamma * _np_logsig(-z)
    return float((y * pos + (1 - y) * neg).mean())


def ref_ghmc(z: np.ndarray, y: np.ndarray, bins: int) -> float:
    p = 1.0 / (1.0 + np.exp(-z))
    g = np.abs(p - y)
    edges = np.arange(bins + 1) / bins
    edges[-1] += 1e-6
    weights = np.zeros_like(z)
    populated = 0
    for i in range(bins):
        inside = (g >= edges[i]) & (g < edges[i + 1])
        if inside.sum():
            weights[inside] = z.size / inside.sum()
            populated += 1
    weights /= populated
    bce = -(y * _np_logsig(z) + (1 - y) * _np_logsig(-z))
    return float((weights * bce).mean())


@pytest.fixture
def batch() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    z = rng.normal(0, 3, (2, 1, 24, 24))
    y = (rng.random(z.shape) < 0.05).astype(np.float64)
    return z, y


def _rel(a: float, b: float) -> float:
    return abs(a - b) / abs(b)


@pytest.mark.parametrize("alpha,gamma", [(100.0, 2.5), (1.0, 0.0), (4.0, 1.3)])
def test_augmented_focal_matches_float64_reference(batch, alpha: float, gamma: float) -> None:
    z, y = batch
    got = augmented_focal_loss(torch.from_numpy(z).float(), torch.from_numpy(y).float(),
                               alpha, gamma).item()
    # float32 inputs: compare with the reference evaluated on the same float32 logits.
    ref = ref_augmented(z.astype(np.float32).astype(np.float64), y, alpha, gamma)
    assert _rel(got, ref) < 1e-6


def test_float64_inputs_meet_1e6_exactly(batch) -> None:
    """Computed in float32 internally; float64 reference error stays below 1e-6."""
    z, y = batch
    got = augmented_focal_loss(torch.from_numpy(z), torch.from_numpy(y)).item()
    assert _rel(got, ref_augmented(z, y, 100.0, 2.5)) < 1e-6


def test_focal_matches_reference(batch) -> None:
    z, y = batch
    z32 = z.astype(np.float32)
    got = focal_loss(torch.from_numpy(z32), torch.from_numpy(y).float()).item()
    assert _rel(got, ref_focal(z32.astype(np.float64), y, 0.25, 2.0)) < 1e-6


def test_ghmc_matches_reference(batch) -> None:
    z, y = batch
    z32 = z.astype(np.float32)
    got = ghmc_loss(torch.from_numpy(z32), torch.from_numpy(y).float(), bins=10).item()
    assert _rel(got, ref_ghmc(z32.astype(np.float64), y, 10)) < 1e-5


def test_gamma_zero_cases_equal_bce(batch) -> None:
    z, y = (torch.from_numpy(a).float() for a in batch)
    bce = F.binary_cross_entropy_with_logits(z, y)
    torch.testing.assert_close(augmented_focal_loss(z, y, alpha=1.0, gamma=0.0), bce)
    torch.testing.assert_close(focal_loss(z, y, alpha=-1.0, gamma=0.0), bce)
    torch.testing.assert_close(build_loss("bce")(z, y), bce)
    # alpha = 0.5, gamma = 0: focal is half of BCE.
    torch.testing.assert_close(focal_loss(z, y, alpha=0.5, gamma=0.0), 0.5 * bce)


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_finite_at_extreme_logits_and_fp16(name: str) -> None:
    loss_fn = build_loss(name)
    z = torch.tensor([-1e4, -50.0, 0.0, 50.0, 1e4, 1e4, -1e4, 3.0]).reshape(1, 1, 2, 4)
    y = torch.tensor([0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0]).reshape(1, 1, 2, 4)
    z.requires_grad_(True)
    value = loss_fn(z, y)
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(z.grad).all()
    z16 = torch.tensor([-6e4, -10.0, 0.0, 10.0, 6e4, 6e4, -6e4, 3.0],
                       dtype=torch.float16).reshape(1, 1, 2, 4)
    v16 = loss_fn(z16, y.half())
    assert v16.dtype == torch.float32 and torch.isfinite(v16)
    v32 = loss_fn(z16.float(), y)
    torch.testing.assert_close(v16, v32)


def test_augmented_focal_weighs_wire_pixels_alpha_times() -> None:
    z = torch.zeros(1, 1, 1, 2)
    pos = augmented_focal_loss(z, torch.ones_like(z), alpha=100.0, gamma=2.5)
    neg = augmented_focal_loss(z, torch.zeros_like(z), alpha=100.0, gamma=2.5)
    torch.testing.assert_close(pos, 100.0 * neg)  # p = 0.5: the focusing terms are equal


def test_ghm_momentum_accumulates_counts(batch) -> None:
    z, y = (torch.from_numpy(a).float() for a in batch)
    loss = build_loss("ghm", momentum=0.75).train()
    loss(z, y)
    first = loss.accumulated.clone()
    assert first.sum() == pytest.approx(0.25 * z.numel())
    loss(z, y)
    assert loss.accumulated.sum() == pytest.approx((0.75 * 0.25 + 0.25) * z.numel())


def test_build_loss_errors() -> None:
    with pytest.raises(ValueError, match="unknown loss 'dice'"):
        build_loss("dice")
    with pytest.raises(ValueError, match="beta"):
        build_loss("augmented_focal", beta=1.0)
    with pytest.raises(ValueError, match="same shape"):
        build_loss("bce")(torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 2, 3))


def _ref_augmented_pixels(z: np.ndarray, y: np.ndarray, alpha: float, gamma: float) -> np.ndarray:
    """Per-pixel float64 reference in log space (finite for any finite logit)."""
    log_p, log_q = _np_logsig(z), _np_logsig(-z)
    return -alpha * np.exp(gamma * log_q) * log_p * y - np.exp(gamma * log_p) * log_q * (1 - y)


def test_augmented_focal_values_at_extreme_logits() -> None:
    """Hand-computed values where p rounds to 0 or 1: no clamping, no lost terms."""
    z = torch.tensor([-1e4, 1e4, 0.0, 0.0, 60.0, -60.0])
    y = torch.tensor([1.0, 0.0, 1.0, 0.0, 1.0, 0.0])
    got = augmented_focal_loss(z, y, alpha=100.0, gamma=2.5, reduction="none").double().numpy()
    half = 0.5 ** 2.5 * math.log(2.0)
    # wire pixel at z = -1e4: (1 - p)^γ = 1, -log p = 1e4; background at z = 1e4 likewise.
    want = np.array([100.0 * 1e4, 1e4, 100.0 * half, half, 0.0, 0.0])
    np.testing.assert_allclose(got[:4], want[:4], rtol=1e-6)
    # Confident and right: ~1e-90 in float64, below float32's range; must be 0, not NaN.
    assert np.all(got[4:] >= 0) and np.all(got[4:] < 1e-30)
    ref = _ref_augmented_pixels(z.double().numpy(), y.double().numpy(), 100.0, 2.5)
    np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-30)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_augmented_focal_soft_targets_and_reductions_match_reference(batch, reduction) -> None:
    z, _ = batch
    y = np.random.default_rng(1).random(z.shape)  # soft targets in [0, 1]
    z32 = z.astype(np.float32).astype(np.float64)
    got = augmented_focal_loss(torch.from_numpy(z32).float(), torch.from_numpy(y).float(),
                               100.0, 2.5, reduction=reduction).double().numpy()
    ref = _ref_augmented_pixels(z32, y.astype(np.float32).astype(np.float64), 100.0, 2.5)
    ref = {"mean": ref.mean(), "sum": ref.sum(), "none": ref}[reduction]
    assert np.shape(got) == np.shape(ref)
    np.testing.assert_allclose(got, ref, rtol=1e-6)


def test_augmented_focal_gradient_matches_analytic_float64() -> None:
    """d/dz of both terms, derived by hand, against autograd (mean over N pixels)."""
    rng = np.random.default_rng(2)
    z = rng.normal(0, 4, 400)
    y = (rng.random(400) < 0.3).astype(np.float64)
    alpha, gamma = 100.0, 2.5
    zt = torch.from_numpy(z).float().requires_grad_(True)
    augmented_focal_loss(zt, torch.from_numpy(y).float(), alpha, gamma).backward()
    z32 = z.astype(np.float32).astype(np.float64)
    p = 1.0 / (1.0 + np.exp(-z32))
    d_pos = alpha * (1 - p) ** gamma * (gamma * p * np.log(p) - (1 - p))
    d_neg = p ** gamma * (p - gamma * (1 - p) * np.log1p(-p))
    want = (y * d_pos + (1 - y) * d_neg) / z.size
    np.testing.assert_allclose(zt.grad.double().numpy(), want, rtol=1e-5,
                               atol=1e-6 * np.abs(want).max())


def test_hard_negative_weights_match_a_float64_loop() -> None:
    """``weight`` exactly where a distractor is marked and no wire lies, 1 everywhere else."""
    rng = np.random.default_rng(4)
    y = (rng.random((2, 1, 9, 11)) < 0.2).astype(np.float64)
    hard = (rng.random(y.shape) < 0.4).astype(np.float64)
    got = hard_negative_weights(torch.tensor(y, dtype=torch.float32),
                                torch.tensor(hard, dtype=torch.float32), 5.0)
    ref = np.ones_like(y)
    for idx in np.ndindex(y.shape):
        if hard[idx] == 1.0 and y[idx] == 0.0:
            ref[idx] = 5.0
    assert ref.min() == 1.0 and ref.max() == 5.0  # both cases occur
    np.testing.assert_array_equal(got.double().numpy(), ref)
    with pytest.raises(ValueError, match="same shape"):
        hard_negative_weights(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 5), 5.0)


def test_hard_negative_weights_guard_the_wire_neighbourhood() -> None:
    """With ``guard_px`` g, a marked pixel within Chebyshev distance g of any wire pixel keeps
    weight 1 (the lumen around the wire and past its tip); farther ones get ``weight``."""
    rng = np.random.default_rng(5)
    y = (rng.random((2, 1, 13, 17)) < 0.03).astype(np.float64)
    hard = (rng.random(y.shape) < 0.5).astype(np.float64)
    g = 2
    got = hard_negative_weights(torch.tensor(y, dtype=torch.float32),
                                torch.tensor(hard, dtype=torch.float32), 3.0, guard_px=g)
    ref = np.ones_like(y)
    for n, c, i, j in np.ndindex(y.shape):
        window = y[n, c, max(i - g, 0):i + g + 1, max(j - g, 0):j + g + 1]
        if hard[n, c, i, j] == 1.0 and not window.any():
            ref[n, c, i, j] = 3.0
    unguarded = hard_negative_weights(torch.tensor(y), torch.tensor(hard), 3.0).numpy()
    assert (ref == 1.0).sum() > (unguarded == 1.0).sum()  # the guard changed something
    assert ref.max() == 3.0
    np.testing.assert_array_equal(got.double().numpy(), ref)
    with pytest.raises(ValueError, match="guard_px"):
        hard_negative_weights(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 4), 5.0, -1)


def test_tip_weights_match_a_float64_loop() -> None:
    """``weight`` inside the tip disks, wire or not, and 1 elsewhere."""
    rng = np.random.default_rng(6)
    tips = (rng.random((2, 1, 7, 5)) < 0.3).astype(np.float64)
    got = tip_weights(torch.tensor(tips, dtype=torch.float32), 4.0)
    ref = np.ones_like(tips)
    for idx in np.ndindex(tips.shape):
        if tips[idx] == 1.0:
            ref[idx] = 4.0
    assert ref.min() == 1.0 and ref.max() == 4.0
    np.testing.assert_array_equal(got.double().numpy(), ref)


def test_mark_weights_take_the_larger_weighting_per_pixel() -> None:
    """Each pixel: ``tip_weight`` in a tip disk, ``hard_weight`` on a distractor farther than
    the guard from the wire, the larger of the two where both hold, else 1 (float64 loop)."""
    rng = np.random.default_rng(7)
    shape = (2, 1, 11, 13)
    y = (rng.random(shape) < 0.05).astype(np.float64)
    hard = (rng.random(shape) < 0.5).astype(np.float64)
    tips = (rng.random(shape) < 0.3).astype(np.float64)
    g, wh, wt = 1, 5.0, 3.0
    got = mark_weights(*(torch.tensor(a, dtype=torch.float32) for a in (y, hard, tips)),
                       hard_weight=wh, guard_px=g, tip_weight=wt)
    ref = np.ones(shape)
    for n, c, i, j in np.ndindex(shape):
        near = y[n, c, max(i - g, 0):i + g + 1, max(j - g, 0):j + g + 1].any()
        on_distractor = hard[n, c, i, j] == 1.0 and not near
        in_tip = tips[n, c, i, j] == 1.0
        ref[n, c, i, j] = max(wh if on_distractor else 1.0, wt if in_tip else 1.0)
    assert set(np.unique(ref)) == {1.0, 3.0, 5.0}  # every case occurs
    both = (tips == 1.0) & (ref == 5.0)
    assert both.any()  # a tip pixel on a distractor takes 5, not 3 or 15
    np.testing.assert_array_equal(got.double().numpy(), ref)


def _ref_skeleton(x: np.ndarray, iterations: int) -> np.ndarray:
    """clDice's soft skeleton as a float64 per-pixel loop over one (H, W) image; pooling
    windows are clipped at the border (max-pool padding never wins)."""
    h, w = x.shape

    def erode(a: np.ndarray) -> np.ndarray:
        out = np.empty_like(a)
        for i, j in np.ndindex(a.shape):
            col = a[max(i - 1, 0):i + 2, j].min()
            row = a[i, max(j - 1, 0):j + 2].min()
            out[i, j] = min(col, row)
        return out

    def dilate(a: np.ndarray) -> np.ndarray:
        out = np.empty_like(a)
        for i, j in np.ndindex(a.shape):
            out[i, j] = a[max(i - 1, 0):i + 2, max(j - 1, 0):j + 2].max()
        return out

    skel = np.maximum(x - dilate(erode(x)), 0.0)
    for _ in range(iterations):
        x = erode(x)
        delta = np.maximum(x - dilate(erode(x)), 0.0)
        skel = skel + np.maximum(delta - skel * delta, 0.0)
    return skel


def test_soft_skeleton_matches_a_float64_loop() -> None:
    rng = np.random.default_rng(8)
    x = rng.random((2, 1, 9, 11))
    got = soft_skeleton(torch.tensor(x), iterations=3).numpy()
    for n in range(2):
        np.testing.assert_allclose(got[n, 0], _ref_skeleton(x[n, 0], 3), atol=1e-12)


def test_soft_skeleton_thins_a_band_to_its_centre_and_keeps_a_line() -> None:
    """A 5 px wide binary band thins to its centre row; a 1 px line is its own skeleton."""
    band = torch.zeros(1, 1, 15, 30, dtype=torch.float64)
    band[..., 5:10, :] = 1.0
    skel = soft_skeleton(band, iterations=3)
    assert torch.equal(skel[0, 0, :, 3:-3].sum(1) > 0, torch.arange(15) == 7)
    line = torch.zeros(1, 1, 9, 20, dtype=torch.float64)
    line[..., 4, :] = 1.0
    assert torch.equal(soft_skeleton(line, iterations=3), line)
    with pytest.raises(ValueError, match="iterations"):
        soft_skeleton(line, iterations=-1)


def test_cldice_matches_a_float64_reference() -> None:
    rng = np.random.default_rng(9)
    z = rng.normal(0, 3, (2, 1, 10, 12))
    y = np.zeros_like(z)
    y[0, 0, 4:6, :] = 1.0
    y[1, 0, :, 3] = 1.0
    got = cldice_loss(torch.tensor(z, dtype=torch.float32), torch.tensor(y, dtype=torch.float32),
                      iterations=2, smooth=1.0).item()
    p = 1.0 / (1.0 + np.exp(-z))
    ref = []
    for n in range(2):
        sp, sy = _ref_skeleton(p[n, 0], 2), _ref_skeleton(y[n, 0], 2)
        t_prec = ((sp * y[n, 0]).sum() + 1.0) / (sp.sum() + 1.0)
        t_sens = ((sy * p[n, 0]).sum() + 1.0) / (sy.sum() + 1.0)
        ref.append(1.0 - 2.0 * t_prec * t_sens / (t_prec + t_sens))
    assert _rel(got, float(np.mean(ref))) < 1e-5


def test_cldice_punishes_a_gap_more_than_a_thicker_mask() -> None:
    """The loss clDice was made for: a wire found with a gap scores worse than one found whole
    but drawn 3 px wide, although the gap costs fewer wrong pixels (10 against 60)."""
    y = torch.zeros(1, 1, 16, 40)
    y[..., 8, 5:35] = 1.0
    gap = y.clone()
    gap[..., 8, 15:25] = 0.0
    thick = y.clone()
    thick[..., 7:10, 5:35] = 1.0
    as_logits = lambda m: (m * 2 - 1) * 20.0  # noqa: E731 (near-binary probabilities)
    perfect = cldice_loss(as_logits(y), y).item()
    assert perfect < 0.02
    assert cldice_loss(as_logits(gap), y).item() > cldice_loss(as_logits(thick), y).item() + 0.1
    # a wire-free sample with predicted centreline is penalised, an empty one is not
    empty = torch.zeros_like(y)
    assert cldice_loss(as_logits(empty), empty).item() < 1e-6
    assert cldice_loss(as_logits(y), empty).item() > 0.9
