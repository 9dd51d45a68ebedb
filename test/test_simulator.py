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

"""Tests of the fluoroscopy simulator, its torch dataset, augmentations and contact sheets."""
from __future__ import annotations

import numpy as np
import pytest

from franet_core import augment
from franet_core.sim import wires as sim_wires
from franet_core.contact_sheet import COLOURS, contact_sheet, overlay_mask
from franet_core.datasets import SyntheticDataset, wire_biased_crop
from franet_core.sim import SimConfig, Simulator

SIZE = 128

#: Documented mean wire-pixel fraction ranges per kind at 512 px (README / report).
FRACTION_RANGES_512 = {"mono": (4e-4, 3e-3), "dual": (1e-3, 6e-3), "stiff": (1.5e-3, 8e-3)}


def _seq(kind: str = "mixed", seed: int = 0, n: int = 4, size: int = SIZE, **kw):
    return Simulator(SimConfig(size=size, kind=kind, **kw), seed=seed).sequence(n)


def test_deterministic_for_a_seed_and_seeds_differ():
    a, b, c = _seq(seed=5), _seq(seed=5), _seq(seed=6)
    for fa, fb in zip(a, b):
        np.testing.assert_array_equal(fa.image, fb.image)
        np.testing.assert_array_equal(fa.mask, fb.mask)
        np.testing.assert_array_equal(fa.wires[0].centerline, fb.wires[0].centerline)
    assert not np.array_equal(a[0].image, c[0].image)


def test_successive_sequences_differ():
    sim = Simulator(SimConfig(size=SIZE), seed=1)
    first, second = sim.sequence(1)[0], sim.sequence(1)[0]
    assert not np.array_equal(first.image, second.image)


def test_frame_types_and_ranges():
    for frame in _seq(n=2):
        assert frame.image.dtype == np.float32 and frame.image.shape == (SIZE, SIZE)
        assert 0.0 <= frame.image.min() and frame.image.max() <= 1.0
        assert frame.mask.dtype == np.uint8 and set(np.unique(frame.mask)) <= {0, 1}
        assert frame.image.std() > 0.01  # not blank


@pytest.mark.parametrize("kind", ["mono", "dual", "stiff"])
def test_centerline_inside_mask_and_tip_is_distal(kind):
    for seed in range(3):
        for frame in _seq(kind, seed=seed, n=3):
            assert frame.wires
            for w in frame.wires:
                ij = np.round(w.centerline).astype(int)
                assert ij.min() >= 0 and ij.max() < SIZE
                assert frame.mask[ij[:, 1], ij[:, 0]].all()
                np.testing.assert_array_equal(w.tip, w.centerline[-1])
                # proximal end on the border, where the wire leaves the collimator's
                # open field, or where anatomy clipped to black hides it (hidden beyond
                # it); tip well inside the image
                prox = w.centerline[0]
                x, y = np.rint(prox).astype(int)
                window = np.s_[max(y - 2, 0):y + 3, max(x - 2, 0):x + 3]
                assert (min(prox.min(), SIZE - 1 - prox.max()) <= 1.0
                        or not frame.open_field[window].all()
                        or (frame.image[window] == frame.image.min()).any())
                assert frame.open_field[ij[:, 1], ij[:, 0]].all()
                assert min(w.tip.min(), SIZE - 1 - w.tip.max()) > 0.03 * SIZE
                # ~1 px arc-length sampling, ordered proximal -> tip
                steps = np.linalg.norm(np.diff(w.centerline, axis=0), axis=1)
                assert steps.max() <= 1.0 + 1e-6


def test_mask_matches_independent_distance_reference():
    """Mask == pixel centres within max(r, 0.75) px of the published centerline (±1 px band)."""
    from scipy.ndimage import distance_transform_edt
    frame = _seq("mono", seed=3, n=1)[0]
    w = frame.wires[0]
    fine = sim_wires.resample(w.centerline, 0.05)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    near = distance_transform_edt(frame.mask == 0) < 3  # restrict the brute force
    pts = np.stack([xx[near], yy[near]], axis=1).astype(float)
    d = np.min(np.linalg.norm(pts[:, None, :] - fine[None, :, :], axis=2), axis=1)
    r = max(w.radius_px, sim_wires.MIN_MASK_RADIUS)
    inside = frame.mask[near] > 0
    assert np.all(d[inside] <= r + 0.1)
    assert np.all(inside[d <= r - 0.1])


def test_ids_stable_and_dual_has_two():
    frames = _seq("dual", seed=2, n=5)
    ids = [sorted(w.id for w in f.wires) for f in frames]
    assert all(i == [0, 1] for i in ids)
    assert [sorted(w.id for w in f.wires) for f in _seq("mono", n=3)] == [[0]] * 3


def test_each_id_follows_the_same_wire_between_frames():
    """The id labels the same physical wire: its tip in frame k+1 is nearest its own tip."""
    for seed in range(3):
        frames = _seq("dual", seed=seed, n=6)
        for a, b in zip(frames, frames[1:]):
            before = {w.id: w.tip for w in a.wires}
            for w in b.wires:
                nearest = min(before, key=lambda i: np.linalg.norm(before[i] - w.tip))
                assert nearest == w.id


def test_wire_moves_coherently_between_frames():
    frames = _seq("mono", seed=4, n=12, fps=10.0)
    tips = np.array([f.wires[0].tip for f in frames])
    steps = np.linalg.norm(np.diff(tips, axis=0), axis=1)
    # advance <= 3 px/frame + wobble + cardiac/respiratory motion, scaled to 128 px
    assert steps.max() < 0.06 * SIZE
    assert np.all(steps > 0.0)  # cardiac/respiratory motion never stops
    assert steps.mean() > 0.05  # and is more than rounding noise (~0.4 px/frame here)


#: A scene that stands still (no cardiac, respiratory or wire motion, no noise, no
#: distractors): between two of its frames only the contrast fill and the wire's small
#: wobble can change a pixel.
STILL = dict(cardiac_px=(0.0, 0.0), resp_px=(0.0, 0.0), advance_px=(0.0, 0.0),
             noise_free=True, background_prob=0.0, ecg_prob=0.0, pacing_prob=0.0,
             sternal_prob=0.0, clip_prob=0.0, stent_prob=0.0, valve_prob=0.0)


def _contrast_change(seed: int, contrast_prob: float, n: int = 12) -> tuple[list[int], int]:
    """Pixels darker / brighter than frame 0 by more than 5 grey levels, away from the wires.

    Returns (darkened count at each frame, most pixels brightened in any frame). Pixels
    within 3 px of a wire in any frame are left out (the wire wobbles).
    """
    import cv2

    frames = _seq("mono", seed=seed, n=n, contrast_prob=contrast_prob, **STILL)
    wires = cv2.dilate(np.maximum.reduce([f.mask for f in frames]), np.ones((7, 7), np.uint8))
    away = wires == 0
    diffs = [(f.image - frames[0].image)[away] for f in frames]
    return [int((d < -5 / 255).sum()) for d in diffs], max(int((d > 5 / 255).sum())
                                                           for d in diffs)


def test_contrast_fills_over_frames():
    """With contrast the vessel tree darkens progressively; without it nothing changes.

    Each sequence draws its own contrast front (start and speed): in some the front has
    filled the tree before frame 0 or does not reach it within 12 frames. Measured on the
    randomised simulator (2026-12-03): 8 of these 12 seeds darken 15 px or more by the last
    frame, so at least 2 must. Noise, motion and the wire are removed (STILL, wire pixels
    masked): without contrast no pixel changes by more than 5 grey levels (measured: none).
    Contrast only adds attenuation; the pixels allowed to brighten are the display's
    sharpening halo next to a darkening vessel (measured: at most 17, beside 300-460
    darkened ones).
    """
    filling = 0
    for seed in range(12):
        darkened, brightened = _contrast_change(seed, contrast_prob=1.0)
        assert brightened <= 2 + max(darkened) // 10, (seed, brightened, darkened)
        assert darkened[-1] >= darkened[len(darkened) // 2] - 2, (seed, darkened)  # grows
        filling += darkened[-1] >= 15
    assert filling >= 2
    for seed in range(3):
        darkened, brightened = _contrast_change(seed, contrast_prob=0.0)
        assert max(darkened) == brightened == 0, seed


def test_vessel_marks_change_the_marks_only():
    """``vessel_marks=False`` drops the contrast-filled vessels from the hard-negative marks
    and leaves the frames, masks and other marks exactly as they were (the same random
    draws), so two training sets that differ only in their marks can be compared."""
    config = SimConfig(size=128, kind="mono", contrast_prob=1.0)
    with_vessels = Simulator(config, seed=5).sequence(2)
    without = Simulator(SimConfig(size=128, kind="mono", contrast_prob=1.0,
                                  vessel_marks=False), seed=5).sequence(2)
    for a, b in zip(with_vessels, without):
        assert np.array_equal(a.image, b.image) and np.array_equal(a.mask, b.mask)
        assert a.hard is not None
        kept = np.zeros_like(a.hard) if b.hard is None else b.hard
        assert not (kept & ~a.hard.astype(bool)).any()  # nothing new is marked
        assert kept.sum() < a.hard.sum()                # and the vessels are gone


def test_wire_darkens_the_image():
    """The rendered wire attenuates: wire pixels are darker than their neighbourhood."""
    import cv2
    darker = []
    for seed in range(6):
        f = _seq("stiff", seed=seed, n=1, size=256, noise=(0.01, 0.01))[0]
        local = cv2.blur(f.image, (15, 15))
        darker.append(np.mean(local[f.mask > 0] - f.image[f.mask > 0]))
    assert np.mean(darker) > 0.005


@pytest.mark.parametrize("kind", ["mono", "dual", "stiff"])
def test_foreground_fraction_per_kind(kind):
    lo, hi = FRACTION_RANGES_512[kind]
    sim = Simulator(SimConfig(size=512, kind=kind), seed=11)
    fractions = [sim.sequence(1)[0].mask.mean() for _ in range(6)]
    assert lo <= np.mean(fractions) <= hi


def test_backgrounds_are_used():
    rng = np.random.default_rng(0)
    bg = (rng.random((200, 240)) * 255).astype(np.uint8)
    a = Simulator(SimConfig(size=SIZE, background_prob=1.0), seed=1, backgrounds=[bg])
    b = Simulator(SimConfig(size=SIZE, background_prob=1.0), seed=1)
    assert not np.array_equal(a.sequence(1)[0].image, b.sequence(1)[0].image)


def test_bad_config_and_arguments():
    with pytest.raises(ValueError, match="kind"):
        SimConfig(kind="triple")
    with pytest.raises(ValueError, match="n_frames"):
        Simulator(SimConfig(size=SIZE)).sequence(0)


def test_synthetic_dataset_deterministic_and_shaped():
    cfg = SimConfig(size=SIZE)
    ds = SyntheticDataset(cfg, seed=3, length=5, crop=64)
    assert len(ds) == 5
    img, msk = ds[2]
    assert img.shape == (1, 64, 64) and msk.shape == (1, 64, 64)
    assert str(img.dtype) == "torch.float32" and str(msk.dtype) == "torch.float32"
    again = SyntheticDataset(cfg, seed=3, length=5, crop=64)[2]
    assert (img == again[0]).all() and (msk == again[1]).all()
    assert not (img == ds[3][0]).all()
    with pytest.raises(IndexError):
        ds[5]


def test_wire_biased_crop_prefers_the_wire():
    mask = np.zeros((256, 256), np.uint8)
    mask[200, 10:30] = 1
    image = np.zeros((256, 256), np.float32)
    rng = np.random.default_rng(0)
    hits = sum(wire_biased_crop(rng, image, mask, 64, wire_prob=0.8)[1].any()
               for _ in range(200))
    assert hits > 0.7 * 200  # uniform crops would hit far less (~ 0.3)
    uniform = sum(wire_biased_crop(rng, image, mask, 64, wire_prob=0.0)[1].any()
                  for _ in range(200))
    assert uniform < 0.5 * 200


def _marker_pair():
    image = np.zeros((64, 48), np.float32)
    mask = np.zeros((64, 48), np.uint8)
    mask[10:14, 30:33] = 1
    image[mask > 0] = 1.0
    return image, mask


def test_augmentations_keep_image_and_mask_aligned():
    rng = np.random.default_rng(0)
    for _ in range(10):
        image, mask = _marker_pair()
        img, msk = augment.dihedral(rng, image, mask)
        np.testing.assert_array_equal(img > 0.5, msk > 0)
        img, msk = augment.small_affine(rng, image, mask)
        assert msk.any()
        # bright image pixels sit on the mask
        assert img[msk > 0].mean() > 0.6 and img[msk == 0].mean() < 0.05
        out = augment.intensity(rng, image)
        assert out.shape == image.shape and 0 <= out.min() and out.max() <= 1
        img, msk = augment.augment_pair(rng, image, mask)
        assert img.shape == msk.shape


def test_overlay_colours_and_sheet():
    image = np.full((8, 8), 0.5, np.float32)
    gt = np.zeros((8, 8), np.uint8)
    pred = np.zeros((8, 8), np.uint8)
    gt[1, 1] = gt[2, 2] = 1
    pred[1, 1] = pred[3, 3] = 1
    out = overlay_mask(image, pred=pred, gt=gt, alpha=1.0)
    assert tuple(out[1, 1]) == COLOURS["tp"]
    assert tuple(out[3, 3]) == COLOURS["fp"]
    assert tuple(out[2, 2]) == COLOURS["fn"]
    assert tuple(out[0, 0]) == (128, 128, 128)
    assert tuple(overlay_mask(image, gt=gt, alpha=1.0)[2, 2]) == COLOURS["gt"]
    sheet = contact_sheet([out, image, image], cols=2, labels=["a", "b", "c"], gap=2)
    assert sheet.shape == (8 * 2 + 2, 8 * 2 + 2, 3) and sheet.dtype == np.uint8
    with pytest.raises(ValueError):
        overlay_mask(image, gt=np.zeros((4, 4), np.uint8))


def test_biased_crops_centre_on_tips_and_hard_negatives_when_asked():
    """tip_prob = 1: the tip is inside every crop (jitter is at most S/4 from the centre);
    hard_prob = 1: a marked distractor pixel is; the default shares never use them."""
    image = np.zeros((256, 256), np.float32)
    mask = np.zeros((256, 256), np.uint8)
    mask[200, 10:30] = 1
    hard = np.zeros((256, 256), np.uint8)
    hard[40, 220:230] = 1
    tip = np.array([[29.0, 200.0]])
    rng = np.random.default_rng(0)
    for _ in range(50):
        y0x0 = np.zeros_like(image)
        y0x0[int(tip[0, 1]), int(tip[0, 0])] = 1.0
        crop, _ = wire_biased_crop(rng, y0x0, mask, 64, wire_prob=0.0, tips=tip, tip_prob=1.0)
        assert crop.sum() == 1.0
        marked = hard.astype(np.float32)
        crop, _ = wire_biased_crop(rng, marked, mask, 64, wire_prob=0.0, hard=hard,
                                   hard_prob=1.0)
        assert crop.sum() > 0
    uniform = sum(wire_biased_crop(rng, hard.astype(np.float32), mask, 64, wire_prob=0.0,
                                   hard=hard, tips=tip)[0].sum() > 0 for _ in range(200))
    assert uniform < 0.5 * 200
