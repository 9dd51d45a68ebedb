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

"""Plain result types shared by the pipeline, the CLI and the ROS node.

No framework types here: everything is numpy arrays and Python scalars so the same objects
can be written to CSV/JSON, drawn on overlays, or converted to ROS messages.

Coordinates: pixels, x right, y down, origin at the centre of the top-left pixel.
Angles: radians, ``atan2(dy, dx)`` in image coordinates (so a positive angle points *down*
on screen), measured along the wire towards the tip (the direction the tip advances).
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np


class WireStatus(str, enum.Enum):
    """Honesty of a wire's tip in the current frame.

    TRACKING: measured in this frame. PREDICTED: not measured, coasting on the Kalman
    prediction for at most ``TrackerConfig.max_predicted_frames`` frames. LOST: no current
    tip; consumers must not act on any position for this wire.
    """

    TRACKING = "TRACKING"
    PREDICTED = "PREDICTED"
    LOST = "LOST"


@dataclass(frozen=True)
class WireObservation:
    """One wire measured in one frame (output of centerline + tip, input of the tracker).

    centerline: (K, 2) float64 x, y in px, ordered proximal end → tip, arc-length sampled.
    tip: (2,) float64 sub-pixel tip position in px (== centerline[-1]).
    tip_angle: rad, tangent at the tip pointing distally (see module docstring).
    confidence: mean segmentation probability along the centerline, in [0, 1].
    length_px: arc length of the centerline in px.
    """

    centerline: np.ndarray
    tip: np.ndarray
    tip_angle: float
    confidence: float
    length_px: float


@dataclass(frozen=True)
class WireState:
    """A tracked wire as published: stable id, status and (when not LOST) a current tip.

    tip / tip_covariance / tip_velocity are None when status is LOST: a lost wire never
    carries a stale position. tip_covariance is the 2×2 Kalman position covariance in px².
    tip_velocity is in px/frame. centerline is empty (0, 2) unless measured this frame.
    tip_score: the tip check's probability that the tip is a true guidewire tip
    (:mod:`franet_core.tip_check`); None when no check ran. A LOST wire with a tip_score had
    a tip that was withheld because it scored under the check's ``min_score``.
    """

    id: int
    status: WireStatus
    confidence: float
    tip: np.ndarray | None
    tip_angle: float | None
    tip_covariance: np.ndarray | None
    tip_velocity: np.ndarray | None
    centerline: np.ndarray
    length_px: float
    frames_since_measured: int = 0
    tip_score: float | None = None


@dataclass
class FrameResult:
    """Everything the pipeline knows about one frame.

    mask: (H, W) uint8 in {0, 1} at the *input* image size.
    probability: (H, W) float32 in [0, 1] at the input image size.
    wires: tracked wires (every known id, LOST ones included until they are dropped).
    timings_ms: per-stage wall time in milliseconds (preprocess, inference, postprocess,
        centerline, tracking, total).
    pixel_spacing_mm: mm per px when configured, else None; multiply px values by it.
    """

    index: int
    mask: np.ndarray
    probability: np.ndarray
    wires: list[WireState] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    pixel_spacing_mm: float | None = None

    @property
    def primary(self) -> WireState | None:
        """The wire a single-tip consumer should follow: lowest id not LOST, else None."""
        alive = [w for w in self.wires if w.status is not WireStatus.LOST]
        return min(alive, key=lambda w: w.id) if alive else None
