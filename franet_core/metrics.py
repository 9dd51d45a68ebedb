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

"""Segmentation metrics of the FRA-Net paper, as pure functions on binary masks.

Masks are (H, W) arrays; any non-zero value is foreground (so 0/1 and 0/255 both work).
Pixel metrics count true/false positives and negatives (TP, FP, FN) in float64:

- precision   = TP / (TP + FP)
- sensitivity = TP / (TP + FN)   (recall)
- F1          = 2 TP / (2 TP + FP + FN)

Empty cases (a ratio 0 / 0) are defined, not left as NaN, so every frame scores:
both masks empty → 1.0 (the frame is correct: no wire, none predicted); a ratio whose
denominator is zero while the *other* mask is non-empty → 0.0 (the frame is wrong: a missed
wire has precision 0, a wire predicted on an empty frame has sensitivity 0).

GSP (guidewire segmentation precision, px) is the mean Euclidean distance from ground-truth
centerline points to the nearest predicted foreground pixel. Points come from annotated
centerlines (x, y px, x right, y down, origin at the top-left pixel centre) resampled every
1 px of arc length and rounded to pixels, or, without annotations, from the skeleton of the
ground-truth mask. Two cases are defined explicitly:

- empty ground truth (no centerline point): NaN, meaning "not defined"; aggregates skip it.
- empty prediction with a wire present: capped at the image diagonal ``hypot(H, W)``, the
  largest distance a prediction anywhere in the frame could have. A cap (not ``inf``) keeps
  means finite and comparable while still scoring a missed frame worse than any prediction.

Relaxed precision, recall and F1 at a tolerance ρ (px, default :data:`RHO_PX`) are the
correctness / completeness measures of road and vessel extraction (Wiedemann et al.). They
compare centerlines, not areas, so they do not depend on how wide either side draws its masks:

- relaxed precision = share of *predicted skeleton* pixels (``skeletonize(pred)``) whose
  centre lies within ρ of a true centerline;
- relaxed recall    = share of *true centerline points* lying within ρ of the centre of a
  predicted (foreground) pixel;
- relaxed F1        = 2 P R / (P + R), 0 when P + R = 0.

"Within ρ" is Euclidean distance ≤ ρ, computed exactly in float64. The true centerline is
the annotated polyline itself (a continuous curve through its vertices) when ``centerlines``
are given, with recall points sampled on it every 1 px of arc length plus its last point (the
tip); points outside the image (beyond the outer pixel edges) are dropped, since nothing can be
predicted there. Without annotations the true centerline is the set of centres of the
ground-truth mask's skeleton pixels, and those are also the recall points. Empty cases follow
the pixel metrics: no true point and nothing predicted → 1.0 for all three; one side empty,
the other not → 0.0 for all three.
"""
from __future__ import annotations

from collections import defaultdict
import math
from typing import Any, Iterable, NamedTuple, Sequence

import numpy as np
from scipy import ndimage
from skimage.morphology import skeletonize

__all__ = ["METRICS", "RHO_PX", "MetricAccumulator", "RelaxedCounts", "RelaxedMatch",
           "centerline_points", "confusion", "f1", "frame_metrics", "gsp", "precision",
           "relaxed_counts", "relaxed_f1", "relaxed_match", "relaxed_precision",
           "relaxed_recall", "relaxed_scores", "sensitivity", "summarize", "summarize_frames"]

#: Names of the per-frame metrics, in report order.
METRICS = ("precision", "sensitivity", "f1", "gsp", "relaxed_precision", "relaxed_recall",
           "relaxed_f1")

#: Default tolerance of the relaxed metrics, px.
RHO_PX = 2.0


def _pair(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred, gt = np.asarray(pred), np.asarray(gt)
    if pred.ndim != 2 or gt.ndim != 2:
        raise ValueError(f"masks must be 2-D (H, W): prediction {pred.shape}, "
                         f"ground truth {gt.shape}")
    if pred.shape != gt.shape:
        raise ValueError(f"prediction shape {pred.shape} differs from ground truth {gt.shape}")
    return pred != 0, gt != 0


def confusion(pred: np.ndarray, gt: np.ndarray) -> tuple[float, float, float]:
    """Return ``(TP, FP, FN)`` pixel counts as float64 for two (H, W) masks."""
    p, g = _pair(pred, gt)
    tp = float(np.count_nonzero(p & g))
    return tp, float(np.count_nonzero(p)) - tp, float(np.count_nonzero(g)) - tp


def _ratio(num: float, den: float, other_empty: bool) -> float:
    if den > 0:
        return num / den
    return 1.0 if other_empty else 0.0


def precision(pred: np.ndarray, gt: np.ndarray) -> float:
    """TP / (TP + FP); empty prediction → 1.0 if the ground truth is empty too, else 0.0."""
    tp, fp, fn = confusion(pred, gt)
    return _ratio(tp, tp + fp, other_empty=(tp + fn) == 0)


def sensitivity(pred: np.ndarray, gt: np.ndarray) -> float:
    """TP / (TP + FN) (recall); empty ground truth → 1.0 if nothing is predicted, else 0.0."""
    tp, fp, fn = confusion(pred, gt)
    return _ratio(tp, tp + fn, other_empty=(tp + fp) == 0)


def f1(pred: np.ndarray, gt: np.ndarray) -> float:
    """2 TP / (2 TP + FP + FN) (Dice); both masks empty → 1.0."""
    tp, fp, fn = confusion(pred, gt)
    return _ratio(2.0 * tp, 2.0 * tp + fp + fn, other_empty=True)


def centerline_points(shape: tuple[int, int], gt: np.ndarray | None = None,
                      centerlines: Iterable[np.ndarray] | None = None) -> np.ndarray:
    """Ground-truth centerline pixels as an (M, 2) int array of (row, col), unique.

    ``centerlines`` (each (K, 2) float x, y px, proximal → tip) win when given: every polyline
    is resampled at 1 px arc-length steps (vertices kept), rounded to the nearest pixel and
    clipped to the image. Otherwise the skeleton of ``gt`` is used.
    """
    h, w = int(shape[0]), int(shape[1])
    if centerlines is None:
        if gt is None:
            raise ValueError("centerline_points needs a ground-truth mask or centerlines")
        rows, cols = np.nonzero(skeletonize(np.asarray(gt) != 0))
        return np.stack([rows, cols], axis=1).astype(np.int64)
    pts = [_resample(np.asarray(c, dtype=np.float64)) for c in centerlines]
    pts = [p for p in pts if len(p)]
    if not pts:
        return np.zeros((0, 2), dtype=np.int64)
    xy = np.rint(np.concatenate(pts)).astype(np.int64)
    rc = np.stack([np.clip(xy[:, 1], 0, h - 1), np.clip(xy[:, 0], 0, w - 1)], axis=1)
    return np.unique(rc, axis=0)


def _resample(polyline: np.ndarray) -> np.ndarray:
    if polyline.ndim != 2 or polyline.shape[1] != 2:
        raise ValueError(f"a centerline must be (K, 2) x, y points, got shape {polyline.shape}")
    if len(polyline) < 2:
        return polyline
    seg = np.hypot(*np.diff(polyline, axis=0).T)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    t = np.union1d(np.arange(0.0, s[-1], 1.0), s)
    return np.stack([np.interp(t, s, polyline[:, 0]), np.interp(t, s, polyline[:, 1])], axis=1)


def gsp(pred: np.ndarray, gt: np.ndarray | None = None,
        centerlines: Iterable[np.ndarray] | None = None) -> float:
    """Mean distance (px, float64) from ground-truth centerline points to the prediction.

    ``pred`` is the (H, W) predicted mask; the points come from ``centerlines`` if given, else
    from the skeleton of ``gt`` (see :func:`centerline_points`). Returns NaN when there is no
    ground-truth point and ``hypot(H, W)`` when the prediction is empty (module docstring).
    """
    pred = np.asarray(pred)
    if pred.ndim != 2:
        raise ValueError(f"prediction must be 2-D (H, W), got shape {pred.shape}")
    if gt is not None:
        _pair(pred, gt)
    pts = centerline_points(pred.shape, gt, centerlines)
    if len(pts) == 0:
        return float("nan")
    fg = pred != 0
    if not fg.any():
        return float(np.hypot(*pred.shape))
    dist = ndimage.distance_transform_edt(~fg)
    return float(np.mean(dist[pts[:, 0], pts[:, 1]], dtype=np.float64))


class RelaxedCounts(NamedTuple):
    """The counts behind one frame's relaxed metrics.

    To pool frames, sum field-wise: ``RelaxedCounts(*np.sum(counts, axis=0)).scores()``.

    matched_pred / pred: predicted skeleton pixels within ρ of the true centerline / all of
    them. matched_true / true: true centerline points within ρ of a predicted pixel / all
    of them.
    """

    matched_pred: int
    pred: int
    matched_true: int
    true: int

    def scores(self) -> tuple[float, float, float]:
        """``(relaxed precision, relaxed recall, relaxed F1)``, empty cases as in the module."""
        p = _ratio(self.matched_pred, self.pred, other_empty=self.true == 0)
        r = _ratio(self.matched_true, self.true, other_empty=self.pred == 0)
        return p, r, (2.0 * p * r / (p + r) if p + r > 0 else 0.0)


class RelaxedMatch(NamedTuple):
    """One frame's relaxed match, with the masks behind its counts.

    skeleton: (H, W) bool skeleton of the prediction (the pixels relaxed precision counts).
    near_truth: (H, W) bool, pixel centres within ρ px of the true centerline (a skeleton
    pixel there is matched). counts: the :class:`RelaxedCounts`.
    """

    skeleton: np.ndarray
    near_truth: np.ndarray
    counts: RelaxedCounts


def relaxed_match(pred: np.ndarray, gt: np.ndarray | None = None,
                  centerlines: Iterable[np.ndarray] | None = None,
                  rho: float = RHO_PX) -> RelaxedMatch:
    """Match the skeleton of ``pred`` to the true centerline at ``rho`` px.

    ``pred`` is the (H, W) predicted mask (non-zero = wire). The true centerline comes from
    ``centerlines`` (each (K, 2) float x, y px, x right, y down, origin at the top-left pixel
    centre) if given, else from the skeleton of the (H, W) mask ``gt``; see the module
    docstring for the exact rule. Cost: two skeletonizations at most and
    O((number of true points) · (2ρ + 3)²); no all-pairs distances. Use this instead of
    :func:`relaxed_counts` to ask *which* predicted pixels missed (error analyses), so that
    they are judged by the metric's own rule.
    """
    pred = np.asarray(pred)
    if pred.ndim != 2:
        raise ValueError(f"prediction must be 2-D (H, W), got shape {pred.shape}")
    if gt is not None:
        _pair(pred, gt)
    rho = float(rho)
    if not (math.isfinite(rho) and rho >= 0.0):
        raise ValueError(f"rho must be a finite distance >= 0 px, got {rho}")
    segments, points = _true_centerline(pred.shape, gt, centerlines)
    fg = pred != 0
    skel = skeletonize(fg) if fg.any() else fg
    near = _near_segments(pred.shape, segments, rho)
    counts = RelaxedCounts(int(np.count_nonzero(skel & near)), int(np.count_nonzero(skel)),
                           int(np.count_nonzero(_near_foreground(fg, points, rho))),
                           len(points))
    return RelaxedMatch(skel, near, counts)


def relaxed_counts(pred: np.ndarray, gt: np.ndarray | None = None,
                   centerlines: Iterable[np.ndarray] | None = None,
                   rho: float = RHO_PX) -> RelaxedCounts:
    """Count matched predicted skeleton pixels and matched true centerline points at ``rho`` px.

    Arguments and rule as :func:`relaxed_match`, which also returns the masks.
    """
    return relaxed_match(pred, gt, centerlines, rho).counts


def relaxed_scores(pred: np.ndarray, gt: np.ndarray | None = None,
                   centerlines: Iterable[np.ndarray] | None = None,
                   rho: float = RHO_PX) -> tuple[float, float, float]:
    """``(relaxed precision, relaxed recall, relaxed F1)`` of one frame at ``rho`` px."""
    return relaxed_counts(pred, gt, centerlines, rho).scores()


def relaxed_precision(pred: np.ndarray, gt: np.ndarray | None = None,
                      centerlines: Iterable[np.ndarray] | None = None,
                      rho: float = RHO_PX) -> float:
    """Share of predicted skeleton pixels within ``rho`` px of a true centerline."""
    return relaxed_scores(pred, gt, centerlines, rho)[0]


def relaxed_recall(pred: np.ndarray, gt: np.ndarray | None = None,
                   centerlines: Iterable[np.ndarray] | None = None,
                   rho: float = RHO_PX) -> float:
    """Share of true centerline points within ``rho`` px of a predicted pixel."""
    return relaxed_scores(pred, gt, centerlines, rho)[1]


def relaxed_f1(pred: np.ndarray, gt: np.ndarray | None = None,
               centerlines: Iterable[np.ndarray] | None = None, rho: float = RHO_PX) -> float:
    """2 P R / (P + R) of the relaxed precision P and recall R (0 when both are 0)."""
    return relaxed_scores(pred, gt, centerlines, rho)[2]


def _true_centerline(shape: tuple[int, ...], gt: np.ndarray | None,
                     centerlines: Iterable[np.ndarray] | None
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Return the true centerline as segments (S, 2, 2) and recall points (M, 2), x, y px.

    Annotated polylines become their own segments, split at 1 px of arc length so that none
    is longer than 1 px; the recall points are 1 px arc-length samples plus each last point,
    those outside the image dropped. A mask's skeleton pixels are zero-length segments and
    are themselves the points.
    """
    h, w = int(shape[0]), int(shape[1])
    if centerlines is None:
        if gt is None:
            raise ValueError("the relaxed metrics need a ground-truth mask or centerlines")
        rows, cols = np.nonzero(skeletonize(np.asarray(gt) != 0))
        pts = np.stack([cols, rows], axis=1).astype(np.float64)
        return np.stack([pts, pts], axis=1), pts
    segments, points = [np.zeros((0, 2, 2))], [np.zeros((0, 2))]
    for c in centerlines:
        line = np.asarray(c, dtype=np.float64)
        fine = _resample(line)  # also checks the (K, 2) shape
        if len(fine) == 0:
            continue
        pair = (fine, fine) if len(fine) == 1 else (fine[:-1], fine[1:])
        segments.append(np.stack(pair, axis=1))
        points.append(_arc_samples(line, 1.0))
    pts = np.concatenate(points)
    inside = ((pts[:, 0] >= -0.5) & (pts[:, 0] <= w - 0.5)
              & (pts[:, 1] >= -0.5) & (pts[:, 1] <= h - 0.5))
    return np.concatenate(segments), pts[inside]


def _arc_samples(line: np.ndarray, step: float) -> np.ndarray:
    """Points every ``step`` px of arc length from the first point, plus the last point."""
    if len(line) < 2:
        return line.reshape(-1, 2)
    seg = np.hypot(*np.diff(line, axis=0).T)
    line = line[np.concatenate([[True], seg > 0])]
    s = np.concatenate([[0.0], np.cumsum(seg[seg > 0])])
    t = np.append(np.arange(0.0, s[-1], step), s[-1]) if s[-1] > 0 else s[:1]
    return np.stack([np.interp(t, s, line[:, 0]), np.interp(t, s, line[:, 1])], axis=1)


def _offsets(k: int) -> np.ndarray:
    """(M, 2) integer (dx, dy) offsets of a (2k + 1)² window."""
    d = np.arange(-k, k + 1)
    return np.stack(np.meshgrid(d, d, indexing="xy"), axis=-1).reshape(-1, 2)


def _chunks(n: int, per_item: int) -> Iterable[slice]:
    """Slices of ``range(n)`` sized so that one chunk holds about 2**20 window cells."""
    size = max(1, (1 << 20) // max(per_item, 1))
    return (slice(i, i + size) for i in range(0, n, size))


def _near_segments(shape: tuple[int, ...], segments: np.ndarray, rho: float) -> np.ndarray:
    """(H, W) bool: pixel centres within ``rho`` px (exact, float64) of any segment (a, b)."""
    h, w = int(shape[0]), int(shape[1])
    near = np.zeros((h, w), dtype=bool)
    if len(segments) == 0:
        return near
    a, b = segments[:, 0], segments[:, 1]
    half = 0.5 * float(np.max(np.hypot(*(b - a).T)))
    # A pixel within rho of a segment is within rho + half of its midpoint m, and so within
    # rho + half + 0.5 (per axis) of round(m).
    off = _offsets(int(np.ceil(rho + half + 0.5)))
    for sl in _chunks(len(segments), len(off)):
        sa, sb = a[sl, None, :], b[sl, None, :]
        centre = np.rint(0.5 * (sa + sb)).astype(np.int64)
        pix = centre + off[None]                                         # (S, M, 2) x, y
        ab = sb - sa
        len2 = np.sum(ab * ab, axis=-1)
        ap = pix - sa
        t = np.clip(np.sum(ap * ab, axis=-1) / np.where(len2 > 0, len2, 1.0), 0.0, 1.0)
        d = ap - t[..., None] * ab
        ok = ((np.sum(d * d, axis=-1) <= rho * rho) & (pix[..., 0] >= 0) & (pix[..., 0] < w)
              & (pix[..., 1] >= 0) & (pix[..., 1] < h))
        near[pix[..., 1][ok], pix[..., 0][ok]] = True
    return near


def _near_foreground(fg: np.ndarray, points: np.ndarray, rho: float) -> np.ndarray:
    """(M,) bool: whether each x, y point lies within ``rho`` px of a foreground pixel centre."""
    h, w = fg.shape
    hit = np.zeros(len(points), dtype=bool)
    if len(points) == 0 or not fg.any():
        return hit
    # A pixel centre within rho of p is within rho + 0.5 (per axis) of round(p).
    off = _offsets(int(np.ceil(rho + 0.5)))
    for sl in _chunks(len(points), len(off)):
        p = points[sl, None, :]
        pix = np.rint(p).astype(np.int64) + off[None]
        inside = (pix[..., 0] >= 0) & (pix[..., 0] < w) & (pix[..., 1] >= 0) & (pix[..., 1] < h)
        on = np.zeros(inside.shape, dtype=bool)
        on[inside] = fg[pix[..., 1][inside], pix[..., 0][inside]]
        d = pix - p
        hit[sl] = np.any(on & (np.sum(d * d, axis=-1) <= rho * rho), axis=1)
    return hit


def frame_metrics(pred: np.ndarray, gt: np.ndarray,
                  centerlines: Iterable[np.ndarray] | None = None,
                  rho: float = RHO_PX) -> dict[str, float]:
    """All metrics of one frame, keyed as :data:`METRICS`.

    ``{"precision", "sensitivity", "f1", "gsp", "relaxed_precision", "relaxed_recall",
    "relaxed_f1"}``; the relaxed ones at tolerance ``rho`` px.
    """
    rp, rr, rf = relaxed_scores(pred, gt, centerlines, rho)
    return {"precision": precision(pred, gt), "sensitivity": sensitivity(pred, gt),
            "f1": f1(pred, gt), "gsp": gsp(pred, gt, centerlines),
            "relaxed_precision": rp, "relaxed_recall": rr, "relaxed_f1": rf}


def summarize(values: Sequence[float]) -> dict[str, float]:
    """``{"mean", "std", "median", "n"}`` over the finite values (NaN = undefined, skipped).

    std is the population standard deviation (ddof=0); all NaN when nothing is finite.
    """
    arr = np.asarray(values, dtype=np.float64)
    arr = arr[np.isfinite(arr)]
    if arr.size == 0:
        nan = float("nan")
        return {"mean": nan, "std": nan, "median": nan, "n": 0}
    return {"mean": float(arr.mean()), "std": float(arr.std()), "median": float(np.median(arr)),
            "n": int(arr.size)}


class MetricAccumulator:
    """Collect per-frame metrics; aggregate over all frames and per sequence.

    >>> acc = MetricAccumulator()
    >>> m = np.zeros((4, 4), np.uint8); m[1, :] = 1
    >>> acc.update(m, m, name="s0_f0", sequence="s0")["f1"]
    1.0
    >>> acc.aggregate()["overall"]["f1"]["mean"]
    1.0
    """

    def __init__(self, rho: float = RHO_PX) -> None:
        """``rho``: tolerance of the relaxed metrics, px."""
        self.rho = float(rho)
        self.frames: list[dict[str, Any]] = []

    def update(self, pred: np.ndarray, gt: np.ndarray, *,
               centerlines: Iterable[np.ndarray] | None = None, name: str = "",
               sequence: str = "") -> dict[str, float]:
        """Score one frame, remember it under ``name``/``sequence``, return its metrics."""
        metrics = frame_metrics(pred, gt, centerlines, self.rho)
        self.frames.append({"name": name, "sequence": sequence, **metrics})
        return metrics

    def aggregate(self) -> dict[str, Any]:
        """Summaries over all frames and per sequence, plus the per-frame records.

        Returns ``{"frames": n, "rho": ρ px, "overall": {metric: summary}, "per_sequence":
        {seq: {"frames": n, metric: summary}}, "per_frame": [...]}`` with every metric of
        :data:`METRICS` (summaries: :func:`summarize`).
        """
        by_seq: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for frame in self.frames:
            by_seq[frame["sequence"]].append(frame)
        return {
            "frames": len(self.frames),
            "rho": self.rho,
            "overall": summarize_frames(self.frames),
            "per_sequence": {seq: {"frames": len(fs), **summarize_frames(fs)}
                             for seq, fs in sorted(by_seq.items())},
            "per_frame": list(self.frames),
        }

    def reset(self) -> None:
        """Forget every frame."""
        self.frames.clear()


def summarize_frames(frames: Sequence[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """``{metric: summarize(values over frames)}`` for every metric of :data:`METRICS`.

    ``frames`` are per-frame records as :func:`frame_metrics` returns (extra keys ignored).
    """
    return {m: summarize([f[m] for f in frames]) for m in METRICS}
