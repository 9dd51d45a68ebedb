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

"""Draw a FrameResult on its frame: mask tint, centerlines, tip arrows and labels.

TRACKING wires: solid centerline, filled tip dot and solid arrow along the tip tangent.
PREDICTED: hollow tip circle with the 2-sigma covariance radius and a dashed arrow (no
centerline: none was measured). LOST: no tip drawn at all, only a "LOST" label in the legend
(with "tip withheld" and its score when the tip check withheld the tip; the centerline that
was measured is still drawn).
Colours are per wire id, so an identity switch is visible as a colour change.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from franet_core.contact_sheet import outlined_text
from franet_core.preprocess import normalize_image
from franet_core.types import FrameResult, WireState, WireStatus

__all__ = ["draw_result", "id_colour"]

#: BGR colours cycled by wire id.
_PALETTE = ((0, 200, 255), (255, 120, 0), (255, 0, 255), (0, 255, 120), (80, 80, 255))
_MASK_TINT = (0, 255, 0)
_ARROW_PX = 25.0
_SHIFT = 4  # sub-pixel drawing: coordinates × 16


def id_colour(wire_id: int) -> tuple[int, int, int]:
    """BGR colour of a wire id."""
    return _PALETTE[wire_id % len(_PALETTE)]


def draw_result(image: np.ndarray, result: FrameResult, mask_alpha: float = 0.25) -> np.ndarray:
    """Return a BGR uint8 picture of ``image`` with ``result`` drawn on it (same size)."""
    gray = (normalize_image(image) * 255.0 + 0.5).astype(np.uint8)
    out = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
    if result.mask.shape == gray.shape and result.mask.any():
        on = result.mask.astype(bool)
        tint = np.array(_MASK_TINT, dtype=np.float32)
        out[on] = (out[on] * (1.0 - mask_alpha) + tint * mask_alpha).astype(np.uint8)
    scale = max(1.0, min(gray.shape) / 512.0)
    for wire in result.wires:
        _draw_wire(out, wire, scale)
    _draw_legend(out, result, scale)
    return out


def _pts(points: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(points) * (1 << _SHIFT)).astype(np.int32).reshape(-1, 1, 2)


def _draw_wire(out: np.ndarray, wire: WireState, scale: float) -> None:
    colour = id_colour(wire.id)
    thick = max(1, round(1.5 * scale))
    if len(wire.centerline) >= 2:
        cv2.polylines(out, [_pts(wire.centerline)], False, colour, thick, cv2.LINE_AA, _SHIFT)
    if wire.status is WireStatus.LOST or wire.tip is None:
        return
    tip = np.asarray(wire.tip, dtype=np.float64)
    angle = wire.tip_angle if wire.tip_angle is not None else 0.0
    head = tip + _ARROW_PX * scale * np.array([math.cos(angle), math.sin(angle)])
    radius = int(round(4 * scale))
    if wire.status is WireStatus.TRACKING:
        cv2.circle(out, tuple(_pts(tip)[0, 0]), radius << _SHIFT, colour, -1, cv2.LINE_AA,
                   _SHIFT)
        cv2.arrowedLine(out, tuple(_pts(tip)[0, 0]), tuple(_pts(head)[0, 0]), colour, thick,
                        cv2.LINE_AA, _SHIFT, 0.3)
    else:
        sigma = 2.0 * math.sqrt(max(np.trace(wire.tip_covariance) / 2.0, 0.0)) \
            if wire.tip_covariance is not None else 0.0
        ring = max(radius, sigma)
        cv2.circle(out, tuple(_pts(tip)[0, 0]), int(ring * (1 << _SHIFT)), colour, thick,
                   cv2.LINE_AA, _SHIFT)
        u = (head - tip) / np.linalg.norm(head - tip)
        _dashed(out, tip + ring * u, head + ring * u, colour, thick)
    label = f"#{wire.id} {wire.status.value} {wire.confidence:.2f}"
    org = (int(tip[0] + 6 * scale), int(tip[1] - 6 * scale))
    _text(out, label, org, colour, scale)


def _dashed(out: np.ndarray, a: np.ndarray, b: np.ndarray, colour: tuple[int, int, int],
            thick: int, dash_px: float = 4.0) -> None:
    n = max(int(np.linalg.norm(b - a) / dash_px), 1)
    for k in range(0, n, 2):
        p, q = a + (b - a) * k / n, a + (b - a) * min(k + 1, n) / n
        cv2.line(out, tuple(_pts(p)[0, 0]), tuple(_pts(q)[0, 0]), colour, thick, cv2.LINE_AA,
                 _SHIFT)


def _text(out: np.ndarray, text: str, org: tuple[int, int], colour: tuple[int, int, int],
          scale: float) -> None:
    outlined_text(out, text, org, 0.4 * scale, colour)


def _draw_legend(out: np.ndarray, result: FrameResult, scale: float) -> None:
    y = int(14 * scale)
    _text(out, f"frame {result.index}", (4, y), (255, 255, 255), scale)
    for wire in result.wires:
        y += int(14 * scale)
        _text(out, f"#{wire.id} {wire.status.value}{_score_text(wire)}", (4, y),
              id_colour(wire.id), scale)


def _score_text(wire: WireState) -> str:
    if wire.tip_score is None:
        return ""
    withheld = " (tip withheld)" if wire.status is WireStatus.LOST else ""
    return f" tip score {wire.tip_score:.2f}{withheld}"
