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

There is no public guidewire data set, so every model in franet is trained on this.

Image formation, per frame (attenuation A = Σμ·t, dimensionless line integrals):

1. A = warp(anatomy + distractors + contrast-filled vessels) + collimator + guidewires.
   Anatomy is built once per sequence (:mod:`franet_core.sim_anatomy`) and warped by a smooth
   backward displacement field (respiration: near-rigid shift; heartbeat: contraction and
   twist around the heart) with ``cv2.remap``. Wires are rendered directly in the deformed
   frame with sub-pixel anti-aliasing (:mod:`franet_core.sim_wires`), so image and truth agree.
2. Detected photons N = N0 · vignette · exp(−A). Quantum noise is Poisson; with the tens to
   hundreds of photons per pixel of low-dose fluoroscopy it is drawn with the normal
   approximation N + √N·z (exact mean and variance). For speed, z is a randomly offset
   window into a fixed bank of standard normals (2·size)², not a fresh draw per pixel.
3. Scintillator blur (Gaussian, correlates the noise as in real detectors), then Gaussian
   electronic read noise.
4. Display: log transform back to attenuation, a window fixed per sequence (automatic
   brightness from the first frame's noise-free attenuation), optional unsharp-mask edge enhancement, gamma and an
   output grey range applied through an 8-bit lookup table (real fluoroscopy is viewed and
   stored at 8 bits); bright = transmissive, as fluoroscopy is viewed.

Geometry scales with ``size / 512`` so a 256 px frame shows the same field of view.
Coordinates: pixels, x right, y down, origin at the centre of the top-left pixel.
Determinism: all randomness comes from one ``np.random.Generator`` seeded by ``seed``.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import cv2
import numpy as np

from franet_core import sim_anatomy, sim_wires
from franet_core.preprocess import normalize_image

__all__ = ["KINDS", "SimConfig", "SimFrame", "Simulator", "WireTruth"]

#: Guidewire scenarios: one coronary wire, two coronary wires (bifurcation, buddy wire,
#: crossing), one stiff EVAR wire in an abdominal view.
KINDS = ("mono", "dual", "stiff")
#: Spacing of the published ground-truth centerline, px of arc length.
TRUTH_STEP = 1.0
#: Collimator attenuation above which a wire counts as hidden behind the shutters (the
#: shutters add 1.0-2.2, i.e. the display there is black; 0.5 is inside their soft edge).
COLLIMATED = 0.5

Range = tuple[float, float]


@dataclass(frozen=True)
class SimConfig:
    """Simulator settings; ranges are (low, high) sampled uniformly once per sequence.

    Pixel quantities are for a 512 px field and scale with ``size / 512``.

    size: output frame side, px (square frames).
    kind: "mono", "dual", "stiff" or "mixed" (drawn per sequence with ``kind_weights``).
    kind_weights: probabilities of mono, dual, stiff when kind is "mixed".
    fps: frame rate of a sequence (clinical fluoroscopy runs at 7.5–15 frames/s).
    heart_rate_hz, resp_rate_hz: cardiac (~1 Hz) and respiratory motion frequencies.
    cardiac_px, resp_px: peak displacement amplitudes, px.
    photons: mean detected photons per pixel at the median body attenuation (dose).
    read_noise: electronic noise std, in photons.
    blur_px: scintillator/focal-spot Gaussian blur sigma, px.
    wire_mu: guidewire attenuation per px of chord through the wire (low contrast).
    wire_radius_px, stiff_radius_px: wire radius for coronary and stiff (EVAR) wires, px.
    tip_factor: attenuation multiplier of the radio-opaque distal tip section.
    tip_length_px: length of that tip section, px.
    advance_px: wire advance speed along its own path, px/frame (negative = retraction).
    contrast_prob: probability that a sequence contains a contrast injection.
    background_prob: probability of compositing onto a real background (when given).
    distractor_prob: probability of each distractor family (ECG leads, sternal wires, clips).
    """

    size: int = 512
    kind: str = "mixed"
    kind_weights: tuple[float, float, float] = (0.45, 0.35, 0.2)
    fps: float = 10.0
    heart_rate_hz: Range = (0.9, 1.5)
    resp_rate_hz: Range = (0.15, 0.3)
    cardiac_px: Range = (3.0, 9.0)
    resp_px: Range = (2.0, 8.0)
    photons: Range = (120.0, 800.0)
    read_noise: Range = (1.0, 4.0)
    blur_px: Range = (0.5, 1.0)
    wire_mu: Range = (0.1, 0.22)
    wire_radius_px: Range = (0.5, 0.9)
    stiff_radius_px: Range = (1.2, 1.6)
    tip_factor: Range = (2.0, 3.5)
    tip_length_px: Range = (10.0, 30.0)
    advance_px: Range = (-1.5, 3.0)
    contrast_prob: float = 0.6
    background_prob: float = 0.6
    distractor_prob: float = 0.5

    def __post_init__(self) -> None:
        if self.kind not in (*KINDS, "mixed"):
            raise ValueError(f"SimConfig.kind must be one of {(*KINDS, 'mixed')}, "
                             f"got {self.kind!r}")
        if self.size < 32:
            raise ValueError(f"SimConfig.size must be >= 32 px, got {self.size}")
        if len(self.kind_weights) != 3 or min(self.kind_weights) < 0 \
                or sum(self.kind_weights) <= 0:
            raise ValueError(f"SimConfig.kind_weights must be 3 non-negative numbers, "
                             f"got {self.kind_weights}")
        if self.fps <= 0:
            raise ValueError(f"SimConfig.fps must be positive, got {self.fps}")
        if not 0.0 <= self.background_prob <= 1.0:
            raise ValueError(f"SimConfig.background_prob must be in [0, 1], "
                             f"got {self.background_prob}")


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
    """

    image: np.ndarray
    mask: np.ndarray
    wires: list[WireTruth] = field(default_factory=list)
    open_field: np.ndarray | None = None


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

    def tip_arc(self, t: int) -> float:
        """Arc length (px from the path start) of the tip in frame ``t``."""
        s = self.s0 + self.speed * t + self.wobble * np.sin(2 * np.pi * t / self.wobble_period)
        return float(np.clip(s, self.s_lo, (len(self.path) - 1) * sim_wires.STEP))

    def points(self, t: int) -> np.ndarray:
        """Reference-frame polyline from the path start to the tip of frame ``t``."""
        s = self.tip_arc(t) / sim_wires.STEP
        i = int(np.floor(s))
        frac = s - i
        pts = self.path[: i + 1]
        if frac > 1e-6 and i + 1 < len(self.path):
            pts = np.vstack([pts, self.path[i] + frac * (self.path[i + 1] - self.path[i])])
        return pts


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
    gain: np.ndarray           # N0 · vignette, photons
    wires: list[_Wire]
    motion: _Motion
    contrast_mu: float
    front0: float
    front_speed: float
    blur: float
    read_noise: float
    sharpen: float
    lut: np.ndarray            # uint8 (256,): gamma and output grey range
    window: tuple[float, float] | None = None


@lru_cache(maxsize=4)
def _noise_bank(size: int) -> np.ndarray:
    """Fixed (2·size, 2·size) float32 standard normals (same in every process: seed 0)."""
    return np.random.default_rng(0).standard_normal((2 * size, 2 * size), dtype=np.float32)


def _visible_run(line: np.ndarray, fixed: np.ndarray) -> np.ndarray:
    """The last contiguous run of ``line`` (K, 2 px, proximal -> tip) outside the shutters.

    A point is visible where the collimator attenuation ``fixed`` at its nearest pixel is at
    most :data:`COLLIMATED`. Where the physical tip itself is hidden, the run ends where the
    wire disappears behind the shutter (what an annotator would mark). A wire hidden
    entirely keeps its last point, so every truth has at least one point.
    """
    h, w = fixed.shape
    ix = np.clip(np.rint(line[:, 0]).astype(int), 0, w - 1)
    iy = np.clip(np.rint(line[:, 1]).astype(int), 0, h - 1)
    visible = fixed[iy, ix] <= COLLIMATED
    if not visible.any():
        return line[-1:].copy()
    end = len(visible) - int(np.argmax(visible[::-1]))  # one past the last visible point
    start = end - int(np.argmin(visible[:end][::-1])) if not visible[:end].all() else 0
    return line[start:end].copy()


def _noise(rng: np.random.Generator, size: int) -> np.ndarray:
    """A (size, size) standard-normal field: a random window of the bank, random flips."""
    y, x = rng.integers(0, size + 1, 2)
    view = _noise_bank(size)[y:y + size, x:x + size]
    flip = int(rng.integers(4))
    return view[:: 1 - 2 * (flip & 1), :: 1 - 2 * (flip >> 1)]


def _display_lut(gamma: float, black: float, white: float) -> np.ndarray:
    """uint8 (256,) table: windowed level in [0, 1] → gamma → grey range [black, white]."""
    level = np.arange(256) / 255.0
    return np.round(255.0 * (black + (white - black) * level ** gamma)).astype(np.uint8)


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
        self._rng = np.random.default_rng(seed)
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
        wires = self._wires(kind, f, margin)

        use_bg = bool(self._backgrounds) and rng.random() < cfg.background_prob
        vessel = np.zeros((size, size), np.float32)
        arrival = np.full((size, size), sim_anatomy.NO_VESSEL, np.float32)
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
                branches += [(w.path, u(15.0, 30.0) * f, 0.0) for w in wires
                             if rng.random() < 0.5]
                sim_anatomy.draw_vessels(vessel, arrival, branches)
            else:
                heart = sim_anatomy.add_heart_and_diaphragm(rng, moving, f)
                guides = [w.path[int(len(w.path) * u(0.3, 0.6)):] for w in wires
                          if rng.random() < 0.4]
                root, heading, branches = sim_anatomy.coronary_tree(rng, size, heart, f, guides)
                sim_anatomy.draw_vessels(vessel, arrival, branches)
                sim_anatomy.add_catheter(rng, moving, vessel, arrival, root, heading, f)
            bone, cortex = np.zeros_like(moving), np.zeros_like(moving)
            if not abdominal and rng.random() < 0.6:
                sim_anatomy.add_ribs(rng, bone, cortex, f)
            if rng.random() < 0.8 or abdominal:
                sim_anatomy.add_spine(rng, bone, cortex, f, abdominal)
            moving += sim_anatomy.blur(bone, 2.2 * f) + sim_anatomy.blur(cortex, 1.1 * f)
        metal = np.zeros_like(moving)
        if not abdominal and rng.random() < cfg.distractor_prob * 0.6:
            sim_anatomy.add_sternal_wires(rng, metal, f)
        if rng.random() < cfg.distractor_prob:
            sim_anatomy.add_ecg_leads(rng, metal, f)
        if rng.random() < cfg.distractor_prob * 0.6:
            sim_anatomy.add_clips(rng, metal, f)
        if metal.any():
            moving += sim_anatomy.blur(metal, 0.7)

        # Lumen profile: soften the flat-top drawing; spread arrival to the blurred fringe.
        vessel = cv2.GaussianBlur(vessel, (0, 0), 0.8 * max(f, 0.5))
        if abdominal:
            vessel = cv2.GaussianBlur(vessel, (0, 0), 4.0 * f)
        arrival = np.where(arrival >= sim_anatomy.NO_VESSEL, 0.0, arrival).astype(np.float32)
        contrast = rng.random() < cfg.contrast_prob and bool(vessel.any())
        contrast_mu = (u(0.015, 0.03) if abdominal else u(0.06, 0.14)) if contrast else 0.0
        stack = (np.ascontiguousarray(np.dstack([moving, vessel, vessel * arrival]))
                 if contrast_mu else moving)

        fixed = sim_anatomy.collimator(rng, size, f)
        grid = np.linspace(-1.0, 1.0, 17, dtype=np.float32)
        c = rng.normal(0, 0.2, 2)
        r2 = (grid[None, :] - c[0]) ** 2 + (grid[:, None] - c[1]) ** 2
        vignette = cv2.resize(1.0 - u(0.1, 0.35) * np.minimum(r2, 2.0), (size, size),
                              interpolation=cv2.INTER_LINEAR)
        body = np.median((moving[::4, ::4]))
        # A real background already carries its own quantum noise: add less on top.
        dose = u(*cfg.photons) * (4.0 if use_bg else 1.0)
        gain = (dose * np.exp(body) * vignette).astype(np.float32)

        resp_dir = np.array([rng.normal(0, 0.35), 1.0])
        motion = _Motion(cfg.fps, resp_amp * resp_dir / np.linalg.norm(resp_dir),
                         u(*cfg.resp_rate_hz), u(0, 2 * np.pi), card_amp,
                         u(*cfg.heart_rate_hz), u(0, 1), u(-0.4, 0.4), heart)
        return _Scene(
            size=size, stack=stack, fixed=fixed, gain=gain, wires=wires, motion=motion,
            contrast_mu=contrast_mu, front0=u(-0.5, 2.0) * size,
            front_speed=u(0.02, 0.12) * size, blur=u(*cfg.blur_px) * max(f, 0.5),
            read_noise=u(*cfg.read_noise),
            sharpen=u(0.0, 1.0) if rng.random() < 0.5 else 0.0,
            lut=_display_lut(u(0.7, 1.4), u(0.03, 0.2), u(0.6, 0.95)))

    def _wires(self, kind: str, f: float, margin: float) -> list[_Wire]:
        cfg, rng, size = self.config, self._rng, self.config.size
        u = rng.uniform
        outside = 20.0 * f
        stiff = kind == "stiff"
        n_out = int(outside / sim_wires.STEP)

        def path(length: float, start=None, heading=None) -> np.ndarray:
            curv = (0.0015 if stiff else u(0.006, 0.014)) / f
            bend = 0.0 if rng.random() < 0.3 else rng.choice([-1, 1]) * u(0.3, 1.2)
            # EVAR wires come up from the femoral access (bottom) or down the aorta (top).
            side = int(rng.choice([2, 3])) if stiff and rng.random() < 0.8 else None
            return sim_wires.wire_path(rng, size, length, curv, (80 if stiff else 25) * f,
                                       margin, outside if start is None else 0.0, bend,
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
                shared = p1[: i + 1] + normal * rng.choice([-1, 1]) * u(2.0, 4.0) * f
                d = shared[-1] - shared[-2]
                h = np.arctan2(d[1], d[0]) + rng.choice([-1, 1]) * u(0.3, 0.9)
                rest = path(u(0.2, 0.5) * size, start=shared[-1], heading=h)
                paths.append(np.vstack([shared, rest[1:]]))
            else:
                paths.append(path(u(lo, hi) * size))
        wires = []
        r_range = cfg.stiff_radius_px if stiff else cfg.wire_radius_px
        for wid, p in enumerate(paths):
            full = (len(p) - 1) * sim_wires.STEP
            s_lo = outside + (0.6 if stiff else 0.4) * (full - outside)
            moving = rng.random() < 0.7
            wires.append(_Wire(
                id=wid, path=p, radius=max(u(*r_range) * f, 0.5),
                mu=u(*cfg.wire_mu) * (0.7 if stiff else 1.0), tip_factor=u(*cfg.tip_factor),
                tip_len=u(*cfg.tip_length_px) * f, s_lo=s_lo, s0=u(s_lo, full),
                speed=u(*cfg.advance_px) * f if moving else 0.0,
                wobble=u(0.0, 3.0) * f, wobble_period=u(6.0, 20.0)))
        return wires

    # ---------------------------------------------------------------------------- render
    def _render(self, sc: _Scene, t: int) -> SimFrame:
        rng, size = self._rng, sc.size
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
            # Truth is what an annotator can see: the wire run that ends nearest the tip
            # outside the collimator shutters (behind them the display is black).
            line = _visible_run(sim_wires.resample(pts, TRUTH_STEP), sc.fixed)
            sim_wires.render_curve(None, mask, line, w.radius, 1.0)
            truths.append(WireTruth(w.id, line, line[-1].copy(), float(w.radius)))

        if sc.window is None:  # automatic brightness/contrast from the noise-free signal
            m = size // 5
            lo, hi = np.percentile(att[m:-m:2, m:-m:2], (1.0, 99.0))
            pad = (hi - lo) * rng.uniform(0.05, 0.6, 2)
            sc.window = (float(lo - pad[0]), float(hi + pad[1]))
        photons = sc.gain * cv2.exp(-att)
        photons += cv2.sqrt(np.maximum(photons, 0.0)) * _noise(rng, size)
        photons = cv2.GaussianBlur(photons, (0, 0), sc.blur)
        photons += sc.read_noise * _noise(rng, size)
        observed = -cv2.log(np.maximum(photons, 0.5) / sc.gain)
        lo, hi = sc.window
        img = (hi - observed) * (1.0 / (hi - lo))
        if sc.sharpen:
            img = img + sc.sharpen * (img - cv2.GaussianBlur(img, (0, 0), 3.0 * size / 512))
        levels = cv2.convertScaleAbs(np.maximum(img, 0.0), alpha=255.0)  # saturates at 255
        img = cv2.LUT(levels, sc.lut).astype(np.float32) * (1.0 / 255.0)
        return SimFrame(image=img, mask=mask, wires=truths, open_field=sc.fixed <= COLLIMATED)
