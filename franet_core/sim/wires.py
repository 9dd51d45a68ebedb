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

"""Thin radio-opaque curves for the simulator: random smooth paths and sub-pixel rendering.

Used for guidewires (the foreground) and for wire-like distractors (ECG leads), so that the
network cannot tell them apart by rendering artefacts, only by context and shape.

Conventions: pixels, x right, y down, origin at the centre of the top-left pixel; paths are
(K, 2) float64 arrays of x, y sampled every :data:`STEP` px of arc length.
Attenuation is in units of the line integral Σμ·t (dimensionless), so a value of 0.1 dims
the transmitted intensity by 1 − e^−0.1 ≈ 9.5 %.
"""
from __future__ import annotations

import cv2
import numpy as np
from scipy.spatial import cKDTree

#: Arc-length spacing of generated paths, px.
STEP = 0.5
#: Spacing used for distance queries while rendering, px (error ≤ STEP_FINE / 2 · tiny).
STEP_FINE = 0.25
#: Smallest mask radius, px: a point anywhere inside a pixel is at most √0.5 ≈ 0.707 px from
#: its centre, so with radius ≥ 0.75 every centerline point's own pixel is in the mask.
MIN_MASK_RADIUS = 0.75


def loguniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    """A draw uniform in log between ``lo`` and ``hi`` (both > 0)."""
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def smooth_noise_1d(rng: np.random.Generator, n: int, corr: float) -> np.ndarray:
    """Zero-mean, unit-std 1-D Gaussian process of ``n`` samples, correlation length ``corr``."""
    white = rng.standard_normal(n + 1)
    k = max(1, int(3 * corr))
    x = np.arange(-k, k + 1)
    kernel = np.exp(-0.5 * (x / max(corr, 1e-3)) ** 2)
    out = np.convolve(white, kernel / kernel.sum(), mode="same")[:n]
    return out / (out.std() + 1e-9)


def curve_from_heading(start: np.ndarray, heading: np.ndarray) -> np.ndarray:
    """Integrate unit steps of :data:`STEP` px along ``heading`` (rad) from ``start`` (x, y)."""
    steps = STEP * np.stack([np.cos(heading), np.sin(heading)], axis=1)
    return start[None, :] + np.concatenate([np.zeros((1, 2)), np.cumsum(steps, axis=0)])


def random_curve(rng: np.random.Generator, start: np.ndarray, heading0: float, length: float,
                 curvature_std: float, corr_px: float) -> np.ndarray:
    """Smooth random curve: heading is a random walk whose curvature (1/px) is correlated."""
    n = max(2, int(length / STEP))
    kappa = curvature_std * smooth_noise_1d(rng, n, corr_px / STEP)
    heading = heading0 + np.cumsum(kappa * STEP)
    return curve_from_heading(np.asarray(start, float), heading)


def entry_point(rng: np.random.Generator, size: int, outside: float,
                side: int | None = None) -> tuple[np.ndarray, float]:
    """A point ``outside`` px beyond a random image border and an inward heading (rad)."""
    side = int(rng.integers(4)) if side is None else side
    u = rng.uniform(0.15, 0.85) * (size - 1)
    jitter = rng.normal(0.0, 0.35)
    if side == 0:      # left
        return np.array([-outside, u]), 0.0 + jitter
    if side == 1:      # right
        return np.array([size - 1 + outside, u]), np.pi + jitter
    if side == 2:      # top
        return np.array([u, -outside]), 0.5 * np.pi + jitter
    return np.array([u, size - 1 + outside]), -0.5 * np.pi + jitter


def inside(points: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Boolean per point: both coordinates within [lo, hi]."""
    return np.all((points >= lo) & (points <= hi), axis=1)


def wire_path(rng: np.random.Generator, size: int, length: float, curvature_std: float,
              corr_px: float, margin: float, outside: float, tip_bend: float,
              start: np.ndarray | None = None, heading0: float | None = None,
              tries: int = 40, side: int | None = None, bend_px: float = 12.0) -> np.ndarray:
    """A wire path entering the field from a border and staying inside the image.

    The distal 60 % (where the tip may move, see ``Simulator``) stays ≥ ``margin`` px inside
    the border. The first ``outside`` px lie beyond the border, so the proximal end stays on
    the border while the anatomy moves. A curve that breaks the rule is cut before the break
    when ≥ 60 % of ``length`` is left, else redrawn. ``side`` (0 left, 1 right, 2 top,
    3 bottom) fixes the entry border; ``start``/``heading0`` continue an existing path.
    ``tip_bend`` (rad) is an extra bend spread over the distal ``bend_px`` px (shaped
    J/angled tips). Falls back to shorter, then straighter curves; the last resort is a straight
    path to the image centre, which always fits.
    """
    centre = np.array([(size - 1) / 2.0] * 2)
    n_out = int(outside / STEP)
    for attempt in range(tries):
        if start is None:
            p0, h0 = entry_point(rng, size, outside, side)
        else:
            p0, h0 = np.asarray(start, float), float(heading0)
        scale = 1.0 - 0.6 * attempt / tries
        pts = random_curve(rng, p0, h0, outside + length * scale, curvature_std * scale, corr_px)
        if tip_bend:
            n_bend = min(len(pts) - 2, max(2, int(bend_px / STEP)))
            heading = np.arctan2(*np.diff(pts, axis=0)[:, ::-1].T)
            heading[-n_bend:] += np.linspace(0.0, tip_bend, n_bend)
            pts = curve_from_heading(pts[0], heading)
        keep = _valid_length(pts, n_out, size, margin)
        if (keep - n_out) * STEP >= 0.6 * length:
            return pts[:keep]
    p0 = entry_point(rng, size, outside)[0] if start is None else np.asarray(start, float)
    direction = centre - p0
    h = np.arctan2(direction[1], direction[0])
    n = max(2, int(np.linalg.norm(direction) / STEP))
    return curve_from_heading(p0, np.full(n, h))


def _valid_length(pts: np.ndarray, n_out: int, size: int, margin: float) -> int:
    """Longest prefix (in points) whose visible part is in the image and whose distal 60 %
    is ≥ ``margin`` px inside it."""
    k = len(pts)
    while k > n_out + 2:
        i_lo = n_out + int(0.4 * (k - n_out))
        bad = np.concatenate([~inside(pts[n_out + 1:i_lo], 0.0, size - 1.0),
                              ~inside(pts[i_lo:k], margin, size - 1.0 - margin)])
        if not bad.any():
            return k
        k = n_out + 1 + int(np.argmax(bad))
    return k


def resample(points: np.ndarray, step: float) -> np.ndarray:
    """Resample a polyline at uniform arc length ``step`` px; the last point is kept exactly."""
    if len(points) < 2:
        return points.copy()
    seg = np.linalg.norm(np.diff(points, axis=0), axis=1)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    if s[-1] <= 0:
        return points[-1:].copy()
    t = np.append(np.arange(0.0, s[-1], step), s[-1])
    if len(t) > 1 and t[-1] - t[-2] < 1e-6:
        t = t[:-1]
    return np.stack([np.interp(t, s, points[:, 0]), np.interp(t, s, points[:, 1])], axis=1)


def arc_length(points: np.ndarray) -> np.ndarray:
    """Cumulative arc length (px) at each polyline vertex, starting at 0."""
    seg = np.linalg.norm(np.diff(points, axis=0), axis=1)
    return np.concatenate([[0.0], np.cumsum(seg)])


def _chord_pixel_average(d: np.ndarray, r: float) -> np.ndarray:
    """Pixel-averaged chord length (px) through a cylinder of radius ``r`` at distance ``d``.

    Exact box-filter anti-aliasing across the wire: ∫ 2√(r² − x²) dx over [d − ½, d + ½],
    using the antiderivative x√(r² − x²) + r²·asin(x / r).
    """
    def prim(x: np.ndarray) -> np.ndarray:
        x = np.clip(x, -r, r)
        return x * np.sqrt(np.maximum(r * r - x * x, 0.0)) + r * r * np.arcsin(x / r)
    return prim(d + 0.5) - prim(d - 0.5)


def peak_chord(radius: float) -> float:
    """Pixel-averaged chord (px) through a wire of ``radius`` px at its centre pixel."""
    return float(_chord_pixel_average(np.zeros(1), radius)[0])


def render_curve(att: np.ndarray | None, mask: np.ndarray | None, points: np.ndarray,
                 radius: float, mu: np.ndarray | float) -> None:
    """Add one cylinder-profile curve into ``att`` (in place) and/or mark ``mask``.

    points: (K, 2) x, y px, any spacing. mu: attenuation per px of chord, a scalar or one
    value per point (e.g. a denser tip). Work is confined to the curve's bounding box and a
    band around it; distances are to a :data:`STEP_FINE` resampling of the polyline.
    The mask marks pixel centres within ``max(radius, MIN_MASK_RADIUS)`` of the curve.
    """
    h, w = (att if att is not None else mask).shape
    if len(points) == 0:
        return
    mu_arr = np.broadcast_to(np.asarray(mu, float), (len(points),))
    s = arc_length(points)
    fine = resample(points, STEP_FINE) if len(points) > 1 else points
    mu_fine = np.interp(arc_length(fine), s, mu_arr) if len(points) > 1 else mu_arr
    r_mask = max(radius, MIN_MASK_RADIUS)
    pad = int(np.ceil(max(radius + 0.5, r_mask) + 0.75))  # chord > 0 only for d < r + ½
    x0 = max(int(np.floor(fine[:, 0].min())) - pad, 0)
    y0 = max(int(np.floor(fine[:, 1].min())) - pad, 0)
    x1 = min(int(np.ceil(fine[:, 0].max())) + pad + 1, w)
    y1 = min(int(np.ceil(fine[:, 1].max())) + pad + 1, h)
    if x1 <= x0 or y1 <= y0:
        return
    band = np.zeros((y1 - y0, x1 - x0), np.uint8)
    local = np.round((fine - [x0, y0]) * 16).astype(np.int32).reshape(-1, 1, 2)
    cv2.polylines(band, [local], False, 1, thickness=2 * pad + 1, shift=4)
    ys, xs = np.nonzero(band)
    if len(ys) == 0:
        return
    dist, idx = cKDTree(fine).query(np.stack([xs + x0, ys + y0], axis=1).astype(float))
    chord = _chord_pixel_average(dist, radius)
    keep = chord > 0
    if att is not None:
        att[ys[keep] + y0, xs[keep] + x0] += (chord[keep] * mu_fine[idx[keep]]).astype(att.dtype)
    if mask is not None:
        on = dist <= r_mask
        mask[ys[on] + y0, xs[on] + x0] = 1
