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

"""Radio-opaque objects that are not guidewires, shaped as they really are.

Each function adds its object to ``metal`` (attenuation, float32 (H, W), added to the
moving anatomy) and marks where it is in ``hard`` (uint8 (H, W), 1 = distractor, a few px
wider than the object) so training can centre crops on hard negatives. None of them ever
touches the wire mask.

Thin, wire-like objects get their contrast in units of ``unit``: the attenuation whose
displayed contrast equals the displayed noise (``Detector.att_per_cnr``), so an ECG lead can
be as faint or as conspicuous as a guidewire, relative to the noise of its C-arm. Massive
metal (sternal wires, clips, valve frames) is given in absolute attenuation (steel and
platinum saturate the window on every system).

Sizes are for a 512 px field (0.4 mm/px) and scale with ``f = size / 512``. Coordinates:
pixels, x right, y down, origin at the centre of the top-left pixel.
"""
from __future__ import annotations

import cv2
import numpy as np

from franet_core.sim import wires

__all__ = ["add_clips", "add_ecg_leads", "add_pacing_lead", "add_sternal_wires", "add_stent",
           "add_valve", "mark"]

#: Extra width (px, each side) of a distractor's hard-negative mark.
MARK_MARGIN = 3


def _poly(points: np.ndarray) -> list[np.ndarray]:
    """Polyline in cv2's fixed-point format (4 fractional bits)."""
    return [np.round(points * 16).astype(np.int32).reshape(-1, 1, 2)]


def mark(hard: np.ndarray, points: np.ndarray, width: float) -> None:
    """Mark a polyline of ``width`` px (plus :data:`MARK_MARGIN`) as a hard negative."""
    cv2.polylines(hard, _poly(points), False, 1, max(1, int(round(width))) + 2 * MARK_MARGIN,
                  shift=4)


def add_ecg_leads(rng: np.random.Generator, metal: np.ndarray, hard: np.ndarray, f: float,
                  unit: float) -> None:
    """1-3 ECG lead wires: a thin conductor in a faint insulating sleeve, lying on the skin
    in long gentle curves, each ending at an electrode (round pad with a bright snap) or
    leaving the field."""
    size = metal.shape[0]
    for _ in range(int(rng.integers(1, 4))):
        length = rng.uniform(0.5, 1.6) * size
        pts = wires.wire_path(rng, size, length, rng.uniform(0.002, 0.008) / f, 60 * f,
                              margin=-0.5 * size, outside=20 * f, tip_bend=0.0, tries=1)
        radius = rng.uniform(0.5, 1.3) * max(f, 0.5)
        cnr = wires.loguniform(rng, 2.0, 15.0)
        wires.render_curve(metal, None, pts, radius, cnr * unit / wires.peak_chord(radius))
        sleeve = rng.uniform(2.5, 4.5) * max(f, 0.5)
        wires.render_curve(metal, None, pts, sleeve, rng.uniform(0.2, 0.8) * unit / sleeve)
        mark(hard, pts, 2 * sleeve)
        end = pts[-1]
        if wires.inside(end[None], 0, size - 1)[0]:
            c = (int(end[0]), int(end[1]))
            r_pad = int(rng.uniform(18, 28) * f) + 1
            cv2.circle(metal, c, r_pad, float(rng.uniform(0.5, 1.5) * unit), -1, cv2.LINE_AA)
            cv2.circle(metal, c, r_pad, float(rng.uniform(1.0, 3.0) * unit), max(1, int(2 * f)),
                       cv2.LINE_AA)
            cv2.circle(metal, c, int(rng.uniform(3, 5) * f) + 1, float(rng.uniform(0.6, 1.2)),
                       -1, cv2.LINE_AA)
            cv2.circle(hard, c, r_pad + MARK_MARGIN, 1, -1)


def add_pacing_lead(rng: np.random.Generator, metal: np.ndarray, hard: np.ndarray, f: float,
                    unit: float) -> None:
    """A pacing or ICD lead: enters from the top (subclavian access), thicker than a
    guidewire, its coiled conductor seen as a fine periodic texture, often a loop in the
    atrium, an ICD shock coil (denser, wider) near the distal end, a bright tip electrode."""
    size = metal.shape[0]
    pts = wires.wire_path(rng, size, rng.uniform(0.6, 1.2) * size,
                          rng.uniform(0.006, 0.016) / f, 35 * f, margin=0.04 * size,
                          outside=20 * f, tip_bend=0.0, side=2)
    radius = rng.uniform(1.4, 2.8) * max(f, 0.5)
    s = wires.arc_length(pts)
    period = rng.uniform(1.2, 2.5) * max(f, 0.5)
    cnr = wires.loguniform(rng, 3.0, 20.0)
    mu = cnr * unit / wires.peak_chord(radius) * (1.0 + 0.35 * np.sin(2 * np.pi * s / period))
    from_tip = s[-1] - s
    if rng.random() < 0.5:  # ICD: a shock coil 25-60 px long, 5-15 px from the tip
        start = rng.uniform(5, 15) * f
        coil = (from_tip > start) & (from_tip < start + rng.uniform(25, 60) * f)
        mu = np.where(coil, mu * rng.uniform(1.8, 2.8), mu)
    mu = np.where(from_tip < rng.uniform(3, 7) * f, mu * rng.uniform(2.5, 4.0), mu)
    wires.render_curve(metal, None, pts, radius, mu)
    mark(hard, pts, 2 * radius)


def add_sternal_wires(rng: np.random.Generator, metal: np.ndarray, hard: np.ndarray,
                      f: float) -> None:
    """Sternotomy cerclage wires: 3-6 small, very opaque twisted loops down the midline."""
    size = metal.shape[0]
    x = rng.uniform(0.3, 0.7) * size
    y = rng.uniform(0.05, 0.3) * size
    for _ in range(int(rng.integers(3, 7))):
        ax, ay = int(rng.uniform(12, 22) * f) + 1, int(rng.uniform(3, 7) * f) + 1
        ang = rng.uniform(-20, 20)
        thick = max(1, int(2 * f))
        cv2.ellipse(metal, (int(x), int(y)), (ax, ay), ang, 0, 360, float(rng.uniform(0.8, 1.5)),
                    thick, cv2.LINE_AA)
        twist = (int(x + ax * rng.choice([-1, 1])), int(y))
        cv2.circle(metal, twist, max(1, int(3 * f)), float(rng.uniform(1.0, 1.8)), -1,
                   cv2.LINE_AA)
        cv2.ellipse(hard, (int(x), int(y)), (ax, ay), ang, 0, 360, 1, thick + 2 * MARK_MARGIN)
        x += rng.normal(0, 4 * f)
        y += rng.uniform(35, 60) * f


def add_clips(rng: np.random.Generator, metal: np.ndarray, hard: np.ndarray, f: float) -> None:
    """Surgical clips and markers: 1-5 short, very opaque bars, some bent into a V."""
    size = metal.shape[0]
    for _ in range(int(rng.integers(1, 6))):
        c = np.array([rng.uniform(0.1, 0.9), rng.uniform(0.1, 0.9)]) * size
        length, angle = rng.uniform(6, 14) * f + 1, rng.uniform(0, np.pi)
        bend = rng.uniform(0.0, 0.8) if rng.random() < 0.5 else 0.0
        arms = []
        for sign in (-1, 1):
            a = angle + sign * bend / 2
            arms.append(c + sign * 0.5 * length * np.array([np.cos(a), np.sin(a)]))
        pts = np.stack([arms[0], c, arms[1]])
        thick = max(1, int(round(rng.uniform(2, 4) * f)))
        cv2.polylines(metal, _poly(pts), False, float(rng.uniform(0.6, 1.2)), thick,
                      cv2.LINE_AA, shift=4)
        mark(hard, pts, thick)


def add_stent(rng: np.random.Generator, metal: np.ndarray, hard: np.ndarray, f: float,
              unit: float, along: np.ndarray | None = None) -> None:
    """A deployed stent: a short tube (20-60 px, 6-12 px across) of thin zig-zag struts
    between two faint rails, placed on ``along`` (a path, e.g. a wire's) or anywhere."""
    size = metal.shape[0]
    length = rng.uniform(20, 60) * f
    if along is not None and len(along) > 4:
        i = int(rng.integers(len(along) // 3, len(along)))
        axis = wires.resample(along[max(0, i - int(length / wires.STEP)):i + 1], 1.0)
    else:
        start = rng.uniform(0.15, 0.85, 2) * size
        axis = wires.resample(wires.random_curve(rng, start, rng.uniform(0, 2 * np.pi), length,
                                                 0.01 / f, 20 * f), 1.0)
    if len(axis) < 3:
        return
    tangent = np.gradient(axis, axis=0)
    normal = np.stack([-tangent[:, 1], tangent[:, 0]], axis=1)
    normal /= np.linalg.norm(normal, axis=1, keepdims=True) + 1e-9
    half = rng.uniform(3, 6) * f
    strut = float(rng.uniform(1.0, 3.0) * unit)
    period = max(2, int(rng.uniform(3, 6) * f))
    side = np.where((np.arange(len(axis)) // period) % 2 == 0, 1.0, -1.0)[:, None]
    zigzag = axis + normal * half * side
    layer = np.zeros_like(metal)
    cv2.polylines(layer, _poly(zigzag), False, strut, 1, cv2.LINE_AA, shift=4)
    for sign in (-1, 1):
        cv2.polylines(layer, _poly(axis + sign * half * normal), False, 0.6 * strut, 1,
                      cv2.LINE_AA, shift=4)
    metal += cv2.GaussianBlur(layer, (0, 0), 0.5)
    mark(hard, axis, 2 * half)


def add_valve(rng: np.random.Generator, metal: np.ndarray, hard: np.ndarray, f: float,
              heart: tuple[float, float, float]) -> None:
    """A prosthetic valve at the heart's base: a sewing ring seen as an ellipse, and for a
    transcatheter valve a diamond-celled frame (projected cylinder) above it."""
    size = metal.shape[0]
    hx, hy, hr = heart
    c = np.clip(np.array([hx + rng.normal(0, 0.3) * hr, hy - rng.uniform(0.2, 0.6) * hr]),
                0.15 * size, 0.85 * size)
    ax, ay = rng.uniform(28, 50) * f, rng.uniform(6, 30) * f
    ang = rng.uniform(-45, 45)
    centre = (int(c[0]), int(c[1]))
    axes = (int(ax), max(1, int(ay)))
    cv2.ellipse(metal, centre, axes, ang, 0, 360, float(rng.uniform(0.6, 1.2)),
                max(2, int(rng.uniform(3, 6) * f)), cv2.LINE_AA)
    cv2.ellipse(hard, centre, axes, ang, 0, 360, 1, -1)
    if rng.random() < 0.6:  # transcatheter frame: diamond cells over a height of 0.8-1.6 ax
        height = rng.uniform(0.8, 1.6) * ax
        rot = np.deg2rad(ang)
        across = np.array([np.cos(rot), np.sin(rot)])
        up = np.array([np.sin(rot), -np.cos(rot)])
        cells = int(rng.integers(6, 12))
        rows = int(rng.integers(2, 4))
        mu = float(rng.uniform(0.3, 0.7))
        for r in range(rows + 1):
            xs = np.linspace(-ax, ax, 2 * cells + 1)
            zig = np.where(np.arange(len(xs)) % 2 == 0, 0.0, height / rows / 2)
            pts = c + xs[:, None] * across + (r * height / rows + zig)[:, None] * up
            cv2.polylines(metal, _poly(pts), False, mu, max(1, int(1.5 * f)), cv2.LINE_AA,
                          shift=4)
            mark(hard, pts, 2)
