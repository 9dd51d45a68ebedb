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

"""Which end of a centerline is the tip, and the tip's tangent direction.

A guidewire enters the field of view from its edge (the catheter side: the image border or
a collimator shutter, :mod:`franet_core.field_of_view`) and its tip lies inside the field, so
in a single frame the end *farther from the field's edge* is taken as the tip. A second
cue is what an end touches: a piece that leaves the body of another wire (a second wire
beside the first in the guiding catheter, a branch) comes from there, and a tip is a free
end (:func:`attachment_vote`; off unless ``TrackerConfig.attach_px`` is set). The tracker
weighs the cues it is given, keeps the choice consistent over time
(:mod:`franet_core.tracker`) and may override it with :func:`reverse` when history says
otherwise.

Coordinates: px, x right, y down, origin at the centre of the top-left pixel. Angles: rad,
``atan2(dy, dx)`` of the direction pointing distally (towards the tip).
"""
from __future__ import annotations

import math

import numpy as np

from franet_core.centerline import Centerline
from franet_core.field_of_view import FieldOfView
from franet_core.types import WireObservation

__all__ = ["Field", "as_field", "border_distance", "orient_polyline", "tip_angle", "observe",
           "reverse", "border_vote", "attachment_vote"]

#: Where a frame's wires may enter: its :class:`FieldOfView`, or an (H, W) shape for a frame
#: whose whole image is the field.
Field = FieldOfView | tuple[int, ...]

#: Arc length (px) over which the tip tangent is measured.
TANGENT_SPAN_PX = 5.0


def as_field(field: Field) -> FieldOfView:
    """``field`` as a :class:`FieldOfView` (an (H, W) shape is the whole image)."""
    return field if isinstance(field, FieldOfView) else FieldOfView(field)


def border_distance(point: np.ndarray, field: Field) -> float:
    """Distance in px from ``point`` (x, y) to the nearest edge of ``field``."""
    return as_field(field).border_distance(point)


def orient_polyline(points: np.ndarray, field: Field) -> np.ndarray:
    """Return ``points`` (K, 2) ordered proximal → tip: the end nearer the field's edge first.

    On a tie (both ends equally far from the edge) the given order is kept, so a caller
    with better knowledge (the tracker's history) decides.
    """
    field = as_field(field)
    if field.border_distance(points[-1]) < field.border_distance(points[0]):
        return points[::-1].copy()
    return points


def tip_angle(points: np.ndarray, span_px: float = TANGENT_SPAN_PX) -> float:
    """Tangent angle (rad, ``atan2(dy, dx)``) at ``points[-1]`` pointing distally.

    Uses the chord from the point ``span_px`` of arc length before the tip to the tip, which
    on a smoothed, arc-length-sampled centerline is the tangent averaged over that span.
    """
    if len(points) < 2:
        return 0.0
    arc = np.r_[0.0, np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))]
    back = arc[-1] - min(span_px, arc[-1])
    ref = np.array([np.interp(back, arc, points[:, 0]), np.interp(back, arc, points[:, 1])])
    d = points[-1] - ref
    return math.atan2(float(d[1]), float(d[0]))


def _observation(points: np.ndarray, confidence: float, length_px: float) -> WireObservation:
    return WireObservation(centerline=points, tip=points[-1].copy(), tip_angle=tip_angle(points),
                           confidence=confidence, length_px=length_px)


def observe(centerline: Centerline, field: Field) -> WireObservation:
    """Orient ``centerline`` by distance to the field's edge; measure its tip point and angle."""
    return _observation(orient_polyline(centerline.points, field), centerline.confidence,
                        centerline.length_px)


def reverse(observation: WireObservation) -> WireObservation:
    """The same wire with its ends swapped (tip ↔ proximal end), tip and angle recomputed."""
    return _observation(observation.centerline[::-1].copy(), observation.confidence,
                        observation.length_px)


def border_vote(observation: WireObservation, field: Field, margin_px: float) -> int:
    """Single-frame edge evidence on the orientation of ``observation``.

    +1: the proximal end is within ``margin_px`` of the field's edge and the tip is not
    (orientation confirmed); -1: the tip end touches the edge and the proximal end does
    not (orientation contradicted); 0: no evidence (both or neither end at the edge).
    """
    field = as_field(field)
    prox = field.border_distance(observation.centerline[0]) <= margin_px
    tip = field.border_distance(observation.tip) <= margin_px
    return int(prox) - int(tip)


def attachment_vote(observation: WireObservation, others: list[WireObservation],
                    attach_px: float) -> int:
    """Single-frame evidence on the orientation of ``observation`` from the other wires.

    An end is attached when it lies within ``attach_px`` of the *body* of another observed
    centerline: a point more than ``2 * attach_px`` of arc length from both of that
    centerline's ends. +1: the proximal end is attached and the tip is free (orientation
    confirmed); -1: the tip is attached and the proximal end free (contradicted: a piece
    that leaves another wire's side starts there; on dual-wire validation frames the edge
    rule took such a junction for the tip); 0: no evidence (both, neither, or
    ``attach_px`` 0). Ends that only meet another piece's end say nothing: a second wire
    can leave the first right at its tip. Distances in px, as the centerlines are.
    """
    if attach_px <= 0 or not others:
        return 0
    bodies = [_body(o.centerline, 2.0 * attach_px) for o in others]
    points = np.concatenate(bodies)
    if not len(points):
        return 0

    def attached(end: np.ndarray) -> bool:
        return bool(np.min(np.linalg.norm(points - end, axis=1)) <= attach_px)

    return int(attached(observation.centerline[0])) - int(attached(observation.tip))


def _body(points: np.ndarray, margin_px: float) -> np.ndarray:
    """The points of a polyline more than ``margin_px`` of arc length from both its ends."""
    arc = np.r_[0.0, np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))]
    return points[(arc > margin_px) & (arc < arc[-1] - margin_px)]
