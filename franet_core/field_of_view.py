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

"""The field of view: the part of a fluoroscopy frame the X-ray beam reaches.

Collimator shutters (straight, often tilted edges) and a circular iris hide the rim of most
frames behind a dark, flat band. A guidewire enters the *field of view* there, often tens of
px inside the image border, so "the end nearer the border is proximal" (:mod:`franet_core.tip`)
must measure distances to the field's edge, not to the image's.

:meth:`FieldOfView.estimate` finds the hidden rim from the frame alone:

1. the frame is reduced to ``work_px`` on its longer side (area average: noise down,
   shutter edges kept) and blurred 3×3; pixels darker than
   ``p1 + dark_fraction · (p50 − p1)`` are dark;
2. shutter bands: along each side, the depth of the dark run from that side is fitted with
   a straight line (least squares, refitted on its best 70 %); the band under the line is
   hidden when the line is deep enough, tilted at most ``max_shutter_tilt`` and supported
   along ``min_shutter_support`` of the side (dark anatomy joining the band over part of
   the side is outvoted);
3. the rest (an iris, shutter corners): the field a collimator leaves open is convex
   (half-planes and a disc intersected), so a dark region touching the border or a band is
   kept only while at most ``max_hull_overlap`` of it lies inside the convex hull of the
   open field that remains. A dark diaphragm or spine reaching the border bulges *into* the
   field and fails this test; the test is repeated until no region drops.

Points are (x, y) px, x right, y down, origin at the centre of the top-left pixel.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["FieldOfViewConfig", "FieldOfView"]


@dataclass(frozen=True)
class FieldOfViewConfig:
    """Parameters of :meth:`FieldOfView.estimate` (chosen on simulated frames of the
    validation background files and checked on the real training/validation angiograms;
    docs/results.md, "Field of view").

    work_px: longer side, px, of the reduced frame the estimate runs on.
    dark_fraction: a pixel is dark below p1 + dark_fraction · (p50 − p1) of the reduced frame.
    min_contrast: frames whose p50 − p1 (grey levels in [0, 1]) is below this have no
        shutters worth finding: the whole image is the field.
    max_hull_overlap: share of a dark border region allowed inside the convex hull of the
        open field (shutter edges are soft, so a little overlap is normal).
    max_shutter_tilt: steepest shutter edge accepted, px of depth per px along the side.
    min_shutter_support: share of a side where the dark run must end within 2 px of the
        fitted shutter line (the rest may be dark anatomy joining the band).
    """

    work_px: int = 128
    dark_fraction: float = 0.25
    min_contrast: float = 0.05
    max_hull_overlap: float = 0.2
    max_shutter_tilt: float = 0.15
    min_shutter_support: float = 0.6

    def __post_init__(self) -> None:
        if not (isinstance(self.work_px, int) and self.work_px >= 16):
            raise ValueError(f"field_of_view.work_px must be an integer >= 16, got "
                             f"{self.work_px!r}")
        for name in ("dark_fraction", "min_contrast", "max_hull_overlap", "max_shutter_tilt",
                     "min_shutter_support"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and 0.0 <= value <= 1.0):
                raise ValueError(f"field_of_view.{name} must be in [0, 1], got {value!r}")


class FieldOfView:
    """The open field of an (H, W) frame; ``closed`` (bool (H, W)) marks the hidden rim.

    ``FieldOfView(shape)`` is the whole image (no shutters known).
    """

    def __init__(self, shape: tuple[int, ...], closed: np.ndarray | None = None) -> None:
        self.shape = (int(shape[0]), int(shape[1]))
        if closed is not None and closed.shape != self.shape:
            raise ValueError(f"closed mask shape {closed.shape} does not match {self.shape}")
        self.closed = closed if closed is not None and closed.any() else None
        self._distance: np.ndarray | None = None  # built on first use

    @classmethod
    def estimate(cls, image: np.ndarray, config: FieldOfViewConfig = FieldOfViewConfig()
                 ) -> "FieldOfView":
        """The field of view of ``image`` (float (H, W) in [0, 1], bright = transmissive)."""
        h, w = image.shape[:2]
        scale = min(1.0, config.work_px / max(h, w))
        small = cv2.resize(image.astype(np.float32, copy=False),
                           (max(1, round(w * scale)), max(1, round(h * scale))),
                           interpolation=cv2.INTER_AREA)
        small = cv2.blur(small, (3, 3))
        closed = _hidden_rim(small, config)
        if closed is None:
            return cls((h, w))
        return cls((h, w), cv2.resize(closed.astype(np.uint8), (w, h),
                                      interpolation=cv2.INTER_NEAREST).astype(bool))

    @property
    def is_whole_image(self) -> bool:
        """True when nothing of the frame is hidden."""
        return self.closed is None

    def border_distance(self, point: np.ndarray) -> float:
        """px from ``point`` (x, y) to the nearest edge of the field (image edge or rim)."""
        h, w = self.shape
        x, y = float(point[0]), float(point[1])
        edge = max(0.0, min(x, y, (w - 1) - x, (h - 1) - y))
        if self.closed is None:
            return edge
        if self._distance is None:
            # px from each pixel to the nearest hidden one; the padding ring makes the image
            # edge count as hidden too.
            self._distance = cv2.distanceTransform(np.pad(~self.closed, 1).astype(np.uint8),
                                                   cv2.DIST_L2, cv2.DIST_MASK_5)[1:-1, 1:-1]
        col, row = int(np.clip(round(x), 0, w - 1)), int(np.clip(round(y), 0, h - 1))
        return min(edge, float(self._distance[row, col]))

    def contains(self, point: np.ndarray) -> bool:
        """Whether ``point`` (x, y) lies on the image and outside the hidden rim."""
        h, w = self.shape
        x, y = float(point[0]), float(point[1])
        if not (-0.5 <= x <= w - 0.5 and -0.5 <= y <= h - 0.5):
            return False
        if self.closed is None:
            return True
        return not self.closed[min(int(round(y)), h - 1), min(int(round(x)), w - 1)]


def _hidden_rim(small: np.ndarray, config: FieldOfViewConfig) -> np.ndarray | None:
    """Bool mask of the dark rim a collimator explains (shutter bands and iris), or None."""
    lo, med = np.percentile(small, [1, 50])
    if med - lo < config.min_contrast:
        return None
    dark = small <= lo + config.dark_fraction * (med - lo)
    bands = _shutter_bands(dark, config)
    rim = bands | _convex_rim(dark & ~bands, bands, config)
    return rim if rim.any() else None


def _shutter_bands(dark: np.ndarray, config: FieldOfViewConfig) -> np.ndarray:
    """The straight shutter band along each side: the dark run from that side, fitted with a
    line (robust to dark anatomy that joins the band over part of the side)."""
    bands = np.zeros(dark.shape, bool)
    for turns in range(4):  # top, right, bottom, left: rotate so the side is row 0
        side = np.rot90(dark, turns)
        depth = np.argmin(np.vstack([side, np.zeros((1, side.shape[1]), bool)]), axis=0)
        pos = np.arange(len(depth), dtype=np.float64)
        use = np.ones(len(depth), bool)
        for _ in range(3):  # least squares, then refit on the best-fitting 70 %
            slope, offset = np.polyfit(pos[use], depth[use], 1)
            resid = np.abs(depth - (slope * pos + offset))
            use = resid <= np.quantile(resid, 0.7)
        line = slope * pos + offset
        if (np.median(line) >= 1.0 and abs(slope) <= config.max_shutter_tilt
                and np.mean(np.abs(depth - line) <= 2.0) >= config.min_shutter_support):
            rows = np.arange(side.shape[0])[:, None]
            bands |= np.rot90(rows < np.round(line)[None, :], -turns)
    return bands


def _convex_rim(dark: np.ndarray, bands: np.ndarray, config: FieldOfViewConfig) -> np.ndarray:
    """Dark regions touching the border or a shutter band that leave a convex open field
    (an iris, shutter corners); a region bulging into the field (dark anatomy) is dropped.
    Regions are found apart from the bands, so that a dark lobe joining a band is judged
    on its own."""
    n, labels = cv2.connectedComponents(dark.astype(np.uint8), connectivity=8)
    kept = np.zeros(n, bool)  # per label: a dark region taken for the hidden rim
    kept[np.r_[labels[0], labels[-1], labels[:, 0], labels[:, -1]]] = True
    kept[labels[cv2.dilate(bands.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0]] = True
    kept[0] = False
    area = np.bincount(labels.ravel(), minlength=n)
    while kept.any():
        hull = _open_field_hull(~(kept[labels] | bands))
        if hull is None:
            return np.zeros(dark.shape, bool)
        inside = np.bincount(labels[hull], minlength=n)
        keep = kept & (inside <= config.max_hull_overlap * area)
        if np.array_equal(keep, kept):
            break
        kept = keep
    return kept[labels]


def _open_field_hull(open_field: np.ndarray) -> np.ndarray | None:
    """Filled convex hull (bool) of the largest 4-connected open region, or None if none."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(open_field.astype(np.uint8),
                                                           connectivity=4)
    if n <= 1:
        return None
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    contours, _ = cv2.findContours((labels == largest).astype(np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_SIMPLE)
    hull = np.zeros(open_field.shape, np.uint8)
    cv2.fillPoly(hull, [cv2.convexHull(np.concatenate(contours))], 1)
    return hull.astype(bool)
