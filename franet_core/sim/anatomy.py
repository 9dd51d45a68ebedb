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

"""Static scene layers of the fluoroscopy simulator: anatomy, vessels, catheter, collimator.

Everything is built once per sequence in the *attenuation* domain (line integral Σμ·t,
dimensionless; 1.0 dims the transmitted intensity to e^−1 ≈ 37 %) and later warped per frame
by the motion field. Pixel lengths are given for a 512 px field and scaled by ``size / 512``.

Coordinates: pixels, x right, y down, origin at the centre of the top-left pixel.
"""
from __future__ import annotations

import cv2
import numpy as np

from franet_core.sim import wires as sim_wires

#: Arrival distance (px) used where there is no vessel: contrast never reaches it.
NO_VESSEL = 1e6


def smooth_field(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Unit-std random field with about ``cells`` correlation cells across the image."""
    low = rng.standard_normal((cells + 1, cells + 1)).astype(np.float32)
    field = cv2.resize(low, (size, size), interpolation=cv2.INTER_CUBIC)
    return field / (field.std() + 1e-6)


def blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur with standard deviation ``sigma`` px (at least 0.3)."""
    return cv2.GaussianBlur(img, (0, 0), max(sigma, 0.3))


def _poly(points: np.ndarray) -> list[np.ndarray]:
    """Polyline in cv2's fixed-point format (4 fractional bits)."""
    return [np.round(points * 16).astype(np.int32).reshape(-1, 1, 2)]


def soft_tissue(rng: np.random.Generator, size: int) -> np.ndarray:
    """Body background: thick, smoothly varying tissue plus faint fine texture (lung, fat).

    Built on a 128 px grid (the finest texture has ~13 px cells at 512) and resized once.
    """
    n = min(size, 128)
    low = (rng.uniform(1.6, 2.6) + rng.uniform(0.08, 0.2) * smooth_field(rng, n, 3)
           + rng.uniform(0.03, 0.07) * smooth_field(rng, n, 10)
           + rng.uniform(0.01, 0.03) * smooth_field(rng, n, 40))
    return cv2.resize(low, (size, size), interpolation=cv2.INTER_LINEAR)


def add_heart_and_diaphragm(rng: np.random.Generator, att: np.ndarray,
                            f: float) -> tuple[float, float, float]:
    """Heart silhouette (blurred ellipse) and a diaphragm dome; returns the heart (x, y, r)."""
    size = att.shape[0]
    q = 4 if size >= 128 else 1
    n = size // q
    cx, cy = rng.uniform(0.35, 0.7) * size, rng.uniform(0.4, 0.7) * size
    ax, ay = rng.uniform(0.28, 0.45) * size, rng.uniform(0.22, 0.35) * size
    layer = np.zeros((n, n), np.float32)
    cv2.ellipse(layer, (int(cx / q), int(cy / q)), (int(ax / q), int(ay / q)),
                rng.uniform(-40, 40), 0, 360, float(rng.uniform(0.1, 0.3)), -1, cv2.LINE_AA)
    if rng.random() < 0.7:
        x = np.arange(n, dtype=np.float32) * q
        top = rng.uniform(0.65, 1.0) * size + rng.uniform(0.1, 0.3) * size * (
            ((x - rng.uniform(0, size)) / size) ** 2)
        rows = np.arange(n, dtype=np.float32)[:, None] * q
        layer += rng.uniform(0.3, 0.6) * (rows > top[None, :]).astype(np.float32)
    layer = blur(layer, rng.uniform(6, 14) * f / q)
    att += cv2.resize(layer, (size, size), interpolation=cv2.INTER_LINEAR)
    return float(cx), float(cy), float(max(ax, ay))


def add_spine(rng: np.random.Generator, layer: np.ndarray, rim: np.ndarray, f: float,
              abdominal: bool) -> None:
    """Vertebral column: bodies into ``layer``, cortical rims and pedicles into ``rim``.

    The caller blurs ``layer`` (~2 px) and ``rim`` (~1 px) once for all bony structures.
    """
    size = layer.shape[0]
    width = rng.uniform(0.16, 0.24) * size if abdominal else rng.uniform(0.1, 0.16) * size
    cx = rng.uniform(0.4, 0.6) * size if abdominal else rng.uniform(0.1, 0.9) * size
    tilt = rng.uniform(-0.15, 0.15)
    pitch = width * rng.uniform(0.8, 1.0)
    body_mu, rim_mu = rng.uniform(0.08, 0.2), rng.uniform(0.03, 0.1)
    y = -rng.uniform(0, pitch)
    while y < size + pitch:
        x = cx + tilt * (y - size / 2)
        rect = ((x, y), (width, pitch * 0.78), np.degrees(tilt))
        box = np.round(cv2.boxPoints(rect) * 16).astype(np.int32)
        cv2.fillPoly(layer, [box], body_mu, shift=4)
        cv2.polylines(rim, [box], True, rim_mu, max(1, int(3 * f)), shift=4)
        for side in (-1, 1):
            centre = (int(x + side * width * 0.32), int(y - pitch * 0.1))
            axes = (max(1, int(width * 0.1)), max(1, int(pitch * 0.16)))
            cv2.ellipse(rim, centre, axes, 0, 0, 360, rim_mu * 0.8, max(1, int(2 * f)))
        y += pitch


def add_ribs(rng: np.random.Generator, layer: np.ndarray, edges: np.ndarray, f: float) -> None:
    """Curved rib bands into ``layer`` with cortical edges into ``edges`` (as add_spine)."""
    size = layer.shape[0]
    side = rng.choice([-1.0, 1.0])
    x0 = rng.uniform(0.0, 0.5) * size if side > 0 else rng.uniform(0.5, 1.0) * size
    gap = rng.uniform(0.09, 0.14) * size
    thick = max(3, int(rng.uniform(12, 20) * f))
    mu = rng.uniform(0.03, 0.09)
    for k in range(int(size / gap) + 2):
        y0 = -0.2 * size + k * gap
        xs = np.linspace(-0.1 * size, 1.1 * size, 40)
        ys = y0 + rng.uniform(0.25, 0.5) * size * ((xs - x0) / size) ** 2 * side * 1.0 \
            + 0.15 * size * (xs / size)
        pts = np.stack([xs, ys], axis=1)
        cv2.polylines(layer, _poly(pts), False, mu, thick, cv2.LINE_AA, shift=4)
        for off in (-thick / 2, thick / 2):
            cv2.polylines(edges, _poly(pts + [0, off]), False, mu * 0.7, max(1, int(2 * f)),
                          cv2.LINE_AA, shift=4)


def _branch_tree(rng: np.random.Generator, start: np.ndarray, heading: float, diameter: float,
                 length: float, arrival: float, f: float, depth: int,
                 out: list[tuple[np.ndarray, float, float]]) -> None:
    """Recursively grow a vessel tree; appends (points, diameter px, arrival px at start)."""
    pts = sim_wires.random_curve(rng, start, heading, length, rng.uniform(0.002, 0.007) / f,
                                 30 * f)
    out.append((pts, diameter, arrival))
    if depth >= 4 or diameter < 1.6 * f:
        return
    for _ in range(int(rng.integers(1, 4))):
        i = int(rng.uniform(0.2, 0.9) * (len(pts) - 2))
        d = pts[i + 1] - pts[i]
        h = np.arctan2(d[1], d[0]) + rng.choice([-1, 1]) * rng.uniform(0.35, 1.1)
        _branch_tree(rng, pts[i], h, diameter * rng.uniform(0.55, 0.8),
                     length * rng.uniform(0.5, 0.8), arrival + i * sim_wires.STEP, f, depth + 1,
                     out)


def draw_vessels(vessel: np.ndarray, arrival: np.ndarray,
                 branches: list[tuple[np.ndarray, float, float]], chunk: int = 32) -> None:
    """Draw branches as flat-top lumens (value = diameter) with their arrival distance.

    Thinner branches are drawn first, so trunks overwrite them where they overlap (a trunk
    is both wider and reached earlier by the contrast). Arrival varies slowly along a vessel,
    so it is drawn in chunks of ``chunk`` points on a quarter-resolution grid, widened by
    2 cells and resized up into ``arrival``.
    """
    size = vessel.shape[0]
    q = 4 if size >= 128 else 1
    low = np.full((size // q, size // q), NO_VESSEL, np.float32)
    for pts, diameter, arr0 in sorted(branches, key=lambda b: b[1]):
        thick = max(1, int(round(diameter)))
        cv2.polylines(vessel, _poly(pts), False, float(diameter), thick, shift=4)
        for j in range(0, len(pts) - 1, chunk):
            cv2.polylines(low, _poly(pts[j:j + chunk + 1] / q), False,
                          float(arr0 + j * sim_wires.STEP), int(thick / q) + 2, shift=4)
    # Normalised bilinear upsampling (interpolate value·weight and weight) keeps the
    # contrast front smooth without mixing in the NO_VESSEL sentinel.
    weight = (low < NO_VESSEL).astype(np.float32)
    up_w = cv2.resize(weight, (size, size), interpolation=cv2.INTER_LINEAR)
    up_v = cv2.resize(low * weight, (size, size), interpolation=cv2.INTER_LINEAR)
    up = np.where(up_w > 1e-3, up_v / np.maximum(up_w, 1e-3), NO_VESSEL).astype(np.float32)
    arrival[...] = np.minimum(arrival, up)


def coronary_tree(rng: np.random.Generator, size: int, heart: tuple[float, float, float],
                  f: float, guides: list[np.ndarray], extra_trees: int = 0
                  ) -> tuple[np.ndarray, float, list]:
    """Coronary tree rooted at an ostium on the upper heart border, plus optional branches
    that follow the guidewire paths (the wire usually sits in a vessel) and ``extra_trees``
    further trees from the heart border (a dense, overlapping vessel picture).

    Returns (root (x, y), root heading rad, branches).
    """
    hx, hy, hr = heart
    branches: list[tuple[np.ndarray, float, float]] = []
    roots = []
    for k in range(1 + extra_trees):
        angle = rng.uniform(-np.pi, 0) if k == 0 else rng.uniform(-np.pi, np.pi)
        root = np.array([hx + 0.6 * hr * np.cos(angle), hy + 0.6 * hr * np.sin(angle)])
        root = np.clip(root, 0.15 * size, 0.85 * size)
        heading = np.arctan2(hy - root[1], hx - root[0]) + rng.normal(0, 0.6)
        _branch_tree(rng, root, heading, rng.uniform(4.0, 6.5) * f,
                     rng.uniform(0.5, 0.9) * size, rng.uniform(0, 0.3) * size * (k > 0), f, 0,
                     branches)
        roots.append((root, float(heading)))
    for g in guides:
        branches.append((g, rng.uniform(2.5, 4.5) * f, rng.uniform(0, 0.3) * size))
    return roots[0][0], roots[0][1], branches


def aorto_iliac_tree(rng: np.random.Generator, size: int, f: float) -> list:
    """Abdominal aorta with iliac bifurcation and renal branches (EVAR view)."""
    x = rng.uniform(0.4, 0.6) * size
    bif_y = rng.uniform(0.55, 0.8) * size
    d = rng.uniform(30, 50) * f
    aorta = sim_wires.random_curve(rng, np.array([x, -10.0]), np.pi / 2 + rng.normal(0, 0.1),
                                   bif_y + 10, 0.002 / f, 80 * f)
    branches = [(aorta, d, 0.0)]
    end = aorta[-1]
    for side in (-1, 1):
        h = np.pi / 2 + side * rng.uniform(0.3, 0.6)
        branches.append((sim_wires.random_curve(rng, end, h, size, 0.004 / f, 60 * f),
                         d * rng.uniform(0.45, 0.6), bif_y))
        i = int(rng.uniform(0.2, 0.4) * len(aorta))
        branches.append((sim_wires.random_curve(rng, aorta[i], np.pi / 2 + side * np.pi / 2.2,
                                                rng.uniform(0.15, 0.3) * size, 0.01 / f, 30 * f),
                         d * rng.uniform(0.12, 0.2), i * sim_wires.STEP))
    return branches


def add_catheter(rng: np.random.Generator, att: np.ndarray, vessel: np.ndarray,
                 arrival: np.ndarray, hard: np.ndarray, tip: np.ndarray, heading: float,
                 f: float, path: np.ndarray | None = None, filled: bool = True) -> None:
    """Guiding catheter from a border to ``tip``: opaque tube walls, and a lumen that fills
    with contrast when ``filled`` (a guidewire inside it is then hidden: not filled).

    ``path`` (K, 2 px, border → tip) gives its course, e.g. a guidewire's proximal part for a
    wire leaving the catheter; otherwise a gentle curve from ``tip`` back out of the field.
    The tube is marked in ``hard`` (a hard negative).
    """
    size = att.shape[0]
    if path is None:
        pts = sim_wires.random_curve(rng, tip, heading + np.pi + rng.normal(0, 0.3), 2 * size,
                                     rng.uniform(0.001, 0.003) / f, 100 * f)
        out = ~sim_wires.inside(pts, -20, size + 20)
        if out.any():
            pts = pts[: int(np.argmax(out)) + 1]
    else:
        pts = path
    width = max(3, int(round(rng.uniform(5, 9) * f)))
    wall_mu = rng.uniform(0.06, 0.14)
    layer = np.zeros_like(att)
    cv2.polylines(layer, _poly(pts), False, wall_mu * width * 0.5, width, cv2.LINE_AA, shift=4)
    inner = max(1, width - 2 * max(1, int(round(1.5 * f))))
    cv2.polylines(layer, _poly(pts), False, wall_mu * width * 0.2, inner, cv2.LINE_AA, shift=4)
    att += blur(layer, 0.7)
    cv2.polylines(hard, _poly(pts), False, 1, width + 6, shift=4)
    if filled:
        cv2.polylines(vessel, _poly(pts), False, float(inner), inner, shift=4)
        cv2.polylines(arrival, _poly(pts), False, 0.0, inner, shift=4)


def collimator(rng: np.random.Generator, size: int, f: float) -> np.ndarray:
    """Shutter edges (straight, slightly tilted, soft) and an optional circular iris.

    Computed on a half-resolution grid and resized (the edges are soft, ≥ 1.5 px).
    """
    half = max(size // 2, 16)
    grid = (np.arange(half, dtype=np.float32) + 0.5) * size / half - 0.5
    xx, yy = grid[None, :], grid[:, None]
    fixed = np.zeros((half, half), np.float32)
    soft = rng.uniform(1.5, 4.0) * f
    for side in range(4):
        if rng.random() > 0.6:
            continue
        depth = rng.uniform(-0.01, 0.08) * size
        tilt = rng.normal(0, 0.02)
        coord = [xx + tilt * yy, size - 1 - xx + tilt * yy, yy + tilt * xx,
                 size - 1 - yy + tilt * xx][side]
        fixed += rng.uniform(1.0, 2.2) * _sigmoid((depth - coord) / soft)
    if rng.random() < 0.2:
        r = np.sqrt((xx - size / 2) ** 2 + (yy - size / 2) ** 2)
        fixed += rng.uniform(1.0, 2.0) * _sigmoid((r - rng.uniform(0.5, 0.7) * size) / soft)
    return cv2.resize(fixed, (size, size), interpolation=cv2.INTER_LINEAR)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + cv2.exp(np.clip(-x, -30, 30).astype(np.float32)))


def background_attenuation(rng: np.random.Generator, image: np.ndarray, size: int) -> np.ndarray:
    """A real display-domain frame (bright = transmissive) as an attenuation map.

    Random crop (60–100 % of the short side), flips, resize to ``size``; the inverse of a
    log display with a random gain maps grey levels back to line integrals.
    """
    h, w = image.shape
    side = int(min(h, w) * rng.uniform(0.6, 1.0))
    y0, x0 = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
    crop = image[y0:y0 + side, x0:x0 + side]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    if rng.random() < 0.5:
        crop = crop[::-1, :]
    crop = cv2.resize(np.ascontiguousarray(crop, dtype=np.float32), (size, size),
                      interpolation=cv2.INTER_AREA)
    gain = rng.uniform(1.5, 2.5)
    return (1.5 - gain * np.log(0.1 + 0.9 * np.clip(crop, 0, 1)) / np.log(10.0)
            ).astype(np.float32)
