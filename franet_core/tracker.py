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

"""Multi-wire tracking: stable ids, a Kalman filter per tip, honest TRACKING/PREDICTED/LOST.

Per frame (:meth:`Tracker.update`):

1. every track's tip filter predicts one frame ahead (constant velocity, px/frame);
2. observations are assigned to tracks with the Hungarian method
   (``scipy.optimize.linear_sum_assignment``) on the symmetric mean closest-point distance
   between the observed centerline and the track's last measured centerline, plus
   ``tip_weight`` × the distance from the predicted tip, gated at ``gate_px``
   (``lost_gate_px`` for tracks already LOST, whose position is stale);
3. a matched observation is oriented to agree with the track (its tip is the end nearer the
   predicted tip); the orientation flips only after ``flip_frames`` frames of net contrary
   evidence: the tip end touching the field of view's edge (the image border or a collimator
   shutter, :mod:`franet_core.field_of_view`) while the other end does not (and, with
   ``motion_flip``, the proximal end moving while the tip end stays still). A believed tip
   that moves more than the other end is confirmed (a wire advances and retracts at its
   tip; its proximal end stays at the entry side);
4. a matched wire whose tip jumps beyond ``tip_gate_px`` of the prediction (say two tips
   touching read as one wire), or whose tip lies on the track's own last centerline more
   than ``tip_gate_px`` short of its tip (a partial detection: a faint distal segment the
   model missed), does not move the tip: the track coasts for that frame;
   unmatched tracks coast too: PREDICTED for at most ``max_predicted_frames`` frames (tip from
   the filter, covariance growing; LOST at once if the predicted tip leaves the field of view),
   then LOST (no tip at all), then dropped after ``max_missed_frames``; an id seen again
   before that keeps its number;
   A track re-acquired after LOST restarts its filter at the measured tip.
5. unmatched observations start new tracks while fewer than ``max_wires`` exist (a LOST track
   gives way to a new wire when the budget is full); with ``new_track_edge_px`` only those
   entering at the field of view's edge do.

Units: px and frames; covariances in px².
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from franet_core.centerline import centerline_distance
from franet_core.field_of_view import FieldOfView
from franet_core.tip import as_field, attachment_vote, border_vote, Field, reverse
from franet_core.types import WireObservation, WireState, WireStatus

__all__ = ["TrackerConfig", "TipKalman", "Tracker"]

_EMPTY = np.zeros((0, 2))


@dataclass(frozen=True)
class TrackerConfig:
    """Tracker parameters (px, frames).

    max_wires: most wires tracked at once (mono or dual guidewire procedures: 2).
    max_predicted_frames: frames a missed wire coasts as PREDICTED before turning LOST.
        A missed track whose prediction lies on the body of a wire measured this frame
        (within ``on_wire_px`` of its centerline, more than ``tip_gate_px`` short of its
        tip) turns LOST at once: the piece it followed has joined that wire.
    max_missed_frames: frames without a measurement before an id is dropped (LOST from
        ``max_predicted_frames + 1`` on); re-detection before that keeps the id.
    gate_px: largest centerline distance for matching a TRACKING/PREDICTED track.
    lost_gate_px: the same for a LOST track (compared with its last measured centerline).
    min_new_track_px: shortest centerline that may start a new track (fragments do not).
    tip_gate_px: a matched wire whose tip lies farther than this (plus 3 sigma of the
        prediction) from the predicted tip does not update the tip: it coasts this frame.
        Nor does one whose tip lies on the track's last measured centerline (within
        ``on_wire_px``) more than this arc length short of the last measured tip: the gate's
        3-sigma widening while coasting must not admit a truncated wire as a retraction.
    on_wire_px: a point this close to a centerline lies on it.
    process_noise_px: std of the tip's acceleration, px/frame² (white-noise acceleration).
    measurement_noise_px: std of a measured tip position, px.
    initial_velocity_std_px: std of a new track's velocity, px/frame.
    tip_weight: weight (px per px) of the distance between an observation's nearer end and
        the track's predicted tip, added to the centerline distance in the assignment cost.
    flip_frames: net frames of contrary evidence before a track's tip end is swapped.
    motion_flip: also count "proximal end moves while the tip end stays" as evidence for a
        flip. Off by default: on simulated sequences a wire sliding through the collimator
        edge, or cardiac motion, mimics it; the end that moves always confirms the tip.
    border_margin_px: an end this close to the field of view's edge is "at the edge".
    attach_px: an end this close to the body of another observed wire is attached to it:
        evidence that it is the proximal end (a second wire leaving the first's side),
        weighed with the edge evidence when a track starts and at every update. 0 (the
        default) disables it: it mends dual-wire junctions taken for tips, but on the
        per-kind validation folders the shipped weights found 111 instead of 115 of 256
        true tips with it (docs/results.md, "Session 10").
    motion_margin_px: end displacements (px/frame) below this count as standing still.
    new_track_edge_px: a new track starts only from an observation whose proximal end lies
        within this many px of the field of view's edge (a guidewire enters the field from
        its edge; a piece floating inside is a fragment or a false alarm, and its tip end
        would be a guess). 0 disables the rule.
    """

    max_wires: int = 2
    max_predicted_frames: int = 5
    max_missed_frames: int = 30
    gate_px: float = 30.0
    lost_gate_px: float = 60.0
    min_new_track_px: float = 30.0
    tip_gate_px: float = 20.0
    on_wire_px: float = 5.0
    tip_weight: float = 0.5
    process_noise_px: float = 2.0
    measurement_noise_px: float = 1.0
    initial_velocity_std_px: float = 10.0
    flip_frames: int = 3
    motion_flip: bool = False
    border_margin_px: float = 8.0
    attach_px: float = 0.0
    motion_margin_px: float = 1.0
    new_track_edge_px: float = 0.0


class TipKalman:
    """Constant-velocity Kalman filter on a tip: state (x, y, vx, vy) in px and px/frame."""

    def __init__(self, xy: np.ndarray, config: TrackerConfig) -> None:
        r, v0, q = (config.measurement_noise_px, config.initial_velocity_std_px,
                    config.process_noise_px)
        self.x = np.array([xy[0], xy[1], 0.0, 0.0], dtype=np.float64)
        self.P = np.diag([r * r, r * r, v0 * v0, v0 * v0])
        self.F = np.eye(4)
        self.F[0, 2] = self.F[1, 3] = 1.0
        # Discrete white-noise acceleration for dt = 1 frame.
        block = q * q * np.array([[0.25, 0.5], [0.5, 1.0]])
        self.Q = np.zeros((4, 4))
        self.Q[np.ix_([0, 2], [0, 2])] = block
        self.Q[np.ix_([1, 3], [1, 3])] = block
        self.H = np.eye(2, 4)
        self.R = np.eye(2) * r * r

    def predict(self) -> None:
        """Advance the state one frame; the covariance grows by the process noise."""
        self.x = self.F @ self.x
        self.P = self.F @ self.P @ self.F.T + self.Q

    def update(self, z: np.ndarray) -> None:
        """Correct with a measured tip position ``z`` (x, y) in px."""
        s = self.H @ self.P @ self.H.T + self.R
        k = self.P @ self.H.T @ np.linalg.inv(s)
        self.x = self.x + k @ (np.asarray(z, dtype=np.float64) - self.H @ self.x)
        self.P = (np.eye(4) - k @ self.H) @ self.P

    @property
    def position(self) -> np.ndarray:
        """Tip (x, y) in px."""
        return self.x[:2].copy()

    @property
    def velocity(self) -> np.ndarray:
        """Tip velocity (vx, vy) in px/frame."""
        return self.x[2:].copy()

    @property
    def position_covariance(self) -> np.ndarray:
        """2×2 position covariance in px²."""
        return self.P[:2, :2].copy()


def _others(observations: list[WireObservation], i: int) -> list[WireObservation]:
    """Every observation but the ``i``-th."""
    return observations[:i] + observations[i + 1:]


def _thin(line: np.ndarray, max_points: int = 32) -> np.ndarray:
    """Every k-th point so at most ~max_points remain: association needs no sub-px detail."""
    return line[:: max(1, len(line) // max_points)]


def _shortfall(point: np.ndarray, line: np.ndarray, on_wire_px: float) -> float:
    """Arc length (px) from ``point``'s place on ``line`` to the line's last point (its tip).

    0 when the point is farther than ``on_wire_px`` from every point of the line.
    """
    d = np.linalg.norm(line - point, axis=1)
    i = int(np.argmin(d))
    if d[i] > on_wire_px:
        return 0.0
    return float(np.linalg.norm(np.diff(line[i:], axis=0), axis=1).sum())


@dataclass
class _Track:
    id: int
    kf: TipKalman
    obs: WireObservation
    missed: int = 0
    flip_evidence: int = 0


class Tracker:
    """Stateful multi-wire tracker; feed it one frame's observations at a time."""

    def __init__(self, config: TrackerConfig = TrackerConfig()) -> None:
        self.config = config
        self._tracks: list[_Track] = []
        self._next_id = 0

    def reset(self) -> None:
        """Forget every track; ids start again at 0 (call between sequences)."""
        self._tracks = []
        self._next_id = 0

    def update(self, observations: list[WireObservation],
               field: Field | None = None) -> list[WireState]:
        """Advance one frame with ``observations`` (oriented proximal → tip by the caller).

        field, the frame's :class:`~franet_core.field_of_view.FieldOfView` (or its (H, W)
        shape: the whole image), enables the edge evidence for tip-end flips and the
        LOST-when-out-of-view rule. Returns one :class:`WireState` per known id (LOST ones
        included), sorted by id.
        """
        cfg = self.config
        field = None if field is None else as_field(field)
        for t in self._tracks:
            t.kf.predict()
        matches, unmatched_obs = self._assign(observations)
        matched = {ti for ti, oi in matches
                   if self._correct(self._tracks[ti], observations[oi], field,
                                    _others(observations, oi))}
        measured = [t.obs.centerline for ti, t in enumerate(self._tracks) if ti in matched]
        for ti, t in enumerate(self._tracks):
            if ti not in matched:
                t.missed += 1
                if t.missed <= cfg.max_predicted_frames and any(
                        _shortfall(t.kf.position, line, cfg.on_wire_px) > cfg.tip_gate_px
                        for line in measured):
                    # The prediction lies on the body of a wire measured this frame: the
                    # piece it followed has joined that wire; it is no tip of its own.
                    t.missed = cfg.max_predicted_frames + 1
                if field is not None and not field.contains(t.kf.position):
                    # A prediction outside the field of view cannot be checked by any
                    # image: the wire is LOST at once, not coasting towards nowhere.
                    t.missed = max(t.missed, cfg.max_predicted_frames + 1)
        self._tracks = [t for t in self._tracks if t.missed <= cfg.max_missed_frames]
        for oi in sorted(unmatched_obs, key=lambda i: -observations[i].length_px):
            self._start(observations[oi], field, _others(observations, oi))
        return [self._state(t) for t in sorted(self._tracks, key=lambda t: t.id)]

    def _assign(self, observations: list[WireObservation]) -> tuple[list[tuple[int, int]],
                                                                     list[int]]:
        cfg = self.config
        if not self._tracks or not observations:
            return [], list(range(len(observations)))
        lines = [_thin(o.centerline) for o in observations]
        cost = np.array([[centerline_distance(_thin(t.obs.centerline), line) for line in lines]
                         for t in self._tracks])
        # Where two wires overlap their centerlines alone cannot tell them apart; the tip
        # that moves as this track's tip was predicted to move can.
        for ti, t in enumerate(self._tracks):
            if t.missed <= cfg.max_predicted_frames:
                pred = t.kf.position
                cost[ti] += cfg.tip_weight * np.array([
                    min(np.linalg.norm(o.tip - pred), np.linalg.norm(o.centerline[0] - pred))
                    for o in observations])
        gates = np.array([cfg.gate_px if t.missed <= cfg.max_predicted_frames
                          else cfg.lost_gate_px for t in self._tracks])
        allowed = cost <= gates[:, None]
        rows, cols = linear_sum_assignment(np.where(allowed, cost, 1e9))
        pairs = [(int(r), int(c)) for r, c in zip(rows, cols) if allowed[r, c]]
        used = {c for _, c in pairs}
        return pairs, [i for i in range(len(observations)) if i not in used]

    def _correct(self, t: _Track, obs: WireObservation, field: FieldOfView | None,
                 others: list[WireObservation]) -> bool:
        """Fold a matched observation into ``t``; False when its tip was not accepted.

        ``others``: the frame's other observations (attachment evidence on the tip end).
        """
        cfg = self.config
        if t.missed > cfg.max_predicted_frames:  # re-acquired after LOST: start afresh
            t.kf, t.obs, t.missed, t.flip_evidence = TipKalman(obs.tip, cfg), obs, 0, 0
            return True
        pred = t.kf.position
        if np.linalg.norm(obs.centerline[0] - pred) < np.linalg.norm(obs.tip - pred):
            obs = reverse(obs)  # keep the track's tip end
        vote = -attachment_vote(obs, others, cfg.attach_px)
        if field is not None:
            vote -= border_vote(obs, field, cfg.border_margin_px)
        if t.missed == 0 and cfg.motion_flip:
            tip_move = float(np.linalg.norm(obs.tip - t.obs.tip))
            prox_move = float(np.linalg.norm(obs.centerline[0] - t.obs.centerline[0]))
            if tip_move < cfg.motion_margin_px and prox_move > 2 * cfg.motion_margin_px:
                vote += 1
            elif tip_move > prox_move + cfg.motion_margin_px:
                vote -= 1
        elif t.missed == 0 and np.linalg.norm(obs.tip - t.obs.tip) > np.linalg.norm(
                obs.centerline[0] - t.obs.centerline[0]) + cfg.motion_margin_px:
            vote -= 1  # the believed tip is the end that moves: confirmation only
        t.flip_evidence = max(0, t.flip_evidence + int(np.sign(vote)))
        if t.flip_evidence >= cfg.flip_frames:
            obs = reverse(obs)
            t.kf, t.obs, t.missed, t.flip_evidence = TipKalman(obs.tip, cfg), obs, 0, 0
            return True
        spread = float(np.sqrt(np.max(np.linalg.eigvalsh(t.kf.position_covariance))))
        if np.linalg.norm(obs.tip - pred) > cfg.tip_gate_px + 3.0 * spread:
            return False  # the wire is here but its tip jumped: do not trust it this frame
        if _shortfall(obs.tip, t.obs.centerline, cfg.on_wire_px) > cfg.tip_gate_px:
            return False  # the wire is here but seen only in part: its tip is not measured
        t.kf.update(obs.tip)
        t.obs, t.missed = obs, 0
        return True

    def _start(self, obs: WireObservation, field: FieldOfView | None,
               others: list[WireObservation]) -> None:
        cfg = self.config
        if obs.length_px < cfg.min_new_track_px:
            return
        evidence = attachment_vote(obs, others, cfg.attach_px)
        if field is not None:
            evidence += border_vote(obs, field, cfg.border_margin_px)
        if evidence < 0:  # the caller's orientation (edge distance) is contradicted
            obs = reverse(obs)
        if (cfg.new_track_edge_px > 0 and field is not None
                and field.border_distance(obs.centerline[0]) > cfg.new_track_edge_px):
            return
        if len(self._tracks) >= cfg.max_wires:
            lost = [t for t in self._tracks if t.missed > cfg.max_predicted_frames]
            if not lost:
                return
            self._tracks.remove(max(lost, key=lambda t: t.missed))
        self._tracks.append(_Track(self._next_id, TipKalman(obs.tip, cfg), obs))
        self._next_id += 1

    def _state(self, t: _Track) -> WireState:
        cfg = self.config
        if t.missed == 0:
            return WireState(t.id, WireStatus.TRACKING, t.obs.confidence, t.kf.position,
                             t.obs.tip_angle, t.kf.position_covariance, t.kf.velocity,
                             t.obs.centerline, t.obs.length_px, 0)
        if t.missed <= cfg.max_predicted_frames:
            # Trust fades linearly while coasting: 0 would mean LOST.
            conf = t.obs.confidence * (1.0 - t.missed / (cfg.max_predicted_frames + 1))
            return WireState(t.id, WireStatus.PREDICTED, conf, t.kf.position, t.obs.tip_angle,
                             t.kf.position_covariance, t.kf.velocity, _EMPTY.copy(),
                             t.obs.length_px, t.missed)
        return WireState(t.id, WireStatus.LOST, 0.0, None, None, None, None, _EMPTY.copy(),
                         t.obs.length_px, t.missed)
