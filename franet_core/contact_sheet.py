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

"""Overlays of masks on X-ray frames, and grids of such tiles (contact sheets).

Colours (BGR uint8), chosen to read on grey X-ray images:

* ground truth only (``gt`` given, no ``pred``): wire pixels green;
* prediction only: wire pixels yellow;
* prediction vs ground truth: true positive yellow, false positive red, false negative blue.
"""
from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from franet_core.preprocess import normalize_image

__all__ = ["COLOURS", "contact_sheet", "outlined_text", "overlay_mask"]

#: BGR colours of the overlay classes.
COLOURS = {"gt": (0, 255, 0), "tp": (0, 255, 255), "fp": (0, 0, 255), "fn": (255, 0, 0)}


def _to_bgr(image: np.ndarray) -> np.ndarray:
    if image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8:
        return image.copy()
    gray = np.round(normalize_image(image) * 255).astype(np.uint8)
    return cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)


def overlay_mask(image: np.ndarray, pred: np.ndarray | None = None,
                 gt: np.ndarray | None = None, alpha: float = 0.7) -> np.ndarray:
    """BGR uint8 (H, W, 3) image with ``pred`` / ``gt`` masks (non-zero = wire) blended in.

    ``alpha`` is the opacity of the colour over the grey image (module docstring: colours).
    Masks must have the image's (H, W) shape.
    """
    out = _to_bgr(image)
    h, w = out.shape[:2]
    for name, m in (("pred", pred), ("gt", gt)):
        if m is not None and m.shape[:2] != (h, w):
            raise ValueError(f"{name} mask shape {m.shape[:2]} != image shape {(h, w)}")
    p = None if pred is None else pred > 0
    g = None if gt is None else gt > 0
    if p is None and g is None:
        return out
    if p is None:
        classes = {"gt": g}
    elif g is None:
        classes = {"tp": p}
    else:
        classes = {"tp": p & g, "fp": p & ~g, "fn": ~p & g}
    for key, sel in classes.items():
        colour = np.array(COLOURS[key], np.float32)
        out[sel] = np.round((1 - alpha) * out[sel] + alpha * colour).astype(np.uint8)
    return out


def contact_sheet(tiles: Sequence[np.ndarray], cols: int,
                  labels: Sequence[str] | None = None, gap: int = 4) -> np.ndarray:
    """Grid of tiles (grey or BGR, resized to the first tile's size) as one BGR uint8 image.

    Tiles fill rows left to right; ``labels`` (one per tile) are written top-left.
    """
    if not tiles:
        raise ValueError("contact_sheet needs at least one tile")
    if cols < 1:
        raise ValueError(f"cols must be >= 1, got {cols}")
    if labels is not None and len(labels) != len(tiles):
        raise ValueError(f"{len(labels)} labels for {len(tiles)} tiles")
    bgr = [_to_bgr(t) for t in tiles]
    th, tw = bgr[0].shape[:2]
    rows = -(-len(bgr) // cols)
    sheet = np.full((rows * th + (rows - 1) * gap, cols * tw + (cols - 1) * gap, 3), 32,
                    np.uint8)
    scale = max(th, 128) / 512
    for i, tile in enumerate(bgr):
        if tile.shape[:2] != (th, tw):
            tile = cv2.resize(tile, (tw, th), interpolation=cv2.INTER_AREA)
        y, x = (i // cols) * (th + gap), (i % cols) * (tw + gap)
        sheet[y:y + th, x:x + tw] = tile
        if labels is not None:
            org = (x + 6, y + int(22 * scale) + 4)
            outlined_text(sheet, str(labels[i]), org, 0.6 * scale, (255, 255, 255))
    return sheet


def outlined_text(image: np.ndarray, text: str, org: tuple[int, int], font_scale: float,
                  colour: tuple[int, int, int]) -> None:
    """Draw ``text`` in ``colour`` with a black outline, readable on any background.

    The outline is the text drawn at the eight 1-px offsets with the same thickness: OpenCV 5
    advances glyphs by the stroke thickness, so a thick black copy behind a thin one no
    longer lines up with it.
    """
    x, y = org
    for dx, dy in ((-1, -1), (0, -1), (1, -1), (-1, 0), (1, 0), (-1, 1), (0, 1), (1, 1)):
        cv2.putText(image, text, (x + dx, y + dy), cv2.FONT_HERSHEY_SIMPLEX, font_scale,
                    (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(image, text, org, cv2.FONT_HERSHEY_SIMPLEX, font_scale, colour, 1, cv2.LINE_AA)
