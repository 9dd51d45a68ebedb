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

"""Physically motivated X-ray fluoroscopy simulator with guidewire ground truth.

There is no public guidewire data set, so every model in franet is trained on this. Real
C-arms differ from each other far more than two simulators do, so every imaging and scene
property is a randomised range (:class:`~franet_core.sim.config.SimConfig` says which and
why), and named presets (:mod:`franet_core.sim.presets`) rebuild the held-out test domains.

Image formation, per frame (attenuation A = Σμ·t, dimensionless line integrals):

1. A = warp(anatomy + distractors + contrast-filled vessels) + collimator + guidewires.
   Anatomy (:mod:`~franet_core.sim.anatomy`) and distractors
   (:mod:`~franet_core.sim.distractors`) are built once per sequence and warped by a smooth
   backward displacement field (respiration: near-rigid shift; heartbeat: contraction and
   twist around the heart) with ``cv2.remap``. Wires are rendered directly in the deformed
   frame with sub-pixel anti-aliasing (:mod:`~franet_core.sim.wires`), so image and truth
   agree.
2. The detector and display chain (:mod:`~franet_core.sim.detector`): quantum noise,
   scintillator blur, read noise, temporal recursive filter, noise reduction, edge
   enhancement, window/level/gamma, 8-bit display or raw 16-bit output, line defects.

Wire and thin-distractor contrasts are drawn as contrast-to-noise ratios of the sequence's
own detector, so faint and conspicuous wires exist under every noise regime.

Geometry scales with ``size / 512`` so a 256 px frame shows the same field of view.
Coordinates: pixels, x right, y down, origin at the centre of the top-left pixel.
Determinism: all randomness comes from ``seed``: one stream for the scene, a second one for
the noise (so ``SimConfig(noise_free=True)`` renders the same scene without noise).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from franet_core.preprocess import normalize_image
from franet_core.sim import anatomy as sim_anatomy
from franet_core.sim import distractors
from franet_core.sim import wires as sim_wires
from franet_core.sim.config import KINDS, SimConfig
from franet_core.sim.detector import Detector

__all__ = ["KINDS", "SimConfig", "SimFrame", "Simulator", "WireTruth"]

#: Spacing of the published ground-truth centerline, px of arc length.
TRUTH_STEP = 1.0
#: Collimator attenuation above which a wire counts as hidden behind the shutters (the
#: shutters add 1.0-2.2, i.e. the display there is black; 0.5 is inside their soft edge).
COLLIMATED = 0.5
#: Hidden stretches of a wire shorter than this (px of arc) do not cut its truth.
BRIDGED_GAP_PX = 15.0


@dataclass
class WireTruth:
    """Ground truth of one guidewire in one frame.

    id: stable within a sequence (0, 1, ...). centerline: (K, 2) float64 x, y px, proximal
    end (on the image border) → tip, sampled every ~1 px. tip: (2,) == centerline[-1].
    radius_px: physical wire radius in px (the mask uses max(radius_px, 0.75), see
    :data:`franet_core.sim_wires.MIN_MASK_RADIUS`).
    """

    id: int
    centerline: np.ndarray
    tip: np.ndarray
    radius_px: float


@dataclass
class SimFrame:
    """One simulated frame: image float32 (H, W) in [0, 1], mask uint8 (H, W) in {0, 1}.

    ``open_field`` (bool (H, W), or None) is where the collimator shutters do not hide the
    scene; a wire's proximal truth end lies on the image border or on this field's edge.
    ``hard`` (uint8 (H, W), or None) marks distractors (leads, catheters, stents, valves,
    contrast-filled vessels): where training centres its hard-negative crops.
    ``raw`` (uint16 (H, W), or None) is set for 16-bit sequences: the detector counts that
    ``image`` is the ``normalize_image`` of, and what a data folder stores.
    """

    image: np.ndarray
    mask: np.ndarray
    wires: list[WireTruth] = field(default_factory=list)
    open_field: np.ndarray | None = None
    hard: np.ndarray | None = None
    raw: np.ndarray | None = None


@dataclass
class _Wire:
    """A wire of one sequence: fixed path in the reference anatomy, moving tip arc length."""

    id: int
    path: np.ndarray
    radius: float
    mu: float
    tip_factor: float
    tip_len: float
    s_lo: float
    s0: float
    speed: float
    wobble: float
    wobble_period: float
    bend: float = 0.0
    bend_px: float = 0.0

    def tip_arc(self, t: int) -> float:
        """Arc length (px from the path start) of the tip in frame ``t``."""
        s = self.s0 + self.speed * t + self.wobble * np.sin(2 * np.pi * t / self.wobble_period)
        return float(np.clip(s, self.s_lo, (len(self.path) - 1) * sim_wires.STEP))

    def points(self, t: int) -> np.ndarray:
        """Reference-frame polyline from the path start to the tip of frame ``t``, with the
        shaped tip (``bend`` rad over the distal ``bend_px`` px) wherever the tip is."""
        s = self.tip_arc(t) / sim_wires.STEP
        i = int(np.floor(s))
        frac = s - i
        pts = self.path[: i + 1]
        if frac > 1e-6 and i + 1 < len(self.path):
            pts = np.vstack([pts, self.path[i] + frac * (self.path[i + 1] - self.path[i])])
        n = min(len(pts) - 2, int(self.bend_px / sim_wires.STEP))
        if not self.bend or n < 2:
            return pts
        tail = np.diff(pts[-n - 1:], axis=0)
        heading = np.arctan2(tail[:, 1], tail[:, 0]) + np.linspace(0.0, self.bend, n)
        steps = np.linalg.norm(tail, axis=1)[:, None] * np.stack(
            [np.cos(heading), np.sin(heading)], axis=1)
        return np.vstack([pts[:-n], pts[-n - 1] + np.cumsum(steps, axis=0)])


@dataclass
class _Motion:
    """Backward displacement field u(p, t): frame(p) = reference(p + u(p, t)), px."""

    fps: float
    resp_vec: np.ndarray
    resp_hz: float
    resp_phase: float
    card_amp: float
    card_hz: float
    card_phase: float
    twist: float
    heart: tuple[float, float, float]

    def displacement(self, pts: np.ndarray, t: int) -> np.ndarray:
        """u at points (N, 2) x, y for frame ``t``; returns (N, 2) px."""
        time = t / self.fps
        resp = np.sin(2 * np.pi * self.resp_hz * time + self.resp_phase)
        phase = (self.card_hz * time + self.card_phase) % 1.0
        # Fast systolic contraction (first 35 % of the beat), slower diastolic relaxation.
        card = np.where(phase < 0.35, 0.5 - 0.5 * np.cos(np.pi * phase / 0.35),
                        0.5 + 0.5 * np.cos(np.pi * (phase - 0.35) / 0.65))
        hx, hy, hr = self.heart
        d = pts - [hx, hy]
        g = np.exp(-0.5 * (d ** 2).sum(axis=1) / (1.2 * hr) ** 2)[:, None]
        radial = d / hr * g
        tangential = np.stack([-d[:, 1], d[:, 0]], axis=1) / hr * g * self.twist
        return resp * self.resp_vec + card * self.card_amp * (radial + tangential)

    def forward(self, pts: np.ndarray, t: int, iterations: int = 4) -> np.ndarray:
        """Where reference points appear in frame ``t``: solve q + u(q) = p by fixed point."""
        q = pts.copy()
        for _ in range(iterations):
            q = pts - self.displacement(q, t)
        return q

    def maps(self, size: int, t: int, cell: int = 8) -> tuple[np.ndarray, np.ndarray]:
        """cv2.remap maps (float32 (H, W) each), from u on a coarse grid resized up."""
        n = max(2, -(-size // cell))
        c = (np.arange(n) + 0.5) * size / n - 0.5
        gx, gy = np.meshgrid(c, c)
        u = self.displacement(np.stack([gx.ravel(), gy.ravel()], axis=1), t)
        u = u.reshape(n, n, 2).astype(np.float32)
        u = cv2.resize(u, (size, size), interpolation=cv2.INTER_LINEAR)
        base = np.arange(size, dtype=np.float32)
        return base[None, :] + u[:, :, 0], base[:, None] + u[:, :, 1]


@dataclass
class _Scene:
    """Everything fixed for one sequence."""

    size: int
    stack: np.ndarray          # moving attenuation (H, W), or (H, W, 3) with V, V · arrival
    fixed: np.ndarray          # collimator attenuation
    hard: np.ndarray | None    # uint8 hard-negative marks in the reference anatomy
    wires: list[_Wire]
    motion: _Motion
    contrast_mu: float
    front0: float
    front_speed: float
    detector: Detector


def _visible_run(line: np.ndarray, open_field: np.ndarray, black: np.ndarray) -> np.ndarray:
    """The last contiguous run of ``line`` (K, 2 px, proximal -> tip) the display shows.

    A point is visible where, at its nearest pixel, ``open_field`` (bool (H, W): outside the
    collimator shutters) is set and ``black`` (bool (H, W): anatomy clipped to black by the
    window) is not. A black stretch inside the open field shorter than
    :data:`BRIDGED_GAP_PX` between visible points counts as visible (an annotator traces a
    wire across a dark vessel or an ECG snap it crosses). Where the physical tip itself is
    hidden, the run ends where the wire disappears (what an annotator would mark). A wire
    hidden entirely keeps its last point, so every truth has at least one point. ``line``
    is sampled every :data:`TRUTH_STEP` px.
    """
    h, w = open_field.shape
    ix = np.clip(np.rint(line[:, 0]).astype(int), 0, w - 1)
    iy = np.clip(np.rint(line[:, 1]).astype(int), 0, h - 1)
    inside, visible = open_field[iy, ix], open_field[iy, ix] & ~black[iy, ix]
    flips = np.flatnonzero(np.diff(np.r_[True, visible, True].astype(np.int8)))
    for start, stop in zip(flips[::2], flips[1::2]):  # hidden runs [start, stop)
        if (0 < start and stop < len(visible) and inside[start:stop].all()
                and (stop - start) * TRUTH_STEP < BRIDGED_GAP_PX):
            visible[start:stop] = True
    if not visible.any():
        return line[-1:].copy()
    end = len(visible) - int(np.argmax(visible[::-1]))  # one past the last visible point
    start = end - int(np.argmin(visible[:end][::-1])) if not visible[:end].all() else 0
    return line[start:end].copy()


def _blurred_peak(radius: float, sigma: float) -> float:
    """Share of a wire's centre attenuation left after a Gaussian blur of ``sigma`` px."""
    if sigma <= 0.05:
        return 1.0
    d = np.arange(-12, 13, dtype=float)
    profile = sim_wires._chord_pixel_average(np.abs(d), radius)
    kernel = cv2.getGaussianKernel(25, sigma).ravel()
    return float(np.dot(profile, kernel[::-1]) / profile[12])


class Simulator:
    """Generates coherent fluoroscopy sequences with guidewire masks, centerlines and tips.

    ``Simulator(config, seed).sequence(n)`` returns n frames of one new sequence; successive
    calls give new sequences and the whole stream is deterministic for ``seed`` (an int or
    a sequence of ints, as accepted by ``np.random.default_rng``). ``backgrounds`` are
    optional real X-ray frames (any dtype, see ``normalize_image``) composited in the
    attenuation domain with probability ``config.background_prob``.
    """

    def __init__(self, config: SimConfig = SimConfig(), seed: int | Sequence[int] = 0,
                 backgrounds: Sequence[np.ndarray] | None = None) -> None:
        self.config = config
        scene_seq, noise_seq = np.random.SeedSequence(
            seed if isinstance(seed, int) else [int(v) for v in seed]).spawn(2)
        self._rng = np.random.default_rng(scene_seq)
        self._noise_rng = np.random.default_rng(noise_seq)
        # Normalised lazily, when a sequence draws one (datasets build a Simulator per item).
        self._backgrounds = list(backgrounds or [])

    def sequence(self, n_frames: int) -> list[SimFrame]:
        """Simulate one new sequence of ``n_frames`` frames (>= 1)."""
        if n_frames < 1:
            raise ValueError(f"n_frames must be >= 1, got {n_frames}")
        scene = self._scene()
        return [self._render(scene, t) for t in range(n_frames)]


    # ----------------------------------------------------------------------------- scene
    def _kind(self) -> str:
        cfg = self.config
        if cfg.kind != "mixed":
            return cfg.kind
        p = np.asarray(cfg.kind_weights, float)
        return str(self._rng.choice(KINDS, p=p / p.sum()))

    def _scene(self) -> _Scene:
        cfg, rng, size = self.config, self._rng, self.config.size
        f = size / 512.0
        u = rng.uniform
        kind = self._kind()
        abdominal = kind == "stiff"
        card_amp = 0.0 if abdominal else u(*cfg.cardiac_px) * f
        resp_amp = u(*cfg.resp_px) * f
        margin = 0.05 * size + 1.5 * (card_amp + resp_amp)
        paths = self._wire_paths(kind, f, margin)

        use_bg = bool(self._backgrounds) and rng.random() < cfg.background_prob
        vessel = np.zeros((size, size), np.float32)
        arrival = np.full((size, size), sim_anatomy.NO_VESSEL, np.float32)
        hard = np.zeros((size, size), np.uint8)
        if use_bg:
            k = int(rng.integers(len(self._backgrounds)))
            bg = normalize_image(self._backgrounds[k], name=f"background {k}")
            moving = sim_anatomy.background_attenuation(rng, bg, size)
            heart = (u(0.3, 0.7) * size, u(0.3, 0.7) * size, u(0.25, 0.4) * size)
        else:
            moving = sim_anatomy.soft_tissue(rng, size)
            if abdominal:
                heart = (size / 2, size / 2, size / 3)
                branches = sim_anatomy.aorto_iliac_tree(rng, size, f)
                # The stiff wire usually runs inside the (contrast-filled) iliac/aorta.
                branches += [(p, u(15.0, 30.0) * f, 0.0) for p in paths if rng.random() < 0.5]
                sim_anatomy.draw_vessels(vessel, arrival, branches)
            else:
                heart = sim_anatomy.add_heart_and_diaphragm(rng, moving, f)
                guides = [p[int(len(p) * u(0.3, 0.6)):] for p in paths if rng.random() < 0.4]
                extra = int(round(u(*cfg.vessel_density)))
                root, heading, branches = sim_anatomy.coronary_tree(rng, size, heart, f, guides,
                                                                    extra)
                sim_anatomy.draw_vessels(vessel, arrival, branches)
                if rng.random() < cfg.catheter_wire_prob:
                    # The wire leaves a guiding catheter that covers its proximal part.
                    p = paths[0]
                    n_out = int(20.0 * f / sim_wires.STEP)
                    k = n_out + int(u(0.2, 0.45) * (len(p) - n_out))
                    sim_anatomy.add_catheter(rng, moving, vessel, arrival, hard, p[k], 0.0, f,
                                             path=p[:k + 1], filled=False)
                else:
                    sim_anatomy.add_catheter(rng, moving, vessel, arrival, hard, root, heading,
                                             f)
            bone, cortex = np.zeros_like(moving), np.zeros_like(moving)
            if not abdominal and rng.random() < 0.6:
                sim_anatomy.add_ribs(rng, bone, cortex, f)
            if rng.random() < 0.8 or abdominal:
                sim_anatomy.add_spine(rng, bone, cortex, f, abdominal)
            moving += sim_anatomy.blur(bone, 2.2 * f) + sim_anatomy.blur(cortex, 1.1 * f)
        fixed = sim_anatomy.collimator(rng, size, f)
        detector = Detector.draw(rng, cfg, moving + fixed, use_bg)
        unit = detector.att_per_cnr

        metal = np.zeros_like(moving)
        if rng.random() < cfg.ecg_prob:
            distractors.add_ecg_leads(rng, metal, hard, f, unit)
        if not abdominal and rng.random() < cfg.pacing_prob:
            distractors.add_pacing_lead(rng, metal, hard, f, unit)
        if not abdominal and rng.random() < cfg.sternal_prob:
            distractors.add_sternal_wires(rng, metal, hard, f)
        if rng.random() < cfg.clip_prob:
            distractors.add_clips(rng, metal, hard, f)
        if rng.random() < cfg.stent_prob:
            along = paths[int(rng.integers(len(paths)))] if rng.random() < 0.5 else None
            distractors.add_stent(rng, metal, hard, f, unit, along)
        if not abdominal and rng.random() < cfg.valve_prob:
            distractors.add_valve(rng, metal, hard, f, heart)
        moving += metal

        # Lumen profile: soften the flat-top drawing; spread arrival to the blurred fringe.
        vessel = cv2.GaussianBlur(vessel, (0, 0), 0.8 * max(f, 0.5))
        if abdominal:
            vessel = cv2.GaussianBlur(vessel, (0, 0), 4.0 * f)
        arrival = np.where(arrival >= sim_anatomy.NO_VESSEL, 0.0, arrival).astype(np.float32)
        contrast = rng.random() < cfg.contrast_prob and bool(vessel.any())
        contrast_mu = (u(0.015, 0.03) if abdominal else u(0.06, 0.14)) if contrast else 0.0
        stack = (np.ascontiguousarray(np.dstack([moving, vessel, vessel * arrival]))
                 if contrast_mu else moving)
        if contrast_mu and cfg.vessel_marks:
            hard |= (vessel > 1.0).astype(np.uint8)

        resp_dir = np.array([rng.normal(0, 0.35), 1.0])
        motion = _Motion(cfg.fps, resp_amp * resp_dir / np.linalg.norm(resp_dir),
                         u(*cfg.resp_rate_hz), u(0, 2 * np.pi), card_amp,
                         u(*cfg.heart_rate_hz), u(0, 1), u(-0.4, 0.4), heart)
        return _Scene(
            size=size, stack=stack, fixed=fixed, hard=hard if hard.any() else None,
            wires=self._wires(paths, kind, f, detector), motion=motion,
            contrast_mu=contrast_mu, front0=u(-0.5, 2.0) * size,
            front_speed=u(0.02, 0.12) * size, detector=detector)

    def _wire_paths(self, kind: str, f: float, margin: float) -> list[np.ndarray]:
        """Reference-frame paths (border → distal end) of the sequence's wires."""
        rng, size = self._rng, self.config.size
        u = rng.uniform
        outside = 20.0 * f
        stiff = kind == "stiff"
        n_out = int(outside / sim_wires.STEP)

        def path(length: float, start=None, heading=None) -> np.ndarray:
            curv = (0.0015 if stiff else u(0.006, 0.014)) / f
            # EVAR wires come up from the femoral access (bottom) or down the aorta (top).
            side = int(rng.choice([2, 3])) if stiff and rng.random() < 0.8 else None
            return sim_wires.wire_path(rng, size, length, curv, (80 if stiff else 25) * f,
                                       margin, outside if start is None else 0.0, 0.0,
                                       start=start, heading0=heading, side=side)

        lo, hi = (0.5, 0.9) if stiff else (0.3, 0.75)
        paths = [path(u(lo, hi) * size)]
        if kind == "dual":
            if rng.random() < 0.5:
                # Bifurcation / buddy wire: shares the first wire's route, side by side,
                # then leaves it at a branch point.
                p1 = paths[0]
                i = n_out + int(u(0.25, 0.6) * (len(p1) - n_out - 1))
                tangent = np.gradient(p1[: i + 1], axis=0)
                normal = np.stack([-tangent[:, 1], tangent[:, 0]], axis=1)
                normal /= np.linalg.norm(normal, axis=1, keepdims=True) + 1e-9
                shared = p1[: i + 1] + normal * rng.choice([-1, 1]) * u(2.5, 5.0) * f
                d = shared[-1] - shared[-2]
                h = np.arctan2(d[1], d[0]) + rng.choice([-1, 1]) * u(0.3, 0.9)
                rest = path(u(0.2, 0.5) * size, start=shared[-1], heading=h)
                paths.append(np.vstack([shared, rest[1:]]))
            else:
                paths.append(path(u(lo, hi) * size))
        return paths

    def _wires(self, paths: list[np.ndarray], kind: str, f: float,
               detector: Detector) -> list[_Wire]:
        """Wires on ``paths``: radius, contrast (a CNR of ``detector``), coil, motion."""
        cfg, rng = self.config, self._rng
        u = rng.uniform
        stiff = kind == "stiff"
        outside = 20.0 * f
        r_range = cfg.stiff_radius_px if stiff else cfg.wire_radius_px
        wires = []
        for wid, p in enumerate(paths):
            full = (len(p) - 1) * sim_wires.STEP
            s_lo = outside + (0.6 if stiff else 0.4) * (full - outside)
            moving = rng.random() < 0.7
            radius = max(u(*r_range) * f, 0.5)
            # Tip shape: straight, angled (30-60 degrees over 4-7 px) or J (150-190 degrees
            # over 12-20 px); the sign says which way it is shaped.
            shape = int(rng.choice(3, p=np.asarray(cfg.tip_shapes) / sum(cfg.tip_shapes)))
            bend, bend_px = [(0.0, 0.0), (u(0.5, 1.05), u(4.0, 7.0)),
                             (u(2.6, 3.3), u(12.0, 20.0))][shape]
            contrast = max(sim_wires.loguniform(rng, *cfg.wire_cnr) * detector.att_per_cnr,
                           cfg.wire_contrast_min * detector.att_per_grey)
            mu = contrast / (sim_wires.peak_chord(radius) * _blurred_peak(radius, detector.blur))
            wires.append(_Wire(
                id=wid, path=p, radius=radius, mu=mu, tip_factor=u(*cfg.tip_factor),
                tip_len=u(*cfg.tip_length_px) * f, s_lo=s_lo, s0=u(s_lo, full),
                speed=u(*cfg.advance_px) * f if moving else 0.0,
                wobble=u(0.0, 3.0) * f, wobble_period=u(6.0, 20.0),
                bend=bend * rng.choice([-1, 1]), bend_px=bend_px * f))
        return wires

    # ---------------------------------------------------------------------------- render
    def _render(self, sc: _Scene, t: int) -> SimFrame:
        size = sc.size
        map_x, map_y = sc.motion.maps(size, t)
        warped = cv2.remap(sc.stack, map_x, map_y, cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REFLECT_101)
        att = (warped[:, :, 0] if warped.ndim == 3 else warped) + sc.fixed
        if sc.contrast_mu > 0:
            vessel = warped[:, :, 1]
            arrival = warped[:, :, 2] / np.maximum(vessel, 1e-3)
            front = sc.front0 + sc.front_speed * t
            soft = 0.05 * size
            fill = np.clip((front - arrival) / soft, 0.0, 1.0)
            att += sc.contrast_mu * vessel * fill

        # An annotator sees a wire only where the display shows something: outside the
        # collimator shutters, and where the anatomy under it is not already clipped to black.
        open_field, black = sc.fixed <= COLLIMATED, att >= sc.detector.window[1]
        mask = np.zeros((size, size), np.uint8)
        truths = []
        for w in sc.wires:
            pts = sc.motion.forward(w.points(t), t)
            ok = sim_wires.inside(pts, -0.49, size - 0.51)
            # Keep the contiguous visible run ending at the tip (the tip is always inside).
            start = len(ok) - int(np.argmin(ok[::-1])) if not ok.all() else 0
            pts = pts[start:]
            from_tip = sim_wires.arc_length(pts)
            from_tip = from_tip[-1] - from_tip
            tip_w = np.clip((w.tip_len - from_tip) / 2.0 + 0.5, 0.0, 1.0)
            mu = w.mu * (1.0 + (w.tip_factor - 1.0) * tip_w)
            sim_wires.render_curve(att, None, pts, w.radius, mu)
            # Truth is what an annotator can see: the shown run that ends nearest the tip.
            line = _visible_run(sim_wires.resample(pts, TRUTH_STEP), open_field, black)
            sim_wires.render_curve(None, mask, line, w.radius, 1.0)
            truths.append(WireTruth(w.id, line, line[-1].copy(), float(w.radius)))

        image, raw = sc.detector.render(att, self._noise_rng)
        hard = None
        if sc.hard is not None:
            hard = cv2.remap(sc.hard, map_x, map_y, cv2.INTER_NEAREST,
                             borderMode=cv2.BORDER_CONSTANT)
        return SimFrame(image=image, mask=mask, wires=truths, open_field=open_field,
                        hard=hard, raw=raw)
