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

"""Tracking metrics over a sequence: tip error, centerline error, id switches, statuses.

Pure functions on plain data. Ground truth per frame is a list of objects with ``id``,
``centerline`` ((K, 2) px, proximal → tip) and ``tip`` ((2,) px) — the simulator's
``WireTruth`` or :class:`TruthWire` built from ``annotations.json``. Predictions per frame are
the tracker's :class:`~franet_core.types.WireState` lists.

Matching is done *per frame*: ground-truth wires and the predicted wires that have a tip
(TRACKING or PREDICTED) are paired with the Hungarian method on tip distance (gated at
``gate_px``). Identity switches then count, for each ground-truth wire, how often the
predicted id it is paired with changes between consecutive frames where it is paired.
Errors are in px, and in mm where a pixel spacing is given. Tip error median / p95 are over
these gated matches.

Tip detection and false tips, at a tolerance τ (``tolerance_px``, default
:data:`TIP_TOLERANCE_PX` = 5 px). A *published* tip is the tip of a TRACKING or PREDICTED wire;
a LOST wire carries no tip and is neither a detection nor a false tip. Per frame:

- detected tips: the largest number of one-to-one pairs (true tip, published tip) that are at
  most τ apart (Hungarian, maximising that number first, then minimising distance), so one
  published tip never detects two true tips;
- false tips: published tips farther than τ from *every* true tip of the frame (all of them
  when the frame has no wire). A false tip would steer a robot to a wrong place.

Over a sequence, counts are summed: tip detection rate = detected / true tips (a missed tip
counts in the denominator; NaN, "undefined", when there is no true tip); false-tip rate =
false / published tips (0.0 when nothing is published: no tip given, none wrong; missing tips
show in the detection rate instead); false-tip frame rate = share of frames with at least one
false tip (NaN without frames).
"""
from __future__ import annotations

from dataclasses import dataclass, field
import math
from typing import Any, NamedTuple, Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from franet_core.centerline import centerline_distance
from franet_core.types import WireState, WireStatus

__all__ = ["TIP_TOLERANCE_PX", "TipCounts", "TruthWire", "TrackingReport", "evaluate_sequence",
           "id_switches", "match_frame", "tip_counts"]

#: Distance within which a published tip finds a true tip, px (the project's standard).
TIP_TOLERANCE_PX = 5.0


@dataclass(frozen=True)
class TruthWire:
    """A ground-truth wire in one frame: id, centerline (K, 2) px proximal → tip, tip (2,)."""

    id: int
    centerline: np.ndarray
    tip: np.ndarray

    @classmethod
    def from_json(cls, item: dict[str, Any]) -> "TruthWire":
        """From one annotations.json entry ``{"id", "centerline", "tip"}``."""
        line = np.asarray(item["centerline"], dtype=np.float64).reshape(-1, 2)
        tip = np.asarray(item.get("tip", line[-1]), dtype=np.float64).reshape(2)
        return cls(int(item["id"]), line, tip)


class TipCounts(NamedTuple):
    """Tip outcomes of one frame or, summed field-wise, of many (module docstring).

    true: true tips. detected: true tips with a published tip within the tolerance (one-to-one).
    published: tips of TRACKING / PREDICTED wires. false: published tips beyond the tolerance
    from every true tip.
    """

    true: int
    detected: int
    published: int
    false: int


@dataclass
class TrackingReport:
    """Sequence-level tracking quality (px; mm fields are None without a pixel spacing)."""

    n_frames: int
    tip_errors_px: np.ndarray
    tip_error_median_px: float
    tip_error_p95_px: float
    centerline_error_px: float
    id_switches: int
    missed_fraction: float
    status_fractions: dict[str, float] = field(default_factory=dict)
    tip_error_median_mm: float | None = None
    tip_error_p95_mm: float | None = None
    centerline_error_mm: float | None = None
    tip_tolerance_px: float = TIP_TOLERANCE_PX
    tips: TipCounts = TipCounts(0, 0, 0, 0)
    frames_with_false_tip: int = 0

    @property
    def tip_detection_rate(self) -> float:
        """Detected / true tips within :attr:`tip_tolerance_px`; NaN without a true tip."""
        return self.tips.detected / self.tips.true if self.tips.true else math.nan

    @property
    def false_tip_rate(self) -> float:
        """False / published tips; 0.0 when no tip was published."""
        return self.tips.false / self.tips.published if self.tips.published else 0.0

    @property
    def false_tip_frame_rate(self) -> float:
        """Share of frames with at least one false tip; NaN without frames."""
        return self.frames_with_false_tip / self.n_frames if self.n_frames else math.nan

    def summary(self) -> str:
        """One line for logs and the CLI."""
        mm = (f" ({self.tip_error_median_mm:.3f} / {self.tip_error_p95_mm:.3f} mm)"
              if self.tip_error_median_mm is not None else "")
        status = ", ".join(f"{k} {v:.0%}" for k, v in self.status_fractions.items())
        t = self.tips
        return (f"{self.n_frames} frames: tips found within {self.tip_tolerance_px:g} px "
                f"{self.tip_detection_rate:.1%} ({t.detected}/{t.true}), false tips "
                f"{self.false_tip_rate:.1%} ({t.false}/{t.published}; in "
                f"{self.frames_with_false_tip} frames); tip error median "
                f"{self.tip_error_median_px:.2f} px, p95 {self.tip_error_p95_px:.2f} px{mm}; "
                f"centerline error {self.centerline_error_px:.2f} px; id switches "
                f"{self.id_switches}; missed {self.missed_fraction:.0%}; statuses: {status}")


def tip_counts(truth: Sequence[Any], predicted: Sequence[WireState],
               tolerance_px: float = TIP_TOLERANCE_PX) -> TipCounts:
    """Tip detection and false tips in one frame.

    ``truth``: objects with a ``tip`` (2,) x, y px (:class:`TruthWire`, the simulator's
    ``WireTruth``). ``predicted``: the published :class:`WireState` list; only wires with a tip
    (TRACKING, PREDICTED) count. Distances are Euclidean, px; "within" is ≤ ``tolerance_px``.
    """
    tol = float(tolerance_px)
    if not (math.isfinite(tol) and tol >= 0.0):
        raise ValueError(f"tip tolerance must be a finite distance >= 0 px, got {tol}")
    true = np.asarray([np.asarray(t.tip, dtype=np.float64).reshape(2) for t in truth],
                      dtype=np.float64).reshape(-1, 2)
    pub = np.asarray([np.asarray(w.tip, dtype=np.float64).reshape(2) for w in predicted
                      if w.tip is not None], dtype=np.float64).reshape(-1, 2)
    if len(true) == 0 or len(pub) == 0:
        return TipCounts(len(true), 0, len(pub), len(pub))
    d = np.hypot(true[:, None, 0] - pub[None, :, 0], true[:, None, 1] - pub[None, :, 1])
    within = d <= tol
    # Any pair beyond tol costs more than all within-tol pairs together: the assignment first
    # maximises the number of within-tol pairs, then minimises their total distance.
    big = tol * (min(d.shape) + 1) + 1.0
    rows, cols = linear_sum_assignment(np.where(within, d, big))
    detected = int(np.count_nonzero(within[rows, cols]))
    false = int(np.count_nonzero(~within.any(axis=0)))
    return TipCounts(len(true), detected, len(pub), false)


def match_frame(truth: Sequence[Any], predicted: Sequence[WireState],
                gate_px: float = 20.0) -> list[tuple[int, int]]:
    """Hungarian pairs (index into ``truth``, index into ``predicted``) by tip distance.

    Only predicted wires with a tip (not LOST) take part; pairs farther than ``gate_px``
    are dropped.
    """
    cand = [j for j, w in enumerate(predicted) if w.tip is not None]
    if not truth or not cand:
        return []
    cost = np.array([[float(np.linalg.norm(np.asarray(t.tip) - predicted[j].tip)) for j in cand]
                     for t in truth])
    rows, cols = linear_sum_assignment(cost)
    return [(int(r), cand[c]) for r, c in zip(rows, cols) if cost[r, c] <= gate_px]


def id_switches(assigned: dict[int, list[int]]) -> int:
    """Count the changes in each truth id's sequence of matched predicted ids, summed."""
    return sum(int(np.count_nonzero(np.diff(np.asarray(ids)))) for ids in assigned.values()
               if len(ids) > 1)


def evaluate_sequence(truth_frames: Sequence[Sequence[Any]],
                      predicted_frames: Sequence[Sequence[WireState]],
                      pixel_spacing_mm: float | None = None,
                      gate_px: float = 20.0,
                      tolerance_px: float = TIP_TOLERANCE_PX) -> TrackingReport:
    """Compare a tracked sequence with its ground truth (frames in the same order).

    tip error: per matched wire and frame (Hungarian, gated at ``gate_px``), px. centerline
    error: mean of the two mean closest-point distances, over matched wires measured this
    frame (TRACKING). missed fraction: truth wires with no gated match, over all truth wires.
    status fractions: share of the reported wire states per status. Tip detection and false
    tips at ``tolerance_px`` (:func:`tip_counts`, summed over frames): ``report.tips``,
    ``tip_detection_rate``, ``false_tip_rate``, ``false_tip_frame_rate``.
    """
    if len(truth_frames) != len(predicted_frames):
        raise ValueError(f"{len(truth_frames)} truth frames but {len(predicted_frames)} "
                         "predicted frames")
    tip_err, line_err, assigned = [], [], {}
    n_truth = n_missed = 0
    counts = {s.value: 0 for s in WireStatus}
    tips = np.zeros(4, dtype=np.int64)
    false_frames = 0
    for truth, pred in zip(truth_frames, predicted_frames):
        for w in pred:
            counts[w.status.value] += 1
        frame_tips = tip_counts(truth, pred, tolerance_px)
        tips += frame_tips
        false_frames += frame_tips.false > 0
        pairs = match_frame(truth, pred, gate_px)
        n_truth += len(truth)
        n_missed += len(truth) - len(pairs)
        for ti, pj in pairs:
            t, p = truth[ti], pred[pj]
            tip_err.append(float(np.linalg.norm(np.asarray(t.tip) - p.tip)))
            assigned.setdefault(t.id, []).append(p.id)
            if len(p.centerline) >= 2:
                line_err.append(centerline_distance(np.asarray(t.centerline), p.centerline))
    errs = np.asarray(tip_err)
    total = sum(counts.values())
    med = float(np.median(errs)) if len(errs) else float("nan")
    p95 = float(np.percentile(errs, 95)) if len(errs) else float("nan")
    line = float(np.mean(line_err)) if line_err else float("nan")
    s = pixel_spacing_mm
    return TrackingReport(
        n_frames=len(truth_frames), tip_errors_px=errs, tip_error_median_px=med,
        tip_error_p95_px=p95, centerline_error_px=line, id_switches=id_switches(assigned),
        missed_fraction=n_missed / n_truth if n_truth else 0.0,
        status_fractions={k: v / total for k, v in counts.items()} if total else {},
        tip_error_median_mm=med * s if s else None, tip_error_p95_mm=p95 * s if s else None,
        centerline_error_mm=line * s if s else None, tip_tolerance_px=float(tolerance_px),
        tips=TipCounts(*(int(v) for v in tips)), frames_with_false_tip=int(false_frames))
